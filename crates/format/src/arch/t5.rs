//! T5 and Flan-T5 (`T5ForConditionalGeneration`) as transformers 4.51.3 `save_pretrained` writes
//! them (models/t5/modeling_t5.py): one `shared` embedding (the tied `encoder.embed_tokens`
//! and `decoder.embed_tokens` are not written), an encoder and a decoder stack, a relative
//! attention bias in block 0 only of each stack, bias-free projections, and `lm_head` unless
//! `tie_word_embeddings` (true by default; false in Flan-T5). The feed-forward block has two
//! input projections `wi_0`, `wi_1` when `feed_forward_proj` is gated ("gated-gelu" in T5 v1.1
//! and Flan-T5, any "gated-ACT": `T5Config` splits it at the dash) and one `wi` otherwise
//! ("relu", the default, in the original T5).

use super::layout::{t, Expr, Group, Layout, Repeat, Symbol, TensorTemplate, When};

const SYMBOLS: &[Symbol] = &[
    Symbol {
        name: "d_model",
        value: Expr::Key("d_model"),
    },
    Symbol {
        name: "vocab_size",
        value: Expr::Key("vocab_size"),
    },
    Symbol {
        name: "num_heads",
        value: Expr::Key("num_heads"),
    },
    Symbol {
        name: "d_kv",
        value: Expr::Key("d_kv"),
    },
    Symbol {
        name: "num_heads*d_kv",
        value: Expr::Mul(&Expr::Sym("num_heads"), &Expr::Sym("d_kv")),
    },
    Symbol {
        name: "d_ff",
        value: Expr::Key("d_ff"),
    },
    Symbol {
        name: "num_layers",
        value: Expr::Key("num_layers"),
    },
    // T5Config: `num_decoder_layers` defaults to `num_layers`.
    Symbol {
        name: "num_decoder_layers",
        value: Expr::Or("num_decoder_layers", &Expr::Sym("num_layers")),
    },
    Symbol {
        name: "relative_attention_num_buckets",
        value: Expr::Or("relative_attention_num_buckets", &Expr::Const(32)),
    },
];

const FRAME: Group = Group {
    repeat: Repeat::Once,
    when: When::Always,
    tensors: &[
        t!("shared.weight", ["vocab_size", "d_model"]),
        t!(
            "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            ["relative_attention_num_buckets", "num_heads"]
        ),
        t!("encoder.final_layer_norm.weight", ["d_model"]),
        t!(
            "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            ["relative_attention_num_buckets", "num_heads"]
        ),
        t!("decoder.final_layer_norm.weight", ["d_model"]),
    ],
};

const ENCODER_ATTENTION: Group = Group {
    repeat: Repeat::Range("num_layers"),
    when: When::Always,
    tensors: &[
        t!(
            "encoder.block.{i}.layer.0.SelfAttention.q.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "encoder.block.{i}.layer.0.SelfAttention.k.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "encoder.block.{i}.layer.0.SelfAttention.v.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "encoder.block.{i}.layer.0.SelfAttention.o.weight",
            ["d_model", "num_heads*d_kv"]
        ),
        t!("encoder.block.{i}.layer.0.layer_norm.weight", ["d_model"]),
        t!(
            "encoder.block.{i}.layer.1.DenseReluDense.wo.weight",
            ["d_model", "d_ff"]
        ),
        t!("encoder.block.{i}.layer.1.layer_norm.weight", ["d_model"]),
    ],
};

const DECODER_ATTENTION: Group = Group {
    repeat: Repeat::Range("num_decoder_layers"),
    when: When::Always,
    tensors: &[
        t!(
            "decoder.block.{i}.layer.0.SelfAttention.q.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "decoder.block.{i}.layer.0.SelfAttention.k.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "decoder.block.{i}.layer.0.SelfAttention.v.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "decoder.block.{i}.layer.0.SelfAttention.o.weight",
            ["d_model", "num_heads*d_kv"]
        ),
        t!("decoder.block.{i}.layer.0.layer_norm.weight", ["d_model"]),
        t!(
            "decoder.block.{i}.layer.1.EncDecAttention.q.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "decoder.block.{i}.layer.1.EncDecAttention.k.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "decoder.block.{i}.layer.1.EncDecAttention.v.weight",
            ["num_heads*d_kv", "d_model"]
        ),
        t!(
            "decoder.block.{i}.layer.1.EncDecAttention.o.weight",
            ["d_model", "num_heads*d_kv"]
        ),
        t!("decoder.block.{i}.layer.1.layer_norm.weight", ["d_model"]),
        t!(
            "decoder.block.{i}.layer.2.DenseReluDense.wo.weight",
            ["d_model", "d_ff"]
        ),
        t!("decoder.block.{i}.layer.2.layer_norm.weight", ["d_model"]),
    ],
};

const ENCODER_GATED: &[TensorTemplate] = &[
    t!(
        "encoder.block.{i}.layer.1.DenseReluDense.wi_0.weight",
        ["d_ff", "d_model"]
    ),
    t!(
        "encoder.block.{i}.layer.1.DenseReluDense.wi_1.weight",
        ["d_ff", "d_model"]
    ),
];
const DECODER_GATED: &[TensorTemplate] = &[
    t!(
        "decoder.block.{i}.layer.2.DenseReluDense.wi_0.weight",
        ["d_ff", "d_model"]
    ),
    t!(
        "decoder.block.{i}.layer.2.DenseReluDense.wi_1.weight",
        ["d_ff", "d_model"]
    ),
];
const ENCODER_DENSE: &[TensorTemplate] = &[t!(
    "encoder.block.{i}.layer.1.DenseReluDense.wi.weight",
    ["d_ff", "d_model"]
)];
const DECODER_DENSE: &[TensorTemplate] = &[t!(
    "decoder.block.{i}.layer.2.DenseReluDense.wi.weight",
    ["d_ff", "d_model"]
)];

/// The input projections of one stack's feed-forward blocks, gated (`feed_forward_proj`
/// "gated-ACT") or not.
const fn input_projections(
    layers: &'static str,
    gated: bool,
    tensors: &'static [TensorTemplate],
) -> Group {
    Group {
        repeat: Repeat::Range(layers),
        when: When::StartsWith {
            key: "feed_forward_proj",
            prefix: "gated-",
            is: gated,
        },
        tensors,
    }
}

/// `lm_head.weight`, written when `tie_word_embeddings` is false (it defaults to true in T5).
const UNTIED_HEAD: Group = Group {
    repeat: Repeat::Once,
    when: When::Flag {
        key: "tie_word_embeddings",
        default: true,
        is: false,
    },
    tensors: &[t!("lm_head.weight", ["vocab_size", "d_model"])],
};

/// T5 and Flan-T5.
pub(super) static T5: &[Layout] = &[Layout {
    when: When::Always,
    symbols: SYMBOLS,
    groups: &[
        FRAME,
        ENCODER_ATTENTION,
        DECODER_ATTENTION,
        input_projections("num_layers", true, ENCODER_GATED),
        input_projections("num_decoder_layers", true, DECODER_GATED),
        input_projections("num_layers", false, ENCODER_DENSE),
        input_projections("num_decoder_layers", false, DECODER_DENSE),
        UNTIED_HEAD,
    ],
}];

#[cfg(test)]
pub(super) mod testing {
    //! Checks a committed fixture of testdata/ (its config.json and safetensors header, edited)
    //! and keeps the tensor-name and shape findings.

    use std::collections::HashMap;

    use crate::artifact::check;
    use crate::inputs::{Artifact, Entry};
    use crate::rules::RuleId;
    use crate::safetensors::{parse_header, Header};

    /// The parsed header of a fixture's model.safetensors.
    pub fn header(weights: &[u8]) -> Header {
        parse_header(weights, weights.len() as u64).expect("a valid fixture header")
    }

    /// SH findings of `check` over config.json and a header.
    pub fn shape_rules(config: &[u8], header: Header) -> Vec<RuleId> {
        let entries = vec![
            Entry {
                path: "config.json".into(),
                size: config.len() as u64,
            },
            Entry {
                path: "model.safetensors".into(),
                size: 8 + header.header_len + header.data_len,
            },
        ];
        let artifact = Artifact {
            entries,
            documents: HashMap::from([("config.json".to_string(), config.to_vec())]),
            headers: HashMap::from([("model.safetensors".to_string(), Ok(header))]),
            ..Artifact::default()
        };
        let mut rules: Vec<RuleId> = check(&artifact)
            .findings
            .iter()
            .map(|f| f.rule)
            .filter(|r| r.rule().code.starts_with("SH"))
            .collect();
        rules.sort();
        rules.dedup();
        rules
    }

    /// Expected names and shapes against the header, then SH001 for a dropped tensor, SH003 for
    /// a transposed matrix, SH002 for an extra tensor.
    pub fn assert_layout_matches(model_type: &str, config: &[u8], weights: &[u8]) {
        let value: serde_json::Value = serde_json::from_slice(config).expect("config.json");
        let config_obj =
            crate::config_json::Config::new(value.as_object().expect("an object").clone());
        let architecture = crate::arch::architecture(model_type).expect("in the allow-list");
        let layout = crate::shapes::select(architecture, &config_obj)
            .expect("a valid config")
            .expect("a layout");
        let values = crate::shapes::evaluate(&config_obj, layout).expect("symbols evaluate");
        let mut expected: Vec<(String, Vec<u64>)> =
            crate::shapes::expected(layout, &config_obj, &values)
                .expect("tensors expand")
                .into_iter()
                .map(|e| (e.name, e.shape))
                .collect();
        let header = header(weights);
        let mut actual: Vec<(String, Vec<u64>)> = header
            .tensors
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        expected.sort();
        actual.sort();
        assert_eq!(expected, actual, "{model_type}: expected tensors");
        assert_eq!(shape_rules(config, header.clone()), vec![]);

        let mut dropped = header.clone();
        dropped.tensors.pop();
        assert_eq!(shape_rules(config, dropped), vec![RuleId::MissingTensor]);

        let mut reshaped = header.clone();
        let matrix = reshaped
            .tensors
            .iter_mut()
            .find(|t| t.shape.len() == 2 && t.shape[0] != t.shape[1])
            .expect("a rectangular matrix");
        matrix.shape.reverse();
        assert_eq!(shape_rules(config, reshaped), vec![RuleId::ShapeMismatch]);

        let mut extra = header;
        let mut stray = extra.tensors[0].clone();
        stray.name = "stray.weight".into();
        extra.tensors.push(stray);
        assert_eq!(shape_rules(config, extra), vec![RuleId::UnexpectedTensor]);
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_layout_matches, header, shape_rules};
    use crate::rules::RuleId;

    const CONFIG: &[u8] = include_bytes!("../../../../testdata/valid/t5/config.json");
    const WEIGHTS: &[u8] = include_bytes!("../../../../testdata/valid/t5/model.safetensors");

    #[test]
    fn flan_t5_fixture_matches_the_layout() {
        assert_layout_matches("t5", CONFIG, WEIGHTS);
    }

    #[test]
    fn tied_and_dense_variants() {
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut config: serde_json::Value = serde_json::from_slice(CONFIG).expect("JSON");
            f(&mut config);
            serde_json::to_vec(&config).expect("JSON")
        };
        // Tied: lm_head.weight is unexpected.
        let tied = edit(&|c| c["tie_word_embeddings"] = serde_json::json!(true));
        assert_eq!(
            shape_rules(&tied, header(WEIGHTS)),
            vec![RuleId::UnexpectedTensor]
        );
        // "relu": one `wi` expected, `wi_0` and `wi_1` unexpected.
        let relu = edit(&|c| c["feed_forward_proj"] = serde_json::json!("relu"));
        assert_eq!(
            shape_rules(&relu, header(WEIGHTS)),
            vec![RuleId::MissingTensor, RuleId::UnexpectedTensor]
        );
        // Absent: T5Config's default, "relu".
        let absent = edit(&|c| {
            c.as_object_mut()
                .expect("an object")
                .remove("feed_forward_proj");
        });
        assert_eq!(
            shape_rules(&absent, header(WEIGHTS)),
            vec![RuleId::MissingTensor, RuleId::UnexpectedTensor]
        );
        // Any gated activation has the two input projections.
        let silu = edit(&|c| c["feed_forward_proj"] = serde_json::json!("gated-silu"));
        assert_eq!(shape_rules(&silu, header(WEIGHTS)), vec![]);
    }
}
