//! Whether a role's trust policy lets Bedrock assume the role for a model import job of the
//! hosting account: a bounded evaluator of the statements that decide it.
//!
//! The request evaluated is the one Bedrock makes (Amazon Bedrock User Guide, "Create a
//! service role for importing pre-trained models"): the service principal
//! [`BEDROCK_SERVICE_PRINCIPAL`] calls `sts:AssumeRole` with the request context
//! `aws:SourceAccount` = the hosting account and `aws:SourceArn` = the ARN of the import job,
//! `arn:P:bedrock:R:ACCOUNT:model-import-job/ID` (represented by a job id of
//! [`REPRESENTATIVE_JOB_ID`]; a condition written with wildcards must match it).
//!
//! The rules are those of the AWS IAM User Guide: "Policy evaluation logic" (an explicit
//! `Deny` wins, and without an `Allow` the request is implicitly denied), "IAM JSON policy
//! elements: Principal", "IAM JSON policy elements: Action" and "NotAction" (action names are
//! case-insensitive and take `*` and `?`), and "IAM JSON policy elements: Condition
//! operators" (several values of one key are ORed; several keys and several operators are
//! ANDed; condition key names are case-insensitive, `String*` values case-sensitive except
//! with `IgnoreCase`; `ArnEquals` and `ArnLike` compare each of the six colon-separated parts
//! of the ARN and both take `*` and `?`).
//!
//! What the evaluator does not model (set operators `ForAnyValue:`/`ForAllValues:`, other
//! operators and condition keys, policy variables, `{"AWS": "*"}`) makes the verdict
//! [`TrustVerdict::Undecided`], naming what it could not evaluate, never
//! [`TrustVerdict::Allowed`]. Like the rest of this crate it does no I/O.

use serde_json::{Map, Value};

use super::statements::BEDROCK_SERVICE_PRINCIPAL;

/// The largest trust policy evaluated, in bytes: four times the longest role trust policy IAM
/// accepts (4,096 characters, AWS IAM User Guide, "IAM and AWS STS quotas"), which bounds the
/// work of wildcard matching.
pub const MAX_TRUST_POLICY_BYTES: usize = 16 * 1024;

/// The job id of the representative import job ARN the policy is evaluated with.
pub const REPRESENTATIVE_JOB_ID: &str = "a1b2c3d4e5f6";

/// The action Bedrock calls.
const ACTION: &str = "sts:AssumeRole";
/// The condition keys that protect against the confused deputy, as AWS writes them.
const SOURCE_ACCOUNT: &str = "aws:SourceAccount";
const SOURCE_ARN: &str = "aws:SourceArn";

/// The request Bedrock makes when an import job of `account` in a Region assumes the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRequest {
    account: String,
    job_arn: String,
}

impl TrustRequest {
    /// The request of a model import job of `account` in `region` of `partition`.
    pub fn new(partition: &str, region: &str, account: &str) -> TrustRequest {
        TrustRequest {
            account: account.to_string(),
            job_arn: format!(
                "arn:{partition}:bedrock:{region}:{account}:model-import-job/{REPRESENTATIVE_JOB_ID}"
            ),
        }
    }

    /// The value of `aws:SourceAccount`: the hosting account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The value of `aws:SourceArn`: the representative import job ARN.
    pub fn job_arn(&self) -> &str {
        &self.job_arn
    }

    /// The same request from a job of another account in the same Region and partition.
    fn foreign(&self) -> TrustRequest {
        let other = if self.account == "111111111111" {
            "222222222222"
        } else {
            "111111111111"
        };
        TrustRequest {
            account: other.to_string(),
            job_arn: self.job_arn.replacen(
                &format!(":{}:model-import-job/", self.account),
                &format!(":{other}:model-import-job/"),
                1,
            ),
        }
    }

    /// The value of a condition key, by its case-insensitive name; `None` for a key the
    /// evaluator does not model.
    fn value(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case(SOURCE_ACCOUNT) {
            Some(&self.account)
        } else if key.eq_ignore_ascii_case(SOURCE_ARN) {
            Some(&self.job_arn)
        } else {
            None
        }
    }
}

/// The verdict on a trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustVerdict {
    /// Bedrock may assume the role for the job.
    Allowed {
        /// The statement that allows it: its `Sid`, or `statement #N` (from 1).
        statement: String,
        /// When the role is open to the confused-deputy problem, why.
        confused_deputy: Option<String>,
    },
    /// Bedrock may not assume the role for the job; why.
    Denied(String),
    /// The evaluator cannot decide; what it could not evaluate.
    Undecided(String),
}

/// Evaluates the trust policy `document` (JSON text) for `request`.
pub fn evaluate_trust(document: &str, request: &TrustRequest) -> TrustVerdict {
    if document.len() > MAX_TRUST_POLICY_BYTES {
        return TrustVerdict::Undecided(format!(
            "the trust policy has {} bytes, more than the {MAX_TRUST_POLICY_BYTES} evaluated",
            document.len()
        ));
    }
    let value: Value = match serde_json::from_str(document) {
        Ok(value) => value,
        Err(error) => {
            return TrustVerdict::Undecided(format!("the trust policy is not valid JSON: {error}"))
        }
    };
    let verdict = evaluate(&value, request);
    match verdict {
        Evaluation::Allowed(statements) => {
            let confused_deputy = confused_deputy(&value, &statements, request);
            TrustVerdict::Allowed {
                statement: statements
                    .into_iter()
                    .next()
                    .map(|(label, _)| label)
                    .unwrap_or_default(),
                confused_deputy,
            }
        }
        Evaluation::Denied(reason) => TrustVerdict::Denied(reason),
        Evaluation::Undecided(reason) => TrustVerdict::Undecided(reason),
    }
}

/// The outcome of [`evaluate`]: for `Allowed`, every allowing statement (label, index).
enum Evaluation {
    Allowed(Vec<(String, usize)>),
    Denied(String),
    Undecided(String),
}

/// Whether one part of a statement holds for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    Yes,
    No(String),
    Unknown(String),
}

/// All parts hold: any `No` decides (the reasons of all of them, joined), then the first
/// `Unknown`.
fn all(parts: impl IntoIterator<Item = Match>) -> Match {
    let mut unknown = None;
    let mut refused: Vec<String> = Vec::new();
    for part in parts {
        match part {
            Match::Yes => {}
            Match::No(reason) => refused.push(reason),
            Match::Unknown(reason) => {
                unknown.get_or_insert(reason);
            }
        }
    }
    if !refused.is_empty() {
        return Match::No(refused.join(" and "));
    }
    unknown.map_or(Match::Yes, Match::Unknown)
}

fn statements(document: &Value) -> Result<Vec<&Value>, String> {
    match document.get("Statement") {
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        Some(item @ Value::Object(_)) => Ok(vec![item]),
        Some(_) => Err("its Statement is neither an object nor a list".to_string()),
        None => Err("it has no Statement".to_string()),
    }
}

fn label(statement: &Value, index: usize) -> String {
    match statement.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("statement {sid}"),
        _ => format!("statement #{}", index + 1),
    }
}

fn evaluate(document: &Value, request: &TrustRequest) -> Evaluation {
    let statements = match statements(document) {
        Ok(statements) => statements,
        Err(reason) => return Evaluation::Undecided(format!("the trust policy: {reason}")),
    };
    let mut allowed = Vec::new();
    let mut undecided_deny = None;
    let mut undecided_allow = None;
    let mut refusals = Vec::new();
    for (index, statement) in statements.into_iter().enumerate() {
        let label = label(statement, index);
        let Some(fields) = statement.as_object() else {
            return Evaluation::Undecided(format!("{label} is not an object"));
        };
        let deny = match fields.get("Effect").and_then(Value::as_str) {
            Some("Allow") => false,
            Some("Deny") => true,
            _ => {
                return Evaluation::Undecided(format!(
                    "{label}: its Effect is neither \"Allow\" nor \"Deny\""
                ))
            }
        };
        let targets = all([principal(fields), action(fields)]);
        let applies = all([targets.clone(), conditions(fields, request)]);
        match (deny, applies) {
            (true, Match::Yes) => {
                return Evaluation::Denied(format!(
                    "{label} denies {BEDROCK_SERVICE_PRINCIPAL} {ACTION} for this import job (an explicit Deny wins)"
                ))
            }
            (false, Match::Yes) => allowed.push((label, index)),
            (true, Match::Unknown(reason)) => {
                undecided_deny.get_or_insert(format!("{label}: {reason}"));
            }
            (false, Match::Unknown(reason)) => {
                undecided_allow.get_or_insert(format!("{label}: {reason}"));
            }
            (false, Match::No(reason)) if targets == Match::Yes => {
                refusals.push(format!("{label} allows it only if {reason}"));
            }
            (_, Match::No(_)) => {}
        }
    }
    // A Deny that may apply withholds any Allow; an Allow that may apply matters without one.
    if let Some(reason) = undecided_deny {
        return Evaluation::Undecided(reason);
    }
    if !allowed.is_empty() {
        return Evaluation::Allowed(allowed);
    }
    if let Some(reason) = undecided_allow {
        return Evaluation::Undecided(reason);
    }
    if refusals.is_empty() {
        Evaluation::Denied(format!(
            "no statement allows {BEDROCK_SERVICE_PRINCIPAL} to call {ACTION}"
        ))
    } else {
        Evaluation::Denied(refusals.join("; "))
    }
}

/// The strings of a value written as one string or a list of strings.
fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(text) => Some(vec![text.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Whether `Principal` (or, inverted, `NotPrincipal`) covers the Bedrock service principal.
fn principal(fields: &Map<String, Value>) -> Match {
    match (fields.get("Principal"), fields.get("NotPrincipal")) {
        (Some(value), None) => names_bedrock(value),
        (None, Some(value)) => match names_bedrock(value) {
            Match::Yes => Match::No(format!(
                "its NotPrincipal excludes {BEDROCK_SERVICE_PRINCIPAL}"
            )),
            Match::No(_) => Match::Yes,
            unknown => unknown,
        },
        _ => Match::Unknown("it needs exactly one of Principal and NotPrincipal".to_string()),
    }
}

/// Whether a principal block names the Bedrock service principal (AWS IAM User Guide, "AWS
/// JSON policy elements: Principal": `"*"` is every principal; a service is named exactly,
/// without wildcards; for `{"AWS": "*"}` that page lists accounts, users, role sessions and
/// federated users, not services, so whether it covers one is left undecided).
fn names_bedrock(value: &Value) -> Match {
    let map = match value {
        Value::String(star) if star == "*" => return Match::Yes,
        Value::Object(map) => map,
        _ => {
            return Match::Unknown(format!(
                "the principal {value} is not an IAM principal form"
            ))
        }
    };
    let mut parts = Vec::new();
    for (kind, names) in map {
        let Some(names) = strings(names) else {
            return Match::Unknown(format!(
                "the {kind} principal is not a string or a list of strings"
            ));
        };
        let part = match kind.as_str() {
            "Service" if names.contains(&BEDROCK_SERVICE_PRINCIPAL) => Match::Yes,
            "Service" => match names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(BEDROCK_SERVICE_PRINCIPAL) || n.contains('*'))
            {
                Some(name) => Match::Unknown(format!(
                    "the service principal {name:?} is not written {BEDROCK_SERVICE_PRINCIPAL:?}"
                )),
                None => Match::No(String::new()),
            },
            "AWS" if names.contains(&"*") => Match::Unknown(
                "whether {\"AWS\": \"*\"} covers a service principal is not documented".to_string(),
            ),
            "AWS" | "Federated" | "CanonicalUser" => Match::No(String::new()),
            other => Match::Unknown(format!("the principal type {other:?} is not evaluated")),
        };
        parts.push(part);
    }
    if parts.contains(&Match::Yes) {
        return Match::Yes;
    }
    match parts.into_iter().find(|p| matches!(p, Match::Unknown(_))) {
        Some(unknown) => unknown,
        None => Match::No(format!("it does not name {BEDROCK_SERVICE_PRINCIPAL}")),
    }
}

/// Whether `Action` (or, inverted, `NotAction`) covers `sts:AssumeRole`.
fn action(fields: &Map<String, Value>) -> Match {
    let (value, not) = match (fields.get("Action"), fields.get("NotAction")) {
        (Some(value), None) => (value, false),
        (None, Some(value)) => (value, true),
        _ => return Match::Unknown("it needs exactly one of Action and NotAction".to_string()),
    };
    let Some(patterns) = strings(value) else {
        return Match::Unknown("its actions are not a string or a list of strings".to_string());
    };
    let covered = patterns
        .iter()
        .any(|p| glob(&p.to_lowercase(), &ACTION.to_lowercase()));
    match (covered, not) {
        (true, false) | (false, true) => Match::Yes,
        (false, false) => Match::No(format!("its Action does not cover {ACTION}")),
        (true, true) => Match::No(format!("its NotAction covers {ACTION}")),
    }
}

/// How an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Equals,
    EqualsIgnoreCase,
    Like,
    Arn,
}

/// `Condition`: every operator and every key holds (AND), each key for any of its values (OR).
fn conditions(fields: &Map<String, Value>, request: &TrustRequest) -> Match {
    let Some(block) = fields.get("Condition") else {
        return Match::Yes;
    };
    let Some(operators) = block.as_object() else {
        return Match::Unknown("its Condition is not an object".to_string());
    };
    let mut parts = Vec::new();
    for (operator, keys) in operators {
        let Some(keys) = keys.as_object() else {
            return Match::Unknown(format!("its condition {operator} is not an object"));
        };
        for (key, values) in keys {
            parts.push(condition(operator, key, values, request));
        }
    }
    all(parts)
}

fn condition(operator: &str, key: &str, values: &Value, request: &TrustRequest) -> Match {
    if operator.contains(':') {
        return Match::Unknown(format!(
            "the set operator {operator} (on {key}) is not evaluated"
        ));
    }
    // The keys evaluated are always present, so `...IfExists` is the operator itself.
    let base = operator.strip_suffix("IfExists").unwrap_or(operator);
    let (compare, negated) = match base {
        "StringEquals" => (Compare::Equals, false),
        "StringNotEquals" => (Compare::Equals, true),
        "StringEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, true),
        "StringLike" => (Compare::Like, false),
        "StringNotLike" => (Compare::Like, true),
        "ArnEquals" | "ArnLike" => (Compare::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Compare::Arn, true),
        "Null" => return null(key, values, request),
        _ => {
            return Match::Unknown(format!(
                "the condition operator {operator} (on {key}) is not evaluated"
            ))
        }
    };
    let Some(actual) = request.value(key) else {
        return Match::Unknown(format!(
            "the condition key {key} ({operator}) is not evaluated: what Bedrock sends for it is not documented"
        ));
    };
    let Some(expected) = scalars(values) else {
        return Match::Unknown(format!("the values of {operator} {key} are not strings"));
    };
    if let Some(variable) = expected.iter().find(|v| v.contains("${")) {
        return Match::Unknown(format!(
            "the policy variable in {operator} {key} {variable:?} is not evaluated"
        ));
    }
    let mut any = false;
    for pattern in &expected {
        let hit = match compare {
            Compare::Equals => pattern == actual,
            Compare::EqualsIgnoreCase => pattern.to_lowercase() == actual.to_lowercase(),
            Compare::Like => glob(pattern, actual),
            Compare::Arn => match arn_matches(pattern, actual) {
                Some(hit) => hit,
                None => {
                    return Match::Unknown(format!(
                        "{operator} {key} {pattern:?} is not an ARN of six colon-separated parts"
                    ))
                }
            },
        };
        any |= hit;
    }
    if any != negated {
        return Match::Yes;
    }
    let name = if key.eq_ignore_ascii_case(SOURCE_ACCOUNT) {
        SOURCE_ACCOUNT
    } else {
        SOURCE_ARN
    };
    let subject = if name == SOURCE_ACCOUNT {
        format!("this import runs in {actual}")
    } else {
        format!("this import job is {actual}")
    };
    let must = if negated { "must not be" } else { "is" };
    Match::No(format!(
        "{name} {must} {} ({operator}), but {subject}",
        expected.join(" or ")
    ))
}

/// `Null`: `"true"` holds when the key is absent, `"false"` when present; the keys evaluated
/// are present.
fn null(key: &str, values: &Value, request: &TrustRequest) -> Match {
    if request.value(key).is_none() {
        return Match::Unknown(format!(
            "the condition key {key} (Null) is not evaluated: what Bedrock sends for it is not documented"
        ));
    }
    match scalars(values).as_deref() {
        Some([value]) if value == "false" => Match::Yes,
        Some([value]) if value == "true" => Match::No(format!("{key} is absent (Null)")),
        _ => Match::Unknown(format!(
            "the value of Null {key} is not \"true\" or \"false\""
        )),
    }
}

/// Condition values: strings, or numbers and booleans, which IAM compares as their text.
fn scalars(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

/// `ArnEquals`/`ArnLike`: each of the six colon-separated parts matched on its own, with
/// wildcards, case-sensitively; `None` when the pattern has fewer than six parts.
fn arn_matches(pattern: &str, arn: &str) -> Option<bool> {
    let patterns: Vec<&str> = pattern.splitn(6, ':').collect();
    if patterns.len() < 6 {
        return None;
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    Some(parts.len() == 6 && patterns.iter().zip(&parts).all(|(p, a)| glob(p, a)))
}

/// Case-sensitive match with `*` (any run of characters) and `?` (one character). Linear in
/// the text for each star of the pattern: at most `pattern.len() * text.len()` steps.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Why an allowed request is open to the confused-deputy problem, if it is: an allowing
/// statement without both `aws:SourceAccount` and `aws:SourceArn` conditions, or a policy
/// that lets another account's import job in as well.
fn confused_deputy(
    document: &Value,
    allowing: &[(String, usize)],
    request: &TrustRequest,
) -> Option<String> {
    let statements = statements(document).ok()?;
    for (label, index) in allowing {
        let keys: Vec<String> = statements
            .get(*index)
            .and_then(|s| s.get("Condition"))
            .and_then(Value::as_object)
            .map(|operators| {
                operators
                    .values()
                    .filter_map(Value::as_object)
                    .flat_map(|keys| keys.keys().map(|k| k.to_lowercase()))
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&str> = [SOURCE_ACCOUNT, SOURCE_ARN]
            .into_iter()
            .filter(|k| !keys.contains(&k.to_lowercase()))
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "{label} lets {BEDROCK_SERVICE_PRINCIPAL} in without a {} condition: the role works, but is open to the confused-deputy problem (a job of another account could use it)",
                missing.join(" and ")
            ));
        }
    }
    let foreign = request.foreign();
    if let Evaluation::Allowed(statements) = evaluate(document, &foreign) {
        let label = statements
            .first()
            .map(|(label, _)| label.as_str())
            .unwrap_or_default();
        return Some(format!(
            "{label} also lets in a model import job of account {}: the role works, but is open to the confused-deputy problem",
            foreign.account
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    const HOST: &str = "444455556666";
    const OTHER: &str = "111122223333";

    fn request() -> TrustRequest {
        TrustRequest::new("aws", "us-east-1", HOST)
    }

    fn verdict(statements: Value) -> TrustVerdict {
        let document = json!({"Version": "2012-10-17", "Statement": statements});
        evaluate_trust(&document.to_string(), &request())
    }

    fn bedrock(extra: Value) -> Value {
        let mut statement = json!({
            "Sid": "Bedrock",
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": HOST},
                "ArnEquals": {"aws:SourceArn": format!("arn:aws:bedrock:us-east-1:{HOST}:model-import-job/*")}
            }
        });
        if let (Some(into), Some(from)) = (statement.as_object_mut(), extra.as_object()) {
            for (key, value) in from {
                if value.is_null() {
                    into.remove(key);
                } else {
                    into.insert(key.clone(), value.clone());
                }
            }
        }
        statement
    }

    fn with_condition(condition: Value) -> TrustVerdict {
        verdict(json!([bedrock(json!({"Condition": condition}))]))
    }

    fn assert_allowed(verdict: TrustVerdict) {
        assert!(
            matches!(
                verdict,
                TrustVerdict::Allowed {
                    confused_deputy: None,
                    ..
                }
            ),
            "{verdict:?}"
        );
    }

    fn assert_warned(verdict: TrustVerdict) {
        assert!(
            matches!(
                verdict,
                TrustVerdict::Allowed {
                    confused_deputy: Some(_),
                    ..
                }
            ),
            "{verdict:?}"
        );
    }

    fn assert_denied(verdict: TrustVerdict, needle: &str) {
        match &verdict {
            TrustVerdict::Denied(reason) if reason.contains(needle) => {}
            _ => panic!("want Denied with {needle:?}: {verdict:?}"),
        }
    }

    fn assert_undecided(verdict: TrustVerdict, needle: &str) {
        match &verdict {
            TrustVerdict::Undecided(reason) if reason.contains(needle) => {}
            _ => panic!("want Undecided with {needle:?}: {verdict:?}"),
        }
    }

    #[test]
    fn the_statement_policy_writes_is_allowed_without_warning() {
        let inputs = crate::policy::PolicyInputs {
            bucket: "models".into(),
            prefix: None,
            bucket_account: OTHER.into(),
            hosting_account: HOST.into(),
            region: "us-east-1".into(),
            role_name: "cmi".into(),
            source_kms_key_arn: None,
            hosting_kms_key_arn: None,
            importer_arn: None,
        }
        .validate()
        .unwrap();
        let document = crate::policy::trust_policy(&inputs);
        let text = crate::policy::render(&document);
        let verdict = evaluate_trust(&text, &request());
        assert_eq!(
            verdict,
            TrustVerdict::Allowed {
                statement: "statement CmiBedrockAssumeImportRole".into(),
                confused_deputy: None
            }
        );
        // The same policy does not let a job of another account in.
        let other = TrustRequest::new("aws", "us-east-1", OTHER);
        assert_denied(
            evaluate_trust(&text, &other),
            "this import runs in 111122223333",
        );
        assert_allowed(verdict_of(&text));
    }

    fn verdict_of(text: &str) -> TrustVerdict {
        evaluate_trust(text, &request())
    }

    #[test]
    fn another_account_in_source_account_is_denied_with_the_reason() {
        let verdict = with_condition(json!({"StringEquals": {"aws:SourceAccount": OTHER}}));
        assert_denied(
            verdict,
            "statement Bedrock allows it only if aws:SourceAccount is 111122223333 (StringEquals), but this import runs in 444455556666",
        );
        let verdict = with_condition(
            json!({"ArnLike": {"aws:SourceArn": format!("arn:aws:bedrock:us-east-1:{OTHER}:model-import-job/*")}}),
        );
        assert_denied(verdict, "this import job is arn:aws:bedrock:us-east-1:444455556666:model-import-job/a1b2c3d4e5f6");
        let verdict = with_condition(
            json!({"ArnEquals": {"aws:SourceArn": format!("arn:aws:bedrock:eu-west-1:{HOST}:model-import-job/*")}}),
        );
        assert_denied(verdict, "aws:SourceArn is");
    }

    #[test]
    fn explicit_deny_wins_and_no_allow_is_an_implicit_deny() {
        let deny = json!({"Sid": "NoBedrock", "Effect": "Deny", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:*"});
        assert_denied(
            verdict(json!([bedrock(json!({})), deny])),
            "statement NoBedrock denies",
        );
        let deny_other = json!({"Effect": "Deny", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"StringNotEquals": {"aws:SourceAccount": HOST}}});
        assert_allowed(verdict(json!([bedrock(json!({})), deny_other])));
        let deny_all = json!({"Effect": "Deny", "Principal": "*", "Action": "*"});
        assert_denied(
            verdict(json!([bedrock(json!({})), deny_all])),
            "statement #2 denies",
        );
        let only_aws = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"});
        assert_denied(verdict(json!([only_aws])), "no statement allows");
        assert_denied(verdict(json!([])), "no statement allows");
    }

    #[test]
    fn actions_as_string_list_wildcard_any_case_and_not_action() {
        assert_allowed(verdict(json!([bedrock(
            json!({"Action": ["sts:TagSession", "sts:AssumeRole"]})
        )])));
        assert_allowed(verdict(json!([bedrock(json!({"Action": "sts:*"}))])));
        assert_allowed(verdict(json!([bedrock(json!({"Action": "*"}))])));
        assert_allowed(verdict(json!([bedrock(
            json!({"Action": "STS:assumerole"})
        )])));
        assert_allowed(verdict(json!([bedrock(
            json!({"Action": "sts:Assume????"})
        )])));
        assert_denied(
            verdict(json!([bedrock(
                json!({"Action": "sts:AssumeRoleWithSAML"})
            )])),
            "no statement allows",
        );
        assert_allowed(verdict(json!([bedrock(
            json!({"Action": null, "NotAction": "s3:*"})
        )])));
        assert_denied(
            verdict(json!([bedrock(
                json!({"Action": null, "NotAction": "sts:*"})
            )])),
            "no statement allows",
        );
        let deny_not = json!({"Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject"});
        assert_denied(verdict(json!([bedrock(json!({})), deny_not])), "denies");
        assert_undecided(
            verdict(json!([bedrock(json!({"Action": null}))])),
            "Action and NotAction",
        );
    }

    #[test]
    fn principal_forms() {
        assert_allowed(verdict(json!([bedrock(
            json!({"Principal": {"Service": ["ec2.amazonaws.com", "bedrock.amazonaws.com"]}})
        )])));
        assert_allowed(verdict(json!([bedrock(
            json!({"Principal": {"AWS": "arn:aws:iam::444455556666:root", "Service": "bedrock.amazonaws.com"}})
        )])));
        assert_allowed(verdict(json!([bedrock(json!({"Principal": "*"}))])));
        assert_denied(
            verdict(json!([bedrock(
                json!({"Principal": {"Service": "sagemaker.amazonaws.com"}})
            )])),
            "no statement allows",
        );
        assert_undecided(
            verdict(json!([bedrock(json!({"Principal": {"AWS": "*"}}))])),
            "{\"AWS\": \"*\"}",
        );
        assert_undecided(
            verdict(json!([bedrock(
                json!({"Principal": {"Service": "Bedrock.amazonaws.com"}})
            )])),
            "Bedrock.amazonaws.com",
        );
        assert_undecided(
            verdict(json!([bedrock(
                json!({"Principal": {"Service": "*.amazonaws.com"}})
            )])),
            "*.amazonaws.com",
        );
        // NotPrincipal: everyone but the ones named.
        assert_allowed(verdict(json!([bedrock(
            json!({"Principal": null, "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:root"}})
        )])));
        assert_denied(
            verdict(json!([bedrock(
                json!({"Principal": null, "NotPrincipal": {"Service": "bedrock.amazonaws.com"}})
            )])),
            "no statement allows",
        );
        let deny_others = json!({"Effect": "Deny", "NotPrincipal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"});
        assert_allowed(verdict(json!([bedrock(json!({})), deny_others])));
        let deny_all_but = json!({"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"});
        assert_denied(verdict(json!([bedrock(json!({})), deny_all_but])), "denies");
        assert_undecided(
            verdict(json!([bedrock(json!({"Principal": null}))])),
            "Principal and NotPrincipal",
        );
    }

    #[test]
    fn string_operators_and_their_case_rules() {
        assert_allowed(with_condition(json!({
            "StringEquals": {"aws:sourceaccount": HOST},
            "ArnLike": {"AWS:SOURCEARN": "arn:aws:bedrock:us-east-1:444455556666:model-import-job/*"}
        })));
        let arn = "arn:aws:bedrock:us-east-1:444455556666:model-import-job/*";
        let check = |operator: &str, account: Value| {
            with_condition(
                json!({operator: {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": arn}}),
            )
        };
        assert_allowed(check("StringLike", json!("4444555566??")));
        assert_allowed(check("StringLike", json!("4444*")));
        assert_denied(check("StringLike", json!("1111*")), "StringLike");
        assert_allowed(check("StringNotEquals", json!(OTHER)));
        assert_denied(
            check("StringNotEquals", json!([OTHER, HOST])),
            "must not be",
        );
        assert_allowed(check("StringNotLike", json!("1111*")));
        assert_denied(check("StringNotLike", json!("4444*")), "must not be");
        assert_allowed(check("StringEquals", json!([OTHER, HOST])));
        assert_allowed(check("StringEqualsIfExists", json!(HOST)));
        // A JSON number is compared as its text.
        assert_allowed(check("StringEquals", json!(444455556666u64)));
        // Values are case-sensitive, except with IgnoreCase.
        let upper = "ARN:AWS:BEDROCK:US-EAST-1:444455556666:MODEL-IMPORT-JOB/*";
        let arn_check = |operator: &str, value: &str| {
            with_condition(
                json!({"StringEquals": {"aws:SourceAccount": HOST}, operator: {"aws:SourceArn": value}}),
            )
        };
        assert_denied(arn_check("StringLike", upper), "StringLike");
        assert_allowed(arn_check("StringLike", arn));
        assert_allowed(arn_check(
            "StringEqualsIgnoreCase",
            "ARN:AWS:BEDROCK:US-EAST-1:444455556666:MODEL-IMPORT-JOB/A1B2C3D4E5F6",
        ));
        assert_denied(
            arn_check(
                "StringNotEqualsIgnoreCase",
                "ARN:AWS:BEDROCK:US-EAST-1:444455556666:MODEL-IMPORT-JOB/A1B2C3D4E5F6",
            ),
            "must not be",
        );
        // StringEquals takes no wildcards: the written pattern is not the job's ARN.
        assert_denied(arn_check("StringEquals", arn), "StringEquals");
    }

    #[test]
    fn arn_operators_match_part_by_part_with_wildcards() {
        let arn_check = |operator: &str, value: &str| {
            with_condition(
                json!({"StringEquals": {"aws:SourceAccount": HOST}, operator: {"aws:SourceArn": value}}),
            )
        };
        assert_allowed(arn_check(
            "ArnEquals",
            "arn:aws:bedrock:us-east-1:444455556666:model-import-job/*",
        ));
        assert_allowed(arn_check("ArnLike", "arn:aws:bedrock:*:444455556666:*"));
        assert_allowed(arn_check(
            "ArnLike",
            "arn:aws:bedrock:us-east-?:444455556666:model-import-job/a1b2c3d4e5f6",
        ));
        assert_denied(
            arn_check(
                "ArnLike",
                "arn:aws:bedrock:us-east-1:444455556666:custom-model/*",
            ),
            "ArnLike",
        );
        assert_denied(
            arn_check(
                "ArnEquals",
                "arn:aws:Bedrock:us-east-1:444455556666:model-import-job/*",
            ),
            "ArnEquals",
        );
        assert_allowed(arn_check(
            "ArnNotEquals",
            "arn:aws:bedrock:us-east-1:111122223333:*",
        ));
        assert_denied(
            arn_check("ArnNotLike", "arn:aws:bedrock:*:*:model-import-job/*"),
            "must not be",
        );
        assert_undecided(
            arn_check("ArnLike", "arn:aws:bedrock:*"),
            "six colon-separated parts",
        );
    }

    #[test]
    fn values_are_ored_and_keys_and_operators_are_anded() {
        let arn = format!("arn:aws:bedrock:us-east-1:{HOST}:model-import-job/*");
        assert_allowed(with_condition(
            json!({"StringEquals": {"aws:SourceAccount": [OTHER, HOST]}, "ArnLike": {"aws:SourceArn": arn}}),
        ));
        // Two keys of one operator: both must hold.
        assert_denied(
            with_condition(
                json!({"StringLike": {"aws:SourceAccount": HOST, "aws:SourceArn": "arn:aws:bedrock:*:111122223333:*"}}),
            ),
            "aws:SourceArn",
        );
        // Two operators: both must hold.
        assert_denied(
            with_condition(
                json!({"StringEquals": {"aws:SourceAccount": HOST}, "StringNotEquals": {"aws:SourceAccount": HOST}}),
            ),
            "must not be",
        );
        // A failing known condition decides even beside one that is not evaluated.
        assert_denied(
            with_condition(
                json!({"StringEquals": {"aws:SourceAccount": OTHER}, "Bool": {"aws:SecureTransport": "true"}}),
            ),
            "this import runs in 444455556666",
        );
    }

    #[test]
    fn what_is_not_evaluated_is_undecided_never_allowed() {
        let arn = format!("arn:aws:bedrock:us-east-1:{HOST}:model-import-job/*");
        let base = |extra: (&str, Value)| {
            let mut condition = json!({"StringEquals": {"aws:SourceAccount": HOST}, "ArnLike": {"aws:SourceArn": arn}});
            condition[extra.0] = extra.1;
            with_condition(condition)
        };
        assert_undecided(
            base((
                "ForAnyValue:StringEquals",
                json!({"aws:SourceAccount": HOST}),
            )),
            "ForAnyValue:StringEquals",
        );
        assert_undecided(
            base((
                "ForAllValues:StringLike",
                json!({"aws:SourceAccount": HOST}),
            )),
            "ForAllValues:StringLike",
        );
        assert_undecided(
            base(("NumericLessThan", json!({"aws:SourceAccount": "5"}))),
            "NumericLessThan",
        );
        assert_undecided(
            base((
                "StringEquals",
                json!({"aws:SourceAccount": HOST, "aws:SourceOrgID": "o-1"}),
            )),
            "aws:SourceOrgID",
        );
        assert_undecided(
            base((
                "StringLike",
                json!({"aws:SourceAccount": "${aws:PrincipalAccount}"}),
            )),
            "policy variable",
        );
        assert_undecided(
            base(("StringEquals", json!({"aws:SourceAccount": {"a": 1}}))),
            "not strings",
        );
        // An undecided Deny withholds the Allow too.
        let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}});
        assert_undecided(verdict(json!([bedrock(json!({})), deny])), "IpAddress");
        // A statement not evaluated does not matter beside a decided Deny.
        let deny_all = json!({"Effect": "Deny", "Principal": "*", "Action": "*"});
        assert_denied(
            verdict(json!([deny.clone(), deny_all])),
            "statement #2 denies",
        );
        assert_undecided(verdict_of("{"), "not valid JSON");
        assert_undecided(verdict_of("{}"), "no Statement");
        assert_undecided(
            verdict(json!([bedrock(json!({"Effect": "allow"}))])),
            "Effect",
        );
        assert_undecided(verdict_of(&" ".repeat(MAX_TRUST_POLICY_BYTES + 1)), "bytes");
    }

    #[test]
    fn null_conditions() {
        assert_warned(with_condition(
            json!({"Null": {"aws:SourceAccount": "false", "aws:SourceArn": "false"}}),
        ));
        assert_denied(
            with_condition(json!({"Null": {"aws:SourceAccount": "true"}})),
            "absent",
        );
    }

    #[test]
    fn an_allow_without_both_conditions_is_open_to_the_confused_deputy() {
        assert_warned(with_condition(json!({})));
        assert_warned(verdict(json!([bedrock(json!({"Condition": null}))])));
        assert_warned(with_condition(
            json!({"StringEquals": {"aws:SourceAccount": HOST}}),
        ));
        assert_warned(with_condition(
            json!({"ArnLike": {"aws:SourceArn": format!("arn:aws:bedrock:us-east-1:{HOST}:model-import-job/*")}}),
        ));
        // Both keys named, but loosely enough that another account's job gets in.
        let loose = with_condition(
            json!({"StringLike": {"aws:SourceAccount": "*"}, "ArnLike": {"aws:SourceArn": "arn:aws:bedrock:*:*:model-import-job/*"}}),
        );
        match loose {
            TrustVerdict::Allowed {
                confused_deputy: Some(why),
                ..
            } => {
                assert!(
                    why.contains("another account") || why.contains("account 111111111111"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        // A second, unconditioned statement opens the door the first one closed.
        let open = json!({"Sid": "Open", "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"});
        assert_warned(verdict(json!([bedrock(json!({})), open])));
    }

    #[test]
    fn glob_is_bounded_and_exact() {
        assert!(glob("a*b?c", "axxxbyc"));
        assert!(!glob("a*b?c", "axxxbc"));
        assert!(glob("*", ""));
        assert!(!glob("?", ""));
        assert!(glob("**a**", "bab"));
        let long = "*a".repeat(4000);
        assert!(!glob(&long, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
    }
}
