//! Why the inputs of the `policy` command cannot produce a policy.

use crate::arn::KmsKeyArnError;
use crate::s3_uri::{BucketNameError, PrefixError};

/// Why the inputs cannot produce a policy. Each variant is one problem; its message names the
/// field (as the CLI flag), the bad value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An account ID that is not exactly 12 ASCII digits.
    #[error(
        "{field} {value:?} is not an AWS account ID: expected exactly 12 digits, such as \
         111122223333 (got {} characters)",
        .value.chars().count()
    )]
    Account {
        /// The flag: `--bucket-account` or `--hosting-account`.
        field: &'static str,
        /// The value as given.
        value: String,
    },
    /// The bucket was given as an ARN (often the malformed `arn:aws:s3://...`).
    #[error(
        "--bucket {value:?} is an ARN, not a bucket name; give the name alone: --bucket \
         {suggestion} (note: arn:aws:s3://... is a malformed ARN from an old AWS example that \
         matches nothing; S3 ARNs look like arn:aws:s3:::BUCKET)"
    )]
    BucketArn {
        /// The value as given.
        value: String,
        /// The bucket name found in it, best effort.
        suggestion: String,
    },
    /// The bucket was given as an `s3://` URI.
    #[error("--bucket {value:?} is an S3 URI, not a bucket name; split it: {suggestion}")]
    BucketUri {
        /// The value as given.
        value: String,
        /// The flags to use instead.
        suggestion: String,
    },
    /// A bucket name shorter than 3 or longer than 63 characters.
    #[error("--bucket {value:?} is {len} characters long; S3 bucket names are 3 to 63 characters")]
    BucketLength {
        /// The value as given.
        value: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character that bucket names never contain.
    #[error(
        "--bucket {value:?}: character {ch:?} at index {index} is not allowed; S3 bucket \
         names use only lowercase letters a-z, digits, '.' and '-'"
    )]
    BucketChar {
        /// The value as given.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its index, in characters from 0.
        index: usize,
    },
    /// A bucket name that starts or ends with `.` or `-`.
    #[error("--bucket {value:?} must start and end with a lowercase letter or a digit")]
    BucketEdge {
        /// The value as given.
        value: String,
    },
    /// A bucket name with two adjacent dots.
    #[error("--bucket {value:?} contains \"..\"; S3 bucket names never have two adjacent dots")]
    BucketDoubleDot {
        /// The value as given.
        value: String,
    },
    /// A bucket name formatted as an IPv4 address.
    #[error("--bucket {value:?} is formatted as an IP address, which S3 bucket names never are")]
    BucketIpAddress {
        /// The value as given.
        value: String,
    },
    /// A bucket name with a prefix or suffix that S3 reserves.
    #[error(
        "--bucket {value:?} uses {affix:?}, which S3 reserves; no general-purpose bucket has \
         such a name"
    )]
    BucketReserved {
        /// The value as given.
        value: String,
        /// The reserved prefix or suffix.
        affix: &'static str,
    },
    /// A prefix that starts with `/`.
    #[error(
        "--prefix {value:?} starts with '/'; S3 keys have no leading slash: give {}",
        .value.trim_start_matches('/')
    )]
    PrefixLeadingSlash {
        /// The value as given.
        value: String,
    },
    /// A prefix given as an `s3://` URI.
    #[error(
        "--prefix {value:?} is an S3 URI; give the bucket with --bucket and only the key \
         prefix (such as models/llama/) with --prefix"
    )]
    PrefixUri {
        /// The value as given.
        value: String,
    },
    /// A prefix with an empty key segment (`//`).
    #[error(
        "--prefix {value:?} contains \"//\" (an empty key segment), which \
         CreateModelImportJob's S3Uri rejects"
    )]
    PrefixEmptySegment {
        /// The value as given.
        value: String,
    },
    /// A prefix with a character that CreateModelImportJob's `S3Uri` rejects.
    #[error(
        "--prefix {value:?}: character {ch:?} at index {index} is not allowed; \
         CreateModelImportJob's S3Uri allows only letters, digits and - ! _ * ' ( ) . in key \
         segments, separated by '/'; rename the objects (for example with aws s3 mv)"
    )]
    PrefixChar {
        /// The value as given.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its index, in characters from 0.
        index: usize,
    },
    /// `s3://B/P` is longer than `CreateModelImportJob` accepts.
    #[error("the S3 URI {uri:?} is {len} characters; CreateModelImportJob accepts at most 1024")]
    S3UriTooLong {
        /// The URI `s3://B/P`.
        uri: String,
        /// Its length in characters.
        len: usize,
    },
    /// A Region that is not shaped like `us-east-1`.
    #[error(
        "--region {value:?} is not an AWS Region code: expected a code such as us-east-1 \
         (pattern [a-z]{{2}}(-gov)?-[a-z]+-[0-9]); Custom Model Import runs in us-east-1, \
         us-east-2, us-west-2 and eu-central-1"
    )]
    Region {
        /// The value as given.
        value: String,
    },
    /// The role was given as an ARN instead of a name.
    #[error("--role-name {value:?} is an ARN; give the role name alone: --role-name {suggestion}")]
    RoleNameArn {
        /// The value as given.
        value: String,
        /// The name found in it, best effort.
        suggestion: String,
    },
    /// A role name that is empty or longer than 64 characters.
    #[error(
        "--role-name {value:?} is {len} characters long; IAM role names are 1 to 64 characters"
    )]
    RoleNameLength {
        /// The value as given.
        value: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character that IAM role names never contain.
    #[error(
        "--role-name {value:?}: character {ch:?} at index {index} is not allowed; IAM role \
         names use only letters, digits and _ + = , . @ -"
    )]
    RoleNameChar {
        /// The value as given.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its index, in characters from 0.
        index: usize,
    },
    /// A KMS alias (name or ARN) where a key ARN is needed.
    #[error(
        "{field} {value:?} is a KMS alias; give the full key ARN \
         (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID): an alias resolves only inside the account \
         that owns the key, so another account's principal cannot use it, and a key policy \
         belongs to the key itself. In the key's account, `aws kms describe-key --key-id \
         alias/NAME --query KeyMetadata.Arn` prints the ARN"
    )]
    KmsKeyAlias {
        /// The flag: `--source-kms-key-arn` or `--hosting-kms-key-arn`.
        field: &'static str,
        /// The value as given.
        value: String,
    },
    /// A bare key ID (or anything else that is not an ARN).
    #[error(
        "{field} {value:?} is not a key ARN; give the full ARN \
         arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (a bare key ID does not say which account and \
         Region own the key)"
    )]
    KmsKeyNotArn {
        /// The flag: `--source-kms-key-arn` or `--hosting-kms-key-arn`.
        field: &'static str,
        /// The value as given.
        value: String,
    },
    /// An ARN that is not a well-formed KMS key ARN.
    #[error("{field} {value:?} is not a KMS key ARN: {problem}")]
    KmsKeyMalformed {
        /// The flag: `--source-kms-key-arn` or `--hosting-kms-key-arn`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong, and what is expected.
        problem: String,
    },
    /// A key owned by another account than the one that must own it.
    #[error(
        "{field} {value:?} belongs to account {key_account}, but it must belong to \
         {expected_field} {expected}: {why}"
    )]
    KmsKeyAccount {
        /// The flag: `--source-kms-key-arn` or `--hosting-kms-key-arn`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// The account in the key ARN.
        key_account: String,
        /// The flag of the account that must own the key.
        expected_field: &'static str,
        /// That account.
        expected: String,
        /// Why that account.
        why: &'static str,
    },
    /// A key ARN in another partition than the Region's.
    #[error(
        "{field} {value:?} is in partition {partition:?}, but Region {region} is in \
         partition {expected:?}"
    )]
    KmsKeyPartition {
        /// The flag: `--source-kms-key-arn` or `--hosting-kms-key-arn`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// The partition in the key ARN.
        partition: String,
        /// The Region given with `--region`.
        region: String,
        /// The partition of that Region.
        expected: &'static str,
    },
    /// An `--importer-arn` that is not the ARN of an IAM user, role or account principal.
    #[error(
        "--importer-arn {value:?} is not an IAM principal ARN: {problem}; give the ARN of the \
         user or role that calls CreateModelImportJob, such as \
         arn:aws:iam::ACCOUNT:role/NAME (or arn:aws:iam::ACCOUNT:root for the whole account)"
    )]
    ImporterArn {
        /// The value as given.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// An `--importer-arn` of another account or partition than the hosting account's.
    #[error(
        "--importer-arn {value:?} is {found}, but it must be in the hosting account \
         {expected}: it calls CreateModelImportJob there, and the key policy statement is \
         written for that account's key"
    )]
    ImporterAccount {
        /// The value as given.
        value: String,
        /// The account (and partition) found in it.
        found: String,
        /// The hosting account and its partition.
        expected: String,
    },
    /// An input of `policy --runner` (`--queue-arn`, `--report-prefix`) that cannot be used.
    #[error("{field} {value:?}: {problem}")]
    RunnerInput {
        /// The flag.
        field: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong, and what is expected.
        problem: String,
    },
}

impl PolicyError {
    /// The error of `--bucket {value}` for a problem with the bucket name.
    pub(crate) fn bucket(value: &str, problem: BucketNameError) -> PolicyError {
        let value = value.to_string();
        match problem {
            BucketNameError::Length(len) => PolicyError::BucketLength { value, len },
            BucketNameError::Char(ch, index) => PolicyError::BucketChar { value, ch, index },
            BucketNameError::Edge => PolicyError::BucketEdge { value },
            BucketNameError::DoubleDot => PolicyError::BucketDoubleDot { value },
            BucketNameError::IpAddress => PolicyError::BucketIpAddress { value },
            BucketNameError::Reserved(affix) => PolicyError::BucketReserved { value, affix },
        }
    }

    /// The error of `--prefix {value}` for a problem with the key prefix.
    pub(crate) fn prefix(value: &str, problem: PrefixError) -> PolicyError {
        let value = value.to_string();
        match problem {
            PrefixError::LeadingSlash => PolicyError::PrefixLeadingSlash { value },
            PrefixError::EmptySegment => PolicyError::PrefixEmptySegment { value },
            PrefixError::Char(ch, index) => PolicyError::PrefixChar { value, ch, index },
        }
    }

    /// The error of the key flag `field` (`--source-kms-key-arn` or `--hosting-kms-key-arn`)
    /// for a value that is not a key ARN.
    pub(crate) fn kms_key(
        field: &'static str,
        value: &str,
        problem: KmsKeyArnError,
    ) -> PolicyError {
        let value = value.to_string();
        match problem {
            KmsKeyArnError::Alias => PolicyError::KmsKeyAlias { field, value },
            KmsKeyArnError::NotArn => PolicyError::KmsKeyNotArn { field, value },
            KmsKeyArnError::Malformed(problem) => PolicyError::KmsKeyMalformed {
                field,
                value,
                problem,
            },
        }
    }
}
