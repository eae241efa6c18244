//! `cmi-preflight`: parse the arguments, call the agent, render, exit with the right code.

mod bedrock;
mod cli;
mod push;
mod render;
mod shell;
mod sign;
mod watch;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cmi_agent::{AnySource, CheckOptions, OpenOptions, Source};
use tracing_subscriber::EnvFilter;

use crate::cli::{
    CheckArgs, Cli, Command, DoctorArgs, LogFormat, ManifestArgs, OutputFormat, PolicyArgs,
    RulesArgs, VerifyArgs,
};

/// Exit status when the gate passed.
pub(crate) const PASSED: u8 = 0;
/// Exit status when the gate failed.
pub(crate) const FAILED: u8 = 1;
/// Exit status when the tool could not do its job.
pub(crate) const COULD_NOT_RUN: u8 = 2;

fn main() -> ExitCode {
    cmi_agent::allocator::return_large_buffers();
    let cli = Cli::parse();
    match &cli.command {
        Command::Watch(args) => init_event_log(cli.verbose, args.log_format),
        _ => init_logging(cli.verbose),
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::from(PASSED),
        Err(error) => {
            let mut stderr = anstream::stderr();
            let _ = writeln!(
                stderr,
                "{}error:{} {}",
                render::ERROR_STYLE,
                render::ERROR_STYLE.render_reset(),
                describe(&error)
            );
            ExitCode::from(COULD_NOT_RUN)
        }
    }
}

/// The error and its causes, each cause once: a message that already quotes its cause (as
/// many library errors do) is not followed by it again.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// A closed stdout (`cmi-preflight ... | head`) ends the program quietly, as in other
/// command-line tools.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The daemon's log: its events (target `cmi_preflight::watch`) at info and everything else
/// at warn, on stdout, as JSON lines by default so that they can be shipped as they are.
fn init_event_log(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn,cmi_preflight::watch=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check(args) => check(args),
        Command::Rules(args) => rules(args),
        Command::Policy(args) => policy(args),
        Command::Doctor(args) => doctor(args),
        Command::Manifest(args) => manifest(args),
        Command::Verify(args) => verify(args),
        Command::Sign(args) => sign::sign(args),
        Command::Import(args) => bedrock::import(args),
        Command::Status(args) => bedrock::status(args),
        Command::Jobs(args) => bedrock::list_jobs(args),
        Command::Models(args) => bedrock::list_models(args),
        Command::Watch(args) => watch::watch(args),
        Command::Push(args) => push::push(args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn check(args: CheckArgs) -> Result<u8> {
    let options = CheckOptions {
        concurrency: usize::from(args.concurrency),
        header_probe: args.header_probe,
        bedrock_region: args.bedrock_region.clone(),
    };
    let open = OpenOptions {
        aws: args.aws.options(),
        bedrock_region: args.bedrock_region.clone(),
        confined: false,
        offline: args.offline,
        hub: None,
    };
    let (report, provenance) = runtime()?.block_on(async {
        let source = cmi_agent::open(&args.source, &open).await?;
        let report = cmi_agent::check(&source, options).await?;
        anyhow::Ok((report, source.provenance()))
    })?;
    let mut stdout = anstream::stdout().lock();
    let context =
        render::ReportContext::check(&args.source, args.strict).with_provenance(provenance);
    render::report(&mut stdout, args.format, &context, &report)
        .context("cannot write the report")?;
    Ok(verdict(report.passed(args.strict)))
}

fn verdict(passed: bool) -> u8 {
    if passed {
        PASSED
    } else {
        FAILED
    }
}

fn manifest(args: ManifestArgs) -> Result<u8> {
    let reuse = args
        .reuse
        .as_deref()
        .map(cmi_agent::manifest::Manifest::read)
        .transpose()?;
    let open = OpenOptions {
        aws: args.aws.options(),
        bedrock_region: None,
        confined: !args.follow_symlinks,
        offline: args.offline,
        hub: None,
    };
    let options = cmi_agent::manifest::ManifestOptions {
        hash: args.hash.options(),
        check: CheckOptions::default(),
    };
    let output = args
        .output
        .as_deref()
        .filter(|path| *path != std::path::Path::new("-"));
    let progress = render::progress::for_terminal(args.hash.quiet);
    let manifest = runtime()?.block_on(async {
        let source = cmi_agent::open(&args.source, &open).await?;
        if let (Some(path), AnySource::Local(local)) = (output, &source) {
            cmi_agent::files::ensure_outside(path, local.root())?;
        }
        anyhow::Ok(
            cmi_agent::manifest::create(&source, &options, reuse.as_ref(), progress.clone())
                .await?,
        )
    })?;
    drop(progress);
    let mut stdout = anstream::stdout().lock();
    match output {
        Some(path) => {
            manifest.write(path)?;
            writeln!(stdout, "{}", manifest.artifact_digest)?;
        }
        None => stdout.write_all(manifest.to_json().as_bytes())?,
    }
    Ok(PASSED)
}

fn verify(args: VerifyArgs) -> Result<u8> {
    if let Some(signature) = args.signature.clone() {
        return sign::verify(args, &signature);
    }
    let manifest_path = args
        .manifest
        .clone()
        .context("give --manifest, or --signature with --public-key or --certificate-chain")?;
    let manifest = cmi_agent::manifest::Manifest::read(&manifest_path)?;
    let open = OpenOptions {
        aws: args.aws.options(),
        bedrock_region: None,
        confined: !args.follow_symlinks,
        offline: args.offline,
        hub: None,
    };
    let options = args.hash.options();
    let progress = render::progress::for_terminal(args.hash.quiet);
    let verification = runtime()?.block_on(async {
        let source = cmi_agent::open(&args.source, &open).await?;
        if args.metadata_only {
            let AnySource::S3(s3) = &source else {
                anyhow::bail!("--metadata-only compares S3 ETags and version ids; a local folder has none, so verify it without --metadata-only");
            };
            return Ok(cmi_agent::verify::verify_metadata(s3, &manifest, options.concurrency).await?);
        }
        Ok(cmi_agent::verify::verify(&source, &manifest, &options, progress.clone()).await?)
    })?;
    drop(progress);
    let mut stdout = anstream::stdout().lock();
    let context =
        render::ReportContext::verify(&args.source, &manifest_path, &manifest, &verification);
    render::report(&mut stdout, args.format, &context, &verification.report)
        .context("cannot write the report")?;
    Ok(verdict(verification.report.passed(false)))
}

fn rules(args: RulesArgs) -> Result<u8> {
    let mut stdout = anstream::stdout().lock();
    match args.rule {
        Some(code) => {
            let rule = cmi_format::rules::lookup(&code).with_context(|| {
                format!("no rule {code:?}; `cmi-preflight rules` lists them all")
            })?;
            render::rules::explain(&mut stdout, rule, args.format)?;
        }
        None => render::rules::catalog(&mut stdout, args.format)?,
    }
    Ok(PASSED)
}

fn policy(args: PolicyArgs) -> Result<u8> {
    let inputs = cmi_format::policy::PolicyInputs {
        bucket: args.bucket,
        prefix: args.prefix,
        bucket_account: args.bucket_account,
        hosting_account: args.hosting_account,
        region: args.region,
        role_name: args.role_name,
        source_kms_key_arn: args.source_kms_key_arn,
        hosting_kms_key_arn: args.hosting_kms_key_arn,
        importer_arn: args.importer_arn,
    };
    let validated = inputs.validate()?;
    let mut set = cmi_format::policy::generate(&validated);
    if let Some(runner) = args.runner {
        let runner_inputs = cmi_format::policy::RunnerInputs {
            queue_arn: args.queue_arn,
            report_prefix: args.report_prefix,
            check_as_role: args.check_as_role,
            watch_import: args.watch_import,
        };
        set.documents.extend(cmi_format::policy::runner_documents(
            &validated,
            &runner_inputs,
            &runner.commands(),
        )?);
    }
    let mut stderr = anstream::stderr();
    for note in &set.notes {
        writeln!(
            stderr,
            "{}note:{} {note}",
            render::WARNING_STYLE,
            render::WARNING_STYLE.render_reset()
        )?;
    }
    let mut stdout = anstream::stdout().lock();
    match args.out_dir {
        Some(dir) => {
            let written = cmi_agent::policy::write_all(&set, &dir)?;
            for (path, document) in written.iter().zip(&set.documents) {
                writeln!(stdout, "{}  {}", path.display(), document.title)?;
                for line in render::policy::source_lines(document) {
                    writeln!(stdout, "    {line}")?;
                }
            }
        }
        None => render::policy::write(&mut stdout, &set)?,
    }
    Ok(PASSED)
}

fn doctor(args: DoctorArgs) -> Result<u8> {
    let options = cmi_agent::doctor::DoctorOptions {
        uri: args.source.parse()?,
        aws: args.aws.options(),
        bedrock_region: args.bedrock_region,
        bucket_account: args.bucket_account,
        concurrency: usize::from(args.concurrency),
        hosting_kms_key_arn: args.hosting_kms_key_arn,
        importer_arn: args.importer_arn,
        runner: args.runner.map(|r| r.command()),
        runner_inputs: cmi_format::policy::RunnerInputs {
            queue_arn: args.queue_arn,
            report_prefix: args.report_prefix,
            check_as_role: args.check_as_role,
            watch_import: args.watch_import,
        },
        source_kms_key_arn: args.source_kms_key_arn,
    };
    let diagnosis = runtime()?.block_on(cmi_agent::doctor::doctor(&options))?;
    let mut stdout = anstream::stdout().lock();
    match args.format {
        OutputFormat::Text => render::doctor::write(&mut stdout, &diagnosis)?,
        OutputFormat::Json => render::doctor::write_json(&mut stdout, &args.source, &diagnosis)?,
    }
    Ok(if diagnosis.passed() { PASSED } else { FAILED })
}
