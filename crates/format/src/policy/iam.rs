//! The subset of the IAM JSON policy language that the generated documents use, as typed,
//! serde-derived values (the AWS IAM User Guide page "IAM JSON policy element reference").
//!
//! The fields are declared in the order the IAM documentation writes them (`Version` before
//! `Statement`; `Sid`, `Effect`, `Principal`, `Action`, `Resource`, `Condition`), so a
//! serialized document has that key order; condition operators and keys are maps sorted by
//! name. [`render`] is the one way a document or statement becomes text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The IAM policy language version every generated document declares.
pub const POLICY_VERSION: &str = "2012-10-17";

/// A policy document: `{"Version": "2012-10-17", "Statement": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The policy language version, [`POLICY_VERSION`].
    #[serde(rename = "Version")]
    pub version: String,
    /// The statements, in order.
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

impl Policy {
    /// A document of [`POLICY_VERSION`] holding `statements`.
    pub fn new(statements: Vec<Statement>) -> Policy {
        Policy {
            version: POLICY_VERSION.to_string(),
            statement: statements,
        }
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The statement's identifier, unique in its document.
    #[serde(rename = "Sid")]
    pub sid: String,
    /// Whether it allows or denies.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// Who, in resource-based policies (bucket, key and trust policies); absent in identity
    /// policies.
    #[serde(rename = "Principal", default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// The actions.
    #[serde(rename = "Action")]
    pub action: OneOrMany,
    /// The resource; absent in trust policies.
    #[serde(rename = "Resource", default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Conditions: operator (`StringEquals`) to condition key (`aws:SourceAccount`) to values.
    #[serde(
        rename = "Condition",
        default,
        skip_serializing_if = "Condition::is_empty"
    )]
    pub condition: Condition,
}

/// The `Condition` block: operator to condition key to values, each map sorted by name.
pub type Condition = BTreeMap<String, BTreeMap<String, OneOrMany>>;

/// The effect of a statement. The generated documents only allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// The statement grants its actions.
    Allow,
}

/// The principal of a statement: an AWS principal (an ARN) or a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// `{"AWS": "arn:..."}`: a role, or an account's root.
    #[serde(rename = "AWS")]
    Aws(String),
    /// `{"Service": "bedrock.amazonaws.com"}`.
    Service(String),
}

/// A value that IAM takes as one string or as an array of strings, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single string.
    One(String),
    /// An array of strings.
    Many(Vec<String>),
}

impl OneOrMany {
    /// An array of the given strings.
    pub fn many(values: &[&str]) -> OneOrMany {
        OneOrMany::Many(values.iter().map(|v| v.to_string()).collect())
    }
}

/// Renders a document or a statement as written to a file: pretty-printed with a 2-space
/// indent, in the key order of the types above, with a trailing newline.
pub fn render<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .expect("a policy of strings and string maps always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keys_in_the_order_of_the_iam_documentation() {
        let policy = Policy::new(vec![Statement {
            sid: "S".to_string(),
            effect: Effect::Allow,
            principal: Some(Principal::Aws("arn:aws:iam::111122223333:root".to_string())),
            action: OneOrMany::many(&["a:B"]),
            resource: Some("*".to_string()),
            condition: Condition::from([
                (
                    "StringLike".to_string(),
                    BTreeMap::from([("s3:prefix".to_string(), OneOrMany::many(&["p/", "p/*"]))]),
                ),
                (
                    "ArnEquals".to_string(),
                    BTreeMap::from([("aws:SourceArn".to_string(), OneOrMany::One("x".into()))]),
                ),
            ]),
        }]);
        let expected = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \
                        \"Sid\": \"S\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \
                        \"AWS\": \"arn:aws:iam::111122223333:root\"\n      },\n      \"Action\": [\n        \
                        \"a:B\"\n      ],\n      \"Resource\": \"*\",\n      \"Condition\": {\n        \
                        \"ArnEquals\": {\n          \"aws:SourceArn\": \"x\"\n        },\n        \
                        \"StringLike\": {\n          \"s3:prefix\": [\n            \"p/\",\n            \
                        \"p/*\"\n          ]\n        }\n      }\n    }\n  ]\n}\n";
        let text = render(&policy);
        assert_eq!(text, expected);
        let back: Policy = serde_json::from_str(&text).unwrap();
        assert_eq!(back, policy);
    }
}
