//! The S3 source: an artifact under `s3://bucket/prefix/`, read as the configured identity
//! (with `--role-arn`, as the Bedrock execution role will read it).
//!
//! Listing is ListObjectsV2 with pagination; every read is a ranged GetObject (HTTP ranges are
//! inclusive, so bytes `a..b` are `Range: bytes=a-(b-1)`). S3 errors become findings that name
//! the action, the resource and the policy that must allow it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, ServerSideEncryption};
use cmi_format::cmi_api::S3_URI;
use cmi_format::s3_uri::validate_bucket_name;
pub use cmi_format::s3_uri::{S3Uri, S3UriError};
use cmi_format::{Entry, Finding, RuleId};
use tracing::debug;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::DateTimeFormat;
use tokio::sync::Semaphore;

use crate::hash::{self, FileDigest, HashError, HashOptions, Progress};
use crate::source::{Listing, ObjectMeta, ReadError, Source, SourceError, StoredChecksum};

/// An ETag without its quotes.
fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

/// What a ListObjectsV2 entry says about its object besides the size: the ETag without
/// quotes, and the modification time in RFC 3339 (a listing has no version id).
pub(crate) fn listed_meta(object: &aws_sdk_s3::types::Object) -> ObjectMeta {
    ObjectMeta {
        etag: object.e_tag().map(unquote),
        version_id: None,
        last_modified: object
            .last_modified()
            .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
        published_sha256: None,
    }
}

/// One part of an object, as the body arrived (its pieces are hashed in turn, never copied
/// into one buffer), and what S3 said about the object with it.
struct Part {
    pieces: Vec<bytes::Bytes>,
    etag: Option<String>,
    version_id: Option<String>,
}

/// Storage classes whose objects must be restored before anyone can read them.
pub const ARCHIVE_STORAGE_CLASSES: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];

/// An artifact in S3.
pub struct S3Source {
    client: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    uri: S3Uri,
    /// Who reads, for messages: the assumed role, or the caller's credentials.
    reader: String,
    /// Objects that cannot be read without a restore (path to storage class), from the listing.
    archived: Mutex<BTreeMap<String, String>>,
    /// KMS keys seen on GetObject responses.
    kms_keys: Mutex<BTreeSet<String>>,
    /// ETag and modification time of each object, from the listing.
    meta: Mutex<BTreeMap<String, ObjectMeta>>,
    /// Objects the listing says have a SHA-256 checksum (ListObjectsV2 `ChecksumAlgorithm`).
    with_sha256: Mutex<BTreeSet<String>>,
    /// Region of the import job, to compare with the bucket's.
    bedrock_region: Option<String>,
}

/// Builds an S3 client for a configuration; path-style addressing when a custom endpoint
/// is set (emulators and proxies have no per-bucket host names).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}

impl S3Source {
    /// A source reading `uri` with `config`; `reader` names the identity for messages.
    pub fn new(config: &SdkConfig, uri: S3Uri, reader: impl Into<String>) -> S3Source {
        S3Source {
            client: s3_client(config),
            kms: aws_sdk_kms::Client::new(config),
            uri,
            reader: reader.into(),
            archived: Mutex::new(BTreeMap::new()),
            kms_keys: Mutex::new(BTreeSet::new()),
            meta: Mutex::new(BTreeMap::new()),
            with_sha256: Mutex::new(BTreeSet::new()),
            bedrock_region: None,
        }
    }

    /// Compares the bucket's Region with the import job's (one HeadBucket request).
    pub fn with_bedrock_region(mut self, region: Option<String>) -> S3Source {
        self.bedrock_region = region;
        self
    }

    /// The bucket's Region, from HeadBucket; S3 sends it even with a 403 or 301 answer. A
    /// bucket name that breaks the naming rules is an error before any request.
    pub async fn bucket_region(&self) -> Result<String, String> {
        if let Err(problem) = validate_bucket_name(&self.uri.bucket) {
            return Err(format!(
                "{:?} is not a bucket name: {problem}",
                self.uri.bucket
            ));
        }
        match self
            .client
            .head_bucket()
            .bucket(&self.uri.bucket)
            .send()
            .await
        {
            Ok(output) => output
                .bucket_region()
                .map(str::to_string)
                .ok_or_else(|| "HeadBucket gave no x-amz-bucket-region".to_string()),
            Err(error) => error
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string)
                .ok_or_else(|| describe_sdk_error(&error)),
        }
    }

    async fn region_finding(&self) -> Option<Finding> {
        let wanted = self.bedrock_region.as_deref()?;
        match self.bucket_region().await {
            Ok(actual) if actual == wanted => None,
            Ok(actual) => Some(Finding::new(
                RuleId::BucketRegionMismatch,
                "",
                format!(
                    "bucket {} is in {actual}, the import job in {wanted}",
                    self.uri.bucket
                ),
            )),
            Err(reason) => {
                debug!(reason, "bucket Region unknown");
                None
            }
        }
    }

    /// The artifact's location.
    pub fn uri(&self) -> &S3Uri {
        &self.uri
    }

    /// The S3 client it reads with.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    fn list_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> SourceError {
        let code = error.code().unwrap_or_default().to_string();
        let message = error.message().unwrap_or_default().to_string();
        match code.as_str() {
            "AccessDenied" | "AllAccessDisabled" => SourceError::Blocked(Box::new(
                Finding::new(
                    RuleId::ListAccessDenied,
                    "",
                    format!(
                        "s3:ListBucket on {} (prefix {}) was denied to {}: {message}",
                        self.uri.bucket_arn(),
                        self.uri.prefix,
                        self.reader
                    ),
                )
                .with_hint(format!(
                    "Allow s3:ListBucket on {} for {}: in its identity policy (with aws:ResourceAccount set to the bucket's account) and, if the bucket is in another account, in the bucket policy. `cmi-preflight policy` writes both.",
                    self.uri.bucket_arn(),
                    self.reader
                )),
            )),
            "NoSuchBucket" => SourceError::Remote {
                what: format!("bucket {} does not exist", self.uri.bucket),
                reason: message,
            },
            _ => SourceError::Remote {
                what: format!("cannot list {}", self.uri),
                reason: describe_sdk_error(&error),
            },
        }
    }

    fn read_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        path: &str,
        error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> ReadError {
        // HEAD answers have no body: a denial is only its status.
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = match (error.code(), status) {
            (Some(code), _) => code.to_string(),
            (None, Some(403)) => "AccessDenied".to_string(),
            _ => String::new(),
        };
        let message = error.message().unwrap_or_default().to_string();
        let arn = self.uri.object_arn(path);
        let kms_related = code.starts_with("KMS.") || message.contains("kms:");
        match code.as_str() {
            _ if kms_related => ReadError::under(
                RuleId::KmsAccessDenied,
                format!("reading {arn} as {} failed in KMS: {code}: {message}", self.reader),
                Some(format!(
                    "Grant {} kms:Decrypt and kms:DescribeKey on the object's key, in the key policy and in its identity policy; `cmi-preflight policy --source-kms-key-arn` writes both.",
                    self.reader
                )),
            ),
            "AccessDenied" => ReadError::under(
                RuleId::GetAccessDenied,
                format!("s3:GetObject on {arn} was denied to {}: {message}", self.reader),
                Some(format!(
                    "Allow s3:GetObject on {} for {}: in its identity policy (with aws:ResourceAccount set to the bucket's account) and, across accounts, in the bucket policy; `cmi-preflight policy` writes both. If another account uploaded the object, set the bucket's Object Ownership to bucket owner enforced.",
                    self.uri.objects_arn(),
                    self.reader
                )),
            ),
            "InvalidObjectState" => ReadError::under(
                RuleId::ArchivedObject,
                format!("{arn} is archived and must be restored before it can be read: {message}"),
                None,
            ),
            "InvalidRequest" if message.contains("Server Side Encryption") || message.contains("customer") => {
                ReadError::under(
                    RuleId::SseCustomerKey,
                    format!("{arn} is encrypted with a customer-provided key (SSE-C): {message}"),
                    None,
                )
            }
            _ => ReadError::new(describe_sdk_error(&error)),
        }
    }
}

/// The IAM action an S3 operation needs, and whether its resource is the object (else the
/// bucket): the Service Authorization Reference, "Actions, resources, and condition keys for
/// Amazon S3" (HeadObject is authorized by `s3:GetObject`, the multipart upload calls by
/// `s3:PutObject`, ListObjectsV2 and HeadBucket by `s3:ListBucket`).
fn iam_action(operation: &str) -> (&'static str, bool) {
    match operation {
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            ("s3:PutObject", true)
        }
        "HeadObject" | "GetObject" => ("s3:GetObject", true),
        "ListParts" => ("s3:ListMultipartUploadParts", true),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload", true),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads", false),
        "GetBucketEncryption" => ("s3:GetEncryptionConfiguration", false),
        _ => ("s3:ListBucket", false),
    }
}

/// The error code of a failed S3 request, `AccessDenied` for a HEAD request's bodiless 403;
/// `None` when the answer has neither.
pub(crate) fn denial_code<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<String> {
    // HEAD answers have no body: a denial is only its status.
    let status = error.raw_response().map(|r| r.status().as_u16());
    match (error.code(), status) {
        (Some(code), _) => Some(code.to_string()),
        (None, Some(403)) => Some("AccessDenied".to_string()),
        _ => None,
    }
}

/// The line of a denied S3 request: the IAM permission `operation` needs and its resource,
/// such as `AccessDenied: s3:PutObject on arn:aws:s3:::bucket/key was denied: ...`.
pub(crate) fn denied_line(
    code: &str,
    operation: &str,
    bucket: &str,
    key: &str,
    message: &str,
) -> String {
    let (permission, on_object) = iam_action(operation);
    let resource = if on_object {
        cmi_format::arn::object(cmi_format::arn::AWS, bucket, key)
    } else {
        cmi_format::arn::bucket(cmi_format::arn::AWS, bucket)
    };
    format!(
        "{code}: {permission} on {resource} was denied: {message}; the caller's identity policy (or the bucket policy) must allow it"
    )
}

/// One line for a failed S3 `operation` on `s3://bucket/key`: a denial names the IAM
/// permission and its resource ([`denied_line`]), any other failure is
/// [`describe_sdk_error`].
pub fn describe_s3_failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    bucket: &str,
    key: &str,
    error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    match denial_code(error) {
        Some(code) if code == "AccessDenied" || code == "AllAccessDisabled" => denied_line(
            &code,
            operation,
            bucket,
            key,
            error.message().unwrap_or("Access Denied"),
        ),
        _ => describe_sdk_error(error),
    }
}

/// One line for an SDK error: the service's code and message; else, for an error body the
/// SDK could not parse (moto's STS errors nest one level deeper than AWS's), the HTTP status
/// and the `<Code>` and `<Message>` found in the body; else the transport failure.
pub fn describe_sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => return format!("{code}: {message}"),
        (Some(code), None) => return code.to_string(),
        _ => {}
    }
    if let Some(response) = error.raw_response() {
        let body = response
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let element = |name: &str| {
            let open = format!("<{name}>");
            let start = body.find(&open)? + open.len();
            let end = body[start..].find(&format!("</{name}>"))? + start;
            Some(body[start..end].to_string())
        };
        let status = response.status().as_u16();
        return match (element("Code"), element("Message")) {
            (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
            (Some(code), None) => format!("{code} (HTTP {status})"),
            _ => format!("HTTP {status}"),
        };
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// Tells whether a KMS key is the AWS-managed `aws/s3` key: by its key manager when the
/// reader may describe it, by the alias itself when the object names it, or by the ARN that
/// `alias/aws/s3` resolves to in the reader's account.
pub struct ManagedKeyProbe {
    kms: aws_sdk_kms::Client,
    alias_arn: Option<String>,
}

/// The alias of the AWS-managed S3 key.
pub const AWS_S3_KEY_ALIAS: &str = "alias/aws/s3";

impl ManagedKeyProbe {
    /// Resolves `alias/aws/s3` once.
    pub async fn new(kms: aws_sdk_kms::Client) -> ManagedKeyProbe {
        let alias_arn = kms
            .describe_key()
            .key_id(AWS_S3_KEY_ALIAS)
            .send()
            .await
            .ok()
            .and_then(|o| o.key_metadata().and_then(|m| m.arn()).map(str::to_string));
        ManagedKeyProbe { kms, alias_arn }
    }

    /// Whether `key` (an id, ARN or alias as S3 reported it) is the `aws/s3` key.
    pub async fn is_managed(&self, key: &str) -> bool {
        if key.ends_with(AWS_S3_KEY_ALIAS) || self.alias_arn.as_deref() == Some(key) {
            return true;
        }
        match self.kms.describe_key().key_id(key).send().await {
            Ok(output) => output.key_metadata().is_some_and(|m| {
                m.key_manager().is_some_and(|k| k.as_str() == "AWS")
                    || (m.arn().is_some() && m.arn() == self.alias_arn.as_deref())
            }),
            Err(error) => {
                debug!(key, error = %describe_sdk_error(&error), "cannot describe KMS key");
                false
            }
        }
    }
}

impl S3Source {
    /// ETag, version id and modification time of one object, from HeadObject (no content).
    pub async fn head(&self, path: &str) -> Result<ObjectMeta, ReadError> {
        let output = self
            .client
            .head_object()
            .bucket(&self.uri.bucket)
            .key(format!("{}{}", self.uri.prefix, path))
            .send()
            .await
            .map_err(|e| self.read_error(path, e))?;
        Ok(ObjectMeta {
            etag: output.e_tag().map(unquote),
            version_id: output.version_id().map(str::to_string),
            last_modified: output
                .last_modified()
                .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
            published_sha256: None,
        })
    }

    /// Fetches `range` of `key`, pinned to `etag` when known (`If-Match`: an object replaced
    /// since the listing fails instead of mixing two versions). A body cut short or shorter
    /// than the range is fetched again, up to `attempts` times; it is never returned.
    async fn fetch_part(
        &self,
        path: &str,
        range: Range<u64>,
        etag: Option<&str>,
        attempts: u32,
    ) -> Result<Part, HashError> {
        let key = format!("{}{}", self.uri.prefix, path);
        let expected = range.end - range.start;
        let mut last_problem = String::new();
        for attempt in 0..attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                debug!(path, attempt, problem = %last_problem, "fetching the part again");
            }
            let mut request = self
                .client
                .get_object()
                .bucket(&self.uri.bucket)
                .key(&key)
                .range(format!("bytes={}-{}", range.start, range.end - 1));
            if let Some(etag) = etag {
                request = request.if_match(format!("\"{etag}\""));
            }
            let output = match request.send().await {
                Ok(output) => output,
                Err(error) if error.code() == Some("PreconditionFailed") => {
                    return Err(HashError::new(
                        path,
                        "the object changed while it was read (its ETag no longer matches the listing)",
                    ))
                }
                Err(error) => return Err(HashError::new(path, self.read_error(path, error).reason)),
            };
            let part_etag = output.e_tag().map(unquote);
            let version_id = output.version_id().map(str::to_string);
            match output.body.collect().await {
                Ok(body) => {
                    let pieces: Vec<bytes::Bytes> = body.into_segments().collect();
                    let received: u64 = pieces.iter().map(|p| p.len() as u64).sum();
                    if received == expected {
                        return Ok(Part {
                            pieces,
                            etag: part_etag,
                            version_id,
                        });
                    }
                    last_problem = format!(
                        "received {received} of the {expected} bytes at offset {}",
                        range.start
                    );
                }
                Err(error) => {
                    last_problem = format!("body cut at offset {}: {error}", range.start);
                }
            }
        }
        Err(HashError::new(
            path,
            format!("gave up after {attempts} attempts: {last_problem}"),
        ))
    }

    /// The S3002 finding of a bucket name that breaks the S3 bucket naming rules (Amazon S3
    /// User Guide, "General purpose bucket naming rules"), if it does. Such a name is refused
    /// before any request: no bucket can have it, and a request would only add a network
    /// error (or reach another host) in place of the reason.
    fn bucket_name_finding(&self) -> Option<Finding> {
        let problem = validate_bucket_name(&self.uri.bucket).err()?;
        Some(
            Finding::new(
                RuleId::S3UriRejected,
                "",
                format!(
                    "{} names the bucket {:?}, which no S3 bucket can be: {problem}; nothing was requested",
                    self.uri, self.uri.bucket
                ),
            )
            .with_hint(
                "Give the artifact's real bucket: 3 to 63 characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or a digit, no two adjacent dots, not formatted as an IP address, and none of the reserved prefixes (xn--, sthree-, amzn-s3-demo-) or suffixes (-s3alias, --ol-s3, --x-s3, --table-s3).",
            ),
        )
    }

    /// Lists the objects under the prefix; an empty prefix is the S3001 finding.
    async fn list_prefix(&self, uri_text: &str) -> Result<Listing, SourceError> {
        let mut listing = Listing::default();
        let mut with_sha256 = BTreeSet::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.uri.bucket)
            .prefix(&self.uri.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.list_error(e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let path = key.strip_prefix(self.uri.prefix.as_str()).unwrap_or(key);
                let size = u64::try_from(object.size().unwrap_or(0)).unwrap_or(0);
                if path.is_empty() || (path.ends_with('/') && size == 0) {
                    continue;
                }
                if let Some(class) = object.storage_class() {
                    if ARCHIVE_STORAGE_CLASSES.contains(&class.as_str()) {
                        self.archived
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(path.to_string(), class.as_str().to_string());
                    }
                }
                if object
                    .checksum_algorithm()
                    .contains(&ChecksumAlgorithm::Sha256)
                {
                    with_sha256.insert(path.to_string());
                }
                listing.meta.insert(path.to_string(), listed_meta(object));
                listing.entries.push(Entry {
                    path: path.to_string(),
                    size,
                });
            }
        }
        if listing.entries.is_empty() {
            return Err(SourceError::Blocked(Box::new(Finding::new(
                RuleId::EmptyPrefix,
                "",
                format!("no object under {uri_text}"),
            ))));
        }
        listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
        listing.not_files = folders(&listing.entries)
            .into_iter()
            .map(|folder| (folder, "a directory".to_string()))
            .collect();
        *self.meta.lock().unwrap_or_else(|p| p.into_inner()) = listing.meta.clone();
        *self.with_sha256.lock().unwrap_or_else(|p| p.into_inner()) = with_sha256;
        debug!(objects = listing.entries.len(), uri = %uri_text, "listed S3 prefix");
        Ok(listing)
    }
}

/// The folders of a listing: every key prefix that ends at a `/` (`a` and `a/b` of the key
/// `a/b/c`) and is not itself an object, as the local source lists directories, so that a
/// folder under a name the artifact needs (`tokenizer.json/...`) is LY013 on both.
pub(crate) fn folders(entries: &[Entry]) -> Vec<String> {
    let files: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let mut out = BTreeSet::new();
    for entry in entries {
        let mut end = 0;
        while let Some(slash) = entry.path[end..].find('/') {
            end += slash;
            let folder = &entry.path[..end];
            if !files.contains(folder) {
                out.insert(folder.to_string());
            }
            end += 1;
        }
    }
    out.into_iter().collect()
}

impl Source for S3Source {
    fn describe(&self) -> String {
        self.uri.to_string()
    }

    /// Lists the prefix, and remembers archived objects so that reads skip them.
    ///
    /// A bucket name that breaks the S3 naming rules is refused with S3002 before any
    /// request. A URI that `CreateModelImportJob` would refuse for its key keeps its S3002
    /// finding even when the listing then fails or finds nothing: the finding says both.
    async fn list(&self) -> Result<Listing, SourceError> {
        if let Some(finding) = self.bucket_name_finding() {
            return Err(SourceError::Blocked(Box::new(finding)));
        }
        let uri_text = self.uri.to_string();
        let rejected = S3_URI
            .validate(uri_text.trim_end_matches('/'))
            .err()
            .map(|message| {
                format!("{uri_text} would be refused by CreateModelImportJob: {message}")
            });
        match (self.list_prefix(&uri_text).await, rejected) {
            (Ok(mut listing), Some(message)) => {
                listing
                    .findings
                    .insert(0, Finding::new(RuleId::S3UriRejected, "", message));
                Ok(listing)
            }
            (Ok(listing), None) => Ok(listing),
            (Err(error), Some(message)) => Err(SourceError::Blocked(Box::new(Finding::new(
                RuleId::S3UriRejected,
                "",
                format!("{message}; the listing also failed: {error}"),
            )))),
            (Err(error), None) => Err(error),
        }
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        let archived = self
            .archived
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .cloned();
        if let Some(class) = archived {
            return Err(ReadError::under(
                RuleId::ArchivedObject,
                format!(
                    "{} is in storage class {class} and must be restored before it can be read",
                    self.uri.object_arn(path)
                ),
                None,
            ));
        }
        let expected = range.end - range.start;
        if expected == 0 {
            return Ok(Vec::new());
        }
        let key = format!("{}{}", self.uri.prefix, path);
        let output = self
            .client
            .get_object()
            .bucket(&self.uri.bucket)
            .key(&key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| self.read_error(path, e))?;
        if output.server_side_encryption() == Some(&ServerSideEncryption::AwsKms) {
            if let Some(key_id) = output.ssekms_key_id() {
                self.kms_keys
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key_id.to_string());
            }
        }
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| {
                ReadError::new(format!(
                    "reading the body of s3://{}/{key}: {e}",
                    self.uri.bucket
                ))
            })?
            .into_bytes();
        if bytes.len() as u64 != expected {
            return Err(ReadError::new(format!(
                "asked for {expected} bytes at offset {} of s3://{}/{key}, received {}",
                range.start,
                self.uri.bucket,
                bytes.len()
            )));
        }
        Ok(bytes.to_vec())
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        let listed_etag = self
            .meta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .and_then(|m| m.etag.clone());
        let etag = listed_etag.as_deref();
        let (sha256, parts) =
            hash::hash_parts(path, size, options, budget, progress, |range| async move {
                let part = self
                    .fetch_part(path, range, etag, options.part_attempts)
                    .await?;
                Ok((part.pieces, (part.etag, part.version_id)))
            })
            .await?;
        let etag = listed_etag.or_else(|| parts.iter().find_map(|(etag, _)| etag.clone()));
        let version_id = parts.into_iter().find_map(|(_, version_id)| version_id);
        Ok(FileDigest {
            sha256,
            size,
            etag,
            version_id,
        })
    }

    /// HeadObject with checksum mode, for an object the listing says has a SHA-256 checksum
    /// (no request for the others), pinned to the listed ETag (`If-Match`) so that the
    /// checksum is that of the version listed.
    async fn stored_checksum(&self, path: &str) -> Result<Option<StoredChecksum>, ReadError> {
        let listed = self
            .with_sha256
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(path);
        if !listed {
            return Ok(None);
        }
        let etag = self
            .meta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .and_then(|m| m.etag.clone());
        let output = self
            .client
            .head_object()
            .bucket(&self.uri.bucket)
            .key(format!("{}{}", self.uri.prefix, path))
            .checksum_mode(ChecksumMode::Enabled)
            .set_if_match(etag.map(|e| format!("\"{e}\"")))
            .send()
            .await
            .map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
                Some(412) => ReadError::new(format!(
                    "{} changed since it was listed (its ETag no longer matches)",
                    self.uri.object_arn(path)
                )),
                _ => self.read_error(path, e),
            })?;
        let Some(text) = output.checksum_sha256() else {
            return Ok(None);
        };
        let (value, parts) = match text.rsplit_once('-') {
            Some((value, n)) if n.parse::<u64>().is_ok() => (value, n.parse::<u64>().ok()),
            _ => (text, None),
        };
        // S3's multipart ETag ends in `-N`, N the part count (which moto's HeadObject leaves
        // out of the composite checksum).
        let etag_parts = output
            .e_tag()
            .map(|etag| etag.trim_matches('"'))
            .and_then(|etag| etag.rsplit_once('-'))
            .and_then(|(_, n)| n.parse::<u64>().ok());
        let composite = parts.is_some()
            || output.checksum_type() == Some(&ChecksumType::Composite)
            || etag_parts.is_some();
        Ok(Some(StoredChecksum {
            size: u64::try_from(output.content_length().unwrap_or(0)).unwrap_or(0),
            value: value.to_string(),
            parts: parts.or(etag_parts),
            full_object: !composite,
        }))
    }

    async fn findings(&self) -> Vec<Finding> {
        let keys: Vec<String> = self
            .kms_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut findings: Vec<Finding> = self.region_finding().await.into_iter().collect();
        if keys.is_empty() {
            return findings;
        }
        let probe = ManagedKeyProbe::new(self.kms.clone()).await;
        for key in keys {
            if probe.is_managed(&key).await {
                findings.push(Finding::new(
                    RuleId::AwsManagedKmsKey,
                    "",
                    format!(
                        "objects under {} are encrypted with the AWS-managed key {key} (aws/s3)",
                        self.uri
                    ),
                ));
            }
        }
        findings
    }
}

impl fmt::Debug for S3Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Source")
            .field("uri", &self.uri)
            .field("reader", &self.reader)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_the_key_prefixes_that_are_not_objects() {
        let entries: Vec<Entry> = ["a/b/c.json", "a/d", "config.json", "x", "x/y"]
            .into_iter()
            .map(|path| Entry {
                path: path.to_string(),
                size: 1,
            })
            .collect();
        assert_eq!(folders(&entries), ["a", "a/b"]);
    }
}
