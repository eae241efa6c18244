//! The JSON document of a check, schema `cmi-preflight.check.v1` (docs/json-output.md): what
//! `check --format json` prints, what `import` embeds and what the watch daemon keeps as an
//! artifact's report. Building it is pure; writing it is the caller's business.

use serde::Serialize;

use crate::{Report, Severity};

/// Identifier of the schema of a check document.
pub const CHECK_SCHEMA: &str = "cmi-preflight.check.v1";

#[derive(Serialize)]
struct Document<'a> {
    schema: &'a str,
    tool: Tool,
    source: &'a str,
    passed: bool,
    strict: bool,
    counts: Counts,
    summary: &'a crate::Summary,
    findings: Vec<Finding<'a>>,
    #[serde(flatten)]
    fields: &'a serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Counts {
    error: usize,
    warning: usize,
    info: usize,
}

#[derive(Serialize)]
struct Finding<'a> {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    file: &'a str,
    message: &'a str,
    hint: &'a str,
}

/// The document of `report` about `source`, under `schema` (the check schema, or one that
/// extends it), with `fields` added at the top level.
pub fn check_document(
    schema: &str,
    source: &str,
    strict: bool,
    fields: &serde_json::Map<String, serde_json::Value>,
    report: &Report,
) -> serde_json::Value {
    let document = Document {
        schema,
        tool: Tool {
            name: "cmi-preflight",
            version: env!("CARGO_PKG_VERSION"),
        },
        source,
        passed: report.passed(strict),
        strict,
        counts: Counts {
            error: report.count(Severity::Error),
            warning: report.count(Severity::Warning),
            info: report.count(Severity::Info),
        },
        summary: &report.summary,
        findings: report
            .findings
            .iter()
            .map(|f| {
                let rule = f.rule.rule();
                Finding {
                    code: rule.code,
                    name: rule.name,
                    severity: rule.severity.as_str(),
                    file: &f.file,
                    message: &f.message,
                    hint: &f.hint,
                }
            })
            .collect(),
        fields,
    };
    serde_json::to_value(&document).unwrap_or_else(
        |e| serde_json::json!({"schema": schema, "source": source, "error": e.to_string()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_report_lists_its_findings_with_their_rules() {
        let report = Report {
            findings: vec![crate::Finding::new(
                crate::RuleId::ConfigInvalid,
                "config.json",
                "missing",
            )],
            ..Report::default()
        };
        let mut fields = serde_json::Map::new();
        fields.insert("extra".into(), 1.into());
        let document = check_document(CHECK_SCHEMA, "x/", false, &fields, &report);
        assert_eq!(document["passed"], false);
        assert_eq!(document["counts"]["error"], 1);
        assert_eq!(document["findings"][0]["code"], report.findings[0].code());
        assert_eq!(document["findings"][0]["file"], "config.json");
        assert_eq!(document["extra"], 1);
        assert_eq!(document["tool"]["name"], "cmi-preflight");
    }
}
