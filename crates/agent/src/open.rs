//! Opening a source from what the user typed: a local folder, `s3://bucket/prefix/` or
//! `hf://org/name[@revision]`.

use std::ops::Range;
use std::sync::Arc;

use cmi_format::Finding;
use tokio::sync::Semaphore;

use crate::aws::{self, AwsOptions};
use crate::hash::{FileDigest, HashError, HashOptions, Progress};
use crate::hub::{HubClient, HubConfig, HubSource};
use crate::local::LocalSource;
use crate::s3::{S3Source, S3Uri};
use crate::source::{Listing, Provenance, ReadError, Source, SourceError, StoredChecksum};

/// Any kind of source, chosen at run time.
#[derive(Debug)]
pub enum AnySource {
    /// A local folder.
    Local(LocalSource),
    /// An S3 prefix.
    S3(S3Source),
    /// A model on the Hugging Face Hub.
    Hub(HubSource),
}

/// How to open a source.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// AWS settings, for S3.
    pub aws: AwsOptions,
    /// Region of the import job, compared with the bucket's (S3).
    pub bedrock_region: Option<String>,
    /// Refuse local symbolic links that leave the folder (manifests).
    pub confined: bool,
    /// The Hub's configuration, for `hf://`; `None` resolves it from the environment
    /// ([`HubConfig::from_env`]).
    pub hub: Option<HubConfig>,
}

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A malformed S3 URI.
    #[error(transparent)]
    Uri(#[from] crate::s3::S3UriError),
    /// The AWS configuration could not be loaded, or the role not assumed.
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
    /// The local folder is missing or not a folder.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A malformed `hf://` URI.
    #[error(transparent)]
    HubUri(#[from] cmi_format::hub_uri::HubUriError),
    /// The Hub client could not be set up (an `HF_ENDPOINT` that is not a URL).
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
}

/// Whether a source names S3 (any case of the scheme, so that `S3://` reaches the parser and
/// its explanation rather than "does not exist").
pub fn is_s3(source: &str) -> bool {
    source
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("s3://"))
}

/// Opens `source`; for S3 this loads the AWS configuration and assumes the role, if any; for
/// the Hub nothing is requested before the listing.
pub async fn open(source: &str, options: &OpenOptions) -> Result<AnySource, OpenError> {
    if cmi_format::hub_uri::is_hub(source) {
        let uri: cmi_format::hub_uri::HubUri = source.parse()?;
        let config = options.hub.clone().unwrap_or_else(HubConfig::from_env);
        Ok(AnySource::Hub(HubSource::new(HubClient::new(config)?, uri)))
    } else if is_s3(source) {
        let uri: S3Uri = source.parse()?;
        let config = aws::load(&options.aws).await?;
        let reader = options
            .aws
            .role_arn
            .clone()
            .unwrap_or_else(|| "the current credentials".to_string());
        Ok(AnySource::S3(
            S3Source::new(&config, uri, reader).with_bedrock_region(options.bedrock_region.clone()),
        ))
    } else {
        let local = LocalSource::open(source)?;
        Ok(AnySource::Local(if options.confined {
            local.confined()
        } else {
            local
        }))
    }
}

impl Source for AnySource {
    fn describe(&self) -> String {
        match self {
            AnySource::Local(s) => s.describe(),
            AnySource::S3(s) => s.describe(),
            AnySource::Hub(s) => s.describe(),
        }
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        match self {
            AnySource::Local(s) => s.list().await,
            AnySource::S3(s) => s.list().await,
            AnySource::Hub(s) => s.list().await,
        }
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        match self {
            AnySource::Local(s) => s.read_range(path, range).await,
            AnySource::S3(s) => s.read_range(path, range).await,
            AnySource::Hub(s) => s.read_range(path, range).await,
        }
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        match self {
            AnySource::Local(s) => s.hash_file(path, size, options, budget, progress).await,
            AnySource::S3(s) => s.hash_file(path, size, options, budget, progress).await,
            AnySource::Hub(s) => s.hash_file(path, size, options, budget, progress).await,
        }
    }

    async fn stored_checksum(&self, path: &str) -> Result<Option<StoredChecksum>, ReadError> {
        match self {
            AnySource::Local(s) => s.stored_checksum(path).await,
            AnySource::S3(s) => s.stored_checksum(path).await,
            AnySource::Hub(s) => s.stored_checksum(path).await,
        }
    }

    fn provenance(&self) -> Option<Provenance> {
        match self {
            AnySource::Local(s) => s.provenance(),
            AnySource::S3(s) => s.provenance(),
            AnySource::Hub(s) => s.provenance(),
        }
    }

    async fn findings(&self) -> Vec<Finding> {
        match self {
            AnySource::Local(s) => s.findings().await,
            AnySource::S3(s) => s.findings().await,
            AnySource::Hub(s) => s.findings().await,
        }
    }
}
