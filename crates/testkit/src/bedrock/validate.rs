//! Input validation in the service's style, with the constraints of [`cmi_format::cmi_api`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cmi_format::cmi_api::{self, FieldConstraint, ListConstraint};
use serde_json::{Map, Value};

use super::service::ApiError;
use super::JobStatus;

/// A tag of `jobTags` or `importedModelTags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tag {
    pub key: String,
    pub value: String,
}

/// A CreateModelImportJob request that passed validation.
#[derive(Debug, Clone)]
pub(super) struct CreateRequest {
    pub job_name: String,
    pub imported_model_name: String,
    pub role_arn: String,
    /// `modelDataSource` as received (only `s3DataSource.s3Uri`, after validation).
    pub model_data_source: Value,
    pub s3_uri: String,
    pub job_tags: Vec<Tag>,
    pub imported_model_tags: Vec<Tag>,
    pub client_request_token: Option<String>,
    /// `vpcConfig` as received.
    pub vpc_config: Option<Value>,
    pub kms_key_id: Option<String>,
}

/// Violations collected in order, reported together as the service does.
#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn null(&mut self, at: &str) {
        self.0.push(format!(
            "Value null at '{at}' failed to satisfy constraint: Member must not be null"
        ));
    }

    /// Length, then pattern, of `value` under `constraint`, reported at `at` (a list member's
    /// path such as `jobTags.1.member.key`, where the constraint's own name is generic).
    fn string(&mut self, constraint: &FieldConstraint, at: &str, value: &str) {
        if let Err(message) = constraint.validate(value) {
            self.0.push(relocate(
                &message,
                &format!("Value '{value}'"),
                constraint.field,
                at,
            ));
        }
    }

    fn list(&mut self, constraint: &ListConstraint, at: &str, count: usize) {
        if let Err(message) = constraint.validate(count) {
            self.0.push(relocate(
                &message,
                &format!("Value with {count} items"),
                constraint.field,
                at,
            ));
        }
    }

    fn push(&mut self, message: String) {
        self.0.push(message);
    }

    fn into_result(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(ApiError::validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

/// `message` (`{subject} at '{field}' ...`) with `field` replaced by `at`.
fn relocate(message: &str, subject: &str, field: &str, at: &str) -> String {
    let head = format!("{subject} at '{field}'");
    match message.strip_prefix(&head) {
        Some(rest) if field != at => format!("{subject} at '{at}'{rest}"),
        _ => message.to_string(),
    }
}

fn serialization(message: String) -> ApiError {
    ApiError::serialization(message)
}

/// A string member: absent and `null` are `None`; any other non-string is a serialization
/// error.
fn string_member(
    object: &Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(serialization(format!(
            "Expected a string for '{at}', found {other}"
        ))),
    }
}

fn object_member<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(serialization(format!(
            "Expected an object for '{at}', found {other}"
        ))),
    }
}

fn list_member<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<&'a Vec<Value>>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(serialization(format!(
            "Expected a list for '{at}', found {other}"
        ))),
    }
}

/// Tags of `name`: each `(key, value)` with `None` for a missing member.
type RawTags = Vec<(Option<String>, Option<String>)>;

fn tags_member(object: &Map<String, Value>, name: &str) -> Result<Option<RawTags>, ApiError> {
    let Some(items) = list_member(object, name, name)? else {
        return Ok(None);
    };
    let mut tags = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("{name}.{}.member", index + 1);
        let Value::Object(tag) = item else {
            return Err(serialization(format!(
                "Expected an object for '{at}', found {item}"
            )));
        };
        tags.push((
            string_member(tag, "key", &format!("{at}.key"))?,
            string_member(tag, "value", &format!("{at}.value"))?,
        ));
    }
    Ok(Some(tags))
}

fn string_list(items: &[Value], at: &str) -> Result<Vec<String>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(serialization(format!(
                "Expected a string for '{at}.{}.member', found {other}",
                index + 1
            ))),
        })
        .collect()
}

/// Parses and validates a CreateModelImportJob body.
pub(super) fn create_request(body: &[u8]) -> Result<CreateRequest, ApiError> {
    let json: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| serialization(format!("The request body is not valid JSON: {e}")))?
    };
    let Value::Object(request) = &json else {
        return Err(serialization(
            "The request body must be a JSON object".to_string(),
        ));
    };

    // Types first: a wrong JSON type is not a constraint violation.
    let job_name = string_member(request, "jobName", "jobName")?;
    let imported_model_name = string_member(request, "importedModelName", "importedModelName")?;
    let role_arn = string_member(request, "roleArn", "roleArn")?;
    let source = object_member(request, "modelDataSource", "modelDataSource")?;
    let s3_source = match source {
        Some(source) => object_member(source, "s3DataSource", "modelDataSource.s3DataSource")?,
        None => None,
    };
    let s3_uri = match s3_source {
        Some(s3) => string_member(s3, "s3Uri", "modelDataSource.s3DataSource.s3Uri")?,
        None => None,
    };
    let job_tags = tags_member(request, "jobTags")?;
    let imported_model_tags = tags_member(request, "importedModelTags")?;
    let token = string_member(request, "clientRequestToken", "clientRequestToken")?;
    let vpc = object_member(request, "vpcConfig", "vpcConfig")?;
    let (subnets, groups) = match vpc {
        Some(vpc) => (
            list_member(vpc, "subnetIds", "vpcConfig.subnetIds")?
                .map(|l| string_list(l, "vpcConfig.subnetIds"))
                .transpose()?,
            list_member(vpc, "securityGroupIds", "vpcConfig.securityGroupIds")?
                .map(|l| string_list(l, "vpcConfig.securityGroupIds"))
                .transpose()?,
        ),
        None => (None, None),
    };
    let kms_key_id = string_member(request, "importedModelKmsKeyId", "importedModelKmsKeyId")?;

    let mut violations = Violations::default();
    // 1. Required members, outer to inner.
    for (value, at) in [
        (job_name.is_some(), "jobName"),
        (imported_model_name.is_some(), "importedModelName"),
        (role_arn.is_some(), "roleArn"),
        (source.is_some(), "modelDataSource"),
    ] {
        if !value {
            violations.null(at);
        }
    }
    if s3_source.is_some() && s3_uri.is_none() {
        violations.null("modelDataSource.s3DataSource.s3Uri");
    }
    for (name, tags) in [
        ("jobTags", &job_tags),
        ("importedModelTags", &imported_model_tags),
    ] {
        for (index, (key, value)) in tags.iter().flatten().enumerate() {
            if key.is_none() {
                violations.null(&format!("{name}.{}.member.key", index + 1));
            }
            if value.is_none() {
                violations.null(&format!("{name}.{}.member.value", index + 1));
            }
        }
    }
    if vpc.is_some() {
        if subnets.is_none() {
            violations.null("vpcConfig.subnetIds");
        }
        if groups.is_none() {
            violations.null("vpcConfig.securityGroupIds");
        }
    }

    // 2 and 3. Lengths and patterns, member by member in the shape's order.
    if let Some(v) = &job_name {
        violations.string(&cmi_api::JOB_NAME, "jobName", v);
    }
    if let Some(v) = &imported_model_name {
        violations.string(&cmi_api::IMPORTED_MODEL_NAME, "importedModelName", v);
    }
    if let Some(v) = &role_arn {
        violations.string(&cmi_api::ROLE_ARN, "roleArn", v);
    }
    if let Some(v) = &s3_uri {
        violations.string(&cmi_api::S3_URI, "modelDataSource.s3DataSource.s3Uri", v);
    }
    for (name, tags) in [
        ("jobTags", &job_tags),
        ("importedModelTags", &imported_model_tags),
    ] {
        for (index, (key, value)) in tags.iter().flatten().enumerate() {
            let at = format!("{name}.{}.member", index + 1);
            if let Some(key) = key {
                violations.string(&cmi_api::TAG_KEY, &format!("{at}.key"), key);
            }
            if let Some(value) = value {
                violations.string(&cmi_api::TAG_VALUE, &format!("{at}.value"), value);
            }
        }
    }
    if let Some(v) = &token {
        violations.string(&cmi_api::CLIENT_REQUEST_TOKEN, "clientRequestToken", v);
    }
    for (constraint, at, items) in [
        (&cmi_api::SUBNET_ID, "vpcConfig.subnetIds", &subnets),
        (
            &cmi_api::SECURITY_GROUP_ID,
            "vpcConfig.securityGroupIds",
            &groups,
        ),
    ] {
        for (index, item) in items.iter().flatten().enumerate() {
            violations.string(constraint, &format!("{at}.{}.member", index + 1), item);
        }
    }
    if let Some(v) = &kms_key_id {
        violations.string(&cmi_api::KMS_KEY_ID, "importedModelKmsKeyId", v);
    }

    // 4. The union: exactly one member set, and the only member is s3DataSource.
    if let Some(source) = source {
        let set: Vec<&String> = source
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect();
        if set.len() != 1 || set[0] != "s3DataSource" {
            let members = if set.is_empty() {
                "none".to_string()
            } else {
                set.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            violations.push(format!(
                "Value at 'modelDataSource' failed to satisfy constraint: Member must have \
                 exactly one member set, which must be s3DataSource; members set: {members}"
            ));
        }
    }

    // 5. List sizes.
    for (name, tags) in [
        ("jobTags", &job_tags),
        ("importedModelTags", &imported_model_tags),
    ] {
        if let Some(tags) = tags {
            violations.list(&cmi_api::TAG_LIST, name, tags.len());
        }
    }
    if let Some(items) = &subnets {
        violations.list(&cmi_api::SUBNET_IDS, "vpcConfig.subnetIds", items.len());
    }
    if let Some(items) = &groups {
        violations.list(
            &cmi_api::SECURITY_GROUP_IDS,
            "vpcConfig.securityGroupIds",
            items.len(),
        );
    }
    violations.into_result()?;

    let tags = |raw: Option<RawTags>| -> Vec<Tag> {
        raw.unwrap_or_default()
            .into_iter()
            .map(|(key, value)| Tag {
                key: key.unwrap_or_default(),
                value: value.unwrap_or_default(),
            })
            .collect()
    };
    Ok(CreateRequest {
        job_name: job_name.unwrap_or_default(),
        imported_model_name: imported_model_name.unwrap_or_default(),
        role_arn: role_arn.unwrap_or_default(),
        model_data_source: source.cloned().map(Value::Object).unwrap_or(Value::Null),
        s3_uri: s3_uri.unwrap_or_default(),
        job_tags: tags(job_tags),
        imported_model_tags: tags(imported_model_tags),
        client_request_token: token,
        vpc_config: vpc.cloned().map(Value::Object),
        kms_key_id,
    })
}

/// `ModelImportJobIdentifier`: a job ARN or a job name (the name part is
/// [`cmi_api::JOB_NAME`]'s pattern).
fn job_identifier() -> &'static FieldConstraint {
    static CONSTRAINT: OnceLock<FieldConstraint> = OnceLock::new();
    CONSTRAINT.get_or_init(|| FieldConstraint {
        field: "jobIdentifier",
        min: 0,
        max: 1011,
        pattern: Box::leak(
            format!(
                "(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{{1,20}}:[0-9]{{12}}:model-import-job/[a-z0-9]{{12}})|({})",
                cmi_api::JOB_NAME.pattern
            )
            .into_boxed_str(),
        ),
    })
}

/// `ImportedModelIdentifier`: an imported-model ARN or a model name (the name part is
/// [`cmi_api::IMPORTED_MODEL_NAME`]'s pattern).
fn model_identifier() -> &'static FieldConstraint {
    static CONSTRAINT: OnceLock<FieldConstraint> = OnceLock::new();
    CONSTRAINT.get_or_init(|| FieldConstraint {
        field: "modelIdentifier",
        min: 1,
        max: 1011,
        pattern: Box::leak(
            format!(
                "(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{{1,20}}:[0-9]{{12}}:imported-model/[a-z0-9]{{12}})|({})",
                cmi_api::IMPORTED_MODEL_NAME.pattern
            )
            .into_boxed_str(),
        ),
    })
}

/// Validates the `jobIdentifier` label of GetModelImportJob.
pub(super) fn job_identifier_label(value: &str) -> Result<(), ApiError> {
    let mut violations = Violations::default();
    violations.string(job_identifier(), "jobIdentifier", value);
    violations.into_result()
}

/// Validates the `modelIdentifier` label of GetImportedModel and DeleteImportedModel.
pub(super) fn model_identifier_label(value: &str) -> Result<(), ApiError> {
    let mut violations = Violations::default();
    violations.string(model_identifier(), "modelIdentifier", value);
    violations.into_result()
}

/// `nameContains` of ListModelImportJobs: the `JobName` shape.
const JOB_NAME_CONTAINS: FieldConstraint = FieldConstraint {
    field: "nameContains",
    min: cmi_api::JOB_NAME.min,
    max: cmi_api::JOB_NAME.max,
    pattern: cmi_api::JOB_NAME.pattern,
};

/// `nameContains` of ListImportedModels: the `ImportedModelName` shape.
const MODEL_NAME_CONTAINS: FieldConstraint = FieldConstraint {
    field: "nameContains",
    min: cmi_api::IMPORTED_MODEL_NAME.min,
    max: cmi_api::IMPORTED_MODEL_NAME.max,
    pattern: cmi_api::IMPORTED_MODEL_NAME.pattern,
};

/// The two list operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listing {
    Jobs,
    Models,
}

/// The query of a list operation, validated.
#[derive(Debug, Clone, Default)]
pub(super) struct ListQuery {
    /// Epoch nanoseconds.
    pub created_after: Option<i128>,
    /// Epoch nanoseconds.
    pub created_before: Option<i128>,
    pub status: Option<JobStatus>,
    pub name_contains: Option<String>,
    pub max_results: Option<usize>,
    /// The offset a `nextToken` stands for.
    pub offset: usize,
    pub ascending: bool,
}

/// The `nextToken` for the page starting at `offset`.
pub(super) fn next_token(offset: usize) -> String {
    aws_smithy_types::base64::encode(format!("offset:{offset}"))
}

fn parse_token(token: &str) -> Option<usize> {
    let bytes = aws_smithy_types::base64::decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

fn enum_value(violations: &mut Violations, at: &str, value: &str, allowed: &[&str]) -> bool {
    if allowed.contains(&value) {
        return true;
    }
    violations.push(format!(
        "Value '{value}' at '{at}' failed to satisfy constraint: Member must satisfy enum value \
         set: [{}]",
        allowed.join(", ")
    ));
    false
}

/// Parses and validates the query of ListModelImportJobs or ListImportedModels.
pub(super) fn list_query(
    listing: Listing,
    query: &BTreeMap<String, String>,
) -> Result<ListQuery, ApiError> {
    let mut violations = Violations::default();
    let mut parsed = ListQuery::default();
    for (name, slot) in [
        ("creationTimeAfter", &mut parsed.created_after),
        ("creationTimeBefore", &mut parsed.created_before),
    ] {
        if let Some(text) = query.get(name) {
            match aws_smithy_types::DateTime::from_str(
                text,
                aws_smithy_types::date_time::Format::DateTimeWithOffset,
            ) {
                Ok(time) => *slot = Some(time.as_nanos()),
                Err(_) => violations.push(format!(
                    "Value '{text}' at '{name}' failed to satisfy constraint: Member must be a \
                     timestamp in ISO 8601 format"
                )),
            }
        }
    }
    if let Some(status) = query.get("statusEquals") {
        if listing == Listing::Jobs
            && enum_value(
                &mut violations,
                "statusEquals",
                status,
                &["InProgress", "Completed", "Failed"],
            )
        {
            parsed.status = JobStatus::parse(status);
        }
    }
    if let Some(name) = query.get("nameContains") {
        let constraint = match listing {
            Listing::Jobs => &JOB_NAME_CONTAINS,
            Listing::Models => &MODEL_NAME_CONTAINS,
        };
        violations.string(constraint, "nameContains", name);
        parsed.name_contains = Some(name.clone());
    }
    if let Some(text) = query.get("maxResults") {
        match text.parse::<i64>() {
            Ok(n) if n < 1 => violations.push(format!(
                "Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have \
                 value greater than or equal to 1"
            )),
            Ok(n) if n > 1000 => violations.push(format!(
                "Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have \
                 value less than or equal to 1000"
            )),
            Ok(n) => parsed.max_results = usize::try_from(n).ok(),
            Err(_) => {
                return Err(serialization(format!(
                    "Value '{text}' at 'maxResults' is not an integer"
                )))
            }
        }
    }
    if let Some(token) = query.get("nextToken") {
        match parse_token(token) {
            Some(offset) if !token.is_empty() && token.len() <= 2048 => parsed.offset = offset,
            _ => violations.push(format!(
                "Value '{token}' at 'nextToken' failed to satisfy constraint: Member must be a \
                 pagination token returned by a previous call"
            )),
        }
    }
    if let Some(sort_by) = query.get("sortBy") {
        enum_value(&mut violations, "sortBy", sort_by, &["CreationTime"]);
    }
    parsed.ascending = match query.get("sortOrder") {
        Some(order) => {
            enum_value(
                &mut violations,
                "sortOrder",
                order,
                &["Ascending", "Descending"],
            ) && order == "Ascending"
        }
        None => false,
    };
    violations.into_result()?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocates_list_member_paths() {
        let mut v = Violations::default();
        v.string(&cmi_api::TAG_KEY, "jobTags.2.member.key", "no#");
        assert!(
            v.0[0].starts_with("Value 'no#' at 'jobTags.2.member.key' failed to satisfy"),
            "{}",
            v.0[0]
        );
        v.list(&cmi_api::TAG_LIST, "importedModelTags", 201);
        assert!(v.0[1].starts_with("Value with 201 items at 'importedModelTags' failed"));
    }

    #[test]
    fn identifiers_are_arns_or_names() {
        assert!(job_identifier_label(
            "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcdefghijkl"
        )
        .is_ok());
        assert!(job_identifier_label("my-job.v1").is_ok());
        assert!(job_identifier_label("my_job").is_err());
        assert!(model_identifier_label("my_model").is_ok());
        assert!(model_identifier_label("").is_err());
        assert!(model_identifier_label(
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefghijkl"
        )
        .is_ok());
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(parse_token(&next_token(30)), Some(30));
        assert_eq!(parse_token("nonsense"), None);
    }
}
