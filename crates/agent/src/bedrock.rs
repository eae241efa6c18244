//! What the import flow ([`crate::import`]) and the job reads ([`crate::jobs`]) share: the
//! Bedrock control-plane client and the error of one of its calls, explained.
//!
//! The `tool` field of their JSON documents is here too.
//!
//! It depends on neither of them, so that `import` may follow jobs with `jobs` without `jobs`
//! depending back on `import`.

use aws_config::SdkConfig;
use aws_sdk_bedrock::error::ProvideErrorMetadata;

use crate::aws::{self, AwsError, AwsOptions};

/// A Bedrock control-plane client from the connection settings, with `endpoint_url` (a VPC
/// endpoint, an emulator) for Bedrock alone when given.
pub async fn client(
    options: &AwsOptions,
    endpoint_url: Option<&str>,
) -> Result<aws_sdk_bedrock::Client, AwsError> {
    Ok(client_for(&aws::load(options).await?, endpoint_url))
}

/// A Bedrock control-plane client from a loaded configuration, with `endpoint_url` for
/// Bedrock alone when given.
pub fn client_for(config: &SdkConfig, endpoint_url: Option<&str>) -> aws_sdk_bedrock::Client {
    let mut builder = aws_sdk_bedrock::config::Builder::from(config);
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_bedrock::Client::from_conf(builder.build())
}

/// A Bedrock call the service refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {code}: {message}\n{explanation}")]
pub struct ServiceError {
    /// The operation.
    pub operation: &'static str,
    /// The error code (exception name).
    pub code: String,
    /// The service's message.
    pub message: String,
    /// What it means and what to do.
    pub explanation: String,
}

impl ServiceError {
    /// The error of `operation`, with its code, message and [`explain`]ed meaning.
    pub(crate) fn of<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        error: &aws_sdk_bedrock::error::SdkError<E, aws_sdk_bedrock::config::http::HttpResponse>,
    ) -> ServiceError {
        let code = error.code().unwrap_or("Unknown").to_string();
        let message = error.message().map(str::to_string).unwrap_or_else(|| {
            aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
        });
        let explanation = explain(&code, &message);
        ServiceError {
            operation,
            code,
            message,
            explanation,
        }
    }
}

/// A plain explanation of a service error of the Custom Model Import operations
/// (CreateModelImportJob, GetModelImportJob, the list operations), after the errors the
/// Amazon Bedrock API Reference lists for them.
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
