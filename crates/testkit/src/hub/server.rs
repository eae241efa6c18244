//! HTTP/1.1 plumbing of the Hub and CDN listeners: routing, answers, ranges, faults, log.

use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener as StdTcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::Digest as _;
use tokio::net::TcpListener;

use super::repo::{Entry, Repo, Snapshot};
use super::{HubFault, HubHost, HubRequest, Shared};

type HubBody = BoxBody<Bytes, std::io::Error>;

/// The date every repository shows as created and last modified.
const DATE: &str = "2025-01-01T00:00:00.000Z";

pub(super) async fn serve(
    hub: StdTcpListener,
    cdn: StdTcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let (Ok(hub), Ok(cdn)) = (TcpListener::from_std(hub), TcpListener::from_std(cdn)) else {
        return;
    };
    loop {
        let (stream, host) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = hub.accept() => match accepted {
                Ok((stream, _)) => (stream, HubHost::Hub),
                Err(_) => continue,
            },
            accepted = cdn.accept() => match accepted {
                Ok((stream, _)) => (stream, HubHost::Cdn),
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, host, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn handle(shared: &Shared, host: HubHost, request: &Request<Incoming>) -> Response<HubBody> {
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let range = request
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let token = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_string());
    let authorization = request.headers().contains_key(hyper::header::AUTHORIZATION);
    let prefix = match host {
        HubHost::Hub => shared
            .prefix
            .lock()
            .map(|prefix| prefix.clone())
            .unwrap_or_default(),
        HubHost::Cdn => String::new(),
    };
    let routed = path
        .strip_prefix(prefix.as_str())
        .filter(|rest| prefix.is_empty() || rest.starts_with('/'));
    let call = Call {
        method: request.method().clone(),
        path: routed.unwrap_or(&path),
        range: range.as_deref(),
        token: token.as_deref(),
    };
    let response = injected(shared, host, &path).unwrap_or_else(|| match (host, routed) {
        (_, None) => error(StatusCode::NOT_FOUND, None, "Not Found"),
        (HubHost::Hub, Some(_)) => hub(shared, &call),
        (HubHost::Cdn, Some(_)) => cdn(shared, &call),
    });
    if let Ok(mut log) = shared.log.lock() {
        log.push(HubRequest {
            method: request.method().to_string(),
            host,
            path,
            range,
            authorization,
            status: response.status().as_u16(),
        });
    }
    response
}

/// One request, as the handlers need it.
struct Call<'a> {
    method: Method,
    path: &'a str,
    range: Option<&'a str>,
    token: Option<&'a str>,
}

/// The answer of a pending [`HubFault::RateLimit`] or [`HubFault::Status`], if one applies.
fn injected(shared: &Shared, host: HubHost, path: &str) -> Option<Response<HubBody>> {
    let mut faults = shared.faults.lock().ok()?;
    let index = faults.iter().position(|fault| match fault {
        HubFault::RateLimit { count, .. } => host == HubHost::Hub && *count > 0,
        HubFault::Status {
            path_contains,
            count,
            ..
        } => *count > 0 && path.contains(path_contains.as_str()),
        HubFault::CorruptByte { .. } => false,
    })?;
    let response = match &mut faults[index] {
        HubFault::RateLimit {
            count,
            retry_after_secs,
        } => {
            *count -= 1;
            let mut response = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            insert(&mut response, "retry-after", &retry_after_secs.to_string());
            insert(
                &mut response,
                "x-error-message",
                "You have been rate-limited; you can retry this action in a few moments.",
            );
            response
        }
        HubFault::Status { status, count, .. } => {
            *count -= 1;
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text(status, "")
        }
        HubFault::CorruptByte { .. } => return None,
    };
    Some(response)
}

fn full(bytes: impl Into<Bytes>) -> HubBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn text(status: StatusCode, body: &str) -> Response<HubBody> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
}

fn insert(response: &mut Response<HubBody>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn json_response(value: &Value) -> Response<HubBody> {
    let mut response = Response::new(full(value.to_string()));
    insert(
        &mut response,
        "content-type",
        "application/json; charset=utf-8",
    );
    response
}

/// An error as the Hub sends it: the status, `X-Error-Code` (when the Hub names one),
/// `X-Error-Message` and a JSON body `{"error": message}`.
fn error(status: StatusCode, code: Option<&str>, message: &str) -> Response<HubBody> {
    let mut response = json_response(&json!({ "error": message }));
    *response.status_mut() = status;
    if let Some(code) = code {
        insert(&mut response, "x-error-code", code);
    }
    insert(&mut response, "x-error-message", message);
    response
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn quote(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

fn query_param(path: &str, name: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key) == name).then(|| decode(&value.replace('+', " ")))
    })
}

fn repo_not_found(token: Option<&str>) -> Response<HubBody> {
    if token.is_some() {
        error(
            StatusCode::NOT_FOUND,
            Some("RepoNotFound"),
            "Repository not found",
        )
    } else {
        error(
            StatusCode::UNAUTHORIZED,
            Some("RepoNotFound"),
            "Invalid username or password.",
        )
    }
}

fn granted(repo: &Repo, token: Option<&str>) -> bool {
    token.is_some_and(|token| repo.grants.contains(token))
}

/// The repository whose id starts `rest` (followed by the end or `/`), and what follows it.
fn find_repo<'s, 'p>(shared: &'s Shared, rest: &'p str) -> Option<(&'s Repo, &'p str)> {
    shared.repos.iter().find_map(|repo| {
        let after = rest.strip_prefix(repo.id.as_str())?;
        (after.is_empty() || after.starts_with('/')).then_some((repo, after))
    })
}

fn hub(shared: &Shared, call: &Call<'_>) -> Response<HubBody> {
    if call.method != Method::GET && call.method != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, None, "Method not allowed");
    }
    let route = call.path.split_once('?').map_or(call.path, |(p, _)| p);
    if let Some(rest) = route.strip_prefix("/api/models/") {
        let Some((repo, after)) = find_repo(shared, rest) else {
            return repo_not_found(call.token);
        };
        if repo.private && !granted(repo, call.token) {
            return repo_not_found(call.token);
        }
        let blobs = query_param(call.path, "blobs").is_some_and(|v| v == "true" || v == "True");
        if after.is_empty() {
            return info(repo, &repo.revisions[0], blobs);
        }
        if let Some(revision) = after.strip_prefix("/revision/") {
            let revision = decode(revision);
            return match repo.revision(&revision) {
                Some(snapshot) => info(repo, snapshot, blobs),
                None => revision_not_found(&revision),
            };
        }
        if let Some(tail) = after.strip_prefix("/tree/") {
            let (revision, folder) = tail.split_once('/').unwrap_or((tail, ""));
            let revision = decode(revision);
            let recursive =
                query_param(call.path, "recursive").is_some_and(|v| v == "true" || v == "True");
            return match repo.revision(&revision) {
                Some(snapshot) => tree(snapshot, &decode(folder), recursive),
                None => revision_not_found(&revision),
            };
        }
        return error(StatusCode::NOT_FOUND, None, "Not Found");
    }
    let Some((repo, after)) = find_repo(shared, route.trim_start_matches('/')) else {
        return if route.contains("/resolve/") {
            repo_not_found(call.token)
        } else {
            error(StatusCode::NOT_FOUND, None, "Not Found")
        };
    };
    let Some(tail) = after.strip_prefix("/resolve/") else {
        return error(StatusCode::NOT_FOUND, None, "Not Found");
    };
    if repo.private && !granted(repo, call.token) {
        return repo_not_found(call.token);
    }
    if repo.gated && !granted(repo, call.token) {
        return gated(repo, call.token);
    }
    let (revision, file) = tail.split_once('/').unwrap_or((tail, ""));
    let revision = decode(revision);
    let Some(snapshot) = repo.revision(&revision) else {
        return revision_not_found(&revision);
    };
    let file = decode(file);
    let Some(entry) = snapshot.file(&file) else {
        let mut response = error(
            StatusCode::NOT_FOUND,
            Some("EntryNotFound"),
            "Entry not found",
        );
        insert(&mut response, "x-repo-commit", &snapshot.commit);
        return response;
    };
    resolve(shared, call, repo, snapshot, entry)
}

fn revision_not_found(revision: &str) -> Response<HubBody> {
    error(
        StatusCode::NOT_FOUND,
        Some("RevisionNotFound"),
        &format!("Invalid rev id: {revision}"),
    )
}

fn gated(repo: &Repo, token: Option<&str>) -> Response<HubBody> {
    if token.is_some() {
        error(
            StatusCode::FORBIDDEN,
            Some("GatedRepo"),
            &format!(
                "Access to model {} is restricted and you are not in the authorized list. \
                 Visit https://huggingface.co/{} to ask for access.",
                repo.id, repo.id
            ),
        )
    } else {
        error(
            StatusCode::UNAUTHORIZED,
            Some("GatedRepo"),
            &format!(
                "Access to model {} is restricted. You must have access to it and be \
                 authenticated to access it. Please log in.",
                repo.id
            ),
        )
    }
}

fn sibling(entry: &Entry, blobs: bool) -> Value {
    let mut sibling = json!({ "rfilename": entry.path });
    if blobs {
        sibling["size"] = json!(entry.size);
        sibling["blobId"] = json!(entry.blob_id);
        if let Some(lfs) = &entry.lfs {
            sibling["lfs"] = json!({
                "sha256": lfs.sha256,
                "size": entry.size,
                "pointerSize": lfs.pointer_size,
            });
        }
    }
    sibling
}

fn info(repo: &Repo, snapshot: &Snapshot, blobs: bool) -> Response<HubBody> {
    let author = repo.id.split_once('/').map(|(org, _)| org);
    let mut info = json!({
        "_id": &snapshot.commit[..24],
        "id": repo.id,
        "modelId": repo.id,
        "author": author,
        "sha": snapshot.commit,
        "lastModified": DATE,
        "createdAt": DATE,
        "private": repo.private,
        "gated": if repo.gated { json!("manual") } else { json!(false) },
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "library_name": "transformers",
        "tags": ["transformers", "safetensors"],
        "spaces": [],
        "siblings": snapshot.files.iter().map(|e| sibling(e, blobs)).collect::<Vec<_>>(),
    });
    if let Some(config) = &snapshot.config {
        info["config"] = config.clone();
    }
    if blobs {
        let used: u64 = snapshot.files.iter().map(|e| e.size).sum();
        info["usedStorage"] = json!(used);
    }
    json_response(&info)
}

/// `list_repo_tree`'s answer: the files and folders under `folder` (all of them when
/// `recursive`, else the direct children), folders first as the Hub lists them.
fn tree(snapshot: &Snapshot, folder: &str, recursive: bool) -> Response<HubBody> {
    let folder = folder.trim_matches('/');
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let mut directories = std::collections::BTreeSet::new();
    let mut files = Vec::new();
    for entry in &snapshot.files {
        let Some(relative) = entry.path.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = relative.split('/').collect();
        for depth in 1..parts.len() {
            if recursive || depth == 1 {
                directories.insert(format!("{prefix}{}", parts[..depth].join("/")));
            }
        }
        if recursive || parts.len() == 1 {
            let mut item = json!({
                "type": "file",
                "oid": entry.blob_id,
                "size": entry.size,
                "path": entry.path,
            });
            if let Some(lfs) = &entry.lfs {
                item["lfs"] = json!({
                    "oid": lfs.sha256,
                    "size": entry.size,
                    "pointerSize": lfs.pointer_size,
                });
            }
            files.push(item);
        }
    }
    if !folder.is_empty() && files.is_empty() && directories.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            Some("EntryNotFound"),
            &format!("{folder} does not exist on \"{}\"", snapshot.name),
        );
    }
    let mut items: Vec<Value> = directories
        .into_iter()
        .map(|path| {
            let oid = super::repo::hex(&sha2::Sha256::digest(path.as_bytes())[..20]);
            json!({ "type": "directory", "oid": oid, "size": 0, "path": path })
        })
        .collect();
    items.extend(files);
    json_response(&Value::Array(items))
}

/// A resolved file: plain files are answered here, LFS files redirected to the CDN.
fn resolve(
    shared: &Shared,
    call: &Call<'_>,
    repo: &Repo,
    snapshot: &Snapshot,
    entry: &Entry,
) -> Response<HubBody> {
    match &entry.lfs {
        Some(lfs) => {
            let cdn = shared.cdn.lock().map(|cdn| cdn.clone()).unwrap_or_default();
            let location = format!(
                "{cdn}/repos/{}/{}?repo={}&path={}&X-Amz-Expires=3600&X-Amz-Signature=emulator",
                quote(&repo.id),
                lfs.sha256,
                quote(&repo.id),
                quote(&entry.path),
            );
            let mut response = text(StatusCode::FOUND, "Found. Redirecting");
            insert(&mut response, "location", &location);
            insert(&mut response, "x-repo-commit", &snapshot.commit);
            insert(
                &mut response,
                "x-linked-etag",
                &format!("\"{}\"", lfs.sha256),
            );
            insert(&mut response, "x-linked-size", &entry.size.to_string());
            insert(&mut response, "etag", &format!("\"{}\"", lfs.sha256));
            response
        }
        None => {
            let mut response = serve_file(shared, call, &repo.id, entry);
            insert(&mut response, "x-repo-commit", &snapshot.commit);
            insert(&mut response, "etag", &format!("\"{}\"", entry.blob_id));
            response
        }
    }
}

fn cdn(shared: &Shared, call: &Call<'_>) -> Response<HubBody> {
    if call.method != Method::GET && call.method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let route = call.path.split_once('?').map_or(call.path, |(p, _)| p);
    let sha256 = route.rsplit('/').next().unwrap_or("");
    let repo_id = query_param(call.path, "repo").unwrap_or_default();
    let found = shared
        .repos
        .iter()
        .flat_map(|repo| repo.revisions.iter().flat_map(|s| s.files.iter()))
        .find(|entry| entry.lfs.as_ref().is_some_and(|lfs| lfs.sha256 == sha256));
    let Some(entry) = found else {
        return text(StatusCode::NOT_FOUND, "NoSuchKey");
    };
    let mut served = entry.clone();
    if let Some(path) = query_param(call.path, "path") {
        served.path = path;
    }
    let mut response = serve_file(shared, call, &repo_id, &served);
    insert(&mut response, "etag", &format!("\"{sha256}\""));
    response
}

/// The flipped byte of a [`HubFault::CorruptByte`] on this file, if any.
fn corrupt_offset(shared: &Shared, repo_id: &str, path: &str) -> Option<u64> {
    let faults = shared.faults.lock().ok()?;
    faults.iter().find_map(|fault| match fault {
        HubFault::CorruptByte {
            repo_id: r,
            path: p,
            offset,
        } if r == repo_id && p == path => Some(*offset),
        _ => None,
    })
}

/// The byte range a `Range` header asks for within `size`: `Ok(None)` for the whole file
/// (no header, or one this server ignores), `Err(())` for an unsatisfiable range.
fn byte_range(range: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        let Ok(suffix) = end.parse::<u64>() else {
            return Ok(None);
        };
        if suffix == 0 || size == 0 {
            return Err(());
        }
        return Ok(Some((size.saturating_sub(suffix), size - 1)));
    }
    let Ok(start) = start.parse::<u64>() else {
        return Ok(None);
    };
    if start >= size {
        return Err(());
    }
    let end = if end.is_empty() {
        size - 1
    } else {
        match end.parse::<u64>() {
            Ok(end) if end >= start => end.min(size - 1),
            _ => return Ok(None),
        }
    };
    Ok(Some((start, end)))
}

fn serve_file(shared: &Shared, call: &Call<'_>, repo_id: &str, entry: &Entry) -> Response<HubBody> {
    let (status, start, length) = match byte_range(call.range, entry.size) {
        Ok(None) => (StatusCode::OK, 0, entry.size),
        Ok(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Err(()) => {
            let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "");
            insert(
                &mut response,
                "content-range",
                &format!("bytes */{}", entry.size),
            );
            return response;
        }
    };
    let body = if call.method == Method::HEAD {
        full(Bytes::new())
    } else {
        let corrupt = corrupt_offset(shared, repo_id, &entry.path);
        FileBody::open(entry, start, length, corrupt)
            .map_or_else(|_| full(Bytes::new()), |body| body.boxed())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    insert(&mut response, "content-length", &length.to_string());
    insert(&mut response, "accept-ranges", "bytes");
    insert(&mut response, "content-type", "application/octet-stream");
    if status == StatusCode::PARTIAL_CONTENT {
        insert(
            &mut response,
            "content-range",
            &format!("bytes {}-{}/{}", start, start + length - 1, entry.size),
        );
    }
    response
}

/// A file's bytes `[start, start + remaining)`, read in chunks as the client takes them, with
/// one byte flipped when a [`HubFault::CorruptByte`] applies.
struct FileBody {
    file: std::fs::File,
    position: u64,
    remaining: u64,
    corrupt: Option<u64>,
}

impl FileBody {
    fn open(
        entry: &Entry,
        start: u64,
        length: u64,
        corrupt: Option<u64>,
    ) -> std::io::Result<FileBody> {
        let mut file = std::fs::File::open(&entry.disk)?;
        file.seek(SeekFrom::Start(start))?;
        Ok(FileBody {
            file,
            position: start,
            remaining: length,
            corrupt,
        })
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.remaining.min(256 * 1024)).unwrap_or(256 * 1024);
        let mut chunk = vec![0u8; want];
        let this = &mut *self;
        if let Err(error) = this.file.read_exact(&mut chunk) {
            return Poll::Ready(Some(Err(error)));
        }
        if let Some(offset) = this.corrupt {
            if (this.position..this.position + want as u64).contains(&offset) {
                if let Some(byte) = usize::try_from(offset - this.position)
                    .ok()
                    .and_then(|i| chunk.get_mut(i))
                {
                    *byte ^= 1;
                }
            }
        }
        this.position += want as u64;
        this.remaining -= want as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_are_read_as_http_defines_them() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=2-5"), 10), Ok(Some((2, 5))));
        assert_eq!(byte_range(Some("bytes=2-"), 10), Ok(Some((2, 9))));
        assert_eq!(byte_range(Some("bytes=2-100"), 10), Ok(Some((2, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=-30"), 10), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-0"), 0), Err(()));
        assert_eq!(byte_range(Some("bytes=-0"), 10), Err(()));
        // Ignored, as S3 and the Hub's CDN ignore them: the whole file is sent.
        assert_eq!(byte_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=5-2"), 10), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), 10), Ok(None));
    }
}
