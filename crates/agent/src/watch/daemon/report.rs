//! The files of the state directory (reports and manifests, by artifact and fingerprint) and
//! the report of one artifact version, [`WatchReport`].

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use cmi_format::document::CheckDocument;
use cmi_format::Report;
use serde::{Deserialize, Serialize};

use super::{fault, Daemon, Fault};
use crate::manifest::Manifest;
use crate::s3::describe_s3_failure;
use crate::watch::health::ErrorKind;
use crate::watch::state::ArtifactState;

/// The report of one artifact version (docs/watch.md): the artifact's fields and its check
/// document ([`CheckDocument`]) under [`WatchReport::SCHEMA`], in one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchReport {
    /// The artifact's name.
    pub artifact: String,
    /// Whether an earlier version of the artifact was processed.
    pub changed: bool,
    /// The fingerprint of the version checked.
    pub fingerprint: String,
    /// The artifact digest of its manifest, for a version that passed.
    pub manifest_digest: Option<String>,
    /// The check document (`schema`, `tool`, `source`, `passed`, `findings`, ...), its
    /// schema [`WatchReport::SCHEMA`].
    #[serde(flatten)]
    pub check: CheckDocument,
}

impl WatchReport {
    /// Identifier of the schema.
    pub const SCHEMA: &'static str = "cmi-preflight.watch-report.v1";

    /// The report of `report` about the version `fingerprint` of `artifact` at `source`.
    pub fn new(
        artifact: &str,
        fingerprint: &str,
        changed: bool,
        manifest_digest: Option<String>,
        source: &str,
        report: &Report,
    ) -> WatchReport {
        let check = CheckDocument {
            schema: Self::SCHEMA.to_string(),
            ..CheckDocument::new(source, false, report)
        };
        WatchReport {
            artifact: artifact.to_string(),
            changed,
            fingerprint: fingerprint.to_string(),
            manifest_digest,
            check,
        }
    }

    /// The report as written, indented, with a final newline; its keys sorted as in every
    /// check document (the check's fields and the artifact's make one object).
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        format!("{value:#}\n")
    }
}

/// A file name for an artifact's report: its name with anything but `[A-Za-z0-9._-]` made
/// `_`, and the first 16 hex digits of its fingerprint, so that no name escapes the folder.
fn file_stem(name: &str, fingerprint: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    format!("{safe}-{}", &fingerprint[..fingerprint.len().min(16)])
}

impl Daemon {
    /// Writes the report (and manifest) of one version to the state directory, and to
    /// `--report-to`; returns the report's path.
    pub(super) async fn write_report(
        &self,
        artifact: &ArtifactState,
        report: &Report,
        manifest: Option<&Manifest>,
    ) -> Result<PathBuf, Fault> {
        let stem = file_stem(&artifact.name, &artifact.fingerprint);
        let source = format!("s3://{}/{}", self.options.uri.bucket, artifact.prefix);
        let text = WatchReport::new(
            &artifact.name,
            &artifact.fingerprint,
            artifact.changed,
            manifest.map(|m| m.artifact_digest.clone()),
            &source,
            report,
        )
        .to_json();
        let dir = self.options.state_dir.join("reports");
        let path = dir.join(format!("{stem}.json"));
        write_file(&path, text.as_bytes())?;
        if let Some(manifest) = manifest {
            let path = self
                .options
                .state_dir
                .join("manifests")
                .join(format!("{stem}.json"));
            write_file(&path, manifest.to_json().as_bytes())?;
        }
        if let Some(target) = &self.options.report_to {
            let key = format!(
                "{}{}/{}.json",
                target.prefix,
                artifact.name,
                &artifact.fingerprint[..16.min(artifact.fingerprint.len())]
            );
            self.s3
                .put_object()
                .bucket(&target.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(text.into_bytes()))
                .send()
                .await
                .map_err(|e| {
                    fault(
                        ErrorKind::Report,
                        format!(
                            "PutObject s3://{}/{key}: {}",
                            target.bucket,
                            describe_s3_failure("PutObject", &target.bucket, &key, &e)
                        ),
                    )
                })?;
        }
        Ok(path)
    }

    /// The manifest written for an artifact's processed version.
    pub(super) fn manifest_of(&self, artifact: &ArtifactState) -> Result<Manifest, Fault> {
        let fingerprint = artifact
            .processed_fingerprint
            .as_deref()
            .unwrap_or(&artifact.fingerprint);
        let path = self
            .options
            .state_dir
            .join("manifests")
            .join(format!("{}.json", file_stem(&artifact.name, fingerprint)));
        Manifest::read(&path).map_err(|e| fault(ErrorKind::Import, e.to_string()))
    }
}

/// Writes a file of the state directory atomically, creating its folder.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Fault> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            fault(
                ErrorKind::Report,
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
    }
    crate::files::write_atomic(path, bytes).map_err(|e| {
        fault(
            ErrorKind::Report,
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_report() {
        let report = WatchReport::new(
            "llama-a",
            "abcdef0123456789ff",
            true,
            Some("sha256:01".into()),
            "s3://models/llama-a/",
            &Report::default(),
        );
        assert_eq!(report.check.schema, WatchReport::SCHEMA);
        let text = report.to_json();
        let back: WatchReport = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, report);
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("  \""))
            .filter_map(|l| l.split('"').next())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert!(keys.contains(&"manifest_digest") && keys.contains(&"findings"));
    }

    #[test]
    fn report_names_stay_in_their_folder() {
        assert_eq!(
            file_stem("llama-3", "abcdef0123456789ff"),
            "llama-3-abcdef0123456789"
        );
        assert_eq!(file_stem("../x y", "ab"), "_x_y-ab");
        assert!(!file_stem("..", "ab").starts_with('.'));
    }
}
