//! The import path against the Bedrock emulator with the real aws-sdk-bedrock client: a job
//! submitted and followed to its end through the import flow, a bad name refused before any
//! call, the same import run twice making one job, and the one-job-at-a-time quota explained.

use std::time::Duration;

use cmi_agent::backoff::Backoff;
use cmi_agent::bedrock::ServiceError;
use cmi_agent::import::{
    self, Artifact, Follow, ImportError, ImportRequest, ImportRun, Progress, ValidRequest,
};
use cmi_agent::jobs::{self, Following, Job};
use cmi_testkit::bedrock::{BedrockEmulator, EmulatorOptions};
use cmi_testkit::moto;

const FAST: Backoff = Backoff {
    base: Duration::from_millis(20),
    max: Duration::from_millis(100),
};

/// The steps of the flow, as seen.
#[derive(Default)]
struct Seen {
    tokens: Vec<String>,
    submitted: Vec<String>,
    polled: Vec<String>,
}

impl Progress for Seen {
    fn submitting(&mut self, token: &str) -> Result<(), ImportError> {
        self.tokens.push(token.to_string());
        Ok(())
    }

    fn submitted(&mut self, job_arn: &str, _job: &Job) -> Result<(), ImportError> {
        self.submitted.push(job_arn.to_string());
        Ok(())
    }

    fn polled(&mut self, job: &Job) {
        self.polled.push(job.status.clone());
    }
}

fn valid(request: ImportRequest) -> ValidRequest {
    request.validate().expect("valid")
}

async fn client(emulator: &BedrockEmulator) -> aws_sdk_bedrock::Client {
    let config = moto::sdk_config_for(
        &emulator.endpoint(),
        moto::static_credentials(),
        moto::REGION,
    )
    .await;
    aws_sdk_bedrock::Client::new(&config)
}

fn request(job: &str, model: &str) -> ImportRequest {
    ImportRequest {
        s3_uri: "s3://models/llama/".into(),
        job_name: job.into(),
        model_name: model.into(),
        role_arn: "arn:aws:iam::123456789012:role/cmi-import".into(),
        kms_key_id: Some(
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        ),
        ..ImportRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn submitted_job_is_followed_to_completion_with_the_key_echoed() {
    let emulator = BedrockEmulator::start(EmulatorOptions {
        job_duration: Duration::from_millis(150),
        ..EmulatorOptions::default()
    });
    let client = client(&emulator).await;
    let request = valid(request("llama-import-1", "llama_ft"));
    let run = ImportRun {
        request: &request,
        artifact: Artifact::Checked("listing:test".into()),
        follow: Follow::Wait(FAST),
    };
    let mut progress = Seen::default();
    let outcome = import::run(&client, run, &mut progress, std::future::pending())
        .await
        .expect("submitted and followed");
    let submission = outcome.submission.expect("submitted");
    let arn = &submission.job_arn;
    assert!(arn.contains(":model-import-job/"), "{arn}");
    assert_eq!(progress.submitted.as_slice(), std::slice::from_ref(arn));
    assert_eq!(
        progress.tokens,
        [request.client_request_token("listing:test")]
    );
    assert_eq!(submission.token, progress.tokens[0]);
    assert_eq!(submission.following, Following::Ended);
    let job = submission.job.expect("described");
    assert!(job.is_completed(), "{job:?}");
    let model_arn = job.imported_model_arn.clone().unwrap_or_default();
    assert!(model_arn.contains(":imported-model/"), "{model_arn}");
    assert_eq!(job.imported_model_kms_key_arn, request.kms_key_id);
    assert_eq!(job.s3_uri.as_deref(), Some("s3://models/llama/"));
    assert!(job.end_time.is_some(), "{job:?}");
    assert_eq!(
        progress.polled.first().map(String::as_str),
        Some("InProgress")
    );
    assert_eq!(
        progress.polled.last().map(String::as_str),
        Some("Completed")
    );
}

/// The members of `shape` that a request cannot leave out, as paths to their string leaves:
/// required members, and the only member of a one-member union.
fn required_leaves(shapes: &serde_json::Value, shape: &str, at: &str, leaves: &mut Vec<String>) {
    let definition = &shapes[shape];
    if definition["type"] != "structure" {
        leaves.push(at.to_string());
        return;
    }
    let members = definition["members"].as_object().expect("members");
    let mut required: Vec<&str> = definition["required"]
        .as_array()
        .map(|r| r.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    if definition["union"] == true && members.len() == 1 {
        required.extend(members.keys().map(String::as_str));
    }
    for name in required {
        let path = if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        };
        let target = members[name]["shape"].as_str().expect("a shape");
        required_leaves(shapes, target, &path, leaves);
    }
}

/// What the product refuses to send matches what botocore's model (as vendored in
/// testdata/botocore/) requires: an empty request violates every required member.
#[test]
fn an_empty_request_violates_every_member_botocore_requires() {
    let vendored = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/botocore/bedrock-2023-04-20.json"
    ))
    .expect("the vendored botocore model");
    let model: serde_json::Value = serde_json::from_str(&vendored).expect("JSON");
    let mut leaves = Vec::new();
    required_leaves(
        &model["shapes"],
        "CreateModelImportJobRequest",
        "",
        &mut leaves,
    );
    assert_eq!(
        leaves,
        [
            "jobName",
            "importedModelName",
            "roleArn",
            "modelDataSource.s3DataSource.s3Uri"
        ]
    );
    let problems = ImportRequest::default().violations();
    for leaf in &leaves {
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&format!(" at '{leaf}' "))),
            "{leaf}: {problems:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_job_name_is_refused_before_any_call() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let _client = client(&emulator).await;
    let error = request("llama_import", "llama_ft").validate().unwrap_err();
    match error {
        ImportError::Invalid(problems) => {
            assert!(
                problems[0].contains("Value 'llama_import' at 'jobName'"),
                "{problems:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(emulator.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_import_twice_makes_one_job_and_a_second_job_meets_the_quota() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let first = valid(request("llama-import-1", "llama_ft"));
    let token = first.client_request_token("listing:test");
    let arn = import::submit(&client, &first, &token)
        .await
        .expect("submitted");
    let again = import::submit(&client, &first, &first.client_request_token("listing:test"))
        .await
        .expect("replayed");
    assert_eq!(arn, again);
    assert_eq!(emulator.jobs().len(), 1);

    let other = valid(request("qwen-import-1", "qwen_ft"));
    let error = import::submit(&client, &other, &other.client_request_token("listing:q"))
        .await
        .unwrap_err();
    match error {
        ImportError::Service(ServiceError {
            code, explanation, ..
        }) => {
            assert_eq!(code, "ServiceQuotaExceededException");
            assert!(explanation.contains("Only one import job"), "{explanation}");
        }
        other => panic!("{other:?}"),
    }
    emulator
        .fail_job(
            &arn,
            "Amazon Bedrock does not have access to the S3 location.",
        )
        .expect("failed by hook");
    let running = jobs::describe(&client, &arn).await.expect("described");
    let (job, following) = import::follow(&client, running, FAST, std::future::pending(), |_| {})
        .await
        .expect("followed");
    assert_eq!(following, Following::Ended);
    assert_eq!(job.status, "Failed");
    assert!(import::is_s3_access_failure(
        job.failure_message.as_deref().unwrap_or_default()
    ));
    let reused = import::submit(
        &client,
        &valid(request("llama-import-1", "llama_ft2")),
        "token-2",
    )
    .await
    .unwrap_err();
    assert!(reused.to_string().contains("stay taken"), "{reused}");
}
