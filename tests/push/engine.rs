//! The upload engine: single PUT with S3's full-object SHA-256, multipart with SHA-256
//! part checksums, skip unchanged, retries, and the manifest written from the upload.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use assert_cmd::Command;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use cmi_agent::hash::NoProgress;
use cmi_agent::push::{self, Action, Destination, PushOptions, PushReport};
use cmi_agent::{LocalSource, S3Uri};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::{Fault, Matcher, Proxy};
use cmi_testkit::s3::create_bucket;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

/// Deterministic bytes that do not repeat at part boundaries.
pub(crate) fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut state = u64::from(seed) + 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

pub(crate) fn base64_sha256(bytes: &[u8]) -> String {
    aws_smithy_base64(&Sha256::digest(bytes))
}

fn aws_smithy_base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// The composite checksum S3 gives an upload cut at `part` bytes: the SHA-256 of the part
/// digests, and the part count.
fn composite(bytes: &[u8], part: usize) -> String {
    let mut outer = Sha256::new();
    let parts = bytes
        .chunks(part)
        .map(|c| outer.update(Sha256::digest(c)))
        .count();
    format!("{}-{parts}", aws_smithy_base64(&outer.finalize()))
}

/// A folder with a small file and a 12 MiB one.
fn folder() -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = content(3000, 1);
    let large = content(12 * MIB + 123, 2);
    std::fs::write(dir.path().join("config.json"), &small).expect("write");
    std::fs::write(dir.path().join("model.safetensors"), &large).expect("write");
    (dir, small, large)
}

pub(crate) struct Setup {
    pub(crate) proxy: Proxy,
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
}

pub(crate) async fn setup(name: &str) -> Setup {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint());
    let config = moto::sdk_config_for(&proxy.endpoint(), moto.credentials(), moto::REGION).await;
    let client = moto::s3_client(&config);
    let bucket = format!("push-engine-{name}");
    create_bucket(&client, &bucket, moto::REGION)
        .await
        .expect("create bucket");
    proxy.reset_stats();
    Setup {
        proxy,
        client,
        bucket,
    }
}

fn options() -> PushOptions {
    PushOptions {
        concurrency: 4,
        part_size: Some(5 * MIB as u64),
        single_put_max: MIB as u64,
        ..PushOptions::default()
    }
}

async fn push_dir(setup: &Setup, dir: &Path) -> PushReport {
    let source = LocalSource::open(dir).expect("open");
    let destination = Destination {
        client: setup.client.clone(),
        uri: S3Uri::from_str_checked(&format!("s3://{}/model/", setup.bucket)),
    };
    push_all(&source, &destination, &options())
        .await
        .expect("push")
}

/// Plans (every file the selection table sends, no check) and pushes.
async fn push_all(
    source: &LocalSource,
    destination: &Destination,
    options: &PushOptions,
) -> Result<PushReport, push::PushError> {
    let plan = push::plan(source, &push::PlanOptions::default()).await?;
    push::push(source, &plan, destination, options, Arc::new(NoProgress)).await
}

trait Parse {
    fn from_str_checked(text: &str) -> S3Uri;
}

impl Parse for S3Uri {
    fn from_str_checked(text: &str) -> S3Uri {
        text.parse().expect("S3 URI")
    }
}

async fn stored_checksum(setup: &Setup, key: &str) -> (i64, Option<String>) {
    let head = setup
        .client
        .head_object()
        .bucket(&setup.bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    (
        head.content_length().unwrap_or(-1),
        head.checksum_sha256().map(str::to_string),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_carry_their_full_sha256_and_large_ones_sha256_parts() {
    let setup = setup("checksums").await;
    let (dir, small, large) = folder();
    let report = push_dir(&setup, dir.path()).await;

    assert_eq!(report.files.len(), 2);
    let (size, checksum) = stored_checksum(&setup, "model/config.json").await;
    assert_eq!(size, small.len() as i64);
    assert_eq!(checksum.as_deref(), Some(base64_sha256(&small).as_str()));
    let (size, checksum) = stored_checksum(&setup, "model/model.safetensors").await;
    assert_eq!(size, large.len() as i64);
    // S3 answers `base64-3`; moto's HeadObject leaves out the part count.
    let expected = composite(&large, 5 * MIB);
    let checksum = checksum.expect("a composite checksum");
    assert!(
        expected.starts_with(checksum.trim_end_matches("-3")),
        "{checksum}"
    );
    assert!(expected.ends_with("-3"));

    for (file, bytes) in report.files.iter().zip([&small, &large]) {
        assert_eq!(file.action, Action::Uploaded);
        assert_eq!(file.sha256, hex::encode(Sha256::digest(bytes)));
        assert_eq!(file.bytes_sent, bytes.len() as u64);
    }
    assert_eq!(report.files[0].s3_checksum, base64_sha256(&small));
    assert_eq!(report.files[1].s3_checksum, composite(&large, 5 * MIB));

    let writes: Vec<_> = setup
        .proxy
        .log()
        .into_iter()
        .filter(|e| e.method == "PUT")
        .collect();
    // One PutObject, three UploadPart.
    assert_eq!(writes.len(), 4, "{writes:#?}");
    for write in &writes {
        assert_eq!(
            write.checksum_headers,
            vec!["x-amz-checksum-sha256".to_string()],
            "{} sent other checksums than the SHA-256",
            write.path
        );
    }
    // Each object byte once, plus CompleteMultipartUpload's list of parts.
    let objects = (small.len() + large.len()) as u64;
    let sent = setup.proxy.request_bytes();
    assert!(
        (objects..objects + 4096).contains(&sent),
        "{sent} bytes sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_push_sends_no_object_bytes() {
    let setup = setup("unchanged").await;
    let (dir, _, _) = folder();
    push_dir(&setup, dir.path()).await;
    setup.proxy.reset_stats();

    let again = push_dir(&setup, dir.path()).await;
    assert!(again
        .files
        .iter()
        .all(|f| f.action == Action::SkippedUnchanged && f.bytes_sent == 0));
    assert_eq!(setup.proxy.request_bytes(), 0);
    assert!(setup.proxy.log().iter().all(|e| e.method == "HEAD"));

    // A changed file of the same size is sent again; the other is not.
    let changed = content(3000, 9);
    std::fs::write(dir.path().join("config.json"), &changed).expect("write");
    setup.proxy.reset_stats();
    let third = push_dir(&setup, dir.path()).await;
    assert_eq!(third.files[0].action, Action::Uploaded);
    assert_eq!(third.files[1].action, Action::SkippedUnchanged);
    assert_eq!(setup.proxy.request_bytes(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_part_is_retried() {
    let setup = setup("retried").await;
    let (dir, _, large) = folder();
    setup.proxy.fail_next_matching(
        1,
        Fault::Status503SlowDown,
        Matcher {
            method: Some("PUT".to_string()),
            path_contains: Some("partNumber=2".to_string()),
        },
    );
    let report = push_dir(&setup, dir.path()).await;
    assert_eq!(setup.proxy.pending_faults(), 0);
    assert!(setup
        .proxy
        .log()
        .iter()
        .any(|e| e.fault == Some(Fault::Status503SlowDown) && e.path.contains("partNumber=2")));
    assert_eq!(report.files[1].s3_checksum, composite(&large, 5 * MIB));
}

pub(crate) fn run(endpoint: &str, args: &[&str]) -> Output {
    let credentials = Moto::shared().credentials();
    Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["--endpoint-url", endpoint, "--region", moto::REGION])
        .output()
        .expect("binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_of_a_push_is_the_manifest_of_the_folder() {
    let setup = setup("manifest").await;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama");
    let out = tempfile::tempdir().expect("temp dir");
    let pushed = out.path().join("pushed.json");
    let listed = out.path().join("listed.json");
    let endpoint = setup.proxy.endpoint();
    let destination = format!("s3://{}/llama/", setup.bucket);
    let fixture_arg = fixture.to_str().expect("UTF-8 path");
    let output = run(
        &endpoint,
        &[
            "push",
            fixture_arg,
            &destination,
            "--manifest-out",
            pushed.to_str().expect("UTF-8 path"),
            "--format",
            "json",
            "-q",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let output = run(
        &endpoint,
        &[
            "manifest",
            fixture_arg,
            "-o",
            listed.to_str().expect("UTF-8 path"),
            "-q",
        ],
    );
    assert!(output.status.success());

    let pushed = cmi_agent::manifest::Manifest::read(&pushed).expect("push manifest");
    let listed = cmi_agent::manifest::Manifest::read(&listed).expect("manifest");
    assert_eq!(pushed.schema, listed.schema);
    assert_eq!(pushed.artifact_digest, listed.artifact_digest);
    assert_eq!(pushed.source, listed.source);
    assert_eq!(pushed.model, listed.model);
    assert_eq!(summary["artifact_digest"], pushed.artifact_digest.as_str());
    for (a, b) in pushed.files.iter().zip(&listed.files) {
        assert_eq!((&a.path, a.size, &a.sha256), (&b.path, b.size, &b.sha256));
        assert_eq!(a.last_modified, b.last_modified);
        assert!(b.s3_checksum.is_none());
        let bytes = std::fs::read(fixture.join(&a.path)).expect("read");
        assert_eq!(
            a.s3_checksum.as_deref(),
            Some(base64_sha256(&bytes).as_str())
        );
    }
    assert_eq!(pushed.files.len(), listed.files.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_is_continued() {
    let setup = setup("resumed").await;
    let (dir, _, large) = folder();
    let key = "model/model.safetensors";
    let part = 5 * MIB;
    // A run that stopped after sending part 1, and part 2 with other bytes.
    let created = setup
        .client
        .create_multipart_upload()
        .bucket(&setup.bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("create upload");
    let upload_id = created.upload_id().expect("upload id").to_string();
    let stale = content(part, 7);
    for (number, bytes) in [(1, &large[..part]), (2, &stale[..])] {
        setup
            .client
            .upload_part()
            .bucket(&setup.bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64_sha256(bytes))
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .expect("upload part");
    }
    setup.proxy.reset_stats();

    let report = push_dir(&setup, dir.path()).await;
    let file = &report.files[1];
    // moto 5.2.5 answers ListParts with a `ListPartsResponse` root element where S3 has
    // `ListPartsResult`, which the SDK refuses: the upload cannot be continued, so the file
    // goes in a new upload and the interrupted one is left as it was.
    assert_eq!(file.action, Action::Uploaded);
    assert_eq!(file.s3_checksum, composite(&large, part));
    assert_eq!(uploads_left(&setup).await, vec![upload_id.clone()]);

    // With the root element S3's, the interrupted upload is continued and completed. moto
    // lists no part checksums, so no part can be proven intact and every part is sent
    // again; S3 lists them, and an intact part is not.
    std::fs::write(
        dir.path().join("model.safetensors"),
        content(12 * MIB + 123, 3),
    )
    .expect("write");
    setup.proxy.fail_next_matching(
        1,
        Fault::ReplaceInBody {
            from: "ListPartsResponse".to_string(),
            to: "ListPartsResult".to_string(),
        },
        Matcher {
            method: Some("GET".to_string()),
            path_contains: Some("uploadId=".to_string()),
        },
    );
    let report = push_dir(&setup, dir.path()).await;
    assert_eq!(report.files[1].action, Action::Resumed { parts_reused: 0 });
    assert_eq!(setup.proxy.pending_faults(), 0);
    assert!(uploads_left(&setup).await.is_empty());
}

pub(crate) async fn uploads_left(setup: &Setup) -> Vec<String> {
    let listed = setup
        .client
        .list_multipart_uploads()
        .bucket(&setup.bucket)
        .send()
        .await
        .expect("list uploads");
    listed
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_that_keeps_failing_leaves_no_object() {
    let setup = setup("failing").await;
    let (dir, _, _) = folder();
    setup.proxy.fail_next_matching(
        50,
        Fault::Status503SlowDown,
        Matcher {
            method: Some("PUT".to_string()),
            path_contains: Some("partNumber=2".to_string()),
        },
    );
    let source = LocalSource::open(dir.path()).expect("open");
    let destination = Destination {
        client: setup.client.clone(),
        uri: S3Uri::from_str_checked(&format!("s3://{}/model/", setup.bucket)),
    };
    let error = push_all(&source, &destination, &options())
        .await
        .expect_err("a part S3 never accepts");
    setup.proxy.clear_faults();
    let text = error.to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("UploadPart"),
        "{text}"
    );
    let missing = setup
        .client
        .head_object()
        .bucket(&setup.bucket)
        .key("model/model.safetensors")
        .send()
        .await;
    assert!(missing.is_err(), "an object appeared: {missing:?}");
    assert!(!setup
        .proxy
        .log()
        .iter()
        .any(|e| e.method == "POST" && e.path.contains("uploadId=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_encrypted_with_the_kms_key_given() {
    let setup = setup("kms").await;
    let kms = Moto::shared().kms_client().await;
    let key = kms.create_key().send().await.expect("create key");
    let key_arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("key ARN")
        .to_string();
    let (dir, _, _) = folder();
    let source = LocalSource::open(dir.path()).expect("open");
    let destination = Destination {
        client: setup.client.clone(),
        uri: S3Uri::from_str_checked(&format!("s3://{}/model/", setup.bucket)),
    };
    let options = PushOptions {
        sse: Some(push::Sse::Kms {
            key_id: Some(key_arn.clone()),
        }),
        ..options()
    };
    push_all(&source, &destination, &options)
        .await
        .expect("push");
    for key in ["model/config.json", "model/model.safetensors"] {
        let head = setup
            .client
            .head_object()
            .bucket(&setup.bucket)
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert_eq!(head.ssekms_key_id(), Some(key_arn.as_str()), "{key}");
    }
}
