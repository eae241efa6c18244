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

#[test]
fn hf_hub_download_pins_branches_tags_pull_requests_and_commits() {
    let hub = HubEmulator::start(vec![HubRepo::new("org/pinned", fixture("llama"))
        .with_revision("v1", fixture("llama-tied"))
        .with_revision("refs/pr/1", fixture("mistral"))])
    .expect("start");
    let v1 = hub.commit("org/pinned", "v1");
    let cases = [
        ("main", fixture("llama")),
        ("v1", fixture("llama-tied")),
        (v1.as_str(), fixture("llama-tied")),
        ("refs/pr/1", fixture("mistral")),
    ];
    let revisions: Vec<&str> = cases.iter().map(|(revision, _)| *revision).collect();
    let home = tempfile::tempdir().expect("temp dir");
    let script = "import sys, json\n\
        from huggingface_hub import hf_hub_download\n\
        args = json.loads(sys.argv[1])\n\
        out = {r: {f: hf_hub_download('org/pinned', f, revision=r) for f in args['files']}\n\
               for r in args['revisions']}\n\
        print(json.dumps(out))";
    let files = ["config.json", "model.safetensors"];
    let args = serde_json::json!({"revisions": revisions, "files": files});
    let Some(out) = run(&hub, home.path(), script, &args) else {
        return;
    };
    for (revision, folder) in &cases {
        for file in files {
            let path = out[*revision][file].as_str().expect("a path");
            let want = std::fs::read(folder.join(file)).expect("fixture file");
            assert_eq!(
                std::fs::read(path).expect("download"),
                want,
                "{revision} {file}"
            );
        }
    }
    assert_ne!(
        std::fs::read(fixture("llama").join("model.safetensors")).expect("llama"),
        std::fs::read(fixture("llama-tied").join("model.safetensors")).expect("llama-tied"),
    );
    let entry = cache_entry(home.path(), "org/pinned");
    assert_eq!(
        std::fs::read_to_string(entry.join("refs/v1")).expect("refs/v1"),
        v1
    );
    assert_eq!(
        std::fs::read_to_string(entry.join("refs/refs/pr/1")).expect("refs/refs/pr/1"),
        hub.commit("org/pinned", "refs/pr/1")
    );
    // The revision travels quoted, as one path segment.
    assert!(hub
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/org/pinned/resolve/refs%2Fpr%2F1/")));
}

/// The tensors of a safetensors file's header, `name -> [dtype, shape]`, read by the format's
/// definition (an 8-byte little-endian length, then that much JSON).
fn header_tensors(path: &Path) -> Value {
    let bytes = std::fs::read(path).expect("safetensors file");
    let mut length = [0u8; 8];
    length.copy_from_slice(&bytes[..8]);
    let length = usize::try_from(u64::from_le_bytes(length)).expect("header length");
    let header: Value = serde_json::from_slice(&bytes[8..8 + length]).expect("header JSON");
    let tensors = header
        .as_object()
        .expect("a JSON object")
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .map(|(name, info)| {
            (
                name.clone(),
                serde_json::json!([info["dtype"], info["shape"]]),
            )
        })
        .collect();
    Value::Object(tensors)
}

#[test]
fn get_safetensors_metadata_reads_single_file_and_sharded_headers() {
    let hub = HubEmulator::start(vec![
        HubRepo::new("org/single", fixture("llama")),
        HubRepo::new("org/sharded", fixture("llama-sharded")),
    ])
    .expect("start");
    let home = tempfile::tempdir().expect("temp dir");
    let script = "import sys, json\n\
        from huggingface_hub import get_safetensors_metadata\n\
        out = {}\n\
        for repo in json.loads(sys.argv[1]):\n\
        \x20   m = get_safetensors_metadata(repo)\n\
        \x20   out[repo] = {'sharded': m.sharded, 'files': {f: {t: [i.dtype, i.shape]\n\
        \x20       for t, i in fm.tensors.items()} for f, fm in m.files_metadata.items()}}\n\
        print(json.dumps(out))";
    let Some(out) = run(
        &hub,
        home.path(),
        script,
        &serde_json::json!(["org/single", "org/sharded"]),
    ) else {
        return;
    };
    assert_eq!(out["org/single"]["sharded"], false);
    assert_eq!(
        out["org/single"]["files"]["model.safetensors"],
        header_tensors(&fixture("llama").join("model.safetensors"))
    );
    assert_eq!(out["org/sharded"]["sharded"], true);
    let shards = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let files = out["org/sharded"]["files"].as_object().expect("files");
    assert_eq!(files.len(), shards.len());
    for shard in shards {
        assert_eq!(
            files[shard],
            header_tensors(&fixture("llama-sharded").join(shard)),
            "{shard}"
        );
    }
    // One ranged read per safetensors file, on the CDN, without the token.
    let ranged: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.host == HubHost::Cdn)
        .collect();
    assert_eq!(ranged.len(), 3, "{ranged:?}");
    assert!(ranged
        .iter()
        .all(|r| r.range.as_deref() == Some("bytes=0-100000") && r.status == 206));
}

#[test]
fn model_info_and_list_repo_tree_show_the_files_with_their_lfs_sha256() {
    let folder = fixture("llama-sharded");
    let hub = HubEmulator::start(vec![
        HubRepo::new("org/sharded", &folder).with_revision("v1", fixture("llama"))
    ])
    .expect("start");
    let home = tempfile::tempdir().expect("temp dir");
    let script = "import sys, json\n\
        from huggingface_hub import HfApi\n\
        api = HfApi()\n\
        out = {}\n\
        for rev in [None, 'v1']:\n\
        \x20   i = api.model_info('org/sharded', revision=rev, files_metadata=True)\n\
        \x20   out[rev or 'default'] = {'sha': i.sha, 'id': i.id, 'private': i.private,\n\
        \x20       'gated': i.gated, 'siblings': [{'name': s.rfilename, 'size': s.size,\n\
        \x20       'blob_id': s.blob_id, 'lfs': s.lfs and {'sha256': s.lfs.sha256, 'size': s.lfs.size,\n\
        \x20       'pointer_size': s.lfs.pointer_size}} for s in i.siblings]}\n\
        tree = api.list_repo_tree('org/sharded', recursive=True, expand=True)\n\
        out['tree'] = sorted([f.path, f.lfs['sha256'] if f.lfs else None] for f in tree)\n\
        print(json.dumps(out))";
    let Some(out) = run(&hub, home.path(), script, &Value::Null) else {
        return;
    };
    let info = &out["default"];
    assert_eq!(info["sha"], hub.commit("org/sharded", "main"));
    assert_eq!(info["id"], "org/sharded");
    assert_eq!(info["private"], false);
    assert_eq!(info["gated"], false);
    assert_eq!(out["v1"]["sha"], hub.commit("org/sharded", "v1"));
    let siblings = info["siblings"].as_array().expect("siblings");
    assert_eq!(
        siblings.len(),
        std::fs::read_dir(&folder).expect("fixture").count()
    );
    let mut tree = Vec::new();
    for sibling in siblings {
        let name = sibling["name"].as_str().expect("a name");
        let bytes = std::fs::read(folder.join(name)).expect("fixture file");
        assert_eq!(sibling["size"], bytes.len(), "{name}");
        assert_eq!(
            sibling["blob_id"].as_str().map(str::len),
            Some(40),
            "{name}"
        );
        if name.ends_with(".safetensors") {
            assert_eq!(sibling["lfs"]["sha256"], sha256_hex(&bytes), "{name}");
            assert_eq!(sibling["lfs"]["size"], bytes.len(), "{name}");
            assert!(sibling["lfs"]["pointer_size"]
                .as_u64()
                .is_some_and(|n| n > 100));
            tree.push(serde_json::json!([name, sha256_hex(&bytes)]));
        } else {
            assert!(sibling["lfs"].is_null(), "{name}");
            tree.push(serde_json::json!([name, null]));
        }
    }
    tree.sort_by_key(|item| item[0].as_str().unwrap_or("").to_string());
    assert_eq!(out["tree"], Value::Array(tree));
}

/// Runs each case of `cases` (`[name, function, args, kwargs]`, the function one of
/// `hf_hub_download` and `model_info`) and records the class of what it raised (`ok` when
/// nothing), with the HTTP status and `Retry-After` of the response behind it.
const CASES: &str = "import sys, json\n\
    from huggingface_hub import hf_hub_download, HfApi\n\
    calls = {'download': hf_hub_download, 'info': HfApi().model_info}\n\
    out = {}\n\
    for name, call, args, kwargs in json.loads(sys.argv[1]):\n\
    \x20   try:\n\
    \x20       calls[call](*args, **kwargs)\n\
    \x20       out[name] = {'raised': 'ok'}\n\
    \x20   except Exception as e:\n\
    \x20       cause = e if getattr(e, 'response', None) is not None else e.__cause__\n\
    \x20       response = getattr(cause, 'response', None)\n\
    \x20       out[name] = {'raised': type(e).__name__,\n\
    \x20           'status': response.status_code if response is not None else None,\n\
    \x20           'retry_after': response.headers.get('Retry-After') if response is not None else None}\n\
    print(json.dumps(out))";

#[test]
fn errors_are_the_client_exception_classes_and_the_token_never_reaches_the_cdn() {
    let hub = HubEmulator::start(vec![
        HubRepo::new("org/llama", fixture("llama")),
        HubRepo::new("org/gated", fixture("llama"))
            .gated()
            .grant("hf_granted"),
        HubRepo::new("org/private", fixture("llama"))
            .private()
            .grant("hf_granted"),
    ])
    .expect("start");
    let home = tempfile::tempdir().expect("temp dir");
    let token = |token: &str| serde_json::json!({"token": token});
    let none = serde_json::json!({});
    let weights = "model.safetensors";
    let cases = serde_json::json!([
        ["gated_no_token", "download", ["org/gated", weights], none],
        ["gated_other_token", "download", ["org/gated", weights], token("hf_other")],
        ["gated_info", "info", ["org/gated"], none],
        ["gated_granted", "download", ["org/gated", weights], token("hf_granted")],
        ["private_info_no_token", "info", ["org/private"], none],
        ["private_download_no_token", "download", ["org/private", weights], none],
        ["private_other_token", "info", ["org/private"], token("hf_other")],
        ["private_granted", "download", ["org/private", weights], token("hf_granted")],
        ["unknown_repo", "info", ["org/none"], none],
        ["unknown_revision", "download", ["org/llama", "config.json"], {"revision": "nope"}],
        ["unknown_revision_info", "info", ["org/llama"], {"revision": "nope"}],
        ["missing_file", "download", ["org/llama", "nope.json"], none],
    ]);
    let Some(out) = run(&hub, home.path(), CASES, &cases) else {
        return;
    };
    let expect = [
        ("gated_no_token", "GatedRepoError", Some(401)),
        ("gated_other_token", "GatedRepoError", Some(403)),
        ("gated_info", "ok", None),
        ("gated_granted", "ok", None),
        (
            "private_info_no_token",
            "RepositoryNotFoundError",
            Some(401),
        ),
        (
            "private_download_no_token",
            "RepositoryNotFoundError",
            Some(401),
        ),
        ("private_other_token", "RepositoryNotFoundError", Some(404)),
        ("private_granted", "ok", None),
        ("unknown_repo", "RepositoryNotFoundError", Some(401)),
        ("unknown_revision", "RevisionNotFoundError", Some(404)),
        ("unknown_revision_info", "RevisionNotFoundError", Some(404)),
        ("missing_file", "EntryNotFoundError", Some(404)),
    ];
    for (name, raised, status) in expect {
        assert_eq!(out[name]["raised"], raised, "{name}: {}", out[name]);
        if let Some(status) = status {
            assert_eq!(out[name]["status"], status, "{name}: {}", out[name]);
        }
    }
    // The granted downloads sent the token to the Hub, then fetched the bytes from the CDN
    // without it.
    let log = hub.requests();
    assert!(log
        .iter()
        .any(|r| r.host == HubHost::Hub && r.authorization && r.path.starts_with("/org/private/")));
    let cdn: Vec<_> = log.iter().filter(|r| r.host == HubHost::Cdn).collect();
    assert_eq!(cdn.len(), 2, "{log:?}");
    assert!(cdn.iter().all(|r| !r.authorization && r.status == 200));
}

#[test]
fn a_429_is_raised_by_the_client_with_its_retry_after_and_the_next_call_succeeds() {
    let hub = HubEmulator::start(vec![HubRepo::new("org/llama", fixture("llama"))]).expect("start");
    hub.fault(HubFault::RateLimit {
        count: 1,
        retry_after_secs: 3,
    });
    hub.fault(HubFault::Status {
        path_contains: "/resolve/".into(),
        status: 429,
        count: 1,
    });
    let home = tempfile::tempdir().expect("temp dir");
    let none = serde_json::json!({});
    let cases = serde_json::json!([
        ["info_limited", "info", ["org/llama"], none],
        ["info_again", "info", ["org/llama"], none],
        [
            "download_limited",
            "download",
            ["org/llama", "config.json"],
            none
        ],
        [
            "download_again",
            "download",
            ["org/llama", "config.json"],
            none
        ],
    ]);
    let Some(out) = run(&hub, home.path(), CASES, &cases) else {
        return;
    };
    // huggingface_hub 0.36 retries 5xx only (utils/_http.py, http_backoff): a 429 is raised,
    // and hf_hub_download reports a failed metadata request without a cached copy as
    // LocalEntryNotFoundError.
    assert_eq!(out["info_limited"]["raised"], "HfHubHTTPError", "{out}");
    assert_eq!(out["info_limited"]["status"], 429);
    assert_eq!(out["info_limited"]["retry_after"], "3");
    assert_eq!(out["info_again"]["raised"], "ok");
    assert_eq!(
        out["download_limited"]["raised"], "LocalEntryNotFoundError",
        "{out}"
    );
    assert_eq!(out["download_limited"]["status"], 429);
    assert_eq!(out["download_again"]["raised"], "ok");
}

#[test]
fn nested_folders_are_listed_by_the_tree_and_resolved_by_path() {
    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(folder.path().join("original")).expect("mkdir");
    std::fs::write(folder.path().join("config.json"), b"{}").expect("write");
    std::fs::write(folder.path().join("original/params.json"), b"{\"dim\": 8}").expect("write");
    std::fs::write(
        folder.path().join("original/consolidated.00.pth"),
        [7u8; 64],
    )
    .expect("write");
    let hub = HubEmulator::start(vec![HubRepo::new("org/nested", folder.path())]).expect("start");

    let (status, _, body) = http(
        "GET",
        &format!(
            "{}/api/models/org/nested/revision/main?blobs=true",
            hub.endpoint()
        ),
        &[],
    );
    assert_eq!(status, 200);
    let info: Value = serde_json::from_slice(&body).expect("JSON");
    let siblings: Vec<(&str, bool)> = info["siblings"]
        .as_array()
        .expect("siblings")
        .iter()
        .map(|s| (s["rfilename"].as_str().unwrap_or(""), s["lfs"].is_object()))
        .collect();
    assert_eq!(
        siblings,
        [
            ("config.json", false),
            ("original/consolidated.00.pth", true),
            ("original/params.json", false)
        ]
    );

    let (status, _, body) = http(
        "GET",
        &format!("{}/api/models/org/nested/tree/main", hub.endpoint()),
        &[],
    );
    assert_eq!(status, 200);
    let tree: Value = serde_json::from_slice(&body).expect("JSON");
    let top: Vec<(&str, &str)> = tree
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(top, [("directory", "original"), ("file", "config.json")]);
    let (status, _, body) = http(
        "GET",
        &format!(
            "{}/api/models/org/nested/tree/main/original",
            hub.endpoint()
        ),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body)
            .expect("JSON")
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let (status, _, body) = http(
        "GET",
        &format!(
            "{}/org/nested/resolve/main/original/params.json",
            hub.endpoint()
        ),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(body, b"{\"dim\": 8}");
    let (status, headers, _) = http(
        "GET",
        &format!(
            "{}/org/nested/resolve/main/original/nope.json",
            hub.endpoint()
        ),
        &[],
    );
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "x-error-code"), Some("EntryNotFound"));
    assert_eq!(
        header(&headers, "x-repo-commit"),
        Some(hub.commit("org/nested", "main").as_str())
    );
}
