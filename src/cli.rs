//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Fail fast, with a reason and a fix, before Amazon Bedrock Custom Model Import does.
#[derive(Debug, Parser)]
#[command(name = "cmi-preflight", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a model folder for Custom Model Import without reading its weights.
    ///
    /// Reads safetensors headers, config.json, the tokenizer files and the sharded index, and
    /// reports every problem with a rule code and a fix. Exit status: 0 passed (warnings
    /// allowed), 1 error findings (or warnings with --strict), 2 could not run.
    Check(CheckArgs),
    /// List the rule catalog, or explain one rule.
    Rules(RulesArgs),
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Human-readable lines, coloured on a terminal.
    Text,
    /// One JSON document (schema in docs/json-output.md).
    Json,
    /// JUnit XML, one test case per rule, for CI systems.
    Junit,
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The model folder (holding config.json, *.safetensors and the tokenizer files).
    pub source: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,

    /// Files read at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Bytes of the first read of each safetensors file; a longer header takes a second read.
    #[arg(long, default_value_t = 262_144, value_parser = clap::value_parser!(u64).range(8..))]
    pub header_probe: u64,
}

/// Output formats of `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// Human-readable text.
    Text,
    /// JSON, one object per rule.
    Json,
    /// Markdown, as in docs/rules.md.
    Markdown,
}

/// Arguments of `rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// A rule code (ST013) or name (invalid-offsets) to explain.
    pub rule: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
    pub format: RulesFormat,
}
