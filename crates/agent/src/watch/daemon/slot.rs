//! The import slot. Bedrock runs a limited number of model import jobs at a time per account
//! and Region (the quota "Concurrent model import jobs", 1, see the Amazon Bedrock User Guide,
//! "Quotas for Amazon Bedrock"), so passed artifacts wait in a FIFO (the state's
//! [`StateStore::queued`](crate::watch::state::StateStore::queued), by the time they passed)
//! and the daemon submits the next one as soon as the slot frees.
//!
//! One step per pass: the jobs in flight are followed first (every pass, a fault included), so
//! that a job followed to its end lets the next submission happen in the same pass; then, only when something waits, the jobs
//! the daemon did not start are counted with one ListModelImportJobs (`statusEquals=InProgress`),
//! and the head of the FIFO is submitted while the slot has room (`--max-in-flight`). A
//! `ServiceQuotaExceededException` for concurrent import jobs (a job started elsewhere meanwhile)
//! is not a fault: the artifact goes back to the FIFO, in its place, and the slot is busy.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::events::{count, WatchEvent};
use super::{fault, state_fault, Daemon, Fault};
use crate::bedrock::ServiceError;
use crate::jobs::{self, JobFilter};
use crate::watch::health::ErrorKind;
use crate::watch::state::Status;

/// The error code of a refused quota (botocore's `bedrock` service model,
/// `ServiceQuotaExceededException`).
const QUOTA_EXCEEDED: &str = "ServiceQuotaExceededException";

/// The name of the quota on concurrent import jobs, as the refusal's message names it (the
/// quota's name in Service Quotas, "Concurrent model import jobs").
const CONCURRENT_JOBS_QUOTA: &str = "concurrent model import jobs";

/// Whether a refused CreateModelImportJob means "the import slot is busy": the quota on
/// concurrent import jobs, not the one on imported models (which stays a fault).
pub(super) fn is_slot_busy(error: &ServiceError) -> bool {
    error.code == QUOTA_EXCEEDED
        && error
            .message
            .to_ascii_lowercase()
            .contains(CONCURRENT_JOBS_QUOTA)
}

/// What the daemon knows of the slot between passes.
#[derive(Debug)]
pub(super) struct Slot {
    /// `--max-in-flight`.
    max_in_flight: usize,
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    /// Jobs in progress that the daemon did not start, as last listed.
    outside: usize,
    /// Whether the last pass found the slot busy with work waiting (for the event on change).
    busy: bool,
}

impl Slot {
    /// A slot of `max_in_flight` jobs (at least 1).
    pub(super) fn new(max_in_flight: usize) -> Slot {
        Slot {
            max_in_flight: max_in_flight.max(1),
            known: Mutex::new(Known::default()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The outcome of one submission.
pub(super) enum Submission {
    /// Submitted, or ended for good (refused, invalid).
    Done,
    /// Refused because the slot is busy; the artifact is back in the FIFO.
    SlotBusy,
}

impl Daemon {
    /// Follows every job in flight, then submits from the FIFO while the slot has room.
    pub(super) async fn imports(&self) -> Result<(), Fault> {
        for artifact in self.listed(Status::Importing)? {
            if let Err(f) = self.follow(&artifact).await {
                self.follow_fault(&artifact.name, f);
            }
        }
        let mut refused = false;
        for artifact in self.listed(Status::Submitting)? {
            match self.submit(&artifact).await {
                Ok(Submission::SlotBusy) => refused = true,
                outcome => self.settle_step(&artifact, outcome.map(|_| ()))?,
            }
        }
        let queue = self.store().queued().map_err(state_fault)?;
        if queue.is_empty() {
            self.slot.known().outside = 0;
        } else if !refused && self.own_in_flight()? < self.slot.max_in_flight {
            let outside = self.outside_jobs().await?;
            self.slot.known().outside = outside;
        }
        for artifact in &queue {
            if refused || self.in_flight()? >= self.slot.max_in_flight {
                break;
            }
            match self.submit(artifact).await {
                Ok(Submission::SlotBusy) => refused = true,
                Ok(Submission::Done) => {}
                Err(f) => self.settle_step(artifact, Err(f))?,
            }
        }
        if refused {
            // The refusal proves every slot taken, by jobs the daemon does not know of yet.
            let own = self.own_in_flight()?;
            let mut known = self.slot.known();
            known.outside = known
                .outside
                .max(self.slot.max_in_flight.saturating_sub(own));
        }
        let queued = self.store().queued().map_err(state_fault)?.len();
        let in_flight = self.in_flight()?;
        self.slot_event(
            in_flight >= self.slot.max_in_flight,
            queued,
            in_flight,
            refused,
        );
        Ok(())
    }

    /// A job that could not be followed stays followed: it is asked again at the next pass,
    /// without backoff (one GetModelImportJob per interval), so that its end is seen at once.
    fn follow_fault(&self, artifact: &str, f: Fault) {
        self.count_fault(&f);
        WatchEvent::Fault {
            artifact: artifact.to_string(),
            stage: f.kind.as_str().to_string(),
            error: f.message,
            attempts: 1,
            retry_in_seconds: self.options.interval.as_secs(),
        }
        .emit();
    }

    /// Jobs in progress the daemon did not start, as last known.
    pub(super) fn outside(&self) -> usize {
        self.slot.known().outside
    }

    /// Whether every slot is taken, with `own` imports of the daemon in flight.
    pub(super) fn slot_busy(&self, own: usize) -> bool {
        own + self.outside() >= self.slot.max_in_flight
    }

    /// Every job in flight: the daemon's and those it did not start.
    fn in_flight(&self) -> Result<usize, Fault> {
        Ok(self.own_in_flight()? + self.outside())
    }

    /// The daemon's imports in flight: submitting or importing, retrying either included.
    fn own_in_flight(&self) -> Result<usize, Fault> {
        let all = self.store().list(None).map_err(state_fault)?;
        Ok(all.iter().filter(|a| a.import_in_flight()).count())
    }

    /// One ListModelImportJobs `statusEquals=InProgress`: the jobs in progress that no artifact
    /// of the state follows.
    async fn outside_jobs(&self) -> Result<usize, Fault> {
        let Some(client) = &self.bedrock else {
            return Ok(0);
        };
        let filter = JobFilter {
            status: Some("InProgress".to_string()),
            ..JobFilter::default()
        };
        let listed = jobs::list_jobs(client, &filter)
            .await
            .map_err(|e| fault(ErrorKind::Import, e.to_string()))?;
        let ours: BTreeSet<String> = self
            .store()
            .list(None)
            .map_err(state_fault)?
            .into_iter()
            .filter_map(|a| a.job_arn)
            .collect();
        Ok(listed.iter().filter(|j| !ours.contains(&j.job_arn)).count())
    }

    /// Logs `slot_busy` when the slot turns busy with work waiting, or a submission was refused.
    fn slot_event(&self, busy: bool, queued: usize, in_flight: usize, refused: bool) {
        let waiting = busy && queued > 0;
        let turned = {
            let mut known = self.slot.known();
            let turned = waiting && !known.busy;
            known.busy = waiting;
            turned
        };
        if turned || refused {
            WatchEvent::SlotBusy {
                queued: count(queued),
                in_flight: count(in_flight),
                outside: count(self.outside()),
                refused,
            }
            .emit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> ServiceError {
        ServiceError {
            operation: "CreateModelImportJob",
            code: code.to_string(),
            message: message.to_string(),
            explanation: String::new(),
        }
    }

    #[test]
    fn only_the_concurrent_jobs_quota_means_slot_busy() {
        assert!(is_slot_busy(&error(
            QUOTA_EXCEEDED,
            "1 model import job(s) are already in progress in this account and Region, the \
             limit of 1. Wait for a job to end, or request a quota increase for Concurrent \
             model import jobs."
        )));
        assert!(!is_slot_busy(&error(
            QUOTA_EXCEEDED,
            "Your account does not have the quota limits to import another model: request a \
             quota increase for Imported models per account."
        )));
        assert!(!is_slot_busy(&error(
            "ThrottlingException",
            "Concurrent model import jobs"
        )));
    }

    #[test]
    fn a_slot_has_room_for_one_job_at_least() {
        assert_eq!(Slot::new(0).max_in_flight, 1);
        assert_eq!(Slot::new(3).max_in_flight, 3);
    }
}
