//! An S3 source to S3, server-side: CopyObject for objects up to [`PushOptions::copy_max`]
//! (S3 computes and stores the copy's full-object SHA-256), UploadPartCopy parts for larger
//! ones (composite checksum), each with `x-amz-checksum-algorithm: SHA256`; no object byte
//! passes through this machine. Files rewritten on the way (`--fix-index`) are sent from
//! memory with PutObject. Source and destination are read with one SDK configuration.

use std::sync::Arc;

use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedPart};
use futures::stream::{self, StreamExt, TryStreamExt};
use tokio::task::JoinSet;

use cmi_format::transfer::{part_count, part_size, MAX_SINGLE_PUT};
use cmi_format::Entry;

use super::upload::{self, create_upload, s3_error, Content, Context};
use super::verify::{self, Checksum, Remote};
use super::{Action, Destination, FileReport, Plan, PushError, PushOptions, PushReport};
use crate::hash::Progress;
use crate::s3::S3Source;

/// A source object, as HeadObject with checksum mode saw it.
struct Object {
    entry: Entry,
    key: String,
    remote: Remote,
}

impl Object {
    /// The source's full-object SHA-256, when S3 holds one.
    fn full_sha256(&self) -> Option<&Checksum> {
        self.remote
            .checksum
            .as_ref()
            .filter(|_| !self.remote.multipart)
    }
}

/// Copies the files of `plan` from the S3 `source` to `destination` server-side. The caller
/// decides whether a plan whose check failed may be sent.
pub async fn push_from_s3(
    source: &S3Source,
    plan: &Plan,
    destination: &Destination,
    options: &PushOptions,
    progress: Arc<dyn Progress>,
) -> Result<PushReport, PushError> {
    let files = &plan.selection.send;
    let concurrency = options.concurrency.max(1);
    let context = super::context(files, destination, options, Arc::clone(&progress));
    let copied: Vec<Entry> = files
        .iter()
        .filter(|e| plan.replacement(&e.path).is_none())
        .cloned()
        .collect();
    let objects: Vec<Object> = stream::iter(copied)
        .map(|entry| head_source(source, entry))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let copy_max = options.copy_max.min(MAX_SINGLE_PUT);
    if options.require_sha256 {
        let mut unknown: Vec<String> = objects
            .iter()
            .filter(|o| o.entry.size > copy_max && o.full_sha256().is_none())
            .map(|o| o.entry.path.clone())
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            return Err(PushError::Sha256Unknown { paths: unknown });
        }
    }
    progress.plan(files.len() as u64, files.iter().map(|f| f.size).sum());
    let rewritten = plan.rewrites.iter().filter_map(|rewrite| {
        let entry = files.iter().find(|e| e.path == rewrite.path)?.clone();
        let context = Arc::clone(&context);
        let content = Content::Memory(rewrite.bytes.clone());
        Some(futures::future::Either::Left(async move {
            upload::push_file(&context, &content, &entry).await
        }))
    });
    let copies = objects.into_iter().map(|object| {
        let context = Arc::clone(&context);
        let bucket = source.uri().bucket.clone();
        futures::future::Either::Right(async move {
            copy_file(&context, &bucket, &object, copy_max).await
        })
    });
    let mut reports: Vec<FileReport> = stream::iter(rewritten.chain(copies))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    reports.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let unknown: Vec<String> = reports
        .iter()
        .filter(|r| r.sha256.is_empty())
        .map(|r| r.path.clone())
        .collect();
    if options.require_sha256 && !unknown.is_empty() {
        return Err(PushError::Sha256Unknown { paths: unknown });
    }
    Ok(PushReport {
        destination: destination.uri.to_string(),
        files: reports,
    })
}

/// HeadObject of a source file, with its checksum.
async fn head_source(source: &S3Source, entry: Entry) -> Result<Object, PushError> {
    let key = format!("{}{}", source.uri().prefix, entry.path);
    let remote = verify::head_object(
        source.client(),
        &source.uri().bucket,
        &entry.path,
        &key,
        None,
        &PushOptions::default(),
    )
    .await?
    .ok_or_else(|| PushError::Read {
        path: entry.path.clone(),
        reason: "the source object is gone since it was listed".to_string(),
    })?;
    if remote.size != entry.size {
        return Err(PushError::Read {
            path: entry.path.clone(),
            reason: format!(
                "changed since it was listed: listed with {} bytes, now {}",
                entry.size, remote.size
            ),
        });
    }
    Ok(Object { entry, key, remote })
}

/// The `x-amz-copy-source` of `key` in `bucket`: the key percent-encoded, `/` kept.
fn copy_source(bucket: &str, key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!(
        "{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, KEEP)
    )
}

/// The hex form of a full-object base64 SHA-256.
fn hex_sha256(checksum: &Checksum) -> String {
    aws_smithy_types::base64::decode(&checksum.value)
        .ok()
        .filter(|raw| raw.len() == 32)
        .map(hex::encode)
        .unwrap_or_default()
}

/// Copies one object, unless the destination already holds it (same size, same SHA-256
/// checksum as the source's); reads the copy back.
async fn copy_file(
    context: &Arc<Context>,
    bucket: &str,
    object: &Object,
    copy_max: u64,
) -> Result<FileReport, PushError> {
    let path = object.entry.path.as_str();
    let size = object.entry.size;
    let key = context.key(path);
    context.progress.start(path, size);
    let known = object.full_sha256().map(hex_sha256).unwrap_or_default();
    if let (Some(source), Some(remote)) = (
        &object.remote.checksum,
        verify::head(context, path, &key, None).await?,
    ) {
        let same = remote.size == size
            && remote
                .checksum
                .as_ref()
                .is_some_and(|c| c.value == source.value && c.matches(source));
        if same {
            context.progress.advance(path, size);
            context.progress.finish(path);
            return Ok(FileReport {
                path: path.to_string(),
                key,
                size,
                sha256: known,
                action: Action::SkippedUnchanged,
                bytes_sent: 0,
                s3_checksum: source.to_string(),
            });
        }
    }
    let from = copy_source(bucket, &object.key);
    let etag = object.remote.etag.clone();
    let (expected, parts) = if size <= copy_max {
        (copy_whole(context, path, &key, &from, etag).await?, 0)
    } else {
        let part =
            part_size(size, context.options.part_size).map_err(|source| PushError::PartSize {
                path: path.to_string(),
                source,
            })?;
        let expected = copy_parts(context, path, &key, &from, etag, size, part).await?;
        (expected, part_count(size, part))
    };
    let expected = match (object.full_sha256(), expected) {
        (Some(source), Some(copy)) if !copy.matches(source) => {
            return Err(PushError::Mismatch {
                path: path.to_string(),
                expected: format!("the source's SHA-256 {source}"),
                found: format!("SHA-256 {copy} computed by S3 for the copy"),
            })
        }
        (_, Some(copy)) => Some(copy),
        (source, None) if parts == 0 => source.cloned(),
        (_, None) => None,
    };
    let stored = match &expected {
        Some(sent) => verify::read_back(context, path, &key, size, sent).await?,
        None => stored_checksum(context, path, &key, size).await?,
    };
    context.progress.advance(path, size);
    context.progress.finish(path);
    let sha256 = if known.is_empty() && stored.parts.is_none() && parts == 0 {
        hex_sha256(&stored)
    } else {
        known
    };
    Ok(FileReport {
        path: path.to_string(),
        key,
        size,
        sha256,
        action: Action::Copied { parts },
        bytes_sent: 0,
        s3_checksum: stored.to_string(),
    })
}

/// The checksum S3 holds for a copy whose parts' checksums S3 did not return (moto's
/// UploadPartCopy): the size is compared, and the object must have a SHA-256 checksum.
async fn stored_checksum(
    context: &Context,
    path: &str,
    key: &str,
    size: u64,
) -> Result<Checksum, PushError> {
    let remote = verify::head(context, path, key, None).await?;
    match remote {
        Some(Remote {
            size: found,
            checksum: Some(checksum),
            ..
        }) if found == size => Ok(checksum),
        other => Err(PushError::Mismatch {
            path: path.to_string(),
            expected: format!("{size} bytes with a SHA-256 checksum"),
            found: match other {
                Some(remote) => format!(
                    "{} bytes {}",
                    remote.size,
                    remote
                        .checksum
                        .map_or("without a SHA-256 checksum".to_string(), |c| format!(
                            "with SHA-256 checksum {c}"
                        ))
                ),
                None => "no object".to_string(),
            },
        }),
    }
}

/// One CopyObject with a SHA-256 checksum requested; the full-object checksum S3 computed.
async fn copy_whole(
    context: &Context,
    path: &str,
    key: &str,
    from: &str,
    etag: Option<String>,
) -> Result<Option<Checksum>, PushError> {
    let (sse, kms_key, bucket_key) = context.sse();
    let _slot = context.slot().await;
    let answer = context
        .client
        .copy_object()
        .bucket(&context.bucket)
        .key(key)
        .copy_source(from)
        .set_copy_source_if_match(etag)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .set_server_side_encryption(sse)
        .set_ssekms_key_id(kms_key)
        .set_bucket_key_enabled(bucket_key)
        .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|e| s3_error(context, path, key, "CopyObject", &e))?;
    Ok(answer
        .copy_object_result()
        .and_then(|r| r.checksum_sha256())
        .map(Checksum::parse))
}

/// A multipart upload of UploadPartCopy parts of `part_size` bytes, each with a SHA-256
/// checksum requested; completed only once every part is copied. The composite checksum
/// when S3 returned every part's SHA-256.
async fn copy_parts(
    context: &Arc<Context>,
    path: &str,
    key: &str,
    from: &str,
    etag: Option<String>,
    size: u64,
    part_size: u64,
) -> Result<Option<Checksum>, PushError> {
    let upload_id = create_upload(context, path, key).await?;
    let mut copies = JoinSet::new();
    for number in 1..=part_count(size, part_size) {
        let start = (number - 1) * part_size;
        let end = (start + part_size).min(size) - 1;
        let (context, path, key, from, etag, upload_id) = (
            Arc::clone(context),
            path.to_string(),
            key.to_string(),
            from.to_string(),
            etag.clone(),
            upload_id.clone(),
        );
        let number = i32::try_from(number).unwrap_or(i32::MAX);
        copies.spawn(async move {
            let _slot = context.slot().await;
            let answer = context
                .client
                .upload_part_copy()
                .bucket(&context.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .copy_source(&from)
                .copy_source_range(format!("bytes={start}-{end}"))
                .set_copy_source_if_match(etag)
                .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
                .send()
                .await
                .map_err(|e| s3_error(&context, &path, &key, "UploadPartCopy", &e))?;
            let result = answer.copy_part_result();
            Ok::<_, PushError>((
                number,
                result.and_then(|r| r.e_tag()).map(str::to_string),
                result.and_then(|r| r.checksum_sha256()).map(str::to_string),
            ))
        });
    }
    let mut parts = Vec::new();
    while let Some(done) = copies.join_next().await {
        let part = done.map_err(|e| PushError::Read {
            path: path.to_string(),
            reason: e.to_string(),
        })??;
        parts.push(part);
    }
    parts.sort_by_key(|(number, _, _)| *number);
    let completed: Vec<CompletedPart> = parts
        .iter()
        .map(|(number, etag, checksum)| {
            CompletedPart::builder()
                .part_number(*number)
                .set_e_tag(etag.clone())
                .set_checksum_sha256(checksum.clone())
                .build()
        })
        .collect();
    upload::complete_upload(context, path, key, &upload_id, completed).await?;
    let digests: Option<Vec<[u8; 32]>> = parts
        .iter()
        .map(|(_, _, checksum)| {
            checksum
                .as_deref()
                .and_then(|c| aws_smithy_types::base64::decode(c).ok())
                .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
        })
        .collect();
    Ok(digests.map(|d| Checksum::composite(&d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_source_encodes_the_key_but_its_slashes() {
        assert_eq!(
            copy_source("bucket", "a b/c+d/é.json"),
            "bucket/a%20b/c%2Bd/%C3%A9.json"
        );
        assert_eq!(
            copy_source("b", "m/model-0.safetensors"),
            "b/m/model-0.safetensors"
        );
    }

    #[test]
    fn only_a_full_object_checksum_gives_the_hex_sha256() {
        let full = Checksum::full(&[7u8; 32]);
        assert_eq!(hex_sha256(&full), "07".repeat(32));
        assert_eq!(hex_sha256(&Checksum::parse("not base64!")), "");
    }
}
