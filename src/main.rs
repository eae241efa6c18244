//! `cmi-preflight`: parse the arguments, call the agent, render, exit with the right code.

mod cli;
mod render;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cmi_agent::{CheckOptions, LocalSource};
use tracing_subscriber::EnvFilter;

use crate::cli::{CheckArgs, Cli, Command, RulesArgs};

/// Exit status when the gate passed.
const PASSED: u8 = 0;
/// Exit status when the gate failed.
const FAILED: u8 = 1;
/// Exit status when the tool could not do its job.
const COULD_NOT_RUN: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let mut stderr = anstream::stderr();
            let _ = writeln!(
                stderr,
                "{}error:{} {error:#}",
                render::ERROR_STYLE,
                render::ERROR_STYLE.render_reset()
            );
            ExitCode::from(COULD_NOT_RUN)
        }
    }
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

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check(args) => check(args),
        Command::Rules(args) => rules(args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn check(args: CheckArgs) -> Result<u8> {
    let options = CheckOptions {
        concurrency: usize::from(args.concurrency),
        header_probe: args.header_probe,
    };
    let source = LocalSource::open(&args.source)?;
    let report = runtime()?.block_on(cmi_agent::check(&source, options))?;
    let described = source.root().display().to_string();
    let mut stdout = anstream::stdout().lock();
    render::report(&mut stdout, args.format, &described, &report, args.strict)
        .context("cannot write the report")?;
    Ok(if report.passed(args.strict) {
        PASSED
    } else {
        FAILED
    })
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
