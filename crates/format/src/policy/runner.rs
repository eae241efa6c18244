//! The identity policies of whoever *runs* `cmi-preflight`: the CI job that calls `check` and
//! `push`, the release engineer who calls `import`, the instance role of the `watch` daemon.
//!
//! One document per command ([`runner_documents`]), `runner-<command>-policy.json`, each
//! holding only the actions that command's requests need, on the narrowest resources the
//! inputs name. The action names, their resource types and ARN formats, and the condition
//! keys are those of the Service Authorization Reference pages "Actions, resources, and
//! condition keys for Amazon S3", "... for AWS Key Management Service", "... for Amazon
//! Bedrock", "... for Amazon SQS", "... for AWS Identity and Access Management (IAM)" and
//! "... for AWS Security Token Service". What each command calls:
//!
//! - **check** (an `s3://` artifact): ListObjectsV2 of the prefix (`s3:ListBucket`, with
//!   `s3:prefix` limited to the prefix), HeadObject and ranged GetObject of each object
//!   (`s3:GetObject`), and for SSE-KMS objects the key (`kms:Decrypt` to read,
//!   `kms:DescribeKey` to tell a customer-managed key from the `aws/s3` key, rule S3005).
//!   HeadBucket, made only with `--bedrock-region`, is authorized by `s3:ListBucket` (Amazon
//!   S3 API Reference, "HeadBucket").
//! - **push**: PutObject and the multipart upload calls (`s3:PutObject`), HeadObject to read
//!   each object back (`s3:GetObject`), ListParts (`s3:ListMultipartUploadParts`),
//!   AbortMultipartUpload (`s3:AbortMultipartUpload`) and ListMultipartUploads
//!   (`s3:ListBucketMultipartUploads`) to resume; with SSE-KMS `kms:GenerateDataKey` and
//!   `kms:Decrypt` on the key (Amazon S3 User Guide, "Specifying server-side encryption with
//!   AWS KMS (SSE-KMS)": a multipart upload decrypts the data key).
//! - **import**: `bedrock:CreateModelImportJob` and `bedrock:GetModelImportJob` on the
//!   account's `model-import-job` resources in the Region, `bedrock:ListModelImportJobs` and
//!   `bedrock:ListImportedModels` (no resource type: `"*"`) for `jobs` and `models` (import
//!   itself finds an earlier run's job by its client token, without listing), `iam:PassRole` on the execution role only to
//!   `bedrock.amazonaws.com` (`iam:PassedToService`), the check's reads (or, with
//!   `--check-as-role`, `sts:AssumeRole` on the role, whose credentials then make them), and
//!   with `--kms-key-id` the [`HOSTING_KEY_ACTIONS`] on the hosting key through Bedrock
//!   (`kms:ViaService`, Amazon Bedrock User Guide, "Encryption of imported custom models").
//! - **watch** (crates/agent/src/watch/): ListObjectsV2 of the watched prefix by the daemon's
//!   own identity (`s3:ListBucket`), the check's reads of each artifact (or, with
//!   `--check-as-role`, `sts:AssumeRole` on the role, whose credentials then read), with
//!   `--sqs-queue-url` ReceiveMessage, DeleteMessageBatch, GetQueueAttributes
//!   (`VisibilityTimeout`) and ChangeMessageVisibilityBatch (the messages held in flight) on
//!   the queue (`sqs:ReceiveMessage`, `sqs:DeleteMessage`, `sqs:GetQueueAttributes`,
//!   `sqs:ChangeMessageVisibility`: a batch action is authorized by its single action, Amazon
//!   SQS Developer Guide, "Amazon SQS API permissions: Actions and resource reference"),
//!   PutObject under the report prefix (`s3:PutObject`), and with `--import`
//!   CreateModelImportJob, GetModelImportJob (following its jobs) and ListModelImportJobs (the
//!   jobs in progress that hold the import slot), `iam:PassRole` as for import, and the
//!   hosting key.
//!
//! Regions are pinned with `aws:RequestedRegion` for S3, KMS, SQS and Bedrock; not for
//! `iam:PassRole` (IAM is a global service) nor `sts:AssumeRole` (the global STS endpoint
//! reports `us-east-1`), nor for the report prefix, which may be a bucket of another Region.

use super::documents::{DocumentKind, PolicyDocument};
use super::error::PolicyError;
use super::iam::{Condition, Effect, OneOrMany, Policy, Statement};
use super::inputs::ValidatedInputs;
use super::statements::{BEDROCK_SERVICE_PRINCIPAL, HOSTING_KEY_ACTIONS};
use crate::arn;
use crate::s3_uri::{self, S3Uri};

/// A command whose runner policy can be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunnerCommand {
    /// `check` of an `s3://` artifact (and `manifest`, which reads the same objects).
    Check,
    /// `push` to the artifact's prefix.
    Push,
    /// `import` (and `status`, `jobs`, `models`).
    Import,
    /// `watch` of the artifact's prefix.
    Watch,
}

impl RunnerCommand {
    /// Every command, in the order of `policy --runner all`.
    pub const ALL: [RunnerCommand; 4] = [
        RunnerCommand::Check,
        RunnerCommand::Push,
        RunnerCommand::Import,
        RunnerCommand::Watch,
    ];

    /// The command's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RunnerCommand::Check => "check",
            RunnerCommand::Push => "push",
            RunnerCommand::Import => "import",
            RunnerCommand::Watch => "watch",
        }
    }

    /// The `Sid` of this command's statement `part` (one of [`runner_sid`]).
    pub fn sid(self, part: &str) -> String {
        let command = match self {
            RunnerCommand::Check => "Check",
            RunnerCommand::Push => "Push",
            RunnerCommand::Import => "Import",
            RunnerCommand::Watch => "Watch",
        };
        format!("CmiRunner{command}{part}")
    }

    /// The file its policy is written to: `runner-<command>-policy.json`.
    pub fn file_name(self) -> &'static str {
        match self {
            RunnerCommand::Check => "runner-check-policy.json",
            RunnerCommand::Push => "runner-push-policy.json",
            RunnerCommand::Import => "runner-import-policy.json",
            RunnerCommand::Watch => "runner-watch-policy.json",
        }
    }
}

/// What the runner policies need besides the [`super::PolicyInputs`]: the artifact is
/// `s3://bucket/prefix` of those inputs (what `check` reads, `push` writes, `watch` watches
/// and `import` imports), the SSE-KMS key is their `--source-kms-key-arn`, the execution
/// role their `--role-name`, and the hosting key their `--hosting-kms-key-arn`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerInputs {
    /// The ARN of the SQS queue `watch --sqs-queue-url` receives from.
    pub queue_arn: Option<String>,
    /// The `s3://bucket/prefix/` that `watch --report-to` writes reports under.
    pub report_prefix: Option<String>,
    /// `import --check-as-role` (and `watch --check-as-role`): the check reads the artifact
    /// as the execution role, so the runner needs `sts:AssumeRole` on it.
    pub check_as_role: bool,
    /// `watch --import`: the daemon submits and follows import jobs, so it needs the Bedrock
    /// actions and `iam:PassRole` of an import.
    pub watch_import: bool,
}

/// The parts of the stable `Sid`s of the runner statements: [`RunnerCommand::sid`] makes
/// `CmiRunner<Command><part>`, such as `CmiRunnerCheckListArtifact`, unique across every
/// generated document.
pub mod runner_sid {
    /// List the artifact's prefix.
    pub const LIST_ARTIFACT: &str = "ListArtifact";
    /// Read the artifact's objects.
    pub const READ_ARTIFACT: &str = "ReadArtifact";
    /// Decrypt (and describe) the artifact's SSE-KMS key.
    pub const DECRYPT_ARTIFACT: &str = "DecryptArtifact";
    /// Assume the execution role, for `--check-as-role`.
    pub const ASSUME_ROLE: &str = "AssumeImportRole";
    /// Push: list the multipart uploads in progress, to resume them.
    pub const PUSH_UPLOADS: &str = "ListArtifactUploads";
    /// Push: write the artifact's objects and read them back.
    pub const PUSH_WRITE: &str = "WriteArtifact";
    /// Push: encrypt with the SSE-KMS key.
    pub const PUSH_ENCRYPT: &str = "EncryptArtifact";
    /// Import: create and describe the account's import jobs in the Region.
    pub const IMPORT_JOBS: &str = "ImportJobs";
    /// Import: list import jobs and imported models (watch: import jobs only).
    pub const IMPORT_LIST: &str = "ListImports";
    /// Import: pass the execution role to Bedrock only.
    pub const PASS_ROLE: &str = "PassImportRole";
    /// Import: let Bedrock use the hosting key.
    pub const HOSTING_KEY: &str = "UseImportedModelKey";
    /// Watch: receive, hold and delete the queue's messages, and read its visibility
    /// timeout.
    pub const QUEUE: &str = "ReceiveArtifactEvents";
    /// Watch: write the reports.
    pub const REPORTS: &str = "WriteReports";
}

/// A queue ARN: `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
fn validate_queue_arn(value: &str, v: &ValidatedInputs) -> Result<String, PolicyError> {
    let problem = |problem: String| PolicyError::RunnerInput {
        field: "--queue-arn",
        value: value.to_string(),
        problem,
    };
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [scheme, partition, service, region, account, name] = parts[..] else {
        return Err(problem(
            "not a queue ARN; expected arn:aws:sqs:REGION:ACCOUNT:NAME".to_string(),
        ));
    };
    if scheme != "arn" || service != "sqs" {
        return Err(problem(
            "not a queue ARN; expected arn:aws:sqs:REGION:ACCOUNT:NAME".to_string(),
        ));
    }
    if partition != v.partition() {
        return Err(problem(format!(
            "partition {partition:?}, but --region {} is in partition {}",
            v.region(),
            v.partition()
        )));
    }
    if !arn::is_region_code(region) || !arn::is_account_id(account) {
        return Err(problem(
            "the Region or the account is malformed; expected arn:aws:sqs:REGION:ACCOUNT:NAME"
                .to_string(),
        ));
    }
    let name_ok = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !name_ok {
        return Err(problem(
            "the queue name must be 1 to 80 letters, digits, '-', '_' (and '.fifo')".to_string(),
        ));
    }
    Ok(value.to_string())
}

/// A report prefix: `s3://bucket/prefix/` with a valid bucket name.
fn validate_report_prefix(value: &str) -> Result<S3Uri, PolicyError> {
    let problem = |problem: String| PolicyError::RunnerInput {
        field: "--report-prefix",
        value: value.to_string(),
        problem,
    };
    let uri: S3Uri = value.parse().map_err(|e: s3_uri::S3UriError| {
        problem(format!("{}; expected s3://BUCKET/PREFIX/", e.reason))
    })?;
    s3_uri::validate_bucket_name(&uri.bucket).map_err(|e| problem(e.to_string()))?;
    if uri.prefix.contains(['*', '?', '$']) {
        return Err(problem(
            "the prefix holds '*', '?' or '$', which a policy Resource would read as a \
             wildcard or a variable"
                .to_string(),
        ));
    }
    Ok(uri)
}

fn allow(sid: &str, actions: &[&str], resource: String) -> Statement {
    Statement {
        sid: sid.to_string(),
        effect: Effect::Allow,
        principal: None,
        action: OneOrMany::many(actions),
        resource: Some(resource),
        condition: Condition::new(),
    }
}

fn with(mut statement: Statement, operator: &str, key: &str, values: OneOrMany) -> Statement {
    statement
        .condition
        .entry(operator.to_string())
        .or_default()
        .insert(key.to_string(), values);
    statement
}

/// `StringEquals aws:RequestedRegion = R`.
fn pinned(statement: Statement, v: &ValidatedInputs) -> Statement {
    with(
        statement,
        "StringEquals",
        "aws:RequestedRegion",
        OneOrMany::One(v.region().to_string()),
    )
}

/// The statements that read the artifact as `check` does: list the prefix, read the objects,
/// and with a source key decrypt them.
fn read_statements(v: &ValidatedInputs, c: RunnerCommand) -> Vec<Statement> {
    let mut list = allow(
        &c.sid(runner_sid::LIST_ARTIFACT),
        &["s3:ListBucket"],
        v.bucket_arn(),
    );
    if let Some(values) = v.list_prefix_values() {
        list = with(
            list,
            "StringLike",
            "s3:prefix",
            OneOrMany::Many(values.to_vec()),
        );
    }
    let mut statements = vec![
        pinned(list, v),
        pinned(
            allow(
                &c.sid(runner_sid::READ_ARTIFACT),
                &["s3:GetObject"],
                v.objects_arn(),
            ),
            v,
        ),
    ];
    if let Some(key) = v.source_kms_key_arn() {
        statements.push(pinned(
            allow(
                &c.sid(runner_sid::DECRYPT_ARTIFACT),
                &["kms:Decrypt", "kms:DescribeKey"],
                key.to_string(),
            ),
            v,
        ));
    }
    statements
}

fn assume_role_statement(v: &ValidatedInputs, c: RunnerCommand) -> Statement {
    allow(
        &c.sid(runner_sid::ASSUME_ROLE),
        &["sts:AssumeRole"],
        v.role_arn(),
    )
}

fn push_statements(v: &ValidatedInputs) -> Vec<Statement> {
    let c = RunnerCommand::Push;
    let mut statements = vec![
        pinned(
            allow(
                &c.sid(runner_sid::PUSH_UPLOADS),
                &["s3:ListBucketMultipartUploads"],
                v.bucket_arn(),
            ),
            v,
        ),
        pinned(
            allow(
                &c.sid(runner_sid::PUSH_WRITE),
                &[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                v.objects_arn(),
            ),
            v,
        ),
    ];
    if let Some(key) = v.source_kms_key_arn() {
        statements.push(pinned(
            allow(
                &c.sid(runner_sid::PUSH_ENCRYPT),
                &["kms:GenerateDataKey", "kms:Decrypt"],
                key.to_string(),
            ),
            v,
        ));
    }
    statements
}

/// The statements that submit and follow import jobs as `c`: create and describe the
/// account's jobs in the Region, list them (`list`: the list actions, without a resource
/// type), pass the role to Bedrock only, and let Bedrock use the hosting key.
fn job_statements(v: &ValidatedInputs, c: RunnerCommand, list: &[&str]) -> Vec<Statement> {
    let mut statements = vec![
        pinned(
            allow(
                &c.sid(runner_sid::IMPORT_JOBS),
                &["bedrock:CreateModelImportJob", "bedrock:GetModelImportJob"],
                v.import_job_arn_pattern(),
            ),
            v,
        ),
        pinned(
            allow(&c.sid(runner_sid::IMPORT_LIST), list, "*".to_string()),
            v,
        ),
        with(
            allow(
                &c.sid(runner_sid::PASS_ROLE),
                &["iam:PassRole"],
                v.role_arn(),
            ),
            "StringEquals",
            "iam:PassedToService",
            OneOrMany::One(BEDROCK_SERVICE_PRINCIPAL.to_string()),
        ),
    ];
    if let Some(key) = v.hosting_kms_key_arn() {
        statements.push(with(
            allow(
                &c.sid(runner_sid::HOSTING_KEY),
                HOSTING_KEY_ACTIONS,
                key.to_string(),
            ),
            "StringEquals",
            "kms:ViaService",
            OneOrMany::One(format!("bedrock.{}.amazonaws.com", v.region())),
        ));
    }
    statements
}

fn import_statements(v: &ValidatedInputs, r: &RunnerInputs) -> Vec<Statement> {
    let c = RunnerCommand::Import;
    let mut statements = job_statements(
        v,
        c,
        &["bedrock:ListModelImportJobs", "bedrock:ListImportedModels"],
    );
    let reads = if r.check_as_role {
        vec![assume_role_statement(v, c)]
    } else {
        read_statements(v, c)
    };
    statements.splice(3..3, reads);
    statements
}

fn watch_statements(
    v: &ValidatedInputs,
    r: &RunnerInputs,
    queue: Option<&str>,
    reports: Option<&S3Uri>,
) -> Vec<Statement> {
    let c = RunnerCommand::Watch;
    let mut statements = read_statements(v, c);
    if r.check_as_role {
        // The scans list as the daemon; the checks read as the role.
        statements.truncate(1);
        statements.push(assume_role_statement(v, c));
    }
    if let Some(queue) = queue {
        statements.push(pinned(
            allow(
                &c.sid(runner_sid::QUEUE),
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                queue.to_string(),
            ),
            v,
        ));
    }
    if let Some(reports) = reports {
        statements.push(allow(
            &c.sid(runner_sid::REPORTS),
            &["s3:PutObject"],
            arn::object(
                v.partition(),
                &reports.bucket,
                &format!("{}*", reports.prefix),
            ),
        ));
    }
    if r.watch_import {
        statements.extend(job_statements(v, c, &["bedrock:ListModelImportJobs"]));
    }
    statements
}

/// The identity policy of whoever runs `command`, with the inputs `v` and `r`.
pub fn runner_policy(
    v: &ValidatedInputs,
    r: &RunnerInputs,
    command: RunnerCommand,
) -> Result<Policy, PolicyError> {
    let statements = match command {
        RunnerCommand::Check => read_statements(v, command),
        RunnerCommand::Push => push_statements(v),
        RunnerCommand::Import => import_statements(v, r),
        RunnerCommand::Watch => {
            let queue = r
                .queue_arn
                .as_deref()
                .map(|q| validate_queue_arn(q, v))
                .transpose()?;
            let reports = r
                .report_prefix
                .as_deref()
                .map(validate_report_prefix)
                .transpose()?;
            watch_statements(v, r, queue.as_deref(), reports.as_ref())
        }
    };
    Ok(Policy::new(statements))
}

/// The runner documents of `commands`, in that order, each titled with where to attach it.
pub fn runner_documents(
    v: &ValidatedInputs,
    r: &RunnerInputs,
    commands: &[RunnerCommand],
) -> Result<Vec<PolicyDocument>, PolicyError> {
    commands
        .iter()
        .map(|&command| {
            Ok(PolicyDocument {
                kind: DocumentKind::RunnerPolicy(command),
                file_name: command.file_name(),
                title: format!(
                    "Identity policy of whoever runs `cmi-preflight {}` (a user or role of the \
                     account that {}), for s3://{}/{} in {}",
                    command.name(),
                    match command {
                        RunnerCommand::Import => "runs the import job",
                        _ => "reads or writes the bucket",
                    },
                    v.bucket(),
                    v.prefix(),
                    v.region()
                ),
                policy: runner_policy(v, r, command)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyInputs;
    use std::collections::HashSet;

    const SOURCE_KEY: &str =
        "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const HOSTING_KEY: &str =
        "arn:aws:kms:us-west-2:444455556666:key/5678abcd-12ab-34cd-56ef-1234567890ab";

    fn inputs(keys: bool) -> ValidatedInputs {
        PolicyInputs {
            bucket: "models".into(),
            prefix: Some("llama/v1".into()),
            bucket_account: "111122223333".into(),
            hosting_account: "444455556666".into(),
            region: "us-west-2".into(),
            role_name: "Imp".into(),
            source_kms_key_arn: keys.then(|| SOURCE_KEY.into()),
            hosting_kms_key_arn: keys.then(|| HOSTING_KEY.into()),
            ..PolicyInputs::default()
        }
        .validate()
        .expect("valid inputs")
    }

    fn runner() -> RunnerInputs {
        RunnerInputs {
            queue_arn: Some("arn:aws:sqs:us-west-2:111122223333:artifacts".into()),
            report_prefix: Some("s3://reports/cmi".into()),
            check_as_role: false,
            watch_import: true,
        }
    }

    /// The part of a runner `Sid` after `CmiRunner<Command>`.
    fn part(sid: &str) -> &str {
        let rest = sid.strip_prefix("CmiRunner").expect("a runner Sid");
        ["Check", "Push", "Import", "Watch"]
            .iter()
            .find_map(|c| rest.strip_prefix(c))
            .expect("a command")
    }

    fn statement<'a>(policy: &'a Policy, sid: &str) -> &'a Statement {
        policy
            .statement
            .iter()
            .find(|s| part(&s.sid) == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    }

    fn actions(statement: &Statement) -> Vec<&str> {
        match &statement.action {
            OneOrMany::One(a) => vec![a.as_str()],
            OneOrMany::Many(a) => a.iter().map(String::as_str).collect(),
        }
    }

    fn sids(policy: &Policy) -> Vec<&str> {
        policy.statement.iter().map(|s| part(&s.sid)).collect()
    }

    #[test]
    fn check_lists_only_the_prefix_and_reads_only_its_objects() {
        let v = inputs(true);
        let policy = runner_policy(&v, &runner(), RunnerCommand::Check).unwrap();
        assert_eq!(
            sids(&policy),
            [
                runner_sid::LIST_ARTIFACT,
                runner_sid::READ_ARTIFACT,
                runner_sid::DECRYPT_ARTIFACT
            ]
        );
        let list = statement(&policy, runner_sid::LIST_ARTIFACT);
        assert_eq!(list.resource.as_deref(), Some("arn:aws:s3:::models"));
        assert_eq!(
            list.condition["StringLike"]["s3:prefix"],
            OneOrMany::many(&["llama/v1/", "llama/v1/*"])
        );
        assert_eq!(
            list.condition["StringEquals"]["aws:RequestedRegion"],
            OneOrMany::One("us-west-2".into())
        );
        let read = statement(&policy, runner_sid::READ_ARTIFACT);
        assert_eq!(
            read.resource.as_deref(),
            Some("arn:aws:s3:::models/llama/v1/*")
        );
        assert_eq!(actions(read), ["s3:GetObject"]);
        let decrypt = statement(&policy, runner_sid::DECRYPT_ARTIFACT);
        assert_eq!(decrypt.resource.as_deref(), Some(SOURCE_KEY));
        let plain = runner_policy(&inputs(false), &runner(), RunnerCommand::Check).unwrap();
        assert_eq!(plain.statement.len(), 2);
    }

    #[test]
    fn push_writes_only_under_the_prefix_with_the_sse_key() {
        let policy = runner_policy(&inputs(true), &runner(), RunnerCommand::Push).unwrap();
        let write = statement(&policy, runner_sid::PUSH_WRITE);
        assert_eq!(
            write.resource.as_deref(),
            Some("arn:aws:s3:::models/llama/v1/*")
        );
        assert_eq!(
            actions(write),
            [
                "s3:PutObject",
                "s3:GetObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts"
            ]
        );
        let uploads = statement(&policy, runner_sid::PUSH_UPLOADS);
        assert_eq!(actions(uploads), ["s3:ListBucketMultipartUploads"]);
        let encrypt = statement(&policy, runner_sid::PUSH_ENCRYPT);
        assert_eq!(actions(encrypt), ["kms:GenerateDataKey", "kms:Decrypt"]);
        assert_eq!(encrypt.resource.as_deref(), Some(SOURCE_KEY));
    }

    #[test]
    fn import_passes_the_role_only_to_bedrock() {
        let v = inputs(true);
        let policy = runner_policy(&v, &runner(), RunnerCommand::Import).unwrap();
        let pass = statement(&policy, runner_sid::PASS_ROLE);
        assert_eq!(actions(pass), ["iam:PassRole"]);
        assert_eq!(
            pass.resource.as_deref(),
            Some("arn:aws:iam::444455556666:role/Imp")
        );
        assert_eq!(
            pass.condition["StringEquals"]["iam:PassedToService"],
            OneOrMany::One("bedrock.amazonaws.com".into())
        );
        assert!(!pass.condition["StringEquals"].contains_key("aws:RequestedRegion"));
        let jobs = statement(&policy, runner_sid::IMPORT_JOBS);
        assert_eq!(
            jobs.resource.as_deref(),
            Some("arn:aws:bedrock:us-west-2:444455556666:model-import-job/*")
        );
        let key = statement(&policy, runner_sid::HOSTING_KEY);
        assert_eq!(key.resource.as_deref(), Some(HOSTING_KEY));
        assert_eq!(
            key.condition["StringEquals"]["kms:ViaService"],
            OneOrMany::One("bedrock.us-west-2.amazonaws.com".into())
        );
        assert!(sids(&policy).contains(&runner_sid::READ_ARTIFACT));
        assert!(!sids(&policy).contains(&runner_sid::ASSUME_ROLE));

        let as_role = RunnerInputs {
            check_as_role: true,
            ..runner()
        };
        let policy = runner_policy(&v, &as_role, RunnerCommand::Import).unwrap();
        let assume = statement(&policy, runner_sid::ASSUME_ROLE);
        assert_eq!(actions(assume), ["sts:AssumeRole"]);
        assert_eq!(
            assume.resource.as_deref(),
            Some("arn:aws:iam::444455556666:role/Imp")
        );
        assert!(!sids(&policy).contains(&runner_sid::READ_ARTIFACT));
    }

    #[test]
    fn watch_receives_from_the_queue_and_writes_reports() {
        let scan_only = RunnerInputs {
            watch_import: false,
            ..runner()
        };
        let policy = runner_policy(&inputs(false), &scan_only, RunnerCommand::Watch).unwrap();
        assert_eq!(
            sids(&policy),
            [
                runner_sid::LIST_ARTIFACT,
                runner_sid::READ_ARTIFACT,
                runner_sid::QUEUE,
                runner_sid::REPORTS
            ]
        );
        let queue = statement(&policy, runner_sid::QUEUE);
        assert_eq!(
            actions(queue),
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes"
            ]
        );
        assert_eq!(
            queue.resource.as_deref(),
            Some("arn:aws:sqs:us-west-2:111122223333:artifacts")
        );
        let reports = statement(&policy, runner_sid::REPORTS);
        assert_eq!(
            reports.resource.as_deref(),
            Some("arn:aws:s3:::reports/cmi/*")
        );
        let bare = runner_policy(
            &inputs(false),
            &RunnerInputs::default(),
            RunnerCommand::Watch,
        )
        .unwrap();
        assert_eq!(bare.statement.len(), 2);
    }

    #[test]
    fn watch_import_submits_follows_and_lists_jobs() {
        let v = inputs(true);
        let policy = runner_policy(&v, &runner(), RunnerCommand::Watch).unwrap();
        assert_eq!(
            sids(&policy),
            [
                runner_sid::LIST_ARTIFACT,
                runner_sid::READ_ARTIFACT,
                runner_sid::DECRYPT_ARTIFACT,
                runner_sid::QUEUE,
                runner_sid::REPORTS,
                runner_sid::IMPORT_JOBS,
                runner_sid::IMPORT_LIST,
                runner_sid::PASS_ROLE,
                runner_sid::HOSTING_KEY
            ]
        );
        let jobs = statement(&policy, runner_sid::IMPORT_JOBS);
        assert_eq!(
            actions(jobs),
            ["bedrock:CreateModelImportJob", "bedrock:GetModelImportJob"]
        );
        let list = statement(&policy, runner_sid::IMPORT_LIST);
        assert_eq!(actions(list), ["bedrock:ListModelImportJobs"]);
        assert_eq!(list.resource.as_deref(), Some("*"));
        let pass = statement(&policy, runner_sid::PASS_ROLE);
        assert_eq!(
            pass.condition["StringEquals"]["iam:PassedToService"],
            OneOrMany::One("bedrock.amazonaws.com".into())
        );

        // With --check-as-role the scans list as the daemon, the checks read as the role.
        let as_role = RunnerInputs {
            check_as_role: true,
            ..runner()
        };
        let policy = runner_policy(&inputs(true), &as_role, RunnerCommand::Watch).unwrap();
        assert_eq!(
            &sids(&policy)[..3],
            [
                runner_sid::LIST_ARTIFACT,
                runner_sid::ASSUME_ROLE,
                runner_sid::QUEUE
            ]
        );
        assert!(!sids(&policy).contains(&runner_sid::READ_ARTIFACT));
        assert!(!sids(&policy).contains(&runner_sid::DECRYPT_ARTIFACT));
    }

    #[test]
    fn bad_runner_inputs_name_the_flag() {
        let v = inputs(false);
        for (queue, report, field) in [
            (
                Some("arn:aws:sns:us-west-2:111122223333:t"),
                None,
                "--queue-arn",
            ),
            (
                Some("arn:aws-cn:sqs:us-west-2:111122223333:t"),
                None,
                "--queue-arn",
            ),
            (Some("arn:aws:sqs:us-west-2:1:t"), None, "--queue-arn"),
            (
                Some("arn:aws:sqs:us-west-2:111122223333:a b"),
                None,
                "--queue-arn",
            ),
            (Some("https://sqs.example/q"), None, "--queue-arn"),
            (None, Some("reports/cmi"), "--report-prefix"),
            (None, Some("s3://Bad_Bucket/x"), "--report-prefix"),
            (None, Some("s3://reports/a*b/"), "--report-prefix"),
        ] {
            let r = RunnerInputs {
                queue_arn: queue.map(str::to_string),
                report_prefix: report.map(str::to_string),
                ..RunnerInputs::default()
            };
            match runner_policy(&v, &r, RunnerCommand::Watch) {
                Err(PolicyError::RunnerInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{queue:?} {report:?}: {other:?}"),
            }
        }
    }

    /// The checks every generated document gets: unique `Sid`s, only `Allow`, actions as
    /// `service:Action`, a resource in every identity statement, no principal, a `*` resource
    /// only for the list actions that have no resource type, and the rendering round-trips.
    #[test]
    fn every_runner_document_is_a_well_formed_identity_policy() {
        for keys in [false, true] {
            let v = inputs(keys);
            let documents = runner_documents(&v, &runner(), &RunnerCommand::ALL).unwrap();
            assert_eq!(documents.len(), 4);
            let mut seen = HashSet::new();
            for document in &documents {
                for s in &document.policy.statement {
                    assert!(seen.insert(s.sid.clone()), "duplicate {}", s.sid);
                    assert!(
                        s.sid.bytes().all(|b| b.is_ascii_alphanumeric()),
                        "{}",
                        s.sid
                    );
                    assert!(s.principal.is_none());
                    assert_eq!(s.effect, Effect::Allow);
                    for action in actions(s) {
                        let (service, name) = action.split_once(':').expect("service:Action");
                        assert!(!service.is_empty() && !name.is_empty() && !name.contains('*'));
                    }
                    let resource = s.resource.as_deref().expect("a resource");
                    if resource == "*" {
                        assert!(
                            ["CmiRunnerImportListImports", "CmiRunnerWatchListImports"]
                                .contains(&s.sid.as_str()),
                            "{}",
                            s.sid
                        );
                    } else {
                        assert!(resource.starts_with("arn:aws:"), "{resource}");
                    }
                }
                let text = document.to_pretty_json();
                let back: Policy = serde_json::from_str(&text).unwrap();
                assert_eq!(back, document.policy);
                assert!(text.len() < 6144, "managed policy size limit");
                assert!(document.file_name.starts_with("runner-"));
            }
        }
    }
}
