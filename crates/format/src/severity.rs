//! Severities: how bad a finding of a rule is. Its own module because both the rule catalog
//! ([`crate::rules`]) and the findings ([`crate::finding`]) name it.

use std::fmt;

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
