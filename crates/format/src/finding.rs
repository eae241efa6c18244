//! Findings: what a check says about an artifact.

use crate::rules::RuleId;
pub use crate::severity::Severity;

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
