//! `check`: list a source, fetch what the format crate asks for, validate.

use std::collections::HashMap;

use cmi_format::artifact::{DOCUMENT_LIMIT, SNIFF_LEN};
use cmi_format::safetensors::{self, Header, HeaderError, TensorBudget};
use cmi_format::{Artifact, Report};
use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;
use tracing::debug;

use crate::source::{ReadError, Source, SourceError};

/// How a check reads, and what it knows besides the files.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Files read at once.
    pub concurrency: usize,
    /// Bytes of the first, speculative read of each safetensors file. It covers the header in
    /// the common case; a second read fetches the whole of a longer header.
    pub header_probe: u64,
    /// The Bedrock Region of the import, for the `RG` rules; `None` skips them.
    pub bedrock_region: Option<String>,
}

/// Default size of the speculative header read: what the Hugging Face Hub client uses
/// (`Range: bytes=0-100000`), which covers the header of about 97% of the Hub's top models.
/// A larger probe wastes tensor bytes on every shard; a smaller one costs a second request
/// more often.
pub const DEFAULT_HEADER_PROBE: u64 = 100_001;

/// Header bytes held by the reads in flight at once, shared by all of them: 96 MiB.
///
/// A header may declare up to [`safetensors::MAX_HEADER_LEN`] (100,000,000 bytes, 95.4 MiB),
/// so one header of the largest size always fits, and the reads of `--concurrency` shards with
/// ordinary headers (well under 1 MB each) never wait for one another. With the documents,
/// each read whole up to [`DOCUMENT_LIMIT`] (64 MiB) and parsed within as much again (see
/// `cmi_format::artifact::MAX_JSON_VALUES`), it keeps the peak of `check` under 256 MiB
/// whatever the shards declare, where 32 reads of 100 MB headers at once took 3 GB.
pub const HEADER_BUDGET: u64 = 96 * 1024 * 1024;

/// Bytes of documents read for one artifact, all together: 64 MiB.
///
/// Each document may take up to [`DOCUMENT_LIMIT`] (64 MiB), and they are all kept until the
/// check ends, so seven near the limit would take 448 MiB. Real artifacts stay far below the
/// total: tokenizer.json is the largest document (about 35 MB for Gemma 3's 262,144-token
/// vocabulary), and config.json, tokenizer_config.json and the index take a few MB. With the
/// header reads in flight ([`HEADER_BUDGET`]) and the tensors kept
/// (`cmi_format::safetensors::MAX_TENSORS`), it keeps `check` under 256 MiB. A document
/// that would pass the total is not read and is reported as unreadable, naming the total.
pub const DOCUMENTS_TOTAL: u64 = 64 * 1024 * 1024;

/// Default number of files read at once.
pub const DEFAULT_CONCURRENCY: usize = 32;

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            concurrency: DEFAULT_CONCURRENCY,
            header_probe: DEFAULT_HEADER_PROBE,
            bedrock_region: None,
        }
    }
}

/// What one read job produced.
enum Fetched {
    Document(String, Result<Vec<u8>, ReadError>),
    Header(
        String,
        Result<(Result<Header, HeaderError>, Vec<u8>), ReadError>,
    ),
    Sniff(String, Result<Vec<u8>, ReadError>),
}

enum Job {
    Document(String, u64),
    /// A document that is not read, and why.
    Refused(String, String),
    Header(String, u64),
    Sniff(String, u64),
}

/// Checks the artifact of a source; fails only when the source cannot be listed.
pub async fn check<S: Source>(source: &S, options: CheckOptions) -> Result<Report, SourceError> {
    match source.list().await {
        Ok(listing) => Ok(check_listed(source, listing, options).await),
        Err(SourceError::Blocked(finding)) => Ok(Report {
            findings: vec![*finding],
            ..Report::default()
        }),
        Err(error) => Err(error),
    }
}

/// Checks an artifact whose listing the caller already has.
pub async fn check_listed<S: Source>(
    source: &S,
    listing: crate::source::Listing,
    options: CheckOptions,
) -> Report {
    let plan = cmi_format::plan(&listing.entries);
    let sizes: HashMap<&str, u64> = listing
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.size))
        .collect();
    let size_of = |path: &str| sizes.get(path).copied().unwrap_or(0);
    let mut documents_read = 0u64;
    let jobs: Vec<Job> = plan
        .documents
        .iter()
        .map(|p| {
            let size = size_of(p);
            match documents_read.checked_add(size) {
                Some(total) if size <= DOCUMENT_LIMIT && total <= DOCUMENTS_TOTAL => {
                    documents_read = total;
                    Job::Document(p.clone(), size)
                }
                _ => Job::Refused(p.clone(), refusal(size, documents_read)),
            }
        })
        .chain(
            plan.headers
                .iter()
                .map(|p| Job::Header(p.clone(), size_of(p))),
        )
        .chain(
            plan.sniffs
                .iter()
                .map(|p| Job::Sniff(p.clone(), size_of(p))),
        )
        .collect();
    debug!(jobs = jobs.len(), "fetching");
    let budget = Budgets {
        header_bytes: Semaphore::new(permits(HEADER_BUDGET) as usize),
        tensors: TensorBudget::default(),
    };
    let fetched: Vec<Fetched> = stream::iter(jobs)
        .map(|job| run(source, job, options.header_probe, &budget))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let mut artifact = Artifact {
        entries: listing.entries,
        unreadable: listing
            .unreadable
            .into_iter()
            .map(|(path, error)| {
                let finding = error.into_finding(&path);
                (path, finding)
            })
            .collect(),
        not_files: listing.not_files.into_iter().collect(),
        source_findings: listing.findings,
        bedrock_region: options.bedrock_region.clone(),
        ..Artifact::default()
    };
    for item in fetched {
        match item {
            Fetched::Document(path, Ok(bytes)) => {
                artifact.documents.insert(path, bytes);
            }
            Fetched::Header(path, Ok((header, magic))) => {
                artifact.magic.insert(path.clone(), magic);
                artifact.headers.insert(path, header);
            }
            Fetched::Sniff(path, Ok(magic)) => {
                artifact.magic.insert(path, magic);
            }
            Fetched::Document(path, Err(e))
            | Fetched::Header(path, Err(e))
            | Fetched::Sniff(path, Err(e)) => {
                let finding = e.into_finding(&path);
                artifact.unreadable.insert(path, finding);
            }
        }
    }
    artifact.source_findings.extend(source.findings().await);
    cmi_format::check(&artifact)
}

/// Why a document of `size` bytes is not read, after `read` bytes of the documents before it.
fn refusal(size: u64, read: u64) -> String {
    if size > DOCUMENT_LIMIT {
        format!("{size} bytes is above the {DOCUMENT_LIMIT}-byte limit for a JSON or template file")
    } else {
        format!(
            "{size} bytes after the {read} bytes of the documents read before it is above the \
             {DOCUMENTS_TOTAL}-byte total for the JSON and template files of one artifact"
        )
    }
}

/// `bytes` as a number of semaphore permits, capped at the budget so that a read larger than
/// the whole budget takes all of it rather than waiting forever.
fn permits(bytes: u64) -> u32 {
    u32::try_from(bytes.min(HEADER_BUDGET)).unwrap_or(u32::MAX)
}

/// What the header reads of one artifact share: the bytes in flight and the tensor entries
/// kept.
struct Budgets {
    header_bytes: Semaphore,
    tensors: TensorBudget,
}

async fn run<S: Source>(source: &S, job: Job, header_probe: u64, budget: &Budgets) -> Fetched {
    match job {
        Job::Document(path, size) => {
            let result = source.read_range(&path, 0..size).await;
            Fetched::Document(path, result)
        }
        Job::Refused(path, reason) => Fetched::Document(path, Err(ReadError::new(reason))),
        Job::Header(path, size) => {
            let result = read_header(source, &path, size, header_probe, budget).await;
            Fetched::Header(path, result)
        }
        Job::Sniff(path, size) => {
            let result = source.read_range(&path, 0..size.min(SNIFF_LEN)).await;
            Fetched::Sniff(path, result)
        }
    }
}

/// Reads a safetensors header with one speculative read, and a second one only when the
/// header is longer than the probe. Returns the header check and the file's first bytes
/// (the [`SNIFF_LEN`] bytes that the layout rules sniff, not the header).
///
/// The parse takes the header's tensor entries from the artifact's tensor budget (ST017 when
/// it runs out). Each read holds permits of the header byte budget for its bytes until they are parsed and dropped. The
/// second read fetches the whole header into one buffer, after the probe is dropped: joining
/// the probe and the rest would hold the header twice while it is copied.
async fn read_header<S: Source>(
    source: &S,
    path: &str,
    size: u64,
    probe: u64,
    budget: &Budgets,
) -> Result<(Result<Header, HeaderError>, Vec<u8>), ReadError> {
    let probe_len = size.min(probe.max(safetensors::PREFIX_LEN));
    let permit = acquire(&budget.header_bytes, probe_len).await;
    let bytes = source.read_range(path, 0..probe_len).await?;
    let magic = bytes[..bytes.len().min(SNIFF_LEN as usize)].to_vec();
    let extent = match safetensors::header_extent(&bytes, size) {
        Ok(extent) => extent,
        Err(error) => return Ok((Err(error), magic)),
    };
    let have = bytes.len() as u64;
    if extent <= have {
        let header = safetensors::parse_header_within(&bytes, size, &budget.tensors);
        return Ok((header, magic));
    }
    debug!(
        path,
        extent, have, "header longer than the probe; second read"
    );
    drop(bytes);
    drop(permit);
    let _permit = acquire(&budget.header_bytes, extent).await;
    let bytes = source.read_range(path, 0..extent).await?;
    let header = safetensors::parse_header_within(&bytes, size, &budget.tensors);
    Ok((header, magic))
}

/// Permits of `budget` for a read of `bytes`; the budget is never closed.
async fn acquire(budget: &Semaphore, bytes: u64) -> Option<tokio::sync::SemaphorePermit<'_>> {
    budget.acquire_many(permits(bytes)).await.ok()
}
