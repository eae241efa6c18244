//! `push hf://org/name s3://bucket/prefix/`: the files streamed from the Hub emulator to moto
//! are the local folder's (same keys, sizes, SHA-256, checksums, artifact digest), with the
//! Hub's repository and commit as provenance; a byte corrupted on the way is caught before any
//! object completes (HF003, exit 2, no object, no upload left).

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use cmi_testkit::hub::{HubEmulator, HubFault, HubRepo};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::create_bucket;
use serde_json::Value;

const REPO: &str = "acme/llama-sharded";
const SHARD: &str = "model-00001-of-00002.safetensors";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama-sharded")
}

async fn bucket(name: &str) -> (aws_sdk_s3::Client, String) {
    let moto = Moto::shared();
    let config = moto::sdk_config_for(&moto.endpoint(), moto.credentials(), moto::REGION).await;
    let client = moto::s3_client(&config);
    let bucket = format!("hub-push-{name}");
    create_bucket(&client, &bucket, moto::REGION)
        .await
        .expect("create bucket");
    (client, bucket)
}

/// Runs the binary against moto, with the Hub emulator as HF_ENDPOINT and an empty HF_HOME.
fn run(hub: &HubEmulator, args: &[&str]) -> Output {
    let moto = Moto::shared();
    let credentials = moto.credentials();
    let home = tempfile::tempdir().expect("temp dir");
    Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HF_ENDPOINT", hub.endpoint())
        .env("HF_HOME", home.path())
        .args(["--endpoint-url", &moto.endpoint(), "--region", moto::REGION])
        .output()
        .expect("binary runs")
}

fn json(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON document")
}

/// `(path, size, sha256, s3_checksum)` of every file of a push document.
fn files(document: &Value) -> Vec<(String, u64, String, String)> {
    document["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["size"].as_u64().unwrap_or_default(),
                f["sha256"].as_str().unwrap_or_default().to_string(),
                f["s3_checksum"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, i64)> {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list");
    listed
        .contents()
        .iter()
        .map(|o| {
            (
                o.key()
                    .unwrap_or_default()
                    .trim_start_matches(prefix)
                    .to_string(),
                o.size().unwrap_or_default(),
            )
        })
        .collect()
}

async fn uploads_left(client: &aws_sdk_s3::Client, bucket: &str) -> usize {
    client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_from_the_hub_equals_a_push_of_the_folder() {
    let (client, bucket) = bucket("equal").await;
    let hub = HubEmulator::start(vec![HubRepo::new(REPO, fixture())]).expect("emulator");
    let folder = fixture();
    let local = json(&run(
        &hub,
        &[
            "push",
            folder.to_str().expect("UTF-8 path"),
            &format!("s3://{bucket}/local/"),
            "--format",
            "json",
            "--quiet",
        ],
    ));
    // Small parts, so that the shards go in multipart uploads streamed by ranges.
    for (prefix, single_put_max) in [("hub/", "8388608"), ("hub-parts/", "1000")] {
        let streamed = json(&run(
            &hub,
            &[
                "push",
                &format!("hf://{REPO}"),
                &format!("s3://{bucket}/{prefix}"),
                "--single-put-max",
                single_put_max,
                "--format",
                "json",
                "--quiet",
            ],
        ));
        assert_eq!(streamed["pushed"], true);
        assert_eq!(streamed["artifact_digest"], local["artifact_digest"]);
        let (a, b) = (files(&local), files(&streamed));
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!((&a.0, a.1, &a.2), (&b.0, b.1, &b.2));
            if single_put_max != "1000" {
                assert_eq!(a.3, b.3, "{}", a.0);
            }
        }
        assert_eq!(
            keys(&client, &bucket, "local/").await,
            keys(&client, &bucket, prefix).await
        );
        let provenance = &streamed["provenance"];
        assert_eq!(provenance["repo"], REPO);
        assert_eq!(provenance["commit"], hub.commit(REPO, "main"));
        assert!(local.get("provenance").is_none());
    }
    assert_eq!(uploads_left(&client, &bucket).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_byte_is_caught_before_the_object_completes() {
    let (client, bucket) = bucket("corrupt").await;
    let hub = HubEmulator::start(vec![HubRepo::new(REPO, fixture())]).expect("emulator");
    let size = std::fs::metadata(fixture().join(SHARD))
        .expect("shard")
        .len();
    hub.fault(HubFault::CorruptByte {
        repo_id: REPO.to_string(),
        path: SHARD.to_string(),
        offset: size - 7,
    });
    // One PutObject (never sent), then a multipart upload (aborted).
    for (prefix, single_put_max) in [("single/", "8388608"), ("parts/", "1000")] {
        let output = run(
            &hub,
            &[
                "push",
                &format!("hf://{REPO}"),
                &format!("s3://{bucket}/{prefix}"),
                "--single-put-max",
                single_put_max,
                "--concurrency",
                "1",
                "--quiet",
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("HF003") && stderr.contains(SHARD),
            "{stderr}"
        );
        let missing = client
            .head_object()
            .bucket(&bucket)
            .key(format!("{prefix}{SHARD}"))
            .send()
            .await;
        assert!(missing.is_err(), "an object appeared: {missing:?}");
        assert_eq!(uploads_left(&client, &bucket).await, 0);
    }
}
