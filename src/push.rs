//! `push`: arguments to the agent, the report to stdout.

use std::io::Write;

use anyhow::{Context, Result};
use cmi_agent::push::{Action, Destination, PushReport};
use cmi_agent::{CheckOptions, LocalSource, Source};

use crate::cli::{OutputFormat, PushArgs};
use crate::{render, runtime, PASSED};

/// Runs `push`.
pub(crate) fn push(args: PushArgs) -> Result<u8> {
    let options = args.options()?;
    if let Some(size) = args.part_size {
        cmi_agent::push::part_size(0, Some(size)).context("--part-size")?;
    }
    let uri: cmi_agent::S3Uri = args.destination.parse()?;
    let source = LocalSource::open(&args.source)?;
    if let Some(path) = &args.manifest_out {
        cmi_agent::files::ensure_outside(path, source.root())?;
    }
    let progress = render::progress::for_terminal(args.quiet);
    let (report, manifest) = runtime()?.block_on(async {
        let config = cmi_agent::aws::load(&args.aws.options()).await?;
        let destination = Destination {
            client: cmi_agent::s3::s3_client(&config),
            uri,
        };
        let (listing, report) =
            cmi_agent::push::push_local(&source, &destination, &options, progress.clone()).await?;
        let manifest = match &args.manifest_out {
            Some(_) => {
                let summary = cmi_agent::check(&source, CheckOptions::default())
                    .await?
                    .summary;
                Some(report.manifest(&source.describe(), summary, &listing.meta))
            }
            None => None,
        };
        anyhow::Ok((report, manifest))
    })?;
    drop(progress);
    if let (Some(path), Some(manifest)) = (&args.manifest_out, &manifest) {
        manifest.write(path)?;
    }
    let mut stdout = anstream::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let document = serde_json::json!({
                "destination": report.destination,
                "bytes_sent": report.bytes_sent(),
                "artifact_digest": manifest.as_ref().map(|m| m.artifact_digest.clone()),
                "files": report.files,
            });
            writeln!(stdout, "{}", serde_json::to_string_pretty(&document)?)?;
        }
        OutputFormat::Text => write_text(&mut stdout, &report)?,
    }
    Ok(PASSED)
}

fn write_text(out: &mut impl Write, report: &PushReport) -> std::io::Result<()> {
    for file in &report.files {
        let action = match file.action {
            Action::Uploaded => "uploaded".to_string(),
            Action::SkippedUnchanged => "unchanged".to_string(),
            Action::Resumed { parts_reused } => format!("resumed ({parts_reused} parts reused)"),
        };
        writeln!(
            out,
            "{action:>9}  {}  {} bytes, {} sent  sha256 {}",
            file.key, file.size, file.bytes_sent, file.s3_checksum
        )?;
    }
    writeln!(
        out,
        "{} files, {} bytes sent to {}",
        report.files.len(),
        report.bytes_sent(),
        report.destination
    )
}
