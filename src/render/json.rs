//! The `--format json` report of `check` and `verify`.
//!
//! One JSON object on stdout, followed by a newline; its keys come out in ascending order
//! (shown here in reading order):
//!
//! ```json
//! {
//!   "schema": "cmi-preflight.check.v1",
//!   "tool": {"name": "cmi-preflight", "version": "0.1.0"},
//!   "source": "testdata/valid/llama",
//!   "passed": true,
//!   "strict": false,
//!   "counts": {"error": 0, "warning": 0, "info": 0},
//!   "summary": {
//!     "model_type": "llama",
//!     "architecture": "LlamaForCausalLM",
//!     "dtypes": {"BF16": 25088},
//!     "tensor_count": 21,
//!     "parameter_count": 12544,
//!     "weight_bytes": 25824,
//!     "file_count": 7,
//!     "total_bytes": 54121
//!   },
//!   "findings": [
//!     {"code": "ST013", "name": "invalid-offsets", "severity": "error",
//!      "file": "model.safetensors", "message": "...", "hint": "..."}
//!   ]
//! }
//! ```
//!
//! - `schema` changes only when a field is removed or changes meaning; new fields may appear.
//! - `passed` is the gate: no error finding, and with `strict` no warning either. The exit
//!   status says the same (0 or 1).
//! - `summary.model_type` and `summary.architecture` are `null` when config.json does not say.
//!   `dtypes` maps each safetensors dtype to the bytes of tensor data stored in it;
//!   `parameter_count` is the sum of the tensors' element counts.
//! - `findings` are ordered by file, then severity, then code. `file` is relative to the
//!   source with `/` separators, or `""` for a finding about the artifact as a whole; a
//!   sub-folder ends with `/`. `code`, `name` and `severity` are those of the rule catalog
//!   (`cmi-preflight rules CODE`, docs/rules.md).
//! - Repetitive findings are aggregated: at most 20 of a rule about a file are listed, then
//!   one more of that rule whose message starts `and N more` and which alone has the key
//!   `occurrences`: N, the number of findings it stands for. `counts` counts the findings
//!   listed (an aggregate once); the number of times a rule fired is the sum of
//!   `occurrences` over its findings, counting 1 for a finding without the key.
//!
//! The full description, with every field, is docs/json-output.md.

use std::io::{self, Write};

use cmi_agent::verify::VerifyDocument;
use cmi_format::document::CheckDocument;
use cmi_format::Report;

use super::ReportContext;

/// Writes the report as one JSON document: a [`CheckDocument`], or a [`VerifyDocument`] when
/// the context has a comparison. Keys come out in ascending order, as the documents have
/// always been written (through [`serde_json::Value`]).
pub fn write(out: &mut dyn Write, context: &ReportContext<'_>, report: &Report) -> io::Result<()> {
    let value = match &context.comparison {
        None => serde_json::to_value(
            CheckDocument::new(context.source, context.strict, report)
                .with_provenance(context.provenance.clone()),
        )?,
        Some(comparison) => serde_json::to_value(VerifyDocument::new(
            context.source,
            report,
            comparison.clone(),
        ))?,
    };
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)
}
