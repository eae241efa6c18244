//! AWS configuration as the AWS CLI understands it, plus an optional assumed role under which
//! every request is made.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

/// Connection settings, named after the AWS CLI's options.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--region`; otherwise AWS_REGION, the profile, or the instance metadata.
    pub region: Option<String>,
    /// `--profile`; otherwise AWS_PROFILE or `default`.
    pub profile: Option<String>,
    /// `--endpoint-url`: a custom endpoint for every service (an emulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// `--role-arn`: assume this role through STS and make every request with its credentials.
    pub role_arn: Option<String>,
    /// `--external-id` for the assumed role.
    pub external_id: Option<String>,
    /// `--role-session-name` for the assumed role.
    pub role_session_name: Option<String>,
}

/// Default session name of an assumed role, visible in the role account's CloudTrail.
pub const DEFAULT_SESSION_NAME: &str = "cmi-preflight";

/// Attempts per request, with the SDK's standard exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 5;

/// Why the AWS configuration could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No Region from the options, the environment or the profile.
    #[error("no AWS Region: pass --region or set AWS_REGION")]
    NoRegion,
    /// The role could not be assumed: the caller's identity policy must allow
    /// `sts:AssumeRole` on it and its trust policy must name the caller (AWS IAM User Guide,
    /// "Grant a user permissions to switch roles").
    #[error("cannot assume {role} (sts:AssumeRole: allowed on the role by the caller's identity policy, and the caller named by the role's trust policy): {reason}")]
    AssumeRole {
        /// The role ARN.
        role: String,
        /// What STS or the credential chain said.
        reason: String,
    },
}

/// Loads the configuration: the standard credential chain, the CLI's options, retries with
/// backoff, timeouts, and, with `role_arn`, credentials of the assumed role (refreshed before
/// they expire). The role is assumed once here so that a refused AssumeRole is reported at
/// once rather than on the first S3 request.
pub async fn load(options: &AwsOptions) -> Result<SdkConfig, AwsError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    if base.region().is_none() {
        return Err(AwsError::NoRegion);
    }
    let Some(role) = &options.role_arn else {
        return Ok(base);
    };
    let mut builder = AssumeRoleProvider::builder(role.clone())
        .session_name(
            options
                .role_session_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_string()),
        )
        .configure(&base);
    if let Some(external_id) = &options.external_id {
        builder = builder.external_id(external_id.clone());
    }
    let provider = builder.build().await;
    provider
        .provide_credentials()
        .await
        .map_err(|e| AwsError::AssumeRole {
            role: role.clone(),
            reason: describe_credentials_error(&e),
        })?;
    Ok(base
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// The innermost message of a credentials error, where STS says what went wrong.
fn describe_credentials_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        messages.push(inner.to_string());
        source = inner.source();
    }
    messages.dedup();
    messages.join(": ")
}
