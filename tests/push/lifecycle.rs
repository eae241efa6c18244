//! The destination's life around a push: `--delete`, Ctrl-C, `--abort-incomplete`, and
//! resuming after kill -9.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::{Fault, Matcher, Proxy};

use crate::documents;
use crate::engine::{run, setup, Setup};

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;

/// Deterministic bytes that do not repeat at part boundaries.
fn content(len: usize, seed: u8) -> Vec<u8> {
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

/// A folder with `config.json` and a `model.safetensors` of `size` bytes (sent with
/// `--no-check`: the content is not a model).
fn folder(size: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("config.json"), b"{}").expect("write");
    std::fs::write(dir.path().join("model.safetensors"), content(size, 4)).expect("write");
    dir
}

async fn put(setup: &Setup, key: &str) {
    setup
        .client
        .put_object()
        .bucket(&setup.bucket)
        .key(key)
        .body(ByteStream::from_static(b"old"))
        .send()
        .await
        .expect("put");
}

async fn keys(setup: &Setup) -> Vec<String> {
    let listed = setup
        .client
        .list_objects_v2()
        .bucket(&setup.bucket)
        .send()
        .await
        .expect("list");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_string)
        .collect()
}

async fn uploads(setup: &Setup) -> Vec<String> {
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
        .filter_map(|u| u.key())
        .map(str::to_string)
        .collect()
}

fn push_args<'a>(dir: &'a Path, destination: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "push",
        dir.to_str().expect("UTF-8 path"),
        destination,
        "--no-check",
        "--part-size",
        "5242880",
        "--single-put-max",
        "1048576",
        "-q",
    ];
    args.extend_from_slice(extra);
    args
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    documents::typed(std::str::from_utf8(&output.stdout).expect("UTF-8"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_what_was_not_sent_under_the_prefix_only() {
    let setup = setup("lifecycle-delete").await;
    for key in [
        "model/stale.safetensors",
        "model/.cache/x.lock",
        "model-old/config.json",
        "root.json",
    ] {
        put(&setup, key).await;
    }
    let dir = folder(3000);
    // Without the trailing slash: the prefix is `model/`, and `model-old/` is a sibling.
    let destination = format!("s3://{}/model", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    let stale = ["model/.cache/x.lock", "model/stale.safetensors"];

    let dry = json(&run(
        &endpoint,
        &push_args(
            dir.path(),
            &destination,
            &["--delete", "--dry-run", "--format", "json"],
        ),
    ));
    assert_eq!(dry["deleted"], serde_json::json!(stale));
    assert_eq!(dry["pushed"], false);
    assert_eq!(keys(&setup).await.len(), 4, "a dry run deletes nothing");

    let done = json(&run(
        &endpoint,
        &push_args(dir.path(), &destination, &["--delete", "--format", "json"]),
    ));
    assert_eq!(done["deleted"], serde_json::json!(stale));
    assert_eq!(
        keys(&setup).await,
        vec![
            "model-old/config.json",
            "model/config.json",
            "model/model.safetensors",
            "root.json"
        ]
    );

    let text = run(
        &endpoint,
        &push_args(dir.path(), &destination, &["--delete"]),
    );
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("deleted 0 objects"));

    let root = run(
        &endpoint,
        &push_args(
            dir.path(),
            &format!("s3://{}/", setup.bucket),
            &["--delete"],
        ),
    );
    assert_eq!(root.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&root.stderr).contains("need a prefix"));
    assert_eq!(keys(&setup).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_after_a_failed_push_deletes_nothing() {
    let setup = setup("lifecycle-failed").await;
    put(&setup, "model/stale.safetensors").await;
    let dir = folder(3000);
    setup.proxy.fail_next_matching(
        100,
        Fault::S3Error {
            status: 403,
            code: "AccessDenied".to_string(),
            message: "Access Denied".to_string(),
        },
        Matcher {
            method: Some("PUT".to_string()),
            path_contains: None,
        },
    );
    let destination = format!("s3://{}/model/", setup.bucket);
    let output = run(
        &setup.proxy.endpoint(),
        &push_args(dir.path(), &destination, &["--delete"]),
    );
    setup.proxy.clear_faults();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(keys(&setup).await, vec!["model/stale.safetensors"]);
}

/// Spawns the binary as [`run`] runs it.
fn spawn(endpoint: &str, args: &[&str]) -> Child {
    let credentials = Moto::shared().credentials();
    Command::new(env!("CARGO_BIN_EXE_cmi-preflight"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["--endpoint-url", endpoint, "--region", moto::REGION])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

fn is_upload_part(path: &str) -> bool {
    path.contains("partNumber=") && path.contains("uploadId=")
}

/// The part numbers S3 (moto) answered 200 to.
fn parts_done(setup: &Setup) -> std::collections::BTreeSet<String> {
    setup
        .proxy
        .log()
        .iter()
        .filter(|e| e.method == "PUT" && is_upload_part(&e.path) && e.status == 200)
        .filter_map(|e| {
            e.path
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("partNumber="))
                .map(str::to_string)
        })
        .collect()
}

/// Delays every UploadPart, so that the run can be stopped with parts in flight.
fn slow_parts(setup: &Setup) {
    setup.proxy.fail_next_matching(
        1000,
        Fault::Delay(std::time::Duration::from_millis(700)),
        Matcher {
            method: Some("PUT".to_string()),
            path_contains: Some("partNumber=".to_string()),
        },
    );
}

/// Waits until S3 holds `parts` parts; panics when the run ends first.
fn wait_for_parts(setup: &Setup, child: &mut Child, parts: usize) {
    while parts_done(setup).len() < parts {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("the push ended ({status}) before {parts} parts were sent");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_the_upload_to_resume_and_abort_incomplete_cleans_up() {
    let setup = setup("lifecycle-ctrl-c").await;
    // An upload beside the prefix, which --abort-incomplete must not touch.
    setup
        .client
        .create_multipart_upload()
        .bucket(&setup.bucket)
        .key("model-old/model.safetensors")
        .send()
        .await
        .expect("create upload");
    let dir = folder(3 * PART);
    let destination = format!("s3://{}/model", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    slow_parts(&setup);
    let mut child = spawn(
        &endpoint,
        &push_args(dir.path(), &destination, &["--concurrency", "1"]),
    );
    wait_for_parts(&setup, &mut child, 1);
    // SAFETY: kill(2) on the id of a child this test started and has not reaped.
    let signalled = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(signalled, 0);
    let output = child.wait_with_output().expect("wait");
    setup.proxy.clear_faults();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    assert!(stderr.contains("--abort-incomplete"), "{stderr}");
    assert!(
        !keys(&setup)
            .await
            .contains(&"model/model.safetensors".to_string()),
        "no upload is completed after Ctrl-C"
    );
    assert_eq!(
        uploads(&setup).await,
        vec!["model-old/model.safetensors", "model/model.safetensors"]
    );

    let listed = run(
        &endpoint,
        &push_args(
            dir.path(),
            &destination,
            &["--abort-incomplete", "--dry-run"],
        ),
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("would abort 1 incomplete uploads"));
    assert_eq!(uploads(&setup).await.len(), 2);
    let aborted = run(
        &endpoint,
        &push_args(dir.path(), &destination, &["--abort-incomplete"]),
    );
    assert!(aborted.status.success());
    let text = String::from_utf8_lossy(&aborted.stdout);
    assert!(text.contains("model/model.safetensors"), "{text}");
    assert!(text.contains("aborted 1 incomplete uploads"), "{text}");
    assert_eq!(uploads(&setup).await, vec!["model-old/model.safetensors"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_upload_is_resumed_sending_only_the_missing_parts() {
    let setup = setup("lifecycle-kill").await;
    let size = 40 * MIB;
    let total_parts = size / PART;
    let dir = folder(size);
    let destination = format!("s3://{}/model/", setup.bucket);
    let endpoint = setup.proxy.endpoint();
    slow_parts(&setup);
    let mut child = spawn(
        &endpoint,
        &push_args(dir.path(), &destination, &["--concurrency", "2"]),
    );
    wait_for_parts(&setup, &mut child, 3);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    setup.proxy.clear_faults();
    let held = parts_done(&setup).len();
    assert!(held < total_parts);

    // A proxy of its own for the second run: parts of the killed run that the first one was
    // still delaying are read from their sockets after the kill, and must not be counted.
    let proxy = Proxy::start(&Moto::shared().endpoint());
    // moto 5.2.5 names ListParts' root element `ListPartsResponse` where S3 has
    // `ListPartsResult`, which the SDK refuses: renamed on the way back.
    proxy.fail_next_matching(
        10,
        Fault::ReplaceInBody {
            from: "ListPartsResponse".to_string(),
            to: "ListPartsResult".to_string(),
        },
        Matcher {
            method: Some("GET".to_string()),
            path_contains: Some("uploadId=".to_string()),
        },
    );
    let document = json(&run(
        &proxy.endpoint(),
        &push_args(dir.path(), &destination, &["--format", "json"]),
    ));
    let file = document["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .expect("the large file");
    // moto 5.2.5 lists no part checksums: the parts it holds are proven intact by their
    // ETag, the MD5 of the part's bytes (docs/push.md), and the SHA-256 composite read back.
    assert_eq!(file["action"]["kind"], "resumed");
    let reused = file["action"]["parts_reused"].as_u64().expect("count") as usize;
    assert!(reused >= held, "{reused} parts reused, {held} held");
    let missing = (total_parts - held) * PART;
    let sent = file["bytes_sent"].as_u64().expect("bytes") as usize;
    assert_eq!(sent, (total_parts - reused) * PART);
    assert!(sent <= missing, "{sent} bytes sent, {missing} missing");
    // The proxy's count: the parts' bodies, plus CompleteMultipartUpload's XML.
    let on_the_wire = proxy.request_bytes() as usize;
    assert!(on_the_wire >= sent);
    assert!(
        on_the_wire <= missing + 64 * 1024,
        "{on_the_wire} bytes sent"
    );
    assert!(uploads(&setup).await.is_empty());
}
