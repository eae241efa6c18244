//! Certificate signatures (`sign --signing-certificate`, `verify --certificate-chain`) cross
//! with `model_signing sign certificate` / `verify certificate` both ways; the bundle carries
//! the same certificates as `model_signing`'s, and a signing certificate that the given roots
//! do not trust is SG004 here and refused there. The CA is made with the venv's
//! `cryptography`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{codes, model, model_signing, ours, python, text};

/// A root CA (P-384), an intermediate (P-256) it issued, a signing certificate (P-256, digital
/// signature and code signing) the intermediate issued with its key, and another root that
/// issued nothing here.
struct Pki {
    root: PathBuf,
    intermediate: PathBuf,
    leaf: PathBuf,
    leaf_key: PathBuf,
    other_root: PathBuf,
}

fn pki(python: &Path, dir: &Path) -> Pki {
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def ca(subject, issuer, key, signer, serial, path_length):
    return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
        .public_key(key.public_key()).serial_number(serial)
        .not_valid_before(now - day).not_valid_after(now + 365 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(signer, hashes.SHA384()))
def save(path, data): open(f"{out}/{path}", "wb").write(data)
root_key = ec.generate_private_key(ec.SECP384R1())
root = ca("root", "root", root_key, root_key, 1, 1)
other_key = ec.generate_private_key(ec.SECP384R1())
other = ca("other root", "other root", other_key, other_key, 9, 1)
int_key = ec.generate_private_key(ec.SECP256R1())
intermediate = ca("intermediate", "root", int_key, root_key, 2, 0)
leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder().subject_name(name("signer")).issuer_name(name("intermediate"))
    .public_key(leaf_key.public_key()).serial_number(3)
    .not_valid_before(now - day).not_valid_after(now + 30 * day)
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    .sign(int_key, hashes.SHA256()))
pem = lambda c: c.public_bytes(s.Encoding.PEM)
save("root.pem", pem(root)); save("other-root.pem", pem(other))
save("intermediate.pem", pem(intermediate)); save("leaf.pem", pem(leaf))
save("leaf.key", leaf_key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
"#;
    let output = std::process::Command::new(python)
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", text(&output));
    Pki {
        root: dir.join("root.pem"),
        intermediate: dir.join("intermediate.pem"),
        leaf: dir.join("leaf.pem"),
        leaf_key: dir.join("leaf.key"),
        other_root: dir.join("other-root.pem"),
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn verification_material(dir: &Path, signature: &str) -> Value {
    let bytes = std::fs::read(dir.join(signature)).expect("signature");
    let bundle: Value = serde_json::from_slice(&bytes).expect("bundle");
    bundle["verificationMaterial"].clone()
}

#[test]
fn certificate_signatures_cross_both_ways_and_an_untrusted_certificate_is_sg004() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    model(dir.path());
    let pki = pki(&python, dir.path());

    // Signed here, verified there and here.
    let output = ours(
        dir.path(),
        &[
            "sign",
            "model",
            "--key",
            path(&pki.leaf_key),
            "--signing-certificate",
            path(&pki.leaf),
            "--certificate-chain",
            path(&pki.intermediate),
            "-o",
            "ours.sig",
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let theirs = model_signing(
        &python,
        dir.path(),
        &[
            "verify",
            "certificate",
            "model",
            "--signature",
            "ours.sig",
            "--certificate_chain",
            path(&pki.root),
        ],
    );
    assert!(theirs.status.success(), "{}", text(&theirs));
    let output = ours(
        dir.path(),
        &[
            "verify",
            "model",
            "--signature",
            "ours.sig",
            "--certificate-chain",
            path(&pki.root),
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let certificate = &document["signature"]["certificate"];
    assert_eq!(certificate["subject"], "CN=signer", "{document}");
    assert_eq!(certificate["fingerprint"].as_str().map(str::len), Some(64));

    // Signed there with the same certificates: the same verification material, verified
    // here.
    let output = model_signing(
        &python,
        dir.path(),
        &[
            "sign",
            "certificate",
            "model",
            "--private_key",
            path(&pki.leaf_key),
            "--signing_certificate",
            path(&pki.leaf),
            "--certificate_chain",
            path(&pki.intermediate),
            "--signature",
            "theirs.sig",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        verification_material(dir.path(), "ours.sig"),
        verification_material(dir.path(), "theirs.sig")
    );
    let ours_material = std::fs::read_to_string(dir.path().join("ours.sig")).expect("ours");
    let theirs_material = std::fs::read_to_string(dir.path().join("theirs.sig")).expect("theirs");
    let prefix = |text: &str| text.split("\"dsseEnvelope\"").next().map(str::to_string);
    assert_eq!(prefix(&ours_material), prefix(&theirs_material));
    let output = ours(
        dir.path(),
        &[
            "verify",
            "model",
            "--signature",
            "theirs.sig",
            "--certificate-chain",
            path(&pki.root),
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    // Another root trusts neither: SG004 here, a failure there.
    for signature in ["ours.sig", "theirs.sig"] {
        let output = ours(
            dir.path(),
            &[
                "verify",
                "model",
                "--signature",
                signature,
                "--certificate-chain",
                path(&pki.other_root),
                "--format",
                "json",
                "-q",
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert_eq!(
            codes(&output),
            [("SG004".to_string(), signature.to_string())]
        );
        let theirs = model_signing(
            &python,
            dir.path(),
            &[
                "verify",
                "certificate",
                "model",
                "--signature",
                signature,
                "--certificate_chain",
                path(&pki.other_root),
            ],
        );
        assert!(!theirs.status.success(), "{}", text(&theirs));
    }

    // A certificate signature checked with a public key only: no root trusts it.
    let public = dir.path().join("leaf.pub.pem");
    let script = format!(
        "from cryptography import x509; from cryptography.hazmat.primitives import serialization as s; c = x509.load_pem_x509_certificate(open(r'{}', 'rb').read()); open(r'{}', 'wb').write(c.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))",
        pki.leaf.display(),
        public.display()
    );
    let made = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(made.status.success(), "{}", text(&made));
    let output = ours(
        dir.path(),
        &[
            "verify",
            "model",
            "--signature",
            "ours.sig",
            "--public-key",
            path(&public),
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        codes(&output),
        [("SG004".to_string(), "ours.sig".to_string())]
    );

    // The certificate of another key is refused before anything is signed.
    let output = ours(
        dir.path(),
        &[
            "sign",
            "model",
            "--key",
            path(&pki.leaf_key),
            "--signing-certificate",
            path(&pki.intermediate),
            "-o",
            "refused.sig",
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(!dir.path().join("refused.sig").exists());
}
