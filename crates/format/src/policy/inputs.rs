//! The inputs of the `policy` command: what the user gave ([`PolicyInputs`]), checked and
//! normalized once ([`ValidatedInputs`]), with the ARNs and URIs every builder derives from
//! them.

use super::error::PolicyError;
use super::statements::HOSTING_KEY_ACTIONS;
use crate::arch::CMI_REGIONS;
use crate::arn::{self, KmsKeyArn};
use crate::s3_uri::{self, S3Uri, S3_URI_MAX_LEN};

/// The longest IAM role name.
pub const ROLE_NAME_MAX_LEN: usize = 64;

/// The characters besides ASCII letters and digits that an IAM role name may hold (the class
/// `[\w+=,.@-]` of IAM's `roleNameType`).
pub const ROLE_NAME_PUNCTUATION: &[char] = &['_', '+', '=', ',', '.', '@', '-'];

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
    /// The ARN of the IAM user or role that calls `CreateModelImportJob`, in the hosting
    /// account; `None` to delegate to the hosting account (`arn:aws:iam::H:root`).
    pub importer_arn: Option<String>,
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
    importer_arn: Option<String>,
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
        let uri = S3Uri {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
        }
        .to_string();
        let uri_len = uri.chars().count();
        if uri_len > S3_URI_MAX_LEN {
            return Err(PolicyError::S3UriTooLong { uri, len: uri_len });
        }
        let region = validate_region(&self.region)?;
        let partition = arn::partition_of(&region);
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
                let key = kms_key("--source-kms-key-arn", arn, &region, partition)?;
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

        let importer_arn = self
            .importer_arn
            .as_deref()
            .map(|value| validate_importer_arn(value, partition, &hosting_account))
            .transpose()?;

        let hosting_kms_key_arn = match self.hosting_kms_key_arn.as_deref() {
            Some(arn) => {
                let key = kms_key("--hosting-kms-key-arn", arn, &region, partition)?;
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
                if importer_arn.is_none() {
                    notes.push(format!(
                        "whoever calls CreateModelImportJob in {hosting_account} also needs \
                         {} on {arn} in its own IAM policy: without --importer-arn the key \
                         policy statement delegates to the account's IAM policies",
                        HOSTING_KEY_ACTIONS.join(", ")
                    ));
                }
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
            importer_arn,
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

    /// The principal of the hosting key statement for the identity that calls
    /// `CreateModelImportJob`: `--importer-arn`, or the hosting account's `arn:aws:iam::H:root`.
    pub fn importer_arn(&self) -> String {
        self.importer_arn
            .clone()
            .unwrap_or_else(|| self.hosting_account_root_arn())
    }

    /// Warnings about legal but doubtful inputs, one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The role's ARN, `arn:aws:iam::H:role/N` (a role at the path `/`).
    pub fn role_arn(&self) -> String {
        arn::role(self.partition, &self.hosting_account, &self.role_name)
    }

    /// The bucket's ARN, `arn:aws:s3:::B`.
    pub fn bucket_arn(&self) -> String {
        arn::bucket(self.partition, &self.bucket)
    }

    /// The ARN of the objects the role may read: `arn:aws:s3:::B/P*`, or `arn:aws:s3:::B/*`.
    pub fn objects_arn(&self) -> String {
        arn::object(self.partition, &self.bucket, &format!("{}*", self.prefix))
    }

    /// The `modelDataSource` URI for `CreateModelImportJob`: `s3://B/P`.
    pub fn s3_uri(&self) -> String {
        S3Uri {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
        }
        .to_string()
    }

    /// The ARN pattern of this account's import jobs in this Region:
    /// `arn:aws:bedrock:R:H:model-import-job/*`.
    pub fn import_job_arn_pattern(&self) -> String {
        arn::import_jobs(self.partition, &self.region, &self.hosting_account)
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

    /// The ARN of the hosting account's principal, `arn:aws:iam::H:root`.
    pub fn hosting_account_root_arn(&self) -> String {
        arn::account_root(self.partition, &self.hosting_account)
    }
}

fn validate_account(field: &'static str, value: &str) -> Result<String, PolicyError> {
    if arn::is_account_id(value) {
        Ok(value.to_string())
    } else {
        Err(PolicyError::Account {
            field,
            value: value.to_string(),
        })
    }
}

/// Checks `--bucket`: a bucket name, not an ARN or a URI (which get errors that show the
/// flags to give instead), that S3 allows.
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
    if s3_uri::has_s3_scheme(value) {
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
    s3_uri::validate_bucket_name(value).map_err(|problem| PolicyError::bucket(value, problem))?;
    Ok(owned())
}

/// Checks `--prefix` and returns it normalized: empty, or ending with `/`.
fn validate_prefix(value: &str) -> Result<String, PolicyError> {
    if s3_uri::has_s3_scheme(value) {
        return Err(PolicyError::PrefixUri {
            value: value.to_string(),
        });
    }
    s3_uri::normalize_prefix(value).map_err(|problem| PolicyError::prefix(value, problem))
}

fn validate_region(value: &str) -> Result<String, PolicyError> {
    if arn::is_region_code(value) {
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

/// Checks `--importer-arn`: `arn:PARTITION:iam::ACCOUNT:root`, `...:user/PATH/NAME` or
/// `...:role/PATH/NAME`, in the Region's partition and the hosting account. A key policy
/// principal cannot hold a wildcard, so none is accepted.
fn validate_importer_arn(
    value: &str,
    partition: &str,
    hosting_account: &str,
) -> Result<String, PolicyError> {
    let malformed = |problem: &str| PolicyError::ImporterArn {
        value: value.to_string(),
        problem: problem.to_string(),
    };
    let rest = value
        .strip_prefix("arn:")
        .ok_or_else(|| malformed("it does not start with arn:"))?;
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [found_partition, service, region, account, resource] = parts[..] else {
        return Err(malformed(
            "it does not have the six parts arn:PARTITION:iam::ACCOUNT:RESOURCE",
        ));
    };
    if service != "iam" {
        return Err(malformed(&format!("its service is {service:?}, not iam")));
    }
    if !region.is_empty() {
        return Err(malformed("an IAM ARN has no Region"));
    }
    if !arn::is_account_id(account) {
        return Err(malformed(&format!(
            "{account:?} is not a 12-digit account ID"
        )));
    }
    if resource != "root" {
        let path_and_name = resource
            .strip_prefix("role/")
            .or_else(|| resource.strip_prefix("user/"))
            .ok_or_else(|| malformed("its resource is not root, role/NAME or user/NAME"))?;
        let name = path_and_name.rsplit('/').next().unwrap_or("");
        if name.is_empty() || name.chars().count() > ROLE_NAME_MAX_LEN {
            return Err(malformed("the name is empty or longer than 64 characters"));
        }
        if let Some(ch) = path_and_name.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || *c == '/' || ROLE_NAME_PUNCTUATION.contains(c))
        }) {
            return Err(malformed(&format!(
                "character {ch:?} is not allowed in an IAM user or role name or path"
            )));
        }
    }
    if found_partition != partition || account != hosting_account {
        return Err(PolicyError::ImporterAccount {
            value: value.to_string(),
            found: format!("in account {account} (partition {found_partition})"),
            expected: format!("{hosting_account} (partition {partition})"),
        });
    }
    Ok(value.to_string())
}

/// Parses the key ARN of the flag `field` and checks that it is in the Region's partition.
fn kms_key(
    field: &'static str,
    value: &str,
    region: &str,
    expected_partition: &'static str,
) -> Result<KmsKeyArn, PolicyError> {
    let key =
        KmsKeyArn::parse(value).map_err(|problem| PolicyError::kms_key(field, value, problem))?;
    if key.partition != expected_partition {
        return Err(PolicyError::KmsKeyPartition {
            field,
            value: value.to_string(),
            partition: key.partition,
            region: region.to_string(),
            expected: expected_partition,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_reports_the_offending_character() {
        assert_eq!(validate_prefix("models/llama").unwrap(), "models/llama/");
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
        assert!(matches!(
            validate_bucket("ab"),
            Err(PolicyError::BucketLength { len: 2, .. })
        ));
        assert!(matches!(
            validate_bucket("a..b"),
            Err(PolicyError::BucketDoubleDot { .. })
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
}
