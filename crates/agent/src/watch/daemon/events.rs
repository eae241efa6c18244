//! The daemon's events: one per transition, through `tracing` with target [`EVENTS`], whose
//! fields the binary's JSON log format prints as one object per line (docs/watch.md, Events).
//!
//! [`WatchEvent`] is every event the daemon logs, with its fields in the order they are
//! logged; [`WatchEventLine`] reads a line of the JSON log back.

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// The tracing target of the daemon's events: one per transition, with an `event` field.
pub const EVENTS: &str = "cmi_preflight::watch";

/// One event of the daemon, as its JSON log line carries it (the `event` field names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// A scan of the watched prefix.
    Scanned {
        /// Artifacts found.
        artifacts: u64,
        /// Objects that belong to no artifact.
        ignored: u64,
    },
    /// S3 event messages received (SQS mode).
    Received {
        /// Messages received.
        messages: u64,
        /// Artifacts they named, with those still settling.
        artifacts: u64,
    },
    /// A message that is not an S3 event, deleted.
    MessageDropped {
        /// Its SQS message ID.
        message_id: String,
        /// Why it was dropped.
        error: String,
    },
    /// Messages deleted from the queue (SQS mode): every artifact they named reached a
    /// durable outcome.
    MessagesDeleted {
        /// Messages deleted.
        messages: u64,
        /// Messages still held in flight.
        held: u64,
    },
    /// An artifact seen for the first time.
    Seen {
        /// The artifact.
        artifact: String,
        /// Its prefix.
        prefix: String,
        /// Objects listed.
        objects: u64,
    },
    /// An artifact's listing changed.
    Changed {
        /// The artifact.
        artifact: String,
        /// Whether a version of it had been processed (a scan saw the change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_processing: Option<bool>,
        /// `check` when the check's own listing saw the change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        during: Option<String>,
    },
    /// An artifact became ready.
    Ready {
        /// The artifact.
        artifact: String,
        /// The fingerprint of the ready version.
        fingerprint: String,
    },
    /// A version passed its check.
    Passed {
        /// The artifact.
        artifact: String,
        /// Warnings found.
        warnings: u64,
        /// Whether an earlier version was processed.
        changed: bool,
        /// Its manifest's artifact digest.
        manifest_digest: String,
        /// Path of its report.
        report: String,
    },
    /// A version failed its check.
    Failed {
        /// The artifact.
        artifact: String,
        /// Errors found.
        errors: u64,
        /// Warnings found.
        warnings: u64,
        /// Whether an earlier version was processed.
        changed: bool,
        /// The codes of the findings, comma-separated.
        codes: String,
        /// Path of its report.
        report: String,
    },
    /// An import job submitted (or found again with its token).
    Submitted {
        /// The artifact.
        artifact: String,
        /// The job's name.
        job_name: String,
        /// The job's ARN.
        job_arn: String,
        /// The idempotency token sent.
        token: String,
    },
    /// An import job completed.
    JobCompleted {
        /// The artifact.
        artifact: String,
        /// The job's ARN.
        job_arn: String,
        /// The imported model's ARN.
        model_arn: String,
    },
    /// An import failed: refused for good, or the job Failed.
    ImportFailed {
        /// The artifact.
        artifact: String,
        /// The job's ARN, empty when none was created.
        job_arn: String,
        /// Why.
        error: String,
        /// What to do, or empty.
        hint: String,
    },
    /// The import slot is busy while passed artifacts wait (logged when it turns busy, and at
    /// each refusal): not a fault.
    SlotBusy {
        /// Passed artifacts waiting for the slot.
        queued: u64,
        /// Jobs in flight, the daemon's and those it did not start.
        in_flight: u64,
        /// Jobs in progress the daemon did not start, as last known.
        outside: u64,
        /// Whether CreateModelImportJob was refused for the quota on concurrent import jobs.
        refused: bool,
    },
    /// Every object of an artifact was deleted.
    Deleted {
        /// The artifact.
        artifact: String,
        /// Its status: `deleted`, or its import in flight, followed to its end first.
        status: String,
    },
    /// A step met a fault; it is retried.
    Fault {
        /// The artifact.
        artifact: String,
        /// The step (`list`, `check`, `manifest`, `report`, `import`, `state`, ...).
        stage: String,
        /// The fault.
        error: String,
        /// Faults in a row.
        attempts: u64,
        /// Seconds until the next attempt.
        retry_in_seconds: u64,
    },
    /// An artifact's retry is due.
    Retrying {
        /// The artifact.
        artifact: String,
        /// The status it resumes.
        status: String,
        /// Faults in a row.
        attempts: u64,
    },
    /// An artifact found at startup in a step cut short.
    Resumed {
        /// The artifact.
        artifact: String,
        /// Its status.
        status: String,
    },
    /// An artifact whose step was cut short by the stop.
    Checkpointed {
        /// The artifact.
        artifact: String,
        /// Its status.
        status: String,
    },
    /// A scan (or SQS receive) failed.
    ScanFailed {
        /// Why.
        error: String,
    },
    /// The state database failed during a pass.
    StateFailed {
        /// Why.
        error: String,
    },
    /// The health endpoint serves.
    HealthServing {
        /// Its address.
        addr: String,
    },
    /// The daemon stopped.
    Stopped {
        /// On a signal.
        interrupted: bool,
        /// Passes completed.
        passes: u64,
    },
}

impl WatchEvent {
    /// Logs the event: `warn` for the faults and failures to act on, else `info`.
    pub fn emit(&self) {
        match self {
            WatchEvent::Scanned { artifacts, ignored } => {
                info!(target: EVENTS, event = "scanned", artifacts, ignored);
            }
            WatchEvent::Received {
                messages,
                artifacts,
            } => info!(target: EVENTS, event = "received", messages, artifacts),
            WatchEvent::MessageDropped { message_id, error } => {
                warn!(target: EVENTS, event = "message_dropped", message_id = %message_id, error = %error);
            }
            WatchEvent::MessagesDeleted { messages, held } => {
                info!(target: EVENTS, event = "messages_deleted", messages, held);
            }
            WatchEvent::Seen {
                artifact,
                prefix,
                objects,
            } => {
                info!(target: EVENTS, event = "seen", artifact = %artifact, prefix = %prefix, objects);
            }
            WatchEvent::Changed {
                artifact,
                after_processing,
                during,
            } => match (after_processing, during) {
                (Some(after_processing), _) => {
                    info!(target: EVENTS, event = "changed", artifact = %artifact, after_processing);
                }
                (None, during) => {
                    let during = during.as_deref().unwrap_or("");
                    info!(target: EVENTS, event = "changed", artifact = %artifact, during);
                }
            },
            WatchEvent::Ready {
                artifact,
                fingerprint,
            } => {
                info!(target: EVENTS, event = "ready", artifact = %artifact, fingerprint = %fingerprint);
            }
            WatchEvent::Passed {
                artifact,
                warnings,
                changed,
                manifest_digest,
                report,
            } => {
                info!(target: EVENTS, event = "passed", artifact = %artifact, warnings, changed, manifest_digest = %manifest_digest, report = %report);
            }
            WatchEvent::Failed {
                artifact,
                errors,
                warnings,
                changed,
                codes,
                report,
            } => {
                info!(target: EVENTS, event = "failed", artifact = %artifact, errors, warnings, changed, codes = %codes, report = %report);
            }
            WatchEvent::Submitted {
                artifact,
                job_name,
                job_arn,
                token,
            } => {
                info!(target: EVENTS, event = "submitted", artifact = %artifact, job_name = %job_name, job_arn = %job_arn, token = %token);
            }
            WatchEvent::JobCompleted {
                artifact,
                job_arn,
                model_arn,
            } => {
                info!(target: EVENTS, event = "job_completed", artifact = %artifact, job_arn = %job_arn, model_arn = %model_arn);
            }
            WatchEvent::ImportFailed {
                artifact,
                job_arn,
                error,
                hint,
            } => {
                warn!(target: EVENTS, event = "import_failed", artifact = %artifact, job_arn = %job_arn, error = %error, hint = %hint);
            }
            WatchEvent::SlotBusy {
                queued,
                in_flight,
                outside,
                refused,
            } => {
                info!(target: EVENTS, event = "slot_busy", queued, in_flight, outside, refused);
            }
            WatchEvent::Deleted { artifact, status } => {
                info!(target: EVENTS, event = "deleted", artifact = %artifact, status = %status);
            }
            WatchEvent::Fault {
                artifact,
                stage,
                error,
                attempts,
                retry_in_seconds,
            } => {
                warn!(target: EVENTS, event = "fault", artifact = %artifact, stage = %stage, error = %error, attempts, retry_in_seconds);
            }
            WatchEvent::Retrying {
                artifact,
                status,
                attempts,
            } => {
                info!(target: EVENTS, event = "retrying", artifact = %artifact, status = %status, attempts);
            }
            WatchEvent::Resumed { artifact, status } => {
                info!(target: EVENTS, event = "resumed", artifact = %artifact, status = %status);
            }
            WatchEvent::Checkpointed { artifact, status } => {
                info!(target: EVENTS, event = "checkpointed", artifact = %artifact, status = %status);
            }
            WatchEvent::ScanFailed { error } => {
                warn!(target: EVENTS, event = "scan_failed", error = %error);
            }
            WatchEvent::StateFailed { error } => {
                warn!(target: EVENTS, event = "state_failed", error = %error);
            }
            WatchEvent::HealthServing { addr } => {
                info!(target: EVENTS, event = "health_serving", addr = %addr);
            }
            WatchEvent::Stopped {
                interrupted,
                passes,
            } => info!(target: EVENTS, event = "stopped", interrupted, passes),
        }
    }
}

/// A count for an event.
pub(super) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// One line of the daemon's JSON log (`--log-format json`), read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEventLine {
    /// When, in RFC 3339.
    pub timestamp: String,
    /// `INFO` or `WARN`.
    pub level: String,
    /// The event and its fields.
    #[serde(flatten)]
    pub event: WatchEvent,
    /// [`EVENTS`].
    pub target: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_read_back() {
        let line = r#"{"timestamp":"2026-11-28T10:00:00.000000Z","level":"WARN","event":"fault","artifact":"llama-a","stage":"list","error":"AccessDenied","attempts":2,"retry_in_seconds":10,"target":"cmi_preflight::watch"}"#;
        let read: WatchEventLine = serde_json::from_str(line).expect("read");
        assert_eq!(
            read.event,
            WatchEvent::Fault {
                artifact: "llama-a".into(),
                stage: "list".into(),
                error: "AccessDenied".into(),
                attempts: 2,
                retry_in_seconds: 10,
            }
        );
        assert_eq!(serde_json::to_string(&read).expect("write"), line);
        let changed = WatchEvent::Changed {
            artifact: "llama-a".into(),
            after_processing: None,
            during: Some("check".into()),
        };
        let text = serde_json::to_string(&changed).expect("write");
        assert_eq!(
            text,
            r#"{"event":"changed","artifact":"llama-a","during":"check"}"#
        );
        let back: WatchEvent = serde_json::from_str(&text).expect("read");
        assert_eq!(back, changed);
    }
}
