//! Nothing overwritten, nothing spoofed: `manifest -o` never destroys what its path is, names
//! from the artifact cannot drive the terminal or break JUnit XML, a backslash in a local file
//! name is not a folder separator, and an invalid bucket name is refused before any request.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// `O_NONBLOCK` of Linux (include/uapi/asm-generic/fcntl.h).
const O_NONBLOCK: i32 = 0o4000;

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

/// A copy of a valid fixture in `dir/model`.
fn model_in(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    let model = dir.join("model");
    fs::create_dir(&model).expect("model folder");
    for entry in fs::read_dir(&from).expect("fixture") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), model.join(entry.file_name())).expect("copy");
    }
    model
}

fn manifest_json(bytes: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(bytes).expect("manifest JSON");
    assert_eq!(value["schema"], "cmi-preflight.manifest.v1");
    value
}

#[test]
fn manifest_refuses_an_output_inside_the_source_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = model_in(dir.path());
    let config = fs::read(model.join("config.json")).expect("config");
    symlink(&model, dir.path().join("alias")).expect("link");
    for output in [
        "model/config.json",
        "./model/../model/config.json",
        "alias/config.json",
        "model/new.json",
        "alias/new.json",
    ] {
        let out = cmd()
            .current_dir(dir.path())
            .args(["manifest", "model", "-q", "-o", output])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{output}: {stderr}");
        assert!(
            stderr.contains("inside the folder being read"),
            "{output}: {stderr}"
        );
        assert_eq!(fs::read(model.join("config.json")).expect("config"), config);
        assert!(!model.join("new.json").exists(), "{output}");
    }
}

#[test]
fn manifest_to_dash_goes_to_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    model_in(dir.path());
    let out = cmd()
        .current_dir(dir.path())
        .args(["manifest", "model", "-q", "-o", "-"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    manifest_json(&out.stdout);
    assert!(!dir.path().join("-").exists());
}

#[test]
fn manifest_writes_through_a_fifo_and_leaves_it_a_fifo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = model_in(dir.path());
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Both ends held open without blocking: the binary's open for writing succeeds at once,
    // and what it wrote is read back after it exits, so a replaced FIFO fails instead of hanging.
    let mut pipe = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo)
        .expect("open the FIFO");
    let out = cmd()
        .arg("manifest")
        .arg(&model)
        .arg("-q")
        .arg("-o")
        .arg(&fifo)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading the FIFO: {e}"),
        }
    }
    manifest_json(&received);
    let kind = fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by {kind:?}");
}

#[test]
fn manifest_writes_through_a_symlink_and_keeps_the_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = model_in(dir.path());
    let target = dir.path().join("target.json");
    fs::write(&target, "old").expect("target");
    let link = dir.path().join("link.json");
    symlink(&target, &link).expect("link");
    let out = cmd()
        .arg("manifest")
        .arg(&model)
        .arg("-q")
        .arg("-o")
        .arg(&link)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    manifest_json(&fs::read(&target).expect("target"));

    let dangling = dir.path().join("dangling.json");
    symlink(dir.path().join("nowhere.json"), &dangling).expect("link");
    let out = cmd()
        .arg("manifest")
        .arg(&model)
        .arg("-q")
        .arg("-o")
        .arg(&dangling)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(fs::symlink_metadata(&dangling)
        .expect("link")
        .file_type()
        .is_symlink());
    assert!(!dir.path().join("nowhere.json").exists());
}

#[test]
fn manifest_still_replaces_a_regular_file_atomically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = model_in(dir.path());
    let output = dir.path().join("out.json");
    fs::write(&output, "old").expect("old");
    cmd()
        .arg("manifest")
        .arg(&model)
        .arg("-q")
        .arg("-o")
        .arg(&output)
        .assert()
        .code(0);
    manifest_json(&fs::read(&output).expect("out"));
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}
