//! Everything in cmi-preflight that touches a file or the network.
//!
//! Sources ([`source::Source`]: a local folder, an S3 prefix read as the execution role, or a
//! model on the Hugging Face Hub) list an artifact and read byte
//! ranges; [`check::check`] asks `cmi-format` which bytes it needs, fetches them concurrently,
//! and hands them back for validation. The format crate decides *what* to read; this crate
//! decides *how*.

#![warn(missing_docs)]

pub mod allocator;
pub mod aws;
pub mod backoff;
pub mod bedrock;
pub mod certificate;
pub mod check;
pub mod doctor;
pub mod files;
pub mod hash;
pub mod hub;
pub mod import;
pub mod jobs;
pub mod local;
pub mod manifest;
pub mod open;
pub mod policy;
pub mod push;
pub mod s3;
pub mod signing;
pub mod source;
pub mod verify;
pub mod watch;

pub use check::{check, CheckOptions};
pub use local::LocalSource;
pub use open::{open, AnySource, OpenOptions};
pub use s3::{S3Source, S3Uri};
pub use source::{Listing, ObjectMeta, ReadError, Source, SourceError};
