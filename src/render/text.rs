//! Human-readable report.

use std::borrow::Cow;
use std::io::{self, Write};

use cmi_format::{Report, Severity};

use super::{printable, severity_style, ReportContext, DIM_STYLE, ERROR_STYLE, PASS_STYLE};

/// Writes one block per finding and a closing verdict line.
pub fn write(out: &mut dyn Write, context: &ReportContext<'_>, report: &Report) -> io::Result<()> {
    let (source, strict) = (printable(context.source), context.strict);
    for finding in &report.findings {
        let style = severity_style(finding.severity());
        let file = if finding.file.is_empty() {
            String::new()
        } else {
            format!("{}: ", printable(&finding.file))
        };
        writeln!(
            out,
            "{style}{}[{}]{style:#} {file}{}",
            finding.severity(),
            finding.code(),
            printable(&finding.message)
        )?;
        writeln!(
            out,
            "  {DIM_STYLE}fix:{DIM_STYLE:#} {}",
            printable(&finding.hint)
        )?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    let s = &report.summary;
    let model = match (&s.model_type, &s.architecture) {
        (Some(t), Some(a)) => format!("{t} ({a})"),
        (Some(t), None) => t.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => "unknown model".to_string(),
    };
    let model = printable(&model);
    let dtypes: Vec<Cow<'_, str>> = s.dtypes.keys().map(|d| printable(d)).collect();
    writeln!(
        out,
        "{DIM_STYLE}{model}: {} tensors, {} parameters{}; {} files, {}{DIM_STYLE:#}",
        s.tensor_count,
        human_count(s.parameter_count),
        if dtypes.is_empty() {
            String::new()
        } else {
            format!(" in {}", dtypes.join(", "))
        },
        s.file_count,
        human_bytes(s.total_bytes)
    )?;
    for note in &context.notes {
        writeln!(out, "{DIM_STYLE}{}{DIM_STYLE:#}", printable(note))?;
    }
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let counts = format!(
        "{errors} error{}, {warnings} warning{}",
        plural(errors),
        plural(warnings)
    );
    if report.passed(strict) {
        writeln!(out, "{PASS_STYLE}passed{PASS_STYLE:#} {source}: {counts}")
    } else {
        writeln!(
            out,
            "{ERROR_STYLE}failed{ERROR_STYLE:#} {source}: {counts}{}",
            if strict && errors == 0 {
                " (--strict fails on warnings)"
            } else {
                ""
            }
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// 1234567 -> "1.2 M".
pub fn human_count(n: u64) -> String {
    const UNITS: [(f64, &str); 3] = [(1e12, "T"), (1e9, "B"), (1e6, "M")];
    for (scale, unit) in UNITS {
        if n as f64 >= scale {
            return format!("{:.1} {unit}", n as f64 / scale);
        }
    }
    n.to_string()
}

/// Bytes in decimal units, as Bedrock's limits are stated.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    for (scale, unit) in UNITS {
        if n as f64 >= scale {
            return format!("{:.1} {unit}", n as f64 / scale);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_count(999), "999");
        assert_eq!(human_count(7_241_732_096), "7.2 B");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(14_483_464_192), "14.5 GB");
    }
}
