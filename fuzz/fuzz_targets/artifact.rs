//! The whole check of an in-memory model folder built from arbitrary bytes: never a panic.
//!
//! The input is a sequence of files, each `[name: u8][length: u32 LE][bytes]`; the name byte
//! picks one of [`NAMES`] (fuzz/seed.py writes the valid fixtures of testdata/ in this form).
//! Safetensors files become headers as the agent reads them; the others become documents.
#![no_main]

use cmi_format::artifact::DOCUMENTS;
use cmi_format::safetensors::parse_header;
use cmi_format::{Artifact, Entry};
use libfuzzer_sys::fuzz_target;

/// The file names a fuzzed folder can hold.
const NAMES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "spiece.model",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "preprocessor_config.json",
    "pytorch_model.bin",
    "original/consolidated.00.pth",
];

fuzz_target!(|bytes: &[u8]| {
    let mut artifact = Artifact::default();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let name = NAMES[usize::from(rest[0]) % NAMES.len()];
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let body = &rest[5..];
        let content = &body[..len.min(body.len())];
        rest = &body[content.len()..];
        if artifact.entry(name).is_some() {
            continue;
        }
        artifact.entries.push(Entry {
            path: name.to_string(),
            size: content.len() as u64,
        });
        artifact
            .magic
            .insert(name.to_string(), content[..content.len().min(8)].to_vec());
        if name.ends_with(".safetensors") {
            let header = parse_header(content, content.len() as u64);
            artifact.headers.insert(name.to_string(), header);
        } else if DOCUMENTS.contains(&name) {
            artifact
                .documents
                .insert(name.to_string(), content.to_vec());
        }
    }
    let _ = cmi_format::check(&artifact);
});
