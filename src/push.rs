//! `push`: arguments to the agent, the plan, the check and the report to stdout.

use std::io::Write;

use anyhow::{Context, Result};
use cmi_agent::push::{Action, Destination, Plan, PushDocument, PushReport};
use cmi_agent::{AnySource, LocalSource, Source};

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
    let runtime = runtime()?;
    let source = if cmi_agent::open::is_s3(&args.source) {
        let open = cmi_agent::OpenOptions {
            aws: args.aws.options(),
            bedrock_region: args.bedrock_region.clone(),
            confined: false,
        };
        runtime.block_on(cmi_agent::open(&args.source, &open))?
    } else {
        let local = LocalSource::open(&args.source)?;
        if let Some(path) = &args.manifest_out {
            cmi_agent::files::ensure_outside(path, local.root())?;
        }
        AnySource::Local(local)
    };
    let described = source.describe();
    let plan = runtime.block_on(cmi_agent::push::plan(&source, &plan_options))?;
    let go = plan.passed(args.strict) && !args.dry_run;
    let report = if go {
        let progress = render::progress::for_terminal(args.quiet);
        let report = runtime.block_on(async {
            let config = cmi_agent::aws::load(&args.aws.options()).await?;
            let destination = Destination {
                client: cmi_agent::s3::s3_client(&config),
                uri: uri.clone(),
            };
            let report = match &source {
                AnySource::Local(local) => {
                    cmi_agent::push::push(local, &plan, &destination, &options, progress.clone())
                        .await?
                }
                AnySource::S3(s3) => {
                    cmi_agent::push::push_from_s3(
                        s3,
                        &plan,
                        &destination,
                        &options,
                        progress.clone(),
                    )
                    .await?
                }
            };
            anyhow::Ok(report)
        })?;
        drop(progress);
        if let Some(path) = &args.manifest_out {
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
        Some(report)
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
            );
            let mut text = serde_json::to_string_pretty(&serde_json::to_value(&document)?)?;
            text.push('\n');
            stdout.write_all(text.as_bytes())?;
        }
        OutputFormat::Text => write_text(&mut stdout, &args, &uri, &plan, report.as_ref())?,
    }
    Ok(if plan.passed(args.strict) {
        PASSED
    } else {
        FAILED
    })
}

fn write_text(
    out: &mut impl Write,
    args: &PushArgs,
    uri: &cmi_agent::S3Uri,
    plan: &Plan,
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
            let context = render::ReportContext::check(&args.source, args.strict);
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
    let Some(report) = report else {
        writeln!(out, "dry run: would send {planned} to {uri}; nothing sent")?;
        return Ok(());
    };
    for file in &report.files {
        let action = match file.action {
            Action::Uploaded => "uploaded".to_string(),
            Action::SkippedUnchanged => "unchanged".to_string(),
            Action::Resumed { parts_reused } => format!("resumed ({parts_reused} parts reused)"),
            Action::Copied { parts: 0 } => "copied".to_string(),
            Action::Copied { parts } => format!("copied ({parts} parts)"),
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
