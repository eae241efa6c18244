//! The watch daemon's health and metrics endpoint: `--health-addr 127.0.0.1:PORT` serves
//! `GET /healthz` and Prometheus `GET /metrics` on loopback only.
//!
//! [`Metrics`] is what the daemon updates as it works (atomic counters, and snapshots it sets
//! after each pass); [`serve`] answers HTTP/1.1 requests from it until its shutdown future
//! resolves. The exposition is the Prometheus text format 0.0.4, rendered here by hand: the
//! families are a handful of plain counters and gauges, and the `prometheus-client` crate only
//! encodes the OpenMetrics text format, not 0.0.4.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The content type of the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The prefix of every metric name.
const PREFIX: &str = "cmi_preflight_watch_";

/// How long a client may take to send a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long, after shutdown, requests in flight may take to finish before they are dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause after a failed `accept` (out of file descriptors, say), so as not to spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The kind of work that failed, the label of `cmi_preflight_watch_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// Listing the watched prefix.
    List,
    /// Checking an artifact (a fault, not a failed gate).
    Check,
    /// Making or writing an artifact's manifest.
    Manifest,
    /// Writing an artifact's report.
    Report,
    /// Submitting or following an import job.
    Import,
    /// Receiving from or acknowledging the notification queue.
    Queue,
    /// Reading or writing the state directory.
    State,
}

impl ErrorKind {
    /// Every kind, in label order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::List,
        ErrorKind::Check,
        ErrorKind::Manifest,
        ErrorKind::Report,
        ErrorKind::Import,
        ErrorKind::Queue,
        ErrorKind::State,
    ];

    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::List => "list",
            ErrorKind::Check => "check",
            ErrorKind::Manifest => "manifest",
            ErrorKind::Report => "report",
            ErrorKind::Import => "import",
            ErrorKind::Queue => "queue",
            ErrorKind::State => "state",
        }
    }

    /// Its index in [`ErrorKind::ALL`].
    fn index(self) -> usize {
        self as usize
    }
}

/// What `/healthz` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No scan has succeeded yet (503 `starting`).
    Starting,
    /// The last successful scan is recent enough (200 `ok`).
    Ok,
    /// The last successful scan is older than the staleness bound (503 `stale`).
    Stale {
        /// How long ago the last successful scan ended.
        age: Duration,
    },
}

/// The parts of [`Metrics`] that are set together, under one lock.
#[derive(Debug, Default)]
struct Snapshot {
    last_scan: Option<SystemTime>,
    last_success: Option<SystemTime>,
    artifacts: BTreeMap<String, u64>,
    jobs: BTreeMap<String, u64>,
    /// Whether the import slot is busy, and the imports waiting for it.
    slot: Option<(bool, u64)>,
}

/// The daemon's metrics, shared (in an [`Arc`]) between the daemon, which updates them, and
/// the health endpoint, which reads them. Every update is cheap: an atomic add, or a short lock.
#[derive(Debug)]
pub struct Metrics {
    stale_after: Duration,
    scans: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    snapshot: Mutex<Snapshot>,
}

impl Metrics {
    /// Metrics before the first scan. `/healthz` fails once the last successful scan is older
    /// than `stale_after` (the daemon sets it to a few scan intervals, e.g. 3x).
    pub fn new(stale_after: Duration) -> Metrics {
        Metrics {
            stale_after,
            scans: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            snapshot: Mutex::new(Snapshot::default()),
        }
    }

    /// The staleness bound of `/healthz`.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Counts one error of `kind`.
    pub fn record_error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The number of errors of `kind` so far.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()].load(Ordering::Relaxed)
    }

    /// Records a scan that ended at `at` (usually `SystemTime::now()`); a successful one also
    /// makes the daemon ready and resets the staleness clock.
    pub fn record_scan(&self, at: SystemTime, succeeded: bool) {
        self.scans.fetch_add(1, Ordering::Relaxed);
        let mut snapshot = self.lock();
        snapshot.last_scan = Some(at);
        if succeeded {
            snapshot.last_success = Some(at);
        }
    }

    /// The number of scans so far.
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }

    /// Replaces the count of artifacts by status name (e.g. `settling`, `imported`). Statuses
    /// absent from `counts` are no longer exported; pass every status, zeros included, to keep
    /// each series continuous.
    pub fn set_artifacts(&self, counts: BTreeMap<String, u64>) {
        self.lock().artifacts = counts;
    }

    /// Replaces the count of import jobs by status name (`InProgress`, `Completed`, `Failed`),
    /// with the same rule as [`Metrics::set_artifacts`].
    pub fn set_jobs(&self, counts: BTreeMap<String, u64>) {
        self.lock().jobs = counts;
    }

    /// Sets the import slot's state (`busy`: every slot is taken, by the daemon's jobs or by
    /// jobs it did not start) and the number of passed artifacts waiting for it.
    pub fn set_slot(&self, busy: bool, queued: u64) {
        self.lock().slot = Some((busy, queued));
    }

    /// Whether the daemon is healthy at `now`.
    pub fn health(&self, now: SystemTime) -> Health {
        match self.lock().last_success {
            None => Health::Starting,
            Some(at) => {
                // A clock that stepped back makes the last scan look recent, not stale.
                let age = now.duration_since(at).unwrap_or(Duration::ZERO);
                if age > self.stale_after {
                    Health::Stale { age }
                } else {
                    Health::Ok
                }
            }
        }
    }

    /// The metrics in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let (last_scan, last_success, artifacts, jobs, slot) = {
            let snapshot = self.lock();
            (
                snapshot.last_scan,
                snapshot.last_success,
                snapshot.artifacts.clone(),
                snapshot.jobs.clone(),
                snapshot.slot,
            )
        };
        let mut out = String::new();
        family(
            &mut out,
            "ready",
            "gauge",
            "1 once the daemon has completed its first successful scan, 0 before.",
        );
        sample(&mut out, "ready", None, u64::from(last_success.is_some()));
        family(
            &mut out,
            "scans_total",
            "counter",
            "Scans of the watched prefix, successful or not.",
        );
        sample(&mut out, "scans_total", None, self.scans());
        family(
            &mut out,
            "errors_total",
            "counter",
            "Errors, by the kind of work that failed.",
        );
        for kind in ErrorKind::ALL {
            sample(
                &mut out,
                "errors_total",
                Some(("kind", kind.as_str())),
                self.errors(kind),
            );
        }
        family(
            &mut out,
            "last_scan_timestamp_seconds",
            "gauge",
            "Unix time at which the last scan ended, 0 before the first.",
        );
        timestamp(&mut out, "last_scan_timestamp_seconds", last_scan);
        family(
            &mut out,
            "last_successful_scan_timestamp_seconds",
            "gauge",
            "Unix time at which the last successful scan ended, 0 before the first.",
        );
        timestamp(
            &mut out,
            "last_successful_scan_timestamp_seconds",
            last_success,
        );
        family(
            &mut out,
            "artifacts",
            "gauge",
            "Artifacts in the state directory, by status, as of the last pass (or the start).",
        );
        for (status, count) in &artifacts {
            sample(&mut out, "artifacts", Some(("status", status)), *count);
        }
        family(
            &mut out,
            "jobs",
            "gauge",
            "The latest import job of each artifact, by status, as of the last pass (or the start).",
        );
        for (status, count) in &jobs {
            sample(&mut out, "jobs", Some(("status", status)), *count);
        }
        if let Some((busy, queued)) = slot {
            family(
                &mut out,
                "import_slot",
                "gauge",
                "1 for the import slot's state: busy (every job the daemon may run is taken) or free.",
            );
            for (state, on) in [("busy", busy), ("free", !busy)] {
                sample(
                    &mut out,
                    "import_slot",
                    Some(("state", state)),
                    u64::from(on),
                );
            }
            family(
                &mut out,
                "queued_imports",
                "gauge",
                "Passed artifacts waiting for the import slot.",
            );
            sample(&mut out, "queued_imports", None, queued);
        }
        out
    }

    /// The snapshot; a panic while it was held cannot leave it half-updated (every update is a
    /// single assignment), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family (`help` needs no escaping: it is ours).
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {help}");
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

/// Writes one sample, with at most one label.
fn sample(out: &mut String, name: &str, label: Option<(&str, &str)>, value: u64) {
    let _ = write!(out, "{PREFIX}{name}");
    if let Some((label, value)) = label {
        let _ = write!(out, "{{{label}=\"{}\"}}", escape_label_value(value));
    }
    let _ = writeln!(out, " {value}");
}

/// Writes a timestamp sample in seconds since the Unix epoch, to the millisecond.
fn timestamp(out: &mut String, name: &str, at: Option<SystemTime>) {
    let seconds = at
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |since| since.as_secs_f64());
    let _ = writeln!(out, "{PREFIX}{name} {seconds:.3}");
}

/// A label value escaped per the text format: `\` as `\\`, `"` as `\"`, a line feed as `\n`.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Why the health endpoint could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The address is not a loopback address.
    #[error("the health endpoint serves on loopback only, and {addr} is not a loopback address (use 127.0.0.1:PORT or [::1]:PORT)")]
    NotLoopback {
        /// The address refused.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr} for the health endpoint: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server's task panicked or was cancelled.
    #[error("the health endpoint's task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running health endpoint. Dropping the handle leaves the server running until its shutdown
/// future resolves.
#[derive(Debug)]
pub struct HealthServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HealthServer {
    /// The address bound (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the server has stopped: the shutdown future resolved, the listener is
    /// closed, and requests in flight have finished (or were dropped after a few seconds).
    pub async fn stopped(self) -> Result<(), HealthError> {
        Ok(self.task.await?)
    }
}

/// Starts the health endpoint on `addr`, which must be a loopback address (port 0 picks a free
/// port), answering from `metrics` until `shutdown` resolves. It must be called within a Tokio
/// runtime.
pub async fn serve<F>(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: F,
) -> Result<HealthServer, HealthError>
where
    F: Future<Output = ()> + Send + 'static,
{
    if !addr.ip().is_loopback() {
        return Err(HealthError::NotLoopback { addr });
    }
    let bind = |source| HealthError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let task = tokio::spawn(accept_loop(listener, metrics, shutdown));
    Ok(HealthServer { local_addr, task })
}

/// Accepts connections until `shutdown` resolves, then drains them.
async fn accept_loop<F>(listener: TcpListener, metrics: Arc<Metrics>, shutdown: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "health endpoint: cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let metrics = Arc::clone(&metrics);
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let response = respond(
                &metrics,
                request.method(),
                request.uri().path(),
                SystemTime::now(),
            );
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "health endpoint: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("health endpoint: dropped connections still open after shutdown");
    }
}

/// The response to `method path` at `now`: `/healthz` and `/metrics` answer GET (and HEAD),
/// other methods get 405, other paths 404.
fn respond(
    metrics: &Metrics,
    method: &Method,
    path: &str,
    now: SystemTime,
) -> Response<Full<Bytes>> {
    let known = matches!(path, "/healthz" | "/metrics");
    if !known {
        return text(StatusCode::NOT_FOUND, "not found\n".to_owned());
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == "/metrics" {
        let mut response = text(StatusCode::OK, metrics.render());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
        return response;
    }
    match metrics.health(now) {
        Health::Ok => text(StatusCode::OK, "ok\n".to_owned()),
        Health::Starting => text(StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_owned()),
        Health::Stale { age } => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "stale: the last successful scan ended {}s ago (bound {}s)\n",
                age.as_secs(),
                metrics.stale_after().as_secs()
            ),
        ),
    }
}

/// A plain-text response that is never cached.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn health_starts_then_is_ok_then_goes_stale() {
        let metrics = Metrics::new(Duration::from_secs(90));
        assert_eq!(metrics.health(at(1_000)), Health::Starting);
        metrics.record_scan(at(1_000), false);
        assert_eq!(
            metrics.health(at(1_000)),
            Health::Starting,
            "a failed scan is not readiness"
        );
        metrics.record_scan(at(1_030), true);
        assert_eq!(metrics.health(at(1_100)), Health::Ok);
        assert_eq!(
            metrics.health(at(1_120)),
            Health::Ok,
            "the bound itself is not stale"
        );
        assert_eq!(
            metrics.health(at(1_121)),
            Health::Stale {
                age: Duration::from_secs(91)
            }
        );
        assert_eq!(
            metrics.health(at(10)),
            Health::Ok,
            "a clock stepped back is not stale"
        );
        metrics.record_scan(at(1_200), false);
        assert_eq!(
            metrics.health(at(1_200)),
            Health::Stale {
                age: Duration::from_secs(170)
            },
            "failed scans do not reset the staleness clock"
        );
    }

    #[test]
    fn respond_routes_and_refuses_methods() {
        let metrics = Metrics::new(Duration::from_secs(60));
        let now = at(5_000);
        assert_eq!(
            respond(&metrics, &Method::GET, "/", now).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&metrics, &Method::POST, "/nope", now).status(),
            StatusCode::NOT_FOUND
        );
        let refused = respond(&metrics, &Method::POST, "/metrics", now);
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()[ALLOW], "GET, HEAD");
        assert_eq!(
            respond(&metrics, &Method::HEAD, "/healthz", now).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        metrics.record_scan(at(4_990), true);
        assert_eq!(
            respond(&metrics, &Method::GET, "/healthz", now).status(),
            StatusCode::OK
        );
        let stale = respond(&metrics, &Method::GET, "/healthz", at(5_100));
        assert_eq!(stale.status(), StatusCode::SERVICE_UNAVAILABLE);
        let page = respond(&metrics, &Method::GET, "/metrics", now);
        assert_eq!(page.headers()[CONTENT_TYPE], METRICS_CONTENT_TYPE);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value("plain"), "plain");
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn render_before_the_first_scan() {
        let text = Metrics::new(Duration::from_secs(60)).render();
        assert!(text.contains("\ncmi_preflight_watch_ready 0\n"), "{text}");
        assert!(
            text.contains("\ncmi_preflight_watch_scans_total 0\n"),
            "{text}"
        );
        assert!(text.contains("\ncmi_preflight_watch_last_scan_timestamp_seconds 0.000\n"));
        assert!(text.contains("\ncmi_preflight_watch_errors_total{kind=\"queue\"} 0\n"));
        assert!(
            text.ends_with("# TYPE cmi_preflight_watch_jobs gauge\n"),
            "{text}"
        );
    }
}
