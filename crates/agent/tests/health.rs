//! The watch daemon's health endpoint over real loopback TCP connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cmi_agent::watch::health::{serve, ErrorKind, HealthError, HealthServer, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends one request on a fresh connection and reads the reply to the end.
async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Starts a server on a free loopback port; sending on the returned channel stops it.
async fn start(metrics: Arc<Metrics>) -> (HealthServer, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let server = serve("127.0.0.1:0".parse().unwrap(), metrics, async {
        let _ = stopped.await;
    })
    .await
    .expect("serve");
    assert_ne!(server.local_addr().port(), 0);
    (server, stop)
}

/// One sample of an exposition: its metric name, labels and value.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses the text exposition format 0.0.4 strictly enough for these tests: every sample's
/// family must have had its `# HELP` and `# TYPE` lines first; label values are unescaped.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut helped = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name and text");
            assert!(!help.is_empty());
            helped.push(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name and type");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert!(
                helped.contains(&name.to_owned()),
                "TYPE before HELP: {line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "unexpected line {line:?}"
        );
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => panic!("no value in {line:?}"),
        };
        let mut labels = Vec::new();
        let mut rest = rest;
        if let Some(mut inner) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = inner.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (label, after) = inner.split_once("=\"").expect("label=\"");
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect("a closing quote") {
                        (i, '"') => break i,
                        (_, '\\') => match chars.next().expect("an escape").1 {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            c => panic!("bad escape \\{c}"),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.push((label.to_owned(), value));
                inner = after[end + 1..].trim_start_matches(',');
            }
        }
        let value = rest.trim().parse().expect("a number");
        assert!(types.contains_key(name), "sample before its TYPE: {line}");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let labels: Vec<(String, String)> = label
        .map(|(k, v)| vec![(k.to_owned(), v.to_owned())])
        .unwrap_or_default();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .map(|s| s.value)
}

#[tokio::test]
async fn healthz_is_unavailable_until_the_first_successful_scan() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(90)));
    let (server, stop) = start(Arc::clone(&metrics)).await;
    let addr = server.local_addr();

    let before = request(addr, "GET", "/healthz").await;
    assert_eq!(before.status, 503);
    assert_eq!(before.body, "starting\n");
    assert_eq!(
        before.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    metrics.record_scan(SystemTime::now(), true);
    let after = request(addr, "GET", "/healthz").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body, "ok\n");

    // A last success older than the bound makes it unavailable again.
    metrics.record_scan(SystemTime::now() - Duration::from_secs(600), true);
    let stale = request(addr, "GET", "/healthz").await;
    assert_eq!(stale.status, 503);
    assert!(stale.body.starts_with("stale: "), "{}", stale.body);

    stop.send(()).unwrap();
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn metrics_expose_every_family_with_escaped_labels() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(90)));
    let (server, stop) = start(Arc::clone(&metrics)).await;

    let scanned = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    metrics.record_scan(scanned - Duration::from_secs(30), true);
    metrics.record_scan(scanned, false);
    metrics.record_error(ErrorKind::List);
    metrics.record_error(ErrorKind::Import);
    metrics.record_error(ErrorKind::Import);
    let weird = "we\"ird\\sta\ntus";
    metrics.set_artifacts(BTreeMap::from([
        ("settling".to_owned(), 2),
        ("imported".to_owned(), 5),
        ("import_failed".to_owned(), 0),
        (weird.to_owned(), 1),
    ]));
    metrics.set_jobs(BTreeMap::from([
        ("InProgress".to_owned(), 1),
        ("Completed".to_owned(), 4),
        ("Failed".to_owned(), 1),
    ]));

    let reply = request(server.local_addr(), "GET", "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(reply
        .body
        .contains("cmi_preflight_watch_artifacts{status=\"we\\\"ird\\\\sta\\ntus\"} 1\n"));

    let (types, samples) = parse(&reply.body);
    let expected_types = [
        ("cmi_preflight_watch_ready", "gauge"),
        ("cmi_preflight_watch_scans_total", "counter"),
        ("cmi_preflight_watch_errors_total", "counter"),
        ("cmi_preflight_watch_last_scan_timestamp_seconds", "gauge"),
        (
            "cmi_preflight_watch_last_successful_scan_timestamp_seconds",
            "gauge",
        ),
        ("cmi_preflight_watch_artifacts", "gauge"),
        ("cmi_preflight_watch_jobs", "gauge"),
    ];
    let expected_types: BTreeMap<String, String> = expected_types
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(types, expected_types);
    assert!(samples
        .iter()
        .all(|s| s.name.starts_with("cmi_preflight_watch_")));

    assert_eq!(
        value(&samples, "cmi_preflight_watch_ready", None),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "cmi_preflight_watch_scans_total", None),
        Some(2.0)
    );
    let error = |kind| {
        value(
            &samples,
            "cmi_preflight_watch_errors_total",
            Some(("kind", kind)),
        )
    };
    assert_eq!(error("list"), Some(1.0));
    assert_eq!(error("import"), Some(2.0));
    for kind in ["check", "manifest", "report", "queue", "state"] {
        assert_eq!(error(kind), Some(0.0), "{kind}");
    }
    assert_eq!(
        value(
            &samples,
            "cmi_preflight_watch_last_scan_timestamp_seconds",
            None
        ),
        Some(1_700_000_000.25)
    );
    assert_eq!(
        value(
            &samples,
            "cmi_preflight_watch_last_successful_scan_timestamp_seconds",
            None
        ),
        Some(1_699_999_970.25)
    );
    let artifact = |status| {
        value(
            &samples,
            "cmi_preflight_watch_artifacts",
            Some(("status", status)),
        )
    };
    assert_eq!(artifact("settling"), Some(2.0));
    assert_eq!(artifact("imported"), Some(5.0));
    assert_eq!(artifact("import_failed"), Some(0.0));
    assert_eq!(artifact(weird), Some(1.0), "the escaped label parses back");
    let job = |status| {
        value(
            &samples,
            "cmi_preflight_watch_jobs",
            Some(("status", status)),
        )
    };
    assert_eq!(job("InProgress"), Some(1.0));
    assert_eq!(job("Completed"), Some(4.0));
    assert_eq!(job("Failed"), Some(1.0));
    assert_eq!(samples.len(), 1 + 1 + 7 + 1 + 1 + 4 + 3);

    // A new snapshot replaces the old one.
    metrics.set_artifacts(BTreeMap::from([("ready".to_owned(), 3)]));
    let (_, samples) = parse(&request(server.local_addr(), "GET", "/metrics").await.body);
    let artifacts: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "cmi_preflight_watch_artifacts")
        .collect();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(
        artifacts[0].labels,
        [("status".to_owned(), "ready".to_owned())]
    );

    stop.send(()).unwrap();
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(90)));
    let (server, stop) = start(metrics).await;
    let addr = server.local_addr();

    assert_eq!(request(addr, "GET", "/").await.status, 404);
    assert_eq!(request(addr, "GET", "/metricsx").await.status, 404);
    assert_eq!(request(addr, "DELETE", "/nothing").await.status, 404);
    for path in ["/healthz", "/metrics"] {
        for method in ["POST", "PUT", "DELETE"] {
            let reply = request(addr, method, path).await;
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("allow"), Some("GET, HEAD"));
        }
    }
    let head = request(addr, "HEAD", "/metrics").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "", "HEAD has no body");

    stop.send(()).unwrap();
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn non_loopback_addresses_are_refused() {
    for addr in [
        "0.0.0.0:0",
        "[::]:0",
        "192.0.2.1:9090",
        "[::ffff:127.0.0.1]:0",
    ] {
        let addr: SocketAddr = addr.parse().unwrap();
        let metrics = Arc::new(Metrics::new(Duration::from_secs(90)));
        match serve(addr, metrics, std::future::pending()).await {
            Err(HealthError::NotLoopback { addr: refused }) => {
                assert_eq!(refused, addr);
                let message = HealthError::NotLoopback { addr }.to_string();
                assert!(message.contains("loopback only"), "{message}");
            }
            other => panic!("{addr}: expected NotLoopback, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_address_in_use_is_a_bind_error() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(90)));
    let (server, stop) = start(Arc::clone(&metrics)).await;
    let taken = server.local_addr();
    match serve(taken, metrics, std::future::pending()).await {
        Err(HealthError::Bind { addr, .. }) => assert_eq!(addr, taken),
        other => panic!("expected Bind, got {other:?}"),
    }
    stop.send(()).unwrap();
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_server_and_closes_idle_connections() {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(90)));
    let (server, stop) = start(metrics).await;
    let addr = server.local_addr();
    assert_eq!(request(addr, "GET", "/healthz").await.status, 503);

    // A keep-alive connection that has answered one request and is now idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0; 512];
    let n = idle.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 503"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server.stopped())
        .await
        .expect("the server stops promptly")
        .unwrap();

    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(_))),
        "the idle connection is closed: {closed:?}"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
