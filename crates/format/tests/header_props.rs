//! Property tests: arbitrary and mutated header bytes never panic, every rejection maps to a rule
//! of the safetensors group, and the verdict agrees with the `safetensors` crate's own parser on
//! mutated headers (lengths, offsets, dtypes, shapes, metadata, duplicate keys, truncation),
//! except for the two documented extra rules: ST009 (a duplicate tensor name, which the crate's
//! map silently keeps once) and ST011 (a misaligned tensor).

use cmi_format::safetensors::{header_extent, parse_header};
use proptest::prelude::*;

/// A small valid file: two tensors, metadata, header padded to 8 bytes like the writer does.
fn valid_file() -> Vec<u8> {
    let header = r#"{"__metadata__":{"format":"pt"},"model.embed_tokens.weight":{"dtype":"BF16","shape":[4,2],"data_offsets":[0,16]},"model.norm.weight":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#;
    let padded = header.len().next_multiple_of(8);
    let mut file = (padded as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.resize(8 + padded, b' ');
    file.extend(std::iter::repeat_n(7u8, 24));
    file
}

fn check_no_panic(bytes: &[u8], size: u64) {
    let _ = header_extent(bytes, size);
    if let Err(error) = parse_header(bytes, size) {
        assert!(error.rule().rule().code.starts_with("ST"), "{error}");
    }
}

#[test]
fn the_base_file_is_valid() {
    let file = valid_file();
    let header = parse_header(&file, file.len() as u64).expect("valid");
    assert_eq!(header.tensors.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), extra in any::<u64>()) {
        check_no_panic(&bytes, bytes.len() as u64);
        check_no_panic(&bytes, extra);
    }

    #[test]
    fn arbitrary_json_headers_never_panic(json in "\\{(\"[a-z_.0-9]{0,12}\":\\{\"dtype\":\"(F32|BF16|F4|I4|U8)\",\"shape\":\\[[0-9,]{0,12}\\],\"data_offsets\":\\[[0-9]{1,20},[0-9]{1,20}\\]\\},?){0,4}\\}", data in 0usize..64) {
        let mut file = (json.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(json.as_bytes());
        file.resize(file.len() + data, 0);
        check_no_panic(&file, file.len() as u64);
    }

    #[test]
    fn mutated_valid_files_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut file = valid_file();
        for (index, value) in flips {
            let at = index.index(file.len());
            file[at] = value;
        }
        if truncate {
            file.truncate(cut.index(file.len()));
        }
        check_no_panic(&file, file.len() as u64);
    }
}

/// One tensor entry of a generated header, written as JSON by hand so that duplicates, odd
/// dtypes and inconsistent offsets survive.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    offsets: (u64, u64),
}

const DTYPES: &[(&str, u64)] = &[
    ("F32", 32),
    ("BF16", 16),
    ("F16", 16),
    ("I64", 64),
    ("U8", 8),
    ("BOOL", 8),
    ("F8_E4M3", 8),
    ("F64", 64),
    ("F128", 128),
];

fn header_json(entries: &[Entry], metadata: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !metadata.is_empty() {
        parts.push(format!("\"__metadata__\":{metadata}"));
    }
    for e in entries {
        let shape: Vec<String> = e.shape.iter().map(u64::to_string).collect();
        parts.push(format!(
            "\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            e.name,
            e.dtype,
            shape.join(","),
            e.offsets.0,
            e.offsets.1
        ));
    }
    format!("{{{}}}", parts.join(","))
}

/// Entries laid out back to back, as a writer would, before any mutation.
fn laid_out(specs: Vec<(usize, Vec<u64>, bool)>) -> (Vec<Entry>, u64) {
    let mut at = 0;
    let mut entries = Vec::new();
    for (i, (dtype, shape, duplicate)) in specs.into_iter().enumerate() {
        let (name, bits) = DTYPES[dtype % DTYPES.len()];
        let elements: u64 = shape.iter().product();
        let len = (elements * bits).div_ceil(8);
        let tensor = if duplicate && i > 0 {
            "t0".to_string()
        } else {
            format!("t{i}")
        };
        entries.push(Entry {
            name: tensor,
            dtype: name,
            shape,
            offsets: (at, at + len),
        });
        at += len;
    }
    (entries, at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_verdict_agrees_with_the_safetensors_crate(
        specs in proptest::collection::vec((0usize..16, proptest::collection::vec(0u64..5, 0..4), proptest::bool::weighted(0.05)), 0..5),
        offset_edit in proptest::option::weighted(0.3, (any::<prop::sample::Index>(), any::<bool>(), 0u64..10)),
        metadata in prop_oneof![
            Just(String::new()),
            Just("{\"format\":\"pt\"}".to_string()),
            Just("null".to_string()),
            Just("{\"a\":1}".to_string()),
            Just("[]".to_string()),
        ],
        pad in 0usize..9,
        data_delta in -3i64..4,
        cut in proptest::option::weighted(0.1, any::<prop::sample::Index>()),
        length_delta in proptest::option::weighted(0.05, -9i64..9),
    ) {
        let (mut entries, data_len) = laid_out(specs);
        if let (Some((index, start, by)), false) = (offset_edit, entries.is_empty()) {
            let entry = index.get_mut(&mut entries);
            if start { entry.offsets.0 += by } else { entry.offsets.1 = entry.offsets.1.saturating_sub(by) }
        }
        let json = header_json(&entries, &metadata);
        let mut header = json.into_bytes();
        header.resize(header.len() + pad, b' ');
        let declared = (header.len() as i64 + length_delta.unwrap_or(0)).max(0) as u64;
        let mut file = declared.to_le_bytes().to_vec();
        file.extend_from_slice(&header);
        let data = (data_len as i64 + data_delta).max(0) as usize;
        file.resize(file.len() + data, 0);
        if let Some(cut) = cut {
            file.truncate(cut.index(file.len() + 1));
        }
        let ours = parse_header(&file, file.len() as u64);
        let reference = safetensors::SafeTensors::deserialize(&file);
        let documented_extra = ours.as_ref().err().is_some_and(|e| {
            matches!(e.rule().rule().code, "ST009" | "ST011")
        });
        if !documented_extra {
            prop_assert_eq!(
                ours.is_ok(),
                reference.is_ok(),
                "ours: {:?}, safetensors: {:?}, file: {:?}",
                ours.as_ref().err().map(|e| e.to_string()),
                reference.as_ref().err().map(|e| e.to_string()),
                String::from_utf8_lossy(&file)
            );
        }
    }
}
