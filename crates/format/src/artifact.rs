//! The check of a whole artifact: which bytes it needs ([`plan`]) and what they say ([`check`]).
//!
//! The caller lists the artifact into [`Entry`]s, asks [`plan`] which files to read whole,
//! which safetensors headers to fetch and which files to sniff, fetches them, and hands the
//! result back as an [`Artifact`]. [`check`] then runs every rule and returns a [`Report`].

use std::collections::{BTreeMap, HashMap};

use crate::arch::{self, Architecture};
use crate::config::Config;
use crate::dtype::Dtype;
use crate::finding::{Finding, Severity};
use crate::index::ShardIndex;
use crate::safetensors::{Header, HeaderError, TensorInfo};
use crate::{config, index, layout, shapes, tokenizer, weights};

/// Name of the model configuration.
pub const CONFIG_JSON: &str = "config.json";
/// Name of the fast-tokenizer file.
pub const TOKENIZER_JSON: &str = "tokenizer.json";
/// Name of the tokenizer configuration.
pub const TOKENIZER_CONFIG_JSON: &str = "tokenizer_config.json";
/// Name of the SentencePiece model.
pub const TOKENIZER_MODEL: &str = "tokenizer.model";
/// Name of the sharded-weights index.
pub const INDEX_JSON: &str = "model.safetensors.index.json";
/// Name of the raw chat-template file.
pub const CHAT_TEMPLATE_JINJA: &str = "chat_template.jinja";
/// Name of the JSON chat-template file.
pub const CHAT_TEMPLATE_JSON: &str = "chat_template.json";

/// Small files that are read whole when present at the top level.
pub const DOCUMENTS: &[&str] = &[
    CONFIG_JSON,
    TOKENIZER_JSON,
    TOKENIZER_CONFIG_JSON,
    INDEX_JSON,
    CHAT_TEMPLATE_JINJA,
    CHAT_TEMPLATE_JSON,
];

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

/// What a check needs to read, decided from the listing alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files to read whole (at most [`DOCUMENT_LIMIT`] bytes each).
    pub documents: Vec<String>,
    /// Safetensors files whose header to read.
    pub headers: Vec<String>,
    /// Files whose first [`SNIFF_LEN`] bytes to read.
    pub sniffs: Vec<String>,
}

/// Decides which bytes the check needs.
pub fn plan(entries: &[Entry]) -> Plan {
    let mut plan = Plan::default();
    for entry in entries {
        if entry.size == 0 {
            continue;
        }
        if entry.is_top_level() && DOCUMENTS.contains(&entry.path.as_str()) {
            plan.documents.push(entry.path.clone());
        } else if entry.is_top_level() && entry.is_safetensors() {
            plan.headers.push(entry.path.clone());
        } else {
            plan.sniffs.push(entry.path.clone());
        }
    }
    plan
}

/// Everything the check knows about an artifact: its listing and the bytes of [`Plan`].
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

    /// Whether a path is present, readable or not.
    pub fn has(&self, path: &str) -> bool {
        self.entry(path).is_some() || self.unreadable.contains_key(path)
    }

    /// Top-level safetensors files, in listing order.
    pub fn top_level_safetensors(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.is_top_level() && e.is_safetensors())
    }
}

/// What the check learned about the model, for reports and manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// config.json `model_type`.
    pub model_type: Option<String>,
    /// config.json `architectures[0]`.
    pub architecture: Option<String>,
    /// Bytes of tensor data per dtype, over the model's weights.
    pub dtypes: BTreeMap<String, u64>,
    /// Number of tensors in the model's weights.
    pub tensor_count: u64,
    /// Number of parameters (elements) in the model's weights.
    pub parameter_count: u64,
    /// Total size of the top-level safetensors files.
    pub weight_bytes: u64,
    /// Number of files in the artifact.
    pub file_count: u64,
    /// Total size of all files.
    pub total_bytes: u64,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings, ordered by file, then severity, then code.
    pub findings: Vec<Finding>,
    /// What the check learned.
    pub summary: Summary,
}

impl Report {
    /// Number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity() == severity)
            .count()
    }

    /// Whether the gate passes: no error, and no warning when `strict`.
    pub fn passed(&self, strict: bool) -> bool {
        self.count(Severity::Error) == 0 && (!strict || self.count(Severity::Warning) == 0)
    }
}

/// The tensors the loader will use, and whether the set is known completely.
#[derive(Debug, Default)]
pub(crate) struct Weights<'a> {
    /// Tensor name to its entry and the file that holds it.
    pub tensors: BTreeMap<&'a str, (&'a TensorInfo, &'a str)>,
    /// False when a header failed, a shard is missing or the shard list is ambiguous: then
    /// checks that need every tensor stay silent rather than guess.
    pub complete: bool,
}

/// Parsed state shared by the rule groups.
pub(crate) struct Context<'a> {
    pub artifact: &'a Artifact,
    pub config: Option<Config>,
    pub architecture: Option<&'static Architecture>,
    pub index: Option<ShardIndex>,
    pub weights: Weights<'a>,
}

/// Runs every rule over the artifact.
pub fn check(artifact: &Artifact) -> Report {
    let mut findings: Vec<Finding> = artifact.source_findings.clone();
    findings.extend(artifact.unreadable.values().cloned());
    let config = config::parse(artifact, &mut findings);
    let architecture = config
        .as_ref()
        .and_then(|c| c.model_type())
        .and_then(arch::architecture);
    layout::check(artifact, architecture, &mut findings);
    if let Some(region) = &artifact.bedrock_region {
        crate::region::check(region, architecture, &mut findings);
    }
    for (path, header) in sorted(&artifact.headers) {
        if let Err(error) = header {
            findings.push(Finding::new(error.rule(), path.clone(), error.to_string()));
        }
    }
    let index = index::parse(artifact, &mut findings);
    let weights = index::weights(artifact, index.as_ref(), &mut findings);
    let context = Context {
        artifact,
        config,
        architecture,
        index,
        weights,
    };
    config::check(&context, &mut findings);
    weights::check(&context, &mut findings);
    shapes::check(&context, &mut findings);
    tokenizer::check(&context, &mut findings);
    findings.sort_by(|a, b| {
        (a.file.as_str(), a.severity(), a.code()).cmp(&(b.file.as_str(), b.severity(), b.code()))
    });
    Report {
        summary: summarize(&context),
        findings,
    }
}

fn sorted<V>(map: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut pairs: Vec<_> = map.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
}

fn summarize(context: &Context<'_>) -> Summary {
    let artifact = context.artifact;
    let mut summary = Summary {
        model_type: context
            .config
            .as_ref()
            .and_then(|c| c.model_type())
            .map(str::to_string),
        architecture: context
            .config
            .as_ref()
            .and_then(|c| c.architecture())
            .map(str::to_string),
        file_count: artifact.entries.len() as u64,
        total_bytes: artifact.entries.iter().map(|e| e.size).sum(),
        weight_bytes: artifact.top_level_safetensors().map(|e| e.size).sum(),
        ..Summary::default()
    };
    for (tensor, _) in context.weights.tensors.values() {
        summary.tensor_count += 1;
        summary.parameter_count = summary
            .parameter_count
            .saturating_add(tensor.element_count());
        *summary
            .dtypes
            .entry(Dtype::name(tensor.dtype).to_string())
            .or_default() += tensor.byte_len();
    }
    summary
}
