//! Finding what changed: a scan of the watched prefix, or the artifacts named by S3 events,
//! each recorded in the state and marked ready when it is.
//!
//! In SQS mode, events may be lost (a queue created after the objects, a notification
//! configuration saved late, messages that expired): a full scan of the prefix, one
//! recursive listing (ListObjectsV2, 1,000 keys a request), catches those artifacts, at start
//! and on `--rescan-every` ([`Rescan`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use super::events::{count, WatchEvent};
use super::{fault, state_fault, Daemon, Fault};
use crate::s3::{describe_s3_failure, listed_meta};
use crate::source::ObjectMeta;
use crate::watch::health::ErrorKind;
use crate::watch::queue::{QueueMessage, SqsQueue};
use crate::watch::scan::{Artifact, ListedObject, Readiness};
use crate::watch::state::{Change, Status};

/// When SQS mode also lists the whole watched prefix (scan mode always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rescan {
    /// The first pass is a full scan (what a daemon does at start; `--once` only with
    /// `--rescan`).
    pub at_start: bool,
    /// A full scan this long after the last one that succeeded (`--rescan-every`).
    pub every: Option<Duration>,
}

impl Default for Rescan {
    /// A full scan at start, none after.
    fn default() -> Rescan {
        Rescan {
            at_start: true,
            every: None,
        }
    }
}

impl Daemon {
    /// Lists everything under `prefix`, as objects of the watched tree.
    async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, Fault> {
        let bucket = &self.options.uri.bucket;
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                fault(
                    ErrorKind::List,
                    format!(
                        "ListObjectsV2 s3://{bucket}/{prefix}: {}",
                        describe_s3_failure("ListObjectsV2", bucket, prefix, &e)
                    ),
                )
            })?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                objects.push(ListedObject {
                    key: key.to_string(),
                    size: u64::try_from(object.size().unwrap_or(0)).unwrap_or(0),
                    meta: listed_meta(object),
                });
            }
        }
        Ok(objects)
    }

    /// Scans the whole watched prefix and records every artifact.
    pub(super) async fn scan(&self) -> Result<(), Fault> {
        let objects = self.list_objects(self.watched.prefix()).await?;
        let grouping = self.watched.group(objects);
        for ignored in &grouping.ignored {
            tracing::debug!(key = %ignored.key, reason = ?ignored.reason, "not part of an artifact");
        }
        WatchEvent::Scanned {
            artifacts: count(grouping.artifacts.len()),
            ignored: count(grouping.ignored.len()),
        }
        .emit();
        for artifact in &grouping.artifacts {
            self.observe(artifact)?;
        }
        let present: BTreeSet<&str> = grouping.artifacts.iter().map(|a| a.name.as_str()).collect();
        self.deleted_but(&present)
    }

    /// Whether this pass, in SQS mode, lists the whole watched prefix instead of receiving:
    /// the first pass with [`Rescan::at_start`], then every [`Rescan::every`], counted from
    /// the last full scan that succeeded.
    pub(super) fn full_scan_due(&self, now: Instant) -> bool {
        let rescan = &self.options.rescan;
        match self.inbox.last_full_scan() {
            None => rescan.at_start,
            Some(last) => rescan
                .every
                .is_some_and(|every| now.saturating_duration_since(last) >= every),
        }
    }

    /// A full scan in SQS mode, recorded when it succeeds.
    pub(super) async fn full_scan(&self) -> Result<(), Fault> {
        let started = Instant::now();
        self.scan().await?;
        self.inbox.full_scan_done(started);
        Ok(())
    }

    /// Receives S3 events, deletes at once those that name no artifact (test events, other
    /// buckets or prefixes, bodies that are not S3 events), lists the artifacts the others
    /// name and those still settling, records them, and holds each message until the
    /// artifacts it names reach a durable outcome ([`Daemon::release`]).
    pub(super) async fn receive(&self, queue: &SqsQueue) -> Result<(), Fault> {
        let wait = self.options.interval.min(Duration::from_secs(20));
        let messages = queue
            .receive(wait, 10)
            .await
            .map_err(|e| fault(ErrorKind::Queue, e.to_string()))?;
        let received = messages.len();
        let mut prefixes: BTreeSet<String> = BTreeSet::new();
        let mut named = Vec::new();
        let mut idle = Vec::new();
        for message in messages {
            if let Err(error) = &message.content {
                WatchEvent::MessageDropped {
                    message_id: message.message_id.clone(),
                    error: error.reason.to_string(),
                }
                .emit();
            }
            let artifacts = self.named_by(&message);
            if artifacts.is_empty() {
                idle.push(message);
            } else {
                prefixes.extend(artifacts.keys().cloned());
                named.push((message, artifacts));
            }
        }
        let dropped = queue.delete(&idle).await;
        let settling = self.listed(Status::Settling)?;
        prefixes.extend(settling.into_iter().map(|a| a.prefix));
        if received == 0 {
            tracing::debug!(artifacts = prefixes.len(), "no S3 event received");
        } else {
            WatchEvent::Received {
                messages: count(received),
                artifacts: count(prefixes.len()),
            }
            .emit();
        }
        let mut found = BTreeSet::new();
        for prefix in &prefixes {
            let objects = self.list_objects(prefix).await?;
            let artifacts = self.watched.group(objects).artifacts;
            if artifacts.is_empty() {
                self.deleted_at(prefix)?;
            }
            for artifact in artifacts {
                self.observe(&artifact)?;
                found.insert(artifact.name);
            }
        }
        {
            let mut in_flight = self.inbox.lock();
            for (message, artifacts) in named {
                let waiting = artifacts
                    .into_values()
                    .filter(|name| found.contains(name))
                    .collect();
                in_flight.hold(message, waiting);
            }
        }
        dropped.map_err(|e| fault(ErrorKind::Queue, e.to_string()))
    }

    /// The artifacts (prefix, name) whose objects the events of `message` name, in the
    /// watched bucket and prefix.
    fn named_by(&self, message: &QueueMessage) -> BTreeMap<String, String> {
        let mut artifacts = BTreeMap::new();
        for event in message.object_events() {
            if event.bucket != self.options.uri.bucket {
                continue;
            }
            let placed = self.watched.group([ListedObject {
                key: event.key.clone(),
                size: 1,
                meta: ObjectMeta::default(),
            }]);
            artifacts.extend(placed.artifacts.into_iter().map(|a| (a.prefix, a.name)));
        }
        artifacts
    }

    /// Records an artifact's listing and marks it ready when it is.
    fn observe(&self, artifact: &Artifact) -> Result<(), Fault> {
        let now = SystemTime::now();
        let observation = self
            .store()
            .observe(
                &artifact.name,
                &artifact.prefix,
                &artifact.fingerprint(),
                now,
            )
            .map_err(state_fault)?;
        match observation.change {
            Change::New => {
                WatchEvent::Seen {
                    artifact: artifact.name.clone(),
                    prefix: artifact.prefix.clone(),
                    objects: count(artifact.objects.len()),
                }
                .emit();
            }
            Change::Changed { after_processing } => {
                WatchEvent::Changed {
                    artifact: artifact.name.clone(),
                    after_processing: Some(after_processing),
                    during: None,
                }
                .emit();
            }
            Change::Unchanged => {}
        }
        if observation.artifact.status != Status::Settling {
            return Ok(());
        }
        let readiness = self.watched.policy().readiness(
            artifact.marker.is_some(),
            observation.artifact.unchanged_since,
            now,
        );
        if readiness == Readiness::Ready {
            self.store()
                .mark_ready(&artifact.name, now)
                .map_err(state_fault)?;
            WatchEvent::Ready {
                artifact: artifact.name.clone(),
                fingerprint: artifact.fingerprint(),
            }
            .emit();
        }
        Ok(())
    }
}
