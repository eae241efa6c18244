//! docs/operations.md and contrib/systemd/ as a user applies them: the queue policy and the
//! bucket's notification configuration read from the page and applied to moto with the SDK,
//! then the daemon run on the events that moto delivers; and the systemd unit's `ExecStart=`
//! command line, unquoted and expanded by systemd's rules, run with `--once` against moto and
//! the Bedrock emulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::upload_fixture;
use cmi_testkit::sqs::Queue;
use serde_json::Value;

use super::{bucket, command, emulator, events, fixture, named, statuses, ROLE};

/// The example values of docs/operations.md and contrib/systemd/, which a user replaces.
const EXAMPLE_ACCOUNT: &str = "111122223333";
const EXAMPLE_BUCKET: &str = "amzn-s3-demo-bucket";
const EXAMPLE_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:111122223333:cmi-preflight-watch";

fn repository_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn operations_page() -> String {
    repository_file("docs/operations.md")
}

/// The JSON code block that follows the line `` `name`: `` in the page, with the example
/// values replaced (each must be there, so that a change of the page cannot make a
/// replacement silently do nothing).
fn documented_json(page: &str, name: &str, replacements: &[(&str, &str)]) -> Value {
    let marker = format!("`{name}`:");
    let mut lines = page.lines().skip_while(|line| line.trim() != marker);
    assert!(lines.next().is_some(), "docs/operations.md has no {marker}");
    let mut lines = lines.skip_while(|line| line.trim().is_empty());
    assert_eq!(
        lines.next().map(str::trim),
        Some("```json"),
        "{marker} is not followed by a JSON block"
    );
    let mut text: String = lines
        .take_while(|line| line.trim() != "```")
        .collect::<Vec<_>>()
        .join("\n");
    for (example, value) in replacements {
        assert!(text.contains(example), "{name} has no {example}");
        text = text.replace(example, value);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON ({e}):\n{text}"))
}

fn string(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {value}"))
        .to_string()
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// The `--notification-configuration` document of `put-bucket-notification-configuration`
/// (the API's shape, as the AWS CLI takes it) as the SDK's type; a key this reader does not
/// know fails the test rather than being dropped.
fn notification_configuration(document: &Value) -> NotificationConfiguration {
    assert_eq!(keys(document), ["QueueConfigurations"]);
    let queues = document["QueueConfigurations"]
        .as_array()
        .expect("QueueConfigurations is a list");
    let mut configuration = NotificationConfiguration::builder();
    for queue in queues {
        for key in keys(queue) {
            assert!(
                ["Id", "QueueArn", "Events", "Filter"].contains(&key),
                "{key}"
            );
        }
        let events = queue["Events"].as_array().expect("Events is a list");
        let mut builder = QueueConfiguration::builder()
            .id(string(queue, "Id"))
            .queue_arn(string(queue, "QueueArn"));
        for event in events {
            let event = event.as_str().expect("an event name");
            assert!(Event::values().contains(&event), "no S3 event {event}");
            builder = builder.events(Event::from(event));
        }
        if let Some(filter) = queue.get("Filter") {
            assert_eq!(keys(filter), ["Key"]);
            assert_eq!(keys(&filter["Key"]), ["FilterRules"]);
            let mut key = S3KeyFilter::builder();
            for rule in filter["Key"]["FilterRules"]
                .as_array()
                .expect("FilterRules is a list")
            {
                assert_eq!(keys(rule), ["Name", "Value"]);
                let name = string(rule, "Name");
                assert!(FilterRuleName::values().contains(&name.as_str()), "{name}");
                key = key.filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::from(name.as_str()))
                        .value(string(rule, "Value"))
                        .build(),
                );
            }
            builder = builder.filter(
                NotificationConfigurationFilter::builder()
                    .key(key.build())
                    .build(),
            );
        }
        configuration =
            configuration.queue_configurations(builder.build().expect("a queue configuration"));
    }
    configuration.build()
}

/// A queue on moto set up as the page says: its policy (the page's, for `bucket`), then the
/// bucket's notification configuration (the page's, naming this queue).
async fn documented_queue(s3: &aws_sdk_s3::Client, bucket: &str, name: &str) -> Queue {
    let moto = Moto::shared();
    let sqs = cmi_testkit::sqs::client(&moto.sdk_config().await);
    let queue = cmi_testkit::sqs::create_queue(&sqs, name, Duration::from_secs(30)).await;
    let page = operations_page();
    let policy = documented_json(
        &page,
        "queue-policy.json",
        &[
            (EXAMPLE_QUEUE_ARN, &queue.arn),
            (EXAMPLE_BUCKET, bucket),
            (EXAMPLE_ACCOUNT, moto::ACCOUNT_ID),
        ],
    );
    assert_eq!(policy["Statement"][0]["Resource"], queue.arn.as_str());
    assert_eq!(
        policy["Statement"][0]["Principal"]["Service"],
        "s3.amazonaws.com"
    );
    sqs.set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .expect("SetQueueAttributes Policy");
    let stored = sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("GetQueueAttributes");
    let stored: Value = serde_json::from_str(
        stored
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::Policy))
            .expect("the policy"),
    )
    .expect("JSON");
    assert_eq!(stored, policy);

    let notification = documented_json(
        &page,
        "notification.json",
        &[(EXAMPLE_QUEUE_ARN, &queue.arn)],
    );
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notification_configuration(&notification))
        .send()
        .await
        .expect("PutBucketNotificationConfiguration");
    queue
}

/// Uploads `fixture_name` as the artifact at `prefix`, then its ready marker.
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

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_notification_brings_an_upload_to_watch_once() {
    let s3 = bucket("ops-notify", &[]).await;
    let queue = documented_queue(&s3, "ops-notify", "ops-notify-events").await;
    upload_ready(&s3, "ops-notify", "incoming/mistral-a/", "mistral").await;
    let emulator = emulator(Duration::from_millis(200));
    let state = tempfile::tempdir().expect("tempdir");
    let output = command(
        &Moto::shared().endpoint(),
        &emulator,
        &[
            "s3://ops-notify/incoming/",
            "--state-dir",
            state.path().to_str().expect("utf-8"),
            "--sqs-queue-url",
            &queue.url,
            "--ready-marker",
            "_READY",
            "--once",
        ],
    )
    .output()
    .expect("runs");
    let events = events(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{output:?}\n{events:#?}");
    let received = named(&events, "received");
    assert_eq!(received.len(), 1, "{events:#?}");
    assert!(received[0]["messages"].as_u64().unwrap_or(0) >= 1);
    let passed = named(&events, "passed");
    assert_eq!(passed.len(), 1, "{events:#?}");
    assert_eq!(passed[0]["artifact"], "mistral-a");
    assert_eq!(
        statuses(state.path()),
        [(
            "mistral-a".to_string(),
            cmi_agent::watch::state::Status::Passed
        )]
    );
}

/// The `[Service]` settings of a unit file, continuation lines joined (a line ending in `\`
/// goes on with the next, the backslash replaced by a space).
fn service_settings(unit: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in unit.lines() {
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if let Some((key, value)) = line.split_once('=') {
            if section == "[Service]" {
                let previous = settings.insert(key.trim().to_string(), value.trim().to_string());
                assert!(previous.is_none(), "{key} is set twice");
            }
        }
    }
    settings
}

/// An `EnvironmentFile=`: `KEY=VALUE` lines, `#` and `;` comments. Quotes and escapes, which
/// systemd would interpret, are refused rather than read wrongly.
fn environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with(';'))
        .map(|line| {
            assert!(
                !line.contains(['"', '\'', '\\']),
                "quoting this test does not implement: {line}"
            );
            let (key, value) = line.split_once('=').expect("KEY=VALUE");
            (key.trim().to_string(), value.trim().to_string())
        })
        .collect()
}

/// An `ExecStart=` command line unquoted and expanded as systemd.service(5) ("Command
/// lines") and systemd.syntax(7) ("Quoting") say, for what the unit uses: words separated by
/// whitespace, double quotes grouping a word, and `${NAME}` replaced by the variable's
/// exact value as part of one word. Everything else (`$NAME` split at whitespace, `$$`,
/// `%` specifiers, single quotes, backslash escapes, `;` between commands, the `-@:+!`
/// prefixes) is refused, so that the unit cannot rely on a rule this test does not check.
fn exec_start(line: &str, environment: &BTreeMap<String, String>) -> Vec<String> {
    assert!(
        !line.contains(['%', '\'', '\\', ';']),
        "syntax this test does not implement: {line}"
    );
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => {
                words.extend(word.take());
            }
            '$' => {
                assert_eq!(
                    chars.next(),
                    Some('{'),
                    "only ${{NAME}} is implemented: {line}"
                );
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let value = environment
                    .get(&name)
                    .unwrap_or_else(|| panic!("${{{name}}} is not in the environment file"));
                word.get_or_insert_with(String::new).push_str(value);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "unbalanced quotes: {line}");
    words.extend(word);
    let program = words.first().expect("a command");
    assert!(
        program.starts_with('/'),
        "the command must be an absolute path without a prefix: {program}"
    );
    words
}

#[test]
fn exec_start_is_unquoted_and_expanded_as_systemd_does() {
    let environment: BTreeMap<String, String> = [("A".to_string(), "one two".to_string())].into();
    assert_eq!(
        exec_start(r#"/bin/echo ${A} x${A}y "a b"  c"d e"f"#, &environment),
        ["/bin/echo", "one two", "xone twoy", "a b", "cd ef"]
    );
    let refused = |line: &'static str| {
        std::panic::catch_unwind(|| exec_start(line, &BTreeMap::new())).is_err()
    };
    assert!(refused("/bin/echo $A"));
    assert!(refused("/bin/echo %n"));
    assert!(refused("-/bin/echo"));
    assert!(refused("/bin/echo 'a b'"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_systemd_unit_command_line_runs_once_against_moto() {
    let unit = service_settings(&repository_file(
        "contrib/systemd/cmi-preflight-watch.service",
    ));
    let mut environment =
        environment_file(&repository_file("contrib/systemd/cmi-preflight-watch.env"));
    assert_eq!(
        unit.get("EnvironmentFile").map(String::as_str),
        Some("/etc/cmi-preflight/watch.env")
    );

    let s3 = bucket("ops-unit", &[]).await;
    let queue = documented_queue(&s3, "ops-unit", "ops-unit-events").await;
    upload_ready(&s3, "ops-unit", "incoming/qwen3-a/", "qwen3").await;

    // The environment file's example values, pointed at moto; every variable it sets is one
    // of these, so that a new one cannot go untested.
    let prefix = environment
        .get("CMI_WATCH_PREFIX")
        .expect("CMI_WATCH_PREFIX")
        .replace(EXAMPLE_BUCKET, "ops-unit");
    let overrides = [
        ("AWS_REGION", moto::REGION.to_string()),
        ("CMI_WATCH_PREFIX", prefix),
        ("CMI_SQS_QUEUE_URL", queue.url.clone()),
        ("CMI_ROLE_ARN", ROLE.to_string()),
    ];
    let documented: Vec<&String> = environment.keys().collect();
    let mut overridden: Vec<&str> = overrides.iter().map(|(k, _)| *k).collect();
    overridden.sort_unstable();
    assert_eq!(documented, overridden);
    for (key, value) in overrides {
        environment.insert(key.to_string(), value);
    }

    let state = tempfile::tempdir().expect("tempdir");
    let state_directory = format!(
        "/var/lib/{}",
        unit.get("StateDirectory").expect("StateDirectory=")
    );
    let mut argv = exec_start(unit.get("ExecStart").expect("ExecStart="), &environment);
    assert_eq!(argv[0], "/usr/local/bin/cmi-preflight");
    argv[0] = env!("CARGO_BIN_EXE_cmi-preflight").to_string();
    for arg in argv.iter_mut() {
        if *arg == state_directory {
            *arg = state.path().to_str().expect("utf-8").to_string();
        } else if arg.starts_with("127.0.0.1:") {
            // Another process of the machine may hold the documented port.
            *arg = "127.0.0.1:0".to_string();
        }
    }
    assert!(argv
        .iter()
        .any(|a| a == state.path().to_str().expect("utf-8")));

    let emulator = emulator(Duration::from_millis(200));
    let credentials = moto::static_credentials();
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .args(["--endpoint-url", &Moto::shared().endpoint()])
        .args(["--bedrock-endpoint-url", &emulator.endpoint()])
        .arg("--once")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(&environment)
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("runs");
    let events = events(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{output:?}\n{events:#?}");
    assert_eq!(named(&events, "health_serving").len(), 1, "{events:#?}");
    assert_eq!(named(&events, "passed").len(), 1, "{events:#?}");
    let submitted = named(&events, "submitted");
    assert_eq!(submitted.len(), 1, "{events:#?}");
    assert_eq!(submitted[0]["artifact"], "qwen3-a");
    let jobs = emulator.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert!(jobs[0].name.starts_with("qwen3-a-"), "{jobs:#?}");
    assert!(state.path().join("state.sqlite3").is_file());
    systemd_analyze_accepts(&repository_file(
        "contrib/systemd/cmi-preflight-watch.service",
    ));
}

/// `systemd-analyze verify` on the unit, where it is installed, with its binary and
/// environment file replaced by the built binary and the example file, and the man pages the
/// binary writes on `MANPATH` (the unit's `Documentation=` names one).
fn systemd_analyze_accepts(unit: &str) {
    let Some(analyze) = which("systemd-analyze") else {
        println!("skipped systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let man1 = dir.path().join("man").join("man1");
    std::fs::create_dir_all(&man1).expect("man1");
    let pages = Command::new(env!("CARGO_BIN_EXE_cmi-preflight"))
        .args(["man", "--out-dir"])
        .arg(&man1)
        .output()
        .expect("runs");
    assert!(pages.status.success(), "{pages:?}");
    let environment_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/cmi-preflight-watch.env");
    let unit = unit
        .replace(
            "/usr/local/bin/cmi-preflight",
            env!("CARGO_BIN_EXE_cmi-preflight"),
        )
        .replace(
            "/etc/cmi-preflight/watch.env",
            environment_file.to_str().expect("utf-8"),
        );
    let path = dir.path().join("cmi-preflight-watch.service");
    std::fs::write(&path, unit).expect("written");
    let output = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .env("MANPATH", dir.path().join("man"))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze runs");
    assert!(
        output.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}
