//! `manifest s3://` and `verify` of a pushed artifact take each file's SHA-256 from the
//! checksum S3 holds for it (and verified when it was written) instead of reading it.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use cmi_agent::manifest::{DigestSource, Manifest};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::{run, setup, Setup};

/// The multipart file of the push (`--single-put-max` below its size): one part.
const MULTIPART: &str = "model.safetensors";

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama")
}

/// Runs the binary and fails with its stderr unless it exits with `status`.
fn run_ok(setup: &Setup, args: &[&str], status: i32) -> Vec<u8> {
    let output = run(&setup.proxy.endpoint(), args);
    assert_eq!(
        output.status.code(),
        Some(status),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Object bytes (GetObject response bodies) the proxy sent since `from` requests.
fn object_bytes(setup: &Setup, from: usize) -> u64 {
    setup.proxy.log()[from..]
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("x-id=GetObject"))
        .map(|e| e.response_bytes)
        .sum()
}

/// Pushes the fixture (every file in one PUT but [`MULTIPART`]) with its manifest, and
/// measures the object bytes `check` of the destination reads (the config files and the
/// safetensors header): what a manifest reads for its model summary.
fn push(setup: &Setup, out: &Path) -> (String, u64) {
    let destination = format!("s3://{}/llama/", setup.bucket);
    let pushed = out.join("pushed.json");
    run_ok(
        setup,
        &[
            "push",
            fixture().to_str().expect("UTF-8 path"),
            &destination,
            "--single-put-max",
            "20000",
            "--manifest-out",
            pushed.to_str().expect("UTF-8 path"),
            "-q",
        ],
        0,
    );
    let from = setup.proxy.log().len();
    run_ok(setup, &["check", &destination], 0);
    (destination, object_bytes(setup, from))
}

fn manifest_of(setup: &Setup, source: &str, out: &Path, reuse: Option<&Path>) -> (Manifest, u64) {
    let path = out.join("listed.json");
    let mut args = vec![
        "manifest",
        source,
        "-o",
        path.to_str().expect("UTF-8"),
        "-q",
    ];
    if let Some(reuse) = reuse {
        args.extend(["--reuse", reuse.to_str().expect("UTF-8")]);
    }
    let from = setup.proxy.log().len();
    run_ok(setup, &args, 0);
    let bytes = object_bytes(setup, from);
    (Manifest::read(&path).expect("manifest"), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_of_a_pushed_artifact_reads_no_object_that_has_its_sha256() {
    let setup = setup("s3digest-manifest").await;
    let out = tempfile::tempdir().expect("temp dir");
    let (destination, check_bytes) = push(&setup, out.path());
    let local = fixture();
    let (folder, _) = manifest_of(&setup, local.to_str().expect("UTF-8"), out.path(), None);
    let multipart_size = std::fs::metadata(local.join(MULTIPART))
        .expect("size")
        .len();

    let (listed, bytes) = manifest_of(&setup, &destination, out.path(), None);
    assert_eq!(listed.artifact_digest, folder.artifact_digest);
    // Only the multipart file is read, besides what the model summary's check reads.
    assert_eq!(bytes, check_bytes + multipart_size);
    for file in &listed.files {
        let expected = (file.path != MULTIPART).then_some(DigestSource::S3Checksum);
        assert_eq!(file.digest_source, expected, "{}", file.path);
        assert!(!file.reused);
        assert!(file.s3_checksum.is_some(), "{}", file.path);
    }

    // With the push manifest, the composite checksum of the multipart file lets its digest
    // stand: no object is read beyond the check's.
    let pushed = out.path().join("pushed.json");
    let (reused, bytes) = manifest_of(&setup, &destination, out.path(), Some(&pushed));
    assert_eq!(reused.artifact_digest, folder.artifact_digest);
    assert_eq!(bytes, check_bytes);
    let record = reused
        .files
        .iter()
        .find(|f| f.path == MULTIPART)
        .expect("listed");
    assert_eq!(record.digest_source, Some(DigestSource::S3Composite));
    assert!(record.reused);
    let text = std::fs::read_to_string(out.path().join("listed.json")).expect("read");
    assert!(text.contains("\"digest_source\": \"s3-composite\""));
    assert!(text.contains("\"digest_source\": \"s3-checksum\""));

    // A local folder's manifest records no digest source.
    assert!(folder.files.iter().all(|f| f.digest_source.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_of_a_pushed_artifact_compares_s3_checksums_and_catches_a_replaced_object() {
    let setup = setup("s3digest-verify").await;
    let out = tempfile::tempdir().expect("temp dir");
    let (destination, _) = push(&setup, out.path());
    let pushed = out.path().join("pushed.json");
    let pushed_arg = pushed.to_str().expect("UTF-8");

    let from = setup.proxy.log().len();
    let stdout = run_ok(
        &setup,
        &[
            "verify",
            &destination,
            "--manifest",
            pushed_arg,
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(object_bytes(&setup, from), 0);
    let document: Value = serde_json::from_slice(&stdout).expect("JSON");
    assert_eq!(document["mode"], "full");
    assert_eq!(document["compared"], 6);
    assert_eq!(document["by_s3_checksum"], 6);

    // Replaced behind push's back, same size, with its own full-object checksum: caught
    // from the checksum, without a read; the manifest takes the new object's.
    let original = std::fs::read(fixture().join("generation_config.json")).expect("read");
    let replaced: Vec<u8> = original
        .iter()
        .map(|b| if *b == b'1' { b'2' } else { *b })
        .collect();
    assert_ne!(original, replaced);
    setup
        .client
        .put_object()
        .bucket(&setup.bucket)
        .key("llama/generation_config.json")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(replaced.clone()))
        .send()
        .await
        .expect("put");
    // The multipart file replaced by the same size of other bytes, without a SHA-256: read.
    let mut other = std::fs::read(fixture().join(MULTIPART)).expect("read");
    let last = other.len() - 1;
    other[last] ^= 0xff;
    setup
        .client
        .put_object()
        .bucket(&setup.bucket)
        .key(format!("llama/{MULTIPART}"))
        .body(ByteStream::from(other.clone()))
        .send()
        .await
        .expect("put");

    let from = setup.proxy.log().len();
    let stdout = run_ok(
        &setup,
        &[
            "verify",
            &destination,
            "--manifest",
            pushed_arg,
            "--format",
            "json",
        ],
        1,
    );
    assert_eq!(object_bytes(&setup, from), other.len() as u64);
    let document: Value = serde_json::from_slice(&stdout).expect("JSON");
    assert_eq!(document["by_s3_checksum"], 5);
    let changed: Vec<(&str, &str)> = document["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or(""),
                f["file"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [("MF004", "generation_config.json"), ("MF004", MULTIPART)]
    );

    let (listed, _) = manifest_of(&setup, &destination, out.path(), Some(&pushed));
    let sha256 = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let record = |path: &str| {
        listed
            .files
            .iter()
            .find(|f| f.path == path)
            .expect("listed")
    };
    assert_eq!(record("generation_config.json").sha256, sha256(&replaced));
    assert_eq!(
        record("generation_config.json").digest_source,
        Some(DigestSource::S3Checksum)
    );
    assert_eq!(record(MULTIPART).sha256, sha256(&other));
    assert_eq!(record(MULTIPART).digest_source, None);
    assert!(!record(MULTIPART).reused);
}
