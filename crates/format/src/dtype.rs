//! The dtypes of safetensors 0.8, as a table.

use std::fmt;

/// A safetensors dtype. Every dtype of safetensors 0.8 is known, including the sub-byte float
/// formats and the FNUZ FP8 variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// Boolean, one byte.
    Bool,
    /// 4-bit float (MXFP4 element).
    F4,
    /// 6-bit float, 2 exponent and 3 mantissa bits.
    F6E2M3,
    /// 6-bit float, 3 exponent and 2 mantissa bits.
    F6E3M2,
    /// Unsigned byte.
    U8,
    /// Signed byte.
    I8,
    /// FP8 with 5 exponent and 2 mantissa bits.
    F8E5M2,
    /// FP8 with 4 exponent and 3 mantissa bits.
    F8E4M3,
    /// FP8 scale format with 8 exponent bits.
    F8E8M0,
    /// FP8 E4M3, finite with unsigned zero (AMD).
    F8E4M3Fnuz,
    /// FP8 E5M2, finite with unsigned zero (AMD).
    F8E5M2Fnuz,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// IEEE single precision.
    F32,
    /// Complex of two F32.
    C64,
    /// IEEE double precision.
    F64,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
}

/// Each dtype with its header spelling and its size in bits.
const TABLE: &[(Dtype, &str, u64)] = &[
    (Dtype::Bool, "BOOL", 8),
    (Dtype::F4, "F4", 4),
    (Dtype::F6E2M3, "F6_E2M3", 6),
    (Dtype::F6E3M2, "F6_E3M2", 6),
    (Dtype::U8, "U8", 8),
    (Dtype::I8, "I8", 8),
    (Dtype::F8E5M2, "F8_E5M2", 8),
    (Dtype::F8E4M3, "F8_E4M3", 8),
    (Dtype::F8E8M0, "F8_E8M0", 8),
    (Dtype::F8E4M3Fnuz, "F8_E4M3FNUZ", 8),
    (Dtype::F8E5M2Fnuz, "F8_E5M2FNUZ", 8),
    (Dtype::I16, "I16", 16),
    (Dtype::U16, "U16", 16),
    (Dtype::F16, "F16", 16),
    (Dtype::BF16, "BF16", 16),
    (Dtype::I32, "I32", 32),
    (Dtype::U32, "U32", 32),
    (Dtype::F32, "F32", 32),
    (Dtype::C64, "C64", 64),
    (Dtype::F64, "F64", 64),
    (Dtype::I64, "I64", 64),
    (Dtype::U64, "U64", 64),
];

/// The dtypes Bedrock is known to import as weights.
pub const SUPPORTED_WEIGHT_DTYPES: &[Dtype] = &[Dtype::F32, Dtype::F16, Dtype::BF16];

impl Dtype {
    /// Parses the header spelling (`"BF16"`, `"F8_E4M3FNUZ"`); `None` for an unknown dtype.
    pub fn parse(name: &str) -> Option<Dtype> {
        TABLE
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(d, _, _)| *d)
    }

    fn entry(self) -> &'static (Dtype, &'static str, u64) {
        // The table lists every variant; the search cannot fail.
        TABLE
            .iter()
            .find(|(d, _, _)| *d == self)
            .unwrap_or(&TABLE[0])
    }

    /// The spelling used in safetensors headers.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// Size of one element in bits.
    pub fn bits(self) -> u64 {
        self.entry().2
    }

    /// The dtype that a config.json `torch_dtype` (or `dtype`) value names, if it is one of
    /// the float precisions (`"bfloat16"`, `"float16"`, `"float32"` and their aliases).
    pub fn from_torch_name(name: &str) -> Option<Dtype> {
        match name.trim_start_matches("torch.") {
            "bfloat16" => Some(Dtype::BF16),
            "float16" | "half" => Some(Dtype::F16),
            "float32" | "float" => Some(Dtype::F32),
            "float64" | "double" => Some(Dtype::F64),
            _ => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for (dtype, name, _) in TABLE {
            assert_eq!(Dtype::parse(name), Some(*dtype));
            assert_eq!(dtype.name(), *name);
        }
        assert_eq!(Dtype::parse("F128"), None);
        assert_eq!(Dtype::parse("bf16"), None);
    }

    #[test]
    fn sizes_match_safetensors_bitsize() {
        assert_eq!(Dtype::F4.bits(), 4);
        assert_eq!(Dtype::F6E3M2.bits(), 6);
        assert_eq!(Dtype::F8E5M2Fnuz.bits(), 8);
        assert_eq!(Dtype::BF16.bits(), 16);
        assert_eq!(Dtype::C64.bits(), 64);
    }
}
