//! Encrypted private keys (PKCS #8, as `cryptography`'s `BestAvailableEncryption` writes
//! them): `sign --key-password-env NAME` takes the password from the environment;
//! `model_signing sign key --password` signs with the same key and each tool verifies the
//! other's signature. Without the password, or with a wrong one, the error names the key file.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{model, model_signing_verify_key, ours_verify_key, python, text};

const PASSWORD: &str = "correct horse battery staple";

/// An encrypted P-256 key and its public key, made by `cryptography`.
fn encrypted_key_pair(python: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let private = dir.join("encrypted.pem");
    let public = dir.join("encrypted.pub.pem");
    let script = format!(
        r#"
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization as s
k = ec.generate_private_key(ec.SECP256R1())
open(r"{private}", "wb").write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(b"{PASSWORD}")))
open(r"{public}", "wb").write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
"#,
        private = private.display(),
        public = public.display(),
    );
    let output = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", text(&output));
    (private, public)
}

/// Runs `sign` with `CMI_TEST_KEY_PASSWORD` set to `password`, when given.
fn sign_with(dir: &Path, key: &str, password: Option<&str>, output: &str) -> Output {
    let mut command = assert_cmd::Command::cargo_bin("cmi-preflight").expect("binary built");
    command
        .args(["sign", "model", "--key", key, "-o", output, "-q"])
        .current_dir(dir)
        .env_remove("CMI_TEST_KEY_PASSWORD");
    if let Some(password) = password {
        command
            .args(["--key-password-env", "CMI_TEST_KEY_PASSWORD"])
            .env("CMI_TEST_KEY_PASSWORD", password);
    }
    command.output().expect("binary runs")
}

#[test]
fn encrypted_keys_sign_both_ways_and_a_missing_or_wrong_password_names_the_file() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    model(dir.path());
    let (private, public) = encrypted_key_pair(&python, dir.path());
    let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());

    let output = sign_with(dir.path(), private, Some(PASSWORD), "ours.sig");
    assert!(output.status.success(), "{}", text(&output));
    let theirs = model_signing_verify_key(&python, dir.path(), "model", "ours.sig", public);
    assert!(theirs.status.success(), "{}", text(&theirs));

    // model_signing 1.1.1's `sign key --password` hands the password to `cryptography` as
    // a str, which refuses it; its API with the password as bytes signs.
    let script = format!(
        "import model_signing; model_signing.signing.Config().use_elliptic_key_signer(private_key=r'{private}', password=b'{PASSWORD}').sign('model', 'theirs.sig')"
    );
    let theirs = std::process::Command::new(&python)
        .args(["-c", &script])
        .current_dir(dir.path())
        .output()
        .expect("python runs");
    assert!(theirs.status.success(), "{}", text(&theirs));
    let output = ours_verify_key(dir.path(), "model", "theirs.sig", public);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    for (password, says) in [
        (None, "--key-password-env"),
        (Some("wrong"), "cannot decrypt"),
    ] {
        let output = sign_with(dir.path(), private, password, "refused.sig");
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(private) && stderr.contains(says),
            "{}",
            text(&output)
        );
        assert!(!dir.path().join("refused.sig").exists());
    }
}
