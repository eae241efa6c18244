//! A file to S3: one PutObject with its full-object SHA-256, or a multipart upload whose
//! parts each carry their SHA-256; the file read once, part by part, under a shared byte
//! budget. Where the bytes come from is a [`Body`]: a local file read by one blocking reader
//! thread ([`Content`]), or any source read by ranges (`stream.rs`). When the source
//! publishes the file's SHA-256, the bytes read must hash to it before any object is written:
//! a multipart upload is otherwise aborted, a single PUT never sent.
//!
//! Bodies are sent with `UNSIGNED-PAYLOAD` (the SDK's `disable_payload_signing`), as the AWS
//! CLI does over HTTPS: the body's integrity rests on its `x-amz-checksum-sha256`, a signed
//! header that S3 verifies against the bytes, so the SigV4 payload hash would be a third
//! SHA-256 of every byte, on this machine and on the server, for nothing.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use tokio::task::JoinSet;

use cmi_format::Entry;

use super::guard;
use super::resume::{self, ListedPart};
use super::verify::{self, Checksum};
use super::{Action, FileReport, PushError, PushOptions, Sse};
use crate::hash::{read_some, Hasher, Progress};
use cmi_format::transfer::{part_count, part_size, MAX_SINGLE_PUT};

/// Bytes of one unit of the memory budget (a semaphore counts at most `u32::MAX` permits
/// per acquisition; parts reach 5 GiB).
const UNIT: u64 = 1024;

/// Bytes read at a time when a file is only hashed (to compare it with the destination).
const BLOCK: usize = 1024 * 1024;

/// Budget units covering `bytes`.
pub(crate) fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX)
}

/// What every upload of a push shares.
pub(crate) struct Context {
    /// The destination's client.
    pub(crate) client: aws_sdk_s3::Client,
    /// The destination bucket.
    pub(crate) bucket: String,
    /// The destination prefix: empty or ending with `/`.
    pub(crate) prefix: String,
    /// The push's options.
    pub(crate) options: PushOptions,
    /// The memory budget, in [`UNIT`]s: taken before a part is read, released once it is sent.
    pub(crate) budget: Arc<Semaphore>,
    /// The budget's size, so that no single part asks for more than there is.
    pub(crate) budget_units: u32,
    /// Request slots, across all files.
    pub(crate) slots: Arc<Semaphore>,
    /// Progress, in bytes sent.
    pub(crate) progress: Arc<dyn Progress>,
}

impl Context {
    /// A request slot.
    pub(crate) async fn slot(&self) -> SemaphorePermit<'_> {
        self.slots
            .acquire()
            .await
            .expect("the request slots are never closed")
    }

    /// The destination key of `path`.
    pub(crate) fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The encryption headers of the objects written.
    pub(crate) fn sse(&self) -> (Option<ServerSideEncryption>, Option<String>, Option<bool>) {
        match &self.options.sse {
            None => (None, None, None),
            Some(Sse::Aes256) => (Some(ServerSideEncryption::Aes256), None, None),
            Some(Sse::Kms { key_id }) => (
                Some(ServerSideEncryption::AwsKms),
                key_id.clone(),
                Some(true),
            ),
        }
    }
}

/// Takes `bytes` of the budget (all of it at most), waiting for other parts to be sent.
pub(crate) async fn take_budget(
    budget: &Arc<Semaphore>,
    budget_units: u32,
    bytes: u64,
) -> OwnedSemaphorePermit {
    Arc::clone(budget)
        .acquire_many_owned(units(bytes).min(budget_units))
        .await
        .expect("the budget is never closed")
}

/// A failed request about `key`, with the permission it needed when it was denied.
pub(crate) fn s3_error<E>(
    context: &Context,
    path: &str,
    key: &str,
    operation: &'static str,
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> PushError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    PushError::S3 {
        path: path.to_string(),
        operation,
        reason: guard::describe(operation, &context.bucket, key, &context.options, error),
    }
}

/// A failure to read `path`.
pub(crate) fn read_error(path: &str, reason: impl std::fmt::Display) -> PushError {
    PushError::Read {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn changed(path: &str, listed: u64, read: u64) -> PushError {
    read_error(
        path,
        format!("changed while it was read: listed with {listed} bytes, read {read}"),
    )
}

/// The bytes of one file as the upload engine reads them.
pub(crate) trait Body: Sync {
    /// Whether a file too large for one PUT may go in parts; `false` sends it whole.
    fn multipart(&self) -> bool;

    /// The SHA-256 (lowercase hex) the source publishes for the file, which the bytes read
    /// must hash to before the object is written (HF003 otherwise).
    fn published(&self) -> Option<&str>;

    /// The error of bytes that hash to `read` instead of the `published` SHA-256: HF003
    /// unless the body says otherwise.
    fn mismatch(&self, path: &str, published: &str, read: &str) -> PushError {
        digest_mismatch(path, published, read)
    }

    /// The whole content (`size` bytes) and its raw SHA-256.
    fn whole(
        &self,
        path: &str,
        size: u64,
    ) -> impl Future<Output = Result<(Bytes, [u8; 32]), PushError>> + Send;

    /// The hex SHA-256 of the content and its S3 checksum: full-object, or composite of parts
    /// of `part_size` bytes.
    fn digest(
        &self,
        path: &str,
        size: u64,
        part_size: Option<u64>,
    ) -> impl Future<Output = Result<(String, Checksum), PushError>> + Send;

    /// Reads every part of `plan` into `sender`, each under its share of the budget, and
    /// returns the raw SHA-256 of the content read in order. Stops early, without error, when
    /// the receiver is gone (an upload failed).
    fn parts(
        &self,
        plan: PartPlan,
        sender: tokio::sync::mpsc::Sender<ReadPart>,
    ) -> impl Future<Output = Result<[u8; 32], PushError>> + Send;
}

/// How a file is cut into parts, and the budget its parts are read under.
pub(crate) struct PartPlan {
    /// The file, relative to the source.
    pub(crate) path: String,
    /// Its size.
    pub(crate) size: u64,
    /// The size of every part but the last.
    pub(crate) part_size: u64,
    /// The parts whose MD5 is computed too ([`resume::needs_md5`]).
    pub(crate) md5_parts: BTreeSet<i32>,
    /// The memory budget.
    pub(crate) budget: Arc<Semaphore>,
    /// The budget's size.
    pub(crate) budget_units: u32,
}

impl PartPlan {
    /// The number of parts.
    pub(crate) fn count(&self) -> u64 {
        part_count(self.size, self.part_size)
    }

    /// The byte range of part `number` (from 1).
    pub(crate) fn range(&self, number: u64) -> std::ops::Range<u64> {
        let start = (number - 1).saturating_mul(self.part_size).min(self.size);
        start..start.saturating_add(self.part_size).min(self.size)
    }

    /// Whether the MD5 of part `number` is needed.
    pub(crate) fn wants_md5(&self, number: u64) -> bool {
        i32::try_from(number).is_ok_and(|number| self.md5_parts.contains(&number))
    }
}

/// The bytes of a file that do not hash to the SHA-256 its source publishes.
pub(crate) fn digest_mismatch(path: &str, published: &str, read: &str) -> PushError {
    PushError::DigestMismatch {
        path: path.to_string(),
        published: published.to_string(),
        read: read.to_string(),
    }
}

/// Whether the hex SHA-256 `read` is the `published` one.
pub(crate) fn same_digest(published: &str, read: &str) -> bool {
    published.eq_ignore_ascii_case(read)
}

/// Where the bytes of a local file come from.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// The local file at `path`.
    File {
        /// The file.
        path: PathBuf,
        /// The SHA-256 its bytes must have, when it is a link to an LFS blob of the local
        /// Hugging Face cache (the blob's name): HF004 otherwise, nothing written.
        blob: Option<String>,
    },
    /// These bytes (a file rewritten on the way, such as a fixed index): sent in one PUT.
    Memory(Bytes),
}

impl Content {
    /// A reader of the content from its start.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, PushError> {
        Ok(match self {
            Content::File {
                path: full_path, ..
            } => Box::new(std::fs::File::open(full_path).map_err(|e| read_error(path, e))?),
            Content::Memory(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
        })
    }
}

impl Body for Content {
    fn multipart(&self) -> bool {
        matches!(self, Content::File { .. })
    }

    fn published(&self) -> Option<&str> {
        match self {
            Content::File { blob, .. } => blob.as_deref(),
            Content::Memory(_) => None,
        }
    }

    fn mismatch(&self, path: &str, published: &str, read: &str) -> PushError {
        match self {
            Content::File { blob: Some(_), .. } => PushError::CacheBlobMismatch {
                path: path.to_string(),
                blob: published.to_string(),
                read: read.to_string(),
            },
            _ => digest_mismatch(path, published, read),
        }
    }

    async fn whole(&self, path: &str, size: u64) -> Result<(Bytes, [u8; 32]), PushError> {
        let (content, owned_path) = (self.clone(), path.to_string());
        tokio::task::spawn_blocking(move || read_whole(&content, &owned_path, size))
            .await
            .map_err(|e| read_error(path, e))?
    }

    async fn digest(
        &self,
        path: &str,
        size: u64,
        part_size: Option<u64>,
    ) -> Result<(String, Checksum), PushError> {
        let (content, owned_path) = (self.clone(), path.to_string());
        tokio::task::spawn_blocking(move || digest_file(&content, &owned_path, size, part_size))
            .await
            .map_err(|e| read_error(path, e))?
    }

    async fn parts(
        &self,
        plan: PartPlan,
        sender: tokio::sync::mpsc::Sender<ReadPart>,
    ) -> Result<[u8; 32], PushError> {
        let path = plan.path.clone();
        let reader = PartReader {
            content: self.clone(),
            plan,
            runtime: tokio::runtime::Handle::current(),
        };
        tokio::task::spawn_blocking(move || reader.run(&sender))
            .await
            .map_err(|e| read_error(&path, e))?
    }
}

/// Pushes one file: skipped when the destination already holds it, else uploaded and read
/// back.
pub(crate) async fn push_file<B: Body>(
    context: &Arc<Context>,
    body: &B,
    entry: &Entry,
) -> Result<FileReport, PushError> {
    let path = entry.path.as_str();
    let key = context.key(path);
    context.progress.start(path, entry.size);
    if let Some(report) = unchanged(context, body, entry, &key).await? {
        context.progress.advance(path, entry.size);
        context.progress.finish(path);
        return Ok(report);
    }
    let single = entry.size <= context.options.single_put_max.min(MAX_SINGLE_PUT);
    let (sha256, sent, bytes_sent, action) = if !single && body.multipart() {
        let part = part_size(entry.size, context.options.part_size).map_err(|source| {
            PushError::PartSize {
                path: path.to_string(),
                source,
            }
        })?;
        put_multipart(context, body, entry, &key, part).await?
    } else {
        let (sha256, sent) = put_single(context, body, entry, &key).await?;
        (sha256, sent, entry.size, Action::Uploaded)
    };
    let stored = verify::read_back(context, path, &key, entry.size, &sent).await?;
    context.progress.finish(path);
    Ok(FileReport {
        path: path.to_string(),
        key,
        size: entry.size,
        sha256,
        action,
        bytes_sent,
        s3_checksum: stored.to_string(),
    })
}

/// The report of a file the destination already holds (same size, same SHA-256 checksum,
/// full or composite at the object's part size), or `None`.
async fn unchanged<B: Body>(
    context: &Context,
    body: &B,
    entry: &Entry,
    key: &str,
) -> Result<Option<FileReport>, PushError> {
    let path = entry.path.as_str();
    let Some(remote) = verify::head(context, path, key, None).await? else {
        return Ok(None);
    };
    let Some(checksum) = remote.checksum.filter(|_| remote.size == entry.size) else {
        return Ok(None);
    };
    let part_size = if remote.multipart {
        let Some(first) = verify::head(context, path, key, Some(1)).await? else {
            return Ok(None);
        };
        let parts = checksum.parts.or(first.parts_count);
        if first.size == 0 || parts.is_some_and(|parts| part_count(entry.size, first.size) != parts)
        {
            return Ok(None);
        }
        Some(first.size)
    } else {
        None
    };
    let (sha256, local) = body.digest(path, entry.size, part_size).await?;
    if !checksum.matches(&local) {
        return Ok(None);
    }
    if let Some(published) = body.published().filter(|p| !same_digest(p, &sha256)) {
        return Err(body.mismatch(path, published, &sha256));
    }
    Ok(Some(FileReport {
        path: path.to_string(),
        key: key.to_string(),
        size: entry.size,
        sha256,
        action: Action::SkippedUnchanged,
        bytes_sent: 0,
        s3_checksum: local.to_string(),
    }))
}

/// The hex SHA-256 of a file and its S3 checksum: full-object, or composite of parts of
/// `part_size` bytes; one pass.
fn digest_file(
    content: &Content,
    path: &str,
    expected_size: u64,
    part_size: Option<u64>,
) -> Result<(String, Checksum), PushError> {
    let mut file = content.open(path)?;
    let mut buffer = vec![0u8; BLOCK];
    let mut whole = Hasher::new();
    let mut part = Hasher::new();
    let mut parts = Vec::new();
    let mut in_part = 0u64;
    let mut total = 0u64;
    loop {
        let want = match part_size {
            Some(size) => usize::try_from(size - in_part).unwrap_or(BLOCK).min(BLOCK),
            None => BLOCK,
        };
        let read = read_some(&mut file, &mut buffer[..want]).map_err(|e| read_error(path, e))?;
        if read == 0 {
            break;
        }
        let bytes = &buffer[..read];
        whole.update(bytes);
        total += read as u64;
        if let Some(size) = part_size {
            part.update(bytes);
            in_part += read as u64;
            if in_part == size {
                parts.push(std::mem::take(&mut part).finish_raw());
                in_part = 0;
            }
        }
    }
    if total != expected_size {
        return Err(changed(path, expected_size, total));
    }
    if part_size.is_some() && (in_part > 0 || parts.is_empty()) {
        parts.push(part.finish_raw());
    }
    let raw = whole.finish_raw();
    let checksum = match part_size {
        Some(_) => Checksum::composite(&parts),
        None => Checksum::full(&raw),
    };
    Ok((hex::encode(raw), checksum))
}

/// One PutObject with the full-object SHA-256, which S3 verifies and stores; never sent
/// when the bytes do not hash to the SHA-256 the source publishes.
async fn put_single<B: Body>(
    context: &Context,
    body: &B,
    entry: &Entry,
    key: &str,
) -> Result<(String, Checksum), PushError> {
    let path = entry.path.as_str();
    let size = entry.size;
    let permit = take_budget(&context.budget, context.budget_units, size).await;
    let (bytes, raw) = body.whole(path, size).await?;
    if let Some(published) = body
        .published()
        .filter(|p| !same_digest(p, &hex::encode(raw)))
    {
        return Err(body.mismatch(path, published, &hex::encode(raw)));
    }
    let checksum = Checksum::full(&raw);
    let (sse, kms_key, bucket_key) = context.sse();
    let slot = context.slot().await;
    context
        .client
        .put_object()
        .bucket(&context.bucket)
        .key(key)
        .content_length(i64::try_from(size).unwrap_or(i64::MAX))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(checksum.value.clone())
        .set_server_side_encryption(sse)
        .set_ssekms_key_id(kms_key)
        .set_bucket_key_enabled(bucket_key)
        .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
        .body(ByteStream::from(bytes))
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| s3_error(context, path, key, "PutObject", &e))?;
    drop(slot);
    drop(permit);
    context.progress.advance(path, size);
    Ok((hex::encode(raw), checksum))
}

/// The whole file and its raw SHA-256.
fn read_whole(content: &Content, path: &str, size: u64) -> Result<(Bytes, [u8; 32]), PushError> {
    let mut file = content.open(path)?;
    let mut buffer = vec![0u8; usize::try_from(size).map_err(|e| read_error(path, e))?];
    let read = read_full(&mut file, &mut buffer).map_err(|e| read_error(path, e))?;
    let mut probe = [0u8; 1];
    let extra = read_some(&mut file, &mut probe).map_err(|e| read_error(path, e))?;
    if read != buffer.len() || extra != 0 {
        return Err(changed(path, size, (read + extra) as u64));
    }
    let mut hasher = Hasher::new();
    hasher.update(&buffer);
    Ok((Bytes::from(buffer), hasher.finish_raw()))
}

/// Fills `buffer` unless the file ends first; the bytes read.
fn read_full(file: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let read = read_some(file, &mut buffer[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

/// A part read, holding its share of the budget until it is sent.
pub(crate) struct ReadPart {
    number: i32,
    /// Its bytes.
    pub(crate) bytes: Bytes,
    digest: [u8; 32],
    /// Its MD5, when a listed part of the upload resumed needs it ([`resume::needs_md5`]).
    md5: Option<[u8; 16]>,
    permit: OwnedSemaphorePermit,
}

impl ReadPart {
    /// Part `number` (from 1) read as `bytes`, with its SHA-256 and, when `md5`, its MD5,
    /// holding `permit` until it is sent. Hashes: call it on a blocking thread.
    pub(crate) fn new(
        number: u64,
        bytes: Bytes,
        md5: bool,
        permit: OwnedSemaphorePermit,
    ) -> ReadPart {
        let mut part = Hasher::new();
        part.update(&bytes);
        let md5 = md5.then(|| {
            let mut md5 = [0u8; 16];
            md5.copy_from_slice(&Md5::digest(&bytes));
            md5
        });
        ReadPart {
            number: i32::try_from(number).unwrap_or(i32::MAX),
            bytes,
            digest: part.finish_raw(),
            md5,
            permit,
        }
    }
}

/// A part S3 accepted, or already held.
struct SentPart {
    number: i32,
    etag: Option<String>,
    digest: [u8; 32],
    /// Bytes sent for it: 0 when S3 already held it.
    sent: u64,
}

/// What [`put_multipart`] did: the hex SHA-256, the checksum sent, the bytes sent, and
/// whether an upload was resumed.
type Multipart = (String, Checksum, u64, Action);

/// A multipart upload with SHA-256 part checksums, continuing an interrupted one of the key
/// when there is one; completed only once every part is sent and the file was read whole,
/// so a failure leaves no object (and an upload the next run continues). When the bytes read
/// do not hash to the SHA-256 the source publishes, the upload is aborted instead.
async fn put_multipart<B: Body>(
    context: &Arc<Context>,
    body: &B,
    entry: &Entry,
    key: &str,
    part_size: u64,
) -> Result<Multipart, PushError> {
    let path = entry.path.as_str();
    let pending = resume::find(context, path, key, entry.size, part_size).await;
    let resumed = pending.is_some();
    let (upload_id, part_size, listed) = match pending {
        Some(pending) => (pending.upload_id, pending.part_size, pending.parts),
        None => (
            create_upload(context, path, key).await?,
            part_size,
            Default::default(),
        ),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<ReadPart>(2);
    let plan = PartPlan {
        md5_parts: listed
            .iter()
            .filter(|(_, part)| resume::needs_md5(part))
            .map(|(&number, _)| number)
            .collect(),
        path: path.to_string(),
        size: entry.size,
        part_size,
        budget: Arc::clone(&context.budget),
        budget_units: context.budget_units,
    };
    let reading = body.parts(plan, sender);
    let sending = async {
        // Owned, so that a failed upload drops it and the reader stops.
        let mut receiver = receiver;
        let mut uploads = JoinSet::new();
        let mut sent = Vec::new();
        loop {
            tokio::select! {
                part = receiver.recv() => match part {
                    Some(part) if reused(listed.get(&part.number), &part) => {
                        context.progress.advance(path, part.bytes.len() as u64);
                        sent.push(SentPart {
                            number: part.number,
                            etag: listed.get(&part.number).and_then(|p| p.etag.clone()),
                            digest: part.digest,
                            sent: 0,
                        });
                    }
                    Some(part) => {
                        let upload = PartUpload {
                            context: Arc::clone(context),
                            path: path.to_string(),
                            key: key.to_string(),
                            upload_id: upload_id.clone(),
                        };
                        uploads.spawn(upload.send(part));
                    }
                    None => break,
                },
                Some(done) = uploads.join_next(), if !uploads.is_empty() => {
                    sent.push(done.map_err(|e| read_error(path, e))??);
                }
            }
        }
        while let Some(done) = uploads.join_next().await {
            sent.push(done.map_err(|e| read_error(path, e))??);
        }
        Ok::<_, PushError>(sent)
    };
    let (whole, sent) = tokio::join!(reading, sending);
    let mut sent = sent?;
    let whole = whole?;
    if let Some(published) = body
        .published()
        .filter(|p| !same_digest(p, &hex::encode(whole)))
    {
        abort_upload(context, path, key, &upload_id).await?;
        return Err(body.mismatch(path, published, &hex::encode(whole)));
    }
    sent.sort_by_key(|p| p.number);
    let expected_parts = part_count(entry.size, part_size);
    if sent.len() as u64 != expected_parts {
        return Err(read_error(
            path,
            format!(
                "{} of its {expected_parts} parts were read and sent; the upload is left incomplete",
                sent.len()
            ),
        ));
    }
    let completed: Vec<CompletedPart> = sent
        .iter()
        .map(|p| {
            CompletedPart::builder()
                .part_number(p.number)
                .set_e_tag(p.etag.clone())
                .checksum_sha256(aws_smithy_types::base64::encode(p.digest))
                .build()
        })
        .collect();
    complete_upload(context, path, key, &upload_id, completed).await?;
    let digests: Vec<[u8; 32]> = sent.iter().map(|p| p.digest).collect();
    let bytes_sent = sent.iter().map(|p| p.sent).sum();
    let action = if resumed {
        Action::Resumed {
            parts_reused: sent.iter().filter(|p| p.sent == 0).count() as u64,
        }
    } else {
        Action::Uploaded
    };
    Ok((
        hex::encode(whole),
        Checksum::composite(&digests),
        bytes_sent,
        action,
    ))
}

/// Whether S3 already holds `part` as `listed`.
fn reused(listed: Option<&ListedPart>, part: &ReadPart) -> bool {
    resume::reusable(
        listed,
        part.bytes.len() as u64,
        &aws_smithy_types::base64::encode(part.digest),
        part.md5.as_ref(),
    )
}

/// CreateMultipartUpload with SHA-256 checksums and the push's encryption; the upload id.
pub(crate) async fn create_upload(
    context: &Context,
    path: &str,
    key: &str,
) -> Result<String, PushError> {
    let (sse, kms_key, bucket_key) = context.sse();
    let _slot = context.slot().await;
    let created = context
        .client
        .create_multipart_upload()
        .bucket(&context.bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .set_server_side_encryption(sse)
        .set_ssekms_key_id(kms_key)
        .set_bucket_key_enabled(bucket_key)
        .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|e| s3_error(context, path, key, "CreateMultipartUpload", &e))?;
    created
        .upload_id()
        .map(str::to_string)
        .ok_or_else(|| PushError::S3 {
            path: path.to_string(),
            operation: "CreateMultipartUpload",
            reason: "no upload id in the answer".to_string(),
        })
}

/// The reader of one local file: reads it in order, part by part, each part into its own
/// buffer once its share of the budget is free, hashing it for the file and for the part.
struct PartReader {
    content: Content,
    plan: PartPlan,
    runtime: tokio::runtime::Handle,
}

impl PartReader {
    /// Reads every part into `sender`; the file's raw SHA-256. Stops early, without error,
    /// when the receiver is gone (an upload failed).
    fn run(self, sender: &tokio::sync::mpsc::Sender<ReadPart>) -> Result<[u8; 32], PushError> {
        let plan = &self.plan;
        let path = plan.path.as_str();
        let mut file = self.content.open(path)?;
        let mut whole = Hasher::new();
        for number in 1..=plan.count() {
            let range = plan.range(number);
            let length = range.end - range.start;
            let permit =
                self.runtime
                    .block_on(take_budget(&plan.budget, plan.budget_units, length));
            let mut buffer = vec![0u8; usize::try_from(length).map_err(|e| read_error(path, e))?];
            let read = read_full(&mut file, &mut buffer).map_err(|e| read_error(path, e))?;
            if read != buffer.len() {
                return Err(changed(path, plan.size, range.start + read as u64));
            }
            whole.update(&buffer);
            let part = ReadPart::new(number, Bytes::from(buffer), plan.wants_md5(number), permit);
            if sender.blocking_send(part).is_err() {
                return Ok(whole.finish_raw());
            }
        }
        let mut probe = [0u8; 1];
        if read_some(&mut file, &mut probe).map_err(|e| read_error(path, e))? != 0 {
            return Err(changed(path, plan.size, plan.size + 1));
        }
        Ok(whole.finish_raw())
    }
}

/// Where a part goes.
struct PartUpload {
    context: Arc<Context>,
    path: String,
    key: String,
    upload_id: String,
}

impl PartUpload {
    /// UploadPart with the part's SHA-256; the SDK retries what S3 refuses transiently.
    async fn send(self, part: ReadPart) -> Result<SentPart, PushError> {
        let ReadPart {
            number,
            bytes,
            digest,
            permit,
            ..
        } = part;
        let length = bytes.len() as u64;
        let context = &self.context;
        let answer = {
            let _slot = context.slot().await;
            context
                .client
                .upload_part()
                .bucket(&context.bucket)
                .key(&self.key)
                .upload_id(&self.upload_id)
                .part_number(number)
                .content_length(i64::try_from(length).unwrap_or(i64::MAX))
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(aws_smithy_types::base64::encode(digest))
                .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
                .body(ByteStream::from(bytes))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| s3_error(context, &self.path, &self.key, "UploadPart", &e))?
        };
        drop(permit);
        context.progress.advance(&self.path, length);
        Ok(SentPart {
            number,
            etag: answer.e_tag().map(str::to_string),
            digest,
            sent: length,
        })
    }
}

/// CompleteMultipartUpload of `upload_id` with `completed` (every part, in order, with its
/// SHA-256 where S3 gave or verified one), under a request slot.
pub(crate) async fn complete_upload(
    context: &Context,
    path: &str,
    key: &str,
    upload_id: &str,
    completed: Vec<CompletedPart>,
) -> Result<(), PushError> {
    let _slot = context.slot().await;
    context
        .client
        .complete_multipart_upload()
        .bucket(&context.bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|e| s3_error(context, path, key, "CompleteMultipartUpload", &e))?;
    Ok(())
}

/// AbortMultipartUpload of `upload_id`: its parts are deleted and no object appears.
pub(crate) async fn abort_upload(
    context: &Context,
    path: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), PushError> {
    let _slot = context.slot().await;
    context
        .client
        .abort_multipart_upload()
        .bucket(&context.bucket)
        .key(key)
        .upload_id(upload_id)
        .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|e| s3_error(context, path, key, "AbortMultipartUpload", &e))?;
    Ok(())
}
