//! The destination's life around a push: `--delete` (objects under the prefix that the push
//! did not send) and `--abort-incomplete` (multipart uploads left under the prefix by
//! interrupted runs).
//!
//! Both only ever touch keys under the destination prefix. [`S3Uri`] normalizes a prefix to end
//! with `/`, so `s3://bucket/llama` means the keys under `llama/`: a sibling such as
//! `llama-old/model.safetensors`, which merely starts with the same characters, is never
//! listed. An empty prefix (the bucket's root) is refused, as it would reach every other
//! object or upload of the bucket.

use std::collections::BTreeSet;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::{Destination, PushError};
use crate::s3::describe_sdk_error;

/// Keys per DeleteObjects request: S3's maximum (Amazon S3 API Reference, DeleteObjects).
const DELETE_BATCH: usize = 1000;

/// An object under the prefix that the push did not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// Its key.
    pub key: String,
    /// Its size.
    pub size: u64,
}

/// A multipart upload left under the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    /// The key it would write.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
}

fn error(operation: &'static str, reason: String) -> PushError {
    PushError::Prefix { operation, reason }
}

/// The prefix of `destination`, or an error when it is the bucket's root.
fn prefix(destination: &Destination, operation: &'static str) -> Result<String, PushError> {
    let prefix = destination.uri.prefix.clone();
    if prefix.is_empty() {
        return Err(error(
            operation,
            format!(
                "refused at the root of bucket {}: give a prefix (s3://{}/PREFIX/)",
                destination.uri.bucket, destination.uri.bucket
            ),
        ));
    }
    Ok(prefix)
}

/// Whether `key` is strictly under `prefix` (which ends with `/`).
fn under(prefix: &str, key: &str) -> bool {
    key.len() > prefix.len() && key.starts_with(prefix)
}

/// The objects under the destination prefix whose keys are not in `keep`, sorted by key
/// (ListObjectsV2, page by page).
pub async fn stale(
    destination: &Destination,
    expected_bucket_owner: Option<&str>,
    keep: &BTreeSet<String>,
) -> Result<Vec<Stale>, PushError> {
    let prefix = prefix(destination, "ListObjectsV2")?;
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = destination
            .client
            .list_objects_v2()
            .bucket(&destination.uri.bucket)
            .prefix(&prefix)
            .set_continuation_token(token.clone())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_string))
            .send()
            .await
            .map_err(|e| error("ListObjectsV2", describe_sdk_error(&e)))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if under(&prefix, key) && !keep.contains(key) {
                found.push(Stale {
                    key: key.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                });
            }
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) && token.as_deref() != Some(next) => {
                token = Some(next.to_string());
            }
            _ => break,
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

/// Deletes `objects` (DeleteObjects, [`DELETE_BATCH`] keys at a time); every key must be under
/// the destination prefix. Fails naming the keys S3 did not delete.
pub async fn delete(
    destination: &Destination,
    expected_bucket_owner: Option<&str>,
    objects: &[Stale],
) -> Result<(), PushError> {
    let prefix = prefix(destination, "DeleteObjects")?;
    if let Some(outside) = objects.iter().find(|o| !under(&prefix, &o.key)) {
        return Err(error(
            "DeleteObjects",
            format!("{} is not under {prefix}: not deleted", outside.key),
        ));
    }
    for batch in objects.chunks(DELETE_BATCH) {
        let identifiers = batch
            .iter()
            .map(|o| ObjectIdentifier::builder().key(&o.key).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error("DeleteObjects", e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(identifiers))
            .quiet(true)
            .build()
            .map_err(|e| error("DeleteObjects", e.to_string()))?;
        let answer = destination
            .client
            .delete_objects()
            .bucket(&destination.uri.bucket)
            .delete(delete)
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_string))
            .send()
            .await
            .map_err(|e| error("DeleteObjects", describe_sdk_error(&e)))?;
        if !answer.errors().is_empty() {
            let failed: Vec<String> = answer
                .errors()
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.key().unwrap_or("?"),
                        e.code().or(e.message()).unwrap_or("no reason given")
                    )
                })
                .collect();
            return Err(error(
                "DeleteObjects",
                format!("not deleted: {}", failed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The multipart uploads under the destination prefix (ListMultipartUploads, page by page),
/// sorted by key.
pub async fn incomplete(
    destination: &Destination,
    expected_bucket_owner: Option<&str>,
) -> Result<Vec<Incomplete>, PushError> {
    let prefix = prefix(destination, "ListMultipartUploads")?;
    let mut found = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = destination
            .client
            .list_multipart_uploads()
            .bucket(&destination.uri.bucket)
            .prefix(&prefix)
            .set_key_marker(markers.0.clone())
            .set_upload_id_marker(markers.1.clone())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_string))
            .send()
            .await
            .map_err(|e| error("ListMultipartUploads", describe_sdk_error(&e)))?;
        for upload in page.uploads() {
            if let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) {
                if under(&prefix, key) {
                    found.push(Incomplete {
                        key: key.to_string(),
                        upload_id: upload_id.to_string(),
                    });
                }
            }
        }
        let next = (
            page.next_key_marker().map(str::to_string),
            page.next_upload_id_marker().map(str::to_string),
        );
        if page.is_truncated() != Some(true) || next.0.is_none() || next == markers {
            break;
        }
        markers = next;
    }
    found.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
    Ok(found)
}

/// Aborts `uploads` (AbortMultipartUpload each); every key must be under the destination
/// prefix. An upload already gone counts as aborted.
pub async fn abort(
    destination: &Destination,
    expected_bucket_owner: Option<&str>,
    uploads: &[Incomplete],
) -> Result<(), PushError> {
    let prefix = prefix(destination, "AbortMultipartUpload")?;
    for upload in uploads {
        if !under(&prefix, &upload.key) {
            return Err(error(
                "AbortMultipartUpload",
                format!("{} is not under {prefix}: not aborted", upload.key),
            ));
        }
        let result = destination
            .client
            .abort_multipart_upload()
            .bucket(&destination.uri.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_string))
            .send()
            .await;
        if let Err(e) = result {
            let gone = e.as_service_error().is_some_and(|s| s.is_no_such_upload());
            if !gone {
                return Err(PushError::S3 {
                    path: upload.key.clone(),
                    operation: "AbortMultipartUpload",
                    reason: describe_sdk_error(&e),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn only_keys_strictly_under_the_prefix() {
        assert!(under("llama/", "llama/config.json"));
        assert!(under("llama/", "llama/.cache/x"));
        assert!(!under("llama/", "llama/"));
        assert!(!under("llama/", "llama-old/config.json"));
        assert!(!under("llama/", "llamaconfig.json"));
        assert!(!under("llama/", "other/llama/config.json"));
    }
}
