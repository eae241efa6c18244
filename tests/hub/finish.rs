//! The Hub source end to end, where it meets the user: a gated model is one finding for the
//! run; a cache snapshot and `hf://` offline show where their files come from; `verify`
//! compares a Hub commit with a local copy either way round; a push from a cache snapshot
//! refuses a corrupt blob (HF004); a rate limit that outlives the retries is explained.
//! The binary runs against the Hub emulator (`HF_ENDPOINT`) and moto, `HF_HOME` a temporary
//! folder.

use std::path::{Path, PathBuf};
use std::process::Output;

use cmi_testkit::hub::{HubEmulator, HubFault, HubHost, HubRepo};
use cmi_testkit::moto::{self, Moto};
use serde_json::Value;

use crate::source::{json, run, testdata};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// (code, file) of every finding of a report.
fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
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

/// A copy of the fixture `name` under `dir`.
fn copy_fixture(group: &str, name: &str, dir: &Path) {
    for item in std::fs::read_dir(testdata(group, name)).expect("fixture") {
        let item = item.expect("entry");
        std::fs::copy(item.path(), dir.join(item.file_name())).expect("copy");
    }
}

/// Flips the last byte of `file` (a safetensors file's last tensor byte: its header stays
/// valid, its size the same).
fn flip_last_byte(file: &Path) {
    let mut bytes = std::fs::read(file).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(file, bytes).expect("write");
}

/// A Hugging Face cache under `hf_home/hub` holding the files of `folder` as commit `commit`
/// of `repo` (`refs/main` pointing to it), laid out as huggingface_hub writes it (proved
/// against the real client in `cache.rs`): LFS files in blobs named by their SHA-256, plain
/// ones by their git blob id, relative links from the snapshot. Returns the snapshot folder.
fn write_cache(hf_home: &Path, repo: &str, commit: &str, folder: &Path) -> PathBuf {
    let entry = hf_home
        .join("hub")
        .join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = entry.join("snapshots").join(commit);
    std::fs::create_dir_all(entry.join("blobs")).expect("blobs");
    std::fs::create_dir_all(entry.join("refs")).expect("refs");
    std::fs::create_dir_all(&snapshot).expect("snapshot");
    std::fs::write(entry.join("refs/main"), commit).expect("ref");
    for item in std::fs::read_dir(folder).expect("folder") {
        let item = item.expect("entry");
        let name = item.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(item.path()).expect("read");
        let blob = if name.ends_with(".safetensors") {
            sha256_hex(&bytes)
        } else {
            git_blob_id(&bytes)
        };
        std::fs::write(entry.join("blobs").join(&blob), &bytes).expect("blob");
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snapshot.join(&name))
            .expect("link");
    }
    snapshot
}

#[test]
fn a_gated_model_is_one_hf001_naming_the_page_to_accept() {
    let hub = HubEmulator::start(vec![HubRepo::new(
        "meta/gated",
        testdata("valid", "llama-sharded"),
    )
    .gated()
    .grant("hf_granted")])
    .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    let page = format!("{}/meta/gated", hub.endpoint());
    for (env, sent) in [
        (vec![], "no token was sent"),
        (
            vec![("HF_TOKEN", "hf_other")],
            "a token from $HF_TOKEN was sent",
        ),
    ] {
        hub.clear_requests();
        let output = run(
            &hub,
            home.path(),
            &env,
            &["check", "hf://meta/gated", "--format", "json"],
        );
        let report = json(&output);
        assert_eq!(output.status.code(), Some(1), "{report}");
        // One finding for the run, about the repository, not one per file.
        assert_eq!(
            findings(&report),
            [("HF001".to_string(), String::new())],
            "{report}"
        );
        let finding = &report["findings"][0];
        let message = finding["message"].as_str().unwrap_or_default();
        assert!(message.contains("gated"), "{finding}");
        assert!(
            message.contains(&format!("its conditions are accepted at {page}")),
            "{finding}"
        );
        assert!(message.contains(sent), "{finding}");
        let hint = finding["hint"].as_str().unwrap_or_default();
        assert!(hint.contains(&page), "{finding}");
        assert!(hint.contains("accept the conditions"), "{finding}");
        // The model info, then one refused read: nothing else was asked.
        let requests = hub.requests();
        let reads = requests
            .iter()
            .filter(|r| r.path.contains("/resolve/"))
            .count();
        assert_eq!(reads, 1, "{requests:#?}");
    }
    // manifest and push stop with the same one explanation, before anything is read.
    let output = run(
        &hub,
        home.path(),
        &[],
        &["manifest", "hf://meta/gated", "-q"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("its conditions are accepted at {page}")),
        "{}",
        stderr(&output)
    );
    // With a granted token the probe is one read more, and the check passes.
    let output = run(
        &hub,
        home.path(),
        &[("HF_TOKEN", "hf_granted")],
        &["check", "hf://meta/gated", "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", json(&output));
}

#[test]
fn a_cache_snapshot_and_offline_hf_show_their_provenance() {
    let hub = HubEmulator::start(vec![]).expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = write_cache(
        home.path(),
        "org/cached",
        commit,
        &testdata("valid", "llama"),
    );
    let url = format!("{}/org/cached/tree/{commit}", hub.endpoint());
    let sources = [
        (path_str(&snapshot).to_string(), vec![]),
        ("hf://org/cached".to_string(), vec!["--offline"]),
        (format!("hf://org/cached@{commit}"), vec!["--offline"]),
    ];
    for (source, extra) in &sources {
        let mut args = vec!["check", source.as_str(), "--format", "json"];
        args.extend(extra);
        let output = run(&hub, home.path(), &[], &args);
        let report = json(&output);
        assert_eq!(output.status.code(), Some(0), "{source}: {report}");
        assert_eq!(report["provenance"]["repo"], "org/cached", "{source}");
        assert_eq!(report["provenance"]["commit"], commit, "{source}");
        assert_eq!(report["provenance"]["url"], url.as_str(), "{source}");

        let mut args = vec!["check", source.as_str()];
        args.extend(extra);
        let output = run(&hub, home.path(), &[], &args);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains(&format!("read org/cached@{commit} ({url})")),
            "{source}: {text}"
        );
    }
    // HF_HUB_OFFLINE=1 does what --offline does; the revision is read from refs/main.
    let output = run(
        &hub,
        home.path(),
        &[("HF_HUB_OFFLINE", "1")],
        &["check", "hf://org/cached@main", "--format", "json"],
    );
    let report = json(&output);
    assert_eq!(report["provenance"]["commit"], commit, "{report}");
    assert_eq!(report["provenance"]["revision"], "main", "{report}");
    assert_eq!(hub.requests(), vec![]);
}

#[test]
fn verify_compares_a_hub_commit_and_a_local_copy_either_way() {
    let original = testdata("valid", "llama-sharded");
    let changed = tempfile::tempdir().expect("temp dir");
    copy_fixture("valid", "llama-sharded", changed.path());
    let shard = "model-00002-of-00002.safetensors";
    flip_last_byte(&changed.path().join(shard));
    let hub = HubEmulator::start(vec![
        HubRepo::new("org/original", &original),
        HubRepo::new("org/changed", changed.path()),
    ])
    .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    let write_manifest = |source: &str, name: &str| {
        let path = home.path().join(name);
        let output = run(
            &hub,
            home.path(),
            &[],
            &["manifest", source, "-q", "-o", path_str(&path)],
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        path
    };
    let verify = |source: &str, manifest: &Path| {
        let output = run(
            &hub,
            home.path(),
            &[],
            &[
                "verify",
                source,
                "--manifest",
                path_str(manifest),
                "--format",
                "json",
                "-q",
            ],
        );
        let report = json(&output);
        (output.status.code(), findings(&report))
    };
    let local = write_manifest(path_str(&original), "local.json");
    let remote = write_manifest("hf://org/original", "hub.json");

    // The Hub's commit against a manifest of a local copy, and a local copy against the
    // manifest of the Hub's commit.
    assert_eq!(verify("hf://org/original", &local), (Some(0), vec![]));
    assert_eq!(verify(path_str(&original), &remote), (Some(0), vec![]));

    // One byte changed, on either side: MF004 for that file only.
    let changed_file = vec![("MF004".to_string(), shard.to_string())];
    assert_eq!(
        verify("hf://org/changed", &local),
        (Some(1), changed_file.clone())
    );
    assert_eq!(
        verify(path_str(changed.path()), &remote),
        (Some(1), changed_file)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn push_from_a_cache_snapshot_refuses_a_corrupt_blob() {
    let moto = Moto::shared();
    let config = moto::sdk_config_for(&moto.endpoint(), moto.credentials(), moto::REGION).await;
    let client = moto::s3_client(&config);
    let bucket = "hub-finish-cache-push";
    cmi_testkit::s3::create_bucket(&client, bucket, moto::REGION)
        .await
        .expect("create bucket");
    let hub = HubEmulator::start(vec![]).expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    let commit = "89abcdef0123456789abcdef0123456789abcdef";
    let snapshot = write_cache(
        home.path(),
        "org/cached",
        commit,
        &testdata("valid", "llama-sharded"),
    );
    let push = |source: &str, prefix: &str| {
        let credentials = moto.credentials();
        let destination = format!("s3://{bucket}/{prefix}/");
        run(
            &hub,
            home.path(),
            &[
                ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
                ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
            ],
            &[
                "push",
                source,
                &destination,
                "--offline",
                "--format",
                "json",
                "--quiet",
                "--endpoint-url",
                &moto.endpoint(),
                "--region",
                moto::REGION,
            ],
        )
    };
    // A sound snapshot is pushed with its provenance, the bytes its blobs' names say.
    let output = push(path_str(&snapshot), "sound");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document = json(&output);
    assert_eq!(document["provenance"]["commit"], commit, "{document}");
    for file in document["files"].as_array().expect("files") {
        let path = file["path"].as_str().unwrap_or_default();
        let bytes = std::fs::read(testdata("valid", "llama-sharded").join(path)).expect("read");
        assert_eq!(file["sha256"], sha256_hex(&bytes).as_str(), "{path}");
    }

    // A blob whose bytes changed in the cache is refused: HF004, exit 2, no object.
    let shard = "model-00001-of-00002.safetensors";
    let blob = std::fs::canonicalize(snapshot.join(shard)).expect("blob");
    flip_last_byte(&blob);
    // The same through `hf://` read offline from the cache, with no request to the Hub.
    for (source, prefix) in [
        (path_str(&snapshot), "corrupt"),
        ("hf://org/cached", "corrupt-offline"),
    ] {
        let output = push(source, prefix);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{source}: {text}");
        assert!(text.contains("HF004"), "{source}: {text}");
        assert!(text.contains(shard), "{source}: {text}");
        let head = client
            .head_object()
            .bucket(bucket)
            .key(format!("{prefix}/{shard}"))
            .send()
            .await;
        assert!(
            head.is_err(),
            "{source}: an object was written for the corrupt blob"
        );
        let uploads = client
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(format!("{prefix}/"))
            .send()
            .await
            .expect("list uploads");
        assert_eq!(uploads.uploads().len(), 0, "{source}");
    }
    assert_eq!(hub.requests(), vec![]);
}

#[test]
fn a_rate_limit_that_outlives_the_retries_is_explained() {
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", testdata("valid", "llama"))])
        .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    hub.fault(HubFault::RateLimit {
        count: 1000,
        retry_after_secs: 0,
    });
    let output = run(&hub, home.path(), &[], &["check", "hf://org/llama"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("429 Too Many Requests"), "{text}");
    assert!(text.contains("rate-limiting"), "{text}");
    assert!(text.contains("HF_TOKEN"), "{text}");
    let requests = hub.requests();
    assert_eq!(
        requests.len(),
        cmi_agent::hub::client::MAX_ATTEMPTS as usize,
        "{requests:#?}"
    );
    assert!(requests
        .iter()
        .all(|r| r.status == 429 && r.host == HubHost::Hub));
    assert!(text.contains(&format!(
        "on each of {} attempts",
        cmi_agent::hub::client::MAX_ATTEMPTS
    )));
}

#[test]
fn a_hub_failing_on_its_side_is_explained() {
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", testdata("valid", "llama"))])
        .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    hub.fault(HubFault::Status {
        path_contains: "/api/models/".to_string(),
        status: 503,
        count: 1000,
    });
    let output = run(&hub, home.path(), &[], &["check", "hf://org/llama"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("503 Service Unavailable"), "{text}");
    assert!(text.contains("failed on its side"), "{text}");
    assert_eq!(
        hub.requests().len(),
        cmi_agent::hub::client::MAX_ATTEMPTS as usize
    );
}

#[test]
fn a_mirror_under_a_path_prefix_is_read_there_and_named_in_messages() {
    let hub = HubEmulator::start(vec![
        HubRepo::new("org/llama", testdata("valid", "llama")),
        HubRepo::new("meta/gated", testdata("valid", "llama")).gated(),
    ])
    .expect("emulator");
    hub.serve_under("/hf-mirror");
    let endpoint = format!("{}/hf-mirror", hub.endpoint());
    let home = tempfile::tempdir().expect("temp dir");
    let mirror = [("HF_ENDPOINT", endpoint.as_str())];

    // The real client reads the mirror under its prefix: the emulator serves it as one.
    let script = "from huggingface_hub import hf_hub_download\n\
                  print(hf_hub_download('org/llama', 'config.json'))";
    let python = std::process::Command::new(
        std::env::var("CMI_TEST_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into()),
    )
    .args(["-c", script])
    .env("HF_ENDPOINT", &endpoint)
    .env("HF_HOME", home.path().join("python"))
    .env("HF_HUB_DISABLE_TELEMETRY", "1")
    .env_remove("HF_TOKEN")
    .env_remove("HF_HUB_OFFLINE")
    .output()
    .expect("python runs");
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );

    hub.clear_requests();
    let output = run(
        &hub,
        home.path(),
        &mirror,
        &["check", "hf://org/llama", "--format", "json"],
    );
    let report = json(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    let commit = hub.commit("org/llama", "main");
    assert_eq!(
        report["provenance"]["url"],
        format!("{endpoint}/org/llama/tree/{commit}")
    );
    for request in hub.requests() {
        if request.host == HubHost::Hub {
            assert!(request.path.starts_with("/hf-mirror/"), "{request:?}");
        }
    }

    // The gated model's page is named on the mirror.
    let output = run(
        &hub,
        home.path(),
        &mirror,
        &["check", "hf://meta/gated", "--format", "json"],
    );
    let report = json(&output);
    assert_eq!(
        findings(&report),
        [("HF001".to_string(), String::new())],
        "{report}"
    );
    let hint = report["findings"][0]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains(&format!("{endpoint}/meta/gated")), "{hint}");
}
