//! The sharded-weights index, and the set of tensors the loader will use.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::finding::Finding;
use crate::inputs::{Artifact, INDEX_JSON};
use crate::layout::ADAPTER_FILES;
use crate::rules::RuleId;
use crate::safetensors::TensorInfo;

/// A parsed model.safetensors.index.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIndex {
    /// `metadata.total_size`, when present.
    pub total_size: Option<u64>,
    /// Tensor name to shard file name.
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// The distinct shard files, sorted.
    pub fn shards(&self) -> BTreeSet<&str> {
        self.weight_map.values().map(String::as_str).collect()
    }
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<RawMetadata>,
    weight_map: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawMetadata {
    #[serde(default)]
    total_size: Option<serde_json::Number>,
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
    match serde_json::from_slice::<RawIndex>(bytes) {
        Ok(raw) => Some(ShardIndex {
            total_size: raw
                .metadata
                .and_then(|m| m.total_size)
                .and_then(|n| n.as_u64().or_else(|| n.as_f64().map(|f| f as u64))),
            weight_map: raw.weight_map,
        }),
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
        for tensor in &header.tensors {
            holders
                .entry(tensor.name.as_str())
                .or_default()
                .push((tensor, file.as_str()));
            if !index.weight_map.contains_key(&tensor.name) {
                findings.push(Finding::new(
                    RuleId::UnmappedTensor,
                    file.clone(),
                    format!(
                        "holds tensor {} ({:?} {}), which {INDEX_JSON} does not list",
                        tensor.name, tensor.shape, tensor.dtype
                    ),
                ));
            }
        }
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
    let mut all_found = true;
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
                    findings.push(Finding::new(
                        RuleId::TensorMissingFromShard,
                        INDEX_JSON,
                        format!(
                            "maps {tensor} to {shard}, which does not contain it (it is in {file})"
                        ),
                    ));
                }
                weights.tensors.insert(info.name.as_str(), (info, file));
            }
            None => {
                all_found = false;
                findings.push(Finding::new(
                    RuleId::TensorMissingFromShard,
                    INDEX_JSON,
                    format!("maps {tensor} to {shard}, which does not contain it (no shard does)"),
                ))
            }
        }
    }
    // A tensor that no shard holds is reported above; its absence would only repeat itself
    // as a total-size mismatch.
    if complete && all_found {
        check_total_size(index, weights, findings);
    }
    complete
}

fn check_total_size(index: &ShardIndex, weights: &Weights<'_>, findings: &mut Vec<Finding>) {
    let Some(total_size) = index.total_size else {
        return;
    };
    let actual: u64 = weights.tensors.values().map(|(t, _)| t.byte_len()).sum();
    if actual != total_size {
        findings.push(Finding::new(
            RuleId::TotalSizeMismatch,
            INDEX_JSON,
            format!(
                "metadata.total_size is {total_size} but the mapped tensors hold {actual} bytes"
            ),
        ));
    }
}
