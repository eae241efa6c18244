//! The Hub source: a model repository `hf://org/name[@revision]` read over the Hub's HTTP API.
//!
//! The revision is resolved once, by the first listing, to its commit
//! ([`HubClient::revision`]); every read after it is pinned to that commit
//! (`/{repo}/resolve/{commit}/{path}`, ranged), so that a push to the repository during a run
//! cannot mix two versions. The listing carries each file's size, its git blob id as the
//! ETag and, for LFS files, the SHA-256 the Hub publishes ([`ObjectMeta::published_sha256`]);
//! its folders are listed as the S3 source lists them (keys' prefixes), so that the layout
//! rules see what they see in the local folder.
//! Access denials are HF001 and missing repositories, revisions or files HF002; a gated
//! model's access is probed once by the listing, so that a refusal is one finding for the run.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use cmi_format::hub_uri::HubUri;
use cmi_format::{Entry, Finding, RuleId};
use tokio::sync::{OnceCell, Semaphore};
use tracing::debug;

use super::client::{HubClient, HubError, HubErrorKind, RevisionInfo};
use crate::hash::{self, FileDigest, HashError, HashOptions, Progress};
use crate::source::{Listing, ObjectMeta, Provenance, ReadError, Source, SourceError};

/// A model repository on the Hub, at one revision.
#[derive(Debug)]
pub struct HubSource {
    client: HubClient,
    uri: HubUri,
    resolved: OnceCell<RevisionInfo>,
}

impl HubSource {
    /// A source reading `uri` through `client`; nothing is requested before the listing.
    pub fn new(client: HubClient, uri: HubUri) -> HubSource {
        HubSource {
            client,
            uri,
            resolved: OnceCell::new(),
        }
    }

    /// The repository and revision read.
    pub fn uri(&self) -> &HubUri {
        &self.uri
    }

    /// The client it reads with.
    pub fn client(&self) -> &HubClient {
        &self.client
    }

    /// The commit every read is pinned to, once the revision is resolved.
    pub fn commit(&self) -> Option<&str> {
        self.resolved.get().map(|info| info.sha.as_str())
    }

    /// The revision's commit and files: resolved by the first call, kept for the run.
    async fn resolve(&self) -> Result<&RevisionInfo, HubError> {
        if self.client.config().offline {
            return Err(HubError {
                kind: HubErrorKind::Other,
                status: None,
                code: None,
                message: format!(
                    "HF_HUB_OFFLINE is set, so {} cannot be read from {}",
                    self.uri_text(),
                    self.client.config().endpoint
                ),
            });
        }
        self.resolved
            .get_or_try_init(|| async {
                let revision = self.uri.revision_or_default();
                let info = self.client.revision(&self.uri.repo_id, revision).await?;
                if info.sha.len() != 40 || !info.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(HubError {
                        kind: HubErrorKind::Other,
                        status: None,
                        code: None,
                        message: format!(
                            "the Hub resolved {} to {:?}, which is not a commit id",
                            self.uri_text(),
                            info.sha
                        ),
                    });
                }
                debug!(repo = %self.uri.repo_id, revision, commit = %info.sha, files = info.siblings.len(), "resolved the revision");
                Ok(info)
            })
            .await
    }

    fn uri_text(&self) -> String {
        match &self.uri.revision {
            Some(revision) => format!("hf://{}@{revision}", self.uri.repo_id),
            None => format!("hf://{}", self.uri.repo_id),
        }
    }

    /// The finding of a failed request about `path` (empty for the repository itself).
    fn finding(&self, error: &HubError, path: &str) -> Finding {
        let repo = &self.uri.repo_id;
        let revision = self.uri.revision_or_default();
        let page = self.client.page_url(repo);
        let token = match &self.client.config().token_source {
            Some(source) if self.client.sends_token() => format!("a token from {source} was sent"),
            _ => "no token was sent".to_string(),
        };
        match error.kind {
            HubErrorKind::AccessDenied if error.is_gated() => Finding::new(
                RuleId::HubAccessDenied,
                path,
                format!("{repo} is a gated model and this account has not been granted access ({token}); its conditions are accepted at {page}: {error}"),
            )
            .with_hint(format!(
                "Open {page} while logged in, accept the conditions to access the model, wait for the access to be granted, then run again with that account's token in HF_TOKEN (or after `hf auth login`)."
            )),
            HubErrorKind::AccessDenied => Finding::new(
                RuleId::HubAccessDenied,
                path,
                format!("{repo} could not be read ({token}): it is private, or does not exist, or the token may not read it: {error}"),
            )
            .with_hint(format!(
                "Set HF_TOKEN to a token of an account that can read {page} (or run `hf auth login`); check the repository id."
            )),
            HubErrorKind::NotFound => {
                let what = match error.code.as_deref() {
                    Some("RevisionNotFound") => format!("the revision {revision:?} of {repo} does not exist"),
                    Some("EntryNotFound") => format!("{path} is not in {repo} at {revision}"),
                    _ if path.is_empty() => format!("{repo} (revision {revision:?}) was not found"),
                    _ => format!("{path} of {repo} was not found"),
                };
                Finding::new(RuleId::HubNotFound, path, format!("{what}: {error}")).with_hint(format!(
                    "Check the repository id and the revision (a branch, tag or commit listed at {page}); a private repository also needs HF_TOKEN."
                ))
            }
            HubErrorKind::Other => Finding::new(RuleId::UnreadableFile, path, error.message.clone()),
        }
    }

    fn read_error(&self, error: &HubError, path: &str) -> ReadError {
        match error.kind {
            HubErrorKind::Other => ReadError::new(error.message.clone()),
            _ => {
                let finding = self.finding(error, path);
                ReadError::under(finding.rule, finding.message, Some(finding.hint))
            }
        }
    }

    /// The URL of `path` at the resolved commit.
    async fn pinned_url(&self, path: &str) -> Result<String, HubError> {
        let info = self.resolve().await?;
        Ok(self.client.resolve_url(&self.uri.repo_id, &info.sha, path))
    }

    /// For a gated model (whose info and file list are public), one byte of one file read
    /// before any other: a refusal is the run's one HF001, naming the page where the
    /// conditions are accepted, instead of one refusal per file. Any other outcome leaves
    /// the reads to report for themselves.
    async fn probe_access(&self, info: &RevisionInfo) -> Result<(), SourceError> {
        if !info.gated {
            return Ok(());
        }
        let Some(sibling) = info
            .siblings
            .iter()
            .find(|s| s.lfs.as_ref().map(|lfs| lfs.size).or(s.size).unwrap_or(0) > 0)
        else {
            return Ok(());
        };
        let url = self
            .client
            .resolve_url(&self.uri.repo_id, &info.sha, &sibling.rfilename);
        match self.client.get(&url, Some(0..1)).await {
            Err(error) if error.kind == HubErrorKind::AccessDenied => {
                debug!(repo = %self.uri.repo_id, %error, "the gated model refused a read");
                Err(SourceError::Blocked(Box::new(self.finding(&error, ""))))
            }
            _ => Ok(()),
        }
    }

    /// GETs `range` of `path` as the pieces of its body; a body cut short or of another
    /// length is fetched again, up to `attempts` times, never returned.
    async fn fetch_part(
        &self,
        path: &str,
        range: Range<u64>,
        attempts: u32,
    ) -> Result<Vec<bytes::Bytes>, HashError> {
        let url = self
            .pinned_url(path)
            .await
            .map_err(|e| HashError::new(path, self.read_error(&e, path).reason))?;
        let expected = range.end - range.start;
        let mut problem = String::new();
        for attempt in 0..attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                debug!(path, attempt, %problem, "fetching the part again");
            }
            let mut response = self
                .client
                .get(&url, Some(range.clone()))
                .await
                .map_err(|e| HashError::new(path, self.read_error(&e, path).reason))?;
            let mut pieces = Vec::new();
            let mut received = 0u64;
            let cut = loop {
                match response.chunk().await {
                    Ok(Some(piece)) => {
                        received += piece.len() as u64;
                        if received > expected {
                            break Some(format!(
                                "more than the {expected} bytes asked at offset {}",
                                range.start
                            ));
                        }
                        pieces.push(piece);
                    }
                    Ok(None) => break None,
                    Err(error) => {
                        break Some(format!("body cut at offset {}: {error}", range.start))
                    }
                }
            };
            match cut {
                None if received == expected => return Ok(pieces),
                None => {
                    problem = format!(
                        "received {received} of the {expected} bytes at offset {}",
                        range.start
                    )
                }
                Some(cut) => problem = cut,
            }
        }
        Err(HashError::new(
            path,
            format!("gave up after {attempts} attempts: {problem}"),
        ))
    }
}

impl Source for HubSource {
    fn describe(&self) -> String {
        self.uri_text()
    }

    /// Resolves the revision (one request) and lists its files; a denial or a missing
    /// repository or revision is the run's one finding.
    async fn list(&self) -> Result<Listing, SourceError> {
        let info = match self.resolve().await {
            Ok(info) => info,
            Err(error) if error.kind == HubErrorKind::Other => {
                return Err(SourceError::Remote {
                    what: format!("cannot read {}", self.uri_text()),
                    reason: error.message,
                })
            }
            Err(error) => return Err(SourceError::Blocked(Box::new(self.finding(&error, "")))),
        };
        self.probe_access(info).await?;
        let mut listing = Listing::default();
        for sibling in &info.siblings {
            let size = sibling
                .lfs
                .as_ref()
                .map(|lfs| lfs.size)
                .or(sibling.size)
                .unwrap_or(0);
            listing.meta.insert(
                sibling.rfilename.clone(),
                ObjectMeta {
                    etag: sibling.blob_id.clone(),
                    version_id: None,
                    last_modified: None,
                    published_sha256: sibling
                        .lfs
                        .as_ref()
                        .map(|lfs| lfs.sha256.to_ascii_lowercase())
                        .filter(|sha256| {
                            sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())
                        }),
                },
            );
            listing.entries.push(Entry {
                path: sibling.rfilename.clone(),
                size,
            });
        }
        listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
        listing.not_files = crate::s3::folders(&listing.entries)
            .into_iter()
            .map(|folder| (folder, "a directory".to_string()))
            .collect();
        Ok(listing)
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        let expected = range.end - range.start;
        if expected == 0 {
            return Ok(Vec::new());
        }
        let url = self
            .pinned_url(path)
            .await
            .map_err(|e| self.read_error(&e, path))?;
        let response = self
            .client
            .get(&url, Some(range.clone()))
            .await
            .map_err(|e| self.read_error(&e, path))?;
        // One buffer of exactly the range, filled chunk by chunk as the body arrives: a part
        // takes its own size once (never a collected body and a copy of it), and a server
        // sending more than was asked is stopped at the first byte too many.
        let wanted = usize::try_from(expected)
            .map_err(|_| ReadError::new(format!("a range of {expected} bytes of {url}")))?;
        let mut response = response;
        let mut body = Vec::with_capacity(wanted);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ReadError::new(format!("reading the body of {url}: {e}")))?
        {
            if body.len() + chunk.len() > wanted {
                return Err(ReadError::new(format!(
                    "asked for {expected} bytes at offset {} of {url}, received more",
                    range.start
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if body.len() != wanted {
            return Err(ReadError::new(format!(
                "asked for {expected} bytes at offset {} of {url}, received {}",
                range.start,
                body.len()
            )));
        }
        Ok(body)
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        let (sha256, _) =
            hash::hash_parts(path, size, options, budget, progress, |range| async move {
                let pieces = self.fetch_part(path, range, options.part_attempts).await?;
                Ok((pieces, ()))
            })
            .await?;
        let etag = self
            .resolved
            .get()
            .and_then(|info| info.siblings.iter().find(|s| s.rfilename == path))
            .and_then(|s| s.blob_id.clone());
        Ok(FileDigest {
            sha256,
            size,
            etag,
            version_id: None,
        })
    }

    fn provenance(&self) -> Option<Provenance> {
        let commit = self.commit()?;
        Some(Provenance {
            repo: self.uri.repo_id.clone(),
            revision: self.uri.revision.clone(),
            commit: commit.to_string(),
            url: format!("{}/tree/{commit}", self.client.page_url(&self.uri.repo_id)),
        })
    }
}
