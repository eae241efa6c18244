//! Sans-IO validation of Hugging Face model artifacts for Amazon Bedrock Custom Model Import.
//!
//! This crate decides *what* an artifact must look like and *which bytes* it needs to know:
//! the safetensors headers, config.json, the tokenizer files and the sharded index. It never
//! opens a file or a socket. The `cmi-agent` crate lists a source, fetches the bytes that
//! [`artifact::plan`] asks for, and hands them back to [`artifact::check`], which returns
//! [`Finding`]s tied to the rules of the [`rules`] catalog.
//!
//! The types that the plan, the check and the rule groups share have modules of their own
//! (the caller's inputs, the parsed context, config.json, severities), so that no two modules
//! import each other.
//!
//! The other rules as data live here too: the `CreateModelImportJob` field constraints
//! ([`cmi_api`]), ARNs ([`arn`]), S3 URIs ([`s3_uri`]) and the least-privilege IAM documents
//! of the `policy` command ([`policy`]).
//!
//! What it is not: a loader. It reads headers and small JSON documents only, never tensor data.

#![warn(missing_docs)]

pub mod arch;
pub mod arn;
pub mod artifact;
pub mod cmi_api;
pub mod config;
mod config_json;
mod context;
pub mod document;
pub mod dtype;
pub mod finding;
pub mod generation;
pub mod hub_uri;
pub mod index;
mod inputs;
pub mod layout;
pub mod lfs;
pub mod policy;
pub mod region;
pub mod rules;
pub mod s3_uri;
pub mod safetensors;
mod severity;
pub mod shapes;
pub mod signing;
pub mod tokenizer;
pub mod transfer;
mod weights;

pub use artifact::{check, plan, Artifact, Entry, Plan, Report, Summary};
pub use finding::{Finding, Severity};
pub use inputs::{CONFIG_JSON, INDEX_JSON};
pub use rules::{Rule, RuleId, RULES};
