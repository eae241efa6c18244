//! Tensor names and shapes against what transformers builds from config.json, for the
//! architectures with a [`Layout`].

use std::collections::HashSet;

use serde_json::Value;

use crate::arch::{Architecture, Dim, Layout, Scope, SparseLayers};
use crate::config_json::Config;
use crate::context::Context;
use crate::finding::Finding;
use crate::inputs::{CONFIG_JSON, INDEX_JSON};
use crate::rules::RuleId;

/// Largest layer or expert count taken at face value; above it the config is reported as
/// implausible instead of being expanded into tensor names.
const MAX_COUNT: u64 = 4096;

/// The config values that shapes are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims {
    /// `vocab_size`.
    pub vocab: u64,
    /// `hidden_size`.
    pub hidden: u64,
    /// `num_attention_heads`.
    pub heads: u64,
    /// `num_key_value_heads`.
    pub kv_heads: u64,
    /// `head_dim`, or hidden / heads.
    pub head_dim: u64,
    /// `intermediate_size`.
    pub intermediate: u64,
    /// `moe_intermediate_size`, for MoE layouts that use it.
    pub moe_intermediate: u64,
    /// Number of experts, for MoE layouts.
    pub experts: u64,
    /// Whether each layer is sparse (MoE).
    pub sparse: Vec<bool>,
    /// `tie_word_embeddings`.
    pub tied: bool,
}

impl Dims {
    /// The value of a symbolic dimension; `None` on overflow.
    pub fn value(&self, dim: Dim) -> Option<u64> {
        match dim {
            Dim::Vocab => Some(self.vocab),
            Dim::Hidden => Some(self.hidden),
            Dim::QueryWidth => self.heads.checked_mul(self.head_dim),
            Dim::KeyValueWidth => self.kv_heads.checked_mul(self.head_dim),
            Dim::HeadDim => Some(self.head_dim),
            Dim::Intermediate => Some(self.intermediate),
            Dim::MoeIntermediate => Some(self.moe_intermediate),
            Dim::Experts => Some(self.experts),
        }
    }
}

/// How a symbolic dimension is spelled in messages.
pub fn dim_name(dim: Dim) -> &'static str {
    match dim {
        Dim::Vocab => "vocab_size",
        Dim::Hidden => "hidden_size",
        Dim::QueryWidth => "num_attention_heads*head_dim",
        Dim::KeyValueWidth => "num_key_value_heads*head_dim",
        Dim::HeadDim => "head_dim",
        Dim::Intermediate => "intermediate_size",
        Dim::MoeIntermediate => "moe_intermediate_size",
        Dim::Experts => "experts",
    }
}

fn invalid(message: String) -> Finding {
    Finding::new(RuleId::ConfigFieldInvalid, CONFIG_JSON, message)
}

fn positive(config: &Config, key: &str) -> Result<u64, Finding> {
    match config.get(key) {
        None | Some(Value::Null) => Err(invalid(format!("{key} is missing"))),
        Some(value) => match value.as_u64() {
            Some(n) if n > 0 => Ok(n),
            _ => Err(invalid(format!("{key} is {value}, not a positive integer"))),
        },
    }
}

fn optional_positive(config: &Config, key: &str) -> Result<Option<u64>, Finding> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => positive(config, key).map(Some),
    }
}

fn bounded(config: &Config, key: &str) -> Result<u64, Finding> {
    let n = positive(config, key)?;
    if n > MAX_COUNT {
        return Err(invalid(format!(
            "{key} is {n}, above the plausible maximum of {MAX_COUNT}"
        )));
    }
    Ok(n)
}

/// Reads the shape-defining values of config.json for a layout.
pub fn dims(
    config: &Config,
    architecture: &Architecture,
    layout: &Layout,
) -> Result<Dims, Finding> {
    let hidden = positive(config, "hidden_size")?;
    let heads = positive(config, "num_attention_heads")?;
    let layers = bounded(config, "num_hidden_layers")?;
    let intermediate = positive(config, "intermediate_size")?;
    let vocab = match config.first(architecture.vocab_keys) {
        Some((key, _)) => positive(config, key)?,
        None => return Err(invalid("vocab_size is missing".to_string())),
    };
    let kv_heads = optional_positive(config, "num_key_value_heads")?.unwrap_or(heads);
    if heads % kv_heads != 0 {
        return Err(invalid(format!(
            "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
        )));
    }
    let explicit_head_dim = match layout.head_dim_key {
        Some(key) => optional_positive(config, key)?,
        None => None,
    };
    let head_dim = match explicit_head_dim {
        Some(head_dim) => head_dim,
        None if hidden % heads == 0 => hidden / heads,
        None => {
            return Err(invalid(format!(
                "hidden_size {hidden} is not a multiple of num_attention_heads {heads} and head_dim is not set"
            )))
        }
    };
    let tied = match config.get("tie_word_embeddings") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(format!(
                "tie_word_embeddings is {other}, not a boolean"
            )))
        }
    };
    let uses = |dim: Dim| layout.tensors.iter().any(|t| t.shape.contains(&dim));
    let experts = match layout.experts_key {
        Some(key) => bounded(config, key)?,
        None => 0,
    };
    let moe_intermediate = if uses(Dim::MoeIntermediate) {
        positive(config, "moe_intermediate_size")?
    } else {
        0
    };
    let sparse = sparse_layers(config, layout.sparse_layers, layers)?;
    Ok(Dims {
        vocab,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        moe_intermediate,
        experts,
        sparse,
        tied,
    })
}

fn sparse_layers(config: &Config, rule: SparseLayers, layers: u64) -> Result<Vec<bool>, Finding> {
    Ok(match rule {
        SparseLayers::None => vec![false; layers as usize],
        SparseLayers::All => vec![true; layers as usize],
        SparseLayers::Qwen3Moe => {
            let step = optional_positive(config, "decoder_sparse_step")?.unwrap_or(1);
            let dense: HashSet<u64> = match config.get("mlp_only_layers") {
                None | Some(Value::Null) => HashSet::new(),
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_u64).collect(),
                Some(other) => {
                    return Err(invalid(format!("mlp_only_layers is {other}, not a list")))
                }
            };
            (0..layers)
                .map(|i| !dense.contains(&i) && (i + 1) % step == 0)
                .collect()
        }
    })
}

/// One expected tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Full tensor name.
    pub name: String,
    /// Shape computed from config.json.
    pub shape: Vec<u64>,
    /// The same shape in config symbols.
    pub symbols: &'static [Dim],
}

/// Number of tensors a layout expects, computed without naming them.
pub fn expected_count(layout: &Layout, dims: &Dims) -> u64 {
    let sparse = dims.sparse.iter().filter(|s| **s).count() as u64;
    let dense = dims.sparse.len() as u64 - sparse;
    layout
        .tensors
        .iter()
        .map(|t| match t.scope {
            Scope::Model => 1,
            Scope::Untied => u64::from(!dims.tied),
            Scope::Layer => dims.sparse.len() as u64,
            Scope::DenseLayer => dense,
            Scope::SparseLayer => sparse,
            Scope::Expert => sparse * dims.experts,
        })
        .sum()
}

/// Every tensor a layout expects, in layer order.
pub fn expected(layout: &Layout, dims: &Dims) -> Vec<Expected> {
    let shape = |symbols: &'static [Dim]| -> Vec<u64> {
        symbols
            .iter()
            .map(|d| dims.value(*d).unwrap_or(u64::MAX))
            .collect()
    };
    let mut out = Vec::new();
    for template in layout
        .tensors
        .iter()
        .filter(|t| t.scope == Scope::Model || (t.scope == Scope::Untied && !dims.tied))
    {
        out.push(Expected {
            name: template.name.to_string(),
            shape: shape(template.shape),
            symbols: template.shape,
        });
    }
    for (layer, sparse) in dims.sparse.iter().enumerate() {
        for template in layout.tensors {
            let named = template.name.replace("{i}", &layer.to_string());
            let copies = match template.scope {
                Scope::Layer => 1,
                Scope::DenseLayer if !sparse => 1,
                Scope::SparseLayer if *sparse => 1,
                Scope::Expert if *sparse => dims.experts,
                _ => 0,
            };
            for expert in 0..copies {
                let name = if template.scope == Scope::Expert {
                    named.replace("{e}", &expert.to_string())
                } else {
                    named.clone()
                };
                out.push(Expected {
                    name,
                    shape: shape(template.shape),
                    symbols: template.shape,
                });
            }
        }
    }
    out
}

/// Runs SH001-SH003 when the architecture has a layout and every weight is known.
pub(crate) fn check(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let (Some(config), Some(architecture)) = (&context.config, context.architecture) else {
        return;
    };
    let Some(layout) = architecture.layout else {
        return;
    };
    let dims = match dims(config, architecture, layout) {
        Ok(dims) => dims,
        Err(finding) => {
            findings.push(finding);
            return;
        }
    };
    let weights = &context.weights;
    if !weights.complete {
        return;
    }
    let weights_file = if context.index.is_some() {
        INDEX_JSON.to_string()
    } else {
        weights
            .tensors
            .values()
            .next()
            .map(|(_, f)| f.to_string())
            .unwrap_or_default()
    };
    let count = expected_count(layout, &dims);
    let actual = weights.tensors.len() as u64;
    if count > actual.saturating_mul(2).saturating_add(1000) {
        findings.push(Finding::new(
            RuleId::MissingTensor,
            weights_file,
            format!(
                "config.json implies {count} tensors (num_hidden_layers {}, {} experts) but the weights hold {actual}",
                dims.sparse.len(),
                dims.experts
            ),
        ));
        return;
    }
    let mut matched = HashSet::new();
    for expected in expected(layout, &dims) {
        let symbols = expected
            .symbols
            .iter()
            .map(|d| dim_name(*d))
            .collect::<Vec<_>>()
            .join(", ");
        match weights.tensors.get(expected.name.as_str()) {
            None => findings.push(Finding::new(
                RuleId::MissingTensor,
                weights_file.clone(),
                format!(
                    "tensor {} {:?} ([{symbols}]) is missing",
                    expected.name, expected.shape
                ),
            )),
            Some((tensor, file)) => {
                matched.insert(tensor.name.as_str());
                if tensor.shape != expected.shape {
                    findings.push(Finding::new(
                        RuleId::ShapeMismatch,
                        file.to_string(),
                        format!(
                            "tensor {} has shape {:?}, expected {:?} ([{symbols}])",
                            expected.name, tensor.shape, expected.shape
                        ),
                    ));
                }
            }
        }
    }
    for (name, (tensor, file)) in &weights.tensors {
        if !matched.contains(name) {
            findings.push(Finding::new(
                RuleId::UnexpectedTensor,
                file.to_string(),
                format!(
                    "tensor {name} {:?} is not part of {} with this config",
                    tensor.shape,
                    config.architecture().unwrap_or(architecture.model_type)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::architecture;

    fn config(json: &str) -> Config {
        Config::new(serde_json::from_str(json).unwrap())
    }

    const QWEN3_MOE: &str = r#"{"hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 4, "num_hidden_layers": 3, "intermediate_size": 32, "vocab_size": 64,
        "num_experts": 4, "moe_intermediate_size": 8, "decoder_sparse_step": 1, "mlp_only_layers": [1]}"#;

    #[test]
    fn qwen3_moe_dense_and_sparse_layers() {
        let a = architecture("qwen3_moe").unwrap();
        let layout = a.layout.unwrap();
        let dims = dims(&config(QWEN3_MOE), a, layout).unwrap();
        assert_eq!(dims.sparse, vec![true, false, true]);
        let all = expected(layout, &dims);
        assert_eq!(all.len() as u64, expected_count(layout, &dims));
        let names: HashSet<_> = all.iter().map(|e| e.name.as_str()).collect();
        assert!(names.contains("model.layers.1.mlp.gate_proj.weight"));
        assert!(!names.contains("model.layers.0.mlp.gate_proj.weight"));
        assert!(names.contains("model.layers.2.mlp.experts.3.down_proj.weight"));
        let router = all
            .iter()
            .find(|e| e.name == "model.layers.0.mlp.gate.weight")
            .unwrap();
        assert_eq!(router.shape, vec![4, 16]);
        let down = all
            .iter()
            .find(|e| e.name == "model.layers.0.mlp.experts.0.down_proj.weight")
            .unwrap();
        assert_eq!(down.shape, vec![16, 8]);
    }

    #[test]
    fn head_dim_defaults_and_qwen2_ignores_it() {
        let a = architecture("qwen2").unwrap();
        let c = config(
            r#"{"hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 99,
            "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64, "tie_word_embeddings": true}"#,
        );
        let dims = dims(&c, a, a.layout.unwrap()).unwrap();
        assert_eq!(dims.head_dim, 4);
        let all = expected(a.layout.unwrap(), &dims);
        assert!(all.iter().all(|e| e.name != "lm_head.weight"));
        let bias = all
            .iter()
            .find(|e| e.name == "model.layers.0.self_attn.k_proj.bias")
            .unwrap();
        assert_eq!(bias.shape, vec![8]);
    }

    #[test]
    fn impossible_configs_are_reported() {
        let a = architecture("llama").unwrap();
        let cases = [
            r#"{"num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
            r#"{"hidden_size": 18, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
            r#"{"hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 3, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
            r#"{"hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 100000000, "intermediate_size": 32, "vocab_size": 64}"#,
        ];
        for case in cases {
            let error = dims(&config(case), a, a.layout.unwrap()).unwrap_err();
            assert_eq!(error.rule, RuleId::ConfigFieldInvalid, "{case}");
        }
    }
}
