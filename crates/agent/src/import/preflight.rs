//! The preflight of an import: the artifact checked (unless skipped), compared with its
//! manifest, and fingerprinted for the idempotency token.

use cmi_format::Report;

use super::ImportError;
use crate::aws::{self, AwsOptions};
use crate::check::CheckOptions;
use crate::hash::sha256_hex;
use crate::manifest::Manifest;
use crate::open::OpenError;
use crate::s3::{S3Source, S3Uri};
use crate::source::{Listing, Source, SourceError};

/// A fingerprint of an S3 artifact from its listing alone: the SHA-256 of
/// `<path> <size> <etag>` lines in path order. Any replaced object changes it.
pub fn listing_fingerprint(listing: &Listing) -> String {
    let mut lines: Vec<String> = listing
        .entries
        .iter()
        .map(|entry| {
            let etag = listing
                .meta
                .get(&entry.path)
                .and_then(|m| m.etag.clone())
                .unwrap_or_default();
            format!("{} {} {etag}\n", entry.path, entry.size)
        })
        .collect();
    lines.sort();
    format!("listing:{}", sha256_hex(lines.concat().as_bytes()))
}

/// What `import` reads before it submits.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// Connection settings; with `role_arn`, the artifact is listed and checked under that
    /// role, as Bedrock will read it.
    pub aws: AwsOptions,
    /// Region of the import job: S3006 when the bucket is elsewhere, and the `RG` rules.
    pub bedrock_region: Option<String>,
    /// How to check the artifact; `None` skips the check (`--no-check`).
    pub check: Option<CheckOptions>,
}

/// What the preflight found.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The check's findings, with the differences from the manifest (MF rules); `None` when
    /// the check was skipped.
    pub report: Option<Report>,
    /// The artifact's fingerprint for the idempotency token: `manifest:<artifact digest>`
    /// with a manifest, else `listing:<sha256 of the listing>`; `None` when the prefix could
    /// not be listed (the report says why).
    pub fingerprint: Option<String>,
}

/// Checks the artifact (unless skipped), compares it with the manifest, and fingerprints it.
///
/// Without a check and with a manifest, nothing is read: the manifest's digest is the
/// fingerprint. Without either, the prefix is listed for its fingerprint only.
pub async fn preflight(
    s3_uri: &str,
    manifest: Option<&Manifest>,
    options: &PreflightOptions,
) -> Result<Preflight, ImportError> {
    let manifest_fingerprint = manifest.map(|m| format!("manifest:{}", m.artifact_digest));
    if options.check.is_none() {
        if let Some(fingerprint) = manifest_fingerprint {
            return Ok(Preflight {
                report: None,
                fingerprint: Some(fingerprint),
            });
        }
    }
    let uri: S3Uri = s3_uri.parse().map_err(OpenError::from)?;
    let config = aws::load(&options.aws).await.map_err(OpenError::from)?;
    let reader = options
        .aws
        .role_arn
        .clone()
        .unwrap_or_else(|| "the current credentials".to_string());
    let source =
        S3Source::new(&config, uri, reader).with_bedrock_region(options.bedrock_region.clone());
    let listing = match source.list().await {
        Ok(listing) => listing,
        Err(SourceError::Blocked(finding)) => {
            return match options.check {
                Some(_) => Ok(Preflight {
                    report: Some(Report {
                        findings: vec![*finding],
                        ..Report::default()
                    }),
                    fingerprint: None,
                }),
                None => Err(ImportError::Unlisted(finding.message)),
            };
        }
        Err(error) => return Err(OpenError::from(error).into()),
    };
    let fingerprint = manifest_fingerprint.unwrap_or_else(|| listing_fingerprint(&listing));
    let differences = manifest
        .map(|m| crate::verify::compare_with_listing(m, &listing))
        .unwrap_or_default();
    let report = match &options.check {
        Some(check) => {
            let check = CheckOptions {
                bedrock_region: check
                    .bedrock_region
                    .clone()
                    .or_else(|| options.bedrock_region.clone()),
                ..check.clone()
            };
            let mut report = crate::check::check_listed(&source, listing, check).await;
            report.findings.extend(differences);
            Some(report)
        }
        None => None,
    };
    Ok(Preflight {
        report,
        fingerprint: Some(fingerprint),
    })
}
