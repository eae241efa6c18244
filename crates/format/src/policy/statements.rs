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

/// The KMS actions needed on the key that encrypts the imported model by the identity that calls
/// `CreateModelImportJob`: Bedrock creates a grant, checks that the key is symmetric, and
/// encrypts and decrypts with it (Amazon Bedrock User Guide, "Encryption of imported custom
/// models", which asks for them for the roles that create and use imported models).
pub const HOSTING_KEY_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:DescribeKey",
    "kms:GenerateDataKey",
    "kms:Decrypt",
];

/// The KMS actions the import role needs on the key that encrypts the imported model, in both
/// the key policy and the role's identity policy (AWS Machine Learning blog, "How to configure
/// cross-account model deployment using Amazon Bedrock Custom Model Import", February 2025,
/// steps 4 and 5).
pub const HOSTING_KEY_ROLE_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

/// The public document a statement of the blog walkthrough comes from.
pub const SOURCE_WALKTHROUGH: &str = "AWS Machine Learning blog, \"How to configure cross-account \
     model deployment using Amazon Bedrock Custom Model Import\" (February 2025), steps 4 and 5";

/// The public document the hosting key statement for the importer comes from.
pub const SOURCE_CMK: &str = "Amazon Bedrock User Guide, \"Encryption of imported custom models\" \
     (customer managed keys for imported models)";

/// The public document the trust statement and the role's S3 statements come from.
pub const SOURCE_SERVICE_ROLE: &str =
    "Amazon Bedrock User Guide, \"Create a service role for importing pre-trained models\"";

/// The public document the bucket policy and the source key statements come from.
pub const SOURCE_CROSS_ACCOUNT: &str = "Amazon Bedrock User Guide, \"Cross-account access to \
     Amazon S3 bucket for custom model import jobs\"";

/// The public document the runner statements (`policy --runner`) come from: the action names,
/// resource ARN formats and condition keys of each service.
pub const SOURCE_SERVICE_AUTHORIZATION: &str = "Service Authorization Reference, \"Actions, \
     resources, and condition keys\" for Amazon S3, AWS KMS, Amazon Bedrock, Amazon SQS, IAM \
     and AWS STS";

/// The public document a generated statement comes from, by its `Sid` (see [`sid`] and
/// [`super::runner_sid`]); `None` for a `Sid` this module does not generate.
pub fn statement_source(statement_sid: &str) -> Option<&'static str> {
    Some(match statement_sid {
        sid::TRUST | sid::ROLE_LIST | sid::ROLE_READ => SOURCE_SERVICE_ROLE,
        sid::BUCKET_LIST | sid::BUCKET_READ | sid::ROLE_DECRYPT | sid::SOURCE_KEY => {
            SOURCE_CROSS_ACCOUNT
        }
        sid::HOSTING_KEY_ROLE | sid::ROLE_HOSTING_KEY => SOURCE_WALKTHROUGH,
        sid::HOSTING_KEY => SOURCE_CMK,
        runner if runner.starts_with("CmiRunner") => SOURCE_SERVICE_AUTHORIZATION,
        _ => return None,
    })
}

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
    /// Role identity policy: use the hosting key that encrypts the imported model.
    pub const ROLE_HOSTING_KEY: &str = "CmiRoleUseImportedModelKey";
    /// Hosting key policy: the importer (by default the hosting account, delegating to its
    /// IAM policies) may use the key through Bedrock.
    pub const HOSTING_KEY: &str = "CmiBedrockEncryptImportedModel";
    /// Hosting key policy: the import role may use the key.
    pub const HOSTING_KEY_ROLE: &str = "CmiImportRoleUseImportedModelKey";
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
/// and `kms:DescribeKey` on it; with a hosting key, [`sid::ROLE_HOSTING_KEY`] allows the
/// [`HOSTING_KEY_ROLE_ACTIONS`] on it; without keys, none. They are also part of
/// [`super::role_identity_policy`]; this returns them alone, for `doctor`. There is no
/// `kms:ViaService` condition, because whether Bedrock calls `DescribeKey` directly or only
/// through S3 is not documented.
pub fn role_kms_statements(v: &ValidatedInputs) -> Vec<Statement> {
    let mut statements = Vec::new();
    if let Some(arn) = v.source_kms_key_arn() {
        statements.push(allow(
            sid::ROLE_DECRYPT,
            None,
            SOURCE_KEY_ACTIONS,
            Some(arn.to_string()),
        ));
    }
    if let Some(arn) = v.hosting_kms_key_arn() {
        statements.push(allow(
            sid::ROLE_HOSTING_KEY,
            None,
            HOSTING_KEY_ROLE_ACTIONS,
            Some(arn.to_string()),
        ));
    }
    statements
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

/// The statements for the key policy of the hosting key, with one: the import role's
/// ([`hosting_key_role_statement`]) and the importer's ([`hosting_kms_key_statement`]).
pub fn hosting_kms_key_statements(v: &ValidatedInputs) -> Vec<Statement> {
    [hosting_key_role_statement(v), hosting_kms_key_statement(v)]
        .into_iter()
        .flatten()
        .collect()
}

/// Hosting key policy statement [`sid::HOSTING_KEY_ROLE`], with a hosting key: the import role
/// may use the [`HOSTING_KEY_ROLE_ACTIONS`], as in AWS's walkthrough (AWS Machine Learning blog,
/// "How to configure cross-account model deployment using Amazon Bedrock Custom Model Import",
/// February 2025, step 4; step 5 puts the same actions in the role's identity policy, see
/// [`role_kms_statements`]).
pub fn hosting_key_role_statement(v: &ValidatedInputs) -> Option<Statement> {
    v.hosting_kms_key_arn()?;
    Some(allow(
        sid::HOSTING_KEY_ROLE,
        Some(Principal::Aws(v.role_arn())),
        HOSTING_KEY_ROLE_ACTIONS,
        Some("*".to_string()),
    ))
}

/// Hosting key policy statement [`sid::HOSTING_KEY`], with a hosting key: the importer (the
/// identity that calls `CreateModelImportJob`, `--importer-arn`; by default the account
/// principal `arn:aws:iam::H:root`) may `kms:CreateGrant`, `kms:DescribeKey`,
/// `kms:GenerateDataKey` and `kms:Decrypt`, only through Bedrock in the Region
/// (`kms:ViaService = bedrock.R.amazonaws.com`).
///
/// Why the account by default: Bedrock uses the key on behalf of whoever calls
/// `CreateModelImportJob` (a person, a pipeline role) and creates grants for the import and
/// for inference (Amazon Bedrock User Guide, "Encryption of imported custom models"); without
/// `--importer-arn` that caller is not known and may change. The account principal delegates
/// to the account's IAM policies, so the caller needs these four actions on the key in its own
/// policy too, and `kms:ViaService` keeps the grant from being usable outside Bedrock. The
/// actions are inferred from that page, which does not show the exact statement.
pub fn hosting_kms_key_statement(v: &ValidatedInputs) -> Option<Statement> {
    v.hosting_kms_key_arn()?;
    let mut statement = allow(
        sid::HOSTING_KEY,
        Some(Principal::Aws(v.importer_arn())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyInputs;

    fn inputs(importer: Option<&str>) -> ValidatedInputs {
        PolicyInputs {
            bucket: "models".into(),
            bucket_account: "111122223333".into(),
            hosting_account: "444455556666".into(),
            region: "us-west-2".into(),
            role_name: "Imp".into(),
            hosting_kms_key_arn: Some(
                "arn:aws:kms:us-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            ),
            importer_arn: importer.map(str::to_string),
            ..PolicyInputs::default()
        }
        .validate()
        .expect("valid inputs")
    }

    fn principal(statement: &Statement) -> Option<&str> {
        match &statement.principal {
            Some(Principal::Aws(arn)) => Some(arn),
            _ => None,
        }
    }

    #[test]
    fn hosting_key_has_the_role_and_the_importer_statements() {
        let v = inputs(None);
        let statements = hosting_kms_key_statements(&v);
        let sids: Vec<&str> = statements.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(sids, [sid::HOSTING_KEY_ROLE, sid::HOSTING_KEY]);
        assert_eq!(
            principal(&statements[0]),
            Some("arn:aws:iam::444455556666:role/Imp")
        );
        assert_eq!(
            statements[0].action,
            OneOrMany::many(HOSTING_KEY_ROLE_ACTIONS)
        );
        assert_eq!(
            principal(&statements[1]),
            Some("arn:aws:iam::444455556666:root")
        );
        assert_eq!(statements[1].action, OneOrMany::many(HOSTING_KEY_ACTIONS));
        let importer = "arn:aws:iam::444455556666:user/ci";
        let with_importer = hosting_kms_key_statements(&inputs(Some(importer)));
        assert_eq!(principal(&with_importer[1]), Some(importer));
        assert_eq!(with_importer[1].condition, statements[1].condition);
        let role = role_kms_statements(&v);
        assert_eq!(role.len(), 1);
        assert_eq!(role[0].sid, sid::ROLE_HOSTING_KEY);
        assert_eq!(role[0].action, OneOrMany::many(HOSTING_KEY_ROLE_ACTIONS));
        assert_eq!(role[0].resource.as_deref(), v.hosting_kms_key_arn());
    }

    #[test]
    fn every_sid_has_a_source() {
        for s in [
            sid::BUCKET_LIST,
            sid::BUCKET_READ,
            sid::ROLE_LIST,
            sid::ROLE_READ,
            sid::ROLE_DECRYPT,
            sid::ROLE_HOSTING_KEY,
            sid::TRUST,
            sid::SOURCE_KEY,
            sid::HOSTING_KEY,
            sid::HOSTING_KEY_ROLE,
        ] {
            assert!(statement_source(s).is_some(), "{s}");
        }
        assert_eq!(statement_source("Other"), None);
    }
}
