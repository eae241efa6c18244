//! Resuming an interrupted multipart upload: ListMultipartUploads for the key, ListParts of
//! the newest upload created with SHA-256 checksums; a part already there is not sent again
//! when its size and its SHA-256 checksum equal the local part's (S3 verified that checksum
//! against the bytes it stored).
//!
//! A part listed without a checksum (S3 lists one for every part of an upload created with
//! SHA-256 checksums; moto 5.2.5 lists none) is not sent again when its ETag is the MD5 of the
//! local part: the ETag of a part is the MD5 of its bytes for an upload without SSE-KMS or
//! SSE-C (Amazon S3 User Guide, "Checking object integrity in Amazon S3"). With SSE-KMS the
//! ETag is not the MD5, never matches, and the part is sent again. The SHA-256 still guards
//! such a part: CompleteMultipartUpload names each part's SHA-256, and the composite checksum
//! S3 then holds is read back and compared with the one computed from the local file.

use std::collections::BTreeMap;

use aws_sdk_s3::types::ChecksumAlgorithm;

use super::upload::Context;
use super::{guard, PushError};
use cmi_format::transfer::{part_count, MAX_PART, MAX_PARTS, MIN_PART};

/// A part S3 holds for an incomplete upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedPart {
    /// Its size.
    pub(crate) size: u64,
    /// Its ETag, for CompleteMultipartUpload.
    pub(crate) etag: Option<String>,
    /// Its SHA-256 checksum (base64), when S3 lists one.
    pub(crate) checksum: Option<String>,
}

/// An incomplete upload to continue.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The upload.
    pub(crate) upload_id: String,
    /// Its part size: its part 1's.
    pub(crate) part_size: u64,
    /// The parts it holds, by number.
    pub(crate) parts: BTreeMap<i32, ListedPart>,
}

/// The part size at which an upload holding `parts` continues for a file of `file_size`
/// bytes (part 1's size, or `default` when it has no part 1), or `None` when the parts do
/// not fit the file (another file was being sent, or with other limits).
pub(crate) fn part_size_of(
    file_size: u64,
    parts: &BTreeMap<i32, ListedPart>,
    default: u64,
) -> Option<u64> {
    let part_size = parts.get(&1).map_or(default, |p| p.size);
    let count = part_count(file_size, part_size);
    if !(MIN_PART..=MAX_PART).contains(&part_size) || count > MAX_PARTS {
        return None;
    }
    let fits = parts.iter().all(|(&number, part)| {
        let Ok(number) = u64::try_from(number) else {
            return false;
        };
        let start = (number.max(1) - 1) * part_size;
        number >= 1 && number <= count && part.size == part_size.min(file_size - start)
    });
    fits.then_some(part_size)
}

/// Whether a listed part holds the local part of `length` bytes whose SHA-256 is `checksum`
/// (base64): by its SHA-256 checksum when S3 lists one, else by its ETag compared with `md5`,
/// the local part's MD5, when it was computed.
pub(crate) fn reusable(
    part: Option<&ListedPart>,
    length: u64,
    checksum: &str,
    md5: Option<&[u8; 16]>,
) -> bool {
    let Some(part) = part.filter(|p| p.size == length) else {
        return false;
    };
    match (&part.checksum, md5) {
        (Some(listed), _) => listed == checksum,
        (None, Some(md5)) => part.etag.as_deref().is_some_and(|etag| {
            etag.trim_matches('"')
                .eq_ignore_ascii_case(&hex::encode(md5))
        }),
        (None, None) => false,
    }
}

/// Whether the MD5 of the local part is needed to tell whether S3 holds `part`: it is
/// listed without a checksum, with an ETag.
pub(crate) fn needs_md5(part: &ListedPart) -> bool {
    part.checksum.is_none() && part.etag.is_some()
}

/// The newest incomplete SHA-256 upload of `key` that fits a file of `file_size` bytes;
/// `None` also when the uploads or their parts cannot be listed (a warning says why): the
/// file is then sent in a new upload, and the old one is left for the next run.
pub(crate) async fn find(
    context: &Context,
    path: &str,
    key: &str,
    file_size: u64,
    default_part_size: u64,
) -> Option<Pending> {
    match find_listed(context, path, key, file_size, default_part_size).await {
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!("{error}; sending the file in a new upload");
            None
        }
    }
}

async fn find_listed(
    context: &Context,
    path: &str,
    key: &str,
    file_size: u64,
    default_part_size: u64,
) -> Result<Option<Pending>, PushError> {
    let s3_error = |operation: &'static str, reason: String| PushError::S3 {
        path: path.to_string(),
        operation,
        reason,
    };
    let listed = {
        let _slot = context.slot().await;
        context
            .client
            .list_multipart_uploads()
            .bucket(&context.bucket)
            .prefix(key)
            .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    "ListMultipartUploads",
                    guard::describe(
                        "ListMultipartUploads",
                        &context.bucket,
                        key,
                        &context.options,
                        &e,
                    ),
                )
            })?
    };
    let mut uploads: Vec<_> = listed
        .uploads()
        .iter()
        .filter(|u| u.key() == Some(key))
        .filter(|u| u.checksum_algorithm() == Some(&ChecksumAlgorithm::Sha256))
        .filter_map(|u| Some((u.initiated().copied(), u.upload_id()?.to_string())))
        .collect();
    uploads.sort_by_key(|upload| std::cmp::Reverse(upload.0));
    for (_, upload_id) in uploads {
        let parts = list_parts(context, key, &upload_id)
            .await
            .map_err(|reason| s3_error("ListParts", reason))?;
        if let Some(part_size) = part_size_of(file_size, &parts, default_part_size) {
            return Ok(Some(Pending {
                upload_id,
                part_size,
                parts,
            }));
        }
    }
    Ok(None)
}

/// Every part of an upload, page by page.
async fn list_parts(
    context: &Context,
    key: &str,
    upload_id: &str,
) -> Result<BTreeMap<i32, ListedPart>, String> {
    let mut parts = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = {
            let _slot = context.slot().await;
            context
                .client
                .list_parts()
                .bucket(&context.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .set_expected_bucket_owner(context.options.expected_bucket_owner.clone())
                .send()
                .await
                .map_err(|e| {
                    guard::describe("ListParts", &context.bucket, key, &context.options, &e)
                })?
        };
        for part in page.parts() {
            if let Some(number) = part.part_number() {
                parts.insert(
                    number,
                    ListedPart {
                        size: part.size().unwrap_or(0).max(0) as u64,
                        etag: part.e_tag().map(str::to_string),
                        checksum: part.checksum_sha256().map(str::to_string),
                    },
                );
            }
        }
        match (page.is_truncated(), page.next_part_number_marker()) {
            (Some(true), Some(next)) if marker.as_deref() != Some(next) => {
                marker = Some(next.to_string());
            }
            _ => return Ok(parts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn part(size: u64, checksum: Option<&str>) -> ListedPart {
        ListedPart {
            size,
            etag: Some("e".to_string()),
            checksum: checksum.map(str::to_string),
        }
    }

    #[test]
    fn an_upload_continues_at_its_part_size() {
        let parts = BTreeMap::from([(1, part(5 * MIB, None)), (3, part(2 * MIB, None))]);
        assert_eq!(part_size_of(12 * MIB, &parts, 8 * MIB), Some(5 * MIB));
        assert_eq!(
            part_size_of(12 * MIB, &BTreeMap::new(), 8 * MIB),
            Some(8 * MIB)
        );
    }

    #[test]
    fn parts_that_do_not_fit_the_file_are_not_resumed() {
        let too_many = BTreeMap::from([(1, part(5 * MIB, None)), (4, part(MIB, None))]);
        assert_eq!(part_size_of(12 * MIB, &too_many, 8 * MIB), None);
        let wrong_last = BTreeMap::from([(1, part(5 * MIB, None)), (3, part(MIB, None))]);
        assert_eq!(part_size_of(12 * MIB, &wrong_last, 8 * MIB), None);
        let too_small = BTreeMap::from([(1, part(MIB, None))]);
        assert_eq!(part_size_of(12 * MIB, &too_small, 8 * MIB), None);
    }

    #[test]
    fn only_parts_with_the_same_checksum_are_reused() {
        assert!(reusable(Some(&part(5, Some("abc"))), 5, "abc", None));
        assert!(!reusable(Some(&part(5, Some("abd"))), 5, "abc", None));
        assert!(!reusable(Some(&part(4, Some("abc"))), 5, "abc", None));
        assert!(!reusable(Some(&part(5, None)), 5, "abc", None));
        assert!(!reusable(None, 5, "abc", None));
    }

    #[test]
    fn a_part_without_a_checksum_is_reused_when_its_etag_is_the_local_md5() {
        let md5 = [0xab; 16];
        let listed = |etag: &str| ListedPart {
            size: 5,
            etag: Some(etag.to_string()),
            checksum: None,
        };
        let hex = format!("\"{}\"", "AB".repeat(16));
        assert!(needs_md5(&listed(&hex)));
        assert!(reusable(Some(&listed(&hex)), 5, "abc", Some(&md5)));
        assert!(!reusable(Some(&listed("\"00\"")), 5, "abc", Some(&md5)));
        assert!(!reusable(Some(&listed(&hex)), 4, "abc", Some(&md5)));
        // A listed checksum decides, whatever the ETag.
        let mut with_checksum = listed(&hex);
        with_checksum.checksum = Some("abd".to_string());
        assert!(!needs_md5(&with_checksum));
        assert!(!reusable(Some(&with_checksum), 5, "abc", Some(&md5)));
    }
}
