//! What Custom Model Import accepts, as data: the architecture allow-list, the limits, and the
//! tensor layout that transformers writes for the architectures whose shapes are checked.
//!
//! Sources: the Amazon Bedrock User Guide page "Use Custom model import to import a customized
//! open-source model into Amazon Bedrock" (architectures, Regions and limits), the botocore
//! service model `botocore/data/bedrock/2023-04-20/service-2.json`, and the tensor names and
//! shapes that transformers 4.57.6 `save_pretrained` writes for each architecture.

use crate::dtype::Dtype;

mod gpt_bigcode;
mod gpt_oss;
pub mod layout;
mod llama;
mod mllama;
mod qwen_vl;
mod t5;

pub use layout::{Layout, NewerLayout};

/// Date of the AWS documentation that the allow-list reflects.
pub const ALLOW_LIST_AS_OF: &str = "2026-06-09";

/// The AWS Regions where Custom Model Import is offered (AWS documentation as of
/// [`ALLOW_LIST_AS_OF`]).
pub const CMI_REGIONS: &[&str] = &["us-east-1", "us-east-2", "us-west-2", "eu-central-1"];

/// Numeric limits of Custom Model Import.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted context length ("less than 128K", read as at most 131072).
    pub max_context_tokens: u64,
    /// Weight bytes must stay below this for text models (200 GB, in 10^9 bytes).
    pub max_weight_bytes_text: u64,
    /// Weight bytes must stay below this for multimodal models (100 GB).
    pub max_weight_bytes_multimodal: u64,
    /// Newest transformers version Bedrock documents.
    pub supported_transformers: (u64, u64, u64),
}

/// The limits in force.
pub const CMI_LIMITS: Limits = Limits {
    max_context_tokens: 131_072,
    max_weight_bytes_text: 200_000_000_000,
    max_weight_bytes_multimodal: 100_000_000_000,
    supported_transformers: (4, 51, 3),
};

/// A quantization format that an architecture may ship in, and the non-float dtypes it uses.
#[derive(Debug)]
pub struct QuantizationAllowance {
    /// `quantization_config.quant_method`.
    pub quant_method: &'static str,
    /// Tensor dtypes that the format stores.
    pub dtypes: &'static [Dtype],
}

/// A size in which an architecture is accepted, by the config.json fields that define it.
#[derive(Debug)]
pub struct Variant {
    /// Its name, such as `20B`.
    pub name: &'static str,
    /// config.json keys and the values they have in this variant.
    pub fields: &'static [(&'static str, u64)],
}

/// The GPT-OSS sizes that Custom Model Import accepts (openai/gpt-oss-20b and -120b
/// config.json): they share the attention and hidden sizes and differ in depth and experts.
const GPT_OSS_VARIANTS: &[Variant] = &[
    Variant {
        name: "20B",
        fields: &[
            ("hidden_size", 2880),
            ("num_attention_heads", 64),
            ("num_key_value_heads", 8),
            ("num_hidden_layers", 24),
            ("num_local_experts", 32),
        ],
    },
    Variant {
        name: "120B",
        fields: &[
            ("hidden_size", 2880),
            ("num_attention_heads", 64),
            ("num_key_value_heads", 8),
            ("num_hidden_layers", 36),
            ("num_local_experts", 128),
        ],
    },
];

/// One supported architecture.
#[derive(Debug)]
pub struct Architecture {
    /// The name AWS uses.
    pub aws_name: &'static str,
    /// config.json `model_type`.
    pub model_type: &'static str,
    /// Accepted `architectures[0]` classes.
    pub classes: &'static [&'static str],
    /// Multimodal models have the lower size limit.
    pub multimodal: bool,
    /// config.json keys (dotted paths) that hold the maximum context; the first present is
    /// used. Empty when the architecture has no absolute positions (T5).
    pub context_keys: &'static [&'static str],
    /// config.json keys (dotted paths) that hold the number of embedding rows.
    pub vocab_keys: &'static [&'static str],
    /// Quantization formats the architecture may ship in.
    pub quantization: &'static [QuantizationAllowance],
    /// The Regions that offer the architecture, when not all of [`CMI_REGIONS`].
    pub regions: Option<&'static [&'static str]>,
    /// The accepted sizes; empty when any size is accepted.
    pub variants: &'static [Variant],
    /// The tensors a checkpoint holds, by condition on config.json; the first whose
    /// [`Layout::when`] holds is checked.
    pub layouts: &'static [Layout],
    /// How a newer transformers than Bedrock's renames the tensors, when it does
    /// (transformers 4.52 moved the vision-language models' modules under `model`): SH004.
    pub newer_layout: Option<&'static NewerLayout>,
    /// The first transformers release with the architecture, when it is newer than the version
    /// Bedrock documents: the checkpoint is saved, and served, by a newer transformers, so CF007
    /// does not apply. GPT-OSS came with transformers 4.55.0 (huggingface/transformers PR
    /// #39923, release notes of v4.55.0).
    pub added_in_transformers: Option<(u64, u64, u64)>,
    /// Embedding rows beyond the vocabulary size that config.json states: token ids below the
    /// vocabulary size plus these are valid (TK010). Mllama's embedding has 8 more.
    pub extra_embedding_rows: u64,
}

const TEXT_CONTEXT: &[&str] = &["max_position_embeddings"];
const TEXT_VOCAB: &[&str] = &["vocab_size"];
const NESTED_CONTEXT: &[&str] = &[
    "text_config.max_position_embeddings",
    "max_position_embeddings",
];
const NESTED_VOCAB: &[&str] = &["text_config.vocab_size", "vocab_size"];

/// The architectures of the Amazon Bedrock User Guide page "Use Custom model import to import
/// a customized open-source model into Amazon Bedrock", as of [`ALLOW_LIST_AS_OF`].
pub static ARCHITECTURES: &[Architecture] = &[
    Architecture {
        aws_name: "Llama",
        model_type: "llama",
        classes: &["LlamaForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: llama::LLAMA,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Mistral",
        model_type: "mistral",
        classes: &["MistralForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: llama::LLAMA,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Mixtral",
        model_type: "mixtral",
        classes: &["MixtralForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: llama::MIXTRAL,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Flan (T5)",
        model_type: "t5",
        classes: &["T5ForConditionalGeneration"],
        multimodal: false,
        context_keys: &[],
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: t5::T5,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Mllama (Llama 3.2 Vision)",
        model_type: "mllama",
        classes: &["MllamaForConditionalGeneration"],
        multimodal: true,
        context_keys: NESTED_CONTEXT,
        vocab_keys: NESTED_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: mllama::MLLAMA,
        newer_layout: Some(&mllama::NEWER),
        added_in_transformers: None,
        extra_embedding_rows: mllama::EXTRA_EMBEDDING_ROWS,
    },
    Architecture {
        aws_name: "GPTBigCode",
        model_type: "gpt_bigcode",
        classes: &["GPTBigCodeForCausalLM"],
        multimodal: false,
        context_keys: &["n_positions"],
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: gpt_bigcode::GPT_BIGCODE,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Qwen2 / Qwen2.5",
        model_type: "qwen2",
        classes: &["Qwen2ForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: llama::QWEN2,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Qwen2-VL",
        model_type: "qwen2_vl",
        classes: &["Qwen2VLForConditionalGeneration"],
        multimodal: true,
        context_keys: NESTED_CONTEXT,
        vocab_keys: NESTED_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: qwen_vl::QWEN2_VL,
        newer_layout: Some(&qwen_vl::NEWER),
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Qwen2.5-VL",
        model_type: "qwen2_5_vl",
        classes: &["Qwen2_5_VLForConditionalGeneration"],
        multimodal: true,
        context_keys: NESTED_CONTEXT,
        vocab_keys: NESTED_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: qwen_vl::QWEN2_5_VL,
        newer_layout: Some(&qwen_vl::NEWER),
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Qwen3",
        model_type: "qwen3",
        classes: &["Qwen3ForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: llama::QWEN3,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "Qwen3 (MoE)",
        model_type: "qwen3_moe",
        classes: &["Qwen3MoeForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[],
        regions: None,
        variants: &[],
        layouts: llama::QWEN3_MOE,
        newer_layout: None,
        added_in_transformers: None,
        extra_embedding_rows: 0,
    },
    Architecture {
        aws_name: "GPT-OSS",
        model_type: "gpt_oss",
        classes: &["GptOssForCausalLM"],
        multimodal: false,
        context_keys: TEXT_CONTEXT,
        vocab_keys: TEXT_VOCAB,
        quantization: &[QuantizationAllowance {
            quant_method: "mxfp4",
            dtypes: &[Dtype::U8],
        }],
        regions: Some(&["us-east-1"]),
        variants: GPT_OSS_VARIANTS,
        layouts: gpt_oss::GPT_OSS,
        newer_layout: None,
        added_in_transformers: Some((4, 55, 0)),
        extra_embedding_rows: 0,
    },
];

/// Finds the allow-list entry for a `model_type`.
pub fn architecture(model_type: &str) -> Option<&'static Architecture> {
    ARCHITECTURES.iter().find(|a| a.model_type == model_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_a_layout() {
        for a in ARCHITECTURES {
            assert!(
                !a.layouts.is_empty(),
                "{} has no tensor layout: check would pass any tensor names and shapes",
                a.model_type
            );
        }
    }

    #[test]
    fn model_types_are_unique_and_classes_named() {
        for (i, a) in ARCHITECTURES.iter().enumerate() {
            assert!(!a.classes.is_empty());
            assert!(ARCHITECTURES[i + 1..]
                .iter()
                .all(|b| b.model_type != a.model_type));
        }
        assert_eq!(architecture("qwen3").unwrap().classes, ["Qwen3ForCausalLM"]);
        assert!(architecture("gemma").is_none());
    }

    #[test]
    fn every_layout_refers_only_to_its_own_symbols() {
        for a in ARCHITECTURES {
            for each in a.layouts {
                let defined: Vec<_> = each.symbols.iter().map(|s| s.name).collect();
                for (i, name) in defined.iter().enumerate() {
                    assert!(
                        !defined[..i].contains(name),
                        "{}: {name} twice",
                        a.model_type
                    );
                }
                for name in layout::references(each) {
                    assert!(
                        defined.contains(&name),
                        "{}: {name} undefined",
                        a.model_type
                    );
                }
                let mut names: Vec<_> = each
                    .groups
                    .iter()
                    .flat_map(|g| g.tensors.iter().map(|t| t.name))
                    .collect();
                names.sort_unstable();
                let count = names.len();
                names.dedup();
                assert_eq!(names.len(), count, "{}: a template twice", a.model_type);
            }
        }
    }
}
