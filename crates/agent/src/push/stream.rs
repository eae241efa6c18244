//! Push from any [`Source`] by ranged reads (a Hugging Face Hub repository, `hf://`): the
//! upload engine of a local push ([`super::upload`]: concurrency, part size, the byte budget,
//! each part's SHA-256, resume, skip unchanged, readback), its parts read with
//! [`Source::read_range`], several at once, nothing written to disk.
//!
//! The parts of a file are read in parallel but handed on in order ([`StreamExt::buffered`]),
//! at most `--concurrency` parts of a file at a time, each under its share of the budget,
//! so that the file's whole SHA-256 is computed in order with no more buffering than the
//! budget. When the source publishes the file's SHA-256 ([`ObjectMeta::published_sha256`]:
//! the Hub's LFS object id), the bytes read must hash to it before the object is written: a
//! multipart upload is aborted otherwise (never completed), a file sent in one PutObject is
//! never sent, and the push fails with HF003 (`hub-digest-mismatch`).

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use cmi_format::Entry;

use super::upload::{self, read_error, take_budget, Body, PartPlan, ReadPart};
use super::verify::Checksum;
use super::{Destination, Plan, PushError, PushOptions, PushReport};
use crate::hash::{Hasher, Progress};
use crate::source::{ObjectMeta, Source};

/// Bytes read at a time when a file is only hashed, to compare it with the destination.
const DIGEST_BLOCK: u64 = 8 * 1024 * 1024;

/// Sends the files of `plan` (its selection, with its rewrites) from `source`, read by ranges,
/// to `destination`, each file's bytes checked against the SHA-256 the source publishes for
/// it. The caller decides whether a plan whose check failed may be sent.
pub async fn push_from_source<S: Source>(
    source: &S,
    plan: &Plan,
    destination: &Destination,
    options: &PushOptions,
    progress: Arc<dyn Progress>,
) -> Result<PushReport, PushError> {
    let files = &plan.selection.send;
    let concurrency = options.concurrency.max(1);
    let context = super::context(files, destination, options, Arc::clone(&progress));
    progress.plan(files.len() as u64, files.iter().map(|f| f.size).sum());
    let mut reports: Vec<_> = stream::iter(files.iter().cloned())
        .map(|entry: Entry| {
            let context = Arc::clone(&context);
            let body = match plan.replacement(&entry.path) {
                Some(bytes) => Streamed::Memory(bytes.clone()),
                None => Streamed::Source {
                    source,
                    path: entry.path.clone(),
                    published: plan
                        .listing
                        .meta
                        .get(&entry.path)
                        .and_then(|m: &ObjectMeta| m.published_sha256.clone()),
                    window: concurrency,
                },
            };
            async move { upload::push_file(&context, &body, &entry).await }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    reports.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(PushReport {
        destination: destination.uri.to_string(),
        files: reports,
    })
}

/// The bytes of one file of a source read by ranges, or the bytes that replace it.
enum Streamed<'a, S> {
    /// The file `path` of `source`.
    Source {
        /// The source.
        source: &'a S,
        /// The file, relative to the source.
        path: String,
        /// The SHA-256 the source publishes for it.
        published: Option<String>,
        /// Parts of the file read at once.
        window: usize,
    },
    /// A file rewritten on the way (`--fix-index`): sent in one PUT.
    Memory(Bytes),
}

impl<S: Source> Streamed<'_, S> {
    /// Reads `range` of the file, checking that the source returned exactly that many bytes.
    async fn read(&self, path: &str, range: std::ops::Range<u64>) -> Result<Bytes, PushError> {
        let length = range.end - range.start;
        let bytes = match self {
            Streamed::Source { source, path, .. } => Bytes::from(
                source
                    .read_range(path, range.clone())
                    .await
                    .map_err(|e| read_error(path, e))?,
            ),
            Streamed::Memory(bytes) => {
                let start = usize::try_from(range.start).unwrap_or(usize::MAX);
                let end = usize::try_from(range.end).unwrap_or(usize::MAX);
                bytes
                    .get(start..end)
                    .map(Bytes::copy_from_slice)
                    .unwrap_or_default()
            }
        };
        if bytes.len() as u64 != length {
            return Err(read_error(
                path,
                format!(
                    "the source returned {} bytes for the {length} of bytes {}..{}",
                    bytes.len(),
                    range.start,
                    range.end
                ),
            ));
        }
        Ok(bytes)
    }
}

/// Hashes `bytes` after `hasher`, on a blocking thread.
async fn hash_after(path: &str, mut hasher: Hasher, bytes: Bytes) -> Result<Hasher, PushError> {
    tokio::task::spawn_blocking(move || {
        hasher.update(&bytes);
        hasher
    })
    .await
    .map_err(|e| read_error(path, e))
}

impl<S: Source> Body for Streamed<'_, S> {
    fn multipart(&self) -> bool {
        matches!(self, Streamed::Source { .. })
    }

    fn published(&self) -> Option<&str> {
        match self {
            Streamed::Source { published, .. } => published.as_deref(),
            Streamed::Memory(_) => None,
        }
    }

    async fn whole(&self, path: &str, size: u64) -> Result<(Bytes, [u8; 32]), PushError> {
        let bytes = self.read(path, 0..size).await?;
        let hasher = hash_after(path, Hasher::new(), bytes.clone()).await?;
        Ok((bytes, hasher.finish_raw()))
    }

    async fn digest(
        &self,
        path: &str,
        size: u64,
        part_size: Option<u64>,
    ) -> Result<(String, Checksum), PushError> {
        // A full-object checksum is the published SHA-256 itself: no byte needs reading to
        // compare the destination with what the source publishes.
        if let (None, Some(published)) = (part_size, self.published()) {
            if let Ok(raw) = hex::decode(published) {
                return Ok((published.to_ascii_lowercase(), Checksum::full(&raw)));
            }
        }
        let mut whole = Hasher::new();
        let mut parts = Vec::new();
        let step = part_size.unwrap_or(u64::MAX).max(1);
        let mut start = 0u64;
        loop {
            let end = size.min(start.saturating_add(step));
            let mut part = Hasher::new();
            let mut offset = start;
            while offset < end {
                let next = end.min(offset + DIGEST_BLOCK);
                let bytes = self.read(path, offset..next).await?;
                whole = hash_after(path, whole, bytes.clone()).await?;
                part = hash_after(path, part, bytes).await?;
                offset = next;
            }
            parts.push(part.finish_raw());
            start = end;
            if start >= size {
                break;
            }
        }
        let raw = whole.finish_raw();
        let checksum = match part_size {
            Some(_) => Checksum::composite(&parts),
            None => Checksum::full(&raw),
        };
        Ok((hex::encode(raw), checksum))
    }

    async fn parts(
        &self,
        plan: PartPlan,
        sender: tokio::sync::mpsc::Sender<ReadPart>,
    ) -> Result<[u8; 32], PushError> {
        let window = match self {
            Streamed::Source { window, .. } => (*window).max(1),
            Streamed::Memory(_) => 1,
        };
        let path = plan.path.as_str();
        let plan = &plan;
        let mut reads = stream::iter(1..=plan.count())
            .map(|number| async move {
                let range = plan.range(number);
                let permit =
                    take_budget(&plan.budget, plan.budget_units, range.end - range.start).await;
                let bytes = self.read(path, range).await?;
                let md5 = plan.wants_md5(number);
                tokio::task::spawn_blocking(move || ReadPart::new(number, bytes, md5, permit))
                    .await
                    .map_err(|e| read_error(path, e))
            })
            .buffered(window);
        let mut whole = Hasher::new();
        while let Some(part) = reads.next().await {
            let part = part?;
            whole = hash_after(path, whole, part.bytes.clone()).await?;
            if sender.send(part).await.is_err() {
                break;
            }
        }
        Ok(whole.finish_raw())
    }
}
