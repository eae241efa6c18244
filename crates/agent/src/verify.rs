//! `verify`: compare an artifact with its manifest, file by file, to gate a release.
//!
//! The full mode hashes every file again. The metadata-only mode (S3 only) compares sizes,
//! ETags and version ids from the listing and HeadObject, without reading any content, and
//! says so.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cmi_format::document::CheckDocument;
use cmi_format::{Finding, Report, RuleId};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::hash::{self, HashOptions, Progress};
use crate::manifest::{FileRecord, Manifest, ManifestError};
use crate::s3::S3Source;
use crate::source::{Listing, Source, StoredChecksum};

/// How the contents were compared; `full` or `metadata-only` in the verify document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyMode {
    /// Every file hashed again.
    Full,
    /// Sizes, ETags and version ids only; no content read.
    MetadataOnly,
}

/// The outcome of a verification.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Findings of the `MF` rules (and any reading problem), with the manifest's model.
    pub report: Report,
    /// How contents were compared.
    pub mode: VerifyMode,
    /// Files present on both sides whose contents (or metadata) were compared.
    pub compared: usize,
    /// Of those, the files compared by the SHA-256 checksum S3 holds for them instead of
    /// being read: a full-object checksum against the manifest's `sha256`, or a composite one
    /// against its `s3_checksum`.
    pub by_s3_checksum: usize,
}

/// The manifest a verification compared with, as the verify document names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestReference {
    /// The manifest file as the user gave it.
    pub path: String,
    /// Its artifact digest, `sha256:<hex>`.
    pub artifact_digest: String,
    /// How many files it lists.
    pub files: usize,
}

/// The signature a verification checked, as the verify document names it (docs/signing.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureReference {
    /// The signature file or `s3://` object as the user gave it.
    pub path: String,
    /// The public key that verified it, as the user gave it; absent when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// For a certificate signature, its signing certificate, once trusted; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::signing::CertificateRecord>,
    /// The statement's subject digest, `sha256:<hex>`; absent when the statement could not
    /// be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// How many files the statement lists.
    pub files: usize,
}

/// What a verify document adds to the check document: how, with what and how much was
/// compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// How contents were compared.
    pub mode: VerifyMode,
    /// The manifest compared with; absent when a signature alone was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReference>,
    /// The signature checked, with `--signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureReference>,
    /// Files compared beyond their presence and size.
    pub compared: usize,
    /// Of those, the files compared by S3's stored SHA-256 checksum, without reading them;
    /// absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub by_s3_checksum: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl Comparison {
    /// The comparison of `verification`, against `manifest` read from `manifest_path`.
    pub fn new(manifest_path: &Path, manifest: &Manifest, verification: &Verification) -> Self {
        Comparison {
            mode: verification.mode,
            manifest: Some(ManifestReference {
                path: manifest_path.display().to_string(),
                artifact_digest: manifest.artifact_digest.clone(),
                files: manifest.files.len(),
            }),
            signature: None,
            compared: verification.compared,
            by_s3_checksum: verification.by_s3_checksum,
        }
    }
}

/// The document of `verify --format json`, schema [`VerifyDocument::SCHEMA`]
/// (docs/manifest.md): the fields of the check document, and those of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDocument {
    /// The check document of the verification's findings, under this schema.
    #[serde(flatten)]
    pub check: CheckDocument,
    /// How, with what and how much was compared.
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl VerifyDocument {
    /// Identifier of the schema of a verify document.
    pub const SCHEMA: &'static str = "cmi-preflight.verify.v1";

    /// The document of `report` about `source`, with its comparison.
    pub fn new(source: &str, report: &Report, comparison: Comparison) -> Self {
        VerifyDocument {
            check: CheckDocument {
                schema: VerifyDocument::SCHEMA.to_string(),
                ..CheckDocument::new(source, false, report)
            },
            comparison,
        }
    }
}

/// What the artifact is compared with: a manifest, or the statement of a signature (which
/// records no sizes: its records take the listed sizes, so only contents are compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    Manifest,
    Signature,
}

impl Basis {
    fn name(self) -> &'static str {
        match self {
            Basis::Manifest => "the manifest",
            Basis::Signature => "the signature",
        }
    }
}

/// Splits the comparison: findings for missing, extra and resized files, and the files that
/// are on both sides with the same size, to be compared further.
fn compare_listing<'m>(
    manifest: &'m Manifest,
    listing: &Listing,
    basis: Basis,
) -> (Vec<Finding>, Vec<&'m FileRecord>) {
    let listed: BTreeMap<&str, u64> = listing
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.size))
        .collect();
    // Names that are in the folder but are not regular files (a FIFO, a device, a socket, a
    // folder): named for what they are, and never opened.
    let not_files: BTreeMap<&str, &str> = listing
        .not_files
        .iter()
        .map(|(path, kind)| (path.as_str(), kind.as_str()))
        .collect();
    let mut findings = Vec::new();
    let mut common = Vec::new();
    for record in &manifest.files {
        match listed.get(record.path.as_str()) {
            None => findings.push(Finding::new(
                RuleId::FileMissing,
                record.path.clone(),
                match (not_files.get(record.path.as_str()), basis) {
                    (Some(kind), Basis::Manifest) => format!(
                        "is a regular file in the manifest ({} bytes), but in the artifact it \
                         is {kind}; it was not read",
                        record.size
                    ),
                    (Some(kind), Basis::Signature) => format!(
                        "is a signed file, but in the artifact it is {kind}; it was not read"
                    ),
                    (None, Basis::Manifest) => format!(
                        "is in the manifest ({} bytes) but not in the artifact",
                        record.size
                    ),
                    (None, Basis::Signature) => "is signed but not in the artifact".to_string(),
                },
            )),
            Some(size) if *size != record.size => findings.push(Finding::new(
                RuleId::SizeChanged,
                record.path.clone(),
                format!("is {size} bytes; the manifest says {}", record.size),
            )),
            Some(_) => common.push(record),
        }
    }
    let in_manifest: std::collections::HashSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for entry in &listing.entries {
        if !in_manifest.contains(entry.path.as_str()) {
            findings.push(Finding::new(
                RuleId::FileExtra,
                entry.path.clone(),
                format!("is not in {} ({} bytes)", basis.name(), entry.size),
            ));
        }
    }
    for (path, error) in &listing.unreadable {
        findings.push(error.clone().into_finding(path));
    }
    (findings, common)
}

/// Differences between a manifest and a listing alone, reading nothing: missing, extra and
/// resized files, and (where the manifest recorded one) a changed ETag. What `import
/// --manifest` asserts before it submits.
pub fn compare_with_listing(manifest: &Manifest, listing: &Listing) -> Vec<Finding> {
    let (mut findings, common) = compare_listing(manifest, listing, Basis::Manifest);
    for record in common {
        let listed = listing.meta.get(&record.path).and_then(|m| m.etag.as_ref());
        if let (Some(expected), Some(actual)) = (&record.etag, listed) {
            if expected != actual {
                findings.push(Finding::new(
                    RuleId::MetadataChanged,
                    record.path.clone(),
                    format!("has ETag {actual} (manifest: {expected})"),
                ));
            }
        }
    }
    findings
}

fn report(manifest: &Manifest, mut findings: Vec<Finding>) -> Report {
    findings.sort_by(|a, b| (a.file.as_str(), a.code()).cmp(&(b.file.as_str(), b.code())));
    Report {
        findings,
        summary: manifest.model.clone(),
    }
}

/// How S3's stored checksum of a file compares with its record, when it settles it.
fn by_checksum(
    record: &FileRecord,
    stored: &StoredChecksum,
    basis: Basis,
) -> Option<Option<Finding>> {
    if stored.size != record.size {
        return None;
    }
    if let Some(sha256) = stored.sha256() {
        return Some((sha256 != record.sha256).then(|| {
            Finding::new(
                RuleId::DigestChanged,
                record.path.clone(),
                format!(
                    "has SHA-256 {sha256} (the full-object checksum S3 holds); {} says {}",
                    basis.name(),
                    record.sha256
                ),
            )
        }));
    }
    // A composite checksum that differs proves nothing (the same bytes sent in other parts
    // have another): the file is read.
    record
        .s3_checksum
        .as_deref()
        .is_some_and(|recorded| stored.matches(recorded))
        .then_some(None)
}

/// Compares every file of `source` that the manifest lists with the same size: by the
/// SHA-256 checksum S3 holds for it where that settles it (see [`Verification`]), else by
/// hashing it again; and reports every difference.
pub async fn verify<S: Source>(
    source: &S,
    manifest: &Manifest,
    options: &HashOptions,
    progress: Arc<dyn Progress>,
) -> Result<Verification, ManifestError> {
    let listing = source.list().await?;
    verify_listed(
        source,
        manifest,
        &listing,
        Basis::Manifest,
        options,
        progress,
    )
    .await
}

/// Compares the files of `listing` (the caller's, with the paths the signature leaves out
/// already removed) with the signed `files` (path and SHA-256): a missing file is MF001, an
/// extra one MF002, a changed one MF004, as [`verify`] reports them against a manifest. The
/// statement records no sizes, so every file on both sides is hashed (or settled by the
/// SHA-256 checksum S3 holds for it).
pub async fn verify_signed<S: Source>(
    source: &S,
    files: &[(String, String)],
    listing: &Listing,
    options: &HashOptions,
    progress: Arc<dyn Progress>,
) -> Result<Verification, ManifestError> {
    let listed: BTreeMap<&str, u64> = listing
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.size))
        .collect();
    let records: Vec<FileRecord> = files
        .iter()
        .map(|(path, sha256)| FileRecord {
            path: path.clone(),
            size: listed.get(path.as_str()).copied().unwrap_or(0),
            sha256: sha256.clone(),
            etag: None,
            version_id: None,
            last_modified: None,
            reused: false,
            s3_checksum: None,
            digest_source: None,
        })
        .collect();
    let manifest = Manifest {
        schema: Manifest::SCHEMA.to_string(),
        tool: cmi_format::document::Tool::current(),
        created: String::new(),
        source: source.describe(),
        artifact_digest: crate::manifest::artifact_digest(&records),
        model: Default::default(),
        files: records,
        provenance: source.provenance(),
    };
    verify_listed(
        source,
        &manifest,
        listing,
        Basis::Signature,
        options,
        progress,
    )
    .await
}

async fn verify_listed<S: Source>(
    source: &S,
    manifest: &Manifest,
    listing: &Listing,
    basis: Basis,
    options: &HashOptions,
    progress: Arc<dyn Progress>,
) -> Result<Verification, ManifestError> {
    let (mut findings, common) = compare_listing(manifest, listing, basis);
    let compared = common.len();
    let stored: Vec<_> = stream::iter(common)
        .map(|record| async move { (record, source.stored_checksum(&record.path).await) })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let mut common = Vec::new();
    let mut by_s3_checksum = 0;
    for (record, stored) in stored {
        let stored = stored.map_err(|error| ManifestError::Unreadable {
            path: record.path.clone(),
            reason: error.reason,
        })?;
        match stored
            .as_ref()
            .and_then(|stored| by_checksum(record, stored, basis))
        {
            Some(finding) => {
                by_s3_checksum += 1;
                findings.extend(finding);
            }
            None => common.push(record),
        }
    }
    let options = &options.for_files(common.len());
    let budget = hash::budget(options);
    progress.plan(
        common.len() as u64,
        common.iter().map(|record| record.size).sum(),
    );
    let results: Vec<_> = stream::iter(common.iter())
        .map(|record| {
            let budget = &budget;
            let progress = Arc::clone(&progress);
            async move {
                let digest = source
                    .hash_file(&record.path, record.size, options, budget, progress)
                    .await;
                (*record, digest)
            }
        })
        .buffer_unordered(options.files_at_once)
        .collect()
        .await;
    for (record, digest) in results {
        match digest {
            Ok(digest) if digest.sha256 == record.sha256 => {}
            Ok(digest) => findings.push(Finding::new(
                RuleId::DigestChanged,
                record.path.clone(),
                format!(
                    "has SHA-256 {}; {} says {}",
                    digest.sha256,
                    basis.name(),
                    record.sha256
                ),
            )),
            Err(error) => match error.rule {
                Some(rule) => findings.push(Finding::new(rule, record.path.clone(), error.reason)),
                None => return Err(ManifestError::Hash(error)),
            },
        }
    }
    Ok(Verification {
        report: report(manifest, findings),
        mode: VerifyMode::Full,
        compared,
        by_s3_checksum,
    })
}

/// Compares sizes, ETags and version ids of an S3 artifact with the manifest, reading no
/// content: one listing and one HeadObject per file.
pub async fn verify_metadata(
    source: &S3Source,
    manifest: &Manifest,
    concurrency: usize,
) -> Result<Verification, ManifestError> {
    let listing = source.list().await?;
    let (mut findings, common) = compare_listing(manifest, &listing, Basis::Manifest);
    let heads: Vec<_> = stream::iter(common.iter())
        .map(|record| async move { (*record, source.head(&record.path).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (record, head) in heads {
        let meta = match head {
            Ok(meta) => meta,
            Err(error) => {
                findings.push(error.into_finding(&record.path));
                continue;
            }
        };
        let mut differences = Vec::new();
        if record.etag.is_some() && meta.etag != record.etag {
            differences.push(format!(
                "ETag {} (manifest: {})",
                meta.etag.as_deref().unwrap_or("none"),
                record.etag.as_deref().unwrap_or("none")
            ));
        }
        if record.version_id.is_some() && meta.version_id != record.version_id {
            differences.push(format!(
                "version id {} (manifest: {})",
                meta.version_id.as_deref().unwrap_or("none"),
                record.version_id.as_deref().unwrap_or("none")
            ));
        }
        if record.etag.is_none() && record.version_id.is_none() {
            differences.push("the manifest has no ETag or version id to compare".to_string());
        }
        if !differences.is_empty() {
            findings.push(Finding::new(
                RuleId::MetadataChanged,
                record.path.clone(),
                format!("has {}", differences.join(" and ")),
            ));
        }
    }
    Ok(Verification {
        report: report(manifest, findings),
        mode: VerifyMode::MetadataOnly,
        compared: common.len(),
        by_s3_checksum: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_have_their_documented_names() {
        for (mode, name) in [
            (VerifyMode::Full, "\"full\""),
            (VerifyMode::MetadataOnly, "\"metadata-only\""),
        ] {
            assert_eq!(serde_json::to_string(&mode).unwrap(), name);
            assert_eq!(serde_json::from_str::<VerifyMode>(name).unwrap(), mode);
        }
    }
}
