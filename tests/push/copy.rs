//! An `s3://` source: checked by ranged header reads, then copied server-side (CopyObject,
//! UploadPartCopy), no object byte through this machine; skip unchanged on a re-run.

use std::path::{Path, PathBuf};
use std::process::Output;

use cmi_testkit::moto;
use cmi_testkit::s3::create_bucket;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::{run, setup, Setup};

fn llama() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama")
}

/// Bytes of the files of the llama fixture.
fn fixture_bytes() -> u64 {
    std::fs::read_dir(llama())
        .expect("fixture")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum()
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn success(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// The llama fixture pushed from disk into a source bucket (so that its objects carry S3's
/// SHA-256 checksums); the `s3://` URI of the source.
async fn source(setup: &Setup, name: &str) -> String {
    let bucket = format!("push-copy-src-{name}");
    create_bucket(&setup.client, &bucket, moto::REGION)
        .await
        .expect("create bucket");
    let uri = format!("s3://{bucket}/llama/");
    let fixture = llama();
    let fixture = fixture.to_str().expect("UTF-8 path");
    success(&run(
        &setup.proxy.endpoint(),
        &["push", fixture, &uri, "-q"],
    ));
    setup.proxy.reset_stats();
    uri
}

fn kinds(document: &Value) -> Vec<String> {
    document["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["action"]["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_source_is_copied_server_side_and_skipped_when_unchanged() {
    let setup = setup("copy-server-side").await;
    let from = source(&setup, "server-side").await;
    let to = format!("s3://{}/copied/", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    let document = success(&run(
        &endpoint,
        &["push", &from, &to, "--format", "json", "-q"],
    ));

    let total = fixture_bytes();
    let log = setup.proxy.log();
    let copies = log
        .iter()
        .filter(|e| e.method == "PUT" && e.path.contains("x-id=CopyObject"))
        .count();
    assert_eq!(copies, 6, "{log:#?}");
    assert!(!log.iter().any(|e| e.path.contains("x-id=PutObject")));
    // No object byte sent up, and only the check's reads came down: ranged GETs from the
    // start of a file, at most the check's header probe each (the fixture's files are
    // smaller than the probe, so a probe may hold a whole file), never a whole-object GET.
    assert!(
        setup.proxy.request_bytes() < 4096,
        "{}",
        setup.proxy.request_bytes()
    );
    for get in log
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("/llama/"))
    {
        let range = get.range.as_deref().expect("a ranged GET");
        assert!(range.starts_with("bytes=0-"), "{get:?}");
        assert!(
            get.response_bytes <= cmi_agent::check::DEFAULT_HEADER_PROBE,
            "{get:?}"
        );
    }
    let read: u64 = log.iter().map(|e| e.response_bytes).sum();
    assert!(read < total + 64 * 1024, "{read} of {total}");
    assert!(kinds(&document).iter().all(|k| k == "copied"), "{document}");
    assert_eq!(document["bytes_sent"], 0);
    assert!(document["artifact_digest"].is_string());

    // The copies are the files: S3's full-object SHA-256 of each is the fixture file's.
    for file in document["files"].as_array().expect("files") {
        let path = file["path"].as_str().expect("path");
        let bytes = std::fs::read(llama().join(path)).expect("read");
        assert_eq!(file["sha256"], hex_sha256(&bytes).as_str(), "{path}");
    }

    success(&run(&endpoint, &["check", &to, "--format", "json"]));

    setup.proxy.reset_stats();
    let again = success(&run(
        &endpoint,
        &["push", &from, &to, "--format", "json", "-q"],
    ));
    assert!(
        kinds(&again).iter().all(|k| k == "skipped_unchanged"),
        "{again}"
    );
    assert!(!setup
        .proxy
        .log()
        .iter()
        .any(|e| e.method == "PUT" || e.method == "POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_is_copied_in_parts() {
    let setup = setup("copy-parts").await;
    let from = source(&setup, "parts").await;
    let to = format!("s3://{}/parts/", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    let document = success(&run(
        &endpoint,
        &[
            "push",
            &from,
            &to,
            "--copy-max",
            "20000",
            "--format",
            "json",
            "-q",
        ],
    ));
    let log = setup.proxy.log();
    let part_copies: Vec<_> = log
        .iter()
        .filter(|e| e.method == "PUT" && e.path.contains("x-id=UploadPartCopy"))
        .collect();
    assert_eq!(part_copies.len(), 1, "{log:#?}");
    assert!(part_copies[0].path.contains("model.safetensors"));
    let file = document["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .expect("model.safetensors")
        .clone();
    assert_eq!(file["action"]["kind"], "copied");
    assert_eq!(file["action"]["parts"], 1);
    // The source's full-object SHA-256 (stored by S3 when it was pushed) is the file's.
    let bytes = std::fs::read(llama().join("model.safetensors")).expect("read");
    assert_eq!(file["sha256"], hex_sha256(&bytes).as_str());
    assert!(setup.proxy.request_bytes() < 4096);

    success(&run(&endpoint, &["check", &to, "--format", "json"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_of_a_copy_is_the_manifest_of_the_folder() {
    let setup = setup("copy-manifest").await;
    let from = source(&setup, "manifest").await;
    let to = format!("s3://{}/manifest/", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    let out = tempfile::tempdir().expect("temp dir");
    let copied = out.path().join("copied.json");
    let listed = out.path().join("listed.json");
    success(&run(
        &endpoint,
        &[
            "push",
            &from,
            &to,
            "--manifest-out",
            copied.to_str().expect("UTF-8 path"),
            "-q",
        ],
    ));
    let fixture = llama();
    success(&run(
        &endpoint,
        &[
            "manifest",
            fixture.to_str().expect("UTF-8 path"),
            "-o",
            listed.to_str().expect("UTF-8 path"),
            "-q",
        ],
    ));
    let copied = cmi_agent::manifest::Manifest::read(&copied).expect("push manifest");
    let listed = cmi_agent::manifest::Manifest::read(&listed).expect("manifest");
    assert_eq!(copied.artifact_digest, listed.artifact_digest);
    assert_eq!(copied.source, from);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_needs_sha256_that_parts_copies_do_not_give() {
    let setup = setup("copy-composite").await;
    let bucket = "push-copy-src-composite";
    create_bucket(&setup.client, bucket, moto::REGION)
        .await
        .expect("create bucket");
    let from = format!("s3://{bucket}/llama/");
    let fixture = llama();
    let fixture = fixture.to_str().expect("UTF-8 path");
    // Files above 20,000 bytes go in a multipart upload: only a composite checksum.
    success(&run(
        &setup.proxy.endpoint(),
        &["push", fixture, &from, "--single-put-max", "20000", "-q"],
    ));
    setup.proxy.reset_stats();
    let to = format!("s3://{}/composite/", setup.bucket);
    let out = tempfile::tempdir().expect("temp dir");
    let manifest = out.path().join("copied.json");
    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            &from,
            &to,
            "--copy-max",
            "20000",
            "--manifest-out",
            manifest.to_str().expect("UTF-8 path"),
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model.safetensors"), "{stderr}");
    assert!(stderr.contains("manifest s3://"), "{stderr}");
    assert!(!manifest.exists());
    assert!(!setup
        .proxy
        .log()
        .iter()
        .any(|e| e.method == "PUT" || e.method == "POST"));
}
