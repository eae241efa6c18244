//! The documents of a set-up ([`generate`]): which ones the inputs call for, in the order to
//! apply them, with the file name and title of each.

use super::iam::{self, Policy, Statement};
use super::inputs::ValidatedInputs;
use super::runner::RunnerCommand;
use super::statements::{
    bucket_list_statement, bucket_read_statement, hosting_kms_key_statements, role_kms_statements,
    role_list_statement, role_read_statement, source_kms_key_statement, trust_statement,
};

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
    /// The statements for the key policy of the hosting key, in the hosting account.
    HostingKmsKeyPolicyStatement,
    /// The identity policy of whoever runs a command (see [`super::runner_documents`]).
    RunnerPolicy(RunnerCommand),
}

impl DocumentKind {
    /// The file name this document is written to.
    pub fn file_name(self) -> &'static str {
        match self {
            DocumentKind::TrustPolicy => "trust-policy.json",
            DocumentKind::RoleIdentityPolicy => "role-identity-policy.json",
            DocumentKind::BucketPolicy => "bucket-policy.json",
            DocumentKind::SourceKmsKeyPolicyStatement => "source-kms-key-policy-statement.json",
            DocumentKind::HostingKmsKeyPolicyStatement => "hosting-kms-key-policy-statement.json",
            DocumentKind::RunnerPolicy(command) => command.file_name(),
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
    pub policy: Policy,
}

impl PolicyDocument {
    /// The document as written to its file: pretty-printed with a 2-space indent, keys in
    /// the conventional IAM order (`Version` before `Statement`; `Sid`, `Effect`,
    /// `Principal`, `Action`, `Resource`, `Condition`), and a trailing newline.
    pub fn to_pretty_json(&self) -> String {
        iam::render(&self.policy)
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

    /// The statement with the given `Sid` (see [`super::sid`]) and the document that holds it.
    pub fn statement(&self, sid: &str) -> Option<(&PolicyDocument, &Statement)> {
        self.documents.iter().find_map(|doc| {
            doc.policy
                .statement
                .iter()
                .find(|s| s.sid == sid)
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
                v.role_name(),
                v.hosting_account(),
                v.region()
            ),
            policy: trust_policy(v),
        },
        PolicyDocument {
            kind: DocumentKind::RoleIdentityPolicy,
            file_name: DocumentKind::RoleIdentityPolicy.file_name(),
            title: format!(
                "Permissions policy to attach to role {} in the hosting account {}",
                v.role_name(),
                v.hosting_account()
            ),
            policy: role_identity_policy(v),
        },
        PolicyDocument {
            kind: DocumentKind::BucketPolicy,
            file_name: DocumentKind::BucketPolicy.file_name(),
            title: format!(
                "Bucket policy of {} in the bucket account {} (merge into any existing bucket \
                 policy; create the role first)",
                v.bucket(),
                v.bucket_account()
            ),
            policy: bucket_policy(v),
        },
    ];
    if let (Some(arn), Some(statement)) = (v.source_kms_key_arn(), source_kms_key_statement(v)) {
        documents.push(PolicyDocument {
            kind: DocumentKind::SourceKmsKeyPolicyStatement,
            file_name: DocumentKind::SourceKmsKeyPolicyStatement.file_name(),
            title: format!(
                "Statement to add to the key policy of {arn} in the bucket account {} (merge \
                 it; do not replace the key policy)",
                v.bucket_account()
            ),
            policy: Policy::new(vec![statement]),
        });
    }
    if let Some(arn) = v.hosting_kms_key_arn() {
        documents.push(PolicyDocument {
            kind: DocumentKind::HostingKmsKeyPolicyStatement,
            file_name: DocumentKind::HostingKmsKeyPolicyStatement.file_name(),
            title: format!(
                "Statements to add to the key policy of {arn} in the hosting account {} (merge \
                 them; do not replace the key policy)",
                v.hosting_account()
            ),
            policy: Policy::new(hosting_kms_key_statements(v)),
        });
    }
    PolicySet {
        documents,
        notes: v.notes().to_vec(),
    }
}

/// The bucket policy: the role may list the bucket and read the objects under the prefix.
pub fn bucket_policy(v: &ValidatedInputs) -> Policy {
    Policy::new(vec![bucket_list_statement(v), bucket_read_statement(v)])
}

/// The role's permissions policy: the two S3 statements and, with keys, the KMS statements of
/// [`role_kms_statements`].
pub fn role_identity_policy(v: &ValidatedInputs) -> Policy {
    let mut statements = vec![role_list_statement(v), role_read_statement(v)];
    statements.extend(role_kms_statements(v));
    Policy::new(statements)
}

/// The role's trust policy: the single statement of [`trust_statement`].
pub fn trust_policy(v: &ValidatedInputs) -> Policy {
    Policy::new(vec![trust_statement(v)])
}
