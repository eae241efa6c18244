//! Sources: where an artifact's files come from. A source lists files and reads byte ranges;
//! the check and the manifest are written once against this interface.

use std::future::Future;
use std::ops::Range;

use cmi_format::Entry;

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

/// A failure to read one file; the run goes on and reports the file as unreadable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct ReadError {
    /// Why the read failed, in one line.
    pub reason: String,
}

impl ReadError {
    /// A read error with the given reason.
    pub fn new(reason: impl Into<String>) -> ReadError {
        ReadError {
            reason: reason.into(),
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
    pub unreadable: Vec<(String, String)>,
}

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
}
