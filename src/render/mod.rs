//! Rendering of reports and of the rule catalog.

pub mod bedrock;
pub mod doctor;
pub mod json;
pub mod junit;
pub mod policy;
pub mod progress;
pub mod rules;
pub mod text;

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use cmi_format::{Report, Severity};

use crate::cli::ReportFormat;

/// Style of errors.
pub const ERROR_STYLE: Style = AnsiColor::Red.on_default().bold();
/// Style of warnings.
pub const WARNING_STYLE: Style = AnsiColor::Yellow.on_default().bold();
/// Style of informational notes.
pub const INFO_STYLE: Style = AnsiColor::Cyan.on_default().bold();
/// Style of secondary text.
pub const DIM_STYLE: Style = Style::new().dimmed();
/// Style of a passing verdict.
pub const PASS_STYLE: Style = AnsiColor::Green.on_default().bold();

/// The style of a severity.
pub fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Error => ERROR_STYLE,
        Severity::Warning => WARNING_STYLE,
        Severity::Info => INFO_STYLE,
    }
}

/// What a report is about, beyond its findings: the command, the source and the details that
/// each output format shows.
pub struct ReportContext<'a> {
    /// The command, `check` or `verify`.
    pub command: &'static str,
    /// The source as the user gave it.
    pub source: &'a str,
    /// Whether warnings fail the gate.
    pub strict: bool,
    /// Lines the text format prints before the verdict.
    pub notes: Vec<String>,
    /// What `verify` compared, which makes the JSON document a verify document.
    pub comparison: Option<cmi_agent::verify::Comparison>,
}

impl<'a> ReportContext<'a> {
    /// The context of `check`.
    pub fn check(source: &'a str, strict: bool) -> ReportContext<'a> {
        ReportContext {
            command: "check",
            source,
            strict,
            notes: Vec::new(),
            comparison: None,
        }
    }

    /// The context of `verify`: the manifest compared with, and how contents were compared.
    pub fn verify(
        source: &'a str,
        manifest_path: &std::path::Path,
        manifest: &cmi_agent::manifest::Manifest,
        verification: &cmi_agent::verify::Verification,
    ) -> ReportContext<'a> {
        let note = match verification.mode {
            cmi_agent::verify::VerifyMode::Full => format!(
                "compared {} files by SHA-256 with {} ({})",
                verification.compared,
                manifest_path.display(),
                manifest.artifact_digest
            ),
            cmi_agent::verify::VerifyMode::MetadataOnly => format!(
                "metadata only: compared sizes, ETags and version ids of {} files with {}; contents were not read",
                verification.compared,
                manifest_path.display()
            ),
        };
        ReportContext {
            command: "verify",
            source,
            strict: false,
            notes: vec![note],
            comparison: Some(cmi_agent::verify::Comparison::new(
                manifest_path,
                manifest,
                verification,
            )),
        }
    }
}

/// Writes a report in the chosen format.
pub fn report(
    out: &mut dyn Write,
    format: ReportFormat,
    context: &ReportContext<'_>,
    report: &Report,
) -> io::Result<()> {
    match format {
        ReportFormat::Text => text::write(out, context, report),
        ReportFormat::Json => json::write(out, context, report),
        ReportFormat::Junit => junit::write(out, context, report),
    }
}

/// Whether a finding of this severity fails the gate.
pub fn fails(severity: Severity, strict: bool) -> bool {
    severity == Severity::Error || (strict && severity == Severity::Warning)
}
