//! The import of a passed version through [`crate::import::run`], and the following of its job
//! with one GetModelImportJob per pass.

use std::time::SystemTime;

use super::events::WatchEvent;
use super::slot::{is_slot_busy, Submission};
use super::{fault, state_fault, Daemon, Fault};
use crate::bedrock::ServiceError;
use crate::import::{
    self, Artifact, Follow, ImportError, ImportOutcome, ImportRequest, ImportRun, Progress,
};
use crate::jobs;
use crate::manifest::Manifest;
use crate::watch::health::ErrorKind;
use crate::watch::state::{ArtifactState, JobEnd, Status};

/// The UTC date (`YYYYMMDD`) of the newest `last_modified` of a manifest's files.
fn newest_date(manifest: &Manifest) -> String {
    manifest
        .files
        .iter()
        .filter_map(|f| f.last_modified.as_deref())
        .max()
        .map(|t| t.chars().take(10).filter(|c| *c != '-').collect())
        .unwrap_or_else(|| "00000000".to_string())
}

/// Service errors of CreateModelImportJob that no retry will change.
const PERMANENT_IMPORT_ERRORS: [&str; 3] = [
    "ValidationException",
    "ConflictException",
    "TooManyTagsException",
];

impl Daemon {
    /// Submits the import of a passed artifact (or repeats a submission with its token),
    /// through the one import flow: the request validated, the token stored before
    /// CreateModelImportJob is called, the job's ARN recorded. A refusal because the import
    /// slot is busy puts the artifact back in the FIFO, in its place.
    pub(super) async fn submit(&self, artifact: &ArtifactState) -> Result<Submission, Fault> {
        let (Some(template), Some(client)) = (&self.options.import, &self.bedrock) else {
            return Ok(Submission::Done);
        };
        let manifest = self.manifest_of(artifact)?;
        let date = newest_date(&manifest);
        let digest = &manifest.artifact_digest;
        let request = ImportRequest {
            s3_uri: format!("s3://{}/{}", self.options.uri.bucket, artifact.prefix),
            job_name: template.job_name.render(&artifact.name, digest, &date),
            model_name: template.model_name.render(&artifact.name, digest, &date),
            role_arn: template.role_arn.clone(),
            kms_key_id: template.kms_key_id.clone(),
            job_tags: template.job_tags.clone(),
            model_tags: template.model_tags.clone(),
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
        };
        let request = match request.validate() {
            Ok(request) => request,
            Err(ImportError::Invalid(problems)) => {
                return self
                    .end_import(artifact, JobEnd::Failed(problems.join("; ")))
                    .map(|()| Submission::Done);
            }
            Err(e) => return Err(fault(ErrorKind::Import, e.to_string())),
        };
        let identity = match &artifact.client_token {
            Some(token) if artifact.status == Status::Submitting => {
                Artifact::Resubmit(token.clone())
            }
            _ => Artifact::Checked(format!("manifest:{digest}")),
        };
        let run = ImportRun {
            request: &request,
            artifact: identity,
            follow: Follow::Submit,
        };
        let mut record = RecordToken {
            daemon: self,
            artifact,
        };
        match import::run(client, run, &mut record, std::future::pending()).await {
            Ok(ImportOutcome {
                submission: Some(submission),
                ..
            }) => {
                self.store()
                    .record_job(&artifact.name, &submission.job_arn, SystemTime::now())
                    .map_err(state_fault)?;
                WatchEvent::Submitted {
                    artifact: artifact.name.clone(),
                    job_name: request.job_name.clone(),
                    job_arn: submission.job_arn,
                    token: submission.token,
                }
                .emit();
                Ok(Submission::Done)
            }
            // Only a failed preflight check refuses, and the daemon's own check passed.
            Ok(ImportOutcome {
                submission: None, ..
            }) => Ok(Submission::Done),
            Err(ImportError::Service(error)) if is_slot_busy(&error) => {
                self.store()
                    .requeue(&artifact.name, SystemTime::now())
                    .map_err(state_fault)?;
                Ok(Submission::SlotBusy)
            }
            Err(ImportError::Service(ServiceError {
                code,
                message,
                explanation,
                ..
            })) if PERMANENT_IMPORT_ERRORS.contains(&code.as_str()) => self
                .end_import(
                    artifact,
                    JobEnd::Failed(format!("{code}: {message} {explanation}")),
                )
                .map(|()| Submission::Done),
            Err(ImportError::Progress(e)) => Err(fault(ErrorKind::State, e.to_string())),
            Err(e) => Err(fault(ErrorKind::Import, e.to_string())),
        }
    }

    /// Follows a job in flight with one GetModelImportJob.
    pub(super) async fn follow(&self, artifact: &ArtifactState) -> Result<(), Fault> {
        let (Some(client), Some(arn)) = (&self.bedrock, &artifact.job_arn) else {
            return Ok(());
        };
        let job = jobs::describe(client, arn)
            .await
            .map_err(|e| fault(ErrorKind::Import, e.to_string()))?;
        if !job.has_ended() {
            return Ok(());
        }
        if job.is_completed() {
            self.end_import(artifact, JobEnd::Completed)?;
            WatchEvent::JobCompleted {
                artifact: artifact.name.clone(),
                job_arn: arn.clone(),
                model_arn: job.imported_model_arn.unwrap_or_default(),
            }
            .emit();
        } else {
            let message = job.failure_message.unwrap_or_default();
            self.end_import(artifact, JobEnd::Failed(message))?;
        }
        Ok(())
    }

    fn end_import(&self, artifact: &ArtifactState, end: JobEnd) -> Result<(), Fault> {
        let failed = match &end {
            JobEnd::Failed(message) => Some(message.clone()),
            JobEnd::Completed => None,
        };
        self.store()
            .finish_import(&artifact.name, end, SystemTime::now())
            .map_err(|e| fault(ErrorKind::State, e.to_string()))?;
        let mut summary = self.lock_summary();
        match failed {
            Some(message) => {
                summary.import_failed += 1;
                let hint = if import::is_s3_access_failure(&message) {
                    "run `cmi-preflight doctor` on the prefix with the execution role"
                } else {
                    ""
                };
                WatchEvent::ImportFailed {
                    artifact: artifact.name.clone(),
                    job_arn: artifact.job_arn.clone().unwrap_or_default(),
                    error: message,
                    hint: hint.to_string(),
                }
                .emit();
            }
            None => summary.imported += 1,
        }
        Ok(())
    }
}

/// The daemon's part in the import flow: the token is stored (Passed -> Submitting) before
/// CreateModelImportJob is called, so that a crash is followed by the same submission.
struct RecordToken<'a> {
    daemon: &'a Daemon,
    artifact: &'a ArtifactState,
}

impl Progress for RecordToken<'_> {
    fn submitting(&mut self, token: &str) -> Result<(), ImportError> {
        if self.artifact.status != Status::Passed {
            return Ok(());
        }
        self.daemon
            .store()
            .start_submit(&self.artifact.name, token, SystemTime::now())
            .map(|_| ())
            .map_err(|e| ImportError::Progress(Box::new(e)))
    }
}
