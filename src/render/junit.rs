//! The `--format junit` report of `check` and `verify`: one test case per rule, so that CI
//! systems track each rule by a stable name. A rule with a failing finding (an error, or a
//! warning under `--strict`) is a failed test case whose body lists every finding; other
//! findings of a rule go to its `system-out`.

use std::io::{self, Write};

use cmi_format::{Report, Rule, RULES};
use quick_xml::escape::escape;

use super::{fails, printable, ReportContext};

/// Writes the JUnit XML document.
pub fn write(out: &mut dyn Write, context: &ReportContext<'_>, report: &Report) -> io::Result<()> {
    let (source, strict) = (context.source, context.strict);
    // `verify` is about the manifest and signature rules; `check` about the others. A rule of the other
    // kind appears only when it has findings (an unreadable file during `verify`).
    let rules: Vec<&Rule> = RULES
        .iter()
        .filter(|rule| {
            matches!(rule.group(), "MF" | "SG") == (context.command == "verify")
                || report.findings.iter().any(|f| f.rule == rule.id)
        })
        .collect();
    let failures = rules
        .iter()
        .filter(|rule| {
            report
                .findings
                .iter()
                .any(|f| f.rule == rule.id && fails(f.severity(), strict))
        })
        .count();
    let suite = format!("cmi-preflight {} {}", context.command, printable(source));
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="cmi-preflight" tests="{}" failures="{failures}" errors="0">"#,
        rules.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        escape(suite.as_str()),
        rules.len()
    )?;
    for rule in rules {
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
                    "(artifact)".into()
                } else {
                    printable(&f.file)
                };
                format!(
                    "{}: {}: {}\nfix: {}",
                    f.severity(),
                    file,
                    printable(&f.message),
                    printable(&f.hint)
                )
            })
            .collect();
        let body = escape(lines.join("\n").as_str()).into_owned();
        if findings.iter().any(|f| fails(f.severity(), strict)) {
            let message = format!(
                "{} finding(s): {}",
                findings.len(),
                printable(&findings[0].message)
            );
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
