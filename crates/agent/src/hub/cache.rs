//! The local Hugging Face cache, as huggingface_hub 0.36.2 writes it (`file_download.py`,
//! `constants.py`):
//!
//! ```text
//! HF_HUB_CACHE/models--ORG--NAME/
//!     blobs/<etag>                   the files' bytes, one blob per distinct content
//!     refs/<branch or tag>           the commit the revision pointed to when it was downloaded
//!     snapshots/<commit>/<path>      a relative link to ../../blobs/<etag> (deeper paths add ../)
//! ```
//!
//! A blob is named by the file's ETag on the Hub: the SHA-256 of the content for an LFS file
//! (64 hex digits), the git blob id for a plain one (40). A snapshot folder is a source like
//! any folder; what the cache adds is its provenance (repository and commit, from the folder
//! names), the links a manifest may follow (those that stay inside the repository's entry),
//! and a digest to check every LFS file against (its blob's name, HF004).

use std::path::{Component, Path, PathBuf};

use cmi_format::hub_uri::HubUri;

use crate::source::Provenance;

/// The prefix of a model repository's folder in the cache (`repo_folder_name` in
/// huggingface_hub's `file_download.py`: `models--` and the id with `/` replaced by `--`).
const MODEL_PREFIX: &str = "models--";

/// What replaces `/` of a repository id in its folder name (`REPO_ID_SEPARATOR`).
const SEPARATOR: &str = "--";

/// The folder of a model repository in the cache: `models--ORG--NAME`.
pub fn repo_folder_name(repo_id: &str) -> String {
    format!("{MODEL_PREFIX}{}", repo_id.replace('/', SEPARATOR))
}

/// Whether `text` is a commit id: 40 lowercase hex digits.
pub fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `text` is the name of an LFS blob: a SHA-256, 64 lowercase hex digits.
fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A snapshot folder of the cache: one commit of one model repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The repository id, `org/name`.
    pub repo_id: String,
    /// The revision as the user named it, when the snapshot was found through one.
    pub revision: Option<String>,
    /// The commit: the snapshot folder's name.
    pub commit: String,
    /// The snapshot folder, `.../snapshots/<commit>`.
    pub folder: PathBuf,
    /// The repository's entry in the cache, `.../models--ORG--NAME`: links that resolve
    /// inside it are the cache's own.
    pub entry: PathBuf,
}

impl Snapshot {
    /// The snapshot that `folder` is, if it is one: `.../models--ORG--NAME/snapshots/<commit>`
    /// (the path is made canonical first, so `.` or a trailing `/` do not hide it).
    pub fn of_folder(folder: &Path) -> Option<Snapshot> {
        let folder = std::fs::canonicalize(folder).ok()?;
        let commit = folder.file_name()?.to_str()?;
        let snapshots = folder.parent()?;
        let entry = snapshots.parent()?;
        if snapshots.file_name()? != "snapshots" || !is_commit(commit) {
            return None;
        }
        let repo_id = entry
            .file_name()?
            .to_str()?
            .strip_prefix(MODEL_PREFIX)?
            .replace(SEPARATOR, "/");
        let uri: HubUri = format!("{}{repo_id}", cmi_format::hub_uri::HUB_SCHEME)
            .parse()
            .ok()?;
        Some(Snapshot {
            repo_id: uri.repo_id,
            revision: None,
            commit: commit.to_string(),
            entry: entry.to_path_buf(),
            folder,
        })
    }

    /// Where the files come from: the repository at the snapshot's commit, with its page on
    /// `endpoint` (`{endpoint}/{repo}/tree/{commit}`).
    pub fn provenance(&self, endpoint: &str) -> Provenance {
        Provenance {
            repo: self.repo_id.clone(),
            revision: self.revision.clone(),
            commit: self.commit.clone(),
            url: format!("{endpoint}/{}/tree/{}", self.repo_id, self.commit),
        }
    }

    /// Whether the canonical path `resolved` lies inside the repository's entry.
    pub fn holds(&self, resolved: &Path) -> bool {
        resolved.starts_with(&self.entry)
    }
}

/// Why a revision could not be found in the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The repository has no entry in the cache.
    #[error("{repo_id} is not in the Hugging Face cache {cache} (no {folder}); download it first (`hf download {repo_id}`), or read the Hub without --offline and HF_HUB_OFFLINE")]
    RepoNotCached {
        /// The repository id.
        repo_id: String,
        /// The cache folder.
        cache: String,
        /// The repository's folder name.
        folder: String,
    },
    /// The revision is a branch or tag that the cache has no ref for.
    #[error("the Hugging Face cache holds no ref {revision:?} of {repo_id} ({path} is missing); download that revision first, or name a commit that is cached")]
    RevisionNotCached {
        /// The repository id.
        repo_id: String,
        /// The revision.
        revision: String,
        /// The ref file looked for.
        path: String,
    },
    /// The commit (named, or read from a ref) has no snapshot in the cache.
    #[error("commit {commit} of {repo_id}{via} is not in the Hugging Face cache ({path} is missing); download it first (`hf download {repo_id} --revision {commit}`), or read the Hub without --offline and HF_HUB_OFFLINE")]
    CommitNotCached {
        /// The repository id.
        repo_id: String,
        /// The commit.
        commit: String,
        /// `, the commit of REV,` when the commit was read from a ref.
        via: String,
        /// The snapshot folder looked for.
        path: String,
    },
    /// A ref file of the cache does not hold a commit id.
    #[error("{path} does not hold a commit id: {reason}")]
    BadRef {
        /// The ref file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The snapshot of `uri` in the cache folder `cache`, found as huggingface_hub does it
/// offline (`snapshot_download` and `try_to_load_from_cache` in `file_download.py`): a commit
/// id names its snapshot folder directly; a branch or tag is read from `refs/<revision>`.
/// Nothing is fetched.
pub fn snapshot(cache: &Path, uri: &HubUri) -> Result<Snapshot, CacheError> {
    let folder_name = repo_folder_name(&uri.repo_id);
    let entry = cache.join(&folder_name);
    if !entry.is_dir() {
        return Err(CacheError::RepoNotCached {
            repo_id: uri.repo_id.clone(),
            cache: cache.display().to_string(),
            folder: folder_name,
        });
    }
    let revision = uri.revision_or_default();
    let (commit, via) = if is_commit(revision) {
        (revision.to_string(), String::new())
    } else {
        let path = entry.join("refs").join(revision);
        let missing = || CacheError::RevisionNotCached {
            repo_id: uri.repo_id.clone(),
            revision: revision.to_string(),
            path: path.display().to_string(),
        };
        // A ref is a relative path under refs/ (`main`, `refs/pr/1`), never one that leaves it.
        if Path::new(revision)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(missing());
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => {
                return Err(CacheError::BadRef {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let commit = text.trim();
        if !is_commit(commit) {
            return Err(CacheError::BadRef {
                path: path.display().to_string(),
                reason: format!("{commit:?} is not 40 hex digits"),
            });
        }
        (commit.to_string(), format!(", the commit of {revision},"))
    };
    let folder = entry.join("snapshots").join(&commit);
    if !folder.is_dir() {
        return Err(CacheError::CommitNotCached {
            repo_id: uri.repo_id.clone(),
            commit,
            via,
            path: folder.display().to_string(),
        });
    }
    let entry = std::fs::canonicalize(&entry).unwrap_or(entry);
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    Ok(Snapshot {
        repo_id: uri.repo_id.clone(),
        revision: uri.revision.clone(),
        commit,
        folder,
        entry,
    })
}

/// The SHA-256 that the file at `file` must have, when it is a link to an LFS blob of the
/// cache (a blob named by 64 hex digits); `None` for a plain file's blob (named by its git
/// blob id) or a file that is not a link.
pub fn blob_sha256(file: &Path) -> Option<String> {
    let target = std::fs::read_link(file).ok()?;
    let name = target.file_name()?.to_str()?;
    is_sha256(name).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_folders_are_named_as_the_cache_names_them() {
        assert_eq!(repo_folder_name("org/name"), "models--org--name");
        assert_eq!(repo_folder_name("gpt2"), "models--gpt2");
    }

    #[test]
    fn a_snapshot_folder_is_recognized_by_its_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let folder = dir.path().join("models--org--name/snapshots").join(commit);
        std::fs::create_dir_all(&folder).expect("folders");
        let snapshot = Snapshot::of_folder(&folder.join(".")).expect("a snapshot");
        assert_eq!(snapshot.repo_id, "org/name");
        assert_eq!(snapshot.commit, commit);
        assert_eq!(
            snapshot.provenance("http://127.0.0.1:1").url,
            format!("http://127.0.0.1:1/org/name/tree/{commit}")
        );
        let other = dir.path().join("models--org--name/snapshots/not-a-commit");
        std::fs::create_dir_all(&other).expect("folders");
        assert_eq!(Snapshot::of_folder(&other), None);
        let plain = dir.path().join("elsewhere/snapshots").join(commit);
        std::fs::create_dir_all(&plain).expect("folders");
        assert_eq!(Snapshot::of_folder(&plain), None);
    }

    #[test]
    fn a_revision_never_leaves_the_refs_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("models--org--name/refs")).expect("folders");
        std::fs::write(dir.path().join("secret"), "x").expect("file");
        let uri: HubUri = "hf://org/name@../../secret".parse().expect("uri");
        assert!(matches!(
            snapshot(dir.path(), &uri),
            Err(CacheError::RevisionNotCached { .. })
        ));
    }
}
