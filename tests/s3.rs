//! `check`, `doctor` and `policy` against S3: the moto emulator over loopback, the real AWS
//! SDK in the binary, and (for request counting and S3 errors moto cannot produce) the
//! testkit's proxy between them. Tests share one moto server unless they enforce IAM, which
//! is a switch of the whole server; those start their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

#[path = "support/documents.rs"]
mod documents;

use assert_cmd::Command;
use aws_credential_types::Credentials;
use cmi_testkit::fixtures::{self, Content, Fixture};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::{Fault, Matcher, Proxy};
use cmi_testkit::s3::{create_bucket, upload_fixture};
use serde_json::Value;

/// Runs the binary against `endpoint` with `credentials`, isolated from the host's AWS set-up.
fn run(endpoint: &str, credentials: &Credentials, args: &[&str]) -> Output {
    let mut command = Command::cargo_bin("cmi-preflight").expect("binary built");
    command
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", moto::REGION])
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

/// The document on stdout, read back into its type first (tests/support/documents.rs).
fn json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.is_empty(),
        "no document on stdout\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    documents::typed(&stdout)
}

fn codes(report: &Value) -> Vec<String> {
    let mut codes: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect();
    codes.dedup();
    codes
}

fn check_s3(endpoint: &str, credentials: &Credentials, uri: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", uri, "--format", "json"];
    args.extend_from_slice(extra);
    let output = run(endpoint, credentials, &args);
    (output.status.code().unwrap_or(-1), json(&output))
}

fn fixture(name: &str) -> Fixture {
    fixtures::all()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

fn testdata(fixture: &Fixture) -> PathBuf {
    let group = if fixture.expect.is_some() {
        "invalid"
    } else {
        "valid"
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(group)
        .join(&fixture.name)
}

/// A fresh bucket on the shared server, named after the test.
async fn new_bucket(client: &aws_sdk_s3::Client, name: &str, region: &str) -> String {
    create_bucket(client, name, region)
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {name}: {e:?}"));
    name.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_gives_the_same_findings_as_the_local_folder() {
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    let bucket = new_bucket(&client, "parity", moto::REGION).await;
    let mut compared = 0;
    for fixture in fixtures::all() {
        let uploadable = fixture.committed
            && fixture
                .files
                .iter()
                .all(|f| matches!(f.content, Content::Bytes(_)));
        if !uploadable {
            continue;
        }
        let prefix = format!("{}/", fixture.name);
        upload_fixture(&client, &bucket, &prefix, &fixture)
            .await
            .expect("uploaded");
        let uri = format!("s3://{bucket}/{prefix}");
        let (s3_code, s3) = check_s3(&moto.endpoint(), &moto.credentials(), &uri, &[]);
        let local = Command::cargo_bin("cmi-preflight")
            .expect("binary")
            .arg("check")
            .arg(testdata(&fixture))
            .args(["--format", "json"])
            .output()
            .expect("runs");
        let local_report = json(&local);
        assert_eq!(s3["findings"], local_report["findings"], "{}", fixture.name);
        assert_eq!(s3["summary"], local_report["summary"], "{}", fixture.name);
        assert_eq!(Some(s3_code), local.status.code(), "{}", fixture.name);
        compared += 1;
    }
    assert!(compared >= 60, "only {compared} fixtures compared");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_request_per_file_plus_the_listing_and_no_weight_data() {
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    let bucket = new_bucket(&client, "budget", moto::REGION).await;
    let fixture = fixture("llama-sharded");
    upload_fixture(&client, &bucket, "m/", &fixture)
        .await
        .expect("uploaded");
    let proxy = Proxy::start(&moto.endpoint());
    let uri = format!("s3://{bucket}/m/");
    let (code, report) = check_s3(&proxy.endpoint(), &moto.credentials(), &uri, &[]);
    assert_eq!(code, 0, "{report}");
    let files = fixture.files.len() as u64;
    let log = proxy.log();
    let gets = log
        .iter()
        .filter(|e| e.method == "GET" && e.range.is_some())
        .count() as u64;
    let lists = log
        .iter()
        .filter(|e| e.path.contains("list-type=2"))
        .count() as u64;
    assert_eq!(lists, 1, "{log:#?}");
    assert_eq!(gets, files, "one ranged GET per file: {log:#?}");
    assert_eq!(proxy.requests(), files + 1, "{log:#?}");

    // With a probe shorter than the headers, each shard takes a second read that ends
    // exactly at the header: no tensor data is ever received.
    proxy.reset_stats();
    let (code, _) = check_s3(
        &proxy.endpoint(),
        &moto.credentials(),
        &uri,
        &["--header-probe", "64"],
    );
    assert_eq!(code, 0);
    let sizes: BTreeMap<String, u64> = fixture
        .files
        .iter()
        .filter_map(|f| match &f.content {
            Content::Bytes(b) => Some((f.path.clone(), b.len() as u64)),
            _ => None,
        })
        .collect();
    for (path, size) in sizes.iter().filter(|(p, _)| p.ends_with(".safetensors")) {
        let bytes = fixture
            .files
            .iter()
            .find(|f| &f.path == path)
            .and_then(|f| match &f.content {
                Content::Bytes(b) => Some(b.clone()),
                _ => None,
            })
            .expect("bytes");
        let extent = 8 + u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let reads: Vec<_> = proxy
            .log()
            .into_iter()
            .filter(|e| e.path.contains(&format!("/m/{path}")))
            .collect();
        assert_eq!(reads.len(), 2, "{path}: {reads:#?}");
        // The probe, then the whole header again into one buffer (never held twice).
        let received: u64 = reads.iter().map(|e| e.response_bytes).sum();
        assert_eq!(received, 64 + extent, "{path}");
        assert!(extent < *size);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_specific_findings() {
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    let endpoint = moto.endpoint();
    let credentials = moto.credentials();
    let bucket = new_bucket(&client, "findings", moto::REGION).await;
    let llama = fixture("llama");

    // S3001: nothing under the prefix.
    let (code, report) = check_s3(
        &endpoint,
        &credentials,
        &format!("s3://{bucket}/nothing/"),
        &[],
    );
    assert_eq!((code, codes(&report)), (1, vec!["S3001".to_string()]));

    // S3002: a prefix that CreateModelImportJob would refuse.
    upload_fixture(&client, &bucket, "my model=v1/", &llama)
        .await
        .expect("uploaded");
    let (code, report) = check_s3(
        &endpoint,
        &credentials,
        &format!("s3://{bucket}/my model=v1/"),
        &[],
    );
    assert_eq!((code, codes(&report)), (1, vec!["S3002".to_string()]));

    // S3003: an archived object; the check does not even try to read it.
    upload_fixture(&client, &bucket, "archived/", &llama)
        .await
        .expect("uploaded");
    client
        .put_object()
        .bucket(&bucket)
        .key("archived/tokenizer.json")
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
        .send()
        .await
        .expect("put");
    let (code, report) = check_s3(
        &endpoint,
        &credentials,
        &format!("s3://{bucket}/archived/"),
        &[],
    );
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["S3003".to_string()]),
        "{report}"
    );
    assert_eq!(report["findings"][0]["file"], "tokenizer.json");

    // S3005: objects under the AWS-managed aws/s3 key (moto returns the key id as given).
    for file in &llama.files {
        if let Content::Bytes(bytes) = &file.content {
            client
                .put_object()
                .bucket(&bucket)
                .key(format!("managed/{}", file.path))
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id("alias/aws/s3")
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes.clone()))
                .send()
                .await
                .expect("put");
        }
    }
    let managed = format!("s3://{bucket}/managed/");
    let (code, report) = check_s3(&endpoint, &credentials, &managed, &[]);
    assert_eq!(
        (code, codes(&report)),
        (0, vec!["S3005".to_string()]),
        "{report}"
    );
    let (code, _) = check_s3(&endpoint, &credentials, &managed, &["--strict"]);
    assert_eq!(code, 1);

    // S3006: a bucket in another Region than the import job.
    let frankfurt = new_bucket(&client, "findings-frankfurt", "eu-central-1").await;
    upload_fixture(&client, &frankfurt, "m/", &llama)
        .await
        .expect("uploaded");
    let (code, report) = check_s3(
        &endpoint,
        &credentials,
        &format!("s3://{frankfurt}/m/"),
        &["--bedrock-region", "us-east-1"],
    );
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["S3006".to_string()]),
        "{report}"
    );
    let (code, _) = check_s3(
        &endpoint,
        &credentials,
        &format!("s3://{frankfurt}/m/"),
        &["--bedrock-region", "eu-central-1"],
    );
    assert_eq!(code, 0);

    // S3004 and S3009: errors that moto does not produce (it ignores SSE-C and does not
    // enforce KMS), injected by the proxy with S3's documented status, code and message.
    upload_fixture(&client, &bucket, "faults/", &llama)
        .await
        .expect("uploaded");
    let proxy = Proxy::start(&endpoint);
    let uri = format!("s3://{bucket}/faults/");
    proxy.fail_next_matching(
        1,
        Fault::S3Error {
            status: 400,
            code: "InvalidRequest".into(),
            message: "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
        },
        Matcher {
            method: Some("GET".into()),
            path_contains: Some("faults/config.json".into()),
        },
    );
    let (code, report) = check_s3(&proxy.endpoint(), &credentials, &uri, &[]);
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["S3004".to_string()]),
        "{report}"
    );
    proxy.fail_next_matching(
        1,
        Fault::S3Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "User: arn:aws:sts::123456789012:assumed-role/cmi-import/cmi-preflight is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        },
        Matcher {
            method: Some("GET".into()),
            path_contains: Some("faults/model.safetensors".into()),
        },
    );
    let (code, report) = check_s3(&proxy.endpoint(), &credentials, &uri, &[]);
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["S3009".to_string()]),
        "{report}"
    );
    assert!(report["findings"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("kms:Decrypt")));
}

/// A private moto with IAM enforced: an admin user, a bucket with the llama fixture, and
/// roles the admin may assume.
struct Enforced {
    moto: Moto,
    admin: Credentials,
    bucket: String,
}

impl Enforced {
    async fn new(roles: &[(&str, Option<&str>, String)]) -> Enforced {
        let moto = Moto::start();
        let iam = moto.iam_client().await;
        let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
        for (name, trusted, policy) in roles {
            let trust = moto::trust_policy(trusted.unwrap_or(&admin.arn));
            moto::create_role(&iam, name, &trust, policy).await;
        }
        let client = moto.s3_client().await;
        let bucket = "models".to_string();
        create_bucket(&client, &bucket, moto::REGION)
            .await
            .expect("bucket");
        upload_fixture(&client, &bucket, "llama/", &fixture("llama"))
            .await
            .expect("uploaded");
        moto.enforce_auth(0);
        Enforced {
            moto,
            admin: admin.credentials,
            bucket,
        }
    }

    fn role(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", moto::ACCOUNT_ID)
    }

    fn run(&self, args: &[&str]) -> Output {
        run(&self.moto.endpoint(), &self.admin, args)
    }
}

fn policy(statements: Value) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_and_untrusted_roles_fail_check_and_doctor() {
    let list = serde_json::json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::models"});
    let get = serde_json::json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::models/llama/*"});
    let env = Enforced::new(&[
        ("reader", None, policy(serde_json::json!([list, get]))),
        ("no-get", None, policy(serde_json::json!([list]))),
        ("no-list", None, policy(serde_json::json!([get]))),
        (
            "distrust",
            Some("arn:aws:iam::123456789012:user/somebody-else"),
            policy(serde_json::json!([list, get])),
        ),
    ])
    .await;
    let uri = format!("s3://{}/llama/", env.bucket);
    let check = |role: &str| {
        let output = env.run(&[
            "check",
            &uri,
            "--format",
            "json",
            "--role-arn",
            &env.role(role),
        ]);
        (output.status.code().unwrap_or(-1), json(&output))
    };

    let (code, report) = check("reader");
    assert_eq!(
        (code, codes(&report)),
        (0, Vec::<String>::new()),
        "{report}"
    );

    let (code, report) = check("no-get");
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["S3008".to_string()]),
        "{report}"
    );
    let finding = &report["findings"][0];
    assert!(finding["message"]
        .as_str()
        .is_some_and(|m| m.contains("s3:GetObject on arn:aws:s3:::models/llama/")));
    assert!(finding["hint"]
        .as_str()
        .is_some_and(|h| h.contains("cmi-preflight policy")));

    let (code, report) = check("no-list");
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["S3007".to_string()]),
        "{report}"
    );

    let doctor = env.run(&["doctor", &uri, "--role-arn", &env.role("no-get")]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{text}");
    assert!(text.contains("pass  assume role"), "{text}");
    assert!(text.contains("FAIL  inspect objects"), "{text}");
    assert!(text.contains("\"s3:GetObject\""), "{text}");

    let doctor = env.run(&[
        "doctor",
        &uri,
        "--role-arn",
        &env.role("no-get"),
        "--format",
        "json",
    ]);
    let document = json(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{document}");
    assert_eq!(document["schema"], "cmi-preflight.doctor.v1");
    assert_eq!(document["passed"], false);
    let steps = document["steps"].as_array().expect("steps");
    let inspect = steps
        .iter()
        .find(|s| s["name"] == "inspect objects")
        .expect("inspect step");
    assert_eq!(inspect["status"], "fail", "{document}");
    let statement = &inspect["fixes"][0]["statement"];
    assert!(
        statement.to_string().contains("s3:GetObject"),
        "a statement object: {statement}"
    );
    assert!(statement.is_object(), "{statement}");
    assert!(steps
        .iter()
        .any(|s| s["name"] == "assume role" && s["status"] == "pass"));

    let doctor = env.run(&["doctor", &uri, "--role-arn", &env.role("distrust")]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{text}");
    assert!(text.contains("pass  caller identity"), "{text}");
    assert!(text.contains("FAIL  assume role"), "{text}");
    assert!(
        text.contains("not authorized to perform: sts:AssumeRole"),
        "{text}"
    );
    assert!(text.contains("skip  list prefix"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_policies_are_accepted_by_iam_and_grant_exactly_enough() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .args([
            "policy",
            "--bucket",
            "models",
            "--prefix",
            "llama/",
            "--bucket-account",
            moto::ACCOUNT_ID,
            "--hosting-account",
            moto::ACCOUNT_ID,
            "--region",
            moto::REGION,
            "--role-name",
            "cmi-import",
            "--out-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.path().join(name)).expect(name)).expect("JSON")
    };
    let mut trust = read("trust-policy.json");
    let identity = read("role-identity-policy.json");
    let bucket_policy = read("bucket-policy.json");

    let moto = Moto::start();
    let iam = moto.iam_client().await;
    let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
    // Bedrock's statement as generated, with the admin added as a second principal so that
    // it can act as Bedrock here (`doctor` asks for a separate statement, which is the same
    // on AWS; moto 5.2.5 crashes evaluating a statement whose only principal is a service).
    trust["Statement"][0]["Principal"]["AWS"] = Value::from(admin.arn.clone());
    moto::create_role(
        &iam,
        "cmi-import",
        &trust.to_string(),
        &identity.to_string(),
    )
    .await;
    let client = moto.s3_client().await;
    create_bucket(&client, "models", moto::REGION)
        .await
        .expect("bucket");
    client
        .put_bucket_policy()
        .bucket("models")
        .policy(bucket_policy.to_string())
        .send()
        .await
        .expect("moto accepts the bucket policy");
    upload_fixture(&client, "models", "llama/", &fixture("llama"))
        .await
        .expect("uploaded");
    upload_fixture(&client, "models", "other/", &fixture("qwen2"))
        .await
        .expect("uploaded");
    moto.enforce_auth(0);

    let role = format!("arn:aws:iam::{}:role/cmi-import", moto::ACCOUNT_ID);
    let output = run(
        &moto.endpoint(),
        &admin.credentials,
        &[
            "check",
            "s3://models/llama/",
            "--format",
            "json",
            "--role-arn",
            &role,
        ],
    );
    let report = json(&output);
    assert_eq!(
        (output.status.code(), codes(&report)),
        (Some(0), Vec::<String>::new()),
        "{report}"
    );

    // Least privilege: the same role may not read another prefix of the bucket.
    let output = run(
        &moto.endpoint(),
        &admin.credentials,
        &[
            "check",
            "s3://models/other/",
            "--format",
            "json",
            "--role-arn",
            &role,
        ],
    );
    let report = json(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(codes(&report).contains(&"S3008".to_string()), "{report}");

    let doctor = run(
        &moto.endpoint(),
        &admin.credentials,
        &[
            "doctor",
            "s3://models/llama/",
            "--role-arn",
            &role,
            "--bucket-account",
            moto::ACCOUNT_ID,
        ],
    );
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
    assert!(text.contains("pass  trust policy"), "{text}");
    assert!(text.contains("pass  read objects"), "{text}");
}

/// Runs `manifest` or `verify` against S3 through `endpoint`.
fn manifest_s3(endpoint: &str, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.insert(1, "-q");
    run(endpoint, &moto::static_credentials(), &all)
}

fn strip_s3_fields(manifest: &Value) -> Value {
    let mut files = manifest["files"].clone();
    for file in files.as_array_mut().expect("files") {
        let object = file.as_object_mut().expect("object");
        for key in ["etag", "version_id", "last_modified"] {
            object.remove(key);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_agree_locally_and_from_s3_and_survive_faults() {
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    let bucket = new_bucket(&client, "manifests", moto::REGION).await;
    let fixture = fixture("llama-sharded");
    upload_fixture(&client, &bucket, "m/", &fixture)
        .await
        .expect("uploaded");
    let uri = format!("s3://{bucket}/m/");

    let local = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .args(["manifest", "-q"])
        .arg(testdata(&fixture))
        .output()
        .expect("runs");
    let local = json(&local);
    let remote = manifest_s3(&moto.endpoint(), &["manifest", &uri, "--part-size", "4096"]);
    assert_eq!(
        remote.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let remote = json(&remote);
    assert_eq!(remote["artifact_digest"], local["artifact_digest"]);
    assert_eq!(remote["model"], local["model"]);
    assert_eq!(strip_s3_fields(&remote), strip_s3_fields(&local));
    for file in remote["files"].as_array().expect("files") {
        assert!(
            file["etag"].is_string() && file["last_modified"].is_string(),
            "{file}"
        );
    }

    // Bodies cut mid-way and throttling answers are retried; the digest does not change.
    let proxy = Proxy::start(&moto.endpoint());
    let shard = "m/model-00001-of-00002.safetensors";
    proxy.fail_next_matching(
        2,
        Fault::CutAfter(1000),
        Matcher {
            method: Some("GET".into()),
            path_contains: Some(shard.into()),
        },
    );
    proxy.fail_next(2, Fault::Status503SlowDown);
    let faulted = manifest_s3(
        &proxy.endpoint(),
        &["manifest", &uri, "--part-size", "4096"],
    );
    assert_eq!(
        faulted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&faulted.stderr)
    );
    assert_eq!(json(&faulted)["artifact_digest"], local["artifact_digest"]);
    assert!(proxy
        .log()
        .iter()
        .any(|e| e.fault == Some(Fault::CutAfter(1000))));

    // A body that is always cut is never hashed as complete: the run fails, says why, and
    // writes no manifest.
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("m.json");
    proxy.fail_next_matching(
        100,
        Fault::CutAfter(1000),
        Matcher {
            method: Some("GET".into()),
            path_contains: Some(shard.into()),
        },
    );
    let failed = manifest_s3(
        &proxy.endpoint(),
        &[
            "manifest",
            &uri,
            "--part-size",
            "4096",
            "-o",
            target.to_str().expect("utf-8"),
        ],
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("model-00001-of-00002.safetensors"),
        "{stderr}"
    );
    assert!(stderr.contains("gave up after"), "{stderr}");
    assert!(!target.exists());
    proxy.clear_faults();
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_over_s3_in_full_and_metadata_only_modes() {
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    let bucket = new_bucket(&client, "verify", moto::REGION).await;
    let fixture = fixture("llama");
    upload_fixture(&client, &bucket, "m/", &fixture)
        .await
        .expect("uploaded");
    let uri = format!("s3://{bucket}/m/");
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("m.json");
    let manifest_arg = manifest.to_str().expect("utf-8");
    let made = manifest_s3(&moto.endpoint(), &["manifest", &uri, "-o", manifest_arg]);
    assert_eq!(
        made.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            uri.as_str(),
            "--manifest",
            manifest_arg,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let output = manifest_s3(&moto.endpoint(), &args);
        (output.status.code().unwrap_or(-1), json(&output))
    };
    let (code, report) = verify(&["--metadata-only"]);
    assert_eq!(
        (code, codes(&report)),
        (0, Vec::<String>::new()),
        "{report}"
    );
    assert_eq!(report["mode"], "metadata-only");

    // Same size, other content: only the metadata says so without reading.
    let original = fixture
        .files
        .iter()
        .find(|f| f.path == "config.json")
        .and_then(|f| match &f.content {
            Content::Bytes(b) => Some(b.clone()),
            _ => None,
        })
        .expect("config.json");
    let mut changed = original.clone();
    changed[5] = if changed[5] == b'x' { b'y' } else { b'x' };
    client
        .put_object()
        .bucket(&bucket)
        .key("m/config.json")
        .body(aws_sdk_s3::primitives::ByteStream::from(changed))
        .send()
        .await
        .expect("put");
    let (code, report) = verify(&["--metadata-only"]);
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["MF005".to_string()]),
        "{report}"
    );
    let (code, report) = verify(&[]);
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["MF004".to_string()]),
        "{report}"
    );
    assert_eq!(report["mode"], "full");
}

/// Runs `doctor --format json --hosting-kms-key-arn KEY` against the shared moto and returns
/// its step "hosting key policy".
fn hosting_key_step(moto: &Moto, role: &str, key: &str) -> Value {
    let output = run(
        &moto.endpoint(),
        &moto::static_credentials(),
        &[
            "doctor",
            "s3://kms-doctor/llama/",
            "--role-arn",
            role,
            "--hosting-kms-key-arn",
            key,
            "--format",
            "json",
        ],
    );
    let document = json(&output);
    document["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "hosting key policy")
        .cloned()
        .unwrap_or_else(|| panic!("no hosting key step: {document}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_hosting_key_policy_for_the_role_and_the_importer() {
    let moto = Moto::shared();
    let kms = moto.kms_client().await;
    let root = format!("arn:aws:iam::{}:root", moto::ACCOUNT_ID);
    let admin = serde_json::json!({
        "Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": root},
        "Action": "kms:*", "Resource": "*"
    });
    let key = kms
        .create_key()
        .policy(policy(serde_json::json!([admin.clone()])))
        .send()
        .await
        .expect("key");
    let key_arn = key
        .key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_string())
        .expect("key ARN");
    let role = format!("arn:aws:iam::{}:role/cmi-kms-check", moto::ACCOUNT_ID);

    // The account may do anything with the key, but the role is not named: the walkthrough's
    // statement for the role is missing, and doctor prints it.
    let step = hosting_key_step(moto, &role, &key_arn);
    assert_eq!(step["status"], "fail", "{step}");
    assert!(
        step["detail"]
            .as_str()
            .is_some_and(|d| d.contains("kms:ReEncrypt*")),
        "{step}"
    );
    let fixes = step["fixes"].as_array().expect("fixes");
    assert_eq!(fixes.len(), 1, "{step}");
    assert_eq!(
        fixes[0]["statement"]["Sid"],
        "CmiImportRoleUseImportedModelKey"
    );
    assert_eq!(fixes[0]["statement"]["Principal"]["AWS"], role);

    // With the statements `policy` writes merged into the key policy, the step passes.
    let dir = tempfile::tempdir().expect("tempdir");
    let written = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .args([
            "policy",
            "--bucket",
            "kms-doctor",
            "--bucket-account",
            moto::ACCOUNT_ID,
            "--hosting-account",
            moto::ACCOUNT_ID,
            "--region",
            moto::REGION,
            "--role-name",
            "cmi-kms-check",
            "--hosting-kms-key-arn",
            &key_arn,
            "--out-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let generated: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("hosting-kms-key-policy-statement.json")).expect("file"),
    )
    .expect("JSON");
    let mut statements = vec![admin];
    statements.extend(
        generated["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .cloned(),
    );
    kms.put_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .policy(policy(Value::from(statements)))
        .send()
        .await
        .expect("moto accepts the merged key policy");
    let step = hosting_key_step(moto, &role, &key_arn);
    assert_eq!(step["status"], "pass", "{step}");
}
