//! A fast, file-backed S3 server on a loopback port, for the benchmarks: the `s3s-fs` crate
//! (an S3 implementation in Rust over a folder; buckets are folders of the root, objects
//! files) behind the `s3s` service, which verifies SigV4 with moto's static test credentials
//! ([`crate::moto::ACCESS_KEY_ID`], [`crate::moto::SECRET_ACCESS_KEY`]). Path-style requests
//! only. It serves ranged GETs and multipart uploads at disk speed, where moto, one Python
//! process, is the bottleneck; put [`crate::proxy::Proxy::start_shaped`] in front of it to get
//! the bandwidth and latency of a real S3 connection.
//!
//! `s3s-fs` keeps no checksum for an object completed from parts; the server adds S3's
//! composite SHA-256 (Amazon S3 User Guide, "Checking object integrity in Amazon S3":
//! base64 of the SHA-256 of the concatenated part digests, `-N` for N parts) when every part
//! was sent with `x-amz-checksum-sha256`, and returns it from HeadObject with checksum mode,
//! as S3 does; ListObjectsV2 names SHA-256 as the checksum algorithm of every object stored
//! with a SHA-256 checksum (full-object or composite), as S3 does. Like `s3s-fs`, it does not hash the parts themselves (a benchmark compares
//! the stored bytes with the files instead), so that the server costs every client the same
//! CPU.
//!
//! The server runs on its own tokio runtime in a background thread; dropping it stops it.
//!
//! ```no_run
//! use cmi_testkit::fast_s3::FastS3;
//! let root = tempfile::tempdir().unwrap();
//! let s3 = FastS3::start(root.path()).unwrap();
//! s3.create_bucket("bench").unwrap();
//! println!("{}", s3.endpoint());
//! ```

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Request, S3Response, S3Result, S3};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::moto::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum FastS3Error {
    /// The root folder or the listening socket.
    #[error("fast S3 server: {0}")]
    Io(#[from] std::io::Error),
    /// `s3s-fs` refused the root folder.
    #[error("fast S3 server: s3s-fs: {0}")]
    Store(String),
}

/// A running server on `127.0.0.1`; dropping it stops it.
#[derive(Debug)]
pub struct FastS3 {
    address: SocketAddr,
    root: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FastS3 {
    /// Starts a server storing its buckets under `root` (created if missing) on a free
    /// loopback port.
    pub fn start(root: &Path) -> Result<FastS3, FastS3Error> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let store =
            s3s_fs::FileSystem::new(&root).map_err(|e| FastS3Error::Store(format!("{e:?}")))?;
        let service = {
            let mut builder = S3ServiceBuilder::new(Store {
                inner: store,
                parts: Mutex::default(),
                composite: Mutex::default(),
                with_sha256: Mutex::default(),
            });
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
            builder.build()
        };
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (shutdown, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        // Every thread of the server (workers and blocking file I/O) is named `fast-s3-PORT`.
        let name = format!("fast-s3-{}", address.port());
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(name)
                    .enable_all()
                    .build()
                    .expect("the fast S3 server's tokio runtime");
                runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(listener).expect("the fast S3 server's listener");
                    loop {
                        let stream = tokio::select! {
                            _ = &mut shutdown_rx => return,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => stream,
                                Err(_) => continue,
                            },
                        };
                        let _ = stream.set_nodelay(true);
                        let service = service.clone();
                        tokio::spawn(async move {
                            // Errors here are a client going away.
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })?;
        Ok(FastS3 {
            address,
            root,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The endpoint URL for path-style clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The folder that holds the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates bucket `name` (a folder of the root); an existing bucket is kept.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.join(name))
    }
}

/// `s3s-fs` with S3's composite SHA-256 of multipart objects.
struct Store {
    inner: s3s_fs::FileSystem,
    /// The `x-amz-checksum-sha256` of each part sent, by upload id and part number.
    parts: Mutex<HashMap<(String, i32), String>>,
    /// The composite checksum of each object completed from parts, by bucket and key.
    composite: Mutex<HashMap<(String, String), String>>,
    /// The objects stored with a SHA-256 checksum, full-object or composite.
    with_sha256: Mutex<HashSet<(String, String)>>,
}

impl Store {
    fn forget(&self, bucket: &str, key: &str) {
        let id = (bucket.to_string(), key.to_string());
        self.composite.lock().unwrap().remove(&id);
        self.with_sha256.lock().unwrap().remove(&id);
    }
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.inner.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.inner.delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.inner.list_objects(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.inner.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.inner.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.inner.delete_objects(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let id = (req.input.bucket.clone(), req.input.key.clone());
        let sha256 = req.input.checksum_sha256.is_some()
            || req
                .input
                .checksum_algorithm
                .as_ref()
                .is_some_and(|a| a.as_str() == ChecksumAlgorithm::SHA256);
        self.forget(&id.0, &id.1);
        let response = self.inner.put_object(req).await?;
        if sha256 {
            self.with_sha256.lock().unwrap().insert(id);
        }
        Ok(response)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let mut response = self.inner.list_objects_v2(req).await?;
        let with_sha256 = self.with_sha256.lock().unwrap();
        for object in response.output.contents.iter_mut().flatten() {
            let id = (bucket.clone(), object.key.clone().unwrap_or_default());
            if with_sha256.contains(&id) {
                object.checksum_algorithm = Some(vec![ChecksumAlgorithm::from_static(
                    ChecksumAlgorithm::SHA256,
                )]);
            }
        }
        drop(with_sha256);
        Ok(response)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.forget(&req.input.bucket, &req.input.key);
        self.inner.delete_object(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let id = (req.input.upload_id.clone(), req.input.part_number);
        let checksum = req.input.checksum_sha256.clone();
        let mut response = self.inner.upload_part(req).await?;
        if let Some(checksum) = checksum {
            response.output.checksum_sha256 = Some(checksum.clone());
            self.parts.lock().unwrap().insert(id, checksum);
        }
        Ok(response)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key, upload_id) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.upload_id.clone(),
        );
        let numbers: Vec<i32> = req
            .input
            .multipart_upload
            .iter()
            .flat_map(|upload| upload.parts.iter().flatten())
            .filter_map(|part| part.part_number)
            .collect();
        let digests: Option<Vec<Vec<u8>>> = {
            let mut parts = self.parts.lock().unwrap();
            numbers
                .iter()
                .map(|n| parts.remove(&(upload_id.clone(), *n)))
                .map(|c| c.and_then(|c| aws_smithy_types::base64::decode(c).ok()))
                .collect()
        };
        self.forget(&bucket, &key);
        let response = self.inner.complete_multipart_upload(req).await?;
        if let Some(digests) = digests.filter(|d| !d.is_empty()) {
            let mut hasher = Sha256::new();
            for digest in &digests {
                hasher.update(digest);
            }
            let value = format!(
                "{}-{}",
                aws_smithy_types::base64::encode(hasher.finalize()),
                digests.len()
            );
            let id = (bucket, key);
            self.with_sha256.lock().unwrap().insert(id.clone());
            self.composite.lock().unwrap().insert(id, value);
        }
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let enabled = req
            .input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let id = (req.input.bucket.clone(), req.input.key.clone());
        let mut response = self.inner.head_object(req).await?;
        if enabled {
            if let Some(value) = self.composite.lock().unwrap().get(&id) {
                response.output.checksum_sha256 = Some(value.clone());
                response.output.checksum_type =
                    Some(ChecksumType::from_static(ChecksumType::COMPOSITE));
            }
        }
        Ok(response)
    }
}

impl Drop for FastS3 {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::primitives::ByteStream;

    #[test]
    fn the_sdk_puts_lists_and_gets_with_sigv4() {
        let root = tempfile::tempdir().expect("root");
        let server = FastS3::start(root.path()).expect("server");
        server.create_bucket("fast-bucket").expect("bucket");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let config = crate::moto::sdk_config_for(
                &server.endpoint(),
                crate::moto::static_credentials(),
                crate::moto::REGION,
            )
            .await;
            let client = crate::moto::s3_client(&config);
            client
                .put_object()
                .bucket("fast-bucket")
                .key("dir/a.bin")
                .body(ByteStream::from(vec![7u8; 1000]))
                .send()
                .await
                .expect("put");
            let listed = client
                .list_objects_v2()
                .bucket("fast-bucket")
                .send()
                .await
                .expect("list");
            let sizes: Vec<(String, i64)> = listed
                .contents()
                .iter()
                .map(|o| (o.key().unwrap_or("").to_string(), o.size().unwrap_or(-1)))
                .collect();
            assert_eq!(sizes, vec![("dir/a.bin".to_string(), 1000)]);
            let body = client
                .get_object()
                .bucket("fast-bucket")
                .key("dir/a.bin")
                .range("bytes=10-19")
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            assert_eq!(&body[..], &[7u8; 10]);
        });
    }
}
