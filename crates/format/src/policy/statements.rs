//! The statements of the generated documents, one small pure builder each, so that `doctor`
//! can quote the exact statement that fixes a failed step. Every statement has a stable `Sid`
//! (see [`sid`]).

use super::iam::{Condition, Effect, OneOrMany, Principal, Statement};
use super::inputs::ValidatedInputs;

/// The service principal Bedrock uses to assume the import role (Amazon Bedrock User Guide,
/// "Create a service role for importing pre-trained models").
pub const BEDROCK_SERVICE_PRINCIPAL: &str = "bedrock.amazonaws.com";

/// The S3 actions the import role needs on the bucket (Amazon Bedrock User Guide, "Create a
/// service role for importing pre-trained models").
pub const S3_LIST_ACTIONS: &[&str] = &["s3:ListBucket"];

/// The S3 actions the import role needs on the objects (Amazon Bedrock User Guide, "Create a
/// service role for importing pre-trained models").
pub const S3_READ_ACTIONS: &[&str] = &["s3:GetObject"];

/// The KMS actions the import role needs on the key that encrypts the objects (Amazon Bedrock
/// User Guide, "Cross-account access to Amazon S3 bucket for custom model import jobs").
pub const SOURCE_KEY_ACTIONS: &[&str] = &["kms:Decrypt", "kms:DescribeKey"];

/// The KMS actions needed on the key that encrypts the imported model: Bedrock creates a grant,
/// checks that the key is symmetric, and encrypts and decrypts with it (Amazon Bedrock User
/// Guide, "Encryption of imported custom models").
pub const HOSTING_KEY_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:DescribeKey",
    "kms:GenerateDataKey",
    "kms:Decrypt",
];

/// The stable `Sid` of every generated statement. `doctor` and users refer to statements by
/// these; they are unique across the whole [`super::PolicySet`].
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

/// An `Allow` statement without conditions.
fn allow(
    sid: &str,
    principal: Option<Principal>,
    actions: &[&str],
    resource: Option<String>,
) -> Statement {
    Statement {
        sid: sid.to_string(),
        effect: Effect::Allow,
        principal,
        action: OneOrMany::many(actions),
        resource,
        condition: Condition::new(),
    }
}

/// Adds the condition `operator: {key: values}` to `condition`.
fn add(condition: &mut Condition, operator: &str, key: &str, values: OneOrMany) {
    condition
        .entry(operator.to_string())
        .or_default()
        .insert(key.to_string(), values);
}

/// `StringLike s3:prefix = ["P", "P*"]` when the inputs have a prefix.
fn add_list_prefix(condition: &mut Condition, v: &ValidatedInputs) {
    if let Some(values) = v.list_prefix_values() {
        add(
            condition,
            "StringLike",
            "s3:prefix",
            OneOrMany::Many(values.to_vec()),
        );
    }
}

/// `StringEquals aws:ResourceAccount = A`: only resources of the bucket account.
fn resource_account(v: &ValidatedInputs) -> Condition {
    let mut condition = Condition::new();
    add(
        &mut condition,
        "StringEquals",
        "aws:ResourceAccount",
        OneOrMany::One(v.bucket_account().to_string()),
    );
    condition
}

/// Bucket policy statement [`sid::BUCKET_LIST`]: the role may `s3:ListBucket` the bucket,
/// limited to the prefix with `StringLike s3:prefix = ["P", "P*"]` when there is one.
pub fn bucket_list_statement(v: &ValidatedInputs) -> Statement {
    let mut statement = allow(
        sid::BUCKET_LIST,
        Some(Principal::Aws(v.role_arn())),
        S3_LIST_ACTIONS,
        Some(v.bucket_arn()),
    );
    add_list_prefix(&mut statement.condition, v);
    statement
}

/// Bucket policy statement [`sid::BUCKET_READ`]: the role may `s3:GetObject` under the prefix.
pub fn bucket_read_statement(v: &ValidatedInputs) -> Statement {
    allow(
        sid::BUCKET_READ,
        Some(Principal::Aws(v.role_arn())),
        S3_READ_ACTIONS,
        Some(v.objects_arn()),
    )
}

/// Role statement [`sid::ROLE_LIST`]: `s3:ListBucket` on the bucket, only in the bucket
/// account (`aws:ResourceAccount`), limited to the prefix like [`bucket_list_statement`].
pub fn role_list_statement(v: &ValidatedInputs) -> Statement {
    let mut statement = allow(sid::ROLE_LIST, None, S3_LIST_ACTIONS, Some(v.bucket_arn()));
    statement.condition = resource_account(v);
    add_list_prefix(&mut statement.condition, v);
    statement
}

/// Role statement [`sid::ROLE_READ`]: `s3:GetObject` under the prefix, only in the bucket
/// account (`aws:ResourceAccount`).
pub fn role_read_statement(v: &ValidatedInputs) -> Statement {
    let mut statement = allow(sid::ROLE_READ, None, S3_READ_ACTIONS, Some(v.objects_arn()));
    statement.condition = resource_account(v);
    statement
}

/// The role's KMS statements: with a source key, [`sid::ROLE_DECRYPT`] allows `kms:Decrypt`
/// and `kms:DescribeKey` on it; without one, none. They are also part of
/// [`super::role_identity_policy`]; this returns them alone, for `doctor`. There is no
/// `kms:ViaService` condition, because whether Bedrock calls `DescribeKey` directly or only
/// through S3 is not documented.
pub fn role_kms_statements(v: &ValidatedInputs) -> Vec<Statement> {
    match v.source_kms_key_arn() {
        Some(arn) => vec![allow(
            sid::ROLE_DECRYPT,
            None,
            SOURCE_KEY_ACTIONS,
            Some(arn.to_string()),
        )],
        None => Vec::new(),
    }
}

/// Trust statement [`sid::TRUST`]: `bedrock.amazonaws.com` may `sts:AssumeRole`, only on
/// behalf of the hosting account (`aws:SourceAccount`) and its model import jobs in the
/// Region (`aws:SourceArn`), which keeps other accounts' jobs from using the role.
pub fn trust_statement(v: &ValidatedInputs) -> Statement {
    let mut statement = allow(
        sid::TRUST,
        Some(Principal::Service(BEDROCK_SERVICE_PRINCIPAL.to_string())),
        &["sts:AssumeRole"],
        None,
    );
    add(
        &mut statement.condition,
        "StringEquals",
        "aws:SourceAccount",
        OneOrMany::One(v.hosting_account().to_string()),
    );
    add(
        &mut statement.condition,
        "ArnEquals",
        "aws:SourceArn",
        OneOrMany::One(v.import_job_arn_pattern()),
    );
    statement
}

/// Source key policy statement [`sid::SOURCE_KEY`], with a source key: the role may
/// `kms:Decrypt` and `kms:DescribeKey`. `Resource` is `"*"`, which in a key policy means
/// the key itself.
pub fn source_kms_key_statement(v: &ValidatedInputs) -> Option<Statement> {
    v.source_kms_key_arn()?;
    Some(allow(
        sid::SOURCE_KEY,
        Some(Principal::Aws(v.role_arn())),
        SOURCE_KEY_ACTIONS,
        Some("*".to_string()),
    ))
}

/// Hosting key policy statement [`sid::HOSTING_KEY`], with a hosting key: the account
/// principal `arn:aws:iam::H:root` may `kms:CreateGrant`, `kms:DescribeKey`,
/// `kms:GenerateDataKey` and `kms:Decrypt`, only through Bedrock in the Region
/// (`kms:ViaService = bedrock.R.amazonaws.com`).
///
/// Why the account and not a role: Bedrock uses the key on behalf of whoever calls
/// `CreateModelImportJob` (a person, a pipeline role) and creates grants for the import and
/// for inference (Amazon Bedrock User Guide, "Encryption of imported custom models"); that
/// caller is not known here and may change. The account principal delegates to the account's
/// IAM policies, so the caller needs these four actions on the key in its own policy too, and
/// `kms:ViaService` keeps the grant from being usable outside Bedrock. The actions are
/// inferred from that page, which does not show the exact statement.
pub fn hosting_kms_key_statement(v: &ValidatedInputs) -> Option<Statement> {
    v.hosting_kms_key_arn()?;
    let mut statement = allow(
        sid::HOSTING_KEY,
        Some(Principal::Aws(v.hosting_account_root_arn())),
        HOSTING_KEY_ACTIONS,
        Some("*".to_string()),
    );
    add(
        &mut statement.condition,
        "StringEquals",
        "kms:ViaService",
        OneOrMany::One(format!("bedrock.{}.amazonaws.com", v.region())),
    );
    Some(statement)
}
