//! botocore's Bedrock service model, as vendored in `testdata/botocore/bedrock-2023-04-20.json`
//! (the six Custom Model Import operations of `botocore/data/bedrock/2023-04-20/service-2.json`
//! and every shape they reference, extracted by `scripts/extract_botocore_bedrock.py`). The
//! emulator reads its request constraints from this file and nowhere else.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The vendored extract, compiled into the emulator.
const VENDORED: &str = include_str!("../../../../testdata/botocore/bedrock-2023-04-20.json");

/// A reference to a shape.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Target {
    /// The shape's name.
    pub shape: String,
}

/// One operation.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Operation {
    /// Its input structure.
    pub input: Option<Target>,
}

/// A member of a structure.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Member {
    /// Its shape.
    pub shape: String,
    /// `uri`, `querystring`, `header`; `None` for a member of the JSON body.
    pub location: Option<String>,
    /// The label or query parameter it is bound to.
    #[serde(rename = "locationName")]
    pub location_name: Option<String>,
}

/// One shape. Only what request validation reads is kept.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Shape {
    /// `structure`, `list`, `string`, `integer`, `boolean`, `timestamp`...
    #[serde(rename = "type")]
    pub kind: String,
    /// A structure's members, in the model's order.
    #[serde(default, deserialize_with = "ordered")]
    pub members: Vec<(String, Member)>,
    /// A structure's required members.
    #[serde(default)]
    pub required: Vec<String>,
    /// A structure that is a union: exactly one member set.
    #[serde(default)]
    pub union: bool,
    /// A list's member.
    pub member: Option<Target>,
    /// Shortest length (strings, lists) or smallest value (numbers).
    pub min: Option<i64>,
    /// Longest length (strings, lists) or largest value (numbers).
    pub max: Option<i64>,
    /// A string's pattern, unanchored as botocore writes it.
    pub pattern: Option<String>,
    /// A string's allowed values.
    #[serde(rename = "enum")]
    pub values: Option<Vec<String>>,
}

/// The vendored model.
#[derive(Debug, Deserialize)]
pub(crate) struct ServiceModel {
    /// The six operations, by name.
    pub operations: HashMap<String, Operation>,
    /// Every shape they reference, by name.
    pub shapes: HashMap<String, Shape>,
    /// Each pattern, anchored to match the whole value, by shape name.
    #[serde(skip)]
    patterns: HashMap<String, Regex>,
}

impl ServiceModel {
    /// The shape named `name`.
    ///
    /// # Panics
    /// If the vendored model does not define it (a model that references a shape it does not
    /// hold is a broken extract, caught by this module's tests).
    pub fn shape(&self, name: &str) -> &Shape {
        self.shapes
            .get(name)
            .unwrap_or_else(|| panic!("the vendored botocore model has no shape {name}"))
    }

    /// The operation named `name`.
    ///
    /// # Panics
    /// If it is not one of the vendored operations.
    pub fn operation(&self, name: &str) -> &Operation {
        self.operations
            .get(name)
            .unwrap_or_else(|| panic!("the vendored botocore model has no operation {name}"))
    }

    /// The anchored pattern of the string shape `name`, if it has one.
    pub fn pattern(&self, name: &str) -> Option<&Regex> {
        self.patterns.get(name)
    }
}

/// The vendored model, parsed once.
///
/// # Panics
/// If the vendored file is not a botocore model or one of its patterns does not compile:
/// both are caught by this module's tests.
pub(crate) fn model() -> &'static ServiceModel {
    static MODEL: OnceLock<ServiceModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut model: ServiceModel = serde_json::from_str(VENDORED)
            .unwrap_or_else(|e| panic!("testdata/botocore/bedrock-2023-04-20.json: {e}"));
        let patterns = model
            .shapes
            .iter()
            .filter_map(|(name, shape)| {
                let pattern = shape.pattern.as_ref()?;
                let regex = Regex::new(&format!("^(?:{pattern})$")).unwrap_or_else(|e| {
                    panic!("the pattern of {name} in the botocore model does not compile: {e}")
                });
                Some((name.clone(), regex))
            })
            .collect();
        model.patterns = patterns;
        model
    })
}

/// A JSON object as a list of its members in document order (serde_json's map sorts them).
fn ordered<'de, D>(deserializer: D) -> Result<Vec<(String, Member)>, D::Error>
where
    D: Deserializer<'de>,
{
    struct InOrder;
    impl<'de> Visitor<'de> for InOrder {
        type Value = Vec<(String, Member)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of members")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(entry) = map.next_entry::<String, Member>()? {
                members.push(entry);
            }
            Ok(members)
        }
    }
    deserializer.deserialize_map(InOrder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_model_is_whole() {
        let model = model();
        let raw: serde_json::Value = serde_json::from_str(VENDORED).unwrap();
        assert!(raw["botocore"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()));
        assert_eq!(model.operations.len(), 6);
        for operation in model.operations.values() {
            let mut pending: Vec<&str> = operation.input.iter().map(|t| t.shape.as_str()).collect();
            while let Some(name) = pending.pop() {
                let shape = model.shape(name);
                pending.extend(shape.members.iter().map(|(_, m)| m.shape.as_str()));
                pending.extend(shape.member.iter().map(|t| t.shape.as_str()));
                for required in &shape.required {
                    assert!(
                        shape.members.iter().any(|(n, _)| n == required),
                        "{name}.{required}"
                    );
                }
            }
        }
        let create = model.shape("CreateModelImportJobRequest");
        let names: Vec<&str> = create.members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            ["jobName", "importedModelName", "roleArn", "modelDataSource"],
            "members keep the model's order"
        );
    }

    /// The constrained members under `shape` (strings with a length or pattern, lists with a
    /// size), by path (`jobTags.member.key`), and the paths of required members.
    fn constrained(
        name: &str,
        at: &str,
        strings: &mut Vec<(String, String)>,
        lists: &mut Vec<(String, String)>,
        required: &mut Vec<String>,
    ) {
        let model = model();
        let shape = model.shape(name);
        let join = |member: &str| {
            if at.is_empty() {
                member.to_string()
            } else {
                format!("{at}.{member}")
            }
        };
        match shape.kind.as_str() {
            "structure" => {
                required.extend(shape.required.iter().map(|r| join(r)));
                for (member, target) in &shape.members {
                    constrained(&target.shape, &join(member), strings, lists, required);
                }
            }
            "list" => {
                if shape.min.is_some() || shape.max.is_some() {
                    lists.push((at.to_string(), name.to_string()));
                }
                if let Some(member) = &shape.member {
                    constrained(&member.shape, &join("member"), strings, lists, required);
                }
            }
            "string" if shape.min.is_some() || shape.max.is_some() || shape.pattern.is_some() => {
                strings.push((at.to_string(), name.to_string()));
            }
            _ => {}
        }
    }

    /// The product's table (`cmi_format::cmi_api`) says what botocore's model says, member
    /// for member, and covers every constrained member of CreateModelImportJob (the product
    /// sends them all).
    #[test]
    fn the_products_table_is_the_vendored_model() {
        use cmi_format::cmi_api::{self, FieldConstraint, ListConstraint};

        let product_strings: &[(&FieldConstraint, &[&str])] = &[
            (&cmi_api::JOB_NAME, &["jobName"]),
            (&cmi_api::IMPORTED_MODEL_NAME, &["importedModelName"]),
            (&cmi_api::ROLE_ARN, &["roleArn"]),
            (&cmi_api::S3_URI, &["modelDataSource.s3DataSource.s3Uri"]),
            (
                &cmi_api::TAG_KEY,
                &["jobTags.member.key", "importedModelTags.member.key"],
            ),
            (
                &cmi_api::TAG_VALUE,
                &["jobTags.member.value", "importedModelTags.member.value"],
            ),
            (&cmi_api::CLIENT_REQUEST_TOKEN, &["clientRequestToken"]),
            (&cmi_api::SUBNET_ID, &["vpcConfig.subnetIds.member"]),
            (
                &cmi_api::SECURITY_GROUP_ID,
                &["vpcConfig.securityGroupIds.member"],
            ),
            (&cmi_api::KMS_KEY_ID, &["importedModelKmsKeyId"]),
        ];
        let product_lists: &[(&ListConstraint, &[&str])] = &[
            (&cmi_api::TAG_LIST, &["jobTags", "importedModelTags"]),
            (&cmi_api::SUBNET_IDS, &["vpcConfig.subnetIds"]),
            (
                &cmi_api::SECURITY_GROUP_IDS,
                &["vpcConfig.securityGroupIds"],
            ),
        ];

        let (mut strings, mut lists, mut required) = (Vec::new(), Vec::new(), Vec::new());
        constrained(
            "CreateModelImportJobRequest",
            "",
            &mut strings,
            &mut lists,
            &mut required,
        );
        let model = model();
        let mut problems = Vec::new();

        // Every string constraint of the product is the model's, for each member it checks.
        let mut covered = Vec::new();
        for (constraint, paths) in product_strings {
            for path in *paths {
                covered.push(path.to_string());
                let Some((_, shape_name)) = strings.iter().find(|(p, _)| p == path) else {
                    problems.push(format!(
                        "{}: no constrained member {path}",
                        constraint.field
                    ));
                    continue;
                };
                let shape = model.shape(shape_name);
                let botocore = (shape.min.unwrap_or(0), shape.max, shape.pattern.as_deref());
                let product = (
                    i64::try_from(constraint.min).ok().unwrap_or(i64::MAX),
                    i64::try_from(constraint.max).ok(),
                    Some(constraint.pattern),
                );
                if botocore != product {
                    problems.push(format!(
                        "{} at {path}: the product says (min, max, pattern) = {product:?}, \
                         botocore's {shape_name} says {botocore:?}",
                        constraint.field
                    ));
                }
            }
        }
        for (constraint, paths) in product_lists {
            for path in *paths {
                covered.push(path.to_string());
                let Some((_, shape_name)) = lists.iter().find(|(p, _)| p == path) else {
                    problems.push(format!("{}: no constrained list {path}", constraint.field));
                    continue;
                };
                let shape = model.shape(shape_name);
                let botocore = (shape.min.unwrap_or(0), shape.max);
                let product = (
                    i64::try_from(constraint.min).ok().unwrap_or(i64::MAX),
                    i64::try_from(constraint.max).ok(),
                );
                if botocore != product {
                    problems.push(format!(
                        "{} at {path}: the product says (min, max) = {product:?}, botocore's \
                         {shape_name} says {botocore:?}",
                        constraint.field
                    ));
                }
            }
        }

        // Every constrained member botocore defines is checked by the product.
        for (path, shape_name) in strings.iter().chain(&lists) {
            if !covered.contains(path) {
                problems.push(format!(
                    "botocore constrains {path} ({shape_name}); the product's table does not"
                ));
            }
        }
        // The product's table holds nothing else.
        let mapped: Vec<&str> = product_strings.iter().map(|(c, _)| c.field).collect();
        for constraint in cmi_api::STRING_CONSTRAINTS {
            if !mapped.contains(&constraint.field) {
                problems.push(format!(
                    "{} is in the product's table but compared with no botocore member",
                    constraint.field
                ));
            }
        }
        // Every required member is one the product checks (a constrained leaf, or a structure
        // or list whose members it checks).
        for path in &required {
            let prefix = format!("{path}.");
            if !covered.iter().any(|c| c == path || c.starts_with(&prefix)) {
                problems.push(format!(
                    "botocore requires {path}; the product's table checks nothing there"
                ));
            }
        }
        assert_eq!(
            required,
            [
                "jobName",
                "importedModelName",
                "roleArn",
                "modelDataSource",
                "modelDataSource.s3DataSource.s3Uri",
                "jobTags.member.key",
                "jobTags.member.value",
                "importedModelTags.member.key",
                "importedModelTags.member.value",
                "vpcConfig.subnetIds",
                "vpcConfig.securityGroupIds",
            ]
        );
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
