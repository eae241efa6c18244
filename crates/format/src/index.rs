//! The sharded-weights index, and the set of tensors the loader will use.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::config_json::{exceeds_values, json_kind, utf8};
use crate::finding::{Capped, Finding};
use crate::inputs::{Artifact, INDEX_JSON};
use crate::layout::ADAPTER_FILES;
use crate::rules::RuleId;
use crate::safetensors::{TensorInfo, MAX_TENSORS};

/// A parsed model.safetensors.index.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIndex {
    /// `metadata.total_size` as written, when present: compared as an integer, reported as
    /// written (a negative, fractional or huge value is never read as 0 or 2^64-1).
    pub total_size: Option<serde_json::Number>,
    /// Tensor name to shard file name.
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// The distinct shard files, sorted: the files of the weight map that are top-level
    /// `.safetensors` files, the only ones the loader can read tensors from.
    pub fn shards(&self) -> BTreeSet<&str> {
        self.weight_map
            .values()
            .map(String::as_str)
            .filter(|f| is_shard_name(f))
            .collect()
    }

    /// The other files of the weight map (config.json, the index itself, a path into a
    /// sub-folder), sorted, each with the tensors mapped to it (IX010).
    pub fn not_shards(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut files: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (tensor, file) in &self.weight_map {
            if !is_shard_name(file) {
                files
                    .entry(file.as_str())
                    .or_default()
                    .push(tensor.as_str());
            }
        }
        files
    }
}

/// Whether a weight-map file name can be a shard: a `.safetensors` file at the top level of
/// the artifact, where Bedrock reads the weights (rule LY006).
fn is_shard_name(name: &str) -> bool {
    name.ends_with(".safetensors") && !name.contains('/') && !name.contains('\\')
}

/// `metadata` keys that Bedrock does not support, with where that is said.
///
/// What writers put there: transformers up to 4.56 `save_pretrained` and huggingface_hub
/// `save_torch_state_dict` (0.36, serialization/_torch.py) write `{"total_size": N}` (the
/// latter merges in caller-given keys); transformers 4.57 adds `total_parameters`, which the
/// AWS Machine Learning blog post "Deploy GPT-OSS models with Amazon Bedrock Custom Model
/// Import" has removed before the import. Keys outside this list are not reported.
pub const UNSUPPORTED_METADATA_KEYS: &[(&str, &str)] = &[(
    "total_parameters",
    "written by transformers 4.57 and later; AWS's GPT-OSS import guide removes it",
)];

/// Most JSON values of an index read into a map: a key and a value for each of
/// [`MAX_TENSORS`] tensors of the weight_map (the cap on the tensors of the headers), and a
/// few thousand for the metadata. A 64 MiB index of short entries would otherwise map millions
/// of names, taking gigabytes.
pub const MAX_INDEX_VALUES: u64 = 2 * MAX_TENSORS + 4096;

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    weight_map: BTreeMap<String, String>,
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

/// Reads the index; reports it when it is malformed.
pub(crate) fn parse(artifact: &Artifact, findings: &mut Vec<Finding>) -> Option<ShardIndex> {
    let bytes = artifact.documents.get(INDEX_JSON)?;
    let parsed = if exceeds_values(bytes, MAX_INDEX_VALUES) {
        Err(format!(
            "holds more than {MAX_INDEX_VALUES} JSON values: its weight_map would map more \
             than the {MAX_TENSORS} tensors that the check keeps for one artifact"
        ))
    } else {
        utf8(bytes)
            .and_then(|text| serde_json::from_str::<RawIndex>(text).map_err(|e| e.to_string()))
    };
    match parsed {
        Ok(raw) => {
            check_metadata(raw.metadata.as_ref(), findings);
            let total_size = raw.metadata.as_ref().and_then(|m| m.get("total_size"));
            if let Some(value) = total_size.filter(|v| !v.is_number() && !v.is_null()) {
                findings.push(Finding::new(
                    RuleId::IndexInvalid,
                    INDEX_JSON,
                    format!(
                        "cannot be read as an index: metadata.total_size is a JSON {}, not a number",
                        json_kind(value)
                    ),
                ));
                return None;
            }
            Some(ShardIndex {
                total_size: total_size.and_then(|n| n.as_number().cloned()),
                weight_map: raw.weight_map,
            })
        }
        Err(error) => {
            findings.push(Finding::new(
                RuleId::IndexInvalid,
                INDEX_JSON,
                format!("cannot be read as an index: {error}"),
            ));
            None
        }
    }
}

/// IX009: a root `metadata` object without unsupported keys. The hint is the one-line edit
/// that fixes this index.
fn check_metadata(metadata: Option<&serde_json::Value>, findings: &mut Vec<Finding>) {
    let object = match metadata {
        Some(serde_json::Value::Object(object)) => object,
        other => {
            let found = match other {
                None | Some(serde_json::Value::Null) => "has no".to_string(),
                Some(value) => format!("has a JSON {} as its", json_kind(value)),
            };
            findings.push(
                Finding::new(
                    RuleId::IndexMetadataUnsupported,
                    INDEX_JSON,
                    format!("{found} root metadata object; transformers and Bedrock need one (it may be empty)"),
                )
                .with_hint(edit_hint(".metadata = {}", "d['metadata'] = {}")),
            );
            return;
        }
    };
    let unsupported: Vec<(&str, &str)> = UNSUPPORTED_METADATA_KEYS
        .iter()
        .filter(|(key, _)| object.contains_key(*key))
        .copied()
        .collect();
    if unsupported.is_empty() {
        return;
    }
    let keys: Vec<&str> = unsupported.iter().map(|(key, _)| *key).collect();
    let described: Vec<String> = unsupported
        .iter()
        .map(|(key, why)| format!("{key} ({why})"))
        .collect();
    let jq = keys
        .iter()
        .map(|key| format!("del(.metadata.{key})"))
        .collect::<Vec<_>>()
        .join(" | ");
    let python = keys
        .iter()
        .map(|key| format!("d['metadata'].pop('{key}')"))
        .collect::<Vec<_>>()
        .join("; ");
    findings.push(
        Finding::new(
            RuleId::IndexMetadataUnsupported,
            INDEX_JSON,
            format!(
                "metadata has {}, which Bedrock does not support",
                described.join(", ")
            ),
        )
        .with_hint(edit_hint(&jq, &python)),
    );
}

/// The fix of IX009 as a `jq` filter and as Python statements over the parsed index `d`.
fn edit_hint(jq: &str, python: &str) -> String {
    format!(
        "Edit the index in place: `jq '{jq}' {INDEX_JSON} > index.tmp && mv index.tmp {INDEX_JSON}`, \
         or `python3 -c \"import json; p='{INDEX_JSON}'; d=json.load(open(p)); {python}; json.dump(d, open(p, 'w'), indent=2)\"`; \
         a later version's `cmi-preflight push --fix-index` makes this edit on upload."
    )
}

/// Works out the tensors the loader will use and runs the index rules on the way.
pub(crate) fn weights<'a>(
    artifact: &'a Artifact,
    index: Option<&ShardIndex>,
    findings: &mut Vec<Finding>,
) -> Weights<'a> {
    let files: Vec<&str> = artifact
        .top_level_safetensors()
        .filter(|e| e.size > 0 && !ADAPTER_FILES.contains(&e.path.as_str()))
        .map(|e| e.path.as_str())
        .collect();
    let headers_ok = |names: &[&str]| {
        names
            .iter()
            .all(|f| matches!(artifact.headers.get(*f), Some(Ok(_))))
    };
    let mut weights = Weights::default();
    match index {
        None if artifact.has(INDEX_JSON) => {}
        None => {
            if files.len() > 1 {
                findings.push(Finding::new(
                    RuleId::IndexMissing,
                    "",
                    format!(
                        "{} safetensors files ({}) and no {INDEX_JSON}",
                        files.len(),
                        files.join(", ")
                    ),
                ));
                return weights;
            }
            if let Some(Ok(header)) = files.first().and_then(|f| artifact.headers.get(*f)) {
                for tensor in &header.tensors {
                    weights
                        .tensors
                        .insert(tensor.name.as_str(), (tensor, files[0]));
                }
            }
            weights.complete = files.len() == 1 && headers_ok(&files);
        }
        Some(index) => {
            weights.complete = check_index(artifact, index, &files, &mut weights, findings)
                && headers_ok(&index.shards().into_iter().collect::<Vec<_>>());
        }
    }
    weights
}

/// Runs IX002-IX007 and fills `weights` from the shards; returns false when a shard is
/// missing or a mapped tensor is not where the index says.
fn check_index<'a>(
    artifact: &'a Artifact,
    index: &ShardIndex,
    files: &[&str],
    weights: &mut Weights<'a>,
    findings: &mut Vec<Finding>,
) -> bool {
    let shards = index.shards();
    let mut complete = true;
    let not_shards = index.not_shards();
    for (file, tensors) in &not_shards {
        let example = tensors.first().copied().unwrap_or_default();
        let more = match tensors.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        findings.push(Finding::new(
            RuleId::IndexTargetNotShard,
            INDEX_JSON,
            format!(
                "maps {example}{more} to {file:?}, which is not a .safetensors shard at the top level; the loader cannot read tensors from it"
            ),
        ));
    }
    for shard in &shards {
        if !artifact.has(shard) {
            let count = index.weight_map.values().filter(|s| s == shard).count();
            findings.push(Finding::new(
                RuleId::ShardMissing,
                INDEX_JSON,
                format!("names shard {shard} ({count} tensors), which is not in the artifact"),
            ));
            complete = false;
        }
    }
    for file in files {
        if !shards.contains(file) {
            findings.push(Finding::new(
                RuleId::OrphanShard,
                file.to_string(),
                format!("is not named in {INDEX_JSON}"),
            ));
        }
    }
    // Every tensor of the indexed shards, with the shards that hold it, in shard order.
    let mut holders: BTreeMap<&str, Vec<(&'a TensorInfo, &'a str)>> = BTreeMap::new();
    for shard in &shards {
        let Some((file, Ok(header))) = artifact.headers.get_key_value(*shard) else {
            continue;
        };
        let mut unmapped = Capped::new(RuleId::UnmappedTensor, file.clone());
        for tensor in &header.tensors {
            holders
                .entry(tensor.name.as_str())
                .or_default()
                .push((tensor, file.as_str()));
            if !index.weight_map.contains_key(&tensor.name) {
                unmapped.push(findings, || {
                    format!(
                        "holds tensor {} ({:?} {}), which {INDEX_JSON} does not list",
                        tensor.name, tensor.shape, tensor.dtype
                    )
                });
            }
        }
        unmapped.finish(findings);
    }
    for (tensor, held) in &holders {
        if held.len() > 1 {
            let files: Vec<&str> = held.iter().map(|(_, f)| *f).collect();
            findings.push(Finding::new(
                RuleId::TensorInTwoShards,
                files[1].to_string(),
                format!("tensor {tensor} is stored in {}", files.join(" and ")),
            ));
        }
    }
    // Tensors mapped to a file that is not a shard are not loaded: the shape rules report
    // them as missing, and the total size would only repeat that.
    let mut all_found = not_shards.is_empty();
    let mut missing = Capped::new(RuleId::TensorMissingFromShard, INDEX_JSON);
    for (tensor, shard) in &index.weight_map {
        if !matches!(artifact.headers.get(shard), Some(Ok(_))) {
            continue;
        }
        let held = holders
            .get(tensor.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        match held.iter().find(|(_, file)| file == shard).or(held.first()) {
            Some(&(info, file)) => {
                if file != shard {
                    missing.push(findings, || {
                        format!(
                            "maps {tensor} to {shard}, which does not contain it (it is in {file})"
                        )
                    });
                }
                weights.tensors.insert(info.name.as_str(), (info, file));
            }
            None => {
                all_found = false;
                missing.push(findings, || {
                    format!("maps {tensor} to {shard}, which does not contain it (no shard does)")
                });
            }
        }
    }
    missing.finish(findings);
    // A tensor that no shard holds is reported above; its absence would only repeat itself
    // as a total-size mismatch.
    if complete && all_found {
        check_total_size(index, weights, findings);
    }
    complete
}

fn check_total_size(index: &ShardIndex, weights: &Weights<'_>, findings: &mut Vec<Finding>) {
    let Some(total_size) = &index.total_size else {
        return;
    };
    let actual: u64 = weights.tensors.values().map(|(t, _)| t.byte_len()).sum();
    let equal = total_size.as_u64() == Some(actual)
        || total_size
            .as_f64()
            .is_some_and(|f| f == actual as f64 && f.fract() == 0.0);
    if !equal {
        findings.push(Finding::new(
            RuleId::TotalSizeMismatch,
            INDEX_JSON,
            format!(
                "metadata.total_size is {total_size} but the mapped tensors hold {actual} bytes"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index whose weight_map maps `count` tensors to one shard.
    fn index_of(count: u64) -> String {
        let entries: Vec<String> = (0..count)
            .map(|i| format!(r#""t{i}":"model.safetensors""#))
            .collect();
        format!(
            r#"{{"metadata":{{}},"weight_map":{{{}}}}}"#,
            entries.join(",")
        )
    }

    #[test]
    fn an_index_beyond_the_tensor_cap_is_not_read_into_a_map() {
        let (index, findings) = index_findings(&index_of(MAX_TENSORS));
        assert_eq!(index.map(|i| i.weight_map.len() as u64), Some(MAX_TENSORS));
        assert!(findings.is_empty(), "{findings:?}");
        let (index, findings) = index_findings(&index_of(MAX_INDEX_VALUES / 2 + 1));
        assert!(index.is_none());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, RuleId::IndexInvalid);
        assert!(
            findings[0].message.contains("more than 604096 JSON values"),
            "{}",
            findings[0].message
        );
    }

    fn index_findings(json: &str) -> (Option<ShardIndex>, Vec<Finding>) {
        let artifact = Artifact {
            documents: [(INDEX_JSON.to_string(), json.as_bytes().to_vec())].into(),
            ..Artifact::default()
        };
        let mut findings = Vec::new();
        let index = parse(&artifact, &mut findings);
        (index, findings)
    }

    #[test]
    fn metadata_must_be_an_object_without_unsupported_keys() {
        let map = r#""weight_map": {"a": "model-00001-of-00002.safetensors"}"#;
        for ok in [
            format!(r#"{{"metadata": {{"total_size": 4}}, {map}}}"#),
            format!(r#"{{"metadata": {{}}, {map}}}"#),
            format!(r#"{{"metadata": {{"total_size": 4, "format": "pt"}}, {map}}}"#),
        ] {
            let (index, findings) = index_findings(&ok);
            assert!(index.is_some() && findings.is_empty(), "{ok}: {findings:?}");
        }
        let (index, findings) = index_findings(&format!(
            r#"{{"metadata": {{"total_parameters": 9, "total_size": 4}}, {map}}}"#
        ));
        assert_eq!(
            index.and_then(|i| i.total_size).and_then(|n| n.as_u64()),
            Some(4)
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, RuleId::IndexMetadataUnsupported);
        assert_eq!(findings[0].file, INDEX_JSON);
        assert!(findings[0].message.contains("total_parameters"));
        assert!(findings[0]
            .hint
            .contains("jq 'del(.metadata.total_parameters)' model.safetensors.index.json"));
        assert!(findings[0]
            .hint
            .contains("d['metadata'].pop('total_parameters')"));
        for missing in [
            format!("{{{map}}}"),
            format!(r#"{{"metadata": null, {map}}}"#),
            format!(r#"{{"metadata": [], {map}}}"#),
        ] {
            let (index, findings) = index_findings(&missing);
            assert!(index.is_some());
            let rules: Vec<RuleId> = findings.iter().map(|f| f.rule).collect();
            assert_eq!(rules, vec![RuleId::IndexMetadataUnsupported], "{missing}");
            assert!(findings[0].hint.contains("jq '.metadata = {}'"));
        }
        let (index, findings) =
            index_findings(&format!(r#"{{"metadata": {{"total_size": "4"}}, {map}}}"#));
        assert!(index.is_none());
        assert_eq!(findings[0].rule, RuleId::IndexInvalid);
    }

    #[test]
    fn a_total_size_is_reported_as_written() {
        let map = r#""weight_map": {}"#;
        let weights = Weights {
            tensors: Default::default(),
            complete: true,
        };
        for (written, mismatch) in [
            ("-5", true),
            ("1e30", true),
            ("18446744073709551616", true),
            ("0.5", true),
            ("0", false),
            ("0.0", false),
        ] {
            let (index, _) = index_findings(&format!(
                r#"{{"metadata": {{"total_size": {written}}}, {map}}}"#
            ));
            let mut findings = Vec::new();
            check_total_size(&index.expect("an index"), &weights, &mut findings);
            assert_eq!(!findings.is_empty(), mismatch, "{written}");
            if mismatch {
                let message = &findings[0].message;
                assert_eq!(findings[0].rule, RuleId::TotalSizeMismatch);
                assert!(message.starts_with("metadata.total_size is "), "{message}");
                assert!(!message.contains("18446744073709551615"), "{message}");
                assert!(
                    !message.starts_with("metadata.total_size is 0 "),
                    "{message}"
                );
            }
        }
    }
}
