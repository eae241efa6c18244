//! `push`: a local artifact into `s3://bucket/prefix/`, each file verified by S3 and read
//! back.
//!
//! Every byte is read once: the file's SHA-256 (for the manifest) and each part's SHA-256
//! (sent as `x-amz-checksum-sha256`, which S3 verifies) come from the same pass. Files up to
//! [`PushOptions::single_put_max`] go in one PutObject with their full-object SHA-256, which S3
//! verifies and stores; larger ones go in a multipart upload whose parts each carry their
//! SHA-256, and whose object then has S3's composite checksum (Amazon S3 User Guide, "Checking
//! object integrity in Amazon S3"). After each upload, HeadObject with checksum mode reads
//! the size and checksum back and compares them with what was sent. A destination object of
//! the same size and SHA-256 is not sent again. A failed multipart upload is never completed,
//! so no object looks complete.
//!
//! An interrupted multipart upload of a file (same key, SHA-256 checksums, parts that fit
//! the file) is continued: parts S3 holds with the local part's size and SHA-256 are not
//! sent again.
//!
//! An S3 source (`s3://bucket/prefix/`) is copied server-side, nothing passing through this
//! machine: CopyObject for objects up to [`PushOptions::copy_max`], UploadPartCopy for larger
//! ones, SHA-256 checksums requested so that S3 computes and stores the copy's (see
//! `copy.rs`).
//!
//! Which files are sent is decided first, by [`plan`]: the selection table of
//! [`cmi_format::transfer`], `--include`/`--exclude`, `--fix-index`, and the check of the files
//! as they will be at the destination; [`push`] then sends them.

mod copy;
mod guard;
pub mod lifecycle;
mod plan;
mod resume;
mod stream;
mod upload;
mod verify;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use cmi_format::document::{CheckDocument, FindingRecord, Tool};
use cmi_format::s3_uri::S3Uri;
use cmi_format::{Entry, Finding, RuleId, Summary};

use crate::hash::Progress;
use crate::import::ImportDocument;
use crate::local::LocalSource;
use crate::manifest::{artifact_digest, FileRecord, Manifest};
use crate::source::{ObjectMeta, Provenance, SourceError};

pub use cmi_format::transfer::{
    part_count, part_size, PartSizeError, DEFAULT_PART, MAX_OBJECT, MAX_PART, MAX_PARTS,
    MAX_SINGLE_PUT, MIN_PART,
};
pub use copy::push_from_s3;
pub use guard::{offline_warnings, preflight};
pub use plan::{plan, Plan, PlanOptions, Rewrite};
pub use stream::push_from_source;

/// Server-side encryption asked for on every object written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-KMS with this key (the bucket's default KMS key when `None`), with an S3 Bucket Key.
    Kms {
        /// Key id, ARN or alias.
        key_id: Option<String>,
    },
    /// SSE-S3 (AES256).
    Aes256,
}

/// How a push runs.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Requests in flight at once, across all files; memory is bounded by this times the part
    /// size.
    pub concurrency: usize,
    /// The part size asked for (refused by [`part_size`] for a file it would cut into more than
    /// [`MAX_PARTS`] parts); without it, [`DEFAULT_PART`] doubled until each file fits.
    pub part_size: Option<u64>,
    /// Files of at most this many bytes are sent in one PutObject with their full-object
    /// SHA-256; larger ones in a multipart upload.
    pub single_put_max: u64,
    /// The account that must own the bucket, sent with every request.
    pub expected_bucket_owner: Option<String>,
    /// Encryption of the objects written; the bucket's default when `None`.
    pub sse: Option<Sse>,
    /// S3 source: objects of at most this many bytes are copied with one CopyObject (S3 then
    /// computes their full-object SHA-256); larger ones with UploadPartCopy (composite
    /// checksum). At most [`MAX_SINGLE_PUT`].
    pub copy_max: u64,
    /// S3 source: refuse, before anything is copied, when the SHA-256 of a file would not be
    /// known (an object copied in parts whose source has no full-object SHA-256), as a
    /// manifest needs it.
    pub require_sha256: bool,
}

/// Default of [`PushOptions::single_put_max`]: 8 MiB, the default part size, so that memory
/// stays within `--concurrency` x part size whatever the sizes of the files (a file sent in one
/// PUT is held whole). Measured (`benches/push.rs`, 16 files of 64 MiB, push alone, fast S3
/// behind the proxy at 80 MB/s and 20 ms per connection, 2 shared vCPUs): with 8 MiB and
/// 16 MiB every file went in 8 MiB parts (9.6 s and 7.9 s, 209 requests, 276 and 261 MiB RSS)
/// and `manifest s3://` without `--reuse` read all 1 GiB back; with 64 MiB and 256 MiB every
/// file went in one PUT (5.6 s and 6.2 s, 49 requests, 1,043 MiB RSS), each with S3's
/// full-object SHA-256, and `manifest s3://` read 1.5 MiB. Raising it buys that speed and
/// those checksums for such files at the price of concurrency x the largest of them in memory;
/// the default keeps the bound, and `manifest s3:// --reuse` of push's manifest reads no object
/// data either way.
pub const DEFAULT_SINGLE_PUT_MAX: u64 = 8 * 1024 * 1024;

/// Default of [`PushOptions::concurrency`]: requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 32;

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            concurrency: DEFAULT_CONCURRENCY,
            part_size: None,
            single_put_max: DEFAULT_SINGLE_PUT_MAX,
            expected_bucket_owner: None,
            sse: None,
            copy_max: MAX_SINGLE_PUT,
            require_sha256: false,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// Sent in full.
    Uploaded,
    /// Already at the destination with the same size and SHA-256: not sent.
    SkippedUnchanged,
    /// An interrupted multipart upload was continued: the parts S3 already held with the
    /// same SHA-256 checksum were not sent again.
    Resumed {
        /// Parts not sent again.
        parts_reused: u64,
    },
    /// Copied server-side from an S3 source (CopyObject or UploadPartCopy): no object byte
    /// passed through this machine.
    Copied {
        /// The number of UploadPartCopy parts; 0 for one CopyObject.
        parts: u64,
    },
}

/// One file of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Path relative to the source, `/`-separated.
    pub path: String,
    /// The destination key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the content, from the read that sent it; for a copy from S3,
    /// the full-object SHA-256 S3 holds for the source or computed for the copy, and empty
    /// when S3 only has a composite checksum of the object (copied in parts).
    pub sha256: String,
    /// What was done.
    pub action: Action,
    /// Object bytes sent (0 when skipped; without the parts reused when resumed).
    pub bytes_sent: u64,
    /// The checksum S3 holds for the object and that was compared with what was sent: the
    /// full-object SHA-256 (base64), or the composite `base64-N` of an N-part upload.
    pub s3_checksum: String,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// The destination, `s3://bucket/prefix/`.
    pub destination: String,
    /// Every file, sorted by path.
    pub files: Vec<FileReport>,
}

impl PushReport {
    /// Object bytes sent in all.
    pub fn bytes_sent(&self) -> u64 {
        self.files.iter().map(|f| f.bytes_sent).sum()
    }

    /// The manifest of what was pushed, from the upload's hashes: the schema and artifact
    /// digest of `manifest` of the same files, each record with the S3 checksum verified.
    /// `meta` gives the modification times of the source's listing; `summary` is the model
    /// summary of its check.
    pub fn manifest(
        &self,
        source: &str,
        summary: Summary,
        meta: &BTreeMap<String, ObjectMeta>,
    ) -> Manifest {
        let mut records: Vec<FileRecord> = self
            .files
            .iter()
            .map(|f| FileRecord {
                path: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
                etag: None,
                version_id: None,
                last_modified: meta.get(&f.path).and_then(|m| m.last_modified.clone()),
                reused: false,
                s3_checksum: Some(f.s3_checksum.clone()),
                digest_source: None,
            })
            .collect();
        records.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Manifest {
            schema: Manifest::SCHEMA.to_string(),
            tool: Tool::current(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            source: source.to_string(),
            provenance: None,
            artifact_digest: artifact_digest(&records),
            model: summary,
            files: records,
        }
    }
}

/// A file of the plan: sent, with its size at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    /// Path relative to the source.
    pub path: String,
    /// Bytes at the destination.
    pub size: u64,
    /// Why its bytes differ from the source's (`--fix-index`); `None` when sent as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
}

/// A file of the source left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// Path relative to the source.
    pub path: String,
    /// Size in the source.
    pub size: u64,
    /// One line saying why.
    pub reason: String,
    /// The layout rule the file would trigger at the destination, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The document of `push --format json`, schema [`PushDocument::SCHEMA`] (docs/push.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushDocument {
    /// [`PushDocument::SCHEMA`].
    pub schema: String,
    /// The tool that wrote it.
    pub tool: Tool,
    /// The source as given.
    pub source: String,
    /// The destination, `s3://bucket/prefix/`.
    pub destination: String,
    /// Whether this was a `--dry-run` (nothing sent).
    pub dry_run: bool,
    /// Whether the files were pushed (and read back): false on a dry run or a failed check.
    pub pushed: bool,
    /// The check of the files as they will be at the destination; `None` with `--no-check`.
    pub check: Option<CheckDocument>,
    /// The files sent, or to be sent on a dry run.
    pub planned: Vec<PlannedFile>,
    /// The files left out.
    pub skipped: Vec<SkippedFile>,
    /// Warnings about the destination, found before any object is written (S3005: the
    /// objects would be encrypted with the `aws/s3` key); with `--strict` they stop the push.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FindingRecord>,
    /// What happened to each file; empty when nothing was pushed.
    pub files: Vec<FileReport>,
    /// Object bytes sent.
    pub bytes_sent: u64,
    /// The artifact digest of the pushed files (as `manifest` computes it); `None` when
    /// nothing was pushed, or when the SHA-256 of a file copied from S3 is not known.
    pub artifact_digest: Option<String>,
    /// With `--delete`: the keys under the destination prefix that were not sent and were
    /// deleted after the push, or, on a dry run, that would be; empty otherwise.
    pub deleted: Vec<String>,
    /// The Hugging Face Hub repository and commit the files were read from, when the source
    /// is a published revision ([`crate::source::Source::provenance`]); left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// With `--sign-key`, once the files are pushed: the signature written to
    /// `--signature-out`; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::signing::SignatureRecord>,
    /// With `--import`, once the files are pushed: the import's own document
    /// (`cmi-preflight.import.v1`), so that `push --import --format json` writes one document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportDocument>,
}

impl PushDocument {
    /// Identifier of the schema.
    pub const SCHEMA: &'static str = "cmi-preflight.push.v1";

    /// The document of a push of `plan` from `source` to `destination`: `report` when the
    /// files were sent, `None` on a dry run or a failed check; `warnings` about the
    /// destination ([`preflight`]).
    pub fn new(
        source: &str,
        destination: &str,
        plan: &Plan,
        strict: bool,
        dry_run: bool,
        report: Option<&PushReport>,
        warnings: &[Finding],
    ) -> PushDocument {
        let files = report.map(|r| r.files.clone()).unwrap_or_default();
        let records: Vec<FileRecord> = files
            .iter()
            .map(|f| FileRecord {
                path: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
                etag: None,
                version_id: None,
                last_modified: None,
                reused: false,
                s3_checksum: None,
                digest_source: None,
            })
            .collect();
        PushDocument {
            schema: Self::SCHEMA.to_string(),
            tool: Tool::current(),
            source: source.to_string(),
            destination: destination.to_string(),
            dry_run,
            pushed: report.is_some(),
            check: plan
                .report
                .as_ref()
                .map(|r| CheckDocument::new(source, strict, r)),
            planned: plan
                .selection
                .send
                .iter()
                .map(|e| PlannedFile {
                    path: e.path.clone(),
                    size: e.size,
                    rewritten: plan
                        .rewrites
                        .iter()
                        .find(|r| r.path == e.path)
                        .map(|r| r.reason.clone()),
                })
                .collect(),
            skipped: plan
                .selection
                .skipped
                .iter()
                .map(|s| SkippedFile {
                    path: s.entry.path.clone(),
                    size: s.entry.size,
                    reason: s.reason(),
                    rule: s.rule.map(|r| r.rule().code.to_string()),
                })
                .collect(),
            warnings: warnings.iter().map(FindingRecord::of).collect(),
            bytes_sent: report.map_or(0, PushReport::bytes_sent),
            artifact_digest: report
                .filter(|r| r.files.iter().all(|f| !f.sha256.is_empty()))
                .map(|_| artifact_digest(&records)),
            files,
            deleted: Vec::new(),
            provenance: None,
            signature: None,
            import: None,
        }
    }
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The source could not be listed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A local file could not be read, or changed while it was read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// No part size fits a file.
    #[error("{path}: {source}")]
    PartSize {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: PartSizeError,
    },
    /// An S3 request failed (after the SDK's retries).
    #[error("{path}: {operation} failed: {reason}")]
    S3 {
        /// The file.
        path: String,
        /// The S3 operation.
        operation: &'static str,
        /// What S3 or the connection said.
        reason: String,
    },
    /// Listing, deleting or aborting under the destination prefix failed, or was refused.
    #[error("{operation} under the destination prefix failed: {reason}")]
    Prefix {
        /// The S3 operation.
        operation: &'static str,
        /// What S3 said, or why it was refused.
        reason: String,
    },
    /// The bucket is not the expected account's (`--expected-bucket-owner`), or could not be
    /// seen: nothing was written.
    #[error("bucket {bucket} is not confirmed as owned by account {expected} (--expected-bucket-owner): {reason}; nothing was written")]
    Owner {
        /// The bucket.
        bucket: String,
        /// The account given.
        expected: String,
        /// What S3 answered.
        reason: String,
    },
    /// The object read back differs from what was sent.
    #[error("{path}: S3 holds {found}, but {expected} was sent")]
    Mismatch {
        /// The file.
        path: String,
        /// What was sent: size and checksum.
        expected: String,
        /// What HeadObject returned.
        found: String,
    },

    /// The bytes read of a file do not hash to the SHA-256 its source publishes (HF003): its
    /// multipart upload was aborted, or its PutObject never sent, so no object was written.
    #[error(
        "{path}: {} {}: the bytes served hash to SHA-256 {read}, but the source publishes {published}; \
         nothing was written for it (its upload was aborted): {}",
        RuleId::HubDigestMismatch.rule().code,
        RuleId::HubDigestMismatch.rule().name,
        RuleId::HubDigestMismatch.rule().fix
    )]
    DigestMismatch {
        /// The file.
        path: String,
        /// The SHA-256 the source publishes (lowercase hex).
        published: String,
        /// The SHA-256 of the bytes read (lowercase hex).
        read: String,
    },

    /// A file of a local Hugging Face cache snapshot whose bytes do not hash to its LFS
    /// blob's name, the SHA-256 the Hub published for it (HF004): its multipart upload was
    /// aborted, or its PutObject never sent, so no object was written.
    #[error(
        "{path}: {} {}: the cached bytes hash to SHA-256 {read}, but its blob in the Hugging Face \
         cache is named {blob}, the SHA-256 the Hub published for it; nothing was written for it \
         (its upload was aborted): {}",
        RuleId::CacheBlobMismatch.rule().code,
        RuleId::CacheBlobMismatch.rule().name,
        RuleId::CacheBlobMismatch.rule().fix
    )]
    CacheBlobMismatch {
        /// The file.
        path: String,
        /// The blob's name: the SHA-256 the Hub published (lowercase hex).
        blob: String,
        /// The SHA-256 of the bytes read (lowercase hex).
        read: String,
    },

    /// The SHA-256 of files copied from S3 is not known without reading them.
    #[error(
        "the SHA-256 of {} is not known without reading: copied in parts, their source objects have \
         only a composite checksum; leave out --manifest-out and run `manifest s3://...` on the \
         destination, or raise --copy-max (up to 5 GiB) so that S3 computes a full-object SHA-256",
        .paths.join(", ")
    )]
    Sha256Unknown {
        /// The files.
        paths: Vec<String>,
    },
}

/// A destination: the S3 client and where the files go.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The client; [`crate::s3::s3_client`] builds one from the AWS configuration.
    pub client: aws_sdk_s3::Client,
    /// The bucket and prefix.
    pub uri: S3Uri,
}

/// Sends the files of `plan` (its selection, with its rewrites) from the local `source` to
/// `destination`. The caller decides whether a plan whose check failed may be sent.
pub async fn push(
    source: &LocalSource,
    plan: &Plan,
    destination: &Destination,
    options: &PushOptions,
    progress: Arc<dyn Progress>,
) -> Result<PushReport, PushError> {
    push_files(
        source,
        &plan.selection.send,
        &plan.rewrites,
        destination,
        options,
        progress,
    )
    .await
}

/// Pushes `files` of `source` (each listed with its size) to `destination`: up to
/// `options.concurrency` requests at once across and within files, memory bounded by
/// concurrency x part size. Stops at the first file that fails; multipart uploads in
/// flight are left incomplete (no object appears), never completed.
async fn push_files(
    source: &LocalSource,
    files: &[Entry],
    rewrites: &[Rewrite],
    destination: &Destination,
    options: &PushOptions,
    progress: Arc<dyn Progress>,
) -> Result<PushReport, PushError> {
    let concurrency = options.concurrency.max(1);
    let context = context(files, destination, options, Arc::clone(&progress));
    progress.plan(files.len() as u64, files.iter().map(|f| f.size).sum());
    let mut reports: Vec<FileReport> = futures::stream::iter(files.iter().cloned())
        .map(|entry| {
            let context = Arc::clone(&context);
            let content = match rewrites.iter().find(|r| r.path == entry.path) {
                Some(rewrite) => upload::Content::Memory(rewrite.bytes.clone()),
                None => upload::Content::File {
                    path: source.root().join(&entry.path),
                    blob: source.cache_blob(&entry.path),
                },
            };
            async move { upload::push_file(&context, &content, &entry).await }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    reports.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(PushReport {
        destination: destination.uri.to_string(),
        files: reports,
    })
}

/// What every request of a push of `files` to `destination` shares: the memory budget
/// (concurrency x the largest buffer: a part, or a whole file sent in one PUT) and the
/// request slots.
fn context(
    files: &[Entry],
    destination: &Destination,
    options: &PushOptions,
    progress: Arc<dyn Progress>,
) -> Arc<upload::Context> {
    let concurrency = options.concurrency.max(1);
    // The largest buffer a request holds: a whole file sent in one PUT, else a part.
    let largest_part = files
        .iter()
        .map(|f| {
            if f.size <= options.single_put_max.min(MAX_SINGLE_PUT) {
                f.size
            } else {
                part_size(f.size, options.part_size).unwrap_or(DEFAULT_PART)
            }
        })
        .max()
        .unwrap_or(DEFAULT_PART)
        .max(1);
    let budget_units = upload::units(largest_part.saturating_mul(concurrency as u64));
    Arc::new(upload::Context {
        client: destination.client.clone(),
        bucket: destination.uri.bucket.clone(),
        prefix: destination.uri.prefix.clone(),
        options: options.clone(),
        budget: Arc::new(Semaphore::new(budget_units as usize)),
        budget_units,
        slots: Arc::new(Semaphore::new(concurrency)),
        progress,
    })
}
