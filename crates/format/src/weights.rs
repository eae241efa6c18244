//! Weight precision: dtypes Bedrock imports, and agreement with config.json.

use std::collections::BTreeMap;

use crate::context::Context;
use crate::dtype::{Dtype, SUPPORTED_WEIGHT_DTYPES};
use crate::finding::Finding;
use crate::inputs::CONFIG_JSON;
use crate::rules::RuleId;

/// Runs CF009 and CF010 over the tensors the loader will use.
pub(crate) fn check(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let allowed_quantized: Vec<Dtype> = match (&context.config, context.architecture) {
        (Some(config), Some(architecture)) => {
            let method = config
                .get("quantization_config.quant_method")
                .and_then(|v| v.as_str());
            architecture
                .quantization
                .iter()
                .filter(|q| Some(q.quant_method) == method)
                .flat_map(|q| q.dtypes.iter().copied())
                .collect()
        }
        _ => Vec::new(),
    };
    // (file, dtype) -> tensor names, to report each bad dtype once per file.
    let mut unsupported: BTreeMap<(&str, Dtype), Vec<&str>> = BTreeMap::new();
    let mut float_bytes: BTreeMap<Dtype, u64> = BTreeMap::new();
    for (name, (tensor, file)) in &context.weights.tensors {
        if SUPPORTED_WEIGHT_DTYPES.contains(&tensor.dtype) {
            *float_bytes.entry(tensor.dtype).or_default() += tensor.byte_len();
        } else if !allowed_quantized.contains(&tensor.dtype) {
            unsupported
                .entry((file, tensor.dtype))
                .or_default()
                .push(name);
        }
    }
    for ((file, dtype), names) in unsupported {
        let shown: Vec<&str> = names.iter().take(3).copied().collect();
        let more = names.len().saturating_sub(shown.len());
        findings.push(Finding::new(
            RuleId::UnsupportedWeightDtype,
            file,
            format!(
                "{} tensor(s) stored as {dtype}: {}{}; supported: F32, F16, BF16",
                names.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    check_declared_dtype(context, &float_bytes, findings);
}

fn check_declared_dtype(
    context: &Context<'_>,
    float_bytes: &BTreeMap<Dtype, u64>,
    findings: &mut Vec<Finding>,
) {
    let Some((key, declared)) = context.config.as_ref().and_then(|c| c.torch_dtype()) else {
        return;
    };
    let Some(dominant) = float_bytes
        .iter()
        .max_by_key(|(_, bytes)| **bytes)
        .map(|(d, _)| *d)
    else {
        return;
    };
    match Dtype::from_torch_name(declared) {
        Some(dtype) if dtype == dominant => {}
        _ => findings.push(Finding::new(
            RuleId::DtypeMismatch,
            CONFIG_JSON,
            format!(
                "{key} is {declared:?} but most weight bytes ({} of {}) are {dominant}",
                float_bytes[&dominant],
                float_bytes.values().sum::<u64>()
            ),
        )),
    }
}
