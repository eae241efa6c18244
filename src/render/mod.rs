//! Rendering of reports and of the rule catalog.

pub mod doctor;
pub mod json;
pub mod junit;
pub mod policy;
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

/// Writes a check report in the chosen format.
pub fn report(
    out: &mut dyn Write,
    format: ReportFormat,
    source: &str,
    report: &Report,
    strict: bool,
) -> io::Result<()> {
    match format {
        ReportFormat::Text => text::write(out, source, report, strict),
        ReportFormat::Json => json::write(out, source, report, strict),
        ReportFormat::Junit => junit::write(out, source, report, strict),
    }
}

/// Whether a finding of this severity fails the gate.
pub fn fails(severity: Severity, strict: bool) -> bool {
    severity == Severity::Error || (strict && severity == Severity::Warning)
}
