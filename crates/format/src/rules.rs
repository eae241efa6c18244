//! The rule catalog: one table from stable codes to rules.
//!
//! Every finding names one of these rules. The table is the single source of the codes,
//! severities and texts that `cmi-preflight rules`, `cmi-preflight rules CODE` and
//! `docs/rules.md` show; a test keeps the document in sync with it.
//!
//! Codes are grouped by prefix: `LY` layout of the folder, `ST` safetensors headers, `IX` the
//! sharded index, `CF` config.json, `TK` tokenizer files, `SH` tensor names and shapes, `S3`
//! reading the artifact from S3 as the execution role, `HF` reading it from the Hugging Face
//! Hub or its local cache, `MF` comparing an artifact with its manifest and `SG` verifying its
//! signature (these four found by the agent, not by this crate), `RG` the Bedrock Region of
//! the import (checked when the caller names it).
//! A code is never reused for another meaning.

use crate::severity::Severity;

/// One rule of the catalog.
#[derive(Debug)]
pub struct Rule {
    /// The rule's identity in code.
    pub id: RuleId,
    /// Stable code, such as `ST013`.
    pub code: &'static str,
    /// Stable kebab-case name, such as `invalid-offsets`.
    pub name: &'static str,
    /// Severity of every finding of this rule.
    pub severity: Severity,
    /// What the rule checks, in one sentence.
    pub summary: &'static str,
    /// Why a violation matters for Bedrock Custom Model Import.
    pub why: &'static str,
    /// How to fix a violation.
    pub fix: &'static str,
}

macro_rules! rules {
    ($( $variant:ident => $code:literal, $name:literal, $sev:ident,
        summary: $summary:literal, why: $why:literal, fix: $fix:literal; )*) => {
        /// Identity of a rule; [`RuleId::rule`] gives its catalog entry.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId {
            $( #[doc = $summary] $variant, )*
        }

        /// The catalog, in code order.
        pub static RULES: &[Rule] = &[
            $( Rule {
                id: RuleId::$variant,
                code: $code,
                name: $name,
                severity: Severity::$sev,
                summary: $summary,
                why: $why,
                fix: $fix,
            }, )*
        ];
    };
}

/// Groups whose rules concern something other than the files of one folder: how the
/// artifact is stored in S3 (`S3`), how the Hugging Face Hub serves it (`HF`), how it
/// compares with a manifest (`MF`), whether its signature verifies (`SG`), or the Region it
/// is imported in (`RG`). They need more than a folder (the S3 or Hub emulator, a manifest,
/// a signature, a Region), so scenarios exercise them instead of folder fixtures.
pub const SCENARIO_GROUPS: &[&str] = &["S3", "HF", "MF", "SG", "RG"];

impl Rule {
    /// The group of the rule: the two letters of its code.
    pub fn group(&self) -> &'static str {
        &self.code[..2]
    }

    /// Whether the rule belongs to one of the [`SCENARIO_GROUPS`].
    pub fn needs_scenario(&self) -> bool {
        SCENARIO_GROUPS.contains(&self.group())
    }
}

impl RuleId {
    /// The catalog entry of this rule.
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }
}

/// Looks a rule up by code (`ST013`) or name (`invalid-offsets`), ignoring ASCII case.
pub fn lookup(code_or_name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| {
        rule.code.eq_ignore_ascii_case(code_or_name) || rule.name.eq_ignore_ascii_case(code_or_name)
    })
}

rules! {
    MissingConfig => "LY001", "missing-config", Error,
        summary: "config.json must be at the top level of the artifact.",
        why: "Bedrock detects the architecture from config.json directly under the S3 prefix; without it the import job fails after it has started.",
        fix: "Save the model with `save_pretrained` and upload config.json beside the weights, not in a sub-folder.";
    MissingSafetensors => "LY002", "missing-safetensors", Error,
        summary: "At least one .safetensors weight file must be at the top level.",
        why: "Custom Model Import reads weights only from .safetensors files directly under the prefix.",
        fix: "Save the weights with `save_pretrained(..., safe_serialization=True)` and upload the .safetensors files beside config.json.";
    PickleWeightsOnly => "LY003", "pickle-weights-only", Error,
        summary: "Pickle or zip weights (.bin, .pt, .pth, .ckpt, .pkl, or pickle/zip magic bytes) with no safetensors.",
        why: "Bedrock requires safetensors; pickle files can also run arbitrary code when loaded.",
        fix: "Convert the checkpoint: load it with transformers and call `save_pretrained(dir, safe_serialization=True)`, then upload only the .safetensors files.";
    PickleBesideSafetensors => "LY004", "pickle-beside-safetensors", Warning,
        summary: "Pickle or zip weight files lie beside the safetensors weights.",
        why: "They are not used by the import, double the upload, and carry code-execution risk for anyone who loads them.",
        fix: "Remove the pickle files (.bin, .pt, .pth, .ckpt, .pkl) from the prefix.";
    AdapterOnly => "LY005", "adapter-only", Error,
        summary: "The folder holds a LoRA/PEFT adapter but no full model.",
        why: "Custom Model Import needs full weights; adapters must be merged into the base model first.",
        fix: "Merge the adapter (`PeftModel.from_pretrained(base, dir).merge_and_unload()`), then `save_pretrained` the merged model.";
    SubFolder => "LY006", "sub-folder", Warning,
        summary: "The artifact contains sub-folders.",
        why: "Bedrock reads the files directly under the prefix; nested files (checkpoint-500/, .cache/) are ignored at best and make the layout ambiguous.",
        fix: "Upload only the files of one model, flat under the prefix; exclude checkpoint and cache folders.";
    EmptyWeightFile => "LY007", "empty-weight-file", Error,
        summary: "A weight file is zero bytes long.",
        why: "An empty file is an interrupted upload or save; the import fails on it.",
        fix: "Upload the file again and compare its size with the original.";
    WeightsTooLarge => "LY008", "weights-too-large", Error,
        summary: "The safetensors weights exceed Bedrock's size limit (200 GB, or 100 GB for multimodal architectures).",
        why: "Custom Model Import rejects models whose weights are at or above the limit (counted here in 10^9 bytes, the stricter reading).",
        fix: "Import a smaller variant, or reduce the precision of F32 weights to BF16.";
    NonstandardWeightName => "LY009", "nonstandard-weight-name", Warning,
        summary: "A single safetensors file is not named model.safetensors and there is no index.",
        why: "Hugging Face loaders look for model.safetensors or model.safetensors.index.json; other names are not found.",
        fix: "Rename the file to model.safetensors, or save the model again with `save_pretrained`.";
    UnreadableFile => "LY010", "unreadable-file", Error,
        summary: "A file of the artifact could not be read.",
        why: "A file that this tool cannot read cannot be checked, and Bedrock may not be able to read it either.",
        fix: "Check the file's permissions and that it is not too large for its kind (JSON files are read whole).";
    EmbeddingModel => "LY011", "embedding-model", Error,
        summary: "The folder is a sentence-transformers (embedding) model: it has modules.json or config_sentence_transformers.json.",
        why: "Custom Model Import imports text-generation models; the AWS documentation excludes embedding models, whose pooling and normalization modules it would not run.",
        fix: "Import the generative checkpoint the embedding model was made from, or host the embedding model elsewhere (for example a SageMaker endpoint).";
    GptOssExtraFolder => "LY012", "gpt-oss-extra-folder", Error,
        summary: "A GPT-OSS artifact contains the `metal/` or `original/` folder of the openai/gpt-oss repositories.",
        why: "The AWS Machine Learning blog post \"Deploy GPT-OSS models with Amazon Bedrock Custom Model Import\" says to exclude `metal/` before the upload; it and `original/` hold other formats of the same weights (Apple Metal, OpenAI's own checkpoint), not the Hugging Face files the import reads.",
        fix: "Upload without them, for example `aws s3 sync DIR s3://BUCKET/PREFIX/ --exclude 'metal/*' --exclude 'original/*'` (or `hf download openai/gpt-oss-20b --exclude 'metal/*' 'original/*'`).";
    NotAFile => "LY013", "not-a-file", Error,
        summary: "A name the artifact needs (config.json, a tokenizer file, the index, a safetensors file) is a directory, a FIFO, a device or a socket, not a regular file.",
        why: "The loader cannot read it as the file it is named after, and an S3 prefix holds only objects: the upload skips it or fails on it, and the import finds the file missing.",
        fix: "Put the regular file under this name (for a symbolic link to a folder, link to the file itself or copy it in).";
    HeaderTooSmall => "ST001", "header-too-small", Error,
        summary: "A safetensors file is shorter than its 8-byte header length.",
        why: "Every safetensors file starts with an 8-byte little-endian header length; a shorter file is truncated or not safetensors.",
        fix: "Upload the file again; if it was written by another tool, save it with the safetensors library.";
    HeaderTooLarge => "ST002", "header-too-large", Error,
        summary: "The declared header length is above the 100,000,000-byte cap.",
        why: "The safetensors library refuses such headers to prevent denial of service; the file is corrupt or not safetensors.",
        fix: "Check that the file really is safetensors (not a pickle renamed) and save it again with the safetensors library.";
    HeaderOutOfBounds => "ST003", "header-out-of-bounds", Error,
        summary: "The declared header length runs past the end of the file.",
        why: "The header cannot be read: the file is truncated or its first 8 bytes are corrupt.",
        fix: "Upload the file again and compare its size with the original.";
    HeaderNotUtf8 => "ST004", "header-not-utf8", Error,
        summary: "The header bytes are not valid UTF-8.",
        why: "The safetensors header must be UTF-8 JSON; loaders reject the file.",
        fix: "Save the file again with the safetensors library.";
    HeaderNotJson => "ST005", "header-not-json", Error,
        summary: "The header is not a JSON object.",
        why: "The safetensors header must be one JSON object mapping tensor names to their entries; loaders reject anything else.",
        fix: "Save the file again with the safetensors library.";
    UnknownDtype => "ST006", "unknown-dtype", Error,
        summary: "A tensor has a dtype that safetensors 0.8 does not define.",
        why: "No loader can interpret the tensor's bytes.",
        fix: "Save the tensor in a standard dtype (BF16, F16 or F32) with the safetensors library.";
    InvalidTensorEntry => "ST007", "invalid-tensor-entry", Error,
        summary: "A tensor entry lacks dtype, shape or data_offsets, or has them in the wrong form.",
        why: "The safetensors library cannot deserialize the header.",
        fix: "Save the file again with the safetensors library.";
    InvalidMetadata => "ST008", "invalid-metadata", Error,
        summary: "`__metadata__` is not a single map from strings to strings.",
        why: "The safetensors format allows only string values in `__metadata__`; loaders reject other JSON.",
        fix: "Store only string values in the metadata (`{\"format\": \"pt\"}` is what transformers writes).";
    DuplicateTensorName => "ST009", "duplicate-tensor-name", Error,
        summary: "The same tensor name appears twice in one header.",
        why: "The safetensors library silently keeps one of the two; which weights load is undefined.",
        fix: "Save the state dict again; every tensor name must be unique.";
    TensorSizeOverflow => "ST010", "tensor-size-overflow", Error,
        summary: "A tensor's shape times its dtype size overflows 64 bits.",
        why: "The header describes an impossible tensor; the file is corrupt or hostile.",
        fix: "Save the file again with the safetensors library.";
    MisalignedTensor => "ST011", "misaligned-tensor", Error,
        summary: "A tensor of a sub-byte dtype (F4, F6) does not fill a whole number of bytes.",
        why: "The safetensors library rejects such tensors (MisalignedSlice).",
        fix: "Pad or reshape the tensor so that its element count times the dtype's bits is a multiple of 8.";
    TensorSizeMismatch => "ST012", "tensor-size-mismatch", Error,
        summary: "A tensor's data_offsets span differs from its shape times its dtype size.",
        why: "The loader would read the wrong bytes or fail (TensorInvalidInfo).",
        fix: "Save the file again with the safetensors library.";
    InvalidOffsets => "ST013", "invalid-offsets", Error,
        summary: "Tensor data is not contiguous from offset 0: a hole, an overlap, or an end before its start.",
        why: "The safetensors format forbids holes and overlaps (they make polyglot files possible); loaders reject the file.",
        fix: "Save the file again with the safetensors library.";
    FileTruncated => "ST014", "file-truncated", Error,
        summary: "The file is shorter than its header says: tensor data is missing.",
        why: "A truncated shard is the classic interrupted upload; the import fails after it has started.",
        fix: "Upload the file again and compare its size and SHA-256 with the original.";
    TrailingBytes => "ST015", "trailing-bytes", Error,
        summary: "The file has bytes after the last tensor.",
        why: "The safetensors library rejects files that its header does not fully cover (MetadataIncompleteBuffer).",
        fix: "Save the file again with the safetensors library; do not append data to it.";
    GitLfsPointer => "ST016", "git-lfs-pointer", Error,
        summary: "A weight file (or config or tokenizer file) is a Git LFS pointer, not the file's content.",
        why: "A repository cloned without Git LFS (or with GIT_LFS_SKIP_SMUDGE=1) holds pointer files of about 130 bytes that start with `version https://git-lfs.github.com/spec/v1` (Git LFS specification, docs/spec.md); uploaded as they are, the import fails on them.",
        fix: "Fetch the real files: `git lfs install && git lfs pull` in the clone, or download the model with `huggingface-cli download REPO --local-dir DIR`, then upload again.";
    TooManyTensors => "ST017", "too-many-tensors", Error,
        summary: "The safetensors headers of the artifact hold more than 300,000 tensors, or more than 24 MiB of tensor names and shapes.",
        why: "The largest real checkpoints hold under 200,000 tensors (DeepSeek-V3 about 91,000); a header beyond the cap is corrupt or hostile, and the check stops reading it rather than spend gigabytes of memory on it.",
        fix: "Check that every shard is the model's own safetensors file, saved with the safetensors library; the tensor count is the length of the index's weight_map.";
    IndexInvalid => "IX001", "index-invalid", Error,
        summary: "model.safetensors.index.json is not valid JSON with a `weight_map` of tensor names to file names.",
        why: "Loaders read the shard list from the index; a broken index stops the import.",
        fix: "Save the model again with `save_pretrained`, which writes the index.";
    ShardMissing => "IX002", "shard-missing", Error,
        summary: "The index names a shard that is not in the artifact.",
        why: "The loader fails when it opens the missing shard.",
        fix: "Upload the missing shard, or save the model again so that index and shards agree.";
    OrphanShard => "IX003", "orphan-shard", Error,
        summary: "A safetensors file at the top level is not named in the index.",
        why: "Its tensors are never loaded, and it usually means shards of two different saves are mixed.",
        fix: "Remove the stray file, or save the model again into an empty folder.";
    TensorMissingFromShard => "IX004", "tensor-missing-from-shard", Error,
        summary: "The index maps a tensor to a shard whose header does not contain it.",
        why: "The loader cannot find the tensor where the index says it is.",
        fix: "Save the model again so that the index and the shards come from the same save.";
    TensorInTwoShards => "IX005", "tensor-in-two-shards", Error,
        summary: "The same tensor name is stored in more than one shard.",
        why: "Which copy is loaded is undefined; it usually means shards of two saves are mixed.",
        fix: "Save the model again into an empty folder.";
    UnmappedTensor => "IX006", "unmapped-tensor", Warning,
        summary: "A shard contains a tensor that the index does not list.",
        why: "Loaders that trust the index never read it; the index and the shards disagree.",
        fix: "Save the model again so that the index and the shards come from the same save.";
    TotalSizeMismatch => "IX007", "total-size-mismatch", Warning,
        summary: "`metadata.total_size` in the index differs from the bytes of the tensors in the shards.",
        why: "The index was written for other shards, or was edited by hand.",
        fix: "Save the model again with `save_pretrained`.";
    IndexMissing => "IX008", "index-missing", Error,
        summary: "Several safetensors files and no model.safetensors.index.json.",
        why: "Without an index the loader does not know which files make up the model.",
        fix: "Upload the model.safetensors.index.json that `save_pretrained` wrote with the shards.";
    IndexMetadataUnsupported => "IX009", "index-metadata-unsupported", Error,
        summary: "model.safetensors.index.json lacks a root `metadata` object, or its metadata has a key that Bedrock does not support (`total_parameters`).",
        why: "The AWS Machine Learning blog post \"Deploy GPT-OSS models with Amazon Bedrock Custom Model Import\" has the `total_parameters` key removed from the index before import, and transformers 4.57 `save_pretrained` writes it into every sharded index; without a `metadata` object transformers 4.51.3 itself fails (`index[\"metadata\"]` in utils/hub.py, KeyError).",
        fix: "Keep a `metadata` object and drop the unsupported key: `jq '.metadata |= (if type == \"object\" then del(.total_parameters) else {} end)' model.safetensors.index.json > index.tmp && mv index.tmp model.safetensors.index.json`; a later version's `cmi-preflight push --fix-index` makes this edit on upload.";
    IndexTargetNotShard => "IX010", "index-target-not-shard", Error,
        summary: "The index maps a tensor to a file that is not a `.safetensors` shard at the top level (config.json, the index itself, a path into a sub-folder).",
        why: "transformers 4.51.3 loads every file of the weight map as a safetensors shard (`get_checkpoint_shard_files` in utils/hub.py), so a JSON file fails the load, and Bedrock reads weights only at the top level of the artifact; the tensors mapped there are not loaded.",
        fix: "Save the model again with `save_pretrained`, which maps every tensor to the shard that holds it.";
    ConfigInvalid => "CF001", "config-invalid", Error,
        summary: "config.json is not a valid JSON object.",
        why: "Bedrock cannot detect the architecture.",
        fix: "Write config.json with `model.config.save_pretrained(dir)`.";
    UnsupportedModelType => "CF002", "unsupported-model-type", Error,
        summary: "`model_type` is missing or not an architecture that Custom Model Import supports.",
        why: "Bedrock imports only the architectures it lists (Llama, Mistral, Mixtral, Flan-T5, Mllama, GPTBigCode, Qwen2, Qwen2-VL, Qwen2.5-VL, Qwen3, GPT-OSS); other models fail after minutes.",
        fix: "Import a model of a supported architecture; `cmi-preflight rules CF002` lists them.";
    ArchitectureMismatch => "CF003", "architecture-mismatch", Error,
        summary: "`architectures[0]` is missing or not the supported class for the model type.",
        why: "Bedrock supports the causal-LM (or conditional-generation) class only; Qwen3 only as Qwen3ForCausalLM or Qwen3MoeForCausalLM. Embedding and classification heads are not supported.",
        fix: "Save the model through its supported class (for example LlamaForCausalLM) so that config.json names it.";
    CustomCode => "CF004", "custom-code", Error,
        summary: "config.json has an `auto_map`: the model needs custom code (trust_remote_code).",
        why: "Bedrock does not run custom modelling code.",
        fix: "Convert the model to a transformers-native architecture and remove `auto_map`.";
    ContextTooLong => "CF005", "context-too-long", Error,
        summary: "The maximum context (max_position_embeddings or its equivalent) is above 131072 tokens.",
        why: "Bedrock requires a context below 128K tokens.",
        fix: "Set the architecture's context key in config.json to at most 131072.";
    ScaledContextTooLong => "CF006", "scaled-context-too-long", Warning,
        summary: "rope_scaling stretches the effective context above 131072 tokens.",
        why: "Bedrock documents a 128K context limit; a longer scaled context may be cut or rejected (Bedrock also overrides Llama 3 rope scaling).",
        fix: "Lower the rope_scaling factor so that the effective context is at most 131072.";
    TransformersTooNew => "CF007", "transformers-too-new", Warning,
        summary: "`transformers_version` is newer than the version Bedrock supports (4.51.3), for an architecture that 4.51.3 has (not GPT-OSS, added in transformers 4.55).",
        why: "Newer transformers write config keys and rope formats that Bedrock's loader may not understand. Architectures newer than 4.51.3 (GPT-OSS) are necessarily saved and served by a newer release, so the note does not apply to them.",
        fix: "Save the model with transformers 4.51.3 (`pip install transformers==4.51.3`).";
    QuantizedCheckpoint => "CF008", "quantized-checkpoint", Error,
        summary: "config.json has a `quantization_config` that the architecture does not allow.",
        why: "Custom Model Import expects full-precision weights; only GPT-OSS ships in its MXFP4 format.",
        fix: "Dequantize and save the model in BF16 or F16.";
    UnsupportedWeightDtype => "CF009", "unsupported-weight-dtype", Error,
        summary: "A weight tensor is stored in a dtype other than F32, F16 or BF16.",
        why: "Integer, FP8 and FP4 weights are quantized checkpoints, which Bedrock does not import (except GPT-OSS MXFP4).",
        fix: "Save the model in BF16 or F16.";
    DtypeMismatch => "CF010", "dtype-mismatch", Warning,
        summary: "`torch_dtype` (or `dtype`) in config.json disagrees with the dtype of the weights.",
        why: "The serving stack chooses its precision from config.json; a mismatch means a cast at load time or a config from another save.",
        fix: "Set `torch_dtype` to the dtype the weights are stored in (bfloat16, float16 or float32).";
    ConfigFieldInvalid => "CF011", "config-field-invalid", Error,
        summary: "A config.json field that defines the model's shapes is missing or has an impossible value.",
        why: "The model cannot be built from its config.",
        fix: "Write config.json with `model.config.save_pretrained(dir)` from the model that produced the weights.";
    UnsupportedVariant => "CF012", "unsupported-variant", Error,
        summary: "The architecture is accepted in some sizes only (GPT-OSS: 20B and 120B), and config.json describes another.",
        why: "The AWS documentation lists the accepted variants; the import job of any other size fails.",
        fix: "Import a fine-tune of an accepted variant with that variant's sizes unchanged in config.json; the finding lists the defining fields and their accepted values.";
    GenerationConfigEos => "CF013", "generation-config-eos", Error,
        summary: "A GPT-OSS generation_config.json does not list the end-of-sequence ids 200002, 199999 and 200012.",
        why: "The Amazon Bedrock User Guide (\"Invoke your imported model\", FAQ) says GPT-OSS needs all three: a model imported with the older generation_config.json (`[200002, 199999]` or a single id) imports, but invoking it fails.",
        fix: "Set `\"eos_token_id\": [200002, 199999, 200012]` in generation_config.json (as openai/gpt-oss-20b and -120b ship it) and upload it beside config.json.";
    RopeScalingOverridden => "CF014", "rope-scaling-overridden", Info,
        summary: "Llama 3 `rope_scaling` (type llama3) differs from the values Bedrock uses (factor 8, original_max_position_embeddings 8192, low_freq_factor 1, high_freq_factor 4).",
        why: "The Amazon Bedrock User Guide page \"Use Custom model import to import a customized open-source model into Amazon Bedrock\" says that Bedrock overrides llama3 rope_scaling with these values; Llama 3.2 1B and 3B ship factor 32, so the imported model computes its rotary frequencies differently from the same checkpoint in transformers.",
        fix: "Nothing to do for the import; evaluate the imported model with factor 8 (set it in config.json to reproduce Bedrock's behaviour locally).";
    T5HeadCount => "CF015", "t5-head-count", Warning,
        summary: "A T5 (Flan-T5) model whose `num_heads` is not a multiple of 4.",
        why: "AWS's own Flan-T5 import sample (aws-samples/amazon-bedrock-samples, custom-models/import_models/flan-t5/flant5-finetune-medical-terms.ipynb) says flan-t5-small, with 6 heads, does not import because the number of heads must be a multiple of 4; the User Guide does not state the rule, hence a warning.",
        fix: "Import a Flan-T5 size whose head count is a multiple of 4 (flan-t5-base 12, -large 16, -xl 32, -xxl 64) or a fine-tune of one.";
    ConverseUnsupported => "CF016", "converse-unsupported", Info,
        summary: "The architecture is one for which Bedrock does not support Converse or ConverseStream on imported models (Qwen2.5, Qwen2-VL, Qwen2.5-VL, Qwen3, Qwen3-MoE, GPT-OSS).",
        why: "The Amazon Bedrock User Guide pages \"Invoke your imported model\" and \"Use Custom model import to import a customized open-source model into Amazon Bedrock\" exclude these architectures from the Converse API; applications must call InvokeModel.",
        fix: "Invoke the imported model with InvokeModel or InvokeModelWithResponseStream (for example with an OpenAI-compatible ChatCompletion body), not Converse.";
    MissingTokenizerJson => "TK001", "missing-tokenizer-json", Error,
        summary: "tokenizer.json is missing.",
        why: "Bedrock requires the fast-tokenizer file tokenizer.json.",
        fix: "Save the tokenizer with `AutoTokenizer.from_pretrained(base).save_pretrained(dir)` (a fast tokenizer writes tokenizer.json).";
    MissingTokenizerConfig => "TK002", "missing-tokenizer-config", Error,
        summary: "tokenizer_config.json is missing.",
        why: "Bedrock requires tokenizer_config.json to configure the tokenizer and its special tokens.",
        fix: "Save the tokenizer with `tokenizer.save_pretrained(dir)`.";
    TokenizerInvalid => "TK003", "tokenizer-invalid", Error,
        summary: "A tokenizer file is not valid JSON of the expected form.",
        why: "The tokenizer cannot be loaded, so the model cannot serve requests.",
        fix: "Save the tokenizer again with `tokenizer.save_pretrained(dir)`.";
    MissingTokenizerModel => "TK004", "missing-tokenizer-model", Warning,
        summary: "A SentencePiece tokenizer without its model file (tokenizer.model, or spiece.model for T5).",
        why: "Bedrock lists tokenizer.model among the required files; SentencePiece-based tokenizers (Llama 2, Mistral, T5) ship it.",
        fix: "Upload the tokenizer.model (spiece.model for Flan-T5) of the base model beside tokenizer.json.";
    SentencepieceModelRequired => "TK005", "sentencepiece-model-required", Error,
        summary: "A slow SentencePiece-only tokenizer class with neither tokenizer.model nor tokenizer.json.",
        why: "No file remains from which the tokenizer can be built.",
        fix: "Upload tokenizer.model, or save a fast tokenizer (tokenizer.json).";
    UnsupportedTokenizerClass => "TK006", "unsupported-tokenizer-class", Warning,
        summary: "`tokenizer_class` is not one that Bedrock lists as supported.",
        why: "Bedrock documents a fixed list of tokenizer classes (Llama, CodeLlama, GPT2, GPTNeoX, Qwen2, T5, PreTrainedTokenizer and their Fast variants).",
        fix: "Set `tokenizer_class` to a supported class, such as PreTrainedTokenizerFast, if the tokenizer.json is compatible.";
    ChatTemplateConflict => "TK007", "chat-template-conflict", Warning,
        summary: "A chat template is both in a separate file and embedded in tokenizer_config.json, and the two differ.",
        why: "Bedrock uses the separate file and ignores the embedded one; AWS recommends choosing one. (The same template in both, as a transformers processor saves it, is not reported.)",
        fix: "Keep one form: delete the `chat_template` field or the separate file.";
    ChatTemplateMisnamed => "TK008", "chat-template-misnamed", Error,
        summary: "A file looks like a chat template but its name is not exactly chat_template.jinja or chat_template.json.",
        why: "Bedrock matches the file names exactly; a misnamed template is silently ignored.",
        fix: "Rename the file to chat_template.jinja (raw template) or chat_template.json (the template as a JSON string).";
    ChatTemplateInvalid => "TK009", "chat-template-invalid", Error,
        summary: "A chat template is empty, not UTF-8, or not in the expected JSON form.",
        why: "Incorrectly formatted templates cause import or inference failures.",
        fix: "Write the template with `tokenizer.save_pretrained(dir)` after setting `tokenizer.chat_template`.";
    TokenIdOutOfRange => "TK010", "token-id-out-of-range", Error,
        summary: "tokenizer.json has token ids that do not fit the model's embedding rows (`vocab_size`).",
        why: "Such tokens index past the embedding matrix and crash or corrupt inference.",
        fix: "Resize the embeddings (`model.resize_token_embeddings(len(tokenizer))`) and save the model again, or use the model's own tokenizer.";
    NoChatTemplate => "TK011", "no-chat-template", Warning,
        summary: "There is no chat template: no `chat_template` in tokenizer_config.json, no chat_template.jinja, no chat_template.json.",
        why: "The Amazon Bedrock User Guide page \"Invoke your imported model\" says that Custom Model Import applies no default chat template, so chat-completion requests to the imported model do not work (architectures that are not chat models, such as Flan-T5, are exempt).",
        fix: "Add the chat template of the base or instruct model: set `tokenizer.chat_template` and call `tokenizer.save_pretrained(dir)`, or upload its chat_template.jinja.";
    MissingTensor => "SH001", "missing-tensor", Error,
        summary: "A tensor that transformers expects from config.json is not in the weights.",
        why: "The loader would initialize it at random or fail: the imported model would be broken.",
        fix: "Save the full model with `save_pretrained`; check that config.json belongs to these weights.";
    UnexpectedTensor => "SH002", "unexpected-tensor", Warning,
        summary: "The weights contain a tensor that the architecture does not define.",
        why: "It is ignored on load, which usually means config.json and the weights do not match (wrong layer count, untied head, leftovers).",
        fix: "Check that config.json belongs to these weights; remove stray tensors and save again.";
    ShapeMismatch => "SH003", "shape-mismatch", Error,
        summary: "A tensor's shape differs from the shape that config.json implies.",
        why: "Loading fails with a size mismatch.",
        fix: "Check that config.json (hidden_size, heads, head_dim, intermediate_size, vocab_size) belongs to these weights.";
    NewerTransformersLayout => "SH004", "newer-transformers-layout", Error,
        summary: "The tensors are named as transformers 4.52 or newer names them (`model.language_model.*`, `model.visual.*`, `model.vision_model.*`), which transformers 4.51.3 does not recognize.",
        why: "Bedrock loads with transformers 4.51.3, which reports such tensors as unexpected and initializes the language model at random: the import succeeds and the model produces garbage.",
        fix: "Save the model again with transformers 4.51.3 (`from_pretrained`, then `save_pretrained`), or rename the tensors back with the one-line script in the finding's message.";
    EmptyPrefix => "S3001", "empty-prefix", Error,
        summary: "The S3 prefix holds no objects.",
        why: "An import job of an empty prefix fails; usually the prefix is misspelt or lacks its last path segment.",
        fix: "Check the prefix with `aws s3 ls s3://BUCKET/PREFIX/` and give the folder that holds config.json.";
    S3UriRejected => "S3002", "s3-uri-rejected", Error,
        summary: "The S3 URI does not match the pattern that CreateModelImportJob accepts, or its bucket name breaks the S3 bucket naming rules.",
        why: "The API rejects the request: it allows only lowercase bucket names and key segments of letters, digits and `-!_*'().`, with no empty segments. A bucket name outside the S3 naming rules (3 to 63 characters of lowercase letters, digits, dots and hyphens, not formatted as an IP address) names no bucket, so it is refused before any request; a URI refused for its key keeps this finding even when the listing then fails or finds no object.",
        fix: "Copy the artifact to a prefix without spaces or the characters `= + @ , & $ : %` (for example with `aws s3 cp --recursive`).";
    ArchivedObject => "S3003", "archived-object", Error,
        summary: "An object is in an archive storage class (S3 Glacier Flexible Retrieval, Deep Archive, or an archived Intelligent-Tiering tier).",
        why: "Archived objects cannot be read until they are restored; the import job fails on them.",
        fix: "Restore the objects (`aws s3api restore-object`) or copy them to the STANDARD storage class.";
    SseCustomerKey => "S3004", "sse-c-object", Error,
        summary: "An object is encrypted with a customer-provided key (SSE-C).",
        why: "Bedrock cannot supply your key, so it cannot read SSE-C objects.",
        fix: "Copy the object with SSE-S3 or SSE-KMS encryption (`aws s3 cp` with `--sse-c-copy-source` and `--sse aws:kms`).";
    AwsManagedKmsKey => "S3005", "aws-managed-kms-key", Warning,
        summary: "An object is encrypted with the AWS-managed `aws/s3` KMS key.",
        why: "The key policy of `aws/s3` cannot be edited, so principals of other accounts (such as a cross-account import role) can never decrypt it.",
        fix: "Re-encrypt the objects with a customer-managed key and grant the import role kms:Decrypt in its key policy (`cmi-preflight policy --source-kms-key-arn`).";
    BucketRegionMismatch => "S3006", "bucket-region-mismatch", Error,
        summary: "The bucket is in a different Region from the Bedrock import job.",
        why: "Bedrock reads the artifact in the job's Region; a bucket elsewhere gives \"does not have access to the S3 location\".",
        fix: "Copy the artifact to a bucket in the Region of the import job.";
    ListAccessDenied => "S3007", "list-access-denied", Error,
        summary: "Listing the prefix (s3:ListBucket) was denied.",
        why: "Bedrock lists the prefix with the execution role; a denial here fails the import with \"does not have access to the S3 location\".",
        fix: "Allow s3:ListBucket on the bucket for the role: in the role's identity policy (with aws:ResourceAccount set to the bucket's account) and, across accounts, in the bucket policy. `cmi-preflight policy` writes both.";
    GetAccessDenied => "S3008", "get-access-denied", Error,
        summary: "Reading an object (s3:GetObject) was denied.",
        why: "Bedrock reads every file with the execution role; one unreadable object fails the import.",
        fix: "Allow s3:GetObject on BUCKET/PREFIX/* for the role, in its identity policy and, across accounts, in the bucket policy; objects uploaded by another account need Object Ownership set to bucket owner enforced.";
    KmsAccessDenied => "S3009", "kms-access-denied", Error,
        summary: "Reading an SSE-KMS object failed because the KMS key would not decrypt for the reader.",
        why: "The role needs kms:Decrypt on the object's key, granted both by the key policy and by the role's identity policy.",
        fix: "Grant the role kms:Decrypt and kms:DescribeKey in the key policy (key account) and its identity policy; `cmi-preflight policy --source-kms-key-arn` writes both statements.";
    HubAccessDenied => "HF001", "hub-access-denied", Error,
        summary: "The Hugging Face Hub refused to serve the model (401 or 403): it is private, gated, or the token may not read it.",
        why: "Nothing of the model can be read, so nothing can be checked, hashed or copied to S3 for the import; a gated model (Llama, Gemma) serves its files only to accounts that accepted its conditions.",
        fix: "For a gated model, open its page on the Hub while logged in and accept the conditions; then set HF_TOKEN to that account's token (or run `hf auth login`).";
    HubNotFound => "HF002", "hub-not-found", Error,
        summary: "The Hugging Face Hub has no such repository, revision or file (404).",
        why: "A misspelt repository id or a revision (branch, tag or commit) that does not exist names nothing to import.",
        fix: "Check the repository id and the revision on the model's page on the Hub; a private repository also needs HF_TOKEN.";
    HubDigestMismatch => "HF003", "hub-digest-mismatch", Error,
        summary: "The bytes a Hugging Face Hub repository served for a file do not hash to the SHA-256 the Hub publishes for it (its LFS object id).",
        why: "The file was corrupted on the way (a proxy, a mirror, a CDN node) or the repository's storage is damaged: what would be imported is not the model that was published. Push checks every byte it streams against that SHA-256 before an object is completed.",
        fix: "Push again (a transient corruption goes away); if it stays, report it to the Hub or the mirror named by HF_ENDPOINT. Nothing was written for the file: its multipart upload was aborted.";
    FileMissing => "MF001", "file-missing", Error,
        summary: "A file that the manifest lists is not in the artifact.",
        why: "The artifact is not the one that was released: a shard or tokenizer file was lost or never uploaded.",
        fix: "Upload the missing file from the released copy, then run `cmi-preflight verify` again.";
    FileExtra => "MF002", "file-extra", Error,
        summary: "The artifact has a file that the manifest does not list.",
        why: "Something was added after the release; Bedrock would import it with the rest.",
        fix: "Remove the file, or make a new manifest if the addition is part of the release.";
    SizeChanged => "MF003", "size-changed", Error,
        summary: "A file's size differs from the manifest's.",
        why: "The file was truncated, re-saved or replaced after the release.",
        fix: "Upload the released file again and compare with `cmi-preflight verify`.";
    DigestChanged => "MF004", "digest-changed", Error,
        summary: "A file's SHA-256 differs from the manifest's.",
        why: "The content changed after the release (a flipped byte, a re-save, a different file of the same size).",
        fix: "Upload the released file again; if the change is intended, make a new manifest.";
    MetadataChanged => "MF005", "metadata-changed", Error,
        summary: "An S3 object's ETag or version id differs from the manifest's (`--metadata-only`).",
        why: "The object was rewritten after the release; its content may or may not be the same.",
        fix: "Run `cmi-preflight verify` without `--metadata-only` to compare the contents.";
    SignatureMissing => "SG001", "signature-missing", Error,
        summary: "The signature file or object given with `--signature` does not exist.",
        why: "Without the signature nothing proves who produced the bytes; a release gate that requires one must not pass.",
        fix: "Sign the artifact (`cmi-preflight sign` or `model_signing sign key`) and give the path or s3:// URI of the signature with `--signature`.";
    SignatureWrongKey => "SG002", "signature-wrong-key", Error,
        summary: "The signature does not verify with any of the public keys given with `--public-key`.",
        why: "The artifact was signed by someone else, or the envelope's signature was altered: its producer is not one the gate trusts.",
        fix: "Verify with the public key of the expected signer, or have that signer sign the artifact again.";
    SignatureTampered => "SG003", "signature-tampered", Error,
        summary: "The signature file is malformed, or its statement is not what was signed or is of a kind this tool does not read.",
        why: "A statement whose digests do not match its subject, or a bundle that cannot be parsed, proves nothing about the artifact.",
        fix: "Sign the artifact again with `cmi-preflight sign` or `model_signing sign key` (files serialization, SHA-256, no symbolic links) and keep the signature file unaltered.";
    SignatureUntrustedCertificate => "SG004", "signature-untrusted-certificate", Error,
        summary: "The signature's signing certificate does not chain to the certificates given with `--certificate-chain`, or may not sign.",
        why: "A certificate signature proves who signed only through a chain to a root the gate trusts; a certificate issued elsewhere, outside its validity, or without the digital-signature key usage or code-signing extended key usage proves nothing.",
        fix: "Verify with the root (and intermediate) certificates of the signer's CA in `--certificate-chain`, or have the signer sign again with a certificate that CA issued for signing (`cmi-preflight sign --signing-certificate` or `model_signing sign certificate`).";
    RegionWithoutImport => "RG001", "region-without-import", Error,
        summary: "The Bedrock Region of the import does not offer Custom Model Import.",
        why: "CreateModelImportJob exists only in us-east-1, us-east-2, us-west-2 and eu-central-1 (AWS documentation as of 2026-06-09); in any other Region the import cannot start.",
        fix: "Import in one of those Regions, with the bucket in the same Region (S3006).";
    ArchitectureNotInRegion => "RG002", "architecture-not-in-region", Error,
        summary: "Custom Model Import offers the model's architecture in other Regions only (GPT-OSS: us-east-1).",
        why: "The AWS documentation restricts some architectures to some Regions; their import fails anywhere else.",
        fix: "Import in a Region that offers the architecture (GPT-OSS: us-east-1), with the bucket in the same Region.";
    CacheBlobMismatch => "HF004", "cache-blob-mismatch", Error,
        summary: "A file of a local Hugging Face cache snapshot does not hash to the SHA-256 its LFS blob is named by (found by `manifest`, `verify` and `push`, which read every byte; `check` does not read whole files).",
        why: "huggingface_hub names the blob of an LFS file by the file's SHA-256 (file_download.py); other bytes under that name are a corrupt or altered copy, and importing it would import something the Hub never published.",
        fix: "Download the file again (`hf download ORG/NAME FILE --revision COMMIT --force-download`), or delete the blob and the snapshot's link to it and download the snapshot again.";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_indexed_by_rule_id() {
        for (index, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.id as usize, index, "{} is out of place", rule.code);
            assert!(std::ptr::eq(rule.id.rule(), rule));
        }
    }

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for rule in RULES {
            assert!(codes.insert(rule.code), "duplicate code {}", rule.code);
            assert!(names.insert(rule.name), "duplicate name {}", rule.name);
            let (prefix, number) = rule.code.split_at(2);
            assert!(
                ["LY", "ST", "IX", "CF", "TK", "SH", "S3", "HF", "MF", "SG", "RG"]
                    .contains(&prefix),
                "{}",
                rule.code
            );
            assert!(number.len() == 3 && number.bytes().all(|b| b.is_ascii_digit()));
            assert!(rule
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            for text in [rule.summary, rule.why, rule.fix] {
                assert!(
                    text.ends_with('.') || text.ends_with(')'),
                    "{}: {text}",
                    rule.code
                );
            }
        }
    }

    #[test]
    fn lookup_by_code_or_name() {
        assert_eq!(lookup("st013").map(|r| r.id), Some(RuleId::InvalidOffsets));
        assert_eq!(
            lookup("invalid-offsets").map(|r| r.id),
            Some(RuleId::InvalidOffsets)
        );
        assert!(lookup("XX999").is_none());
    }
}
