//! Signatures cross between this tool and `model_signing` both ways, on every curve, and the
//! statement is the one `model_signing` writes.

use base64::Engine as _;
use serde_json::Value;

use super::{
    key_pair, model, model_signing, model_signing_sign_key, model_signing_verify_key, ours,
    ours_verify_key, python, text,
};

const CURVES: &[(&str, &str)] = &[
    ("secp256r1", "traditional"),
    ("secp384r1", "pkcs8"),
    ("secp521r1", "pkcs8"),
];

#[test]
fn signatures_cross_both_ways_on_every_curve() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = model(dir.path());
    for (curve, format) in CURVES {
        let (private, public) = key_pair(&python, dir.path(), curve, curve, format);
        let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());

        // Signed here (inside the folder, so left out of what is signed), verified there.
        let output = ours(
            dir.path(),
            &[
                "sign",
                "model",
                "--key",
                private,
                "-o",
                "model/model.sig",
                "-q",
            ],
        );
        assert!(output.status.success(), "{curve}: {}", text(&output));
        let output =
            model_signing_verify_key(&python, dir.path(), "model", "model/model.sig", public);
        assert!(output.status.success(), "{curve}: {}", text(&output));
        let output = ours_verify_key(dir.path(), "model", "model/model.sig", public);
        assert!(output.status.success(), "{curve}: {}", text(&output));

        // Signed there (outside the folder, --private-key as the alias), verified here.
        let output = model_signing_sign_key(&python, dir.path(), "model", "theirs.sig", private);
        assert!(output.status.success(), "{curve}: {}", text(&output));
        let output = ours_verify_key(dir.path(), "model", "theirs.sig", public);
        assert!(output.status.success(), "{curve}: {}", text(&output));
        let output = ours(
            dir.path(),
            &[
                "sign",
                "model",
                "--private-key",
                private,
                "-o",
                "ours.sig",
                "-q",
            ],
        );
        assert!(output.status.success(), "{curve}: {}", text(&output));
        let output = model_signing_verify_key(&python, dir.path(), "model", "ours.sig", public);
        assert!(output.status.success(), "{curve}: {}", text(&output));
        std::fs::remove_file(root.join("model.sig")).expect("remove");
    }
}

fn payload(bundle: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().expect("payload"))
        .expect("base64")
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("signature")).expect("JSON")
}

/// `model_signing` writes the keys of `serialization` and `predicate`, and the ignore paths,
/// in an order that follows Python's hash seed; everything else must be identical.
fn normalized(mut statement: Value) -> Value {
    if let Some(paths) = statement.pointer_mut("/predicate/serialization/ignore_paths") {
        let mut sorted: Vec<Value> = paths.as_array().cloned().unwrap_or_default();
        sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        *paths = Value::Array(sorted);
    }
    statement
}

#[test]
fn the_statement_and_bundle_are_those_model_signing_writes() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = model(dir.path());
    let (private, public) = key_pair(&python, dir.path(), "k", "secp256r1", "pkcs8");
    let output = model_signing_sign_key(
        &python,
        dir.path(),
        "model",
        "model/model.sig",
        private.to_str().unwrap(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let theirs = read(&root.join("model.sig"));
    let output = ours(
        dir.path(),
        &[
            "sign",
            "model",
            "--key",
            private.to_str().unwrap(),
            "-o",
            "model/model.sig",
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let ours_bundle = read(&root.join("model.sig"));

    let their_statement: Value = serde_json::from_slice(&payload(&theirs)).expect("JSON");
    let our_payload = payload(&ours_bundle);
    let our_statement: Value = serde_json::from_slice(&our_payload).expect("JSON");
    assert_eq!(
        normalized(their_statement.clone()),
        normalized(our_statement)
    );
    let names: Vec<&str> = their_statement["predicate"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["a/b", "a-b", "a.txt", "config.json", "sub/deep/weights.bin"]
    );

    // The same bundle but for the signature bytes (ECDSA is randomized in `cryptography`).
    let strip = |mut bundle: Value| {
        bundle["dsseEnvelope"]["payload"] = Value::Null;
        bundle["dsseEnvelope"]["signatures"][0]["sig"] = Value::Null;
        bundle
    };
    assert_eq!(strip(theirs), strip(ours_bundle));
    assert_eq!(
        std::fs::read(&public)
            .map(|pem| sha256_hex(&pem))
            .ok()
            .as_deref(),
        read(&root.join("model.sig"))["verificationMaterial"]["publicKey"]["hint"].as_str()
    );

    // The payload's bytes are what protobuf's MessageToJson (json.dumps, indent 2) makes of
    // it, and the file is compact JSON without a trailing newline, as `model_signing` writes.
    let script = r#"
import json, sys
raw = open(sys.argv[1], "rb").read()
assert raw == json.dumps(json.loads(raw), separators=(",", ":")).encode(), "bundle layout"
import base64
payload = base64.b64decode(json.loads(raw)["dsseEnvelope"]["payload"])
assert payload == json.dumps(json.loads(payload), indent=2).encode(), "payload layout"
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script, root.join("model.sig").to_str().unwrap()])
        .output()
        .expect("python");
    assert!(output.status.success(), "{}", text(&output));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn ignore_paths_are_recorded_and_honoured_both_ways() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = model(dir.path());
    std::fs::create_dir_all(root.join("notes")).expect("mkdir");
    std::fs::write(root.join("notes/draft.md"), "draft").expect("write");
    std::fs::write(root.join("scratch.txt"), "scratch").expect("write");
    let (private, public) = key_pair(&python, dir.path(), "k", "secp256r1", "pkcs8");
    let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());

    let output = ours(
        dir.path(),
        &[
            "sign",
            "model",
            "--key",
            private,
            "-o",
            "ours.sig",
            "--ignore-paths",
            "notes",
            "scratch.txt",
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    // model_signing's --ignore-paths are relative to the working directory.
    let output = model_signing(
        &python,
        dir.path(),
        &[
            "sign",
            "key",
            "model",
            "--signature",
            "theirs.sig",
            "--private_key",
            private,
            "--ignore-paths",
            "model/notes",
            "--ignore-paths",
            "model/scratch.txt",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    // The ignored files change; both signatures still verify with both tools.
    std::fs::write(root.join("notes/draft.md"), "rewritten").expect("write");
    std::fs::write(root.join("notes/new.md"), "new").expect("write");
    std::fs::remove_file(root.join("scratch.txt")).expect("remove");
    for signature in ["ours.sig", "theirs.sig"] {
        let output = model_signing_verify_key(&python, dir.path(), "model", signature, public);
        assert!(output.status.success(), "{signature}: {}", text(&output));
        let output = ours_verify_key(dir.path(), "model", signature, public);
        assert!(output.status.success(), "{signature}: {}", text(&output));
    }
}

#[test]
fn a_manifest_verifies_with_its_signature() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = model(dir.path());
    let (private, public) = key_pair(&python, dir.path(), "k", "secp256r1", "pkcs8");
    let (private, public) = (private.to_str().unwrap(), public.to_str().unwrap());
    let output = model_signing_sign_key(&python, dir.path(), "model", "theirs.sig", private);
    assert!(output.status.success(), "{}", text(&output));
    let output = ours(
        dir.path(),
        &["manifest", "model", "-o", "manifest.json", "-q"],
    );
    assert!(output.status.success(), "{}", text(&output));
    let verify = [
        "verify",
        "model",
        "--manifest",
        "manifest.json",
        "--signature",
        "theirs.sig",
        "--public-key",
        public,
        "--format",
        "json",
        "-q",
    ];
    let output = ours(dir.path(), &verify);
    assert!(output.status.success(), "{}", text(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(document["signature"]["files"], 5);
    assert_eq!(document["manifest"]["path"], "manifest.json");

    // A manifest of other bytes is not the one signed: SG003, before any file is read.
    std::fs::write(root.join("a.txt"), "b").expect("write");
    let output = ours(
        dir.path(),
        &["manifest", "model", "-o", "manifest.json", "-q"],
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = ours(dir.path(), &verify);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        super::codes(&output),
        [("SG003".to_string(), "a.txt".to_string())]
    );
}
