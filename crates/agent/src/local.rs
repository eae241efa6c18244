//! The local-folder source.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use cmi_format::Entry;
use tracing::debug;
use walkdir::WalkDir;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::hash::{self, FileDigest, HashError, HashOptions, LocalRead, Progress};
use crate::hub::cache::{self, Snapshot};
use crate::source::{Listing, ObjectMeta, Provenance, ReadError, Source, SourceError};
use cmi_format::RuleId;

/// A model folder on the local file system.
///
/// Symbolic links to files are followed (a Hugging Face cache snapshot is made of them);
/// links to folders are not, so a link cycle cannot trap the listing. A snapshot folder of
/// the local Hugging Face cache (`.../models--ORG--NAME/snapshots/<commit>/`) is recognized:
/// it has the repository and commit as provenance, its links into the repository's entry
/// count as inside it, and every LFS file is checked against its blob's name when hashed.
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
    display: String,
    confined: bool,
    snapshot: Option<Snapshot>,
    endpoint: String,
}

/// Bytes read at once when hashing a local file: large enough to amortize the system call,
/// small enough to stay in cache between the read and the hash.
pub const LOCAL_BLOCK: usize = 1024 * 1024;

impl LocalSource {
    /// Opens a folder; fails if it does not exist or is not a directory.
    pub fn open(path: impl AsRef<Path>) -> Result<LocalSource, SourceError> {
        let root = path.as_ref().to_path_buf();
        let display = root.display().to_string();
        match std::fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => Ok(LocalSource {
                snapshot: Snapshot::of_folder(&root),
                endpoint: crate::hub::config::endpoint_from_env(),
                root,
                display,
                confined: false,
            }),
            Ok(_) => Err(SourceError::NotADirectory { path: display }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SourceError::NotFound { path: display })
            }
            Err(source) => Err(SourceError::List {
                path: display,
                source,
            }),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The snapshot folder of the local Hugging Face cache that `snapshot` found (for an
    /// `hf://` source read offline), described as `display`.
    pub fn cached(snapshot: Snapshot, display: String) -> Result<LocalSource, SourceError> {
        let mut local = LocalSource::open(&snapshot.folder)?;
        local.display = display;
        local.snapshot = Some(snapshot);
        Ok(local)
    }

    /// The SHA-256 the file at `path` must have, when the folder is a snapshot of the local
    /// Hugging Face cache and the file a link to an LFS blob (named by that SHA-256).
    pub fn cache_blob(&self, path: &str) -> Option<String> {
        self.snapshot
            .as_ref()
            .and_then(|_| cache::blob_sha256(&self.root.join(path)))
    }

    /// Makes a symbolic link that leaves the folder an error of the listing instead of a
    /// file to follow, as manifests require. In a cache snapshot, a link that stays inside
    /// the repository's entry (`models--ORG--NAME/`, its `blobs/`) is the cache's own and is
    /// followed.
    pub fn confined(mut self) -> LocalSource {
        self.confined = true;
        self
    }

    fn check_link(&self, link: &Path, relative: &str) -> Result<(), SourceError> {
        if !self.confined || !link.is_symlink() {
            return Ok(());
        }
        let target = std::fs::read_link(link)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        let inside = match (
            std::fs::canonicalize(link),
            std::fs::canonicalize(&self.root),
        ) {
            (Ok(resolved), Ok(root)) => {
                resolved.starts_with(root)
                    || self.snapshot.as_ref().is_some_and(|s| s.holds(&resolved))
            }
            _ => false,
        };
        if inside {
            Ok(())
        } else {
            Err(SourceError::LinkOutside {
                path: relative.to_string(),
                target,
            })
        }
    }

    fn list_blocking(&self) -> Result<Listing, SourceError> {
        let mut listing = Listing::default();
        for item in WalkDir::new(&self.root).min_depth(1).sort_by_file_name() {
            let item = item.map_err(|e| SourceError::List {
                path: e.path().unwrap_or(&self.root).display().to_string(),
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("file system loop")),
            })?;
            let relative = item.path().strip_prefix(&self.root).unwrap_or(item.path());
            if item.file_type().is_dir() {
                if let Some(path) = relative_path(relative) {
                    listing.not_files.push((path, "a directory".to_string()));
                }
                continue;
            }
            let Some(path) = relative_path(relative) else {
                listing.unreadable.push((
                    relative.to_string_lossy().into_owned(),
                    ReadError::new("file name is not UTF-8"),
                ));
                continue;
            };
            self.check_link(item.path(), &path)?;
            // `metadata` follows a link without opening its target: a FIFO is never opened.
            match std::fs::metadata(item.path()) {
                Ok(meta) if meta.is_file() => {
                    let modified = meta
                        .modified()
                        .ok()
                        .map(|t| humantime::format_rfc3339_nanos(t).to_string());
                    listing.meta.insert(
                        path.clone(),
                        ObjectMeta {
                            last_modified: modified,
                            ..ObjectMeta::default()
                        },
                    );
                    listing.entries.push(Entry {
                        path,
                        size: meta.len(),
                    })
                }
                Ok(meta) => listing
                    .not_files
                    .push((path, not_a_file(&meta.file_type()).to_string())),
                Err(error) => listing.unreadable.push((
                    path,
                    ReadError::new(describe_link_error(item.path(), &error)),
                )),
            }
        }
        debug!(files = listing.entries.len(), root = %self.display, "listed local folder");
        Ok(listing)
    }
}

/// What a file that is not a regular file is, for LY013.
fn not_a_file(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "something other than a file"
    }
}

/// The relative path of a listed file, its components joined by `/`: a backslash is part of
/// a file name on the platforms this runs on, never a separator, so `a\b.json` stays one
/// name (which a manifest then refuses) instead of becoming the file `b.json` of a folder
/// `a`. `None` when a component is not UTF-8.
fn relative_path(relative: &Path) -> Option<String> {
    let mut path = String::new();
    for component in relative.components() {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(component.as_os_str().to_str()?);
    }
    Some(path)
}

fn describe_link_error(path: &Path, error: &std::io::Error) -> String {
    match std::fs::read_link(path) {
        Ok(target) => format!(
            "symbolic link to {} cannot be followed: {error}",
            target.display()
        ),
        Err(_) => error.to_string(),
    }
}

impl Source for LocalSource {
    fn describe(&self) -> String {
        self.display.clone()
    }

    fn provenance(&self) -> Option<Provenance> {
        self.snapshot.as_ref().map(|s| s.provenance(&self.endpoint))
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.list_blocking())
            .await
            .unwrap_or_else(|join| {
                Err(SourceError::List {
                    path: self.display.clone(),
                    source: std::io::Error::other(join.to_string()),
                })
            })
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        _budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        self.hash_local(path, size, local_read(options.files_at_once), progress)
            .await
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        let full = self.root.join(path);
        tokio::task::spawn_blocking(move || read_range_blocking(&full, range))
            .await
            .map_err(|join| ReadError::new(join.to_string()))?
    }
}

impl LocalSource {
    async fn hash_local(
        &self,
        path: &str,
        size: u64,
        read: LocalRead,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        let full = self.root.join(path);
        let relative = path.to_string();
        let blob = self.cache_blob(path);
        progress.start(path, size);
        let digest = tokio::task::spawn_blocking(move || {
            hash::hash_local_file(&full, &relative, size, LOCAL_BLOCK, read, progress.as_ref())
                .inspect(|_| progress.finish(&relative))
        })
        .await
        .map_err(|join| HashError::new(path, join.to_string()))??;
        match blob {
            Some(blob) if blob != digest.sha256 => Err(HashError::under(
                RuleId::CacheBlobMismatch,
                path,
                format!(
                    "has SHA-256 {}, but its blob in the Hugging Face cache is named {blob}, the SHA-256 the Hub published for it: the cached copy is corrupt",
                    digest.sha256
                ),
            )),
            _ => Ok(digest),
        }
    }
}

/// How to read a local file while `files_at_once` files are hashed at once: SHA-256 is one
/// stream per file, so each file keeps one core busy hashing; a core left over reads ahead
/// (the copy out of the page cache is a tenth of the work, benches/hash_local.rs), and when
/// every core hashes, each thread reads its own blocks.
fn local_read(files_at_once: usize) -> LocalRead {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if files_at_once.max(1) < cores {
        LocalRead::ReadAhead
    } else {
        LocalRead::Inline
    }
}

fn read_range_blocking(path: &Path, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::new(e.to_string()))?;
    let len = usize::try_from(range.end.saturating_sub(range.start))
        .map_err(|_| ReadError::new("range too large for this machine"))?;
    let mut buffer = vec![0u8; len];
    file.read_exact_at(&mut buffer, range.start)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                ReadError::new("file shrank while it was being read")
            }
            _ => ReadError::new(e.to_string()),
        })?;
    Ok(buffer)
}
