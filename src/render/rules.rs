//! The rule catalog as text, JSON or Markdown. docs/rules.md is the Markdown form of the whole
//! catalog (regenerate it with `cargo run -- rules --format markdown > docs/rules.md`; a test
//! fails when it drifts).

use std::io::{self, Write};

use cmi_format::arch::{ALLOW_LIST_AS_OF, ARCHITECTURES, CMI_LIMITS};
use cmi_format::document::RuleRecord;
use cmi_format::tokenizer::SUPPORTED_TOKENIZER_CLASSES;
use cmi_format::{Rule, RuleId, RULES};

use super::{severity_style, DIM_STYLE};
use crate::cli::RulesFormat;

/// Data tables that some rules are about, shown with their explanation.
fn appendix(rule: &Rule) -> Option<String> {
    match rule.id {
        RuleId::UnsupportedModelType | RuleId::ArchitectureMismatch => {
            let mut text = format!(
                "Supported architectures (AWS documentation as of {ALLOW_LIST_AS_OF}):\n\n| AWS name | model_type | architectures[0] | multimodal | shapes checked |\n|---|---|---|---|---|\n"
            );
            for a in ARCHITECTURES {
                text.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} |\n",
                    a.aws_name,
                    a.model_type,
                    a.classes
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if a.multimodal { "yes" } else { "no" },
                    if !a.layouts.is_empty() { "yes" } else { "no" },
                ));
            }
            Some(text)
        }
        RuleId::UnsupportedTokenizerClass => Some(format!(
            "Supported tokenizer classes: {}.\n",
            SUPPORTED_TOKENIZER_CLASSES
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        RuleId::ContextTooLong | RuleId::ScaledContextTooLong => Some(format!(
            "Limit: {} tokens.\n",
            CMI_LIMITS.max_context_tokens
        )),
        RuleId::WeightsTooLarge => Some(format!(
            "Limits: below {} bytes for text models, below {} bytes for multimodal models.\n",
            CMI_LIMITS.max_weight_bytes_text, CMI_LIMITS.max_weight_bytes_multimodal
        )),
        RuleId::TransformersTooNew => {
            let (a, b, c) = CMI_LIMITS.supported_transformers;
            Some(format!("Supported version: {a}.{b}.{c}.\n"))
        }
        _ => None,
    }
}

/// Writes the whole catalog.
pub fn catalog(out: &mut dyn Write, format: RulesFormat) -> io::Result<()> {
    match format {
        RulesFormat::Text => {
            for rule in RULES {
                let style = severity_style(rule.severity);
                writeln!(
                    out,
                    "{} {style}{:<7}{style:#} {:<28} {DIM_STYLE}{}{DIM_STYLE:#}",
                    rule.code,
                    rule.severity.as_str(),
                    rule.name,
                    rule.summary
                )?;
            }
            writeln!(
                out,
                "\n{} rules. `cmi-preflight rules CODE` explains one.",
                RULES.len()
            )
        }
        RulesFormat::Json => {
            let all: Vec<RuleRecord> = RULES.iter().map(RuleRecord::from).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            writeln!(out)
        }
        RulesFormat::Markdown => out.write_all(markdown_catalog().as_bytes()),
    }
}

/// Writes the explanation of one rule.
pub fn explain(out: &mut dyn Write, rule: &Rule, format: RulesFormat) -> io::Result<()> {
    match format {
        RulesFormat::Text => {
            let style = severity_style(rule.severity);
            writeln!(
                out,
                "{} {} {style}({}){style:#}\n",
                rule.code, rule.name, rule.severity
            )?;
            writeln!(out, "What it checks: {}\n", rule.summary)?;
            writeln!(out, "Why it matters: {}\n", rule.why)?;
            writeln!(out, "How to fix it: {}", rule.fix)?;
            if let Some(extra) = appendix(rule) {
                writeln!(out, "\n{}", extra.trim_end())?;
            }
            Ok(())
        }
        RulesFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &RuleRecord::from(rule))?;
            writeln!(out)
        }
        RulesFormat::Markdown => out.write_all(markdown_rule(rule).as_bytes()),
    }
}

fn markdown_rule(rule: &Rule) -> String {
    let mut text = format!(
        "### {} {}\n\nSeverity: **{}**\n\n**What it checks.** {}\n\n**Why it matters.** {}\n\n**Fix.** {}\n",
        rule.code, rule.name, rule.severity, rule.summary, rule.why, rule.fix
    );
    if let Some(extra) = appendix(rule) {
        text.push('\n');
        text.push_str(&extra);
    }
    text
}

/// The catalog as Markdown: the content of docs/rules.md.
pub fn markdown_catalog() -> String {
    let mut text = String::from(
        "# Rule catalog\n\n\
         Generated by `cmi-preflight rules --format markdown`; do not edit by hand.\n\
         Every finding of `cmi-preflight check` names one of these rules. Severity `error` fails\n\
         the gate (exit 1); `warning` fails it only with `--strict`; `info` never does.\n\n\
         | code | name | severity | what it checks |\n|---|---|---|---|\n",
    );
    for rule in RULES {
        text.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            rule.code,
            format!("{}-{}", rule.code, rule.name).to_lowercase(),
            rule.name,
            rule.severity,
            rule.summary
        ));
    }
    for rule in RULES {
        text.push('\n');
        text.push_str(&markdown_rule(rule));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_rules_md_is_the_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == markdown_catalog(),
            "docs/rules.md is out of date: run `cargo run -- rules --format markdown > docs/rules.md`"
        );
    }

    #[test]
    fn the_readme_states_the_rule_count() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap_or_default();
        let sentence = format!("The catalog has {} rules", RULES.len());
        assert!(readme.contains(&sentence), "README.md must say: {sentence}");
    }

    #[test]
    fn every_rule_explains_itself() {
        for rule in RULES {
            let mut out = Vec::new();
            explain(&mut out, rule, RulesFormat::Text).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(rule.fix), "{}", rule.code);
        }
    }
}
