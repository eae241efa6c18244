//! Validation of safetensors headers from the header bytes and the file size alone.
//!
//! The rules are those of the `safetensors` crate's `read_metadata` and `Metadata::validate`
//! (8-byte little-endian length, 100,000,000-byte cap, UTF-8, a JSON object, known dtypes,
//! offsets contiguous from 0, sizes that match shape and dtype, header plus data equal to the
//! file size), plus one that the crate lacks: a tensor name may appear only once.
//!
//! Nothing here reads a file. A caller that holds the first bytes of a file asks
//! [`header_extent`] how many bytes the header needs, fetches them if it has fewer, and hands
//! them to [`parse_header`]. Neither function allocates from the untrusted length: the length
//! is checked against the cap and the file size before anyone reads that many bytes.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::dtype::Dtype;
use crate::lfs::Pointer;
use crate::rules::RuleId;

/// Length of the little-endian header-size prefix.
pub const PREFIX_LEN: u64 = 8;

/// Largest header the `safetensors` crate accepts (`MAX_HEADER_SIZE`).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Most tensor entries that a check keeps for one artifact, across all its headers: 300,000.
///
/// The largest real checkpoints hold well under 200,000 tensors (DeepSeek-V3's
/// model.safetensors.index.json maps about 91,000, Qwen3-235B-A22B's about 40,000), so the cap
/// is more than three times the largest. A kept entry takes about 72 bytes plus its name and
/// shape ([`MAX_TENSOR_BYTES`] bounds those), so the cap keeps the parsed headers of any
/// artifact within about 50 MiB, where one valid 100 MB header of a million tensors would take
/// hundreds of MiB.
pub const MAX_TENSORS: u64 = 300_000;

/// Most bytes of tensor names and shape dimensions (8 bytes each) that a check keeps for one
/// artifact, across all its headers: 24 MiB. Real names are under 100 bytes (about 6 MB for
/// DeepSeek-V3's 91,000 tensors); the cap stops a few tensors with names of many megabytes
/// from taking the memory that [`MAX_TENSORS`] saves.
pub const MAX_TENSOR_BYTES: u64 = 24 * 1024 * 1024;

/// The tensor entries that the headers of one artifact may keep, shared by the parses of all
/// its headers (see [`MAX_TENSORS`] and [`MAX_TENSOR_BYTES`]).
///
/// Each parse takes its entries from the budget as it reads them and stops with
/// [`HeaderError::TooManyTensors`] as soon as the budget runs out, so no header is ever
/// parsed past it; a header that fails for any reason gives its entries back.
#[derive(Debug)]
pub struct TensorBudget {
    tensors: AtomicU64,
    bytes: AtomicU64,
    max_tensors: u64,
    max_bytes: u64,
}

impl Default for TensorBudget {
    fn default() -> Self {
        TensorBudget::new(MAX_TENSORS, MAX_TENSOR_BYTES)
    }
}

impl TensorBudget {
    /// A budget of `max_tensors` entries and `max_bytes` bytes of names and shapes.
    pub fn new(max_tensors: u64, max_bytes: u64) -> Self {
        TensorBudget {
            tensors: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_tensors,
            max_bytes,
        }
    }

    /// Takes one entry of `bytes` bytes; on failure takes nothing and says how many entries
    /// and bytes were kept before.
    fn take(&self, bytes: u64) -> Result<(), (u64, u64)> {
        let tensors = self.tensors.fetch_add(1, Ordering::Relaxed);
        let kept = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if tensors >= self.max_tensors || kept.saturating_add(bytes) > self.max_bytes {
            self.give_back(1, bytes);
            return Err((tensors, kept));
        }
        Ok(())
    }

    fn give_back(&self, tensors: u64, bytes: u64) {
        self.tensors.fetch_sub(tensors, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Bytes of an entry's name and shape, as [`TensorBudget`] counts them.
fn entry_bytes(name: &str, shape: &[u64]) -> u64 {
    name.len() as u64 + 8 * shape.len() as u64
}

/// One tensor entry of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, such as `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<u64>,
    /// Start (inclusive) and end (exclusive) of the tensor's bytes, relative to the data section.
    pub data_offsets: [u64; 2],
}

impl TensorInfo {
    /// Number of elements (the product of the shape); validation guarantees it fits.
    pub fn element_count(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Number of data bytes.
    pub fn byte_len(&self) -> u64 {
        self.data_offsets[1] - self.data_offsets[0]
    }
}

/// A validated header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Tensors in the order of their data offsets.
    pub tensors: Vec<TensorInfo>,
    /// The `__metadata__` map, in header order; `None` when the header has none.
    pub metadata: Option<Vec<(String, String)>>,
    /// Length of the JSON header in bytes (the value of the 8-byte prefix).
    pub header_len: u64,
    /// Length of the data section in bytes.
    pub data_len: u64,
}

/// Why a safetensors header is invalid. Each variant maps to one rule of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file is a Git LFS pointer, not safetensors.
    #[error("is {}, not the weights", .pointer.describe())]
    GitLfsPointer {
        /// What the pointer says about the real file.
        pointer: Pointer,
    },
    /// The file is shorter than the 8-byte length prefix.
    #[error("file is {size} bytes, shorter than the 8-byte header length")]
    TooSmall {
        /// File size in bytes.
        size: u64,
    },
    /// The declared header length exceeds the cap.
    #[error("header length {len} exceeds the {MAX_HEADER_LEN}-byte cap")]
    TooLarge {
        /// Declared header length.
        len: u64,
    },
    /// The declared header runs past the end of the file.
    #[error("header length {len} needs {needed} bytes but the file has {size}")]
    OutOfBounds {
        /// Declared header length.
        len: u64,
        /// Bytes needed for prefix and header.
        needed: u64,
        /// File size.
        size: u64,
    },
    /// The header is not UTF-8.
    #[error("header is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte within the header.
        offset: usize,
    },
    /// The header is not a JSON object.
    #[error("header is not a JSON object: {reason}")]
    NotJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// A tensor has a dtype that safetensors does not define.
    #[error("tensor {tensor} has unknown dtype {dtype:?}")]
    UnknownDtype {
        /// Tensor name.
        tensor: String,
        /// The dtype as written.
        dtype: String,
    },
    /// A tensor entry is malformed.
    #[error("tensor {tensor}: {reason}")]
    InvalidEntry {
        /// Tensor name.
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `__metadata__` is not one string-to-string map.
    #[error("__metadata__ {reason}")]
    InvalidMetadata {
        /// What is wrong with it.
        reason: String,
    },
    /// The same tensor name appears twice.
    #[error("tensor {tensor} appears twice in the header")]
    DuplicateTensor {
        /// Tensor name.
        tensor: String,
    },
    /// Shape times dtype size overflows.
    #[error("tensor {tensor}: shape {shape:?} of {dtype} overflows 64 bits")]
    Overflow {
        /// Tensor name.
        tensor: String,
        /// Its shape.
        shape: Vec<u64>,
        /// Its dtype.
        dtype: Dtype,
    },
    /// A sub-byte dtype does not fill whole bytes.
    #[error("tensor {tensor}: {elements} elements of {dtype} make {bits} bits, not a whole number of bytes")]
    Misaligned {
        /// Tensor name.
        tensor: String,
        /// Element count.
        elements: u64,
        /// Its dtype.
        dtype: Dtype,
        /// Total bits.
        bits: u64,
    },
    /// The offsets span differs from shape times dtype size.
    #[error("tensor {tensor}: shape {shape:?} of {dtype} needs {expected} bytes but data_offsets span {actual}")]
    SizeMismatch {
        /// Tensor name.
        tensor: String,
        /// Its shape.
        shape: Vec<u64>,
        /// Its dtype.
        dtype: Dtype,
        /// Bytes implied by shape and dtype.
        expected: u64,
        /// Bytes spanned by the offsets.
        actual: u64,
    },
    /// The offsets leave a hole, overlap, or run backwards.
    #[error("tensor {tensor}: data_offsets [{begin}, {end}] {problem}")]
    InvalidOffsets {
        /// Tensor name.
        tensor: String,
        /// Start offset.
        begin: u64,
        /// End offset.
        end: u64,
        /// What is wrong, naming the expected start.
        problem: String,
    },
    /// The file is shorter than header plus data.
    #[error("file is truncated: header and data need {expected} bytes but the file has {size} ({missing} missing)")]
    Truncated {
        /// Bytes that header and data need.
        expected: u64,
        /// File size.
        size: u64,
        /// Bytes missing.
        missing: u64,
    },
    /// The file is longer than header plus data.
    #[error(
        "{extra} bytes follow the last tensor: header and data cover {expected} bytes of {size}"
    )]
    TrailingBytes {
        /// Bytes that header and data cover.
        expected: u64,
        /// File size.
        size: u64,
        /// Extra bytes.
        extra: u64,
    },
    /// The headers of the artifact declare more tensors (or longer names and shapes) than a
    /// check keeps.
    #[error(
        "header holds more tensors than the check keeps for one artifact: its entry {entry} \
         comes after {kept} tensors ({kept_bytes} bytes of names and shapes) of this and the \
         other headers, beyond the cap of {max_tensors} tensors and {max_bytes} bytes"
    )]
    TooManyTensors {
        /// Position of the refused entry in this header, from 1.
        entry: u64,
        /// Tensors kept by all headers when it was refused.
        kept: u64,
        /// Bytes of names and shapes kept by all headers when it was refused.
        kept_bytes: u64,
        /// The cap on tensors.
        max_tensors: u64,
        /// The cap on bytes of names and shapes.
        max_bytes: u64,
    },
}

impl HeaderError {
    /// The catalog rule of this error.
    pub fn rule(&self) -> RuleId {
        match self {
            HeaderError::GitLfsPointer { .. } => RuleId::GitLfsPointer,
            HeaderError::TooSmall { .. } => RuleId::HeaderTooSmall,
            HeaderError::TooLarge { .. } => RuleId::HeaderTooLarge,
            HeaderError::OutOfBounds { .. } => RuleId::HeaderOutOfBounds,
            HeaderError::NotUtf8 { .. } => RuleId::HeaderNotUtf8,
            HeaderError::NotJson { .. } => RuleId::HeaderNotJson,
            HeaderError::UnknownDtype { .. } => RuleId::UnknownDtype,
            HeaderError::InvalidEntry { .. } => RuleId::InvalidTensorEntry,
            HeaderError::InvalidMetadata { .. } => RuleId::InvalidMetadata,
            HeaderError::DuplicateTensor { .. } => RuleId::DuplicateTensorName,
            HeaderError::Overflow { .. } => RuleId::TensorSizeOverflow,
            HeaderError::Misaligned { .. } => RuleId::MisalignedTensor,
            HeaderError::SizeMismatch { .. } => RuleId::TensorSizeMismatch,
            HeaderError::InvalidOffsets { .. } => RuleId::InvalidOffsets,
            HeaderError::Truncated { .. } => RuleId::FileTruncated,
            HeaderError::TrailingBytes { .. } => RuleId::TrailingBytes,
            HeaderError::TooManyTensors { .. } => RuleId::TooManyTensors,
        }
    }
}

/// How many bytes from the start of the file hold the prefix and the header (`8 + N`).
///
/// `file_start` holds the first bytes of the file (at least 8 unless the file is shorter).
/// The declared length is checked against the cap and the file size, so the result is safe
/// to allocate. A Git LFS pointer is recognised from its version line (when `file_start`
/// holds it) before its first 8 bytes are read as a length.
pub fn header_extent(file_start: &[u8], file_size: u64) -> Result<u64, HeaderError> {
    if let Some(pointer) = Pointer::parse(file_start) {
        return Err(HeaderError::GitLfsPointer { pointer });
    }
    if file_size < PREFIX_LEN || file_start.len() < PREFIX_LEN as usize {
        return Err(HeaderError::TooSmall { size: file_size });
    }
    let mut prefix = [0u8; PREFIX_LEN as usize];
    prefix.copy_from_slice(&file_start[..PREFIX_LEN as usize]);
    let len = u64::from_le_bytes(prefix);
    if len > MAX_HEADER_LEN {
        return Err(HeaderError::TooLarge { len });
    }
    let needed = PREFIX_LEN + len;
    if needed > file_size {
        return Err(HeaderError::OutOfBounds {
            len,
            needed,
            size: file_size,
        });
    }
    Ok(needed)
}

/// Parses and validates a header on its own, within a [`TensorBudget::default`].
///
/// `file_start` holds the first bytes of the file, at least [`header_extent`] of them (more
/// are ignored); `file_size` is the size of the whole file.
pub fn parse_header(file_start: &[u8], file_size: u64) -> Result<Header, HeaderError> {
    parse_header_within(file_start, file_size, &TensorBudget::default())
}

/// Parses and validates one header of an artifact, taking its entries from the artifact's
/// `budget`: a valid header keeps them, an invalid one gives them back.
pub fn parse_header_within(
    file_start: &[u8],
    file_size: u64,
    budget: &TensorBudget,
) -> Result<Header, HeaderError> {
    let taken = (Cell::new(0), Cell::new(0));
    let result = parse_within(file_start, file_size, budget, &taken);
    if result.is_err() {
        budget.give_back(taken.0.get(), taken.1.get());
    }
    result
}

fn parse_within(
    file_start: &[u8],
    file_size: u64,
    budget: &TensorBudget,
    taken: &(Cell<u64>, Cell<u64>),
) -> Result<Header, HeaderError> {
    let extent = header_extent(file_start, file_size)?;
    let header_len = extent - PREFIX_LEN;
    let end = usize::try_from(extent).map_err(|_| HeaderError::TooLarge { len: header_len })?;
    let bytes = file_start
        .get(PREFIX_LEN as usize..end)
        .ok_or(HeaderError::OutOfBounds {
            len: header_len,
            needed: extent,
            size: file_start.len() as u64,
        })?;
    let text = std::str::from_utf8(bytes).map_err(|e| HeaderError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let (entries, metadata) = deserialize(text, budget, taken)?;
    let mut tensors = Vec::with_capacity(entries.len());
    let mut seen = HashSet::with_capacity(entries.len());
    for (name, raw) in entries {
        if !seen.insert(name.clone()) {
            return Err(HeaderError::DuplicateTensor { tensor: name });
        }
        let dtype = Dtype::parse(&raw.dtype).ok_or_else(|| HeaderError::UnknownDtype {
            tensor: name.clone(),
            dtype: raw.dtype.clone(),
        })?;
        tensors.push(TensorInfo {
            name,
            dtype,
            shape: raw.shape,
            data_offsets: [raw.data_offsets.0, raw.data_offsets.1],
        });
    }
    tensors.sort_by_key(|t| t.data_offsets);
    let data_len = validate_layout(&tensors)?;
    let expected = extent
        .checked_add(data_len)
        .ok_or_else(|| HeaderError::Truncated {
            expected: u64::MAX,
            size: file_size,
            missing: u64::MAX - file_size,
        })?;
    if expected > file_size {
        return Err(HeaderError::Truncated {
            expected,
            size: file_size,
            missing: expected - file_size,
        });
    }
    if expected < file_size {
        return Err(HeaderError::TrailingBytes {
            expected,
            size: file_size,
            extra: file_size - expected,
        });
    }
    Ok(Header {
        tensors,
        metadata,
        header_len,
        data_len,
    })
}

/// Checks offsets and sizes in offset order, as `Metadata::validate` does; returns the length
/// of the data section.
fn validate_layout(tensors: &[TensorInfo]) -> Result<u64, HeaderError> {
    let mut start = 0u64;
    for tensor in tensors {
        let [begin, end] = tensor.data_offsets;
        if begin != start || end < begin {
            let problem = if end < begin {
                "ends before it begins".to_string()
            } else if begin < start {
                format!("overlaps the previous tensor, which ends at {start}")
            } else {
                format!("leaves a hole: the previous tensor ends at {start}")
            };
            return Err(HeaderError::InvalidOffsets {
                tensor: tensor.name.clone(),
                begin,
                end,
                problem,
            });
        }
        let overflow = || HeaderError::Overflow {
            tensor: tensor.name.clone(),
            shape: tensor.shape.clone(),
            dtype: tensor.dtype,
        };
        let elements = tensor
            .shape
            .iter()
            .try_fold(1u64, |acc, &dim| acc.checked_mul(dim))
            .ok_or_else(overflow)?;
        let bits = elements
            .checked_mul(tensor.dtype.bits())
            .ok_or_else(overflow)?;
        if bits % 8 != 0 {
            return Err(HeaderError::Misaligned {
                tensor: tensor.name.clone(),
                elements,
                dtype: tensor.dtype,
                bits,
            });
        }
        let expected = bits / 8;
        if end - begin != expected {
            return Err(HeaderError::SizeMismatch {
                tensor: tensor.name.clone(),
                shape: tensor.shape.clone(),
                dtype: tensor.dtype,
                expected,
                actual: end - begin,
            });
        }
        start = end;
    }
    Ok(start)
}

/// A tensor entry before its dtype is resolved. Unknown fields are ignored, as the crate does.
#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

type Entries = Vec<(String, RawEntry)>;
type Metadata = Option<Vec<(String, String)>>;

/// Deserializes the header object in one pass, keeping entries in order so that duplicates
/// can be seen, and classifying each failure.
fn deserialize(
    text: &str,
    budget: &TensorBudget,
    taken: &(Cell<u64>, Cell<u64>),
) -> Result<(Entries, Metadata), HeaderError> {
    let classified = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = HeaderSeed {
        classified: &classified,
        budget,
        taken,
    }
    .deserialize(&mut deserializer)
    .and_then(|parsed| deserializer.end().map(|()| parsed));
    result.map_err(|error| match (error.classify(), classified.into_inner()) {
        (serde_json::error::Category::Data, Some(cause)) => cause,
        _ => HeaderError::NotJson {
            reason: error.to_string(),
        },
    })
}

struct HeaderSeed<'c> {
    classified: &'c RefCell<Option<HeaderError>>,
    budget: &'c TensorBudget,
    /// Entries and bytes taken from `budget` so far.
    taken: &'c (Cell<u64>, Cell<u64>),
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = (Entries, Metadata);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = (Entries, Metadata);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        let mut metadata: Metadata = None;
        let mut metadata_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                if metadata_seen {
                    return Err(self.classify(HeaderError::InvalidMetadata {
                        reason: "appears twice".to_string(),
                    }));
                }
                metadata_seen = true;
                match map.next_value_seed(MetadataSeed) {
                    Ok(pairs) => metadata = pairs,
                    Err(error) => {
                        return Err(self.classify_data(error, |reason| {
                            HeaderError::InvalidMetadata { reason }
                        }))
                    }
                }
            } else {
                match map.next_value::<RawEntry>() {
                    Ok(entry) => {
                        let bytes = entry_bytes(&key, &entry.shape);
                        if let Err((kept, kept_bytes)) = self.budget.take(bytes) {
                            return Err(self.classify(HeaderError::TooManyTensors {
                                entry: entries.len() as u64 + 1,
                                kept,
                                kept_bytes,
                                max_tensors: self.budget.max_tensors,
                                max_bytes: self.budget.max_bytes,
                            }));
                        }
                        self.taken.0.set(self.taken.0.get() + 1);
                        self.taken.1.set(self.taken.1.get() + bytes);
                        entries.push((key, entry));
                    }
                    Err(error) => {
                        return Err(
                            self.classify_data(error, |reason| HeaderError::InvalidEntry {
                                tensor: key.clone(),
                                reason,
                            }),
                        )
                    }
                }
            }
        }
        Ok((entries, metadata))
    }
}

impl HeaderSeed<'_> {
    fn classify<E: de::Error>(&self, error: HeaderError) -> E {
        let message = error.to_string();
        *self.classified.borrow_mut() = Some(error);
        E::custom(message)
    }

    /// Records `make(reason)` as the likely cause and passes the error on unchanged;
    /// [`deserialize`] uses the record only if the parser classifies the error as one of data
    /// rather than of JSON syntax.
    fn classify_data<E: de::Error>(&self, error: E, make: impl FnOnce(String) -> HeaderError) -> E {
        *self.classified.borrow_mut() = Some(make(strip_position(&error.to_string())));
        error
    }
}

/// Drops serde_json's " at line L column C" suffix, which says nothing to a user of a
/// single-line header.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// `__metadata__`: a map of strings to strings, or `null` (which the safetensors crate and the
/// Python library read as no metadata).
struct MetadataSeed;

impl<'de> DeserializeSeed<'de> for MetadataSeed {
    type Value = Option<Vec<(String, String)>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed {
    type Value = Option<Vec<(String, String)>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of strings to strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(MetadataMap)
    }
}

/// The map inside a non-null `__metadata__`.
struct MetadataMap;

impl<'de> Visitor<'de> for MetadataMap {
    type Value = Option<Vec<(String, String)>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of strings to strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, String>()? {
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("has the key {key:?} twice")));
            }
            pairs.push((key, value));
        }
        Ok(Some(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + data_len, 0);
        bytes
    }

    fn parse(header: &str, data_len: usize) -> Result<Header, HeaderError> {
        let bytes = file(header, data_len);
        parse_header(&bytes, bytes.len() as u64)
    }

    /// A header of `count` empty F32 tensors named `{prefix}{i}`.
    fn empty_tensors(prefix: &str, count: usize) -> Vec<u8> {
        let entries: Vec<String> = (0..count)
            .map(|i| format!(r#""{prefix}{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#))
            .collect();
        file(&format!("{{{}}}", entries.join(",")), 0)
    }

    #[test]
    fn the_tensor_budget_is_shared_by_the_headers_of_an_artifact() {
        let budget = TensorBudget::new(5, 1000);
        let first = empty_tensors("a", 3);
        let second = empty_tensors("b", 3);
        let kept = parse_header_within(&first, first.len() as u64, &budget).expect("within");
        assert_eq!(kept.tensors.len(), 3);
        let error = parse_header_within(&second, second.len() as u64, &budget)
            .expect_err("beyond the budget");
        assert_eq!(error.rule(), RuleId::TooManyTensors);
        assert_eq!(
            error.to_string(),
            "header holds more tensors than the check keeps for one artifact: its entry 3 comes \
             after 5 tensors (50 bytes of names and shapes) of this and the other headers, \
             beyond the cap of 5 tensors and 1000 bytes"
        );
        // The refused header gave its two entries back: two more fit, a third does not.
        let two = empty_tensors("c", 2);
        assert!(parse_header_within(&two, two.len() as u64, &budget).is_ok());
        let one = empty_tensors("d", 1);
        assert!(parse_header_within(&one, one.len() as u64, &budget).is_err());
    }

    #[test]
    fn an_invalid_header_gives_its_entries_back() {
        let budget = TensorBudget::new(2, 1000);
        let mut truncated = empty_tensors("a", 2);
        truncated.push(0);
        let error = parse_header_within(&truncated, truncated.len() as u64, &budget)
            .expect_err("trailing byte");
        assert_eq!(error.rule(), RuleId::TrailingBytes);
        let valid = empty_tensors("b", 2);
        assert!(parse_header_within(&valid, valid.len() as u64, &budget).is_ok());
    }

    #[test]
    fn long_names_and_shapes_count_against_the_budget() {
        let budget = TensorBudget::new(100, 30);
        // "a0" and one dimension: 10 bytes each, so the fourth entry is refused.
        let bytes = empty_tensors("a", 4);
        let error = parse_header_within(&bytes, bytes.len() as u64, &budget).expect_err("bytes");
        assert!(
            matches!(
                error,
                HeaderError::TooManyTensors {
                    entry: 4,
                    kept: 3,
                    kept_bytes: 30,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn one_header_alone_is_parsed_within_the_cap() {
        let within = empty_tensors("t", 1000);
        assert!(parse_header(&within, within.len() as u64).is_ok());
        assert_eq!(TensorBudget::default().max_tensors, MAX_TENSORS);
    }

    #[test]
    fn valid_header_with_metadata() {
        let header = parse(
            r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[8,20]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            20,
        )
        .unwrap();
        assert_eq!(header.tensors[0].name, "a");
        assert_eq!(header.tensors[1].name, "b");
        assert_eq!(header.data_len, 20);
        assert_eq!(header.metadata, Some(vec![("format".into(), "pt".into())]));
    }

    #[test]
    fn empty_header_and_padding_are_accepted() {
        assert!(parse("{}", 0).unwrap().tensors.is_empty());
        assert!(parse("  {}    ", 0).is_ok());
    }

    #[test]
    fn null_metadata_is_no_metadata() {
        // The safetensors crate and the Python library accept `"__metadata__": null`.
        let header = parse(
            r#"{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            4,
        )
        .unwrap();
        assert_eq!(header.metadata, None);
        assert_eq!(header.tensors.len(), 1);
        let twice = parse(r#"{"__metadata__":null,"__metadata__":{}}"#, 0).unwrap_err();
        assert_eq!(twice.rule(), RuleId::InvalidMetadata);
    }

    #[test]
    fn each_error_is_classified() {
        let cases: &[(&str, usize, RuleId)] = &[
            ("[1]", 0, RuleId::HeaderNotJson),
            ("{\"a\":", 0, RuleId::HeaderNotJson),
            (
                r#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#,
                16,
                RuleId::UnknownDtype,
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1]}}"#,
                0,
                RuleId::InvalidTensorEntry,
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                4,
                RuleId::InvalidTensorEntry,
            ),
            (r#"{"__metadata__":{"x":1}}"#, 0, RuleId::InvalidMetadata),
            (
                r#"{"__metadata__":{},"__metadata__":{}}"#,
                0,
                RuleId::InvalidMetadata,
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
                1,
                RuleId::DuplicateTensorName,
            ),
            (
                r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
                8,
                RuleId::TensorSizeOverflow,
            ),
            (
                r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#,
                1,
                RuleId::MisalignedTensor,
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                4,
                RuleId::TensorSizeMismatch,
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                2,
                RuleId::InvalidOffsets,
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#,
                3,
                RuleId::InvalidOffsets,
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
                3,
                RuleId::FileTruncated,
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
                5,
                RuleId::TrailingBytes,
            ),
        ];
        for (header, data_len, rule) in cases {
            let error = parse(header, *data_len).unwrap_err();
            assert_eq!(error.rule(), *rule, "{header}: {error}");
        }
    }

    #[test]
    fn prefix_errors() {
        assert_eq!(
            header_extent(&[1, 2, 3], 3).unwrap_err().rule(),
            RuleId::HeaderTooSmall
        );
        let huge = (MAX_HEADER_LEN + 1).to_le_bytes();
        assert_eq!(
            header_extent(&huge, 1 << 40).unwrap_err().rule(),
            RuleId::HeaderTooLarge
        );
        let long = 100u64.to_le_bytes();
        assert_eq!(
            header_extent(&long, 50).unwrap_err().rule(),
            RuleId::HeaderOutOfBounds
        );
        let mut bad = 2u64.to_le_bytes().to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(
            parse_header(&bad, 10).unwrap_err().rule(),
            RuleId::HeaderNotUtf8
        );
    }

    #[test]
    fn git_lfs_pointers_are_named_as_such() {
        let pointer =
            b"version https://git-lfs.github.com/spec/v1\noid sha256:0a1b\nsize 4976698672\n";
        let size = pointer.len() as u64;
        let error = header_extent(pointer, size).unwrap_err();
        assert_eq!(error.rule(), RuleId::GitLfsPointer);
        assert_eq!(
            error.to_string(),
            "is a Git LFS pointer to 4976698672 bytes (sha256:0a1b), not the weights"
        );
        assert_eq!(
            parse_header(pointer, size).unwrap_err().rule(),
            RuleId::GitLfsPointer
        );
        // The first 8 bytes alone are read as a length, as before.
        assert_eq!(
            header_extent(&pointer[..8], size).unwrap_err().rule(),
            RuleId::HeaderTooLarge
        );
    }

    #[test]
    fn messages_name_the_tensor_and_numbers() {
        let error = parse(
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
            4,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "tensor w: shape [2] of F32 needs 8 bytes but data_offsets span 4"
        );
    }
}
