//! Input validation in the service's style, from the vendored botocore model
//! ([`super::model`]) alone: each operation's input shape says which members are required,
//! and each member's shape its type, lengths, pattern, enum values, range, list sizes and
//! union rule.

use std::collections::{BTreeMap, VecDeque};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{Map, Value};

use super::model::{model, Shape};
use super::service::ApiError;
use super::JobStatus;

/// A tag of `jobTags` or `importedModelTags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tag {
    pub key: String,
    pub value: String,
}

/// A CreateModelImportJob request that passed validation.
#[derive(Debug, Clone, PartialEq)]
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

fn serialization(message: String) -> ApiError {
    ApiError::serialization(message)
}

/// The raw input of one request: path labels, query parameters and body.
pub(super) struct Raw<'a> {
    /// Decoded path labels, by label name.
    pub labels: &'a [(&'a str, &'a str)],
    /// Decoded query parameters.
    pub query: &'a BTreeMap<String, String>,
    /// The body as received.
    pub body: &'a [u8],
}

/// `between`, `greater than or equal to` or `less than or equal to`, as the service words a
/// length or value bound.
fn bound(kind: &str, min: Option<i64>, max: Option<i64>) -> Option<String> {
    match (min, max) {
        (Some(min), Some(max)) => Some(format!("Member must have {kind} between {min} and {max}")),
        (Some(min), None) => Some(format!(
            "Member must have {kind} greater than or equal to {min}"
        )),
        (None, Some(max)) => Some(format!(
            "Member must have {kind} less than or equal to {max}"
        )),
        (None, None) => None,
    }
}

fn outside(n: i64, min: Option<i64>, max: Option<i64>) -> bool {
    min.is_some_and(|min| n < min) || max.is_some_and(|max| n > max)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What a value of this shape must be on the wire, for the serialization error.
fn expected(shape: &Shape) -> &'static str {
    match shape.kind.as_str() {
        "structure" => "an object",
        "list" => "a list",
        "string" => "a string",
        "integer" | "long" => "an integer",
        "boolean" => "a boolean",
        "timestamp" => "a timestamp",
        _ => "a value",
    }
}

/// A value of `shape`, `at`, has the JSON type the shape needs (members and items too).
/// `null` stands for an absent member.
fn types(shape: &Shape, value: &Value, at: &str) -> Result<(), ApiError> {
    let model = model();
    let fits = match (shape.kind.as_str(), value) {
        (_, Value::Null) => true,
        ("structure", Value::Object(object)) => {
            for (name, member) in &shape.members {
                if let Some(inner) = object.get(name) {
                    types(model.shape(&member.shape), inner, &format!("{at}.{name}"))?;
                }
            }
            true
        }
        ("list", Value::Array(items)) => {
            if let Some(member) = &shape.member {
                let member = model.shape(&member.shape);
                for (index, item) in items.iter().enumerate() {
                    types(member, item, &format!("{at}.{}.member", index + 1))?;
                }
            }
            true
        }
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
        ("integer" | "long", Value::Number(n)) => n.is_i64(),
        ("timestamp", Value::String(_) | Value::Number(_)) => true,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(serialization(format!(
            "Expected {} for '{at}', found {value}",
            expected(shape)
        )))
    }
}

/// `name` of an object, `None` when absent or `null`.
fn present<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

/// Every structure under `value` (itself included), breadth first: outer before inner, each
/// level in the model's member order.
fn structures<'a>(
    shape: &'a Shape,
    value: &'a Value,
) -> Vec<(&'a Shape, &'a Map<String, Value>, String)> {
    let model = model();
    let mut found = Vec::new();
    let mut queue = VecDeque::from([(shape, value, String::new())]);
    while let Some((shape, value, at)) = queue.pop_front() {
        match (shape.kind.as_str(), value) {
            ("structure", Value::Object(object)) => {
                for (name, member) in &shape.members {
                    if let Some(inner) = present(object, name) {
                        queue.push_back((model.shape(&member.shape), inner, join(&at, name)));
                    }
                }
                found.push((shape, object, at));
            }
            ("list", Value::Array(items)) => {
                if let Some(member) = &shape.member {
                    let member = model.shape(&member.shape);
                    for (index, item) in items.iter().enumerate() {
                        queue.push_back((member, item, format!("{at}.{}.member", index + 1)));
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Lengths, patterns, enum values, ranges and timestamp formats of every scalar under
/// `value`, depth first in the model's member order.
fn scalars(shape_name: &str, value: &Value, at: &str, violations: &mut Violations) {
    let model = model();
    let shape = model.shape(shape_name);
    match value {
        Value::Object(object) if shape.kind == "structure" => {
            for (name, member) in &shape.members {
                if let Some(inner) = present(object, name) {
                    scalars(&member.shape, inner, &join(at, name), violations);
                }
            }
        }
        Value::Array(items) if shape.kind == "list" => {
            if let Some(member) = &shape.member {
                for (index, item) in items.iter().enumerate() {
                    let item_at = format!("{at}.{}.member", index + 1);
                    scalars(&member.shape, item, &item_at, violations);
                }
            }
        }
        Value::String(text) if shape.kind == "string" => {
            let length = count(text.chars().count());
            if outside(length, shape.min, shape.max) {
                if let Some(rule) = bound("length", shape.min, shape.max) {
                    violations.push(format!(
                        "Value '{text}' at '{at}' failed to satisfy constraint: {rule}"
                    ));
                }
            } else if let (Some(pattern), Some(regex)) = (&shape.pattern, model.pattern(shape_name))
            {
                if !regex.is_match(text) {
                    violations.push(format!(
                        "Value '{text}' at '{at}' failed to satisfy constraint: Member must \
                         satisfy regular expression pattern: {pattern}"
                    ));
                }
            }
            if let Some(values) = &shape.values {
                if !values.iter().any(|v| v == text) {
                    violations.push(format!(
                        "Value '{text}' at '{at}' failed to satisfy constraint: Member must \
                         satisfy enum value set: [{}]",
                        values.join(", ")
                    ));
                }
            }
        }
        Value::String(text)
            if shape.kind == "timestamp"
                && DateTime::from_str(text, Format::DateTimeWithOffset).is_err() =>
        {
            violations.push(format!(
                "Value '{text}' at '{at}' failed to satisfy constraint: Member must be a \
                 timestamp in ISO 8601 format"
            ));
        }
        Value::Number(number) if matches!(shape.kind.as_str(), "integer" | "long") => {
            let n = number.as_i64().unwrap_or(i64::MAX);
            if shape.min.is_some_and(|min| n < min) {
                if let Some(rule) = bound("value", shape.min, None) {
                    violations.push(format!(
                        "Value '{n}' at '{at}' failed to satisfy constraint: {rule}"
                    ));
                }
            } else if shape.max.is_some_and(|max| n > max) {
                if let Some(rule) = bound("value", None, shape.max) {
                    violations.push(format!(
                        "Value '{n}' at '{at}' failed to satisfy constraint: {rule}"
                    ));
                }
            }
        }
        _ => {}
    }
}

/// Item counts of every list under `value`, depth first in the model's member order.
fn lists(shape_name: &str, value: &Value, at: &str, violations: &mut Violations) {
    let model = model();
    let shape = model.shape(shape_name);
    match value {
        Value::Object(object) if shape.kind == "structure" => {
            for (name, member) in &shape.members {
                if let Some(inner) = present(object, name) {
                    lists(&member.shape, inner, &join(at, name), violations);
                }
            }
        }
        Value::Array(items) if shape.kind == "list" => {
            let n = items.len();
            if outside(count(n), shape.min, shape.max) {
                if let Some(rule) = bound("length", shape.min, shape.max) {
                    violations.push(format!(
                        "Value with {n} items at '{at}' failed to satisfy constraint: {rule}"
                    ));
                }
            }
            if let Some(member) = &shape.member {
                for (index, item) in items.iter().enumerate() {
                    let item_at = format!("{at}.{}.member", index + 1);
                    lists(&member.shape, item, &item_at, violations);
                }
            }
        }
        _ => {}
    }
}

/// The body as a JSON object; an empty body is `{}`.
fn body_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(serialization(
            "The request body must be a JSON object".to_string(),
        )),
        Err(e) => Err(serialization(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

/// `operation`'s input from `raw`: body members, path labels and query parameters under
/// their member names, with the types of their shapes, and the violations of its
/// constraints, in the order the emulator reports them (required members, outer to inner;
/// then lengths, patterns, enum values and ranges, member by member; then unions; then list
/// sizes). A body or parameter that cannot be read as its shape's type is a
/// SerializationException, not a violation.
fn check(operation: &str, raw: &Raw<'_>) -> Result<(Map<String, Value>, Violations), ApiError> {
    let model = model();
    let Some(input) = &model.operation(operation).input else {
        return Ok((Map::new(), Violations::default()));
    };
    let shape_name = input.shape.as_str();
    let shape = model.shape(shape_name);
    let mut object = if shape.members.iter().any(|(_, m)| m.location.is_none()) {
        body_object(raw.body)?
    } else {
        Map::new()
    };
    for (name, member) in &shape.members {
        let bound_to = member.location_name.as_deref().unwrap_or(name);
        let text = match member.location.as_deref() {
            Some("uri") => raw
                .labels
                .iter()
                .find(|(label, _)| *label == bound_to)
                .map(|(_, value)| *value),
            Some("querystring") => raw.query.get(bound_to).map(String::as_str),
            _ => continue,
        };
        let Some(text) = text else { continue };
        let value = match model.shape(&member.shape).kind.as_str() {
            "integer" | "long" => Value::from(text.parse::<i64>().map_err(|_| {
                serialization(format!("Value '{text}' at '{name}' is not an integer"))
            })?),
            "boolean" => Value::from(text.parse::<bool>().map_err(|_| {
                serialization(format!("Value '{text}' at '{name}' is not a boolean"))
            })?),
            _ => Value::from(text),
        };
        object.insert(name.clone(), value);
    }
    let value = Value::Object(object);
    for (name, member) in &shape.members {
        if let Some(inner) = value.get(name) {
            types(model.shape(&member.shape), inner, name)?;
        }
    }

    let mut violations = Violations::default();
    let found = structures(shape, &value);
    for (structure, members, at) in &found {
        for required in &structure.required {
            if present(members, required).is_none() {
                violations.push(format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    join(at, required)
                ));
            }
        }
    }
    scalars(shape_name, &value, "", &mut violations);
    for (structure, members, at) in &found {
        if !structure.union {
            continue;
        }
        let declared: Vec<&str> = structure.members.iter().map(|(n, _)| n.as_str()).collect();
        let set: Vec<&str> = members
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.as_str())
            .collect();
        if set.len() != 1 || !declared.contains(&set[0]) {
            let which = match declared[..] {
                [only] => only.to_string(),
                _ => format!("one of [{}]", declared.join(", ")),
            };
            let members = if set.is_empty() {
                "none".to_string()
            } else {
                set.join(", ")
            };
            violations.push(format!(
                "Value at '{at}' failed to satisfy constraint: Member must have exactly one \
                 member set, which must be {which}; members set: {members}"
            ));
        }
    }
    lists(shape_name, &value, "", &mut violations);
    let object = match value {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    Ok((object, violations))
}

fn text(object: &Map<String, Value>, name: &str) -> Option<String> {
    present(object, name)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn tags(object: &Map<String, Value>, name: &str) -> Vec<Tag> {
    present(object, name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .map(|tag| Tag {
                    key: text(tag, "key").unwrap_or_default(),
                    value: text(tag, "value").unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Parses and validates a CreateModelImportJob body.
pub(super) fn create_request(body: &[u8]) -> Result<CreateRequest, ApiError> {
    let raw = Raw {
        labels: &[],
        query: &BTreeMap::new(),
        body,
    };
    let (request, violations) = check("CreateModelImportJob", &raw)?;
    violations.into_result()?;
    let source = present(&request, "modelDataSource").cloned();
    let s3_uri = source
        .as_ref()
        .and_then(|s| s.get("s3DataSource")?.get("s3Uri")?.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(CreateRequest {
        job_name: text(&request, "jobName").unwrap_or_default(),
        imported_model_name: text(&request, "importedModelName").unwrap_or_default(),
        role_arn: text(&request, "roleArn").unwrap_or_default(),
        model_data_source: source.unwrap_or(Value::Null),
        s3_uri,
        job_tags: tags(&request, "jobTags"),
        imported_model_tags: tags(&request, "importedModelTags"),
        client_request_token: text(&request, "clientRequestToken"),
        vpc_config: present(&request, "vpcConfig").cloned(),
        kms_key_id: text(&request, "importedModelKmsKeyId"),
    })
}

/// Validates the path label `label` of `operation` (GetModelImportJob's `jobIdentifier`,
/// GetImportedModel's and DeleteImportedModel's `modelIdentifier`).
pub(super) fn label(operation: &str, label: &str, value: &str) -> Result<(), ApiError> {
    let raw = Raw {
        labels: &[(label, value)],
        query: &BTreeMap::new(),
        body: &[],
    };
    let (_, violations) = check(operation, &raw)?;
    violations.into_result()
}

/// The two list operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listing {
    Jobs,
    Models,
}

impl Listing {
    fn operation(self) -> &'static str {
        match self {
            Listing::Jobs => "ListModelImportJobs",
            Listing::Models => "ListImportedModels",
        }
    }
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

/// Parses and validates the query of ListModelImportJobs or ListImportedModels. Parameters
/// the operation's input does not bind are ignored.
pub(super) fn list_query(
    listing: Listing,
    query: &BTreeMap<String, String>,
) -> Result<ListQuery, ApiError> {
    let raw = Raw {
        labels: &[],
        query,
        body: &[],
    };
    let (input, mut violations) = check(listing.operation(), &raw)?;
    let time = |name: &str| {
        text(&input, name)
            .and_then(|t| DateTime::from_str(&t, Format::DateTimeWithOffset).ok())
            .map(|t| t.as_nanos())
    };
    let mut parsed = ListQuery {
        created_after: time("creationTimeAfter"),
        created_before: time("creationTimeBefore"),
        status: text(&input, "statusEquals").and_then(|s| JobStatus::parse(&s)),
        name_contains: text(&input, "nameContains"),
        max_results: present(&input, "maxResults")
            .and_then(Value::as_i64)
            .and_then(|n| usize::try_from(n).ok()),
        offset: 0,
        ascending: text(&input, "sortOrder").as_deref() == Some("Ascending"),
    };
    // The service's own rule, beyond the model's: a token is one a previous call returned.
    let malformed = violations.0.iter().any(|v| v.contains(" at 'nextToken' "));
    if let Some(token) = text(&input, "nextToken").filter(|_| !malformed) {
        match parse_token(&token) {
            Some(offset) => parsed.offset = offset,
            None => violations.push(format!(
                "Value '{token}' at 'nextToken' failed to satisfy constraint: Member must be a \
                 pagination token returned by a previous call"
            )),
        }
    }
    violations.into_result()?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn message(error: ApiError) -> String {
        assert_eq!(error.name, "ValidationException", "{error:?}");
        error.message
    }

    #[test]
    fn list_members_are_reported_at_their_paths() {
        let body = format!(
            r#"{{"jobName":"j","importedModelName":"m","roleArn":"arn:aws:iam::123456789012:role/r",
            "modelDataSource":{{"s3DataSource":{{"s3Uri":"s3://models/m/"}}}},
            "jobTags":[{{"key":"ok","value":"ok"}},{{"key":"no#","value":"v"}}],
            "importedModelTags":[{}]}}"#,
            vec![r#"{"key":"k","value":"v"}"#; 201].join(",")
        );
        let message = message(create_request(body.as_bytes()).unwrap_err());
        assert!(
            message.starts_with(
                "2 validation errors detected: Value 'no#' at 'jobTags.2.member.key' failed to \
                 satisfy constraint: Member must satisfy regular expression pattern: "
            ),
            "{message}"
        );
        assert!(
            message.ends_with(
                "; Value with 201 items at 'importedModelTags' failed to satisfy constraint: \
                 Member must have length between 0 and 200"
            ),
            "{message}"
        );
    }

    #[test]
    fn nested_structures_are_required_and_checked() {
        let body = r#"{"jobName":"j","importedModelName":"m","roleArn":"arn:aws:iam::123456789012:role/r",
            "modelDataSource":{"s3DataSource":{"s3Uri":"s3://models/m/"}},
            "jobTags":[{"key":"k"}],
            "vpcConfig":{"subnetIds":[],"securityGroupIds":["sg_1"]}}"#;
        let message = message(create_request(body.as_bytes()).unwrap_err());
        assert_eq!(
            message,
            "3 validation errors detected: Value null at 'jobTags.1.member.value' failed to \
             satisfy constraint: Member must not be null; Value 'sg_1' at \
             'vpcConfig.securityGroupIds.1.member' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [-0-9a-zA-Z]+; Value with 0 items at \
             'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length \
             between 1 and 16"
        );
        let wrong_type = r#"{"vpcConfig":{"subnetIds":"subnet-1"}}"#;
        let error = create_request(wrong_type.as_bytes()).unwrap_err();
        assert_eq!(error.name, "SerializationException");
        assert!(error.message.contains("'vpcConfig.subnetIds'"), "{error:?}");
    }

    #[test]
    fn identifiers_are_arns_or_names() {
        let job = |v: &str| label("GetModelImportJob", "jobIdentifier", v);
        let model = |v: &str| label("GetImportedModel", "modelIdentifier", v);
        assert!(
            job("arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcdefghijkl").is_ok()
        );
        assert!(job("my-job.v1").is_ok());
        assert!(job("my_job").is_err());
        assert!(model("my_model").is_ok());
        assert!(model("").is_err());
        assert!(
            model("arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefghijkl").is_ok()
        );
    }

    #[test]
    fn list_queries_follow_their_shapes() {
        let parsed = list_query(
            Listing::Jobs,
            &query(&[
                ("statusEquals", "Failed"),
                ("maxResults", "1000"),
                ("sortOrder", "Ascending"),
                ("creationTimeAfter", "2026-11-29T07:00:00Z"),
            ]),
        )
        .unwrap();
        assert_eq!(parsed.status, Some(JobStatus::Failed));
        assert_eq!(parsed.max_results, Some(1000));
        assert!(parsed.ascending);
        assert!(parsed.created_after.is_some());

        let message = message(
            list_query(
                Listing::Jobs,
                &query(&[
                    ("statusEquals", "Done"),
                    ("maxResults", "0"),
                    ("sortBy", "Name"),
                    ("nameContains", "a_b"),
                ]),
            )
            .unwrap_err(),
        );
        assert!(
            message.starts_with("4 validation errors detected: "),
            "{message}"
        );
        for part in [
            "Value 'Done' at 'statusEquals' failed to satisfy constraint: Member must satisfy \
             enum value set: [InProgress, Completed, Failed]",
            "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value \
             greater than or equal to 1",
            "Value 'Name' at 'sortBy'",
            "Value 'a_b' at 'nameContains'",
        ] {
            assert!(message.contains(part), "{part}\n{message}");
        }
        // ListImportedModels binds no statusEquals, and its nameContains is a model name.
        assert!(list_query(
            Listing::Models,
            &query(&[("statusEquals", "Done"), ("nameContains", "a_b")])
        )
        .is_ok());
        let error = list_query(Listing::Models, &query(&[("maxResults", "ten")])).unwrap_err();
        assert_eq!(error.name, "SerializationException");
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(parse_token(&next_token(30)), Some(30));
        assert_eq!(parse_token("nonsense"), None);
        let message =
            message(list_query(Listing::Models, &query(&[("nextToken", "nonsense")])).unwrap_err());
        assert!(message.contains("at 'nextToken'"), "{message}");
    }
}
