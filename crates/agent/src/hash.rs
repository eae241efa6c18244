//! Streamed SHA-256 of the files of a source.
//!
//! Local files are read in page-aligned blocks on a blocking thread, one thread per file,
//! several files at once; a file hashed while a core is left over gets a reader thread that
//! fills a fixed rotation of blocks ahead of the hashing, so memory stays bounded by files at
//! once x blocks x block size whatever the file sizes. S3 objects are fetched as parallel ranged GETs
//! whose bodies are fed, in order, to a hasher on a blocking thread; a shared budget of
//! `concurrency` parts bounds memory to `concurrency x part_size` whatever the file sizes. A
//! part whose body is cut short is fetched again; a body shorter than its range is never
//! hashed.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A running SHA-256: aws-lc-rs's, whose x86-64 assembly uses the SHA extensions where the CPU
/// has them; section 0 of benches/hash_local.rs compares it with sha2 and ring on one buffer in
/// memory.
pub struct Hasher(aws_lc_rs::digest::Context);

impl Hasher {
    /// An empty hash.
    pub fn new() -> Hasher {
        Hasher(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    /// Hashes `data` next.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The lowercase hex digest.
    pub fn finish(self) -> String {
        hex::encode(self.0.finish().as_ref())
    }

    /// The raw 32-byte digest.
    pub fn finish_raw(self) -> [u8; 32] {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.0.finish().as_ref());
        raw
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

/// The lowercase hex SHA-256 of `data`: the one SHA-256 of the crate, for file contents, the
/// artifact digest, fingerprints and idempotency tokens alike.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut hasher = Hasher::new();
    hasher.update(data);
    hasher.finish()
}

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

impl HashOptions {
    /// These options for hashing `files` files: never more files at once than there are, so
    /// that a local source reads ahead on the cores a lone file leaves idle
    /// (`LocalSource::hash_file`).
    pub fn for_files(&self, files: usize) -> HashOptions {
        HashOptions {
            files_at_once: self.files_at_once.clamp(1, files.max(1)),
            ..self.clone()
        }
    }
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
            let mut hasher = Hasher::new();
            let mut total = 0u64;
            while let Some((part, permit)) = receiver.blocking_recv() {
                hasher.update(&part);
                total += part.len() as u64;
                progress.advance(&path, part.len() as u64);
                drop(permit);
            }
            (hasher.finish(), total)
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

/// Hashes the `size` bytes of `path` from parts of `options.part_size` bytes that `fetch`
/// returns (each exactly its range, as the pieces the body arrived in), up to
/// `options.concurrency` in flight; each part is admitted by a permit of `budget`, released
/// once it is hashed, so memory stays within the budget's parts whatever the file sizes. The
/// parts are hashed in order on a blocking thread. Returns the hex digest and what `fetch`
/// said with each part, in order.
pub(crate) async fn hash_parts<M, F, Fut>(
    path: &str,
    size: u64,
    options: &HashOptions,
    budget: &Arc<Semaphore>,
    progress: Arc<dyn Progress>,
    fetch: F,
) -> Result<(String, Vec<M>), HashError>
where
    F: Fn(std::ops::Range<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<bytes::Bytes>, M), HashError>>,
{
    use futures::stream::{self, StreamExt};
    progress.start(path, size);
    let hasher = OrderedHasher::start(progress.clone(), path.to_string());
    let mut fetches = stream::iter(parts(size, options.part_size))
        .map(|range| {
            let budget = Arc::clone(budget);
            let fetched = fetch(range);
            async move {
                let permit = budget
                    .acquire_owned()
                    .await
                    .map_err(|e| HashError::new(path, e.to_string()))?;
                let (pieces, meta) = fetched.await?;
                Ok::<_, HashError>((pieces, meta, permit))
            }
        })
        .buffered(options.concurrency.max(1));
    let mut metas = Vec::new();
    while let Some(fetched) = fetches.next().await {
        let (pieces, meta, permit) = fetched?;
        metas.push(meta);
        // The part's budget permit goes with its last piece: released once all is hashed.
        let mut permit = Some(permit);
        let count = pieces.len();
        for (index, piece) in pieces.into_iter().enumerate() {
            let release = if index + 1 == count {
                permit.take()
            } else {
                None
            };
            hasher
                .feed(piece, release)
                .await
                .map_err(|e| HashError::new(path, e))?;
        }
        drop(permit);
    }
    drop(fetches);
    let (sha256, total) = hasher.finish().await.map_err(|e| HashError::new(path, e))?;
    if total != size {
        return Err(HashError::new(
            path,
            format!("listed with {size} bytes, hashed {total}"),
        ));
    }
    progress.finish(path);
    Ok((sha256, metas))
}

/// The shared budget of parts in flight.
pub(crate) fn budget(options: &HashOptions) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(options.concurrency.max(1)))
}

/// The memory page: the kernel copies out of the page cache much faster into a page-aligned
/// buffer (measured in benches/hash_local.rs), and the allocator does not promise one.
const PAGE: usize = 4096;

/// A reusable read buffer that starts on a page boundary: over-allocated by a page, used from
/// the first boundary. Moving it (through a channel) does not move its bytes.
struct AlignedBlock {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBlock {
    fn new(len: usize) -> AlignedBlock {
        let len = len.max(PAGE);
        let storage = vec![0u8; len + PAGE];
        let start = storage.as_ptr().align_offset(PAGE).min(PAGE);
        AlignedBlock {
            storage,
            start,
            len,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// One `read` into `buffer`, retried when a signal interrupts it; 0 at the end of the file.
pub(crate) fn read_some(
    file: &mut impl std::io::Read,
    buffer: &mut [u8],
) -> std::io::Result<usize> {
    loop {
        match file.read(buffer) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Read buffers in rotation between the reader thread and the hashing thread: one being
/// filled, one being hashed, one ready.
const READ_AHEAD_BLOCKS: usize = 3;

/// How a local file is read while it is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalRead {
    /// The hashing thread reads each block itself: one thread per file, for when every core
    /// already hashes a file.
    Inline,
    /// A reader thread fills [`READ_AHEAD_BLOCKS`] blocks in rotation while the hashing
    /// thread hashes, so the copy out of the page cache runs on a core that would otherwise
    /// be idle.
    ReadAhead,
}

/// Hashes a local file on the calling (blocking) thread, reading `block` bytes at a time
/// (memory: one block, or [`READ_AHEAD_BLOCKS`] with [`LocalRead::ReadAhead`]); fails if the
/// file's size is not `expected_size` (it changed since it was listed).
pub(crate) fn hash_local_file(
    full_path: &std::path::Path,
    path: &str,
    expected_size: u64,
    block: usize,
    read: LocalRead,
    progress: &dyn Progress,
) -> Result<FileDigest, HashError> {
    let file = std::fs::File::open(full_path).map_err(|e| HashError::new(path, e.to_string()))?;
    let advance = |bytes: usize| progress.advance(path, bytes as u64);
    let (sha256, total) = match read {
        LocalRead::Inline => hash_inline(file, block, advance),
        LocalRead::ReadAhead => hash_read_ahead(file, block, advance),
    }
    .map_err(|e| HashError::new(path, e.to_string()))?;
    if total != expected_size {
        return Err(HashError::new(
            path,
            format!("changed while it was read: listed with {expected_size} bytes, read {total}"),
        ));
    }
    Ok(FileDigest {
        sha256,
        size: total,
        etag: None,
        version_id: None,
    })
}

/// Reads and hashes on this thread with one reused block; returns the hex digest and the
/// bytes hashed.
fn hash_inline(
    mut file: std::fs::File,
    block: usize,
    advance: impl Fn(usize),
) -> std::io::Result<(String, u64)> {
    let mut buffer = AlignedBlock::new(block);
    let mut hasher = Hasher::new();
    let mut total = 0u64;
    loop {
        let read = read_some(&mut file, buffer.bytes_mut())?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer.bytes()[..read]);
        total += read as u64;
        advance(read);
    }
    Ok((hasher.finish(), total))
}

/// A block the reader filled with `.1` bytes (0 at the end of the file), or why it stopped.
type Filled = std::io::Result<(AlignedBlock, usize)>;

/// Hashes on this thread what a scoped reader thread reads ahead into blocks that circulate
/// between the two threads through two bounded channels.
fn hash_read_ahead(
    file: std::fs::File,
    block: usize,
    advance: impl Fn(usize),
) -> std::io::Result<(String, u64)> {
    let (empty_sender, empty_receiver) = std::sync::mpsc::sync_channel(READ_AHEAD_BLOCKS);
    let (filled_sender, filled_receiver) = std::sync::mpsc::sync_channel(READ_AHEAD_BLOCKS);
    for _ in 0..READ_AHEAD_BLOCKS {
        empty_sender
            .send(AlignedBlock::new(block))
            .map_err(|_| std::io::Error::other("the read-ahead channel closed"))?;
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cmi-read-ahead".into())
            .spawn_scoped(scope, move || {
                read_ahead(file, empty_receiver, filled_sender)
            })?;
        hash_filled(filled_receiver, empty_sender, advance)
    })
}

/// The reader thread: fills each empty block it is given and passes it on, until the end of
/// the file, a read error, or the hashing side hanging up.
fn read_ahead(
    mut file: std::fs::File,
    empty: std::sync::mpsc::Receiver<AlignedBlock>,
    filled: std::sync::mpsc::SyncSender<Filled>,
) {
    while let Ok(mut block) = empty.recv() {
        match read_some(&mut file, block.bytes_mut()) {
            Ok(read) => {
                if filled.send(Ok((block, read))).is_err() || read == 0 {
                    return;
                }
            }
            Err(error) => {
                filled.send(Err(error)).ok();
                return;
            }
        }
    }
}

/// The hashing side of [`hash_read_ahead`]. Owning both channel ends, it hangs up on the
/// reader whenever it returns, so the reader never waits forever.
fn hash_filled(
    filled: std::sync::mpsc::Receiver<Filled>,
    empty: std::sync::mpsc::SyncSender<AlignedBlock>,
    advance: impl Fn(usize),
) -> std::io::Result<(String, u64)> {
    let mut hasher = Hasher::new();
    let mut total = 0u64;
    loop {
        let (block, read) = filled
            .recv()
            .map_err(|_| std::io::Error::other("the reader thread stopped"))??;
        if read == 0 {
            break;
        }
        hasher.update(&block.bytes()[..read]);
        total += read as u64;
        advance(read);
        // The reader hangs up after the end of the file while this block was being hashed;
        // the next receive tells the end from a failure.
        empty.send(block).ok();
    }
    Ok((hasher.finish(), total))
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

    const READS: [LocalRead; 2] = [LocalRead::Inline, LocalRead::ReadAhead];

    #[test]
    fn local_hash_matches_a_known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("abc");
        std::fs::write(&file, b"abc").unwrap();
        for read in READS {
            let digest = hash_local_file(&file, "abc", 3, 2, read, &NoProgress).unwrap();
            assert_eq!(
                digest.sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
            assert_eq!(digest.size, 3);
        }
    }

    #[test]
    fn local_hash_of_an_empty_file_is_the_empty_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty");
        std::fs::write(&file, b"").unwrap();
        for read in READS {
            let digest = hash_local_file(&file, "empty", 0, PAGE, read, &NoProgress).unwrap();
            assert_eq!(
                digest.sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            );
            assert_eq!(digest.size, 0);
        }
    }

    /// Counts the bytes reported as hashed.
    #[derive(Default)]
    struct Counted(std::sync::atomic::AtomicU64);

    impl Progress for Counted {
        fn plan(&self, _files: u64, _bytes: u64) {}
        fn start(&self, _path: &str, _size: u64) {}
        fn advance(&self, _path: &str, bytes: u64) {
            self.0
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        }
        fn finish(&self, _path: &str) {}
    }

    #[test]
    fn local_hash_covers_many_blocks_and_a_partial_last_one() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blocks");
        // Five whole blocks of a page, and 123 bytes more, more blocks than the read-ahead
        // rotation holds.
        let content: Vec<u8> = (0..5 * PAGE + 123).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, &content).unwrap();
        let expected = hex::encode(sha2::Sha256::digest(&content));
        for read in READS {
            for block in [PAGE, 2 * PAGE, 8 * PAGE] {
                let progress = Counted::default();
                let size = content.len() as u64;
                let digest =
                    hash_local_file(&file, "blocks", size, block, read, &progress).unwrap();
                assert_eq!(digest.sha256, expected, "{read:?}, block {block}");
                assert_eq!(digest.size, size);
                assert_eq!(progress.0.into_inner(), size);
            }
        }
    }

    #[test]
    fn a_local_file_of_another_size_than_listed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("grew");
        std::fs::write(&file, vec![1u8; 3 * PAGE]).unwrap();
        for read in READS {
            for listed in [2 * PAGE as u64, 4 * PAGE as u64] {
                let error =
                    hash_local_file(&file, "grew", listed, PAGE, read, &NoProgress).unwrap_err();
                assert_eq!(error.path, "grew");
                assert!(
                    error.reason.contains(&format!(
                        "changed while it was read: listed with {listed} bytes, read {}",
                        3 * PAGE
                    )),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn a_missing_local_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for read in READS {
            let error =
                hash_local_file(&dir.path().join("gone"), "gone", 1, PAGE, read, &NoProgress)
                    .unwrap_err();
            assert_eq!(error.path, "gone");
        }
    }

    #[test]
    fn a_read_error_reaches_the_hashing_side() {
        // A folder opens but cannot be read: the reader thread's error is the hash's error.
        let dir = tempfile::tempdir().unwrap();
        for read in READS {
            let error = hash_local_file(dir.path(), "dir", 1, PAGE, read, &NoProgress).unwrap_err();
            assert!(error.reason.to_lowercase().contains("directory"), "{error}");
        }
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
