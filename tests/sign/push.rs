//! `push --sign-key`: the pushed files signed from the upload's hashes; `model_signing
//! verify key` accepts the signature for the local source folder. A signature under the
//! destination prefix that Bedrock imports is refused before anything is sent.

use std::path::Path;

use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::create_bucket;

use super::{key_pair, model_signing, python, text};

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
    let theirs = model_signing(
        &python,
        dir.path(),
        &[
            "verify",
            "key",
            "llama",
            "--signature",
            "llama.sig",
            "--public_key",
            public,
        ],
    );
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
