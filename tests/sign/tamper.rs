//! Every way a signed artifact can fail: its own finding here, and a refusal by
//! `model_signing` too (the oracle).

use base64::Engine as _;
use serde_json::Value;

use super::{
    codes, key_pair, model, model_signing_sign_key, model_signing_verify_key, ours, python, text,
};

fn finding(code: &str, file: &str) -> Vec<(String, String)> {
    vec![(code.to_string(), file.to_string())]
}

struct Signed {
    dir: tempfile::TempDir,
    public: String,
    python: std::path::PathBuf,
}

impl Signed {
    /// A model signed here with a P-256 key, the signature beside it as `model.sig`.
    fn new() -> Option<Signed> {
        let python = python()?;
        let dir = tempfile::tempdir().expect("tempdir");
        model(dir.path());
        let (private, public) = key_pair(&python, dir.path(), "k", "secp256r1", "pkcs8");
        let output = ours(
            dir.path(),
            &["sign", "model", "--key", private.to_str().unwrap(), "-q"],
        );
        assert!(output.status.success(), "{}", text(&output));
        Some(Signed {
            dir,
            public: public.to_str().unwrap().to_string(),
            python,
        })
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }

    fn verify(&self, signature: &str, keys: &[&str]) -> std::process::Output {
        let mut args = vec![
            "verify",
            "model",
            "--signature",
            signature,
            "--format",
            "json",
            "-q",
        ];
        for key in keys {
            args.extend(["--public-key", key]);
        }
        ours(self.dir.path(), &args)
    }

    /// Our findings, after asserting exit 1 here and a refusal by model_signing.
    fn fails(&self, signature: &str) -> Vec<(String, String)> {
        let output = self.verify(signature, &[&self.public]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let theirs = model_signing_verify_key(
            &self.python,
            self.dir.path(),
            "model",
            signature,
            &self.public,
        );
        assert!(
            !theirs.status.success(),
            "model_signing accepted it: {}",
            text(&theirs)
        );
        codes(&output)
    }

    fn edit_bundle(&self, edit: impl FnOnce(&mut Value)) -> &'static str {
        let mut bundle: Value =
            serde_json::from_slice(&std::fs::read(self.path("model.sig")).expect("read"))
                .expect("JSON");
        edit(&mut bundle);
        std::fs::write(self.path("edited.sig"), bundle.to_string()).expect("write");
        "edited.sig"
    }
}

#[test]
fn files_added_removed_or_changed_are_the_manifest_findings() {
    let Some(signed) = Signed::new() else { return };
    let output = signed.verify("model.sig", &[&signed.public]);
    assert!(output.status.success(), "{}", text(&output));

    std::fs::write(signed.path("model/extra.bin"), "extra").expect("write");
    assert_eq!(signed.fails("model.sig"), finding("MF002", "extra.bin"));
    std::fs::remove_file(signed.path("model/extra.bin")).expect("remove");

    std::fs::write(signed.path("model/sub/deep/weights.bin"), "9123456789").expect("write");
    assert_eq!(
        signed.fails("model.sig"),
        finding("MF004", "sub/deep/weights.bin")
    );
    std::fs::write(signed.path("model/sub/deep/weights.bin"), "0123456789").expect("write");

    std::fs::remove_file(signed.path("model/a/b")).expect("remove");
    assert_eq!(signed.fails("model.sig"), finding("MF001", "a/b"));
}

#[test]
fn another_key_is_sg002_and_one_of_several_keys_suffices() {
    let Some(signed) = Signed::new() else { return };
    let (_, other) = key_pair(
        &signed.python,
        signed.dir.path(),
        "other",
        "secp384r1",
        "pkcs8",
    );
    let other = other.to_str().unwrap();
    let output = signed.verify("model.sig", &[other]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(codes(&output), finding("SG002", "model.sig"));
    let theirs = model_signing_verify_key(
        &signed.python,
        signed.dir.path(),
        "model",
        "model.sig",
        other,
    );
    assert!(!theirs.status.success());

    let output = signed.verify("model.sig", &[other, &signed.public]);
    assert!(output.status.success(), "{}", text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        document["signature"]["public_key"].as_str(),
        Some(signed.public.as_str())
    );
}

#[test]
fn an_edited_payload_or_bundle_is_sg003() {
    let Some(signed) = Signed::new() else { return };
    let base64 = base64::engine::general_purpose::STANDARD;
    // A changed digest in the statement, re-encoded: the envelope signature no longer holds.
    let edited = signed.edit_bundle(|bundle| {
        let payload = base64
            .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let mut statement: Value = serde_json::from_slice(&payload).unwrap();
        statement["predicate"]["resources"][0]["digest"] = Value::String("0".repeat(64));
        bundle["dsseEnvelope"]["payload"] =
            Value::String(base64.encode(serde_json::to_vec_pretty(&statement).unwrap()));
    });
    assert_eq!(signed.fails(edited), finding("SG003", "edited.sig"));

    // Not a bundle at all.
    std::fs::write(signed.path("garbage.sig"), "{\"mediaType\": 1").expect("write");
    assert_eq!(signed.fails("garbage.sig"), finding("SG003", "garbage.sig"));

    // Another media type.
    let edited = signed.edit_bundle(|bundle| {
        bundle["mediaType"] = Value::String("application/json".into());
    });
    assert_eq!(signed.fails(edited), finding("SG003", "edited.sig"));
}

#[test]
fn a_missing_signature_is_sg001() {
    let Some(signed) = Signed::new() else { return };
    let output = signed.verify("nowhere.sig", &[&signed.public]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(codes(&output), finding("SG001", "nowhere.sig"));
}

#[test]
fn symbolic_links_are_refused_as_model_signing_refuses_them() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = model(dir.path());
    std::os::unix::fs::symlink("a.txt", root.join("link.txt")).expect("symlink");
    let (private, _) = key_pair(&python, dir.path(), "k", "secp256r1", "pkcs8");
    let private = private.to_str().unwrap();
    let theirs = model_signing_sign_key(&python, dir.path(), "model", "theirs.sig", private);
    assert!(!theirs.status.success(), "{}", text(&theirs));
    let output = ours(
        dir.path(),
        &["sign", "model", "--key", private, "-o", "ours.sig", "-q"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("link.txt is a symbolic link"));
    assert!(!dir.path().join("ours.sig").exists());
}
