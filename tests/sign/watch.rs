//! `watch --require-signature`: of four artifacts in S3 (moto), the one signed with the
//! given key is imported (the testkit's Bedrock emulator); the unsigned one and the one
//! signed with another key fail with SG001 and SG002 in their reports, one changed after it
//! was signed with SG003, and none of them is imported.

use std::path::Path;

use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::{create_bucket, upload_dir};

use super::{key_pair, python, text};

fn run(
    moto: &Moto,
    emulator: Option<&BedrockEmulator>,
    dir: &Path,
    args: &[&str],
) -> std::process::Output {
    super::ours_on_aws(moto, emulator, dir, args)
}

/// The codes of a report the daemon wrote.
fn report_codes(path: &str) -> Vec<String> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("JSON");
    assert_eq!(report["passed"], false, "{report:#}");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_imports_only_the_artifact_signed_with_the_key() {
    let Some(python) = python() else { return };
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    for bucket in ["watch-signed", "watch-signatures"] {
        create_bucket(&client, bucket, moto::REGION)
            .await
            .expect("bucket");
    }
    let llama = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    for name in ["signed", "unsigned", "other", "changed"] {
        upload_dir(&client, "watch-signed", &format!("models/{name}/"), &llama)
            .await
            .expect("upload");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (private, public) = key_pair(&python, dir.path(), "signer", "secp256r1", "pkcs8");
    let (other_private, _) = key_pair(&python, dir.path(), "other", "secp256r1", "pkcs8");
    let emulator = BedrockEmulator::start(EmulatorOptions {
        callers: vec![moto.credentials()],
        ..EmulatorOptions::default()
    });
    for (name, key) in [
        ("signed", &private),
        ("other", &other_private),
        ("changed", &private),
    ] {
        let source = format!("s3://watch-signed/models/{name}/");
        let signature = format!("s3://watch-signatures/{name}.sig");
        let key = key.to_str().expect("utf-8");
        let output = run(
            moto,
            None,
            dir.path(),
            &["sign", &source, "--key", key, "-o", &signature, "-q"],
        );
        assert!(output.status.success(), "{}", text(&output));
    }
    client
        .put_object()
        .bucket("watch-signed")
        .key("models/changed/generation_config.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .expect("put");
    let state = dir.path().join("state");
    let watch = |template: &str| {
        run(
            moto,
            Some(&emulator),
            dir.path(),
            &[
                "watch",
                "s3://watch-signed/models/",
                "--state-dir",
                state.to_str().expect("utf-8"),
                "--settle",
                "0s",
                "--once",
                "--import",
                "--role-arn",
                "arn:aws:iam::123456789012:role/cmi-import",
                "--require-signature",
                "--signature-at",
                template,
                "--public-key",
                public.to_str().expect("utf-8"),
            ],
        )
    };

    let inside = watch("s3://watch-signed/{prefix}model.sig");
    assert_eq!(inside.status.code(), Some(2), "{}", text(&inside));
    assert!(
        String::from_utf8_lossy(&inside.stderr).contains("inside the watched prefix"),
        "{}",
        text(&inside)
    );

    let output = watch("s3://watch-signatures/{name}.sig");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |event: &str| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| {
                (
                    e["artifact"].as_str().unwrap_or_default().to_string(),
                    e["report"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let passed = of("passed");
    assert_eq!(passed.len(), 1, "{}", text(&output));
    assert_eq!(passed[0].0, "signed");
    let mut failed = of("failed");
    failed.sort();
    assert_eq!(failed.len(), 3, "{}", text(&output));
    assert_eq!(failed[0].0, "changed");
    assert_eq!(report_codes(&failed[0].1), ["SG003"]);
    assert_eq!(failed[1].0, "other");
    assert_eq!(report_codes(&failed[1].1), ["SG002"]);
    assert_eq!(failed[2].0, "unsigned");
    assert_eq!(report_codes(&failed[2].1), ["SG001"]);

    let creates = emulator.calls_to("CreateModelImportJob");
    assert_eq!(creates.len(), 1);
    assert_eq!(
        creates[0].input["modelDataSource"]["s3DataSource"]["s3Uri"],
        "s3://watch-signed/models/signed/"
    );
}
