//! The Hub emulator's fidelity: the real `huggingface_hub` client (the test venv's, version
//! pinned in scripts/requirements-test.txt) downloads from it unchanged, and its answers
//! (headers, ranges, redirects, errors, faults) are the Hub's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use cmi_testkit::hub::{HubEmulator, HubFault, HubHost, HubRepo};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("testdata/valid").join(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The venv's Python, or `None` outside CI when there is none (the test is then skipped).
fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CMI_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let local = root().join(".venv/bin/python");
    if local.exists() {
        return Some(local);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CMI_TEST_PYTHON is not set and .venv is missing: run ./scripts/test"
    );
    eprintln!("skipped: no Python environment; ./scripts/test creates it");
    None
}

/// Runs `script` in the venv's Python against the emulator, with `HF_HOME` = `home` and `args`
/// as `sys.argv[1]` (JSON); returns the JSON the script prints last.
fn run(hub: &HubEmulator, home: &Path, script: &str, args: &Value) -> Option<Value> {
    let python = python()?;
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(args.to_string())
        .env("HF_ENDPOINT", hub.endpoint())
        .env("HF_HOME", home)
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_HUB_ENABLE_HF_TRANSFER")
        .env_remove("HF_TOKEN_PATH")
        .output()
        .expect("run the venv's Python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "huggingface_hub failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    Some(serde_json::from_str(last).expect("the script prints JSON"))
}

/// A raw HTTP/1.1 exchange: status, headers (lower-case names), body.
fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(authority).expect("connect to the emulator");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn resolve_serves_plain_files_and_redirects_lfs_files_to_the_cdn_with_ranges() {
    let folder = fixture("llama");
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", &folder)]).expect("start");
    let commit = hub.commit("org/llama", "main");
    assert_eq!(commit.len(), 40);

    let config = std::fs::read(folder.join("config.json")).expect("config");
    let url = format!("{}/org/llama/resolve/main/config.json", hub.endpoint());
    let (status, headers, body) = http("GET", &url, &[]);
    assert_eq!(status, 200);
    assert_eq!(body, config);
    assert_eq!(header(&headers, "x-repo-commit"), Some(commit.as_str()));
    let (status, headers, body) = http("HEAD", &url, &[]);
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(
        header(&headers, "content-length"),
        Some(config.len().to_string().as_str())
    );
    let (status, headers, body) = http("GET", &url, &[("Range", "bytes=2-5")]);
    assert_eq!(status, 206);
    assert_eq!(body, &config[2..6]);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes 2-5/{}", config.len()).as_str())
    );
    let (status, headers, _) = http(
        "GET",
        &url,
        &[("Range", &format!("bytes={}-", config.len()))],
    );
    assert_eq!(status, 416);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes */{}", config.len()).as_str())
    );

    let weights = std::fs::read(folder.join("model.safetensors")).expect("weights");
    let sha = sha256_hex(&weights);
    let url = format!(
        "{}/org/llama/resolve/{commit}/model.safetensors",
        hub.endpoint()
    );
    let (status, headers, _) = http("HEAD", &url, &[("Authorization", "Bearer secret")]);
    assert_eq!(status, 302);
    assert_eq!(
        header(&headers, "x-linked-etag"),
        Some(format!("\"{sha}\"").as_str())
    );
    assert_eq!(
        header(&headers, "x-linked-size"),
        Some(weights.len().to_string().as_str())
    );
    assert_eq!(header(&headers, "x-repo-commit"), Some(commit.as_str()));
    let location = header(&headers, "location")
        .expect("a Location")
        .to_string();
    assert!(
        location.starts_with(&format!("{}/", hub.cdn_endpoint())),
        "{location}"
    );
    let (status, _, body) = http("GET", &location, &[]);
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&body), sha);
    let (status, headers, body) = http("GET", &location, &[("Range", "bytes=-8")]);
    assert_eq!(status, 206);
    assert_eq!(body, &weights[weights.len() - 8..]);
    assert_eq!(
        header(&headers, "content-range"),
        Some(
            format!(
                "bytes {}-{}/{}",
                weights.len() - 8,
                weights.len() - 1,
                weights.len()
            )
            .as_str()
        )
    );

    let log = hub.requests();
    assert!(log
        .iter()
        .any(|r| r.host == HubHost::Hub && r.authorization));
    assert!(log
        .iter()
        .all(|r| r.host == HubHost::Hub || !r.authorization));
    assert!(log
        .iter()
        .any(|r| r.host == HubHost::Cdn && r.status == 206));
    hub.clear_requests();
    assert!(hub.requests().is_empty());
}

#[test]
fn faults_corrupt_a_byte_rate_limit_and_answer_a_status() {
    let folder = fixture("llama");
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", &folder)]).expect("start");
    let weights = std::fs::read(folder.join("model.safetensors")).expect("weights");
    let config = std::fs::read(folder.join("config.json")).expect("config");
    hub.fault(HubFault::CorruptByte {
        repo_id: "org/llama".into(),
        path: "model.safetensors".into(),
        offset: 100,
    });
    hub.fault(HubFault::CorruptByte {
        repo_id: "org/llama".into(),
        path: "config.json".into(),
        offset: 0,
    });
    let url = format!(
        "{}/org/llama/resolve/main/model.safetensors",
        hub.endpoint()
    );
    let (_, headers, _) = http("GET", &url, &[]);
    let location = header(&headers, "location")
        .expect("a Location")
        .to_string();
    let (status, _, body) = http("GET", &location, &[]);
    assert_eq!(status, 200);
    assert_eq!(body.len(), weights.len());
    let differ: Vec<usize> = (0..body.len()).filter(|&i| body[i] != weights[i]).collect();
    assert_eq!(differ, vec![100]);
    let (_, _, body) = http("GET", &location, &[("Range", "bytes=90-109")]);
    assert_eq!(body[10], weights[100] ^ 1);
    assert_eq!(body[..10], weights[90..100]);
    let (_, _, body) = http(
        "GET",
        &format!("{}/org/llama/resolve/main/config.json", hub.endpoint()),
        &[],
    );
    assert_eq!(body[0], config[0] ^ 1);
    assert_eq!(body[1..], config[1..]);

    hub.fault(HubFault::RateLimit {
        count: 2,
        retry_after_secs: 7,
    });
    let info = format!("{}/api/models/org/llama", hub.endpoint());
    for _ in 0..2 {
        let (status, headers, _) = http("GET", &info, &[]);
        assert_eq!(status, 429);
        assert_eq!(header(&headers, "retry-after"), Some("7"));
    }
    // The CDN is not rate-limited.
    hub.fault(HubFault::RateLimit {
        count: 1,
        retry_after_secs: 1,
    });
    assert_eq!(http("GET", &location, &[]).0, 200);
    assert_eq!(http("GET", &info, &[]).0, 429);
    assert_eq!(http("GET", &info, &[]).0, 200);

    hub.fault(HubFault::Status {
        path_contains: "tokenizer.json".into(),
        status: 503,
        count: 1,
    });
    let tokenizer = format!("{}/org/llama/resolve/main/tokenizer.json", hub.endpoint());
    assert_eq!(http("GET", &tokenizer, &[]).0, 503);
    assert_eq!(http("GET", &tokenizer, &[]).0, 200);
}

/// The cache entry `models--org--name` under `home`.
fn cache_entry(home: &Path, repo_id: &str) -> PathBuf {
    home.join("hub")
        .join(format!("models--{}", repo_id.replace('/', "--")))
}

#[test]
fn snapshot_download_writes_the_folder_byte_for_byte_in_the_cache_layout() {
    let folder = fixture("llama-sharded");
    let hub = HubEmulator::start(vec![HubRepo::new("org/sharded", &folder)]).expect("start");
    let home = tempfile::tempdir().expect("temp dir");
    let script = "import sys, json\n\
        from huggingface_hub import snapshot_download\n\
        args = json.loads(sys.argv[1])\n\
        print(json.dumps({'path': snapshot_download(args['repo'])}))";
    let Some(out) = run(
        &hub,
        home.path(),
        script,
        &serde_json::json!({"repo": "org/sharded"}),
    ) else {
        return;
    };
    let commit = hub.commit("org/sharded", "main");
    let entry = cache_entry(home.path(), "org/sharded");
    let snapshot = PathBuf::from(out["path"].as_str().expect("a path"));
    assert_eq!(snapshot, entry.join("snapshots").join(&commit));
    assert_eq!(
        std::fs::read_to_string(entry.join("refs/main")).expect("refs/main"),
        commit
    );
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .expect("fixture")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut served: Vec<String> = std::fs::read_dir(&snapshot)
        .expect("snapshot")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    served.sort();
    assert_eq!(served, names);
    for name in &names {
        let want = std::fs::read(folder.join(name)).expect("fixture file");
        let link = snapshot.join(name);
        assert_eq!(std::fs::read(&link).expect("snapshot file"), want, "{name}");
        let target = std::fs::read_link(&link).expect("a link into blobs/");
        let blob = target.file_name().expect("a blob name").to_string_lossy();
        assert!(entry.join("blobs").join(&*blob).is_file());
        if name.ends_with(".safetensors") {
            assert_eq!(blob, sha256_hex(&want), "{name}");
        } else {
            assert_ne!(
                blob,
                sha256_hex(&want),
                "{name}: a plain file's blob is its git id"
            );
        }
    }
    // Every LFS file came from the CDN over plain HTTP, without the token.
    let log = hub.requests();
    let cdn: Vec<_> = log.iter().filter(|r| r.host == HubHost::Cdn).collect();
    assert_eq!(cdn.len(), 2, "{log:?}");
    assert!(cdn.iter().all(|r| r.method == "GET" && r.status == 200));
}
