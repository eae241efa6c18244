//! `import`: submit a Custom Model Import job with CreateModelImportJob, idempotently, and
//! follow it to its end with GetModelImportJob.
//!
//! [`run`] is the one import flow, used by the `import` command and the watch daemon: a
//! validated request, an optional preflight check, the token, the submission, and as far as
//! asked the job's description and its following.
//!
//! Every request field is validated first against the constraints of the botocore model
//! ([`cmi_format::cmi_api`]), so that a bad name fails before any call. The
//! `clientRequestToken` is derived from the request and the artifact, so the same command run
//! again after a crash or a timeout returns the job the first run created.

use aws_sdk_bedrock::types::{ModelDataSource, S3DataSource, Tag, VpcConfig};
use cmi_format::cmi_api;

use crate::bedrock::ServiceError;
use crate::hash::sha256_hex;
use crate::open::OpenError;

mod flow;
mod preflight;

pub use flow::{
    follow, run, Artifact, Follow, ImportDocument, ImportOutcome, ImportRun, Progress, Submission,
};
pub use preflight::{listing_fingerprint, preflight, Preflight, PreflightOptions};

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

    /// The request, once it breaks none of the constraints ([`ImportRequest::violations`]).
    pub fn validate(self) -> Result<ValidRequest, ImportError> {
        let problems = self.violations();
        if problems.is_empty() {
            Ok(ValidRequest(self))
        } else {
            Err(ImportError::Invalid(problems))
        }
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
        sha256_hex(canonical.to_string().as_bytes())
    }
}

/// A request that breaks none of the CreateModelImportJob constraints: only
/// [`ImportRequest::validate`] makes one, so a submission never sends a request that would be
/// refused for its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest(ImportRequest);

impl std::ops::Deref for ValidRequest {
    type Target = ImportRequest;

    fn deref(&self) -> &ImportRequest {
        &self.0
    }
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
    /// The check passed, yet the artifact could not be listed, so it has no fingerprint.
    #[error("the artifact could not be listed, so it has no fingerprint")]
    NoFingerprint,
    /// The service refused or failed the call.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A step of the caller's [`Progress`] failed (writing its output, recording its state).
    #[error(transparent)]
    Progress(Box<dyn std::error::Error + Send + Sync>),
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

/// Submits the job; returns its ARN (the existing job's on a replay of the same token).
pub async fn submit(
    client: &aws_sdk_bedrock::Client,
    request: &ValidRequest,
    token: &str,
) -> Result<String, ImportError> {
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
        .map_err(|e| ServiceError::of("CreateModelImportJob", &e))?;
    Ok(output.job_arn().to_string())
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
        assert!(request().validate().is_ok());
        assert!(matches!(bad.validate(), Err(ImportError::Invalid(p)) if p == problems));
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
    fn s3_access_failures() {
        assert!(is_s3_access_failure(
            "Amazon Bedrock does not have access to the S3 location."
        ));
    }
}
