//! `manifest` and `verify` on local folders: digests equal `sha256sum`, every kind of
//! difference is found, unsafe manifests and links are refused, writes are atomic, and
//! `--reuse` skips unchanged files.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

fn testdata(group: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(group)
}

fn manifest_of(dir: &Path) -> Value {
    let output = cmd()
        .arg("manifest")
        .arg(dir)
        .arg("-q")
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("manifest JSON")
}

/// `sha256sum` of every file under `dir`, keyed by relative path.
fn sha256sum(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in walk(dir) {
        let relative = entry
            .strip_prefix(dir)
            .expect("under dir")
            .to_string_lossy()
            .replace('\\', "/");
        let output = std::process::Command::new("sha256sum")
            .arg(&entry)
            .output()
            .expect("sha256sum runs");
        let text = String::from_utf8(output.stdout).expect("utf-8");
        let digest = text
            .split_whitespace()
            .next()
            .expect("a digest")
            .to_string();
        files.push((relative, digest));
    }
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.is_file() {
            out.push(path);
        }
    }
    out
}

fn digests(manifest: &Value) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_string(),
                f["sha256"].as_str().expect("sha256").to_string(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn digests_equal_sha256sum_for_every_testdata_file() {
    let mut folders = 0;
    for group in ["valid", "invalid"] {
        for entry in std::fs::read_dir(testdata(group)).expect("testdata") {
            let dir = entry.expect("entry").path();
            // Its dangling link cannot be hashed; manifests refuse it (tested below).
            if dir.ends_with("ly010-unreadable-file") {
                continue;
            }
            let manifest = manifest_of(&dir);
            assert_eq!(digests(&manifest), sha256sum(&dir), "{}", dir.display());
            folders += 1;
        }
    }
    assert!(folders > 60);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn verify(dir: &Path, manifest: &Path, extra: &[&str]) -> (i32, Value) {
    let output = cmd()
        .arg("verify")
        .arg(dir)
        .arg("--manifest")
        .arg(manifest)
        .args(["--format", "json", "-q"])
        .args(extra)
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&output.stderr));
    });
    (output.status.code().unwrap_or(-1), report)
}

fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().expect("code").to_string(),
                f["file"].as_str().expect("file").to_string(),
            )
        })
        .collect()
}

#[test]
fn verify_finds_each_kind_of_difference() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let artifact = scratch.path().join("artifact");
    copy_dir(&testdata("valid").join("llama-sharded"), &artifact);
    let manifest = scratch.path().join("manifest.json");
    cmd()
        .arg("manifest")
        .arg(&artifact)
        .args(["-q", "-o"])
        .arg(&manifest)
        .assert()
        .success();

    let (code, report) = verify(&artifact, &manifest, &[]);
    assert_eq!((code, findings(&report)), (0, vec![]), "{report}");
    assert_eq!(report["schema"], "cmi-preflight.verify.v1");
    assert_eq!(report["mode"], "full");

    let shard = artifact.join("model-00002-of-00002.safetensors");
    let mut bytes = std::fs::read(&shard).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&shard, &bytes).expect("write");
    let (code, report) = verify(&artifact, &manifest, &[]);
    assert_eq!(
        (code, findings(&report)),
        (
            1,
            vec![("MF004".into(), "model-00002-of-00002.safetensors".into())]
        )
    );
    bytes[last] ^= 0x01;
    std::fs::write(&shard, &bytes).expect("restore");

    let config = artifact.join("config.json");
    let text = std::fs::read(&config).expect("read");
    std::fs::write(&config, &text[..text.len() - 10]).expect("truncate");
    std::fs::remove_file(artifact.join("tokenizer.json")).expect("remove");
    std::fs::write(artifact.join("notes.txt"), b"added later").expect("add");
    let (code, report) = verify(&artifact, &manifest, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&report),
        vec![
            ("MF003".into(), "config.json".into()),
            ("MF002".into(), "notes.txt".into()),
            ("MF001".into(), "tokenizer.json".into()),
        ]
    );
}

fn write_manifest(dir: &Path, value: &Value) -> PathBuf {
    let path = dir.join("crafted.json");
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
    path
}

/// A change made to a valid manifest.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn unsafe_or_edited_manifests_are_refused() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let base = manifest_of(&testdata("valid").join("llama"));
    let cases: Vec<(&str, Edit)> = vec![
        (
            "is absolute",
            Box::new(|m| m["files"][0]["path"] = "/etc/passwd".into()),
        ),
        (
            "segment",
            Box::new(|m| m["files"][0]["path"] = "../outside.json".into()),
        ),
        (
            "appears twice",
            Box::new(|m| {
                let first = m["files"][0].clone();
                m["files"].as_array_mut().expect("files").push(first);
            }),
        ),
        (
            "the manifest was edited",
            Box::new(|m| m["files"][0]["size"] = 1.into()),
        ),
        (
            "schema",
            Box::new(|m| m["schema"] = "something.else.v9".into()),
        ),
    ];
    for (expected, edit) in cases {
        let mut crafted = base.clone();
        edit(&mut crafted);
        let path = write_manifest(scratch.path(), &crafted);
        let output = cmd()
            .arg("verify")
            .arg(testdata("valid").join("llama"))
            .arg("--manifest")
            .arg(&path)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains("is not a valid manifest"), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[test]
fn links_that_leave_the_folder_are_an_error_never_followed() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let artifact = scratch.path().join("artifact");
    copy_dir(&testdata("valid").join("llama"), &artifact);
    std::fs::write(scratch.path().join("secret.txt"), b"outside").expect("write");
    std::os::unix::fs::symlink("../secret.txt", artifact.join("notes.txt")).expect("link");
    let output = cmd()
        .arg("manifest")
        .arg(&artifact)
        .arg("-q")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("notes.txt is a symbolic link to ../secret.txt, outside the folder"),
        "{stderr}"
    );
    // A link that stays inside the folder is fine.
    std::fs::remove_file(artifact.join("notes.txt")).expect("unlink");
    std::os::unix::fs::symlink("config.json", artifact.join("config-link.json")).expect("link");
    let output = cmd()
        .arg("manifest")
        .arg(&artifact)
        .arg("-q")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn writes_are_atomic_and_reuse_skips_unchanged_files() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let artifact = scratch.path().join("artifact");
    copy_dir(&testdata("valid").join("llama"), &artifact);
    let out = scratch.path().join("m.json");
    let first: Output = cmd()
        .arg("manifest")
        .arg(&artifact)
        .args(["-q", "-o"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(first.status.code(), Some(0));
    let digest = String::from_utf8(first.stdout).expect("utf-8");
    let written: Value = serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("json");
    assert_eq!(digest.trim(), written["artifact_digest"]);

    // A failed run (the source vanished) leaves the existing manifest as it was, and no
    // temporary file behind.
    let before = std::fs::read(&out).expect("read");
    cmd()
        .arg("manifest")
        .arg(scratch.path().join("missing"))
        .args(["-q", "-o"])
        .arg(&out)
        .assert()
        .code(2);
    assert_eq!(std::fs::read(&out).expect("read"), before);
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .expect("readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    // --reuse: only the touched file is hashed again; the digest stays the same.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let config = artifact.join("config.json");
    let text = std::fs::read(&config).expect("read");
    std::fs::write(&config, &text).expect("rewrite");
    let second = cmd()
        .arg("manifest")
        .arg(&artifact)
        .args(["-q", "--reuse"])
        .arg(&out)
        .output()
        .expect("runs");
    let reused: Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(reused["artifact_digest"], written["artifact_digest"]);
    for file in reused["files"].as_array().expect("files") {
        let expect_reused = file["path"] != "config.json";
        assert_eq!(
            file["reused"].as_bool().unwrap_or(false),
            expect_reused,
            "{file}"
        );
    }
}
