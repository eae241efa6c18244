//! An S3 artifact signed here (the signature in another prefix, out of what Bedrock
//! imports) verifies with `model_signing` against a local copy, and here against S3.

use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::{create_bucket, upload_dir};

use super::{codes, key_pair, model, model_signing_verify_key, python, text};

fn run(moto: &Moto, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    super::ours_on_aws(moto, None, dir, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_artifact_signed_here_verifies_there_against_a_local_copy() {
    let Some(python) = python() else { return };
    let moto = Moto::shared();
    let client = moto.s3_client().await;
    create_bucket(&client, "signed", moto::REGION)
        .await
        .expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = model(dir.path());
    // S3 has no .git: upload the files that are signed.
    std::fs::remove_dir_all(root.join(".git")).expect("rm .git");
    std::fs::remove_file(root.join(".gitattributes")).expect("rm");
    upload_dir(&client, "signed", "models/m1/", &root)
        .await
        .expect("upload");
    let (private, public) = key_pair(&python, dir.path(), "k", "secp384r1", "pkcs8");
    let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());
    let signature = "s3://signed/signatures/m1.sig";

    let output = run(
        moto,
        dir.path(),
        &[
            "sign",
            "s3://signed/models/m1/",
            "--key",
            private,
            "-o",
            signature,
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let object = client
        .get_object()
        .bucket("signed")
        .key("signatures/m1.sig")
        .send()
        .await
        .expect("signature object");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    std::fs::write(dir.path().join("m1.sig"), &bytes).expect("write");

    let theirs = model_signing_verify_key(&python, dir.path(), "model", "m1.sig", public);
    assert!(theirs.status.success(), "{}", text(&theirs));
    let output = run(
        moto,
        dir.path(),
        &[
            "verify",
            "s3://signed/models/m1/",
            "--signature",
            signature,
            "--public-key",
            public,
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = run(
        moto,
        dir.path(),
        &[
            "verify",
            "model",
            "--signature",
            signature,
            "--public-key",
            public,
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));

    client
        .put_object()
        .bucket("signed")
        .key("models/m1/a.txt")
        .body(b"changed".to_vec().into())
        .send()
        .await
        .expect("put");
    let output = run(
        moto,
        dir.path(),
        &[
            "verify",
            "s3://signed/models/m1/",
            "--signature",
            signature,
            "--public-key",
            public,
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(codes(&output), [("MF004".to_string(), "a.txt".to_string())]);
    let output = run(
        moto,
        dir.path(),
        &[
            "verify",
            "s3://signed/models/m1/",
            "--signature",
            "s3://signed/signatures/none.sig",
            "--public-key",
            public,
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        codes(&output),
        [(
            "SG001".to_string(),
            "s3://signed/signatures/none.sig".to_string()
        )]
    );
}
