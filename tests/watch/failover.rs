//! Replicas on one SQS queue that fail over: a message stays in flight until its artifacts
//! are done, a daemon killed for good leaves its messages to the other, the start-up scan
//! finds what predates the queue; and the soak (`CMI_SOAK=1`), daemons ended at random.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use cmi_agent::watch::state::{StateStore, Status};
use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions, JobStatus};
use cmi_testkit::moto::Moto;
use cmi_testkit::s3::upload_fixture;
use cmi_testkit::sqs;

use super::{bucket, command, events, fixture, named, statuses, wait_until, Daemon, ROLE};

/// An emulator whose jobs end after `job_duration`, without the one-job quota (the import
/// slot is another part's test).
fn emulator(job_duration: Duration, models: usize) -> BedrockEmulator {
    BedrockEmulator::start(EmulatorOptions {
        job_duration,
        max_imported_models: models,
        max_concurrent_jobs: models,
        ..EmulatorOptions::default()
    })
}

/// Uploads `fixture_name` under `prefix`, then its `_READY` marker.
async fn upload_ready(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, fixture_name: &str) {
    upload_fixture(s3, bucket, prefix, &fixture(fixture_name))
        .await
        .expect("uploaded");
    s3.put_object()
        .bucket(bucket)
        .key(format!("{prefix}_READY"))
        .body(Vec::new().into())
        .send()
        .await
        .expect("marker");
}

/// The arguments of a replica on `queue_url` with its own `state_dir`.
fn replica_args<'a>(
    watched: &'a str,
    state_dir: &'a Path,
    queue_url: &'a str,
    report_to: &'a str,
) -> Vec<&'a str> {
    vec![
        watched,
        "--state-dir",
        state_dir.to_str().expect("utf-8"),
        "--sqs-queue-url",
        queue_url,
        "--ready-marker",
        "_READY",
        "--interval",
        "1s",
        "--retry-after",
        "100ms",
        "--import",
        "--role-arn",
        ROLE,
        "--report-to",
        report_to,
    ]
}

/// Waits until the queue holds no message, visible or in flight.
async fn wait_drained(sqs: &sqs::Client, url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let depth = sqs::depth(sqs, url).await;
        if depth == (0, 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue still holds {depth:?} (visible, in flight)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The keys under `prefix` in `bucket`.
async fn keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("listed");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// The artifact of a job name `{name}-{digest}`.
fn artifact_of(job_name: &str) -> &str {
    job_name.rsplit_once('-').map_or(job_name, |(name, _)| name)
}

/// One CreateModelImportJob that created a job (not a replay of a token) per artifact.
fn created_once(emulator: &BedrockEmulator, artifacts: &BTreeSet<String>) {
    let jobs = emulator.jobs();
    let named: BTreeSet<String> = jobs
        .iter()
        .map(|j| artifact_of(&j.name).to_string())
        .collect();
    assert_eq!(jobs.len(), artifacts.len(), "{jobs:#?}");
    assert_eq!(&named, artifacts, "{jobs:#?}");
    let created = emulator
        .calls_to("CreateModelImportJob")
        .into_iter()
        .filter(|c| c.error.is_none() && !c.replay)
        .count();
    assert_eq!(created, artifacts.len(), "one create per artifact");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_for_good_leaves_its_messages_to_the_other() {
    let moto = Moto::shared();
    // Uploaded before the queue exists: no event will ever name it.
    let s3 = bucket("watch-failover", &[]).await;
    upload_ready(&s3, "watch-failover", "incoming/early/", "llama").await;
    let config = moto.sdk_config().await;
    let sqs_client = sqs::client(&config);
    let queue =
        sqs::create_queue(&sqs_client, "watch-failover-events", Duration::from_secs(5)).await;
    sqs::notify_queue(&s3, "watch-failover", &queue.arn).await;
    let emulator = emulator(Duration::from_millis(200), 10);
    let endpoint = moto.endpoint();
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let replica = |dir: &Path| {
        Daemon::start(command(
            &endpoint,
            &emulator,
            &replica_args(
                "s3://watch-failover/incoming/",
                dir,
                &queue.url,
                "s3://watch-failover/reports/",
            ),
        ))
    };
    let doomed = replica(dirs[0].path());
    let survivor = replica(dirs[1].path());
    for daemon in [&doomed, &survivor] {
        daemon.wait_for("the start-up scan", Duration::from_secs(60), |events| {
            !named(events, "scanned").is_empty()
        });
    }
    assert_eq!(named(&survivor.events(), "scanned")[0]["artifacts"], 1);

    // The survivor is paused while the doomed replica takes the events, then is killed.
    survivor.signal("-STOP");
    for (prefix, name) in [("incoming/a/", "mistral"), ("incoming/b/", "qwen3")] {
        upload_ready(&s3, "watch-failover", prefix, name).await;
    }
    s3.put_object()
        .bucket("watch-failover")
        .key("elsewhere/notes.txt")
        .body(b"not watched".to_vec().into())
        .send()
        .await
        .expect("put");
    sqs_client
        .send_message()
        .queue_url(&queue.url)
        .message_body("not an S3 event")
        .send()
        .await
        .expect("sent");
    doomed.wait_for("events received", Duration::from_secs(60), |events| {
        named(events, "received")
            .iter()
            .any(|e| e["artifacts"].as_u64().unwrap_or(0) > 0)
    });
    doomed.signal("-KILL");
    survivor.signal("-CONT");
    let (status, _, _) = doomed.wait();
    assert_eq!(status.code(), None, "killed by a signal");

    let all: BTreeSet<String> = ["a", "b", "early"].map(String::from).into();
    wait_until("three completed jobs", Duration::from_secs(120), || {
        let jobs = emulator.jobs();
        jobs.len() == 3 && jobs.iter().all(|j| j.status == JobStatus::Completed)
    });
    // The messages the doomed replica held came back to the survivor, which deleted them
    // once their artifacts were done.
    wait_drained(&sqs_client, &queue.url, Duration::from_secs(60)).await;
    // Each artifact reaches a durable outcome: submitted by the doomed replica before it
    // died (Bedrock runs the job), or taken over and imported by the survivor (which records
    // the end of a job on the pass after Bedrock ends it).
    let outcome = |name: &str| {
        let survived = statuses(dirs[1].path())
            .iter()
            .any(|(n, s)| n == name && *s == Status::Imported);
        let submitted = statuses(dirs[0].path())
            .iter()
            .any(|(n, s)| n == name && matches!(s, Status::Importing | Status::Imported));
        survived || submitted
    };
    wait_until(
        "a durable outcome for each artifact",
        Duration::from_secs(60),
        || all.iter().all(|name| outcome(name)),
    );
    survivor.signal("-TERM");
    let (status, _, events) = survivor.wait();
    assert_eq!(status.code(), Some(0), "{events:#?}");
    assert!(!named(&events, "message_dropped").is_empty(), "{events:#?}");
    let passed: Vec<&str> = named(&events, "passed")
        .iter()
        .filter_map(|e| e["artifact"].as_str())
        .collect();
    let checked: BTreeSet<&str> = passed.iter().copied().collect();
    assert_eq!(
        checked.len(),
        passed.len(),
        "one check per artifact: {passed:?}"
    );

    created_once(&emulator, &all);
    assert!(emulator
        .jobs()
        .iter()
        .all(|j| j.status == JobStatus::Completed));
    let reports = keys(&s3, "watch-failover", "reports/").await;
    let reported: BTreeSet<String> = reports
        .iter()
        .filter_map(|k| k.strip_prefix("reports/")?.split('/').next())
        .map(str::to_string)
        .collect();
    assert_eq!(reports.len(), 3, "one report per artifact: {reports:?}");
    assert_eq!(reported, all);
}

#[tokio::test(flavor = "multi_thread")]
async fn held_messages_stay_invisible_while_their_artifact_settles() {
    let moto = Moto::shared();
    let s3 = bucket("watch-held", &[]).await;
    let config = moto.sdk_config().await;
    let sqs_client = sqs::client(&config);
    // Each message is held through a settle period three times the visibility timeout.
    let queue = sqs::create_queue(&sqs_client, "watch-held-events", Duration::from_secs(2)).await;
    sqs::notify_queue(&s3, "watch-held", &queue.arn).await;
    let emulator = emulator(Duration::MAX, 3);
    let state = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(command(
        &moto.endpoint(),
        &emulator,
        &[
            "s3://watch-held/models/",
            "--state-dir",
            state.path().to_str().expect("utf-8"),
            "--sqs-queue-url",
            &queue.url,
            "--settle",
            "6s",
            "--interval",
            "1s",
        ],
    ));
    daemon.wait_for("the start-up scan", Duration::from_secs(60), |events| {
        !named(events, "scanned").is_empty()
    });
    upload_fixture(&s3, "watch-held", "models/slow/", &fixture("llama"))
        .await
        .expect("uploaded");
    let objects = keys(&s3, "watch-held", "models/").await.len();
    daemon.wait_for("the check", Duration::from_secs(120), |events| {
        !named(events, "passed").is_empty()
    });
    wait_drained(&sqs_client, &queue.url, Duration::from_secs(60)).await;
    daemon.signal("-TERM");
    let (status, _, events) = daemon.wait();
    assert_eq!(status.code(), Some(0), "{events:#?}");
    let received: u64 = named(&events, "received")
        .iter()
        .filter_map(|e| e["messages"].as_u64())
        .sum();
    let deleted: u64 = named(&events, "messages_deleted")
        .iter()
        .filter_map(|e| e["messages"].as_u64())
        .sum();
    // One event per object and the test event, each received once: none lapsed.
    assert_eq!(received, objects as u64 + 1, "{events:#?}");
    assert_eq!(deleted, objects as u64, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_in_sqs_mode_lists_the_prefix_only_with_rescan() {
    let moto = Moto::shared();
    let s3 = bucket("watch-rescan", &[]).await;
    upload_ready(&s3, "watch-rescan", "models/old/", "llama").await;
    let config = moto.sdk_config().await;
    let queue = sqs::create_queue(
        &sqs::client(&config),
        "watch-rescan-events",
        Duration::from_secs(5),
    )
    .await;
    let emulator = emulator(Duration::MAX, 3);
    let state = tempfile::tempdir().expect("tempdir");
    let run = |rescan: bool| {
        let mut args: Vec<&str> = vec![
            "s3://watch-rescan/models/",
            "--state-dir",
            state.path().to_str().expect("utf-8"),
            "--sqs-queue-url",
            queue.url.as_str(),
            "--ready-marker",
            "_READY",
            "--interval",
            "1s",
            "--once",
        ];
        if rescan {
            args.push("--rescan");
        }
        let output: std::process::Output = command(&moto.endpoint(), &emulator, &args)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(0));
        events(&output.stdout)
    };
    let received = run(false);
    assert!(named(&received, "scanned").is_empty(), "{received:#?}");
    assert!(named(&received, "seen").is_empty(), "{received:#?}");
    let rescanned = run(true);
    assert_eq!(named(&rescanned, "scanned").len(), 1, "{rescanned:#?}");
    assert_eq!(named(&rescanned, "passed")[0]["artifact"], "old");
}

/// SplitMix64: the soak's seeded choices.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The soak of issue 17, opt-in (`CMI_SOAK=1`; `CMI_SOAK_ARTIFACTS`, default 20,
/// `CMI_SOAK_ROUNDS`, default twice that, `CMI_SOAK_SEED`, default the clock): two replicas
/// on one queue, each round one of them ended by kill -9 or SIGTERM at a random point and
/// started again on its state directory, while artifacts arrive (a quarter before the queue
/// exists). At the end: each artifact imported by one job, one report each, and both state
/// directories agree with Bedrock.
#[tokio::test(flavor = "multi_thread")]
async fn soak_replicas_ended_at_random() {
    if std::env::var("CMI_SOAK").as_deref() != Ok("1") {
        println!("skipped: the soak runs with CMI_SOAK=1 (docs/watch.md)");
        return;
    }
    let n = env_number("CMI_SOAK_ARTIFACTS", 20).max(1);
    let rounds = env_number("CMI_SOAK_ROUNDS", 2 * n);
    let clock = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let seed = env_number("CMI_SOAK_SEED", clock);
    println!("soak: {n} artifacts, {rounds} rounds, seed {seed} (CMI_SOAK_SEED repeats it)");
    let mut rng = SplitMix(seed);
    let moto = Moto::shared();
    let s3 = bucket("watch-soak", &[]).await;
    let fixtures = ["llama", "qwen2", "mistral", "qwen3"];
    let artifacts: Vec<String> = (0..n).map(|i| format!("m{i:03}")).collect();
    let upload = |i: usize| {
        let s3 = &s3;
        let name = &artifacts[i];
        async move {
            let prefix = format!("incoming/{name}/");
            upload_ready(s3, "watch-soak", &prefix, fixtures[i % fixtures.len()]).await;
        }
    };
    let early = usize::try_from(n / 4).unwrap_or(0);
    for i in 0..early {
        upload(i).await;
    }
    let config = moto.sdk_config().await;
    let sqs_client = sqs::client(&config);
    let queue = sqs::create_queue(&sqs_client, "watch-soak-events", Duration::from_secs(3)).await;
    sqs::notify_queue(&s3, "watch-soak", &queue.arn).await;
    let n_usize = artifacts.len();
    let emulator = emulator(Duration::from_secs(1), n_usize + 1);
    let endpoint = moto.endpoint();
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let replica = |i: usize| {
        Daemon::start(command(
            &endpoint,
            &emulator,
            &replica_args(
                "s3://watch-soak/incoming/",
                dirs[i].path(),
                &queue.url,
                "s3://watch-soak/reports/",
            ),
        ))
    };
    let started = Instant::now();
    let mut running: [Option<Daemon>; 2] = [None, None];
    let (mut runs, mut killed, mut terminated) = (0u64, 0u64, 0u64);
    let mut uploaded = early;
    for _ in 0..rounds {
        for (i, slot) in running.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(replica(i));
                runs += 1;
            }
        }
        if uploaded < n_usize && rng.below(3) > 0 {
            upload(uploaded).await;
            uploaded += 1;
        }
        tokio::time::sleep(Duration::from_millis(200 + rng.below(2800))).await;
        let victim = usize::from(rng.below(2) == 1);
        let Some(daemon) = running[victim].take() else {
            continue;
        };
        let by_kill = rng.below(2) == 0;
        daemon.signal(if by_kill { "-KILL" } else { "-TERM" });
        let (status, _, events) = daemon.wait();
        if by_kill {
            killed += 1;
            assert_eq!(status.code(), None);
        } else {
            terminated += 1;
            assert_eq!(status.code(), Some(0), "{events:#?}");
        }
    }
    while uploaded < n_usize {
        upload(uploaded).await;
        uploaded += 1;
    }
    // A last start of both, whose start-up scans show each every artifact (the events of one
    // go to one daemon only).
    for slot in &mut running {
        if let Some(daemon) = slot.take() {
            daemon.signal("-TERM");
            let (status, _, events) = daemon.wait();
            assert_eq!(status.code(), Some(0), "{events:#?}");
            terminated += 1;
        }
    }
    for (i, slot) in running.iter_mut().enumerate() {
        *slot = Some(replica(i));
        runs += 1;
    }
    let done = |dir: &Path| {
        let states = statuses(dir);
        states.len() == n_usize && states.iter().all(|(_, s)| *s == Status::Imported)
    };
    wait_until(
        "every artifact imported in both states",
        Duration::from_secs(60 * n),
        || dirs.iter().all(|d| done(d.path())),
    );
    wait_drained(&sqs_client, &queue.url, Duration::from_secs(120)).await;
    for daemon in running.into_iter().flatten() {
        daemon.signal("-TERM");
        let (status, _, events) = daemon.wait();
        assert_eq!(status.code(), Some(0), "{events:#?}");
    }

    let all: BTreeSet<String> = artifacts.iter().cloned().collect();
    created_once(&emulator, &all);
    let jobs = emulator.jobs();
    assert!(jobs.iter().all(|j| j.status == JobStatus::Completed));
    let reports = keys(&s3, "watch-soak", "reports/").await;
    assert_eq!(
        reports.len(),
        n_usize,
        "one report per artifact: {reports:?}"
    );
    for dir in &dirs {
        for state in StateStore::open(dir.path())
            .expect("state")
            .list(None)
            .expect("listed")
        {
            let job = jobs
                .iter()
                .find(|j| artifact_of(&j.name) == state.name)
                .unwrap_or_else(|| panic!("no job for {}", state.name));
            assert_eq!(
                state.job_arn.as_deref(),
                Some(job.arn.as_str()),
                "{state:?}"
            );
            assert_eq!(state.job_status.as_deref(), Some("Completed"), "{state:?}");
        }
    }
    let creates = emulator.calls_to("CreateModelImportJob");
    let replays = creates.iter().filter(|c| c.replay).count();
    println!(
        "soak: seed {seed}, {n} artifacts, {runs} daemon runs ({killed} kill -9, {terminated} SIGTERM), \
         {} jobs, {} CreateModelImportJob ({replays} replays of a token), {} reports, {:.0?}",
        jobs.len(),
        creates.len(),
        reports.len(),
        started.elapsed()
    );
}
