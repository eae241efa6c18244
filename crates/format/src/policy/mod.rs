//! Least-privilege policies for a cross-account Custom Model Import (CMI) set-up.
//!
//! The set-up: a research account `A` owns bucket `B`, whose prefix `P` holds the Hugging Face
//! artifact. A hosting account `H` calls `CreateModelImportJob` in Region `R` with the service
//! role `N`, which Bedrock assumes to read `s3://B/P`. Optionally the objects are encrypted with
//! a customer-managed key `K1` of account `A` (SSE-KMS), and the imported model is encrypted
//! with a customer-managed key `K2` of account `H` (`importedModelKmsKeyId`).
//!
//! This module validates those inputs ([`PolicyInputs::validate`], in `inputs`) and builds the
//! documents that grant exactly that access and nothing more ([`generate`], in `documents`),
//! as typed IAM policies ([`iam`]). Every statement has a stable `Sid` (see [`sid`]), and
//! every statement (`statements`) and document has its own small pure builder, so `doctor`
//! can quote the exact statement that fixes a failed step. Like the rest of this crate it
//! does no I/O; the agent's `policy::write_all` writes the files, and nothing here calls AWS.
//!
//! # The documents, in the order to apply them
//!
//! 1. `trust-policy.json`, on role `N` in `H`: Bedrock (`bedrock.amazonaws.com`) may assume
//!    the role, only for model import jobs of `H` in `R` (`aws:SourceAccount`,
//!    `aws:SourceArn`): the confused-deputy conditions that the Amazon Bedrock User Guide page
//!    "Create a service role for importing pre-trained models" recommends.
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
//!    `H`: the role may use the key ([`hosting_key_role_statement`]) and the importer may let
//!    Bedrock use it ([`hosting_kms_key_statement`]). With `K2` the role's identity policy
//!    also allows the role's actions on `K2`.
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
//!   third-party Terraform module for a CMI service role (unverified) reports that such a
//!   condition can make imports fail opaquely; AWS documents it as the way to narrow the
//!   prefix. If an import
//!   fails with "does not have access to the S3 location" while `check --role-arn` passes,
//!   drop the `Condition` of [`sid::BUCKET_LIST`] and [`sid::ROLE_LIST`] first. Without a
//!   prefix there is no condition, and objects are `B/*`.
//! - **The role's KMS statements** are part of `role-identity-policy.json` (one policy to
//!   attach, no file that is easy to forget), and [`role_kms_statements`] returns them alone.
//! - **The hosting key** gets statements that satisfy two public documents at once: AWS's
//!   walkthrough (AWS Machine Learning blog, "How to configure cross-account model deployment
//!   using Amazon Bedrock Custom Model Import", February 2025, steps 4 and 5) grants the
//!   import role `kms:Encrypt`, `kms:Decrypt`, `kms:ReEncrypt*`, `kms:GenerateDataKey*` and
//!   `kms:DescribeKey` in both the key policy and the role's identity policy; the Amazon
//!   Bedrock User Guide page "Encryption of imported custom models" asks for
//!   `kms:CreateGrant`, `kms:DescribeKey`, `kms:GenerateDataKey` and `kms:Decrypt` for the
//!   identity that creates the imported model: `--importer-arn`, or by default the account
//!   principal `arn:aws:iam::H:root`, with `kms:ViaService = bedrock.R.amazonaws.com`; see
//!   [`hosting_kms_key_statement`]. [`statement_source`] names the document of each statement.
//! - **Key ARNs, never aliases.** An alias resolves only inside the key's own account, so a
//!   principal of another account (the role reading `A`'s objects) cannot use it; and a key
//!   policy must name the key it protects. Inputs must be `arn:...:kms:R:ACCOUNT:key/ID`.
//! - **Partition.** ARNs use the partition of the Region (`aws`, `aws-us-gov` for `us-gov-*`,
//!   `aws-cn` for `cn-*`), though CMI exists only in the [`CMI_REGIONS`] of `aws`.
//!
//! Not generated: `s3:GetObjectAttributes` (the same third-party module's claim, not in AWS's
//! documentation), the EC2 network-interface permissions a `vpcConfig` needs (Amazon Bedrock
//! User Guide, "(Optional) Protect custom model import jobs using a VPC"),
//! and, in this set, the permissions of whoever *calls* `CreateModelImportJob`: those are the
//! runner policies of `policy --runner` ([`runner_documents`], in `runner`), one per command.

mod documents;
mod error;
pub mod iam;
mod inputs;
mod key_policy;
mod runner;
mod statements;
mod trust;

pub use crate::arch::CMI_REGIONS;
pub use documents::{
    bucket_policy, generate, role_identity_policy, trust_policy, DocumentKind, PolicyDocument,
    PolicySet,
};
pub use error::PolicyError;
pub use iam::{render, POLICY_VERSION};
pub use inputs::{PolicyInputs, ValidatedInputs, ROLE_NAME_MAX_LEN, ROLE_NAME_PUNCTUATION};
pub use key_policy::missing_key_actions;
pub use runner::{runner_documents, runner_policy, runner_sid, RunnerCommand, RunnerInputs};
pub use statements::{
    bucket_list_statement, bucket_read_statement, hosting_key_role_statement,
    hosting_kms_key_statement, hosting_kms_key_statements, role_kms_statements,
    role_list_statement, role_read_statement, sid, source_kms_key_statement, statement_source,
    trust_statement, BEDROCK_SERVICE_PRINCIPAL, HOSTING_KEY_ACTIONS, HOSTING_KEY_ROLE_ACTIONS,
    S3_LIST_ACTIONS, S3_READ_ACTIONS, SOURCE_CMK, SOURCE_CROSS_ACCOUNT, SOURCE_KEY_ACTIONS,
    SOURCE_SERVICE_AUTHORIZATION, SOURCE_SERVICE_ROLE, SOURCE_WALKTHROUGH,
};
pub use trust::{
    evaluate_trust, TrustRequest, TrustVerdict, MAX_TRUST_POLICY_BYTES, REPRESENTATIVE_JOB_ID,
};
