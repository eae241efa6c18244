//! What Custom Model Import accepts, as data: the architecture allow-list, the limits, and the
//! tensor layout that transformers writes for the architectures whose shapes are checked.
//!
//! Sources: the Amazon Bedrock User Guide page "Use Custom model import to import a customized
//! open-source model into Amazon Bedrock" (architectures, Regions and limits), the botocore
//! service model `botocore/data/bedrock/2023-04-20/service-2.json`, and the tensor names and
//! shapes that transformers 4.57.6 `save_pretrained` writes for each architecture.

use crate::dtype::Dtype;

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
    /// The expected tensors, for architectures whose shapes are checked.
    pub layout: Option<&'static Layout>,
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
        layout: Some(&LLAMA),
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
        layout: Some(&LLAMA),
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
        layout: Some(&MIXTRAL),
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
        layout: None,
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
        layout: None,
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
        layout: None,
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
        layout: Some(&QWEN2),
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
        layout: None,
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
        layout: None,
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
        layout: Some(&QWEN3),
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
        layout: Some(&QWEN3_MOE),
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
        layout: None,
    },
];

/// Finds the allow-list entry for a `model_type`.
pub fn architecture(model_type: &str) -> Option<&'static Architecture> {
    ARCHITECTURES.iter().find(|a| a.model_type == model_type)
}

/// A dimension of an expected tensor, in the symbols of config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// `vocab_size`.
    Vocab,
    /// `hidden_size`.
    Hidden,
    /// `num_attention_heads * head_dim`.
    QueryWidth,
    /// `num_key_value_heads * head_dim`.
    KeyValueWidth,
    /// `head_dim`.
    HeadDim,
    /// `intermediate_size`.
    Intermediate,
    /// `moe_intermediate_size`.
    MoeIntermediate,
    /// The number of experts.
    Experts,
}

/// Which tensors of a layer a template produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Once, outside the layers.
    Model,
    /// Once per layer.
    Layer,
    /// Once per dense (non-MoE) layer.
    DenseLayer,
    /// Once per sparse (MoE) layer.
    SparseLayer,
    /// Once per expert of each sparse layer.
    Expert,
    /// Once, only when the input and output embeddings are not tied.
    Untied,
}

/// One expected tensor: its name (`{i}` the layer, `{e}` the expert) and shape.
#[derive(Debug, Clone, Copy)]
pub struct TensorTemplate {
    /// The name with `{i}` and `{e}` placeholders.
    pub name: &'static str,
    /// The shape in config symbols.
    pub shape: &'static [Dim],
    /// Which layers it appears in.
    pub scope: Scope,
}

/// Which layers of a MoE model are sparse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseLayers {
    /// A dense model.
    None,
    /// Every layer (Mixtral).
    All,
    /// Layers not in `mlp_only_layers` whose `(index + 1) % decoder_sparse_step == 0` (Qwen3-MoE).
    Qwen3Moe,
}

/// The tensors that transformers writes for an architecture.
#[derive(Debug)]
pub struct Layout {
    /// Every tensor template.
    pub tensors: &'static [TensorTemplate],
    /// The config key of `head_dim`, or `None` when head_dim is always hidden / heads (Qwen2).
    pub head_dim_key: Option<&'static str>,
    /// The config key of the expert count.
    pub experts_key: Option<&'static str>,
    /// Which layers are sparse.
    pub sparse_layers: SparseLayers,
}

macro_rules! t {
    ($name:literal, [$($dim:ident),*], $scope:ident) => {
        TensorTemplate { name: $name, shape: &[$(Dim::$dim),*], scope: Scope::$scope }
    };
}

const ATTENTION: [TensorTemplate; 4] = [
    t!(
        "model.layers.{i}.self_attn.q_proj.weight",
        [QueryWidth, Hidden],
        Layer
    ),
    t!(
        "model.layers.{i}.self_attn.k_proj.weight",
        [KeyValueWidth, Hidden],
        Layer
    ),
    t!(
        "model.layers.{i}.self_attn.v_proj.weight",
        [KeyValueWidth, Hidden],
        Layer
    ),
    t!(
        "model.layers.{i}.self_attn.o_proj.weight",
        [Hidden, QueryWidth],
        Layer
    ),
];

const FRAME: [TensorTemplate; 5] = [
    t!("model.embed_tokens.weight", [Vocab, Hidden], Model),
    t!("model.norm.weight", [Hidden], Model),
    t!("lm_head.weight", [Vocab, Hidden], Untied),
    t!("model.layers.{i}.input_layernorm.weight", [Hidden], Layer),
    t!(
        "model.layers.{i}.post_attention_layernorm.weight",
        [Hidden],
        Layer
    ),
];

const DENSE_MLP: [TensorTemplate; 3] = [
    t!(
        "model.layers.{i}.mlp.gate_proj.weight",
        [Intermediate, Hidden],
        Layer
    ),
    t!(
        "model.layers.{i}.mlp.up_proj.weight",
        [Intermediate, Hidden],
        Layer
    ),
    t!(
        "model.layers.{i}.mlp.down_proj.weight",
        [Hidden, Intermediate],
        Layer
    ),
];

const QK_NORM: [TensorTemplate; 2] = [
    t!("model.layers.{i}.self_attn.q_norm.weight", [HeadDim], Layer),
    t!("model.layers.{i}.self_attn.k_norm.weight", [HeadDim], Layer),
];

/// Joins two template arrays at compile time.
const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [TensorTemplate; A],
    b: [TensorTemplate; B],
) -> [TensorTemplate; N] {
    assert!(A + B == N);
    let mut out = [t!("", [], Model); N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

const LLAMA_TENSORS: [TensorTemplate; 12] = concat(concat::<5, 4, 9>(FRAME, ATTENTION), DENSE_MLP);

/// Llama and Mistral (identical tensor layout).
pub static LLAMA: Layout = Layout {
    tensors: &LLAMA_TENSORS,
    head_dim_key: Some("head_dim"),
    experts_key: None,
    sparse_layers: SparseLayers::None,
};

const MIXTRAL_TENSORS: [TensorTemplate; 13] = concat(
    concat::<5, 4, 9>(FRAME, ATTENTION),
    [
        t!(
            "model.layers.{i}.block_sparse_moe.gate.weight",
            [Experts, Hidden],
            SparseLayer
        ),
        t!(
            "model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight",
            [Intermediate, Hidden],
            Expert
        ),
        t!(
            "model.layers.{i}.block_sparse_moe.experts.{e}.w2.weight",
            [Hidden, Intermediate],
            Expert
        ),
        t!(
            "model.layers.{i}.block_sparse_moe.experts.{e}.w3.weight",
            [Intermediate, Hidden],
            Expert
        ),
    ],
);

/// Mixtral.
pub static MIXTRAL: Layout = Layout {
    tensors: &MIXTRAL_TENSORS,
    head_dim_key: Some("head_dim"),
    experts_key: Some("num_local_experts"),
    sparse_layers: SparseLayers::All,
};

const QWEN2_TENSORS: [TensorTemplate; 15] = concat(
    LLAMA_TENSORS,
    [
        t!(
            "model.layers.{i}.self_attn.q_proj.bias",
            [QueryWidth],
            Layer
        ),
        t!(
            "model.layers.{i}.self_attn.k_proj.bias",
            [KeyValueWidth],
            Layer
        ),
        t!(
            "model.layers.{i}.self_attn.v_proj.bias",
            [KeyValueWidth],
            Layer
        ),
    ],
);

/// Qwen2 and Qwen2.5: Llama plus q/k/v biases; head_dim is always hidden / heads.
pub static QWEN2: Layout = Layout {
    tensors: &QWEN2_TENSORS,
    head_dim_key: None,
    experts_key: None,
    sparse_layers: SparseLayers::None,
};

const QWEN3_TENSORS: [TensorTemplate; 14] = concat(LLAMA_TENSORS, QK_NORM);

/// Qwen3: Llama plus per-head q/k norms.
pub static QWEN3: Layout = Layout {
    tensors: &QWEN3_TENSORS,
    head_dim_key: Some("head_dim"),
    experts_key: None,
    sparse_layers: SparseLayers::None,
};

const QWEN3_MOE_TENSORS: [TensorTemplate; 18] = concat(
    concat::<9, 2, 11>(concat::<5, 4, 9>(FRAME, ATTENTION), QK_NORM),
    [
        t!(
            "model.layers.{i}.mlp.gate_proj.weight",
            [Intermediate, Hidden],
            DenseLayer
        ),
        t!(
            "model.layers.{i}.mlp.up_proj.weight",
            [Intermediate, Hidden],
            DenseLayer
        ),
        t!(
            "model.layers.{i}.mlp.down_proj.weight",
            [Hidden, Intermediate],
            DenseLayer
        ),
        t!(
            "model.layers.{i}.mlp.gate.weight",
            [Experts, Hidden],
            SparseLayer
        ),
        t!(
            "model.layers.{i}.mlp.experts.{e}.gate_proj.weight",
            [MoeIntermediate, Hidden],
            Expert
        ),
        t!(
            "model.layers.{i}.mlp.experts.{e}.up_proj.weight",
            [MoeIntermediate, Hidden],
            Expert
        ),
        t!(
            "model.layers.{i}.mlp.experts.{e}.down_proj.weight",
            [Hidden, MoeIntermediate],
            Expert
        ),
    ],
);

/// Qwen3-MoE: Qwen3 attention, sparse MoE blocks on the sparse layers.
pub static QWEN3_MOE: Layout = Layout {
    tensors: &QWEN3_MOE_TENSORS,
    head_dim_key: Some("head_dim"),
    experts_key: Some("num_experts"),
    sparse_layers: SparseLayers::Qwen3Moe,
};

#[cfg(test)]
mod tests {
    use super::*;

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
    fn deep_checked_layouts_match_the_reference_counts() {
        // Per-layer plus model-level templates, as transformers 4.57.6 `save_pretrained` writes.
        let count = |name: &str| architecture(name).unwrap().layout.unwrap().tensors.len();
        assert_eq!(count("llama"), 12);
        assert_eq!(count("mistral"), 12);
        assert_eq!(count("mixtral"), 13);
        assert_eq!(count("qwen2"), 15);
        assert_eq!(count("qwen3"), 14);
        assert_eq!(count("qwen3_moe"), 18);
        for a in ARCHITECTURES.iter().filter_map(|a| a.layout) {
            let mut names: Vec<_> = a.tensors.iter().map(|t| t.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), a.tensors.len());
        }
    }
}
