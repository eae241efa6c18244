//! The Bedrock commands: `import`, `status`, `jobs` and `models`. Arguments in, agent calls,
//! rendering out.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use cmi_agent::aws::AwsOptions;
use cmi_agent::import::{self, ImportError, ImportRequest, PollOptions, PreflightOptions};
use cmi_agent::jobs::{self, Job, JobFilter};
use cmi_agent::CheckOptions;

use crate::cli::{BedrockArgs, ImportArgs, JobsArgs, ModelsArgs, OutputFormat, StatusArgs};
use crate::render::bedrock::{self as out, Following, ImportDocument};
use crate::render::{self, ReportContext, DIM_STYLE, ERROR_STYLE};
use crate::{runtime, FAILED, PASSED};

/// Exit status when Ctrl-C stopped the following of a job (128 + SIGINT, as shells expect).
pub const INTERRUPTED: u8 = 130;

/// The longest wait between two status requests.
const MAX_POLL: std::time::Duration = std::time::Duration::from_secs(60);

async fn client(args: &BedrockArgs) -> Result<aws_sdk_bedrock::Client> {
    Ok(jobs::client(
        &args.connection.options(),
        args.bedrock_endpoint_url.as_deref(),
    )
    .await?)
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

/// Follows a job to its end, or until Ctrl-C; returns the last description seen.
async fn follow(
    client: &aws_sdk_bedrock::Client,
    job: &Job,
    interval: std::time::Duration,
    spinner: bool,
) -> Result<(Job, Following)> {
    if job.has_ended() {
        return Ok((job.clone(), Following::Ended));
    }
    let bar = render::progress::job_spinner(!spinner);
    let last = Arc::new(Mutex::new(job.clone()));
    let poll = PollOptions {
        initial: interval,
        max: MAX_POLL.max(interval),
    };
    let seen = Arc::clone(&last);
    let waiting = import::wait(client, &job.job_arn, poll, |described| {
        if let Some(bar) = &bar {
            bar.set_message(format!("{} {}", described.job_name, described.status));
        }
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = described.clone();
    });
    let outcome = tokio::select! {
        ended = waiting => Ok((ended?, Following::Ended)),
        signal = tokio::signal::ctrl_c() => {
            signal.context("cannot listen for Ctrl-C")?;
            let job = last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Ok((job, Following::Interrupted))
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outcome
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

/// `import`.
pub fn import(args: ImportArgs) -> Result<u8> {
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
    };
    let problems = request.violations();
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems).into());
    }
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
    runtime()?.block_on(async {
        let client = client(&args.bedrock).await?;
        let region = client.config().region().map(|r| r.to_string());
        let options = PreflightOptions {
            aws: reader,
            bedrock_region: region,
            check: (!args.no_check).then(CheckOptions::default),
        };
        let preflight = import::preflight(&args.source, manifest.as_ref(), &options).await?;
        let context = ReportContext::check(&args.source, args.strict);
        let mut stdout = anstream::stdout().lock();
        let mut document = ImportDocument {
            source: &args.source,
            check: preflight
                .report
                .as_ref()
                .map(|report| render::json::document(&context, report)),
            fingerprint: preflight.fingerprint.as_deref(),
            token: None,
            job: None,
            following: Following::NotAsked,
        };
        if let Some(report) = &preflight.report {
            if !json {
                render::text::write(&mut stdout, &context, report)?;
            }
            if !report.passed(args.strict) {
                if json {
                    out::import_json(&mut stdout, &document)?;
                } else {
                    writeln!(
                        stdout,
                        "{ERROR_STYLE}not submitted{ERROR_STYLE:#}: the check failed; fix the findings above, or pass --no-check to submit anyway"
                    )?;
                }
                return Ok(FAILED);
            }
        }
        let fingerprint = preflight
            .fingerprint
            .clone()
            .context("the artifact could not be listed, so it has no fingerprint")?;
        let token = request.client_request_token(&fingerprint);
        let arn = import::submit(&client, &request, &token).await?;
        let job = jobs::describe(&client, &arn).await?;
        document.token = Some(&token);
        if !json {
            writeln!(stdout, "submitted import job {} ({})", job.job_name, job.status)?;
            writeln!(stdout, "  {DIM_STYLE}{arn}{DIM_STYLE:#}")?;
        }
        if !args.wait {
            if json {
                document.job = Some(&job);
                out::import_json(&mut stdout, &document)?;
            } else if !job.has_ended() {
                writeln!(stdout, "follow it with: {}", resume_command(&arn, &args.bedrock))?;
            } else {
                out::job_text(&mut stdout, &job, Some(&args.role_arn))?;
            }
            return Ok(job_verdict(&job, Following::NotAsked));
        }
        stdout.flush()?;
        let (job, following) = follow(&client, &job, args.poll_interval, !json).await?;
        if json {
            document.job = Some(&job);
            document.following = following;
            out::import_json(&mut stdout, &document)?;
        } else {
            out::job_text(&mut stdout, &job, Some(&args.role_arn))?;
        }
        if following == Following::Interrupted {
            interrupted_note(&job, &args.bedrock)?;
        }
        Ok(job_verdict(&job, following))
    })
}

/// `status`.
pub fn status(args: StatusArgs) -> Result<u8> {
    let json = args.format == OutputFormat::Json;
    runtime()?.block_on(async {
        let client = client(&args.bedrock).await?;
        let job = jobs::describe(&client, &args.job).await?;
        let (job, following) = if args.wait {
            follow(&client, &job, args.poll_interval, !json).await?
        } else {
            (job, Following::NotAsked)
        };
        let mut stdout = anstream::stdout().lock();
        if json {
            out::job_json(&mut stdout, &job, following)?;
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
