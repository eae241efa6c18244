//! Push from any source by ranged reads (the path of `push hf://`), here from a local folder
//! read through `Source::read_range`: the same objects, checksums and manifest as a local
//! push; a file whose bytes differ from the SHA-256 the source publishes is refused (HF003)
//! with no object and no upload left; the reads stay within the byte budget.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cmi_agent::hash::{FileDigest, HashError, HashOptions, NoProgress, Progress};
use cmi_agent::push::{self, Action, Destination, Plan, PushError, PushOptions, PushReport};
use cmi_agent::source::{Listing, ReadError, Source, SourceError};
use cmi_agent::{LocalSource, S3Uri};
use cmi_format::Summary;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::engine::{content, setup, uploads_left, Setup};

const MIB: usize = 1024 * 1024;

fn options() -> PushOptions {
    PushOptions {
        concurrency: 4,
        part_size: Some(5 * MIB as u64),
        single_put_max: MIB as u64,
        ..PushOptions::default()
    }
}

/// A folder with a small file and a 12 MiB one (three 5 MiB parts).
fn folder() -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = content(3000, 7);
    let large = content(12 * MIB + 321, 8);
    std::fs::write(dir.path().join("config.json"), &small).expect("write");
    std::fs::write(dir.path().join("model.safetensors"), &large).expect("write");
    (dir, small, large)
}

fn destination(setup: &Setup, prefix: &str) -> Destination {
    Destination {
        client: setup.client.clone(),
        uri: format!("s3://{}/{prefix}/", setup.bucket)
            .parse::<S3Uri>()
            .expect("S3 URI"),
    }
}

/// The plan of every file, each with `published` as the SHA-256 its source publishes.
async fn plan_with<S: Source>(source: &S, published: &BTreeMap<&str, String>) -> Plan {
    let mut plan = push::plan(source, &push::PlanOptions::default())
        .await
        .expect("plan");
    for (path, digest) in published {
        plan.listing
            .meta
            .entry((*path).to_string())
            .or_default()
            .published_sha256 = Some(digest.clone());
    }
    plan
}

async fn stream<S: Source>(
    source: &S,
    plan: &Plan,
    destination: &Destination,
) -> Result<PushReport, PushError> {
    push::push_from_source(source, plan, destination, &options(), Arc::new(NoProgress)).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn object_exists(setup: &Setup, key: &str) -> bool {
    setup
        .client
        .head_object()
        .bucket(&setup.bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_push_equals_a_local_push() {
    let setup = setup("stream-equal").await;
    let (dir, small, large) = folder();
    let source = LocalSource::open(dir.path()).expect("open");
    let published = BTreeMap::from([
        ("config.json", sha256_hex(&small)),
        ("model.safetensors", sha256_hex(&large).to_uppercase()),
    ]);
    let plan = plan_with(&source, &published).await;

    let local = push::push(
        &source,
        &plan,
        &destination(&setup, "local"),
        &options(),
        Arc::new(NoProgress),
    )
    .await
    .expect("local push");
    setup.proxy.reset_stats();
    let streamed = stream(&source, &plan, &destination(&setup, "streamed"))
        .await
        .expect("streamed push");

    assert_eq!(streamed.files.len(), 2);
    for (a, b) in local.files.iter().zip(&streamed.files) {
        assert_eq!(a.path, b.path);
        assert_eq!(a.key.replacen("local/", "streamed/", 1), b.key);
        assert_eq!(a.size, b.size);
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(a.s3_checksum, b.s3_checksum);
        assert_eq!(b.action, Action::Uploaded);
        assert_eq!(b.bytes_sent, b.size);
    }
    assert_eq!(streamed.files[1].sha256, sha256_hex(&large));
    // Each object byte sent once, plus CompleteMultipartUpload's list of parts.
    let objects = (small.len() + large.len()) as u64;
    let sent = setup.proxy.request_bytes();
    assert!(
        (objects..objects + 4096).contains(&sent),
        "{sent} bytes sent"
    );
    let manifest = |report: &PushReport| {
        report
            .manifest("source", Summary::default(), &plan.listing.meta)
            .artifact_digest
    };
    assert_eq!(manifest(&local), manifest(&streamed));

    // A second streamed push sends nothing: the destination holds the same bytes.
    setup.proxy.reset_stats();
    let again = stream(&source, &plan, &destination(&setup, "streamed"))
        .await
        .expect("second push");
    assert!(again
        .files
        .iter()
        .all(|f| f.action == Action::SkippedUnchanged && f.bytes_sent == 0));
    assert_eq!(again.files, {
        let mut files = streamed.files.clone();
        for f in &mut files {
            f.action = Action::SkippedUnchanged;
            f.bytes_sent = 0;
        }
        files
    });
    assert!(!setup.proxy.log().iter().any(|e| e.method == "PUT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_that_differs_from_its_published_digest_is_aborted() {
    let setup = setup("stream-mismatch-large").await;
    let (dir, small, large) = folder();
    let source = LocalSource::open(dir.path()).expect("open");
    let mut wrong = large.clone();
    wrong[6 * MIB] ^= 1;
    let published = BTreeMap::from([
        ("config.json", sha256_hex(&small)),
        ("model.safetensors", sha256_hex(&wrong)),
    ]);
    let plan = plan_with(&source, &published).await;
    let error = stream(&source, &plan, &destination(&setup, "model"))
        .await
        .expect_err("the bytes differ from the published SHA-256");
    let PushError::DigestMismatch {
        path,
        published: claimed,
        read,
    } = &error
    else {
        panic!("not HF003: {error}");
    };
    assert_eq!(path, "model.safetensors");
    assert_eq!(claimed, &sha256_hex(&wrong));
    assert_eq!(read, &sha256_hex(&large));
    let text = error.to_string();
    assert!(
        text.contains("HF003") && text.contains("hub-digest-mismatch"),
        "{text}"
    );
    assert!(!object_exists(&setup, "model/model.safetensors").await);
    assert!(uploads_left(&setup).await.is_empty());
    let log = setup.proxy.log();
    // Its parts went, but the upload was aborted, never completed.
    assert!(log
        .iter()
        .any(|e| e.method == "DELETE" && e.path.contains("uploadId=")));
    assert!(!log
        .iter()
        .any(|e| e.method == "POST" && e.path.contains("uploadId=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_that_differs_from_its_published_digest_is_never_put() {
    let setup = setup("stream-mismatch-small").await;
    let (dir, small, _) = folder();
    std::fs::remove_file(dir.path().join("model.safetensors")).expect("remove");
    let source = LocalSource::open(dir.path()).expect("open");
    let published = BTreeMap::from([("config.json", sha256_hex(b"another file"))]);
    let plan = plan_with(&source, &published).await;
    let error = stream(&source, &plan, &destination(&setup, "model"))
        .await
        .expect_err("the bytes differ from the published SHA-256");
    assert!(
        matches!(&error, PushError::DigestMismatch { path, read, .. }
            if path == "config.json" && *read == sha256_hex(&small)),
        "{error}"
    );
    assert!(!object_exists(&setup, "model/config.json").await);
    assert!(!setup.proxy.log().iter().any(|e| e.method == "PUT"));
}

/// A source that reads a local folder and records the most bytes its reads ask for at once.
struct Counting {
    inner: LocalSource,
    reading: AtomicU64,
    most: AtomicU64,
}

impl Source for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        self.inner.list().await
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        let length = range.end - range.start;
        let now = self.reading.fetch_add(length, Ordering::SeqCst) + length;
        self.most.fetch_max(now, Ordering::SeqCst);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let bytes = self.inner.read_range(path, range).await;
        self.reading.fetch_sub(length, Ordering::SeqCst);
        bytes
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        self.inner
            .hash_file(path, size, options, budget, progress)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_read_in_parallel_within_the_budget() {
    let setup = setup("stream-budget").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let large = content(40 * MIB + 5, 9);
    std::fs::write(dir.path().join("model.safetensors"), &large).expect("write");
    let source = Counting {
        inner: LocalSource::open(dir.path()).expect("open"),
        reading: AtomicU64::new(0),
        most: AtomicU64::new(0),
    };
    let published = BTreeMap::from([("model.safetensors", sha256_hex(&large))]);
    let plan = plan_with(&source, &published).await;
    let options = PushOptions {
        concurrency: 2,
        ..options()
    };
    let report = push::push_from_source(
        &source,
        &plan,
        &destination(&setup, "model"),
        &options,
        Arc::new(NoProgress),
    )
    .await
    .expect("push");
    assert_eq!(report.files[0].sha256, sha256_hex(&large));
    let most = source.most.load(Ordering::SeqCst);
    let budget = 2 * 5 * MIB as u64;
    assert!(most <= budget, "{most} bytes read at once");
    assert!(
        most > 5 * MIB as u64,
        "{most}: parts were not read in parallel"
    );
}
