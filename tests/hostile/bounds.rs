//! Memory and time bounded by design: documents read whole have a size limit and must be
//! regular files, waits have a floor, and repetitive findings are aggregated.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

fn valid(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join("valid")
        .join(name)
}

/// `verify --manifest FILE` and `manifest --reuse FILE` with `file`, expecting exit 2 and
/// `message` on stderr from both.
fn manifest_refused(file: &Path, message: &str) {
    let source = valid("llama");
    cmd()
        .arg("verify")
        .arg(&source)
        .arg("--manifest")
        .arg(file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(message))
        .stderr(predicate::str::contains(file.display().to_string()));
    cmd()
        .arg("manifest")
        .arg(&source)
        .arg("--quiet")
        .arg("--reuse")
        .arg(file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(message))
        .stderr(predicate::str::contains(file.display().to_string()));
}

#[test]
fn a_manifest_over_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.json");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(cmi_agent::manifest::Manifest::MAX_BYTES + 1)
        .expect("sparse file");
    manifest_refused(&path, "the limit is 67108864 bytes");
}

#[test]
fn a_device_as_manifest_is_refused_by_its_kind() {
    manifest_refused(Path::new("/dev/zero"), "is a device, not a regular file");
}

#[test]
fn a_folder_as_manifest_is_refused_by_its_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    manifest_refused(dir.path(), "is a folder, not a regular file");
}

#[test]
fn a_fifo_as_manifest_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("manifest.json");
    let made = Process::new("mkfifo").arg(&path).status().expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    manifest_refused(&path, "is a FIFO (named pipe), not a regular file");
}

/// `args` must be refused by the argument parser (exit 2) for a wait below the floor, before
/// anything is read or requested.
fn wait_refused(args: &[&str]) {
    cmd()
        .args(args)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is too short: the wait must be at least 100ms",
        ));
}

#[test]
fn zero_and_too_short_waits_are_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().to_str().expect("utf-8");
    for wait in ["0s", "0ms", "99ms"] {
        wait_refused(&["status", "job-1", "--wait", "--poll-interval", wait]);
        wait_refused(&[
            "import",
            "s3://bucket/model/",
            "--job-name",
            "job-1",
            "--model-name",
            "model-1",
            "--role-arn",
            "arn:aws:iam::123456789012:role/cmi-import",
            "--wait",
            "--poll-interval",
            wait,
        ]);
        wait_refused(&[
            "watch",
            "s3://bucket/models/",
            "--state-dir",
            state_dir,
            "--interval",
            wait,
        ]);
        wait_refused(&[
            "watch",
            "s3://bucket/models/",
            "--state-dir",
            state_dir,
            "--retry-after",
            wait,
        ]);
    }
}

/// A copy of the valid sharded Llama whose index maps `extra` more tensors, which no shard
/// holds, to its first shard.
fn index_with_missing_tensors(extra: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = valid("llama-sharded");
    for entry in std::fs::read_dir(&source).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    let path = dir.path().join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&path).expect("index");
    let mut index: serde_json::Value = serde_json::from_str(&text).expect("index json");
    let map = index["weight_map"].as_object_mut().expect("weight_map");
    for n in 0..extra {
        map.insert(
            format!("model.extra.{n}.weight"),
            "model-00001-of-00002.safetensors".into(),
        );
    }
    std::fs::write(&path, index.to_string()).expect("write index");
    dir
}

#[test]
fn repetitive_findings_are_examples_and_a_count_in_every_format() {
    let dir = index_with_missing_tensors(100_000);
    let output = cmd()
        .arg("check")
        .arg(dir.path())
        .args(["--format", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let missing: Vec<&str> = document["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "IX004" && f["file"] == "model.safetensors.index.json")
        .map(|f| f["message"].as_str().expect("message"))
        .collect();
    assert_eq!(missing.len(), cmi_format::finding::MAX_EXAMPLES + 1);
    let more = format!(
        "and {} more IX004 findings about this file",
        100_000 - cmi_format::finding::MAX_EXAMPLES
    );
    assert!(missing[cmi_format::finding::MAX_EXAMPLES].starts_with(&more));
    for format in ["text", "junit"] {
        let output = cmd()
            .arg("check")
            .arg(dir.path())
            .args(["--format", format])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1));
        let text = String::from_utf8(output.stdout).expect("utf-8");
        assert!(text.contains(&more), "{format} lacks the count");
        // JUnit repeats the first message in its failure's summary.
        let listed = text.matches("which does not contain it").count();
        assert!(
            listed <= cmi_format::finding::MAX_EXAMPLES + 1,
            "{format} lists {listed} findings, more than the examples"
        );
    }
}
