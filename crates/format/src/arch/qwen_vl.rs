//! Qwen2-VL and Qwen2.5-VL: the tensors transformers 4.51.3 `save_pretrained` writes for
//! `Qwen2VLForConditionalGeneration` and `Qwen2_5_VLForConditionalGeneration` (transformers
//! 4.51.3 `models/qwen2_vl/modeling_qwen2_vl.py`, `models/qwen2_5_vl/modeling_qwen2_5_vl.py`):
//! the vision tower under `visual` (patch embedding, blocks, patch merger), the Qwen2 text model
//! under `model` with its fields at the root of config.json, and `lm_head` unless tied.

use super::layout::{t, Expr, Group, Layout, NewerLayout, Repeat, Symbol, When};

const fn sym(name: &'static str, value: Expr) -> Symbol {
    Symbol { name, value }
}

/// The text model's symbols (Qwen2: head_dim is always hidden / heads).
macro_rules! text_symbols {
    ($($vision:expr),* $(,)?) => {
        &[
            sym("hidden_size", Expr::Key("hidden_size")),
            sym("vocab_size", Expr::Key("vocab_size")),
            sym("intermediate_size", Expr::Key("intermediate_size")),
            sym("num_hidden_layers", Expr::Key("num_hidden_layers")),
            sym("num_attention_heads", Expr::Key("num_attention_heads")),
            sym(
                "num_key_value_heads",
                Expr::Or("num_key_value_heads", &Expr::Sym("num_attention_heads")),
            ),
            sym(
                "head_dim",
                Expr::Div(&Expr::Sym("hidden_size"), &Expr::Sym("num_attention_heads")),
            ),
            sym(
                "num_key_value_heads*head_dim",
                Expr::Mul(&Expr::Sym("num_key_value_heads"), &Expr::Sym("head_dim")),
            ),
            sym(
                "vision_config.in_channels",
                Expr::Or("vision_config.in_channels", &Expr::Const(3)),
            ),
            sym(
                "vision_config.patch_size",
                Expr::Or("vision_config.patch_size", &Expr::Const(14)),
            ),
            sym(
                "vision_config.temporal_patch_size",
                Expr::Or("vision_config.temporal_patch_size", &Expr::Const(2)),
            ),
            sym(
                "vision_config.spatial_merge_size",
                Expr::Or("vision_config.spatial_merge_size", &Expr::Const(2)),
            ),
            sym("vision_config.depth", Expr::Key("vision_config.depth")),
            $($vision,)*
            sym(
                "3*vision_width",
                Expr::Mul(&Expr::Const(3), &Expr::Sym("vision_width")),
            ),
            sym(
                "vision_width*spatial_merge_size^2",
                Expr::Mul(
                    &Expr::Sym("vision_width"),
                    &Expr::Mul(
                        &Expr::Sym("vision_config.spatial_merge_size"),
                        &Expr::Sym("vision_config.spatial_merge_size"),
                    ),
                ),
            ),
        ]
    };
}

/// Qwen2-VL: the blocks are `vision_config.embed_dim` wide with an MLP of `mlp_ratio` times
/// that; the merger projects to `vision_config.hidden_size`.
const QWEN2_VL_SYMBOLS: &[Symbol] = text_symbols!(
    sym("vision_width", Expr::Key("vision_config.embed_dim")),
    sym(
        "vision_width*mlp_ratio",
        Expr::Mul(
            &Expr::Sym("vision_width"),
            &Expr::Key("vision_config.mlp_ratio")
        ),
    ),
    sym("merger_output", Expr::Key("vision_config.hidden_size")),
);

/// Qwen2.5-VL: the blocks are `vision_config.hidden_size` wide with a gated MLP of
/// `vision_config.intermediate_size`; the merger projects to `vision_config.out_hidden_size`.
const QWEN2_5_VL_SYMBOLS: &[Symbol] = text_symbols!(
    sym("vision_width", Expr::Key("vision_config.hidden_size")),
    sym(
        "vision_config.intermediate_size",
        Expr::Key("vision_config.intermediate_size"),
    ),
    sym("merger_output", Expr::Key("vision_config.out_hidden_size")),
);

/// The 3D patch embedding.
const PATCH_EMBED: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[t!(
        "visual.patch_embed.proj.weight",
        [
            "vision_width",
            "vision_config.in_channels",
            "vision_config.temporal_patch_size",
            "vision_config.patch_size",
            "vision_config.patch_size"
        ]
    )],
};

/// Qwen2-VL vision blocks: LayerNorms with bias, a GELU MLP.
const QWEN2_VL_BLOCKS: Group = Group {
    repeat: Repeat::Range("vision_config.depth"),
    when: When::Always,
    tensors: &[
        t!("visual.blocks.{i}.norm1.weight", ["vision_width"]),
        t!("visual.blocks.{i}.norm1.bias", ["vision_width"]),
        t!("visual.blocks.{i}.norm2.weight", ["vision_width"]),
        t!("visual.blocks.{i}.norm2.bias", ["vision_width"]),
        t!(
            "visual.blocks.{i}.attn.qkv.weight",
            ["3*vision_width", "vision_width"]
        ),
        t!("visual.blocks.{i}.attn.qkv.bias", ["3*vision_width"]),
        t!(
            "visual.blocks.{i}.attn.proj.weight",
            ["vision_width", "vision_width"]
        ),
        t!("visual.blocks.{i}.attn.proj.bias", ["vision_width"]),
        t!(
            "visual.blocks.{i}.mlp.fc1.weight",
            ["vision_width*mlp_ratio", "vision_width"]
        ),
        t!("visual.blocks.{i}.mlp.fc1.bias", ["vision_width*mlp_ratio"]),
        t!(
            "visual.blocks.{i}.mlp.fc2.weight",
            ["vision_width", "vision_width*mlp_ratio"]
        ),
        t!("visual.blocks.{i}.mlp.fc2.bias", ["vision_width"]),
    ],
};

/// Qwen2.5-VL vision blocks: RMSNorms, a gated MLP with biases.
const QWEN2_5_VL_BLOCKS: Group = Group {
    repeat: Repeat::Range("vision_config.depth"),
    when: When::Always,
    tensors: &[
        t!("visual.blocks.{i}.norm1.weight", ["vision_width"]),
        t!("visual.blocks.{i}.norm2.weight", ["vision_width"]),
        t!(
            "visual.blocks.{i}.attn.qkv.weight",
            ["3*vision_width", "vision_width"]
        ),
        t!("visual.blocks.{i}.attn.qkv.bias", ["3*vision_width"]),
        t!(
            "visual.blocks.{i}.attn.proj.weight",
            ["vision_width", "vision_width"]
        ),
        t!("visual.blocks.{i}.attn.proj.bias", ["vision_width"]),
        t!(
            "visual.blocks.{i}.mlp.gate_proj.weight",
            ["vision_config.intermediate_size", "vision_width"]
        ),
        t!(
            "visual.blocks.{i}.mlp.gate_proj.bias",
            ["vision_config.intermediate_size"]
        ),
        t!(
            "visual.blocks.{i}.mlp.up_proj.weight",
            ["vision_config.intermediate_size", "vision_width"]
        ),
        t!(
            "visual.blocks.{i}.mlp.up_proj.bias",
            ["vision_config.intermediate_size"]
        ),
        t!(
            "visual.blocks.{i}.mlp.down_proj.weight",
            ["vision_width", "vision_config.intermediate_size"]
        ),
        t!("visual.blocks.{i}.mlp.down_proj.bias", ["vision_width"]),
    ],
};

/// Qwen2-VL patch merger: a LayerNorm with bias, then a two-layer MLP.
const QWEN2_VL_MERGER: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!("visual.merger.ln_q.weight", ["vision_width"]),
        t!("visual.merger.ln_q.bias", ["vision_width"]),
        t!(
            "visual.merger.mlp.0.weight",
            [
                "vision_width*spatial_merge_size^2",
                "vision_width*spatial_merge_size^2"
            ]
        ),
        t!(
            "visual.merger.mlp.0.bias",
            ["vision_width*spatial_merge_size^2"]
        ),
        t!(
            "visual.merger.mlp.2.weight",
            ["merger_output", "vision_width*spatial_merge_size^2"]
        ),
        t!("visual.merger.mlp.2.bias", ["merger_output"]),
    ],
};

/// Qwen2.5-VL patch merger: an RMSNorm, then a two-layer MLP.
const QWEN2_5_VL_MERGER: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!("visual.merger.ln_q.weight", ["vision_width"]),
        t!(
            "visual.merger.mlp.0.weight",
            [
                "vision_width*spatial_merge_size^2",
                "vision_width*spatial_merge_size^2"
            ]
        ),
        t!(
            "visual.merger.mlp.0.bias",
            ["vision_width*spatial_merge_size^2"]
        ),
        t!(
            "visual.merger.mlp.2.weight",
            ["merger_output", "vision_width*spatial_merge_size^2"]
        ),
        t!("visual.merger.mlp.2.bias", ["merger_output"]),
    ],
};

/// The text model's embedding and final norm.
const TEXT_FRAME: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!("model.embed_tokens.weight", ["vocab_size", "hidden_size"]),
        t!("model.norm.weight", ["hidden_size"]),
    ],
};

/// `lm_head.weight`, written unless `tie_word_embeddings` is true (Qwen2-VL-2B ties it).
const UNTIED_HEAD: Group = Group {
    repeat: Repeat::Once,
    when: When::Flag {
        key: "tie_word_embeddings",
        default: false,
        is: false,
    },
    tensors: &[t!("lm_head.weight", ["vocab_size", "hidden_size"])],
};

/// The Qwen2 decoder layers: q/k/v with biases.
const TEXT_LAYERS: Group = Group {
    repeat: Repeat::Range("num_hidden_layers"),
    when: When::Always,
    tensors: &[
        t!(
            "model.layers.{i}.self_attn.q_proj.weight",
            ["hidden_size", "hidden_size"]
        ),
        t!("model.layers.{i}.self_attn.q_proj.bias", ["hidden_size"]),
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
            ["hidden_size", "hidden_size"]
        ),
        t!(
            "model.layers.{i}.mlp.gate_proj.weight",
            ["intermediate_size", "hidden_size"]
        ),
        t!(
            "model.layers.{i}.mlp.up_proj.weight",
            ["intermediate_size", "hidden_size"]
        ),
        t!(
            "model.layers.{i}.mlp.down_proj.weight",
            ["hidden_size", "intermediate_size"]
        ),
        t!("model.layers.{i}.input_layernorm.weight", ["hidden_size"]),
        t!(
            "model.layers.{i}.post_attention_layernorm.weight",
            ["hidden_size"]
        ),
    ],
};

/// `Qwen2VLForConditionalGeneration` as transformers 4.51.3 writes it.
pub(super) static QWEN2_VL: &[Layout] = &[Layout {
    when: When::Always,
    symbols: QWEN2_VL_SYMBOLS,
    groups: &[
        PATCH_EMBED,
        QWEN2_VL_BLOCKS,
        QWEN2_VL_MERGER,
        TEXT_FRAME,
        TEXT_LAYERS,
        UNTIED_HEAD,
    ],
}];

/// `Qwen2_5_VLForConditionalGeneration` as transformers 4.51.3 writes it.
pub(super) static QWEN2_5_VL: &[Layout] = &[Layout {
    when: When::Always,
    symbols: QWEN2_5_VL_SYMBOLS,
    groups: &[
        PATCH_EMBED,
        QWEN2_5_VL_BLOCKS,
        QWEN2_5_VL_MERGER,
        TEXT_FRAME,
        TEXT_LAYERS,
        UNTIED_HEAD,
    ],
}];

/// The module names of transformers 4.52 (the vision tower and the text model under `model`;
/// the `_checkpoint_conversion_mapping` of 4.52 `modeling_qwen2_vl.py` and
/// `modeling_qwen2_5_vl.py`), newer prefix first.
pub(super) const NEWER: NewerLayout = NewerLayout {
    since: "4.52.0",
    renames: &[
        ("model.visual.", "visual."),
        ("model.language_model.", "model."),
    ],
};
