//! The emulator's state and the six operations, independent of HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Map, Value};

use super::validate::{self, CreateRequest, ListQuery, Listing};
use super::{access, Call, EmulatorOptions, HookError, JobInfo, JobStatus, JOB_NAME_IN_USE};

/// Tags a resource may carry, whatever `TagList` allows.
const MAX_TAGS_PER_RESOURCE: usize = 50;
/// Longest `failureMessage` (the `ErrorMessage` shape).
const MAX_FAILURE_MESSAGE: usize = 2048;
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// An error response: status, `x-amzn-errortype` and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub status: u16,
    pub name: &'static str,
    pub message: String,
    /// `resourceName` of TooManyTagsException.
    pub resource_name: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, name: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            name,
            message: message.into(),
            resource_name: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "ValidationException", message)
    }

    /// A body or parameter that cannot be read as the shape's type (not a modeled error; the
    /// SDK sees an unhandled error with this code).
    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "SerializationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "ResourceNotFoundException", message)
    }

    pub fn unknown_operation(method: &str, path: &str) -> ApiError {
        ApiError::new(
            404,
            "UnknownOperationException",
            format!("No operation matches {method} {path}"),
        )
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "message": self.message });
        if let Some(resource) = &self.resource_name {
            body["resourceName"] = Value::from(resource.as_str());
        }
        body
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub(super) struct Reply {
    pub status: u16,
    pub body: Value,
    pub replay: bool,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body,
            replay: false,
        }
    }
}

/// How a test hook (or the timer) ends a job.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    Complete,
    Fail(String),
}

#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    id: String,
    arn: String,
    name: String,
    imported_model_name: String,
    /// Reserved at creation, used on completion.
    model_id: String,
    role_arn: String,
    model_data_source: Value,
    s3_uri: String,
    status: JobStatus,
    failure_message: Option<String>,
    s3_detail: Option<String>,
    creation_time: DateTime,
    last_modified_time: DateTime,
    end_time: Option<DateTime>,
    vpc_config: Option<Value>,
    kms_key_arn: Option<String>,
    imported_model_arn: Option<String>,
}

#[derive(Debug, Clone)]
struct Model {
    seq: u64,
    arn: String,
    name: String,
    job_arn: String,
    job_name: String,
    model_data_source: Value,
    creation_time: DateTime,
    architecture: String,
    instruct_supported: bool,
    kms_key_arn: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    jobs: Vec<Job>,
    models: Vec<Model>,
    /// `clientRequestToken` to the job ARN and the request that created it.
    tokens: HashMap<String, (String, CreateRequest)>,
    next_seq: u64,
}

impl State {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn new_id(&self) -> String {
        loop {
            let id: String = (0..12)
                .map(|_| ID_ALPHABET[fastrand::usize(..ID_ALPHABET.len())] as char)
                .collect();
            let taken = self.jobs.iter().any(|j| j.id == id || j.model_id == id);
            if !taken {
                return id;
            }
        }
    }

    fn job(&self, arn_or_name: &str) -> Option<&Job> {
        self.jobs
            .iter()
            .find(|j| j.arn == arn_or_name || j.name == arn_or_name)
    }

    fn model_index(&self, arn_or_name: &str) -> Option<usize> {
        self.models
            .iter()
            .position(|m| m.arn == arn_or_name || m.name == arn_or_name)
    }

    fn in_progress(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.status == JobStatus::InProgress)
            .count()
    }
}

/// Everything the server and the handle share.
pub(super) struct Shared {
    pub options: EmulatorOptions,
    pub calls: Mutex<Vec<Call>>,
    state: Mutex<State>,
}

impl Shared {
    pub fn new(options: EmulatorOptions) -> Shared {
        Shared {
            options,
            calls: Mutex::new(Vec::new()),
            state: Mutex::new(State::default()),
        }
    }

    pub fn jobs(&self) -> Vec<JobInfo> {
        let state = self.state.lock().unwrap();
        state
            .jobs
            .iter()
            .map(|j| JobInfo {
                arn: j.arn.clone(),
                name: j.name.clone(),
                status: j.status,
                failure_message: j.failure_message.clone(),
                imported_model_arn: j.imported_model_arn.clone(),
                s3_detail: j.s3_detail.clone(),
            })
            .collect()
    }

    fn arn(&self, kind: &str, id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:{kind}/{id}",
            self.options.region, self.options.account
        )
    }
}

/// Now, to the millisecond, as the service reports times.
fn now() -> DateTime {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    DateTime::from_millis(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

fn later_of(a: DateTime, b: DateTime) -> DateTime {
    if a.as_nanos() >= b.as_nanos() {
        a
    } else {
        b
    }
}

/// ISO 8601, as the `Timestamp` shape (`timestampFormat: iso8601`) is sent.
fn iso(time: &DateTime) -> Value {
    Value::from(time.fmt(Format::DateTime).unwrap_or_default())
}

/// `importedModelKmsKeyId` as a `key/` ARN. Aliases cannot be resolved here: they get a key id
/// that is a fixed hash of the alias.
fn kms_key_arn(key: &str, region: &str, account: &str) -> String {
    if let Some(rest) = key.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [partition, _kms, key_region, key_account, resource] = parts[..] {
            if resource.starts_with("key/") {
                return key.to_string();
            }
            return format!(
                "arn:{partition}:kms:{key_region}:{key_account}:key/{}",
                pseudo_uuid(resource)
            );
        }
        return key.to_string();
    }
    if key.starts_with("alias/") {
        return format!("arn:aws:kms:{region}:{account}:key/{}", pseudo_uuid(key));
    }
    format!("arn:aws:kms:{region}:{account}:key/{key}")
}

/// A UUID-shaped hash of `text` (FNV-1a, twice).
fn pseudo_uuid(text: &str) -> String {
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let high = fnv(0xcbf2_9ce4_8422_2325);
    let low = fnv(0x8422_2325_cbf2_9ce4);
    let hex = format!("{high:016x}{low:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// CreateModelImportJob. Schedules the job's end when [`EmulatorOptions::job_duration`] is
/// finite; must run inside the emulator's runtime.
pub(super) fn create(shared: &Arc<Shared>, body: &[u8]) -> Result<Reply, ApiError> {
    let request = validate::create_request(body)?;
    let options = &shared.options;
    let mut state = shared.state.lock().unwrap();
    if let Some(token) = &request.client_request_token {
        if let Some((arn, first)) = state.tokens.get(token) {
            if *first != request {
                return Err(ApiError::new(
                    400,
                    "ConflictException",
                    format!(
                        "The clientRequestToken {token} was used by an earlier request with \
                         different parameters. Send that request again unchanged, or use a new \
                         clientRequestToken."
                    ),
                ));
            }
            return Ok(Reply {
                status: 201,
                body: json!({ "jobArn": arn }),
                replay: true,
            });
        }
    }
    let first = request.clone();
    if state.jobs.iter().any(|j| j.name == request.job_name) {
        return Err(ApiError::validation(JOB_NAME_IN_USE));
    }
    let id = state.new_id();
    let model_id = loop {
        let candidate = state.new_id();
        if candidate != id {
            break candidate;
        }
    };
    let job_arn = shared.arn("model-import-job", &id);
    let model_arn = shared.arn("imported-model", &model_id);
    for (tags, resource) in [
        (&request.job_tags, &job_arn),
        (&request.imported_model_tags, &model_arn),
    ] {
        if tags.len() > MAX_TAGS_PER_RESOURCE {
            return Err(ApiError {
                resource_name: Some(resource.clone()),
                ..ApiError::new(
                    400,
                    "TooManyTagsException",
                    format!(
                        "The request contains {} tags, more than can be associated with a \
                         resource ({MAX_TAGS_PER_RESOURCE} tags per resource).",
                        tags.len()
                    ),
                )
            });
        }
    }
    let name = &request.imported_model_name;
    if state.models.iter().any(|m| &m.name == name)
        || state
            .jobs
            .iter()
            .any(|j| j.status == JobStatus::InProgress && &j.imported_model_name == name)
    {
        return Err(ApiError::new(
            400,
            "ConflictException",
            format!("An imported model with the name {name} already exists."),
        ));
    }
    let in_progress = state.in_progress();
    if in_progress >= options.max_concurrent_jobs {
        return Err(ApiError::new(
            400,
            "ServiceQuotaExceededException",
            format!(
                "{in_progress} model import job(s) are already in progress in this account and \
                 Region, the limit of {}. Wait for a job to end, or request a quota increase for \
                 Concurrent model import jobs.",
                options.max_concurrent_jobs
            ),
        ));
    }
    let models = state.models.len();
    if models + in_progress >= options.max_imported_models {
        return Err(ApiError::new(
            400,
            "ServiceQuotaExceededException",
            format!(
                "Your account does not have the quota limits to import another model: \
                 {models} imported model(s) and {in_progress} import job(s) in progress reach \
                 the limit of {}. Delete an imported model, or request a quota increase for \
                 Imported models per account.",
                options.max_imported_models
            ),
        ));
    }
    let created = now();
    let seq = state.seq();
    let CreateRequest {
        job_name,
        imported_model_name,
        role_arn,
        model_data_source,
        s3_uri,
        client_request_token,
        vpc_config,
        kms_key_id,
        job_tags: _,
        imported_model_tags: _,
    } = request;
    state.jobs.push(Job {
        seq,
        id,
        arn: job_arn.clone(),
        name: job_name,
        imported_model_name,
        model_id,
        role_arn,
        model_data_source,
        s3_uri,
        status: JobStatus::InProgress,
        failure_message: None,
        s3_detail: None,
        creation_time: created,
        last_modified_time: created,
        end_time: None,
        vpc_config,
        kms_key_arn: kms_key_id.map(|k| kms_key_arn(&k, &options.region, &options.account)),
        imported_model_arn: None,
    });
    if let Some(token) = client_request_token {
        state.tokens.insert(token, (job_arn.clone(), first));
    }
    drop(state);

    if let Some(deadline) = tokio::time::Instant::now().checked_add(options.job_duration) {
        let shared = Arc::clone(shared);
        let arn = job_arn.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let _ = finish(shared, &arn, Outcome::Complete).await;
        });
    }
    Ok(Reply {
        status: 201,
        body: json!({ "jobArn": job_arn }),
        replay: false,
    })
}

/// Ends an `InProgress` job: completing it reads the artifact first when the emulator has an
/// S3 check. Returns the status the job has afterwards (another hook or the timer may have
/// ended it meanwhile).
pub(super) async fn finish(
    shared: Arc<Shared>,
    arn_or_name: &str,
    outcome: Outcome,
) -> Result<JobStatus, HookError> {
    let (arn, role_arn, s3_uri, id) = {
        let state = shared.state.lock().unwrap();
        let job = state
            .job(arn_or_name)
            .ok_or_else(|| HookError::NoSuchJob(arn_or_name.to_string()))?;
        if job.status != JobStatus::InProgress {
            return Err(HookError::NotInProgress {
                job: arn_or_name.to_string(),
                status: job.status,
            });
        }
        (
            job.arn.clone(),
            job.role_arn.clone(),
            job.s3_uri.clone(),
            job.id.clone(),
        )
    };
    let result = match outcome {
        Outcome::Fail(message) => Err((message, None)),
        Outcome::Complete => match &shared.options.s3 {
            None => Ok(access::Artifact::default()),
            Some(check) => access::read_artifact(
                check,
                &shared.options.region,
                &role_arn,
                &s3_uri,
                &format!("bedrock-model-import-{id}"),
            )
            .await
            .map_err(|denied| (denied.message.to_string(), Some(denied.detail))),
        },
    };

    let mut state = shared.state.lock().unwrap();
    let seq = state.seq();
    let index = state
        .jobs
        .iter()
        .position(|j| j.arn == arn)
        .ok_or_else(|| HookError::NoSuchJob(arn_or_name.to_string()))?;
    if state.jobs[index].status != JobStatus::InProgress {
        return Ok(state.jobs[index].status);
    }
    let ended = later_of(now(), state.jobs[index].creation_time);
    let job = &mut state.jobs[index];
    job.end_time = Some(ended);
    job.last_modified_time = ended;
    match result {
        Err((message, detail)) => {
            job.status = JobStatus::Failed;
            job.failure_message = Some(message.chars().take(MAX_FAILURE_MESSAGE).collect());
            job.s3_detail = detail;
            Ok(JobStatus::Failed)
        }
        Ok(artifact) => {
            job.status = JobStatus::Completed;
            let model_arn = shared.arn("imported-model", &job.model_id);
            job.imported_model_arn = Some(model_arn.clone());
            let model = Model {
                seq,
                arn: model_arn,
                name: job.imported_model_name.clone(),
                job_arn: job.arn.clone(),
                job_name: job.name.clone(),
                model_data_source: job.model_data_source.clone(),
                creation_time: ended,
                architecture: artifact.architecture,
                instruct_supported: artifact.instruct_supported,
                kms_key_arn: job.kms_key_arn.clone(),
            };
            state.models.push(model);
            Ok(JobStatus::Completed)
        }
    }
}

fn insert_some(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(key.to_string(), value);
    }
}

/// GetModelImportJob.
pub(super) fn get_job(shared: &Shared, identifier: &str) -> Result<Reply, ApiError> {
    validate::label("GetModelImportJob", "jobIdentifier", identifier)?;
    let state = shared.state.lock().unwrap();
    let job = state.job(identifier).ok_or_else(|| {
        ApiError::not_found(format!(
            "The model import job {identifier} could not be found."
        ))
    })?;
    let mut body = Map::new();
    body.insert("jobArn".into(), Value::from(job.arn.as_str()));
    body.insert("jobName".into(), Value::from(job.name.as_str()));
    body.insert(
        "importedModelName".into(),
        Value::from(job.imported_model_name.as_str()),
    );
    insert_some(
        &mut body,
        "importedModelArn",
        job.imported_model_arn.as_deref().map(Value::from),
    );
    body.insert("roleArn".into(), Value::from(job.role_arn.as_str()));
    body.insert("modelDataSource".into(), job.model_data_source.clone());
    body.insert("status".into(), Value::from(job.status.as_str()));
    insert_some(
        &mut body,
        "failureMessage",
        job.failure_message.as_deref().map(Value::from),
    );
    body.insert("creationTime".into(), iso(&job.creation_time));
    body.insert("lastModifiedTime".into(), iso(&job.last_modified_time));
    insert_some(&mut body, "endTime", job.end_time.as_ref().map(iso));
    insert_some(&mut body, "vpcConfig", job.vpc_config.clone());
    insert_some(
        &mut body,
        "importedModelKmsKeyArn",
        job.kms_key_arn.as_deref().map(Value::from),
    );
    Ok(Reply::ok(Value::Object(body)))
}

/// One page of `items` (already filtered) in the query's order, and the next token.
fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (i128, u64),
    query: &ListQuery,
) -> (Vec<T>, Option<String>) {
    items.sort_by_key(|item| key(item));
    if !query.ascending {
        items.reverse();
    }
    let size = query.max_results.unwrap_or(super::DEFAULT_MAX_RESULTS);
    let total = items.len();
    let start = query.offset.min(total);
    let end = start.saturating_add(size).min(total);
    let next = (end < total).then(|| validate::next_token(end));
    let page = items.into_iter().skip(start).take(end - start).collect();
    (page, next)
}

fn in_window(time: &DateTime, query: &ListQuery) -> bool {
    let t = time.as_nanos();
    query.created_after.is_none_or(|after| t > after)
        && query.created_before.is_none_or(|before| t < before)
}

fn list_body(items_key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut body = Map::new();
    insert_some(&mut body, "nextToken", next.map(Value::from));
    body.insert(items_key.into(), Value::Array(items));
    Value::Object(body)
}

/// ListModelImportJobs.
pub(super) fn list_jobs(
    shared: &Shared,
    query: &BTreeMap<String, String>,
) -> Result<Reply, ApiError> {
    let query = validate::list_query(Listing::Jobs, query)?;
    let state = shared.state.lock().unwrap();
    let jobs: Vec<&Job> = state
        .jobs
        .iter()
        .filter(|j| query.status.is_none_or(|s| j.status == s))
        .filter(|j| {
            query
                .name_contains
                .as_deref()
                .is_none_or(|n| j.name.contains(n))
        })
        .filter(|j| in_window(&j.creation_time, &query))
        .collect();
    let (jobs, next) = page(jobs, |j| (j.creation_time.as_nanos(), j.seq), &query);
    let summaries = jobs
        .into_iter()
        .map(|job| {
            let mut summary = Map::new();
            summary.insert("jobArn".into(), Value::from(job.arn.as_str()));
            summary.insert("jobName".into(), Value::from(job.name.as_str()));
            summary.insert("status".into(), Value::from(job.status.as_str()));
            summary.insert("lastModifiedTime".into(), iso(&job.last_modified_time));
            summary.insert("creationTime".into(), iso(&job.creation_time));
            insert_some(&mut summary, "endTime", job.end_time.as_ref().map(iso));
            insert_some(
                &mut summary,
                "importedModelArn",
                job.imported_model_arn.as_deref().map(Value::from),
            );
            summary.insert(
                "importedModelName".into(),
                Value::from(job.imported_model_name.as_str()),
            );
            Value::Object(summary)
        })
        .collect();
    Ok(Reply::ok(list_body(
        "modelImportJobSummaries",
        summaries,
        next,
    )))
}

fn model_not_found(identifier: &str) -> ApiError {
    ApiError::not_found(format!(
        "The imported model {identifier} could not be found."
    ))
}

/// GetImportedModel.
pub(super) fn get_model(shared: &Shared, identifier: &str) -> Result<Reply, ApiError> {
    validate::label("GetImportedModel", "modelIdentifier", identifier)?;
    let state = shared.state.lock().unwrap();
    let index = state
        .model_index(identifier)
        .ok_or_else(|| model_not_found(identifier))?;
    let model = &state.models[index];
    let mut body = Map::new();
    body.insert("modelArn".into(), Value::from(model.arn.as_str()));
    body.insert("modelName".into(), Value::from(model.name.as_str()));
    body.insert("jobName".into(), Value::from(model.job_name.as_str()));
    body.insert("jobArn".into(), Value::from(model.job_arn.as_str()));
    body.insert("modelDataSource".into(), model.model_data_source.clone());
    body.insert("creationTime".into(), iso(&model.creation_time));
    body.insert(
        "modelArchitecture".into(),
        Value::from(model.architecture.as_str()),
    );
    insert_some(
        &mut body,
        "modelKmsKeyArn",
        model.kms_key_arn.as_deref().map(Value::from),
    );
    body.insert(
        "instructSupported".into(),
        Value::from(model.instruct_supported),
    );
    body.insert(
        "customModelUnits".into(),
        json!({"customModelUnitsPerModelCopy": 1, "customModelUnitsVersion": "1.0"}),
    );
    Ok(Reply::ok(Value::Object(body)))
}

/// ListImportedModels.
pub(super) fn list_models(
    shared: &Shared,
    query: &BTreeMap<String, String>,
) -> Result<Reply, ApiError> {
    let query = validate::list_query(Listing::Models, query)?;
    let state = shared.state.lock().unwrap();
    let models: Vec<&Model> = state
        .models
        .iter()
        .filter(|m| {
            query
                .name_contains
                .as_deref()
                .is_none_or(|n| m.name.contains(n))
        })
        .filter(|m| in_window(&m.creation_time, &query))
        .collect();
    let (models, next) = page(models, |m| (m.creation_time.as_nanos(), m.seq), &query);
    let summaries = models
        .into_iter()
        .map(|model| {
            json!({
                "modelArn": model.arn,
                "modelName": model.name,
                "creationTime": iso(&model.creation_time),
                "instructSupported": model.instruct_supported,
                "modelArchitecture": model.architecture,
            })
        })
        .collect();
    Ok(Reply::ok(list_body("modelSummaries", summaries, next)))
}

/// DeleteImportedModel.
pub(super) fn delete_model(shared: &Shared, identifier: &str) -> Result<Reply, ApiError> {
    validate::label("DeleteImportedModel", "modelIdentifier", identifier)?;
    let mut state = shared.state.lock().unwrap();
    let index = state
        .model_index(identifier)
        .ok_or_else(|| model_not_found(identifier))?;
    state.models.remove(index);
    Ok(Reply::ok(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_keys_become_key_arns() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let arn = format!("arn:aws:kms:eu-west-1:111122223333:key/{id}");
        assert_eq!(kms_key_arn(&arn, "us-east-1", "123456789012"), arn);
        assert_eq!(
            kms_key_arn(id, "us-east-1", "123456789012"),
            format!("arn:aws:kms:us-east-1:123456789012:key/{id}")
        );
        let alias = kms_key_arn("alias/cmi", "us-east-1", "123456789012");
        assert!(alias.starts_with("arn:aws:kms:us-east-1:123456789012:key/"));
        assert_eq!(alias.len() - alias.rfind('/').unwrap() - 1, 36);
        assert_eq!(alias, kms_key_arn("alias/cmi", "us-east-1", "123456789012"));
        let alias_arn = kms_key_arn(
            "arn:aws:kms:eu-west-1:111122223333:alias/cmi",
            "us-east-1",
            "123456789012",
        );
        assert!(alias_arn.starts_with("arn:aws:kms:eu-west-1:111122223333:key/"));
    }

    #[test]
    fn times_are_iso8601_with_milliseconds() {
        let time = DateTime::from_millis(1_700_000_000_123);
        assert_eq!(iso(&time), "2023-11-14T22:13:20.123Z");
    }
}
