//! Llama, Mistral, Mixtral, Qwen2, Qwen3 and Qwen3-MoE: decoder-only models in the Llama mould,
//! as transformers 4.51.3 `save_pretrained` writes them (modeling_llama.py, modeling_mistral.py,
//! modeling_mixtral.py, modeling_qwen2.py, modeling_qwen3.py, modeling_qwen3_moe.py).

use super::layout::{t, Expr, Group, Layout, Repeat, Symbol, TensorTemplate, When};

pub(super) const HIDDEN: Symbol = Symbol {
    name: "hidden_size",
    value: Expr::Key("hidden_size"),
};
pub(super) const VOCAB: Symbol = Symbol {
    name: "vocab_size",
    value: Expr::Key("vocab_size"),
};
pub(super) const HEADS: Symbol = Symbol {
    name: "num_attention_heads",
    value: Expr::Key("num_attention_heads"),
};
pub(super) const KV_HEADS: Symbol = Symbol {
    name: "num_key_value_heads",
    value: Expr::Or("num_key_value_heads", &Expr::Sym("num_attention_heads")),
};
/// Grouped-query attention needs whole groups: a symbol no shape uses, computed for its check.
pub(super) const HEADS_PER_KV_HEAD: Symbol = Symbol {
    name: "num_attention_heads/num_key_value_heads",
    value: Expr::Div(
        &Expr::Sym("num_attention_heads"),
        &Expr::Sym("num_key_value_heads"),
    ),
};
pub(super) const LAYERS: Symbol = Symbol {
    name: "num_hidden_layers",
    value: Expr::Key("num_hidden_layers"),
};
pub(super) const INTERMEDIATE: Symbol = Symbol {
    name: "intermediate_size",
    value: Expr::Key("intermediate_size"),
};
const HIDDEN_PER_HEAD: Expr =
    Expr::Div(&Expr::Sym("hidden_size"), &Expr::Sym("num_attention_heads"));
/// `head_dim` when config.json sets it, hidden / heads otherwise.
pub(super) const HEAD_DIM: Symbol = Symbol {
    name: "head_dim",
    value: Expr::Or("head_dim", &HIDDEN_PER_HEAD),
};
/// Qwen2's head_dim is always hidden / heads: its config has no head_dim key.
const QWEN2_HEAD_DIM: Symbol = Symbol {
    name: "head_dim",
    value: HIDDEN_PER_HEAD,
};
pub(super) const QUERY_WIDTH: Symbol = Symbol {
    name: "num_attention_heads*head_dim",
    value: Expr::Mul(&Expr::Sym("num_attention_heads"), &Expr::Sym("head_dim")),
};
pub(super) const KEY_VALUE_WIDTH: Symbol = Symbol {
    name: "num_key_value_heads*head_dim",
    value: Expr::Mul(&Expr::Sym("num_key_value_heads"), &Expr::Sym("head_dim")),
};

const LLAMA_SYMBOLS: &[Symbol] = &[
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
];

/// The embedding, final norm and untied output projection.
const FRAME: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!("model.embed_tokens.weight", ["vocab_size", "hidden_size"]),
        t!("model.norm.weight", ["hidden_size"]),
    ],
};

/// `lm_head.weight`, written unless `tie_word_embeddings` is true.
pub(super) const UNTIED_HEAD: Group = Group {
    repeat: Repeat::Once,
    when: When::Flag {
        key: "tie_word_embeddings",
        default: false,
        is: false,
    },
    tensors: &[t!("lm_head.weight", ["vocab_size", "hidden_size"])],
};

const ATTENTION: [TensorTemplate; 6] = [
    t!("model.layers.{i}.input_layernorm.weight", ["hidden_size"]),
    t!(
        "model.layers.{i}.post_attention_layernorm.weight",
        ["hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.q_proj.weight",
        ["num_attention_heads*head_dim", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.k_proj.weight",
        ["num_key_value_heads*head_dim", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.v_proj.weight",
        ["num_key_value_heads*head_dim", "hidden_size"]
    ),
    t!(
        "model.layers.{i}.self_attn.o_proj.weight",
        ["hidden_size", "num_attention_heads*head_dim"]
    ),
];

const DENSE_MLP: [TensorTemplate; 3] = [
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
];

const QK_NORM: [TensorTemplate; 2] = [
    t!("model.layers.{i}.self_attn.q_norm.weight", ["head_dim"]),
    t!("model.layers.{i}.self_attn.k_norm.weight", ["head_dim"]),
];

const QKV_BIAS: [TensorTemplate; 3] = [
    t!(
        "model.layers.{i}.self_attn.q_proj.bias",
        ["num_attention_heads*head_dim"]
    ),
    t!(
        "model.layers.{i}.self_attn.k_proj.bias",
        ["num_key_value_heads*head_dim"]
    ),
    t!(
        "model.layers.{i}.self_attn.v_proj.bias",
        ["num_key_value_heads*head_dim"]
    ),
];

const fn every_layer(tensors: &'static [TensorTemplate]) -> Group {
    Group {
        repeat: Repeat::Range("num_hidden_layers"),
        when: When::Always,
        tensors,
    }
}

/// Llama and Mistral (the same tensors).
pub(super) static LLAMA: &[Layout] = &[Layout {
    when: When::Always,
    symbols: LLAMA_SYMBOLS,
    groups: &[
        FRAME,
        UNTIED_HEAD,
        every_layer(&ATTENTION),
        every_layer(&DENSE_MLP),
    ],
}];

/// Mixtral: Llama attention, a sparse MoE block of `num_local_experts` experts in every layer.
pub(super) static MIXTRAL: &[Layout] = &[Layout {
    when: When::Always,
    symbols: &[
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
        Symbol {
            name: "experts",
            value: Expr::Key("num_local_experts"),
        },
    ],
    groups: &[
        FRAME,
        UNTIED_HEAD,
        every_layer(&ATTENTION),
        every_layer(&[
            t!(
                "model.layers.{i}.block_sparse_moe.gate.weight",
                ["experts", "hidden_size"]
            ),
            t!(
                "model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight",
                ["intermediate_size", "hidden_size"],
                each "experts"
            ),
            t!(
                "model.layers.{i}.block_sparse_moe.experts.{e}.w2.weight",
                ["hidden_size", "intermediate_size"],
                each "experts"
            ),
            t!(
                "model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight",
                ["intermediate_size", "hidden_size"],
                each "experts"
            ),
        ]),
    ],
}];

/// Qwen2 and Qwen2.5: Llama plus q/k/v biases; head_dim is always hidden / heads.
pub(super) static QWEN2: &[Layout] = &[Layout {
    when: When::Always,
    symbols: &[
        HIDDEN,
        HEADS,
        LAYERS,
        INTERMEDIATE,
        VOCAB,
        KV_HEADS,
        HEADS_PER_KV_HEAD,
        QWEN2_HEAD_DIM,
        QUERY_WIDTH,
        KEY_VALUE_WIDTH,
    ],
    groups: &[
        FRAME,
        UNTIED_HEAD,
        every_layer(&ATTENTION),
        every_layer(&QKV_BIAS),
        every_layer(&DENSE_MLP),
    ],
}];

/// Qwen3: Llama plus per-head q/k norms.
pub(super) static QWEN3: &[Layout] = &[Layout {
    when: When::Always,
    symbols: LLAMA_SYMBOLS,
    groups: &[
        FRAME,
        UNTIED_HEAD,
        every_layer(&ATTENTION),
        every_layer(&QK_NORM),
        every_layer(&DENSE_MLP),
    ],
}];

/// Qwen3-MoE: Qwen3 attention; a sparse MoE block on the sparse layers, a dense MLP on the others.
pub(super) static QWEN3_MOE: &[Layout] = &[Layout {
    when: When::Always,
    symbols: &[
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
        Symbol {
            name: "experts",
            value: Expr::Key("num_experts"),
        },
        Symbol {
            name: "moe_intermediate_size",
            value: Expr::Key("moe_intermediate_size"),
        },
    ],
    groups: &[
        FRAME,
        UNTIED_HEAD,
        every_layer(&ATTENTION),
        every_layer(&QK_NORM),
        Group {
            repeat: Repeat::Qwen3MoeDense("num_hidden_layers"),
            when: When::Always,
            tensors: &DENSE_MLP,
        },
        Group {
            repeat: Repeat::Qwen3MoeSparse("num_hidden_layers"),
            when: When::Always,
            tensors: &[
                t!(
                    "model.layers.{i}.mlp.gate.weight",
                    ["experts", "hidden_size"]
                ),
                t!(
                    "model.layers.{i}.mlp.experts.{e}.gate_proj.weight",
                    ["moe_intermediate_size", "hidden_size"],
                    each "experts"
                ),
                t!(
                    "model.layers.{i}.mlp.experts.{e}.up_proj.weight",
                    ["moe_intermediate_size", "hidden_size"],
                    each "experts"
                ),
                t!(
                    "model.layers.{i}.mlp.experts.{e}.down_proj.weight",
                    ["hidden_size", "moe_intermediate_size"],
                    each "experts"
                ),
            ],
        },
    ],
}];
