//! Mllama (Llama 3.2 Vision): the tensors transformers 4.51.3 `save_pretrained` writes for
//! `MllamaForConditionalGeneration` (transformers 4.51.3 `models/mllama/modeling_mllama.py`):
//! the vision tower under `vision_model` (local layers, then gated global layers), the language
//! model under `language_model` (its embedding has `vocab_size + 8` rows, the image token and
//! seven spares; its cross-attention layers are those of `text_config.cross_attention_layers`),
//! and the `multi_modal_projector`.

use super::layout::{t, Expr, Group, Layout, NewerLayout, Repeat, Symbol, TensorTemplate, When};

const fn sym(name: &'static str, value: Expr) -> Symbol {
    Symbol { name, value }
}

const GRID: Expr = Expr::Div(
    &Expr::Sym("vision_config.image_size"),
    &Expr::Sym("vision_config.patch_size"),
);

const SYMBOLS: &[Symbol] = &[
    sym("1", Expr::Const(1)),
    sym(
        "text_config.hidden_size",
        Expr::Key("text_config.hidden_size"),
    ),
    sym(
        "text_config.vocab_size",
        Expr::Key("text_config.vocab_size"),
    ),
    sym(
        "text_config.vocab_size+8",
        Expr::Add(
            &Expr::Sym("text_config.vocab_size"),
            &Expr::Const(EXTRA_EMBEDDING_ROWS),
        ),
    ),
    sym(
        "text_config.intermediate_size",
        Expr::Key("text_config.intermediate_size"),
    ),
    sym(
        "text_config.num_hidden_layers",
        Expr::Key("text_config.num_hidden_layers"),
    ),
    sym(
        "text_config.num_attention_heads",
        Expr::Key("text_config.num_attention_heads"),
    ),
    sym(
        "text_config.num_key_value_heads",
        Expr::Key("text_config.num_key_value_heads"),
    ),
    sym(
        "head_dim",
        Expr::Div(
            &Expr::Sym("text_config.hidden_size"),
            &Expr::Sym("text_config.num_attention_heads"),
        ),
    ),
    sym(
        "num_key_value_heads*head_dim",
        Expr::Mul(
            &Expr::Sym("text_config.num_key_value_heads"),
            &Expr::Sym("head_dim"),
        ),
    ),
    sym(
        "vision_config.hidden_size",
        Expr::Key("vision_config.hidden_size"),
    ),
    sym(
        "vision_config.intermediate_size",
        Expr::Key("vision_config.intermediate_size"),
    ),
    sym(
        "vision_config.num_hidden_layers",
        Expr::Key("vision_config.num_hidden_layers"),
    ),
    sym(
        "vision_config.num_global_layers",
        Expr::Key("vision_config.num_global_layers"),
    ),
    sym(
        "vision_config.num_channels",
        Expr::Or("vision_config.num_channels", &Expr::Const(3)),
    ),
    sym(
        "vision_config.patch_size",
        Expr::Key("vision_config.patch_size"),
    ),
    sym(
        "vision_config.image_size",
        Expr::Key("vision_config.image_size"),
    ),
    sym(
        "vision_config.max_num_tiles",
        Expr::Key("vision_config.max_num_tiles"),
    ),
    sym(
        "vision_config.vision_output_dim",
        Expr::Key("vision_config.vision_output_dim"),
    ),
    sym(
        "(image_size/patch_size)^2+1",
        Expr::Add(&Expr::Mul(&GRID, &GRID), &Expr::Const(1)),
    ),
    sym(
        "len(supported_aspect_ratios)+1",
        Expr::Add(
            &Expr::Len("vision_config.supported_aspect_ratios"),
            &Expr::Const(1),
        ),
    ),
    sym(
        "max_num_tiles*hidden_size",
        Expr::Mul(
            &Expr::Sym("vision_config.max_num_tiles"),
            &Expr::Sym("vision_config.hidden_size"),
        ),
    ),
    sym(
        "max_num_tiles*num_patches*hidden_size",
        Expr::Mul(
            &Expr::Sym("max_num_tiles*hidden_size"),
            &Expr::Sym("(image_size/patch_size)^2+1"),
        ),
    ),
];

const VISION: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!(
            "vision_model.class_embedding",
            ["vision_config.hidden_size"]
        ),
        t!(
            "vision_model.patch_embedding.weight",
            [
                "vision_config.hidden_size",
                "vision_config.num_channels",
                "vision_config.patch_size",
                "vision_config.patch_size"
            ]
        ),
        t!("vision_model.gated_positional_embedding.gate", ["1"]),
        t!(
            "vision_model.gated_positional_embedding.embedding",
            ["(image_size/patch_size)^2+1", "vision_config.hidden_size"]
        ),
        t!(
            "vision_model.gated_positional_embedding.tile_embedding.weight",
            [
                "len(supported_aspect_ratios)+1",
                "max_num_tiles*num_patches*hidden_size"
            ]
        ),
        t!("vision_model.pre_tile_positional_embedding.gate", ["1"]),
        t!(
            "vision_model.pre_tile_positional_embedding.embedding.weight",
            [
                "len(supported_aspect_ratios)+1",
                "max_num_tiles*hidden_size"
            ]
        ),
        t!("vision_model.post_tile_positional_embedding.gate", ["1"]),
        t!(
            "vision_model.post_tile_positional_embedding.embedding.weight",
            [
                "len(supported_aspect_ratios)+1",
                "max_num_tiles*hidden_size"
            ]
        ),
        t!(
            "vision_model.layernorm_pre.weight",
            ["vision_config.hidden_size"]
        ),
        t!(
            "vision_model.layernorm_pre.bias",
            ["vision_config.hidden_size"]
        ),
        t!(
            "vision_model.layernorm_post.weight",
            ["vision_config.hidden_size"]
        ),
        t!(
            "vision_model.layernorm_post.bias",
            ["vision_config.hidden_size"]
        ),
    ],
};

/// The tensors of a `transformer` encoder layer (`MllamaVisionEncoderLayer`).
const LOCAL_LAYER: [TensorTemplate; 12] = [
    t!(
        "vision_model.transformer.layers.{i}.self_attn.q_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.self_attn.k_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.self_attn.v_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.self_attn.o_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.mlp.fc1.weight",
        [
            "vision_config.intermediate_size",
            "vision_config.hidden_size"
        ]
    ),
    t!(
        "vision_model.transformer.layers.{i}.mlp.fc1.bias",
        ["vision_config.intermediate_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.mlp.fc2.weight",
        [
            "vision_config.hidden_size",
            "vision_config.intermediate_size"
        ]
    ),
    t!(
        "vision_model.transformer.layers.{i}.mlp.fc2.bias",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.input_layernorm.weight",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.input_layernorm.bias",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.post_attention_layernorm.weight",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.transformer.layers.{i}.post_attention_layernorm.bias",
        ["vision_config.hidden_size"]
    ),
];

/// The tensors of a `global_transformer` encoder layer (`MllamaVisionEncoderLayer`).
const GLOBAL_LAYER: [TensorTemplate; 12] = [
    t!(
        "vision_model.global_transformer.layers.{i}.self_attn.q_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.self_attn.k_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.self_attn.v_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.self_attn.o_proj.weight",
        ["vision_config.hidden_size", "vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.mlp.fc1.weight",
        [
            "vision_config.intermediate_size",
            "vision_config.hidden_size"
        ]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.mlp.fc1.bias",
        ["vision_config.intermediate_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.mlp.fc2.weight",
        [
            "vision_config.hidden_size",
            "vision_config.intermediate_size"
        ]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.mlp.fc2.bias",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.input_layernorm.weight",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.input_layernorm.bias",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.post_attention_layernorm.weight",
        ["vision_config.hidden_size"]
    ),
    t!(
        "vision_model.global_transformer.layers.{i}.post_attention_layernorm.bias",
        ["vision_config.hidden_size"]
    ),
];

const LOCAL_LAYERS: Group = Group {
    repeat: Repeat::Range("vision_config.num_hidden_layers"),
    when: When::Always,
    tensors: &LOCAL_LAYER,
};

const GLOBAL_LAYERS: Group = Group {
    repeat: Repeat::Range("vision_config.num_global_layers"),
    when: When::Always,
    tensors: &GLOBAL_LAYER,
};

const GLOBAL_GATES: Group = Group {
    repeat: Repeat::Range("vision_config.num_global_layers"),
    when: When::Always,
    tensors: &[
        t!(
            "vision_model.global_transformer.layers.{i}.gate_attn",
            ["1"]
        ),
        t!("vision_model.global_transformer.layers.{i}.gate_ffn", ["1"]),
    ],
};

const TEXT_FRAME: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!(
            "language_model.model.embed_tokens.weight",
            ["text_config.vocab_size+8", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.norm.weight",
            ["text_config.hidden_size"]
        ),
        t!(
            "language_model.lm_head.weight",
            ["text_config.vocab_size", "text_config.hidden_size"]
        ),
        t!(
            "multi_modal_projector.weight",
            ["text_config.hidden_size", "vision_config.vision_output_dim"]
        ),
        t!("multi_modal_projector.bias", ["text_config.hidden_size"]),
    ],
};

/// What every decoder layer has beside its attention: the MLP and the two norms.
const TEXT_MLP: [TensorTemplate; 5] = [
    t!(
        "language_model.model.layers.{i}.mlp.gate_proj.weight",
        ["text_config.intermediate_size", "text_config.hidden_size"]
    ),
    t!(
        "language_model.model.layers.{i}.mlp.up_proj.weight",
        ["text_config.intermediate_size", "text_config.hidden_size"]
    ),
    t!(
        "language_model.model.layers.{i}.mlp.down_proj.weight",
        ["text_config.hidden_size", "text_config.intermediate_size"]
    ),
    t!(
        "language_model.model.layers.{i}.input_layernorm.weight",
        ["text_config.hidden_size"]
    ),
    t!(
        "language_model.model.layers.{i}.post_attention_layernorm.weight",
        ["text_config.hidden_size"]
    ),
];

const SELF_ATTENTION_LAYERS: Group = Group {
    repeat: Repeat::Unlisted {
        count: "text_config.num_hidden_layers",
        list: "text_config.cross_attention_layers",
    },
    when: When::Always,
    tensors: &[
        t!(
            "language_model.model.layers.{i}.self_attn.q_proj.weight",
            ["text_config.hidden_size", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.self_attn.k_proj.weight",
            ["num_key_value_heads*head_dim", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.self_attn.v_proj.weight",
            ["num_key_value_heads*head_dim", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.self_attn.o_proj.weight",
            ["text_config.hidden_size", "text_config.hidden_size"]
        ),
    ],
};

const CROSS_ATTENTION_LAYERS: Group = Group {
    repeat: Repeat::Listed {
        count: "text_config.num_hidden_layers",
        list: "text_config.cross_attention_layers",
    },
    when: When::Always,
    tensors: &[
        t!(
            "language_model.model.layers.{i}.cross_attn_attn_gate",
            ["1"]
        ),
        t!("language_model.model.layers.{i}.cross_attn_mlp_gate", ["1"]),
        t!(
            "language_model.model.layers.{i}.cross_attn.q_proj.weight",
            ["text_config.hidden_size", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.cross_attn.k_proj.weight",
            ["num_key_value_heads*head_dim", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.cross_attn.v_proj.weight",
            ["num_key_value_heads*head_dim", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.cross_attn.o_proj.weight",
            ["text_config.hidden_size", "text_config.hidden_size"]
        ),
        t!(
            "language_model.model.layers.{i}.cross_attn.q_norm.weight",
            ["head_dim"]
        ),
        t!(
            "language_model.model.layers.{i}.cross_attn.k_norm.weight",
            ["head_dim"]
        ),
    ],
};

const EVERY_TEXT_LAYER: Group = Group {
    repeat: Repeat::Range("text_config.num_hidden_layers"),
    when: When::Always,
    tensors: &TEXT_MLP,
};

/// `MllamaForConditionalGeneration` as transformers 4.51.3 writes it.
pub(super) static MLLAMA: &[Layout] = &[Layout {
    when: When::Always,
    symbols: SYMBOLS,
    groups: &[
        VISION,
        LOCAL_LAYERS,
        GLOBAL_GATES,
        GLOBAL_LAYERS,
        TEXT_FRAME,
        SELF_ATTENTION_LAYERS,
        CROSS_ATTENTION_LAYERS,
        EVERY_TEXT_LAYER,
    ],
}];

/// The module names of transformers 4.52 (`MllamaModel` under `model`, `lm_head` at the root;
/// the `_checkpoint_conversion_mapping` of 4.52 `modeling_mllama.py`), newer prefix first.
pub(super) const NEWER: NewerLayout = NewerLayout {
    since: "4.52.0",
    renames: &[
        ("model.language_model.", "language_model.model."),
        ("model.vision_model.", "vision_model."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("lm_head.", "language_model.lm_head."),
    ],
};

/// The embedding rows beyond `text_config.vocab_size`: `MllamaTextModel` builds its embedding
/// with `vocab_size + 8` rows, and `<|image|>` is the first of them (id `vocab_size`).
pub(super) const EXTRA_EMBEDDING_ROWS: u64 = 8;
