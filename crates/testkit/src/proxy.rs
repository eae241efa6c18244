//! A loopback HTTP/1.1 reverse proxy to put between an SDK client and moto: it counts
//! requests and bytes, logs every exchange, and injects faults on demand.
//!
//! Requests are forwarded unchanged: method, path and query, every header (the `Host` header
//! too, which SigV4 signs and moto checks when IAM is enforced) and the body, streamed. Each
//! request gets its own upstream connection. The proxy runs on its own tokio runtime in a
//! background thread, so it works the same from synchronous and asynchronous tests; dropping
//! it stops it.
//!
//! [`Proxy::start_shaped`] also shapes the traffic like a real S3 connection: a bandwidth cap
//! per client connection and direction (request bodies, response bodies) and a latency added
//! before each request is forwarded ([`Shape`]).
//!
//! ```no_run
//! # async fn example() {
//! use cmi_testkit::moto::{self, Moto};
//! use cmi_testkit::proxy::{Fault, Proxy};
//! let moto = Moto::shared();
//! let proxy = Proxy::start(&moto.endpoint());
//! let config = moto::sdk_config_for(&proxy.endpoint(), moto.credentials(), moto::REGION).await;
//! let s3 = moto::s3_client(&config);
//! proxy.fail_next(1, Fault::Status503SlowDown);
//! // ... use s3; then look at proxy.requests(), proxy.log() ...
//! # }
//! ```

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn StdError + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// The body of [`Fault::Status503SlowDown`]: S3's throttling error.
pub const SLOW_DOWN_BODY: &str =
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

/// Traffic shaping of [`Proxy::start_shaped`], per client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The bandwidth cap of one connection, in bytes per second, applied separately to the
    /// request bodies it sends and the response bodies it receives; 0 for no cap.
    pub bytes_per_sec: u64,
    /// Added before each request is forwarded upstream (the time to first byte).
    pub latency: Duration,
}

impl Shape {
    /// About what one connection to Amazon S3 gets from a well-connected client: 80 MB/s and
    /// 20 ms.
    pub const S3_LIKE: Shape = Shape {
        bytes_per_sec: 80_000_000,
        latency: Duration::from_millis(20),
    };
}

/// The bandwidth cap of one direction of one connection: a leaky bucket without burst. A chunk
/// of bytes starts when the previous ones are through at the capped rate (or now, if that is
/// past) and is released when its own last byte is through; the time is passed in, so the
/// arithmetic is testable.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: u64,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer at `bytes_per_sec` (0: no cap).
    pub fn new(bytes_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec,
            next: None,
        }
    }

    /// Books `bytes` offered at `now`; returns how long to hold them before passing them on.
    pub fn delay(&mut self, now: Instant, bytes: u64) -> Duration {
        if self.bytes_per_sec == 0 {
            return Duration::ZERO;
        }
        let start = self.next.map_or(now, |next| next.max(now));
        let nanos = u128::from(bytes) * 1_000_000_000 / u128::from(self.bytes_per_sec);
        let transfer = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let done = start + transfer;
        self.next = Some(done);
        done - now
    }
}

/// A fault to inject into one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `503 Slow Down` with S3's XML error ([`SLOW_DOWN_BODY`]) without forwarding
    /// the request upstream. The AWS SDK retries it.
    Status503SlowDown,
    /// Forward the request, send the upstream response's status and headers (with its
    /// `Content-Length`), then this many body bytes, then close the connection: the client
    /// sees a truncated body. A body not longer than this is passed through whole.
    CutAfter(u64),
    /// Wait this long, then forward the request normally.
    Delay(Duration),
    /// Close the connection without answering and without forwarding the request.
    CloseWithoutResponse,
    /// Forward the request, then replace every `from` in the upstream response's body with
    /// `to` (the `Content-Length` follows): to make an emulator's answer read as S3's, such
    /// as moto's `ListPartsResponse` root element, which S3 names `ListPartsResult`.
    ReplaceInBody {
        /// The text to replace.
        from: String,
        /// Its replacement.
        to: String,
    },
    /// Answer with this status and an S3 XML error (`<Error><Code>..</Code><Message>..
    /// </Message></Error>`) without forwarding the request: for errors moto does not produce,
    /// such as SSE-C's `400 InvalidRequest`. HEAD responses get the headers only.
    S3Error {
        /// The HTTP status.
        status: u16,
        /// The S3 error code (`InvalidRequest`).
        code: String,
        /// The message.
        message: String,
    },
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    /// Only requests with this method (`"GET"`, `"HEAD"`), any method when `None`.
    pub method: Option<String>,
    /// Only requests whose path and query contain this text, any request when `None`.
    pub path_contains: Option<String>,
}

impl Matcher {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// One request that went through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `GET`, `HEAD`, `PUT`...
    pub method: String,
    /// The path and query, as sent (`/bucket/key?x-id=GetObject`).
    pub path: String,
    /// The `Range` header, if any (`bytes=0-1023`).
    pub range: Option<String>,
    /// The names of the request's `x-amz-checksum-*` headers, lowercase, in the order sent
    /// (`x-amz-checksum-sha256`): which checksums a client computed.
    pub checksum_headers: Vec<String>,
    /// The `x-amz-expected-bucket-owner` header, if any: the account the client required to
    /// own the bucket.
    pub expected_bucket_owner: Option<String>,
    /// The status sent to the client; 0 while the response is pending or when the connection
    /// was closed without one; 502 when the upstream could not be reached.
    pub status: u16,
    /// Response body bytes sent to the client so far.
    pub response_bytes: u64,
    /// The fault injected into this request, if any.
    pub fault: Option<Fault>,
}

/// A snapshot of the proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// Request body bytes received from clients (and forwarded).
    pub request_bytes: u64,
    /// Response body bytes received from the upstream.
    pub upstream_response_bytes: u64,
    /// Response body bytes sent to clients, injected error bodies included.
    pub client_response_bytes: u64,
}

struct Entry {
    method: String,
    path: String,
    range: Option<String>,
    checksum_headers: Vec<String>,
    expected_bucket_owner: Option<String>,
    fault: Option<Fault>,
    status: AtomicU16,
    bytes: AtomicU64,
}

struct Rule {
    remaining: usize,
    fault: Fault,
    matcher: Matcher,
}

struct State {
    upstream: SocketAddr,
    shape: Option<Shape>,
    requests: AtomicU64,
    request_bytes: AtomicU64,
    upstream_bytes: AtomicU64,
    client_bytes: AtomicU64,
    log: Mutex<Vec<Arc<Entry>>>,
    rules: Mutex<VecDeque<Rule>>,
}

impl State {
    fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let index = rules
            .iter()
            .position(|r| r.remaining > 0 && r.matcher.matches(method, path))?;
        let rule = &mut rules[index];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            rules.remove(index);
        }
        Some(fault)
    }
}

/// A running proxy on `127.0.0.1`; dropping it stops it.
pub struct Proxy {
    address: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .field("upstream", &self.state.upstream)
            .finish()
    }
}

impl Proxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream`
    /// (`http://127.0.0.1:PORT` or `http://localhost:PORT`).
    ///
    /// # Panics
    /// If `upstream` is not such a loopback URL, or the proxy cannot listen.
    pub fn start(upstream: &str) -> Proxy {
        Proxy::start_with(upstream, None)
    }

    /// Like [`Proxy::start`], with the traffic of each client connection shaped by `shape`.
    /// The proxy then runs on two worker threads, so that it is not the bottleneck of many
    /// shaped connections.
    ///
    /// # Panics
    /// As [`Proxy::start`].
    pub fn start_shaped(upstream: &str, shape: Shape) -> Proxy {
        Proxy::start_with(upstream, Some(shape))
    }

    fn start_with(upstream: &str, shape: Option<Shape>) -> Proxy {
        let upstream = parse_loopback(upstream);
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("the proxy cannot listen on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("the proxy cannot make its socket non-blocking");
        let address = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(State {
            upstream,
            shape,
            requests: AtomicU64::new(0),
            request_bytes: AtomicU64::new(0),
            upstream_bytes: AtomicU64::new(0),
            client_bytes: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            rules: Mutex::new(VecDeque::new()),
        });
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let thread_state = Arc::clone(&state);
        // Every thread of the proxy is named `proxy-PORT`, so that a benchmark can tell its CPU
        // time from the rest of the process's (`/proc/self/task/*/stat`).
        let name = format!("proxy-{}", address.port());
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let runtime = match shape {
                    None => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build(),
                    Some(_) => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .thread_name(name)
                        .enable_all()
                        .build(),
                }
                .expect("the proxy's tokio runtime");
                runtime.block_on(serve(listener, thread_state, shutdown_rx));
            })
            .expect("cannot start the proxy thread");
        Proxy {
            address,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The endpoint URL for SDK clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address the proxy listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Requests received.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Request body bytes received from clients.
    pub fn request_bytes(&self) -> u64 {
        self.state.request_bytes.load(Ordering::SeqCst)
    }

    /// Response body bytes received from the upstream.
    pub fn upstream_response_bytes(&self) -> u64 {
        self.state.upstream_bytes.load(Ordering::SeqCst)
    }

    /// Response body bytes sent to clients, injected error bodies included.
    pub fn client_response_bytes(&self) -> u64 {
        self.state.client_bytes.load(Ordering::SeqCst)
    }

    /// All counters at once.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests(),
            request_bytes: self.request_bytes(),
            upstream_response_bytes: self.upstream_response_bytes(),
            client_response_bytes: self.client_response_bytes(),
        }
    }

    /// Every request so far, in the order they arrived.
    pub fn log(&self) -> Vec<Exchange> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|e| Exchange {
                method: e.method.clone(),
                path: e.path.clone(),
                range: e.range.clone(),
                checksum_headers: e.checksum_headers.clone(),
                expected_bucket_owner: e.expected_bucket_owner.clone(),
                status: e.status.load(Ordering::SeqCst),
                response_bytes: e.bytes.load(Ordering::SeqCst),
                fault: e.fault.clone(),
            })
            .collect()
    }

    /// Zeroes the counters and clears the log (pending faults stay).
    pub fn reset_stats(&self) {
        // The log first: a request in flight counts in both or neither.
        let mut log = self.state.log.lock().unwrap();
        log.clear();
        for counter in [
            &self.state.requests,
            &self.state.request_bytes,
            &self.state.upstream_bytes,
            &self.state.client_bytes,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
    }

    /// Injects `fault` into the next `n` requests, whatever they are. Faults queued earlier
    /// apply first.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.fail_next_matching(n, fault, Matcher::default());
    }

    /// Injects `fault` into the next `n` requests that `matcher` selects. When several queued
    /// faults select a request, the one queued first applies.
    pub fn fail_next_matching(&self, n: usize, fault: Fault, matcher: Matcher) {
        if n > 0 {
            self.state.rules.lock().unwrap().push_back(Rule {
                remaining: n,
                fault,
                matcher,
            });
        }
    }

    /// How many fault injections are still queued.
    pub fn pending_faults(&self) -> usize {
        self.state
            .rules
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.remaining)
            .sum()
    }

    /// Forgets the queued faults.
    pub fn clear_faults(&self) {
        self.state.rules.lock().unwrap().clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `http://127.0.0.1:PORT` or `http://localhost:PORT` (an optional trailing `/`) as an
/// address on 127.0.0.1.
fn parse_loopback(url: &str) -> SocketAddr {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("the proxy's upstream must be http://127.0.0.1:PORT, not {url}"));
    let rest = rest.trim_end_matches('/');
    let port = rest
        .strip_prefix("127.0.0.1:")
        .or_else(|| rest.strip_prefix("localhost:"))
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("the proxy's upstream must be http://127.0.0.1:PORT, not {url}"));
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

async fn serve(
    listener: StdTcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("the proxy's listener");
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let rate = state.shape.map_or(0, |s| s.bytes_per_sec);
        let pacers = Pacers {
            up: Arc::new(Mutex::new(Pacer::new(rate))),
            down: Arc::new(Mutex::new(Pacer::new(rate))),
        };
        tokio::spawn(async move {
            let service =
                service_fn(move |request| handle(Arc::clone(&state), pacers.clone(), request));
            // Errors here are the client going away or an injected fault.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The pacers of one client connection, one per direction.
#[derive(Clone)]
struct Pacers {
    up: Arc<Mutex<Pacer>>,
    down: Arc<Mutex<Pacer>>,
}

async fn handle(
    state: Arc<State>,
    pacers: Pacers,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, BoxError> {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let range = request
        .headers()
        .get(hyper::header::RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let checksum_headers = request
        .headers()
        .keys()
        .map(|name| name.as_str().to_ascii_lowercase())
        .filter(|name| name.starts_with("x-amz-checksum-"))
        .collect();
    let expected_bucket_owner = request
        .headers()
        .get("x-amz-expected-bucket-owner")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let fault = state.take_fault(&method, &path);
    let entry = Arc::new(Entry {
        method,
        path,
        range,
        checksum_headers,
        expected_bucket_owner,
        fault: fault.clone(),
        status: AtomicU16::new(0),
        bytes: AtomicU64::new(0),
    });
    {
        let mut log = state.log.lock().unwrap();
        state.requests.fetch_add(1, Ordering::SeqCst);
        log.push(Arc::clone(&entry));
    }

    let mut cut = None;
    let mut replace = None;
    match fault {
        Some(Fault::Status503SlowDown) => {
            return injected_error(&state, &entry, request, 503, SLOW_DOWN_BODY.to_string()).await;
        }
        Some(Fault::S3Error {
            status,
            code,
            message,
        }) => {
            let body = format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>");
            return injected_error(&state, &entry, request, status, body).await;
        }
        Some(Fault::CloseWithoutResponse) => {
            return Err("injected fault: connection closed without a response".into());
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::CutAfter(bytes)) => cut = Some(bytes),
        Some(Fault::ReplaceInBody { from, to }) => replace = Some((from, to)),
        None => {}
    }
    if let Some(shape) = state.shape {
        if !shape.latency.is_zero() {
            tokio::time::sleep(shape.latency).await;
        }
    }
    let shaped = state.shape.is_some();

    let (parts, body) = request.into_parts();
    let body = Paced::new(
        Counted {
            inner: body,
            state: Arc::clone(&state),
        },
        shaped.then_some(pacers.up),
    );
    let upstream_request = Request::from_parts(parts, body);
    let response = match forward(state.upstream, upstream_request).await {
        Ok(response) => response,
        Err(error) => {
            let message = format!("proxy: upstream {} failed: {error}", state.upstream);
            entry.status.store(502, Ordering::SeqCst);
            entry.bytes.store(message.len() as u64, Ordering::SeqCst);
            state
                .client_bytes
                .fetch_add(message.len() as u64, Ordering::SeqCst);
            return Ok(Response::builder()
                .status(502)
                .header("content-length", message.len())
                .body(full(message))?);
        }
    };
    entry
        .status
        .store(response.status().as_u16(), Ordering::SeqCst);
    let (mut parts, body) = response.into_parts();
    if let Some((from, to)) = replace {
        let upstream = body.collect().await?.to_bytes();
        state
            .upstream_bytes
            .fetch_add(upstream.len() as u64, Ordering::SeqCst);
        let replaced = String::from_utf8_lossy(&upstream).replace(&from, &to);
        let length = replaced.len() as u64;
        parts.headers.insert(
            hyper::header::CONTENT_LENGTH,
            hyper::header::HeaderValue::from(length),
        );
        entry.bytes.store(length, Ordering::SeqCst);
        state.client_bytes.fetch_add(length, Ordering::SeqCst);
        return Ok(Response::from_parts(parts, full(replaced)));
    }
    let body = Tap {
        inner: body,
        state,
        entry,
        limit: cut,
        sent: 0,
        closing: None,
    };
    let body = Paced::new(body, shaped.then_some(pacers.down));
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Answers `request` with an injected error, after reading its body as a server would (so
/// that the connection stays usable).
async fn injected_error(
    state: &State,
    entry: &Entry,
    request: Request<Incoming>,
    status: u16,
    body: String,
) -> Result<Response<ProxyBody>, BoxError> {
    let head = request.method() == hyper::Method::HEAD;
    let received = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    state
        .request_bytes
        .fetch_add(received as u64, Ordering::SeqCst);
    let length = body.len();
    let sent = if head { 0 } else { length as u64 };
    entry.status.store(status, Ordering::SeqCst);
    entry.bytes.store(sent, Ordering::SeqCst);
    state.client_bytes.fetch_add(sent, Ordering::SeqCst);
    let body = if head { String::new() } else { body };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .header("content-length", length)
        .body(full(body))?)
}

async fn forward(
    upstream: SocketAddr,
    request: Request<Paced<Counted>>,
) -> Result<Response<Incoming>, BoxError> {
    let stream = TcpStream::connect(upstream).await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender.send_request(request).await?)
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body whose data frames leave no faster than its [`Pacer`] allows (unpaced without one).
struct Paced<B> {
    inner: B,
    pacer: Option<Arc<Mutex<Pacer>>>,
    /// A frame waiting for its time, and the timer.
    held: Option<(Frame<Bytes>, Pin<Box<tokio::time::Sleep>>)>,
}

impl<B> Paced<B> {
    fn new(inner: B, pacer: Option<Arc<Mutex<Pacer>>>) -> Paced<B> {
        Paced {
            inner,
            pacer,
            held: None,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Paced<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some((_, sleep)) = this.held.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let (frame, _) = this.held.take().expect("held frame");
            return Poll::Ready(Some(Ok(frame)));
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let (Some(pacer), Poll::Ready(Some(Ok(frame)))) = (&this.pacer, &polled) else {
            return polled;
        };
        let Some(bytes) = frame.data_ref().map(|d| d.len() as u64) else {
            return polled;
        };
        let now = Instant::now();
        let delay = pacer.lock().unwrap().delay(now, bytes);
        if delay.is_zero() {
            return polled;
        }
        let Poll::Ready(Some(Ok(frame))) = polled else {
            return polled;
        };
        let sleep = Box::pin(tokio::time::sleep_until((now + delay).into()));
        this.held = Some((frame, sleep));
        Pin::new(this).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that counts the bytes it passes.
struct Counted {
    inner: Incoming,
    state: Arc<State>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let n = data.len() as u64;
                self.state.request_bytes.fetch_add(n, Ordering::SeqCst);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that counts the bytes it passes and, for [`Fault::CutAfter`], stops after
/// `limit` bytes and then fails, which makes hyper close the connection.
struct Tap {
    inner: Incoming,
    state: Arc<State>,
    entry: Arc<Entry>,
    limit: Option<u64>,
    sent: u64,
    /// Set once the limit is reached: a short pause, so that hyper flushes what was sent,
    /// before the failure that closes the connection.
    closing: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Tap {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(closing) = this.closing.as_mut() {
            return match closing.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "injected fault: connection cut after {} body bytes",
                    this.sent
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            };
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            // Trailers: HTTP/1 responses from moto have none; pass nothing else through.
            return Poll::Ready(None);
        };
        this.state
            .upstream_bytes
            .fetch_add(data.len() as u64, Ordering::SeqCst);
        if let Some(limit) = this.limit {
            let allowed = limit.saturating_sub(this.sent);
            if data.len() as u64 > allowed {
                data.truncate(allowed as usize);
                this.closing = Some(Box::pin(tokio::time::sleep(Duration::from_millis(50))));
                if data.is_empty() {
                    // Nothing more to send: go straight to the pause.
                    return Pin::new(this).poll_frame(cx);
                }
            }
        }
        let n = data.len() as u64;
        this.sent += n;
        this.entry.bytes.fetch_add(n, Ordering::SeqCst);
        this.state.client_bytes.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pacer_books_bytes_at_its_rate_without_burst() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(1_000_000);
        // Each chunk is held for its own transfer time, after the chunks booked before it.
        assert_eq!(pacer.delay(t0, 500_000), Duration::from_millis(500));
        assert_eq!(pacer.delay(t0, 250_000), Duration::from_millis(750));
        assert_eq!(
            pacer.delay(t0 + Duration::from_millis(100), 1000),
            Duration::from_millis(651)
        );
        // After an idle time the bucket is empty again: no credit is saved up.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pacer.delay(later, 2_000_000), Duration::from_secs(2));
        assert_eq!(pacer.delay(later, 1000), Duration::from_millis(2001));
    }

    #[test]
    fn an_uncapped_pacer_never_waits() {
        let mut pacer = Pacer::new(0);
        let now = Instant::now();
        assert_eq!(pacer.delay(now, u64::MAX), Duration::ZERO);
        assert_eq!(pacer.delay(now, u64::MAX), Duration::ZERO);
    }

    #[test]
    fn the_s3_like_shape_is_80_mb_per_second_and_20_ms() {
        assert_eq!(Shape::S3_LIKE.bytes_per_sec, 80_000_000);
        assert_eq!(Shape::S3_LIKE.latency, Duration::from_millis(20));
    }
}
