//! The import flow, once: preflight (or a fingerprint the caller vouches for), refusal on a
//! failed check, the token, the submission, the description and the following of the job,
//! each step told to the caller's [`Progress`] (the CLI renders it, the daemon records it).

use std::future::Future;

use cmi_format::Report;
use serde::{Deserialize, Serialize};

use super::preflight::{preflight, Preflight, PreflightOptions};
use super::{submit, ImportError, ValidRequest};
use crate::backoff::Backoff;
use cmi_format::document::{CheckDocument, Tool};

use crate::bedrock::ServiceError;
use crate::jobs::{self, Following, Job};
use crate::manifest::Manifest;
use crate::signing::SignatureRecord;

/// What identifies the artifact, for the token.
#[derive(Debug, Clone)]
pub enum Artifact<'a> {
    /// Read it first: check it (unless the options skip the check), compare it with its
    /// manifest, fingerprint it; a failed check refuses the import.
    Preflight {
        /// The artifact's manifest, if any: its digest is the fingerprint.
        manifest: Option<&'a Manifest>,
        /// How it is read and checked.
        options: &'a PreflightOptions,
        /// Warnings fail the check too.
        strict: bool,
    },
    /// Checked by the caller already, identified by this fingerprint (`manifest:<digest>`).
    Checked(String),
    /// A submission to repeat with the token an earlier run stored.
    Resubmit(String),
}

/// How far [`run`] goes after the submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// The job's ARN only (the daemon follows the job on its next passes).
    Submit,
    /// One GetModelImportJob after the submission.
    Describe,
    /// GetModelImportJob until the job ends or the cancellation resolves, polling with this
    /// backoff (and jitter).
    Wait(Backoff),
}

/// One import to run.
#[derive(Debug, Clone)]
pub struct ImportRun<'a> {
    /// The request.
    pub request: &'a ValidRequest,
    /// What identifies the artifact.
    pub artifact: Artifact<'a>,
    /// How far to go.
    pub follow: Follow,
}

/// The steps of [`run`] as they happen; every method does nothing unless the caller needs it.
pub trait Progress {
    /// The check's report, before the import is refused or goes on.
    fn checked(&mut self, _report: &Report) -> Result<(), ImportError> {
        Ok(())
    }

    /// The token about to be sent: a caller that must survive a crash stores it now.
    fn submitting(&mut self, _token: &str) -> Result<(), ImportError> {
        Ok(())
    }

    /// The job's ARN, as CreateModelImportJob returned it, and the job as described right
    /// after ([`Follow::Describe`] and [`Follow::Wait`]).
    fn submitted(&mut self, _job_arn: &str, _job: &Job) -> Result<(), ImportError> {
        Ok(())
    }

    /// Each description seen while following the job.
    fn polled(&mut self, _job: &Job) {}
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    /// The preflight's report and fingerprint (no report when the caller checked, no
    /// fingerprint on a resubmission).
    pub preflight: Preflight,
    /// The submission; `None` when the check refused the import.
    pub submission: Option<Submission>,
}

/// A submitted job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The idempotency token sent.
    pub token: String,
    /// The job's ARN.
    pub job_arn: String,
    /// The job as last described; `None` with [`Follow::Submit`].
    pub job: Option<Job>,
    /// How far it was followed.
    pub following: Following,
}

/// Runs one import: preflight, refusal on a failed check, token, submission, and as far as
/// [`ImportRun::follow`] says, the job's description and its following until it ends or
/// `cancel` resolves.
pub async fn run(
    client: &aws_sdk_bedrock::Client,
    import: ImportRun<'_>,
    progress: &mut impl Progress,
    cancel: impl Future<Output = ()>,
) -> Result<ImportOutcome, ImportError> {
    let (preflight, stored_token) = match import.artifact {
        Artifact::Preflight {
            manifest,
            options,
            strict,
        } => {
            let preflight = preflight(&import.request.s3_uri, manifest, options).await?;
            if let Some(report) = &preflight.report {
                progress.checked(report)?;
                if !report.passed(strict) {
                    return Ok(ImportOutcome {
                        preflight,
                        submission: None,
                    });
                }
            }
            (preflight, None)
        }
        Artifact::Checked(fingerprint) => (
            Preflight {
                report: None,
                fingerprint: Some(fingerprint),
            },
            None,
        ),
        Artifact::Resubmit(token) => (
            Preflight {
                report: None,
                fingerprint: None,
            },
            Some(token),
        ),
    };
    let token = match (stored_token, &preflight.fingerprint) {
        (Some(token), _) => token,
        (None, Some(fingerprint)) => import.request.client_request_token(fingerprint),
        (None, None) => return Err(ImportError::NoFingerprint),
    };
    progress.submitting(&token)?;
    let job_arn = submit(client, import.request, &token).await?;
    let (job, following) = match import.follow {
        Follow::Submit => (None, Following::NotAsked),
        Follow::Describe => {
            let job = jobs::describe(client, &job_arn).await?;
            progress.submitted(&job_arn, &job)?;
            (Some(job), Following::NotAsked)
        }
        Follow::Wait(poll) => {
            let job = jobs::describe(client, &job_arn).await?;
            progress.submitted(&job_arn, &job)?;
            let (job, following) =
                follow(client, job, poll, cancel, |j| progress.polled(j)).await?;
            (Some(job), following)
        }
    };
    Ok(ImportOutcome {
        preflight,
        submission: Some(Submission {
            token,
            job_arn,
            job,
            following,
        }),
    })
}

/// Follows `job` until it ends (GetModelImportJob, then waits of `poll` with jitter), telling
/// `on_poll` each description seen, or until `cancel` resolves; returns the last description
/// and how far it was followed. A job that has ended already is returned as it is.
pub async fn follow(
    client: &aws_sdk_bedrock::Client,
    job: Job,
    poll: Backoff,
    cancel: impl Future<Output = ()>,
    mut on_poll: impl FnMut(&Job),
) -> Result<(Job, Following), ServiceError> {
    if job.has_ended() {
        return Ok((job, Following::Ended));
    }
    let mut last = job;
    let polling = async {
        let mut attempts = 0u32;
        loop {
            let described = jobs::describe(client, &last.job_arn).await?;
            on_poll(&described);
            last = described;
            if last.has_ended() {
                return Ok::<_, ServiceError>(());
            }
            attempts = attempts.saturating_add(1);
            tokio::time::sleep(poll.delay_with_jitter(attempts)).await;
        }
    };
    let following = tokio::select! {
        ended = polling => {
            ended?;
            Following::Ended
        }
        () = cancel => Following::Interrupted,
    };
    Ok((last, following))
}

/// The document of `import --format json` (docs/json-output.md), fields in the alphabetical
/// order of the tool's documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportDocument {
    /// The check's document (`cmi-preflight.check.v1`); `None` when the check was skipped.
    pub check: Option<CheckDocument>,
    /// The idempotency token sent; `None` when nothing was.
    pub client_request_token: Option<String>,
    /// The artifact's fingerprint.
    pub fingerprint: Option<String>,
    /// How far the job was followed.
    pub following: Following,
    /// The job, once submitted and described.
    pub job: Option<Job>,
    /// [`ImportDocument::SCHEMA`].
    pub schema: String,
    /// With `--require-signature`: the signature gate's outcome; absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureRecord>,
    /// The source as given.
    pub source: String,
    /// Whether the job was submitted.
    pub submitted: bool,
    /// The tool that wrote it.
    pub tool: Tool,
}

impl ImportDocument {
    /// Identifier of the schema.
    pub const SCHEMA: &'static str = "cmi-preflight.import.v1";

    /// The document of `outcome`, for `source` as given, with the check's document.
    pub fn new(
        source: &str,
        check: Option<CheckDocument>,
        outcome: &ImportOutcome,
    ) -> ImportDocument {
        let submission = outcome.submission.as_ref();
        let job = submission.and_then(|s| s.job.clone());
        ImportDocument {
            check,
            client_request_token: submission.map(|s| s.token.clone()),
            fingerprint: outcome.preflight.fingerprint.clone(),
            following: submission.map_or(Following::NotAsked, |s| s.following),
            submitted: job.is_some(),
            job,
            schema: Self::SCHEMA.to_string(),
            signature: None,
            source: source.to_string(),
            tool: Tool::current(),
        }
    }

    /// The document of an import that `--require-signature` refused: nothing checked or
    /// submitted, and the signature's outcome with the findings that failed it.
    pub fn refused_by_signature(source: &str, signature: SignatureRecord) -> ImportDocument {
        ImportDocument {
            check: None,
            client_request_token: None,
            fingerprint: None,
            following: Following::NotAsked,
            job: None,
            schema: Self::SCHEMA.to_string(),
            signature: Some(signature),
            source: source.to_string(),
            submitted: false,
            tool: Tool::current(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::tests::{example_job, round_trip};

    #[test]
    fn import_document() {
        let outcome = ImportOutcome {
            preflight: Preflight {
                report: None,
                fingerprint: Some("manifest:sha256:ab".into()),
            },
            submission: Some(Submission {
                token: "0123".into(),
                job_arn: example_job().job_arn,
                job: Some(example_job()),
                following: Following::Interrupted,
            }),
        };
        let check = CheckDocument::new("s3://models/llama/", false, &Report::default());
        let document = ImportDocument::new("s3://models/llama/", Some(check), &outcome);
        assert_eq!(document.schema, "cmi-preflight.import.v1");
        assert!(document.submitted);
        let text = round_trip(&document);
        assert!(text.contains(r#""following": "interrupted""#), "{text}");
        let refused = ImportDocument::new(
            "s3://models/llama/",
            None,
            &ImportOutcome {
                submission: None,
                ..outcome
            },
        );
        assert!(!refused.submitted);
        assert_eq!(refused.following, Following::NotAsked);
        round_trip(&refused);
        let finding = cmi_format::Finding::new(
            cmi_format::RuleId::SignatureWrongKey,
            "s3://sigs/llama.sig",
            "was made with another key",
        );
        let gated = ImportDocument::refused_by_signature(
            "s3://models/llama/",
            SignatureRecord::verified(
                "s3://sigs/llama.sig",
                &crate::signing::Trust::default(),
                &[],
                None,
                false,
                &[finding],
            ),
        );
        assert!(!gated.submitted && gated.check.is_none());
        let text = round_trip(&gated);
        assert!(text.contains(r#""code": "SG002""#), "{text}");
    }
}
