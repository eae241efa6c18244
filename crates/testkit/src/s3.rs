//! Putting test data into S3 (moto): buckets, local folders, fixtures from memory.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::fixtures::{Content, Fixture};

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// Reading the local file or folder failed.
    Io {
        /// The local path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// S3 refused an object.
    Sdk {
        /// The object key.
        key: String,
        /// The SDK's error.
        error: Box<SdkError<PutObjectError>>,
    },
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            UploadError::Sdk { key, error } => {
                let status = error.raw_response().map(|r| r.status().as_u16());
                write!(
                    f,
                    "PutObject {key}: {} (HTTP {}): {}",
                    error.code().unwrap_or("no error code"),
                    status.map_or("-".to_string(), |s| s.to_string()),
                    error.message().unwrap_or(&error.to_string())
                )
            }
        }
    }
}

impl std::error::Error for UploadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UploadError::Io { error, .. } => Some(error),
            UploadError::Sdk { error, .. } => Some(error.as_ref()),
        }
    }
}

/// What [`upload_fixture`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureUpload {
    /// The keys written, in the fixture's file order.
    pub keys: Vec<String>,
    /// The fixture files not uploaded, with why: symbolic links (S3 has none) and sparse
    /// files (too big: a 200 GB file is not worth writing to moto).
    pub skipped: Vec<(String, &'static str)>,
}

/// Creates `name` in `region`: with a `LocationConstraint` unless the region is `us-east-1`,
/// as S3 requires.
pub async fn create_bucket(
    client: &aws_sdk_s3::Client,
    name: &str,
    region: &str,
) -> Result<(), SdkError<aws_sdk_s3::operation::create_bucket::CreateBucketError>> {
    let mut request = client.create_bucket().bucket(name);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    request.send().await.map(|_| ())
}

/// Uploads every regular file under `dir`, recursively, to `bucket` at `prefix` + its path
/// relative to `dir` (`/`-separated; `prefix` is used as is, so give it a trailing `/` for a
/// folder). Symbolic links are skipped, as S3 has none. Files are streamed from disk, one
/// after the other. Returns the keys written, sorted.
pub async fn upload_dir(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &Path,
) -> Result<Vec<String>, UploadError> {
    let mut files = Vec::new();
    collect_files(dir, "", &mut files)?;
    files.sort();
    let mut keys = Vec::with_capacity(files.len());
    for (relative, path) in files {
        let key = format!("{prefix}{relative}");
        let body = ByteStream::from_path(&path)
            .await
            .map_err(|e| UploadError::Io {
                path: path.clone(),
                error: std::io::Error::other(e),
            })?;
        put(client, bucket, &key, body).await?;
        keys.push(key);
    }
    Ok(keys)
}

/// Uploads the files of `fixture` from memory to `bucket` at `prefix` + their path. Regular
/// files are uploaded as they are; symbolic links and sparse files are skipped and listed in
/// [`FixtureUpload::skipped`].
pub async fn upload_fixture(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    fixture: &Fixture,
) -> Result<FixtureUpload, UploadError> {
    let mut report = FixtureUpload::default();
    for file in &fixture.files {
        match &file.content {
            Content::Bytes(bytes) => {
                let key = format!("{prefix}{}", file.path);
                put(client, bucket, &key, ByteStream::from(bytes.clone())).await?;
                report.keys.push(key);
            }
            Content::Symlink(_) => report
                .skipped
                .push((file.path.clone(), "symbolic link: S3 has none")),
            Content::Sparse { .. } => report
                .skipped
                .push((file.path.clone(), "sparse file: too big to upload")),
        }
    }
    Ok(report)
}

async fn put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: ByteStream,
) -> Result<(), UploadError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .send()
        .await
        .map(|_| ())
        .map_err(|error| UploadError::Sdk {
            key: key.to_string(),
            error: Box::new(error),
        })
}

/// The regular files under `dir` as (relative `/`-separated path, full path), not following
/// symbolic links.
fn collect_files(
    dir: &Path,
    relative: &str,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), UploadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| UploadError::Io { path, error }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| UploadError::Io {
            path: path.clone(),
            error: std::io::Error::other("file name is not UTF-8"),
        })?;
        let child = if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}/{name}")
        };
        if kind.is_dir() {
            collect_files(&path, &child, out)?;
        } else if kind.is_file() {
            out.push((child, path));
        }
    }
    Ok(())
}
