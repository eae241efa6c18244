//! Reading Custom Model Import state from Bedrock: one job (GetModelImportJob), the account's
//! jobs (ListModelImportJobs) and imported models (ListImportedModels), every page of them.
//!
//! The shapes here are the tool's, serialisable for `--format json` (documented in
//! docs/json-output.md): the API's fields in snake_case, times in RFC 3339. Their fields are
//! declared in alphabetical order, the order of the keys in every document of the tool.

use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, SortOrder};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use cmi_format::document::Tool;

use crate::bedrock::ServiceError;

/// A model import job as GetModelImportJob describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// `creationTime`.
    pub creation_time: Option<String>,
    /// `endTime`, once ended.
    pub end_time: Option<String>,
    /// `failureMessage`, once Failed.
    pub failure_message: Option<String>,
    /// `importedModelArn`, once Completed.
    pub imported_model_arn: Option<String>,
    /// `importedModelKmsKeyArn`, when a hosting key was given.
    pub imported_model_kms_key_arn: Option<String>,
    /// `importedModelName`.
    pub imported_model_name: Option<String>,
    /// `jobArn`.
    pub job_arn: String,
    /// `jobName`.
    pub job_name: String,
    /// `lastModifiedTime`.
    pub last_modified_time: Option<String>,
    /// `roleArn`.
    pub role_arn: Option<String>,
    /// `modelDataSource.s3DataSource.s3Uri`.
    pub s3_uri: Option<String>,
    /// `InProgress`, `Completed` or `Failed`.
    pub status: String,
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
pub async fn describe(client: &aws_sdk_bedrock::Client, job: &str) -> Result<Job, ServiceError> {
    let output = client
        .get_model_import_job()
        .job_identifier(job)
        .send()
        .await
        .map_err(|e| ServiceError::of("GetModelImportJob", &e))?;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// `creationTime`.
    pub creation_time: Option<String>,
    /// `endTime`, once ended.
    pub end_time: Option<String>,
    /// `importedModelArn`, once Completed.
    pub imported_model_arn: Option<String>,
    /// `importedModelName`.
    pub imported_model_name: Option<String>,
    /// `jobArn`.
    pub job_arn: String,
    /// `jobName`.
    pub job_name: String,
    /// `InProgress`, `Completed` or `Failed`.
    pub status: String,
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
) -> Result<Vec<JobSummary>, ServiceError> {
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
        let job = item.map_err(|e| ServiceError::of("ListModelImportJobs", &e))?;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// `creationTime`.
    pub creation_time: Option<String>,
    /// `instructSupported`.
    pub instruct_supported: Option<bool>,
    /// `modelArchitecture`, as Bedrock recognised it.
    pub model_architecture: Option<String>,
    /// `modelArn`.
    pub model_arn: String,
    /// `modelName`.
    pub model_name: String,
}

/// Every imported model (whose name contains `name_contains`, when given), newest first,
/// following `nextToken` to the last page.
pub async fn list_models(
    client: &aws_sdk_bedrock::Client,
    name_contains: Option<&str>,
    page_size: Option<i32>,
) -> Result<Vec<ModelSummary>, ServiceError> {
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
        let model = item.map_err(|e| ServiceError::of("ListImportedModels", &e))?;
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

/// How far a job was followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Following {
    /// Not asked to (no --wait).
    NotAsked,
    /// Followed to Completed or Failed.
    Ended,
    /// Stopped (Ctrl-C, a shutdown) while the job went on.
    Interrupted,
}

/// The document of `status`: one job and how far it was followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDocument {
    /// How far the job was followed.
    pub following: Following,
    /// The job.
    pub job: Job,
    /// [`JobDocument::SCHEMA`].
    pub schema: String,
    /// The tool that wrote it.
    pub tool: Tool,
}

impl JobDocument {
    /// Identifier of the schema.
    pub const SCHEMA: &'static str = "cmi-preflight.job.v1";

    /// The document of `job`, followed as far as `following`.
    pub fn new(job: Job, following: Following) -> JobDocument {
        JobDocument {
            following,
            job,
            schema: Self::SCHEMA.to_string(),
            tool: Tool::current(),
        }
    }
}

/// The document of `jobs`: the jobs listed, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsDocument {
    /// The jobs.
    pub jobs: Vec<JobSummary>,
    /// [`JobsDocument::SCHEMA`].
    pub schema: String,
    /// The tool that wrote it.
    pub tool: Tool,
}

impl JobsDocument {
    /// Identifier of the schema.
    pub const SCHEMA: &'static str = "cmi-preflight.jobs.v1";

    /// The document of `jobs`.
    pub fn new(jobs: Vec<JobSummary>) -> JobsDocument {
        JobsDocument {
            jobs,
            schema: Self::SCHEMA.to_string(),
            tool: Tool::current(),
        }
    }
}

/// The document of `models`: the imported models listed, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsDocument {
    /// The models.
    pub models: Vec<ModelSummary>,
    /// [`ModelsDocument::SCHEMA`].
    pub schema: String,
    /// The tool that wrote it.
    pub tool: Tool,
}

impl ModelsDocument {
    /// Identifier of the schema.
    pub const SCHEMA: &'static str = "cmi-preflight.models.v1";

    /// The document of `models`.
    pub fn new(models: Vec<ModelSummary>) -> ModelsDocument {
        ModelsDocument {
            models,
            schema: Self::SCHEMA.to_string(),
            tool: Tool::current(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A job with every field set, for the document tests.
    pub(crate) fn example_job() -> Job {
        Job {
            creation_time: Some("2026-11-28T10:00:00Z".into()),
            end_time: Some("2026-11-28T10:20:00Z".into()),
            failure_message: None,
            imported_model_arn: Some(
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc".into(),
            ),
            imported_model_kms_key_arn: None,
            imported_model_name: Some("llama_ft".into()),
            job_arn: "arn:aws:bedrock:us-east-1:123456789012:model-import-job/xyz".into(),
            job_name: "llama-import-1".into(),
            last_modified_time: Some("2026-11-28T10:20:00Z".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/cmi-import".into()),
            s3_uri: Some("s3://models/llama/".into()),
            status: "Completed".into(),
        }
    }

    /// Serializes `document` as the tool writes it, checks that its keys are in the order a
    /// `serde_json::Value` (a sorted map) gives them, and that it reads back equal.
    pub(crate) fn round_trip<T>(document: &T) -> String
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let value = serde_json::to_value(document).expect("value");
        let text = serde_json::to_string_pretty(&value).expect("serialize");
        let back: T = serde_json::from_str(&text).expect("deserialize");
        let again = serde_json::to_value(&back).expect("value");
        assert_eq!(
            text,
            serde_json::to_string_pretty(&again).expect("serialize")
        );
        assert_eq!(&back, document);
        text
    }

    #[test]
    fn job_document() {
        let document = JobDocument::new(example_job(), Following::Ended);
        assert_eq!(document.schema, "cmi-preflight.job.v1");
        let text = round_trip(&document);
        assert!(text.contains(r#""following": "ended""#), "{text}");
        assert!(text.contains(r#""name": "cmi-preflight""#), "{text}");
    }

    #[test]
    fn jobs_document() {
        let job = example_job();
        let document = JobsDocument::new(vec![JobSummary {
            creation_time: job.creation_time,
            end_time: job.end_time,
            imported_model_arn: job.imported_model_arn,
            imported_model_name: job.imported_model_name,
            job_arn: job.job_arn,
            job_name: job.job_name,
            status: job.status,
        }]);
        assert_eq!(document.schema, "cmi-preflight.jobs.v1");
        round_trip(&document);
    }

    #[test]
    fn models_document() {
        let document = ModelsDocument::new(vec![ModelSummary {
            creation_time: Some("2026-11-28T10:20:00Z".into()),
            instruct_supported: Some(true),
            model_architecture: Some("llama".into()),
            model_arn: "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc".into(),
            model_name: "llama_ft".into(),
        }]);
        assert_eq!(document.schema, "cmi-preflight.models.v1");
        round_trip(&document);
    }
}
