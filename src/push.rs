//! `push`: arguments to the agent, the plan, the check and the report to stdout.

use std::io::Write;

use anyhow::{Context, Result};
use cmi_agent::push::{Action, Destination, Plan, PushDocument, PushReport};
use cmi_agent::{LocalSource, Source};
use cmi_format::Finding;

use crate::cli::{OutputFormat, PushArgs, ReportFormat};
use crate::render::text::human_bytes;
use crate::render::{self, printable};
use crate::{runtime, FAILED, PASSED};

/// Runs `push`: plan, check, then send (unless the check fails or it is a dry run).
pub(crate) fn push(args: PushArgs) -> Result<u8> {
    let options = args.options()?;
    let plan_options = args.plan_options()?;
    if let Some(size) = args.part_size {
        cmi_agent::push::part_size(0, Some(size)).context("--part-size")?;
    }
    let uri: cmi_agent::S3Uri = args.destination.parse()?;
    let source = LocalSource::open(&args.source)?;
    if let Some(path) = &args.manifest_out {
        cmi_agent::files::ensure_outside(path, source.root())?;
    }
    let described = source.describe();
    let runtime = runtime()?;
    let plan = runtime.block_on(cmi_agent::push::plan(&source, &plan_options))?;
    let shown = uri.to_string();
    let mut warnings = cmi_agent::push::offline_warnings(&shown, &options);
    let report = if plan.passed(args.strict) && !args.dry_run {
        let progress = render::progress::for_terminal(args.quiet);
        let report = runtime.block_on(async {
            let config = cmi_agent::aws::load(&args.aws.options()).await?;
            let destination = Destination {
                client: cmi_agent::s3::s3_client(&config),
                uri: uri.clone(),
            };
            warnings = cmi_agent::push::preflight(&destination, &config, &options).await?;
            if args.strict && !warnings.is_empty() {
                return anyhow::Ok(None);
            }
            let report =
                cmi_agent::push::push(&source, &plan, &destination, &options, progress.clone())
                    .await?;
            anyhow::Ok(Some(report))
        })?;
        drop(progress);
        if let (Some(path), Some(report)) = (&args.manifest_out, &report) {
            let summary = match &plan.report {
                Some(report) => report.summary.clone(),
                None => {
                    runtime
                        .block_on(cmi_agent::check(
                            &source,
                            cmi_agent::CheckOptions::default(),
                        ))?
                        .summary
                }
            };
            report
                .manifest(&described, summary, &plan.listing.meta)
                .write(path)?;
        }
        report
    } else {
        None
    };
    let mut stdout = anstream::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let document = PushDocument::new(
                &described,
                &uri.to_string(),
                &plan,
                args.strict,
                args.dry_run,
                report.as_ref(),
                &warnings,
            );
            let mut text = serde_json::to_string_pretty(&serde_json::to_value(&document)?)?;
            text.push('\n');
            stdout.write_all(text.as_bytes())?;
        }
        OutputFormat::Text => {
            write_text(&mut stdout, &args, &uri, &plan, &warnings, report.as_ref())?
        }
    }
    Ok(
        if plan.passed(args.strict) && (!args.strict || warnings.is_empty()) {
            PASSED
        } else {
            FAILED
        },
    )
}

fn write_text(
    out: &mut impl Write,
    args: &PushArgs,
    uri: &cmi_agent::S3Uri,
    plan: &Plan,
    warnings: &[Finding],
    report: Option<&PushReport>,
) -> Result<()> {
    for skipped in &plan.selection.skipped {
        writeln!(
            out,
            "{:>9}  {}  ({})",
            "skip",
            printable(&skipped.entry.path),
            printable(&skipped.reason())
        )?;
    }
    for rewrite in &plan.rewrites {
        writeln!(
            out,
            "{:>9}  {}  {} -> {} bytes: {}",
            "rewrite",
            printable(&rewrite.path),
            rewrite.original_size,
            rewrite.bytes.len(),
            rewrite.reason
        )?;
    }
    if let Some(check) = &plan.report {
        let shown = !check.findings.is_empty() || !check.passed(args.strict);
        if shown {
            let source = args.source.display().to_string();
            let context = render::ReportContext::check(&source, args.strict);
            render::report(out, ReportFormat::Text, &context, check)?;
        }
    }
    let planned = format!(
        "{} files, {} ({} left out)",
        plan.selection.send.len(),
        human_bytes(plan.selection.send_bytes()),
        plan.selection.skipped.len()
    );
    if !plan.passed(args.strict) {
        writeln!(out, "nothing sent to {uri}: the check failed ({planned})")?;
        return Ok(());
    }
    for warning in warnings {
        let rule = warning.rule.rule();
        writeln!(
            out,
            "warning[{}]: {}\n  hint: {}",
            rule.code,
            printable(&warning.message),
            printable(&warning.hint)
        )?;
    }
    if args.strict && !warnings.is_empty() {
        writeln!(
            out,
            "nothing sent to {uri}: --strict, and the destination has warnings ({planned})"
        )?;
        return Ok(());
    }
    let Some(report) = report else {
        writeln!(out, "dry run: would send {planned} to {uri}; nothing sent")?;
        return Ok(());
    };
    for file in &report.files {
        let action = match file.action {
            Action::Uploaded => "uploaded".to_string(),
            Action::SkippedUnchanged => "unchanged".to_string(),
            Action::Resumed { parts_reused } => format!("resumed ({parts_reused} parts reused)"),
        };
        writeln!(
            out,
            "{action:>9}  {}  {}, {} sent, sha256 {}",
            printable(&file.key),
            human_bytes(file.size),
            human_bytes(file.bytes_sent),
            file.s3_checksum
        )?;
    }
    writeln!(
        out,
        "pushed {} files to {}: {} sent, each read back and verified by S3's SHA-256",
        report.files.len(),
        report.destination,
        human_bytes(report.bytes_sent()),
    )?;
    Ok(())
}
