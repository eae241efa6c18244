//! Amazon Resource Names: the partition of a Region, and building and parsing the ARNs that
//! cmi-preflight names (roles, buckets, objects, KMS keys, model import jobs). ARN formats as
//! the AWS documentation page "Identify AWS resources with Amazon Resource Names (ARNs)" and
//! the service authorization reference of each service show them.

/// The partition of the commercial Regions.
pub const AWS: &str = "aws";

/// `aws-us-gov` for `us-gov-*`, `aws-cn` for `cn-*`, else `aws`.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        AWS
    }
}

/// Whether `value` is shaped like a Region code: a full match of
/// `[a-z]{2}(-gov)?-[a-z]+-[0-9]`, such as `us-east-1` or `us-gov-west-1`.
pub fn is_region_code(value: &str) -> bool {
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

/// Whether `value` is an AWS account ID: exactly 12 ASCII digits.
pub fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// The ARN of a role at the path `/`: `arn:P:iam::ACCOUNT:role/NAME`.
pub fn role(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{name}")
}

/// The ARN of an account principal: `arn:P:iam::ACCOUNT:root`.
pub fn account_root(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:root")
}

/// The ARN of a bucket: `arn:P:s3:::BUCKET`.
pub fn bucket(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

/// The ARN of an object, or of an object pattern when `key` ends with `*`:
/// `arn:P:s3:::BUCKET/KEY`.
pub fn object(partition: &str, bucket: &str, key: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}/{key}")
}

/// The ARN pattern of every model import job of an account in a Region:
/// `arn:P:bedrock:REGION:ACCOUNT:model-import-job/*`.
pub fn import_jobs(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:bedrock:{region}:{account}:model-import-job/*")
}

/// An IAM role ARN, split into the parts `doctor` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// The account that owns the role.
    pub account: String,
    /// The role name, without its path.
    pub name: String,
}

impl RoleArn {
    /// Parses `arn:PARTITION:iam:REGION:ACCOUNT:role/PATH/NAME` (the Region is empty in
    /// practice); `None` when the service is not `iam`, the account is not 12 characters, the
    /// resource is not a role or the name is empty.
    pub fn parse(arn: &str) -> Option<RoleArn> {
        let rest = arn.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let _partition = parts.next()?;
        let service = parts.next()?;
        let _region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        let path_and_name = resource.strip_prefix("role/")?;
        let name = path_and_name.rsplit('/').next()?;
        (service == "iam" && account.len() == 12 && !name.is_empty()).then(|| RoleArn {
            account: account.to_string(),
            name: name.to_string(),
        })
    }
}

/// A KMS key ARN, `arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyArn {
    /// The partition, such as `aws`.
    pub partition: String,
    /// The Region of the key.
    pub region: String,
    /// The account that owns the key.
    pub account: String,
}

/// Why a string is not a KMS key ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsKeyArnError {
    /// An alias name or alias ARN.
    Alias,
    /// Not an ARN at all (a bare key ID, for instance).
    NotArn,
    /// An ARN, but not a well-formed key ARN; the text says what is wrong and what is
    /// expected.
    Malformed(String),
}

impl KmsKeyArn {
    /// Parses `arn:aws(-[^:]+)?:kms:REGION:ACCOUNT:key/ID`, where ID is a UUID or a
    /// multi-Region key ID (`mrk-` and 32 hex digits); both are 36 characters, like the
    /// `key/[a-zA-Z0-9-]{36}` of [`crate::cmi_api::KMS_KEY_ID`], which this narrows.
    pub fn parse(value: &str) -> Result<KmsKeyArn, KmsKeyArnError> {
        let malformed = |problem: String| KmsKeyArnError::Malformed(problem);
        if value.starts_with("alias/") || value.contains(":alias/") {
            return Err(KmsKeyArnError::Alias);
        }
        if !value.starts_with("arn:") {
            return Err(KmsKeyArnError::NotArn);
        }
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [_, partition, service, key_region, account, resource] = parts.as_slice() else {
            return Err(malformed(
                "expected six ':'-separated parts, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID".into(),
            ));
        };
        if !(*partition == AWS
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
        if !is_region_code(key_region) {
            return Err(malformed(format!(
                "the Region {key_region:?} is not a Region code such as us-east-1"
            )));
        }
        if !is_account_id(account) {
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
        Ok(KmsKeyArn {
            partition: partition.to_string(),
            region: key_region.to_string(),
            account: account.to_string(),
        })
    }
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
    use crate::cmi_api::{KMS_KEY_ID, ROLE_ARN};

    #[test]
    fn region_pattern_is_a_full_match() {
        for ok in [
            "us-east-1",
            "eu-central-1",
            "us-gov-west-1",
            "ap-southeast-2",
        ] {
            assert!(is_region_code(ok), "{ok}");
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
            assert!(!is_region_code(bad), "{bad}");
        }
    }

    #[test]
    fn partitions() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
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
    fn role_arns() {
        assert_eq!(
            RoleArn::parse("arn:aws:iam::123456789012:role/service-role/cmi"),
            Some(RoleArn {
                account: "123456789012".to_string(),
                name: "cmi".to_string()
            })
        );
        assert_eq!(RoleArn::parse("arn:aws:iam::123:role/x"), None);
        assert_eq!(RoleArn::parse("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn built_arns_satisfy_the_api_constraints() {
        for partition in [AWS, partition_of("us-gov-west-1")] {
            let role = role(partition, "111122223333", "CmiImportRole");
            assert!(ROLE_ARN.validate(&role).is_ok(), "{role}");
            assert_eq!(
                RoleArn::parse(&role).map(|r| r.name),
                Some("CmiImportRole".to_string())
            );
        }
        assert_eq!(bucket(AWS, "b"), "arn:aws:s3:::b");
        assert_eq!(object(AWS, "b", "p/*"), "arn:aws:s3:::b/p/*");
        assert_eq!(
            account_root(AWS, "111122223333"),
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(
            import_jobs(AWS, "us-east-1", "111122223333"),
            "arn:aws:bedrock:us-east-1:111122223333:model-import-job/*"
        );
    }

    #[test]
    fn every_parsed_key_arn_satisfies_the_api_constraint() {
        for arn in [
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            assert!(KmsKeyArn::parse(arn).is_ok(), "{arn}");
            assert!(KMS_KEY_ID.validate(arn).is_ok(), "{arn}");
        }
        assert_eq!(KmsKeyArn::parse("alias/models"), Err(KmsKeyArnError::Alias));
        assert_eq!(
            KmsKeyArn::parse("1234abcd-12ab-34cd-56ef-1234567890ab"),
            Err(KmsKeyArnError::NotArn)
        );
        assert!(matches!(
            KmsKeyArn::parse("arn:aws:kms:us-east-1"),
            Err(KmsKeyArnError::Malformed(_))
        ));
    }
}
