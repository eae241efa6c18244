//! What a push checks about the destination before it writes any object, and how it names a
//! refused request.
//!
//! - Ownership: with `--expected-bucket-owner`, one HeadBucket carrying the account comes
//!   first, so that a bucket of another account is refused before any object is written
//!   (S3 answers 403 to any request whose `x-amz-expected-bucket-owner` is not the bucket's
//!   owner: Amazon S3 User Guide, "Verifying bucket ownership with bucket owner condition").
//! - Encryption: the AWS-managed `aws/s3` key cannot be used by principals of another account
//!   (its key policy cannot be edited), so a cross-account import role cannot decrypt what it
//!   encrypts: rule S3005 (AWS KMS Developer Guide, "AWS managed keys"). It is a warning when
//!   `--sse-kms-key-id` names or resolves to it, or when no key is given and the bucket's
//!   default encryption (GetBucketEncryption) is SSE-KMS with it.
//! - A refused request names the permission it needed and its resource, as `check`'s
//!   access-denied findings do.

use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::ServerSideEncryption;
use cmi_format::{Finding, RuleId};
use tracing::debug;

use super::{Destination, PushError, PushOptions, Sse};
use crate::s3::{denial_code, denied_line, describe_sdk_error, ManagedKeyProbe, AWS_S3_KEY_ALIAS};

/// One line for a failed S3 request of a push. A denial names the permission and its
/// resource (`s3:PutObject on arn:aws:s3:::bucket/key`), or the KMS action when the key
/// refused (SSE-KMS writes need kms:GenerateDataKey, and kms:Decrypt for a multipart upload:
/// Amazon S3 User Guide, "Specifying server-side encryption with AWS KMS (SSE-KMS)"), and
/// with `--expected-bucket-owner` says the bucket may not be that account's.
pub(crate) fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    bucket: &str,
    key: &str,
    options: &PushOptions,
    error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    let Some(code) = denial_code(error) else {
        return describe_sdk_error(error);
    };
    let message = error.message().unwrap_or("Access Denied");
    let owner = options
        .expected_bucket_owner
        .as_deref()
        .map(|owner| {
            format!(
                "; or bucket {bucket} is not owned by account {owner} (--expected-bucket-owner)"
            )
        })
        .unwrap_or_default();
    if code.starts_with("KMS.") || message.contains("kms:") {
        let kms_action = ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"]
            .into_iter()
            .find(|a| message.contains(a))
            .unwrap_or("kms:GenerateDataKey");
        let key_id = match &options.sse {
            Some(Sse::Kms { key_id: Some(key) }) => key.clone(),
            _ => "the bucket's default key".to_string(),
        };
        return format!(
            "{code}: {kms_action} on the KMS key {key_id} was denied: {message}; the key policy and the caller's identity policy must allow kms:GenerateDataKey (and kms:Decrypt, for a multipart upload) on it{owner}"
        );
    }
    if code != "AccessDenied" && code != "AllAccessDisabled" {
        return describe_sdk_error(error);
    }
    format!(
        "{}{owner}",
        denied_line(&code, operation, bucket, key, message)
    )
}

/// The S3005 finding for objects encrypted with `key`, the `aws/s3` key, because of `why`.
fn managed_key_finding(destination: &str, key: &str, why: &str) -> Finding {
    Finding::new(
        RuleId::AwsManagedKmsKey,
        "",
        format!("objects written to {destination} would be encrypted with the AWS-managed key {key} (aws/s3): {why}"),
    )
    .with_hint("Give --sse-kms-key-id a customer-managed key whose key policy grants the import role kms:Decrypt (`cmi-preflight policy --source-kms-key-arn` writes it); the aws/s3 key only serves the bucket's own account.")
}

/// The warnings known without a request: `--sse-kms-key-id` naming `alias/aws/s3`.
pub fn offline_warnings(destination: &str, options: &PushOptions) -> Vec<Finding> {
    match &options.sse {
        Some(Sse::Kms { key_id: Some(key) }) if key.ends_with(AWS_S3_KEY_ALIAS) => {
            vec![managed_key_finding(
                destination,
                key,
                "--sse-kms-key-id names it",
            )]
        }
        _ => Vec::new(),
    }
}

/// Checks the destination before any object is written: the bucket's owner (with
/// `--expected-bucket-owner`: an error naming the bucket and the account when S3 refuses),
/// and the KMS key the objects would get (KMS of `config`) (S3005 warnings; see the module documentation).
/// Reading the bucket's default encryption is best effort: a refusal leaves no warning.
pub async fn preflight(
    destination: &Destination,
    config: &SdkConfig,
    options: &PushOptions,
) -> Result<Vec<Finding>, PushError> {
    let kms = aws_sdk_kms::Client::new(config);
    let bucket = &destination.uri.bucket;
    let shown = destination.uri.to_string();
    if let Some(owner) = &options.expected_bucket_owner {
        if let Err(error) = destination
            .client
            .head_bucket()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await
        {
            let status = error.raw_response().map(|r| r.status().as_u16());
            return Err(PushError::Owner {
                bucket: bucket.clone(),
                expected: owner.clone(),
                reason: match status {
                    Some(403) => "HeadBucket was refused (403): the bucket is another account's, or s3:ListBucket on it is denied".to_string(),
                    Some(404) => "the bucket does not exist".to_string(),
                    _ => describe_sdk_error(&error),
                },
            });
        }
    }
    let mut warnings = offline_warnings(&shown, options);
    let key = match &options.sse {
        Some(Sse::Aes256) => return Ok(warnings),
        Some(Sse::Kms { key_id: Some(key) }) => {
            if warnings.is_empty()
                && ManagedKeyProbe::new(kms.clone())
                    .await
                    .is_managed(key)
                    .await
            {
                warnings.push(managed_key_finding(
                    &shown,
                    key,
                    "--sse-kms-key-id resolves to it",
                ));
            }
            return Ok(warnings);
        }
        Some(Sse::Kms { key_id: None }) | None => default_kms_key(destination, options).await,
    };
    let Some(key) = key else {
        return Ok(warnings);
    };
    let managed = match &key {
        None => true,
        Some(key) => {
            ManagedKeyProbe::new(kms.clone())
                .await
                .is_managed(key)
                .await
        }
    };
    if managed {
        warnings.push(managed_key_finding(
            &shown,
            key.as_deref().unwrap_or(AWS_S3_KEY_ALIAS),
            &format!("no --sse-kms-key-id, and the default encryption of bucket {bucket} is SSE-KMS with it"),
        ));
    }
    Ok(warnings)
}

/// The bucket's default SSE-KMS key: `None` when its default is not SSE-KMS or cannot be read,
/// `Some(None)` for SSE-KMS without a key (the `aws/s3` key).
async fn default_kms_key(
    destination: &Destination,
    options: &PushOptions,
) -> Option<Option<String>> {
    let answer = destination
        .client
        .get_bucket_encryption()
        .bucket(&destination.uri.bucket)
        .set_expected_bucket_owner(options.expected_bucket_owner.clone())
        .send()
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(error) => {
            debug!(error = %describe_sdk_error(&error), "bucket default encryption unknown");
            return None;
        }
    };
    output
        .server_side_encryption_configuration()?
        .rules()
        .iter()
        .filter_map(|r| r.apply_server_side_encryption_by_default())
        .find(|d| d.sse_algorithm() == &ServerSideEncryption::AwsKms)
        .map(|d| d.kms_master_key_id().map(str::to_string))
}
