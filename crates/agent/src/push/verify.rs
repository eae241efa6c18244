//! Reading an object back: HeadObject with checksum mode, compared with what was sent.

use aws_sdk_s3::types::{ChecksumMode, ChecksumType};

use super::upload::Context;
use super::{PushError, PushOptions};

/// An S3 SHA-256 checksum: the full-object one of a PutObject, or the composite of a
/// multipart upload (the SHA-256 of the concatenated part digests, and the part count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checksum {
    /// The base64 SHA-256.
    pub(crate) value: String,
    /// The number of parts of a composite checksum.
    pub(crate) parts: Option<u64>,
}

impl Checksum {
    /// The full-object checksum of a file whose raw SHA-256 is `digest`.
    pub(crate) fn full(digest: &[u8]) -> Checksum {
        Checksum {
            value: aws_smithy_types::base64::encode(digest),
            parts: None,
        }
    }

    /// The composite checksum of the parts whose raw SHA-256 digests are `parts`, in order.
    pub(crate) fn composite(parts: &[[u8; 32]]) -> Checksum {
        let mut hasher = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in parts {
            hasher.update(part);
        }
        Checksum {
            value: aws_smithy_types::base64::encode(hasher.finish().as_ref()),
            parts: Some(parts.len() as u64),
        }
    }

    /// Whether `self`, as S3 returned it, is the checksum `sent`: the same SHA-256 and, when
    /// S3 names a part count, the same one. S3 names it (`base64-N`) for a composite
    /// checksum; moto's HeadObject leaves it out.
    pub(crate) fn matches(&self, sent: &Checksum) -> bool {
        self.value == sent.value && (self.parts.is_none() || self.parts == sent.parts)
    }

    /// Parses S3's form: `base64` or `base64-N`.
    pub(crate) fn parse(text: &str) -> Checksum {
        match text.rsplit_once('-') {
            Some((value, parts)) if parts.parse::<u64>().is_ok() => Checksum {
                value: value.to_string(),
                parts: parts.parse().ok(),
            },
            _ => Checksum {
                value: text.to_string(),
                parts: None,
            },
        }
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parts {
            Some(parts) => write!(f, "{}-{parts}", self.value),
            None => f.write_str(&self.value),
        }
    }
}

/// What S3 holds at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    /// The object's size.
    pub(crate) size: u64,
    /// Its SHA-256 checksum, when it has one.
    pub(crate) checksum: Option<Checksum>,
    /// Whether the object was written by a multipart upload, so that its checksum is
    /// composite: by the checksum's `-N`, its checksum type, or its ETag's `-N` (S3's
    /// multipart ETag).
    pub(crate) multipart: bool,
    /// The object's part count, when HeadObject was asked for a part.
    pub(crate) parts_count: Option<u64>,
    /// The object's ETag, as S3 sent it (quoted).
    pub(crate) etag: Option<String>,
}

/// HeadObject with checksum mode (of part `part_number` when given: its size is that
/// part's); `None` when there is no object.
pub(crate) async fn head(
    context: &Context,
    path: &str,
    key: &str,
    part_number: Option<i32>,
) -> Result<Option<Remote>, PushError> {
    let _slot = context.slot().await;
    head_object(
        &context.client,
        &context.bucket,
        path,
        key,
        part_number,
        &context.options,
    )
    .await
}

/// HeadObject with checksum mode of `bucket`/`key` with `client` (the file `path`, for
/// errors), of part `part_number` when given, with the expected bucket owner and encryption
/// of `options` (which also name the permission a denial lacked); `None` when there is no
/// object.
pub(crate) async fn head_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    path: &str,
    key: &str,
    part_number: Option<i32>,
    options: &PushOptions,
) -> Result<Option<Remote>, PushError> {
    let result = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .set_part_number(part_number)
        .set_expected_bucket_owner(options.expected_bucket_owner.clone())
        .send()
        .await;
    match result {
        Ok(head) => {
            let checksum = head.checksum_sha256().map(Checksum::parse);
            let etag_parts = head
                .e_tag()
                .map(|etag| etag.trim_matches('"'))
                .and_then(|etag| etag.rsplit_once('-'))
                .is_some_and(|(_, n)| n.parse::<u64>().is_ok());
            Ok(Some(Remote {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                multipart: checksum.as_ref().is_some_and(|c| c.parts.is_some())
                    || head.checksum_type() == Some(&ChecksumType::Composite)
                    || etag_parts,
                checksum,
                parts_count: head.parts_count().and_then(|n| u64::try_from(n).ok()),
                etag: head.e_tag().map(str::to_string),
            }))
        }
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(error) => Err(PushError::S3 {
            path: path.to_string(),
            operation: "HeadObject",
            reason: super::guard::describe("HeadObject", bucket, key, options, &error),
        }),
    }
}

/// Reads the object back and compares its size and checksum with what was sent; on success,
/// the checksum S3 verified, in S3's form (`base64-N` for a composite one).
pub(crate) async fn read_back(
    context: &Context,
    path: &str,
    key: &str,
    size: u64,
    sent: &Checksum,
) -> Result<Checksum, PushError> {
    let expected = format!("{size} bytes with SHA-256 checksum {sent}");
    let Some(remote) = head(context, path, key, None).await? else {
        return Err(PushError::Mismatch {
            path: path.to_string(),
            expected,
            found: "no object".to_string(),
        });
    };
    match &remote.checksum {
        Some(checksum) if remote.size == size && checksum.matches(sent) => Ok(sent.clone()),
        Some(checksum) => Err(PushError::Mismatch {
            path: path.to_string(),
            expected,
            found: format!("{} bytes with SHA-256 checksum {checksum}", remote.size),
        }),
        None => Err(PushError::Mismatch {
            path: path.to_string(),
            expected,
            found: format!("{} bytes without a SHA-256 checksum", remote.size),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_round_trip_through_s3_form() {
        let full = Checksum::full(&[0u8; 32]);
        assert_eq!(Checksum::parse(&full.to_string()), full);
        let composite = Checksum::composite(&[[1u8; 32], [2u8; 32]]);
        assert!(composite.to_string().ends_with("-2"));
        assert_eq!(Checksum::parse(&composite.to_string()), composite);
    }
}
