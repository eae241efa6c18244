//! What the caller hands the check: the listing of an artifact ([`Entry`]) and the bytes that
//! [`crate::artifact::plan`] asked for ([`Artifact`]), with the names of the files the rules
//! read. Its own module because the plan, the check and every rule group share these types.

use std::collections::{BTreeMap, HashMap};

use crate::finding::Finding;
use crate::safetensors::{Header, HeaderError};

/// Name of the model configuration.
pub const CONFIG_JSON: &str = "config.json";
/// Name of the fast-tokenizer file.
pub const TOKENIZER_JSON: &str = "tokenizer.json";
/// Name of the tokenizer configuration.
pub const TOKENIZER_CONFIG_JSON: &str = "tokenizer_config.json";
/// Name of the SentencePiece model.
pub const TOKENIZER_MODEL: &str = "tokenizer.model";
/// Names under which a SentencePiece model is shipped: tokenizer.model (Llama 2, Mistral) or
/// spiece.model (T5 and Flan-T5, whose `T5Tokenizer` names its `vocab_file` so in transformers
/// 4.51.3 `models/t5/tokenization_t5.py`).
pub const SENTENCEPIECE_MODEL_FILES: &[&str] = &[TOKENIZER_MODEL, "spiece.model"];
/// Name of the sharded-weights index.
pub const INDEX_JSON: &str = "model.safetensors.index.json";
/// Name of the raw chat-template file.
pub const CHAT_TEMPLATE_JINJA: &str = "chat_template.jinja";
/// Name of the JSON chat-template file.
pub const CHAT_TEMPLATE_JSON: &str = "chat_template.json";
/// Name of the generation defaults (end-of-sequence ids).
pub const GENERATION_CONFIG_JSON: &str = "generation_config.json";

/// Small files that are read whole when present at the top level.
pub const DOCUMENTS: &[&str] = &[
    CONFIG_JSON,
    TOKENIZER_JSON,
    TOKENIZER_CONFIG_JSON,
    INDEX_JSON,
    CHAT_TEMPLATE_JINJA,
    CHAT_TEMPLATE_JSON,
    GENERATION_CONFIG_JSON,
];

/// Whether the artifact needs `path` to be a regular file: a document, a SentencePiece model
/// or a safetensors file at the top level.
pub fn is_needed_file(path: &str) -> bool {
    !path.contains('/')
        && (DOCUMENTS.contains(&path)
            || SENTENCEPIECE_MODEL_FILES.contains(&path)
            || path.ends_with(".safetensors"))
}

/// Largest document read whole (tokenizer.json of large vocabularies reaches tens of MB).
pub const DOCUMENT_LIMIT: u64 = 64 * 1024 * 1024;

/// Bytes read from the start of other files to recognise pickle and zip payloads.
pub const SNIFF_LEN: u64 = 8;

/// One file of the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the artifact root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

impl Entry {
    /// Whether the file lies directly under the artifact root.
    pub fn is_top_level(&self) -> bool {
        !self.path.contains('/')
    }

    /// Whether the file is a safetensors file by name.
    pub fn is_safetensors(&self) -> bool {
        self.path.ends_with(".safetensors")
    }
}

/// Everything the check knows about an artifact: its listing and the bytes of [`crate::Plan`].
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    /// Every file, with its size.
    pub entries: Vec<Entry>,
    /// Contents of the documents that were read.
    pub documents: HashMap<String, Vec<u8>>,
    /// Header of each safetensors file of the plan.
    pub headers: HashMap<String, Result<Header, HeaderError>>,
    /// First bytes of each sniffed file (and of each safetensors file).
    pub magic: HashMap<String, Vec<u8>>,
    /// Files that are present but could not be read, with the finding that says why (LY010
    /// for a local I/O error; an S3 access rule when the source is S3).
    pub unreadable: BTreeMap<String, Finding>,
    /// Paths that are not regular files (a directory, a FIFO, a device, a socket), with what
    /// they are ("a directory"): a needed name held by one is reported for what it is (LY013),
    /// not as missing.
    pub not_files: BTreeMap<String, String>,
    /// Findings that the caller made while gathering the artifact (about the source rather
    /// than the files: an empty S3 prefix, an archived object, an encryption key).
    pub source_findings: Vec<Finding>,
    /// The Bedrock Region of the import, when the caller knows it (the `RG` rules).
    pub bedrock_region: Option<String>,
}

impl Artifact {
    /// The entry of a path, if listed.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Whether a path is present, readable or not, as a file or as something else.
    pub fn has(&self, path: &str) -> bool {
        self.entry(path).is_some()
            || self.unreadable.contains_key(path)
            || self.not_files.contains_key(path)
    }

    /// Top-level safetensors files, in listing order.
    pub fn top_level_safetensors(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.is_top_level() && e.is_safetensors())
    }
}
