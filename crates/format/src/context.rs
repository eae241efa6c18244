//! The parsed state of an artifact that the rule groups share: config.json, the architecture,
//! the sharded index and the tensors the loader will use. [`crate::artifact::check`] builds it
//! once; the rule groups read it.

use crate::arch::Architecture;
use crate::config_json::Config;
use crate::index::{ShardIndex, Weights};
use crate::inputs::Artifact;

/// Parsed state shared by the rule groups.
pub(crate) struct Context<'a> {
    pub artifact: &'a Artifact,
    pub config: Option<Config>,
    pub architecture: Option<&'static Architecture>,
    pub index: Option<ShardIndex>,
    pub weights: Weights<'a>,
}
