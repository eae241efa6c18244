//! Command-line arguments.

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
    /// Fingerprint an artifact: the SHA-256 of every file, a model summary and one artifact
    /// digest, as a JSON manifest.
    ///
    /// Without -o the manifest goes to stdout; with -o it is written atomically and stdout
    /// gets only the artifact digest.
    Manifest(ManifestArgs),
    /// Compare an artifact with its manifest to gate a release.
    ///
    /// Missing, extra and changed files (size or SHA-256) are findings; exit status 1 on any
    /// difference, 0 when identical.
    Verify(VerifyArgs),
    /// Diagnose the cross-account access of the execution role to an S3 artifact.
    ///
    /// One line per step: who is calling, whether the role can be assumed and trusts Bedrock,
    /// the bucket's Region, listing the prefix, inspecting and reading every object (a 1-byte
    /// ranged GET each) and decrypting SSE-KMS objects, all as the role. A failed step shows
    /// the policy statement that fixes it. Exit status 1 if any step fails.
    Doctor(DoctorArgs),
    /// Write the least-privilege policies of a cross-account import set-up.
    ///
    /// The bucket policy (bucket account), the role's identity policy and trust policy
    /// (hosting account), and the KMS key-policy statements when keys are given. Without
    /// --out-dir the documents are printed.
    Policy(PolicyArgs),
}

/// How files are hashed.
#[derive(Debug, Clone, clap::Args)]
pub struct HashArgs {
    /// Bytes of each ranged GET of an S3 object.
    #[arg(long, default_value_t = cmi_agent::hash::DEFAULT_PART_SIZE, value_parser = clap::value_parser!(u64).range(1024..))]
    pub part_size: u64,

    /// Parts in flight at once, across all files (memory is bounded by this times
    /// --part-size).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

impl HashArgs {
    /// The agent's form of these options.
    pub fn options(&self) -> cmi_agent::hash::HashOptions {
        cmi_agent::hash::HashOptions {
            part_size: self.part_size,
            concurrency: usize::from(self.concurrency),
            ..cmi_agent::hash::HashOptions::default()
        }
    }
}

/// Arguments of `manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// The artifact: a local folder or s3://bucket/prefix/.
    pub source: String,

    /// Write the manifest to this file (atomically) instead of stdout.
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,

    /// An earlier manifest of the same source: files whose size and ETag (S3) or modification
    /// time (local) are unchanged keep their digest, marked as reused.
    #[arg(long)]
    pub reuse: Option<std::path::PathBuf>,

    /// Hashing options.
    #[command(flatten)]
    pub hash: HashArgs,

    /// AWS options, for s3:// sources.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The artifact: a local folder or s3://bucket/prefix/.
    pub source: String,

    /// The manifest to compare with.
    #[arg(long)]
    pub manifest: std::path::PathBuf,

    /// For S3: compare sizes, ETags and version ids only, without reading any content.
    #[arg(long)]
    pub metadata_only: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Hashing options.
    #[command(flatten)]
    pub hash: HashArgs,

    /// AWS options, for s3:// sources.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The artifact, s3://bucket/prefix/.
    pub source: String,

    /// Region of the Bedrock import job (default: the configured Region).
    #[arg(long)]
    pub bedrock_region: Option<String>,

    /// Account that owns the bucket, for the fix statements (default: the role's account).
    #[arg(long)]
    pub bucket_account: Option<String>,

    /// Objects examined at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// AWS options; --role-arn is required.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Bucket that holds the artifact (a name, not an ARN).
    #[arg(long)]
    pub bucket: String,

    /// Key prefix of the artifact in the bucket.
    #[arg(long)]
    pub prefix: Option<String>,

    /// Account that owns the bucket (12 digits).
    #[arg(long)]
    pub bucket_account: String,

    /// Account that runs the import job and owns the role (12 digits).
    #[arg(long)]
    pub hosting_account: String,

    /// Region of the import job.
    #[arg(long)]
    pub region: String,

    /// Name of the role that Bedrock assumes to read the bucket.
    #[arg(long)]
    pub role_name: String,

    /// ARN of the customer-managed KMS key that encrypts the objects (bucket account).
    #[arg(long)]
    pub source_kms_key_arn: Option<String>,

    /// ARN of the customer-managed KMS key that will encrypt the imported model (hosting
    /// account).
    #[arg(long)]
    pub hosting_kms_key_arn: Option<String>,

    /// Write one file per document into this folder instead of printing them.
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,
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

/// How to reach AWS, with the AWS CLI's option names. The standard AWS_* environment
/// variables and shared config files apply as usual.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// AWS Region of the requests (otherwise AWS_REGION or the profile's).
    #[arg(long, help_heading = "AWS")]
    pub region: Option<String>,

    /// Named profile of the shared config files (otherwise AWS_PROFILE).
    #[arg(long, help_heading = "AWS")]
    pub profile: Option<String>,

    /// Endpoint URL for every AWS service (an S3-compatible store, a VPC endpoint, an emulator).
    #[arg(long, help_heading = "AWS")]
    pub endpoint_url: Option<String>,

    /// Assume this role through STS and make every S3 read with its credentials, as Bedrock
    /// will with the import job's execution role.
    #[arg(long, help_heading = "AWS")]
    pub role_arn: Option<String>,

    /// External ID required by the role's trust policy.
    #[arg(long, requires = "role_arn", help_heading = "AWS")]
    pub external_id: Option<String>,

    /// Session name of the assumed role (default: cmi-preflight).
    #[arg(long, requires = "role_arn", help_heading = "AWS")]
    pub role_session_name: Option<String>,
}

impl AwsArgs {
    /// The agent's form of these options.
    pub fn options(&self) -> cmi_agent::aws::AwsOptions {
        cmi_agent::aws::AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            role_session_name: self.role_session_name.clone(),
        }
    }
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The model: a local folder, or s3://bucket/prefix/ (holding config.json,
    /// *.safetensors and the tokenizer files).
    pub source: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,

    /// Files read at once.
    #[arg(long, default_value_t = cmi_agent::check::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Bytes of the first read of each safetensors file; a longer header takes a second read.
    #[arg(long, default_value_t = cmi_agent::check::DEFAULT_HEADER_PROBE, value_parser = clap::value_parser!(u64).range(8..))]
    pub header_probe: u64,

    /// Region of the Bedrock import job; an S3 bucket elsewhere is reported (S3006).
    #[arg(long, help_heading = "AWS")]
    pub bedrock_region: Option<String>,

    /// AWS options, for s3:// sources.
    #[command(flatten)]
    pub aws: AwsArgs,
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
