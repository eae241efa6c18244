//! Command-line arguments.

use clap::{Parser, Subcommand, ValueEnum};

/// Fail fast, with a reason and a fix, before Amazon Bedrock Custom Model Import does.
#[derive(Debug, Parser)]
#[command(name = "cmi-preflight", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v debug, -vv trace) on stderr, or in the event log of `watch`.
    /// RUST_LOG overrides it.
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
    /// Without -o (or with -o -) the manifest goes to stdout; with -o PATH it is written to
    /// PATH (atomically for a regular file) and stdout gets only the artifact digest.
    Manifest(ManifestArgs),
    /// Compare an artifact with its manifest, or its signature, to gate a release.
    ///
    /// Missing, extra and changed files (size or SHA-256) are findings; with --signature, a
    /// missing signature, a signature by another key or a tampered one too. Exit status 1 on
    /// any finding, 0 when identical.
    Verify(VerifyArgs),
    /// Sign an artifact: an OpenSSF Model Signing signature (`model_signing verify key`
    /// accepts it) over the SHA-256 of every file.
    ///
    /// The files are hashed once, as `manifest` hashes them; the git paths, the signature
    /// itself (when written inside the artifact) and --ignore-paths are left out, as
    /// `model_signing sign key` leaves them out. docs/signing.md describes the format.
    Sign(SignArgs),
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
    /// Check an S3 artifact, then submit its Custom Model Import job, idempotently.
    ///
    /// Every request field is validated before any call; the artifact is checked (unless
    /// --no-check) and the job is not submitted on error findings. Running the same command
    /// again (after a crash, a timeout) follows the job the first run created. Exit status: 0
    /// submitted (or Completed with --wait), 1 refused by the check or the job Failed, 2
    /// could not run, 130 stopped following with Ctrl-C.
    Import(ImportArgs),
    /// Describe an import job, or follow it to its end with --wait.
    Status(StatusArgs),
    /// List the account's import jobs in the Region, newest first.
    Jobs(JobsArgs),
    /// List the account's imported models in the Region, newest first.
    Models(ModelsArgs),
    /// Watch an S3 prefix and gate (and optionally import) every artifact that appears in it.
    ///
    /// Each child prefix is an artifact (the prefix itself with --single). Once ready (its
    /// --ready-marker exists, or its listing has not changed for --settle), it is checked; a
    /// passing one gets a manifest; a JSON report goes to the state directory (and
    /// --report-to); with --import its job is submitted idempotently and followed. State is
    /// kept in an SQLite database in --state-dir, so a restart resumes where it stopped.
    /// Events are JSON lines on stdout. SIGINT or SIGTERM stops it cleanly.
    Watch(WatchArgs),
    /// Upload an artifact to s3://bucket/prefix/, each file verified by S3 and read back.
    ///
    /// Files up to --single-put-max go in one PUT with their full-object SHA-256; larger ones
    /// in a multipart upload whose parts each carry their SHA-256. Every object's size and
    /// checksum are read back and compared; a file already at the destination with the same
    /// size and SHA-256 is not sent again. An interrupted run (Ctrl-C, kill -9) is resumed by
    /// running the same command again, which sends only the missing parts. Exit status: 0
    /// pushed, 1 refused by the check, 2 could not push, 130 stopped by Ctrl-C.
    Push(PushArgs),
    /// Print the completion script of a shell, to be sourced by it (README, "Install").
    Completions(CompletionsArgs),
    /// Print the roff man page of the whole command line, or write one page per subcommand.
    ///
    /// Without --out-dir the page of `cmi-preflight` (every subcommand listed) goes to stdout;
    /// with --out-dir DIR, cmi-preflight.1 and a cmi-preflight-SUBCOMMAND.1 per subcommand are
    /// written into DIR (which must exist), each replaced atomically.
    Man(ManArgs),
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
    /// The artifact: a local folder (a snapshot folder of the Hugging Face cache too),
    /// s3://bucket/prefix/ or hf://org/name[@revision] (whose LFS files' SHA-256 is the Hub's,
    /// not read; with --offline, read from the local cache).
    pub source: String,

    /// hf:// sources: read the snapshot of the revision from the local Hugging Face cache
    /// (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) with no network at all,
    /// as the Hub's own tools do offline; a branch or tag is looked up in the cache's refs, a
    /// commit id names its snapshot. Also set by HF_HUB_OFFLINE=1.
    #[arg(long)]
    pub offline: bool,

    /// Follow symbolic links to files wherever they lead (as model_signing's --allow_symlinks
    /// does), for layouts other than the Hugging Face cache. Without it, a link that leaves
    /// the folder is refused; in a cache snapshot (.../models--ORG--NAME/snapshots/COMMIT/)
    /// links into the repository's entry (its blobs/) are always followed. Links to folders
    /// are never followed.
    #[arg(long)]
    pub follow_symlinks: bool,

    /// Write the manifest to this file instead of stdout: a regular file is replaced
    /// atomically; `-` is stdout; a FIFO, a device or a symbolic link is written through, never
    /// replaced; a path inside the source folder is refused.
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

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The artifact: a local folder or s3://bucket/prefix/.
    pub source: String,

    /// The private key, PEM (PKCS #8, encrypted or not, or SEC1), on P-256, P-384 or P-521.
    #[arg(long = "key", visible_alias = "private-key", alias = "private_key")]
    pub key: std::path::PathBuf,

    /// The name of the environment variable that holds the password of an encrypted --key
    /// (model_signing's --password). The password itself is never an argument: the process
    /// list would show it to every user of the machine.
    #[arg(long, value_name = "NAME")]
    pub key_password_env: Option<String>,

    /// Sign with a certificate, as `model_signing sign certificate` does: the PEM certificate
    /// of --key, carried in the signature (with --certificate-chain) instead of the key's
    /// hint; verify with `verify --certificate-chain`.
    #[arg(long, alias = "signing_certificate", value_name = "CERT.pem")]
    pub signing_certificate: Option<std::path::PathBuf>,

    /// PEM certificates of the chain of --signing-certificate (intermediates, root), carried
    /// in the signature after it; repeat it for several files.
    #[arg(
        long = "certificate-chain",
        alias = "certificate_chain",
        value_name = "CHAIN.pem",
        requires = "signing_certificate"
    )]
    pub certificate_chain: Vec<std::path::PathBuf>,

    /// Where to write the signature: a file (replaced atomically) or s3://bucket/key,
    /// anywhere. Inside the artifact it is left out of what is signed.
    #[arg(short, long, default_value = "model.sig")]
    pub output: String,

    /// Paths relative to the artifact to leave out of the signature (a folder leaves out
    /// everything under it); recorded in the signature, so that verifiers leave them out too.
    #[arg(long = "ignore-paths", num_args = 1..)]
    pub ignore_paths: Vec<String>,

    /// Sign the git paths (.git, .gitattributes, .github, .gitignore) too; they are left out
    /// by default, as model_signing leaves them out.
    #[arg(long)]
    pub no_ignore_git_paths: bool,

    /// Hashing options.
    #[command(flatten)]
    pub hash: HashArgs,

    /// AWS options, for s3:// sources and signatures.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The artifact: a local folder (a snapshot folder of the Hugging Face cache too),
    /// s3://bucket/prefix/, or hf://org/name[@revision] with --offline.
    pub source: String,

    /// hf:// sources: read the snapshot of the revision from the local Hugging Face cache
    /// (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) with no network at all,
    /// as the Hub's own tools do offline; a branch or tag is looked up in the cache's refs, a
    /// commit id names its snapshot. Also set by HF_HUB_OFFLINE=1.
    #[arg(long)]
    pub offline: bool,

    /// Follow symbolic links to files wherever they lead (as model_signing's --allow_symlinks
    /// does), for layouts other than the Hugging Face cache. Without it, a link that leaves
    /// the folder is refused; in a cache snapshot (.../models--ORG--NAME/snapshots/COMMIT/)
    /// links into the repository's entry (its blobs/) are always followed. Links to folders
    /// are never followed.
    #[arg(long)]
    pub follow_symlinks: bool,

    /// The manifest to compare with.
    #[arg(long, required_unless_present = "signature")]
    pub manifest: Option<std::path::PathBuf>,

    /// The signature to verify (an OpenSSF Model Signing bundle, as `sign` or `model_signing
    /// sign key` writes it): a file or s3://bucket/key, anywhere. The artifact is then
    /// compared with the signed digests (and with --manifest, if given, which must be the
    /// one signed). With --public-key for a key signature, --certificate-chain for a
    /// certificate signature.
    #[arg(long, conflicts_with = "metadata_only")]
    pub signature: Option<String>,

    /// A public key (PEM) that may have made the signature; repeat it for several keys.
    #[arg(long = "public-key", alias = "public_key", requires = "signature")]
    pub public_key: Vec<std::path::PathBuf>,

    /// PEM certificates that the signing certificate of a certificate signature must chain
    /// to, offline (the signer's root, and intermediates), as `model_signing verify
    /// certificate --certificate_chain` takes them; repeat it for several files.
    #[arg(
        long = "certificate-chain",
        alias = "certificate_chain",
        value_name = "ROOTS.pem",
        requires = "signature"
    )]
    pub certificate_chain: Vec<std::path::PathBuf>,

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

    /// ARN of the KMS key that will encrypt the imported model: check that its key policy
    /// allows the role and the importer (as `policy --hosting-kms-key-arn` writes it).
    #[arg(long)]
    pub hosting_kms_key_arn: Option<String>,

    /// ARN of the IAM user or role that calls CreateModelImportJob (default: the role's
    /// account), for the hosting key check.
    #[arg(long, requires = "hosting_kms_key_arn")]
    pub importer_arn: Option<String>,

    /// Check instead whether the caller itself may run this command (its permissions as
    /// `policy --runner` writes them), with iam:SimulatePrincipalPolicy; --role-arn is then
    /// the execution role the command passes or assumes.
    #[arg(long, value_enum)]
    pub runner: Option<RunnerCommandArg>,

    /// With --runner watch: ARN of the SQS queue that `watch --sqs-queue-url` receives from.
    #[arg(long, requires = "runner")]
    pub queue_arn: Option<String>,

    /// With --runner watch: s3://BUCKET/PREFIX/ that `watch --report-to` writes under.
    #[arg(long, requires = "runner")]
    pub report_prefix: Option<String>,

    /// With --runner import or watch: the command runs with --check-as-role.
    #[arg(long, requires = "runner")]
    pub check_as_role: bool,

    /// With --runner watch: the daemon runs with --import.
    #[arg(long, requires = "runner")]
    pub watch_import: bool,

    /// With --runner: ARN of the customer-managed KMS key that encrypts the objects.
    #[arg(long, requires = "runner")]
    pub source_kms_key_arn: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

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

    /// ARN of the IAM user or role that calls CreateModelImportJob (hosting account); with
    /// --hosting-kms-key-arn, the key policy names it instead of the hosting account.
    #[arg(long)]
    pub importer_arn: Option<String>,

    /// Write one file per document into this folder instead of printing them (each replaced
    /// atomically; a name that is a symbolic link, a FIFO or a device is refused, not replaced).
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,

    /// Also write the identity policy of whoever runs this command (or all four), as
    /// runner-<command>-policy.json: for s3://BUCKET/PREFIX, the role, the keys and the
    /// Region above (docs/policy.md).
    #[arg(long, value_enum)]
    pub runner: Option<RunnerArg>,

    /// ARN of the SQS queue that `watch --sqs-queue-url` receives from (runner policy of watch).
    #[arg(long, requires = "runner")]
    pub queue_arn: Option<String>,

    /// s3://BUCKET/PREFIX/ that `watch --report-to` writes reports under (runner policy of
    /// watch).
    #[arg(long, requires = "runner")]
    pub report_prefix: Option<String>,

    /// The runner uses --check-as-role (import, watch): allow sts:AssumeRole on the role
    /// instead of reading the artifact itself.
    #[arg(long, requires = "runner")]
    pub check_as_role: bool,

    /// The daemon runs `watch --import` (runner policy of watch): allow it to submit, follow
    /// and list import jobs and to pass the role to Bedrock.
    #[arg(long, requires = "runner")]
    pub watch_import: bool,
}

/// The commands of `doctor --runner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunnerCommandArg {
    /// `check` (and `manifest`) of the s3:// artifact.
    Check,
    /// `push` to the artifact's prefix.
    Push,
    /// `import` (and `status`, `jobs`, `models`).
    Import,
    /// `watch` of the prefix.
    Watch,
}

impl RunnerCommandArg {
    /// The command this value names.
    pub fn command(self) -> cmi_format::policy::RunnerCommand {
        use cmi_format::policy::RunnerCommand;
        match self {
            RunnerCommandArg::Check => RunnerCommand::Check,
            RunnerCommandArg::Push => RunnerCommand::Push,
            RunnerCommandArg::Import => RunnerCommand::Import,
            RunnerCommandArg::Watch => RunnerCommand::Watch,
        }
    }
}

/// The commands of `policy --runner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunnerArg {
    /// `check` (and `manifest`) of the s3:// artifact.
    Check,
    /// `push` to the artifact's prefix.
    Push,
    /// `import` (and `status`, `jobs`, `models`).
    Import,
    /// `watch` of the prefix.
    Watch,
    /// All four, one document each.
    All,
}

impl RunnerArg {
    /// The commands this value stands for.
    pub fn commands(self) -> Vec<cmi_format::policy::RunnerCommand> {
        use cmi_format::policy::RunnerCommand;
        match self {
            RunnerArg::Check => vec![RunnerCommand::Check],
            RunnerArg::Push => vec![RunnerCommand::Push],
            RunnerArg::Import => vec![RunnerCommand::Import],
            RunnerArg::Watch => vec![RunnerCommand::Watch],
            RunnerArg::All => RunnerCommand::ALL.to_vec(),
        }
    }
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
pub struct ConnectionArgs {
    /// AWS Region of the requests (otherwise AWS_REGION or the profile's).
    #[arg(long, help_heading = "AWS")]
    pub region: Option<String>,

    /// Named profile of the shared config files (otherwise AWS_PROFILE).
    #[arg(long, help_heading = "AWS")]
    pub profile: Option<String>,

    /// Endpoint URL for every AWS service (an S3-compatible store, a VPC endpoint, an emulator).
    #[arg(long, help_heading = "AWS")]
    pub endpoint_url: Option<String>,
}

impl ConnectionArgs {
    /// The agent's form of these options, with no role to assume.
    pub fn options(&self) -> cmi_agent::aws::AwsOptions {
        cmi_agent::aws::AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            ..cmi_agent::aws::AwsOptions::default()
        }
    }
}

/// The connection, and optionally a role under which every S3 read is made.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// Region, profile and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,

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
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            role_session_name: self.role_session_name.clone(),
            ..self.connection.options()
        }
    }
}

/// How to reach the Bedrock control plane.
#[derive(Debug, Clone, clap::Args)]
pub struct BedrockArgs {
    /// Endpoint URL of Bedrock alone (a VPC endpoint, an emulator); overrides --endpoint-url
    /// for Bedrock calls.
    #[arg(long, help_heading = "AWS")]
    pub bedrock_endpoint_url: Option<String>,

    /// Region, profile and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Output formats of `doctor`, `import`, `status`, `jobs` and `models`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines.
    Text,
    /// One JSON document (schemas in docs/json-output.md).
    Json,
}

/// A `KEY=VALUE` tag.
/// The shortest wait between two polls, scans or retries (`--poll-interval`, `--interval`,
/// `--retry-after`): `0s` would make each loop spin, a request after another without pause.
/// 100 ms keeps a loop from spinning while letting tests against local emulators run fast; the
/// waits that back off double from there.
pub const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// A duration such as `5s` or `1m 30s`, at least [`MIN_WAIT`].
fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    let wait = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if wait < MIN_WAIT {
        return Err(format!(
            "{text:?} is too short: the wait must be at least {} (a shorter one makes the loop spin)",
            humantime::format_duration(MIN_WAIT)
        ));
    }
    Ok(wait)
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) => Ok((key.to_string(), value.to_string())),
        None => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The artifact, s3://bucket/prefix/.
    pub source: String,

    /// Name of the import job (1-63 letters, digits and hyphens; names stay taken for good).
    #[arg(long)]
    pub job_name: String,

    /// Name of the imported model (1-63 letters, digits, hyphens, underscores, dots, plus).
    #[arg(long)]
    pub model_name: String,

    /// The execution role that Bedrock assumes to read the bucket.
    #[arg(long)]
    pub role_arn: String,

    /// Customer-managed KMS key of the hosting account that will encrypt the imported model.
    #[arg(long)]
    pub kms_key_id: Option<String>,

    /// A tag of the job, KEY=VALUE (repeatable).
    #[arg(long = "job-tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub job_tags: Vec<(String, String)>,

    /// A tag of the imported model, KEY=VALUE (repeatable).
    #[arg(long = "model-tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub model_tags: Vec<(String, String)>,

    /// A subnet of the VPC through which the job reads S3 (repeatable; with
    /// --security-group-id).
    #[arg(
        long = "subnet-id",
        value_name = "SUBNET",
        requires = "security_group_ids"
    )]
    pub subnet_ids: Vec<String>,

    /// A security group of the job's VPC access (repeatable; with --subnet-id).
    #[arg(
        long = "security-group-id",
        value_name = "GROUP",
        requires = "subnet_ids"
    )]
    pub security_group_ids: Vec<String>,

    /// Follow the job to its end (Ctrl-C stops following, not the job).
    #[arg(long)]
    pub wait: bool,

    /// First wait between two status requests; it doubles up to a minute.
    #[arg(long, default_value = "5s", value_parser = parse_wait)]
    pub poll_interval: std::time::Duration,

    /// Submit without checking the artifact first.
    #[arg(long)]
    pub no_check: bool,

    /// Check the artifact as the execution role (assumed through STS, if its trust policy
    /// lets the caller), as Bedrock will read it.
    #[arg(long, conflicts_with = "no_check")]
    pub check_as_role: bool,

    /// External ID for --check-as-role.
    #[arg(long, requires = "check_as_role")]
    pub external_id: Option<String>,

    /// Refuse on warnings too.
    #[arg(long, conflicts_with = "no_check")]
    pub strict: bool,

    /// A manifest of the artifact: the artifact must match its listing, and its artifact
    /// digest identifies the artifact in the idempotency token.
    #[arg(long)]
    pub manifest: Option<std::path::PathBuf>,

    /// Submit only if the artifact is signed (docs/signing.md): --signature must verify
    /// with one of the --public-keys and every file must match the signed digests, else
    /// nothing is submitted and the findings are printed as `verify --signature` prints them.
    #[arg(long, requires_all = ["signature", "public_key"])]
    pub require_signature: bool,

    /// The artifact's signature (with --require-signature): a file or s3://bucket/key,
    /// anywhere (best outside the prefix Bedrock imports).
    #[arg(long, requires = "require_signature")]
    pub signature: Option<String>,

    /// A public key (PEM) that may have made the signature; repeat it for several keys.
    #[arg(
        long = "public-key",
        alias = "public_key",
        requires = "require_signature"
    )]
    pub public_key: Vec<std::path::PathBuf>,

    /// `push --sign-key --import --require-signature`: the public key of the signing key, with
    /// the name reports show, which the signature just written must verify with.
    #[arg(skip)]
    pub signer: Option<(String, cmi_agent::signing::PublicKey)>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Connection and Bedrock endpoint.
    #[command(flatten)]
    pub bedrock: BedrockArgs,
}

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The job: its name or ARN.
    pub job: String,

    /// Follow the job to its end.
    #[arg(long)]
    pub wait: bool,

    /// First wait between two status requests; it doubles up to a minute.
    #[arg(long, default_value = "5s", value_parser = parse_wait)]
    pub poll_interval: std::time::Duration,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Connection and Bedrock endpoint.
    #[command(flatten)]
    pub bedrock: BedrockArgs,
}

/// Statuses of an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobStatusArg {
    /// Running.
    #[value(name = "InProgress", alias = "in-progress")]
    InProgress,
    /// Ended with an imported model.
    #[value(name = "Completed", alias = "completed")]
    Completed,
    /// Ended without one.
    #[value(name = "Failed", alias = "failed")]
    Failed,
}

impl JobStatusArg {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatusArg::InProgress => "InProgress",
            JobStatusArg::Completed => "Completed",
            JobStatusArg::Failed => "Failed",
        }
    }
}

/// How a listing is fetched and shown.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Items per request (the listing follows every page either way).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: Option<i32>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Connection and Bedrock endpoint.
    #[command(flatten)]
    pub bedrock: BedrockArgs,
}

/// Arguments of `jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// Only jobs in this status.
    #[arg(long, value_enum)]
    pub status: Option<JobStatusArg>,

    /// Only jobs whose name contains this text.
    #[arg(long)]
    pub name_contains: Option<String>,

    /// Paging, output and connection.
    #[command(flatten)]
    pub list: ListArgs,
}

/// Arguments of `models`.
#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// Only models whose name contains this text.
    #[arg(long)]
    pub name_contains: Option<String>,

    /// Paging, output and connection.
    #[command(flatten)]
    pub list: ListArgs,
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The model: a local folder (a snapshot folder of the Hugging Face cache too; symbolic
    /// links to files are followed), s3://bucket/prefix/ (holding config.json, *.safetensors and
    /// the tokenizer files), or a model on the Hugging Face Hub, hf://org/name[@revision] (read
    /// at the revision's commit, from HF_ENDPOINT with HF_TOKEN or the token file of
    /// `hf auth login`; with --offline, from the local cache).
    pub source: String,

    /// hf:// sources: read the snapshot of the revision from the local Hugging Face cache
    /// (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) with no network at all,
    /// as the Hub's own tools do offline; a branch or tag is looked up in the cache's refs, a
    /// commit id names its snapshot. Also set by HF_HUB_OFFLINE=1.
    #[arg(long)]
    pub offline: bool,

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

    /// Region of the Bedrock import job: a Region without Custom Model Import (RG001) or
    /// without the model's architecture (RG002), or an S3 bucket elsewhere (S3006), is reported.
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

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell whose completion script is printed.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write cmi-preflight.1 and one page per subcommand into this folder instead of printing
    /// the main page.
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,
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

/// Formats of the event log of `watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, on stdout.
    Json,
    /// Human-readable lines, on stdout.
    Text,
}

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The watched prefix, s3://bucket/prefix/.
    pub source: String,

    /// Folder of the state database, reports and manifests (created if missing).
    #[arg(long)]
    pub state_dir: std::path::PathBuf,

    /// Time between two scans (and the longest SQS wait).
    #[arg(long, default_value = "30s", value_parser = parse_wait)]
    pub interval: std::time::Duration,

    /// An artifact is ready when its listing has not changed for this long.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration, conflicts_with = "ready_marker")]
    pub settle: std::time::Duration,

    /// An artifact is ready when this object exists in it (e.g. _READY).
    #[arg(long)]
    pub ready_marker: Option<String>,

    /// The prefix is one artifact, not a folder of artifacts.
    #[arg(long)]
    pub single: bool,

    /// One pass, then exit (for cron): exit status 2 if the scan or a step met a fault (it
    /// is retried on the next run), 1 if an artifact failed its check or import, else 0.
    #[arg(long)]
    pub once: bool,

    /// Import every artifact that passes.
    #[arg(long, requires = "role_arn")]
    pub import: bool,

    /// The execution role of the import jobs.
    #[arg(long, requires = "import")]
    pub role_arn: Option<String>,

    /// Read the artifacts as the execution role (assumed through STS), as Bedrock will.
    #[arg(long, requires = "role_arn")]
    pub check_as_role: bool,

    /// Job name; {name} (the artifact), {digest} (12 hex digits of its manifest digest) and
    /// {date} (UTC date of its newest object) are replaced.
    #[arg(long, default_value = "{name}-{digest}", requires = "import")]
    pub job_name_template: String,

    /// Imported model name, with the same placeholders.
    #[arg(long, default_value = "{name}-{digest}", requires = "import")]
    pub model_name_template: String,

    /// Customer-managed KMS key of the hosting account for the imported models.
    #[arg(long, requires = "import")]
    pub kms_key_id: Option<String>,

    /// A tag of each job, KEY=VALUE (repeatable).
    #[arg(long = "job-tag", value_name = "KEY=VALUE", value_parser = parse_tag, requires = "import")]
    pub job_tags: Vec<(String, String)>,

    /// A tag of each imported model, KEY=VALUE (repeatable).
    #[arg(long = "model-tag", value_name = "KEY=VALUE", value_parser = parse_tag, requires = "import")]
    pub model_tags: Vec<(String, String)>,

    /// Pass (and import) only the artifacts whose signature verifies (docs/signing.md):
    /// --signature-at names it, it must verify with one of the --public-keys and sign exactly
    /// the files of the version checked; else the artifact fails with SG findings in its
    /// report.
    #[arg(long, requires_all = ["signature_at", "public_key"])]
    pub require_signature: bool,

    /// Where each artifact's signature is (with --require-signature): a path or
    /// s3://bucket/key with {name} (the artifact's name) and {prefix} (its key prefix),
    /// outside the watched prefix, e.g. s3://signatures/{name}.sig.
    #[arg(long, requires = "require_signature")]
    pub signature_at: Option<String>,

    /// A public key (PEM) that may have made the signatures; repeat it for several keys.
    #[arg(
        long = "public-key",
        alias = "public_key",
        requires = "require_signature"
    )]
    pub public_key: Vec<std::path::PathBuf>,

    /// Also write each report to this S3 prefix.
    #[arg(long)]
    pub report_to: Option<String>,

    /// Take the bucket's S3 event notifications from this SQS queue instead of scanning.
    #[arg(long)]
    pub sqs_queue_url: Option<String>,

    /// With --sqs-queue-url and --once: list the whole prefix instead of receiving (a
    /// daemon does it at every start), to find artifacts whose events were lost.
    #[arg(long, requires = "sqs_queue_url")]
    pub rescan: bool,

    /// With --sqs-queue-url: list the whole prefix again this long after the last full
    /// listing.
    #[arg(long, requires = "sqs_queue_url", value_parser = parse_wait)]
    pub rescan_every: Option<std::time::Duration>,

    /// Serve /healthz and Prometheus /metrics on this loopback address.
    #[arg(long)]
    pub health_addr: Option<std::net::SocketAddr>,

    /// First wait before retrying after a fault; it doubles up to 15 minutes.
    #[arg(long, default_value = "5s", value_parser = parse_wait)]
    pub retry_after: std::time::Duration,

    /// Import jobs run at a time (with --import): Bedrock runs one per account and Region;
    /// passed artifacts wait for a free slot in the order they passed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..), requires = "import")]
    pub max_in_flight: u16,

    /// Format of the event log on stdout.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Connection and Bedrock endpoint.
    #[command(flatten)]
    pub bedrock: BedrockArgs,
}

/// Server-side encryption of the objects `push` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SseArg {
    /// SSE-KMS (with --sse-kms-key-id, or the bucket's default key), with an S3 Bucket Key.
    #[value(name = "aws:kms")]
    Kms,
    /// SSE-S3.
    #[value(name = "AES256")]
    Aes256,
}

/// Arguments of `push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The artifact: a local folder, s3://bucket/prefix/ (copied server-side), or
    /// hf://org/name[@revision] (streamed by ranged reads, each LFS file checked against the
    /// SHA-256 the Hub publishes: HF003).
    pub source: String,

    /// Where it goes: s3://bucket/prefix/.
    pub destination: String,

    /// hf:// sources: push the snapshot of the revision from the local Hugging Face cache
    /// (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) with no request to the
    /// Hub, each LFS file checked against its blob's name (HF004). Also set by
    /// HF_HUB_OFFLINE=1.
    #[arg(long)]
    pub offline: bool,

    /// Requests in flight at once, across and within files (memory is bounded by this times
    /// --part-size).
    #[arg(long, default_value_t = cmi_agent::push::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Bytes of each part of a multipart upload (5 MiB to 5 GiB; a size that would cut a file
    /// into more than 10,000 parts is refused). Default 8 MiB, doubled for a file until it fits
    /// 10,000 parts.
    #[arg(long)]
    pub part_size: Option<u64>,

    /// Files of at most this many bytes go in one PUT with their full-object SHA-256.
    #[arg(long, default_value_t = cmi_agent::push::DEFAULT_SINGLE_PUT_MAX)]
    pub single_put_max: u64,

    /// S3 source: objects of at most this many bytes are copied with one CopyObject (S3
    /// computes their full-object SHA-256); larger ones with UploadPartCopy parts of
    /// --part-size. At most 5 GiB, the default.
    #[arg(long, default_value_t = cmi_agent::push::MAX_SINGLE_PUT)]
    pub copy_max: u64,

    /// The account ID that must own the bucket, sent with every request.
    #[arg(long)]
    pub expected_bucket_owner: Option<String>,

    /// Server-side encryption of the objects (otherwise the bucket's default).
    #[arg(long, value_enum)]
    pub sse: Option<SseArg>,

    /// KMS key of SSE-KMS (implies --sse aws:kms).
    #[arg(long)]
    pub sse_kms_key_id: Option<String>,

    /// SSE-C, as `aws s3 cp` spells it: refused (Bedrock cannot read SSE-C objects).
    #[arg(long = "sse-c", hide = true, num_args = 0..=1, default_missing_value = "AES256")]
    pub sse_c: Option<String>,

    /// SSE-C's key, as `aws s3 cp` spells it: refused with --sse-c.
    #[arg(long = "sse-c-key", hide = true)]
    pub sse_c_key: Option<String>,

    /// Write the manifest of the pushed files, from the hashes of the upload, to this file.
    #[arg(long)]
    pub manifest_out: Option<std::path::PathBuf>,

    /// Sign the pushed files with this private key (PEM, as `sign --key`), from the hashes
    /// of the upload (no second read): an OpenSSF Model Signing signature, written to
    /// --signature-out (docs/signing.md).
    #[arg(long, value_name = "PRIVATE.pem", requires = "signature_out", conflicts_with_all = ["dry_run", "abort_incomplete"])]
    pub sign_key: Option<std::path::PathBuf>,

    /// Where --sign-key writes the signature: a file or s3://bucket/key, never under the
    /// destination prefix (Bedrock would import it with the model).
    #[arg(long, value_name = "LOC", requires = "sign_key")]
    pub signature_out: Option<String>,

    /// The name of the environment variable that holds the password of an encrypted
    /// --sign-key (never the password itself, which the process list would show).
    #[arg(long, value_name = "NAME", requires = "sign_key")]
    pub key_password_env: Option<String>,

    /// Also send files matching this glob that the selection table leaves out (repeatable;
    /// `*` stays within a folder, `**` crosses folders). A file that would make the
    /// destination fail `check` (a sub-folder, a pickle beside safetensors) is never sent.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Leave out files matching this glob (repeatable); applied last.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Send the files without checking them first.
    #[arg(long)]
    pub no_check: bool,

    /// Warnings of the check stop the push too.
    #[arg(long)]
    pub strict: bool,

    /// Print what would be sent and left out, and the check; send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// After a push that succeeded in full, delete the objects under the destination prefix
    /// that it did not send (with --dry-run: list them). Refused at a bucket's root.
    #[arg(long)]
    pub delete: bool,

    /// Abort the incomplete multipart uploads under the destination prefix (left by
    /// interrupted runs, which the next push would otherwise continue), list them, and exit
    /// without sending anything (with --dry-run: list them only).
    #[arg(long, conflicts_with_all = ["delete", "format", "manifest_out"])]
    pub abort_incomplete: bool,

    /// Send model.safetensors.index.json without the metadata keys Bedrock refuses (IX009),
    /// such as `total_parameters`; the source file is not changed.
    #[arg(long)]
    pub fix_index: bool,

    /// Region of the Bedrock import job, for the check's RG rules.
    #[arg(long, help_heading = "AWS")]
    pub bedrock_region: Option<String>,

    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Then import the pushed artifact, as `import` does (same checks, same idempotency
    /// token), with --job-name, --model-name and --role-arn.
    #[arg(long, requires_all = ["job_name", "model_name", "role_arn"], conflicts_with_all = ["dry_run", "abort_incomplete"], help_heading = "Import")]
    pub import: bool,

    /// Name of the import job (with --import).
    #[arg(long, requires = "import", help_heading = "Import")]
    pub job_name: Option<String>,

    /// Name of the imported model (with --import).
    #[arg(long, requires = "import", help_heading = "Import")]
    pub model_name: Option<String>,

    /// The execution role that Bedrock assumes to read the bucket (with --import).
    #[arg(long, requires = "import", help_heading = "Import")]
    pub role_arn: Option<String>,

    /// Customer-managed KMS key of the hosting account that will encrypt the imported model.
    #[arg(long, requires = "import", help_heading = "Import")]
    pub kms_key_id: Option<String>,

    /// A tag of the job, KEY=VALUE (repeatable).
    #[arg(long = "job-tag", value_name = "KEY=VALUE", value_parser = parse_tag, requires = "import", help_heading = "Import")]
    pub job_tags: Vec<(String, String)>,

    /// A tag of the imported model, KEY=VALUE (repeatable).
    #[arg(long = "model-tag", value_name = "KEY=VALUE", value_parser = parse_tag, requires = "import", help_heading = "Import")]
    pub model_tags: Vec<(String, String)>,

    /// A subnet of the VPC through which the job reads S3 (repeatable; with
    /// --security-group-id).
    #[arg(long = "subnet-id", value_name = "SUBNET", requires_all = ["import", "security_group_ids"], help_heading = "Import")]
    pub subnet_ids: Vec<String>,

    /// A security group of the job's VPC access (repeatable; with --subnet-id).
    #[arg(long = "security-group-id", value_name = "GROUP", requires_all = ["import", "subnet_ids"], help_heading = "Import")]
    pub security_group_ids: Vec<String>,

    /// Submit the import only if the signature that --sign-key just wrote to
    /// --signature-out verifies the pushed prefix, as `import --require-signature` checks
    /// it (with --import and --sign-key).
    #[arg(long, requires_all = ["import", "sign_key"], help_heading = "Import")]
    pub require_signature: bool,

    /// Follow the import job to its end (Ctrl-C stops following, not the job).
    #[arg(long, requires = "import", help_heading = "Import")]
    pub wait: bool,

    /// First wait between two status requests; it doubles up to a minute.
    #[arg(long, default_value = "5s", value_parser = parse_wait, help_heading = "Import")]
    pub poll_interval: std::time::Duration,

    /// Check the pushed artifact again before the import as the execution role (assumed
    /// through STS, if its trust policy lets the caller), as Bedrock will read it.
    #[arg(long, requires = "import", help_heading = "Import")]
    pub check_as_role: bool,

    /// Connection (both S3 and Bedrock) and the Bedrock endpoint.
    #[command(flatten)]
    pub bedrock: BedrockArgs,
}

impl PushArgs {
    /// The AWS options of the S3 requests (the caller's own credentials: `--role-arn` is the
    /// import's execution role, not a role to assume).
    pub fn aws_options(&self) -> cmi_agent::aws::AwsOptions {
        self.bedrock.connection.options()
    }

    /// The `import` that `--import` runs on the pushed prefix, with the push's manifest when
    /// `--manifest-out` wrote one, and with `--require-signature` the signature of
    /// `--signature-out` (the caller gives the signing key's public key); `None` without
    /// `--import`.
    pub fn import_args(&self) -> Option<ImportArgs> {
        if !self.import {
            return None;
        }
        Some(ImportArgs {
            source: self.destination.clone(),
            job_name: self.job_name.clone()?,
            model_name: self.model_name.clone()?,
            role_arn: self.role_arn.clone()?,
            kms_key_id: self.kms_key_id.clone(),
            job_tags: self.job_tags.clone(),
            model_tags: self.model_tags.clone(),
            subnet_ids: self.subnet_ids.clone(),
            security_group_ids: self.security_group_ids.clone(),
            wait: self.wait,
            poll_interval: self.poll_interval,
            no_check: self.no_check,
            check_as_role: self.check_as_role,
            external_id: None,
            strict: self.strict,
            manifest: self.manifest_out.clone(),
            require_signature: self.require_signature,
            signature: self
                .require_signature
                .then(|| self.signature_out.clone())
                .flatten(),
            public_key: Vec::new(),
            signer: None,
            format: self.format,
            bedrock: self.bedrock.clone(),
        })
    }

    /// The agent's form of these options.
    pub fn options(&self) -> anyhow::Result<cmi_agent::push::PushOptions> {
        if self.sse_c.is_some() || self.sse_c_key.is_some() {
            let rule = cmi_format::RuleId::SseCustomerKey.rule();
            anyhow::bail!(
                "push does not write SSE-C objects ({}): {} Use --sse aws:kms [--sse-kms-key-id KEY] or --sse AES256.",
                rule.code,
                rule.why
            )
        }
        let sse = match (self.sse, &self.sse_kms_key_id) {
            (Some(SseArg::Aes256), Some(_)) => {
                anyhow::bail!("--sse-kms-key-id needs --sse aws:kms, not AES256")
            }
            (Some(SseArg::Aes256), None) => Some(cmi_agent::push::Sse::Aes256),
            (Some(SseArg::Kms), key) | (None, key @ Some(_)) => Some(cmi_agent::push::Sse::Kms {
                key_id: key.clone(),
            }),
            (None, None) => None,
        };
        Ok(cmi_agent::push::PushOptions {
            concurrency: usize::from(self.concurrency),
            part_size: self.part_size,
            single_put_max: self.single_put_max,
            expected_bucket_owner: self.expected_bucket_owner.clone(),
            sse,
            copy_max: self.copy_max,
            require_sha256: self.manifest_out.is_some() || self.sign_key.is_some(),
        })
    }

    /// How the files are chosen and checked.
    pub fn plan_options(&self) -> anyhow::Result<cmi_agent::push::PlanOptions> {
        let filters = cmi_format::transfer::Filters::new(&self.include, &self.exclude)?;
        let check = (!self.no_check).then(|| cmi_agent::CheckOptions {
            bedrock_region: self.bedrock_region.clone(),
            ..cmi_agent::CheckOptions::default()
        });
        Ok(cmi_agent::push::PlanOptions {
            filters,
            fix_index: self.fix_index,
            check,
        })
    }
}
