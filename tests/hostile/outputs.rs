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
    copy_of_llama(dir.join("model"))
}

fn copy_of_llama(model: PathBuf) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
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

/// Two folders: one with a file name, one with a tensor name, that carry terminal escapes and
/// XML-forbidden characters.
fn hostile_names(dir: &Path) -> [PathBuf; 2] {
    let by_file = copy_of_llama(dir.join("file"));
    fs::write(by_file.join("e\u{1b}[2J\u{7}\u{1}vil.safetensors"), "x").expect("hostile file");
    let by_tensor = copy_of_llama(dir.join("tensor"));
    let header =
        r#"{"\u001b]0;pwned\u0007\u009b2J":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 4]);
    fs::write(by_tensor.join("model.safetensors"), bytes).expect("hostile shard");
    [by_file, by_tensor]
}

/// The reports of `check` on both folders, in `format`, with colours forced on.
fn report_on(dir: &Path, format: &str) -> Vec<String> {
    let mut reports = Vec::new();
    for model in hostile_names(dir) {
        let out = cmd()
            .env("CLICOLOR_FORCE", "1")
            .env_remove("NO_COLOR")
            .arg("check")
            .arg(&model)
            .args(["--format", format])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1));
        reports.push(String::from_utf8(out.stdout).expect("UTF-8"));
    }
    reports
}

/// The bytes a terminal or an XML parser would act on: every C0 control but line feed, DEL,
/// and the C1 controls (as UTF-8).
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect()
}

#[test]
fn names_from_the_artifact_reach_the_terminal_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = report_on(dir.path(), "text").concat();
    // The report's own colours are the only escape sequences: each is ESC '[' digits 'm'.
    let mut rest = text.as_str();
    while let Some(at) = rest.find('\u{1b}') {
        let after = &rest[at + 1..];
        let end = after.find('m').expect("an SGR sequence");
        assert!(
            after.starts_with('[')
                && after[1..end]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ';'),
            "a raw escape sequence reached the terminal: {:?}",
            &after[..end.min(20)]
        );
        rest = &after[end..];
    }
    let others: Vec<char> = controls(&text)
        .into_iter()
        .filter(|&c| c != '\u{1b}')
        .collect();
    assert!(others.is_empty(), "raw controls {others:?} in {text:?}");
    assert!(text.contains(r"e\x1b[2J\x07\x01vil.safetensors"), "{text}");
    assert!(text.contains(r"\x1b]0;pwned\x07\u{9b}2J"), "{text}");
}

#[test]
fn junit_carries_no_character_xml_forbids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reports = report_on(dir.path(), "junit");
    for xml in &reports {
        assert_eq!(controls(xml), Vec::<char>::new(), "{xml}");
        let mut reader = quick_xml::Reader::from_str(xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed XML: {e}"),
            }
        }
    }
    let all = reports.concat();
    assert!(all.contains(r"e\x1b[2J\x07\x01vil.safetensors"), "{all}");
    assert!(all.contains(r"\x1b]0;pwned\x07\u{9b}2J"), "{all}");
}

#[test]
fn a_backslash_in_a_local_file_name_is_not_a_folder_separator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = model_in(dir.path());
    fs::create_dir(model.join("sub")).expect("sub-folder");
    fs::write(model.join("sub").join("x.txt"), "real").expect("real file");
    // Same size, other bytes: read as `sub/x.txt`, it would be listed twice with one digest.
    fs::write(model.join("sub\\x.txt"), "fake").expect("file with a backslash");
    let out = cmd()
        .arg("manifest")
        .arg(&model)
        .arg("-q")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(r"sub\x.txt") && stderr.contains("backslash"),
        "{stderr}"
    );
}

/// A loopback endpoint that counts the connections made to it and closes each at once.
struct CountingEndpoint {
    url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingEndpoint {
    fn start() -> CountingEndpoint {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        CountingEndpoint { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `check URI --format json` against `endpoint` with `credentials`, isolated from the host's
/// AWS set-up: the exit status and the findings.
fn check_s3(endpoint: &str, credentials: (&str, &str), uri: &str) -> (Option<i32>, Vec<Value>) {
    let out = cmd()
        .args(["check", uri, "--format", "json"])
        .args([
            "--endpoint-url",
            endpoint,
            "--region",
            cmi_testkit::moto::REGION,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.0)
        .env("AWS_SECRET_ACCESS_KEY", credentials.1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{uri}: no JSON report; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = report["findings"].as_array().expect("findings").clone();
    (out.status.code(), findings)
}

#[test]
fn an_invalid_bucket_name_is_refused_with_s3002_before_any_request() {
    let endpoint = CountingEndpoint::start();
    for (bucket, rule) in [
        ("Bucket_Name", "lowercase letters"),
        ("b", "3 to 63 characters"),
        ("192.168.1.1", "IP address"),
    ] {
        let uri = format!("s3://{bucket}/model/");
        let (code, findings) = check_s3(&endpoint.url, ("AKIDEXAMPLE", "secret"), &uri);
        assert_eq!(code, Some(1), "{bucket}: {findings:?}");
        assert_eq!(findings.len(), 1, "{bucket}: {findings:?}");
        assert_eq!(findings[0]["code"], "S3002", "{bucket}: {findings:?}");
        let message = findings[0]["message"].as_str().expect("message");
        assert!(message.contains(rule), "{bucket}: {message}");
        assert_eq!(endpoint.connections(), 0, "{bucket}: a request was sent");
    }
}

#[test]
fn s3002_survives_a_failed_listing_and_an_empty_prefix() {
    // The listing fails: the endpoint closes every connection.
    let endpoint = CountingEndpoint::start();
    let (code, findings) = check_s3(
        &endpoint.url,
        ("AKIDEXAMPLE", "secret"),
        "s3://valid-bucket/my model=v1/",
    );
    assert_eq!(code, Some(1), "{findings:?}");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["code"], "S3002", "{findings:?}");
    assert!(
        findings[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the listing also failed")),
        "{findings:?}"
    );

    // The prefix is empty.
    let moto = cmi_testkit::moto::Moto::shared();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = moto.s3_client().await;
        cmi_testkit::s3::create_bucket(&client, "hostile-s3002", cmi_testkit::moto::REGION)
            .await
            .expect("bucket");
    });
    let credentials = moto.credentials();
    let (code, findings) = check_s3(
        &moto.endpoint(),
        (credentials.access_key_id(), credentials.secret_access_key()),
        "s3://hostile-s3002/my model=v1/",
    );
    assert_eq!(code, Some(1), "{findings:?}");
    assert_eq!(findings[0]["code"], "S3002", "{findings:?}");
    assert!(
        findings[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no object under")),
        "{findings:?}"
    );
}

#[test]
fn policy_out_dir_never_replaces_a_symbolic_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("policies");
    fs::create_dir(&out_dir).expect("out dir");
    let elsewhere = dir.path().join("precious.json");
    fs::write(&elsewhere, "precious").expect("file elsewhere");
    symlink(&elsewhere, out_dir.join("trust-policy.json")).expect("link");
    let out = cmd()
        .args([
            "policy",
            "--bucket",
            "models",
            "--prefix",
            "llama/",
            "--bucket-account",
            "111122223333",
            "--hosting-account",
            "111122223333",
            "--region",
            "us-east-1",
            "--role-name",
            "cmi-import",
            "--out-dir",
        ])
        .arg(&out_dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    let link = out_dir.join("trust-policy.json");
    assert!(fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&elsewhere).expect("precious"),
        "precious"
    );
    let names: Vec<_> = fs::read_dir(&out_dir)
        .expect("out dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "nothing else written: {names:?}");
}
