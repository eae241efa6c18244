//! The watch daemon: it watches an S3 prefix whose child prefixes are model artifacts, waits
//! until each is ready (a marker object, or a listing that has settled), then checks it, writes
//! its manifest and report and, when asked, imports it, following the job to its end.
//!
//! [`scan`] is the pure logic of a scan (grouping a listing into artifacts, fingerprints,
//! readiness); [`state`] is the durable per-artifact state machine in the state directory, so
//! that a restarted daemon resumes where it stopped and never imports an artifact twice.

pub mod daemon;
pub mod health;
pub mod queue;
pub mod scan;
pub mod state;
