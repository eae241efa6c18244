//! Output of `import`, `status`, `jobs` and `models`.
//!
//! Text for people; with `--format json`, one document per command (docs/json-output.md), the
//! typed documents of the agent ([`cmi_agent::import::ImportDocument`], [`cmi_agent::jobs::JobDocument`],
//! [`JobsDocument`], [`ModelsDocument`]):
//! - `import`: `{"schema": "cmi-preflight.import.v1", "tool", "source", "submitted",
//!   "check" (the check document, or null with --no-check), "fingerprint",
//!   "client_request_token", "job" (or null), "following" ("not-asked", "ended",
//!   "interrupted")}`;
//! - `status`: `{"schema": "cmi-preflight.job.v1", "job", "following"}`;
//! - `jobs`: `{"schema": "cmi-preflight.jobs.v1", "jobs": [...]}`;
//! - `models`: `{"schema": "cmi-preflight.models.v1", "models": [...]}`.
//!
//! A job has the API's fields in snake_case (`job_arn`, `status`, `imported_model_arn`,
//! `imported_model_kms_key_arn`, `failure_message`, times in RFC 3339).

use std::io::{self, Write};

use cmi_agent::jobs::{Job, JobSummary, JobsDocument, ModelSummary, ModelsDocument};
use serde::Serialize;

use super::{printable, DIM_STYLE, ERROR_STYLE, PASS_STYLE};

/// Writes a document ([`cmi_agent::import::ImportDocument`], [`cmi_agent::jobs::JobDocument`]),
/// indented, with a final newline; its keys in ascending order at every level, as every
/// document of the tool (written through [`serde_json::Value`]).
pub fn write_json(out: &mut dyn Write, document: &impl Serialize) -> io::Result<()> {
    let value = serde_json::to_value(document)?;
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)
}

/// Writes a job: its name, ARN, status and, once ended, its model or its failure with a hint.
pub fn job_text(out: &mut dyn Write, job: &Job, role_hint: Option<&str>) -> io::Result<()> {
    writeln!(out, "job     {}", job.job_name)?;
    writeln!(out, "arn     {}", job.job_arn)?;
    let style = match job.status.as_str() {
        "Completed" => PASS_STYLE,
        "Failed" => ERROR_STYLE,
        _ => DIM_STYLE,
    };
    writeln!(out, "status  {style}{}{style:#}", job.status)?;
    if let Some(uri) = &job.s3_uri {
        writeln!(out, "source  {}", printable(uri))?;
    }
    if let Some(created) = &job.creation_time {
        writeln!(out, "created {created}")?;
    }
    if let Some(ended) = &job.end_time {
        writeln!(out, "ended   {ended}")?;
    }
    if let Some(model) = &job.imported_model_arn {
        writeln!(out, "model   {model}")?;
    }
    if let Some(key) = &job.imported_model_kms_key_arn {
        writeln!(out, "kms key {key}")?;
    }
    if let Some(message) = &job.failure_message {
        writeln!(
            out,
            "{ERROR_STYLE}failure{ERROR_STYLE:#} {}",
            printable(message)
        )?;
        if cmi_agent::import::is_s3_access_failure(message) {
            let role = role_hint
                .or(job.role_arn.as_deref())
                .unwrap_or("EXECUTION_ROLE_ARN");
            let uri = job.s3_uri.as_deref().unwrap_or("s3://BUCKET/PREFIX/");
            writeln!(
                out,
                "  {DIM_STYLE}fix:{DIM_STYLE:#} the execution role could not list or read the prefix; `cmi-preflight doctor {uri} --role-arn {role}` finds the missing permission, and `cmi-preflight policy` writes it"
            )?;
        }
    }
    Ok(())
}

/// Writes `jobs`: a table in text, a document in JSON.
pub fn jobs(out: &mut dyn Write, jobs: &[JobSummary], json: bool) -> io::Result<()> {
    if json {
        return write_json(out, &JobsDocument::new(jobs.to_vec()));
    }
    if jobs.is_empty() {
        return writeln!(out, "{DIM_STYLE}no import jobs{DIM_STYLE:#}");
    }
    let width = jobs.iter().map(|j| j.job_name.len()).max().unwrap_or(0);
    writeln!(
        out,
        "{DIM_STYLE}{:<width$}  {:<10}  {:<20}  MODEL{DIM_STYLE:#}",
        "NAME", "STATUS", "CREATED"
    )?;
    for job in jobs {
        writeln!(
            out,
            "{:<width$}  {:<10}  {:<20}  {}",
            job.job_name,
            job.status,
            job.creation_time.as_deref().unwrap_or("-"),
            job.imported_model_arn
                .as_deref()
                .or(job.imported_model_name.as_deref())
                .unwrap_or("-")
        )?;
    }
    Ok(())
}

/// Writes `models`: a table in text, a document in JSON.
pub fn models(out: &mut dyn Write, models: &[ModelSummary], json: bool) -> io::Result<()> {
    if json {
        return write_json(out, &ModelsDocument::new(models.to_vec()));
    }
    if models.is_empty() {
        return writeln!(out, "{DIM_STYLE}no imported models{DIM_STYLE:#}");
    }
    let width = models.iter().map(|m| m.model_name.len()).max().unwrap_or(0);
    writeln!(
        out,
        "{DIM_STYLE}{:<width$}  {:<20}  {:<24}  ARN{DIM_STYLE:#}",
        "NAME", "CREATED", "ARCHITECTURE"
    )?;
    for model in models {
        writeln!(
            out,
            "{:<width$}  {:<20}  {:<24}  {}",
            model.model_name,
            model.creation_time.as_deref().unwrap_or("-"),
            model.model_architecture.as_deref().unwrap_or("-"),
            model.model_arn
        )?;
    }
    Ok(())
}
