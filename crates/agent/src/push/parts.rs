//! How a file is cut into multipart-upload parts, within S3's limits (Amazon S3 User Guide,
//! "Amazon S3 multipart upload limits"): parts of 5 MiB to 5 GiB (the last one may be
//! smaller), at most 10,000 parts, objects of at most 5 TiB.

/// One mebibyte.
const MIB: u64 = 1024 * 1024;

/// The smallest part S3 accepts (except for the last part of an upload).
pub const MIN_PART: u64 = 5 * MIB;

/// The largest part S3 accepts.
pub const MAX_PART: u64 = 5 * 1024 * MIB;

/// The most parts one upload may have.
pub const MAX_PARTS: u64 = 10_000;

/// The largest object S3 stores.
pub const MAX_OBJECT: u64 = 5 * 1024 * 1024 * MIB;

/// The largest object one PutObject may send.
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * MIB;

/// The part size when none is asked for: 8 MiB, as the AWS CLI uses.
pub const DEFAULT_PART: u64 = 8 * MIB;

/// Why no part size fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartSizeError {
    /// The file is larger than S3 stores.
    #[error("{size} bytes is more than the {MAX_OBJECT} bytes (5 TiB) of S3's largest object")]
    TooLarge {
        /// The file's size.
        size: u64,
    },
    /// The part size asked for is outside S3's limits.
    #[error("a part size of {requested} bytes is outside S3's limits of {MIN_PART} (5 MiB) to {MAX_PART} (5 GiB) bytes")]
    OutOfRange {
        /// The part size asked for.
        requested: u64,
    },
}

/// The part size for a file of `file_size` bytes: `requested` (or [`DEFAULT_PART`]), raised
/// to a whole number of MiB when the file would otherwise need more than [`MAX_PARTS`]
/// parts.
pub fn part_size(file_size: u64, requested: Option<u64>) -> Result<u64, PartSizeError> {
    if file_size > MAX_OBJECT {
        return Err(PartSizeError::TooLarge { size: file_size });
    }
    let base = match requested {
        Some(requested) if !(MIN_PART..=MAX_PART).contains(&requested) => {
            return Err(PartSizeError::OutOfRange { requested })
        }
        Some(requested) => requested,
        None => DEFAULT_PART,
    };
    let needed = file_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    Ok(base.max(needed).min(MAX_PART))
}

/// The number of parts of a file of `file_size` bytes cut at `part_size` (at least one).
pub fn part_count(file_size: u64, part_size: u64) -> u64 {
    file_size.div_ceil(part_size.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_keep_the_requested_size() {
        assert_eq!(part_size(12 * MIB, None), Ok(DEFAULT_PART));
        assert_eq!(part_size(12 * MIB, Some(MIN_PART)), Ok(MIN_PART));
        assert_eq!(part_count(12 * MIB, MIN_PART), 3);
        assert_eq!(part_count(0, MIN_PART), 1);
    }

    #[test]
    fn large_files_fit_ten_thousand_parts() {
        for size in [80_000 * MIB + 1, 140_000_000_000, MAX_OBJECT] {
            let part = part_size(size, None).unwrap();
            assert!(part_count(size, part) <= MAX_PARTS, "{size}: {part}");
            assert!((MIN_PART..=MAX_PART).contains(&part));
            assert_eq!(part % MIB, 0);
        }
    }

    #[test]
    fn limits_are_refused() {
        assert_eq!(
            part_size(MAX_OBJECT + 1, None),
            Err(PartSizeError::TooLarge {
                size: MAX_OBJECT + 1
            })
        );
        assert_eq!(
            part_size(MIB, Some(MIN_PART - 1)),
            Err(PartSizeError::OutOfRange {
                requested: MIN_PART - 1
            })
        );
        assert_eq!(
            part_size(MIB, Some(MAX_PART + 1)),
            Err(PartSizeError::OutOfRange {
                requested: MAX_PART + 1
            })
        );
    }
}
