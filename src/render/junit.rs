//! The `--format junit` report of `check`: one test case per rule of the catalog, so that CI
//! systems track each rule by a stable name. A rule with a failing finding (an error, or a
//! warning under `--strict`) is a failed test case whose body lists every finding; other
//! findings of a rule go to its `system-out`.

use std::io::{self, Write};

use cmi_format::{Report, RULES};
use quick_xml::escape::escape;

use super::fails;

/// Writes the JUnit XML document.
pub fn write(out: &mut dyn Write, source: &str, report: &Report, strict: bool) -> io::Result<()> {
    let failures = RULES
        .iter()
        .filter(|rule| {
            report
                .findings
                .iter()
                .any(|f| f.rule == rule.id && fails(f.severity(), strict))
        })
        .count();
    let suite = format!("cmi-preflight check {source}");
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="cmi-preflight" tests="{}" failures="{failures}" errors="0">"#,
        RULES.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        escape(suite.as_str()),
        RULES.len()
    )?;
    for rule in RULES {
        let findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == rule.id)
            .collect();
        let name = format!("{} {}", rule.code, rule.name);
        write!(
            out,
            r#"    <testcase classname="cmi-preflight.{}" name="{}""#,
            &rule.code[..2],
            escape(name.as_str())
        )?;
        if findings.is_empty() {
            writeln!(out, "/>")?;
            continue;
        }
        writeln!(out, ">")?;
        let lines: Vec<String> = findings
            .iter()
            .map(|f| {
                let file = if f.file.is_empty() {
                    "(artifact)"
                } else {
                    &f.file
                };
                format!("{}: {}: {}\nfix: {}", f.severity(), file, f.message, f.hint)
            })
            .collect();
        let body = escape(lines.join("\n").as_str()).into_owned();
        if findings.iter().any(|f| fails(f.severity(), strict)) {
            let message = format!("{} finding(s): {}", findings.len(), findings[0].message);
            writeln!(
                out,
                r#"      <failure type="{}" message="{}">{body}</failure>"#,
                rule.code,
                escape(message.as_str())
            )?;
        } else {
            writeln!(out, "      <system-out>{body}</system-out>")?;
        }
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}
