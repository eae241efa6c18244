//! The layout of the folder: required files, pickle payloads, adapters, sub-folders, sizes.

use std::collections::BTreeMap;

use crate::arch::{Architecture, CMI_LIMITS};
use crate::finding::Finding;
use crate::inputs::{is_needed_file, Artifact, Entry, CONFIG_JSON, INDEX_JSON};
use crate::rules::RuleId;

/// Extensions of pickle-based checkpoints (torch.save, joblib, plain pickle).
pub const PICKLE_EXTENSIONS: &[&str] = &[".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"];

/// Files that mark a PEFT adapter.
pub const ADAPTER_FILES: &[&str] = &[
    "adapter_config.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
];

/// Files that mark a sentence-transformers (embedding) model.
pub const EMBEDDING_MODEL_FILES: &[&str] = &["modules.json", "config_sentence_transformers.json"];

/// Folders that the reference repositories of an architecture carry beside the Hugging Face
/// files, and that must not be uploaded (LY012, instead of the general LY006).
#[derive(Debug)]
pub struct ExtraFolders {
    /// config.json `model_type`.
    pub model_type: &'static str,
    /// Folder names, each with what it holds.
    pub folders: &'static [(&'static str, &'static str)],
}

/// GPT-OSS: the openai/gpt-oss-20b and -120b repositories ship `metal/` (weights for Apple
/// Metal, `metal/model.bin`) and `original/` (OpenAI's own checkpoint); the AWS Machine
/// Learning blog post "Deploy GPT-OSS models with Amazon Bedrock Custom Model Import" excludes
/// `metal/` from the upload.
pub const EXTRA_FOLDERS: &[ExtraFolders] = &[ExtraFolders {
    model_type: "gpt_oss",
    folders: &[
        (
            "metal",
            "the Apple Metal weights of the openai/gpt-oss repository",
        ),
        (
            "original",
            "OpenAI's own checkpoint format from the openai/gpt-oss repository",
        ),
    ],
}];

/// What an [`EXTRA_FOLDERS`] folder holds, when `path` lies in one for `architecture`.
fn extra_folder(
    architecture: Option<&Architecture>,
    path: &str,
) -> Option<(&'static str, &'static str)> {
    let model_type = architecture?.model_type;
    let (folder, _) = path.split_once('/')?;
    EXTRA_FOLDERS
        .iter()
        .filter(|e| e.model_type == model_type)
        .flat_map(|e| e.folders.iter().copied())
        .find(|(name, _)| *name == folder)
}

/// What the first bytes of a file say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// A pickle stream of protocol 2 or later (`0x80` then the protocol byte).
    Pickle,
    /// A zip archive (`PK\x03\x04`), the container of `torch.save`.
    Zip,
}

/// Recognises pickle and zip payloads from a file's first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Magic> {
    match bytes {
        [0x80, 2..=5, ..] => Some(Magic::Pickle),
        [b'P', b'K', 3, 4, ..] => Some(Magic::Zip),
        _ => None,
    }
}

/// Why a file counts as a pickle payload, if it does.
fn pickle_reason(artifact: &Artifact, entry: &Entry) -> Option<String> {
    let magic = artifact.magic.get(&entry.path).and_then(|m| sniff(m));
    let extension = PICKLE_EXTENSIONS
        .iter()
        .find(|ext| entry.path.to_ascii_lowercase().ends_with(*ext));
    match (magic, extension) {
        (Some(Magic::Zip), _) => Some("zip archive (torch.save format)".to_string()),
        (Some(Magic::Pickle), _) => Some("pickle stream".to_string()),
        (None, Some(ext)) => Some(format!("{ext} checkpoint")),
        (None, None) => None,
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Runs the layout rules.
pub(crate) fn check(
    artifact: &Artifact,
    architecture: Option<&Architecture>,
    findings: &mut Vec<Finding>,
) {
    check_sub_folders(artifact, architecture, findings);
    for (path, kind) in &artifact.not_files {
        if is_needed_file(path) {
            findings.push(Finding::new(
                RuleId::NotAFile,
                path.clone(),
                format!("is {kind}, not a regular file"),
            ));
        }
    }
    if let Some(marker) = EMBEDDING_MODEL_FILES.iter().find(|f| artifact.has(f)) {
        findings.push(Finding::new(
            RuleId::EmbeddingModel,
            *marker,
            "marks a sentence-transformers embedding model, not a text-generation model",
        ));
    }
    let safetensors: Vec<&Entry> = artifact
        .top_level_safetensors()
        .filter(|e| !ADAPTER_FILES.contains(&e.path.as_str()))
        .collect();
    let pickles: Vec<(&Entry, String)> = artifact
        .entries
        .iter()
        .filter(|e| !e.is_safetensors() && extra_folder(architecture, &e.path).is_none())
        .filter_map(|e| pickle_reason(artifact, e).map(|r| (e, r)))
        .collect();
    let has_config = artifact.has(CONFIG_JSON);
    let adapter: Vec<&str> = ADAPTER_FILES
        .iter()
        .copied()
        .filter(|f| artifact.has(f))
        .collect();
    if !adapter.is_empty() && (!has_config || safetensors.is_empty()) {
        findings.push(Finding::new(
            RuleId::AdapterOnly,
            adapter[0],
            format!(
                "{} without a full model ({})",
                adapter.join(", "),
                if has_config {
                    "no weights"
                } else {
                    "no config.json"
                }
            ),
        ));
        return;
    }
    if !has_config {
        let nested = artifact
            .entries
            .iter()
            .find(|e| !e.is_top_level() && file_name(&e.path) == CONFIG_JSON);
        let mut finding = Finding::new(
            RuleId::MissingConfig,
            "",
            "no config.json at the top level of the artifact",
        );
        if let Some(nested) = nested {
            finding = finding.with_hint(format!(
                "Move {} to the top level of the artifact, beside the weights.",
                nested.path
            ));
        }
        findings.push(finding);
    }
    if safetensors.is_empty() {
        if pickles.is_empty() {
            findings.push(Finding::new(
                RuleId::MissingSafetensors,
                "",
                "no .safetensors file at the top level of the artifact",
            ));
        } else {
            for (entry, reason) in &pickles {
                findings.push(Finding::new(
                    RuleId::PickleWeightsOnly,
                    entry.path.clone(),
                    format!("{reason}, and the artifact has no safetensors weights"),
                ));
            }
        }
    } else {
        for (entry, reason) in &pickles {
            findings.push(Finding::new(
                RuleId::PickleBesideSafetensors,
                entry.path.clone(),
                format!("{reason} beside the safetensors weights"),
            ));
        }
    }
    for entry in &safetensors {
        if entry.size == 0 {
            findings.push(Finding::new(
                RuleId::EmptyWeightFile,
                entry.path.clone(),
                "is 0 bytes long",
            ));
        }
    }
    if let [single] = safetensors.as_slice() {
        if single.path != "model.safetensors" && !artifact.has(INDEX_JSON) {
            findings.push(Finding::new(
                RuleId::NonstandardWeightName,
                single.path.clone(),
                "is the only weight file, but loaders look for model.safetensors",
            ));
        }
    }
    check_total_size(&safetensors, architecture, findings);
}

fn check_sub_folders(
    artifact: &Artifact,
    architecture: Option<&Architecture>,
    findings: &mut Vec<Finding>,
) {
    let mut folders: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for entry in &artifact.entries {
        if let Some((folder, _)) = entry.path.split_once('/') {
            let stats = folders.entry(folder).or_default();
            stats.0 += 1;
            stats.1 += entry.size;
        }
    }
    for (folder, (files, bytes)) in folders {
        let path = format!("{folder}/");
        let finding = match extra_folder(architecture, &path) {
            Some((_, holds)) => Finding::new(
                RuleId::GptOssExtraFolder,
                path,
                format!("{holds}, {files} file(s), {bytes} bytes: not part of the import"),
            ),
            None => Finding::new(
                RuleId::SubFolder,
                path,
                format!("sub-folder with {files} file(s), {bytes} bytes"),
            ),
        };
        findings.push(finding);
    }
}

fn check_total_size(
    safetensors: &[&Entry],
    architecture: Option<&Architecture>,
    findings: &mut Vec<Finding>,
) {
    let total: u64 = safetensors.iter().map(|e| e.size).sum();
    let multimodal = architecture.is_some_and(|a| a.multimodal);
    let (limit, kind) = if multimodal {
        (CMI_LIMITS.max_weight_bytes_multimodal, "multimodal")
    } else {
        (CMI_LIMITS.max_weight_bytes_text, "text")
    };
    if total >= limit {
        findings.push(Finding::new(
            RuleId::WeightsTooLarge,
            "",
            format!(
                "safetensors weights total {total} bytes ({:.1} GB); {kind} models must stay below {} GB",
                total as f64 / 1e9,
                limit / 1_000_000_000
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(model_type: &str, paths: &[&str]) -> Vec<(String, RuleId)> {
        let artifact = Artifact {
            entries: paths
                .iter()
                .map(|p| Entry {
                    path: p.to_string(),
                    size: 10,
                })
                .collect(),
            ..Artifact::default()
        };
        let mut findings = Vec::new();
        check_sub_folders(
            &artifact,
            crate::arch::architecture(model_type),
            &mut findings,
        );
        let pickles: Vec<&Entry> = artifact
            .entries
            .iter()
            .filter(|e| extra_folder(crate::arch::architecture(model_type), &e.path).is_none())
            .filter(|e| pickle_reason(&artifact, e).is_some())
            .collect();
        let mut out: Vec<(String, RuleId)> =
            findings.into_iter().map(|f| (f.file, f.rule)).collect();
        out.extend(
            pickles
                .into_iter()
                .map(|e| (e.path.clone(), RuleId::PickleBesideSafetensors)),
        );
        out
    }

    #[test]
    fn gpt_oss_extra_folders_are_named_instead_of_sub_folder() {
        let paths = [
            "config.json",
            "metal/model.bin",
            "original/config.json",
            "original/model.safetensors",
            "checkpoint-500/config.json",
        ];
        assert_eq!(
            codes("gpt_oss", &paths),
            [
                ("checkpoint-500/".to_string(), RuleId::SubFolder),
                ("metal/".to_string(), RuleId::GptOssExtraFolder),
                ("original/".to_string(), RuleId::GptOssExtraFolder),
            ]
        );
        let llama = codes("llama", &paths);
        assert!(llama
            .iter()
            .all(|(_, rule)| *rule != RuleId::GptOssExtraFolder));
        assert!(llama.contains(&(
            "metal/model.bin".to_string(),
            RuleId::PickleBesideSafetensors
        )));
        for extra in EXTRA_FOLDERS {
            assert!(crate::arch::architecture(extra.model_type).is_some());
        }
    }

    #[test]
    fn sniffs_pickle_and_zip() {
        assert_eq!(sniff(&[0x80, 0x02, b'}']), Some(Magic::Pickle));
        assert_eq!(sniff(&[0x80, 0x05]), Some(Magic::Pickle));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Magic::Zip));
        assert_eq!(sniff(b"{\"a\""), None);
        assert_eq!(sniff(&[0x0a, 0x05]), None);
        assert_eq!(sniff(&[0x80]), None);
    }
}
