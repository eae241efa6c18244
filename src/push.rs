//! `push`: arguments to the agent, the plan, the check and the report to stdout.

use std::io::Write;

use anyhow::{Context, Result};
use cmi_agent::push::{lifecycle, Action, Destination, Plan, PushDocument, PushReport};
use cmi_agent::signing::{self, KeyPassword, PrivateKey, SignatureLocation, SignatureRecord};
use cmi_agent::{AnySource, LocalSource, Source};
use cmi_format::signing::GIT_PATHS;
use cmi_format::Finding;

use crate::bedrock::INTERRUPTED;
use crate::cli::{OutputFormat, PushArgs, ReportFormat};
use crate::render::text::human_bytes;
use crate::render::{self, printable};
use crate::{runtime, FAILED, PASSED};

/// How the sending part of a push ended.
enum Outcome {
    /// Every file was sent and read back.
    Pushed(Box<PushReport>),
    /// Nothing was sent: `--strict` and the destination has warnings.
    Held,
    /// Ctrl-C stopped it.
    Interrupted,
}

/// Runs `push`: plan, check, then send (unless the check fails or it is a dry run); with
/// `--delete`, then delete what was not sent; with `--import`, then import the pushed prefix
/// as `import` does; with `--abort-incomplete`, only clean up.
pub(crate) fn push(args: PushArgs) -> Result<u8> {
    let options = args.options()?;
    let plan_options = args.plan_options()?;
    if let Some(size) = args.part_size {
        cmi_agent::push::part_size(0, Some(size)).context("--part-size")?;
    }
    let uri: cmi_agent::S3Uri = args.destination.parse()?;
    if (args.delete || args.abort_incomplete) && uri.prefix.is_empty() {
        anyhow::bail!(
            "--delete and --abort-incomplete need a prefix (s3://{}/PREFIX/): at the bucket's root they would reach every other object",
            uri.bucket
        );
    }
    let runtime = runtime()?;
    if args.abort_incomplete {
        return abort_incomplete(&runtime, &args, &uri);
    }
    let source =
        if cmi_agent::open::is_s3(&args.source) || cmi_format::hub_uri::is_hub(&args.source) {
            let open = cmi_agent::OpenOptions {
                aws: args.aws_options(),
                bedrock_region: args.bedrock_region.clone(),
                confined: false,
                offline: args.offline,
                hub: None,
            };
            runtime.block_on(cmi_agent::open(&args.source, &open))?
        } else {
            AnySource::Local(LocalSource::open(&args.source)?)
        };
    if let (Some(path), AnySource::Local(local)) = (&args.manifest_out, &source) {
        cmi_agent::files::ensure_outside(path, local.root())?;
    }
    let signer = args
        .sign_key
        .as_deref()
        .map(|key| {
            signer(
                key,
                args.key_password_env.as_deref(),
                args.signature_out.as_deref(),
                &uri,
            )
        })
        .transpose()?;
    let mut signed = None;
    let described = source.describe();
    let plan = runtime.block_on(cmi_agent::push::plan(&source, &plan_options))?;
    let owner = options.expected_bucket_owner.as_deref();
    let mut deleted = Vec::new();
    let shown = uri.to_string();
    let mut warnings = cmi_agent::push::offline_warnings(&shown, &options);
    let report = if plan.passed(args.strict) && !args.dry_run {
        let progress = render::progress::for_terminal(args.quiet);
        let outcome = runtime.block_on(async {
            let config = cmi_agent::aws::load(&args.aws_options()).await?;
            let destination = Destination {
                client: cmi_agent::s3::s3_client(&config),
                uri: uri.clone(),
            };
            warnings = cmi_agent::push::preflight(&destination, &config, &options).await?;
            if args.strict && !warnings.is_empty() {
                return anyhow::Ok(Outcome::Held);
            }
            let sending = async {
                match &source {
                    AnySource::Local(local) => {
                        cmi_agent::push::push(
                            local,
                            &plan,
                            &destination,
                            &options,
                            progress.clone(),
                        )
                        .await
                    }
                    AnySource::S3(s3) => {
                        cmi_agent::push::push_from_s3(
                            s3,
                            &plan,
                            &destination,
                            &options,
                            progress.clone(),
                        )
                        .await
                    }
                    AnySource::Hub(hub) => {
                        cmi_agent::push::push_from_source(
                            hub,
                            &plan,
                            &destination,
                            &options,
                            progress.clone(),
                        )
                        .await
                    }
                }
            };
            let pushed = tokio::select! {
                report = sending => report?,
                () = crate::bedrock::ctrl_c() => return anyhow::Ok(Outcome::Interrupted),
            };
            if args.delete {
                let keep = pushed.files.iter().map(|f| f.key.clone()).collect();
                let stale = lifecycle::stale(&destination, owner, &keep).await?;
                lifecycle::delete(&destination, owner, &stale).await?;
                deleted = stale.into_iter().map(|s| s.key).collect();
            }
            anyhow::Ok(Outcome::Pushed(Box::new(pushed)))
        });
        drop(progress);
        let report = match outcome? {
            Outcome::Pushed(report) => Some(*report),
            Outcome::Held => None,
            Outcome::Interrupted => {
                runtime.shutdown_background();
                interrupted();
                return Ok(INTERRUPTED);
            }
        };
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
        if let (Some(signer), Some(report)) = (&signer, &report) {
            signed = Some(runtime.block_on(sign_pushed(
                &source,
                report,
                signer,
                &args.aws_options(),
            ))?);
        }
        report
    } else {
        if args.delete && args.dry_run && plan.passed(args.strict) {
            let keep = plan
                .selection
                .send
                .iter()
                .map(|e| format!("{}{}", uri.prefix, e.path))
                .collect();
            deleted = runtime
                .block_on(async {
                    let destination = destination(&args, &uri).await?;
                    anyhow::Ok(lifecycle::stale(&destination, owner, &keep).await?)
                })?
                .into_iter()
                .map(|s| s.key)
                .collect();
        }
        None
    };
    let passed = plan.passed(args.strict) && (!args.strict || warnings.is_empty());
    let import = match (&report, args.import_args()) {
        (Some(_), Some(mut import)) if passed => {
            if import.require_signature {
                import.signer = signer
                    .as_ref()
                    .map(|s| (s.name.clone(), s.key.public_key()));
            }
            Some(import)
        }
        _ => None,
    };
    let mut stdout = anstream::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let mut document = PushDocument::new(
                &described,
                &uri.to_string(),
                &plan,
                args.strict,
                args.dry_run,
                report.as_ref(),
                &warnings,
            );
            document.deleted = deleted;
            document.provenance = source.provenance();
            document.signature = signed.as_ref().map(|(_, record)| record.clone());
            // With --import, one document: the import's is embedded in push's.
            let imported = import.map(|import| {
                drop(runtime);
                crate::bedrock::import_run(import)
            });
            let code = match imported {
                Some(Ok((code, import))) => {
                    document.import = import;
                    code
                }
                Some(Err(error)) => {
                    write_json(&mut stdout, &document)?;
                    return Err(error);
                }
                None if passed => PASSED,
                None => FAILED,
            };
            write_json(&mut stdout, &document)?;
            return Ok(code);
        }
        OutputFormat::Text => {
            write_text(&mut stdout, &args, &uri, &plan, &warnings, report.as_ref())?;
            if let Some((line, _)) = &signed {
                writeln!(stdout, "{line}")?;
            }
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            for key in &deleted {
                writeln!(stdout, "{verb:>12}  {}", printable(key))?;
            }
            if args.delete && (report.is_some() || args.dry_run) && plan.passed(args.strict) {
                writeln!(
                    stdout,
                    "{verb} {} objects under {uri} that were not sent",
                    deleted.len()
                )?;
            }
        }
    }
    if !passed {
        return Ok(FAILED);
    }
    match import {
        Some(import) => {
            drop(stdout);
            drop(runtime);
            crate::bedrock::import(import)
        }
        None => Ok(PASSED),
    }
}

/// `--sign-key` and `--signature-out`, as `push` signs with them.
struct PushSigner {
    /// The key file as given.
    name: String,
    /// The key.
    key: PrivateKey,
    /// Where the signature goes.
    location: SignatureLocation,
    /// `--signature-out` as given.
    shown: String,
}

/// `--sign-key` and `--signature-out`: the key, read before anything is sent, and where the
/// signature goes, refused under the destination prefix that Bedrock imports.
fn signer(
    key: &std::path::Path,
    password_env: Option<&str>,
    out: Option<&str>,
    uri: &cmi_agent::S3Uri,
) -> Result<PushSigner> {
    let name = key.display().to_string();
    let password = password_env.map(KeyPassword::from_env).transpose()?;
    let key = PrivateKey::read(key, password.as_ref())?;
    let out = out.context("--sign-key needs --signature-out")?;
    let location = SignatureLocation::parse(out)?;
    if let SignatureLocation::S3 {
        bucket,
        key: object,
    } = &location
    {
        if *bucket == uri.bucket && object.starts_with(uri.prefix.as_str()) {
            anyhow::bail!(
                "--signature-out {location} lies under the destination {uri}, which Bedrock imports whole: write the signature outside that prefix (another prefix or bucket, or a local file)"
            );
        }
    }
    Ok(PushSigner {
        name,
        key,
        location,
        shown: out.to_string(),
    })
}

/// Signs the pushed files from the upload's SHA-256s (no second read), leaving out the git
/// paths as `sign` does and the signature itself when it lies in the source folder, writes
/// the signature and returns the line that tells it and the document's record of it.
async fn sign_pushed(
    source: &AnySource,
    report: &PushReport,
    signer: &PushSigner,
    aws: &cmi_agent::aws::AwsOptions,
) -> Result<(String, SignatureRecord)> {
    let (key, location) = (&signer.key, &signer.location);
    if let Some(file) = report.files.iter().find(|f| f.sha256.is_empty()) {
        anyhow::bail!(
            "cannot sign: the SHA-256 of {} is not known (copied in parts from an object without a full-object checksum)",
            printable(&file.path)
        );
    }
    let mut ignore_paths: Vec<String> = GIT_PATHS.iter().map(|p| p.to_string()).collect();
    ignore_paths.extend(location.inside(source));
    let (statement, bundle) = signing::sign_digests(
        &signing::model_name(source),
        report
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str())),
        &ignore_paths,
        &signing::Signer::from(key.clone()),
    )?;
    location
        .write(bundle.to_json().as_bytes(), source, aws)
        .await?;
    let line = format!(
        "signed {} files ({}) with a {} key: {location}",
        statement.predicate.resources.len(),
        statement.digest(),
        key.curve()
    );
    let record = SignatureRecord::signed(&signer.shown, &signer.name, key, &statement);
    Ok((line, record))
}

/// Writes `document` as pretty JSON and a newline.
fn write_json(stdout: &mut impl Write, document: &PushDocument) -> Result<()> {
    let mut text = serde_json::to_string_pretty(&serde_json::to_value(document)?)?;
    text.push('\n');
    stdout.write_all(text.as_bytes())?;
    Ok(())
}

/// The destination's client, from the AWS options.
async fn destination(args: &PushArgs, uri: &cmi_agent::S3Uri) -> Result<Destination> {
    let config = cmi_agent::aws::load(&args.aws_options()).await?;
    Ok(Destination {
        client: cmi_agent::s3::s3_client(&config),
        uri: uri.clone(),
    })
}

/// The command line as given, for the user to run again.
fn command_line() -> String {
    std::env::args_os()
        .map(|arg| {
            let arg = arg.to_string_lossy().into_owned();
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Says, on stderr, what Ctrl-C left and how to resume or clean up.
fn interrupted() {
    let mut stderr = anstream::stderr().lock();
    let command = command_line();
    let _ = writeln!(
        stderr,
        "interrupted: the uploads in progress were left incomplete (no object of them exists), and the parts S3 holds are kept.\n\
         To resume (only the missing parts are sent), run the same command again:\n  {command}\n\
         To clean up instead, abort the incomplete uploads under the prefix:\n  {command} --abort-incomplete"
    );
}

/// `push --abort-incomplete`: aborts (or, with `--dry-run`, lists) the incomplete multipart
/// uploads under the destination prefix.
fn abort_incomplete(
    runtime: &tokio::runtime::Runtime,
    args: &PushArgs,
    uri: &cmi_agent::S3Uri,
) -> Result<u8> {
    let owner = args.expected_bucket_owner.as_deref();
    let uploads = runtime.block_on(async {
        let destination = destination(args, uri).await?;
        let uploads = lifecycle::incomplete(&destination, owner).await?;
        if !args.dry_run {
            lifecycle::abort(&destination, owner, &uploads).await?;
        }
        anyhow::Ok(uploads)
    })?;
    let verb = if args.dry_run {
        "would abort"
    } else {
        "aborted"
    };
    let mut stdout = anstream::stdout().lock();
    for upload in &uploads {
        writeln!(
            stdout,
            "{verb:>11}  {}  (upload {})",
            printable(&upload.key),
            printable(&upload.upload_id)
        )?;
    }
    writeln!(
        stdout,
        "{verb} {} incomplete uploads under {uri}",
        uploads.len()
    )?;
    Ok(PASSED)
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
