//! Encryption and ownership: SSE-KMS headers and checksums on the stored objects (boto3 as the
//! oracle), the `aws/s3` key warned about (S3005), SSE-C refused, `--expected-bucket-owner`
//! on every request, and a denied identity named with the permission it lacks.
//!
//! moto 5.2.5 does not enforce `x-amz-expected-bucket-owner` (a mismatching account is
//! served), nor KMS permissions on an SSE-KMS PutObject (an identity with `s3:*` and no KMS
//! permission writes SSE-KMS objects): the owner test therefore checks that every request
//! carries the header and answers the first one as S3 does on a mismatch (403), and the KMS
//! denial test has the proxy answer the writes as S3 does when the caller may not use the key
//! (403 AccessDenied naming kms:GenerateDataKey, the form of the AWS KMS Developer Guide's
//! "Troubleshooting key access"), after moto's own KMS key was created.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::{Fault, Matcher, Proxy};
use cmi_testkit::s3::create_bucket;
use serde_json::Value;

use crate::engine::{base64_sha256, run, setup};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `head_object` of every key under `prefix`, by boto3, as JSON lines.
fn heads(endpoint: &str, bucket: &str, prefix: &str) -> Vec<Value> {
    let python = std::env::var("CMI_TEST_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into());
    let script = r#"
import boto3, json, sys
endpoint, bucket, prefix = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        h = s3.head_object(Bucket=bucket, Key=o["Key"], ChecksumMode="ENABLED")
        print(json.dumps({"Key": o["Key"], "ServerSideEncryption": h.get("ServerSideEncryption"),
                          "SSEKMSKeyId": h.get("SSEKMSKeyId"), "BucketKeyEnabled": h.get("BucketKeyEnabled"),
                          "ChecksumSHA256": h.get("ChecksumSHA256")}))
"#;
    let output = std::process::Command::new(python)
        .args(["-c", script, endpoint, bucket, prefix])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_objects_carry_the_key_a_bucket_key_and_the_sha256() {
    let setup = setup("security-kms").await;
    let moto = Moto::shared();
    let kms = moto.kms_client().await;
    let key_arn = kms
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_string())
        .expect("key");
    let destination = format!("s3://{}/llama/", setup.bucket);
    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            fixture().to_str().expect("UTF-8"),
            &destination,
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            &key_arn,
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let heads = heads(&moto.endpoint(), &setup.bucket, "llama/");
    assert!(!heads.is_empty());
    for head in heads {
        assert_eq!(head["ServerSideEncryption"], "aws:kms", "{head}");
        assert_eq!(head["SSEKMSKeyId"], key_arn.as_str(), "{head}");
        assert_eq!(head["BucketKeyEnabled"], true, "{head}");
        let key = head["Key"].as_str().expect("key");
        let bytes = std::fs::read(fixture().join(key.trim_start_matches("llama/"))).expect("read");
        let size = bytes.len();
        if size <= cmi_agent::push::DEFAULT_SINGLE_PUT_MAX as usize {
            let expected = base64_sha256(&bytes);
            assert_eq!(head["ChecksumSHA256"], expected.as_str(), "{head}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_denial_names_kms_generate_data_key_and_the_key_and_nothing_looks_complete() {
    let setup = setup("security-kms-denied").await;
    let moto = Moto::shared();
    let key_arn = moto
        .kms_client()
        .await
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_string())
        .expect("key");
    let denial = format!(
        "User: arn:aws:iam::{}:user/pusher is not authorized to perform: kms:GenerateDataKey on resource: {key_arn} because no identity-based policy allows the kms:GenerateDataKey action",
        moto::ACCOUNT_ID
    );
    for method in ["PUT", "POST"] {
        setup.proxy.fail_next_matching(
            1000,
            Fault::S3Error {
                status: 403,
                code: "AccessDenied".into(),
                message: denial.clone(),
            },
            Matcher {
                method: Some(method.into()),
                path_contains: Some("/llama/".into()),
            },
        );
    }
    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            fixture().to_str().expect("UTF-8"),
            &format!("s3://{}/llama/", setup.bucket),
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            &key_arn,
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kms:GenerateDataKey on the KMS key"),
        "{stderr}"
    );
    assert!(stderr.contains(&key_arn), "{stderr}");
    assert!(heads(&moto.endpoint(), &setup.bucket, "llama/").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_s3_key_is_warned_about_and_stops_a_strict_push() {
    let setup = setup("security-aws-s3").await;
    let destination = format!("s3://{}/llama/", setup.bucket);
    let source = fixture();
    let source = source.to_str().expect("UTF-8");
    let args = [
        "push",
        source,
        &destination,
        "--sse-kms-key-id",
        "alias/aws/s3",
        "--format",
        "json",
    ];
    let dry = run(
        &setup.proxy.endpoint(),
        &[&args[..], &["--dry-run"]].concat(),
    );
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let json: Value = serde_json::from_slice(&dry.stdout).expect("JSON");
    assert_eq!(json["warnings"][0]["code"], "S3005", "{json}");
    let strict = run(
        &setup.proxy.endpoint(),
        &[&args[..], &["--strict"]].concat(),
    );
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    let json: Value = serde_json::from_slice(&strict.stdout).expect("JSON");
    assert_eq!(json["pushed"], false);
    assert_eq!(json["warnings"][0]["code"], "S3005");
    let listed = setup
        .client
        .list_objects_v2()
        .bucket(&setup.bucket)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_default_aws_s3_key_is_warned_about() {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let setup = setup("security-default").await;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .build()
        .expect("default");
    setup
        .client
        .put_bucket_encryption()
        .bucket(&setup.bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .build(),
                )
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .expect("PutBucketEncryption");
    let destination = format!("s3://{}/llama/", setup.bucket);
    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            fixture().to_str().expect("UTF-8"),
            &destination,
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("warning[S3005]"), "{stdout}");
    assert!(stdout.contains("default encryption"), "{stdout}");
}

#[test]
fn sse_c_is_refused_with_the_reason() {
    let output = run(
        "http://127.0.0.1:9",
        &[
            "push",
            fixture().to_str().expect("UTF-8"),
            "s3://bucket-x/llama/",
            "--sse-c",
            "--sse-c-key",
            "fileb://key",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("S3004"), "{stderr}");
    assert!(stderr.contains("cannot read SSE-C objects"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_the_expected_owner_and_a_mismatch_writes_nothing() {
    let setup = setup("security-owner").await;
    let destination = format!("s3://{}/llama/", setup.bucket);
    let source = fixture();
    let source = source.to_str().expect("UTF-8");
    let output = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            source,
            &destination,
            "--expected-bucket-owner",
            moto::ACCOUNT_ID,
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let log = setup.proxy.log();
    assert!(!log.is_empty());
    for exchange in &log {
        assert_eq!(
            exchange.expected_bucket_owner.as_deref(),
            Some(moto::ACCOUNT_ID),
            "{exchange:?}"
        );
    }

    // moto serves any owner; S3 answers a mismatch with 403, as the proxy does here.
    let other = format!("s3://{}/other/", setup.bucket);
    setup.proxy.reset_stats();
    setup.proxy.fail_next_matching(
        1,
        Fault::S3Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
        },
        Matcher {
            method: Some("HEAD".into()),
            path_contains: None,
        },
    );
    let refused = run(
        &setup.proxy.endpoint(),
        &[
            "push",
            source,
            &other,
            "--expected-bucket-owner",
            "111122223333",
            "-q",
        ],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&setup.bucket), "{stderr}");
    assert!(stderr.contains("111122223333"), "{stderr}");
    assert!(setup
        .proxy
        .log()
        .iter()
        .all(|e| e.method != "PUT" && e.method != "POST"));
}

#[test]
fn an_identity_without_put_object_is_named_and_nothing_looks_complete() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bucket = "security-iam";
    let reader = runtime.block_on(async {
        let config = moto.sdk_config().await;
        create_bucket(&moto::s3_client(&config), bucket, moto::REGION)
            .await
            .expect("bucket");
        let iam = moto.iam_client().await;
        moto::create_user(&iam, "reader", &moto::s3_read_policy(bucket, "")).await
    });
    moto.enforce_auth(0);
    let proxy = Proxy::start(&moto.endpoint());
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args([
            "push",
            fixture().to_str().expect("UTF-8"),
            &format!("s3://{bucket}/llama/"),
            "-q",
            "--endpoint-url",
            &proxy.endpoint(),
            "--region",
            moto::REGION,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", reader.credentials.access_key_id())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            reader.credentials.secret_access_key(),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("binary runs");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("s3:PutObject"), "{stderr}");
    assert!(
        stderr.contains(&format!("arn:aws:s3:::{bucket}/llama/")),
        "{stderr}"
    );
    // Listed as the reader, with IAM still enforced: a request of the push that moto was still
    // handling when the push exited is checked as it was sent, never after the check is off.
    let listed = runtime.block_on(async {
        let config = moto
            .sdk_config_with(reader.credentials.clone(), moto::REGION)
            .await;
        moto::s3_client(&config)
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list")
    });
    assert_eq!(listed.key_count(), Some(0));
}
