//! Artifacts whose objects are all deleted: their own outcome, `deleted`, reached at once or,
//! with an import in flight, once its job ends (the job is still followed and reported).

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::events::WatchEvent;
use super::{state_fault, Daemon, Fault};
use crate::watch::state::ArtifactState;

impl Daemon {
    /// After a scan of the whole prefix: every artifact of the state not in `present` is
    /// deleted.
    pub(super) fn deleted_but(&self, present: &BTreeSet<&str>) -> Result<(), Fault> {
        let all = self.store().list(None).map_err(state_fault)?;
        for artifact in all.iter().filter(|a| !present.contains(a.name.as_str())) {
            self.delete(artifact)?;
        }
        Ok(())
    }

    /// In SQS mode, after an artifact's prefix listed nothing: the artifact of that prefix is
    /// deleted.
    pub(super) fn deleted_at(&self, prefix: &str) -> Result<(), Fault> {
        let all = self.store().list(None).map_err(state_fault)?;
        for artifact in all.iter().filter(|a| a.prefix == prefix) {
            self.delete(artifact)?;
        }
        Ok(())
    }

    fn delete(&self, artifact: &ArtifactState) -> Result<(), Fault> {
        let deleted = self
            .store()
            .mark_deleted(&artifact.name, SystemTime::now())
            .map_err(state_fault)?;
        if let Some(deleted) = deleted {
            WatchEvent::Deleted {
                artifact: deleted.name,
                status: deleted.status.to_string(),
            }
            .emit();
        }
        Ok(())
    }
}
