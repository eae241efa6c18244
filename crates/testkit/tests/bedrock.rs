//! The Bedrock CMI emulator through the real `aws-sdk-bedrock` client: every check here goes
//! through the SDK's serializers and parsers, so the wire format (timestamps, error names,
//! label encoding, pagination) is the one the SDK expects.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource, Tag};
use cmi_testkit::bedrock::{
    BedrockEmulator, EmulatorOptions, HookError, JobStatus, S3Check, JOB_NAME_IN_USE,
    S3_ACCESS_FAILURE,
};
use cmi_testkit::fixtures;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::s3::{create_bucket, upload_fixture};

const ROLE: &str = "arn:aws:iam::123456789012:role/cmi-import";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

async fn client(emulator: &BedrockEmulator) -> aws_sdk_bedrock::Client {
    let config = moto::sdk_config_for(
        &emulator.endpoint(),
        moto::static_credentials(),
        "us-east-1",
    )
    .await;
    aws_sdk_bedrock::Client::new(&config)
}

fn source(uri: &str) -> ModelDataSource {
    ModelDataSource::S3DataSource(S3DataSource::builder().s3_uri(uri).build().unwrap())
}

/// A CreateModelImportJob request with the required fields.
fn create(
    client: &aws_sdk_bedrock::Client,
    job: &str,
    model: &str,
) -> aws_sdk_bedrock::operation::create_model_import_job::builders::CreateModelImportJobFluentBuilder
{
    client
        .create_model_import_job()
        .job_name(job)
        .imported_model_name(model)
        .role_arn(ROLE)
        .model_data_source(source("s3://models/llama/"))
}

/// The HTTP status, error code and message of a failed call.
fn error<E, R>(result: Result<R, SdkError<E>>) -> (u16, String, String)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let error = result.expect_err("the call should fail");
    let status = error.raw_response().map_or(0, |r| r.status().as_u16());
    (
        status,
        error.code().unwrap_or_default().to_string(),
        error.message().unwrap_or_default().to_string(),
    )
}

async fn status(client: &aws_sdk_bedrock::Client, job: &str) -> ModelImportJobStatus {
    client
        .get_model_import_job()
        .job_identifier(job)
        .send()
        .await
        .unwrap()
        .status()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_job_goes_in_progress_then_completed_with_its_kms_key_and_model() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let created = create(&client, "llama-import.v1", "llama_3-8b")
        .imported_model_kms_key_id(KMS_KEY)
        .job_tags(Tag::builder().key("team").value("ml").build().unwrap())
        .send()
        .await
        .unwrap();
    let arn = created.job_arn().to_string();
    let (prefix, id) = arn.rsplit_once('/').unwrap();
    assert_eq!(
        prefix,
        "arn:aws:bedrock:us-east-1:123456789012:model-import-job"
    );
    assert_eq!(id.len(), 12);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    let call = emulator.calls_to("CreateModelImportJob").pop().unwrap();
    assert_eq!((call.status, call.method.as_str()), (201, "POST"));
    assert_eq!(call.input["jobName"], "llama-import.v1");

    let job = client
        .get_model_import_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), Some(&ModelImportJobStatus::InProgress));
    assert_eq!(job.creation_time(), job.last_modified_time());
    assert!(job.creation_time().is_some());
    assert_eq!(job.end_time(), None);
    assert_eq!(job.imported_model_arn(), None);
    assert_eq!(job.imported_model_kms_key_arn(), Some(KMS_KEY));
    assert_eq!(job.role_arn(), Some(ROLE));
    assert_eq!(job.model_data_source(), Some(&source("s3://models/llama/")));

    assert_eq!(emulator.complete_job(&arn), Ok(JobStatus::Completed));
    assert_eq!(
        emulator.complete_job(&arn),
        Err(HookError::NotInProgress {
            job: arn.clone(),
            status: JobStatus::Completed
        })
    );
    let job = client
        .get_model_import_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), Some(&ModelImportJobStatus::Completed));
    let model_arn = job.imported_model_arn().unwrap().to_string();
    assert!(model_arn.starts_with("arn:aws:bedrock:us-east-1:123456789012:imported-model/"));
    let end = job.end_time().unwrap();
    assert!(end.as_nanos() >= job.creation_time().unwrap().as_nanos());
    assert_eq!(job.last_modified_time(), Some(end));
    assert_eq!(job.failure_message(), None);

    let models = client.list_imported_models().send().await.unwrap();
    let summaries = models.model_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].model_arn(), model_arn);
    assert_eq!(summaries[0].model_name(), "llama_3-8b");
    let model = client
        .get_imported_model()
        .model_identifier("llama_3-8b")
        .send()
        .await
        .unwrap();
    assert_eq!(model.model_arn(), Some(model_arn.as_str()));
    assert_eq!(model.job_arn(), Some(arn.as_str()));
    assert_eq!(model.job_name(), Some("llama-import.v1"));
    assert_eq!(model.model_kms_key_arn(), Some(KMS_KEY));
    assert_eq!(model.model_architecture(), Some("unknown"));
    let units = model.custom_model_units().unwrap();
    assert_eq!(units.custom_model_units_per_model_copy(), Some(1));
    assert_eq!(units.custom_model_units_version(), Some("1.0"));
}

#[tokio::test]
async fn jobs_complete_by_themselves_after_the_job_duration() {
    let emulator = BedrockEmulator::start(EmulatorOptions {
        job_duration: Duration::from_millis(300),
        ..EmulatorOptions::default()
    });
    let client = client(&emulator).await;
    let arn = create(&client, "timed", "timed")
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_string();
    assert_eq!(
        status(&client, &arn).await,
        ModelImportJobStatus::InProgress
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&client, "timed").await == ModelImportJobStatus::InProgress {
        assert!(Instant::now() < deadline, "the job never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&client, &arn).await, ModelImportJobStatus::Completed);
}

#[tokio::test]
async fn an_underscore_in_the_job_name_is_a_validation_error_and_creates_nothing() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let (status, code, message) = error(create(&client, "bad_name", "model").send().await);
    assert_eq!((status, code.as_str()), (400, "ValidationException"));
    assert_eq!(
        message,
        "1 validation error detected: Value 'bad_name' at 'jobName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: \
         [a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*"
    );
    assert!(emulator.jobs().is_empty());
    let listed = client.list_model_import_jobs().send().await.unwrap();
    assert!(listed.model_import_job_summaries().is_empty());
    let call = emulator.calls_to("CreateModelImportJob").pop().unwrap();
    assert_eq!(call.error.as_deref(), Some("ValidationException"));

    // Every violation is reported, required members first.
    let (_, code, message) = error(
        client
            .create_model_import_job()
            .job_name("ok")
            .imported_model_name("has.dot")
            .model_data_source(source("S3://Bucket/x/"))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with(
            "3 validation errors detected: Value null at 'roleArn' failed to satisfy \
             constraint: Member must not be null; Value 'has.dot' at 'importedModelName'"
        ),
        "{message}"
    );
    assert!(
        message.contains("Value 'S3://Bucket/x/' at 'modelDataSource.s3DataSource.s3Uri'"),
        "{message}"
    );
    assert!(emulator.jobs().is_empty());
}

#[tokio::test]
async fn the_same_client_request_token_makes_one_job() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let first = create(&client, "tok", "tok")
        .client_request_token("6f1c2b1e-5c3a-4d0e-9b7a-1f2e3d4c5b6a")
        .send()
        .await
        .unwrap();
    let second = create(&client, "tok", "tok")
        .client_request_token("6f1c2b1e-5c3a-4d0e-9b7a-1f2e3d4c5b6a")
        .send()
        .await
        .unwrap();
    assert_eq!(first.job_arn(), second.job_arn());
    assert_eq!(emulator.jobs().len(), 1);

    // The same token with another request is refused, and changes nothing.
    let (status, code, message) = error(
        create(&client, "tok", "tok")
            .client_request_token("6f1c2b1e-5c3a-4d0e-9b7a-1f2e3d4c5b6a")
            .job_tags(Tag::builder().key("team").value("ml").build().unwrap())
            .send()
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "ConflictException"),
        "{message}"
    );
    assert!(message.contains("different parameters"), "{message}");
    assert_eq!(emulator.jobs().len(), 1);

    // The first request, again, is still its job.
    let third = create(&client, "tok", "tok")
        .client_request_token("6f1c2b1e-5c3a-4d0e-9b7a-1f2e3d4c5b6a")
        .send()
        .await
        .unwrap();
    assert_eq!(first.job_arn(), third.job_arn());
    let calls = emulator.calls_to("CreateModelImportJob");
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.status, c.replay))
            .collect::<Vec<_>>(),
        [(201, false), (201, true), (400, false), (201, true)]
    );
    assert_eq!(calls[2].error.as_deref(), Some("ConflictException"));
}

#[tokio::test]
async fn a_second_job_while_one_is_in_progress_exceeds_the_quota() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    create(&client, "first", "first").send().await.unwrap();
    let (status, code, message) = error(create(&client, "second", "second").send().await);
    assert_eq!(
        (status, code.as_str()),
        (400, "ServiceQuotaExceededException")
    );
    assert!(
        message.contains("Concurrent model import jobs"),
        "{message}"
    );
    assert_eq!(emulator.jobs().len(), 1);

    // Once the first has ended, the next may start; the imported-model quota counts both the
    // models and the job in progress.
    emulator.fail_job("first", "no").unwrap();
    create(&client, "second", "second").send().await.unwrap();
    emulator.complete_job("second").unwrap();
    create(&client, "third", "third").send().await.unwrap();
    emulator.complete_job("third").unwrap();
    create(&client, "fourth", "fourth").send().await.unwrap();
    emulator.complete_job("fourth").unwrap();
    let (_, code, message) = error(create(&client, "fifth", "fifth").send().await);
    assert_eq!(code, "ServiceQuotaExceededException");
    assert!(message.contains("Imported models per account"), "{message}");

    // An existing model's name is a conflict.
    client
        .delete_imported_model()
        .model_identifier("fourth")
        .send()
        .await
        .unwrap();
    let (_, code, _) = error(create(&client, "fifth", "third").send().await);
    assert_eq!(code, "ConflictException");
}

#[tokio::test]
async fn a_job_name_stays_taken_after_the_job_ends() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    create(&client, "once", "once").send().await.unwrap();
    emulator.complete_job("once").unwrap();
    let (status, code, message) = error(create(&client, "once", "other").send().await);
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (400, "ValidationException", JOB_NAME_IN_USE)
    );
    assert_eq!(message, "The provided job name is currently in use.");
    assert_eq!(emulator.jobs().len(), 1);
}

#[tokio::test]
async fn more_than_fifty_tags_are_too_many() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let tags: Vec<Tag> = (0..51)
        .map(|i| {
            Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap()
        })
        .collect();
    let result = create(&client, "tags", "tags")
        .set_imported_model_tags(Some(tags))
        .send()
        .await;
    let error = result.unwrap_err().into_service_error();
    let aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobError::TooManyTagsException(
        too_many,
    ) = error
    else {
        panic!("not TooManyTagsException: {error:?}");
    };
    assert!(too_many
        .resource_name()
        .unwrap()
        .starts_with("arn:aws:bedrock:us-east-1:123456789012:imported-model/"));
    assert!(emulator.jobs().is_empty());
}

#[tokio::test]
async fn lists_page_through_25_jobs_ten_at_a_time() {
    let emulator = BedrockEmulator::start(EmulatorOptions {
        max_concurrent_jobs: 1,
        max_imported_models: 100,
        ..EmulatorOptions::default()
    });
    let client = client(&emulator).await;
    let mut arns = Vec::new();
    for i in 0..25 {
        let name = format!("job-{i:02}");
        let arn = create(&client, &name, &name)
            .send()
            .await
            .unwrap()
            .job_arn()
            .to_string();
        if i % 5 == 0 {
            emulator.fail_job(&arn, "Injected failure").unwrap();
        } else {
            emulator.complete_job(&arn).unwrap();
        }
        arns.push(arn);
    }

    // Pages by hand: 10, 10, 5, newest first by default.
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = Vec::new();
    loop {
        let page = client
            .list_model_import_jobs()
            .max_results(10)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages.push(page.model_import_job_summaries().len());
        seen.extend(
            page.model_import_job_summaries()
                .iter()
                .map(|s| s.job_arn().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    let mut newest_first = arns.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    // The SDK's paginator, ascending.
    let ascending: Vec<String> = client
        .list_model_import_jobs()
        .max_results(10)
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.job_arn().to_string())
        .collect();
    assert_eq!(ascending, arns);

    // Filters.
    let failed = client
        .list_model_import_jobs()
        .status_equals(ModelImportJobStatus::Failed)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.model_import_job_summaries().len(), 5);
    assert!(failed.next_token().is_none());
    let named = client
        .list_model_import_jobs()
        .name_contains("job-1")
        .send()
        .await
        .unwrap();
    assert_eq!(named.model_import_job_summaries().len(), 10);
    let first = client
        .get_model_import_job()
        .job_identifier(&arns[0])
        .send()
        .await
        .unwrap();
    let after_first = client
        .list_model_import_jobs()
        .creation_time_after(*first.creation_time().unwrap())
        .max_results(1000)
        .send()
        .await
        .unwrap();
    assert!(after_first
        .model_import_job_summaries()
        .iter()
        .all(|s| s.job_arn() != arns[0]));
    let summary = &failed.model_import_job_summaries()[0];
    assert_eq!(summary.status(), &ModelImportJobStatus::Failed);
    assert!(summary.end_time().is_some());
    assert!(summary.imported_model_arn().is_none());

    // Out-of-range maxResults.
    let (status, code, message) =
        error(client.list_model_import_jobs().max_results(0).send().await);
    assert_eq!((status, code.as_str()), (400, "ValidationException"));
    assert!(message.contains("at 'maxResults'"), "{message}");

    let models = client
        .list_imported_models()
        .max_results(10)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(models.len(), 20);
}

#[tokio::test]
async fn get_by_name_and_by_arn_and_not_found() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let arn = create(&client, "lookup+v1.0", "lookup")
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_string();
    let by_name = client
        .get_model_import_job()
        .job_identifier("lookup+v1.0")
        .send()
        .await
        .unwrap();
    let by_arn = client
        .get_model_import_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (by_name.job_arn(), by_name.creation_time()),
        (by_arn.job_arn(), by_arn.creation_time())
    );
    assert_eq!(by_name.job_arn(), Some(arn.as_str()));
    assert_eq!(by_name.imported_model_name(), Some("lookup"));
    // The SDK percent-encodes the ARN's `:` and `/` in the label.
    let call = emulator.calls_to("GetModelImportJob").pop().unwrap();
    assert!(call.path.contains("%2F"), "{}", call.path);
    assert_eq!(call.input["jobIdentifier"], arn.as_str());

    let missing = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/aaaaaaaaaaaa";
    let (status, code, _) = error(
        client
            .get_model_import_job()
            .job_identifier(missing)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    let (status, code, _) = error(
        client
            .get_model_import_job()
            .job_identifier("no_underscores")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "ValidationException"));
    let (status, code, _) = error(
        client
            .get_imported_model()
            .model_identifier("lookup")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
}

#[tokio::test]
async fn delete_imported_model() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let client = client(&emulator).await;
    let arn = create(&client, "del", "del-model")
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_string();
    emulator.complete_job(&arn).unwrap();
    let model_arn = emulator.job(&arn).unwrap().imported_model_arn.unwrap();
    client
        .delete_imported_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .unwrap();
    let call = emulator.calls_to("DeleteImportedModel").pop().unwrap();
    assert_eq!(
        (call.status, call.response.clone()),
        (200, serde_json::json!({}))
    );
    assert!(client
        .list_imported_models()
        .send()
        .await
        .unwrap()
        .model_summaries()
        .is_empty());
    let (status, code, _) = error(
        client
            .delete_imported_model()
            .model_identifier(&model_arn)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    // The job still points at the deleted model.
    let job = client
        .get_model_import_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(job.imported_model_arn(), Some(model_arn.as_str()));
}

#[test]
fn hooks_work_from_synchronous_code() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    assert_eq!(
        emulator.complete_job("nothing"),
        Err(HookError::NoSuchJob("nothing".into()))
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let arn = runtime.block_on(async {
        let client = client(&emulator).await;
        create(&client, "sync", "sync")
            .send()
            .await
            .unwrap()
            .job_arn()
            .to_string()
    });
    let long = "x".repeat(5000);
    assert_eq!(emulator.fail_job(&arn, &long), Ok(JobStatus::Failed));
    let info = emulator.job("sync").unwrap();
    assert_eq!(info.failure_message.unwrap().len(), 2048);
}

/// moto with IAM enforced: the admin user stands for the Bedrock service principal; the
/// role may read `models/llama/` only.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_role_cannot_read_the_prefix_fails_with_the_s3_access_message() {
    let moto = Moto::start();
    let iam = moto.iam_client().await;
    let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
    let role = moto::create_role(
        &iam,
        "cmi-import",
        &moto::trust_policy(&admin.arn),
        &moto::s3_read_policy("models", "llama/"),
    )
    .await;
    let distrusting = moto::create_role(
        &iam,
        "distrusting",
        &moto::trust_policy("arn:aws:iam::123456789012:user/somebody-else"),
        &moto::s3_read_policy("models", ""),
    )
    .await;
    let s3 = moto.s3_client().await;
    create_bucket(&s3, "models", moto::REGION).await.unwrap();
    let llama = fixtures::all()
        .into_iter()
        .find(|f| f.name == "llama")
        .unwrap();
    upload_fixture(&s3, "models", "llama/", &llama)
        .await
        .unwrap();
    upload_fixture(&s3, "models", "other/", &llama)
        .await
        .unwrap();
    moto.enforce_auth(0);

    let emulator = BedrockEmulator::start(EmulatorOptions {
        s3: Some(S3Check {
            endpoint: moto.endpoint(),
            credentials: admin.credentials.clone(),
        }),
        ..EmulatorOptions::default()
    });
    let client = client(&emulator).await;

    // The prefix the role may read: completed, with the architecture of config.json.
    let arn = client
        .create_model_import_job()
        .job_name("readable")
        .imported_model_name("readable")
        .role_arn(&role)
        .model_data_source(source("s3://models/llama/"))
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_string();
    assert_eq!(
        emulator.complete_job(&arn),
        Ok(JobStatus::Completed),
        "{:?}",
        emulator.job(&arn)
    );
    let model = client
        .get_imported_model()
        .model_identifier("readable")
        .send()
        .await
        .unwrap();
    assert_eq!(model.model_architecture(), Some("llama"));

    // Another prefix of the same bucket: failed, no model.
    let arn = client
        .create_model_import_job()
        .job_name("unreadable")
        .imported_model_name("unreadable")
        .role_arn(&role)
        .model_data_source(source("s3://models/other/"))
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_string();
    assert_eq!(emulator.complete_job(&arn), Ok(JobStatus::Failed));
    let job = client
        .get_model_import_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), Some(&ModelImportJobStatus::Failed));
    assert_eq!(job.failure_message(), Some(S3_ACCESS_FAILURE));
    assert!(job.end_time().is_some());
    assert_eq!(job.imported_model_arn(), None);
    let detail = emulator.job(&arn).unwrap().s3_detail.unwrap();
    assert!(detail.contains("GetObject s3://models/other/"), "{detail}");
    let (_, code, _) = error(
        client
            .get_imported_model()
            .model_identifier("unreadable")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");

    // A role that does not trust the caller cannot even be assumed.
    let arn = client
        .create_model_import_job()
        .job_name("untrusted")
        .imported_model_name("untrusted")
        .role_arn(&distrusting)
        .model_data_source(source("s3://models/llama/"))
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_string();
    assert_eq!(emulator.complete_job(&arn), Ok(JobStatus::Failed));
    let job = emulator.job(&arn).unwrap();
    assert_eq!(job.failure_message.as_deref(), Some(S3_ACCESS_FAILURE));
    let detail = job.s3_detail.unwrap();
    assert!(detail.starts_with("AssumeRole"), "{detail}");
}

/// How a raw request is authorized.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// Signed by the SDK's own signer (`aws-sigv4`) as these credentials, for this service
    /// and Region.
    Signed(&'a Credentials, &'a str, &'a str),
    /// No `Authorization` header at all.
    Unsigned,
}

/// The headers `auth` adds to a request (`x-amz-date`, `authorization`...).
fn authorization(
    auth: Auth<'_>,
    emulator: &BedrockEmulator,
    method: &str,
    path: &str,
    body: &str,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let Auth::Signed(credentials, service, region) = auth else {
        return Vec::new();
    };
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{}{path}", emulator.address());
    let request = SignableRequest::new(
        method,
        &uri,
        [("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// One raw HTTP/1.1 exchange, signed as moto's static credentials for `bedrock` in
/// `us-east-1`: status, headers (lower-cased names) and JSON body.
fn raw(
    emulator: &BedrockEmulator,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, serde_json::Value) {
    let credentials = moto::static_credentials();
    let auth = Auth::Signed(&credentials, "bedrock", "us-east-1");
    raw_as(emulator, auth, method, path, body, body)
}

/// One raw HTTP/1.1 exchange authorized by `auth` for `signed_body`, sending `body`.
fn raw_as(
    emulator: &BedrockEmulator,
    auth: Auth<'_>,
    method: &str,
    path: &str,
    signed_body: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, serde_json::Value) {
    use std::io::{Read, Write};
    let extra: String = authorization(auth, emulator, method, path, signed_body)
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let mut stream = std::net::TcpStream::connect(emulator.address()).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        emulator.address(),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    (status, headers, serde_json::from_str(body).unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_wire_format_of_errors_unions_and_unknown_routes() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let base =
        r#""jobName":"j","importedModelName":"m","roleArn":"arn:aws:iam::123456789012:role/r""#;

    // modelDataSource is a union: exactly one member, s3DataSource.
    for source in [
        r#"{}"#,
        r#"{"s3DataSource":{"s3Uri":"s3://models/m/"},"other":{}}"#,
    ] {
        let (status, headers, body) = raw(
            &emulator,
            "POST",
            "/model-import-jobs",
            &format!(r#"{{{base},"modelDataSource":{source}}}"#),
        );
        assert_eq!(status, 400);
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some("ValidationException")
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("1 validation error detected: Value at 'modelDataSource'"),
            "{message}"
        );
    }
    let (status, _, body) = raw(
        &emulator,
        "POST",
        "/model-import-jobs",
        &format!(r#"{{{base},"modelDataSource":{{"s3DataSource":{{}}}}}}"#),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "1 validation error detected: Value null at 'modelDataSource.s3DataSource.s3Uri' \
         failed to satisfy constraint: Member must not be null"
    );

    // Not JSON, or the wrong JSON type.
    for bad in ["{", r#"{"jobName": 7}"#] {
        let (status, headers, _) = raw(&emulator, "POST", "/model-import-jobs", bad);
        assert_eq!(status, 400);
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some("SerializationException")
        );
    }

    // A valid request: 201, JSON, a request id.
    let (status, headers, body) = raw(
        &emulator,
        "POST",
        "/model-import-jobs",
        &format!(r#"{{{base},"modelDataSource":{{"s3DataSource":{{"s3Uri":"s3://models/m/"}}}}}}"#),
    );
    assert_eq!(status, 201);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert!(header(&headers, "x-amzn-requestid").is_some());
    assert!(header(&headers, "x-amzn-errortype").is_none());
    let arn = body["jobArn"].as_str().unwrap().to_string();

    // An unencoded ARN in the label works too; timestamps are ISO 8601 strings.
    let (status, _, job) = raw(&emulator, "GET", &format!("/model-import-jobs/{arn}"), "");
    assert_eq!(status, 200);
    let created = job["creationTime"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );

    let (status, headers, _) = raw(&emulator, "PUT", "/model-import-jobs", "");
    assert_eq!(status, 404);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        Some("UnknownOperationException")
    );
    let operations: Vec<String> = emulator.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(operations.last().map(String::as_str), Some("Unknown"));
    assert_eq!(
        operations
            .iter()
            .filter(|o| *o == "CreateModelImportJob")
            .count(),
        6
    );
}

/// A request the service would refuse before reading it: not signed, signed for another
/// Region or service, by an unknown key, with the wrong secret, or for another body.
#[test]
fn only_requests_signed_for_bedrock_in_its_region_by_a_known_caller_are_served() {
    let emulator = BedrockEmulator::start(EmulatorOptions::default());
    let body = r#"{"jobName":"j","importedModelName":"m","roleArn":"arn:aws:iam::123456789012:role/r","modelDataSource":{"s3DataSource":{"s3Uri":"s3://models/m/"}}}"#;
    let known = moto::static_credentials();
    let stranger = Credentials::new("AKIDSTRANGER", "testing", None, None, "test");
    let wrong_secret = Credentials::new(moto::ACCESS_KEY_ID, "not-the-secret", None, None, "test");
    let refused: [(Auth<'_>, &str, u16, &str, &str); 6] = [
        (
            Auth::Unsigned,
            body,
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (
            Auth::Signed(&known, "bedrock", "eu-west-1"),
            body,
            403,
            "InvalidSignatureException",
            "Credential should be scoped to a valid region, not 'eu-west-1'. ",
        ),
        (
            Auth::Signed(&known, "sagemaker", "us-east-1"),
            body,
            403,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'bedrock'. ",
        ),
        (
            Auth::Signed(&stranger, "bedrock", "us-east-1"),
            body,
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            Auth::Signed(&wrong_secret, "bedrock", "us-east-1"),
            body,
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ),
        (
            Auth::Signed(&known, "bedrock", "us-east-1"),
            "{}",
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ),
    ];
    for (auth, signed_body, status, name, message) in refused {
        let (got, headers, response) = raw_as(
            &emulator,
            auth,
            "POST",
            "/model-import-jobs",
            signed_body,
            body,
        );
        assert_eq!(got, status, "{response}");
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some(name),
            "{response}"
        );
        assert_eq!(response["message"], message);
    }
    assert!(emulator.jobs().is_empty());
    let errors: Vec<Option<String>> = emulator.calls().into_iter().map(|c| c.error).collect();
    assert_eq!(errors.len(), 6);
    assert!(errors.iter().all(Option::is_some), "{errors:?}");

    // Signed right, the same body is served; so is a list with a query, and a label.
    let (status, _, created) = raw(&emulator, "POST", "/model-import-jobs", body);
    assert_eq!(status, 201, "{created}");
    let (status, _, listed) = raw(
        &emulator,
        "GET",
        "/model-import-jobs?sortOrder=Ascending&maxResults=5",
        "",
    );
    assert_eq!(status, 200, "{listed}");
    let arn = created["jobArn"].as_str().unwrap();
    let encoded = arn.replace(':', "%3A").replace('/', "%2F");
    let (status, _, job) = raw(
        &emulator,
        "GET",
        &format!("/model-import-jobs/{encoded}"),
        "",
    );
    assert_eq!(status, 200, "{job}");
}

/// The SDK configured for another Region than the emulator's is refused; temporary
/// credentials need their session token.
#[tokio::test]
async fn the_sdk_signing_for_another_region_or_without_its_session_token_is_refused() {
    let temporary = Credentials::new("ASIATEMPORARY", "secret", Some("session".into()), None, "t");
    let emulator = BedrockEmulator::start(EmulatorOptions {
        callers: vec![moto::static_credentials(), temporary.clone()],
        ..EmulatorOptions::default()
    });
    let elsewhere = aws_sdk_bedrock::Client::new(
        &moto::sdk_config_for(
            &emulator.endpoint(),
            moto::static_credentials(),
            "eu-west-1",
        )
        .await,
    );
    let (status, code, message) = error(elsewhere.list_model_import_jobs().send().await);
    assert_eq!((status, code.as_str()), (403, "InvalidSignatureException"));
    assert_eq!(
        message,
        "Credential should be scoped to a valid region, not 'eu-west-1'. "
    );

    let with_token = aws_sdk_bedrock::Client::new(
        &moto::sdk_config_for(&emulator.endpoint(), temporary, "us-east-1").await,
    );
    with_token.list_imported_models().send().await.unwrap();
    let without = Credentials::new("ASIATEMPORARY", "secret", None, None, "t");
    let without_token = aws_sdk_bedrock::Client::new(
        &moto::sdk_config_for(&emulator.endpoint(), without, "us-east-1").await,
    );
    let (status, code, _) = error(without_token.list_imported_models().send().await);
    assert_eq!(
        (status, code.as_str()),
        (403, "UnrecognizedClientException")
    );
}
