//! `doctor`: the manual troubleshooting of a cross-account import set-up, automated.
//!
//! Each step asks one question of AWS, as the caller or as the execution role, and passes,
//! warns (the import would work, but the set-up is weak or the step cannot decide), fails or
//! is skipped (when an earlier failure makes it moot, or the caller may not ask).
//! A failed or warned step carries the policy statements that fix it, built by [`cmi_format::policy`]
//! so that they are the same documents `cmi-preflight policy` writes. [`DoctorDocument`] is
//! the diagnosis as `doctor --format json` prints it.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize, Serializer};

use crate::aws::{self, AwsOptions, DEFAULT_SESSION_NAME};
use crate::s3::{describe_sdk_error, s3_client, ManagedKeyProbe, S3Source, S3Uri};
use crate::source::Source;
use cmi_format::arn::{self, RoleArn};
use cmi_format::document::Tool;
use cmi_format::policy::iam::{self, Effect, OneOrMany, Principal, Statement};
use cmi_format::policy::{
    self, PolicyInputs, RunnerCommand, RunnerInputs, TrustRequest, TrustVerdict, ValidatedInputs,
};
use cmi_format::RuleId;

/// What `doctor` examines.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The artifact.
    pub uri: S3Uri,
    /// How to reach AWS as the caller; `role_arn` is the execution role to test.
    pub aws: AwsOptions,
    /// Region of the import job (default: the configured Region).
    pub bedrock_region: Option<String>,
    /// Account that owns the bucket, for the fix statements (default: the role's account).
    pub bucket_account: Option<String>,
    /// Objects examined at once.
    pub concurrency: usize,
    /// The key that will encrypt the imported model (`importedModelKmsKeyId`), whose key
    /// policy to check; `None` to skip that step.
    pub hosting_kms_key_arn: Option<String>,
    /// The identity that calls `CreateModelImportJob`, as for `policy --importer-arn`
    /// (default: the role's account).
    pub importer_arn: Option<String>,
    /// Check the caller's own permissions for this command ([`runner_step`]) instead of the
    /// role's access; `None` for the role's diagnosis.
    pub runner: Option<RunnerCommand>,
    /// The runner policy's own inputs (queue, report prefix, `--check-as-role`, `watch
    /// --import`), as `policy --runner` takes them.
    pub runner_inputs: RunnerInputs,
    /// The SSE-KMS key of the objects, for the runner policy's key statements.
    pub source_kms_key_arn: Option<String>,
}

/// The outcome of a step; in JSON, `pass`, `warn`, `fail` or `skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The step found nothing wrong.
    Pass,
    /// The import would work, but the step found a weakness, or could not decide; the
    /// step's fixes say what to change. It does not fail the diagnosis.
    Warn,
    /// The step found a problem; the import would fail.
    Fail,
    /// The step did not run.
    Skip,
}

/// A policy statement that fixes a failed step, and where it goes.
#[derive(Debug, Clone)]
pub struct Fix {
    /// Where to add the statement: which policy of which resource in which account.
    pub target: String,
    /// The statement.
    pub statement: Statement,
}

/// One step of the diagnosis.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step checks, in a few words.
    pub name: &'static str,
    /// Its outcome.
    pub status: Status,
    /// One line: what was found.
    pub detail: String,
    /// For a failed or warned step, the statements that fix it.
    pub fixes: Vec<Fix>,
}

/// The whole diagnosis.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// Remarks about the inputs (assumptions made for the fixes).
    pub notes: Vec<String>,
}

impl Diagnosis {
    /// Whether no step failed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.status != Status::Fail)
    }

    fn push(&mut self, name: &'static str, status: Status, detail: impl Into<String>) {
        self.steps.push(Step {
            name,
            status,
            detail: detail.into(),
            fixes: Vec::new(),
        });
    }

    fn fail(&mut self, name: &'static str, detail: impl Into<String>, fixes: Vec<Fix>) {
        self.steps.push(Step {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fixes,
        });
    }

    fn warn(&mut self, name: &'static str, detail: impl Into<String>, fixes: Vec<Fix>) {
        self.steps.push(Step {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fixes,
        });
    }

    fn skip_rest(&mut self, names: &[&'static str], why: &str) {
        for name in names {
            self.push(name, Status::Skip, why);
        }
    }
}

/// The document of `doctor --format json` (docs/json-output.md). Its fields are declared in
/// the order of the keys in the document, which is alphabetical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoctorDocument {
    /// Remarks about the inputs.
    pub notes: Vec<String>,
    /// Whether no step failed.
    pub passed: bool,
    /// [`DoctorDocument::SCHEMA`].
    pub schema: String,
    /// The artifact, as given.
    pub source: String,
    /// Every step, in the order they ran.
    pub steps: Vec<StepDocument>,
    /// The program that wrote the document.
    pub tool: Tool,
}

/// One step of a [`DoctorDocument`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDocument {
    /// One line: what was found.
    pub detail: String,
    /// For a failed step, the statements that fix it.
    pub fixes: Vec<FixDocument>,
    /// What the step checks.
    pub name: String,
    /// Its outcome.
    pub status: Status,
}

/// One fix of a [`StepDocument`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixDocument {
    /// The statement, as a JSON object ready to merge into the policy. Its keys are sorted
    /// by name, as in the rest of the document (the files of `policy` use IAM's order).
    #[serde(serialize_with = "keys_sorted")]
    pub statement: Statement,
    /// Where the statement goes.
    pub target: String,
}

impl DoctorDocument {
    /// Identifier of the schema of `doctor --format json`.
    pub const SCHEMA: &'static str = "cmi-preflight.doctor.v1";

    /// The document of `diagnosis` about `source`, written by `tool`.
    pub fn new(tool: Tool, source: &str, diagnosis: &Diagnosis) -> DoctorDocument {
        DoctorDocument {
            notes: diagnosis.notes.clone(),
            passed: diagnosis.passed(),
            schema: DoctorDocument::SCHEMA.to_string(),
            source: source.to_string(),
            steps: diagnosis
                .steps
                .iter()
                .map(|step| StepDocument {
                    detail: step.detail.clone(),
                    fixes: step
                        .fixes
                        .iter()
                        .map(|fix| FixDocument {
                            statement: fix.statement.clone(),
                            target: fix.target.clone(),
                        })
                        .collect(),
                    name: step.name.to_string(),
                    status: step.status,
                })
                .collect(),
            tool,
        }
    }
}

/// Serializes a statement through a `serde_json::Value`, whose object keys are sorted.
fn keys_sorted<S: Serializer>(statement: &Statement, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(statement)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

/// Why the doctor could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// `--role-arn` is required.
    #[error("doctor needs --role-arn: the execution role whose access to check")]
    NoRole,
    /// The role ARN is malformed.
    #[error("{0:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")]
    BadRoleArn(String),
    /// The AWS configuration could not be loaded.
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
}

const STEPS_AFTER_ASSUME: &[&str] = &[
    "trust policy",
    "bucket region",
    "list prefix",
    "inspect objects",
    "read objects",
    "decrypt objects",
];

/// Runs every step.
pub async fn doctor(options: &DoctorOptions) -> Result<Diagnosis, DoctorError> {
    let role_arn = options.aws.role_arn.clone().ok_or(DoctorError::NoRole)?;
    let RoleArn {
        account: role_account,
        name: role_name,
    } = RoleArn::parse(&role_arn).ok_or_else(|| DoctorError::BadRoleArn(role_arn.clone()))?;
    let caller_options = AwsOptions {
        role_arn: None,
        ..options.aws.clone()
    };
    let caller = aws::load(&caller_options).await?;
    let region = options
        .bedrock_region
        .clone()
        .or_else(|| caller.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".to_string());
    let mut diagnosis = Diagnosis::default();
    let bucket_account = options.bucket_account.clone().unwrap_or_else(|| {
        diagnosis.notes.push(format!(
            "fixes assume the bucket belongs to the role's account {role_account}; pass --bucket-account if it does not"
        ));
        role_account.clone()
    });
    let fixes_for = PolicyInputs {
        bucket: options.uri.bucket.clone(),
        prefix: Some(options.uri.prefix.clone()),
        bucket_account,
        hosting_account: role_account.clone(),
        region: region.clone(),
        role_name: role_name.clone(),
        source_kms_key_arn: None,
        hosting_kms_key_arn: None,
        importer_arn: None,
    }
    .validate()
    .ok();

    // 1. Who is calling.
    let sts = aws_sdk_sts::Client::new(&caller);
    let caller_arn = match sts.get_caller_identity().send().await {
        Ok(identity) => {
            let arn = identity.arn().unwrap_or("unknown").to_string();
            diagnosis.push(
                "caller identity",
                Status::Pass,
                format!(
                    "{arn} (account {})",
                    identity.account().unwrap_or("unknown")
                ),
            );
            arn
        }
        Err(error) => {
            diagnosis.fail(
                "caller identity",
                format!(
                    "sts:GetCallerIdentity failed: {}",
                    describe_sdk_error(&error)
                ),
                Vec::new(),
            );
            diagnosis.skip_rest(&["assume role"], "no working credentials");
            diagnosis.skip_rest(STEPS_AFTER_ASSUME, "no working credentials");
            return Ok(diagnosis);
        }
    };

    // With --runner: the caller's own permissions for that command, and nothing else.
    if let Some(command) = options.runner {
        let inputs = PolicyInputs {
            bucket: options.uri.bucket.clone(),
            prefix: Some(options.uri.prefix.clone()),
            bucket_account: options
                .bucket_account
                .clone()
                .unwrap_or_else(|| role_account.clone()),
            hosting_account: role_account.clone(),
            region: region.clone(),
            role_name: role_name.clone(),
            source_kms_key_arn: options.source_kms_key_arn.clone(),
            hosting_kms_key_arn: options.hosting_kms_key_arn.clone(),
            importer_arn: None,
        };
        let runner = RunnerRequest {
            command,
            inputs: &inputs,
            runner: &options.runner_inputs,
        };
        runner_step(&caller, &caller_arn, runner, &mut diagnosis).await;
        return Ok(diagnosis);
    }

    // 1b. Does the hosting key's policy let the role and the importer use it.
    if let Some(key) = &options.hosting_kms_key_arn {
        let inputs = PolicyInputs {
            bucket: options.uri.bucket.clone(),
            prefix: Some(options.uri.prefix.clone()),
            bucket_account: role_account.clone(),
            hosting_account: role_account.clone(),
            region: region.clone(),
            role_name: role_name.clone(),
            source_kms_key_arn: None,
            hosting_kms_key_arn: Some(key.clone()),
            importer_arn: options.importer_arn.clone(),
        };
        hosting_key_step(&caller, &inputs, &mut diagnosis).await;
    }

    // 2. Can the caller become the role.
    let mut assume = sts.assume_role().role_arn(&role_arn).role_session_name(
        options
            .aws
            .role_session_name
            .clone()
            .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_string()),
    );
    if let Some(external_id) = &options.aws.external_id {
        assume = assume.external_id(external_id);
    }
    let role_config = match assume.send().await {
        Ok(output) => {
            let Some(credentials) = output.credentials() else {
                diagnosis.fail("assume role", "STS returned no credentials", Vec::new());
                diagnosis.skip_rest(STEPS_AFTER_ASSUME, "the role could not be assumed");
                return Ok(diagnosis);
            };
            diagnosis.push(
                "assume role",
                Status::Pass,
                output
                    .assumed_role_user()
                    .map(|u| u.arn().to_string())
                    .unwrap_or_else(|| role_arn.clone()),
            );
            with_credentials(
                &caller,
                Credentials::new(
                    credentials.access_key_id(),
                    credentials.secret_access_key(),
                    Some(credentials.session_token().to_string()),
                    None,
                    "doctor-assumed-role",
                ),
            )
        }
        Err(error) => {
            let statement = Statement {
                sid: "CmiPreflightDoctor".to_string(),
                effect: Effect::Allow,
                principal: Some(Principal::Aws(caller_arn.clone())),
                action: OneOrMany::One("sts:AssumeRole".to_string()),
                resource: None,
                condition: iam::Condition::new(),
            };
            diagnosis.fail(
                "assume role",
                format!(
                    "{caller_arn} cannot assume {role_arn}: {}",
                    describe_sdk_error(&error)
                ),
                vec![Fix {
                    target: format!(
                        "trust policy of role {role_name} (account {role_account}), beside the statement for bedrock.amazonaws.com, so that the doctor can act as Bedrock; the caller also needs sts:AssumeRole on the role in its own policy"
                    ),
                    statement,
                }],
            );
            diagnosis.skip_rest(STEPS_AFTER_ASSUME, "the role could not be assumed");
            return Ok(diagnosis);
        }
    };

    // 3. Does the role trust Bedrock.
    let request = TrustRequest::new(arn::partition_of(&region), &region, &role_account);
    trust_step(
        &caller,
        &role_name,
        &request,
        fixes_for.as_ref(),
        &mut diagnosis,
    )
    .await;

    // 4. Where the bucket is.
    let source = S3Source::new(&role_config, options.uri.clone(), role_arn.clone());
    match source.bucket_region().await {
        Ok(bucket_region) if bucket_region == region => diagnosis.push(
            "bucket region",
            Status::Pass,
            format!("{bucket_region}, as the import job"),
        ),
        Ok(bucket_region) => diagnosis.fail(
            "bucket region",
            format!(
                "bucket {} is in {bucket_region}; the import job runs in {region}",
                options.uri.bucket
            ),
            Vec::new(),
        ),
        Err(reason) => diagnosis.push("bucket region", Status::Skip, format!("unknown: {reason}")),
    }

    // 5. Can the role list the prefix.
    let listing = match source.list().await {
        Ok(listing) => {
            let bytes: u64 = listing.entries.iter().map(|e| e.size).sum();
            diagnosis.push(
                "list prefix",
                Status::Pass,
                format!(
                    "{} objects, {bytes} bytes under {}",
                    listing.entries.len(),
                    options.uri
                ),
            );
            listing
        }
        Err(error) => {
            let fixes = match (&error, &fixes_for) {
                (crate::SourceError::Blocked(f), Some(v)) if f.rule == RuleId::ListAccessDenied => {
                    list_fixes(v)
                }
                _ => Vec::new(),
            };
            diagnosis.fail("list prefix", error.to_string(), fixes);
            diagnosis.skip_rest(
                &["inspect objects", "read objects", "decrypt objects"],
                "the prefix could not be listed",
            );
            return Ok(diagnosis);
        }
    };

    // 6. Encryption and storage class of every object (HeadObject as the role).
    let s3 = s3_client(&role_config);
    let heads: Vec<(String, Result<ObjectFacts, String>)> = stream::iter(listing.entries.iter())
        .map(|entry| {
            let s3 = &s3;
            let key = format!("{}{}", options.uri.prefix, entry.path);
            async move {
                let result = s3
                    .head_object()
                    .bucket(&options.uri.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map(|h| ObjectFacts {
                        encryption: h
                            .server_side_encryption()
                            .map(|e| e.as_str().to_string())
                            .or_else(|| h.sse_customer_algorithm().map(|_| "SSE-C".to_string()))
                            .unwrap_or_else(|| "none".to_string()),
                        kms_key: h.ssekms_key_id().map(str::to_string),
                        storage_class: h
                            .storage_class()
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_else(|| "STANDARD".to_string()),
                    })
                    .map_err(|e| {
                        // HEAD answers carry no body, so a denial has only its status.
                        let status = e.raw_response().map(|r| r.status().as_u16());
                        match (e.code(), status) {
                            (Some(code), _) => code.to_string(),
                            (None, Some(403)) => "AccessDenied".to_string(),
                            _ => describe_sdk_error(&e),
                        }
                    });
                (entry.path.clone(), result)
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let inspect_denied = inspect_step(&heads, fixes_for.as_ref(), &mut diagnosis);

    // 7 and 8. Can the role read (and so decrypt) every object: a 1-byte ranged GET each.
    let reads: Vec<(String, Result<Vec<u8>, crate::ReadError>)> =
        stream::iter(listing.entries.iter().filter(|e| e.size > 0))
            .map(|entry| {
                let source = &source;
                async move {
                    (
                        entry.path.clone(),
                        source.read_range(&entry.path, 0..1).await,
                    )
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
    // A denial already shown by the inspection needs no second copy of its fix.
    let read_fixes_for = if inspect_denied {
        None
    } else {
        fixes_for.as_ref()
    };
    read_steps(&heads, &reads, &caller, read_fixes_for, &mut diagnosis).await;
    Ok(diagnosis)
}

/// What HeadObject says about an object.
#[derive(Debug, Clone)]
struct ObjectFacts {
    encryption: String,
    kms_key: Option<String>,
    storage_class: String,
}

fn with_credentials(config: &SdkConfig, credentials: Credentials) -> SdkConfig {
    config
        .clone()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

fn fix(target: String, statement: Statement) -> Fix {
    Fix { target, statement }
}

fn role_target(v: &ValidatedInputs) -> String {
    format!(
        "identity policy of role {} (account {})",
        v.role_name(),
        v.hosting_account()
    )
}

fn bucket_target(v: &ValidatedInputs) -> String {
    format!(
        "bucket policy of {} (account {})",
        v.bucket(),
        v.bucket_account()
    )
}

fn list_fixes(v: &ValidatedInputs) -> Vec<Fix> {
    vec![
        fix(role_target(v), policy::role_list_statement(v)),
        fix(bucket_target(v), policy::bucket_list_statement(v)),
    ]
}

fn read_fixes(v: &ValidatedInputs) -> Vec<Fix> {
    vec![
        fix(role_target(v), policy::role_read_statement(v)),
        fix(bucket_target(v), policy::bucket_read_statement(v)),
    ]
}

/// Reads the role's trust policy as the caller and evaluates it for Bedrock's `AssumeRole`
/// of a model import job of the role's account in the Region ([`policy::evaluate_trust`]).
/// Denied fails; allowed passes, or warns when the role is open to the confused-deputy
/// problem; what the evaluator cannot decide warns, naming what it could not evaluate. A
/// step that does not pass carries the statement `policy` writes.
async fn trust_step(
    caller: &SdkConfig,
    role_name: &str,
    request: &TrustRequest,
    fixes_for: Option<&ValidatedInputs>,
    diagnosis: &mut Diagnosis,
) {
    let iam = aws_sdk_iam::Client::new(caller);
    let document = match iam.get_role().role_name(role_name).send().await {
        Ok(output) => output
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .map(decode_policy),
        Err(error) => {
            diagnosis.push(
                "trust policy",
                Status::Skip,
                format!(
                    "cannot read the role as the caller: {}",
                    describe_sdk_error(&error)
                ),
            );
            return;
        }
    };
    let fixes = || {
        fixes_for
            .map(|v| {
                vec![fix(
                    format!(
                        "trust policy of role {} (account {})",
                        v.role_name(),
                        v.hosting_account()
                    ),
                    policy::trust_statement(v),
                )]
            })
            .unwrap_or_default()
    };
    let who = format!(
        "{} for a model import job of account {} ({})",
        policy::BEDROCK_SERVICE_PRINCIPAL,
        request.account(),
        request.job_arn()
    );
    let verdict = match document {
        Some(text) => policy::evaluate_trust(&text, request),
        None => TrustVerdict::Denied("the role has no trust policy".to_string()),
    };
    match verdict {
        TrustVerdict::Allowed {
            statement,
            confused_deputy: None,
        } => diagnosis.push(
            "trust policy",
            Status::Pass,
            format!("role {role_name} lets {who} assume it ({statement})"),
        ),
        TrustVerdict::Allowed {
            confused_deputy: Some(why),
            ..
        } => diagnosis.warn(
            "trust policy",
            format!("{why}; add aws:SourceAccount and aws:SourceArn conditions"),
            fixes(),
        ),
        TrustVerdict::Denied(why) => diagnosis.fail(
            "trust policy",
            format!("role {role_name} does not let {who} assume it: {why}"),
            fixes(),
        ),
        TrustVerdict::Undecided(why) => diagnosis.warn(
            "trust policy",
            format!(
                "cannot decide whether role {role_name} lets {who} assume it: {why}; compare it with the statement below"
            ),
            fixes(),
        ),
    }
}

/// IAM returns policy documents URL-encoded.
fn decode_policy(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Reports encryption and storage classes; returns whether HeadObject was denied.
fn inspect_step(
    heads: &[(String, Result<ObjectFacts, String>)],
    fixes_for: Option<&ValidatedInputs>,
    diagnosis: &mut Diagnosis,
) -> bool {
    let mut encryption: BTreeMap<String, usize> = BTreeMap::new();
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut denied = Vec::new();
    for (path, result) in heads {
        match result {
            Ok(facts) => {
                let label = match &facts.kms_key {
                    Some(key) => format!("{} ({key})", facts.encryption),
                    None => facts.encryption.clone(),
                };
                *encryption.entry(label).or_default() += 1;
                *classes.entry(facts.storage_class.clone()).or_default() += 1;
                if crate::s3::ARCHIVE_STORAGE_CLASSES.contains(&facts.storage_class.as_str()) {
                    problems.push(format!("{path} is archived ({})", facts.storage_class));
                }
                if facts.encryption == "SSE-C" {
                    problems.push(format!("{path} uses SSE-C"));
                }
            }
            Err(code) if code == "AccessDenied" || code == "Forbidden" => denied.push(path.clone()),
            Err(reason) => problems.push(format!("{path}: {reason}")),
        }
    }
    let summary = |map: &BTreeMap<String, usize>| {
        map.iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !denied.is_empty() {
        diagnosis.fail(
            "inspect objects",
            format!(
                "HeadObject (s3:GetObject) denied on {} of {} objects, such as {}",
                denied.len(),
                heads.len(),
                denied[0]
            ),
            fixes_for.map(read_fixes).unwrap_or_default(),
        );
        return true;
    }
    if !problems.is_empty() {
        diagnosis.fail("inspect objects", problems.join("; "), Vec::new());
    } else {
        diagnosis.push(
            "inspect objects",
            Status::Pass,
            format!(
                "encryption: {}; storage: {}",
                summary(&encryption),
                summary(&classes)
            ),
        );
    }
    false
}

async fn read_steps(
    heads: &[(String, Result<ObjectFacts, String>)],
    reads: &[(String, Result<Vec<u8>, crate::ReadError>)],
    caller: &SdkConfig,
    fixes_for: Option<&ValidatedInputs>,
    diagnosis: &mut Diagnosis,
) {
    let facts: BTreeMap<&str, &ObjectFacts> = heads
        .iter()
        .filter_map(|(p, r)| r.as_ref().ok().map(|f| (p.as_str(), f)))
        .collect();
    let failed: Vec<(&str, &crate::ReadError)> = reads
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| (p.as_str(), e)))
        .collect();
    let kms_failures: Vec<_> = failed
        .iter()
        .filter(|(_, e)| e.rule == RuleId::KmsAccessDenied)
        .collect();
    let other_failures: Vec<_> = failed
        .iter()
        .filter(|(_, e)| e.rule != RuleId::KmsAccessDenied)
        .collect();
    if other_failures.is_empty() {
        diagnosis.push(
            "read objects",
            Status::Pass,
            format!(
                "{} objects answer a 1-byte ranged GET",
                reads.len() - kms_failures.len()
            ),
        );
    } else {
        let (path, error) = other_failures[0];
        let fixes = if error.rule == RuleId::GetAccessDenied {
            fixes_for.map(read_fixes).unwrap_or_default()
        } else {
            Vec::new()
        };
        diagnosis.fail(
            "read objects",
            format!(
                "{} of {} objects cannot be read; {path}: {}",
                other_failures.len(),
                reads.len(),
                error.reason
            ),
            fixes,
        );
    }
    let keys: BTreeSet<&str> = facts
        .values()
        .filter_map(|f| f.kms_key.as_deref())
        .collect();
    if keys.is_empty() {
        diagnosis.push("decrypt objects", Status::Skip, "no SSE-KMS object");
        return;
    }
    if let Some((path, error)) = kms_failures.first() {
        let key = facts.get(path).and_then(|f| f.kms_key.clone());
        let fixes = match (fixes_for, &key) {
            (Some(v), Some(key)) => kms_fixes(v, key),
            _ => Vec::new(),
        };
        diagnosis.fail(
            "decrypt objects",
            format!(
                "{} SSE-KMS objects cannot be decrypted by the role; {path}: {}",
                kms_failures.len(),
                error.reason
            ),
            fixes,
        );
        return;
    }
    let probe = ManagedKeyProbe::new(aws_sdk_kms::Client::new(caller)).await;
    let mut managed = Vec::new();
    for key in &keys {
        if probe.is_managed(key).await {
            managed.push(*key);
        }
    }
    if managed.is_empty() {
        diagnosis.push(
            "decrypt objects",
            Status::Pass,
            format!(
                "the role decrypts with {}",
                keys.into_iter().collect::<Vec<_>>().join(", ")
            ),
        );
    } else {
        diagnosis.fail(
            "decrypt objects",
            format!(
                "objects use the AWS-managed aws/s3 key {}: readable here, but never from another account",
                managed.join(", ")
            ),
            Vec::new(),
        );
    }
}

/// The step "hosting key policy": reads the key policy of the hosting key (as the caller) and
/// checks that it allows the role the actions of AWS's walkthrough and the importer the
/// actions of the Amazon Bedrock User Guide (see [`policy::hosting_kms_key_statements`]); a
/// failure carries the missing statements.
async fn hosting_key_step(caller: &SdkConfig, inputs: &PolicyInputs, diagnosis: &mut Diagnosis) {
    const STEP: &str = "hosting key policy";
    let v = match inputs.validate() {
        Ok(v) => v,
        Err(error) => {
            diagnosis.fail(STEP, error.to_string(), Vec::new());
            return;
        }
    };
    let Some(key) = v.hosting_kms_key_arn() else {
        return;
    };
    let kms = aws_sdk_kms::Client::new(caller);
    let text = match kms
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
    {
        Ok(output) => output.policy().unwrap_or_default().to_string(),
        Err(error) => {
            let status = if error.code() == Some("AccessDeniedException") {
                Status::Skip
            } else {
                Status::Fail
            };
            let detail = format!(
                "kms:GetKeyPolicy on {key} failed: {}",
                describe_sdk_error(&error)
            );
            match status {
                Status::Fail => diagnosis.fail(STEP, detail, Vec::new()),
                _ => diagnosis.push(STEP, status, detail),
            }
            return;
        }
    };
    let document: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let role = v.role_arn();
    let importer = v.importer_arn();
    let role_missing =
        policy::missing_key_actions(&document, &role, key, policy::HOSTING_KEY_ROLE_ACTIONS);
    let importer_missing =
        policy::missing_key_actions(&document, &importer, key, policy::HOSTING_KEY_ACTIONS);
    if role_missing.is_empty() && importer_missing.is_empty() {
        diagnosis.push(
            STEP,
            Status::Pass,
            format!(
                "{key} allows {role} {} and {importer} {}",
                policy::HOSTING_KEY_ROLE_ACTIONS.join(", "),
                policy::HOSTING_KEY_ACTIONS.join(", ")
            ),
        );
        return;
    }
    let target = format!(
        "key policy of {key} (account {}); merge it, do not replace the key policy",
        v.hosting_account()
    );
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if !role_missing.is_empty() {
        problems.push(format!("the role {role} lacks {}", role_missing.join(", ")));
        fixes.extend(policy::hosting_key_role_statement(&v).map(|s| fix(target.clone(), s)));
    }
    if !importer_missing.is_empty() {
        problems.push(format!(
            "the importer {importer} lacks {}",
            importer_missing.join(", ")
        ));
        fixes.extend(policy::hosting_kms_key_statement(&v).map(|s| fix(target.clone(), s)));
    }
    diagnosis.fail(
        STEP,
        format!("the key policy of {key}: {}", problems.join("; ")),
        fixes,
    );
}

fn kms_fixes(v: &ValidatedInputs, key: &str) -> Vec<Fix> {
    let with_key = PolicyInputs {
        bucket: v.bucket().to_string(),
        prefix: Some(v.prefix().to_string()),
        bucket_account: v.bucket_account().to_string(),
        hosting_account: v.hosting_account().to_string(),
        region: v.region().to_string(),
        role_name: v.role_name().to_string(),
        source_kms_key_arn: Some(key.to_string()),
        hosting_kms_key_arn: None,
        importer_arn: None,
    }
    .validate();
    let Ok(with_key) = with_key else {
        return Vec::new();
    };
    let mut fixes: Vec<Fix> = policy::role_kms_statements(&with_key)
        .into_iter()
        .map(|s| fix(role_target(&with_key), s))
        .collect();
    if let Some(statement) = policy::source_kms_key_statement(&with_key) {
        fixes.push(fix(
            format!(
                "key policy of {key} (account {})",
                with_key.bucket_account()
            ),
            statement,
        ));
    }
    fixes
}

/// The principal to simulate for a caller ARN: an assumed-role session
/// (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`) is simulated as its role
/// (`arn:aws:iam::ACCOUNT:role/NAME`: a role at a path other than `/` is not found that way,
/// which `doctor --runner` corrects with iam:GetRole when it may); a user as itself.
pub fn simulated_principal(caller_arn: &str) -> String {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    if let [_, partition, "sts", _, account, resource] = parts[..] {
        if let Some(rest) = resource.strip_prefix("assumed-role/") {
            let name = rest.split('/').next().unwrap_or(rest);
            return arn::role(partition, account, name);
        }
    }
    caller_arn.to_string()
}

/// The request context of the runner statements' conditions, so that the simulation evaluates
/// them as the real requests would: the Region, the listed prefix, the service the role is
/// passed to and the service that uses the hosting key.
fn runner_context(v: &ValidatedInputs) -> Vec<aws_sdk_iam::types::ContextEntry> {
    use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
    [
        ("aws:RequestedRegion", v.region().to_string()),
        ("s3:prefix", v.prefix().to_string()),
        (
            "iam:PassedToService",
            policy::BEDROCK_SERVICE_PRINCIPAL.to_string(),
        ),
        (
            "kms:ViaService",
            format!("bedrock.{}.amazonaws.com", v.region()),
        ),
    ]
    .into_iter()
    .map(|(key, value)| {
        ContextEntry::builder()
            .context_key_name(key)
            .context_key_values(value)
            .context_key_type(ContextKeyTypeEnum::String)
            .build()
    })
    .collect()
}

/// The principal to simulate for `caller_arn`, and how it was found: an assumed-role session
/// is its role, whose ARN (with its path) iam:GetRole gives when the caller may call it;
/// otherwise [`simulated_principal`], the role at the path `/`, and a note saying so.
async fn runner_principal(iam: &aws_sdk_iam::Client, caller_arn: &str) -> (String, String) {
    let principal = simulated_principal(caller_arn);
    if principal == caller_arn {
        return (principal, String::new());
    }
    let name = principal.rsplit('/').next().unwrap_or_default().to_string();
    match iam.get_role().role_name(&name).send().await {
        Ok(output) => match output.role().map(|r| r.arn().to_string()) {
            Some(arn) => (arn, String::new()),
            None => (
                principal.clone(),
                format!("; iam:GetRole gave no role {name}: {principal} assumed, at the path /"),
            ),
        },
        Err(error) => {
            let note = format!(
                "; iam:GetRole on {name} failed ({}): {principal} assumed, at the path /",
                describe_sdk_error(&error)
            );
            (principal, note)
        }
    }
}

/// What `doctor --runner` checks: the command, the policy inputs, and the runner's own.
#[derive(Debug, Clone, Copy)]
pub struct RunnerRequest<'a> {
    /// The command the caller is about to run.
    pub command: RunnerCommand,
    /// The artifact, the role, the keys and the Region.
    pub inputs: &'a PolicyInputs,
    /// The queue, the report prefix, `--check-as-role`, `watch --import`.
    pub runner: &'a RunnerInputs,
}

/// Step `runner permissions` of `doctor --runner COMMAND`: asks IAM
/// (`iam:SimulatePrincipalPolicy`, AWS IAM API Reference) whether the caller's own policies
/// allow every statement of the command's runner policy, one simulation per statement (its
/// actions on its resource, with [`runner_context`]). Denied actions fail the step, with the
/// runner statement that fixes them. When the simulation cannot run (the caller may not call
/// `iam:SimulatePrincipalPolicy`, or the endpoint does not implement it), the step says so and
/// warns: nothing was checked.
pub async fn runner_step(
    caller: &SdkConfig,
    caller_arn: &str,
    request: RunnerRequest<'_>,
    diagnosis: &mut Diagnosis,
) {
    const NAME: &str = "runner permissions";
    let command = request.command;
    let validated = match request.inputs.validate() {
        Ok(v) => v,
        Err(error) => {
            diagnosis.fail(
                NAME,
                format!("cannot build the runner policy: {error}"),
                Vec::new(),
            );
            return;
        }
    };
    let runner_policy = match policy::runner_policy(&validated, request.runner, command) {
        Ok(p) => p,
        Err(error) => {
            diagnosis.fail(
                NAME,
                format!("cannot build the runner policy: {error}"),
                Vec::new(),
            );
            return;
        }
    };
    let iam = aws_sdk_iam::Client::new(caller);
    let (principal, resolved) = runner_principal(&iam, caller_arn).await;
    let sids: Vec<&str> = runner_policy
        .statement
        .iter()
        .map(|s| s.sid.as_str())
        .collect();
    let context = runner_context(&validated);
    let mut denied = Vec::new();
    let mut fixes = Vec::new();
    for statement in &runner_policy.statement {
        let actions = match &statement.action {
            OneOrMany::One(a) => vec![a.clone()],
            OneOrMany::Many(a) => a.clone(),
        };
        let mut request = iam
            .simulate_principal_policy()
            .policy_source_arn(&principal)
            .set_action_names(Some(actions))
            .set_context_entries(Some(context.clone()));
        if let Some(resource) = statement.resource.as_deref().filter(|r| *r != "*") {
            request = request.resource_arns(resource);
        }
        let results = match request.send().await {
            Ok(output) => output.evaluation_results().to_vec(),
            Err(error) => {
                diagnosis.warn(
                    NAME,
                    format!(
                        "cannot check the permissions of {principal} for `{}` (statements \
                         {}): iam:SimulatePrincipalPolicy failed ({}); the caller needs it on \
                         itself to be checked, or compare its policies with `cmi-preflight \
                         policy --runner {}` by hand{resolved}",
                        command.name(),
                        sids.join(", "),
                        describe_sdk_error(&error),
                        command.name()
                    ),
                    Vec::new(),
                );
                return;
            }
        };
        let mut missing = false;
        for result in &results {
            let allowed = result.eval_decision().as_str() == "allowed";
            if !allowed {
                missing = true;
                denied.push(format!(
                    "{} on {} ({})",
                    result.eval_action_name(),
                    result.eval_resource_name().unwrap_or("*"),
                    result.eval_decision().as_str()
                ));
            }
        }
        if missing {
            fixes.push(Fix {
                target: format!(
                    "identity policy of {principal} (runner-{}-policy.json)",
                    command.name()
                ),
                statement: statement.clone(),
            });
        }
    }
    if denied.is_empty() {
        diagnosis.push(
            NAME,
            Status::Pass,
            format!(
                "{principal} may run `{}` on s3://{}/{} (simulated: {}){resolved}",
                command.name(),
                validated.bucket(),
                validated.prefix(),
                sids.join(", ")
            ),
        );
    } else {
        diagnosis.fail(
            NAME,
            format!(
                "{principal} may not run `{}`: {}{resolved}",
                command.name(),
                denied.join(", ")
            ),
            fixes,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    #[test]
    fn the_json_document_round_trips_and_keeps_its_key_order() {
        let inputs = PolicyInputs {
            bucket: "models".into(),
            prefix: Some("llama/".into()),
            bucket_account: "111122223333".into(),
            hosting_account: "111122223333".into(),
            region: "us-east-1".into(),
            role_name: "cmi".into(),
            source_kms_key_arn: None,
            hosting_kms_key_arn: None,
            importer_arn: None,
        }
        .validate()
        .unwrap();
        let mut diagnosis = Diagnosis::default();
        diagnosis.push("caller identity", Status::Pass, "arn:aws:iam::1:user/me");
        diagnosis.fail("read objects", "denied", read_fixes(&inputs));
        diagnosis.push("decrypt objects", Status::Skip, "no SSE-KMS object");
        diagnosis.notes.push("a note".into());
        let tool = Tool {
            name: "cmi-preflight".into(),
            version: "0.1.0".into(),
        };
        let document = DoctorDocument::new(tool, "s3://models/llama/", &diagnosis);
        let text = serde_json::to_string_pretty(&document).unwrap();
        let back: DoctorDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(back, document);
        // The bytes of the document as a `serde_json::Value` (sorted keys) would have them.
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string_pretty(&value).unwrap(), text);
        assert_eq!(value["schema"], "cmi-preflight.doctor.v1");
        assert_eq!(value["passed"], false);
        assert_eq!(value["steps"][1]["status"], "fail");
        assert_eq!(
            value["steps"][1]["fixes"][0]["statement"],
            json!({
                "Sid": "CmiRoleReadModelObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": "arn:aws:s3:::models/llama/*",
                "Condition": { "StringEquals": { "aws:ResourceAccount": "111122223333" } }
            })
        );
    }

    #[test]
    fn trust_documents_are_decoded_then_evaluated() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22bedrock.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        let request = TrustRequest::new("aws", "us-east-1", "111122223333");
        assert!(matches!(
            policy::evaluate_trust(&decode_policy(encoded), &request),
            TrustVerdict::Allowed {
                confused_deputy: Some(_),
                ..
            }
        ));
        let other = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"}]});
        assert!(matches!(
            policy::evaluate_trust(&other.to_string(), &request),
            TrustVerdict::Denied(_)
        ));
    }
}
