//! Tests of the Hugging Face Hub as a source: one binary, one module per part.

mod cache;
