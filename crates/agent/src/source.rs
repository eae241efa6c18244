//! Sources: where an artifact's files come from. A source lists files and reads byte ranges;
//! the check and the manifest are written once against this interface.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::hash::{FileDigest, HashError, HashOptions, Progress};

use cmi_format::{Entry, Finding, RuleId};

/// A failure that stops the whole run (the source cannot be listed at all).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The local path does not exist.
    #[error("{path} does not exist")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// The local path is not a directory.
    #[error("{path} is not a directory; give the folder that holds config.json and the weights")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// The source answered, and what it said fails the gate (access denied on the listing,
    /// an empty prefix): the check reports this finding alone.
    #[error("{}", .0.message)]
    Blocked(Box<Finding>),
    /// A symbolic link points outside the folder (or, in a Hugging Face cache snapshot,
    /// outside the repository's entry); a manifest follows one only when told to.
    #[error("{path} is a symbolic link to {target}, outside the folder; copy the file in instead of linking it, or follow links anywhere with --follow-symlinks")]
    LinkOutside {
        /// The link, relative to the folder.
        path: String,
        /// Where it points.
        target: String,
    },
    /// A remote service refused or failed the request.
    #[error("{what}: {reason}")]
    Remote {
        /// What was being done.
        what: String,
        /// What the service or the transport said.
        reason: String,
    },
    /// Listing failed.
    #[error("cannot list {path}: {source}")]
    List {
        /// What was being listed.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A failure to read one file; the run goes on and reports the file with this error's rule.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct ReadError {
    /// The rule the failure falls under: LY010 for plain I/O errors, an S3 rule for access
    /// and encryption problems.
    pub rule: RuleId,
    /// Why the read failed, in one line.
    pub reason: String,
    /// A fix specific to this failure, instead of the rule's default.
    pub hint: Option<String>,
}

impl ReadError {
    /// A plain read failure (LY010).
    pub fn new(reason: impl Into<String>) -> ReadError {
        ReadError {
            rule: RuleId::UnreadableFile,
            reason: reason.into(),
            hint: None,
        }
    }

    /// A read failure that falls under a specific rule.
    pub fn under(rule: RuleId, reason: impl Into<String>, hint: Option<String>) -> ReadError {
        ReadError {
            rule,
            reason: reason.into(),
            hint,
        }
    }

    /// The finding that reports this failure for `path`.
    pub fn into_finding(self, path: &str) -> Finding {
        let message = if self.rule == RuleId::UnreadableFile {
            format!("could not be read: {}", self.reason)
        } else {
            self.reason
        };
        let finding = Finding::new(self.rule, path, message);
        match self.hint {
            Some(hint) => finding.with_hint(hint),
            None => finding,
        }
    }
}

/// The files of an artifact as listed.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Files with their sizes, sorted by path.
    pub entries: Vec<Entry>,
    /// Files that were listed but could not be examined (a dangling link, a name that is not
    /// UTF-8), with the reason.
    pub unreadable: Vec<(String, ReadError)>,
    /// Paths that are not regular files (a directory, a FIFO, a device, a socket), with what
    /// they are ("a FIFO"); never opened.
    pub not_files: Vec<(String, String)>,
    /// Findings about the source itself, made while listing (an archived object, a URI that
    /// the import API rejects).
    pub findings: Vec<Finding>,
    /// What the source says about each file besides its size, by path.
    pub meta: BTreeMap<String, ObjectMeta>,
}

/// What a source says about a file besides its size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// S3 ETag, quotes removed.
    pub etag: Option<String>,
    /// S3 version id, when known.
    pub version_id: Option<String>,
    /// Last modification: the S3 object's, or the local file's mtime, in RFC 3339.
    pub last_modified: Option<String>,
    /// The SHA-256 (lowercase hex) the source publishes for the file without having read it
    /// (the Hub's LFS object id): a claim to verify against the bytes, not a digest of them.
    pub published_sha256: Option<String>,
}

/// The SHA-256 checksum a store holds for an object and verified against its bytes when it
/// was written (Amazon S3 User Guide, "Checking object integrity in Amazon S3"): a changed
/// object gets a new one, so it identifies the content without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChecksum {
    /// The object's size.
    pub size: u64,
    /// The base64 SHA-256, without a part count.
    pub value: String,
    /// The part count of a composite checksum (`base64-N`), when S3 names it.
    pub parts: Option<u64>,
    /// Whether the checksum is of the whole object (a single PUT), so that it is the file's
    /// SHA-256; false for the composite checksum of a multipart upload (the SHA-256 of the
    /// part digests), told by the checksum's `-N`, its type `COMPOSITE` or the ETag's `-N`.
    pub full_object: bool,
}

impl StoredChecksum {
    /// The file's SHA-256 in lowercase hex, when the checksum is of the whole object.
    pub fn sha256(&self) -> Option<String> {
        if !self.full_object {
            return None;
        }
        let raw = aws_smithy_types::base64::decode(&self.value).ok()?;
        (raw.len() == 32).then(|| hex::encode(raw))
    }

    /// S3's form: `base64`, or `base64-N` for a composite checksum of N parts.
    pub fn s3_form(&self) -> String {
        match self.parts {
            Some(parts) if !self.full_object => format!("{}-{parts}", self.value),
            _ => self.value.clone(),
        }
    }

    /// Whether `recorded` (S3's form, `base64` or `base64-N`, as a push manifest records it)
    /// is this checksum: the same SHA-256, and the same part count where both name one.
    pub fn matches(&self, recorded: &str) -> bool {
        let (value, parts) = match recorded.rsplit_once('-') {
            Some((value, n)) if n.parse::<u64>().is_ok() => (value, n.parse::<u64>().ok()),
            _ => (recorded, None),
        };
        value == self.value && (parts.is_none() || self.parts.is_none() || parts == self.parts)
    }
}

pub use cmi_format::document::Provenance;

/// Where an artifact's files come from: a local folder, or an S3 prefix.
pub trait Source: Sync {
    /// The source as the user named it, for reports.
    fn describe(&self) -> String;

    /// Lists every file under the source.
    fn list(&self) -> impl Future<Output = Result<Listing, SourceError>> + Send;

    /// Reads the bytes `range` of the file at `path` (relative, `/`-separated). The range is
    /// within the listed size; the result holds exactly `range.end - range.start` bytes.
    fn read_range(
        &self,
        path: &str,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, ReadError>> + Send;

    /// Hashes the whole file at `path` (listed with `size` bytes) with SHA-256, taking part
    /// permits from `budget` so that memory stays bounded across files.
    fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> impl Future<Output = Result<FileDigest, HashError>> + Send;

    /// The SHA-256 checksum the store holds for the listed file at `path`, read without its
    /// content (S3: HeadObject with checksum mode); `None` when the source keeps none.
    fn stored_checksum(
        &self,
        _path: &str,
    ) -> impl Future<Output = Result<Option<StoredChecksum>, ReadError>> + Send {
        async { Ok(None) }
    }

    /// The Hub repository and commit the files come from, when the source is a published
    /// revision; `None` for a plain folder or prefix.
    fn provenance(&self) -> Option<Provenance> {
        None
    }

    /// Findings the source gathered while it was read (for S3: encryption keys that only the
    /// bucket's account can use). Called once, after every read.
    fn findings(&self) -> impl Future<Output = Vec<Finding>> + Send {
        async { Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(value: &str, parts: Option<u64>, full_object: bool) -> StoredChecksum {
        StoredChecksum {
            size: 1,
            value: value.to_string(),
            parts,
            full_object,
        }
    }

    #[test]
    fn only_a_full_object_checksum_is_a_sha256() {
        let digest = [7u8; 32];
        let value = aws_smithy_types::base64::encode(digest);
        assert_eq!(
            stored(&value, None, true).sha256(),
            Some(hex::encode(digest))
        );
        assert_eq!(stored(&value, Some(3), false).sha256(), None);
        assert_eq!(stored("bm90IDMyIGJ5dGVz", None, true).sha256(), None);
    }

    #[test]
    fn a_recorded_checksum_matches_with_or_without_its_part_count() {
        let composite = stored("abc=", Some(3), false);
        assert_eq!(composite.s3_form(), "abc=-3");
        assert!(composite.matches("abc=-3"));
        assert!(composite.matches("abc="));
        assert!(!composite.matches("abc=-4"));
        assert!(!composite.matches("abd=-3"));
        assert!(stored("abc=", None, false).matches("abc=-3"));
        assert_eq!(stored("abc=", None, true).s3_form(), "abc=");
    }
}
