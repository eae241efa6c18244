//! Tensor names and shapes against what transformers builds from config.json: the first
//! [`Layout`] of the architecture whose condition holds, evaluated against config.json.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use crate::arch::layout::{Expr, Group, Repeat, When};
use crate::arch::{Architecture, Layout, NewerLayout};
use crate::config_json::Config;
use crate::context::Context;
use crate::finding::Finding;
use crate::inputs::{CONFIG_JSON, INDEX_JSON};
use crate::rules::RuleId;

/// Largest layer or expert count taken at face value; above it the config is reported as
/// implausible instead of being expanded into tensor names.
const MAX_COUNT: u64 = 4096;

/// The symbols of a layout, evaluated against one config.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    values: Vec<(&'static str, u64)>,
}

impl Values {
    /// The value of a symbol of the layout.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn require(&self, name: &str) -> Result<u64, Finding> {
        self.get(name)
            .ok_or_else(|| invalid(format!("{name} is not defined by the layout")))
    }

    fn count(&self, name: &str) -> Result<u64, Finding> {
        let n = self.require(name)?;
        if n > MAX_COUNT {
            return Err(invalid(format!(
                "{name} is {n}, above the plausible maximum of {MAX_COUNT}"
            )));
        }
        Ok(n)
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

fn flag(config: &Config, key: &str, default: bool) -> Result<bool, Finding> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(format!("{key} is {other}, not a boolean"))),
    }
}

/// How an expression reads in messages.
fn describe(expr: &Expr) -> String {
    match expr {
        Expr::Key(key) | Expr::Or(key, _) => (*key).to_string(),
        Expr::First(keys) => keys.first().copied().unwrap_or_default().to_string(),
        Expr::Const(n) => n.to_string(),
        Expr::Sym(name) => (*name).to_string(),
        Expr::Mul(a, b) => format!("{}*{}", describe(a), describe(b)),
        Expr::Add(a, b) => format!("{}+{}", describe(a), describe(b)),
        Expr::Div(a, b) => format!("{}/{}", describe(a), describe(b)),
        Expr::IfTrue { key, .. } => format!("({key} ? ...)"),
        Expr::Len(key) => format!("len({key})"),
    }
}

fn eval(expr: &Expr, config: &Config, values: &Values) -> Result<u64, Finding> {
    let overflow = || invalid(format!("{} overflows", describe(expr)));
    match expr {
        Expr::Key(key) => positive(config, key),
        Expr::First(keys) => match config.first(keys) {
            Some((key, _)) => positive(config, key),
            None => Err(invalid(format!(
                "{} is missing",
                keys.first().copied().unwrap_or_default()
            ))),
        },
        Expr::Or(key, fallback) => match config.get(key) {
            None | Some(Value::Null) => eval(fallback, config, values),
            Some(_) => positive(config, key),
        },
        Expr::Const(n) => Ok(*n),
        Expr::Sym(name) => values.require(name),
        Expr::Mul(a, b) => eval(a, config, values)?
            .checked_mul(eval(b, config, values)?)
            .ok_or_else(overflow),
        Expr::Add(a, b) => eval(a, config, values)?
            .checked_add(eval(b, config, values)?)
            .ok_or_else(overflow),
        Expr::Div(a, b) => {
            let (x, y) = (eval(a, config, values)?, eval(b, config, values)?);
            if y == 0 || x % y != 0 {
                return Err(invalid(format!(
                    "{} {x} is not a multiple of {} {y}",
                    describe(a),
                    describe(b)
                )));
            }
            Ok(x / y)
        }
        Expr::IfTrue {
            key,
            default,
            then,
            otherwise,
        } => {
            if flag(config, key, *default)? {
                eval(then, config, values)
            } else {
                eval(otherwise, config, values)
            }
        }
        Expr::Len(key) => match config.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Array(items)) => Ok(items.len() as u64),
            Some(other) => Err(invalid(format!("{key} is {other}, not a list"))),
        },
    }
}

/// Evaluates every symbol of a layout against config.json, in order.
pub fn evaluate(config: &Config, layout: &Layout) -> Result<Values, Finding> {
    let mut values = Values { values: Vec::new() };
    for symbol in layout.symbols {
        let value = eval(&symbol.value, config, &values)?;
        values.values.push((symbol.name, value));
    }
    Ok(values)
}

/// Whether a condition holds for config.json.
pub fn holds(when: When, config: &Config) -> Result<bool, Finding> {
    Ok(match when {
        When::Always => true,
        When::Flag { key, default, is } => flag(config, key, default)? == is,
        When::Equals { key, value } => config.get(key).and_then(Value::as_str) == Some(value),
        When::Absent(key) => matches!(config.get(key), None | Some(Value::Null)),
        When::StartsWith { key, prefix, is } => {
            config
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with(prefix))
                == is
        }
    })
}

/// The layout of an architecture that applies to config.json: the first whose condition holds.
pub fn select(
    architecture: &Architecture,
    config: &Config,
) -> Result<Option<&'static Layout>, Finding> {
    for layout in architecture.layouts {
        if holds(layout.when, config)? {
            return Ok(Some(layout));
        }
    }
    Ok(None)
}

fn index_list(config: &Config, key: &str, count: u64) -> Result<BTreeSet<u64>, Finding> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_u64() {
                Some(n) if n < count => Ok(n),
                _ => Err(invalid(format!(
                    "{key} holds {item}, not a layer index below {count}"
                ))),
            })
            .collect(),
        Some(other) => Err(invalid(format!("{key} is {other}, not a list"))),
    }
}

/// The values `{i}` takes for a group; `None` for a group repeated once.
fn indices(repeat: Repeat, config: &Config, values: &Values) -> Result<Vec<Option<u64>>, Finding> {
    let some = |range: Vec<u64>| range.into_iter().map(Some).collect();
    Ok(match repeat {
        Repeat::Once => vec![None],
        Repeat::Range(count) => some((0..values.count(count)?).collect()),
        Repeat::Listed { count, list } => some(
            index_list(config, list, values.count(count)?)?
                .into_iter()
                .collect(),
        ),
        Repeat::Unlisted { count, list } => {
            let n = values.count(count)?;
            let listed = index_list(config, list, n)?;
            some((0..n).filter(|i| !listed.contains(i)).collect())
        }
        Repeat::Qwen3MoeSparse(count) | Repeat::Qwen3MoeDense(count) => {
            let n = values.count(count)?;
            let step = match config.get("decoder_sparse_step") {
                None | Some(Value::Null) => 1,
                Some(_) => positive(config, "decoder_sparse_step")?,
            };
            let dense: HashSet<u64> = match config.get("mlp_only_layers") {
                None | Some(Value::Null) => HashSet::new(),
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_u64).collect(),
                Some(other) => {
                    return Err(invalid(format!("mlp_only_layers is {other}, not a list")))
                }
            };
            let want_sparse = matches!(repeat, Repeat::Qwen3MoeSparse(_));
            some(
                (0..n)
                    .filter(|i| (!dense.contains(i) && (i + 1) % step == 0) == want_sparse)
                    .collect(),
            )
        }
    })
}

/// A group that config.json writes, with the indices it repeats over (`None`: once).
type ActiveGroup = (&'static Group, Vec<Option<u64>>);

/// The groups of a layout that config.json writes.
fn active(
    layout: &'static Layout,
    config: &Config,
    values: &Values,
) -> Result<Vec<ActiveGroup>, Finding> {
    let mut out = Vec::new();
    for group in layout.groups {
        if holds(group.when, config)? {
            out.push((group, indices(group.repeat, config, values)?));
        }
    }
    Ok(out)
}

/// One expected tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Full tensor name.
    pub name: String,
    /// Shape computed from config.json.
    pub shape: Vec<u64>,
    /// The same shape in config symbols.
    pub symbols: &'static [&'static str],
}

/// Number of tensors a layout expects for config.json, computed without naming them.
pub fn expected_count(
    layout: &'static Layout,
    config: &Config,
    values: &Values,
) -> Result<u64, Finding> {
    let mut total: u64 = 0;
    for (group, indices) in active(layout, config, values)? {
        for template in group.tensors {
            let copies = match template.each {
                Some(each) => values.count(each)?,
                None => 1,
            };
            total = total.saturating_add(copies.saturating_mul(indices.len() as u64));
        }
    }
    Ok(total)
}

/// Every tensor a layout expects for config.json: the tensors outside the layers first, then
/// layer by layer.
pub fn expected(
    layout: &'static Layout,
    config: &Config,
    values: &Values,
) -> Result<Vec<Expected>, Finding> {
    let mut out = Vec::new();
    for (group, indices) in active(layout, config, values)? {
        for index in indices {
            for template in group.tensors {
                let named = match index {
                    Some(i) => template.name.replace("{i}", &i.to_string()),
                    None => template.name.to_string(),
                };
                let shape = template
                    .shape
                    .iter()
                    .map(|s| values.require(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let experts = match template.each {
                    Some(each) => (0..values.count(each)?).map(Some).collect(),
                    None => vec![None],
                };
                for expert in experts {
                    let name = match expert {
                        Some(e) => named.replace("{e}", &e.to_string()),
                        None => named.clone(),
                    };
                    out.push((
                        index,
                        Expected {
                            name,
                            shape: shape.clone(),
                            symbols: template.shape,
                        },
                    ));
                }
            }
        }
    }
    out.sort_by_key(|(index, _)| *index);
    Ok(out.into_iter().map(|(_, expected)| expected).collect())
}

/// The layout, its values and its expected tensors for config.json; `Ok(None)` when the
/// architecture has no layout for this config.
fn plan(
    architecture: &Architecture,
    config: &Config,
) -> Result<Option<(&'static Layout, Values)>, Finding> {
    let Some(layout) = select(architecture, config)? else {
        return Ok(None);
    };
    Ok(Some((layout, evaluate(config, layout)?)))
}

/// Runs SH001-SH003 when the architecture has a layout and every weight is known.
pub(crate) fn check(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let (Some(config), Some(architecture)) = (&context.config, context.architecture) else {
        return;
    };
    let (layout, values) = match plan(architecture, config) {
        Ok(Some(plan)) => plan,
        Ok(None) => return,
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
    let count = match expected_count(layout, config, &values) {
        Ok(count) => count,
        Err(finding) => {
            findings.push(finding);
            return;
        }
    };
    let actual = weights.tensors.len() as u64;
    if count > actual.saturating_mul(2).saturating_add(1000) {
        findings.push(Finding::new(
            RuleId::MissingTensor,
            weights_file,
            format!("config.json implies {count} tensors but the weights hold {actual}"),
        ));
        return;
    }
    let all = match expected(layout, config, &values) {
        Ok(all) => all,
        Err(finding) => {
            findings.push(finding);
            return;
        }
    };
    let renamed = newer_names(
        architecture,
        &all,
        weights.tensors.keys(),
        findings,
        &weights_file,
    );
    let mut matched = HashSet::new();
    for expected in all {
        let symbols = expected.symbols.join(", ");
        let found_as = renamed
            .get(expected.name.as_str())
            .map_or(expected.name.as_str(), String::as_str);
        match weights.tensors.get(found_as) {
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

/// SH004: when tensors carry the names of a newer transformers layout, one finding with the fix,
/// and the map from each expected (4.51.3) name to the newer name it was found under, so that
/// SH001-SH003 judge the rest of the checkpoint as if it had been renamed back.
fn newer_names<'a>(
    architecture: &Architecture,
    all: &[Expected],
    names: impl Iterator<Item = &'a &'a str>,
    findings: &mut Vec<Finding>,
    weights_file: &str,
) -> HashMap<String, String> {
    let Some(newer) = architecture.newer_layout else {
        return HashMap::new();
    };
    let expected: HashSet<&str> = all.iter().map(|e| e.name.as_str()).collect();
    let renamed: HashMap<String, String> = names
        .filter(|name| !expected.contains(**name))
        .filter_map(|name| {
            let legacy = newer.legacy_name(name)?;
            expected
                .contains(legacy.as_str())
                .then(|| (legacy, name.to_string()))
        })
        .collect();
    if let Some((legacy, name)) = renamed.iter().min() {
        findings.push(
            Finding::new(
                RuleId::NewerTransformersLayout,
                weights_file,
                format!(
                    "{} tensors are named as transformers {} and newer name them ({name} for {legacy}); transformers 4.51.3, which Bedrock runs, does not recognize them and would initialize those modules at random",
                    renamed.len(),
                    newer.since
                ),
            )
            .with_hint(rename_command(newer)),
        );
    }
    renamed
}

/// The fix for SH004: save again with transformers 4.51.3, or a one-line Python command that
/// renames the tensors of every safetensors file and the index in the model folder.
pub fn rename_command(newer: &NewerLayout) -> String {
    let renames: Vec<String> = newer
        .renames
        .iter()
        .map(|(from, to)| format!("('{from}','{to}')"))
        .collect();
    format!(
        "Save the model again with transformers 4.51.3 (from_pretrained, then save_pretrained), or rename the tensors in the model folder: python3 -c \"import glob,json,os;from safetensors.torch import load_file,save_file;R=[{}];f=lambda k:next((b+k[len(a):] for a,b in R if k.startswith(a)),k);[save_file({{f(k):v for k,v in load_file(p).items()}},p,metadata={{'format':'pt'}}) for p in glob.glob('*.safetensors')];i='model.safetensors.index.json';d=os.path.exists(i) and json.load(open(i));d and d.update(weight_map={{f(k):v for k,v in d['weight_map'].items()}});d and json.dump(d,open(i,'w'),indent=2)\"",
        renames.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::architecture;

    fn config(json: &str) -> Config {
        Config::new(serde_json::from_str(json).unwrap())
    }

    fn expand(model_type: &str, json: &str) -> Result<Vec<Expected>, Finding> {
        let a = architecture(model_type).unwrap();
        let c = config(json);
        let (layout, values) = plan(a, &c)?.unwrap();
        let all = expected(layout, &c, &values)?;
        assert_eq!(all.len() as u64, expected_count(layout, &c, &values)?);
        Ok(all)
    }

    fn shape_of(all: &[Expected], name: &str) -> Vec<u64> {
        all.iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not expected"))
            .shape
            .clone()
    }

    const QWEN3_MOE: &str = r#"{"hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 4, "num_hidden_layers": 3, "intermediate_size": 32, "vocab_size": 64,
        "num_experts": 4, "moe_intermediate_size": 8, "decoder_sparse_step": 1, "mlp_only_layers": [1]}"#;

    #[test]
    fn qwen3_moe_dense_and_sparse_layers() {
        let all = expand("qwen3_moe", QWEN3_MOE).unwrap();
        let names: HashSet<_> = all.iter().map(|e| e.name.as_str()).collect();
        assert!(names.contains("model.layers.1.mlp.gate_proj.weight"));
        assert!(!names.contains("model.layers.0.mlp.gate_proj.weight"));
        assert!(names.contains("model.layers.2.mlp.experts.3.down_proj.weight"));
        assert!(!names.contains("model.layers.1.mlp.gate.weight"));
        assert_eq!(shape_of(&all, "model.layers.0.mlp.gate.weight"), [4, 16]);
        assert_eq!(
            shape_of(&all, "model.layers.0.mlp.experts.0.down_proj.weight"),
            [16, 8]
        );
        // Outside the layers first, then layer by layer.
        assert_eq!(all[0].name, "model.embed_tokens.weight");
        let layer_of = |e: &Expected| e.name.split('.').nth(2).and_then(|n| n.parse::<u64>().ok());
        let layers: Vec<_> = all.iter().filter_map(layer_of).collect();
        assert!(layers.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn head_dim_defaults_and_qwen2_ignores_it() {
        let all = expand(
            "qwen2",
            r#"{"hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 99,
            "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64, "tie_word_embeddings": true}"#,
        )
        .unwrap();
        assert!(all.iter().all(|e| e.name != "lm_head.weight"));
        assert_eq!(shape_of(&all, "model.layers.0.self_attn.k_proj.bias"), [8]);
        let llama = expand(
            "llama",
            r#"{"hidden_size": 16, "num_attention_heads": 4, "head_dim": null,
            "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
        )
        .unwrap();
        assert_eq!(shape_of(&llama, "lm_head.weight"), [64, 16]);
        assert_eq!(
            shape_of(&llama, "model.layers.0.self_attn.k_proj.weight"),
            [16, 16]
        );
    }

    #[test]
    fn impossible_configs_are_reported() {
        let cases = [
            (
                r#"{"num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
                "hidden_size is missing",
            ),
            (
                r#"{"hidden_size": 18, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
                "hidden_size 18 is not a multiple of num_attention_heads 4",
            ),
            (
                r#"{"hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 3, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64}"#,
                "num_attention_heads 4 is not a multiple of num_key_value_heads 3",
            ),
            (
                r#"{"hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 100000000, "intermediate_size": 32, "vocab_size": 64}"#,
                "num_hidden_layers is 100000000, above the plausible maximum of 4096",
            ),
            (
                r#"{"hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 32, "vocab_size": 64, "tie_word_embeddings": "yes"}"#,
                "tie_word_embeddings is \"yes\", not a boolean",
            ),
            (
                r#"{"hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": -2, "vocab_size": 64}"#,
                "intermediate_size is -2, not a positive integer",
            ),
        ];
        for (case, message) in cases {
            let error = expand("llama", case).unwrap_err();
            assert_eq!(error.rule, RuleId::ConfigFieldInvalid, "{case}");
            assert_eq!(error.message, message, "{case}");
        }
    }

    #[test]
    fn listed_and_unlisted_layers_split_the_range() {
        static LAYOUT: Layout = Layout {
            when: When::Always,
            symbols: &[crate::arch::layout::Symbol {
                name: "layers",
                value: Expr::Key("layers"),
            }],
            groups: &[
                Group {
                    repeat: Repeat::Listed {
                        count: "layers",
                        list: "cross",
                    },
                    when: When::Always,
                    tensors: &[crate::arch::layout::t!("cross.{i}", [])],
                },
                Group {
                    repeat: Repeat::Unlisted {
                        count: "layers",
                        list: "cross",
                    },
                    when: When::Equals {
                        key: "kind",
                        value: "text",
                    },
                    tensors: &[crate::arch::layout::t!("self.{i}", [])],
                },
            ],
        };
        let c = config(r#"{"layers": 4, "cross": [3, 1], "kind": "text"}"#);
        let values = evaluate(&c, &LAYOUT).unwrap();
        let names: Vec<_> = expected(&LAYOUT, &c, &values)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["self.0", "cross.1", "self.2", "cross.3"]);
        let outside = config(r#"{"layers": 4, "cross": [4]}"#);
        let values = evaluate(&outside, &LAYOUT).unwrap();
        let error = expected(&LAYOUT, &outside, &values).unwrap_err();
        assert_eq!(error.message, "cross holds 4, not a layer index below 4");
        let no_text = config(r#"{"layers": 2, "cross": [0]}"#);
        let values = evaluate(&no_text, &LAYOUT).unwrap();
        assert_eq!(expected(&LAYOUT, &no_text, &values).unwrap().len(), 1);
    }

    /// config.json of testdata/valid/mllama, as the fixture generator writes it.
    const MLLAMA: &str = r#"{"architectures": ["MllamaForConditionalGeneration"], "image_token_index": 312, "model_type": "mllama", "text_config": {"bos_token_id": 304, "cross_attention_layers": [1], "dropout": 0, "eos_token_id": 308, "hidden_act": "silu", "hidden_size": 16, "initializer_range": 0.02, "intermediate_size": 32, "max_position_embeddings": 131072, "model_type": "mllama_text_model", "num_attention_heads": 4, "num_hidden_layers": 3, "num_key_value_heads": 2, "pad_token_id": 309, "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 312}, "torch_dtype": "bfloat16", "transformers_version": "4.51.3", "vision_config": {"attention_heads": 4, "hidden_act": "gelu", "hidden_size": 16, "image_size": 28, "initializer_range": 0.02, "intermediate_layers_indices": [0, 1], "intermediate_size": 32, "max_num_tiles": 4, "model_type": "mllama_vision_model", "norm_eps": 1e-05, "num_channels": 3, "num_global_layers": 1, "num_hidden_layers": 2, "patch_size": 14, "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]], "torch_dtype": "bfloat16", "vision_output_dim": 48}}"#;
    /// config.json of testdata/valid/qwen2_5-vl.
    const QWEN2_5_VL: &str = r#"{"architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0, "bos_token_id": 304, "eos_token_id": 306, "hidden_act": "silu", "hidden_size": 32, "image_token_id": 316, "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 32768, "max_window_layers": 2, "model_type": "qwen2_5_vl", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.51.3", "use_cache": true, "use_sliding_window": false, "video_token_id": 317, "vision_config": {"depth": 2, "fullatt_block_indexes": [1], "hidden_act": "silu", "hidden_size": 16, "in_channels": 3, "intermediate_size": 32, "model_type": "qwen2_5_vl", "num_heads": 4, "out_hidden_size": 32, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "tokens_per_second": 2, "torch_dtype": "bfloat16", "window_size": 112}, "vision_end_token_id": 314, "vision_start_token_id": 313, "vision_token_id": 315, "vocab_size": 320}"#;

    #[test]
    fn mllama_layout_follows_the_nested_config() {
        let all = expand("mllama", MLLAMA).unwrap();
        assert_eq!(all.len(), 87);
        let vocab = 312;
        assert_eq!(
            shape_of(&all, "language_model.model.embed_tokens.weight"),
            vec![vocab + 8, 16]
        );
        assert_eq!(
            shape_of(&all, "language_model.lm_head.weight"),
            vec![vocab, 16]
        );
        assert_eq!(
            shape_of(
                &all,
                "vision_model.gated_positional_embedding.tile_embedding.weight"
            ),
            vec![9, 320]
        );
        assert_eq!(shape_of(&all, "multi_modal_projector.weight"), vec![16, 48]);
        let names: HashSet<_> = all.iter().map(|e| e.name.as_str()).collect();
        assert!(names.contains("language_model.model.layers.1.cross_attn.k_norm.weight"));
        assert!(!names.contains("language_model.model.layers.1.self_attn.q_proj.weight"));
        assert!(names.contains("language_model.model.layers.2.self_attn.q_proj.weight"));
        assert!(names.contains("vision_model.global_transformer.layers.0.gate_ffn"));
    }

    #[test]
    fn qwen2_5_vl_layout_and_its_newer_names() {
        let all = expand("qwen2_5_vl", QWEN2_5_VL).unwrap();
        assert_eq!(all.len(), 57);
        assert_eq!(
            shape_of(&all, "visual.patch_embed.proj.weight"),
            vec![16, 3, 2, 14, 14]
        );
        assert_eq!(shape_of(&all, "visual.merger.mlp.2.weight"), vec![32, 64]);
        let newer = architecture("qwen2_5_vl").unwrap().newer_layout.unwrap();
        assert_eq!(
            newer.legacy_name("model.language_model.layers.0.mlp.up_proj.weight"),
            Some("model.layers.0.mlp.up_proj.weight".to_string())
        );
        assert_eq!(
            newer.legacy_name("model.visual.merger.ln_q.weight"),
            Some("visual.merger.ln_q.weight".to_string())
        );
        assert_eq!(newer.legacy_name("lm_head.weight"), None);
        let mllama = architecture("mllama").unwrap().newer_layout.unwrap();
        assert_eq!(
            mllama.legacy_name("lm_head.weight"),
            Some("language_model.lm_head.weight".to_string())
        );
        assert!(rename_command(mllama).contains("('model.vision_model.','vision_model.')"));
    }
}
