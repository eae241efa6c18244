//! Reading Custom Model Import state from Bedrock: one job (GetModelImportJob), the account's
//! jobs (ListModelImportJobs) and imported models (ListImportedModels), every page of them.
//!
//! The shapes here are the tool's, serialisable for `--format json` (documented in
//! docs/json-output.md): the API's fields in snake_case, times in RFC 3339.

use aws_config::SdkConfig;
use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, SortOrder};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::{self, AwsError, AwsOptions};
use crate::import::{service_error, ImportError};

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

/// A model import job as GetModelImportJob describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Job {
    /// `jobArn`.
    pub job_arn: String,
    /// `jobName`.
    pub job_name: String,
    /// `InProgress`, `Completed` or `Failed`.
    pub status: String,
    /// `importedModelName`.
    pub imported_model_name: Option<String>,
    /// `importedModelArn`, once Completed.
    pub imported_model_arn: Option<String>,
    /// `importedModelKmsKeyArn`, when a hosting key was given.
    pub imported_model_kms_key_arn: Option<String>,
    /// `roleArn`.
    pub role_arn: Option<String>,
    /// `modelDataSource.s3DataSource.s3Uri`.
    pub s3_uri: Option<String>,
    /// `failureMessage`, once Failed.
    pub failure_message: Option<String>,
    /// `creationTime`.
    pub creation_time: Option<String>,
    /// `lastModifiedTime`.
    pub last_modified_time: Option<String>,
    /// `endTime`, once ended.
    pub end_time: Option<String>,
}

impl Job {
    /// Whether the job has ended (Completed or Failed).
    pub fn has_ended(&self) -> bool {
        self.status == ModelImportJobStatus::Completed.as_str()
            || self.status == ModelImportJobStatus::Failed.as_str()
    }

    /// Whether the job ended Completed.
    pub fn is_completed(&self) -> bool {
        self.status == ModelImportJobStatus::Completed.as_str()
    }
}

/// RFC 3339 text of a service timestamp.
fn time(value: Option<&DateTime>) -> Option<String> {
    value.and_then(|t| t.fmt(Format::DateTime).ok())
}

/// Describes one job, by name or ARN.
pub async fn describe(client: &aws_sdk_bedrock::Client, job: &str) -> Result<Job, ImportError> {
    let output = client
        .get_model_import_job()
        .job_identifier(job)
        .send()
        .await
        .map_err(|e| service_error("GetModelImportJob", &e))?;
    let s3_uri = match output.model_data_source() {
        Some(ModelDataSource::S3DataSource(s3)) => Some(s3.s3_uri().to_string()),
        _ => None,
    };
    Ok(Job {
        job_arn: output.job_arn().unwrap_or_default().to_string(),
        job_name: output.job_name().unwrap_or_default().to_string(),
        status: output
            .status()
            .map_or("Unknown", ModelImportJobStatus::as_str)
            .to_string(),
        imported_model_name: output.imported_model_name().map(str::to_string),
        imported_model_arn: output.imported_model_arn().map(str::to_string),
        imported_model_kms_key_arn: output.imported_model_kms_key_arn().map(str::to_string),
        role_arn: output.role_arn().map(str::to_string),
        s3_uri,
        failure_message: output.failure_message().map(str::to_string),
        creation_time: time(output.creation_time()),
        last_modified_time: time(output.last_modified_time()),
        end_time: time(output.end_time()),
    })
}

/// One line of ListModelImportJobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSummary {
    /// `jobArn`.
    pub job_arn: String,
    /// `jobName`.
    pub job_name: String,
    /// `InProgress`, `Completed` or `Failed`.
    pub status: String,
    /// `importedModelName`.
    pub imported_model_name: Option<String>,
    /// `importedModelArn`, once Completed.
    pub imported_model_arn: Option<String>,
    /// `creationTime`.
    pub creation_time: Option<String>,
    /// `endTime`, once ended.
    pub end_time: Option<String>,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this status (`InProgress`, `Completed`, `Failed`).
    pub status: Option<String>,
    /// Only jobs whose name contains this text.
    pub name_contains: Option<String>,
    /// Items per request; `None` for the service's default.
    pub page_size: Option<i32>,
}

/// Every job that matches, newest first, following `nextToken` to the last page.
pub async fn list_jobs(
    client: &aws_sdk_bedrock::Client,
    filter: &JobFilter,
) -> Result<Vec<JobSummary>, ImportError> {
    let mut request = client
        .list_model_import_jobs()
        .set_status_equals(filter.status.as_deref().map(ModelImportJobStatus::from))
        .set_name_contains(filter.name_contains.clone())
        .sort_order(SortOrder::Descending)
        .into_paginator();
    if let Some(size) = filter.page_size {
        request = request.page_size(size);
    }
    let mut items = request.items().send();
    let mut jobs = Vec::new();
    while let Some(item) = items.next().await {
        let job = item.map_err(|e| service_error("ListModelImportJobs", &e))?;
        jobs.push(JobSummary {
            job_arn: job.job_arn().to_string(),
            job_name: job.job_name().to_string(),
            status: job.status().as_str().to_string(),
            imported_model_name: job.imported_model_name().map(str::to_string),
            imported_model_arn: job.imported_model_arn().map(str::to_string),
            creation_time: time(Some(job.creation_time())),
            end_time: time(job.end_time()),
        });
    }
    Ok(jobs)
}

/// One line of ListImportedModels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSummary {
    /// `modelArn`.
    pub model_arn: String,
    /// `modelName`.
    pub model_name: String,
    /// `modelArchitecture`, as Bedrock recognised it.
    pub model_architecture: Option<String>,
    /// `instructSupported`.
    pub instruct_supported: Option<bool>,
    /// `creationTime`.
    pub creation_time: Option<String>,
}

/// Every imported model (whose name contains `name_contains`, when given), newest first,
/// following `nextToken` to the last page.
pub async fn list_models(
    client: &aws_sdk_bedrock::Client,
    name_contains: Option<&str>,
    page_size: Option<i32>,
) -> Result<Vec<ModelSummary>, ImportError> {
    let mut request = client
        .list_imported_models()
        .set_name_contains(name_contains.map(str::to_string))
        .sort_order(SortOrder::Descending)
        .into_paginator();
    if let Some(size) = page_size {
        request = request.page_size(size);
    }
    let mut items = request.items().send();
    let mut models = Vec::new();
    while let Some(item) = items.next().await {
        let model = item.map_err(|e| service_error("ListImportedModels", &e))?;
        models.push(ModelSummary {
            model_arn: model.model_arn().to_string(),
            model_name: model.model_name().to_string(),
            model_architecture: model.model_architecture().map(str::to_string),
            instruct_supported: model.instruct_supported(),
            creation_time: time(Some(model.creation_time())),
        });
    }
    Ok(models)
}
