//! Least-privilege policies for a cross-account Custom Model Import (CMI) set-up.
//!
//! The set-up: a research account `A` owns bucket `B`, whose prefix `P` holds the Hugging Face
//! artifact. A hosting account `H` calls `CreateModelImportJob` in Region `R` with the service
//! role `N`, which Bedrock assumes to read `s3://B/P`. Optionally the objects are encrypted with
//! a customer-managed key `K1` of account `A` (SSE-KMS), and the imported model is encrypted
//! with a customer-managed key `K2` of account `H` (`importedModelKmsKeyId`).
//!
//! This module validates those inputs ([`PolicyInputs::validate`]) and writes the documents
//! that grant exactly that access and nothing more ([`generate`], [`write_all`]). Every
//! statement has a stable `Sid` (see [`sid`]), and every statement and document has its own
//! small pure builder, so `doctor` can quote the exact statement that fixes a failed step.
//! It does no I/O except [`write_all`], and it never calls AWS.
//!
//! # The documents, in the order to apply them
//!
//! 1. `trust-policy.json`, on role `N` in `H`: Bedrock (`bedrock.amazonaws.com`) may assume
//!    the role, only for model import jobs of `H` in `R` (`aws:SourceAccount`,
//!    `aws:SourceArn`). The confused-deputy conditions of reference 5.1.
//! 2. `role-identity-policy.json`, on role `N` in `H`: `s3:ListBucket` on the bucket and
//!    `s3:GetObject` on the prefix, each pinned with `aws:ResourceAccount = A` (the *bucket*
//!    account: the console's default role pins its own account, which denies a cross-account
//!    bucket), plus, with `K1`, `kms:Decrypt` and `kms:DescribeKey` on `K1`.
//! 3. `bucket-policy.json`, on bucket `B` in `A`: the same two S3 permissions for the role.
//!    Cross-account access needs both this and the identity policy. Create the role first:
//!    S3 and KMS reject a policy whose principal names a role that does not exist.
//! 4. `source-kms-key-policy-statement.json` (only with `K1`), for the key policy of `K1` in
//!    `A`: the role may `kms:Decrypt` and `kms:DescribeKey`.
//! 5. `hosting-kms-key-policy-statement.json` (only with `K2`), for the key policy of `K2` in
//!    `H`: see [`hosting_kms_key_statement`].
//!
//! The two key-policy files are whole, valid policy documents holding one statement, but they
//! are meant to be *merged* into the key's existing policy: replacing a key policy with them
//! would lock the key's administrators out.
//!
//! # Choices
//!
//! - **`s3:prefix` on `ListBucket`.** With a prefix, `ListBucket` carries the condition
//!   `StringLike s3:prefix = ["P", "P*"]` (`P` normalized to end with `/`), in both the bucket
//!   policy and the identity policy, so the role cannot enumerate the rest of the bucket. A
//!   third party (reference 5.1, S20, unverified) reports that such a condition can make
//!   imports fail opaquely; AWS documents it as the way to narrow the prefix. If an import
//!   fails with "does not have access to the S3 location" while `check --role-arn` passes,
//!   drop the `Condition` of [`sid::BUCKET_LIST`] and [`sid::ROLE_LIST`] first. Without a
//!   prefix there is no condition, and objects are `B/*`.
//! - **The role's KMS statements** are part of `role-identity-policy.json` (one policy to
//!   attach, no file that is easy to forget), and [`role_kms_statements`] returns them alone.
//! - **The hosting key** statement names the account principal `arn:aws:iam::H:root` with
//!   `kms:ViaService = bedrock.R.amazonaws.com`; see [`hosting_kms_key_statement`].
//! - **Key ARNs, never aliases.** An alias resolves only inside the key's own account, so a
//!   principal of another account (the role reading `A`'s objects) cannot use it; and a key
//!   policy must name the key it protects. Inputs must be `arn:...:kms:R:ACCOUNT:key/ID`.
//! - **Partition.** ARNs use the partition of the Region (`aws`, `aws-us-gov` for `us-gov-*`,
//!   `aws-cn` for `cn-*`), though CMI exists only in the [`CMI_REGIONS`] of `aws`.
//!
//! Not generated: `s3:GetObjectAttributes` (a third-party claim, reference 5.1, not in AWS's
//! documentation), the EC2 network-interface permissions a `vpcConfig` needs (reference 5.1),
//! and the permissions of whoever *calls* `CreateModelImportJob` (`bedrock:*` actions,
//! `iam:PassRole` on the role, and with `K2` the four KMS actions on `K2`).

#[cfg(unix)]
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serialize;
use serde_json::{json, Value};

use crate::files;

/// The IAM policy language version every generated document declares.
pub const POLICY_VERSION: &str = "2012-10-17";

/// The service principal Bedrock uses to assume the import role (reference 5.1).
pub const BEDROCK_SERVICE_PRINCIPAL: &str = "bedrock.amazonaws.com";

/// The Regions where Custom Model Import is available (the format crate's table). Another
/// well-formed Region is accepted with a note in [`PolicySet::notes`], not an error.
pub use cmi_format::arch::CMI_REGIONS;

/// The characters besides ASCII letters and digits that a key segment of the `S3Uri` may hold
/// (the class `[-!_*'().a-z0-9A-Z]` of [`cmi_format::cmi_api::S3_URI`]), spelt out so that an
/// error can name the offending character. Notably absent: space, `=`, `+`, `@`, `,`, `&`,
/// `$`, `:`, `%` and every non-ASCII character.
pub const S3_URI_SEGMENT_PUNCTUATION: &[char] = &['-', '!', '_', '*', '\'', '(', ')', '.'];

/// The longest `S3Uri` (`s3://B/P`) that `CreateModelImportJob` accepts, in characters.
pub const S3_URI_MAX_LEN: usize = cmi_format::cmi_api::S3_URI.max;

/// The shortest S3 bucket name.
pub const BUCKET_NAME_MIN_LEN: usize = 3;

/// The longest S3 bucket name.
pub const BUCKET_NAME_MAX_LEN: usize = 63;

/// Prefixes that S3 reserves and never allows at the start of a general-purpose bucket name.
pub const RESERVED_BUCKET_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];

/// Suffixes that S3 reserves for access-point aliases, Object Lambda, directory buckets and
/// table buckets; a general-purpose bucket name never ends with them.
pub const RESERVED_BUCKET_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];

/// The longest IAM role name.
pub const ROLE_NAME_MAX_LEN: usize = 64;

/// The characters besides ASCII letters and digits that an IAM role name may hold (the class
/// `[\w+=,.@-]` of IAM's `roleNameType`).
pub const ROLE_NAME_PUNCTUATION: &[char] = &['_', '+', '=', ',', '.', '@', '-'];

/// The S3 actions the import role needs on the bucket (reference 5.1).
pub const S3_LIST_ACTIONS: &[&str] = &["s3:ListBucket"];

/// The S3 actions the import role needs on the objects (reference 5.1).
pub const S3_READ_ACTIONS: &[&str] = &["s3:GetObject"];

/// The KMS actions the import role needs on the key that encrypts the objects (reference 5.3).
pub const SOURCE_KEY_ACTIONS: &[&str] = &["kms:Decrypt", "kms:DescribeKey"];

/// The KMS actions needed on the key that encrypts the imported model: Bedrock creates a grant,
/// checks that the key is symmetric, and encrypts and decrypts with it (reference 5.4).
pub const HOSTING_KEY_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:DescribeKey",
    "kms:GenerateDataKey",
    "kms:Decrypt",
];

/// The stable `Sid` of every generated statement. `doctor` and users refer to statements by
/// these; they are unique across the whole [`PolicySet`].
pub mod sid {
    /// Bucket policy: the role may list the bucket (under the prefix).
    pub const BUCKET_LIST: &str = "CmiBucketListModelPrefix";
    /// Bucket policy: the role may read the objects under the prefix.
    pub const BUCKET_READ: &str = "CmiBucketReadModelObjects";
    /// Role identity policy: list the bucket (under the prefix) of the bucket account.
    pub const ROLE_LIST: &str = "CmiRoleListModelPrefix";
    /// Role identity policy: read the objects under the prefix, in the bucket account.
    pub const ROLE_READ: &str = "CmiRoleReadModelObjects";
    /// Role identity policy: decrypt the objects with the source key.
    pub const ROLE_DECRYPT: &str = "CmiRoleDecryptModelObjects";
    /// Trust policy: Bedrock model import jobs of the hosting account may assume the role.
    pub const TRUST: &str = "CmiBedrockAssumeImportRole";
    /// Source key policy: the role may decrypt the objects.
    pub const SOURCE_KEY: &str = "CmiImportRoleDecryptModelObjects";
    /// Hosting key policy: the hosting account may use the key through Bedrock.
    pub const HOSTING_KEY: &str = "CmiBedrockEncryptImportedModel";
}

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
}

/// The raw inputs of the `policy` command, as the user gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyInputs {
    /// The bucket that holds the artifact (a name, not an ARN or URI).
    pub bucket: String,
    /// The key prefix of the artifact in the bucket; `None` or empty for the whole bucket.
    pub prefix: Option<String>,
    /// The account that owns the bucket (12 digits).
    pub bucket_account: String,
    /// The account that runs the import job and owns the role (12 digits).
    pub hosting_account: String,
    /// The Region of the import job, such as `us-east-1`.
    pub region: String,
    /// The name (not the ARN) of the role that Bedrock assumes to read the bucket.
    pub role_name: String,
    /// The ARN of the customer-managed key that encrypts the objects (SSE-KMS), in the bucket
    /// account.
    pub source_kms_key_arn: Option<String>,
    /// The ARN of the customer-managed key that will encrypt the imported model
    /// (`importedModelKmsKeyId`), in the hosting account.
    pub hosting_kms_key_arn: Option<String>,
}

/// Inputs that passed [`PolicyInputs::validate`], normalized. Only `validate` makes one, so
/// every builder in this module can trust them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedInputs {
    bucket: String,
    prefix: String,
    bucket_account: String,
    hosting_account: String,
    region: String,
    partition: &'static str,
    role_name: String,
    source_kms_key_arn: Option<String>,
    hosting_kms_key_arn: Option<String>,
    notes: Vec<String>,
}

impl PolicyInputs {
    /// Checks every field and normalizes the prefix (to end with `/`, or empty). Returns the
    /// first problem found, in the order of the fields. Doubtful but legal inputs (a Region
    /// without CMI, a key in another Region) become [`ValidatedInputs::notes`].
    pub fn validate(&self) -> Result<ValidatedInputs, PolicyError> {
        let bucket_account = validate_account("--bucket-account", &self.bucket_account)?;
        let hosting_account = validate_account("--hosting-account", &self.hosting_account)?;
        let bucket = validate_bucket(&self.bucket)?;
        let prefix = validate_prefix(self.prefix.as_deref().unwrap_or(""))?;
        let uri = format!("s3://{bucket}/{prefix}");
        let uri_len = uri.chars().count();
        if uri_len > S3_URI_MAX_LEN {
            return Err(PolicyError::S3UriTooLong { uri, len: uri_len });
        }
        let region = validate_region(&self.region)?;
        let partition = partition_of(&region);
        let role_name = validate_role_name(&self.role_name)?;

        let mut notes = Vec::new();
        if !CMI_REGIONS.contains(&region.as_str()) {
            notes.push(format!(
                "Region {region} is not one of the Regions where Custom Model Import is \
                 available ({}); the policies are generated anyway, but CreateModelImportJob \
                 will fail there",
                CMI_REGIONS.join(", ")
            ));
        }
        if bucket_account == hosting_account {
            notes.push(format!(
                "the bucket account and the hosting account are the same ({bucket_account}); \
                 the role identity policy is enough, and the bucket policy (and a key policy \
                 statement) only add an explicit grant"
            ));
        }

        let source_kms_key_arn = match self.source_kms_key_arn.as_deref() {
            Some(arn) => {
                let key = parse_kms_key_arn("--source-kms-key-arn", arn, &region, partition)?;
                if key.account != bucket_account {
                    return Err(PolicyError::KmsKeyAccount {
                        field: "--source-kms-key-arn",
                        value: arn.to_string(),
                        key_account: key.account,
                        expected_field: "--bucket-account",
                        expected: bucket_account,
                        why: "it is the key that encrypts the objects in the bucket (SSE-KMS), \
                              and its key policy, which grants the role, is written for the \
                              bucket owner's account",
                    });
                }
                if key.region != region {
                    notes.push(format!(
                        "--source-kms-key-arn is in Region {}, but the import runs in {region}: \
                         an SSE-KMS key is in the bucket's Region, and the bucket should be in \
                         the Region of the import job",
                        key.region
                    ));
                }
                Some(arn.to_string())
            }
            None => {
                if bucket_account != hosting_account {
                    notes.push(
                        "no --source-kms-key-arn: if the objects are encrypted with SSE-KMS, \
                         give the key's ARN; objects encrypted with the AWS-managed aws/s3 key \
                         cannot be read from another account at all (re-encrypt them with a \
                         customer-managed key)"
                            .to_string(),
                    );
                }
                None
            }
        };

        let hosting_kms_key_arn = match self.hosting_kms_key_arn.as_deref() {
            Some(arn) => {
                let key = parse_kms_key_arn("--hosting-kms-key-arn", arn, &region, partition)?;
                if key.account != hosting_account {
                    return Err(PolicyError::KmsKeyAccount {
                        field: "--hosting-kms-key-arn",
                        value: arn.to_string(),
                        key_account: key.account,
                        expected_field: "--hosting-account",
                        expected: hosting_account,
                        why: "it encrypts the imported model, which lives in the account that \
                              runs the import job",
                    });
                }
                if key.region != region {
                    notes.push(format!(
                        "--hosting-kms-key-arn is in Region {}, but the import runs in \
                         {region}; Bedrock uses a key of the job's Region",
                        key.region
                    ));
                }
                notes.push(format!(
                    "whoever calls CreateModelImportJob in {hosting_account} also needs \
                     {} on {arn} in its own IAM policy: the key policy statement delegates to \
                     the account's IAM policies",
                    HOSTING_KEY_ACTIONS.join(", ")
                ));
                Some(arn.to_string())
            }
            None => None,
        };

        Ok(ValidatedInputs {
            bucket,
            prefix,
            bucket_account,
            hosting_account,
            region,
            partition,
            role_name,
            source_kms_key_arn,
            hosting_kms_key_arn,
            notes,
        })
    }
}

impl ValidatedInputs {
    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The normalized prefix: empty, or ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The account that owns the bucket.
    pub fn bucket_account(&self) -> &str {
        &self.bucket_account
    }

    /// The account that runs the import job and owns the role.
    pub fn hosting_account(&self) -> &str {
        &self.hosting_account
    }

    /// The Region of the import job.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The ARN partition of the Region: `aws`, `aws-us-gov` or `aws-cn`.
    pub fn partition(&self) -> &str {
        self.partition
    }

    /// The role name.
    pub fn role_name(&self) -> &str {
        &self.role_name
    }

    /// The key ARN that encrypts the objects, if any.
    pub fn source_kms_key_arn(&self) -> Option<&str> {
        self.source_kms_key_arn.as_deref()
    }

    /// The key ARN that will encrypt the imported model, if any.
    pub fn hosting_kms_key_arn(&self) -> Option<&str> {
        self.hosting_kms_key_arn.as_deref()
    }

    /// Warnings about legal but doubtful inputs, one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The role's ARN, `arn:aws:iam::H:role/N` (a role at the path `/`).
    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.hosting_account, self.role_name
        )
    }

    /// The bucket's ARN, `arn:aws:s3:::B`.
    pub fn bucket_arn(&self) -> String {
        format!("arn:{}:s3:::{}", self.partition, self.bucket)
    }

    /// The ARN of the objects the role may read: `arn:aws:s3:::B/P*`, or `arn:aws:s3:::B/*`.
    pub fn objects_arn(&self) -> String {
        format!(
            "arn:{}:s3:::{}/{}*",
            self.partition, self.bucket, self.prefix
        )
    }

    /// The `modelDataSource` URI for `CreateModelImportJob`: `s3://B/P`.
    pub fn s3_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The ARN pattern of this account's import jobs in this Region:
    /// `arn:aws:bedrock:R:H:model-import-job/*`.
    pub fn import_job_arn_pattern(&self) -> String {
        format!(
            "arn:{}:bedrock:{}:{}:model-import-job/*",
            self.partition, self.region, self.hosting_account
        )
    }

    /// The `s3:prefix` values that `ListBucket` is limited to: `["P", "P*"]`, or `None`
    /// without a prefix. See the module documentation for why.
    pub fn list_prefix_values(&self) -> Option<[String; 2]> {
        if self.prefix.is_empty() {
            None
        } else {
            Some([self.prefix.clone(), format!("{}*", self.prefix)])
        }
    }
}

/// Which document of the set a [`PolicyDocument`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// The trust policy of the role, in the hosting account.
    TrustPolicy,
    /// The permissions policy of the role, in the hosting account.
    RoleIdentityPolicy,
    /// The bucket policy, in the bucket account.
    BucketPolicy,
    /// The statement for the key policy of the source key, in the bucket account.
    SourceKmsKeyPolicyStatement,
    /// The statement for the key policy of the hosting key, in the hosting account.
    HostingKmsKeyPolicyStatement,
}

impl DocumentKind {
    /// The file name [`write_all`] gives this document.
    pub fn file_name(self) -> &'static str {
        match self {
            DocumentKind::TrustPolicy => "trust-policy.json",
            DocumentKind::RoleIdentityPolicy => "role-identity-policy.json",
            DocumentKind::BucketPolicy => "bucket-policy.json",
            DocumentKind::SourceKmsKeyPolicyStatement => "source-kms-key-policy-statement.json",
            DocumentKind::HostingKmsKeyPolicyStatement => "hosting-kms-key-policy-statement.json",
        }
    }
}

/// One generated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// Which document this is.
    pub kind: DocumentKind,
    /// The file name, such as `bucket-policy.json`.
    pub file_name: &'static str,
    /// One line: where to attach the document, in which account.
    pub title: String,
    /// The policy: `{"Version": "2012-10-17", "Statement": [...]}`.
    pub json: Value,
}

impl PolicyDocument {
    /// The document as written to its file: pretty-printed with a 2-space indent, keys in
    /// the conventional IAM order (`Version` before `Statement`; `Sid`, `Effect`,
    /// `Principal`, `Action`, `Resource`, `Condition`), and a trailing newline.
    pub fn to_pretty_json(&self) -> String {
        render(&self.json)
    }
}

/// All documents of a set-up and the notes about the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySet {
    /// The documents, in the order to apply them (the role before the policies that name it).
    pub documents: Vec<PolicyDocument>,
    /// Warnings about legal but doubtful inputs, one sentence each.
    pub notes: Vec<String>,
}

impl PolicySet {
    /// The document of the given kind, if the set has one.
    pub fn get(&self, kind: DocumentKind) -> Option<&PolicyDocument> {
        self.documents.iter().find(|d| d.kind == kind)
    }

    /// The statement with the given `Sid` (see [`sid`]) and the document that holds it.
    pub fn statement(&self, sid: &str) -> Option<(&PolicyDocument, &Value)> {
        self.documents.iter().find_map(|doc| {
            doc.json["Statement"]
                .as_array()?
                .iter()
                .find(|s| s["Sid"] == sid)
                .map(|s| (doc, s))
        })
    }
}

/// Generates every document the inputs call for, in the order to apply them.
pub fn generate(v: &ValidatedInputs) -> PolicySet {
    let mut documents = vec![
        PolicyDocument {
            kind: DocumentKind::TrustPolicy,
            file_name: DocumentKind::TrustPolicy.file_name(),
            title: format!(
                "Trust policy of role {} in the hosting account {}: lets Bedrock import jobs \
                 of that account in {} assume the role",
                v.role_name, v.hosting_account, v.region
            ),
            json: trust_policy(v),
        },
        PolicyDocument {
            kind: DocumentKind::RoleIdentityPolicy,
            file_name: DocumentKind::RoleIdentityPolicy.file_name(),
            title: format!(
                "Permissions policy to attach to role {} in the hosting account {}",
                v.role_name, v.hosting_account
            ),
            json: role_identity_policy(v),
        },
        PolicyDocument {
            kind: DocumentKind::BucketPolicy,
            file_name: DocumentKind::BucketPolicy.file_name(),
            title: format!(
                "Bucket policy of {} in the bucket account {} (merge into any existing bucket \
                 policy; create the role first)",
                v.bucket, v.bucket_account
            ),
            json: bucket_policy(v),
        },
    ];
    if let (Some(arn), Some(statement)) = (v.source_kms_key_arn(), source_kms_key_statement(v)) {
        documents.push(PolicyDocument {
            kind: DocumentKind::SourceKmsKeyPolicyStatement,
            file_name: DocumentKind::SourceKmsKeyPolicyStatement.file_name(),
            title: format!(
                "Statement to add to the key policy of {arn} in the bucket account {} (merge \
                 it; do not replace the key policy)",
                v.bucket_account
            ),
            json: policy_document(vec![statement]),
        });
    }
    if let (Some(arn), Some(statement)) = (v.hosting_kms_key_arn(), hosting_kms_key_statement(v)) {
        documents.push(PolicyDocument {
            kind: DocumentKind::HostingKmsKeyPolicyStatement,
            file_name: DocumentKind::HostingKmsKeyPolicyStatement.file_name(),
            title: format!(
                "Statement to add to the key policy of {arn} in the hosting account {} (merge \
                 it; do not replace the key policy)",
                v.hosting_account
            ),
            json: policy_document(vec![statement]),
        });
    }
    PolicySet {
        documents,
        notes: v.notes.clone(),
    }
}

/// Wraps statements in a policy document: `{"Version": "2012-10-17", "Statement": [...]}`.
pub fn policy_document(statements: Vec<Value>) -> Value {
    json!({ "Version": POLICY_VERSION, "Statement": statements })
}

/// The bucket policy: the role may list the bucket and read the objects under the prefix.
pub fn bucket_policy(v: &ValidatedInputs) -> Value {
    policy_document(vec![bucket_list_statement(v), bucket_read_statement(v)])
}

/// Bucket policy statement [`sid::BUCKET_LIST`]: the role may `s3:ListBucket` the bucket,
/// limited to the prefix with `StringLike s3:prefix = ["P", "P*"]` when there is one.
pub fn bucket_list_statement(v: &ValidatedInputs) -> Value {
    let mut statement = json!({
        "Sid": sid::BUCKET_LIST,
        "Effect": "Allow",
        "Principal": { "AWS": v.role_arn() },
        "Action": S3_LIST_ACTIONS,
        "Resource": v.bucket_arn(),
    });
    if let Some(values) = v.list_prefix_values() {
        statement["Condition"] = json!({ "StringLike": { "s3:prefix": values } });
    }
    statement
}

/// Bucket policy statement [`sid::BUCKET_READ`]: the role may `s3:GetObject` under the prefix.
pub fn bucket_read_statement(v: &ValidatedInputs) -> Value {
    json!({
        "Sid": sid::BUCKET_READ,
        "Effect": "Allow",
        "Principal": { "AWS": v.role_arn() },
        "Action": S3_READ_ACTIONS,
        "Resource": v.objects_arn(),
    })
}

/// The role's permissions policy: the two S3 statements and, with a source key, the KMS
/// statement of [`role_kms_statements`].
pub fn role_identity_policy(v: &ValidatedInputs) -> Value {
    let mut statements = vec![role_list_statement(v), role_read_statement(v)];
    statements.extend(role_kms_statements(v));
    policy_document(statements)
}

/// Role statement [`sid::ROLE_LIST`]: `s3:ListBucket` on the bucket, only in the bucket
/// account (`aws:ResourceAccount`), limited to the prefix like [`bucket_list_statement`].
pub fn role_list_statement(v: &ValidatedInputs) -> Value {
    let mut condition = json!({
        "StringEquals": { "aws:ResourceAccount": v.bucket_account },
    });
    if let Some(values) = v.list_prefix_values() {
        condition["StringLike"] = json!({ "s3:prefix": values });
    }
    json!({
        "Sid": sid::ROLE_LIST,
        "Effect": "Allow",
        "Action": S3_LIST_ACTIONS,
        "Resource": v.bucket_arn(),
        "Condition": condition,
    })
}

/// Role statement [`sid::ROLE_READ`]: `s3:GetObject` under the prefix, only in the bucket
/// account (`aws:ResourceAccount`).
pub fn role_read_statement(v: &ValidatedInputs) -> Value {
    json!({
        "Sid": sid::ROLE_READ,
        "Effect": "Allow",
        "Action": S3_READ_ACTIONS,
        "Resource": v.objects_arn(),
        "Condition": { "StringEquals": { "aws:ResourceAccount": v.bucket_account } },
    })
}

/// The role's KMS statements: with a source key, [`sid::ROLE_DECRYPT`] allows `kms:Decrypt`
/// and `kms:DescribeKey` on it; without one, none. They are also part of
/// [`role_identity_policy`]; this returns them alone, for `doctor`. There is no
/// `kms:ViaService` condition, because whether Bedrock calls `DescribeKey` directly or only
/// through S3 is not documented.
pub fn role_kms_statements(v: &ValidatedInputs) -> Vec<Value> {
    match &v.source_kms_key_arn {
        Some(arn) => vec![json!({
            "Sid": sid::ROLE_DECRYPT,
            "Effect": "Allow",
            "Action": SOURCE_KEY_ACTIONS,
            "Resource": arn,
        })],
        None => Vec::new(),
    }
}

/// The role's trust policy: the single statement of [`trust_statement`].
pub fn trust_policy(v: &ValidatedInputs) -> Value {
    policy_document(vec![trust_statement(v)])
}

/// Trust statement [`sid::TRUST`]: `bedrock.amazonaws.com` may `sts:AssumeRole`, only on
/// behalf of the hosting account (`aws:SourceAccount`) and its model import jobs in the
/// Region (`aws:SourceArn`), which keeps other accounts' jobs from using the role.
pub fn trust_statement(v: &ValidatedInputs) -> Value {
    json!({
        "Sid": sid::TRUST,
        "Effect": "Allow",
        "Principal": { "Service": BEDROCK_SERVICE_PRINCIPAL },
        "Action": ["sts:AssumeRole"],
        "Condition": {
            "StringEquals": { "aws:SourceAccount": v.hosting_account },
            "ArnEquals": { "aws:SourceArn": v.import_job_arn_pattern() },
        },
    })
}

/// Source key policy statement [`sid::SOURCE_KEY`], with a source key: the role may
/// `kms:Decrypt` and `kms:DescribeKey`. `Resource` is `"*"`, which in a key policy means
/// the key itself.
pub fn source_kms_key_statement(v: &ValidatedInputs) -> Option<Value> {
    v.source_kms_key_arn.as_ref()?;
    Some(json!({
        "Sid": sid::SOURCE_KEY,
        "Effect": "Allow",
        "Principal": { "AWS": v.role_arn() },
        "Action": SOURCE_KEY_ACTIONS,
        "Resource": "*",
    }))
}

/// Hosting key policy statement [`sid::HOSTING_KEY`], with a hosting key: the account
/// principal `arn:aws:iam::H:root` may `kms:CreateGrant`, `kms:DescribeKey`,
/// `kms:GenerateDataKey` and `kms:Decrypt`, only through Bedrock in the Region
/// (`kms:ViaService = bedrock.R.amazonaws.com`).
///
/// Why the account and not a role: Bedrock uses the key on behalf of whoever calls
/// `CreateModelImportJob` (a person, a pipeline role) and creates grants for the import and
/// for inference (reference 5.4); that caller is not known here and may change. The account
/// principal delegates to the account's IAM policies, so the caller needs these four actions
/// on the key in its own policy too, and `kms:ViaService` keeps the grant from being usable
/// outside Bedrock. Reference 5.4 infers the actions; AWS does not show the exact statement.
pub fn hosting_kms_key_statement(v: &ValidatedInputs) -> Option<Value> {
    v.hosting_kms_key_arn.as_ref()?;
    Some(json!({
        "Sid": sid::HOSTING_KEY,
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:{}:iam::{}:root", v.partition, v.hosting_account) },
        "Action": HOSTING_KEY_ACTIONS,
        "Resource": "*",
        "Condition": {
            "StringEquals": { "kms:ViaService": format!("bedrock.{}.amazonaws.com", v.region) },
        },
    }))
}

/// Renders a policy the way [`write_all`] writes it: 2-space indent, IAM key order, trailing
/// newline.
pub fn render(policy: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&IamOrder(policy))
        .expect("a serde_json::Value with string keys always serializes");
    text.push('\n');
    text
}

/// Writes every document of `set` into `dir` (created if needed) under its file name and
/// returns the paths, in document order.
///
/// Each file is written to a temporary file in `dir`, flushed to disk, and renamed over the
/// final name, so a reader never sees a half-written file. All temporary files are written
/// before the first rename; if any write fails, every temporary file is removed and no final
/// file is touched. Files of an earlier run that this set does not produce are left alone.
pub fn write_all(set: &PolicySet, dir: &Path) -> Result<Vec<PathBuf>, io::Error> {
    fs::create_dir_all(dir).map_err(|e| files::with_path(e, "cannot create directory", dir))?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(set.documents.len());
    for doc in &set.documents {
        match files::write_temp(dir, doc.file_name, doc.to_pretty_json().as_bytes()) {
            Ok(temp) => staged.push((temp, dir.join(doc.file_name))),
            Err(e) => {
                for (temp, _) in &staged {
                    let _ = fs::remove_file(temp);
                }
                return Err(e);
            }
        }
    }
    let mut written = Vec::with_capacity(staged.len());
    let mut staged = staged.into_iter();
    while let Some((temp, target)) = staged.next() {
        if let Err(e) = fs::rename(&temp, &target) {
            let _ = fs::remove_file(&temp);
            for (rest, _) in staged {
                let _ = fs::remove_file(rest);
            }
            return Err(files::with_path(
                e,
                "cannot move a finished file to",
                &target,
            ));
        }
        written.push(target);
    }
    files::sync_dir(dir);
    Ok(written)
}

/// Keys in the order IAM documentation uses; other keys follow in alphabetical order.
const IAM_KEY_ORDER: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Serializes a JSON value with object keys in [`IAM_KEY_ORDER`], whatever order the map
/// keeps (serde_json sorts keys unless its `preserve_order` feature is on).
struct IamOrder<'a>(&'a Value);

impl Serialize for IamOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let rank = |k: &str| {
                    IAM_KEY_ORDER
                        .iter()
                        .position(|known| *known == k)
                        .unwrap_or(IAM_KEY_ORDER.len())
                };
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &IamOrder(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&IamOrder(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// `aws-us-gov` for `us-gov-*`, `aws-cn` for `cn-*`, else `aws`.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

fn validate_account(field: &'static str, value: &str) -> Result<String, PolicyError> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(PolicyError::Account {
            field,
            value: value.to_string(),
        })
    }
}

/// Whether `c` may appear in a key segment of the `S3Uri` of `CreateModelImportJob`: an ASCII
/// letter or digit, or one of [`S3_URI_SEGMENT_PUNCTUATION`].
pub fn is_s3_uri_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || S3_URI_SEGMENT_PUNCTUATION.contains(&c)
}

fn validate_bucket(value: &str) -> Result<String, PolicyError> {
    let owned = || value.to_string();
    if value.starts_with("arn:") {
        // arn:aws:s3:::bucket/key, or the malformed arn:aws:s3://bucket/key.
        let rest = value.rsplit_once(":::").map_or_else(
            || value.rsplit_once("://").map_or("", |(_, r)| r),
            |(_, r)| r,
        );
        let name = rest.split('/').next().unwrap_or("");
        return Err(PolicyError::BucketArn {
            value: owned(),
            suggestion: if name.is_empty() { "BUCKET" } else { name }.to_string(),
        });
    }
    if has_s3_scheme(value) {
        let rest = value.get(5..).unwrap_or("");
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let suggestion = if prefix.is_empty() {
            format!("--bucket {bucket}")
        } else {
            format!("--bucket {bucket} --prefix {prefix}")
        };
        return Err(PolicyError::BucketUri {
            value: owned(),
            suggestion,
        });
    }
    let len = value.chars().count();
    if !(BUCKET_NAME_MIN_LEN..=BUCKET_NAME_MAX_LEN).contains(&len) {
        return Err(PolicyError::BucketLength {
            value: owned(),
            len,
        });
    }
    if let Some((index, ch)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(PolicyError::BucketChar {
            value: owned(),
            ch,
            index,
        });
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(value.chars().next()) || !alnum(value.chars().last()) {
        return Err(PolicyError::BucketEdge { value: owned() });
    }
    if value.contains("..") {
        return Err(PolicyError::BucketDoubleDot { value: owned() });
    }
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(PolicyError::BucketIpAddress { value: owned() });
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
        return Err(PolicyError::BucketReserved {
            value: owned(),
            affix,
        });
    }
    Ok(owned())
}

/// Whether `value` starts with `s3://`, in any case.
fn has_s3_scheme(value: &str) -> bool {
    value
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("s3://"))
}

/// Validates a prefix and returns it normalized: empty, or ending with `/`.
fn validate_prefix(value: &str) -> Result<String, PolicyError> {
    let owned = || value.to_string();
    if value.is_empty() {
        return Ok(String::new());
    }
    if has_s3_scheme(value) {
        return Err(PolicyError::PrefixUri { value: owned() });
    }
    if value.starts_with('/') {
        return Err(PolicyError::PrefixLeadingSlash { value: owned() });
    }
    if value.contains("//") {
        return Err(PolicyError::PrefixEmptySegment { value: owned() });
    }
    if let Some((index, ch)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| *c != '/' && !is_s3_uri_segment_char(*c))
    {
        return Err(PolicyError::PrefixChar {
            value: owned(),
            ch,
            index,
        });
    }
    if value.ends_with('/') {
        Ok(owned())
    } else {
        Ok(format!("{value}/"))
    }
}

/// Full match of `[a-z]{2}(-gov)?-[a-z]+-[0-9]`.
fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let (country, word, digit) = match parts.as_slice() {
        [country, word, digit] => (*country, *word, *digit),
        [country, "gov", word, digit] => (*country, *word, *digit),
        _ => return false,
    };
    country.len() == 2
        && lower(country)
        && lower(word)
        && digit.len() == 1
        && digit.bytes().all(|b| b.is_ascii_digit())
}

fn validate_region(value: &str) -> Result<String, PolicyError> {
    if is_region(value) {
        Ok(value.to_string())
    } else {
        Err(PolicyError::Region {
            value: value.to_string(),
        })
    }
}

fn validate_role_name(value: &str) -> Result<String, PolicyError> {
    let owned = || value.to_string();
    if value.starts_with("arn:") {
        let name = value.rsplit('/').next().unwrap_or("");
        return Err(PolicyError::RoleNameArn {
            value: owned(),
            suggestion: if name.is_empty() { "NAME" } else { name }.to_string(),
        });
    }
    let len = value.chars().count();
    if len == 0 || len > ROLE_NAME_MAX_LEN {
        return Err(PolicyError::RoleNameLength {
            value: owned(),
            len,
        });
    }
    if let Some((index, ch)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || ROLE_NAME_PUNCTUATION.contains(c)))
    {
        return Err(PolicyError::RoleNameChar {
            value: owned(),
            ch,
            index,
        });
    }
    Ok(owned())
}

/// The parts of a key ARN that validation needs.
struct KmsKeyArn {
    region: String,
    account: String,
}

/// Parses `arn:aws(-[^:]+)?:kms:REGION:ACCOUNT:key/ID`, where ID is a UUID or a multi-Region
/// key ID (`mrk-` and 32 hex digits); both are 36 characters, like botocore's
/// `key/[a-zA-Z0-9-]{36}`.
fn parse_kms_key_arn(
    field: &'static str,
    value: &str,
    region: &str,
    expected_partition: &'static str,
) -> Result<KmsKeyArn, PolicyError> {
    let malformed = |problem: String| PolicyError::KmsKeyMalformed {
        field,
        value: value.to_string(),
        problem,
    };
    if value.starts_with("alias/") || value.contains(":alias/") {
        return Err(PolicyError::KmsKeyAlias {
            field,
            value: value.to_string(),
        });
    }
    if !value.starts_with("arn:") {
        return Err(PolicyError::KmsKeyNotArn {
            field,
            value: value.to_string(),
        });
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [_, partition, service, key_region, account, resource] = parts.as_slice() else {
        return Err(malformed(
            "expected six ':'-separated parts, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID".into(),
        ));
    };
    if !(*partition == "aws"
        || partition
            .strip_prefix("aws-")
            .is_some_and(|rest| !rest.is_empty()))
    {
        return Err(malformed(format!(
            "the partition {partition:?} is not aws, aws-us-gov or aws-cn"
        )));
    }
    if *service != "kms" {
        return Err(malformed(format!(
            "the service is {service:?}; a KMS key ARN has kms"
        )));
    }
    if !is_region(key_region) {
        return Err(malformed(format!(
            "the Region {key_region:?} is not a Region code such as us-east-1"
        )));
    }
    if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
        return Err(malformed(format!(
            "the account {account:?} is not 12 digits"
        )));
    }
    let Some(key_id) = resource.strip_prefix("key/") else {
        return Err(malformed(format!(
            "the resource {resource:?} is not key/KEY-ID"
        )));
    };
    if !is_key_id(key_id) {
        return Err(malformed(format!(
            "the key ID {key_id:?} is neither a UUID (1234abcd-12ab-34cd-56ef-1234567890ab) \
             nor a multi-Region key ID (mrk- and 32 hex digits)"
        )));
    }
    if *partition != expected_partition {
        return Err(PolicyError::KmsKeyPartition {
            field,
            value: value.to_string(),
            partition: partition.to_string(),
            region: region.to_string(),
            expected: expected_partition,
        });
    }
    Ok(KmsKeyArn {
        region: key_region.to_string(),
        account: account.to_string(),
    })
}

/// A UUID (8-4-4-4-12 hex digits) or `mrk-` and 32 hex digits.
fn is_key_id(id: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = id.strip_prefix("mrk-") {
        return rest.len() == 32 && hex(rest);
    }
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && hex(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_pattern_is_a_full_match() {
        for ok in [
            "us-east-1",
            "eu-central-1",
            "us-gov-west-1",
            "ap-southeast-2",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "us-east-1a",
            "us-east-12",
            "useast1",
            "u-east-1",
            "us--1",
            "us-east-",
            "us-gov-west-",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn key_ids() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("1234abcd-12ab-34cd-56ef-1234567890a"));
        assert!(!is_key_id("mrk-xyz"));
        assert!(!is_key_id("my-key"));
    }

    #[test]
    fn prefix_normalization() {
        assert_eq!(validate_prefix("").unwrap(), "");
        assert_eq!(validate_prefix("models/llama").unwrap(), "models/llama/");
        assert_eq!(validate_prefix("models/llama/").unwrap(), "models/llama/");
        assert_eq!(validate_prefix("a/(b)!_*'.c-d").unwrap(), "a/(b)!_*'.c-d/");
    }

    #[test]
    fn prefix_reports_the_offending_character() {
        assert_eq!(
            validate_prefix("models/a b"),
            Err(PolicyError::PrefixChar {
                value: "models/a b".into(),
                ch: ' ',
                index: 8
            })
        );
        assert_eq!(
            validate_prefix("modèle/"),
            Err(PolicyError::PrefixChar {
                value: "modèle/".into(),
                ch: 'è',
                index: 3
            })
        );
    }

    #[test]
    fn bucket_rules() {
        for ok in ["abc", "my.bucket-1", "1bucket", &"a".repeat(63)] {
            assert!(validate_bucket(ok).is_ok(), "{ok}");
        }
        assert!(matches!(
            validate_bucket("ab"),
            Err(PolicyError::BucketLength { len: 2, .. })
        ));
        assert!(matches!(
            validate_bucket("-abc"),
            Err(PolicyError::BucketEdge { .. })
        ));
        assert!(matches!(
            validate_bucket("abc."),
            Err(PolicyError::BucketEdge { .. })
        ));
        assert!(matches!(
            validate_bucket("a..b"),
            Err(PolicyError::BucketDoubleDot { .. })
        ));
        assert!(matches!(
            validate_bucket("192.168.5.4"),
            Err(PolicyError::BucketIpAddress { .. })
        ));
        assert!(matches!(
            validate_bucket("xn--abc"),
            Err(PolicyError::BucketReserved { affix: "xn--", .. })
        ));
        assert!(matches!(
            validate_bucket("abc-s3alias"),
            Err(PolicyError::BucketReserved {
                affix: "-s3alias",
                ..
            })
        ));
        assert_eq!(
            validate_bucket("s3://b-1/models/x/"),
            Err(PolicyError::BucketUri {
                value: "s3://b-1/models/x/".into(),
                suggestion: "--bucket b-1 --prefix models/x/".into()
            })
        );
        assert_eq!(
            validate_bucket("arn:aws:s3:::b-1/*"),
            Err(PolicyError::BucketArn {
                value: "arn:aws:s3:::b-1/*".into(),
                suggestion: "b-1".into()
            })
        );
    }

    #[test]
    fn role_name_rules() {
        assert!(validate_role_name("Cmi_Import+=,.@-Role").is_ok());
        assert!(matches!(
            validate_role_name(""),
            Err(PolicyError::RoleNameLength { len: 0, .. })
        ));
        assert!(matches!(
            validate_role_name("a/b"),
            Err(PolicyError::RoleNameChar {
                ch: '/',
                index: 1,
                ..
            })
        ));
        assert_eq!(
            validate_role_name("arn:aws:iam::111122223333:role/service-role/Imp"),
            Err(PolicyError::RoleNameArn {
                value: "arn:aws:iam::111122223333:role/service-role/Imp".into(),
                suggestion: "Imp".into()
            })
        );
    }

    #[test]
    fn partitions() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
    }

    #[test]
    fn render_orders_keys_like_iam_documentation() {
        let text = render(&json!({
            "Statement": [{ "Resource": "*", "Action": ["a:B"], "Sid": "S", "Effect": "Allow" }],
            "Version": POLICY_VERSION,
        }));
        let expected = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \
                        \"Sid\": \"S\",\n      \"Effect\": \"Allow\",\n      \"Action\": [\n        \
                        \"a:B\"\n      ],\n      \"Resource\": \"*\"\n    }\n  ]\n}\n";
        assert_eq!(text, expected);
    }
}
