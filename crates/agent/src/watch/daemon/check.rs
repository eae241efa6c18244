//! The check of a ready version: one listing, the check, and for a passing version the
//! manifest of exactly that listing, then its report.

use std::sync::Arc;
use std::time::SystemTime;

use super::events::{count, WatchEvent};
use super::{fault, state_fault, Daemon, Fault};
use crate::check::{check_listed, CheckOptions};
use crate::hash::NoProgress;
use crate::manifest::{self, ManifestOptions};
use crate::s3::{S3Source, S3Uri};
use crate::source::{Listing, Source, SourceError};
use crate::watch::health::ErrorKind;
use crate::watch::scan::{Artifact, ListedObject};
use crate::watch::state::{ArtifactState, CheckOutcome};
use cmi_format::RuleId;

/// Findings that say the artifact could not be read (access, KMS, a transport failure after
/// the SDK's retries) rather than that it is wrong: the daemon retries them instead of failing
/// the artifact.
const UNREADABLE: [RuleId; 4] = [
    RuleId::ListAccessDenied,
    RuleId::GetAccessDenied,
    RuleId::KmsAccessDenied,
    RuleId::UnreadableFile,
];

impl Daemon {
    /// The source of one artifact.
    pub(super) fn source(&self, prefix: &str) -> S3Source {
        let uri = S3Uri {
            bucket: self.options.uri.bucket.clone(),
            prefix: prefix.to_string(),
        };
        let reader = self
            .options
            .aws
            .role_arn
            .clone()
            .unwrap_or_else(|| "the current credentials".to_string());
        S3Source::new(&self.reader_config, uri, reader).with_bedrock_region(self.region.clone())
    }

    /// The fingerprint of a check's listing, as a scan computes it.
    fn fingerprint_of(&self, artifact: &ArtifactState, listing: &Listing) -> String {
        let marker = self.watched.policy().marker();
        Artifact {
            name: artifact.name.clone(),
            prefix: artifact.prefix.clone(),
            objects: listing
                .entries
                .iter()
                .filter(|e| Some(e.path.as_str()) != marker)
                .map(|e| ListedObject {
                    key: format!("{}{}", artifact.prefix, e.path),
                    size: e.size,
                    meta: listing.meta.get(&e.path).cloned().unwrap_or_default(),
                })
                .collect(),
            marker: None,
        }
        .fingerprint()
    }

    /// Checks a ready artifact, makes the manifest of a passing one, writes the report.
    pub(super) async fn process(&self, artifact: &ArtifactState) -> Result<(), Fault> {
        let now = SystemTime::now();
        self.store()
            .start_check(&artifact.name, now)
            .map_err(state_fault)?;
        let source = self.source(&artifact.prefix);
        let listing = match source.list().await {
            Ok(listing) => listing,
            Err(SourceError::Blocked(finding)) => {
                return Err(fault(ErrorKind::List, finding.message));
            }
            Err(e) => return Err(fault(ErrorKind::List, e.to_string())),
        };
        let fingerprint = self.fingerprint_of(artifact, &listing);
        if fingerprint != artifact.fingerprint {
            self.store()
                .observe(
                    &artifact.name,
                    &artifact.prefix,
                    &fingerprint,
                    SystemTime::now(),
                )
                .map_err(state_fault)?;
            WatchEvent::Changed {
                artifact: artifact.name.clone(),
                after_processing: None,
                during: Some("check".to_string()),
            }
            .emit();
            return Ok(());
        }
        let check = CheckOptions {
            bedrock_region: self
                .options
                .check
                .bedrock_region
                .clone()
                .or_else(|| self.region.clone()),
            ..self.options.check.clone()
        };
        let mut report = check_listed(&source, listing.clone(), check.clone()).await;
        if let Some(unreadable) = report
            .findings
            .iter()
            .find(|f| UNREADABLE.contains(&f.rule))
        {
            return Err(fault(
                ErrorKind::Check,
                format!(
                    "[{}] {}: {}",
                    unreadable.code(),
                    unreadable.file,
                    unreadable.message
                ),
            ));
        }
        let mut passed = report.passed(false);
        let mut manifest = if passed {
            let options = ManifestOptions {
                hash: self.options.hash.clone(),
                check,
            };
            let made = manifest::create_listed(
                &source,
                listing,
                report.summary.clone(),
                &options,
                None,
                Arc::new(NoProgress),
            )
            .await
            .map_err(|e| fault(ErrorKind::Manifest, e.to_string()))?;
            Some(made)
        } else {
            None
        };
        if let (Some(policy), Some(made)) = (&self.options.signature, &manifest) {
            let findings = self.signature_findings(policy, artifact, made).await?;
            if !findings.is_empty() {
                report.findings.extend(findings);
                passed = false;
                manifest = None;
            }
        }
        let report_path = self
            .write_report(artifact, &report, manifest.as_ref())
            .await?;
        let outcome = CheckOutcome {
            passed,
            manifest_digest: manifest.as_ref().map(|m| m.artifact_digest.clone()),
            report_path: report_path.display().to_string(),
        };
        self.store()
            .record_check(&artifact.name, outcome, SystemTime::now())
            .map_err(state_fault)?;
        let errors = report.count(cmi_format::Severity::Error);
        let warnings = report.count(cmi_format::Severity::Warning);
        if passed {
            self.lock_summary().passed += 1;
            WatchEvent::Passed {
                artifact: artifact.name.clone(),
                warnings: count(warnings),
                changed: artifact.changed,
                manifest_digest: manifest.map(|m| m.artifact_digest).unwrap_or_default(),
                report: report_path.display().to_string(),
            }
            .emit();
        } else {
            self.lock_summary().failed += 1;
            let codes: Vec<&str> = report.findings.iter().map(|f| f.code()).collect();
            WatchEvent::Failed {
                artifact: artifact.name.clone(),
                errors: count(errors),
                warnings: count(warnings),
                changed: artifact.changed,
                codes: codes.join(","),
                report: report_path.display().to_string(),
            }
            .emit();
        }
        Ok(())
    }
}
