//! `import`: submit a Custom Model Import job with CreateModelImportJob, idempotently, and
//! follow it to its end with GetModelImportJob.
//!
//! Every request field is validated first against the constraints of the botocore model
//! ([`cmi_format::cmi_api`]), so that a bad name fails before any call. The
//! `clientRequestToken` is derived from the request and the artifact, so the same command run
//! again after a crash or a timeout returns the job the first run created.

use std::time::Duration;

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{ModelDataSource, S3DataSource, Tag, VpcConfig};
use cmi_format::{cmi_api, Report};
use sha2::{Digest, Sha256};

use crate::aws::{self, AwsOptions};
use crate::check::CheckOptions;
use crate::jobs::{self, Job};
use crate::manifest::Manifest;
use crate::open::OpenError;
use crate::s3::{S3Source, S3Uri};
use crate::source::Listing;
use crate::source::{Source, SourceError};

/// What to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRequest {
    /// `s3://bucket/prefix/` of the artifact.
    pub s3_uri: String,
    /// `jobName`.
    pub job_name: String,
    /// `importedModelName`.
    pub model_name: String,
    /// `roleArn`: the execution role.
    pub role_arn: String,
    /// `importedModelKmsKeyId`: the hosting account's key for the imported model.
    pub kms_key_id: Option<String>,
    /// `jobTags` as (key, value).
    pub job_tags: Vec<(String, String)>,
    /// `importedModelTags` as (key, value).
    pub model_tags: Vec<(String, String)>,
    /// `vpcConfig.subnetIds`; empty for no VPC.
    pub subnet_ids: Vec<String>,
    /// `vpcConfig.securityGroupIds`.
    pub security_group_ids: Vec<String>,
}

impl ImportRequest {
    /// Every violation of the CreateModelImportJob constraints, in the service's phrasing
    /// (empty when the request may be sent).
    pub fn violations(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |constraint: &cmi_api::FieldConstraint, value: &str| {
            if let Err(message) = constraint.validate(value) {
                problems.push(message);
            }
        };
        check(&cmi_api::JOB_NAME, &self.job_name);
        check(&cmi_api::IMPORTED_MODEL_NAME, &self.model_name);
        check(&cmi_api::ROLE_ARN, &self.role_arn);
        check(&cmi_api::S3_URI, &self.s3_uri);
        if let Some(key) = &self.kms_key_id {
            check(&cmi_api::KMS_KEY_ID, key);
        }
        for (key, value) in self.job_tags.iter().chain(&self.model_tags) {
            check(&cmi_api::TAG_KEY, key);
            check(&cmi_api::TAG_VALUE, value);
        }
        for subnet in &self.subnet_ids {
            check(&cmi_api::SUBNET_ID, subnet);
        }
        for group in &self.security_group_ids {
            check(&cmi_api::SECURITY_GROUP_ID, group);
        }
        let lists = [
            (&cmi_api::TAG_LIST, self.job_tags.len()),
            (&cmi_api::TAG_LIST, self.model_tags.len()),
        ];
        for (constraint, count) in lists {
            if let Err(message) = constraint.validate(count) {
                problems.push(message);
            }
        }
        if !self.subnet_ids.is_empty() || !self.security_group_ids.is_empty() {
            for (constraint, count) in [
                (&cmi_api::SUBNET_IDS, self.subnet_ids.len()),
                (&cmi_api::SECURITY_GROUP_IDS, self.security_group_ids.len()),
            ] {
                if let Err(message) = constraint.validate(count) {
                    problems.push(message);
                }
            }
        }
        problems
    }

    /// The idempotency token: the SHA-256 of the request's fields and the artifact's
    /// fingerprint, in hex (64 characters, within the token pattern). The same request for
    /// the same artifact always gives the same token; a changed artifact gives another.
    pub fn client_request_token(&self, artifact_fingerprint: &str) -> String {
        let mut job_tags = self.job_tags.clone();
        job_tags.sort();
        let mut model_tags = self.model_tags.clone();
        model_tags.sort();
        let canonical = serde_json::json!({
            "s3Uri": self.s3_uri,
            "jobName": self.job_name,
            "importedModelName": self.model_name,
            "roleArn": self.role_arn,
            "importedModelKmsKeyId": self.kms_key_id,
            "jobTags": job_tags,
            "importedModelTags": model_tags,
            "subnetIds": self.subnet_ids,
            "securityGroupIds": self.security_group_ids,
            "artifact": artifact_fingerprint,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// A fingerprint of an S3 artifact from its listing alone: the SHA-256 of
/// `<path> <size> <etag>` lines in path order. Any replaced object changes it.
pub fn listing_fingerprint(listing: &Listing) -> String {
    let mut lines: Vec<String> = listing
        .entries
        .iter()
        .map(|entry| {
            let etag = listing
                .meta
                .get(&entry.path)
                .and_then(|m| m.etag.clone())
                .unwrap_or_default();
            format!("{} {} {etag}\n", entry.path, entry.size)
        })
        .collect();
    lines.sort();
    format!(
        "listing:{}",
        hex::encode(Sha256::digest(lines.concat().as_bytes()))
    )
}

/// What `import` reads before it submits.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// Connection settings; with `role_arn`, the artifact is listed and checked under that
    /// role, as Bedrock will read it.
    pub aws: AwsOptions,
    /// Region of the import job: S3006 when the bucket is elsewhere, and the `RG` rules.
    pub bedrock_region: Option<String>,
    /// How to check the artifact; `None` skips the check (`--no-check`).
    pub check: Option<CheckOptions>,
}

/// What the preflight found.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The check's findings, with the differences from the manifest (MF rules); `None` when
    /// the check was skipped.
    pub report: Option<Report>,
    /// The artifact's fingerprint for the idempotency token: `manifest:<artifact digest>`
    /// with a manifest, else `listing:<sha256 of the listing>`; `None` when the prefix could
    /// not be listed (the report says why).
    pub fingerprint: Option<String>,
}

/// Checks the artifact (unless skipped), compares it with the manifest, and fingerprints it.
///
/// Without a check and with a manifest, nothing is read: the manifest's digest is the
/// fingerprint. Without either, the prefix is listed for its fingerprint only.
pub async fn preflight(
    s3_uri: &str,
    manifest: Option<&Manifest>,
    options: &PreflightOptions,
) -> Result<Preflight, ImportError> {
    let manifest_fingerprint = manifest.map(|m| format!("manifest:{}", m.artifact_digest));
    if options.check.is_none() {
        if let Some(fingerprint) = manifest_fingerprint {
            return Ok(Preflight {
                report: None,
                fingerprint: Some(fingerprint),
            });
        }
    }
    let uri: S3Uri = s3_uri.parse().map_err(OpenError::from)?;
    let config = aws::load(&options.aws).await.map_err(OpenError::from)?;
    let reader = options
        .aws
        .role_arn
        .clone()
        .unwrap_or_else(|| "the current credentials".to_string());
    let source =
        S3Source::new(&config, uri, reader).with_bedrock_region(options.bedrock_region.clone());
    let listing = match source.list().await {
        Ok(listing) => listing,
        Err(SourceError::Blocked(finding)) => {
            return match options.check {
                Some(_) => Ok(Preflight {
                    report: Some(Report {
                        findings: vec![*finding],
                        ..Report::default()
                    }),
                    fingerprint: None,
                }),
                None => Err(ImportError::Unlisted(finding.message)),
            };
        }
        Err(error) => return Err(OpenError::from(error).into()),
    };
    let fingerprint = manifest_fingerprint.unwrap_or_else(|| listing_fingerprint(&listing));
    let differences = manifest
        .map(|m| crate::verify::compare_with_listing(m, &listing))
        .unwrap_or_default();
    let report = match &options.check {
        Some(check) => {
            let check = CheckOptions {
                bedrock_region: check
                    .bedrock_region
                    .clone()
                    .or_else(|| options.bedrock_region.clone()),
                ..check.clone()
            };
            let mut report = crate::check::check_listed(&source, listing, check).await;
            report.findings.extend(differences);
            Some(report)
        }
        None => None,
    };
    Ok(Preflight {
        report,
        fingerprint: Some(fingerprint),
    })
}

/// Why an import could not be submitted or followed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The request breaks the API's constraints; nothing was sent.
    #[error("the request would be refused:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    /// The artifact could not be opened or listed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Without a check or a manifest, the prefix must be listed for the fingerprint, and it
    /// could not be.
    #[error("cannot list the artifact to fingerprint it: {0}\npass --manifest (its artifact digest identifies the artifact), or let the caller list the prefix")]
    Unlisted(String),
    /// The service refused or failed the call.
    #[error("{operation} failed: {code}: {message}\n{explanation}")]
    Service {
        /// The operation.
        operation: &'static str,
        /// The error code (exception name).
        code: String,
        /// The service's message.
        message: String,
        /// What it means and what to do.
        explanation: String,
    },
}

/// A plain explanation of a service error of CreateModelImportJob or GetModelImportJob.
pub fn explain(code: &str, message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    match code {
        "ValidationException" if lower.contains("job name is currently in use") => {
            "Job names stay taken for good, even after the job ended (jobs cannot be deleted): choose a new --job-name, for example with a date suffix.".to_string()
        }
        "ValidationException" if lower.contains("role arn is invalid") => {
            "The role does not exist or its trust policy does not let bedrock.amazonaws.com assume it (new trust policies take minutes to propagate). `cmi-preflight doctor` checks it; `cmi-preflight policy` writes the trust policy.".to_string()
        }
        "ValidationException" => "A request field was refused; the message names it.".to_string(),
        "ServiceQuotaExceededException" if lower.contains("concurrent") => {
            "Only one import job may run per account and Region, and the quota cannot be raised: wait for the running job (`cmi-preflight jobs --status InProgress`) and submit again.".to_string()
        }
        "ServiceQuotaExceededException" => {
            "The account has reached its imported-models quota: delete an imported model or request a quota increase (Imported models per account).".to_string()
        }
        "AccessDeniedException" if lower.contains("iam:passrole") => {
            "The caller may not pass the execution role: allow iam:PassRole on the role ARN in the caller's policy.".to_string()
        }
        "AccessDeniedException" => {
            "The caller lacks bedrock:CreateModelImportJob (or bedrock:GetModelImportJob) or iam:PassRole on the role.".to_string()
        }
        "ConflictException" => "An imported model of that name exists already: choose another --model-name.".to_string(),
        "TooManyTagsException" => "At most 50 tags may be attached to a job or a model.".to_string(),
        "ThrottlingException" => "Bedrock throttled the request after the SDK's retries; run the same command again (it is idempotent).".to_string(),
        "ResourceNotFoundException" => "No such job or model in this account and Region.".to_string(),
        _ => "See the message above.".to_string(),
    }
}

pub(crate) fn service_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    error: &aws_sdk_bedrock::error::SdkError<E, aws_sdk_bedrock::config::http::HttpResponse>,
) -> ImportError {
    let code = error.code().unwrap_or("Unknown").to_string();
    let message = error.message().map(str::to_string).unwrap_or_else(|| {
        aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
    });
    let explanation = explain(&code, &message);
    ImportError::Service {
        operation,
        code,
        message,
        explanation,
    }
}

fn tags(pairs: &[(String, String)]) -> Result<Option<Vec<Tag>>, ImportError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    pairs
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ImportError::Invalid(vec![e.to_string()]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Validates and submits the job; returns its ARN (the existing job's on a replay).
pub async fn submit(
    client: &aws_sdk_bedrock::Client,
    request: &ImportRequest,
    token: &str,
) -> Result<String, ImportError> {
    let problems = request.violations();
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    let source = ModelDataSource::S3DataSource(
        S3DataSource::builder()
            .s3_uri(&request.s3_uri)
            .build()
            .map_err(|e| ImportError::Invalid(vec![e.to_string()]))?,
    );
    let vpc = if request.subnet_ids.is_empty() {
        None
    } else {
        Some(
            VpcConfig::builder()
                .set_subnet_ids(Some(request.subnet_ids.clone()))
                .set_security_group_ids(Some(request.security_group_ids.clone()))
                .build()
                .map_err(|e| ImportError::Invalid(vec![e.to_string()]))?,
        )
    };
    let output = client
        .create_model_import_job()
        .job_name(&request.job_name)
        .imported_model_name(&request.model_name)
        .role_arn(&request.role_arn)
        .model_data_source(source)
        .set_imported_model_kms_key_id(request.kms_key_id.clone())
        .set_job_tags(tags(&request.job_tags)?)
        .set_imported_model_tags(tags(&request.model_tags)?)
        .set_vpc_config(vpc)
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| service_error("CreateModelImportJob", &e))?;
    Ok(output.job_arn().to_string())
}

/// How a job is followed.
#[derive(Debug, Clone, Copy)]
pub struct PollOptions {
    /// First wait between two GetModelImportJob calls.
    pub initial: Duration,
    /// Longest wait between two calls.
    pub max: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
        }
    }
}

/// Polls GetModelImportJob with exponential backoff and jitter until the job ends, telling
/// `on_poll` each description seen; returns the last one (Completed or Failed).
pub async fn wait(
    client: &aws_sdk_bedrock::Client,
    job: &str,
    poll: PollOptions,
    mut on_poll: impl FnMut(&Job),
) -> Result<Job, ImportError> {
    let mut delay = poll.initial;
    loop {
        let described = jobs::describe(client, job).await?;
        on_poll(&described);
        if described.has_ended() {
            return Ok(described);
        }
        let jitter = Duration::from_millis(jitter_millis(delay));
        tokio::time::sleep(delay + jitter).await;
        delay = (delay * 2).min(poll.max);
    }
}

/// Up to a quarter of `delay` in milliseconds, from the clock's low bits (jitter needs no
/// quality randomness, only that two clients do not poll in step).
fn jitter_millis(delay: Duration) -> u64 {
    let bound = (delay.as_millis() as u64 / 4).max(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    nanos % bound
}

/// Whether a failure message is about S3 access, so that the user is sent to `doctor`.
pub fn is_s3_access_failure(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("access") && (lower.contains("s3") || lower.contains("location"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ImportRequest {
        ImportRequest {
            s3_uri: "s3://models/llama/".into(),
            job_name: "llama-import-1".into(),
            model_name: "llama_ft".into(),
            role_arn: "arn:aws:iam::123456789012:role/cmi-import".into(),
            ..ImportRequest::default()
        }
    }

    #[test]
    fn violations_name_the_field() {
        assert!(request().violations().is_empty());
        let mut bad = request();
        bad.job_name = "llama_import".into();
        bad.job_tags = vec![("team".into(), "ml#1".into())];
        bad.subnet_ids = vec!["subnet-1".into()];
        let problems = bad.violations();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("'jobName'"));
        assert!(problems.iter().any(|p| p.contains("tag value")));
        assert!(problems
            .iter()
            .any(|p| p.contains("vpcConfig.securityGroupIds")));
    }

    #[test]
    fn tokens_are_deterministic_and_valid() {
        let a = request().client_request_token("listing:abc");
        assert_eq!(a, request().client_request_token("listing:abc"));
        assert_ne!(a, request().client_request_token("listing:abd"));
        let mut tagged = request();
        tagged.job_tags = vec![("b".into(), "2".into()), ("a".into(), "1".into())];
        let mut reordered = request();
        reordered.job_tags = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
        assert_eq!(
            tagged.client_request_token("x"),
            reordered.client_request_token("x")
        );
        assert!(cmi_api::CLIENT_REQUEST_TOKEN.validate(&a).is_ok());
    }

    #[test]
    fn explanations() {
        assert!(explain(
            "ValidationException",
            "The provided job name is currently in use."
        )
        .contains("stay taken"));
        assert!(explain(
            "ServiceQuotaExceededException",
            "request a quota increase for Concurrent model import jobs"
        )
        .contains("one import job"));
        assert!(is_s3_access_failure(
            "Amazon Bedrock does not have access to the S3 location."
        ));
    }
}
