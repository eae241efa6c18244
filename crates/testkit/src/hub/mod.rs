//! A Hugging Face Hub emulator: model repositories served from folders with the Hub's HTTP API
//! as `huggingface_hub` 0.36 uses it (`hf_api.py`, `file_download.py`, `utils/_http.py`).
//!
//! Two loopback listeners: the Hub ([`HubEmulator::endpoint`], the `HF_ENDPOINT` value) and a
//! separate CDN host ([`HubEmulator::cdn_endpoint`]) that LFS downloads are redirected to, as
//! the Hub redirects them to its CDN with a signed URL. Both run on one tokio runtime in a
//! background thread, like [`crate::proxy`]; dropping the emulator stops them.
//!
//! # What is served
//! - `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (the revision quoted with
//!   `safe=""`, so `refs%2Fpr%2F1`): the model info, `sha` = the revision's commit, `siblings`
//!   (with `blobs=true`: `size`, `blobId` and, for LFS files, `lfs {sha256, size,
//!   pointerSize}`), and the other fields `huggingface_hub.ModelInfo` reads (`id`, `private`,
//!   `gated`, `disabled`, `lastModified`, ...).
//! - `GET /api/models/{repo}/tree/{rev}[/{path}]` (`recursive=true` too), as `list_repo_tree`.
//! - `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: plain files are answered directly (`ETag:
//!   "<git blob id>"`, `X-Repo-Commit`); LFS files get `302` with an absolute `Location` on the
//!   CDN host, `X-Repo-Commit`, `X-Linked-Etag: "<sha256>"`, `X-Linked-Size` and `ETag`. The
//!   CDN serves the bytes. Both honour `Range: bytes=a-b`, `bytes=a-`, `bytes=-n` with `206`
//!   and `Content-Range`, and answer `416` to a range that starts past the end.
//! - Revisions: branch and tag names ([`HubRepo::with_revision`]) and full commit ids.
//! - [`HubEmulator::serve_under`]: all of the Hub's routes under a path prefix, as a mirror
//!   behind a reverse proxy serves them (`HF_ENDPOINT=http://127.0.0.1:PORT/prefix`).
//!
//! # Errors, as the Hub answers them
//! Each carries `X-Error-Code` and `X-Error-Message`, which `hf_raise_for_status` maps to the
//! client's exception classes:
//! - an unknown repository, or a private one the request's token may not read: `401`
//!   `RepoNotFound` without a token, `404 RepoNotFound` with one (the Hub does not tell a
//!   private repository from a missing one);
//! - a gated repository: its model info and tree are public, as on the Hub; its files answer
//!   `401 GatedRepo` without a token and `403 GatedRepo` with a token that was not granted;
//! - an unknown revision: `404 RevisionNotFound`; a missing file: `404 EntryNotFound` (with
//!   `X-Repo-Commit`).
//!
//! Tokens come as `Authorization: Bearer <token>`; [`HubRepo::grant`] lists the ones that may
//! read a repository. The emulator sends no Xet headers, so clients download over plain HTTP.
//!
//! ```no_run
//! use cmi_testkit::hub::{HubEmulator, HubRepo};
//! let hub = HubEmulator::start(vec![HubRepo::new("org/llama", "testdata/valid/llama")]).unwrap();
//! let commit = hub.commit("org/llama", "main");
//! // HF_ENDPOINT=hub.endpoint() ...; then look at hub.requests()
//! # let _ = commit;
//! ```

mod repo;
mod server;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

use repo::Repo;

/// A model repository to serve, built from folders.
#[derive(Debug, Clone)]
pub struct HubRepo {
    id: String,
    revisions: Vec<(String, PathBuf)>,
    private: bool,
    gated: bool,
    grants: HashSet<String>,
}

impl HubRepo {
    /// A model repository `repo_id` whose `main` branch holds the files of `folder`
    /// (recursively).
    pub fn new(repo_id: &str, folder: impl Into<PathBuf>) -> HubRepo {
        HubRepo {
            id: repo_id.to_string(),
            revisions: vec![("main".to_string(), folder.into())],
            private: false,
            gated: false,
            grants: HashSet::new(),
        }
    }

    /// Another branch or tag `name` (such as `v1.0` or `refs/pr/1`) with the files of `folder`
    /// (its own commit).
    pub fn with_revision(mut self, name: &str, folder: impl Into<PathBuf>) -> HubRepo {
        self.revisions.push((name.to_string(), folder.into()));
        self
    }

    /// A private repository: only a granted token may read it (see the module's "Errors").
    pub fn private(mut self) -> HubRepo {
        self.private = true;
        self
    }

    /// A gated repository: its files need a granted token (see the module's "Errors").
    pub fn gated(mut self) -> HubRepo {
        self.gated = true;
        self
    }

    /// This token may read the repository (private or gated).
    pub fn grant(mut self, token: &str) -> HubRepo {
        self.grants.insert(token.to_string());
        self
    }
}

/// Which listener a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubHost {
    /// The Hub ([`HubEmulator::endpoint`]).
    Hub,
    /// The CDN ([`HubEmulator::cdn_endpoint`]).
    Cdn,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubRequest {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The listener.
    pub host: HubHost,
    /// The path and query, as sent (percent-encoded).
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// Whether an `Authorization` header was present.
    pub authorization: bool,
    /// The status answered.
    pub status: u16,
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubFault {
    /// From now on, serve the byte at `offset` of file `path` of `repo_id` (any revision)
    /// flipped (XOR 1), on the Hub (plain files) and on the CDN (LFS files); the metadata
    /// (sizes, SHA-256) stay those of the true bytes.
    CorruptByte {
        /// The repository.
        repo_id: String,
        /// The file's path in the repository.
        path: String,
        /// The offset of the flipped byte in the file.
        offset: u64,
    },
    /// Answer the next `count` requests to the Hub (not the CDN) with `429 Too Many Requests`
    /// and `Retry-After: retry_after_secs`.
    RateLimit {
        /// How many requests.
        count: u32,
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Answer the next `count` requests (Hub or CDN) whose path and query contain
    /// `path_contains` with `status` and an empty body.
    Status {
        /// The text to look for in the path and query.
        path_contains: String,
        /// The HTTP status.
        status: u16,
        /// How many requests.
        count: u32,
    },
}

/// The state the listeners share.
#[derive(Debug)]
struct Shared {
    repos: Vec<Repo>,
    /// The base URL of the LFS redirects' `Location`: the CDN, or what [`HubEmulator::cdn_via`]
    /// set.
    cdn: Mutex<String>,
    /// The path the Hub's API is served under (empty, or `/prefix` as a mirror behind a
    /// path): [`HubEmulator::serve_under`].
    prefix: Mutex<String>,
    log: Mutex<Vec<HubRequest>>,
    faults: Mutex<Vec<HubFault>>,
}

/// A running emulator on `127.0.0.1`; dropping it stops it.
pub struct HubEmulator {
    hub: SocketAddr,
    cdn: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for HubEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubEmulator")
            .field("hub", &self.hub)
            .field("cdn", &self.cdn)
            .finish()
    }
}

fn listen() -> std::io::Result<(StdTcpListener, SocketAddr)> {
    let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}

impl HubEmulator {
    /// Reads the repositories' folders (hashing every LFS file) and starts the Hub and CDN
    /// listeners on free loopback ports. Callable from synchronous and asynchronous code.
    pub fn start(repos: Vec<HubRepo>) -> std::io::Result<HubEmulator> {
        let mut served = Vec::with_capacity(repos.len());
        for repo in repos {
            let revisions = repo
                .revisions
                .iter()
                .map(|(name, folder)| repo::snapshot(name, folder))
                .collect::<std::io::Result<Vec<_>>>()?;
            served.push(Repo {
                id: repo.id,
                private: repo.private,
                gated: repo.gated,
                grants: repo.grants,
                revisions,
            });
        }
        // Longest id first, so that routing by prefix finds `org/name-2` before `org/name`.
        served.sort_by_key(|repo| std::cmp::Reverse(repo.id.len()));
        let (hub_listener, hub) = listen()?;
        let (cdn_listener, cdn) = listen()?;
        let shared = Arc::new(Shared {
            repos: served,
            cdn: Mutex::new(format!("http://{cdn}")),
            prefix: Mutex::new(String::new()),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        });
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("hub-emulator-{}", hub.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                runtime.block_on(server::serve(
                    hub_listener,
                    cdn_listener,
                    thread_shared,
                    shutdown_rx,
                ));
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the Hub emulator thread did not start"))??;
        Ok(HubEmulator {
            hub,
            cdn,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The Hub's URL, `http://127.0.0.1:PORT` (the `HF_ENDPOINT` value).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.hub)
    }

    /// The CDN's URL, `http://127.0.0.1:PORT`: LFS downloads are redirected there.
    pub fn cdn_endpoint(&self) -> String {
        format!("http://{}", self.cdn)
    }

    /// From now on, LFS redirects point at `base` (`http://127.0.0.1:PORT`) instead of
    /// [`HubEmulator::cdn_endpoint`]: a [`crate::proxy::Proxy`] in front of the CDN, to shape or
    /// count its traffic too.
    pub fn cdn_via(&self, base: &str) {
        if let Ok(mut cdn) = self.shared.cdn.lock() {
            *cdn = base.trim_end_matches('/').to_string();
        }
    }

    /// From now on, the Hub answers under the path `prefix` (`/hf-mirror`) only, as a mirror
    /// or a private Hub behind a reverse proxy does: `HF_ENDPOINT` is then
    /// `{endpoint}{prefix}`, and a request outside it is `404`. The log keeps the full paths.
    pub fn serve_under(&self, prefix: &str) {
        if let Ok(mut served) = self.shared.prefix.lock() {
            *served = format!("/{}", prefix.trim_matches('/'));
        }
    }

    /// The 40-hex commit of branch or tag `revision` of `repo_id`.
    ///
    /// # Panics
    /// If the emulator does not serve that repository and revision (a mistake in the test).
    pub fn commit(&self, repo_id: &str, revision: &str) -> String {
        self.shared
            .repos
            .iter()
            .find(|repo| repo.id == repo_id)
            .and_then(|repo| repo.revision(revision))
            .map(|snapshot| snapshot.commit.clone())
            .unwrap_or_else(|| panic!("the Hub emulator serves no {repo_id}@{revision}"))
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<HubRequest> {
        self.shared
            .log
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Forgets the logged requests.
    pub fn clear_requests(&self) {
        if let Ok(mut log) = self.shared.log.lock() {
            log.clear();
        }
    }

    /// Injects a fault (see [`HubFault`]).
    pub fn fault(&self, fault: HubFault) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.push(fault);
        }
    }

    /// Removes every fault, pending or permanent.
    pub fn clear_faults(&self) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.clear();
        }
    }
}

impl Drop for HubEmulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
