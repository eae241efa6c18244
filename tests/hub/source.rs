//! `check`, `manifest` and `verify` of `hf://` sources: the binary against the Hub emulator,
//! with `HF_ENDPOINT` set to it and `HF_HOME` to a temporary folder (never the real Hub), the
//! local folder the emulator serves as the oracle.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use cmi_testkit::hub::{HubEmulator, HubFault, HubHost, HubRepo};
use serde_json::Value;

/// The committed fixture `testdata/GROUP/NAME`.
pub(crate) fn testdata(group: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(group)
        .join(name)
}

/// Runs the binary with the Hub at `hub`, `HF_HOME` = `home`, and the environment variables
/// `env`; nothing of the host's environment but `PATH`.
pub(crate) fn run(hub: &HubEmulator, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::cargo_bin("cmi-preflight").expect("binary built");
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("HF_ENDPOINT", hub.endpoint())
        .env("HF_HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("binary runs")
}

/// The JSON document on stdout, or a panic showing both streams.
pub(crate) fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON on stdout ({e})\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Exit status and JSON report of `check SOURCE --format json`.
fn check(hub: &HubEmulator, home: &Path, env: &[(&str, &str)], source: &str) -> (i32, Value) {
    let output = run(hub, home, env, &["check", source, "--format", "json"]);
    (output.status.code().unwrap_or(-1), json(&output))
}

/// (code, file) of every finding.
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

fn codes(report: &Value) -> Vec<String> {
    let mut codes: Vec<String> = findings(report).into_iter().map(|(code, _)| code).collect();
    codes.dedup();
    codes
}

#[test]
fn check_of_hf_gives_the_folders_verdict_and_findings() {
    let cases = [
        ("valid", "llama"),
        ("valid", "llama-sharded"),
        ("invalid", "st003-header-out-of-bounds"),
        ("invalid", "cf002-unsupported-model-type"),
        ("invalid", "ly006-sub-folder"),
        ("invalid", "ly013-not-a-file"),
    ];
    let repos = cases
        .iter()
        .map(|(group, name)| HubRepo::new(&format!("org/{name}"), testdata(group, name)))
        .collect();
    let hub = HubEmulator::start(repos).expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    for (group, name) in cases {
        let folder = testdata(group, name);
        let (local_code, local) = check(&hub, home.path(), &[], &folder.display().to_string());
        let (hub_code, remote) = check(&hub, home.path(), &[], &format!("hf://org/{name}"));
        assert_eq!(hub_code, local_code, "{name}: {remote}");
        assert_eq!(remote["passed"], local["passed"], "{name}");
        assert_eq!(findings(&remote), findings(&local), "{name}");
        assert_eq!(remote["summary"], local["summary"], "{name}");
        let commit = hub.commit(&format!("org/{name}"), "main");
        assert_eq!(remote["provenance"]["repo"], format!("org/{name}"));
        assert_eq!(remote["provenance"]["commit"], commit.as_str());
        assert_eq!(
            remote["provenance"]["url"],
            format!("{}/org/{name}/tree/{commit}", hub.endpoint())
        );
        assert!(local.get("provenance").is_none());
    }
    // The text report names the repository and the commit.
    let output = run(&hub, home.path(), &[], &["check", "hf://org/llama"]);
    let text = String::from_utf8_lossy(&output.stdout);
    let commit = hub.commit("org/llama", "main");
    assert!(text.contains(&format!("org/llama@{commit}")), "{text}");
}

#[test]
fn every_read_is_pinned_to_the_commit_of_the_one_info_call() {
    let hub = HubEmulator::start(vec![HubRepo::new(
        "org/model",
        testdata("valid", "llama-sharded"),
    )
    .with_revision("v1.0", testdata("valid", "mistral-sharded"))])
    .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    for (revision, uri) in [("main", "hf://org/model"), ("v1.0", "hf://org/model@v1.0")] {
        hub.clear_requests();
        let (code, report) = check(&hub, home.path(), &[], uri);
        assert_eq!(code, 0, "{report}");
        let commit = hub.commit("org/model", revision);
        assert_eq!(report["provenance"]["commit"], commit.as_str());
        let requests = hub.requests();
        let hub_requests: Vec<_> = requests.iter().filter(|r| r.host == HubHost::Hub).collect();
        let info: Vec<_> = hub_requests
            .iter()
            .filter(|r| r.path.starts_with("/api/"))
            .collect();
        assert_eq!(info.len(), 1, "{requests:#?}");
        assert_eq!(
            info[0].path,
            format!("/api/models/org/model/revision/{revision}?blobs=true")
        );
        let resolves: Vec<_> = hub_requests
            .iter()
            .filter(|r| r.path.contains("/resolve/"))
            .collect();
        assert!(!resolves.is_empty());
        for request in resolves {
            assert!(
                request
                    .path
                    .starts_with(&format!("/org/model/resolve/{commit}/")),
                "{request:?}"
            );
            assert!(request.range.is_some(), "{request:?}");
        }
    }
}

#[test]
fn gated_and_private_repositories_are_hf001_until_a_granted_token_is_given() {
    let llama = testdata("valid", "llama");
    let hub = HubEmulator::start(vec![
        HubRepo::new("meta/gated", &llama)
            .gated()
            .grant("hf_granted"),
        HubRepo::new("team/private", &llama)
            .private()
            .grant("hf_granted"),
    ])
    .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");

    let (code, report) = check(&hub, home.path(), &[], "hf://meta/gated");
    assert_eq!(code, 1, "{report}");
    assert_eq!(codes(&report), ["HF001"], "{report}");
    let finding = &report["findings"][0];
    let page = format!("{}/meta/gated", hub.endpoint());
    assert!(
        finding["hint"].as_str().unwrap_or_default().contains(&page),
        "{finding}"
    );
    assert!(
        finding["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no token was sent"),
        "{finding}"
    );

    let (code, report) = check(
        &hub,
        home.path(),
        &[("HF_TOKEN", "hf_other")],
        "hf://meta/gated",
    );
    assert_eq!((code, codes(&report)), (1, vec!["HF001".to_string()]));
    assert!(report["findings"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("a token from $HF_TOKEN was sent"));

    let (code, report) = check(&hub, home.path(), &[], "hf://team/private");
    assert_eq!((code, codes(&report)), (1, vec!["HF001".to_string()]));
    assert!(report["findings"][0]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("HF_TOKEN"));

    for uri in ["hf://meta/gated", "hf://team/private"] {
        hub.clear_requests();
        let (code, report) = check(&hub, home.path(), &[("HF_TOKEN", "hf_granted")], uri);
        assert_eq!(code, 0, "{uri}: {report}");
        let requests = hub.requests();
        assert!(
            requests.iter().any(|r| r.host == HubHost::Cdn),
            "{requests:#?}"
        );
        for request in &requests {
            assert_eq!(
                request.authorization,
                request.host == HubHost::Hub,
                "{request:?}"
            );
        }
    }

    // The token file that `hf auth login` writes, when HF_TOKEN is not set.
    std::fs::write(home.path().join("token"), "hf_granted\n").expect("token file");
    let (code, report) = check(&hub, home.path(), &[], "hf://meta/gated");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn unknown_repositories_and_revisions_are_hf002() {
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", testdata("valid", "llama"))])
        .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    let token = [("HF_TOKEN", "hf_any")];
    let (code, report) = check(&hub, home.path(), &token, "hf://org/missing");
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["HF002".to_string()]),
        "{report}"
    );
    let (code, report) = check(&hub, home.path(), &[], "hf://org/llama@no-such-branch");
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["HF002".to_string()]),
        "{report}"
    );
    assert!(report["findings"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("no-such-branch"));
    // Without a token the Hub answers 401 for a repository it will not name: it may be private.
    let (code, report) = check(&hub, home.path(), &[], "hf://org/missing");
    assert_eq!(
        (code, codes(&report)),
        (1, vec!["HF001".to_string()]),
        "{report}"
    );
}

#[test]
fn a_429_is_waited_for_and_the_check_goes_on() {
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", testdata("valid", "llama"))])
        .expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    hub.fault(HubFault::RateLimit {
        count: 1,
        retry_after_secs: 1,
    });
    let (code, report) = check(&hub, home.path(), &[], "hf://org/llama");
    assert_eq!(code, 0, "{report}");
    let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[0], 429, "{statuses:?}");
    assert_eq!(statuses[1], 200, "{statuses:?}");
}

#[test]
fn a_manifest_of_hf_equals_the_folders_and_verifies_the_local_copy() {
    let folder = testdata("valid", "llama-sharded");
    let hub = HubEmulator::start(vec![HubRepo::new("org/sharded", &folder)]).expect("emulator");
    let home = tempfile::tempdir().expect("temp dir");
    let local = run(
        &hub,
        home.path(),
        &[],
        &["manifest", &folder.display().to_string(), "-q"],
    );
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let local = json(&local);
    hub.clear_requests();
    let remote = run(
        &hub,
        home.path(),
        &[],
        &["manifest", "hf://org/sharded", "-q"],
    );
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let manifest_text = remote.stdout.clone();
    let remote = json(&remote);
    assert_eq!(remote["artifact_digest"], local["artifact_digest"]);
    let commit = hub.commit("org/sharded", "main");
    assert_eq!(remote["provenance"]["repo"], "org/sharded");
    assert_eq!(remote["provenance"]["commit"], commit.as_str());
    let mut lfs = 0;
    for file in remote["files"].as_array().expect("files") {
        let path = file["path"].as_str().unwrap_or_default();
        if path.ends_with(".safetensors") {
            lfs += 1;
            assert_eq!(file["digest_source"], "hub-lfs", "{file}");
        } else {
            assert!(file.get("digest_source").is_none(), "{file}");
        }
    }
    assert!(lfs >= 2);
    // No LFS file was read beyond the check's header reads: the whole-file reads are of the
    // plain files only.
    for request in hub.requests() {
        if request.host == HubHost::Cdn {
            assert!(request.range.is_some(), "{request:?}");
        }
    }
    let manifest_path = home.path().join("hub-manifest.json");
    std::fs::write(&manifest_path, manifest_text).expect("manifest written");
    let verify = run(
        &hub,
        home.path(),
        &[],
        &[
            "verify",
            "--manifest",
            &manifest_path.display().to_string(),
            &folder.display().to_string(),
            "--format",
            "json",
        ],
    );
    let report = json(&verify);
    assert_eq!(verify.status.code(), Some(0), "{report}");
    assert_eq!(report["passed"], true);
}
