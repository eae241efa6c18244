//! `watch`: arguments to the daemon's options, signals to its shutdown, its summary to an
//! exit status.

use anyhow::{Context, Result};
use cmi_agent::aws::AwsOptions;
use cmi_agent::backoff::Backoff;
use cmi_agent::signing::PublicKey;
use cmi_agent::watch::daemon::{
    self, ImportTemplate, Rescan, SignaturePolicy, SignatureTemplate, Template, WatchOptions,
};
use cmi_agent::watch::scan::ReadyPolicy;
use cmi_agent::{CheckOptions, S3Uri};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::WatchArgs;
use crate::{runtime, COULD_NOT_RUN, FAILED, PASSED};

/// `watch`.
pub fn watch(args: WatchArgs) -> Result<u8> {
    let uri: S3Uri = args.source.parse()?;
    let report_to = args
        .report_to
        .as_deref()
        .map(str::parse::<S3Uri>)
        .transpose()
        .context("--report-to")?;
    let import = match (&args.role_arn, args.import) {
        (Some(role_arn), true) => Some(ImportTemplate {
            role_arn: role_arn.clone(),
            job_name: Template::parse(&args.job_name_template)?,
            model_name: Template::parse(&args.model_name_template)?,
            kms_key_id: args.kms_key_id.clone(),
            job_tags: args.job_tags.clone(),
            model_tags: args.model_tags.clone(),
        }),
        _ => None,
    };
    let signature = match (&args.signature_at, args.require_signature) {
        (Some(template), true) => Some(SignaturePolicy {
            template: SignatureTemplate::parse(template, &uri.bucket, &uri.prefix)?,
            keys: args
                .public_key
                .iter()
                .map(|path| PublicKey::read(path))
                .collect::<Result<Vec<_>, _>>()?,
        }),
        _ => None,
    };
    let connection = args.bedrock.connection.options();
    let aws = if args.check_as_role {
        AwsOptions {
            role_arn: args.role_arn.clone(),
            ..connection
        }
    } else {
        connection
    };
    let policy = match &args.ready_marker {
        Some(marker) => ReadyPolicy::Marker(marker.clone()),
        None => ReadyPolicy::Settle(args.settle),
    };
    let options = WatchOptions {
        uri,
        single: args.single,
        policy,
        state_dir: args.state_dir.clone(),
        interval: args.interval,
        once: args.once,
        import,
        signature,
        report_to,
        sqs_queue_url: args.sqs_queue_url.clone(),
        rescan: Rescan {
            at_start: !args.once || args.rescan,
            every: args.rescan_every,
        },
        health_addr: args.health_addr,
        aws,
        bedrock_endpoint_url: args.bedrock.bedrock_endpoint_url.clone(),
        check: CheckOptions::default(),
        hash: cmi_agent::hash::HashOptions::default(),
        backoff: Backoff {
            base: args.retry_after,
            ..Backoff::default()
        },
        max_in_flight: usize::from(args.max_in_flight),
    };
    let summary = runtime()?.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        anyhow::Ok(daemon::run(options, shutdown).await?)
    })?;
    if !args.once {
        return Ok(PASSED);
    }
    Ok(if summary.scan_failures + summary.faults > 0 {
        COULD_NOT_RUN
    } else if summary.failed + summary.import_failed > 0 {
        FAILED
    } else {
        PASSED
    })
}
