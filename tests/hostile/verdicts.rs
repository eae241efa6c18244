//! Wrong verdicts: broken artifacts that must fail the gate, each built from a valid fixture
//! of testdata/valid with one file made hostile, and checked by the real binary.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// A copy of the valid fixture `name` in a fresh temporary folder.
fn copy_of(name: &str) -> (TempDir, PathBuf) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/valid")
        .join(name);
    let scratch = tempfile::tempdir().expect("temporary folder");
    let dir = scratch.path().join(name);
    std::fs::create_dir(&dir).expect("creates the copy");
    for entry in std::fs::read_dir(&source).expect("fixture exists") {
        let entry = entry.expect("fixture entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copies");
    }
    (scratch, dir)
}

/// Runs `check --format json` on `dir`: the exit code and the findings as `(code, file,
/// message)`.
fn check(dir: &Path) -> (i32, Vec<(String, String, String)>) {
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .arg("check")
        .arg(dir)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let findings = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap_or_default().to_string();
            (text("code"), text("file"), text("message"))
        })
        .collect();
    (output.status.code().unwrap_or(-1), findings)
}

/// Asserts that the check fails with an error `code` about `file`.
fn assert_fails_with(dir: &Path, code: &str, file: &str) -> Vec<(String, String, String)> {
    let (status, findings) = check(dir);
    assert_ne!(status, 0, "{findings:?}");
    assert!(
        findings.iter().any(|(c, f, _)| c == code && f == file),
        "expected {code} on {file}: {findings:?}"
    );
    findings
}

#[test]
fn empty_json_documents_are_invalid_json() {
    for (file, code) in [
        ("config.json", "CF001"),
        ("tokenizer.json", "TK003"),
        ("tokenizer_config.json", "TK003"),
        ("model.safetensors.index.json", "IX001"),
        ("chat_template.jinja", "TK009"),
    ] {
        let (_scratch, dir) = copy_of("llama-sharded");
        std::fs::write(dir.join(file), b"").expect("empties the file");
        let findings = assert_fails_with(&dir, code, file);
        assert!(
            !findings
                .iter()
                .any(|(c, _, _)| c == "TK001" || c == "TK002" || c == "LY001"),
            "an empty {file} is present, not missing: {findings:?}"
        );
    }
}

#[test]
fn a_weight_map_entry_that_is_not_a_top_level_shard_fails() {
    for target in [
        "config.json",
        "model.safetensors.index.json",
        "sub/model-00002-of-00002.safetensors",
    ] {
        let (_scratch, dir) = copy_of("llama-sharded");
        let index_path = dir.join("model.safetensors.index.json");
        let mut index: Value =
            serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("JSON");
        index["weight_map"]["lm_head.weight"] = Value::from(target);
        std::fs::write(&index_path, serde_json::to_vec(&index).expect("JSON")).expect("writes");
        let findings = assert_fails_with(&dir, "IX010", "model.safetensors.index.json");
        assert!(
            findings
                .iter()
                .any(|(c, _, m)| c == "SH001" && m.contains("lm_head.weight")),
            "{target}: the tensor mapped there is not loaded: {findings:?}"
        );
    }
}

/// Inserts `"key": "<bytes>"` at the start of the top-level object of a JSON file.
fn insert_raw_string(path: &Path, key: &str, bytes: &[u8]) {
    let text = std::fs::read(path).expect("reads");
    let brace = text.iter().position(|&b| b == b'{').expect("an object");
    let mut edited = text[..=brace].to_vec();
    edited.extend_from_slice(format!("\"{key}\": \"").as_bytes());
    edited.extend_from_slice(bytes);
    edited.extend_from_slice(b"\", ");
    edited.extend_from_slice(&text[brace + 1..]);
    std::fs::write(path, edited).expect("writes");
}

#[test]
fn invalid_utf8_in_an_unmodelled_part_of_a_json_document_fails() {
    for (file, code) in [
        ("tokenizer.json", "TK003"),
        ("model.safetensors.index.json", "IX001"),
    ] {
        let (_scratch, dir) = copy_of("llama-sharded");
        insert_raw_string(&dir.join(file), "x_note", b"caf\xe9 \xff");
        let findings = assert_fails_with(&dir, code, file);
        assert!(
            findings
                .iter()
                .any(|(c, _, m)| c == code && m.contains("not UTF-8")),
            "{file}: {findings:?}"
        );
    }
}

#[test]
fn a_directory_fifo_or_device_under_a_needed_name_is_named_for_what_it_is() {
    // A directory where config.json should be.
    let (_scratch, dir) = copy_of("llama-sharded");
    std::fs::remove_file(dir.join("config.json")).expect("removes");
    std::fs::create_dir(dir.join("config.json")).expect("makes the folder");
    let findings = assert_fails_with(&dir, "LY013", "config.json");
    assert!(
        findings
            .iter()
            .any(|(c, _, m)| c == "LY013" && m.contains("is a directory")),
        "{findings:?}"
    );
    assert!(
        !findings.iter().any(|(c, _, _)| c == "LY001"),
        "{findings:?}"
    );

    // A FIFO where tokenizer.json should be. A writer waits on it: if the check opened the
    // FIFO, it would read an empty document at once (TK003) instead of hanging, and fail here.
    let (_scratch, dir) = copy_of("llama-sharded");
    let fifo = dir.join("tokenizer.json");
    std::fs::remove_file(&fifo).expect("removes");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let writer = fifo.clone();
    std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(writer));
    let findings = assert_fails_with(&dir, "LY013", "tokenizer.json");
    assert!(
        findings
            .iter()
            .any(|(c, _, m)| c == "LY013" && m.contains("is a FIFO")),
        "{findings:?}"
    );
    assert!(
        !findings
            .iter()
            .any(|(c, _, _)| c == "TK001" || c == "TK003"),
        "{findings:?}"
    );

    // A device where a shard should be.
    let (_scratch, dir) = copy_of("llama-sharded");
    let shard = dir.join("model-00001-of-00002.safetensors");
    std::fs::remove_file(&shard).expect("removes");
    std::os::unix::fs::symlink("/dev/null", &shard).expect("links");
    let findings = assert_fails_with(&dir, "LY013", "model-00001-of-00002.safetensors");
    assert!(
        findings
            .iter()
            .any(|(c, _, m)| c == "LY013" && m.contains("is a character device")),
        "{findings:?}"
    );
    assert!(
        !findings.iter().any(|(c, _, _)| c == "IX002"),
        "{findings:?}"
    );
}

#[test]
fn a_manifest_refuses_a_fifo_instead_of_leaving_it_out() {
    let (_scratch, dir) = copy_of("llama-sharded");
    let fifo = dir.join("config.json");
    std::fs::remove_file(&fifo).expect("removes");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let writer = fifo.clone();
    std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(writer));
    let out = tempfile::tempdir().expect("tempdir");
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .arg("manifest")
        .arg(&dir)
        .arg("-o")
        .arg(out.path().join("manifest.json"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("config.json") && stderr.contains("a FIFO"),
        "{stderr}"
    );
    assert!(!out.path().join("manifest.json").exists());
}

#[test]
fn verify_names_a_fifo_where_the_manifest_has_a_file_and_never_opens_it() {
    let (_scratch, dir) = copy_of("llama-sharded");
    let out = tempfile::tempdir().expect("tempdir");
    let manifest = out.path().join("manifest.json");
    let made = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .arg("manifest")
        .arg(&dir)
        .arg("-o")
        .arg(&manifest)
        .output()
        .expect("runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let fifo = dir.join("config.json");
    std::fs::remove_file(&fifo).expect("removes");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    // Should verify open the FIFO, this writer lets it go on instead of hanging the test.
    let writer = fifo.clone();
    std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(writer));
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary")
        .arg("verify")
        .arg(&dir)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["code"] == "MF001"
            && f["file"] == "config.json"
            && f["message"].as_str().is_some_and(|m| m.contains("a FIFO"))),
        "{findings:?}"
    );
}
