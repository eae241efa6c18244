//! Streamed SHA-256 of the files of a source.
//!
//! Local files are read in large blocks into one reused buffer on a blocking thread, one
//! thread per file, several files at once. S3 objects are fetched as parallel ranged GETs
//! whose bodies are fed, in order, to a hasher on a blocking thread; a shared budget of
//! `concurrency` parts bounds memory to `concurrency x part_size` whatever the file sizes. A
//! part whose body is cut short is fetched again; a body shorter than its range is never
//! hashed.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How files are hashed.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// Bytes of one ranged GET (S3) or one read (local).
    pub part_size: u64,
    /// Parts in flight at once, across all files (S3).
    pub concurrency: usize,
    /// Files hashed at once.
    pub files_at_once: usize,
    /// Attempts per part when a body is cut short (the SDK retries failed requests itself).
    pub part_attempts: u32,
}

/// Default part size: 8 MiB, as the AWS CLI and the CRT use.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            part_size: DEFAULT_PART_SIZE,
            concurrency: 16,
            files_at_once: std::thread::available_parallelism().map_or(2, |n| n.get()),
            part_attempts: 4,
        }
    }
}

/// Observes hashing as it goes, for progress bars. Calls come from several threads.
pub trait Progress: Send + Sync {
    /// The work ahead: `files` files of `bytes` bytes in all.
    fn plan(&self, files: u64, bytes: u64);
    /// A file starts.
    fn start(&self, path: &str, size: u64);
    /// `bytes` more bytes of `path` were hashed.
    fn advance(&self, path: &str, bytes: u64);
    /// A file is done.
    fn finish(&self, path: &str);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn plan(&self, _files: u64, _bytes: u64) {}
    fn start(&self, _path: &str, _size: u64) {}
    fn advance(&self, _path: &str, _bytes: u64) {}
    fn finish(&self, _path: &str) {}
}

/// Why a file could not be hashed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct HashError {
    /// The file, relative to the source.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

impl HashError {
    /// An error about `path`.
    pub fn new(path: &str, reason: impl Into<String>) -> HashError {
        HashError {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

/// The digest of one file and what the source said about it while it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// Bytes hashed.
    pub size: u64,
    /// S3 ETag of the object read, when the source is S3.
    pub etag: Option<String>,
    /// S3 version id of the object read, when the bucket is versioned.
    pub version_id: Option<String>,
}

/// A running SHA-256 fed on a blocking thread, part by part, in order. Each part carries the
/// budget permit that admitted it; the permit is released once the part is hashed.
pub(crate) struct OrderedHasher {
    sender: Option<tokio::sync::mpsc::Sender<(bytes::Bytes, Option<OwnedSemaphorePermit>)>>,
    task: tokio::task::JoinHandle<(String, u64)>,
}

impl OrderedHasher {
    /// Starts a hasher that reports progress as parts are hashed.
    pub(crate) fn start(progress: Arc<dyn Progress>, path: String) -> OrderedHasher {
        let (sender, mut receiver) =
            tokio::sync::mpsc::channel::<(bytes::Bytes, Option<OwnedSemaphorePermit>)>(2);
        let task = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            while let Some((part, permit)) = receiver.blocking_recv() {
                hasher.update(&part);
                total += part.len() as u64;
                progress.advance(&path, part.len() as u64);
                drop(permit);
            }
            (hex::encode(hasher.finalize()), total)
        });
        OrderedHasher {
            sender: Some(sender),
            task,
        }
    }

    /// Feeds the next part.
    pub(crate) async fn feed(
        &self,
        part: bytes::Bytes,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), String> {
        match &self.sender {
            Some(sender) => sender
                .send((part, permit))
                .await
                .map_err(|_| "the hashing thread stopped".to_string()),
            None => Err("the hasher is finished".to_string()),
        }
    }

    /// Ends the stream and returns the hex digest and the bytes hashed.
    pub(crate) async fn finish(mut self) -> Result<(String, u64), String> {
        self.sender.take();
        self.task
            .await
            .map_err(|e| format!("the hashing thread failed: {e}"))
    }
}

/// The shared budget of parts in flight.
pub(crate) fn budget(options: &HashOptions) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(options.concurrency.max(1)))
}

/// Hashes a local file on the calling (blocking) thread with one reused buffer; fails if the
/// file's size is not `expected_size` (it changed since it was listed).
pub(crate) fn hash_local_file(
    full_path: &std::path::Path,
    path: &str,
    expected_size: u64,
    block: usize,
    progress: &dyn Progress,
) -> Result<FileDigest, HashError> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(full_path).map_err(|e| HashError::new(path, e.to_string()))?;
    // The kernel copies out of the page cache much faster into a page-aligned buffer (up to
    // 17% of the whole throughput, measured in benches/hash_local.rs), and the allocator does
    // not promise one: over-allocate by a page and start at the first page boundary.
    const PAGE: usize = 4096;
    let block = block.max(PAGE);
    let mut storage = vec![0u8; block + PAGE];
    let offset = storage.as_ptr().align_offset(PAGE).min(PAGE);
    let buffer = &mut storage[offset..offset + block];
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let read = match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HashError::new(path, e.to_string())),
        };
        hasher.update(&buffer[..read]);
        total += read as u64;
        progress.advance(path, read as u64);
    }
    if total != expected_size {
        return Err(HashError::new(
            path,
            format!("changed while it was read: listed with {expected_size} bytes, read {total}"),
        ));
    }
    Ok(FileDigest {
        sha256: hex::encode(hasher.finalize()),
        size: total,
        etag: None,
        version_id: None,
    })
}

/// The ranges of `part_size` bytes that cover `size` bytes.
pub(crate) fn parts(size: u64, part_size: u64) -> impl Iterator<Item = std::ops::Range<u64>> {
    let part_size = part_size.max(1);
    (0..size.div_ceil(part_size)).map(move |i| i * part_size..((i + 1) * part_size).min(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_exactly() {
        let ranges: Vec<_> = parts(10, 4).collect();
        assert_eq!(ranges, vec![0..4, 4..8, 8..10]);
        assert_eq!(parts(0, 4).count(), 0);
        assert_eq!(parts(8, 4).collect::<Vec<_>>(), vec![0..4, 4..8]);
    }

    #[test]
    fn local_hash_matches_a_known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("abc");
        std::fs::write(&file, b"abc").unwrap();
        let digest = hash_local_file(&file, "abc", 3, 2, &NoProgress).unwrap();
        assert_eq!(
            digest.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let error = hash_local_file(&file, "abc", 4, 2, &NoProgress).unwrap_err();
        assert!(error.reason.contains("changed while it was read"));
    }

    #[tokio::test]
    async fn ordered_hasher_hashes_in_order_and_releases_permits() {
        let budget = Arc::new(Semaphore::new(1));
        let hasher = OrderedHasher::start(Arc::new(NoProgress), "abc".into());
        for part in [&b"a"[..], b"b", b"c"] {
            let permit = budget.clone().acquire_owned().await.unwrap();
            hasher
                .feed(bytes::Bytes::copy_from_slice(part), Some(permit))
                .await
                .unwrap();
        }
        let (digest, total) = hasher.finish().await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(budget.available_permits(), 1);
    }
}
