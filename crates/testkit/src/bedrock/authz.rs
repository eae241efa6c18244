//! The opt-in permission check of the emulator ([`super::EmulatorOptions::identity_policies`]):
//! test infrastructure modelled on the AWS IAM User Guide, "Policy evaluation logic", for
//! identity policies alone. It never calls the product's code.
//!
//! - The request's caller is the access key id of its SigV4 `Credential` (already verified);
//!   its identity policy is the one given for that key. A caller without one has no
//!   permission at all.
//! - An explicit `Deny` that matches wins; otherwise one matching `Allow` is needed.
//! - A statement matches when one of its `Action` patterns matches the action (case-insensitive,
//!   `*` and `?`), one of its `Resource` patterns matches the resource (case-sensitive, `*`
//!   and `?`), and every condition holds. Conditions: `StringEquals`, `StringLike`,
//!   `ArnEquals` and `ArnLike` on the keys of the request context, which holds
//!   `aws:RequestedRegion` (the emulator's Region) and, for `iam:PassRole`,
//!   `iam:PassedToService` = `bedrock.amazonaws.com`; a key absent from the context, or any
//!   other operator, makes the condition false (so an `Allow` does not match and a `Deny` does
//!   not apply). `NotAction`, `NotResource` and `Principal` are not modelled: such a statement
//!   never matches.
//! - The requests: each operation is `bedrock:<Operation>` on the resource it names: the job
//!   or model ARN of a Get (a name is put into the ARN as the id), `*` for the List
//!   operations, and for CreateModelImportJob the ARN `model-import-job/<jobName>`, plus
//!   `iam:PassRole` on its `roleArn` (the check Bedrock makes when a role is passed, AWS IAM
//!   User Guide, "Grant a user permissions to pass a role to an AWS service"). The KMS
//!   permissions on `importedModelKmsKeyId` are not checked.
//! - A refusal is 403 `AccessDeniedException` (the error of every operation in botocore's
//!   `bedrock/2023-04-20/service-2.json`) with IAM's message: `User: ARN is not authorized to
//!   perform: ACTION on resource: RESOURCE because no identity-based policy allows the ACTION
//!   action` (or `with an explicit deny in an identity-based policy`).

use serde_json::Value;

use super::service::ApiError;

/// The identity policy of one caller, for [`super::EmulatorOptions::identity_policies`].
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityPolicy {
    /// The access key id the caller signs with.
    pub access_key_id: String,
    /// The caller's ARN, for the error messages.
    pub principal_arn: String,
    /// The policy document: `{"Version": ..., "Statement": [...]}`.
    pub policy: Value,
}

/// One request to authorize: the action, its resource and its context.
pub(super) struct Request<'a> {
    pub action: String,
    pub resource: String,
    pub context: Vec<(&'a str, String)>,
}

/// The access key id of a SigV4 `Authorization` header.
pub(super) fn access_key_id(authorization: &str) -> Option<&str> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    authorization[start..].split('/').next()
}

/// Authorizes every request for the caller with `access_key_id`, in order; the first refusal
/// is the error.
pub(super) fn authorize(
    policies: &[IdentityPolicy],
    access_key_id: &str,
    requests: &[Request<'_>],
) -> Result<(), ApiError> {
    let identity = policies.iter().find(|p| p.access_key_id == access_key_id);
    let principal = identity.map_or_else(
        || format!("(access key {access_key_id})"),
        |p| p.principal_arn.clone(),
    );
    for request in requests {
        let statements = identity.map(|p| statements(&p.policy)).unwrap_or_default();
        let matching = |effect: &str| {
            statements
                .iter()
                .any(|s| s["Effect"] == effect && matches(s, request))
        };
        let why = if matching("Deny") {
            "with an explicit deny in an identity-based policy".to_string()
        } else if matching("Allow") {
            continue;
        } else {
            format!(
                "because no identity-based policy allows the {} action",
                request.action
            )
        };
        return Err(ApiError::new(
            403,
            "AccessDeniedException",
            format!(
                "User: {principal} is not authorized to perform: {} on resource: {} {why}",
                request.action, request.resource
            ),
        ));
    }
    Ok(())
}

fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![policy["Statement"].clone()],
        _ => Vec::new(),
    }
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn matches(statement: &Value, request: &Request<'_>) -> bool {
    if statement.get("NotAction").is_some()
        || statement.get("NotResource").is_some()
        || statement.get("Principal").is_some()
    {
        return false;
    }
    let action = request.action.to_ascii_lowercase();
    let action_ok = strings(&statement["Action"])
        .iter()
        .any(|p| glob(&p.to_ascii_lowercase(), &action));
    let resource_ok = strings(&statement["Resource"])
        .iter()
        .any(|p| glob(p, &request.resource));
    action_ok && resource_ok && conditions_hold(&statement["Condition"], request)
}

fn conditions_hold(condition: &Value, request: &Request<'_>) -> bool {
    let Some(operators) = condition.as_object() else {
        return condition.is_null();
    };
    operators.iter().all(|(operator, keys)| {
        let like = match operator.as_str() {
            "StringEquals" | "ArnEquals" => false,
            "StringLike" | "ArnLike" => true,
            _ => return false,
        };
        let Some(keys) = keys.as_object() else {
            return false;
        };
        keys.iter().all(|(key, values)| {
            let Some((_, actual)) = request
                .context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
            else {
                return false;
            };
            strings(values).iter().any(|expected| {
                if like || operator == "ArnEquals" {
                    glob(expected, actual)
                } else {
                    expected == actual
                }
            })
        })
    })
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(statements: Value) -> Vec<IdentityPolicy> {
        vec![IdentityPolicy {
            access_key_id: "AKID".into(),
            principal_arn: "arn:aws:iam::123456789012:user/u".into(),
            policy: json!({"Version": "2012-10-17", "Statement": statements}),
        }]
    }

    fn pass_role() -> Request<'static> {
        Request {
            action: "iam:PassRole".into(),
            resource: "arn:aws:iam::123456789012:role/r".into(),
            context: vec![("iam:PassedToService", "bedrock.amazonaws.com".into())],
        }
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
        assert!(!glob("arn:aws:s3:::b/p/*", "arn:aws:s3:::b/q/x"));
    }

    #[test]
    fn allow_deny_and_pass_role_condition() {
        let allow = policy(json!([{
            "Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
        }]));
        assert!(authorize(&allow, "AKID", &[pass_role()]).is_ok());
        let other = policy(json!([{
            "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        }]));
        let error = authorize(&other, "AKID", &[pass_role()]).unwrap_err();
        assert_eq!((error.status, error.name), (403, "AccessDeniedException"));
        assert!(error
            .message
            .contains("no identity-based policy allows the iam:PassRole"));
        let denied = policy(json!([
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "IAM:Pass*", "Resource": "*"}
        ]));
        let error = authorize(&denied, "AKID", &[pass_role()]).unwrap_err();
        assert!(error.message.contains("explicit deny"), "{}", error.message);
        assert!(authorize(&allow, "OTHER", &[pass_role()]).is_err());
    }

    #[test]
    fn access_key_of_the_authorization_header() {
        let header = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, \
                      SignedHeaders=host, Signature=00";
        assert_eq!(access_key_id(header), Some("AKID"));
        assert_eq!(access_key_id("Bearer x"), None);
    }
}
