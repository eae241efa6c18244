//! Hostile and broken input (issue 12): one module per class of input, each case running the
//! real binary on temporary files or a folder built for it.

mod bounds;
mod kms;
mod memory;
mod outputs;
mod trust;
mod verdicts;
