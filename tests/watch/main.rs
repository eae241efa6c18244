//! `watch` end to end: the binary as a daemon (or with `--once`) against moto for S3 and SQS
//! and the testkit's Bedrock emulator; its JSON event log read from stdout, its state read
//! from the state database, signals sent with `kill`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../support/documents.rs"]
mod documents;
mod failover;
mod operations;
mod slot;

use cmi_agent::watch::daemon::{WatchEventLine, EVENTS};
use cmi_agent::watch::state::{StateStore, Status};
use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions, JobStatus};
use cmi_testkit::fixtures;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::{Fault, Matcher, Proxy};
use cmi_testkit::s3::{create_bucket, upload_fixture};
use serde_json::Value;

const ROLE: &str = "arn:aws:iam::123456789012:role/cmi-import";

fn fixture(name: &str) -> fixtures::Fixture {
    fixtures::all()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

/// A bucket on the shared moto with `(prefix, fixture)` uploaded.
async fn bucket(name: &str, artifacts: &[(&str, &str)]) -> aws_sdk_s3::Client {
    let s3 = Moto::shared().s3_client().await;
    create_bucket(&s3, name, moto::REGION)
        .await
        .expect("bucket");
    for (prefix, fixture_name) in artifacts {
        upload_fixture(&s3, name, prefix, &fixture(fixture_name))
            .await
            .expect("uploaded");
    }
    s3
}

fn emulator(job_duration: Duration) -> BedrockEmulator {
    BedrockEmulator::start(EmulatorOptions {
        job_duration,
        max_imported_models: 10,
        ..EmulatorOptions::default()
    })
}

/// The binary against `s3_endpoint` and `emulator`, with moto's static credentials.
fn command(s3_endpoint: &str, emulator: &BedrockEmulator, args: &[&str]) -> Command {
    let credentials = moto::static_credentials();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cmi-preflight"));
    command
        .arg("watch")
        .args(args)
        .args(["--endpoint-url", s3_endpoint])
        .args(["--bedrock-endpoint-url", &emulator.endpoint()])
        .args(["--region", moto::REGION])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// One line of the JSON log; a daemon event must read back as a typed [`WatchEventLine`] and
/// write out as the same object.
fn log_line(line: &str) -> Value {
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    if value["target"] == EVENTS {
        let typed: WatchEventLine = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("not a known event ({e}): {line}"));
        assert_eq!(serde_json::to_value(&typed).expect("event"), value);
    }
    value
}

fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(log_line)
        .collect()
}

fn named<'a>(events: &'a [Value], event: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == event).collect()
}

/// A daemon in the background, its events collected as they come.
struct Daemon {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    fn start(mut command: Command) -> Daemon {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("daemon starts");
        let stdout = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event = log_line(&line);
                sink.lock().expect("events").push(event);
            }
        });
        Daemon {
            child,
            events,
            reader: Some(reader),
        }
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().expect("events").clone()
    }

    /// Waits until `done` holds for the events so far.
    fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&self.events()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit; returns the status, how long it took, and every event.
    fn wait(mut self) -> (ExitStatus, Duration, Vec<Value>) {
        let started = Instant::now();
        let status = self.child.wait().expect("daemon exits");
        let took = started.elapsed();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader");
        }
        (status, took, self.events())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn statuses(state_dir: &Path) -> Vec<(String, Status)> {
    StateStore::open(state_dir)
        .expect("state")
        .list(None)
        .expect("listed")
        .into_iter()
        .map(|a| (a.name, a.status))
        .collect()
}

/// A report or manifest the daemon wrote, read back into its type first
/// (tests/support/documents.rs).
fn json_file(path: &Path) -> Value {
    documents::typed(&std::fs::read_to_string(path).expect("readable UTF-8"))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_artifacts_one_broken_then_one_changed() {
    let s3 = bucket(
        "watch-once",
        &[
            ("models/good/", "llama"),
            ("models/bad/", "cf002-unsupported-model-type"),
        ],
    )
    .await;
    s3.put_object()
        .bucket("watch-once")
        .key("models/README.md")
        .body(b"not an artifact".to_vec().into())
        .send()
        .await
        .expect("put");
    let emulator = emulator(Duration::from_millis(200));
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().to_str().expect("utf-8");
    let endpoint = Moto::shared().endpoint();
    let run = || {
        command(
            &endpoint,
            &emulator,
            &[
                "s3://watch-once/models/",
                "--state-dir",
                state_dir,
                "--settle",
                "0s",
                "--once",
                "--import",
                "--role-arn",
                ROLE,
                "--report-to",
                "s3://watch-once/reports/",
            ],
        )
        .output()
        .expect("runs")
    };

    let output = run();
    let first = events(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{first:#?}");
    assert_eq!(named(&first, "seen").len(), 2, "{first:#?}");
    assert_eq!(named(&first, "scanned")[0]["ignored"], 1);
    let passed = named(&first, "passed");
    let failed = named(&first, "failed");
    assert_eq!((passed.len(), failed.len()), (1, 1), "{first:#?}");
    assert_eq!(passed[0]["artifact"], "good");
    assert_eq!(failed[0]["artifact"], "bad");
    assert!(failed[0]["codes"]
        .as_str()
        .is_some_and(|c| c.contains("CF002")));
    let report = json_file(Path::new(failed[0]["report"].as_str().expect("path")));
    assert_eq!(report["schema"], "cmi-preflight.watch-report.v1");
    assert_eq!(report["passed"], false);
    assert_eq!(report["findings"][0]["code"], "CF002");
    assert_eq!(report["source"], "s3://watch-once/models/bad/");
    let fingerprint = report["fingerprint"].as_str().expect("fingerprint");
    let uploaded = s3
        .get_object()
        .bucket("watch-once")
        .key(format!("reports/bad/{}.json", &fingerprint[..16]))
        .send()
        .await
        .expect("the report is in S3 too");
    let uploaded = documents::typed(
        &String::from_utf8(uploaded.body.collect().await.expect("body").to_vec()).expect("UTF-8"),
    );
    assert_eq!(uploaded, report);
    let good = json_file(Path::new(passed[0]["report"].as_str().expect("path")));
    assert_eq!(good["passed"], true);
    let digest = good["manifest_digest"].as_str().expect("digest");
    assert_eq!(passed[0]["manifest_digest"], digest);

    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 1);
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(creates[0].input["jobName"], format!("good-{}", &hex[..12]));
    assert_eq!(
        creates[0].input["modelDataSource"]["s3DataSource"]["s3Uri"],
        "s3://watch-once/models/good/"
    );

    let arn = emulator.jobs()[0].arn.clone();
    wait_until("the job to complete", Duration::from_secs(30), || {
        emulator
            .job(&arn)
            .is_some_and(|j| j.status == JobStatus::Completed)
    });
    let output = run();
    let second = events(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{second:#?}");
    assert_eq!(named(&second, "job_completed").len(), 1, "{second:#?}");
    assert!(named(&second, "passed").is_empty() && named(&second, "failed").is_empty());
    assert_eq!(
        statuses(state.path()),
        vec![
            ("bad".to_string(), Status::Failed),
            ("good".to_string(), Status::Imported)
        ]
    );

    s3.put_object()
        .bucket("watch-once")
        .key("models/good/generation_config.json")
        .body(b"{\"do_sample\": true}\n".to_vec().into())
        .send()
        .await
        .expect("put");
    let output = run();
    let third = events(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{third:#?}");
    let changed = named(&third, "changed");
    assert_eq!(changed.len(), 1, "{third:#?}");
    assert_eq!(changed[0]["after_processing"], true);
    let passed = named(&third, "passed");
    assert_eq!(passed.len(), 1, "{third:#?}");
    assert_eq!(passed[0]["changed"], true);
    let rechecked = json_file(Path::new(passed[0]["report"].as_str().expect("path")));
    assert_eq!(rechecked["changed"], true);
    assert_ne!(rechecked["manifest_digest"], digest);
    assert_eq!(emulator.calls_to("CreateModelImportJob").len(), 2);
    assert_eq!(emulator.jobs().len(), 2);
    let reports = std::fs::read_dir(state.path().join("reports"))
        .expect("reports")
        .count();
    assert_eq!(reports, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_then_a_restart_imports_each_artifact_once() {
    bucket(
        "watch-kill",
        &[("models/one/", "llama"), ("models/two/", "qwen2")],
    )
    .await;
    let emulator = emulator(Duration::from_millis(300));
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().to_str().expect("utf-8");
    let endpoint = Moto::shared().endpoint();
    let args = [
        "s3://watch-kill/models/",
        "--state-dir",
        state_dir,
        "--settle",
        "0s",
        "--interval",
        "100ms",
        "--retry-after",
        "100ms",
        "--import",
        "--role-arn",
        ROLE,
        "--health-addr",
        "127.0.0.1:0",
    ];
    let first = Daemon::start(command(&endpoint, &emulator, &args));
    wait_until(
        "a first CreateModelImportJob",
        Duration::from_secs(60),
        || !emulator.calls_to("CreateModelImportJob").is_empty(),
    );
    first.signal("-KILL");
    let (status, _, _) = first.wait();
    assert_eq!(status.code(), None, "killed by a signal");

    let second = Daemon::start(command(&endpoint, &emulator, &args));
    wait_until("both imports to end", Duration::from_secs(60), || {
        statuses(state.path())
            .iter()
            .all(|(_, s)| *s == Status::Imported)
            && statuses(state.path()).len() == 2
    });
    second.wait_for(
        "a pass after the imports",
        Duration::from_secs(10),
        |events| named(events, "job_completed").len() + named(events, "scanned").len() > 2,
    );
    let served = named(&second.events(), "health_serving")[0]["addr"]
        .as_str()
        .expect("addr")
        .to_string();
    let metrics = http_get(&served, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("cmi_preflight_watch_artifacts{status=\"imported\"} 2"),
        "{metrics}"
    );
    let health = http_get(&served, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    second.signal("-TERM");
    let (status, _, events) = second.wait();
    assert_eq!(status.code(), Some(0), "{events:#?}");
    assert_eq!(named(&events, "stopped")[0]["interrupted"], true);

    let jobs = emulator.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    assert!(jobs.iter().all(|j| j.status == JobStatus::Completed));
    let created: Vec<_> = emulator
        .calls_to("CreateModelImportJob")
        .into_iter()
        .filter(|c| c.error.is_none() && !c.replay)
        .collect();
    assert_eq!(created.len(), 2, "one create per artifact");
}

/// One HTTP/1.1 GET over loopback; the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_on_one_queue_import_each_artifact_once() {
    let moto = Moto::shared();
    let s3 = bucket("watch-sqs", &[]).await;
    let config = moto.sdk_config().await;
    let sqs = cmi_testkit::sqs::client(&config);
    let queue =
        cmi_testkit::sqs::create_queue(&sqs, "watch-sqs-events", Duration::from_secs(30)).await;
    cmi_testkit::sqs::notify_queue(&s3, "watch-sqs", &queue.arn).await;
    let emulator = emulator(Duration::from_millis(200));
    let endpoint = moto.endpoint();
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let daemons: Vec<Daemon> = dirs
        .iter()
        .map(|dir| {
            Daemon::start(command(
                &endpoint,
                &emulator,
                &[
                    "s3://watch-sqs/incoming/",
                    "--state-dir",
                    dir.path().to_str().expect("utf-8"),
                    "--sqs-queue-url",
                    &queue.url,
                    "--ready-marker",
                    "_READY",
                    "--interval",
                    "200ms",
                    "--retry-after",
                    "100ms",
                    "--import",
                    "--role-arn",
                    ROLE,
                ],
            ))
        })
        .collect();
    for (prefix, name) in [("incoming/a/", "mistral"), ("incoming/b/", "qwen3")] {
        upload_fixture(&s3, "watch-sqs", prefix, &fixture(name))
            .await
            .expect("uploaded");
        s3.put_object()
            .bucket("watch-sqs")
            .key(format!("{prefix}_READY"))
            .body(Vec::new().into())
            .send()
            .await
            .expect("marker");
    }
    wait_until("two completed jobs", Duration::from_secs(90), || {
        let jobs = emulator.jobs();
        jobs.len() >= 2 && jobs.iter().all(|j| j.status == JobStatus::Completed)
    });
    wait_until(
        "the daemons to see the jobs end",
        Duration::from_secs(60),
        || {
            daemons
                .iter()
                .map(|d| named(&d.events(), "job_completed").len())
                .sum::<usize>()
                >= 2
        },
    );
    let mut received = 0;
    for daemon in daemons {
        daemon.signal("-TERM");
        let (status, _, events) = daemon.wait();
        assert_eq!(status.code(), Some(0), "{events:#?}");
        received += named(&events, "received")
            .iter()
            .map(|e| e["messages"].as_u64().unwrap_or(0))
            .sum::<u64>();
    }
    assert!(received >= 2, "the daemons took the events from the queue");
    let jobs = emulator.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    let mut names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    names.sort();
    assert!(
        names[0].starts_with("a-") && names[1].starts_with("b-"),
        "{names:?}"
    );
    let created = emulator
        .calls_to("CreateModelImportJob")
        .into_iter()
        .filter(|c| c.error.is_none() && !c.replay)
        .count();
    assert_eq!(created, 2, "one create per artifact across both daemons");
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_are_retried_and_sigterm_during_a_scan_exits_within_the_bound() {
    bucket("watch-faults", &[("models/x/", "llama")]).await;
    let proxy = Proxy::start(&Moto::shared().endpoint());
    let emulator = emulator(Duration::MAX);
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().to_str().expect("utf-8");
    let args = [
        "s3://watch-faults/models/",
        "--state-dir",
        state_dir,
        "--settle",
        "0s",
        "--interval",
        "100ms",
        "--retry-after",
        "200ms",
    ];
    proxy.fail_next_matching(
        100_000,
        Fault::Status503SlowDown,
        Matcher {
            method: Some("GET".into()),
            path_contains: Some("/watch-faults/models/x/".into()),
        },
    );
    let daemon = Daemon::start(command(&proxy.endpoint(), &emulator, &args));
    daemon.wait_for("a retried fault", Duration::from_secs(120), |events| {
        named(events, "fault").len() >= 2 && !named(events, "retrying").is_empty()
    });
    assert!(named(&daemon.events(), "passed").is_empty());
    let fault = &named(&daemon.events(), "fault")[0].clone();
    assert_eq!(fault["stage"], "check");
    assert!(
        fault["error"]
            .as_str()
            .is_some_and(|e| e.contains("SlowDown")),
        "{fault}"
    );
    proxy.clear_faults();
    daemon.wait_for("the check to pass", Duration::from_secs(60), |events| {
        !named(events, "passed").is_empty()
    });

    proxy.fail_next(1_000, Fault::Delay(Duration::from_secs(30)));
    // A scan already past the proxy may still finish; the next one is held.
    std::thread::sleep(Duration::from_millis(500));
    let scans = named(&daemon.events(), "scanned").len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        named(&daemon.events(), "scanned").len(),
        scans,
        "the scan is stuck behind the delayed listing"
    );
    daemon.signal("-TERM");
    let (status, took, events) = daemon.wait();
    assert_eq!(status.code(), Some(0), "{events:#?}");
    assert!(took < Duration::from_secs(10), "exited after {took:?}");
    assert_eq!(named(&events, "stopped")[0]["interrupted"], true);
    assert_eq!(
        statuses(state.path()),
        vec![("x".to_string(), Status::Passed)]
    );
}

#[test]
fn a_scan_that_fails_under_once_is_exit_status_2_and_an_event() {
    let emulator = emulator(Duration::MAX);
    let state = tempfile::tempdir().expect("tempdir");
    // A closed loopback port: the listing fails after the SDK's retries.
    let output = command(
        "http://127.0.0.1:9",
        &emulator,
        &[
            "s3://watch-nowhere/models/",
            "--state-dir",
            state.path().to_str().expect("utf-8"),
            "--once",
        ],
    )
    .output()
    .expect("runs");
    let events = events(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{events:#?}");
    let failed = named(&events, "scan_failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert!(failed[0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("ListObjectsV2 s3://watch-nowhere/models/")));
    assert_eq!(named(&events, "stopped")[0]["interrupted"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn single_watches_the_prefix_itself_and_a_marker_holds_it_back() {
    let s3 = bucket("watch-single", &[("models/llama/", "llama")]).await;
    let emulator = emulator(Duration::MAX);
    let state = tempfile::tempdir().expect("tempdir");
    let endpoint = Moto::shared().endpoint();
    let run = || {
        let output = command(
            &endpoint,
            &emulator,
            &[
                "s3://watch-single/models/llama/",
                "--single",
                "--ready-marker",
                "done/_READY",
                "--state-dir",
                state.path().to_str().expect("utf-8"),
                "--once",
            ],
        )
        .output()
        .expect("runs");
        assert_eq!(output.status.code(), Some(0));
        events(&output.stdout)
    };
    let waiting = run();
    assert_eq!(
        named(&waiting, "seen")[0]["artifact"],
        "llama",
        "{waiting:#?}"
    );
    assert!(named(&waiting, "ready").is_empty(), "{waiting:#?}");

    s3.put_object()
        .bucket("watch-single")
        .key("models/llama/done/_READY")
        .body(Vec::new().into())
        .send()
        .await
        .expect("marker");
    let ready = run();
    assert!(
        named(&ready, "changed").is_empty(),
        "the marker is not part of the fingerprint"
    );
    assert_eq!(
        named(&ready, "passed")[0]["artifact"],
        "llama",
        "{ready:#?}"
    );
    assert!(emulator.calls().is_empty(), "no import without --import");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_as_role_reads_the_artifact_as_the_execution_role() {
    // A private moto with IAM enforced: the daemon runs as an admin, and reads the artifact as
    // a role that may, or may not, read it.
    let moto = Moto::start();
    let iam = moto.iam_client().await;
    let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
    let trust = moto::trust_policy(&admin.arn);
    let reader =
        moto::create_role(&iam, "reader", &trust, &moto::s3_read_policy("models", "")).await;
    let nothing = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    let blind = moto::create_role(&iam, "blind", &trust, nothing).await;
    let s3 = moto.s3_client().await;
    create_bucket(&s3, "models", moto::REGION)
        .await
        .expect("bucket");
    upload_fixture(&s3, "models", "zoo/llama/", &fixture("llama"))
        .await
        .expect("uploaded");
    moto.enforce_auth(0);
    let emulator = BedrockEmulator::start(EmulatorOptions {
        max_imported_models: 10,
        callers: vec![admin.credentials.clone()],
        ..EmulatorOptions::default()
    });
    let run = |role: &str, state: &Path| {
        let mut command = command(
            &moto.endpoint(),
            &emulator,
            &[
                "s3://models/zoo/",
                "--state-dir",
                state.to_str().expect("utf-8"),
                "--settle",
                "0s",
                "--once",
                "--import",
                "--role-arn",
                role,
                "--check-as-role",
            ],
        );
        command
            .env("AWS_ACCESS_KEY_ID", admin.credentials.access_key_id())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                admin.credentials.secret_access_key(),
            );
        let output = command.output().expect("runs");
        (output.status.code(), events(&output.stdout))
    };

    let state = tempfile::tempdir().expect("tempdir");
    let (code, denied) = run(&blind, state.path());
    assert_eq!(code, Some(2), "a fault: {denied:#?}");
    let fault = named(&denied, "fault");
    assert_eq!(fault.len(), 1, "{denied:#?}");
    assert!(
        fault[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("s3:ListBucket") && e.contains("blind")),
        "{fault:?}"
    );
    assert!(named(&denied, "passed").is_empty() && named(&denied, "failed").is_empty());
    assert!(emulator.calls().is_empty());

    let state = tempfile::tempdir().expect("tempdir");
    let (code, read) = run(&reader, state.path());
    assert_eq!(code, Some(0), "{read:#?}");
    assert_eq!(named(&read, "passed").len(), 1, "{read:#?}");
    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].input["roleArn"], reader.as_str());
}
