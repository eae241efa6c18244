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
