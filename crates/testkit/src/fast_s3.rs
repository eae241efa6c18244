//! A fast, file-backed S3 server on a loopback port, for the benchmarks: the `s3s-fs` crate
//! (an S3 implementation in Rust over a folder; buckets are folders of the root, objects
//! files) behind the `s3s` service, which verifies SigV4 with moto's static test credentials
//! ([`crate::moto::ACCESS_KEY_ID`], [`crate::moto::SECRET_ACCESS_KEY`]). Path-style requests
//! only. It serves ranged GETs and multipart uploads at disk speed, where moto, one Python
//! process, is the bottleneck; put [`crate::proxy::Proxy::start_shaped`] in front of it to get
//! the bandwidth and latency of a real S3 connection.
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

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
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
            let mut builder = S3ServiceBuilder::new(store);
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
            builder.build()
        };
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (shutdown, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fast-s3-{}", address.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
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
