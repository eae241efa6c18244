//! Manifests: the SHA-256 of every file of an artifact, a model summary and one artifact
//! digest, in a documented, versioned JSON schema (docs/manifest.md).
//!
//! The artifact digest is the SHA-256 of the lines `<sha256>  <size>  <path>\n` of every file,
//! in ascending byte order of the paths: the manifest's own `files` order. Anyone can
//! recompute it with
//! `jq -j '.files[] | "\(.sha256)  \(.size)  \(.path)\n"' manifest.json | sha256sum`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use cmi_format::document::Tool;
use cmi_format::Summary;

use crate::check::{check_listed, CheckOptions};
use crate::hash::{self, FileDigest, HashError, HashOptions, Hasher, Progress};
use crate::source::{Listing, ObjectMeta, Provenance, Source, SourceError};

/// A manifest, schema [`Manifest::SCHEMA`] (docs/manifest.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`Manifest::SCHEMA`].
    pub schema: String,
    /// The program that wrote it.
    pub tool: Tool,
    /// When it was written, RFC 3339 UTC.
    pub created: String,
    /// The source as given: a local folder, `s3://bucket/prefix/` or `hf://org/name[@rev]`.
    pub source: String,
    /// The Hub repository and commit the files were read at, for an `hf://` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// `sha256:` and the digest over the canonical file list (see the module doc).
    pub artifact_digest: String,
    /// What the check learned about the model.
    pub model: Summary,
    /// Every file, sorted by path.
    pub files: Vec<FileRecord>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to the artifact root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// S3 ETag (without quotes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// S3 version id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Last modification time, RFC 3339 (the S3 object's, or the local file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// True when the digest was taken from an earlier manifest (`--reuse`) instead of being
    /// computed again.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reused: bool,
    /// The SHA-256 checksum S3 holds for the object, which S3 verified against its bytes when
    /// it was written: the full-object checksum (base64) of a single PUT, or the composite
    /// `base64-N` of an N-part upload. Written by `push` (the checksum it sent and read back)
    /// and by `manifest s3://` (the one HeadObject gave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_checksum: Option<String>,
    /// Where `sha256` came from when it was not computed by reading the content (absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_source: Option<DigestSource>,
}

/// Where a file's digest came from, when no byte of it was read (docs/manifest.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestSource {
    /// The full-object SHA-256 checksum S3 holds for the object (a single PUT): S3 verified
    /// it against the bytes when the object was written, so it is the file's SHA-256.
    S3Checksum,
    /// The earlier manifest's `sha256` (`--reuse`), because S3's composite checksum of the
    /// object equals the `s3_checksum` that manifest recorded: S3 verified every part's
    /// SHA-256, and `push` computed both digests from the same read.
    S3Composite,
    /// The SHA-256 the Hugging Face Hub publishes for an LFS file (its LFS object id, the
    /// `lfs.sha256` of the model info), taken without reading the file. The Hub computes it
    /// when the file is uploaded and serves the file under it, so a copy whose bytes hash to
    /// it is the file of that commit.
    HubLfs,
}

/// Why a manifest could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The source could not be listed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file could not be hashed.
    #[error("cannot hash {0}")]
    Hash(#[from] HashError),
    /// A manifest file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The manifest file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is not valid.
    #[error("{path} is not a valid manifest: {reason}")]
    Invalid {
        /// The manifest file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// How a manifest is made.
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions {
    /// How files are hashed.
    pub hash: HashOptions,
    /// How the model summary's check reads.
    pub check: CheckOptions,
}

/// The digest over the canonical file list, `sha256:<hex>`.
pub fn artifact_digest(files: &[FileRecord]) -> String {
    let mut sorted: Vec<&FileRecord> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut hasher = Hasher::new();
    for file in sorted {
        hasher.update(format!("{}  {}  {}\n", file.sha256, file.size, file.path).as_bytes());
    }
    format!("sha256:{}", hasher.finish())
}

/// What is wrong with a path of a manifest, if anything: absolute, `..` or `.` segments,
/// empty segments, backslashes, or control characters (which the canonical line form cannot
/// carry).
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.starts_with('/') {
        return Some("is absolute");
    }
    if path.contains('\\') {
        return Some("contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return Some("has an empty segment"),
            "." | ".." => return Some("has a `.` or `..` segment"),
            _ => {}
        }
    }
    None
}

/// Whether a file may keep the digest an earlier manifest recorded: same size, and the same
/// ETag when both sides have one, else the same modification time.
fn reusable(old: &FileRecord, size: u64, meta: &ObjectMeta) -> bool {
    if old.size != size {
        return false;
    }
    match (&old.etag, &meta.etag) {
        (Some(a), Some(b)) => a == b && old.last_modified == meta.last_modified,
        (None, None) => old.last_modified.is_some() && old.last_modified == meta.last_modified,
        _ => false,
    }
}

/// Lists and hashes the artifact of `source`, and summarizes its model with a check.
pub async fn create<S: Source>(
    source: &S,
    options: &ManifestOptions,
    reuse: Option<&Manifest>,
    progress: Arc<dyn Progress>,
) -> Result<Manifest, ManifestError> {
    let listing: Listing = source.list().await?;
    let summary = check_listed(source, listing.clone(), options.check.clone())
        .await
        .summary;
    create_listed(source, listing, summary, options, reuse, progress).await
}

/// Hashes the files of a listing the caller already has (and checked, for `summary`), so
/// that the manifest describes exactly the version that was checked.
pub async fn create_listed<S: Source>(
    source: &S,
    listing: Listing,
    summary: Summary,
    options: &ManifestOptions,
    reuse: Option<&Manifest>,
    progress: Arc<dyn Progress>,
) -> Result<Manifest, ManifestError> {
    if let Some((path, error)) = listing.unreadable.first() {
        return Err(ManifestError::Unreadable {
            path: path.clone(),
            reason: error.reason.clone(),
        });
    }
    // A manifest covers regular files; folders are walked. Anything else under the artifact
    // (a FIFO, a device, a socket) would otherwise be left out of it silently.
    if let Some((path, kind)) = listing.not_files.iter().find(|(_, k)| k != "a directory") {
        return Err(ManifestError::Unreadable {
            path: path.clone(),
            reason: format!("it is {kind}, not a regular file, so a manifest cannot cover it"),
        });
    }
    for entry in &listing.entries {
        if let Some(problem) = path_problem(&entry.path) {
            return Err(ManifestError::Unreadable {
                path: entry.path.clone(),
                reason: format!("the path {problem}"),
            });
        }
    }
    let old: HashMap<&str, &FileRecord> = reuse
        .map(|m| m.files.iter().map(|f| (f.path.as_str(), f)).collect())
        .unwrap_or_default();
    let budget = hash::budget(&options.hash);
    let mut records = Vec::with_capacity(listing.entries.len());
    let mut unknown = Vec::new();
    for entry in &listing.entries {
        let meta = listing.meta.get(&entry.path).cloned().unwrap_or_default();
        match (old.get(entry.path.as_str()), &meta.published_sha256) {
            (Some(old), _) if reusable(old, entry.size, &meta) => records.push(FileRecord {
                reused: true,
                ..(*old).clone()
            }),
            (_, Some(published)) => records.push(FileRecord {
                path: entry.path.clone(),
                size: entry.size,
                sha256: published.clone(),
                etag: meta.etag.clone(),
                version_id: meta.version_id.clone(),
                last_modified: meta.last_modified.clone(),
                reused: false,
                s3_checksum: None,
                digest_source: Some(DigestSource::HubLfs),
            }),
            _ => unknown.push((entry.clone(), meta)),
        }
    }
    // The checksums S3 holds: a full-object SHA-256 is the file's; a composite one lets the
    // earlier manifest's digest stand when it recorded that very checksum.
    let stored: Vec<_> = stream::iter(unknown)
        .map(|(entry, meta)| async move {
            let stored = source.stored_checksum(&entry.path).await;
            (entry, meta, stored)
        })
        .buffer_unordered(options.hash.concurrency.max(1))
        .collect()
        .await;
    let mut to_hash = Vec::new();
    for (entry, meta, stored) in stored {
        let stored = stored
            .map_err(|error| ManifestError::Unreadable {
                path: entry.path.clone(),
                reason: error.reason,
            })?
            .filter(|stored| stored.size == entry.size);
        let Some(stored) = stored else {
            to_hash.push((entry, meta, None));
            continue;
        };
        let record = |sha256: String, reused: bool, source: DigestSource| FileRecord {
            path: entry.path.clone(),
            size: entry.size,
            sha256,
            etag: meta.etag.clone(),
            version_id: meta.version_id.clone(),
            last_modified: meta.last_modified.clone(),
            reused,
            s3_checksum: Some(stored.s3_form()),
            digest_source: Some(source),
        };
        let earlier = old.get(entry.path.as_str()).filter(|old| {
            old.size == entry.size
                && old
                    .s3_checksum
                    .as_deref()
                    .is_some_and(|recorded| stored.matches(recorded))
        });
        match (stored.sha256(), earlier) {
            (Some(sha256), _) => records.push(record(sha256, false, DigestSource::S3Checksum)),
            (None, Some(earlier)) => records.push(record(
                earlier.sha256.clone(),
                true,
                DigestSource::S3Composite,
            )),
            (None, None) => to_hash.push((entry, meta, Some(stored.s3_form()))),
        }
    }
    progress.plan(
        to_hash.len() as u64,
        to_hash.iter().map(|(entry, _, _)| entry.size).sum(),
    );
    let hash_options = options.hash.for_files(to_hash.len());
    type Hashed = (FileDigest, ObjectMeta, String, Option<String>);
    let hashed: Vec<Result<Hashed, HashError>> = stream::iter(to_hash)
        .map(|(entry, meta, s3_checksum)| {
            let budget = &budget;
            let options = &hash_options;
            let progress = Arc::clone(&progress);
            async move {
                let digest = source
                    .hash_file(&entry.path, entry.size, options, budget, progress)
                    .await?;
                Ok((digest, meta, entry.path, s3_checksum))
            }
        })
        .buffer_unordered(hash_options.files_at_once)
        .collect()
        .await;
    for result in hashed {
        let (digest, meta, path, s3_checksum) = result?;
        records.push(FileRecord {
            path,
            size: digest.size,
            sha256: digest.sha256,
            etag: digest.etag.or(meta.etag),
            version_id: digest.version_id.or(meta.version_id),
            last_modified: meta.last_modified,
            reused: false,
            s3_checksum,
            digest_source: None,
        });
    }
    records.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(Manifest {
        schema: Manifest::SCHEMA.to_string(),
        tool: Tool::current(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        source: source.describe(),
        provenance: source.provenance(),
        artifact_digest: artifact_digest(&records),
        model: summary,
        files: records,
    })
}

impl Manifest {
    /// Identifier of this schema version.
    pub const SCHEMA: &'static str = "cmi-preflight.manifest.v1";

    /// The manifest as written: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the manifest: a regular file atomically (an interrupted run leaves no
    /// half-written file, and an existing file is replaced only by a complete one); a FIFO, a
    /// device or a symbolic link is written through, never replaced
    /// ([`crate::files::write_output`]).
    pub fn write(&self, path: &Path) -> Result<(), ManifestError> {
        crate::files::write_output(path, self.to_json().as_bytes()).map_err(|source| {
            ManifestError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// The largest manifest [`Manifest::read`] reads: 64 MiB. A file's record takes about
    /// 330 bytes of pretty JSON plus its path (sha256, size, S3 ETag, version id and date),
    /// so 64 MiB holds 100,000 files with paths of 300 bytes, far more than any model has.
    pub const MAX_BYTES: u64 = 64 << 20;

    /// Reads and validates a manifest: its schema, every path (no absolute path, no `..`, no
    /// duplicate), every digest, and the artifact digest. Only a regular file of at most
    /// [`Manifest::MAX_BYTES`] is read; a FIFO, device or folder is refused by its kind.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let display = path.display().to_string();
        let bytes = crate::files::read_document(path, Manifest::MAX_BYTES).map_err(|source| {
            ManifestError::Io {
                path: display.clone(),
                source,
            }
        })?;
        let invalid = |reason: String| ManifestError::Invalid {
            path: display.clone(),
            reason,
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if manifest.schema != Manifest::SCHEMA {
            return Err(invalid(format!(
                "schema is {:?}; this version reads {:?}",
                manifest.schema,
                Manifest::SCHEMA
            )));
        }
        let mut seen = HashSet::new();
        for file in &manifest.files {
            if let Some(problem) = path_problem(&file.path) {
                return Err(invalid(format!("the path {:?} {problem}", file.path)));
            }
            if !seen.insert(file.path.as_str()) {
                return Err(invalid(format!("the path {:?} appears twice", file.path)));
            }
            let hex_ok = file.sha256.len() == 64
                && file
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex_ok {
                return Err(invalid(format!(
                    "the sha256 of {:?} is not 64 lowercase hex digits",
                    file.path
                )));
            }
        }
        let recomputed = artifact_digest(&manifest.files);
        if recomputed != manifest.artifact_digest {
            return Err(invalid(format!(
                "artifact_digest is {} but the files give {recomputed}; the manifest was edited",
                manifest.artifact_digest
            )));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn record(path: &str, size: u64, sha256: &str) -> FileRecord {
        FileRecord {
            path: path.to_string(),
            size,
            sha256: sha256.to_string(),
            etag: None,
            version_id: None,
            last_modified: None,
            reused: false,
            s3_checksum: None,
            digest_source: None,
        }
    }

    #[test]
    fn artifact_digest_is_the_sha256_of_the_sorted_lines() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let files = vec![record("z.json", 2, &b), record("a.json", 1, &a)];
        let lines = format!("{a}  1  a.json\n{b}  2  z.json\n");
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(lines.as_bytes())));
        assert_eq!(artifact_digest(&files), expected);
    }

    #[test]
    fn unsafe_paths_are_named() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a\\b",
            "a\nb",
            "",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["config.json", "sub/dir/file.bin", ".cache/x", "a..b"] {
            assert_eq!(path_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn reuse_needs_the_same_size_and_identity() {
        let mut old = record("m.safetensors", 10, &"0".repeat(64));
        old.etag = Some("e1".into());
        old.last_modified = Some("t1".into());
        let meta = |etag: &str, time: &str| ObjectMeta {
            etag: Some(etag.into()),
            version_id: None,
            last_modified: Some(time.into()),
            published_sha256: None,
        };
        assert!(reusable(&old, 10, &meta("e1", "t1")));
        assert!(!reusable(&old, 11, &meta("e1", "t1")));
        assert!(!reusable(&old, 10, &meta("e2", "t1")));
        assert!(!reusable(&old, 10, &meta("e1", "t2")));
    }
}
