//! The HTTP client of the Hugging Face Hub, as `huggingface_hub` 0.36.2 speaks to it
//! (`hf_api.py`, `file_download.py`, `utils/_http.py`):
//!
//! - `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true` (the revision quoted
//!   with no safe character) answers the commit and the files with their sizes, blob ids and
//!   LFS SHA-256;
//! - `GET {endpoint}/{repo}/resolve/{commit}/{path}` with `Range` reads a file; LFS files
//!   redirect to a CDN host.
//!
//! Redirects are followed here (at most [`MAX_REDIRECTS`]), so that `Authorization: Bearer`
//! goes only to the endpoint's own scheme, host and port, never to the CDN or any other host.
//! A 429 waits for its `Retry-After` (at most [`MAX_RETRY_AFTER`]); a 5xx or a failed
//! connection is retried with [`crate::backoff::Backoff`]; nothing else is retried. Errors
//! keep the `X-Error-Code` and `X-Error-Message` the Hub sends, which `hf_raise_for_status`
//! reads too.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, AUTHORIZATION, LOCATION, RANGE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tracing::debug;

use super::config::HubConfig;
use crate::backoff::Backoff;

/// Redirects followed for one request (`requests`, which `huggingface_hub` uses, allows 30;
/// the Hub needs one or two).
pub const MAX_REDIRECTS: usize = 10;

/// Attempts of one request when the Hub answers 429 or 5xx, or the connection fails.
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest `Retry-After` honoured; a longer one is waited for this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The waits between attempts after a 5xx or a failed connection.
const RETRY_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(250),
    max: Duration::from_secs(8),
};

/// `urllib.parse.quote(text, safe="")`: everything but letters, digits and `_.-~` escaped.
const QUOTE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// `urllib.parse.quote(text)` (safe `/`), for file paths in URLs.
const QUOTE_PATH: &AsciiSet = &QUOTE_ALL.remove(b'/');

/// What kind of failure an answer of the Hub is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubErrorKind {
    /// 401 or 403: private, gated, or a token that may not read the repository.
    AccessDenied,
    /// 404, or an error code naming a missing repository, revision or file.
    NotFound,
    /// Anything else: another status, the transport, a malformed answer.
    Other,
}

/// A failed request to the Hub.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HubError {
    /// What kind of failure it is.
    pub kind: HubErrorKind,
    /// The HTTP status, when the Hub answered.
    pub status: Option<u16>,
    /// The Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`,
    /// `GatedRepo`), when it sent one.
    pub code: Option<String>,
    /// One line: the request and what the Hub or the transport said.
    pub message: String,
}

impl HubError {
    fn other(message: impl Into<String>) -> HubError {
        HubError {
            kind: HubErrorKind::Other,
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// Whether the Hub said the repository is gated.
    pub fn is_gated(&self) -> bool {
        self.code.as_deref() == Some("GatedRepo")
    }
}

/// The LFS metadata of a file, as the model info lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LfsInfo {
    /// The SHA-256 of the content (the LFS object id), lowercase hex.
    pub sha256: String,
    /// The size of the content.
    pub size: u64,
}

/// One file of a revision (`siblings` of the model info with `blobs=true`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sibling {
    /// The path in the repository.
    pub rfilename: String,
    /// The size; for LFS files the content's.
    #[serde(default)]
    pub size: Option<u64>,
    /// The git blob id (of the pointer file, for LFS files).
    #[serde(default, rename = "blobId")]
    pub blob_id: Option<String>,
    /// The LFS metadata, for files stored in LFS.
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

/// A revision resolved to its commit, with its files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevisionInfo {
    /// The repository id.
    pub id: String,
    /// The 40-hex commit the revision points to.
    pub sha: String,
    /// The files of that commit.
    #[serde(default)]
    pub siblings: Vec<Sibling>,
    /// Whether the model is gated (the Hub says `false`, or how access is granted:
    /// `"auto"`, `"manual"`): its info and file list are public, its files are read only
    /// with a token granted access.
    #[serde(default, deserialize_with = "gated")]
    pub gated: bool,
}

/// The model info's `gated`: `false`, or a string naming how access is granted.
fn gated<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(gated) => gated,
        serde_json::Value::String(_) => true,
        _ => false,
    })
}

/// A client of one Hub endpoint.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    config: HubConfig,
    endpoint: Url,
}

/// Scheme, host and port: the origin a token may be sent to.
fn origin(url: &Url) -> (String, Option<String>, Option<u16>) {
    (
        url.scheme().to_string(),
        url.host_str().map(str::to_string),
        url.port_or_known_default(),
    )
}

/// What a response's error headers say, for a message.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The kind of a failed answer: the error code first, as `hf_raise_for_status` reads it, then
/// the status.
pub fn classify(status: u16, code: Option<&str>) -> HubErrorKind {
    match (code, status) {
        (Some("RevisionNotFound" | "EntryNotFound"), _) | (_, 404) => HubErrorKind::NotFound,
        (Some("GatedRepo"), _) | (_, 401 | 403) => HubErrorKind::AccessDenied,
        (Some("RepoNotFound"), _) => HubErrorKind::NotFound,
        _ => HubErrorKind::Other,
    }
}

/// The wait a 429 asks for: `Retry-After` as seconds or as an HTTP date (RFC 9110, section
/// 10.2.3; a date already past means now), at most [`MAX_RETRY_AFTER`]; the backoff's when
/// absent or unreadable.
fn retry_after(headers: &HeaderMap, attempt: u32, now: SystemTime) -> Duration {
    let asked = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|v| match v.parse::<u64>() {
            Ok(seconds) => Some(Duration::from_secs(seconds)),
            Err(_) => httpdate::parse_http_date(v)
                .ok()
                .map(|at| at.duration_since(now).unwrap_or_default()),
        });
    asked
        .unwrap_or_else(|| RETRY_BACKOFF.delay(attempt))
        .min(MAX_RETRY_AFTER)
}

impl HubClient {
    /// A client of `config.endpoint`.
    pub fn new(config: HubConfig) -> Result<HubClient, HubError> {
        let endpoint = Url::parse(&config.endpoint).map_err(|e| {
            HubError::other(format!(
                "HF_ENDPOINT {:?} is not a URL: {e}",
                config.endpoint
            ))
        })?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("cmi-preflight/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| HubError::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HubClient {
            http,
            config,
            endpoint,
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Whether requests to the endpoint carry a token.
    pub fn sends_token(&self) -> bool {
        self.config.token.is_some()
    }

    /// The endpoint's URL of `path` (which starts with `/`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.endpoint)
    }

    /// The model's page on the endpoint.
    pub fn page_url(&self, repo: &str) -> String {
        self.url(&format!("/{repo}"))
    }

    /// The URL of `path` at `commit`.
    pub fn resolve_url(&self, repo: &str, commit: &str, path: &str) -> String {
        self.url(&format!(
            "/{repo}/resolve/{}/{}",
            utf8_percent_encode(commit, QUOTE_ALL),
            utf8_percent_encode(path, QUOTE_PATH)
        ))
    }

    /// The model info URL of a revision, with its files' blob ids and LFS metadata.
    pub fn revision_url(&self, repo: &str, revision: &str) -> String {
        self.url(&format!(
            "/api/models/{repo}/revision/{}?blobs=true",
            utf8_percent_encode(revision, QUOTE_ALL)
        ))
    }

    /// Resolves `revision` of the model `repo` to its commit and files: one request.
    pub async fn revision(&self, repo: &str, revision: &str) -> Result<RevisionInfo, HubError> {
        let url = self.revision_url(repo, revision);
        let response = self.get(&url, None).await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| HubError::other(format!("reading the answer of GET {url}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| {
            HubError::other(format!("GET {url} answered what is not a model info: {e}"))
        })
    }

    /// GETs `url` (with `Range: bytes=a-b` for `range`), following redirects and retrying as
    /// the module doc says; a 2xx answer is returned, anything else is an error.
    pub async fn get(
        &self,
        url: &str,
        range: Option<Range<u64>>,
    ) -> Result<reqwest::Response, HubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = match self.follow(url, range.clone()).await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let final_url = response.url().to_string();
                    if status == StatusCode::TOO_MANY_REQUESTS && attempt < MAX_ATTEMPTS {
                        retry_after(&headers, attempt, SystemTime::now())
                    } else if status.is_server_error() && attempt < MAX_ATTEMPTS {
                        RETRY_BACKOFF.delay(attempt)
                    } else {
                        return Err(self.status_error(status, &headers, &final_url, attempt));
                    }
                }
                Err(Failure::Transport(error)) if attempt < MAX_ATTEMPTS => {
                    debug!(url, attempt, %error, "the Hub request failed; retrying");
                    RETRY_BACKOFF.delay(attempt)
                }
                Err(Failure::Transport(error)) => {
                    return Err(HubError::other(format!(
                        "GET {url} failed after {attempt} attempts: {error}"
                    )))
                }
                Err(Failure::Final(error)) => return Err(error),
            };
            debug!(url, attempt, ?wait, "retrying the Hub request");
            tokio::time::sleep(wait).await;
        }
    }

    /// The error of a failed answer after `attempts` attempts; a 429 or a 5xx that outlived
    /// the retries says what it means and what to do.
    fn status_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        url: &str,
        attempts: u32,
    ) -> HubError {
        let code = header_text(headers, "x-error-code");
        let server = header_text(headers, "x-error-message");
        let mut message = format!("GET {url} answered {status}");
        if attempts > 1 {
            message.push_str(&format!(" on each of {attempts} attempts"));
        }
        if let Some(code) = &code {
            message.push_str(&format!(" ({code})"));
        }
        if let Some(server) = server {
            message.push_str(&format!(": {server}"));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let token = if self.sends_token() {
                "the limit is per account: check that no other job shares this token"
            } else {
                "requests with a token (HF_TOKEN, or `hf auth login`) have a higher limit"
            };
            message.push_str(&format!(
                "; the Hub is rate-limiting these requests (HTTP 429, waited for its Retry-After \
                 between attempts): wait a few minutes and run again, with a lower --concurrency; \
                 {token}"
            ));
        } else if status.is_server_error() {
            message.push_str(&format!(
                "; the Hub at {} failed on its side (HTTP {}): run again later; for the public \
                 Hub, https://status.huggingface.co shows its incidents",
                self.config.endpoint,
                status.as_u16()
            ));
        }
        HubError {
            kind: classify(status.as_u16(), code.as_deref()),
            status: Some(status.as_u16()),
            code,
            message,
        }
    }

    /// One attempt: the request and its redirects.
    async fn follow(
        &self,
        url: &str,
        range: Option<Range<u64>>,
    ) -> Result<reqwest::Response, Failure> {
        let mut current = Url::parse(url)
            .map_err(|e| Failure::Final(HubError::other(format!("{url} is not a URL: {e}"))))?;
        let endpoint = origin(&self.endpoint);
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.get(current.clone());
            if let Some(range) = &range {
                request = request.header(
                    RANGE,
                    format!("bytes={}-{}", range.start, range.end.saturating_sub(1)),
                );
            }
            if let Some(token) = self
                .config
                .token
                .as_deref()
                .filter(|_| origin(&current) == endpoint)
            {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = request
                .send()
                .await
                .map_err(|e| Failure::Transport(chain(&e)))?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Failure::Final(HubError::other(format!(
                        "GET {current} answered {} without a Location",
                        response.status()
                    )))
                })?;
            let next = current.join(location).map_err(|e| {
                Failure::Final(HubError::other(format!(
                    "GET {current} redirected to {location:?}, which is not a URL: {e}"
                )))
            })?;
            debug!(from = %current, to = %next, "following a redirect");
            current = next;
        }
        Err(Failure::Final(HubError::other(format!(
            "GET {url} redirected more than {MAX_REDIRECTS} times"
        ))))
    }
}

/// Why one attempt failed without an answer to judge.
enum Failure {
    /// The connection or the request failed: retried.
    Transport(String),
    /// Not worth another attempt.
    Final(HubError),
}

/// An error with its causes, in one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// The files of a revision by path, for lookups.
pub fn siblings_by_path(info: &RevisionInfo) -> BTreeMap<&str, &Sibling> {
    info.siblings
        .iter()
        .map(|s| (s.rfilename.as_str(), s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str, token: Option<&str>) -> HubClient {
        let mut vars = std::collections::HashMap::new();
        vars.insert("HF_ENDPOINT".to_string(), endpoint.to_string());
        vars.insert("HF_HOME".to_string(), "/nonexistent-hf-home".to_string());
        if let Some(token) = token {
            vars.insert("HF_TOKEN".to_string(), token.to_string());
        }
        HubClient::new(HubConfig::resolve(&vars, std::path::Path::new("/h"))).unwrap()
    }

    #[test]
    fn urls_quote_as_huggingface_hub_does() {
        let hub = client("http://127.0.0.1:1/", None);
        assert_eq!(
            hub.revision_url("org/name", "refs/pr/1"),
            "http://127.0.0.1:1/api/models/org/name/revision/refs%2Fpr%2F1?blobs=true"
        );
        assert_eq!(
            hub.resolve_url("org/name", "abc", "sub dir/a+b.json"),
            "http://127.0.0.1:1/org/name/resolve/abc/sub%20dir/a%2Bb.json"
        );
        assert_eq!(hub.page_url("org/name"), "http://127.0.0.1:1/org/name");
    }

    #[test]
    fn a_mirror_under_a_path_keeps_its_prefix() {
        let hub = client("http://127.0.0.1:1/hf-mirror/", Some("hf_x"));
        assert_eq!(
            hub.revision_url("org/name", "main"),
            "http://127.0.0.1:1/hf-mirror/api/models/org/name/revision/main?blobs=true"
        );
        assert_eq!(
            hub.resolve_url("org/name", "abc", "config.json"),
            "http://127.0.0.1:1/hf-mirror/org/name/resolve/abc/config.json"
        );
        assert_eq!(
            hub.page_url("org/name"),
            "http://127.0.0.1:1/hf-mirror/org/name"
        );
    }

    #[test]
    fn error_codes_win_over_statuses() {
        assert_eq!(classify(404, None), HubErrorKind::NotFound);
        assert_eq!(
            classify(401, Some("RepoNotFound")),
            HubErrorKind::AccessDenied
        );
        assert_eq!(classify(404, Some("RepoNotFound")), HubErrorKind::NotFound);
        assert_eq!(classify(403, Some("GatedRepo")), HubErrorKind::AccessDenied);
        assert_eq!(classify(401, Some("GatedRepo")), HubErrorKind::AccessDenied);
        assert_eq!(
            classify(401, Some("RevisionNotFound")),
            HubErrorKind::NotFound
        );
        assert_eq!(classify(400, Some("EntryNotFound")), HubErrorKind::NotFound);
        assert_eq!(classify(401, None), HubErrorKind::AccessDenied);
        assert_eq!(classify(500, None), HubErrorKind::Other);
    }

    #[test]
    fn retry_after_is_bounded() {
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers, 1, now), Duration::from_secs(2));
        headers.insert(RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers, 1, now), MAX_RETRY_AFTER);
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, 2, now), RETRY_BACKOFF.delay(2));
        headers.remove(RETRY_AFTER);
        assert_eq!(retry_after(&headers, 3, now), RETRY_BACKOFF.delay(3));
    }

    #[test]
    fn retry_after_as_an_http_date_is_the_time_until_then() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:07 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, 1, now), Duration::from_secs(7));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:27:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, 1, now), Duration::ZERO);
        headers.insert(
            RETRY_AFTER,
            "Thu, 22 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, 1, now), MAX_RETRY_AFTER);
    }

    #[test]
    fn a_token_goes_to_the_endpoint_origin_only() {
        let hub = client("http://127.0.0.1:8080", Some("hf_x"));
        let endpoint = origin(&hub.endpoint);
        for (url, same) in [
            ("http://127.0.0.1:8080/a/b", true),
            ("http://127.0.0.1:8081/a/b", false),
            ("https://127.0.0.1:8080/a/b", false),
            ("http://localhost:8080/a/b", false),
        ] {
            assert_eq!(origin(&Url::parse(url).unwrap()) == endpoint, same, "{url}");
        }
        assert!(hub.sends_token());
    }

    #[test]
    fn a_model_info_parses() {
        let info: RevisionInfo = serde_json::from_str(
            r#"{"id":"org/name","sha":"0123456789012345678901234567890123456789","private":false,
               "siblings":[{"rfilename":"config.json","size":10,"blobId":"b1"},
                           {"rfilename":"model.safetensors","size":100,"blobId":"b2",
                            "lfs":{"sha256":"aa","size":100,"pointerSize":130}}]}"#,
        )
        .unwrap();
        assert_eq!(info.siblings.len(), 2);
        assert!(!info.gated);
        for (gated, expected) in [("false", false), ("\"manual\"", true), ("\"auto\"", true)] {
            let info: RevisionInfo =
                serde_json::from_str(&format!(r#"{{"id":"o/n","sha":"x","gated":{gated}}}"#))
                    .unwrap();
            assert_eq!(info.gated, expected, "{gated}");
        }
        assert_eq!(info.siblings[1].lfs.as_ref().map(|l| l.size), Some(100));
        assert_eq!(siblings_by_path(&info).len(), 2);
    }
}
