//! The durable state of the watch daemon: one row per artifact in an SQLite database,
//! `state.sqlite3` in the state directory (WAL journal, `synchronous=FULL`), so that a daemon
//! stopped at any point, `kill -9` included, resumes where it stopped.
//!
//! Every transition is one transaction, committed before the daemon acts on it:
//!
//! ```text
//!  (new) -> Settling --mark_ready--> Ready --start_check--> Checking --record_check--> Failed
//!                                                                    \-record_check--> Passed
//!                                                                                        |
//!                                                          start_submit (token stored first)
//!                                                                                        v
//!     Imported | ImportFailed <--finish_import-- Importing <--record_job-- Submitting
//!                ImportFailed <--finish_import (refused at submission)---/
//!                ImportFailed <--finish_import (refused before any call)-- Passed
//!
//!  record_fault  Ready, Checking -> Retrying (resumes Ready);
//!                Passed, Submitting, Importing -> Retrying (resumes the same status)
//!  wake_due      Retrying -> the status it resumes, once its next attempt is due
//!  recover       Checking -> Ready (the check is redone); Submitting resubmits with the same
//!                token, so the same job comes back; Importing resumes following its job
//!  observe       a changed listing sends every status to Settling, except an import in flight
//!                (Submitting, Importing, or Retrying either), which goes on and reaches
//!                Settling at finish_import; `changed` is set when a processed version changed
//!  mark_deleted  every object of the artifact is gone: -> Deleted, except an import in flight,
//!                which goes on and reaches Deleted at finish_import (its job is still followed)
//! ```
//!
//! Passed artifacts wait for the import slot in a FIFO: [`StateStore::queued`] lists them by
//! `passed_at`, the time their check passed, so that a restart keeps the order.
//!
//! Nothing reaches Passed but a check that passed: a fault is never a result.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{named_params, Connection, OptionalExtension, Row, ToSql, TransactionBehavior};

use crate::backoff::Backoff;

/// The schema version this build reads and writes, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;

/// The fingerprint of an artifact whose objects are all deleted (no listing is empty).
const DELETED: &str = "";

/// The database's file name in the state directory.
pub const DB_FILE: &str = "state.sqlite3";

const SCHEMA: &str = "
CREATE TABLE artifact (
    name                  TEXT PRIMARY KEY NOT NULL,
    prefix                TEXT NOT NULL,
    fingerprint           TEXT NOT NULL,
    unchanged_since       INTEGER NOT NULL,
    processed_fingerprint TEXT,
    status                TEXT NOT NULL,
    resume_status         TEXT,
    changed               INTEGER NOT NULL,
    manifest_digest       TEXT,
    report_path           TEXT,
    client_token          TEXT,
    job_arn               TEXT,
    job_status            TEXT,
    last_error            TEXT,
    attempts              INTEGER NOT NULL,
    next_attempt_at       INTEGER,
    first_seen            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    passed_at             INTEGER
) STRICT;
CREATE INDEX artifact_status ON artifact (status);
";

/// From schema version 1: the time each artifact passed, for the import FIFO; the artifacts
/// that passed before take the time of their last update, which keeps their order.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE artifact ADD COLUMN passed_at INTEGER;
UPDATE artifact SET passed_at = updated_at WHERE manifest_digest IS NOT NULL;
";

/// Where an artifact is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Seen; its listing may still change.
    Settling,
    /// Ready to be checked.
    Ready,
    /// Its check and manifest are being made.
    Checking,
    /// The check passed; with `--import`, the import comes next.
    Passed,
    /// The check failed (the gate, not a fault).
    Failed,
    /// The client token is stored; `CreateModelImportJob` may or may not have been called.
    Submitting,
    /// The job ARN is stored; the job is being followed.
    Importing,
    /// The import job completed.
    Imported,
    /// The import job failed, or its submission was refused.
    ImportFailed,
    /// Every object of the artifact was deleted (after its import job, if one was in flight,
    /// ended).
    Deleted,
    /// A fault (throttling, network, an unreadable prefix) interrupted the work; it is retried
    /// at `next_attempt_at` from the status in `resume`.
    Retrying,
}

impl Status {
    /// Every status, in state-machine order.
    pub const ALL: [Status; 11] = [
        Status::Settling,
        Status::Ready,
        Status::Checking,
        Status::Passed,
        Status::Failed,
        Status::Submitting,
        Status::Importing,
        Status::Imported,
        Status::ImportFailed,
        Status::Deleted,
        Status::Retrying,
    ];

    /// Its stable name, as stored and as shown in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Settling => "settling",
            Status::Ready => "ready",
            Status::Checking => "checking",
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Submitting => "submitting",
            Status::Importing => "importing",
            Status::Imported => "imported",
            Status::ImportFailed => "import_failed",
            Status::Deleted => "deleted",
            Status::Retrying => "retrying",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Status> {
        let name = value.as_str()?;
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| FromSqlError::Other(format!("unknown status {name:?}").into()))
    }
}

/// The stored state of one artifact. The `processed` fields (manifest digest, report, token,
/// job) describe the version whose fingerprint is `processed_fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactState {
    /// Its name, unique in the watched prefix.
    pub name: String,
    /// Its key prefix.
    pub prefix: String,
    /// Its current listing fingerprint.
    pub fingerprint: String,
    /// Since when `fingerprint` is unchanged.
    pub unchanged_since: SystemTime,
    /// The fingerprint its last check started from.
    pub processed_fingerprint: Option<String>,
    /// Where it is.
    pub status: Status,
    /// With [`Status::Retrying`], the status it resumes.
    pub resume: Option<Status>,
    /// Its objects changed after it was processed: it is (or was) processed again.
    pub changed: bool,
    /// The manifest's artifact digest.
    pub manifest_digest: Option<String>,
    /// Where the JSON report was written.
    pub report_path: Option<String>,
    /// The `clientRequestToken` of its import.
    pub client_token: Option<String>,
    /// The ARN of its import job.
    pub job_arn: Option<String>,
    /// The import job's final status.
    pub job_status: Option<String>,
    /// The last fault, or why the import job failed.
    pub last_error: Option<String>,
    /// Faults since the last step that succeeded.
    pub attempts: u32,
    /// With [`Status::Retrying`], when to try again.
    pub next_attempt_at: Option<SystemTime>,
    /// When it was first seen.
    pub first_seen: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
    /// When its check last passed: its place in the import FIFO.
    pub passed_at: Option<SystemTime>,
}

impl ArtifactState {
    /// Whether an import job may be in flight: submitted, followed, or either retrying.
    pub fn import_in_flight(&self) -> bool {
        let in_flight = |s: Status| matches!(s, Status::Submitting | Status::Importing);
        in_flight(self.status) || self.resume.is_some_and(in_flight)
    }

    fn clear_fault(&mut self) {
        self.resume = None;
        self.last_error = None;
        self.attempts = 0;
        self.next_attempt_at = None;
    }
}

/// What [`StateStore::observe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The artifact was not known.
    New,
    /// The fingerprint is the stored one (since `unchanged_since`).
    Unchanged,
    /// The fingerprint differs from the stored one.
    Changed {
        /// The artifact had been processed from another fingerprint.
        after_processing: bool,
    },
}

/// The result of [`StateStore::observe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// What changed.
    pub change: Change,
    /// The artifact as now stored.
    pub artifact: ArtifactState,
}

/// The result of a check, for [`StateStore::record_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// Whether the gate passed.
    pub passed: bool,
    /// The manifest's artifact digest, when a manifest was made.
    pub manifest_digest: Option<String>,
    /// Where the JSON report was written.
    pub report_path: String,
}

/// How an import ended, for [`StateStore::finish_import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// The job completed.
    Completed,
    /// The job failed, or its submission was refused, with the reason.
    Failed(String),
}

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be created.
    #[error("cannot create the state directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("state database {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The file system refused the WAL journal.
    #[error("state database {}: journal mode is {mode:?}, not WAL", path.display())]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// The database was written by a newer cmi-preflight.
    #[error(
        "state database {} has schema version {found}, but this cmi-preflight knows version \
         {supported} only: upgrade cmi-preflight, or use another --state-dir",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// No artifact has that name.
    #[error("state database {}: no artifact {name:?}", path.display())]
    UnknownArtifact {
        /// The database file.
        path: PathBuf,
        /// The name asked for.
        name: String,
    },
    /// The transition does not start from the artifact's status.
    #[error("state database {}: artifact {name:?} cannot {operation} while {status}", path.display())]
    InvalidTransition {
        /// The database file.
        path: PathBuf,
        /// The artifact.
        name: String,
        /// The transition asked for.
        operation: &'static str,
        /// The artifact's status.
        status: Status,
    },
}

/// The state database of one daemon.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Unix milliseconds, saturating.
fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time at unix milliseconds `ms`, or the epoch when out of range.
fn time(ms: i64) -> SystemTime {
    let offset = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
    .unwrap_or(UNIX_EPOCH)
}

fn read(row: &Row<'_>) -> rusqlite::Result<ArtifactState> {
    Ok(ArtifactState {
        name: row.get("name")?,
        prefix: row.get("prefix")?,
        fingerprint: row.get("fingerprint")?,
        unchanged_since: time(row.get("unchanged_since")?),
        processed_fingerprint: row.get("processed_fingerprint")?,
        status: row.get("status")?,
        resume: row.get("resume_status")?,
        changed: row.get("changed")?,
        manifest_digest: row.get("manifest_digest")?,
        report_path: row.get("report_path")?,
        client_token: row.get("client_token")?,
        job_arn: row.get("job_arn")?,
        job_status: row.get("job_status")?,
        last_error: row.get("last_error")?,
        attempts: row.get("attempts")?,
        next_attempt_at: row.get::<_, Option<i64>>("next_attempt_at")?.map(time),
        first_seen: time(row.get("first_seen")?),
        updated_at: time(row.get("updated_at")?),
        passed_at: row.get::<_, Option<i64>>("passed_at")?.map(time),
    })
}

fn load(conn: &Connection, name: &str) -> rusqlite::Result<Option<ArtifactState>> {
    conn.query_row("SELECT * FROM artifact WHERE name = ?1", [name], read)
        .optional()
}

fn save(conn: &Connection, a: &ArtifactState) -> rusqlite::Result<()> {
    conn.execute(
        "REPLACE INTO artifact (name, prefix, fingerprint, unchanged_since,
             processed_fingerprint, status, resume_status, changed, manifest_digest, report_path,
             client_token, job_arn, job_status, last_error, attempts, next_attempt_at, first_seen,
             updated_at, passed_at)
         VALUES (:name, :prefix, :fingerprint, :unchanged_since, :processed_fingerprint, :status,
             :resume_status, :changed, :manifest_digest, :report_path, :client_token, :job_arn,
             :job_status, :last_error, :attempts, :next_attempt_at, :first_seen, :updated_at,
             :passed_at)",
        named_params! {
            ":name": a.name,
            ":prefix": a.prefix,
            ":fingerprint": a.fingerprint,
            ":unchanged_since": millis(a.unchanged_since),
            ":processed_fingerprint": a.processed_fingerprint,
            ":status": a.status,
            ":resume_status": a.resume,
            ":changed": a.changed,
            ":manifest_digest": a.manifest_digest,
            ":report_path": a.report_path,
            ":client_token": a.client_token,
            ":job_arn": a.job_arn,
            ":job_status": a.job_status,
            ":last_error": a.last_error,
            ":attempts": a.attempts,
            ":next_attempt_at": a.next_attempt_at.map(millis),
            ":first_seen": millis(a.first_seen),
            ":updated_at": millis(a.updated_at),
            ":passed_at": a.passed_at.map(millis),
        },
    )?;
    Ok(())
}

impl StateStore {
    /// Opens (creating it and its directory if needed) `state.sqlite3` in `state_dir`, in WAL
    /// mode with `synchronous=FULL`, and creates or checks its schema.
    pub fn open(state_dir: &Path) -> Result<StateStore, StateError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StateError::CreateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(DB_FILE);
        let db = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(&db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(&db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::NoWal { path, mode });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(&db)?;
        if found == 0 {
            tx.execute_batch(SCHEMA).map_err(&db)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(&db)?;
        } else if found == 1 {
            tx.execute_batch(MIGRATE_1_TO_2).map_err(&db)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(&db)?;
        } else if found != SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        tx.commit().map_err(&db)?;
        Ok(StateStore { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the listing fingerprint of an artifact seen by a scan. A new artifact starts
    /// [`Status::Settling`]. A changed fingerprint restarts its settle period and sends it back
    /// to Settling (an import in flight goes on first, see the module doc), setting `changed`
    /// when a version of it had been processed.
    pub fn observe(
        &mut self,
        name: &str,
        prefix: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<Observation, StateError> {
        let db = sqlite(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let (change, mut artifact) = match load(&tx, name).map_err(&db)? {
            None => {
                let artifact = ArtifactState {
                    name: name.to_string(),
                    prefix: prefix.to_string(),
                    fingerprint: fingerprint.to_string(),
                    unchanged_since: now,
                    processed_fingerprint: None,
                    status: Status::Settling,
                    resume: None,
                    changed: false,
                    manifest_digest: None,
                    report_path: None,
                    client_token: None,
                    job_arn: None,
                    job_status: None,
                    last_error: None,
                    attempts: 0,
                    next_attempt_at: None,
                    first_seen: now,
                    updated_at: now,
                    passed_at: None,
                };
                (Change::New, artifact)
            }
            Some(artifact)
                if artifact.fingerprint == fingerprint
                    && artifact.prefix == prefix
                    && artifact.status != Status::Deleted =>
            {
                return Ok(Observation {
                    change: Change::Unchanged,
                    artifact,
                });
            }
            Some(mut artifact) => {
                let after_processing = artifact
                    .processed_fingerprint
                    .as_deref()
                    .is_some_and(|p| p != fingerprint);
                artifact.prefix = prefix.to_string();
                artifact.fingerprint = fingerprint.to_string();
                artifact.unchanged_since = now;
                artifact.changed |= after_processing;
                if !artifact.import_in_flight() {
                    artifact.status = Status::Settling;
                    artifact.clear_fault();
                }
                (Change::Changed { after_processing }, artifact)
            }
        };
        artifact.updated_at = now;
        save(&tx, &artifact).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(Observation { change, artifact })
    }

    /// One artifact.
    pub fn get(&self, name: &str) -> Result<Option<ArtifactState>, StateError> {
        load(&self.conn, name).map_err(sqlite(&self.path))
    }

    /// The artifacts with `status`, or all of them, by name.
    pub fn list(&self, status: Option<Status>) -> Result<Vec<ArtifactState>, StateError> {
        let db = sqlite(&self.path);
        let mut statement = self
            .conn
            .prepare("SELECT * FROM artifact WHERE ?1 IS NULL OR status = ?1 ORDER BY name")
            .map_err(&db)?;
        let rows = statement.query_map([status], read).map_err(&db)?;
        rows.collect::<Result<_, _>>().map_err(&db)
    }

    /// The import FIFO: the artifacts in Passed, first passed first (by name on a tie).
    pub fn queued(&self) -> Result<Vec<ArtifactState>, StateError> {
        let db = sqlite(&self.path);
        let mut statement = self
            .conn
            .prepare("SELECT * FROM artifact WHERE status = 'passed' ORDER BY passed_at, name")
            .map_err(&db)?;
        let rows = statement.query_map([], read).map_err(&db)?;
        rows.collect::<Result<_, _>>().map_err(&db)
    }

    /// How many artifacts have each status, every status included.
    pub fn counts(&self) -> Result<BTreeMap<Status, u64>, StateError> {
        let db = sqlite(&self.path);
        let mut counts: BTreeMap<Status, u64> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        let mut statement = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM artifact GROUP BY status")
            .map_err(&db)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, Status>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(&db)?;
        for row in rows {
            let (status, count) = row.map_err(&db)?;
            counts.insert(status, u64::try_from(count).unwrap_or(0));
        }
        Ok(counts)
    }

    /// Settling -> Ready: its marker exists or its listing has settled.
    pub fn mark_ready(&mut self, name: &str, now: SystemTime) -> Result<ArtifactState, StateError> {
        self.transition(name, "be marked ready", &[Status::Settling], now, |a| {
            a.status = Status::Ready;
        })
    }

    /// Ready -> Checking, from its current fingerprint; the results of any earlier version are
    /// cleared.
    pub fn start_check(
        &mut self,
        name: &str,
        now: SystemTime,
    ) -> Result<ArtifactState, StateError> {
        self.transition(name, "start a check", &[Status::Ready], now, |a| {
            a.status = Status::Checking;
            a.processed_fingerprint = Some(a.fingerprint.clone());
            a.manifest_digest = None;
            a.report_path = None;
            a.client_token = None;
            a.job_arn = None;
            a.job_status = None;
        })
    }

    /// Checking -> Passed | Failed, with the manifest digest and the report.
    pub fn record_check(
        &mut self,
        name: &str,
        outcome: CheckOutcome,
        now: SystemTime,
    ) -> Result<ArtifactState, StateError> {
        self.transition(name, "record a check", &[Status::Checking], now, |a| {
            a.status = if outcome.passed {
                Status::Passed
            } else {
                Status::Failed
            };
            a.manifest_digest = outcome.manifest_digest;
            a.report_path = Some(outcome.report_path);
            a.passed_at = outcome.passed.then_some(now);
            a.clear_fault();
        })
    }

    /// Passed -> Submitting: stores the client token; call this before `CreateModelImportJob`,
    /// so that a daemon killed after the call resubmits with the same token and gets the same
    /// job.
    pub fn start_submit(
        &mut self,
        name: &str,
        client_token: &str,
        now: SystemTime,
    ) -> Result<ArtifactState, StateError> {
        self.transition(name, "start an import", &[Status::Passed], now, |a| {
            a.status = Status::Submitting;
            a.client_token = Some(client_token.to_string());
        })
    }

    /// Submitting -> Passed: the submission was refused because the import slot is busy; the
    /// artifact keeps its place in the FIFO (its `passed_at`), and its token, which depends on
    /// the request only, is made again at the next submission.
    pub fn requeue(&mut self, name: &str, now: SystemTime) -> Result<ArtifactState, StateError> {
        self.transition(name, "be queued again", &[Status::Submitting], now, |a| {
            a.status = Status::Passed;
            a.client_token = None;
        })
    }

    /// Every object of the artifact is gone: -> Deleted, or, with an import in flight, the
    /// deletion is recorded and the import ends in Deleted (see [`StateStore::finish_import`]).
    /// `None` when the deletion was already recorded.
    pub fn mark_deleted(
        &mut self,
        name: &str,
        now: SystemTime,
    ) -> Result<Option<ArtifactState>, StateError> {
        if self
            .get(name)?
            .is_some_and(|a| a.fingerprint == DELETED || a.status == Status::Deleted)
        {
            return Ok(None);
        }
        let every = Status::ALL;
        self.transition(name, "be deleted", &every, now, |a| {
            a.fingerprint = DELETED.to_string();
            a.unchanged_since = now;
            if !a.import_in_flight() {
                a.status = Status::Deleted;
                a.clear_fault();
            }
        })
        .map(Some)
    }

    /// Submitting -> Importing: stores the job ARN.
    pub fn record_job(
        &mut self,
        name: &str,
        job_arn: &str,
        now: SystemTime,
    ) -> Result<ArtifactState, StateError> {
        self.transition(name, "record a job", &[Status::Submitting], now, |a| {
            a.status = Status::Importing;
            a.job_arn = Some(job_arn.to_string());
            a.clear_fault();
        })
    }

    /// Submitting | Importing -> Imported | ImportFailed, or Passed -> ImportFailed (a request
    /// refused before any call), or Settling when its objects changed meanwhile (the job's end
    /// is kept; the new version is processed again), or Deleted when they were all deleted.
    pub fn finish_import(
        &mut self,
        name: &str,
        end: JobEnd,
        now: SystemTime,
    ) -> Result<ArtifactState, StateError> {
        let from = [Status::Passed, Status::Submitting, Status::Importing];
        self.transition(name, "finish an import", &from, now, |a| {
            a.clear_fault();
            let (status, job_status) = match end {
                JobEnd::Completed => (Status::Imported, "Completed"),
                JobEnd::Failed(reason) => {
                    a.last_error = Some(reason);
                    (Status::ImportFailed, "Failed")
                }
            };
            a.job_status = Some(job_status.to_string());
            a.status = if a.fingerprint == DELETED {
                Status::Deleted
            } else if a.processed_fingerprint.as_deref() == Some(a.fingerprint.as_str()) {
                status
            } else {
                Status::Settling
            };
        })
    }

    /// Records a fault: -> Retrying, with one more attempt, due after `backoff`. A check in
    /// progress resumes from Ready; Passed, Submitting and Importing resume as they were.
    pub fn record_fault(
        &mut self,
        name: &str,
        error: &str,
        backoff: &Backoff,
        now: SystemTime,
    ) -> Result<ArtifactState, StateError> {
        let from = [
            Status::Ready,
            Status::Checking,
            Status::Passed,
            Status::Submitting,
            Status::Importing,
        ];
        self.transition(name, "record a fault", &from, now, |a| {
            a.resume = Some(match a.status {
                Status::Checking => Status::Ready,
                status => status,
            });
            a.status = Status::Retrying;
            a.attempts = a.attempts.saturating_add(1);
            let delay = i64::try_from(backoff.delay(a.attempts).as_millis()).unwrap_or(i64::MAX);
            a.next_attempt_at = Some(time(millis(now).saturating_add(delay)));
            a.last_error = Some(error.to_string());
        })
    }

    /// Retrying -> the status it resumes, for every artifact whose next attempt is due; returns
    /// them. The attempt count and last error stay until a step succeeds.
    pub fn wake_due(&mut self, now: SystemTime) -> Result<Vec<ArtifactState>, StateError> {
        self.resume_where(
            "SELECT * FROM artifact WHERE status = 'retrying' AND next_attempt_at <= ?1",
            [millis(now)],
            now,
            |a| {
                a.status = a.resume.take().unwrap_or(Status::Ready);
                a.next_attempt_at = None;
            },
        )
    }

    /// At startup: Checking -> Ready, since a check cut short is redone. Submitting (resubmit
    /// with the stored token) and Importing (follow the stored job) stay as they are. Returns the
    /// artifacts reset.
    pub fn recover(&mut self, now: SystemTime) -> Result<Vec<ArtifactState>, StateError> {
        self.resume_where(
            "SELECT * FROM artifact WHERE status = 'checking'",
            [],
            now,
            |a| a.status = Status::Ready,
        )
    }

    /// Applies `apply` to every artifact that `select` returns, in one transaction.
    fn resume_where(
        &mut self,
        select: &str,
        params: impl rusqlite::Params,
        now: SystemTime,
        apply: impl Fn(&mut ArtifactState),
    ) -> Result<Vec<ArtifactState>, StateError> {
        let db = sqlite(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut artifacts: Vec<ArtifactState> = {
            let mut statement = tx.prepare(select).map_err(&db)?;
            let rows = statement.query_map(params, read).map_err(&db)?;
            rows.collect::<Result<_, _>>().map_err(&db)?
        };
        for artifact in &mut artifacts {
            apply(artifact);
            artifact.updated_at = now;
            save(&tx, artifact).map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(artifacts)
    }

    /// One transition in one transaction: refused unless the artifact's status is in `from`.
    fn transition(
        &mut self,
        name: &str,
        operation: &'static str,
        from: &[Status],
        now: SystemTime,
        apply: impl FnOnce(&mut ArtifactState),
    ) -> Result<ArtifactState, StateError> {
        let db = sqlite(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut artifact =
            load(&tx, name)
                .map_err(&db)?
                .ok_or_else(|| StateError::UnknownArtifact {
                    path: self.path.clone(),
                    name: name.to_string(),
                })?;
        if !from.contains(&artifact.status) {
            return Err(StateError::InvalidTransition {
                path: self.path.clone(),
                name: name.to_string(),
                operation,
                status: artifact.status,
            });
        }
        apply(&mut artifact);
        artifact.updated_at = now;
        save(&tx, &artifact).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(artifact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn passed() -> CheckOutcome {
        CheckOutcome {
            passed: true,
            manifest_digest: Some("sha256:abc".into()),
            report_path: "reports/a.json".into(),
        }
    }

    /// A store with artifact `a` (prefix `m/a/`, fingerprint `f1`) in Passed.
    fn passed_store(dir: &Path) -> StateStore {
        let mut store = StateStore::open(dir).unwrap();
        store.observe("a", "m/a/", "f1", at(0)).unwrap();
        store.mark_ready("a", at(1)).unwrap();
        store.start_check("a", at(2)).unwrap();
        store.record_check("a", passed(), at(3)).unwrap();
        store
    }

    #[test]
    fn open_creates_a_durable_wal_database() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("nested/state");
        let store = StateStore::open(&state_dir).unwrap();
        assert_eq!(store.path(), state_dir.join(DB_FILE));
        assert!(store.path().is_file());
        let pragma = |name: &str| -> String {
            store
                .conn
                .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
        assert_eq!(pragma("synchronous"), "Integer(2)");
        assert_eq!(pragma("user_version"), "Integer(2)");
        drop(store);
        StateStore::open(&state_dir).unwrap();
    }

    #[test]
    fn observe_tells_new_unchanged_and_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        let new = store.observe("a", "m/a/", "f1", at(0)).unwrap();
        assert_eq!(new.change, Change::New);
        assert_eq!(new.artifact.status, Status::Settling);
        assert_eq!(new.artifact.unchanged_since, at(0));

        let same = store.observe("a", "m/a/", "f1", at(10)).unwrap();
        assert_eq!(same.change, Change::Unchanged);
        assert_eq!(same.artifact.unchanged_since, at(0));

        store.mark_ready("a", at(11)).unwrap();
        let changed = store.observe("a", "m/a/", "f2", at(12)).unwrap();
        assert_eq!(
            changed.change,
            Change::Changed {
                after_processing: false
            }
        );
        assert_eq!(changed.artifact.status, Status::Settling);
        assert_eq!(changed.artifact.unchanged_since, at(12));
        assert!(!changed.artifact.changed);
        assert_eq!(store.get("a").unwrap(), Some(changed.artifact));
        assert_eq!(store.get("b").unwrap(), None);
    }

    #[test]
    fn an_import_survives_restarts_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        drop(passed_store(dir.path()));

        let mut store = StateStore::open(dir.path()).unwrap();
        let a = store.start_submit("a", "token-1", at(4)).unwrap();
        assert_eq!(a.status, Status::Submitting);
        drop(store);

        let mut store = StateStore::open(dir.path()).unwrap();
        assert!(store.recover(at(5)).unwrap().is_empty());
        let a = store.get("a").unwrap().unwrap();
        assert_eq!(a.status, Status::Submitting);
        assert_eq!(a.client_token.as_deref(), Some("token-1"));
        store.record_job("a", "arn:job/1", at(6)).unwrap();
        drop(store);

        let mut store = StateStore::open(dir.path()).unwrap();
        store.recover(at(7)).unwrap();
        let a = store.get("a").unwrap().unwrap();
        assert_eq!(a.status, Status::Importing);
        assert_eq!(a.job_arn.as_deref(), Some("arn:job/1"));
        let a = store.finish_import("a", JobEnd::Completed, at(8)).unwrap();
        assert_eq!(a.status, Status::Imported);
        assert_eq!(a.job_status.as_deref(), Some("Completed"));
        assert_eq!(a.manifest_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(a.report_path.as_deref(), Some("reports/a.json"));
        assert_eq!((a.first_seen, a.updated_at), (at(0), at(8)));
        assert!(!a.changed);
    }

    #[test]
    fn a_request_refused_before_any_call_fails_the_import_from_passed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = passed_store(dir.path());
        let a = store
            .finish_import("a", JobEnd::Failed("bad name".into()), at(4))
            .unwrap();
        assert_eq!(a.status, Status::ImportFailed);
        assert_eq!(a.client_token, None);
        assert_eq!(a.last_error.as_deref(), Some("bad name"));
    }

    #[test]
    fn a_check_cut_short_is_redone_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        store.observe("a", "m/a/", "f1", at(0)).unwrap();
        store.observe("b", "m/b/", "f1", at(0)).unwrap();
        store.mark_ready("a", at(1)).unwrap();
        store.start_check("a", at(2)).unwrap();
        drop(store);

        let mut store = StateStore::open(dir.path()).unwrap();
        let reset = store.recover(at(3)).unwrap();
        assert_eq!(reset.len(), 1);
        assert_eq!(reset[0].name, "a");
        assert_eq!(store.get("a").unwrap().unwrap().status, Status::Ready);
        assert_eq!(store.get("b").unwrap().unwrap().status, Status::Settling);
        store.start_check("a", at(4)).unwrap();
    }

    #[test]
    fn a_changed_artifact_after_passed_is_processed_again_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        drop(passed_store(dir.path()));
        let mut store = StateStore::open(dir.path()).unwrap();
        let seen = store.observe("a", "m/a/", "f2", at(10)).unwrap();
        assert_eq!(
            seen.change,
            Change::Changed {
                after_processing: true
            }
        );
        assert_eq!(seen.artifact.status, Status::Settling);
        assert!(seen.artifact.changed);
        drop(store);

        let mut store = StateStore::open(dir.path()).unwrap();
        store.mark_ready("a", at(11)).unwrap();
        let a = store.start_check("a", at(12)).unwrap();
        assert_eq!(a.processed_fingerprint.as_deref(), Some("f2"));
        assert_eq!(a.manifest_digest, None);
        let a = store.record_check("a", passed(), at(13)).unwrap();
        assert_eq!(a.status, Status::Passed);
        assert!(a.changed);
    }

    #[test]
    fn a_change_during_an_import_waits_for_the_job_then_reprocesses() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = passed_store(dir.path());
        store.start_submit("a", "token-1", at(4)).unwrap();
        let seen = store.observe("a", "m/a/", "f2", at(5)).unwrap();
        assert_eq!(seen.artifact.status, Status::Submitting);
        assert!(seen.artifact.changed);
        store.record_job("a", "arn:job/1", at(6)).unwrap();
        let a = store
            .finish_import("a", JobEnd::Failed("bad shard".into()), at(7))
            .unwrap();
        assert_eq!(a.status, Status::Settling);
        assert_eq!(a.job_status.as_deref(), Some("Failed"));
        assert_eq!(a.last_error.as_deref(), Some("bad shard"));
        assert_eq!(a.unchanged_since, at(5));
    }

    #[test]
    fn a_change_during_a_check_sends_it_back_to_settling() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        store.observe("a", "m/a/", "f1", at(0)).unwrap();
        store.mark_ready("a", at(1)).unwrap();
        store.start_check("a", at(2)).unwrap();
        let seen = store.observe("a", "m/a/", "f2", at(3)).unwrap();
        assert_eq!(seen.artifact.status, Status::Settling);
        let late = store.record_check("a", passed(), at(4));
        assert!(matches!(
            late,
            Err(StateError::InvalidTransition {
                status: Status::Settling,
                ..
            })
        ));
    }

    #[test]
    fn invalid_transitions_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        store.observe("a", "m/a/", "f1", at(0)).unwrap();
        let before = store.get("a").unwrap();
        let error = store.start_check("a", at(1)).unwrap_err();
        assert!(matches!(
            error,
            StateError::InvalidTransition {
                status: Status::Settling,
                operation: "start a check",
                ..
            }
        ));
        let message = error.to_string();
        assert!(message.contains(DB_FILE), "{message}");
        assert!(message.contains("\"a\" cannot start a check while settling"));
        assert!(store.record_job("a", "arn", at(1)).is_err());
        assert!(store.start_submit("a", "t", at(1)).is_err());
        assert!(store.finish_import("a", JobEnd::Completed, at(1)).is_err());
        assert!(store
            .record_fault("a", "boom", &Backoff::default(), at(1))
            .is_err());
        assert_eq!(store.get("a").unwrap(), before);
        assert!(matches!(
            store.mark_ready("nope", at(1)),
            Err(StateError::UnknownArtifact { .. })
        ));
    }

    #[test]
    fn faults_back_off_and_resume_where_they_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(25),
        };
        store.observe("a", "m/a/", "f1", at(0)).unwrap();
        store.mark_ready("a", at(0)).unwrap();
        store.start_check("a", at(0)).unwrap();
        let a = store
            .record_fault("a", "throttled", &backoff, at(100))
            .unwrap();
        assert_eq!(
            (a.status, a.resume, a.attempts),
            (Status::Retrying, Some(Status::Ready), 1)
        );
        assert_eq!(a.next_attempt_at, Some(at(110)));
        assert!(store.wake_due(at(109)).unwrap().is_empty());
        drop(store);

        let mut store = StateStore::open(dir.path()).unwrap();
        let woken = store.wake_due(at(110)).unwrap();
        assert_eq!(woken.len(), 1);
        assert_eq!((woken[0].status, woken[0].resume), (Status::Ready, None));
        store.start_check("a", at(111)).unwrap();
        let a = store
            .record_fault("a", "network", &backoff, at(120))
            .unwrap();
        assert_eq!((a.attempts, a.next_attempt_at), (2, Some(at(140))));
        store.wake_due(at(140)).unwrap();
        store.start_check("a", at(141)).unwrap();
        let a = store
            .record_fault("a", "network", &backoff, at(150))
            .unwrap();
        assert_eq!((a.attempts, a.next_attempt_at), (3, Some(at(175))));
        assert_eq!(store.counts().unwrap()[&Status::Retrying], 1);

        store.wake_due(at(175)).unwrap();
        store.start_check("a", at(176)).unwrap();
        let a = store.record_check("a", passed(), at(177)).unwrap();
        assert_eq!(
            (a.attempts, a.last_error, a.next_attempt_at),
            (0, None, None)
        );

        store.start_submit("a", "token-1", at(178)).unwrap();
        let a = store
            .record_fault("a", "throttled", &backoff, at(179))
            .unwrap();
        assert_eq!(a.resume, Some(Status::Submitting));
        let seen = store.observe("a", "m/a/", "f2", at(180)).unwrap();
        assert_eq!(seen.artifact.status, Status::Retrying);
        let woken = store.wake_due(at(200)).unwrap();
        assert_eq!(woken[0].status, Status::Submitting);
        assert_eq!(woken[0].client_token.as_deref(), Some("token-1"));
    }

    #[test]
    fn a_change_while_retrying_a_check_restarts_settling() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        store.observe("a", "m/a/", "f1", at(0)).unwrap();
        store.mark_ready("a", at(0)).unwrap();
        store
            .record_fault("a", "denied", &Backoff::default(), at(1))
            .unwrap();
        let a = store.observe("a", "m/a/", "f2", at(2)).unwrap().artifact;
        assert_eq!(
            (a.status, a.resume, a.attempts),
            (Status::Settling, None, 0)
        );
        assert_eq!(a.last_error, None);
    }

    #[test]
    fn lists_and_counts_by_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = passed_store(dir.path());
        store.observe("c", "m/c/", "f", at(0)).unwrap();
        store.observe("b", "m/b/", "f", at(0)).unwrap();
        let settling: Vec<_> = store
            .list(Some(Status::Settling))
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(settling, ["b", "c"]);
        assert_eq!(store.list(None).unwrap().len(), 3);
        let counts = store.counts().unwrap();
        assert_eq!(counts.len(), Status::ALL.len());
        assert_eq!(counts[&Status::Settling], 2);
        assert_eq!(counts[&Status::Passed], 1);
        assert_eq!(counts[&Status::Imported], 0);
    }

    /// Observes `name`, then takes it through a check to `passed` (or failed) at `t`.
    fn check_at(store: &mut StateStore, name: &str, t: u64, pass: bool) {
        store
            .observe(name, &format!("m/{name}/"), "f1", at(0))
            .unwrap();
        store.mark_ready(name, at(t)).unwrap();
        store.start_check(name, at(t)).unwrap();
        let outcome = CheckOutcome {
            passed: pass,
            ..passed()
        };
        store.record_check(name, outcome, at(t)).unwrap();
    }

    fn names(artifacts: Vec<ArtifactState>) -> Vec<String> {
        artifacts.into_iter().map(|a| a.name).collect()
    }

    #[test]
    fn the_import_queue_is_in_the_order_of_passing_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        check_at(&mut store, "c", 1, true);
        check_at(&mut store, "a", 3, true);
        check_at(&mut store, "x", 2, false);
        check_at(&mut store, "b", 2, true);
        check_at(&mut store, "d", 3, true);
        assert_eq!(names(store.queued().unwrap()), ["c", "b", "a", "d"]);
        assert_eq!(store.get("x").unwrap().unwrap().passed_at, None);
        drop(store);

        let mut store = StateStore::open(dir.path()).unwrap();
        assert_eq!(names(store.queued().unwrap()), ["c", "b", "a", "d"]);
        store.start_submit("c", "token-c", at(4)).unwrap();
        assert_eq!(names(store.queued().unwrap()), ["b", "a", "d"]);
        let c = store.requeue("c", at(5)).unwrap();
        assert_eq!((c.status, c.client_token), (Status::Passed, None));
        assert_eq!(c.passed_at, Some(at(1)));
        store
            .record_fault("b", "throttled", &Backoff::default(), at(6))
            .unwrap();
        assert_eq!(names(store.queued().unwrap()), ["c", "a", "d"]);
        store.wake_due(at(100)).unwrap();
        assert_eq!(names(store.queued().unwrap()), ["c", "b", "a", "d"]);
        assert!(store.requeue("a", at(7)).is_err());
    }

    #[test]
    fn a_version_1_database_gets_passed_at_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        check_at(&mut store, "a", 1, true);
        store.observe("b", "m/b/", "f1", at(2)).unwrap();
        store
            .conn
            .execute_batch("ALTER TABLE artifact DROP COLUMN passed_at; PRAGMA user_version = 1;")
            .unwrap();
        drop(store);
        let store = StateStore::open(dir.path()).unwrap();
        let a = store.get("a").unwrap().unwrap();
        assert_eq!((a.status, a.passed_at), (Status::Passed, Some(at(1))));
        assert_eq!(store.get("b").unwrap().unwrap().passed_at, None);
        assert_eq!(names(store.queued().unwrap()), ["a"]);
    }

    #[test]
    fn a_deleted_artifact_has_its_own_outcome_after_its_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = passed_store(dir.path());
        store.observe("b", "m/b/", "f1", at(0)).unwrap();
        let b = store.mark_deleted("b", at(1)).unwrap().unwrap();
        assert_eq!(b.status, Status::Deleted);
        assert_eq!(store.mark_deleted("b", at(2)).unwrap(), None);

        store.start_submit("a", "token-1", at(4)).unwrap();
        store.record_job("a", "arn:job/1", at(5)).unwrap();
        let a = store.mark_deleted("a", at(6)).unwrap().unwrap();
        assert_eq!(a.status, Status::Importing);
        assert_eq!(store.mark_deleted("a", at(7)).unwrap(), None);
        let a = store.finish_import("a", JobEnd::Completed, at(8)).unwrap();
        assert_eq!(a.status, Status::Deleted);
        assert_eq!(a.job_status.as_deref(), Some("Completed"));
        assert_eq!(a.job_arn.as_deref(), Some("arn:job/1"));

        let back = store.observe("a", "m/a/", "f2", at(9)).unwrap();
        assert_eq!(back.artifact.status, Status::Settling);
        assert!(back.artifact.changed);
        let same = store.observe("b", "m/b/", "f1", at(9)).unwrap();
        assert_eq!(same.artifact.status, Status::Settling);
        assert_eq!(store.counts().unwrap()[&Status::Deleted], 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        drop(conn);
        let error = StateStore::open(dir.path()).unwrap_err();
        assert!(matches!(
            error,
            StateError::NewerSchema {
                found: 7,
                supported: 2,
                ..
            }
        ));
        let message = error.to_string();
        assert!(
            message.contains(DB_FILE) && message.contains("version 7"),
            "{message}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), vec![b'x'; 4096]).unwrap();
        let error = StateStore::open(dir.path()).unwrap_err();
        assert!(matches!(error, StateError::Sqlite { .. }));
        assert!(error.to_string().contains(DB_FILE));
    }

    #[test]
    fn an_unknown_status_is_a_conversion_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        store.observe("a", "m/a/", "f", at(0)).unwrap();
        store
            .conn
            .execute("UPDATE artifact SET status = 'weird'", [])
            .unwrap();
        assert!(matches!(store.get("a"), Err(StateError::Sqlite { .. })));
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(1), Duration::from_secs(5));
        assert_eq!(backoff.delay(3), Duration::from_secs(20));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(900));
    }

    #[test]
    fn times_round_trip_through_milliseconds() {
        for t in [UNIX_EPOCH, at(5), UNIX_EPOCH - Duration::from_millis(1500)] {
            assert_eq!(time(millis(t)), t);
        }
    }
}
