//! The folders the benchmarks (benches/push.rs, benches/hub.rs, benches/sign.rs) move: files of
//! safetensors shape holding pseudo-random bytes, written once to a temporary folder.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;

/// A folder to upload, written by [`make_dataset`].
pub struct Dataset {
    /// Its name (the folder's).
    pub name: String,
    /// Where it is.
    pub dir: PathBuf,
    /// Relative paths and sizes, sorted.
    pub files: Vec<(String, u64)>,
    /// Their total size.
    pub bytes: u64,
}

/// Writes `count` safetensors-shaped files of `size` bytes each into `dir`: an 8-byte header
/// length, a JSON header declaring one `U8` tensor, then pseudo-random bytes (splitmix64).
pub fn make_dataset(root: &Path, name: &str, count: u64, size: u64) -> Dataset {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("dataset folder");
    let mut files = Vec::new();
    let mut state = count * 1_000_003 + size;
    let mut buffer = vec![0u8; 8 * MIB as usize];
    for i in 0..count {
        let file_name = format!("model-{:05}-of-{:05}.safetensors", i + 1, count);
        let mut out = BufWriter::new(File::create(dir.join(&file_name)).expect("create"));
        // The header, padded with spaces to a multiple of 8; the tensor takes the rest.
        let mut header_len = 0u64;
        let mut header = String::new();
        for _ in 0..3 {
            let data = size - 8 - header_len;
            header = format!(
                r#"{{"weight":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}}}}"#
            );
            while !header.len().is_multiple_of(8) {
                header.push(' ');
            }
            header_len = header.len() as u64;
        }
        out.write_all(&header_len.to_le_bytes()).expect("write");
        out.write_all(header.as_bytes()).expect("write");
        let mut left = size - 8 - header_len;
        while left > 0 {
            for word in buffer.chunks_mut(8) {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
            }
            let n = left.min(buffer.len() as u64) as usize;
            out.write_all(&buffer[..n]).expect("write");
            left -= n as u64;
        }
        out.flush().expect("flush");
        files.push((file_name, size));
    }
    Dataset {
        name: name.to_string(),
        dir,
        files,
        bytes: count * size,
    }
}
