//! What `push` decides before it sends: a failing artifact sends nothing, a dry run sends
//! nothing, the selection leaves the extras out (and the destination then passes `check`),
//! and `--fix-index` sends an index Bedrock accepts, recorded in the manifest as sent.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::documents;
use crate::engine::{run, setup};

fn testdata(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

/// A copy of a fixture folder in a temporary folder.
fn copy_of(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(testdata(fixture)).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

fn document(stdout: &[u8]) -> Value {
    documents::typed(std::str::from_utf8(stdout).expect("UTF-8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_artifact_sends_nothing() {
    let setup = setup("gate-fails").await;
    let source = testdata("invalid/sh003-shape-mismatch");
    let destination = format!("s3://{}/m/", setup.bucket);
    let output = run(
        &setup.proxy.endpoint(),
        &["push", source.to_str().expect("UTF-8"), &destination, "-q"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("SH003"), "{stdout}");
    assert!(stdout.contains("nothing sent"), "{stdout}");
    assert_eq!(setup.proxy.requests(), 0, "{:#?}", setup.proxy.log());

    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            source.to_str().expect("UTF-8"),
            &destination,
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let json = document(&output.stdout);
    assert_eq!(json["pushed"], false);
    assert_eq!(json["check"]["passed"], false);
    assert_eq!(json["files"], Value::Array(Vec::new()));
    assert_eq!(setup.proxy.requests(), 0);
}

/// The llama fixture with what a training run and a Hub download leave beside it.
fn cluttered() -> tempfile::TempDir {
    let dir = copy_of("valid/llama");
    let root = dir.path();
    std::fs::create_dir_all(root.join(".cache/huggingface/download")).expect("mkdir");
    std::fs::write(
        root.join(".cache/huggingface/download/config.json.metadata"),
        "abc\n",
    )
    .expect("write");
    std::fs::create_dir_all(root.join("checkpoint-500")).expect("mkdir");
    std::fs::write(root.join("checkpoint-500/optimizer.pt"), b"x").expect("write");
    std::fs::write(root.join("training_args.bin"), b"x").expect("write");
    std::fs::write(root.join("pytorch_model.bin"), b"x").expect("write");
    std::fs::write(root.join(".gitattributes"), b"*.safetensors filter=lfs\n").expect("write");
    dir
}

const CLUTTER: [&str; 5] = [
    ".cache/huggingface/download/config.json.metadata",
    ".gitattributes",
    "checkpoint-500/optimizer.pt",
    "pytorch_model.bin",
    "training_args.bin",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_and_sends_nothing() {
    let setup = setup("gate-dry-run").await;
    let dir = cluttered();
    let destination = format!("s3://{}/m/", setup.bucket);
    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            dir.path().to_str().expect("UTF-8"),
            &destination,
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(setup.proxy.requests(), 0);
    let json = document(&output.stdout);
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["pushed"], false);
    let skipped: Vec<&str> = json["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| s["path"].as_str().expect("path"))
        .collect();
    assert_eq!(skipped, CLUTTER);
    for skipped in json["skipped"].as_array().expect("skipped") {
        assert!(!skipped["reason"].as_str().expect("reason").is_empty());
    }
    let pickle = &json["skipped"][3];
    assert_eq!(pickle["rule"], "LY004");
    let planned: Vec<&str> = json["planned"]
        .as_array()
        .expect("planned")
        .iter()
        .map(|s| s["path"].as_str().expect("path"))
        .collect();
    assert!(planned.contains(&"model.safetensors"), "{planned:?}");
    assert!(planned.iter().all(|p| !CLUTTER.contains(p)));

    let text = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            dir.path().to_str().expect("UTF-8"),
            &destination,
            "--dry-run",
        ],
    );
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("dry run: would send"), "{stdout}");
    assert!(stdout.contains("skip  training_args.bin"), "{stdout}");
    assert_eq!(setup.proxy.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_of_a_push_passes_check() {
    let setup = setup("gate-selection").await;
    let dir = cluttered();
    let destination = format!("s3://{}/m/", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    let output = run(
        &endpoint,
        &[
            "push",
            dir.path().to_str().expect("UTF-8"),
            &destination,
            "-q",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = setup
        .client
        .list_objects_v2()
        .bucket(&setup.bucket)
        .send()
        .await
        .expect("list");
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    let mut expected: Vec<String> = std::fs::read_dir(testdata("valid/llama"))
        .expect("fixture")
        .map(|e| format!("m/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    let check = run(&endpoint, &["check", &destination, "--strict"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_index_sends_an_index_bedrock_accepts_and_the_manifest_records_it() {
    let setup = setup("gate-fix-index").await;
    let dir = copy_of("invalid/ix009-index-metadata-unsupported");
    let index = dir.path().join("model.safetensors.index.json");
    let original = std::fs::read(&index).expect("index");
    let destination = format!("s3://{}/m/", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    let source = dir.path().to_str().expect("UTF-8");

    let refused = run(&endpoint, &["push", source, &destination, "-q"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("IX009"));
    assert_eq!(setup.proxy.requests(), 0);

    let out = tempfile::tempdir().expect("temp dir");
    let manifest = out.path().join("pushed.json");
    let output = run(
        &endpoint,
        &[
            "push",
            source,
            &destination,
            "--fix-index",
            "--manifest-out",
            manifest.to_str().expect("UTF-8"),
            "-q",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("rewrite  model.safetensors.index.json"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(&index).expect("index"),
        original,
        "the source is not changed"
    );
    let object = setup
        .client
        .get_object()
        .bucket(&setup.bucket)
        .key("m/model.safetensors.index.json")
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    let sent: Value = serde_json::from_slice(&object).expect("JSON");
    let before: Value = serde_json::from_slice(&original).expect("JSON");
    assert_eq!(sent["weight_map"], before["weight_map"]);
    assert!(sent["metadata"].get("total_parameters").is_none(), "{sent}");
    let manifest = cmi_agent::manifest::Manifest::read(&manifest).expect("manifest");
    let record = manifest
        .files
        .iter()
        .find(|f| f.path == "model.safetensors.index.json")
        .expect("index record");
    assert_eq!(record.size, object.len() as u64);
    assert_eq!(record.sha256, hex::encode(Sha256::digest(&object)));
    let check = run(&endpoint, &["check", &destination]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
