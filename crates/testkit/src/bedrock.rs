//! A loopback emulator of the Amazon Bedrock control plane for Custom Model Import (CMI):
//! the six operations of the botocore service model `bedrock/2023-04-20/service-2.json`, spoken in
//! restJson1 so that the real `aws-sdk-bedrock` client can be pointed at it with
//! `endpoint_url`. moto does not implement these operations.
//!
//! | operation | route | success |
//! |---|---|---|
//! | CreateModelImportJob | `POST /model-import-jobs` | 201 `{"jobArn"}` |
//! | ListModelImportJobs | `GET /model-import-jobs` | 200 |
//! | GetModelImportJob | `GET /model-import-jobs/{jobIdentifier}` (ARN or name) | 200 |
//! | ListImportedModels | `GET /imported-models` | 200 |
//! | GetImportedModel | `GET /imported-models/{modelIdentifier}` (ARN or name) | 200 |
//! | DeleteImportedModel | `DELETE /imported-models/{modelIdentifier}` | 200 `{}` |
//!
//! The emulator runs on its own tokio runtime in a background thread, like [`crate::proxy`], so
//! it works from synchronous and asynchronous tests alike; dropping it stops it.
//!
//! # Behaviour
//! - **Wire format.** Field names exactly as the shapes. Timestamps are ISO 8601 strings
//!   (`2026-07-23T10:11:12.345Z`): the `Timestamp` shape has `timestampFormat: iso8601`, so the
//!   SDK parses strings, not the epoch-seconds numbers that restJson1 uses by default; the
//!   `creationTimeAfter`/`creationTimeBefore` query parameters are ISO 8601 too. Errors have
//!   the status of the shape (400, 403, 404, 429, 500), the header `x-amzn-errortype: <Name>`
//!   and the body `{"message": "..."}` (plus `resourceName` for TooManyTagsException).
//! - **Authentication** comes first. Every request must carry an `Authorization` header
//!   signed with AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for the service `bedrock` in the
//!   emulator's [`EmulatorOptions::region`], by one of [`EmulatorOptions::callers`], within
//!   five minutes of the emulator's clock. The signature is recomputed by the emulator's own
//!   implementation of the AWS IAM User Guide's signing steps (HMAC-SHA256, SHA-256; not the
//!   SDK's signer). Refusals are 403 with the errors AWS JSON services answer: no header,
//!   `MissingAuthenticationTokenException` (`Missing Authentication Token`); a header that is
//!   not a complete SigV4 one (a bearer token included: the emulator knows no Bedrock API key),
//!   `IncompleteSignatureException`; a scope for another Region, `InvalidSignatureException`
//!   `Credential should be scoped to a valid region, not 'eu-west-1'. `; for another service,
//!   `InvalidSignatureException` `Credential should be scoped to correct service: 'bedrock'. `;
//!   an unknown access key (or a missing or wrong session token), `UnrecognizedClientException`
//!   `The security token included in the request is invalid.`; a signature that does not
//!   match, `InvalidSignatureException` `The request signature we calculated does not
//!   match...`.
//! - **Authorization** (opt-in, [`EmulatorOptions::identity_policies`]) comes next: test
//!   infrastructure modelled on IAM's policy evaluation logic for identity policies (explicit
//!   `Deny` wins, else an `Allow` is needed; `Action` and `Resource` wildcards; the
//!   `iam:PassedToService` condition of the `iam:PassRole` that CreateModelImportJob makes on
//!   its `roleArn`), refusing with 403 `AccessDeniedException` and IAM's message; module
//!   `authz` documents what it models and what not.
//! - **Validation** of every operation's input from botocore's model alone, as vendored in
//!   `testdata/botocore/bedrock-2023-04-20.json` (the product's own table,
//!   `cmi_format::cmi_api`, is not used; a test of this crate checks that it says the same):
//!   required members (outer to inner), then each string's length and pattern (patterns match
//!   the whole value), enum values, integer ranges and timestamp formats, member by member
//!   (list items at `jobTags.2.member.key`), then unions (`modelDataSource`: exactly one member,
//!   which must be `s3DataSource`), then list sizes. Every violation is reported, in that order,
//!   in the service's style: `1 validation error detected: Value 'a_b' at 'jobName' failed to
//!   satisfy constraint: Member must satisfy regular expression pattern: ...`. A body that is
//!   not JSON, or a member of the wrong JSON type, gives 400 `SerializationException`.
//! - **Then, in this order:** a `clientRequestToken` seen before with the same request gives
//!   the first job's ARN again with 201 and creates nothing ([`Call::replay`] is set); with a
//!   request that differs in any member, 400 ConflictException (the botocore model's
//!   documentation of `clientRequestToken` points to the EC2 "Ensuring idempotency" page, which
//!   makes a changed replay an error; ConflictException is the conflict error the model lists
//!   for CreateModelImportJob); a `jobName` used by any job ever (jobs cannot be deleted) gives
//!   ValidationException [`JOB_NAME_IN_USE`]; more than 50 tags on `jobTags` or
//!   `importedModelTags` gives TooManyTagsException; an `importedModelName` of an existing
//!   imported model, or of the model an in-progress job will create, gives ConflictException;
//!   [`EmulatorOptions::max_concurrent_jobs`] jobs in progress give
//!   ServiceQuotaExceededException mentioning "Concurrent model import jobs"; imported models
//!   plus jobs in progress reaching [`EmulatorOptions::max_imported_models`] give
//!   ServiceQuotaExceededException mentioning "Imported models per account".
//! - **IDs** are 12 characters of `[a-z0-9]`: jobs are
//!   `arn:aws:bedrock:{region}:{account}:model-import-job/{id}`, imported models
//!   `arn:aws:bedrock:{region}:{account}:imported-model/{id}`.
//! - **States.** A job is created `InProgress` (`creationTime` = `lastModifiedTime`, no
//!   `endTime`, no `importedModelArn`). It ends by [`BedrockEmulator::complete_job`],
//!   [`BedrockEmulator::fail_job`], or by itself [`EmulatorOptions::job_duration`] after its
//!   creation. Completing sets `importedModelArn`, `endTime` and `lastModifiedTime` and creates
//!   the imported model (`modelArchitecture` from the artifact's `config.json` `model_type`
//!   when [`S3Check`] could read it, else `"unknown"`; `customModelUnits`
//!   `{customModelUnitsPerModelCopy: 1, customModelUnitsVersion: "1.0"}`); failing sets
//!   `failureMessage` (at most 2048 characters) and `endTime`, and creates no model.
//! - **KMS.** `importedModelKmsKeyId` is echoed as `importedModelKmsKeyArn` (GetModelImportJob)
//!   and `modelKmsKeyArn` (GetImportedModel), always as a `key/` ARN: a key ARN as given, a
//!   key id in the emulator's region and account, and an alias (which the emulator cannot
//!   resolve) as a key ARN whose id is a fixed hash of the alias.
//! - **S3 access.** With [`EmulatorOptions::s3`], completing a job first reads the artifact as
//!   Bedrock would: `sts:AssumeRole` of the job's `roleArn` with [`S3Check::credentials`], then,
//!   as that role, ListObjectsV2 of the prefix and a one-byte GET of every object (path-style,
//!   at [`S3Check::endpoint`], typically moto with IAM enforced). Any failure ends the job
//!   `Failed` with [`S3_ACCESS_FAILURE`]; an empty prefix ends it `Failed` with
//!   [`NO_MODEL_FILES`]. [`BedrockEmulator::job`] tells the SDK error behind a failure.
//! - **Lists** filter by `statusEquals` (jobs), `nameContains` (case-sensitive substring),
//!   `creationTimeAfter` and `creationTimeBefore` (strict), sort by creation time
//!   (`sortOrder` `Descending` by default; ties in creation order), and page with
//!   `maxResults` (1 to 1000, default [`DEFAULT_MAX_RESULTS`]) and an opaque `nextToken`
//!   (an offset, base64-encoded).
//!
//! # Example
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions};
//! let emulator = BedrockEmulator::start(EmulatorOptions {
//!     job_duration: Duration::from_millis(200),
//!     ..EmulatorOptions::default()
//! });
//! // Point aws-sdk-bedrock at emulator.endpoint(), create a job, poll GetModelImportJob...
//! let creates = emulator
//!     .calls()
//!     .iter()
//!     .filter(|c| c.operation == "CreateModelImportJob" && !c.replay)
//!     .count();
//! # let _ = creates;
//! # }
//! ```

mod access;
mod authz;
mod model;
mod server;
mod service;
mod sigv4;
mod validate;

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use aws_credential_types::Credentials;

pub use authz::IdentityPolicy;
use service::{Outcome, Shared};

/// The `failureMessage` of a job whose role could not assume, list or read its S3 prefix.
pub const S3_ACCESS_FAILURE: &str = "Amazon Bedrock does not have access to the S3 location.";

/// The `failureMessage` of a job whose S3 prefix holds no object.
pub const NO_MODEL_FILES: &str =
    "Amazon Bedrock could not find any model files in the S3 location.";

/// The ValidationException message for a `jobName` that an earlier job already has.
pub const JOB_NAME_IN_USE: &str = "The provided job name is currently in use.";

/// Items per page of the list operations when the request has no `maxResults` (the service's
/// default is not documented).
pub const DEFAULT_MAX_RESULTS: usize = 100;

/// Where and as whom completing jobs reads their S3 prefix (see the module documentation).
#[derive(Debug, Clone)]
pub struct S3Check {
    /// The S3 and STS endpoint, a loopback URL such as [`crate::moto::Moto::endpoint`].
    pub endpoint: String,
    /// The identity that calls `sts:AssumeRole` on each job's `roleArn`, standing for the
    /// Bedrock service principal: with moto's IAM enforced, a user allowed `sts:AssumeRole`
    /// and trusted by the role.
    pub credentials: Credentials,
}

/// How a [`BedrockEmulator`] behaves.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The account of every ARN. Default `123456789012` (moto's).
    pub account: String,
    /// The region of every ARN, and of the STS and S3 clients of [`S3Check`]. Default
    /// `us-east-1`.
    pub region: String,
    /// How long after its creation a job completes by itself (as
    /// [`BedrockEmulator::complete_job`] would). The default, [`Duration::MAX`], and any
    /// duration too long to add to the clock, mean never: only the hooks end jobs.
    pub job_duration: Duration,
    /// Jobs that may be in progress at once (the service's quota is 1, not adjustable).
    pub max_concurrent_jobs: usize,
    /// Imported models per account, jobs in progress included (the service's default is 3).
    pub max_imported_models: usize,
    /// Read the artifact as the job's role before completing it; `None` completes every job.
    pub s3: Option<S3Check>,
    /// The identities whose SigV4 signatures the emulator accepts: access key id, secret
    /// access key, and session token (which the request must then carry in
    /// `x-amz-security-token`). Default: moto's static credentials
    /// ([`crate::moto::static_credentials`]).
    pub callers: Vec<Credentials>,
    /// Opt-in permission check: when not empty, every authenticated request is also
    /// authorized against the identity policy of its caller (the module `authz` documents
    /// the evaluation, modelled on IAM's), and refused with 403 AccessDeniedException. Empty
    /// (the default): no permission check.
    pub identity_policies: Vec<IdentityPolicy>,
}

impl Default for EmulatorOptions {
    fn default() -> EmulatorOptions {
        EmulatorOptions {
            account: crate::moto::ACCOUNT_ID.to_string(),
            region: crate::moto::REGION.to_string(),
            job_duration: Duration::MAX,
            max_concurrent_jobs: 1,
            max_imported_models: 3,
            s3: None,
            callers: vec![crate::moto::static_credentials()],
            identity_policies: Vec::new(),
        }
    }
}

/// One request the emulator received, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The operation routed to (`CreateModelImportJob`...), or `Unknown` for a request that
    /// matched no route.
    pub operation: String,
    /// `GET`, `POST`, `DELETE`...
    pub method: String,
    /// The path as received, percent-encoding included, without the query.
    pub path: String,
    /// The input: the JSON body of CreateModelImportJob (a JSON string holding the raw text
    /// when it is not JSON), else an object of the decoded query parameters and path label
    /// (`{"jobIdentifier": "..."}`, `{"maxResults": "10"}`), with string values.
    pub input: serde_json::Value,
    /// The response status.
    pub status: u16,
    /// The response body.
    pub response: serde_json::Value,
    /// The error name of a failed request (`ValidationException`), `None` on success.
    pub error: Option<String>,
    /// A CreateModelImportJob whose `clientRequestToken` was seen before: it returned the
    /// first job's ARN and created nothing.
    pub replay: bool,
}

/// The status of a model import job, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// `InProgress`.
    InProgress,
    /// `Completed`.
    Completed,
    /// `Failed`.
    Failed,
}

impl JobStatus {
    /// The API's spelling: `InProgress`, `Completed` or `Failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "InProgress",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
        }
    }

    fn parse(text: &str) -> Option<JobStatus> {
        match text {
            "InProgress" => Some(JobStatus::InProgress),
            "Completed" => Some(JobStatus::Completed),
            "Failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one job, for tests that look behind the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Its ARN.
    pub arn: String,
    /// Its `jobName`.
    pub name: String,
    /// Its status.
    pub status: JobStatus,
    /// Its `failureMessage`, once `Failed`.
    pub failure_message: Option<String>,
    /// Its imported model's ARN, once `Completed`.
    pub imported_model_arn: Option<String>,
    /// Why the [`S3Check`] failed, as the SDK said (not part of the API): the step
    /// (`AssumeRole`, `ListObjectsV2`, `GetObject key`) and the error.
    pub s3_detail: Option<String>,
}

/// Why a test hook could not end a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No job has that ARN or name.
    #[error("no model import job {0}")]
    NoSuchJob(String),
    /// The job had already ended.
    #[error("model import job {job} is already {status}")]
    NotInProgress {
        /// The ARN or name given.
        job: String,
        /// Its status.
        status: JobStatus,
    },
    /// The emulator stopped before the job ended.
    #[error("the Bedrock emulator stopped")]
    Stopped,
}

/// A running emulator on `127.0.0.1`; dropping it stops it.
pub struct BedrockEmulator {
    address: SocketAddr,
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for BedrockEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockEmulator")
            .field("address", &self.address)
            .field("options", &self.shared.options)
            .finish()
    }
}

impl BedrockEmulator {
    /// Starts an emulator on a free loopback port.
    ///
    /// # Panics
    /// If it cannot listen on 127.0.0.1, or [`S3Check::endpoint`] is not a loopback URL.
    pub fn start(options: EmulatorOptions) -> BedrockEmulator {
        if let Some(check) = &options.s3 {
            assert!(
                check.endpoint.starts_with("http://127.0.0.1:")
                    || check.endpoint.starts_with("http://localhost:"),
                "the S3 check's endpoint must be on the loopback interface, not {}",
                check.endpoint
            );
        }
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("the Bedrock emulator cannot listen on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("the Bedrock emulator cannot make its socket non-blocking");
        let address = listener
            .local_addr()
            .expect("the Bedrock emulator's address");
        let shared = Arc::new(Shared::new(options));
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let (handle_tx, handle_rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("bedrock-emulator-{}", address.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the Bedrock emulator's tokio runtime");
                let _ = handle_tx.send(runtime.handle().clone());
                runtime.block_on(server::serve(listener, thread_shared, shutdown_rx));
            })
            .expect("cannot start the Bedrock emulator thread");
        let handle = handle_rx
            .recv()
            .expect("the Bedrock emulator thread did not start");
        BedrockEmulator {
            address,
            shared,
            handle,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The endpoint URL for SDK clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address the emulator listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The options it was started with.
    pub fn options(&self) -> &EmulatorOptions {
        &self.shared.options
    }

    /// Every request so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The requests so far to `operation` (`CreateModelImportJob`...), in arrival order.
    pub fn calls_to(&self, operation: &str) -> Vec<Call> {
        self.shared
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }

    /// Forgets the calls logged so far.
    pub fn clear_calls(&self) {
        self.shared.calls.lock().unwrap().clear();
    }

    /// Every job, in creation order.
    pub fn jobs(&self) -> Vec<JobInfo> {
        self.shared.jobs()
    }

    /// The job with this ARN or name.
    pub fn job(&self, arn_or_name: &str) -> Option<JobInfo> {
        self.shared
            .jobs()
            .into_iter()
            .find(|j| j.arn == arn_or_name || j.name == arn_or_name)
    }

    /// Ends an `InProgress` job as the service would: with [`EmulatorOptions::s3`], after
    /// reading the artifact as the job's role (which may fail the job), else `Completed`.
    /// Returns the status the job ended with. Blocks until then (the S3 check talks to the
    /// S3 endpoint); safe to call from an async test, whose runtime it does not use.
    pub fn complete_job(&self, arn_or_name: &str) -> Result<JobStatus, HookError> {
        self.end_job(arn_or_name, Outcome::Complete)
    }

    /// Ends an `InProgress` job `Failed` with `message` as its `failureMessage` (cut to 2048
    /// characters). Returns [`JobStatus::Failed`], or the status it had already reached.
    pub fn fail_job(&self, arn_or_name: &str, message: &str) -> Result<JobStatus, HookError> {
        self.end_job(arn_or_name, Outcome::Fail(message.to_string()))
    }

    fn end_job(&self, arn_or_name: &str, outcome: Outcome) -> Result<JobStatus, HookError> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::clone(&self.shared);
        let job = arn_or_name.to_string();
        self.handle.spawn(async move {
            let _ = tx.send(service::finish(shared, &job, outcome).await);
        });
        rx.recv().unwrap_or(Err(HookError::Stopped))
    }
}

impl Drop for BedrockEmulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
