//! `push --sign-key`: the pushed files signed from the upload's hashes; `model_signing
//! verify key` accepts the signature for the local source folder. A signature under the
//! destination prefix that Bedrock imports is refused before anything is sent. With
//! `--import --require-signature`, the import (the testkit's Bedrock emulator) is gated on
//! the signature just written, and the push document carries both outcomes.

use std::path::Path;

use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::create_bucket;

use super::{hint, key_pair, model_signing_verify_key, python, text};

fn run(moto: &Moto, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    super::ours_on_aws(moto, None, dir, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_signs_what_it_sent_and_model_signing_verifies_the_source_folder() {
    let Some(python) = python() else { return };
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    create_bucket(&client, "pushsig", moto::REGION)
        .await
        .expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("llama");
    std::fs::create_dir(&root).expect("mkdir");
    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    for entry in std::fs::read_dir(&valid).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, root.join(path.file_name().expect("name"))).expect("copy");
    }
    let (private, public) = key_pair(&python, dir.path(), "signer", "secp384r1", "pkcs8");
    let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());

    let refused = run(
        moto,
        dir.path(),
        &[
            "push",
            "llama",
            "s3://pushsig/models/llama/",
            "-q",
            "--sign-key",
            private,
            "--signature-out",
            "s3://pushsig/models/llama/model.sig",
        ],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let listed = client
        .list_objects_v2()
        .bucket("pushsig")
        .send()
        .await
        .expect("list");
    assert!(listed.contents().is_empty(), "{listed:?}");

    let output = run(
        moto,
        dir.path(),
        &[
            "push",
            "llama",
            "s3://pushsig/models/llama/",
            "-q",
            "--sign-key",
            private,
            "--signature-out",
            "llama.sig",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("signed 6 files"),
        "{}",
        text(&output)
    );
    let theirs = model_signing_verify_key(&python, dir.path(), "llama", "llama.sig", public);
    assert!(theirs.status.success(), "{}", text(&theirs));

    let output = run(
        moto,
        dir.path(),
        &[
            "verify",
            "s3://pushsig/models/llama/",
            "--signature",
            "llama.sig",
            "--public-key",
            public,
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn push_sign_import_require_signature_gates_on_the_signature_it_wrote() {
    let Some(python) = python() else { return };
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    create_bucket(&client, "pushgate", moto::REGION)
        .await
        .expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    let (private, public) = key_pair(&python, dir.path(), "signer", "secp256r1", "pkcs8");
    let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());
    let source = valid.to_str().unwrap();
    let push = |extra: &[&'static str]| -> Vec<String> {
        [
            "push",
            source,
            "s3://pushgate/models/llama/",
            "-q",
            "--sign-key",
            private,
            "--signature-out",
            "s3://pushgate/signatures/llama.sig",
        ]
        .iter()
        .chain(extra)
        .map(|arg| arg.to_string())
        .collect()
    };
    fn strs(args: &[String]) -> Vec<&str> {
        args.iter().map(String::as_str).collect()
    }

    let refused = run(moto, dir.path(), &strs(&push(&["--require-signature"])));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));

    let emulator = BedrockEmulator::start(EmulatorOptions {
        callers: vec![moto.credentials()],
        ..EmulatorOptions::default()
    });
    let output = super::ours_on_aws(
        moto,
        Some(&emulator),
        dir.path(),
        &strs(&push(&[
            "--import",
            "--require-signature",
            "--job-name",
            "signed",
            "--model-name",
            "signed",
            "--role-arn",
            "arn:aws:iam::123456789012:role/reader",
            "--format",
            "json",
        ])),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let signed = &document["signature"];
    assert_eq!(signed["path"], "s3://pushgate/signatures/llama.sig");
    assert_eq!(signed["key"], private);
    assert_eq!(signed["key_hint"], hint(Path::new(public)));
    assert_eq!(signed["files"], 6);
    assert_eq!(signed["passed"], true);
    let gate = &document["import"]["signature"];
    assert_eq!(gate["passed"], true, "{document}");
    assert_eq!(gate["key"], private);
    assert_eq!(gate["key_hint"], signed["key_hint"]);
    assert_eq!(gate["digest"], signed["digest"]);
    assert_eq!(document["import"]["submitted"], true);
    assert_eq!(emulator.calls_to("CreateModelImportJob").len(), 1);
}
