//! `import --require-signature`: the artifact in S3 (moto) must verify with its signature
//! before CreateModelImportJob (the testkit's Bedrock emulator); a wrong key or a changed
//! object submits nothing.

use std::path::Path;

use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::{create_bucket, upload_dir};

use super::{hint, key_pair, python, text};

const SOURCE: &str = "s3://gate/models/llama/";
const SIGNATURE: &str = "s3://gate/signatures/llama.sig";

fn run(
    moto: &Moto,
    emulator: Option<&BedrockEmulator>,
    dir: &Path,
    args: &[&str],
) -> std::process::Output {
    super::ours_on_aws(moto, emulator, dir, args)
}

fn import<'a>(job: &'a str, public_key: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "import",
        SOURCE,
        "--job-name",
        job,
        "--model-name",
        job,
        "--role-arn",
        "arn:aws:iam::123456789012:role/reader",
        "--require-signature",
        "--signature",
        SIGNATURE,
        "--public-key",
        public_key,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_artifact_imports_and_a_wrong_key_or_a_changed_object_submits_nothing() {
    let Some(python) = python() else { return };
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    create_bucket(&client, "gate", moto::REGION)
        .await
        .expect("bucket");
    let llama = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    upload_dir(&client, "gate", "models/llama/", &llama)
        .await
        .expect("upload");
    let dir = tempfile::tempdir().expect("tempdir");
    let (private, public) = key_pair(&python, dir.path(), "signer", "secp256r1", "pkcs8");
    let (_, other) = key_pair(&python, dir.path(), "other", "secp256r1", "pkcs8");
    let (private, public, other) = (
        private.to_str().unwrap(),
        public.to_str().unwrap(),
        other.to_str().unwrap(),
    );
    let output = run(
        moto,
        None,
        dir.path(),
        &["sign", SOURCE, "--key", private, "-o", SIGNATURE, "-q"],
    );
    assert!(output.status.success(), "{}", text(&output));
    let emulator = BedrockEmulator::start(EmulatorOptions {
        callers: vec![moto.credentials()],
        ..EmulatorOptions::default()
    });

    let output = run(
        moto,
        Some(&emulator),
        dir.path(),
        &import("wrong-key", other, &["--format", "json"]),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(document["schema"], "cmi-preflight.import.v1");
    assert_eq!(document["submitted"], false);
    let signature = &document["signature"];
    assert_eq!(signature["path"], SIGNATURE);
    assert_eq!(signature["passed"], false);
    assert!(signature.get("key").is_none(), "{document}");
    assert_eq!(signature["findings"][0]["code"], "SG002");
    assert_eq!(signature["findings"][0]["file"], SIGNATURE);
    assert!(emulator.calls_to("CreateModelImportJob").is_empty());
    assert!(emulator.jobs().is_empty());

    let original = std::fs::read(llama.join("config.json")).expect("config");
    let mut changed = original.clone();
    changed.push(b'\n');
    client
        .put_object()
        .bucket("gate")
        .key("models/llama/config.json")
        .body(changed.into())
        .send()
        .await
        .expect("put");
    let output = run(
        moto,
        Some(&emulator),
        dir.path(),
        &import("changed", public, &[]),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("MF004") && shown.contains("not submitted"),
        "{}",
        text(&output)
    );
    assert!(emulator.calls_to("CreateModelImportJob").is_empty());
    assert!(emulator.jobs().is_empty());

    client
        .put_object()
        .bucket("gate")
        .key("models/llama/config.json")
        .body(original.into())
        .send()
        .await
        .expect("put");
    let output = run(
        moto,
        Some(&emulator),
        dir.path(),
        &import("signed", public, &[]),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("signature s3://gate/signatures/llama.sig verified"),
        "{}",
        text(&output)
    );
    let output = run(
        moto,
        Some(&emulator),
        dir.path(),
        &import("signed", public, &["--format", "json"]),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(document["submitted"], true, "{document}");
    let signature = &document["signature"];
    assert_eq!(signature["passed"], true);
    assert_eq!(signature["key"], public);
    assert_eq!(signature["key_hint"], hint(Path::new(public)));
    assert_eq!(signature["files"], 6);
    assert!(signature.get("findings").is_none(), "{document}");
    // The text and the JSON runs send the same request (the same idempotency token): one job.
    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 2);
    for create in &creates {
        assert_eq!(
            create.input["modelDataSource"]["s3DataSource"]["s3Uri"],
            SOURCE
        );
    }
    assert_eq!(emulator.jobs().len(), 1);
}
