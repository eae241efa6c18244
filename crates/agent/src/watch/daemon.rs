//! The daemon's loop: scan (or take S3 events from SQS), record what changed, and move each
//! artifact through its states, committing every step to the state store before acting on
//! it.
//!
//! One pass:
//! 1. find what changed: a recursive listing of the watched prefix, or in SQS mode a listing
//!    of each artifact named by the received events (and of those still settling); record
//!    each artifact's fingerprint, then delete the messages;
//! 2. mark the settled artifacts ready, and wake those whose retry is due;
//! 3. check each ready artifact (one listing, the check, and for a passing one the manifest of
//!    exactly that listing), write its JSON report, record the outcome;
//! 4. with `--import`, submit each passed artifact (token stored first), and follow the jobs
//!    in flight with one GetModelImportJob each.
//!
//! A fault (a listing refused, throttling, a network outage, a service error that may pass)
//! is logged and retried with backoff; it never makes an artifact pass. Every transition is
//! logged as an event (target [`EVENTS`]) whose fields make one JSON line with the binary's
//! JSON log format.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use cmi_format::{Report, RuleId};
use tracing::{info, warn};

use super::health::{self, ErrorKind, Metrics};
use super::queue::SqsQueue;
use super::scan::{Artifact, ListedObject, Readiness, ReadyPolicy, Watched};
use super::state::{ArtifactState, Backoff, Change, CheckOutcome, JobEnd, StateStore, Status};
use crate::aws::{self, AwsOptions};
use crate::check::{check_listed, CheckOptions};
use crate::hash::{HashOptions, NoProgress};
use crate::import::{self, ImportError, ImportRequest};
use crate::jobs;
use crate::manifest::{self, Manifest, ManifestOptions};
use crate::s3::{describe_sdk_error, listed_meta, s3_client, S3Source, S3Uri};
use crate::source::{Listing, ObjectMeta, Source, SourceError};

/// The tracing target of the daemon's events: one per transition, with an `event` field.
pub const EVENTS: &str = "cmi_preflight::watch";

/// Schema of the JSON report of one artifact version.
pub const REPORT_SCHEMA: &str = "cmi-preflight.watch-report.v1";

/// How artifacts are imported.
#[derive(Debug, Clone)]
pub struct ImportTemplate {
    /// The execution role.
    pub role_arn: String,
    /// The job name, with placeholders (see [`Template`]).
    pub job_name: Template,
    /// The imported model's name, with placeholders.
    pub model_name: Template,
    /// The hosting account's key for the imported model.
    pub kms_key_id: Option<String>,
    /// Tags of each job.
    pub job_tags: Vec<(String, String)>,
    /// Tags of each imported model.
    pub model_tags: Vec<(String, String)>,
}

/// A name with placeholders: `{name}` (the artifact's name), `{digest}` (the first 12 hex
/// digits of its manifest's artifact digest) and `{date}` (the UTC date, `YYYYMMDD`, of its
/// newest object). All three depend on the artifact alone, so two daemons name its job alike
/// and their requests share one idempotency token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

/// The placeholders a [`Template`] may use.
pub const PLACEHOLDERS: [&str; 3] = ["{name}", "{digest}", "{date}"];

impl Template {
    /// Validates the placeholders of `text`.
    pub fn parse(text: &str) -> Result<Template, WatchError> {
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .map(|e| start + e + 1)
                .ok_or_else(|| WatchError::Template(text.to_string()))?;
            if !PLACEHOLDERS.contains(&&rest[start..end]) {
                return Err(WatchError::Template(text.to_string()));
            }
            rest = &rest[end..];
        }
        if rest.contains('}') {
            return Err(WatchError::Template(text.to_string()));
        }
        Ok(Template(text.to_string()))
    }

    /// The name for one artifact.
    pub fn render(&self, name: &str, digest: &str, date: &str) -> String {
        let short = digest.trim_start_matches("sha256:");
        self.0
            .replace("{name}", name)
            .replace("{digest}", &short[..short.len().min(12)])
            .replace("{date}", date)
    }
}

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
    /// Also write each report under this S3 prefix.
    pub report_to: Option<S3Uri>,
    /// Take S3 event notifications from this queue instead of scanning.
    pub sqs_queue_url: Option<String>,
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
}

/// Why the daemon could not run (faults while running are retried, not returned).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A name template with an unknown or unclosed placeholder.
    #[error("the name template {0:?} may use only {{name}}, {{digest}} and {{date}}")]
    Template(String),
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
    metrics: Arc<Metrics>,
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
    if let Some(template) = &options.import {
        for text in [&template.job_name, &template.model_name] {
            Template::parse(&text.0)?;
        }
    }
    let watched = Watched::new(&options.uri.prefix, options.single, options.policy.clone())?;
    let mut store = StateStore::open(&options.state_dir)?;
    let now = SystemTime::now();
    for artifact in store.recover(now)? {
        info!(target: EVENTS, event = "resumed", artifact = %artifact.name, status = %artifact.status);
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
        Some(_) => Some(jobs::client_for(
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
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let health = match options.health_addr {
        Some(addr) => {
            let server = health::serve(addr, Arc::clone(&metrics), async {
                let _ = health_stopped.await;
            })
            .await?;
            info!(target: EVENTS, event = "health_serving", addr = %server.local_addr());
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
        metrics,
        options,
        summary: Mutex::new(RunSummary::default()),
    };
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
        let idle = idle_time(&daemon.options, daemon.queue.is_some(), failed_scans);
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            () = &mut shutdown => break true,
        }
    };
    let now = SystemTime::now();
    let requeued = daemon.store().recover(now)?;
    for artifact in requeued {
        info!(target: EVENTS, event = "checkpointed", artifact = %artifact.name, status = %artifact.status);
    }
    let _ = stop_health.send(());
    if let Some(server) = health {
        server.stopped().await?;
    }
    let mut summary = daemon.lock_summary().clone();
    summary.interrupted = interrupted;
    info!(target: EVENTS, event = "stopped", interrupted, passes = summary.passes);
    Ok(summary)
}

/// How long to wait before the next pass: nothing in SQS mode (the receive itself waits),
/// the interval when scanning, and after `failed_scans` failures in a row the longer of the
/// interval and the backoff, so that an outage is not hammered.
fn idle_time(options: &WatchOptions, queue: bool, failed_scans: u32) -> Duration {
    match (queue, failed_scans) {
        (true, 0) => Duration::ZERO,
        (false, 0) => options.interval,
        (_, n) => options.interval.max(options.backoff.delay(n)),
    }
}

/// A file name for an artifact's report: its name with anything but `[A-Za-z0-9._-]` made
/// `_`, and the first 16 hex digits of its fingerprint, so that no name escapes the folder.
fn file_stem(name: &str, fingerprint: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    format!("{safe}-{}", &fingerprint[..fingerprint.len().min(16)])
}

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

/// Findings that say the artifact could not be read (access, KMS, a transport failure after
/// the SDK's retries) rather than that it is wrong: the daemon retries them instead of failing
/// the artifact.
const UNREADABLE: [RuleId; 4] = [
    RuleId::ListAccessDenied,
    RuleId::GetAccessDenied,
    RuleId::KmsAccessDenied,
    RuleId::UnreadableFile,
];

/// Service errors of CreateModelImportJob that no retry will change.
const PERMANENT_IMPORT_ERRORS: [&str; 3] = [
    "ValidationException",
    "ConflictException",
    "TooManyTagsException",
];

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
            Some(queue) => self.receive(queue).await,
            None => self.scan().await,
        };
        self.metrics.record_scan(SystemTime::now(), scanned.is_ok());
        let worked = scanned.is_ok();
        if let Err(f) = scanned {
            self.count_fault(&f);
            self.lock_summary().scan_failures += 1;
            warn!(target: EVENTS, event = "scan_failed", error = %f.message);
        }
        if let Err(f) = self.advance().await {
            self.count_fault(&f);
            warn!(target: EVENTS, event = "state_failed", error = %f.message);
        }
        self.publish_metrics();
        worked
    }

    fn count_fault(&self, f: &Fault) {
        self.metrics.record_error(f.kind);
        self.lock_summary().faults += 1;
    }

    fn publish_metrics(&self) {
        let Ok(counts) = self.store().counts() else {
            return;
        };
        self.metrics.set_artifacts(
            counts
                .iter()
                .map(|(status, n)| (status.as_str().to_string(), *n))
                .collect(),
        );
        let all = self.store().list(None);
        let mut jobs: BTreeMap<String, u64> = ["InProgress", "Completed", "Failed"]
            .into_iter()
            .map(|s| (s.to_string(), 0))
            .collect();
        if let Ok(all) = all {
            for artifact in all {
                let status = match (artifact.status, artifact.job_status.as_deref()) {
                    (Status::Importing, _) => Some("InProgress"),
                    (_, Some(s)) if artifact.job_arn.is_some() => Some(s),
                    _ => None,
                };
                if let Some(status) = status {
                    *jobs.entry(status.to_string()).or_default() += 1;
                }
            }
        }
        self.metrics.set_jobs(jobs);
    }

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
    async fn scan(&self) -> Result<(), Fault> {
        let objects = self.list_objects(self.watched.prefix()).await?;
        let grouping = self.watched.group(objects);
        for ignored in &grouping.ignored {
            tracing::debug!(key = %ignored.key, reason = ?ignored.reason, "not part of an artifact");
        }
        info!(target: EVENTS, event = "scanned", artifacts = grouping.artifacts.len(), ignored = grouping.ignored.len());
        for artifact in &grouping.artifacts {
            self.observe(artifact)?;
        }
        Ok(())
    }

    /// Receives S3 events, lists the artifacts they name and those still settling, records
    /// them, and only then deletes the messages.
    async fn receive(&self, queue: &SqsQueue) -> Result<(), Fault> {
        let wait = self.options.interval.min(Duration::from_secs(20));
        let messages = queue
            .receive(wait, 10)
            .await
            .map_err(|e| fault(ErrorKind::Queue, e.to_string()))?;
        let mut prefixes: BTreeSet<String> = BTreeSet::new();
        for message in &messages {
            if let Err(error) = &message.content {
                warn!(target: EVENTS, event = "message_dropped", message_id = %message.message_id, error = %error.reason);
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
            info!(target: EVENTS, event = "received", messages = messages.len(), artifacts = prefixes.len());
        }
        for prefix in &prefixes {
            let objects = self.list_objects(prefix).await?;
            for artifact in self.watched.group(objects).artifacts {
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
                info!(target: EVENTS, event = "seen", artifact = %artifact.name, prefix = %artifact.prefix, objects = artifact.objects.len());
            }
            Change::Changed { after_processing } => {
                info!(target: EVENTS, event = "changed", artifact = %artifact.name, after_processing);
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
            info!(target: EVENTS, event = "ready", artifact = %artifact.name, fingerprint = %artifact.fingerprint());
        }
        Ok(())
    }

    /// Moves every artifact that can move one step: retries that are due, checks, imports,
    /// jobs.
    async fn advance(&self) -> Result<(), Fault> {
        let woken = self.store().wake_due(SystemTime::now());
        for artifact in woken.map_err(state_fault)? {
            info!(target: EVENTS, event = "retrying", artifact = %artifact.name, status = %artifact.status, attempts = artifact.attempts);
        }
        for artifact in self.listed(Status::Ready)? {
            let outcome = self.process(&artifact).await;
            self.settle_step(&artifact, outcome)?;
        }
        if self.bedrock.is_none() {
            return Ok(());
        }
        for status in [Status::Passed, Status::Submitting] {
            for artifact in self.listed(status)? {
                let outcome = self.submit(&artifact).await;
                self.settle_step(&artifact, outcome)?;
            }
        }
        for artifact in self.listed(Status::Importing)? {
            let outcome = self.follow(&artifact).await;
            self.settle_step(&artifact, outcome)?;
        }
        Ok(())
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
        warn!(target: EVENTS, event = "fault", artifact = %artifact.name, stage = f.kind.as_str(), error = %f.message, attempts = recorded.attempts, retry_in_seconds = retry_in.as_secs());
        Ok(())
    }

    /// The source of one artifact.
    fn source(&self, prefix: &str) -> S3Source {
        let uri = S3Uri {
            bucket: self.options.uri.bucket.clone(),
            prefix: prefix.to_string(),
        };
        let reader = self
            .options
            .aws
            .role_arn
            .clone()
            .unwrap_or_else(|| "the current credentials".to_string());
        S3Source::new(&self.reader_config, uri, reader).with_bedrock_region(self.region.clone())
    }

    /// The fingerprint of a check's listing, as a scan computes it.
    fn fingerprint_of(&self, artifact: &ArtifactState, listing: &Listing) -> String {
        let marker = self.watched.policy().marker();
        Artifact {
            name: artifact.name.clone(),
            prefix: artifact.prefix.clone(),
            objects: listing
                .entries
                .iter()
                .filter(|e| Some(e.path.as_str()) != marker)
                .map(|e| ListedObject {
                    key: format!("{}{}", artifact.prefix, e.path),
                    size: e.size,
                    meta: listing.meta.get(&e.path).cloned().unwrap_or_default(),
                })
                .collect(),
            marker: None,
        }
        .fingerprint()
    }

    /// Checks a ready artifact, makes the manifest of a passing one, writes the report.
    async fn process(&self, artifact: &ArtifactState) -> Result<(), Fault> {
        let now = SystemTime::now();
        self.store()
            .start_check(&artifact.name, now)
            .map_err(state_fault)?;
        let source = self.source(&artifact.prefix);
        let listing = match source.list().await {
            Ok(listing) => listing,
            Err(SourceError::Blocked(finding)) => {
                return Err(fault(ErrorKind::List, finding.message));
            }
            Err(e) => return Err(fault(ErrorKind::List, e.to_string())),
        };
        let fingerprint = self.fingerprint_of(artifact, &listing);
        if fingerprint != artifact.fingerprint {
            self.store()
                .observe(
                    &artifact.name,
                    &artifact.prefix,
                    &fingerprint,
                    SystemTime::now(),
                )
                .map_err(state_fault)?;
            info!(target: EVENTS, event = "changed", artifact = %artifact.name, during = "check");
            return Ok(());
        }
        let check = CheckOptions {
            bedrock_region: self
                .options
                .check
                .bedrock_region
                .clone()
                .or_else(|| self.region.clone()),
            ..self.options.check.clone()
        };
        let report = check_listed(&source, listing.clone(), check.clone()).await;
        if let Some(unreadable) = report
            .findings
            .iter()
            .find(|f| UNREADABLE.contains(&f.rule))
        {
            return Err(fault(
                ErrorKind::Check,
                format!(
                    "[{}] {}: {}",
                    unreadable.code(),
                    unreadable.file,
                    unreadable.message
                ),
            ));
        }
        let passed = report.passed(false);
        let manifest = if passed {
            let options = ManifestOptions {
                hash: self.options.hash.clone(),
                check,
            };
            let made = manifest::create_listed(
                &source,
                listing,
                report.summary.clone(),
                &options,
                None,
                Arc::new(NoProgress),
            )
            .await
            .map_err(|e| fault(ErrorKind::Manifest, e.to_string()))?;
            Some(made)
        } else {
            None
        };
        let report_path = self
            .write_report(artifact, &report, manifest.as_ref())
            .await?;
        let outcome = CheckOutcome {
            passed,
            manifest_digest: manifest.as_ref().map(|m| m.artifact_digest.clone()),
            report_path: report_path.display().to_string(),
        };
        self.store()
            .record_check(&artifact.name, outcome, SystemTime::now())
            .map_err(state_fault)?;
        let errors = report.count(cmi_format::Severity::Error);
        let warnings = report.count(cmi_format::Severity::Warning);
        if passed {
            self.lock_summary().passed += 1;
            info!(target: EVENTS, event = "passed", artifact = %artifact.name, warnings, changed = artifact.changed, manifest_digest = %manifest.as_ref().map(|m| m.artifact_digest.as_str()).unwrap_or(""), report = %report_path.display());
        } else {
            self.lock_summary().failed += 1;
            let codes: Vec<&str> = report.findings.iter().map(|f| f.code()).collect();
            info!(target: EVENTS, event = "failed", artifact = %artifact.name, errors, warnings, changed = artifact.changed, codes = %codes.join(","), report = %report_path.display());
        }
        Ok(())
    }

    /// Writes the report (and manifest) of one version to the state directory, and to
    /// `--report-to`; returns the report's path.
    async fn write_report(
        &self,
        artifact: &ArtifactState,
        report: &Report,
        manifest: Option<&Manifest>,
    ) -> Result<PathBuf, Fault> {
        let stem = file_stem(&artifact.name, &artifact.fingerprint);
        let mut fields = serde_json::Map::new();
        fields.insert("artifact".into(), artifact.name.clone().into());
        fields.insert("fingerprint".into(), artifact.fingerprint.clone().into());
        fields.insert("changed".into(), artifact.changed.into());
        fields.insert(
            "manifest_digest".into(),
            manifest.map(|m| m.artifact_digest.clone()).into(),
        );
        let source = format!("s3://{}/{}", self.options.uri.bucket, artifact.prefix);
        let document =
            cmi_format::document::check_document(REPORT_SCHEMA, &source, false, &fields, report);
        let text = format!("{document:#}\n");
        let dir = self.options.state_dir.join("reports");
        let path = dir.join(format!("{stem}.json"));
        write_file(&path, text.as_bytes())?;
        if let Some(manifest) = manifest {
            let path = self
                .options
                .state_dir
                .join("manifests")
                .join(format!("{stem}.json"));
            write_file(&path, manifest.to_json().as_bytes())?;
        }
        if let Some(target) = &self.options.report_to {
            let key = format!(
                "{}{}/{}.json",
                target.prefix,
                artifact.name,
                &artifact.fingerprint[..16.min(artifact.fingerprint.len())]
            );
            self.s3
                .put_object()
                .bucket(&target.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(text.into_bytes()))
                .send()
                .await
                .map_err(|e| {
                    fault(
                        ErrorKind::Report,
                        format!(
                            "PutObject s3://{}/{key}: {}",
                            target.bucket,
                            describe_sdk_error(&e)
                        ),
                    )
                })?;
        }
        Ok(path)
    }

    /// The manifest written for an artifact's processed version.
    fn manifest_of(&self, artifact: &ArtifactState) -> Result<Manifest, Fault> {
        let fingerprint = artifact
            .processed_fingerprint
            .as_deref()
            .unwrap_or(&artifact.fingerprint);
        let path = self
            .options
            .state_dir
            .join("manifests")
            .join(format!("{}.json", file_stem(&artifact.name, fingerprint)));
        Manifest::read(&path).map_err(|e| fault(ErrorKind::Import, e.to_string()))
    }

    /// Submits the import of a passed artifact (or repeats a submission with its token).
    async fn submit(&self, artifact: &ArtifactState) -> Result<(), Fault> {
        let (Some(template), Some(client)) = (&self.options.import, &self.bedrock) else {
            return Ok(());
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
        let token = match &artifact.client_token {
            Some(token) if artifact.status == Status::Submitting => token.clone(),
            _ => request.client_request_token(&format!("manifest:{digest}")),
        };
        if artifact.status == Status::Passed {
            self.store()
                .start_submit(&artifact.name, &token, SystemTime::now())
                .map_err(state_fault)?;
        }
        match import::submit(client, &request, &token).await {
            Ok(arn) => {
                self.store()
                    .record_job(&artifact.name, &arn, SystemTime::now())
                    .map_err(state_fault)?;
                info!(target: EVENTS, event = "submitted", artifact = %artifact.name, job_name = %request.job_name, job_arn = %arn, token = %token);
                Ok(())
            }
            Err(ImportError::Invalid(problems)) => {
                self.end_import(artifact, JobEnd::Failed(problems.join("; ")))
            }
            Err(ImportError::Service {
                code,
                message,
                explanation,
                ..
            }) if PERMANENT_IMPORT_ERRORS.contains(&code.as_str()) => self.end_import(
                artifact,
                JobEnd::Failed(format!("{code}: {message} {explanation}")),
            ),
            Err(e) => Err(fault(ErrorKind::Import, e.to_string())),
        }
    }

    /// Follows a job in flight with one GetModelImportJob.
    async fn follow(&self, artifact: &ArtifactState) -> Result<(), Fault> {
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
            info!(target: EVENTS, event = "job_completed", artifact = %artifact.name, job_arn = %arn, model_arn = %job.imported_model_arn.as_deref().unwrap_or(""));
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
                warn!(target: EVENTS, event = "import_failed", artifact = %artifact.name, job_arn = %artifact.job_arn.as_deref().unwrap_or(""), error = %message, hint);
            }
            None => summary.imported += 1,
        }
        Ok(())
    }
}

/// Writes a file of the state directory atomically, creating its folder.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Fault> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            fault(
                ErrorKind::Report,
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
    }
    crate::files::write_atomic(path, bytes).map_err(|e| {
        fault(
            ErrorKind::Report,
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_known_placeholders_only() {
        let template = Template::parse("{name}-{digest}-{date}").expect("valid");
        assert_eq!(
            template.render("llama", "sha256:0123456789abcdef0123", "20261128"),
            "llama-0123456789ab-20261128"
        );
        for bad in ["{nam}", "{name", "name}", "{}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
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
            report_to: None,
            sqs_queue_url: None,
            health_addr: None,
            aws: AwsOptions::default(),
            bedrock_endpoint_url: None,
            check: CheckOptions::default(),
            hash: HashOptions::default(),
            backoff: Backoff::default(),
        };
        assert_eq!(idle_time(&options, false, 0), Duration::from_secs(30));
        assert_eq!(idle_time(&options, true, 0), Duration::ZERO);
        assert_eq!(idle_time(&options, true, 1), Duration::from_secs(30));
        assert_eq!(idle_time(&options, false, 4), Duration::from_secs(40));
        assert_eq!(idle_time(&options, false, 30), Duration::from_secs(15 * 60));
    }

    #[test]
    fn report_names_stay_in_their_folder() {
        assert_eq!(
            file_stem("llama-3", "abcdef0123456789ff"),
            "llama-3-abcdef0123456789"
        );
        assert_eq!(file_stem("../x y", "ab"), "_x_y-ab");
        assert!(!file_stem("..", "ab").starts_with('.'));
    }
}
