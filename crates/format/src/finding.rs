//! Findings: what a check says about an artifact.

use std::fmt;

use crate::rules::RuleId;

/// How bad a finding is.
///
/// `Error` fails the gate; `Warning` fails it only under `--strict`; `Info` never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The import would fail or produce a broken model.
    Error,
    /// Likely trouble, or a departure from what Bedrock documents.
    Warning,
    /// Worth knowing; never fails the gate.
    Info,
}

impl Severity {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a check found, tied to a rule of the catalog and to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule that fired; its code, name and severity come from the catalog.
    pub rule: RuleId,
    /// The file the finding concerns, relative to the artifact root with `/` separators;
    /// empty when it concerns the artifact as a whole.
    pub file: String,
    /// One line that says what is wrong, with the names and numbers involved.
    pub message: String,
    /// How to fix it. Defaults to the rule's fix text.
    pub hint: String,
}

impl Finding {
    /// A finding of `rule` about `file`, with the rule's default hint.
    pub fn new(rule: RuleId, file: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            file: file.into(),
            message: message.into(),
            hint: rule.rule().fix.to_string(),
        }
    }

    /// Replaces the default hint with one specific to this finding.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = hint.into();
        self
    }

    /// The severity of the finding's rule.
    pub fn severity(&self) -> Severity {
        self.rule.rule().severity
    }

    /// The stable code of the finding's rule, such as `ST013`.
    pub fn code(&self) -> &'static str {
        self.rule.rule().code
    }
}
