//! Test support for cmi-preflight.
//!
//! [`fixtures`] generates tiny Hugging Face model folders of every architecture whose shapes
//! are checked, as transformers' `save_pretrained` writes them, and one broken variant for each
//! rule of the catalog. The committed copy lives in the workspace's `testdata/`; regenerate it
//! with `cargo run -p cmi-testkit --bin gen-fixtures`.
//!
//! What it is not: a dependency of the shipped binary. Nothing here runs outside tests and the
//! generator.

#![warn(missing_docs)]

pub mod bedrock;
#[cfg(feature = "bench-s3")]
pub mod fast_s3;
pub mod fixtures;
pub mod hub;
pub mod moto;
pub mod proxy;
pub mod s3;
pub mod sqs;
