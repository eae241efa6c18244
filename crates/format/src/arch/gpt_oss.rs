//! GPT-OSS (`GptOssForCausalLM`), which transformers added in 4.55 (newer than the 4.51.3 that
//! Bedrock documents for the other architectures). Two checkpoints of the same model:
//!
//! - MXFP4, as openai/gpt-oss-20b and -120b ship (config.json `quantization_config.quant_method`
//!   `mxfp4`): each layer's experts as `gate_up_proj_blocks`/`down_proj_blocks` (U8, FP4 values
//!   two per byte in blocks of 32, so `[..., size/32, 16]`) with one U8 exponent per block in
//!   `*_scales`, and BF16 biases; names and shapes of `Mxfp4GptOssExperts` in transformers
//!   4.57.1 `integrations/mxfp4.py`;
//! - BF16, what `save_pretrained` writes after loading with `Mxfp4Config(dequantize=True)`: the
//!   fused `gate_up_proj` `[experts, hidden, 2*intermediate]` and `down_proj`
//!   `[experts, intermediate, hidden]` of `GptOssExperts` in transformers 4.57.1
//!   `models/gpt_oss/modeling_gpt_oss.py`.
//!
//! Attention always has biases (`GptOssConfig` sets `attention_bias` to true whatever
//! config.json says) and one learned sink per head; the router is a linear layer with a bias.

use super::layout::{t, Expr, Group, Layout, Repeat, Symbol, TensorTemplate, When};
use super::llama::{
    HEADS, HEADS_PER_KV_HEAD, HEAD_DIM, HIDDEN, INTERMEDIATE, KEY_VALUE_WIDTH, KV_HEADS, LAYERS,
    QUERY_WIDTH, UNTIED_HEAD, VOCAB,
};

const EXPERTS: Symbol = Symbol {
    name: "num_local_experts",
    value: Expr::Key("num_local_experts"),
};
/// The gate and up projections of an expert, fused.
const GATE_UP: Symbol = Symbol {
    name: "2*intermediate_size",
    value: Expr::Mul(&Expr::Const(2), &Expr::Sym("intermediate_size")),
};

/// The symbols of the BF16 layout.
const COMMON: &[Symbol] = &[
    HIDDEN,
    HEADS,
    LAYERS,
    INTERMEDIATE,
    VOCAB,
    KV_HEADS,
    HEADS_PER_KV_HEAD,
    HEAD_DIM,
    QUERY_WIDTH,
    KEY_VALUE_WIDTH,
    EXPERTS,
    GATE_UP,
];

/// The symbols of the MXFP4 layout: the common ones, and blocks of 32 values along the input
/// dimension, which must be exact or the weights cannot be packed.
const MXFP4_SYMBOLS: &[Symbol] = &[
    HIDDEN,
    HEADS,
    LAYERS,
    INTERMEDIATE,
    VOCAB,
    KV_HEADS,
    HEADS_PER_KV_HEAD,
    HEAD_DIM,
    QUERY_WIDTH,
    KEY_VALUE_WIDTH,
    EXPERTS,
    GATE_UP,
    Symbol {
        name: "hidden_size/32",
        value: Expr::Div(&Expr::Sym("hidden_size"), &Expr::Const(32)),
    },
    Symbol {
        name: "intermediate_size/32",
        value: Expr::Div(&Expr::Sym("intermediate_size"), &Expr::Const(32)),
    },
    // The 16 bytes that hold a block's 32 four-bit values.
    Symbol {
        name: "16",
        value: Expr::Const(16),
    },
];

/// The embedding and the final norm.
const FRAME: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!("model.embed_tokens.weight", ["vocab_size", "hidden_size"]),
        t!("model.norm.weight", ["hidden_size"]),
    ],
};

/// Norms, attention with biases and sinks, and the router: the same in both checkpoints.
const LAYER: [TensorTemplate; 13] = [
    t!("model.layers.{i}.input_layernorm.weight", ["hidden_size"]),
    t!(
        "model.layers.{i}.post_attention_layernorm.weight",
        ["hidden_size"]
    ),
    t!("model.layers.{i}.self_attn.sinks", ["num_attention_heads"]),
    t!(
        "model.layers.{i}.self_attn.q_proj.weight",
        ["num_attention_heads*head_dim", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.q_proj.bias",
        ["num_attention_heads*head_dim"]
    ),
    t!(
        "model.layers.{i}.self_attn.k_proj.weight",
        ["num_key_value_heads*head_dim", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.k_proj.bias",
        ["num_key_value_heads*head_dim"]
    ),
    t!(
        "model.layers.{i}.self_attn.v_proj.weight",
        ["num_key_value_heads*head_dim", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.v_proj.bias",
        ["num_key_value_heads*head_dim"]
    ),
    t!(
        "model.layers.{i}.self_attn.o_proj.weight",
        ["hidden_size", "num_attention_heads*head_dim"]
    ),
    t!("model.layers.{i}.self_attn.o_proj.bias", ["hidden_size"]),
    t!(
        "model.layers.{i}.mlp.router.weight",
        ["num_local_experts", "hidden_size"]
    ),
    t!("model.layers.{i}.mlp.router.bias", ["num_local_experts"]),
];

const fn every_layer(tensors: &'static [TensorTemplate]) -> Group {
    Group {
        repeat: Repeat::Range("num_hidden_layers"),
        when: When::Always,
        tensors,
    }
}

/// The experts of each layer as openai/gpt-oss ships them, MXFP4 blocks and scales.
const MXFP4_EXPERTS: [TensorTemplate; 6] = [
    t!(
        "model.layers.{i}.mlp.experts.gate_up_proj_blocks",
        [
            "num_local_experts",
            "2*intermediate_size",
            "hidden_size/32",
            "16"
        ]
    ),
    t!(
        "model.layers.{i}.mlp.experts.gate_up_proj_scales",
        ["num_local_experts", "2*intermediate_size", "hidden_size/32"]
    ),
    t!(
        "model.layers.{i}.mlp.experts.gate_up_proj_bias",
        ["num_local_experts", "2*intermediate_size"]
    ),
    t!(
        "model.layers.{i}.mlp.experts.down_proj_blocks",
        [
            "num_local_experts",
            "hidden_size",
            "intermediate_size/32",
            "16"
        ]
    ),
    t!(
        "model.layers.{i}.mlp.experts.down_proj_scales",
        ["num_local_experts", "hidden_size", "intermediate_size/32"]
    ),
    t!(
        "model.layers.{i}.mlp.experts.down_proj_bias",
        ["num_local_experts", "hidden_size"]
    ),
];

/// The experts of each layer dequantized: fused BF16 projections.
const BF16_EXPERTS: [TensorTemplate; 4] = [
    t!(
        "model.layers.{i}.mlp.experts.gate_up_proj",
        ["num_local_experts", "hidden_size", "2*intermediate_size"]
    ),
    t!(
        "model.layers.{i}.mlp.experts.gate_up_proj_bias",
        ["num_local_experts", "2*intermediate_size"]
    ),
    t!(
        "model.layers.{i}.mlp.experts.down_proj",
        ["num_local_experts", "intermediate_size", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.mlp.experts.down_proj_bias",
        ["num_local_experts", "hidden_size"]
    ),
];

/// GPT-OSS: the MXFP4 checkpoint when config.json says so, the BF16 one without a
/// `quantization_config`.
pub(super) static GPT_OSS: &[Layout] = &[
    Layout {
        when: When::Equals {
            key: "quantization_config.quant_method",
            value: "mxfp4",
        },
        symbols: MXFP4_SYMBOLS,
        groups: &[
            FRAME,
            UNTIED_HEAD,
            every_layer(&LAYER),
            every_layer(&MXFP4_EXPERTS),
        ],
    },
    Layout {
        when: When::Absent("quantization_config"),
        symbols: COMMON,
        groups: &[
            FRAME,
            UNTIED_HEAD,
            every_layer(&LAYER),
            every_layer(&BF16_EXPERTS),
        ],
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::config::Config;
    use crate::shapes::{evaluate, expected, select, Expected};

    /// config.json of openai/gpt-oss-20b, the keys that define its tensors.
    fn config_20b(quantized: bool) -> Config {
        let mut value = serde_json::json!({
            "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
            "head_dim": 64, "num_attention_heads": 64, "num_key_value_heads": 8,
            "num_hidden_layers": 24, "num_local_experts": 32, "vocab_size": 201088,
            "tie_word_embeddings": false,
        });
        if quantized {
            value["quantization_config"] =
                serde_json::json!({"quant_method": "mxfp4", "modules_to_not_convert": ["lm_head"]});
        }
        Config::new(value.as_object().expect("object").clone())
    }

    fn expand(config: &Config) -> Vec<Expected> {
        let gpt_oss = crate::arch::architecture("gpt_oss").expect("listed");
        let layout = select(gpt_oss, config).expect("valid").expect("a layout");
        let values = evaluate(config, layout).expect("symbols");
        expected(layout, config, &values).expect("tensors")
    }

    fn shape(all: &[Expected], name: &str) -> Vec<u64> {
        all.iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .shape
            .clone()
    }

    #[test]
    fn mxfp4_20b_has_blocks_and_scales() {
        let all = expand(&config_20b(true));
        assert_eq!(all.len(), 3 + 24 * 19);
        let names: HashSet<&str> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), all.len());
        let experts = "model.layers.23.mlp.experts";
        assert_eq!(
            shape(&all, &format!("{experts}.gate_up_proj_blocks")),
            [32, 5760, 90, 16]
        );
        assert_eq!(
            shape(&all, &format!("{experts}.gate_up_proj_scales")),
            [32, 5760, 90]
        );
        assert_eq!(
            shape(&all, &format!("{experts}.down_proj_blocks")),
            [32, 2880, 90, 16]
        );
        assert_eq!(
            shape(&all, &format!("{experts}.down_proj_bias")),
            [32, 2880]
        );
        assert_eq!(shape(&all, "model.layers.0.self_attn.sinks"), [64]);
        assert_eq!(
            shape(&all, "model.layers.0.self_attn.q_proj.weight"),
            [4096, 2880]
        );
        assert_eq!(shape(&all, "model.layers.0.self_attn.k_proj.bias"), [512]);
        assert_eq!(shape(&all, "model.layers.0.mlp.router.weight"), [32, 2880]);
        assert_eq!(shape(&all, "lm_head.weight"), [201088, 2880]);
        assert!(!names.contains(&"model.layers.0.mlp.experts.gate_up_proj"));
    }

    #[test]
    fn bf16_20b_has_fused_experts() {
        let all = expand(&config_20b(false));
        assert_eq!(all.len(), 3 + 24 * 17);
        assert_eq!(
            shape(&all, "model.layers.0.mlp.experts.gate_up_proj"),
            [32, 2880, 5760]
        );
        assert_eq!(
            shape(&all, "model.layers.0.mlp.experts.down_proj"),
            [32, 2880, 2880]
        );
        assert!(all.iter().all(|e| !e.name.ends_with("_blocks")));
    }

    #[test]
    fn other_quantization_has_no_layout() {
        let mut value = serde_json::json!({"model_type": "gpt_oss"});
        value["quantization_config"] = serde_json::json!({"quant_method": "fp8"});
        let config = Config::new(value.as_object().expect("object").clone());
        let gpt_oss = crate::arch::architecture("gpt_oss").expect("listed");
        assert!(select(gpt_oss, &config).expect("valid").is_none());
    }

    #[test]
    fn mxfp4_needs_whole_blocks() {
        let mut value = serde_json::json!({
            "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2000,
            "num_attention_heads": 64, "num_key_value_heads": 8, "num_hidden_layers": 1,
            "num_local_experts": 4, "vocab_size": 64,
        });
        value["quantization_config"] = serde_json::json!({"quant_method": "mxfp4"});
        let config = Config::new(value.as_object().expect("object").clone());
        let gpt_oss = crate::arch::architecture("gpt_oss").expect("listed");
        let layout = select(gpt_oss, &config).expect("valid").expect("mxfp4");
        let error = evaluate(&config, layout).expect_err("2000 is not a multiple of 32");
        assert_eq!(error.rule, crate::RuleId::ConfigFieldInvalid);
        assert!(
            error.message.contains("intermediate_size 2000"),
            "{}",
            error.message
        );
    }
}
