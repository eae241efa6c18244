//! The JSON documents that are pure data: the check document, schema `cmi-preflight.check.v1`
//! (docs/json-output.md), which `check --format json` prints, `import` embeds and the watch
//! daemon keeps as an artifact's report; and the rule catalog of `rules --format json`.
//! Building them is pure; writing them is the caller's business.
//!
//! The check document and the documents that extend it are written through
//! [`serde_json::Value`], so their object keys come out in ascending order at every level
//! (serde_json's map is sorted unless its `preserve_order` feature is on); reading one back
//! into its type and writing it again gives the same bytes.

use serde::{Deserialize, Serialize};

use crate::{Report, Rule, Severity, Summary};

/// The program that wrote a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `cmi-preflight`.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl Tool {
    /// This program: `cmi-preflight` at the workspace's version.
    pub fn current() -> Tool {
        Tool {
            name: "cmi-preflight".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Findings of severity `error`.
    pub error: usize,
    /// Findings of severity `warning`.
    pub warning: usize,
    /// Findings of severity `info`.
    pub info: usize,
}

/// One finding, with the code, name and severity of its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// Stable rule code, such as `ST013`.
    pub code: String,
    /// Stable rule name, such as `invalid-offsets`.
    pub name: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// Path relative to the source with `/` separators; `""` for the artifact as a whole.
    pub file: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// Only on the finding that stands for the findings of its rule about its file beyond the
    /// first 20 (its message starts `and N more`): N, how many findings it stands for. The
    /// number of times a rule fired is the sum of `occurrences` over its findings, counting 1
    /// for a finding without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<usize>,
}

impl FindingRecord {
    /// The record of `finding`.
    pub fn of(finding: &crate::Finding) -> FindingRecord {
        let rule = finding.rule.rule();
        FindingRecord {
            code: rule.code.to_string(),
            name: rule.name.to_string(),
            severity: rule.severity.as_str().to_string(),
            file: finding.file.clone(),
            message: finding.message.clone(),
            hint: finding.hint.clone(),
            occurrences: finding.occurrences,
        }
    }
}

/// Where an artifact comes from when it is a published revision: the Hugging Face Hub
/// repository and the commit every read was pinned to (an `hf://` source, or a snapshot folder
/// of the local Hugging Face cache). Reports and manifests record it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The repository id, `org/name`.
    pub repo: String,
    /// The revision as the user named it (branch, tag or commit), when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The 40-hex commit that every read was pinned to.
    pub commit: String,
    /// The repository's page at that commit, on the endpoint that served it.
    pub url: String,
}

/// The document of a check, schema [`CheckDocument::SCHEMA`] (docs/json-output.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDocument {
    /// [`CheckDocument::SCHEMA`], or the schema of a document that extends this one.
    pub schema: String,
    /// The program that wrote it.
    pub tool: Tool,
    /// The source as the user gave it.
    pub source: String,
    /// The gate: no error, and with `strict` no warning either.
    pub passed: bool,
    /// Whether warnings fail the gate.
    pub strict: bool,
    /// Findings per severity.
    pub counts: Counts,
    /// What the check learned about the model.
    pub summary: Summary,
    /// The findings, ordered by file, then severity, then code.
    pub findings: Vec<FindingRecord>,
    /// The Hub repository and commit that were read, for an `hf://` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl CheckDocument {
    /// Identifier of the schema of a check document.
    pub const SCHEMA: &'static str = "cmi-preflight.check.v1";

    /// The document of `report` about `source`.
    pub fn new(source: &str, strict: bool, report: &Report) -> CheckDocument {
        CheckDocument {
            schema: CheckDocument::SCHEMA.to_string(),
            tool: Tool::current(),
            source: source.to_string(),
            passed: report.passed(strict),
            strict,
            counts: Counts {
                error: report.count(Severity::Error),
                warning: report.count(Severity::Warning),
                info: report.count(Severity::Info),
            },
            summary: report.summary.clone(),
            findings: report.findings.iter().map(FindingRecord::of).collect(),
            provenance: None,
        }
    }

    /// The document with the Hub repository and commit that were read.
    pub fn with_provenance(mut self, provenance: Option<Provenance>) -> CheckDocument {
        self.provenance = provenance;
        self
    }
}

/// One rule of the catalog, as `rules --format json` prints it (an array of these for the
/// whole catalog, one for `rules CODE`). It has no schema field: docs/rules.md describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    /// Stable code, such as `ST013`.
    pub code: String,
    /// Stable kebab-case name, such as `invalid-offsets`.
    pub name: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// What the rule checks, in one sentence.
    pub summary: String,
    /// Why a violation matters for Bedrock Custom Model Import.
    pub why: String,
    /// How to fix a violation.
    pub fix: String,
}

impl From<&Rule> for RuleRecord {
    fn from(rule: &Rule) -> RuleRecord {
        RuleRecord {
            code: rule.code.to_string(),
            name: rule.name.to_string(),
            severity: rule.severity.as_str().to_string(),
            summary: rule.summary.to_string(),
            why: rule.why.to_string(),
            fix: rule.fix.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_report() -> Report {
        Report {
            findings: vec![crate::Finding::new(
                crate::RuleId::ConfigInvalid,
                "config.json",
                "missing",
            )],
            ..Report::default()
        }
    }

    #[test]
    fn a_failed_report_lists_its_findings_with_their_rules() {
        let report = failed_report();
        let document = serde_json::to_value(CheckDocument::new("x/", false, &report)).unwrap();
        assert_eq!(document["schema"], CheckDocument::SCHEMA);
        assert_eq!(document["passed"], false);
        assert_eq!(document["counts"]["error"], 1);
        assert_eq!(document["findings"][0]["code"], report.findings[0].code());
        assert_eq!(document["findings"][0]["file"], "config.json");
        assert_eq!(document["tool"]["name"], "cmi-preflight");
    }

    #[test]
    fn a_check_document_reads_back_as_written() {
        let document = CheckDocument::new("x/", true, &failed_report());
        let text = serde_json::to_string_pretty(&serde_json::to_value(&document).unwrap()).unwrap();
        let read: CheckDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(read, document);
        assert_eq!(read.schema, CheckDocument::SCHEMA);
        assert!(!read.passed);
    }
}
