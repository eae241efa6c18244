//! Tests of `push`: one binary, one module per part. The S3 tests run against moto over
//! loopback, with the testkit's proxy between the SDK and moto to count bytes, log checksum
//! headers and inject faults.

#[path = "../support/documents.rs"]
mod documents;

mod copy;
mod engine;
mod gate;
mod lifecycle;
mod s3digest;
mod security;
mod select;
mod stream;
