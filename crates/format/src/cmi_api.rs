//! Constraints of the CreateModelImportJob request fields, as data, from the botocore service
//! model `botocore/data/bedrock/2023-04-20/service-2.json` (as last changed on 2026-06-09).
//! Patterns are matched against the whole value (the model leaves them unanchored; the
//! service's documentation shows them anchored).

use regex::Regex;

/// Length and pattern constraints of one string field.
#[derive(Debug)]
pub struct FieldConstraint {
    /// The field as the API names it, such as `modelDataSource.s3DataSource.s3Uri`.
    pub field: &'static str,
    /// Shortest accepted length, in characters.
    pub min: usize,
    /// Longest accepted length, in characters.
    pub max: usize,
    /// The botocore pattern, unanchored.
    pub pattern: &'static str,
}

/// `JobName`: letters, digits, `+`, `-` and `.`; no underscore.
pub const JOB_NAME: FieldConstraint = FieldConstraint {
    field: "jobName",
    min: 1,
    max: 63,
    pattern: r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*",
};

/// `ImportedModelName`: letters and digits, single `_` or `-` between them; no dot.
pub const IMPORTED_MODEL_NAME: FieldConstraint = FieldConstraint {
    field: "importedModelName",
    min: 1,
    max: 63,
    pattern: r"([0-9a-zA-Z][_-]?)+",
};

/// `RoleArn`: the execution role.
pub const ROLE_ARN: FieldConstraint = FieldConstraint {
    field: "roleArn",
    min: 0,
    max: 2048,
    pattern: r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+",
};

/// `KmsKeyId` of `importedModelKmsKeyId`: a key or alias ARN, a key id, or `alias/NAME`.
pub const KMS_KEY_ID: FieldConstraint = FieldConstraint {
    field: "importedModelKmsKeyId",
    min: 1,
    max: 2048,
    pattern: r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)))|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)",
};

/// `TagKey` of `jobTags` and `importedModelTags`.
pub const TAG_KEY: FieldConstraint = FieldConstraint {
    field: "tag key",
    min: 1,
    max: 128,
    pattern: r"[a-zA-Z0-9\s._:/=+@-]*",
};

/// `TagValue` of `jobTags` and `importedModelTags`.
pub const TAG_VALUE: FieldConstraint = FieldConstraint {
    field: "tag value",
    min: 0,
    max: 256,
    pattern: r"[a-zA-Z0-9\s._:/=+@-]*",
};

/// `IdempotencyToken` of `clientRequestToken`.
pub const CLIENT_REQUEST_TOKEN: FieldConstraint = FieldConstraint {
    field: "clientRequestToken",
    min: 1,
    max: 256,
    pattern: r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?",
};

/// `SubnetId` of `vpcConfig.subnetIds`.
pub const SUBNET_ID: FieldConstraint = FieldConstraint {
    field: "vpcConfig.subnetIds",
    min: 0,
    max: 32,
    pattern: r"[-0-9a-zA-Z]+",
};

/// `SecurityGroupId` of `vpcConfig.securityGroupIds`.
pub const SECURITY_GROUP_ID: FieldConstraint = FieldConstraint {
    field: "vpcConfig.securityGroupIds",
    min: 0,
    max: 32,
    pattern: r"[-0-9a-zA-Z]+",
};

/// Item counts of a list field.
#[derive(Debug)]
pub struct ListConstraint {
    /// The field as the API names it.
    pub field: &'static str,
    /// Fewest items.
    pub min: usize,
    /// Most items.
    pub max: usize,
}

/// `jobTags` and `importedModelTags` (`TagList`).
pub const TAG_LIST: ListConstraint = ListConstraint {
    field: "tags",
    min: 0,
    max: 200,
};

/// `vpcConfig.subnetIds`.
pub const SUBNET_IDS: ListConstraint = ListConstraint {
    field: "vpcConfig.subnetIds",
    min: 1,
    max: 16,
};

/// `vpcConfig.securityGroupIds`.
pub const SECURITY_GROUP_IDS: ListConstraint = ListConstraint {
    field: "vpcConfig.securityGroupIds",
    min: 1,
    max: 5,
};

impl ListConstraint {
    /// Checks an item count, in the service's phrasing.
    pub fn validate(&self, count: usize) -> Result<(), String> {
        if count < self.min || count > self.max {
            return Err(format!(
                "Value with {count} items at '{}' failed to satisfy constraint: Member must have length between {} and {}",
                self.field, self.min, self.max
            ));
        }
        Ok(())
    }
}

/// Every string constraint, for tests and documentation.
pub const STRING_CONSTRAINTS: &[&FieldConstraint] = &[
    &JOB_NAME,
    &IMPORTED_MODEL_NAME,
    &ROLE_ARN,
    &S3_URI,
    &KMS_KEY_ID,
    &TAG_KEY,
    &TAG_VALUE,
    &CLIENT_REQUEST_TOKEN,
    &SUBNET_ID,
    &SECURITY_GROUP_ID,
];

/// `S3Uri`: the artifact prefix of `modelDataSource.s3DataSource.s3Uri`.
pub const S3_URI: FieldConstraint = FieldConstraint {
    field: "modelDataSource.s3DataSource.s3Uri",
    min: 1,
    max: 1024,
    pattern: r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?",
};

impl FieldConstraint {
    /// The pattern anchored to match the whole value. Validation runs a handful of times per
    /// command, so the expression is compiled on use rather than cached.
    fn regex(&self) -> Regex {
        Regex::new(&format!("^(?:{})$", self.pattern))
            .unwrap_or_else(|e| panic!("the pattern of {} is invalid: {e}", self.field))
    }

    /// Checks a value; the error is phrased as the service phrases validation failures.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        let length = value.chars().count();
        if length < self.min || length > self.max {
            return Err(format!(
                "Value '{value}' at '{}' failed to satisfy constraint: Member must have length between {} and {}",
                self.field, self.min, self.max
            ));
        }
        if !self.regex().is_match(value) {
            return Err(format!(
                "Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
                self.field, self.pattern
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        for constraint in STRING_CONSTRAINTS {
            let _ = constraint.regex();
        }
    }

    #[test]
    fn request_fields_full_match() {
        let ok: &[(&FieldConstraint, &str)] = &[
            (&JOB_NAME, "llama-3.1-8b+ft.2026-11-28"),
            (&IMPORTED_MODEL_NAME, "llama_3-8b"),
            (&ROLE_ARN, "arn:aws:iam::123456789012:role/service-role/cmi"),
            (&KMS_KEY_ID, "alias/cmi-hosting"),
            (
                &KMS_KEY_ID,
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
            (&CLIENT_REQUEST_TOKEN, "a1-b2"),
            (&TAG_KEY, "team:ml/owner"),
            (&TAG_VALUE, ""),
        ];
        for (constraint, value) in ok {
            assert!(
                constraint.validate(value).is_ok(),
                "{}: {value}",
                constraint.field
            );
        }
        let bad: &[(&FieldConstraint, &str)] = &[
            (&JOB_NAME, "llama_job"),
            (&JOB_NAME, "-leading"),
            (&JOB_NAME, &"a".repeat(64)),
            (&IMPORTED_MODEL_NAME, "model.v1"),
            (&IMPORTED_MODEL_NAME, "a__b"),
            (&IMPORTED_MODEL_NAME, "_a"),
            (&ROLE_ARN, "arn:aws:iam::123456789012:user/x"),
            (&KMS_KEY_ID, "garbage alias/foo"),
            (&CLIENT_REQUEST_TOKEN, "ends-with-"),
            (&TAG_KEY, ""),
            (&TAG_VALUE, "no#hash"),
        ];
        for (constraint, value) in bad {
            let error = constraint.validate(value).unwrap_err();
            assert!(error.contains(constraint.field), "{error}");
        }
        assert!(SUBNET_IDS.validate(0).is_err());
        assert!(SECURITY_GROUP_IDS.validate(6).is_err());
        assert!(TAG_LIST.validate(200).is_ok());
    }

    #[test]
    fn s3_uri_full_match() {
        for ok in [
            "s3://bucket",
            "s3://my-bucket/models/llama-3/",
            "s3://b.c1/a/b(c)/d_e*'!",
        ] {
            assert!(S3_URI.validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "S3://bucket/x/",
            "s3://Bucket/x/",
            "s3://bucket//x/",
            "s3://bucket/my model/",
            "s3://bucket/a=b/",
            "s3://bucket/a:b/",
            "s3://bucket/x/ trailing",
            "s3://b/x/",
        ] {
            let error = S3_URI.validate(bad).unwrap_err();
            assert!(
                error.contains("modelDataSource.s3DataSource.s3Uri"),
                "{bad}: {error}"
            );
        }
    }
}
