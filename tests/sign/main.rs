//! Tests of `sign` and `verify --signature`: one binary, one module per part. The oracle is
//! the real `model_signing` package (1.1.1) in the test venv (CMI_TEST_PYTHON, else .venv):
//! what it signs must verify here, what is signed here must verify there, and both must
//! refuse the same tampering. The S3 tests run against moto over loopback.

mod certificate;
mod encrypted;
mod gate;
mod interop;
mod push;
mod s3;
mod tamper;
mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The venv's Python; `None` outside CI when there is none (the tests are then skipped), a
/// failure under CI.
pub fn python() -> Option<PathBuf> {
    let path = match std::env::var_os("CMI_TEST_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    };
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CMI_TEST_PYTHON is not set and .venv is missing: run ./scripts/test"
    );
    eprintln!("skipped: no Python environment; ./scripts/test creates it");
    None
}

/// Runs `python -m model_signing ARGS` in `dir`.
pub fn model_signing(python: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .args(["-m", "model_signing"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python runs")
}

/// Runs `model_signing verify key MODEL --signature SIGNATURE --public_key PUBLIC` in `dir`.
pub fn model_signing_verify_key(
    python: &Path,
    dir: &Path,
    model: &str,
    signature: &str,
    public: &str,
) -> Output {
    model_signing(
        python,
        dir,
        &[
            "verify",
            "key",
            model,
            "--signature",
            signature,
            "--public_key",
            public,
        ],
    )
}

/// Runs `model_signing sign key MODEL --signature SIGNATURE --private_key PRIVATE` in `dir`.
pub fn model_signing_sign_key(
    python: &Path,
    dir: &Path,
    model: &str,
    signature: &str,
    private: &str,
) -> Output {
    model_signing(
        python,
        dir,
        &[
            "sign",
            "key",
            model,
            "--signature",
            signature,
            "--private_key",
            private,
        ],
    )
}

/// Runs this tool in `dir`.
pub fn ours(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args(args)
        .current_dir(dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("binary runs")
}

/// Runs this tool in `dir` against moto (its credentials and endpoint), and against the
/// Bedrock emulator when one is given; nothing of the host's environment but `PATH`.
pub fn ours_on_aws(
    moto: &cmi_testkit::moto::Moto,
    emulator: Option<&cmi_testkit::bedrock::BedrockEmulator>,
    dir: &Path,
    args: &[&str],
) -> Output {
    let credentials = moto.credentials();
    let mut command = assert_cmd::Command::cargo_bin("cmi-preflight").expect("binary built");
    command
        .args(args)
        .args([
            "--endpoint-url",
            &moto.endpoint(),
            "--region",
            cmi_testkit::moto::REGION,
        ])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(emulator) = emulator {
        command.args(["--bedrock-endpoint-url", &emulator.endpoint()]);
    }
    if let Some(token) = credentials.session_token() {
        command.env("AWS_SESSION_TOKEN", token);
    }
    command.output().expect("binary runs")
}

/// The output, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A key pair on `curve` (`secp256r1`, `secp384r1`, `secp521r1`), made by the `cryptography`
/// package that `model_signing` uses: the private key in `format` (`pkcs8` or SEC1
/// `traditional`), the public key as SubjectPublicKeyInfo. Returns (private, public).
pub fn key_pair(
    python: &Path,
    dir: &Path,
    name: &str,
    curve: &str,
    format: &str,
) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let script = format!(
        r#"
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization as s
k = ec.generate_private_key(ec.{curve}())
fmt = s.PrivateFormat.PKCS8 if "{format}" == "pkcs8" else s.PrivateFormat.TraditionalOpenSSL
open(r"{private}", "wb").write(k.private_bytes(s.Encoding.PEM, fmt, s.NoEncryption()))
open(r"{public}", "wb").write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
"#,
        curve = curve.to_uppercase(),
        private = private.display(),
        public = public.display(),
    );
    let output = Command::new(python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", text(&output));
    (private, public)
}

/// A model folder with nested paths, names whose order differs between byte order and path
/// order (`a/b`, `a-b`, `a.txt`), and git files that signing leaves out.
pub fn model(dir: &Path) -> PathBuf {
    let root = dir.join("model");
    for (path, content) in [
        ("config.json", "{\"model_type\": \"llama\"}"),
        ("a.txt", "a"),
        ("a-b", "dash"),
        ("a/b", "nested"),
        ("sub/deep/weights.bin", "0123456789"),
        (".git/HEAD", "ref: refs/heads/main"),
        (".gitattributes", "*.bin filter=lfs"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    root
}

/// The bundle's public-key hint of the public key in `path`: the hex SHA-256 of its PEM, as
/// `model_signing` computes it.
pub fn hint(path: &Path) -> String {
    use sha2::Digest as _;
    let pem = std::fs::read(path).expect("public key");
    sha2::Sha256::digest(&pem)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The finding codes of a `--format json` verify document.
pub fn codes(output: &Output) -> Vec<(String, String)> {
    let document: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(output)));
    document["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_string(),
                f["file"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Runs `cmi-preflight verify MODEL --signature SIGNATURE --public-key PUBLIC -q` in `dir`.
pub fn ours_verify_key(dir: &Path, model: &str, signature: &str, public: &str) -> Output {
    ours(
        dir,
        &[
            "verify",
            model,
            "--signature",
            signature,
            "--public-key",
            public,
            "-q",
        ],
    )
}
