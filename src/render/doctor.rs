//! The doctor's report: one line per step, each followed by its fixes; or, with
//! `--format json`, one document (schema `cmi-preflight.doctor.v1`, docs/json-output.md).

use std::io::{self, Write};

use cmi_agent::doctor::{Diagnosis, DoctorDocument, Status};
use cmi_format::document::Tool;
use cmi_format::policy::iam;

use super::{DIM_STYLE, ERROR_STYLE, PASS_STYLE, WARNING_STYLE};

/// Writes the diagnosis as one [`DoctorDocument`]; each fix's statement is a JSON object.
pub fn write_json(out: &mut dyn Write, source: &str, diagnosis: &Diagnosis) -> io::Result<()> {
    let tool = Tool {
        name: env!("CARGO_PKG_NAME").to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    serde_json::to_writer_pretty(&mut *out, &DoctorDocument::new(tool, source, diagnosis))?;
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
            Status::Warn => ("warn", WARNING_STYLE),
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
            for line in iam::render(&fix.statement).lines() {
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
    let warned = diagnosis
        .steps
        .iter()
        .filter(|s| s.status == Status::Warn)
        .count();
    if failed == 0 && warned == 0 {
        writeln!(out, "{PASS_STYLE}all steps passed{PASS_STYLE:#}")
    } else if failed == 0 {
        writeln!(
            out,
            "{WARNING_STYLE}no step failed, {warned} with a warning{WARNING_STYLE:#}"
        )
    } else {
        writeln!(
            out,
            "{ERROR_STYLE}{failed} step{} failed{ERROR_STYLE:#}; `cmi-preflight policy` writes the complete documents",
            if failed == 1 { "" } else { "s" }
        )
    }
}
