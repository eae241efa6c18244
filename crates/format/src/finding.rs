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
    /// For the finding that stands for the findings of its rule about its file beyond the
    /// first [`MAX_EXAMPLES`] (see [`more`]): how many it stands for. `None` for a finding
    /// that stands for itself alone.
    pub occurrences: Option<usize>,
}

impl Finding {
    /// A finding of `rule` about `file`, with the rule's default hint.
    pub fn new(rule: RuleId, file: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            file: file.into(),
            message: message.into(),
            hint: rule.rule().fix.to_string(),
            occurrences: None,
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

/// How many findings of one rule about one file are listed; the rest are counted in one more
/// finding of that rule (see [`more`]), so that a million missing tensors make 20 examples and
/// a count, in every output format, not a million lines.
pub const MAX_EXAMPLES: usize = 20;

/// The finding that stands for `omitted` findings of `rule` about `file` beyond the first
/// [`MAX_EXAMPLES`]; its [`Finding::occurrences`] is `omitted`.
pub fn more(rule: RuleId, file: impl Into<String>, omitted: usize) -> Finding {
    let mut finding = Finding::new(
        rule,
        file,
        format!(
            "and {omitted} more {} findings about this file, not listed (the first {MAX_EXAMPLES} are)",
            rule.rule().code
        ),
    );
    finding.occurrences = Some(omitted);
    finding
}

/// Findings of one rule about one file, built only while they will be listed: the first
/// [`MAX_EXAMPLES`] are made, the rest only counted, so that producing them costs no more
/// than showing them.
pub(crate) struct Capped {
    rule: RuleId,
    file: String,
    listed: usize,
    omitted: usize,
}

impl Capped {
    /// Findings of `rule` about `file`.
    pub(crate) fn new(rule: RuleId, file: impl Into<String>) -> Capped {
        Capped {
            rule,
            file: file.into(),
            listed: 0,
            omitted: 0,
        }
    }

    /// One more finding; `message` is called only if it will be listed.
    pub(crate) fn push(&mut self, findings: &mut Vec<Finding>, message: impl FnOnce() -> String) {
        if self.listed < MAX_EXAMPLES {
            self.listed += 1;
            findings.push(Finding::new(self.rule, self.file.clone(), message()));
        } else {
            self.omitted += 1;
        }
    }

    /// Adds the count of the findings that were not made, if any.
    pub(crate) fn finish(self, findings: &mut Vec<Finding>) {
        if self.omitted > 0 {
            findings.push(more(self.rule, self.file, self.omitted));
        }
    }
}

/// Keeps the first [`MAX_EXAMPLES`] findings of each rule about each file of `findings`
/// (sorted so that those are adjacent) and replaces the rest by one finding that counts them.
/// A run already capped by [`Capped`] (its examples and its count) is left as it is.
pub fn aggregate(findings: Vec<Finding>) -> Vec<Finding> {
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len().min(1024));
    let mut run = 0;
    let mut omitted = 0;
    for finding in findings {
        let same = kept
            .last()
            .is_some_and(|last| last.rule == finding.rule && last.file == finding.file);
        if !same {
            flush(&mut kept, &mut omitted);
            run = 0;
        }
        run += 1;
        if run <= MAX_EXAMPLES + 1 {
            kept.push(finding);
        } else {
            omitted += 1;
        }
    }
    flush(&mut kept, &mut omitted);
    kept
}

/// Ends a run of [`aggregate`] that went beyond its examples: its last kept finding (the
/// one after the examples) joins the omitted ones in the count.
fn flush(kept: &mut Vec<Finding>, omitted: &mut usize) {
    if *omitted == 0 {
        return;
    }
    if let Some(last) = kept.pop() {
        kept.push(more(last.rule, last.file, *omitted + 1));
    }
    *omitted = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(count: usize) -> Vec<Finding> {
        (0..count)
            .map(|n| Finding::new(RuleId::ShapeMismatch, "model.safetensors", format!("{n}")))
            .collect()
    }

    #[test]
    fn a_long_run_is_examples_and_a_count() {
        let mut findings = run(MAX_EXAMPLES + 5);
        findings.extend(run(3).into_iter().map(|mut f| {
            f.file = "other.safetensors".to_string();
            f
        }));
        let kept = aggregate(findings);
        assert_eq!(kept.len(), MAX_EXAMPLES + 1 + 3);
        assert_eq!(
            kept[MAX_EXAMPLES - 1].message,
            format!("{}", MAX_EXAMPLES - 1)
        );
        assert!(kept[MAX_EXAMPLES]
            .message
            .starts_with("and 5 more SH003 findings"));
        assert_eq!(kept[MAX_EXAMPLES].occurrences, Some(5));
        assert!(kept[..MAX_EXAMPLES].iter().all(|f| f.occurrences.is_none()));
        assert_eq!(kept[MAX_EXAMPLES + 1].file, "other.safetensors");
    }

    #[test]
    fn a_short_run_and_a_capped_run_stay_as_they_are() {
        assert_eq!(aggregate(run(MAX_EXAMPLES + 1)), run(MAX_EXAMPLES + 1));
        let mut findings = Vec::new();
        let mut capped = Capped::new(RuleId::ShapeMismatch, "model.safetensors");
        for n in 0..MAX_EXAMPLES + 7 {
            capped.push(&mut findings, || format!("{n}"));
        }
        capped.finish(&mut findings);
        assert_eq!(findings.len(), MAX_EXAMPLES + 1);
        assert!(findings[MAX_EXAMPLES].message.starts_with("and 7 more"));
        assert_eq!(findings[MAX_EXAMPLES].occurrences, Some(7));
        assert_eq!(aggregate(findings.clone()), findings);
    }
}
