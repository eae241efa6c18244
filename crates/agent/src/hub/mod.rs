//! The Hugging Face Hub: its configuration ([`config`]), its HTTP API ([`client`]) and models
//! on it as a source ([`source`], `hf://org/name[@revision]`).

pub mod client;
pub mod config;
pub mod source;

pub use client::{HubClient, HubError, HubErrorKind};
pub use config::HubConfig;
pub use source::HubSource;
