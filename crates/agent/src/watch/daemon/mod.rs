//! The daemon's loop: scan (or take S3 events from SQS), record what changed, and move each
//! artifact through its states, committing every step to the state store before acting on
//! it.
//!
//! One pass:
//! 1. find what changed: a recursive listing of the watched prefix, or in SQS mode a listing
//!    of each artifact named by the received events (and of those still settling), the
//!    whole prefix at start; record each artifact's fingerprint, and hold the messages;
//! 2. mark the settled artifacts ready, and wake those whose retry is due;
//! 3. check each ready artifact (one listing, the check, and for a passing one the manifest of
//!    exactly that listing), write its JSON report, record the outcome;
//! 4. with `--import`, follow the jobs in flight with one GetModelImportJob each, then submit
//!    passed artifacts in the order they passed while the import slot has room (`slot`; the
//!    token is stored first);
//! 5. in SQS mode, delete the messages whose artifacts all reached a durable outcome.
//!
//! A fault (a listing refused, throttling, a network outage, a service error that may pass)
//! is logged and retried with backoff; it never makes an artifact pass. Every transition is
//! logged as an event (target [`EVENTS`]) whose fields make one JSON line with the binary's
//! JSON log format.
//!
//! This module is the loop and the daemon's parts; each step has its own file: `template`
//! (job and model names), `events` ([`WatchEvent`], the log lines), `discover` (scans, S3 events, readiness), `check` (the check and the
//! manifest of a ready version), `signature` (`--require-signature`), `report` (the files of the state directory and
//! [`WatchReport`]), `importing` (submission and following through [`crate::import::run`]),
//! `slot` (the import FIFO and slot), `inflight` (SQS messages held until their artifacts are
//! done, their visibility extended).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;

use super::health::{self, ErrorKind, Metrics};
use super::queue::SqsQueue;
use super::scan::{ReadyPolicy, Watched};
use super::state::{ArtifactState, StateStore, Status};
use crate::aws::{self, AwsOptions};
use crate::backoff::Backoff;
use crate::bedrock;
use crate::check::CheckOptions;
use crate::hash::HashOptions;
use crate::s3::{s3_client, S3Uri};

mod check;
mod deletion;
mod discover;
mod events;
mod importing;
mod inflight;
mod report;
mod signature;
mod slot;
mod template;

pub use discover::Rescan;
pub use events::{WatchEvent, WatchEventLine, EVENTS};
pub use report::WatchReport;
pub use signature::{SignaturePolicy, SignatureTemplate, SIGNATURE_PLACEHOLDERS};
pub use template::{ImportTemplate, Template, PLACEHOLDERS};

/// Everything the daemon needs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The watched bucket and prefix.
    pub uri: S3Uri,
    /// The prefix is one artifact, not a folder of artifacts.
    pub single: bool,
    /// When an artifact is ready.
    pub policy: ReadyPolicy,
    /// Where the database, reports and manifests are kept.
    pub state_dir: PathBuf,
    /// Time between two passes (and the longest SQS wait).
    pub interval: Duration,
    /// One pass, then exit.
    pub once: bool,
    /// Import what passes.
    pub import: Option<ImportTemplate>,
    /// Pass only the versions whose signature verifies (`--require-signature`).
    pub signature: Option<SignaturePolicy>,
    /// Also write each report under this S3 prefix.
    pub report_to: Option<S3Uri>,
    /// Take S3 event notifications from this queue instead of scanning.
    pub sqs_queue_url: Option<String>,
    /// When SQS mode lists the whole prefix too.
    pub rescan: Rescan,
    /// Serve /healthz and /metrics here (loopback only).
    pub health_addr: Option<SocketAddr>,
    /// Connection settings; with a role, the artifacts are read (listed for their check, and
    /// read) under it, while scans, the queue, reports and Bedrock use the daemon's own
    /// credentials.
    pub aws: AwsOptions,
    /// Endpoint of Bedrock alone.
    pub bedrock_endpoint_url: Option<String>,
    /// How artifacts are checked.
    pub check: CheckOptions,
    /// How artifacts are hashed.
    pub hash: HashOptions,
    /// Backoff after faults.
    pub backoff: Backoff,
    /// Import jobs the daemon runs at a time (`--max-in-flight`, at least 1).
    pub max_in_flight: usize,
}

/// Why the daemon could not run (faults while running are retried, not returned).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A name template with an unknown or unclosed placeholder.
    #[error("the name template {0:?} may use only {{name}}, {{digest}} and {{date}}")]
    Template(String),
    /// A signature template with an unknown or unclosed placeholder.
    #[error("the signature template {0:?} may use only {{name}} and {{prefix}}")]
    SignatureTemplate(String),
    /// A signature template that points inside the watched prefix.
    #[error("the signature template {0:?} points inside the watched prefix: keep signatures where the artifacts' writers cannot write and Bedrock does not import")]
    SignatureInside(String),
    /// The watched prefix or the marker is unusable.
    #[error(transparent)]
    Scan(#[from] super::scan::ScanError),
    /// The state database failed.
    #[error(transparent)]
    State(#[from] super::state::StateError),
    /// The AWS configuration could not be loaded.
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
    /// The health endpoint could not be served.
    #[error(transparent)]
    Health(#[from] health::HealthError),
}

/// What a run did, for the exit status of `--once`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Passes completed.
    pub passes: u64,
    /// Artifact versions whose check passed.
    pub passed: u64,
    /// Artifact versions whose check failed.
    pub failed: u64,
    /// Import jobs that completed.
    pub imported: u64,
    /// Imports that failed (refused or Failed).
    pub import_failed: u64,
    /// Faults (retried).
    pub faults: u64,
    /// Scans (or SQS receives) that failed.
    pub scan_failures: u64,
    /// The run stopped on a signal.
    pub interrupted: bool,
}

/// A failure of one step that will be retried.
struct Fault {
    kind: ErrorKind,
    message: String,
}

fn state_fault(error: super::state::StateError) -> Fault {
    fault(ErrorKind::State, error.to_string())
}

fn fault(kind: ErrorKind, message: impl Into<String>) -> Fault {
    Fault {
        kind,
        message: message.into(),
    }
}

struct Daemon {
    options: WatchOptions,
    watched: Watched,
    store: Mutex<StateStore>,
    /// The identity that reads the artifacts: the daemon's own, or the execution role.
    reader_config: SdkConfig,
    /// The daemon's own client: the scans, the reports.
    s3: aws_sdk_s3::Client,
    bedrock: Option<aws_sdk_bedrock::Client>,
    queue: Option<SqsQueue>,
    /// The messages held in flight (SQS mode).
    inbox: inflight::Inbox,
    metrics: Arc<Metrics>,
    slot: slot::Slot,
    region: Option<String>,
    summary: Mutex<RunSummary>,
}

/// Runs the daemon until `shutdown` resolves (or after one pass with `once`). On shutdown,
/// work in flight is dropped and checkpointed: a check starts again on the next run, a
/// submission is repeated with its stored token, a job is followed again.
pub async fn run(
    options: WatchOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunSummary, WatchError> {
    let watched = Watched::new(&options.uri.prefix, options.single, options.policy.clone())?;
    let mut store = StateStore::open(&options.state_dir)?;
    let now = SystemTime::now();
    for artifact in store.recover(now)? {
        WatchEvent::Resumed {
            artifact: artifact.name,
            status: artifact.status.to_string(),
        }
        .emit();
    }
    let own = AwsOptions {
        role_arn: None,
        external_id: None,
        role_session_name: None,
        ..options.aws.clone()
    };
    let config = aws::load(&own).await?;
    let reader_config = match &options.aws.role_arn {
        Some(_) => aws::load(&options.aws).await?,
        None => config.clone(),
    };
    let bedrock = match &options.import {
        Some(_) => Some(bedrock::client_for(
            &config,
            options.bedrock_endpoint_url.as_deref(),
        )),
        None => None,
    };
    let queue = options
        .sqs_queue_url
        .as_ref()
        .map(|url| SqsQueue::new(&config, url.clone()));
    let metrics = Arc::new(Metrics::new(
        options
            .interval
            .saturating_mul(3)
            .max(Duration::from_secs(60)),
    ));
    publish_metrics(&metrics, &store, |own| own >= options.max_in_flight.max(1));
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let health = match options.health_addr {
        Some(addr) => {
            let server = health::serve(addr, Arc::clone(&metrics), async {
                let _ = health_stopped.await;
            })
            .await?;
            WatchEvent::HealthServing {
                addr: server.local_addr().to_string(),
            }
            .emit();
            Some(server)
        }
        None => None,
    };
    let daemon = Daemon {
        region: config.region().map(|r| r.to_string()),
        s3: s3_client(&config),
        reader_config,
        watched,
        store: Mutex::new(store),
        bedrock,
        queue,
        inbox: inflight::Inbox::default(),
        metrics,
        slot: slot::Slot::new(options.max_in_flight),
        options,
        summary: Mutex::new(RunSummary::default()),
    };
    let keeper = daemon
        .queue
        .as_ref()
        .map(|q| inflight::keep_invisible(q.clone(), &daemon.inbox, Arc::clone(&daemon.metrics)));
    let shutdown = shutdown;
    tokio::pin!(shutdown);
    let mut failed_scans = 0u32;
    let interrupted = loop {
        let scanned = tokio::select! {
            scanned = daemon.pass() => scanned,
            () = &mut shutdown => break true,
        };
        daemon.lock_summary().passes += 1;
        if daemon.options.once {
            break false;
        }
        failed_scans = if scanned { 0 } else { failed_scans + 1 };
        let following = daemon.following();
        let idle = idle_time(
            &daemon.options,
            daemon.queue.is_some(),
            failed_scans,
            following,
        );
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            () = &mut shutdown => break true,
        }
    };
    if let Some(keeper) = keeper {
        keeper.abort();
        daemon.let_go().await;
    }
    let now = SystemTime::now();
    let requeued = daemon.store().recover(now)?;
    for artifact in requeued {
        WatchEvent::Checkpointed {
            artifact: artifact.name,
            status: artifact.status.to_string(),
        }
        .emit();
    }
    let _ = stop_health.send(());
    if let Some(server) = health {
        server.stopped().await?;
    }
    let mut summary = daemon.lock_summary().clone();
    summary.interrupted = interrupted;
    WatchEvent::Stopped {
        interrupted,
        passes: summary.passes,
    }
    .emit();
    Ok(summary)
}

/// How long to wait before the next pass: nothing in SQS mode (the receive itself waits),
/// the interval when scanning, and after `failed_scans` failures in a row the longer of the
/// interval and the backoff, so that an outage is not hammered; but never longer than the
/// interval while import jobs are `following`.
fn idle_time(options: &WatchOptions, queue: bool, failed_scans: u32, following: bool) -> Duration {
    match (queue, failed_scans) {
        (true, 0) => Duration::ZERO,
        (false, 0) => options.interval,
        (_, _) if following => options.interval,
        (_, n) => options.interval.max(options.backoff.delay(n)),
    }
}

/// Publishes the gauges from the state (at start, and after each pass); `busy` tells whether
/// the import slot is busy with that many of the daemon's own imports in flight.
fn publish_metrics(metrics: &Metrics, store: &StateStore, busy: impl Fn(usize) -> bool) {
    let Ok(counts) = store.counts() else {
        return;
    };
    metrics.set_artifacts(
        counts
            .iter()
            .map(|(status, n)| (status.as_str().to_string(), *n))
            .collect(),
    );
    if let Ok(all) = store.list(None) {
        metrics.set_jobs(latest_jobs(&all));
        let own = all.iter().filter(|a| a.import_in_flight()).count();
        let queued = counts.get(&Status::Passed).copied().unwrap_or(0);
        metrics.set_slot(busy(own), queued);
    }
}

/// Each artifact's latest import job, counted by its status (`InProgress` while it is
/// followed, retrying included, then the status it ended in); every status is present.
fn latest_jobs(artifacts: &[ArtifactState]) -> BTreeMap<String, u64> {
    let mut jobs: BTreeMap<String, u64> = ["InProgress", "Completed", "Failed"]
        .into_iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    for artifact in artifacts {
        let status = match (&artifact.job_arn, artifact.job_status.as_deref()) {
            (Some(_), None) => Some("InProgress"),
            (Some(_), Some(ended)) => Some(ended),
            (None, _) => None,
        };
        if let Some(status) = status {
            *jobs.entry(status.to_string()).or_default() += 1;
        }
    }
    jobs
}

impl Daemon {
    fn store(&self) -> std::sync::MutexGuard<'_, StateStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_summary(&self) -> std::sync::MutexGuard<'_, RunSummary> {
        self.summary.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One pass; faults are recorded, never returned. Whether the scan (or receive) worked.
    async fn pass(&self) -> bool {
        let scanned = match &self.queue {
            Some(_) if self.full_scan_due(std::time::Instant::now()) => self.full_scan().await,
            Some(queue) => self.receive(queue).await,
            None => self.scan().await,
        };
        self.metrics.record_scan(SystemTime::now(), scanned.is_ok());
        let worked = scanned.is_ok();
        if let Err(f) = scanned {
            self.count_fault(&f);
            self.lock_summary().scan_failures += 1;
            WatchEvent::ScanFailed { error: f.message }.emit();
        }
        if let Err(f) = self.advance().await {
            self.count_fault(&f);
            WatchEvent::StateFailed { error: f.message }.emit();
        }
        if let Err(f) = self.release().await {
            self.count_fault(&f);
            WatchEvent::ScanFailed { error: f.message }.emit();
        }
        self.publish_metrics();
        worked
    }

    fn count_fault(&self, f: &Fault) {
        self.metrics.record_error(f.kind);
        self.lock_summary().faults += 1;
    }

    fn publish_metrics(&self) {
        publish_metrics(&self.metrics, &self.store(), |own| self.slot_busy(own));
    }

    /// Whether an import job is in flight (followed, or being submitted).
    fn following(&self) -> bool {
        self.store()
            .list(None)
            .is_ok_and(|all| all.iter().any(ArtifactState::import_in_flight))
    }

    /// Moves every artifact that can move one step: retries that are due, checks, imports,
    /// jobs.
    async fn advance(&self) -> Result<(), Fault> {
        let woken = self.store().wake_due(SystemTime::now());
        for artifact in woken.map_err(state_fault)? {
            WatchEvent::Retrying {
                artifact: artifact.name,
                status: artifact.status.to_string(),
                attempts: u64::from(artifact.attempts),
            }
            .emit();
        }
        for artifact in self.listed(Status::Ready)? {
            let outcome = self.process(&artifact).await;
            self.settle_step(&artifact, outcome)?;
        }
        if self.bedrock.is_none() {
            return Ok(());
        }
        self.imports().await
    }

    /// The artifacts in `status` (the store's lock is released before the caller acts).
    fn listed(&self, status: Status) -> Result<Vec<ArtifactState>, Fault> {
        let listed = self.store().list(Some(status));
        listed.map_err(state_fault)
    }

    /// Records the fault of a step, if any, with its backoff.
    fn settle_step(
        &self,
        artifact: &ArtifactState,
        outcome: Result<(), Fault>,
    ) -> Result<(), Fault> {
        let Err(f) = outcome else {
            return Ok(());
        };
        self.count_fault(&f);
        let now = SystemTime::now();
        let recorded = self
            .store()
            .record_fault(&artifact.name, &f.message, &self.options.backoff, now)
            .map_err(|e| fault(ErrorKind::State, e.to_string()))?;
        let retry_in = recorded
            .next_attempt_at
            .and_then(|t| t.duration_since(now).ok())
            .unwrap_or_default();
        WatchEvent::Fault {
            artifact: artifact.name.clone(),
            stage: f.kind.as_str().to_string(),
            error: f.message,
            attempts: u64::from(recorded.attempts),
            retry_in_seconds: retry_in.as_secs(),
        }
        .emit();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jobs_gauge_counts_the_latest_job_of_each_artifact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = StateStore::open(dir.path()).expect("store");
        let now = SystemTime::now();
        let passed = |name: &str, store: &mut StateStore| {
            store.observe(name, name, "f1", now).expect("observe");
            store.mark_ready(name, now).expect("ready");
            store.start_check(name, now).expect("check");
            let outcome = crate::watch::state::CheckOutcome {
                passed: true,
                manifest_digest: Some("sha256:0".into()),
                report_path: "r.json".into(),
            };
            store.record_check(name, outcome, now).expect("passed");
            store.start_submit(name, "t", now).expect("submit");
            store
                .record_job(name, &format!("arn:{name}"), now)
                .expect("job");
        };
        for name in ["a", "b", "c"] {
            passed(name, &mut store);
        }
        store
            .finish_import("a", crate::watch::state::JobEnd::Completed, now)
            .expect("ended");
        store
            .record_fault("b", "throttled", &Backoff::default(), now)
            .expect("fault");
        store.observe("a", "a", "f2", now).expect("changed");
        let all = store.list(None).expect("all");
        let jobs = latest_jobs(&all);
        assert_eq!(jobs["InProgress"], 2, "{jobs:?}");
        assert_eq!(jobs["Completed"], 1);
        assert_eq!(jobs["Failed"], 0);
        store.mark_ready("a", now).expect("ready");
        store.start_check("a", now).expect("check again");
        let jobs = latest_jobs(&store.list(None).expect("all"));
        assert_eq!((jobs["InProgress"], jobs["Completed"]), (2, 0));
    }

    #[test]
    fn failed_scans_back_off_beyond_the_interval() {
        let options = WatchOptions {
            uri: "s3://b/p/".parse().expect("uri"),
            single: false,
            policy: ReadyPolicy::Settle(Duration::ZERO),
            state_dir: PathBuf::from("state"),
            interval: Duration::from_secs(30),
            once: false,
            import: None,
            signature: None,
            report_to: None,
            sqs_queue_url: None,
            rescan: Rescan::default(),
            health_addr: None,
            aws: AwsOptions::default(),
            bedrock_endpoint_url: None,
            check: CheckOptions::default(),
            hash: HashOptions::default(),
            backoff: Backoff::default(),
            max_in_flight: 1,
        };
        assert_eq!(
            idle_time(&options, false, 0, false),
            Duration::from_secs(30)
        );
        assert_eq!(idle_time(&options, true, 0, false), Duration::ZERO);
        assert_eq!(idle_time(&options, true, 1, false), Duration::from_secs(30));
        assert_eq!(
            idle_time(&options, false, 4, false),
            Duration::from_secs(40)
        );
        assert_eq!(
            idle_time(&options, false, 30, false),
            Duration::from_secs(15 * 60)
        );
        assert_eq!(
            idle_time(&options, false, 30, true),
            Duration::from_secs(30)
        );
    }
}
