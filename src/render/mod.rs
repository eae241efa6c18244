//! Rendering of reports and of the rule catalog.

pub mod bedrock;
pub mod doctor;
pub mod json;
pub mod junit;
pub mod policy;
pub mod progress;
pub mod rules;
pub mod text;

use std::borrow::Cow;
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
    /// The Hub repository and commit that were read, for an `hf://` source.
    pub provenance: Option<cmi_agent::source::Provenance>,
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
            provenance: None,
        }
    }

    /// This context with the Hub repository and commit that were read: the JSON document
    /// carries it, and the text report names `repo@commit` before the verdict.
    pub fn with_provenance(
        mut self,
        provenance: Option<cmi_agent::source::Provenance>,
    ) -> ReportContext<'a> {
        if let Some(provenance) = &provenance {
            self.notes.push(format!(
                "read {}@{} ({})",
                provenance.repo, provenance.commit, provenance.url
            ));
        }
        self.provenance = provenance;
        self
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
                "compared {} files by SHA-256 with {} ({}){}",
                verification.compared,
                manifest_path.display(),
                manifest.artifact_digest,
                match verification.by_s3_checksum {
                    0 => String::new(),
                    n => format!(
                        "; {n} of them by the SHA-256 checksum S3 holds, without reading them"
                    ),
                }
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
            provenance: None,
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

/// Text that comes from an artifact or a service (file and tensor names, messages that quote
/// them), made safe to show: every control character (C0, DEL, C1) and every bidirectional
/// embedding, override or isolate becomes a visible escape (`\x1b`, `\u{202e}`). A file name
/// then cannot clear the screen, move the cursor or reorder what a terminal shows, and JUnit
/// XML stays well-formed (XML 1.0 allows no C0 character but tab and line breaks, and the
/// report's own line breaks are not part of any name). Used by every text and JUnit renderer;
/// JSON escapes control characters on its own.
pub fn printable(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            escaped.push(c);
        } else if u32::from(c) < 0x80 {
            escaped.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            escaped.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_and_bidi_characters_become_visible_escapes() {
        assert_eq!(printable("config.json"), "config.json");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(printable("x\ny\r\t\u{7f}"), "x\\x0ay\\x0d\\x09\\x7f");
        assert_eq!(printable("\u{9b}2J\u{202e}"), "\\u{9b}2J\\u{202e}");
        assert_eq!(printable("模型.safetensors"), "模型.safetensors");
    }
}
