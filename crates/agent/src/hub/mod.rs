//! The Hugging Face Hub as a source.

pub mod cache;
