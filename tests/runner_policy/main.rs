//! The runner policies of `policy --runner` (crates/format/src/policy/runner.rs), proven both
//! ways against moto's IAM enforcement: an IAM user whose only policy is the generated document
//! runs the real binary and succeeds; the same user with one statement removed, in turn for
//! every statement, fails, and the output names an action of the missing statement.
//!
//! One private moto server ([`Moto::start`]) serves every test of this binary; a test holds
//! [`lock`] while it sets up (IAM enforcement off) and runs (enforcement on), because the switch
//! is global to the server.
//!
//! What moto 5.2.5 cannot prove (crates/testkit/src/moto.rs documents its enforcement): it
//! evaluates identity policies only, matches `Action` and `Resource` with wildcards, and does
//! **not** evaluate `Condition`: the `s3:prefix` and `aws:RequestedRegion` conditions of the
//! generated statements are neither proven necessary nor proven sufficient here; they follow the
//! Service Authorization Reference. A wrong `Resource` does fail here. moto also authorizes an
//! SQS batch request as the batch action, which IAM does not have ([`as_moto_checks`]).

use std::path::Path;
use std::process::Output;
use std::sync::{Mutex, MutexGuard, OnceLock};

use assert_cmd::Command;
use aws_credential_types::Credentials;
use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions, IdentityPolicy};
use cmi_testkit::fixtures::{self, Fixture};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::{create_bucket, upload_fixture};
use serde_json::Value;

/// The private server of this binary, and the lock that serializes its tests.
fn lock() -> (MutexGuard<'static, ()>, &'static Moto) {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let moto = MOTO.get_or_init(Moto::start);
    moto.disable_auth();
    (guard, moto)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn fixture(name: &str) -> Fixture {
    fixtures::all()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The runner policy of `command` for `s3://bucket/prefix` in moto's account, as the binary
/// writes it with `policy --runner COMMAND --out-dir`.
fn generated(command: &str, bucket: &str, prefix: &str, extra: &[&str]) -> Value {
    generated_as("cmi-import", command, bucket, prefix, extra)
}

/// [`generated`] with the execution role `role_name`.
fn generated_as(
    role_name: &str,
    command: &str,
    bucket: &str,
    prefix: &str,
    extra: &[&str],
) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args([
            "policy",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
            "--bucket-account",
            moto::ACCOUNT_ID,
            "--hosting-account",
            moto::ACCOUNT_ID,
            "--region",
            moto::REGION,
            "--role-name",
            role_name,
            "--runner",
            command,
            "--out-dir",
            dir.path().to_str().expect("UTF-8"),
        ])
        .args(extra)
        .env_clear()
        .output()
        .expect("binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let file = dir.path().join(format!("runner-{command}-policy.json"));
    serde_json::from_slice(&std::fs::read(&file).expect("runner policy written")).expect("JSON")
}

/// The policy without its statement `index`.
fn without(policy: &Value, index: usize) -> Value {
    let mut policy = policy.clone();
    policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .remove(index);
    policy
}

/// The actions of statement `index`.
fn actions(policy: &Value, index: usize) -> Vec<String> {
    let action = &policy["Statement"][index]["Action"];
    match action.as_array() {
        Some(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        None => vec![action.as_str().unwrap_or_default().to_string()],
    }
}

/// One IAM user per variant of a policy: the whole policy, then without each statement in
/// turn.
struct Variant {
    user: moto::User,
    policy: Value,
}

/// The Bedrock emulator with its opt-in permission check, each variant's user given its policy
/// (moto does not implement Bedrock), and room for one job and one model per variant.
fn emulator_for(variants: &[Variant]) -> BedrockEmulator {
    BedrockEmulator::start(EmulatorOptions {
        max_concurrent_jobs: variants.len(),
        max_imported_models: variants.len(),
        callers: variants
            .iter()
            .map(|v| v.user.credentials.clone())
            .collect(),
        identity_policies: variants
            .iter()
            .map(|v| IdentityPolicy {
                access_key_id: v.user.credentials.access_key_id().to_string(),
                principal_arn: v.user.arn.clone(),
                policy: v.policy.clone(),
            })
            .collect(),
        ..EmulatorOptions::default()
    })
}

/// Creates the users of every variant of `policy`, before IAM is enforced; moto validates each
/// document as IAM's PutUserPolicy does.
fn users(moto: &Moto, name: &str, policy: &Value) -> Vec<Variant> {
    let count = policy["Statement"].as_array().expect("statements").len();
    let mut documents = vec![policy.clone()];
    documents.extend((0..count).map(|index| without(policy, index)));
    runtime().block_on(async {
        let iam = moto.iam_client().await;
        let mut variants = Vec::new();
        for (index, document) in documents.into_iter().enumerate() {
            let user =
                moto::create_user(&iam, &format!("{name}-{index}"), &document.to_string()).await;
            variants.push(Variant {
                user,
                policy: document,
            });
        }
        variants
    })
}

fn run(moto: &Moto, credentials: &Credentials, args: &[&str]) -> Output {
    let mut command = Command::cargo_bin("cmi-preflight").expect("binary built");
    command
        .args(args)
        .args(["--endpoint-url", &moto.endpoint(), "--region", moto::REGION])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(token) = credentials.session_token() {
        command.env("AWS_SESSION_TOKEN", token);
    }
    command.output().expect("binary runs")
}

/// Runs the commands `commands(index)` in turn as the user of each variant, each variant after
/// `reset` (run with IAM enforcement off): with the whole policy every command must succeed;
/// without a statement one of them must fail, and the output names one of the actions of the
/// statement it lacks. A statement whose `Sid` is in `degraded` only serves a fallback (such
/// as resuming an interrupted upload): without it the commands succeed, and their warning
/// names the permission.
fn prove(
    moto: &Moto,
    policy: &Value,
    variants: &[Variant],
    commands: impl Fn(usize) -> Vec<Vec<String>>,
    reset: impl Fn(),
    degraded: &[&str],
) {
    for (index, variant) in variants.iter().enumerate() {
        moto.disable_auth();
        reset();
        moto.enforce_auth(0);
        let mut all = String::new();
        let mut failed = false;
        for args in commands(index) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = run(moto, &variant.user.credentials, &args);
            all.push_str(&format!("$ {args:?}\n{}\n", text(&output)));
            if output.status.code() != Some(0) {
                failed = true;
                break;
            }
        }
        if index == 0 {
            assert!(!failed, "the generated policy is enough:\n{all}");
            continue;
        }
        let missing = actions(policy, index - 1);
        let sid = policy["Statement"][index - 1]["Sid"]
            .as_str()
            .unwrap_or_default();
        if degraded.contains(&sid) {
            assert!(!failed, "without {sid} the commands still succeed:\n{all}");
        } else {
            assert!(failed, "without {missing:?} a command must fail:\n{all}");
        }
        assert!(
            missing.iter().any(|action| all.contains(action.as_str())),
            "the failure without {missing:?} names the permission:\n{all}"
        );
    }
    moto.disable_auth();
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Deletes every object of `bucket` (IAM enforcement must be off).
fn empty_bucket(moto: &Moto, bucket: &str) {
    runtime().block_on(async {
        let s3 = moto.s3_client().await;
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list");
        for object in listed.contents() {
            s3.delete_object()
                .bucket(bucket)
                .key(object.key().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    });
}

#[test]
fn check_runs_with_exactly_its_runner_policy() {
    let (_guard, moto) = lock();
    let policy = generated("check", "runner-check", "llama/", &[]);
    runtime().block_on(async {
        let s3 = moto.s3_client().await;
        create_bucket(&s3, "runner-check", moto::REGION)
            .await
            .expect("bucket");
        upload_fixture(&s3, "runner-check", "llama/", &fixture("llama"))
            .await
            .expect("uploaded");
    });
    let variants = users(moto, "check", &policy);
    prove(
        moto,
        &policy,
        &variants,
        |_| {
            vec![strings(&[
                "check",
                "s3://runner-check/llama/",
                "--format",
                "json",
            ])]
        },
        || {},
        &[],
    );
}

#[test]
fn push_runs_with_exactly_its_runner_policy() {
    let (_guard, moto) = lock();
    let policy = generated("push", "runner-push", "llama/", &[]);
    runtime().block_on(async {
        let s3 = moto.s3_client().await;
        create_bucket(&s3, "runner-push", moto::REGION)
            .await
            .expect("bucket");
    });
    let variants = users(moto, "push", &policy);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    prove(
        moto,
        &policy,
        &variants,
        |_| {
            vec![strings(&[
                "push",
                source.to_str().expect("UTF-8"),
                "s3://runner-push/llama/",
                "--single-put-max",
                "1024",
            ])]
        },
        || empty_bucket(moto, "runner-push"),
        &["CmiRunnerPushListArtifactUploads"],
    );
}

#[test]
fn import_runs_with_exactly_its_runner_policy() {
    let (_guard, moto) = lock();
    let policy = generated("import", "runner-import", "llama/", &[]);
    runtime().block_on(async {
        let s3 = moto.s3_client().await;
        create_bucket(&s3, "runner-import", moto::REGION)
            .await
            .expect("bucket");
        upload_fixture(&s3, "runner-import", "llama/", &fixture("llama"))
            .await
            .expect("uploaded");
    });
    let variants = users(moto, "import", &policy);
    // Bedrock is the testkit emulator, with its opt-in permission check given each user's
    // policy (moto does not implement Bedrock); S3 is moto, with IAM enforced.
    let emulator = emulator_for(&variants);
    let role = format!("arn:aws:iam::{}:role/cmi-import", moto::ACCOUNT_ID);
    prove(
        moto,
        &policy,
        &variants,
        |index| {
            let job = format!("runner-import-{index}");
            import_commands(
                "s3://runner-import/llama/",
                &job,
                &role,
                &emulator.endpoint(),
                &[],
            )
        },
        || {},
        &[],
    );
}

/// `import SOURCE` of the job `job` (with `extra` arguments), then `status`, `jobs` and
/// `models`, all against the Bedrock emulator at `endpoint`.
fn import_commands(
    source: &str,
    job: &str,
    role: &str,
    endpoint: &str,
    extra: &[&str],
) -> Vec<Vec<String>> {
    let model = format!("{job}-model");
    let mut import = strings(&[
        "import",
        source,
        "--job-name",
        job,
        "--model-name",
        &model,
        "--role-arn",
        role,
    ]);
    import.extend(strings(extra));
    let mut commands = vec![
        import,
        strings(&["status", job]),
        strings(&["jobs"]),
        strings(&["models"]),
    ];
    for command in &mut commands {
        command.extend(strings(&["--bedrock-endpoint-url", endpoint]));
    }
    commands
}

#[test]
fn doctor_runner_says_when_it_cannot_simulate() {
    let (_guard, moto) = lock();
    let policy = generated("check", "runner-doctor", "llama/", &[]);
    let variants = users(moto, "doctor", &policy);
    moto.enforce_auth(0);
    let role = format!("arn:aws:iam::{}:role/cmi-import", moto::ACCOUNT_ID);
    let output = run(
        moto,
        &variants[0].user.credentials,
        &[
            "doctor",
            "s3://runner-doctor/llama/",
            "--role-arn",
            &role,
            "--runner",
            "check",
        ],
    );
    moto.disable_auth();
    let all = text(&output);
    // moto 5.2.5 does not implement SimulatePrincipalPolicy (moto/iam/responses.py has no
    // handler), and this user may not call it anyway: the step warns, and says why.
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(all.contains("runner permissions"), "{all}");
    assert!(all.contains("cannot check the permissions"), "{all}");
    assert!(all.contains("iam:SimulatePrincipalPolicy"), "{all}");
}

/// The generated policy as moto 5.2.5 checks it: moto authorizes an SQS batch request as the
/// batch action itself (`sqs:DeleteMessageBatch`), where SQS authorizes it with the single
/// action (Amazon SQS Developer Guide, "Amazon SQS API permissions: Actions and resource
/// reference"), so each single action is given its batch name too, in the same statement.
fn as_moto_checks(policy: &Value) -> Value {
    let mut policy = policy.clone();
    for statement in policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .iter_mut()
    {
        let Some(actions) = statement["Action"].as_array_mut() else {
            continue;
        };
        for (single, batch) in [
            ("sqs:DeleteMessage", "sqs:DeleteMessageBatch"),
            (
                "sqs:ChangeMessageVisibility",
                "sqs:ChangeMessageVisibilityBatch",
            ),
        ] {
            if actions.iter().any(|a| a == single) {
                actions.push(Value::from(batch));
            }
        }
    }
    policy
}

/// Proves the watch document of `bucket` (watched prefix `models/`, reports in
/// `<bucket>-reports`, events in the queue `<bucket>-events`) with `watch --import`, and with
/// `as_role` `--check-as-role`: the daemon assumes the role `<bucket>-role`, trusted by every
/// variant's user, whose own policy reads the artifact.
fn prove_watch(moto: &Moto, bucket: &str, as_role: bool) {
    let reports = format!("{bucket}-reports");
    let report_prefix = format!("s3://{reports}/cmi/");
    let queue = runtime().block_on(async {
        let s3 = moto.s3_client().await;
        for name in [bucket, reports.as_str()] {
            create_bucket(&s3, name, moto::REGION)
                .await
                .expect("bucket");
        }
        let sqs = cmi_testkit::sqs::client(&moto.sdk_config().await);
        let queue = cmi_testkit::sqs::create_queue(
            &sqs,
            &format!("{bucket}-events"),
            std::time::Duration::from_secs(30),
        )
        .await;
        cmi_testkit::sqs::notify_queue(&s3, bucket, &queue.arn).await;
        upload_fixture(&s3, bucket, "models/llama/", &fixture("llama"))
            .await
            .expect("uploaded");
        queue
    });
    let role_name = if as_role {
        format!("{bucket}-role")
    } else {
        "cmi-import".to_string()
    };
    let mut extra = vec![
        "--queue-arn",
        &queue.arn,
        "--report-prefix",
        &report_prefix,
        "--watch-import",
    ];
    if as_role {
        extra.push("--check-as-role");
    }
    let generated = generated_as(&role_name, "watch", bucket, "models/", &extra);
    let policy = as_moto_checks(&generated);
    let variants = users(moto, bucket, &policy);
    let role = format!("arn:aws:iam::{}:role/{role_name}", moto::ACCOUNT_ID);
    if as_role {
        runtime().block_on(async {
            let callers: Vec<&str> = variants.iter().map(|v| v.user.arn.as_str()).collect();
            let trust = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": callers},
                    "Action": "sts:AssumeRole"
                }]
            });
            moto::create_role(
                &moto.iam_client().await,
                &role_name,
                &trust.to_string(),
                &moto::s3_read_policy(bucket, "models/"),
            )
            .await
        });
    }
    let emulator = emulator_for(&variants);
    let states = tempfile::tempdir().expect("tempdir");
    // Every variant gets a new event of the artifact (its `_READY` marker) and a state
    // directory of its own; events left by an earlier variant name the same artifact.
    // `--once` in SQS mode receives and does not list the whole prefix (only `--rescan`
    // would, instead of receiving: docs/watch.md), so the messages are what finds the
    // artifact; its check then lists the artifact's own prefix.
    let reset = || {
        runtime().block_on(async {
            let s3 = moto.s3_client().await;
            s3.put_object()
                .bucket(bucket)
                .key("models/llama/_READY")
                .body(Vec::new().into())
                .send()
                .await
                .expect("marker");
        });
        empty_bucket(moto, &reports);
    };
    let watched = format!("s3://{bucket}/models/");
    prove(
        moto,
        &policy,
        &variants,
        |index| {
            let state = states.path().join(index.to_string());
            let mut args = strings(&[
                "watch",
                &watched,
                "--state-dir",
                state.to_str().expect("UTF-8"),
                "--once",
                "--sqs-queue-url",
                &queue.url,
                "--ready-marker",
                "_READY",
                "--import",
                "--role-arn",
                &role,
                "--job-name-template",
                &format!("{bucket}-{index}-{{name}}"),
                "--model-name-template",
                &format!("{bucket}-{index}-{{name}}-model"),
                "--max-in-flight",
                "100",
                "--report-to",
                &report_prefix,
                "--bedrock-endpoint-url",
                &emulator.endpoint(),
            ]);
            if as_role {
                args.push("--check-as-role".to_string());
            }
            vec![args]
        },
        reset,
        &[],
    );
}

#[test]
fn watch_runs_with_exactly_its_runner_policy() {
    let (_guard, moto) = lock();
    prove_watch(moto, "runner-watch", false);
}

#[test]
fn watch_as_role_runs_with_exactly_its_runner_policy() {
    let (_guard, moto) = lock();
    prove_watch(moto, "runner-watch-as-role", true);
}

/// `import --check-as-role`: the runner reads nothing itself; it assumes the execution role
/// (`sts:AssumeRole`), whose own policy reads the artifact. moto 5.2.5 checks both the
/// caller's identity policy for `sts:AssumeRole` on the role and the role's trust policy
/// (crates/testkit/src/moto.rs).
#[test]
fn import_as_role_runs_with_exactly_its_runner_policy() {
    let (_guard, moto) = lock();
    let policy = generated(
        "import",
        "runner-import-role",
        "llama/",
        &["--check-as-role"],
    );
    runtime().block_on(async {
        let s3 = moto.s3_client().await;
        create_bucket(&s3, "runner-import-role", moto::REGION)
            .await
            .expect("bucket");
        upload_fixture(&s3, "runner-import-role", "llama/", &fixture("llama"))
            .await
            .expect("uploaded");
    });
    let variants = users(moto, "import-role", &policy);
    let role = runtime().block_on(async {
        let iam = moto.iam_client().await;
        let callers: Vec<&str> = variants.iter().map(|v| v.user.arn.as_str()).collect();
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": callers},
                "Action": "sts:AssumeRole"
            }]
        });
        moto::create_role(
            &iam,
            "cmi-import",
            &trust.to_string(),
            &moto::s3_read_policy("runner-import-role", "llama/"),
        )
        .await
    });
    let emulator = emulator_for(&variants);
    prove(
        moto,
        &policy,
        &variants,
        |index| {
            let job = format!("runner-import-role-{index}");
            import_commands(
                "s3://runner-import-role/llama/",
                &job,
                &role,
                &emulator.endpoint(),
                &["--check-as-role"],
            )
        },
        || {},
        &[],
    );
}

/// Creates the role `name` at `path`, trusted by anyone of the account (moto matches `*`),
/// with the inline policy `policy`, and returns credentials of a session of it.
fn role_session(moto: &Moto, name: &str, path: &str, policy: &Value) -> Credentials {
    runtime().block_on(async {
        let iam = moto.iam_client().await;
        let role = iam
            .create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(moto::trust_policy("*"))
            .send()
            .await
            .expect("role");
        let arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
        iam.put_role_policy()
            .role_name(name)
            .policy_name(format!("{name}-policy"))
            .policy_document(policy.to_string())
            .send()
            .await
            .expect("role policy");
        moto::assume_role(&moto.sts_client().await, &arn, "doctor")
            .await
            .expect("assumed")
    })
}

/// `doctor --runner watch` takes the runner policy's own inputs (the queue, the report prefix,
/// `--watch-import`), so its simulation covers the watch statements; an assumed-role caller is
/// simulated as its role's real ARN, path included, when iam:GetRole tells it, else at the
/// path `/`, and the step says so. moto 5.2.5 does not implement SimulatePrincipalPolicy: the
/// step warns and names the statements it could not check.
#[test]
fn doctor_runner_covers_watch_and_resolves_the_role_path() {
    let (_guard, moto) = lock();
    let may_get_role = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]
    });
    let may_not = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]
    });
    let resolving = role_session(moto, "doctor-ci", "/ci/", &may_get_role);
    let blind = role_session(moto, "doctor-blind", "/ci/", &may_not);
    let role = format!("arn:aws:iam::{}:role/cmi-import", moto::ACCOUNT_ID);
    let queue = format!(
        "arn:aws:sqs:{}:{}:doctor-events",
        moto::REGION,
        moto::ACCOUNT_ID
    );
    let args = [
        "doctor",
        "s3://runner-doctor/models/",
        "--role-arn",
        &role,
        "--runner",
        "watch",
        "--queue-arn",
        &queue,
        "--report-prefix",
        "s3://runner-doctor-reports/cmi/",
        "--watch-import",
    ];
    moto.enforce_auth(0);
    let resolved = run(moto, &resolving, &args);
    let unresolved = run(moto, &blind, &args);
    moto.disable_auth();
    let resolved = text(&resolved);
    let unresolved = text(&unresolved);
    for sid in [
        "CmiRunnerWatchListArtifact",
        "CmiRunnerWatchReceiveArtifactEvents",
        "CmiRunnerWatchWriteReports",
        "CmiRunnerWatchImportJobs",
        "CmiRunnerWatchPassImportRole",
    ] {
        assert!(resolved.contains(sid), "{sid}: {resolved}");
    }
    assert!(
        resolved.contains(&format!(
            "arn:aws:iam::{}:role/ci/doctor-ci",
            moto::ACCOUNT_ID
        )),
        "{resolved}"
    );
    assert!(!resolved.contains("at the path /"), "{resolved}");
    assert!(
        unresolved.contains(&format!(
            "arn:aws:iam::{}:role/doctor-blind",
            moto::ACCOUNT_ID
        )),
        "{unresolved}"
    );
    assert!(
        unresolved.contains("iam:GetRole on doctor-blind failed"),
        "{unresolved}"
    );
    assert!(unresolved.contains("at the path /"), "{unresolved}");
}
