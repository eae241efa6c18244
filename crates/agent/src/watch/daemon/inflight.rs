//! SQS mode's unit of work: a received message stays in flight, its visibility extended,
//! until every artifact it names reaches a durable outcome for this daemon, and is deleted
//! only then.
//!
//! A durable outcome is one this daemon will never redo without a new event: passed and
//! submitted (`importing` and after; `passed` without `--import`), `failed`, `imported`,
//! `import_failed`. An artifact still settling, ready, being checked, waiting to be
//! submitted or retrying keeps its messages in flight. If the daemon dies, it stops extending
//! them, and SQS delivers them again after the queue's visibility timeout, to another daemon
//! on the queue: that daemon lists the artifacts and takes them over. Redelivery is harmless:
//! the report of a version has one name (artifact and fingerprint) and its import one client
//! token (derived from the request and the manifest's digest).
//!
//! The receipt handles are kept in memory only: a dead daemon's handles are meaningless (its
//! messages come back with new ones), so there is nothing to share between daemons.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::events::{count, WatchEvent};
use super::{fault, Daemon, Fault};
use crate::watch::health::{ErrorKind, Metrics};
use crate::watch::queue::{QueueError, QueueMessage, SqsQueue};
use crate::watch::state::Status;

/// The visibility timeout assumed when the queue's cannot be read (the SQS default).
pub(super) const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);

/// The longest a stop waits for SQS to make the held messages visible again.
const LET_GO_WAIT: Duration = Duration::from_secs(3);

/// Whether `status` is a durable outcome for a daemon that imports (`importing`) or not.
fn durable(status: Status, importing: bool) -> bool {
    matches!(
        status,
        Status::Failed
            | Status::Importing
            | Status::Imported
            | Status::ImportFailed
            | Status::Deleted
    ) || (status == Status::Passed && !importing)
}

/// A message held, and the artifacts (by name) it still waits for.
#[derive(Debug)]
struct Held {
    message: QueueMessage,
    waiting: BTreeSet<String>,
}

/// The messages this daemon holds, by message ID.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    held: BTreeMap<String, Held>,
}

impl InFlight {
    /// Holds `message` until `artifacts` are done. A message held already (delivered again)
    /// keeps the newest receipt handle, the only one sure to delete it, and waits for both
    /// sets of artifacts.
    pub(super) fn hold(&mut self, message: QueueMessage, artifacts: BTreeSet<String>) {
        match self.held.get_mut(&message.message_id) {
            Some(held) => {
                held.message = message;
                held.waiting.extend(artifacts);
            }
            None => {
                self.held.insert(
                    message.message_id.clone(),
                    Held {
                        message,
                        waiting: artifacts,
                    },
                );
            }
        }
    }

    /// Forgets the artifacts for which `done` holds, and takes out the messages that wait for
    /// nothing more: they are to be deleted.
    pub(super) fn settle(&mut self, mut done: impl FnMut(&str) -> bool) -> Vec<QueueMessage> {
        for held in self.held.values_mut() {
            held.waiting.retain(|name| !done(name));
        }
        let finished: Vec<String> = self
            .held
            .iter()
            .filter(|(_, held)| held.waiting.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        finished
            .iter()
            .filter_map(|id| self.held.remove(id))
            .map(|held| held.message)
            .collect()
    }

    /// The messages held.
    pub(super) fn messages(&self) -> Vec<QueueMessage> {
        self.held.values().map(|h| h.message.clone()).collect()
    }

    /// Whether the message `message_id` is held.
    fn holds(&self, message_id: &str) -> bool {
        self.held.contains_key(message_id)
    }

    /// How many messages are held.
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// Takes out every message.
    fn take_all(&mut self) -> Vec<QueueMessage> {
        std::mem::take(&mut self.held)
            .into_values()
            .map(|h| h.message)
            .collect()
    }
}

/// The messages held, and when the watched prefix was last listed whole (SQS mode).
#[derive(Debug, Default)]
pub(super) struct Inbox {
    in_flight: Arc<Mutex<InFlight>>,
    full_scan: Mutex<Option<Instant>>,
}

impl Inbox {
    /// The messages held, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, InFlight> {
        lock(&self.in_flight)
    }

    /// When the last full scan succeeded, if one did.
    pub(super) fn last_full_scan(&self) -> Option<Instant> {
        *self.full_scan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a full scan that succeeded.
    pub(super) fn full_scan_done(&self, at: Instant) {
        *self.full_scan.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }
}

fn lock(in_flight: &Mutex<InFlight>) -> MutexGuard<'_, InFlight> {
    in_flight.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the task that keeps the held messages invisible: it reads the queue's visibility
/// timeout once (GetQueueAttributes; [`DEFAULT_VISIBILITY`] when that fails, or when it is
/// zero) and, every half of it, extends every held message by the whole of it. The task
/// runs apart from the passes, so a long check does not let a message lapse.
pub(super) fn keep_invisible(
    queue: SqsQueue,
    inbox: &Inbox,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let in_flight = Arc::clone(&inbox.in_flight);
    tokio::spawn(async move {
        let timeout = match queue.visibility_timeout().await {
            Ok(timeout) if !timeout.is_zero() => timeout,
            Ok(_) => DEFAULT_VISIBILITY,
            Err(error) => {
                tracing::warn!(%error, seconds = DEFAULT_VISIBILITY.as_secs(), "the queue's visibility timeout is unknown; assuming the default");
                metrics.record_error(ErrorKind::Queue);
                DEFAULT_VISIBILITY
            }
        };
        let period = timeout / 2;
        tracing::debug!(
            timeout_seconds = timeout.as_secs(),
            "held messages are extended every half visibility timeout"
        );
        loop {
            tokio::time::sleep(period).await;
            let messages = lock(&in_flight).messages();
            if messages.is_empty() {
                continue;
            }
            let Err(QueueError::ChangeVisibility {
                queue_url,
                failures,
            }) = queue.change_visibility(&messages, timeout).await
            else {
                continue;
            };
            // A message deleted since the snapshot has no visibility left to change.
            let still_held: Vec<_> = {
                let in_flight = lock(&in_flight);
                failures
                    .into_iter()
                    .filter(|f| in_flight.holds(&f.message_id))
                    .collect()
            };
            if !still_held.is_empty() {
                let error = QueueError::ChangeVisibility {
                    queue_url,
                    failures: still_held,
                };
                tracing::warn!(%error, "held messages may be delivered again");
                metrics.record_error(ErrorKind::Queue);
            }
        }
    })
}

impl Daemon {
    /// Deletes the held messages whose artifacts all reached a durable outcome (SQS mode).
    pub(super) async fn release(&self) -> Result<(), Fault> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        if self.inbox.lock().len() == 0 {
            return Ok(());
        }
        let importing = self.bedrock.is_some();
        let statuses: BTreeMap<String, Status> = self
            .store()
            .list(None)
            .map_err(super::state_fault)?
            .into_iter()
            .map(|a| (a.name, a.status))
            .collect();
        let (finished, held) = {
            let mut in_flight = self.inbox.lock();
            let finished = in_flight.settle(|name| {
                statuses
                    .get(name)
                    .is_none_or(|status| durable(*status, importing))
            });
            (finished, in_flight.len())
        };
        if finished.is_empty() {
            return Ok(());
        }
        queue
            .delete(&finished)
            .await
            .map_err(|e| fault(ErrorKind::Queue, e.to_string()))?;
        WatchEvent::MessagesDeleted {
            messages: count(finished.len()),
            held: count(held),
        }
        .emit();
        Ok(())
    }

    /// At a stop, makes the held messages visible again at once, so that another daemon on
    /// the queue takes them over without waiting for their timeout; this daemon's own state
    /// resumes its artifacts when it starts again. Waits [`LET_GO_WAIT`] at most.
    pub(super) async fn let_go(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let messages = self.inbox.lock().take_all();
        if messages.is_empty() {
            return;
        }
        let changed = tokio::time::timeout(
            LET_GO_WAIT,
            queue.change_visibility(&messages, Duration::ZERO),
        )
        .await;
        match changed {
            Ok(Ok(())) => tracing::debug!(
                messages = messages.len(),
                "held messages made visible again"
            ),
            Ok(Err(error)) => {
                tracing::warn!(%error, "held messages come back after their visibility timeout");
            }
            Err(_) => tracing::warn!(
                messages = messages.len(),
                "SQS did not answer in time; held messages come back after their visibility timeout"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::queue::Notification;

    fn message(id: &str, handle: &str) -> QueueMessage {
        QueueMessage {
            message_id: id.to_string(),
            receipt_handle: handle.to_string(),
            receive_count: Some(1),
            content: Ok(Notification::Objects(Vec::new())),
        }
    }

    fn names(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_message_is_released_when_all_its_artifacts_are_done() {
        let mut in_flight = InFlight::default();
        in_flight.hold(message("m1", "h1"), names(&["a", "b"]));
        in_flight.hold(message("m2", "h2"), names(&["b"]));
        in_flight.hold(message("m3", "h3"), names(&[]));
        let released = in_flight.settle(|name| name == "a");
        assert_eq!(
            released
                .iter()
                .map(|m| m.message_id.as_str())
                .collect::<Vec<_>>(),
            ["m3"]
        );
        assert_eq!(in_flight.len(), 2);
        assert!(in_flight.settle(|_| false).is_empty());
        let released = in_flight.settle(|name| name == "b");
        assert_eq!(released.len(), 2);
        assert_eq!(in_flight.len(), 0);
    }

    #[test]
    fn a_message_delivered_again_keeps_its_newest_handle() {
        let mut in_flight = InFlight::default();
        in_flight.hold(message("m1", "old"), names(&["a"]));
        in_flight.hold(message("m1", "new"), names(&["b"]));
        assert_eq!(in_flight.len(), 1);
        assert_eq!(in_flight.messages()[0].receipt_handle, "new");
        assert!(in_flight.settle(|name| name == "a").is_empty());
        let released = in_flight.settle(|name| name == "b");
        assert_eq!(released[0].receipt_handle, "new");
        in_flight.hold(message("m2", "h"), names(&["c"]));
        assert_eq!(in_flight.take_all().len(), 1);
        assert_eq!(in_flight.len(), 0);
    }

    #[test]
    fn durable_outcomes() {
        // (status, durable for a daemon that imports, durable for one that only checks)
        let expected = [
            (Status::Settling, false, false),
            (Status::Ready, false, false),
            (Status::Checking, false, false),
            (Status::Passed, false, true),
            (Status::Failed, true, true),
            (Status::Submitting, false, false),
            (Status::Importing, true, true),
            (Status::Imported, true, true),
            (Status::ImportFailed, true, true),
            (Status::Deleted, true, true),
            (Status::Retrying, false, false),
        ];
        assert_eq!(expected.len(), Status::ALL.len(), "every status has a row");
        for (status, importing, checking) in expected {
            assert_eq!(durable(status, true), importing, "{status:?} with --import");
            assert_eq!(
                durable(status, false),
                checking,
                "{status:?} without --import"
            );
        }
    }
}
