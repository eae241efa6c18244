//! The Bedrock commands: `import`, `status`, `jobs` and `models`. Arguments in, agent calls,
//! rendering out.

use std::io::Write;

use anyhow::Result;
use cmi_agent::aws::AwsOptions;
use cmi_agent::backoff::Backoff;
use cmi_agent::hash::HashOptions;
use cmi_agent::import::{
    self, Artifact, Follow, ImportDocument, ImportError, ImportRequest, ImportRun,
    PreflightOptions, Progress,
};
use cmi_agent::jobs::{self, Following, Job, JobDocument, JobFilter};
use cmi_agent::manifest::Manifest;
use cmi_agent::signing::{self, PublicKey, SignatureLocation, SignatureRecord, Trust};
use cmi_agent::{bedrock, CheckOptions, OpenOptions};
use cmi_format::document::CheckDocument;
use cmi_format::{Finding, Report};
use indicatif::ProgressBar;

use crate::cli::{
    BedrockArgs, ImportArgs, JobsArgs, ModelsArgs, OutputFormat, ReportFormat, StatusArgs,
};
use crate::render::bedrock as out;
use crate::render::{self, ReportContext, DIM_STYLE, ERROR_STYLE};
use crate::{runtime, FAILED, PASSED};

/// Exit status when Ctrl-C stopped the following of a job (128 + SIGINT, as shells expect).
pub const INTERRUPTED: u8 = 130;

/// The longest wait between two status requests.
const MAX_POLL: std::time::Duration = std::time::Duration::from_secs(60);

async fn client(args: &BedrockArgs) -> Result<aws_sdk_bedrock::Client> {
    Ok(bedrock::client(
        &args.connection.options(),
        args.bedrock_endpoint_url.as_deref(),
    )
    .await?)
}

/// The polling of a job followed with `--wait`: `interval` first, doubling up to a minute.
fn polling(interval: std::time::Duration) -> Backoff {
    Backoff {
        base: interval,
        max: MAX_POLL.max(interval),
    }
}

/// Resolves on Ctrl-C; never when it cannot be listened for (the job is then followed to its
/// end).
pub(crate) async fn ctrl_c() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!("cannot listen for Ctrl-C: {error}");
        std::future::pending::<()>().await;
    }
}

/// The command that resumes following a job, with the connection options the user gave.
fn resume_command(job: &str, args: &BedrockArgs) -> String {
    let mut command = format!("cmi-preflight status {job} --wait");
    let connection = &args.connection;
    for (flag, value) in [
        ("--region", &connection.region),
        ("--profile", &connection.profile),
        ("--endpoint-url", &connection.endpoint_url),
        ("--bedrock-endpoint-url", &args.bedrock_endpoint_url),
    ] {
        if let Some(value) = value {
            command.push_str(&format!(" {flag} {value}"));
        }
    }
    command
}

/// The spinner of a job followed to its end, on a terminal only and while the job runs.
fn spinner(job: &Job, shown: bool) -> Option<ProgressBar> {
    if job.has_ended() {
        return None;
    }
    render::progress::job_spinner(!shown)
}

fn show_poll(bar: Option<&ProgressBar>, job: &Job) {
    if let Some(bar) = bar {
        bar.set_message(format!("{} {}", job.job_name, job.status));
    }
}

/// The exit status for a job seen last in this state.
fn job_verdict(job: &Job, following: Following) -> u8 {
    match following {
        Following::Interrupted => INTERRUPTED,
        _ if job.status == "Failed" => FAILED,
        _ => PASSED,
    }
}

fn interrupted_note(job: &Job, args: &BedrockArgs) -> Result<()> {
    writeln!(
        anstream::stderr(),
        "stopped following; the job goes on ({}). Follow it again with:\n  {}",
        job.status,
        resume_command(&job.job_arn, args)
    )?;
    Ok(())
}

/// What `import` shows while the flow runs: the check's text, the submitted job, the spinner.
struct Shown<'a, W: Write> {
    stdout: &'a mut W,
    context: &'a ReportContext<'a>,
    json: bool,
    wait: bool,
    bar: Option<ProgressBar>,
}

fn output_error(error: std::io::Error) -> ImportError {
    ImportError::Progress(Box::new(error))
}

impl<W: Write> Progress for Shown<'_, W> {
    fn checked(&mut self, report: &Report) -> Result<(), ImportError> {
        if !self.json {
            render::text::write(&mut *self.stdout, self.context, report).map_err(output_error)?;
        }
        Ok(())
    }

    fn submitted(&mut self, job_arn: &str, job: &Job) -> Result<(), ImportError> {
        if !self.json {
            writeln!(
                self.stdout,
                "submitted import job {} ({})",
                job.job_name, job.status
            )
            .and_then(|()| writeln!(self.stdout, "  {DIM_STYLE}{job_arn}{DIM_STYLE:#}"))
            .map_err(output_error)?;
        }
        if self.wait {
            self.stdout.flush().map_err(output_error)?;
            self.bar = spinner(job, !self.json);
        }
        Ok(())
    }

    fn polled(&mut self, job: &Job) {
        show_poll(self.bar.as_ref(), job);
    }
}

/// `import --require-signature`: the artifact must verify with its signature before
/// anything is submitted.
struct SignatureGate<'a> {
    args: &'a ImportArgs,
    location: &'a SignatureLocation,
    trust: &'a Trust,
    /// The keys' names, as the reports show them: the `--public-key` files as given, or
    /// `push`'s signing key.
    key_names: &'a [String],
    manifest: Option<&'a Manifest>,
    aws: &'a AwsOptions,
}

impl SignatureGate<'_> {
    /// Verifies the artifact as `verify --signature` does (with `--manifest`, which must then
    /// be the one signed). In text, on a failure writes that command's report and says that
    /// nothing was submitted, on success one line. Returns whether the gate passed, and the
    /// outcome for the JSON document.
    async fn passes(&self, json: bool) -> Result<(bool, SignatureRecord)> {
        let args = self.args;
        let open = OpenOptions {
            aws: self.aws.clone(),
            bedrock_region: None,
            confined: true,
            offline: false,
            hub: None,
        };
        let source = cmi_agent::open(&args.source, &open).await?;
        let progress = render::progress::for_terminal(json);
        let outcome = signing::verify_signature(
            &source,
            self.location,
            self.trust,
            self.manifest,
            self.aws,
            &HashOptions::default(),
            progress.clone(),
        )
        .await?;
        drop(progress);
        let passed = outcome.findings.is_empty()
            && outcome
                .verification
                .as_ref()
                .is_some_and(|v| v.report.passed(false));
        let failures: Vec<Finding> = match &outcome.verification {
            _ if !outcome.findings.is_empty() => outcome.findings.clone(),
            Some(verification) => verification.report.findings.clone(),
            None => Vec::new(),
        };
        let record = SignatureRecord::verified(
            &self.location.to_string(),
            self.trust,
            self.key_names,
            outcome.verified.as_ref(),
            passed,
            if passed { &[] } else { &failures },
        );
        if json {
            return Ok((passed, record));
        }
        let mut stdout = anstream::stdout().lock();
        if passed {
            writeln!(
                stdout,
                "signature {} verified with {} (key hint {}): {} files signed ({}), the artifact matches",
                self.location,
                record.key.as_deref().unwrap_or_default(),
                record.key_hint.as_deref().unwrap_or_default(),
                record.files,
                record.digest.as_deref().unwrap_or_default()
            )?;
            return Ok((true, record));
        }
        let location = self.location.to_string();
        let shown = crate::sign::Shown {
            source: &args.source,
            signature: &location,
            public_keys: self.key_names,
            manifest_path: args.manifest.as_deref(),
            manifest: self.manifest,
            format: ReportFormat::Text,
        };
        crate::sign::report_signature(&mut stdout, &shown, outcome)?;
        writeln!(
            stdout,
            "{ERROR_STYLE}not submitted{ERROR_STYLE:#}: --require-signature and the signature does not verify the artifact; fix the findings above"
        )?;
        Ok((false, record))
    }
}

/// `import`.
pub fn import(args: ImportArgs) -> Result<u8> {
    let (code, document) = import_run(args)?;
    if let Some(document) = document {
        out::write_json(&mut anstream::stdout().lock(), &document)?;
    }
    Ok(code)
}

/// Runs `import` and returns its exit code; with `--format json`, also its document, not
/// written (`import` writes it, `push --import` embeds it in its own).
pub(crate) fn import_run(args: ImportArgs) -> Result<(u8, Option<ImportDocument>)> {
    let request = ImportRequest {
        s3_uri: args.source.clone(),
        job_name: args.job_name.clone(),
        model_name: args.model_name.clone(),
        role_arn: args.role_arn.clone(),
        kms_key_id: args.kms_key_id.clone(),
        job_tags: args.job_tags.clone(),
        model_tags: args.model_tags.clone(),
        subnet_ids: args.subnet_ids.clone(),
        security_group_ids: args.security_group_ids.clone(),
    }
    .validate()?;
    let manifest = args
        .manifest
        .as_deref()
        .map(cmi_agent::manifest::Manifest::read)
        .transpose()?;
    let connection = args.bedrock.connection.options();
    let reader = if args.check_as_role {
        AwsOptions {
            role_arn: Some(args.role_arn.clone()),
            external_id: args.external_id.clone(),
            ..connection.clone()
        }
    } else {
        connection
    };
    let json = args.format == OutputFormat::Json;
    let gate = if args.require_signature {
        let mut keys = args
            .public_key
            .iter()
            .map(|path| PublicKey::read(path))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names: Vec<String> = args
            .public_key
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if let Some((name, key)) = &args.signer {
            names.push(name.clone());
            keys.push(key.clone());
        }
        let location = args
            .signature
            .as_deref()
            .map(SignatureLocation::parse)
            .transpose()?;
        location.map(|location| (location, Trust::from(keys), names))
    } else {
        None
    };
    runtime()?.block_on(async {
        let mut signature = None;
        if let Some((location, trust, key_names)) = &gate {
            let gate = SignatureGate {
                args: &args,
                location,
                trust,
                key_names,
                manifest: manifest.as_ref(),
                aws: &reader,
            };
            let (passed, record) = gate.passes(json).await?;
            if !passed {
                let document = json
                    .then(|| ImportDocument::refused_by_signature(&args.source, record));
                return Ok((FAILED, document));
            }
            signature = Some(record);
        }
        let client = client(&args.bedrock).await?;
        let region = client.config().region().map(|r| r.to_string());
        let options = PreflightOptions {
            aws: reader,
            bedrock_region: region,
            check: (!args.no_check).then(CheckOptions::default),
        };
        let context = ReportContext::check(&args.source, args.strict);
        let mut stdout = anstream::stdout().lock();
        let run = ImportRun {
            request: &request,
            artifact: Artifact::Preflight {
                manifest: manifest.as_ref(),
                options: &options,
                strict: args.strict,
            },
            follow: if args.wait {
                Follow::Wait(polling(args.poll_interval))
            } else {
                Follow::Describe
            },
        };
        let mut shown = Shown {
            stdout: &mut stdout,
            context: &context,
            json,
            wait: args.wait,
            bar: None,
        };
        let outcome = import::run(&client, run, &mut shown, ctrl_c()).await;
        if let Some(bar) = shown.bar.take() {
            bar.finish_and_clear();
        }
        let outcome = outcome?;
        let check = outcome
            .preflight
            .report
            .as_ref()
            .map(|report| CheckDocument::new(&args.source, args.strict, report));
        let mut document = ImportDocument::new(&args.source, check, &outcome);
        document.signature = signature;
        let Some(submission) = outcome.submission else {
            if json {
                return Ok((FAILED, Some(document)));
            }
            writeln!(
                stdout,
                "{ERROR_STYLE}not submitted{ERROR_STYLE:#}: the check failed; fix the findings above, or pass --no-check to submit anyway"
            )?;
            return Ok((FAILED, None));
        };
        let job = submission.job.unwrap_or_default();
        if json {
            // The document is returned, for the caller to write.
        } else if !args.wait && !job.has_ended() {
            writeln!(stdout, "follow it with: {}", resume_command(&submission.job_arn, &args.bedrock))?;
        } else {
            out::job_text(&mut stdout, &job, Some(&args.role_arn))?;
        }
        if submission.following == Following::Interrupted {
            interrupted_note(&job, &args.bedrock)?;
        }
        Ok((job_verdict(&job, submission.following), json.then_some(document)))
    })
}

/// `status`.
pub fn status(args: StatusArgs) -> Result<u8> {
    let json = args.format == OutputFormat::Json;
    runtime()?.block_on(async {
        let client = client(&args.bedrock).await?;
        let job = jobs::describe(&client, &args.job).await?;
        let (job, following) = if args.wait {
            let bar = spinner(&job, !json);
            let followed =
                import::follow(&client, job, polling(args.poll_interval), ctrl_c(), |j| {
                    show_poll(bar.as_ref(), j)
                })
                .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            followed?
        } else {
            (job, Following::NotAsked)
        };
        let mut stdout = anstream::stdout().lock();
        if json {
            out::write_json(&mut stdout, &JobDocument::new(job.clone(), following))?;
        } else {
            out::job_text(&mut stdout, &job, None)?;
        }
        if following == Following::Interrupted {
            interrupted_note(&job, &args.bedrock)?;
        }
        Ok(job_verdict(&job, following))
    })
}

/// `jobs`.
pub fn list_jobs(args: JobsArgs) -> Result<u8> {
    let filter = JobFilter {
        status: args.status.map(|s| s.as_str().to_string()),
        name_contains: args.name_contains.clone(),
        page_size: args.list.page_size,
    };
    let listed = runtime()?.block_on(async {
        let client = client(&args.list.bedrock).await?;
        anyhow::Ok(jobs::list_jobs(&client, &filter).await?)
    })?;
    let mut stdout = anstream::stdout().lock();
    out::jobs(&mut stdout, &listed, args.list.format == OutputFormat::Json)?;
    Ok(PASSED)
}

/// `models`.
pub fn list_models(args: ModelsArgs) -> Result<u8> {
    let listed = runtime()?.block_on(async {
        let client = client(&args.list.bedrock).await?;
        anyhow::Ok(
            jobs::list_models(&client, args.name_contains.as_deref(), args.list.page_size).await?,
        )
    })?;
    let mut stdout = anstream::stdout().lock();
    out::models(&mut stdout, &listed, args.list.format == OutputFormat::Json)?;
    Ok(PASSED)
}
