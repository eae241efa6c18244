//! Property tests: arbitrary and mutated header bytes never panic, and every rejection maps to
//! a rule of the safetensors group.

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
