//! The check of a whole artifact: which bytes it needs ([`plan`]) and what they say ([`check`]).
//!
//! The caller lists the artifact into [`Entry`]s, asks [`plan`] which files to read whole,
//! which safetensors headers to fetch and which files to sniff, fetches them, and hands the
//! result back as an [`Artifact`]. [`check`] then runs every rule and returns a [`Report`].

use std::collections::{BTreeMap, HashMap};

use crate::arch;
use crate::context::Context;
use crate::dtype::Dtype;
use crate::finding::{Finding, Severity};
use crate::{config, generation, index, layout, lfs, shapes, tokenizer, weights};

pub use crate::config_json::MAX_JSON_VALUES;
pub use crate::inputs::{
    Artifact, Entry, CHAT_TEMPLATE_JINJA, CHAT_TEMPLATE_JSON, CONFIG_JSON, DOCUMENTS,
    DOCUMENT_LIMIT, GENERATION_CONFIG_JSON, INDEX_JSON, SNIFF_LEN, TOKENIZER_CONFIG_JSON,
    TOKENIZER_JSON, TOKENIZER_MODEL,
};

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
///
/// Every document is read, an empty one too: 0 bytes are not a valid JSON document (nor a
/// template), and the rule that parses the file must see them rather than find the file
/// present yet absent from [`Artifact::documents`]. Empty weight files have their own rule
/// (LY007) and empty other files have nothing to sniff, so neither is read.
pub fn plan(entries: &[Entry]) -> Plan {
    let mut plan = Plan::default();
    for entry in entries {
        if entry.is_top_level() && DOCUMENTS.contains(&entry.path.as_str()) {
            plan.documents.push(entry.path.clone());
        } else if entry.size == 0 {
            continue;
        } else if entry.is_top_level() && entry.is_safetensors() {
            plan.headers.push(entry.path.clone());
        } else {
            plan.sniffs.push(entry.path.clone());
        }
    }
    plan
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
    /// Findings, ordered by file, then severity, then code; at most
    /// [`crate::finding::MAX_EXAMPLES`] of a rule about a file, then one that counts the rest.
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

/// Runs every rule over the artifact.
pub fn check(artifact: &Artifact) -> Report {
    let stripped = lfs::without_pointer_documents(artifact);
    let artifact = stripped.as_ref().unwrap_or(artifact);
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
    generation::check(&context, &mut findings);
    weights::check(&context, &mut findings);
    shapes::check(&context, &mut findings);
    tokenizer::check(&context, &mut findings);
    findings.sort_by(|a, b| {
        (a.file.as_str(), a.severity(), a.code()).cmp(&(b.file.as_str(), b.severity(), b.code()))
    });
    let findings = crate::finding::aggregate(findings);
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
