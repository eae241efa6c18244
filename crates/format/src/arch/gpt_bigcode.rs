//! GPTBigCode (`GPTBigCodeForCausalLM`: StarCoder, SantaCoder) as transformers 4.51.3
//! `save_pretrained` writes it (models/gpt_bigcode/modeling_gpt_bigcode.py): learned positions
//! (`wpe`, `n_positions` rows), biases on every linear layer and layer norm, and one fused
//! `c_attn` projection (an `nn.Linear`, `[out, in]`) of `n_embd + 2 * head_dim` rows with
//! multi-query attention (`multi_query`, true by default) or `3 * n_embd` rows without.
//! `lm_head` is tied to `wte` unless `tie_word_embeddings` is false.

use super::layout::{t, Expr, Group, Layout, Repeat, Symbol, When};

const SYMBOLS: &[Symbol] = &[
    Symbol {
        name: "n_embd",
        value: Expr::Key("n_embd"),
    },
    Symbol {
        name: "vocab_size",
        value: Expr::Key("vocab_size"),
    },
    Symbol {
        name: "n_positions",
        value: Expr::Key("n_positions"),
    },
    Symbol {
        name: "n_head",
        value: Expr::Key("n_head"),
    },
    Symbol {
        name: "n_layer",
        value: Expr::Key("n_layer"),
    },
    Symbol {
        name: "n_embd/n_head",
        value: Expr::Div(&Expr::Sym("n_embd"), &Expr::Sym("n_head")),
    },
    // GPTBigCodeConfig: `n_inner` null means 4 * n_embd.
    Symbol {
        name: "n_inner",
        value: Expr::Or("n_inner", &Expr::Mul(&Expr::Const(4), &Expr::Sym("n_embd"))),
    },
    Symbol {
        name: "n_embd+2*n_embd/n_head if multi_query else 3*n_embd",
        value: Expr::IfTrue {
            key: "multi_query",
            default: true,
            then: &Expr::Add(
                &Expr::Sym("n_embd"),
                &Expr::Mul(&Expr::Const(2), &Expr::Sym("n_embd/n_head")),
            ),
            otherwise: &Expr::Mul(&Expr::Const(3), &Expr::Sym("n_embd")),
        },
    },
];

/// GPTBigCode.
pub(super) static GPT_BIGCODE: &[Layout] = &[Layout {
    when: When::Always,
    symbols: SYMBOLS,
    groups: &[
        Group {
            repeat: Repeat::Once,
            when: When::Always,
            tensors: &[
                t!("transformer.wte.weight", ["vocab_size", "n_embd"]),
                t!("transformer.wpe.weight", ["n_positions", "n_embd"]),
                t!("transformer.ln_f.weight", ["n_embd"]),
                t!("transformer.ln_f.bias", ["n_embd"]),
            ],
        },
        Group {
            repeat: Repeat::Range("n_layer"),
            when: When::Always,
            tensors: &[
                t!("transformer.h.{i}.ln_1.weight", ["n_embd"]),
                t!("transformer.h.{i}.ln_1.bias", ["n_embd"]),
                t!(
                    "transformer.h.{i}.attn.c_attn.weight",
                    [
                        "n_embd+2*n_embd/n_head if multi_query else 3*n_embd",
                        "n_embd"
                    ]
                ),
                t!(
                    "transformer.h.{i}.attn.c_attn.bias",
                    ["n_embd+2*n_embd/n_head if multi_query else 3*n_embd"]
                ),
                t!("transformer.h.{i}.attn.c_proj.weight", ["n_embd", "n_embd"]),
                t!("transformer.h.{i}.attn.c_proj.bias", ["n_embd"]),
                t!("transformer.h.{i}.ln_2.weight", ["n_embd"]),
                t!("transformer.h.{i}.ln_2.bias", ["n_embd"]),
                t!("transformer.h.{i}.mlp.c_fc.weight", ["n_inner", "n_embd"]),
                t!("transformer.h.{i}.mlp.c_fc.bias", ["n_inner"]),
                t!("transformer.h.{i}.mlp.c_proj.weight", ["n_embd", "n_inner"]),
                t!("transformer.h.{i}.mlp.c_proj.bias", ["n_embd"]),
            ],
        },
        Group {
            repeat: Repeat::Once,
            when: When::Flag {
                key: "tie_word_embeddings",
                default: true,
                is: false,
            },
            tensors: &[t!("lm_head.weight", ["vocab_size", "n_embd"])],
        },
    ],
}];

#[cfg(test)]
mod tests {
    use super::super::t5::testing::{assert_layout_matches, header, shape_rules};
    use crate::rules::RuleId;

    const CONFIG: &[u8] = include_bytes!("../../../../testdata/valid/gpt-bigcode/config.json");
    const WEIGHTS: &[u8] =
        include_bytes!("../../../../testdata/valid/gpt-bigcode/model.safetensors");
    const MHA_CONFIG: &[u8] =
        include_bytes!("../../../../testdata/valid/gpt-bigcode-mha/config.json");
    const MHA_WEIGHTS: &[u8] =
        include_bytes!("../../../../testdata/valid/gpt-bigcode-mha/model.safetensors");

    #[test]
    fn multi_query_fixture_matches_the_layout() {
        assert_layout_matches("gpt_bigcode", CONFIG, WEIGHTS);
    }

    #[test]
    fn multi_head_fixture_matches_the_layout() {
        assert_layout_matches("gpt_bigcode", MHA_CONFIG, MHA_WEIGHTS);
    }

    #[test]
    fn multi_query_flag_decides_the_fused_rows() {
        // The multi-query weights under a config that says multi_query false: c_attn too narrow.
        assert_eq!(
            shape_rules(MHA_CONFIG, header(WEIGHTS)),
            vec![RuleId::ShapeMismatch]
        );
    }
}
