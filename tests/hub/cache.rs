//! The local Hugging Face cache as a source: a snapshot folder is hashed through its links
//! into the repository's `blobs/` (the same artifact digest as a plain copy), records the
//! repository and commit, catches a corrupt LFS blob (HF004) and refuses links that leave the
//! repository's entry; `--follow-symlinks` opts in for other layouts; `hf://` with
//! `--offline` or `HF_HUB_OFFLINE=1` reads the cache by branch or commit with no network.
//!
//! The cache is made by the real huggingface_hub (`snapshot_download` from the testkit's Hub
//! emulator), and the emulator's request log proves that nothing reads the Hub: not a
//! snapshot folder, not `hf://` offline. The test's own model of the layout (blobs named by
//! the LFS SHA-256 or the git blob id, relative links, `refs/<branch>` holding the commit) is
//! checked against the real client's.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use cmi_agent::Source;
use cmi_testkit::hub::{HubEmulator, HubRepo};
use serde_json::Value;

const REPO: &str = "cmi-test/tiny-llama";

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

fn python() -> String {
    std::env::var("CMI_TEST_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into())
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/valid")
        .join(name)
}

/// Files the Hub's default `.gitattributes` sends to LFS.
fn is_lfs(path: &str) -> bool {
    [
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".gguf",
        ".onnx",
        ".msgpack",
        ".h5",
        ".model",
    ]
    .iter()
    .any(|ext| path.ends_with(ext))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// The git blob id of `bytes`: SHA-1 of `blob <len>\0` and the bytes.
fn git_blob_id(bytes: &[u8]) -> String {
    let mut data = format!("blob {}\0", bytes.len()).into_bytes();
    data.extend_from_slice(bytes);
    hex::encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &data,
    ))
}

/// The files of the test model (relative path, bytes): the valid llama fixture and a file in
/// a sub-folder, so that a link of a deeper path is exercised.
fn model_files() -> Vec<(String, Vec<u8>)> {
    let dir = testdata("llama");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixture")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.push((
        "original/params.json".to_string(),
        br#"{"dim": 64}"#.to_vec(),
    ));
    files.sort();
    files
}

/// A plain copy of `files` under `dir`.
fn write_plain(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (path, bytes) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, bytes).expect("write");
    }
}

/// A Hugging Face cache under `hf_home/hub` holding `files` as commit `commit` of `REPO`,
/// with `refs/main` pointing to it, as huggingface_hub writes it. Returns the snapshot folder.
fn write_cache(hf_home: &Path, commit: &str, files: &[(String, Vec<u8>)]) -> PathBuf {
    let entry = hf_home
        .join("hub")
        .join(format!("models--{}", REPO.replace('/', "--")));
    let snapshot = entry.join("snapshots").join(commit);
    std::fs::create_dir_all(entry.join("blobs")).expect("blobs");
    std::fs::create_dir_all(entry.join("refs")).expect("refs");
    std::fs::write(entry.join("refs/main"), commit).expect("ref");
    for (path, bytes) in files {
        let blob = if is_lfs(path) {
            sha256_hex(bytes)
        } else {
            git_blob_id(bytes)
        };
        std::fs::write(entry.join("blobs").join(&blob), bytes).expect("blob");
        let link = snapshot.join(path);
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        let up = "../".repeat(path.matches('/').count() + 2);
        std::os::unix::fs::symlink(format!("{up}blobs/{blob}"), &link).expect("link");
    }
    snapshot
}

/// The test model served by the Hub emulator, downloaded into a cache by the real
/// huggingface_hub (`snapshot_download` of `main`), and a plain copy of the same files.
struct Fixture {
    hub: HubEmulator,
    hf_home: tempfile::TempDir,
    plain: tempfile::TempDir,
    snapshot: PathBuf,
    commit: String,
}

impl Fixture {
    fn new() -> Fixture {
        let hf_home = tempfile::tempdir().expect("temp dir");
        let plain = tempfile::tempdir().expect("temp dir");
        write_plain(plain.path(), &model_files());
        let hub = HubEmulator::start(vec![HubRepo::new(REPO, plain.path())]).expect("emulator");
        let commit = hub.commit(REPO, "main");
        let script = format!(
            "from huggingface_hub import snapshot_download\nprint(snapshot_download({REPO:?}))"
        );
        let output = std::process::Command::new(python())
            .args(["-c", &script])
            .env("HF_HOME", hf_home.path())
            .env("HF_ENDPOINT", hub.endpoint())
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("TRANSFORMERS_OFFLINE")
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "snapshot_download failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let snapshot = hf_home
            .path()
            .join("hub")
            .join(format!("models--{}", REPO.replace('/', "--")))
            .join("snapshots")
            .join(&commit);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            path_str(&snapshot)
        );
        hub.clear_requests();
        Fixture {
            hub,
            hf_home,
            plain,
            snapshot,
            commit,
        }
    }

    /// Asserts that nothing reached the Hub since the download.
    fn no_request(&self) {
        assert_eq!(self.hub.requests(), vec![]);
    }

    fn entry(&self) -> PathBuf {
        self.snapshot
            .parent()
            .and_then(Path::parent)
            .expect("entry")
            .to_path_buf()
    }

    /// The tool with the Hub and its cache configured as the tests need: HF_HOME the temp
    /// dir, HF_ENDPOINT a loopback address, no telemetry, no inherited offline setting.
    fn cmd(&self) -> Command {
        let mut cmd = cmd();
        cmd.env("HF_HOME", self.hf_home.path())
            .env("HF_ENDPOINT", self.hub.endpoint())
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("TRANSFORMERS_OFFLINE");
        cmd
    }

    fn manifest(&self, source: &str, extra: &[&str]) -> Output {
        self.cmd()
            .args(["manifest", "-q", source])
            .args(extra)
            .output()
            .expect("runs")
    }
}

fn manifest_json(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("manifest JSON")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Every entry under `dir` (relative path, and what it is: a folder, a link and its target,
/// or a file and its bytes), sorted.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for item in std::fs::read_dir(&folder).expect("read_dir") {
            let path = item.expect("entry").path();
            let relative = path
                .strip_prefix(dir)
                .expect("under")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let what = if meta.is_symlink() {
                format!(
                    "link {}",
                    std::fs::read_link(&path).expect("link").display()
                )
            } else if meta.is_dir() {
                stack.push(path);
                "folder".to_string()
            } else {
                format!("file {}", sha256_hex(&std::fs::read(&path).expect("read")))
            };
            entries.push((relative, what));
        }
    }
    entries.sort();
    entries
}

#[test]
fn the_real_client_lays_the_cache_out_as_described() {
    let fixture = Fixture::new();
    let described = tempfile::tempdir().expect("temp dir");
    let snapshot = write_cache(described.path(), &fixture.commit, &model_files());
    let entry = |snapshot: &Path| {
        snapshot
            .parent()
            .and_then(Path::parent)
            .expect("entry")
            .to_path_buf()
    };
    assert_eq!(tree(&entry(&snapshot)), tree(&fixture.entry()));
}

#[test]
fn a_snapshot_folder_has_the_digest_of_a_plain_copy_and_its_provenance() {
    let fixture = Fixture::new();
    let cached = manifest_json(&fixture.manifest(path_str(&fixture.snapshot), &[]));
    let plain = manifest_json(&fixture.manifest(path_str(fixture.plain.path()), &[]));
    assert_eq!(cached["artifact_digest"], plain["artifact_digest"]);
    assert_eq!(cached["files"].as_array().map(Vec::len), Some(7));

    let source = cmi_agent::LocalSource::open(&fixture.snapshot).expect("opens");
    let provenance = source
        .provenance()
        .expect("a cache snapshot has provenance");
    assert_eq!(provenance.repo, REPO);
    assert_eq!(provenance.commit, fixture.commit);
    assert_eq!(provenance.revision, None);
    assert_eq!(
        provenance.url,
        format!(
            "{}/{REPO}/tree/{}",
            cmi_agent::hub::config::endpoint_from_env(),
            fixture.commit
        )
    );
    assert_eq!(
        cmi_agent::LocalSource::open(fixture.plain.path())
            .expect("opens")
            .provenance(),
        None
    );

    // check reads the snapshot as it reads any folder.
    let output = fixture
        .cmd()
        .args(["check", "--format", "json", path_str(&fixture.snapshot)])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    fixture.no_request();
}

#[test]
fn a_corrupt_lfs_blob_is_hf004_in_manifest_and_verify() {
    let fixture = Fixture::new();
    let written = fixture.manifest(path_str(fixture.plain.path()), &[]);
    let weights = std::fs::read(fixture.plain.path().join("model.safetensors")).expect("read");
    let blob = fixture.entry().join("blobs").join(sha256_hex(&weights));
    let mut corrupt = weights.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x01;
    std::fs::write(&blob, &corrupt).expect("corrupt");

    let output = fixture.manifest(path_str(&fixture.snapshot), &[]);
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HF004"), "{stderr}");
    assert!(stderr.contains("model.safetensors"), "{stderr}");

    let manifest = fixture.hf_home.path().join("manifest.json");
    std::fs::write(&manifest, manifest_json(&written).to_string()).expect("manifest");
    let output = fixture
        .cmd()
        .args(["verify", "-q", "--format", "json", "--manifest"])
        .arg(&manifest)
        .arg(&fixture.snapshot)
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let findings: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().expect("code").to_string(),
                f["file"].as_str().expect("file").to_string(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        vec![("HF004".to_string(), "model.safetensors".to_string())]
    );
    fixture.no_request();
}

#[test]
fn verify_of_a_sound_snapshot_against_a_plain_copys_manifest_passes() {
    let fixture = Fixture::new();
    let manifest = fixture.hf_home.path().join("manifest.json");
    let written = fixture.manifest(path_str(fixture.plain.path()), &[]);
    std::fs::write(&manifest, manifest_json(&written).to_string()).expect("manifest");
    fixture
        .cmd()
        .args(["verify", "-q", "--manifest"])
        .arg(&manifest)
        .arg(&fixture.snapshot)
        .assert()
        .code(0);
    fixture.no_request();
}

#[test]
fn links_that_leave_the_repository_entry_are_refused() {
    let fixture = Fixture::new();
    // Another repository's blob, in the same cache: outside this repository's entry.
    let other = fixture
        .hf_home
        .path()
        .join("hub/models--cmi-test--other/blobs");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("extra"), b"{}").expect("write");
    std::os::unix::fs::symlink(
        "../../../models--cmi-test--other/blobs/extra",
        fixture.snapshot.join("extra.json"),
    )
    .expect("link");
    let output = fixture.manifest(path_str(&fixture.snapshot), &[]);
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("extra.json is a symbolic link to ../../../models--cmi-test--other"),
        "{stderr}"
    );
    let manifest = fixture.hf_home.path().join("manifest.json");
    let written = fixture.manifest(path_str(fixture.plain.path()), &[]);
    std::fs::write(&manifest, manifest_json(&written).to_string()).expect("manifest");
    let output = fixture
        .cmd()
        .args(["verify", "-q", "--manifest"])
        .arg(&manifest)
        .arg(&fixture.snapshot)
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("extra.json is a symbolic link"));
    fixture.no_request();
}

#[test]
fn follow_symlinks_accepts_links_of_another_layout() {
    let fixture = Fixture::new();
    let store = tempfile::tempdir().expect("temp dir");
    let linked = tempfile::tempdir().expect("temp dir");
    for (path, bytes) in model_files() {
        let stored = store.path().join(path.replace('/', "_"));
        std::fs::write(&stored, bytes).expect("write");
        let link = linked.path().join(&path);
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(&stored, &link).expect("link");
    }
    let refused = fixture.manifest(path_str(linked.path()), &[]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--follow-symlinks"));

    let followed =
        manifest_json(&fixture.manifest(path_str(linked.path()), &["--follow-symlinks"]));
    let plain = manifest_json(&fixture.manifest(path_str(fixture.plain.path()), &[]));
    assert_eq!(followed["artifact_digest"], plain["artifact_digest"]);

    let manifest = fixture.hf_home.path().join("manifest.json");
    std::fs::write(&manifest, plain.to_string()).expect("manifest");
    fixture
        .cmd()
        .args(["verify", "-q", "--follow-symlinks", "--manifest"])
        .arg(&manifest)
        .arg(linked.path())
        .assert()
        .code(0);
    fixture.no_request();
}

#[test]
fn offline_hf_reads_the_cache_by_branch_and_by_commit() {
    let fixture = Fixture::new();
    let plain = manifest_json(&fixture.manifest(path_str(fixture.plain.path()), &[]));
    let by_branch = manifest_json(&fixture.manifest(&format!("hf://{REPO}"), &["--offline"]));
    assert_eq!(by_branch["artifact_digest"], plain["artifact_digest"]);
    assert_eq!(by_branch["source"], format!("hf://{REPO}"));

    let by_commit = fixture
        .cmd()
        .env("HF_HUB_OFFLINE", "1")
        .args(["manifest", "-q", &format!("hf://{REPO}@{}", fixture.commit)])
        .output()
        .expect("runs");
    assert_eq!(
        manifest_json(&by_commit)["artifact_digest"],
        plain["artifact_digest"]
    );

    // The cache folder may also be named by HF_HUB_CACHE.
    fixture
        .cmd()
        .env("HF_HOME", "/nonexistent")
        .env("HF_HUB_CACHE", fixture.hf_home.path().join("hub"))
        .args(["check", "--offline", &format!("hf://{REPO}@main")])
        .assert()
        .code(0);
    fixture.no_request();
}

#[test]
fn offline_hf_names_what_the_cache_lacks() {
    let fixture = Fixture::new();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let output = fixture
        .cmd()
        .args(["check", "--offline", &format!("hf://{REPO}@{missing}")])
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "commit {missing} of {REPO} is not in the Hugging Face cache"
        )),
        "{stderr}"
    );

    let output = fixture
        .cmd()
        .env("HF_HUB_OFFLINE", "1")
        .args(["check", &format!("hf://{REPO}@v2")])
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no ref \"v2\""), "{stderr}");

    // A ref whose snapshot was deleted names the commit it points to.
    std::fs::write(fixture.entry().join("refs/stale"), missing).expect("ref");
    let output = fixture
        .cmd()
        .args(["manifest", "--offline", &format!("hf://{REPO}@stale")])
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(missing), "{stderr}");
    assert!(stderr.contains("the commit of stale"), "{stderr}");

    let output = fixture
        .cmd()
        .args(["check", "--offline", "hf://cmi-test/absent"])
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("cmi-test/absent is not in the Hugging Face cache"));
    fixture.no_request();
}
