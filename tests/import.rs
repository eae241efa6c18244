//! `import`, `status`, `jobs` and `models` end to end: the binary with the real AWS SDK,
//! moto for S3, STS and IAM (with IAM enforced, so that a role without access really cannot
//! read), and the testkit's Bedrock emulator, whose jobs read the prefix as their role in
//! moto before they complete.
//!
//! One moto serves every test of this file; each test has its own emulator.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

#[path = "support/documents.rs"]
mod documents;

use assert_cmd::Command;
use aws_credential_types::Credentials;
use cmi_agent::import::ImportRequest;
use cmi_testkit::bedrock::{
    BedrockEmulator, EmulatorOptions, JobStatus, S3Check, S3_ACCESS_FAILURE,
};
use cmi_testkit::fixtures;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::{create_bucket, upload_fixture};
use serde_json::Value;
use tokio::sync::OnceCell;

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const LLAMA: &str = "s3://models/llama/";

/// The shared moto: a bucket with a valid and a broken model, an admin user (the caller, and
/// the identity the emulator assumes roles with), and two execution roles that trust it.
struct Env {
    moto: Moto,
    admin: Credentials,
}

async fn env() -> &'static Env {
    static ENV: OnceCell<Env> = OnceCell::const_new();
    ENV.get_or_init(|| async {
        let moto = Moto::start();
        let iam = moto.iam_client().await;
        let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
        let trust = moto::trust_policy(&admin.arn);
        moto::create_role(&iam, "reader", &trust, &moto::s3_read_policy("models", "")).await;
        let nothing = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
        moto::create_role(&iam, "no-access", &trust, nothing).await;
        let s3 = moto.s3_client().await;
        create_bucket(&s3, "models", moto::REGION)
            .await
            .expect("bucket");
        for (prefix, name) in [
            ("llama/", "llama"),
            ("broken/", "cf002-unsupported-model-type"),
        ] {
            let fixture = fixtures::all()
                .into_iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no fixture {name}"));
            upload_fixture(&s3, "models", prefix, &fixture)
                .await
                .expect("uploaded");
        }
        moto.enforce_auth(0);
        Env {
            moto,
            admin: admin.credentials,
        }
    })
    .await
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{}:role/{name}", moto::ACCOUNT_ID)
}

impl Env {
    /// An emulator whose jobs complete after `duration` when their role can read the prefix,
    /// and that serves the admin (the binary) and the static credentials (direct SDK calls).
    fn emulator(&self, duration: Duration, max_jobs: usize) -> BedrockEmulator {
        BedrockEmulator::start(EmulatorOptions {
            callers: vec![self.admin.clone(), moto::static_credentials()],
            job_duration: duration,
            max_concurrent_jobs: max_jobs,
            max_imported_models: max_jobs.max(3),
            s3: Some(S3Check {
                endpoint: self.moto.endpoint(),
                credentials: self.admin.clone(),
            }),
            ..EmulatorOptions::default()
        })
    }

    /// The binary, as the admin, with S3 at moto and Bedrock at `emulator`.
    fn command(&self, emulator: &BedrockEmulator, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cmi-preflight"));
        command
            .args(args)
            .args(["--endpoint-url", &self.moto.endpoint()])
            .args(["--bedrock-endpoint-url", &emulator.endpoint()])
            .args(["--region", moto::REGION])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", self.admin.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", self.admin.secret_access_key())
            .env("AWS_EC2_METADATA_DISABLED", "true");
        command
    }

    fn run(&self, emulator: &BedrockEmulator, args: &[&str]) -> Output {
        Command::from_std(self.command(emulator, args))
            .output()
            .expect("binary runs")
    }
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The document on stdout, read back into its type first (tests/support/documents.rs).
fn json(output: &Output) -> Value {
    let (stdout, stderr) = text(output);
    assert!(
        !stdout.is_empty(),
        "no document on stdout\nstderr: {stderr}"
    );
    documents::typed(&stdout)
}

fn import_args<'a>(job: &'a str, role_name: &'a str, source: &'a str) -> Vec<String> {
    vec![
        "import".into(),
        source.into(),
        "--job-name".into(),
        job.into(),
        "--model-name".into(),
        format!("{job}-model"),
        "--role-arn".into(),
        role(role_name),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_is_checked_submitted_and_followed_to_completion_with_the_key() {
    let env = env().await;
    let emulator = env.emulator(Duration::from_millis(300), 1);
    let mut args = import_args("llama-ok", "reader", LLAMA);
    args.extend(
        [
            "--kms-key-id",
            KEY,
            "--job-tag",
            "team=ml",
            "--model-tag",
            "stage=candidate",
            "--wait",
            "--poll-interval",
            "100ms",
            "--format",
            "json",
        ]
        .map(String::from),
    );
    let output = env.run(&emulator, &strs(&args));
    let document = json(&output);
    assert_eq!(output.status.code(), Some(0), "{document}");
    assert_eq!(document["schema"], "cmi-preflight.import.v1");
    assert_eq!(document["check"]["passed"], true, "{document}");
    assert_eq!(document["following"], "ended");
    let job = &document["job"];
    assert_eq!(job["status"], "Completed", "{document}");
    assert_eq!(job["imported_model_kms_key_arn"], KEY);
    assert!(job["imported_model_arn"]
        .as_str()
        .is_some_and(|arn| arn.contains(":imported-model/")));

    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 1);
    let sent = &creates[0].input;
    assert_eq!(sent["roleArn"], role("reader"));
    assert_eq!(sent["modelDataSource"]["s3DataSource"]["s3Uri"], LLAMA);
    assert_eq!(sent["importedModelKmsKeyId"], KEY);
    assert_eq!(
        sent["jobTags"][0],
        serde_json::json!({"key": "team", "value": "ml"})
    );
    assert_eq!(
        sent["importedModelTags"][0],
        serde_json::json!({"key": "stage", "value": "candidate"})
    );
    assert_eq!(sent["clientRequestToken"], document["client_request_token"]);
    assert!(document["fingerprint"]
        .as_str()
        .is_some_and(|f| f.starts_with("listing:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_s3_access_fails_the_job_and_the_tool_points_to_doctor() {
    let env = env().await;
    let emulator = env.emulator(Duration::from_millis(200), 1);
    let mut args = import_args("llama-denied", "no-access", LLAMA);
    args.extend(["--wait", "--poll-interval", "100ms"].map(String::from));
    let output = env.run(&emulator, &strs(&args));
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("passed s3://models/llama/"), "{stdout}");
    assert!(stdout.contains("status  Failed"), "{stdout}");
    assert!(stdout.contains(S3_ACCESS_FAILURE), "{stdout}");
    let doctor = format!(
        "cmi-preflight doctor s3://models/llama/ --role-arn {}",
        role("no-access")
    );
    assert!(stdout.contains(&doctor), "{stdout}");

    let mut args = import_args("llama-denied-2", "no-access", LLAMA);
    args.push("--check-as-role".into());
    let output = env.run(&emulator, &strs(&args));
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("[S3007]"), "{stdout}");
    assert!(stdout.contains("not submitted"), "{stdout}");
    assert_eq!(emulator.calls_to("CreateModelImportJob").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_request_is_refused_before_any_call() {
    let env = env().await;
    let emulator = env.emulator(Duration::MAX, 1);
    let mut args = import_args("llama_import", "reader", LLAMA);
    args.extend(["--job-tag", "team=ml#1"].map(String::from));
    // Every endpoint is a closed port: a call to S3 or Bedrock would fail with a connection
    // error instead of the validation message.
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .args(strs(&args))
        .args(["--endpoint-url", "http://127.0.0.1:9"])
        .args(["--region", moto::REGION])
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("runs");
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Value 'llama_import' at 'jobName' failed to satisfy constraint"),
        "{stderr}"
    );
    assert!(stderr.contains("tag value"), "{stderr}");
    assert!(!stderr.contains("127.0.0.1"), "{stderr}");
    assert!(emulator.calls().is_empty());

    let output = env.run(
        &emulator,
        &strs(&import_args("broken-1", "reader", "s3://models/broken/")),
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("[CF002]"), "{stdout}");
    assert!(stdout.contains("not submitted"), "{stdout}");
    assert!(emulator.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_import_twice_is_one_job_and_another_meets_the_one_job_quota() {
    let env = env().await;
    let emulator = env.emulator(Duration::MAX, 1);
    let mut args = import_args("llama-twice", "reader", LLAMA);
    args.extend(["--format", "json"].map(String::from));
    let first = json(&env.run(&emulator, &strs(&args)));
    let second = json(&env.run(&emulator, &strs(&args)));
    assert_eq!(first["job"]["job_arn"], second["job"]["job_arn"]);
    assert_eq!(first["job"]["status"], "InProgress");
    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 2);
    assert!(creates[1].replay, "{creates:?}");
    assert_eq!(emulator.jobs().len(), 1);

    let output = env.run(
        &emulator,
        &strs(&import_args("llama-other", "reader", LLAMA)),
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("ServiceQuotaExceededException"), "{stderr}");
    assert!(stderr.contains("Only one import job may run"), "{stderr}");

    let arn = first["job"]["job_arn"].as_str().expect("arn");
    emulator.complete_job(arn).expect("completed");
    let mut renamed = import_args("llama-twice", "reader", LLAMA);
    renamed[5] = "another-model".into();
    let output = env.run(&emulator, &strs(&renamed));
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Job names stay taken for good"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_identifies_the_artifact_and_must_match_it() {
    let env = env().await;
    let emulator = env.emulator(Duration::MAX, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid");
    let manifest_of = |fixture: &str| {
        let path = dir.path().join(format!("{fixture}.json"));
        Command::cargo_bin("cmi-preflight")
            .expect("binary")
            .args(["manifest", testdata.join(fixture).to_str().expect("utf-8")])
            .args(["-o", path.to_str().expect("utf-8"), "-q"])
            .assert()
            .success();
        path
    };
    let llama = manifest_of("llama");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(&llama).expect("manifest")).expect("json");
    let digest = manifest["artifact_digest"].as_str().expect("digest");

    let mut args = import_args("llama-manifest", "reader", LLAMA);
    args.extend(
        [
            "--manifest",
            llama.to_str().expect("utf-8"),
            "--format",
            "json",
        ]
        .map(String::from),
    );
    let output = env.run(&emulator, &strs(&args));
    let document = json(&output);
    assert_eq!(output.status.code(), Some(0), "{document}");
    let expected = ImportRequest {
        s3_uri: LLAMA.into(),
        job_name: "llama-manifest".into(),
        model_name: "llama-manifest-model".into(),
        role_arn: role("reader"),
        ..ImportRequest::default()
    }
    .client_request_token(&format!("manifest:{digest}"));
    assert_eq!(
        emulator.calls_to("CreateModelImportJob")[0].input["clientRequestToken"],
        expected.as_str()
    );

    let qwen = manifest_of("qwen2");
    let mut args = import_args("llama-wrong-manifest", "reader", LLAMA);
    args.extend(["--manifest", qwen.to_str().expect("utf-8")].map(String::from));
    let output = env.run(&emulator, &strs(&args));
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[MF002]") || stdout.contains("[MF003]"),
        "{stdout}"
    );
    assert!(stdout.contains("not submitted"), "{stdout}");
    assert_eq!(emulator.calls_to("CreateModelImportJob").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_following_and_says_how_to_resume() {
    let env = env().await;
    let emulator = env.emulator(Duration::MAX, 1);
    let mut args = import_args("llama-interrupted", "reader", LLAMA);
    args.extend(["--wait", "--poll-interval", "100ms"].map(String::from));
    let child = env
        .command(&emulator, &strs(&args))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawned");
    let deadline = Instant::now() + Duration::from_secs(60);
    while emulator.calls_to("GetModelImportJob").len() < 3 {
        assert!(Instant::now() < deadline, "the job was never followed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("exited");
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    let arn = &emulator.jobs()[0].arn;
    assert!(
        stderr.contains(&format!("cmi-preflight status {arn} --wait")),
        "{stderr}"
    );
    assert_eq!(emulator.jobs()[0].status, JobStatus::InProgress);

    emulator.complete_job(arn).expect("completed");
    let output = env.run(&emulator, &["status", arn, "--wait", "--format", "json"]);
    let document = json(&output);
    assert_eq!(output.status.code(), Some(0), "{document}");
    assert_eq!(document["job"]["status"], "Completed");
    assert_eq!(document["following"], "ended");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_jobs_and_models_page_through_many_jobs() {
    let env = env().await;
    let emulator = env.emulator(Duration::MAX, 50);
    let config = moto::sdk_config_for(
        &emulator.endpoint(),
        moto::static_credentials(),
        moto::REGION,
    )
    .await;
    let client = aws_sdk_bedrock::Client::new(&config);
    let source = aws_sdk_bedrock::types::ModelDataSource::S3DataSource(
        aws_sdk_bedrock::types::S3DataSource::builder()
            .s3_uri(LLAMA)
            .build()
            .expect("source"),
    );
    let mut arns = Vec::new();
    for n in 0..23 {
        let name = if n % 2 == 0 {
            format!("even-{n}")
        } else {
            format!("odd-{n}")
        };
        let created = client
            .create_model_import_job()
            .job_name(&name)
            .imported_model_name(format!("{name}-model"))
            .role_arn(role("reader"))
            .model_data_source(source.clone())
            .send()
            .await
            .expect("created");
        arns.push(created.job_arn().to_string());
    }
    for arn in &arns[..7] {
        emulator.complete_job(arn).expect("completed");
    }
    emulator
        .fail_job(&arns[7], S3_ACCESS_FAILURE)
        .expect("failed");
    emulator.clear_calls();

    let output = env.run(&emulator, &["jobs", "--page-size", "5", "--format", "json"]);
    let document = json(&output);
    assert_eq!(output.status.code(), Some(0), "{document}");
    let jobs = document["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 23);
    assert_eq!(emulator.calls_to("ListModelImportJobs").len(), 5);
    assert_eq!(jobs[0]["job_name"], "even-22", "newest first");

    let output = env.run(
        &emulator,
        &["jobs", "--status", "Completed", "--format", "json"],
    );
    assert_eq!(json(&output)["jobs"].as_array().map(Vec::len), Some(7));
    let output = env.run(&emulator, &["jobs", "--name-contains", "odd-"]);
    let (stdout, _) = text(&output);
    assert_eq!(stdout.lines().count(), 1 + 11, "{stdout}");
    assert!(stdout.lines().next().is_some_and(|h| h.contains("STATUS")));

    let output = env.run(
        &emulator,
        &["models", "--page-size", "3", "--format", "json"],
    );
    let models = json(&output);
    assert_eq!(
        models["models"].as_array().map(Vec::len),
        Some(7),
        "{models}"
    );

    let output = env.run(&emulator, &["status", "odd-7"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("status  Failed"), "{stdout}");
    assert!(
        stdout.contains(&format!("--role-arn {}", role("reader"))),
        "{stdout}"
    );

    let output = env.run(&emulator, &["status", "no-such-job"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_following_shows_a_spinner() {
    let env = env().await;
    let emulator = env.emulator(Duration::from_millis(1500), 1);
    let mut args = import_args("llama-tty", "reader", LLAMA);
    args.extend(["--wait", "--poll-interval", "100ms"].map(String::from));
    let command = env.command(&emulator, &strs(&args));
    // `script` runs the command on a pseudo-terminal, as a person would.
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_str().expect("utf-8").to_string())
        .collect();
    let mut terminal = std::process::Command::new("script");
    terminal
        .args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
        .env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            terminal.env(key, value);
        }
    }
    terminal.env("TERM", "xterm-256color");
    let output = terminal.output().expect("script runs");
    let (screen, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{screen}\n{stderr}");
    assert!(
        screen.contains("llama-tty InProgress"),
        "the spinner: {screen}"
    );
    assert!(screen.contains("Completed"), "{screen}");
    assert!(screen.contains("\u{1b}["), "styled on a terminal: {screen}");
}

/// `push --import`: the artifact is pushed, then imported through the same idempotent path as
/// `import` (with the push's manifest); running the same command again sends nothing and
/// submits no second job.
#[tokio::test(flavor = "multi_thread")]
async fn push_then_import_in_one_command_and_again_without_a_second_job() {
    let env = env().await;
    let emulator = env.emulator(Duration::from_millis(300), 1);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    let out = tempfile::tempdir().expect("temp dir");
    let manifest = out.path().join("pushed.json");
    let role = role("reader");
    let args = [
        "push",
        fixture.to_str().expect("UTF-8"),
        "s3://models/pushed/",
        "--manifest-out",
        manifest.to_str().expect("UTF-8"),
        "-q",
        "--import",
        "--job-name",
        "pushed-ok",
        "--model-name",
        "pushed-ok-model",
        "--role-arn",
        &role,
        "--wait",
        "--poll-interval",
        "100ms",
    ];
    let output = env.run(&emulator, &args);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pushed 6 files to s3://models/pushed/"),
        "{stdout}"
    );
    assert!(stdout.contains("Completed"), "{stdout}");
    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 1);
    let sent = &creates[0].input;
    assert_eq!(sent["roleArn"], role);
    assert_eq!(
        sent["modelDataSource"]["s3DataSource"]["s3Uri"],
        "s3://models/pushed/"
    );

    let again = env.run(&emulator, &args);
    let (stdout, stderr) = text(&again);
    assert_eq!(again.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("unchanged"), "{stdout}");
    assert!(stdout.contains(", 0 B sent"), "{stdout}");
    assert_eq!(
        emulator.calls_to("CreateModelImportJob").len(),
        2,
        "the same token is sent again"
    );
    assert_eq!(emulator.jobs().len(), 1, "and Bedrock returns the same job");
}

/// `push --import --format json` writes one document: push's, with the import's embedded
/// under `import` (docs/push.md "JSON output"), which reads back into `PushDocument`.
#[tokio::test(flavor = "multi_thread")]
async fn push_then_import_as_json_writes_one_document() {
    let env = env().await;
    let emulator = env.emulator(Duration::from_millis(300), 1);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    let role = role("reader");
    let args = [
        "push",
        fixture.to_str().expect("UTF-8"),
        "s3://models/pushed-json/",
        "--format",
        "json",
        "--import",
        "--job-name",
        "pushed-json",
        "--model-name",
        "pushed-json-model",
        "--role-arn",
        &role,
        "--wait",
        "--poll-interval",
        "100ms",
    ];
    let output = env.run(&emulator, &args);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("JSON");
    assert_eq!(documents.len(), 1, "one document: {stdout}");
    let pushed: cmi_agent::push::PushDocument = documents::round_trip(&stdout);
    assert_eq!(pushed.schema, "cmi-preflight.push.v1");
    assert!(pushed.pushed);
    let import = pushed.import.expect("the import's document, embedded");
    assert_eq!(import.schema, "cmi-preflight.import.v1");
    assert!(import.submitted);
    assert_eq!(import.job.expect("the job").status, "Completed");
}
