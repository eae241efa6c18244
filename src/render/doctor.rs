//! The doctor's report: one line per step, then the fixes of the failed steps; or, with
//! `--format json`, one document (schema `cmi-preflight.doctor.v1`, docs/json-output.md).

use std::io::{self, Write};

use cmi_agent::doctor::{Diagnosis, Status};

use super::{DIM_STYLE, ERROR_STYLE, PASS_STYLE, WARNING_STYLE};

/// Identifier of the schema of `doctor --format json`.
pub const DOCTOR_SCHEMA: &str = "cmi-preflight.doctor.v1";

/// Writes the diagnosis as one JSON document; each fix's statement is a JSON object.
pub fn write_json(out: &mut dyn Write, source: &str, diagnosis: &Diagnosis) -> io::Result<()> {
    let steps: Vec<serde_json::Value> = diagnosis
        .steps
        .iter()
        .map(|step| {
            let fixes: Vec<serde_json::Value> = step
                .fixes
                .iter()
                .map(|fix| {
                    let statement = serde_json::from_str(&fix.statement)
                        .unwrap_or_else(|_| serde_json::Value::from(fix.statement.as_str()));
                    serde_json::json!({"target": fix.target, "statement": statement})
                })
                .collect();
            serde_json::json!({
                "name": step.name,
                "status": match step.status {
                    Status::Pass => "pass",
                    Status::Fail => "fail",
                    Status::Skip => "skip",
                },
                "detail": step.detail,
                "fixes": fixes,
            })
        })
        .collect();
    let document = serde_json::json!({
        "schema": DOCTOR_SCHEMA,
        "tool": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")},
        "source": source,
        "passed": diagnosis.passed(),
        "steps": steps,
        "notes": diagnosis.notes,
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

/// Writes the diagnosis.
pub fn write(out: &mut dyn Write, diagnosis: &Diagnosis) -> io::Result<()> {
    let width = diagnosis
        .steps
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    for step in &diagnosis.steps {
        let (mark, style) = match step.status {
            Status::Pass => ("pass", PASS_STYLE),
            Status::Fail => ("FAIL", ERROR_STYLE),
            Status::Skip => ("skip", DIM_STYLE),
        };
        writeln!(
            out,
            "{style}{mark}{style:#}  {:<width$}  {}",
            step.name, step.detail
        )?;
        for fix in &step.fixes {
            writeln!(
                out,
                "      {WARNING_STYLE}fix:{WARNING_STYLE:#} add to the {}:",
                fix.target
            )?;
            for line in fix.statement.lines() {
                writeln!(out, "        {line}")?;
            }
        }
    }
    for note in &diagnosis.notes {
        writeln!(out, "{DIM_STYLE}note: {note}{DIM_STYLE:#}")?;
    }
    let failed = diagnosis
        .steps
        .iter()
        .filter(|s| s.status == Status::Fail)
        .count();
    if failed == 0 {
        writeln!(out, "{PASS_STYLE}all steps passed{PASS_STYLE:#}")
    } else {
        writeln!(
            out,
            "{ERROR_STYLE}{failed} step{} failed{ERROR_STYLE:#}; `cmi-preflight policy` writes the complete documents",
            if failed == 1 { "" } else { "s" }
        )
    }
}
