//! config.json: the architecture allow-list, custom code, context length, transformers
//! version and quantization.

use serde_json::Value;

use crate::arch::{Architecture, CMI_LIMITS};
use crate::config_json::{json_kind, parse_value};
use crate::context::Context;
use crate::finding::Finding;
use crate::inputs::{Artifact, CONFIG_JSON};
use crate::rules::RuleId;

pub use crate::config_json::Config;

/// Reads config.json; reports it when it is not a JSON object.
pub(crate) fn parse(artifact: &Artifact, findings: &mut Vec<Finding>) -> Option<Config> {
    let bytes = artifact.documents.get(CONFIG_JSON)?;
    match parse_value(bytes) {
        Ok(Value::Object(object)) => Some(Config::new(object)),
        Ok(other) => {
            findings.push(Finding::new(
                RuleId::ConfigInvalid,
                CONFIG_JSON,
                format!("is a JSON {}, not an object", json_kind(&other)),
            ));
            None
        }
        Err(error) => {
            findings.push(Finding::new(
                RuleId::ConfigInvalid,
                CONFIG_JSON,
                format!("is not valid JSON: {error}"),
            ));
            None
        }
    }
}

/// Runs the config-level rules.
pub(crate) fn check(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let Some(config) = &context.config else {
        return;
    };
    let Some(architecture) = check_architecture(config, context.architecture, findings) else {
        return;
    };
    if let Some(auto_map) = config.get("auto_map") {
        let classes = auto_map
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        findings.push(Finding::new(
            RuleId::CustomCode,
            CONFIG_JSON,
            format!("auto_map ({classes}) requires trust_remote_code"),
        ));
    }
    check_context(config, architecture, findings);
    check_rope_override(config, findings);
    check_transformers_version(config, architecture, findings);
    check_quantization(config, architecture, findings);
    check_variant(config, architecture, findings);
    check_head_multiple(config, architecture, findings);
    check_converse(config, findings);
}

/// Head counts that must be a multiple of a number: `(model_type, config key, multiple)`.
/// T5: AWS's Flan-T5 import sample (aws-samples/amazon-bedrock-samples,
/// custom-models/import_models/flan-t5/flant5-finetune-medical-terms.ipynb) says flan-t5-small
/// (6 heads) does not import, the number of heads needing to be a multiple of 4.
pub const HEAD_MULTIPLES: &[(&str, &str, u64)] = &[("t5", "num_heads", 4)];

/// CF015: a head count that is not a multiple of what [`HEAD_MULTIPLES`] asks.
fn check_head_multiple(config: &Config, architecture: &Architecture, findings: &mut Vec<Finding>) {
    for &(model_type, key, multiple) in HEAD_MULTIPLES {
        if architecture.model_type != model_type {
            continue;
        }
        let Some(heads) = config.get(key).and_then(Value::as_u64) else {
            continue;
        };
        if heads % multiple != 0 {
            findings.push(Finding::new(
                RuleId::T5HeadCount,
                CONFIG_JSON,
                format!(
                    "{key} is {heads}, not a multiple of {multiple}; AWS's Flan-T5 sample reports that such a model (flan-t5-small, 6 heads) does not import"
                ),
            ));
        }
    }
}

/// A rope scaling that Bedrock replaces with its own values.
#[derive(Debug)]
pub struct RopeOverride {
    /// config.json `model_type`.
    pub model_type: &'static str,
    /// `rope_scaling.rope_type` (or `type`).
    pub rope_type: &'static str,
    /// The `rope_scaling` keys Bedrock sets, with its values.
    pub values: &'static [(&'static str, f64)],
}

/// The rope scalings Bedrock overrides (Amazon Bedrock User Guide, "Use Custom model import to
/// import a customized open-source model into Amazon Bedrock": llama3 rope scaling is replaced
/// by factor 8, original_max_position_embeddings 8192, low_freq_factor 1, high_freq_factor 4).
pub const ROPE_OVERRIDES: &[RopeOverride] = &[RopeOverride {
    model_type: "llama",
    rope_type: "llama3",
    values: &[
        ("factor", 8.0),
        ("original_max_position_embeddings", 8192.0),
        ("low_freq_factor", 1.0),
        ("high_freq_factor", 4.0),
    ],
}];

/// CF014: a rope scaling whose values Bedrock replaces.
fn check_rope_override(config: &Config, findings: &mut Vec<Finding>) {
    let Some(model_type) = config.model_type() else {
        return;
    };
    let Some((name, scaling)) = ["rope_scaling", "rope_parameters"].iter().find_map(|name| {
        config
            .get(name)
            .and_then(Value::as_object)
            .map(|s| (*name, s))
    }) else {
        return;
    };
    let kind = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(Value::as_str);
    let Some(rule) = ROPE_OVERRIDES
        .iter()
        .find(|r| r.model_type == model_type && Some(r.rope_type) == kind)
    else {
        return;
    };
    let differences: Vec<String> = rule
        .values
        .iter()
        .filter_map(|(key, bedrock)| {
            let value = scaling.get(*key);
            if value.and_then(Value::as_f64) == Some(*bedrock) {
                return None;
            }
            let found = value.map_or_else(|| "absent".to_string(), Value::to_string);
            Some(format!("{key} {found} (Bedrock: {bedrock})"))
        })
        .collect();
    if differences.is_empty() {
        return;
    }
    findings.push(Finding::new(
        RuleId::RopeScalingOverridden,
        CONFIG_JSON,
        format!(
            "{} {name} has {}; Bedrock overrides it with its own values",
            rule.rope_type,
            differences.join(", ")
        ),
    ));
}

/// An architecture whose imports Converse and ConverseStream do not serve.
#[derive(Debug)]
pub struct ConverseExclusion {
    /// config.json `model_type`.
    pub model_type: &'static str,
    /// The models AWS names, as the message says them.
    pub models: &'static str,
}

/// The architectures for which Bedrock does not support Converse or ConverseStream on imported
/// models (Amazon Bedrock User Guide, "Invoke your imported model": Qwen2.5, Qwen2-VL,
/// Qwen2.5-VL and GPT-OSS; "Use Custom model import to import a customized open-source model
/// into Amazon Bedrock": Qwen3). Qwen2 and Qwen2.5 share model_type `qwen2`, so the note on
/// it names both.
pub const CONVERSE_EXCLUSIONS: &[ConverseExclusion] = &[
    ConverseExclusion {
        model_type: "qwen2",
        models: "Qwen2.5 models (model_type qwen2 is shared by Qwen2 and Qwen2.5: this applies if the model is a Qwen2.5)",
    },
    ConverseExclusion {
        model_type: "qwen2_vl",
        models: "Qwen2-VL models",
    },
    ConverseExclusion {
        model_type: "qwen2_5_vl",
        models: "Qwen2.5-VL models",
    },
    ConverseExclusion {
        model_type: "qwen3",
        models: "Qwen3 models",
    },
    ConverseExclusion {
        model_type: "qwen3_moe",
        models: "Qwen3-MoE models",
    },
    ConverseExclusion {
        model_type: "gpt_oss",
        models: "GPT-OSS models",
    },
];

/// CF016: the architecture's imports cannot be called with Converse.
fn check_converse(config: &Config, findings: &mut Vec<Finding>) {
    let Some(exclusion) = config
        .model_type()
        .and_then(|t| CONVERSE_EXCLUSIONS.iter().find(|e| e.model_type == t))
    else {
        return;
    };
    findings.push(Finding::new(
        RuleId::ConverseUnsupported,
        CONFIG_JSON,
        format!(
            "Bedrock does not support Converse or ConverseStream for imported {}; call InvokeModel",
            exclusion.models
        ),
    ));
}

/// For an architecture accepted in some sizes only, whether config.json is one of them.
fn check_variant(config: &Config, architecture: &Architecture, findings: &mut Vec<Finding>) {
    if architecture.variants.is_empty() {
        return;
    }
    let matches = |fields: &[(&str, u64)]| {
        fields
            .iter()
            .all(|(key, value)| config.get(key).and_then(Value::as_u64) == Some(*value))
    };
    if architecture.variants.iter().any(|v| matches(v.fields)) {
        return;
    }
    let found: Vec<String> = architecture.variants[0]
        .fields
        .iter()
        .map(|(key, _)| {
            let value = config
                .get(key)
                .map_or_else(|| "missing".to_string(), Value::to_string);
            format!("{key} {value}")
        })
        .collect();
    let accepted: Vec<String> = architecture
        .variants
        .iter()
        .map(|v| {
            let fields: Vec<String> = v.fields.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!("{} ({})", v.name, fields.join(", "))
        })
        .collect();
    findings.push(Finding::new(
        RuleId::UnsupportedVariant,
        CONFIG_JSON,
        format!(
            "{} with {} is none of the accepted sizes: {}",
            architecture.aws_name,
            found.join(", "),
            accepted.join("; ")
        ),
    ));
}

fn check_architecture(
    config: &Config,
    architecture: Option<&'static Architecture>,
    findings: &mut Vec<Finding>,
) -> Option<&'static Architecture> {
    let supported = || {
        crate::arch::ARCHITECTURES
            .iter()
            .map(|a| a.model_type)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(model_type) = config.model_type() else {
        findings.push(Finding::new(
            RuleId::UnsupportedModelType,
            CONFIG_JSON,
            format!("has no model_type string; supported: {}", supported()),
        ));
        return None;
    };
    let Some(architecture) = architecture else {
        findings.push(Finding::new(
            RuleId::UnsupportedModelType,
            CONFIG_JSON,
            format!(
                "model_type {model_type:?} is not supported by Custom Model Import (list of {}); supported: {}",
                crate::arch::ALLOW_LIST_AS_OF,
                supported()
            ),
        ));
        return None;
    };
    let expected = architecture.classes.join(" or ");
    match config.architecture() {
        Some(class) if architecture.classes.contains(&class) => {}
        Some(class) => findings.push(Finding::new(
            RuleId::ArchitectureMismatch,
            CONFIG_JSON,
            format!(
                "architectures[0] is {class:?}; {} is supported only as {expected}",
                architecture.aws_name
            ),
        )),
        None => findings.push(Finding::new(
            RuleId::ArchitectureMismatch,
            CONFIG_JSON,
            format!("has no architectures list; expected [{expected:?}]"),
        )),
    }
    Some(architecture)
}

/// Rope scalings that stretch the positions beyond `max_position_embeddings` by `factor`.
/// The others keep the context at `max_position_embeddings`: `llama3` (Llama 3.1-3.3, whose
/// `original_max_position_embeddings * factor` exceeds the real window), `longrope`, `mrope`
/// (Qwen2-VL) and `default`.
pub const EXTENDING_ROPE_TYPES: &[&str] = &["linear", "dynamic", "yarn"];

fn check_context(config: &Config, architecture: &Architecture, findings: &mut Vec<Finding>) {
    let limit = CMI_LIMITS.max_context_tokens;
    let Some((key, value)) = config.first(architecture.context_keys) else {
        return;
    };
    let Some(context) = value.as_u64() else {
        findings.push(Finding::new(
            RuleId::ConfigFieldInvalid,
            CONFIG_JSON,
            format!("{key} is {value}, not a non-negative integer"),
        ));
        return;
    };
    if context > limit {
        findings.push(Finding::new(
            RuleId::ContextTooLong,
            CONFIG_JSON,
            format!("{key} is {context}, above the {limit}-token limit"),
        ));
        return;
    }
    // `rope_scaling`, or `rope_parameters` as transformers 5 names it, beside the context key.
    let parent = key.rsplit_once('.').map(|(parent, _)| format!("{parent}."));
    let parent = parent.as_deref().unwrap_or("");
    let Some(scaling) = ["rope_scaling", "rope_parameters"].iter().find_map(|name| {
        config
            .get(&format!("{parent}{name}"))
            .and_then(Value::as_object)
    }) else {
        return;
    };
    let kind = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    if !EXTENDING_ROPE_TYPES.contains(&kind) {
        return;
    }
    let Some(factor) = scaling.get("factor").and_then(Value::as_f64) else {
        return;
    };
    let base = scaling
        .get("original_max_position_embeddings")
        .and_then(Value::as_u64)
        .unwrap_or(context);
    let effective = (base as f64 * factor).round();
    if effective > limit as f64 {
        findings.push(Finding::new(
            RuleId::ScaledContextTooLong,
            CONFIG_JSON,
            format!(
                "{kind} rope_scaling with factor {factor} stretches {base} positions to {effective} tokens, above the {limit}-token limit"
            ),
        ));
    }
}

/// Parses the numeric part of a version such as `4.51.3` or `4.52.0.dev0`.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The newest `transformers_version` that CF007 accepts for an architecture: the version
/// Bedrock documents, or `None` (no bound) for an architecture that transformers added after it.
pub fn newest_supported_transformers(architecture: &Architecture) -> Option<(u64, u64, u64)> {
    match architecture.added_in_transformers {
        Some(_) => None,
        None => Some(CMI_LIMITS.supported_transformers),
    }
}

fn check_transformers_version(
    config: &Config,
    architecture: &Architecture,
    findings: &mut Vec<Finding>,
) {
    let Some(version) = config.get("transformers_version").and_then(Value::as_str) else {
        return;
    };
    let Some((major, minor, patch)) = newest_supported_transformers(architecture) else {
        return;
    };
    if parse_version(version).is_some_and(|v| v > (major, minor, patch)) {
        findings.push(Finding::new(
            RuleId::TransformersTooNew,
            CONFIG_JSON,
            format!("written by transformers {version}; Bedrock supports {major}.{minor}.{patch}"),
        ));
    }
}

fn check_quantization(config: &Config, architecture: &Architecture, findings: &mut Vec<Finding>) {
    let Some(quantization) = config.get("quantization_config").filter(|v| !v.is_null()) else {
        return;
    };
    let method = quantization
        .get("quant_method")
        .and_then(Value::as_str)
        .unwrap_or("unnamed");
    if architecture
        .quantization
        .iter()
        .any(|q| q.quant_method == method)
    {
        return;
    }
    findings.push(Finding::new(
        RuleId::QuantizedCheckpoint,
        CONFIG_JSON,
        format!(
            "quantization_config with quant_method {method:?}: {} is imported only in full precision",
            architecture.aws_name
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_oss_is_accepted_in_its_published_sizes_only() {
        let gpt_oss = crate::arch::architecture("gpt_oss").expect("in the allow-list");
        let config = |layers: u64, experts: u64| {
            let value = serde_json::json!({
                "model_type": "gpt_oss",
                "hidden_size": 2880,
                "num_attention_heads": 64,
                "num_key_value_heads": 8,
                "num_hidden_layers": layers,
                "num_local_experts": experts,
            });
            Config::new(value.as_object().expect("object").clone())
        };
        for (layers, experts, accepted) in [(24, 32, true), (36, 128, true), (24, 128, false)] {
            let mut findings = Vec::new();
            check_variant(&config(layers, experts), gpt_oss, &mut findings);
            assert_eq!(
                findings.is_empty(),
                accepted,
                "{layers} layers, {experts} experts"
            );
        }
        let llama = crate::arch::architecture("llama").expect("in the allow-list");
        let mut findings = Vec::new();
        check_variant(&config(2, 0), llama, &mut findings);
        assert!(findings.is_empty(), "any size of Llama");
    }

    #[test]
    fn t5_heads_must_be_a_multiple_of_4() {
        let t5 = crate::arch::architecture("t5").expect("in the allow-list");
        let llama = crate::arch::architecture("llama").expect("in the allow-list");
        let config = |heads: u64| {
            let value = serde_json::json!({"model_type": "t5", "num_heads": heads});
            Config::new(value.as_object().expect("object").clone())
        };
        for (architecture, heads, fires) in [
            (t5, 6, true),
            (t5, 12, false),
            (t5, 4, false),
            (llama, 6, false),
        ] {
            let mut findings = Vec::new();
            check_head_multiple(&config(heads), architecture, &mut findings);
            let rules: Vec<_> = findings.iter().map(|f| f.rule).collect();
            let expected = if fires {
                vec![RuleId::T5HeadCount]
            } else {
                vec![]
            };
            assert_eq!(
                rules, expected,
                "{} with {heads} heads",
                architecture.model_type
            );
        }
    }

    #[test]
    fn the_version_note_skips_architectures_newer_than_bedrocks_transformers() {
        let findings = |model_type: &str, version: &str| {
            let value = serde_json::json!({"transformers_version": version});
            let config = Config::new(value.as_object().expect("object").clone());
            let architecture = crate::arch::architecture(model_type).expect("in the allow-list");
            let mut findings = Vec::new();
            check_transformers_version(&config, architecture, &mut findings);
            findings.into_iter().map(|f| f.rule).collect::<Vec<_>>()
        };
        assert_eq!(findings("llama", "4.57.1"), [RuleId::TransformersTooNew]);
        assert_eq!(findings("llama", "4.51.3"), []);
        assert_eq!(findings("gpt_oss", "4.55.0.dev0"), []);
        assert_eq!(findings("gpt_oss", "4.57.1"), []);
        for a in crate::arch::ARCHITECTURES {
            if let Some(added_in) = a.added_in_transformers {
                assert!(
                    added_in > CMI_LIMITS.supported_transformers,
                    "{}",
                    a.model_type
                );
            }
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(parse_version("4.51.3"), Some((4, 51, 3)));
        assert_eq!(parse_version("4.52.0.dev0"), Some((4, 52, 0)));
        assert_eq!(parse_version("5"), Some((5, 0, 0)));
        assert_eq!(parse_version("x"), None);
        assert!(parse_version("4.9.0").unwrap() < (4, 51, 3));
    }

    fn context_findings(json: &str) -> Vec<RuleId> {
        let config = Config::new(serde_json::from_str(json).unwrap());
        let llama = crate::arch::architecture("llama").unwrap();
        let mut findings = Vec::new();
        check_context(&config, llama, &mut findings);
        findings.into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn rope_scaling_by_type() {
        // Llama 3.2: llama3 scaling keeps the 131072 window although 8192 x 32 is larger.
        let llama32 = r#"{"max_position_embeddings": 131072, "rope_scaling": {"factor": 32.0,
            "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192,
            "rope_type": "llama3"}}"#;
        assert_eq!(context_findings(llama32), vec![]);
        let yarn = r#"{"max_position_embeddings": 32768, "rope_scaling": {"factor": 4.0,
            "original_max_position_embeddings": 32768, "type": "yarn"}}"#;
        assert_eq!(context_findings(yarn), vec![]);
        let long_yarn = yarn.replace("4.0", "8.0");
        assert_eq!(
            context_findings(&long_yarn),
            vec![RuleId::ScaledContextTooLong]
        );
        let linear = r#"{"max_position_embeddings": 65536, "rope_scaling": {"factor": 4.0, "type": "linear"}}"#;
        assert_eq!(context_findings(linear), vec![RuleId::ScaledContextTooLong]);
        let v5 = linear.replace("rope_scaling", "rope_parameters");
        assert_eq!(context_findings(&v5), vec![RuleId::ScaledContextTooLong]);
        assert_eq!(
            context_findings(r#"{"max_position_embeddings": 262144}"#),
            vec![RuleId::ContextTooLong]
        );
    }

    fn rope_override_findings(json: serde_json::Value) -> Vec<String> {
        let config = Config::new(json.as_object().expect("object").clone());
        let mut findings = Vec::new();
        check_rope_override(&config, &mut findings);
        assert!(findings
            .iter()
            .all(|f| f.rule == RuleId::RopeScalingOverridden));
        findings.into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn llama3_rope_scaling_other_than_bedrocks_is_noted() {
        let llama31 = serde_json::json!({"model_type": "llama", "rope_scaling": {"factor": 8.0,
            "high_freq_factor": 4.0, "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3"}});
        assert_eq!(
            rope_override_findings(llama31.clone()),
            Vec::<String>::new()
        );
        let mut llama32 = llama31.clone();
        llama32["rope_scaling"]["factor"] = serde_json::json!(32.0);
        assert_eq!(
            rope_override_findings(llama32.clone()),
            vec!["llama3 rope_scaling has factor 32.0 (Bedrock: 8); Bedrock overrides it with its own values"]
        );
        let mut old_style = llama32.clone();
        old_style["rope_scaling"]
            .as_object_mut()
            .expect("object")
            .remove("rope_type");
        old_style["rope_scaling"]["type"] = serde_json::json!("llama3");
        assert_eq!(rope_override_findings(old_style).len(), 1);
        let mut mistral = llama32.clone();
        mistral["model_type"] = serde_json::json!("mistral");
        assert!(rope_override_findings(mistral).is_empty(), "llama only");
        let mut yarn = llama32;
        yarn["rope_scaling"]["rope_type"] = serde_json::json!("yarn");
        assert!(rope_override_findings(yarn).is_empty(), "llama3 type only");
        assert!(rope_override_findings(
            serde_json::json!({"model_type": "llama", "rope_scaling": null})
        )
        .is_empty());
    }

    #[test]
    fn converse_note_by_model_type() {
        for (model_type, noted) in [
            ("qwen2", true),
            ("qwen2_vl", true),
            ("qwen2_5_vl", true),
            ("qwen3", true),
            ("qwen3_moe", true),
            ("gpt_oss", true),
            ("llama", false),
            ("mistral", false),
            ("mixtral", false),
            ("t5", false),
            ("mllama", false),
            ("gpt_bigcode", false),
        ] {
            let json = serde_json::json!({ "model_type": model_type });
            let config = Config::new(json.as_object().expect("object").clone());
            let mut findings = Vec::new();
            check_converse(&config, &mut findings);
            let rules: Vec<RuleId> = findings.iter().map(|f| f.rule).collect();
            let expected = if noted {
                vec![RuleId::ConverseUnsupported]
            } else {
                vec![]
            };
            assert_eq!(rules, expected, "{model_type}");
        }
        for exclusion in CONVERSE_EXCLUSIONS {
            assert!(
                crate::arch::architecture(exclusion.model_type).is_some(),
                "{} is in the allow-list",
                exclusion.model_type
            );
        }
    }

    #[test]
    fn dotted_paths_and_first_present_key() {
        let config = Config::new(
            serde_json::from_str(
                r#"{"text_config": {"vocab_size": 10}, "head_dim": null, "vocab_size": 5}"#,
            )
            .unwrap(),
        );
        assert_eq!(config.get("text_config.vocab_size"), Some(&Value::from(10)));
        assert_eq!(
            config.first(&["head_dim", "vocab_size"]).map(|(k, _)| k),
            Some("vocab_size")
        );
    }
}
