//! The import slot (docs/watch.md, The import slot) and the metrics read from the state: the
//! FIFO keeps the slot busy, a job started elsewhere holds it, the gauges are there from the
//! first scrape, and deletion has its own outcome.

use super::*;

/// The jobs of the five-artifact run, each `JOB` long, and the daemon's `--interval`.
const JOBS: u32 = 5;
const JOB: Duration = Duration::from_secs(3);
const INTERVAL: Duration = Duration::from_secs(1);

/// The metrics page of a daemon whose `health_serving` event was logged.
fn metrics_of(daemon: &Daemon) -> String {
    daemon.wait_for("the health server", Duration::from_secs(30), |events| {
        !named(events, "health_serving").is_empty()
    });
    let addr = named(&daemon.events(), "health_serving")[0]["addr"]
        .as_str()
        .expect("addr")
        .to_string();
    let page = http_get(&addr, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    page
}

/// The value of one sample (`name{labels}`) on a metrics page.
fn sample(page: &str, series: &str) -> Option<u64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn errors_total(page: &str) -> u64 {
    page.lines()
        .filter(|l| l.starts_with("cmi_preflight_watch_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn put_marker(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(Vec::new().into())
        .send()
        .await
        .expect("marker");
}

/// Five artifacts made ready one at a time, in the reverse of their names' order: they are
/// submitted in the order they passed, one job at a time, each as soon as the one before
/// ends. The bound on the time from the first submission to the last completion is a
/// functional bound on the scheduling, not a speed test: each job takes `JOB`, then its end is
/// seen within one `INTERVAL` (the wait between passes) plus the pass itself, allowed one more
/// `INTERVAL` for a loaded machine, and the next job is submitted in that same pass:
/// `JOBS x (JOB + 2 x INTERVAL)` = 25 s. Before the slot, quota refusals backed off per
/// artifact and the same run took 80 s.
#[tokio::test(flavor = "multi_thread")]
async fn five_artifacts_keep_one_slot_busy_in_the_order_they_passed() {
    let names = ["a", "b", "c", "d", "e"];
    let artifacts: Vec<(String, &str)> = names
        .iter()
        .map(|n| (format!("models/{n}/"), "llama"))
        .collect();
    let uploads: Vec<(&str, &str)> = artifacts.iter().map(|(p, f)| (p.as_str(), *f)).collect();
    let s3 = bucket("watch-slot-fifo", &uploads).await;
    let emulator = BedrockEmulator::start(EmulatorOptions {
        job_duration: JOB,
        max_concurrent_jobs: 1,
        max_imported_models: 10,
        ..EmulatorOptions::default()
    });
    let state = tempfile::tempdir().expect("tempdir");
    let interval = format!("{}ms", INTERVAL.as_millis());
    let args = [
        "s3://watch-slot-fifo/models/",
        "--state-dir",
        state.path().to_str().expect("utf-8"),
        "--ready-marker",
        "_READY",
        "--interval",
        &interval,
        "--import",
        "--role-arn",
        ROLE,
        "--max-in-flight",
        "1",
        "--health-addr",
        "127.0.0.1:0",
    ];
    let daemon = Daemon::start(command(&Moto::shared().endpoint(), &emulator, &args));
    let mut first_submission = None;
    for (i, name) in names.iter().rev().enumerate() {
        put_marker(&s3, "watch-slot-fifo", &format!("models/{name}/_READY")).await;
        daemon.wait_for("the artifact to pass", Duration::from_secs(60), |events| {
            named(events, "passed").len() > i
        });
        if first_submission.is_none() {
            daemon.wait_for("the first submission", Duration::from_secs(60), |events| {
                !named(events, "submitted").is_empty()
            });
            first_submission = Some(Instant::now());
        }
    }
    let first_submission = first_submission.expect("submitted");
    let bound = (JOB + INTERVAL * 2) * JOBS;
    daemon.wait_for("every job to complete", bound * 4, |events| {
        named(events, "job_completed").len() == names.len()
    });
    let took = first_submission.elapsed();
    assert!(
        took <= bound,
        "{took:?} from the first submission to the last completion, more than {bound:?}"
    );

    let events = daemon.events();
    let order = |event: &str| -> Vec<String> {
        named(&events, event)
            .iter()
            .map(|e| e["artifact"].as_str().expect("artifact").to_string())
            .collect()
    };
    let passed = order("passed");
    assert_eq!(passed, ["e", "d", "c", "b", "a"]);
    assert_eq!(
        order("submitted"),
        passed,
        "submitted in the order they passed"
    );
    assert_eq!(order("job_completed"), passed);
    assert!(named(&events, "fault").is_empty(), "{events:#?}");
    let creates = emulator.calls_to("CreateModelImportJob");
    assert!(
        creates.iter().all(|c| c.error.is_none()),
        "never refused: {creates:#?}"
    );
    assert_eq!(creates.len(), names.len());
    assert!(
        emulator.calls_to("ListModelImportJobs").len() <= named(&events, "scanned").len(),
        "at most one listing per pass"
    );
    let page = metrics_of(&daemon);
    assert_eq!(errors_total(&page), 0, "{page}");
    assert_eq!(
        sample(&page, "cmi_preflight_watch_artifacts{status=\"imported\"}"),
        Some(5)
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_jobs{status=\"Completed\"}"),
        Some(5)
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_import_slot{state=\"free\"}"),
        Some(1)
    );
    assert_eq!(sample(&page, "cmi_preflight_watch_queued_imports"), Some(0));
    daemon.signal("-TERM");
    let (status, _, _) = daemon.wait();
    assert_eq!(status.code(), Some(0));
}

/// A job started outside the daemon holds the slot: the daemon lists it, submits nothing while
/// it runs, counts no error, and submits as soon as it ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_started_elsewhere_keeps_the_slot_busy_until_it_ends() {
    bucket(
        "watch-slot-outside",
        &[("models/mine/", "llama"), ("elsewhere/theirs/", "qwen2")],
    )
    .await;
    let emulator = emulator(Duration::MAX);
    let config = moto::sdk_config_for(
        &emulator.endpoint(),
        moto::static_credentials(),
        moto::REGION,
    )
    .await;
    let client = aws_sdk_bedrock::Client::new(&config);
    let outside = client
        .create_model_import_job()
        .job_name("theirs")
        .imported_model_name("theirs-model")
        .role_arn(ROLE)
        .model_data_source(aws_sdk_bedrock::types::ModelDataSource::S3DataSource(
            aws_sdk_bedrock::types::S3DataSource::builder()
                .s3_uri("s3://watch-slot-outside/elsewhere/theirs/")
                .build()
                .expect("source"),
        ))
        .send()
        .await
        .expect("created")
        .job_arn()
        .to_string();
    emulator.clear_calls();

    let state = tempfile::tempdir().expect("tempdir");
    let args = [
        "s3://watch-slot-outside/models/",
        "--state-dir",
        state.path().to_str().expect("utf-8"),
        "--settle",
        "0s",
        "--interval",
        "200ms",
        "--import",
        "--role-arn",
        ROLE,
        "--health-addr",
        "127.0.0.1:0",
    ];
    let daemon = Daemon::start(command(&Moto::shared().endpoint(), &emulator, &args));
    daemon.wait_for("the slot busy", Duration::from_secs(60), |events| {
        !named(events, "slot_busy").is_empty()
    });
    daemon.wait_for("a few more passes", Duration::from_secs(60), |events| {
        named(events, "scanned").len() >= 5
    });
    let busy = named(&daemon.events(), "slot_busy")[0].clone();
    assert_eq!(
        (&busy["queued"], &busy["outside"], &busy["refused"]),
        (&Value::from(1), &Value::from(1), &Value::Bool(false)),
        "{busy}"
    );
    assert!(emulator.calls_to("CreateModelImportJob").is_empty());
    assert!(!emulator.calls_to("ListModelImportJobs").is_empty());
    assert_eq!(
        statuses(state.path()),
        vec![("mine".to_string(), Status::Passed)]
    );
    let page = metrics_of(&daemon);
    assert_eq!(
        sample(&page, "cmi_preflight_watch_import_slot{state=\"busy\"}"),
        Some(1),
        "{page}"
    );
    assert_eq!(sample(&page, "cmi_preflight_watch_queued_imports"), Some(1));
    assert_eq!(errors_total(&page), 0, "{page}");

    emulator.complete_job(&outside).expect("completed");
    daemon.wait_for("the submission", Duration::from_secs(60), |events| {
        !named(events, "submitted").is_empty()
    });
    let mine = emulator
        .jobs()
        .into_iter()
        .find(|j| j.arn != outside)
        .expect("the daemon's job");
    emulator.complete_job(&mine.arn).expect("completed");
    wait_until("the import", Duration::from_secs(60), || {
        statuses(state.path()) == vec![("mine".to_string(), Status::Imported)]
    });
    assert!(named(&daemon.events(), "fault").is_empty());
    daemon.signal("-TERM");
    let (status, _, _) = daemon.wait();
    assert_eq!(status.code(), Some(0));
}

/// After a restart, the first scrape already has the artifacts, jobs and slot gauges, read
/// from the state, although the first scan is held back by a slow listing; then an artifact
/// deleted while its job runs is followed to its end, reported, and ends `deleted`.
#[tokio::test(flavor = "multi_thread")]
async fn gauges_from_the_first_scrape_and_deletion_during_a_job() {
    let s3 = bucket(
        "watch-slot-restart",
        &[("models/kept/", "llama"), ("models/gone/", "qwen2")],
    )
    .await;
    let emulator = BedrockEmulator::start(EmulatorOptions {
        max_concurrent_jobs: 2,
        max_imported_models: 10,
        ..EmulatorOptions::default()
    });
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().to_str().expect("utf-8");
    let args = [
        "s3://watch-slot-restart/models/",
        "--state-dir",
        state_dir,
        "--settle",
        "0s",
        "--interval",
        "200ms",
        "--import",
        "--role-arn",
        ROLE,
        "--max-in-flight",
        "2",
        "--health-addr",
        "127.0.0.1:0",
    ];
    let first = Daemon::start(command(&Moto::shared().endpoint(), &emulator, &args));
    first.wait_for("two submissions", Duration::from_secs(60), |events| {
        named(events, "submitted").len() == 2
    });
    first.signal("-TERM");
    assert_eq!(first.wait().0.code(), Some(0));

    let proxy = Proxy::start(&Moto::shared().endpoint());
    proxy.fail_next(1_000, Fault::Delay(Duration::from_secs(30)));
    let second = Daemon::start(command(&proxy.endpoint(), &emulator, &args));
    let page = metrics_of(&second);
    assert!(named(&second.events(), "scanned").is_empty(), "held back");
    assert_eq!(
        sample(&page, "cmi_preflight_watch_ready"),
        Some(0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_artifacts{status=\"importing\"}"),
        Some(2),
        "{page}"
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_jobs{status=\"InProgress\"}"),
        Some(2)
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_import_slot{state=\"busy\"}"),
        Some(1)
    );
    assert_eq!(sample(&page, "cmi_preflight_watch_queued_imports"), Some(0));
    second.signal("-TERM");
    assert_eq!(second.wait().0.code(), Some(0));

    let listed = s3
        .list_objects_v2()
        .bucket("watch-slot-restart")
        .prefix("models/gone/")
        .send()
        .await
        .expect("listed");
    for object in listed.contents() {
        s3.delete_object()
            .bucket("watch-slot-restart")
            .key(object.key().expect("key"))
            .send()
            .await
            .expect("deleted");
    }
    let third = Daemon::start(command(&Moto::shared().endpoint(), &emulator, &args));
    third.wait_for("the deletion", Duration::from_secs(60), |events| {
        !named(events, "deleted").is_empty()
    });
    let deleted = named(&third.events(), "deleted")[0].clone();
    assert_eq!(
        (&deleted["artifact"], &deleted["status"]),
        (&Value::from("gone"), &Value::from("importing")),
        "still followed: {deleted}"
    );
    for job in emulator.jobs() {
        emulator.complete_job(&job.arn).expect("completed");
    }
    third.wait_for("both jobs to end", Duration::from_secs(60), |events| {
        named(events, "job_completed").len() == 2
    });
    wait_until("the outcomes", Duration::from_secs(60), || {
        statuses(state.path())
            == vec![
                ("gone".to_string(), Status::Deleted),
                ("kept".to_string(), Status::Imported),
            ]
    });
    third.wait_for(
        "a pass after the outcomes",
        Duration::from_secs(30),
        |events| {
            let completed = events
                .iter()
                .rposition(|e| e["event"] == "job_completed")
                .unwrap_or(usize::MAX);
            events
                .iter()
                .skip(completed)
                .any(|e| e["event"] == "scanned")
        },
    );
    let page = metrics_of(&third);
    assert_eq!(
        sample(&page, "cmi_preflight_watch_artifacts{status=\"deleted\"}"),
        Some(1),
        "{page}"
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_artifacts{status=\"imported\"}"),
        Some(1)
    );
    assert_eq!(
        sample(&page, "cmi_preflight_watch_jobs{status=\"Completed\"}"),
        Some(2)
    );
    third.signal("-TERM");
    assert_eq!(third.wait().0.code(), Some(0));
}
