//! Tests of the Hugging Face Hub as a source: one binary, one module per part. They run
//! against the testkit's Hub emulator over loopback.

mod cache;
mod emulator;
mod finish;
mod push;
mod source;
