//! Finding what changed: a scan of the watched prefix, or the artifacts named by S3 events,
//! each recorded in the state and marked ready when it is.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::events::{count, WatchEvent};
use super::{fault, state_fault, Daemon, Fault};
use crate::s3::{describe_sdk_error, listed_meta};
use crate::source::ObjectMeta;
use crate::watch::health::ErrorKind;
use crate::watch::queue::SqsQueue;
use crate::watch::scan::{Artifact, ListedObject, Readiness};
use crate::watch::state::{Change, Status};

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
                        describe_sdk_error(&e)
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

    /// Receives S3 events, lists the artifacts they name and those still settling, records
    /// them, and only then deletes the messages.
    pub(super) async fn receive(&self, queue: &SqsQueue) -> Result<(), Fault> {
        let wait = self.options.interval.min(Duration::from_secs(20));
        let messages = queue
            .receive(wait, 10)
            .await
            .map_err(|e| fault(ErrorKind::Queue, e.to_string()))?;
        let mut prefixes: BTreeSet<String> = BTreeSet::new();
        for message in &messages {
            if let Err(error) = &message.content {
                WatchEvent::MessageDropped {
                    message_id: message.message_id.clone(),
                    error: error.reason.to_string(),
                }
                .emit();
            }
            for event in message.object_events() {
                if event.bucket != self.options.uri.bucket {
                    continue;
                }
                let placed = self.watched.group([ListedObject {
                    key: event.key.clone(),
                    size: 1,
                    meta: ObjectMeta::default(),
                }]);
                prefixes.extend(placed.artifacts.into_iter().map(|a| a.prefix));
            }
        }
        let settling = self.listed(Status::Settling)?;
        prefixes.extend(settling.into_iter().map(|a| a.prefix));
        if messages.is_empty() {
            tracing::debug!(artifacts = prefixes.len(), "no S3 event received");
        } else {
            WatchEvent::Received {
                messages: count(messages.len()),
                artifacts: count(prefixes.len()),
            }
            .emit();
        }
        for prefix in &prefixes {
            let objects = self.list_objects(prefix).await?;
            let artifacts = self.watched.group(objects).artifacts;
            if artifacts.is_empty() {
                self.deleted_at(prefix)?;
            }
            for artifact in artifacts {
                self.observe(&artifact)?;
            }
        }
        queue
            .delete(&messages)
            .await
            .map_err(|e| fault(ErrorKind::Queue, e.to_string()))?;
        Ok(())
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
