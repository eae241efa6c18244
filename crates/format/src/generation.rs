//! generation_config.json: the end-of-sequence ids that an architecture needs at invocation.

use serde_json::Value;

use crate::config_json::{json_kind, parse_value};
use crate::context::Context;
use crate::finding::Finding;
use crate::inputs::GENERATION_CONFIG_JSON;
use crate::rules::RuleId;

/// End-of-sequence ids that an architecture's generation_config.json must list.
#[derive(Debug)]
pub struct RequiredEos {
    /// config.json `model_type`.
    pub model_type: &'static str,
    /// The ids, in the order the reference files list them.
    pub eos_token_ids: &'static [u64],
}

/// The architectures whose invocation depends on generation_config.json. GPT-OSS: the Amazon
/// Bedrock User Guide page "Invoke your imported model" (FAQ) requires
/// `[200002, 199999, 200012]` (`<|return|>`, `<|endoftext|>`, `<|call|>`), as the
/// openai/gpt-oss-20b and -120b repositories ship it.
pub const REQUIRED_EOS: &[RequiredEos] = &[RequiredEos {
    model_type: "gpt_oss",
    eos_token_ids: &[200_002, 199_999, 200_012],
}];

/// The ids `architecture` needs, if it needs any.
pub fn required_eos(model_type: &str) -> Option<&'static RequiredEos> {
    REQUIRED_EOS.iter().find(|r| r.model_type == model_type)
}

/// Runs CF013.
pub(crate) fn check(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let Some(architecture) = context.architecture else {
        return;
    };
    let Some(required) = required_eos(architecture.model_type) else {
        return;
    };
    let artifact = context.artifact;
    if artifact.unreadable.contains_key(GENERATION_CONFIG_JSON) {
        return;
    }
    let expected = format_ids(required.eos_token_ids);
    let problem = match artifact.documents.get(GENERATION_CONFIG_JSON) {
        None if !artifact.has(GENERATION_CONFIG_JSON) => {
            format!(
                "is missing; {} needs it with eos_token_id {expected}",
                architecture.aws_name
            )
        }
        None => "is empty".to_string(),
        Some(bytes) => match parse_value(bytes) {
            Ok(Value::Object(object)) => {
                let listed = eos_ids(object.get("eos_token_id"));
                let missing: Vec<u64> = required
                    .eos_token_ids
                    .iter()
                    .copied()
                    .filter(|id| !listed.contains(id))
                    .collect();
                if missing.is_empty() {
                    return;
                }
                let found = object
                    .get("eos_token_id")
                    .map_or_else(|| "absent".to_string(), Value::to_string);
                format!(
                    "eos_token_id is {found}; {} needs {expected} (missing {})",
                    architecture.aws_name,
                    format_ids(&missing)
                )
            }
            Ok(other) => format!("is a JSON {}, not an object", json_kind(&other)),
            Err(error) => format!("is not valid JSON: {error}"),
        },
    };
    findings.push(Finding::new(
        RuleId::GenerationConfigEos,
        GENERATION_CONFIG_JSON,
        problem,
    ));
}

/// `eos_token_id` as a list of ids: one integer, or a list of them (other values ignored).
fn eos_ids(value: Option<&Value>) -> Vec<u64> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_u64).collect(),
        Some(other) => other.as_u64().into_iter().collect(),
        None => Vec::new(),
    }
}

fn format_ids(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("[{}]", ids.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eos_ids_accept_an_integer_or_a_list() {
        assert_eq!(eos_ids(Some(&serde_json::json!(200002))), [200002]);
        assert_eq!(
            eos_ids(Some(&serde_json::json!([200002, 199999]))),
            [200002, 199999]
        );
        assert!(eos_ids(Some(&Value::Null)).is_empty());
        assert!(eos_ids(None).is_empty());
    }

    /// The CF013 findings of a folder holding config.json of `model_type` and, when given,
    /// generation_config.json.
    fn cf013(model_type: &str, generation: Option<&str>) -> Vec<String> {
        let mut artifact = crate::Artifact::default();
        let config = format!(r#"{{"model_type": "{model_type}"}}"#);
        let mut files = vec![("config.json", config)];
        if let Some(text) = generation {
            files.push((GENERATION_CONFIG_JSON, text.to_string()));
        }
        for (path, text) in files {
            artifact.entries.push(crate::Entry {
                path: path.to_string(),
                size: text.len() as u64,
            });
            artifact
                .documents
                .insert(path.to_string(), text.into_bytes());
        }
        crate::check(&artifact)
            .findings
            .into_iter()
            .filter(|f| f.rule == RuleId::GenerationConfigEos)
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn gpt_oss_needs_the_three_eos_ids() {
        let ok = r#"{"bos_token_id": 199998, "eos_token_id": [200002, 199999, 200012]}"#;
        assert!(cf013("gpt_oss", Some(ok)).is_empty());
        let reordered = r#"{"eos_token_id": [199999, 200012, 200002]}"#;
        assert!(cf013("gpt_oss", Some(reordered)).is_empty());
        assert_eq!(
            cf013("gpt_oss", Some(r#"{"eos_token_id": [200002, 199999]}"#)),
            ["eos_token_id is [200002,199999]; GPT-OSS needs [200002, 199999, 200012] (missing [200012])"]
        );
        assert_eq!(
            cf013("gpt_oss", Some(r#"{"eos_token_id": 200002}"#)).len(),
            1
        );
        assert_eq!(cf013("gpt_oss", Some("[]")).len(), 1);
        assert_eq!(
            cf013("gpt_oss", None),
            ["is missing; GPT-OSS needs it with eos_token_id [200002, 199999, 200012]"]
        );
        assert!(cf013("llama", Some(r#"{"eos_token_id": 2}"#)).is_empty());
        assert!(cf013("llama", None).is_empty());
    }

    #[test]
    fn every_required_architecture_is_in_the_allow_list() {
        for required in REQUIRED_EOS {
            assert!(crate::arch::architecture(required.model_type).is_some());
            assert!(!required.eos_token_ids.is_empty());
        }
        assert!(required_eos("llama").is_none());
    }
}
