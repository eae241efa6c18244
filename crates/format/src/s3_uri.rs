//! S3 URIs (`s3://bucket/prefix/`): the one parser, and the checks of a bucket name and a key
//! prefix against the `S3Uri` of `CreateModelImportJob` ([`crate::cmi_api::S3_URI`]) and the
//! bucket naming rules of the Amazon S3 User Guide page "General purpose bucket naming rules".
//! The checks name the first offending character, which the pattern alone cannot.

use std::fmt;
use std::str::FromStr;

use crate::arn;
use crate::cmi_api::S3_URI;

/// The characters besides ASCII letters and digits that a key segment of the `S3Uri` may hold
/// (the class `[-!_*'().a-z0-9A-Z]` of [`S3_URI`]), spelt out so that an error can name the
/// offending character. Notably absent: space, `=`, `+`, `@`, `,`, `&`, `$`, `:`, `%` and
/// every non-ASCII character.
pub const S3_URI_SEGMENT_PUNCTUATION: &[char] = &['-', '!', '_', '*', '\'', '(', ')', '.'];

/// The longest `S3Uri` (`s3://B/P`) that `CreateModelImportJob` accepts, in characters.
pub const S3_URI_MAX_LEN: usize = S3_URI.max;

/// The shortest S3 bucket name.
pub const BUCKET_NAME_MIN_LEN: usize = 3;

/// The longest S3 bucket name.
pub const BUCKET_NAME_MAX_LEN: usize = 63;

/// Prefixes that S3 reserves and never allows at the start of a general-purpose bucket name.
pub const RESERVED_BUCKET_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];

/// Suffixes that S3 reserves for access-point aliases, Object Lambda, directory buckets and
/// table buckets; a general-purpose bucket name never ends with them.
pub const RESERVED_BUCKET_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];

/// A parsed `s3://bucket/prefix/` URI. The prefix is empty or ends with `/`, so that
/// `s3://b/model` never matches the objects of `s3://b/model-v2/`. Parsing checks the form
/// only; [`S3_URI`] says whether `CreateModelImportJob` accepts the URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix: empty, or ending with `/`.
    pub prefix: String,
}

/// Why a string is not an `s3://` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{uri:?} is not an S3 URI: {reason}")]
pub struct S3UriError {
    /// The text given.
    pub uri: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for S3Uri {
    type Err = S3UriError;

    fn from_str(uri: &str) -> Result<S3Uri, S3UriError> {
        let error = |reason| S3UriError {
            uri: uri.to_string(),
            reason,
        };
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| error("it must start with s3:// (lowercase)"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(error("the bucket name is missing"));
        }
        Ok(S3Uri {
            bucket: bucket.to_string(),
            prefix: with_trailing_slash(prefix),
        })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl S3Uri {
    /// The ARN of the bucket, in the `aws` partition.
    pub fn bucket_arn(&self) -> String {
        arn::bucket(arn::AWS, &self.bucket)
    }

    /// The ARN of an object of the artifact, in the `aws` partition.
    pub fn object_arn(&self, path: &str) -> String {
        arn::object(arn::AWS, &self.bucket, &format!("{}{path}", self.prefix))
    }

    /// The ARN pattern of every object of the artifact, in the `aws` partition.
    pub fn objects_arn(&self) -> String {
        self.object_arn("*")
    }
}

/// `prefix` unchanged when empty or ending with `/`, else with `/` appended.
fn with_trailing_slash(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// Whether `value` starts with `s3://`, in any case.
pub fn has_s3_scheme(value: &str) -> bool {
    value
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("s3://"))
}

/// Whether `c` may appear in a key segment of the `S3Uri` of `CreateModelImportJob`: an ASCII
/// letter or digit, or one of [`S3_URI_SEGMENT_PUNCTUATION`].
pub fn is_s3_uri_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || S3_URI_SEGMENT_PUNCTUATION.contains(&c)
}

/// Why a string is not a general-purpose bucket name; its message states the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BucketNameError {
    /// Shorter than 3 or longer than 63 characters; the length in characters.
    #[error("it is {0} characters long; bucket names are 3 to 63 characters")]
    Length(usize),
    /// A character other than a-z, 0-9, `.` and `-`, and its index in characters.
    #[error("it holds {0:?} at character {1}; bucket names hold only lowercase letters, digits, dots and hyphens")]
    Char(char, usize),
    /// Starts or ends with `.` or `-`.
    #[error("bucket names start and end with a lowercase letter or a digit")]
    Edge,
    /// Two adjacent dots.
    #[error("bucket names never have two adjacent dots")]
    DoubleDot,
    /// Formatted as an IPv4 address.
    #[error("it is formatted as an IP address, which bucket names never are")]
    IpAddress,
    /// Starts or ends with a reserved affix, which it names.
    #[error("S3 reserves names that start or end with {0:?}")]
    Reserved(&'static str),
}

/// Checks a general-purpose bucket name; the first problem found, in the order of the
/// variants of [`BucketNameError`].
pub fn validate_bucket_name(value: &str) -> Result<(), BucketNameError> {
    let len = value.chars().count();
    if !(BUCKET_NAME_MIN_LEN..=BUCKET_NAME_MAX_LEN).contains(&len) {
        return Err(BucketNameError::Length(len));
    }
    if let Some((index, ch)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(BucketNameError::Char(ch, index));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(value.chars().next()) || !alnum(value.chars().last()) {
        return Err(BucketNameError::Edge);
    }
    if value.contains("..") {
        return Err(BucketNameError::DoubleDot);
    }
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(BucketNameError::IpAddress);
    }
    if let Some(affix) = RESERVED_BUCKET_PREFIXES
        .iter()
        .find(|p| value.starts_with(*p))
        .or_else(|| {
            RESERVED_BUCKET_SUFFIXES
                .iter()
                .find(|s| value.ends_with(*s))
        })
    {
        return Err(BucketNameError::Reserved(affix));
    }
    Ok(())
}

/// Why a key prefix cannot follow the bucket in the `S3Uri` of `CreateModelImportJob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixError {
    /// Starts with `/`.
    LeadingSlash,
    /// Holds `//`, an empty key segment.
    EmptySegment,
    /// A character that key segments may not hold, and its index in characters.
    Char(char, usize),
}

/// Checks a key prefix (without `s3://` and bucket) and returns it normalized: empty, or
/// ending with `/`.
pub fn normalize_prefix(value: &str) -> Result<String, PrefixError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.starts_with('/') {
        return Err(PrefixError::LeadingSlash);
    }
    if value.contains("//") {
        return Err(PrefixError::EmptySegment);
    }
    if let Some((index, ch)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| *c != '/' && !is_s3_uri_segment_char(*c))
    {
        return Err(PrefixError::Char(ch, index));
    }
    Ok(with_trailing_slash(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris_and_normalizes_the_prefix() {
        let uri: S3Uri = "s3://bucket/models/llama".parse().unwrap();
        assert_eq!(uri.prefix, "models/llama/");
        assert_eq!(uri.to_string(), "s3://bucket/models/llama/");
        assert_eq!(uri.objects_arn(), "arn:aws:s3:::bucket/models/llama/*");
        let bare: S3Uri = "s3://bucket".parse().unwrap();
        assert_eq!(bare.prefix, "");
        assert_eq!(bare.bucket_arn(), "arn:aws:s3:::bucket");
        assert_eq!(
            bare.object_arn("config.json"),
            "arn:aws:s3:::bucket/config.json"
        );
        assert!("S3://bucket/x".parse::<S3Uri>().is_err());
        assert!("s3:///x".parse::<S3Uri>().is_err());
        assert!("/local/path".parse::<S3Uri>().is_err());
    }

    #[test]
    fn prefix_normalization() {
        assert_eq!(normalize_prefix("").unwrap(), "");
        assert_eq!(normalize_prefix("models/llama").unwrap(), "models/llama/");
        assert_eq!(normalize_prefix("models/llama/").unwrap(), "models/llama/");
        assert_eq!(normalize_prefix("a/(b)!_*'.c-d").unwrap(), "a/(b)!_*'.c-d/");
        assert_eq!(
            normalize_prefix("models/a b"),
            Err(PrefixError::Char(' ', 8))
        );
        assert_eq!(normalize_prefix("modèle/"), Err(PrefixError::Char('è', 3)));
        assert_eq!(normalize_prefix("/m/"), Err(PrefixError::LeadingSlash));
        assert_eq!(normalize_prefix("m//x/"), Err(PrefixError::EmptySegment));
    }

    #[test]
    fn bucket_rules() {
        for ok in ["abc", "my.bucket-1", "1bucket", &"a".repeat(63)] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_bucket_name("ab"), Err(BucketNameError::Length(2)));
        assert_eq!(validate_bucket_name("-abc"), Err(BucketNameError::Edge));
        assert_eq!(validate_bucket_name("abc."), Err(BucketNameError::Edge));
        assert_eq!(
            validate_bucket_name("a..b"),
            Err(BucketNameError::DoubleDot)
        );
        assert_eq!(
            validate_bucket_name("192.168.5.4"),
            Err(BucketNameError::IpAddress)
        );
        assert_eq!(
            validate_bucket_name("xn--abc"),
            Err(BucketNameError::Reserved("xn--"))
        );
        assert_eq!(
            validate_bucket_name("abc-s3alias"),
            Err(BucketNameError::Reserved("-s3alias"))
        );
    }

    #[test]
    fn valid_bucket_and_prefix_make_an_accepted_s3_uri() {
        for (bucket, prefix) in [
            ("research-models", ""),
            ("b.c1", "a/b(c)/d_e*'!"),
            ("my-bucket", "models/llama-3"),
        ] {
            validate_bucket_name(bucket).unwrap();
            let uri = S3Uri {
                bucket: bucket.to_string(),
                prefix: normalize_prefix(prefix).unwrap(),
            };
            assert!(S3_URI.validate(&uri.to_string()).is_ok(), "{uri}");
        }
    }
}
