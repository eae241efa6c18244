//! Before anything is sent: which files go (the selection table of
//! [`cmi_format::transfer`]), what `--fix-index` rewrites on the way, and the check of exactly
//! the files that will be at the destination.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use cmi_format::artifact::DOCUMENT_LIMIT;
use cmi_format::transfer::{self, Filters, Selection};
use cmi_format::{Entry, Finding, Report};
use cmi_format::{CONFIG_JSON, INDEX_JSON};
use tokio::sync::Semaphore;

use super::PushError;
use crate::check::{check_listed, CheckOptions};
use crate::hash::{FileDigest, HashError, HashOptions, Progress};
use crate::source::{Listing, ReadError, Source, SourceError};

/// How the files to push are chosen and checked.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--include` / `--exclude` globs, applied after the selection table.
    pub filters: Filters,
    /// Rewrite an index whose metadata Bedrock refuses (IX009) on the way.
    pub fix_index: bool,
    /// The check run on the files that will be sent; `None` skips it (`--no-check`).
    pub check: Option<CheckOptions>,
}

/// A file whose bytes at the destination differ from the source's, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The file, relative to the source.
    pub path: String,
    /// Its size in the source.
    pub original_size: u64,
    /// The bytes sent instead.
    pub bytes: Bytes,
    /// What was changed, for the report.
    pub reason: String,
}

/// What a push will do, decided before any byte is sent.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The source's listing.
    pub listing: Listing,
    /// The files sent (with their sizes at the destination) and the files left out.
    pub selection: Selection,
    /// Files sent with other bytes than the source's (`--fix-index`).
    pub rewrites: Vec<Rewrite>,
    /// The check of the files as they will be at the destination; `None` with `--no-check`.
    pub report: Option<Report>,
}

impl Plan {
    /// Whether the upload may go ahead: no check, or a check that passed.
    pub fn passed(&self, strict: bool) -> bool {
        self.report.as_ref().is_none_or(|r| r.passed(strict))
    }

    /// The bytes to send for `path` instead of the source file's, if rewritten.
    pub fn replacement(&self, path: &str) -> Option<&Bytes> {
        self.rewrites
            .iter()
            .find(|r| r.path == path)
            .map(|r| &r.bytes)
    }
}

/// Lists `source` (a local folder or an S3 prefix), selects the files to push, applies
/// `--fix-index` and checks the result as it will be at the destination (for S3, by the
/// ranged reads of `check s3://`). A file that cannot be examined (a dangling link, a FIFO)
/// among the files to send stays in the listing, so the check names it.
pub async fn plan<S: Source>(source: &S, options: &PlanOptions) -> Result<Plan, PushError> {
    let listing = source.list().await?;
    let model_type = match listing.entries.iter().find(|e| e.path == CONFIG_JSON) {
        Some(entry) if entry.size <= DOCUMENT_LIMIT => source
            .read_range(CONFIG_JSON, 0..entry.size)
            .await
            .ok()
            .and_then(|bytes| transfer::model_type(&bytes)),
        _ => None,
    };
    let mut selection = transfer::select(&listing.entries, model_type.as_deref(), &options.filters);
    let mut rewrites = Vec::new();
    if options.fix_index {
        if let Some(entry) = selection.send.iter_mut().find(|e| e.path == INDEX_JSON) {
            if let Some(rewrite) = fix_index(source, entry).await? {
                entry.size = rewrite.bytes.len() as u64;
                rewrites.push(rewrite);
            }
        }
    }
    let report = match &options.check {
        Some(check) => {
            let sent = sent_listing(&listing, &selection);
            let view = Rewritten {
                source,
                rewrites: &rewrites,
            };
            Some(check_listed(&view, sent, check.clone()).await)
        }
        None => None,
    };
    Ok(Plan {
        listing,
        selection,
        rewrites,
        report,
    })
}

/// The index without the metadata keys Bedrock refuses, when it has any.
async fn fix_index<S: Source>(source: &S, entry: &Entry) -> Result<Option<Rewrite>, PushError> {
    if entry.size > DOCUMENT_LIMIT {
        return Ok(None);
    }
    let bytes = source
        .read_range(&entry.path, 0..entry.size)
        .await
        .map_err(|e| PushError::Read {
            path: entry.path.clone(),
            reason: e.reason,
        })?;
    match transfer::fix_index(&bytes) {
        Ok(Some(fixed)) => Ok(Some(Rewrite {
            path: entry.path.clone(),
            original_size: entry.size,
            bytes: Bytes::from(fixed),
            reason: "--fix-index: removed the index metadata that Bedrock refuses (IX009)"
                .to_string(),
        })),
        Ok(None) => Ok(None),
        // An index that cannot be rewritten is sent as it is: the check names what is wrong.
        Err(_) => Ok(None),
    }
}

/// The listing the destination will have: the files sent, and the problems of paths that
/// would have been sent (top-level, not excluded) so the check still names them.
fn sent_listing(listing: &Listing, selection: &Selection) -> Listing {
    let kept =
        |path: &str| !path.contains('/') && !selection.skipped.iter().any(|s| s.entry.path == path);
    Listing {
        entries: selection.send.clone(),
        unreadable: listing
            .unreadable
            .iter()
            .filter(|(p, _)| kept(p))
            .cloned()
            .collect(),
        not_files: listing
            .not_files
            .iter()
            .filter(|(p, _)| kept(p))
            .cloned()
            .collect(),
        findings: listing.findings.clone(),
        meta: listing.meta.clone(),
    }
}

/// The source as the destination will hold it: rewritten files read from memory.
struct Rewritten<'a, S> {
    source: &'a S,
    rewrites: &'a [Rewrite],
}

impl<S: Source> Source for Rewritten<'_, S> {
    fn describe(&self) -> String {
        self.source.describe()
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        self.source.list().await
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        match self.rewrites.iter().find(|r| r.path == path) {
            Some(rewrite) => {
                let slice = usize::try_from(range.start)
                    .ok()
                    .zip(usize::try_from(range.end).ok())
                    .and_then(|(start, end)| rewrite.bytes.get(start..end))
                    .ok_or_else(|| {
                        ReadError::new(format!("{range:?} is outside the rewritten file"))
                    })?;
                Ok(slice.to_vec())
            }
            None => self.source.read_range(path, range).await,
        }
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        self.source
            .hash_file(path, size, options, budget, progress)
            .await
    }

    async fn findings(&self) -> Vec<Finding> {
        self.source.findings().await
    }
}
