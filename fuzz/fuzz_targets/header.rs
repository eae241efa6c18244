//! The safetensors header parser on arbitrary bytes: never a panic, and every refusal is a rule
//! of the ST group.
#![no_main]

use cmi_format::safetensors::{header_extent, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let size = bytes.len() as u64;
    let _ = header_extent(bytes, size);
    if let Err(error) = parse_header(bytes, size) {
        assert!(error.rule().rule().code.starts_with("ST"), "{error}");
    }
});
