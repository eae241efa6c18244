//! Where the Hub is and who reads it, resolved from the environment exactly as
//! `huggingface_hub` 0.36.2 resolves it (`huggingface_hub/constants.py` and
//! `huggingface_hub/utils/_auth.py`):
//!
//! - `HF_ENDPOINT` (default `https://huggingface.co`), trailing `/` removed;
//! - `HF_HOME` (default `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`), with `~`
//!   and `$VAR` expanded;
//! - `HF_HUB_CACHE` (else the legacy `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`);
//! - the token: `HF_TOKEN`, else the legacy `HUGGING_FACE_HUB_TOKEN`, else the file
//!   `HF_TOKEN_PATH` (default `$HF_HOME/token`, the one `hf auth login` writes), with line
//!   breaks removed and blanks trimmed; an empty token is none;
//! - `HF_HUB_OFFLINE` (else `TRANSFORMERS_OFFLINE`): one of `1`, `ON`, `YES`, `TRUE` in any case;
//! - `HF_HUB_DISABLE_IMPLICIT_TOKEN`: the token is then not sent.
//!
//! The resolution takes the variables and the home folder as arguments, so that it is tested
//! without touching the process environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The public Hub, when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where the token that is sent came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The `HF_TOKEN` variable (or the legacy `HUGGING_FACE_HUB_TOKEN`).
    Environment(String),
    /// The token file (`HF_TOKEN_PATH`, or `$HF_HOME/token`).
    File(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Environment(name) => write!(f, "${name}"),
            TokenSource::File(path) => write!(f, "the token file {}", path.display()),
        }
    }
}

/// The Hub configuration of one run.
#[derive(Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The Hub's base URL, without a trailing `/`.
    pub endpoint: String,
    /// The access token to send, if any.
    pub token: Option<String>,
    /// Where the token came from.
    pub token_source: Option<TokenSource>,
    /// Whether no request may reach the Hub (`HF_HUB_OFFLINE`).
    pub offline: bool,
    /// `HF_HOME`: the folder of the Hub's tools' state.
    pub home: PathBuf,
    /// `HF_HUB_CACHE`: the local cache of Hub repositories.
    pub hub_cache: PathBuf,
    /// The token file that was looked at (`HF_TOKEN_PATH`).
    pub token_path: PathBuf,
}

impl std::fmt::Debug for HubConfig {
    /// Everything but the token itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("token_source", &self.token_source)
            .field("offline", &self.offline)
            .field("home", &self.home)
            .field("hub_cache", &self.hub_cache)
            .field("token_path", &self.token_path)
            .finish()
    }
}

/// `constants._is_true`: `1`, `ON`, `YES` or `TRUE`, in any case.
fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| ["1", "ON", "YES", "TRUE"].contains(&v.to_uppercase().as_str()))
}

/// A variable whose empty value counts as unset (Python's `os.environ.get(a) or ...`).
fn non_empty<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `os.path.expanduser`: a leading `~` alone or before `/` is the home folder.
fn expand_user(path: &str, home: &Path) -> String {
    match path.strip_prefix('~') {
        Some("") => home.display().to_string(),
        Some(rest) if rest.starts_with('/') => format!("{}{rest}", home.display()),
        _ => path.to_string(),
    }
}

/// `os.path.expandvars` (POSIX): `$name` and `${name}` of set variables are replaced, others
/// left as they are.
fn expand_vars(path: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => ("", after),
            }
        } else {
            let end = after.find(|c: char| !word(c)).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match vars.get(name).filter(|_| !name.is_empty()) {
            Some(value) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `os.path.expandvars(os.path.expanduser(path))`.
fn expand(path: &str, vars: &HashMap<String, String>, home: &Path) -> PathBuf {
    PathBuf::from(expand_vars(&expand_user(path, home), vars))
}

/// `_auth._clean_token`: line breaks removed, blanks trimmed, empty is none.
fn clean_token(token: &str) -> Option<String> {
    let cleaned: String = token.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

impl HubConfig {
    /// Resolves the configuration from `vars` (the environment) and `home` (the user's home
    /// folder), reading the token file when no token variable is set.
    pub fn resolve(vars: &HashMap<String, String>, home: &Path) -> HubConfig {
        let endpoint = vars
            .get("HF_ENDPOINT")
            .map_or(DEFAULT_ENDPOINT, String::as_str)
            .trim_end_matches('/')
            .to_string();
        let default_home = home.join(".cache").display().to_string();
        let hf_home = match vars.get("HF_HOME") {
            Some(value) => value.clone(),
            None => Path::new(vars.get("XDG_CACHE_HOME").unwrap_or(&default_home))
                .join("huggingface")
                .display()
                .to_string(),
        };
        let hf_home = expand(&hf_home, vars, home);
        let hub_cache = match vars
            .get("HF_HUB_CACHE")
            .or_else(|| vars.get("HUGGINGFACE_HUB_CACHE"))
        {
            Some(value) => expand(value, vars, home),
            None => hf_home.join("hub"),
        };
        let token_path = match vars.get("HF_TOKEN_PATH") {
            Some(value) => expand(value, vars, home),
            None => hf_home.join("token"),
        };
        let offline = is_true(
            non_empty(vars, "HF_HUB_OFFLINE")
                .or_else(|| vars.get("TRANSFORMERS_OFFLINE").map(String::as_str)),
        );
        let from_env = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
            .into_iter()
            .find_map(|name| non_empty(vars, name).map(|value| (name, value)));
        let (token, token_source) = match from_env {
            Some((name, value)) => (
                clean_token(value),
                Some(TokenSource::Environment(name.to_string())),
            ),
            None => match std::fs::read_to_string(&token_path) {
                Ok(text) => (
                    clean_token(&text),
                    Some(TokenSource::File(token_path.clone())),
                ),
                Err(_) => (None, None),
            },
        };
        let token_source = token.as_ref().and(token_source);
        let implicit = !is_true(
            vars.get("HF_HUB_DISABLE_IMPLICIT_TOKEN")
                .map(String::as_str),
        );
        let (token, token_source) = if implicit {
            (token, token_source)
        } else {
            (None, None)
        };
        HubConfig {
            endpoint,
            token,
            token_source,
            offline,
            home: hf_home,
            hub_cache,
            token_path,
        }
    }

    /// The configuration of this process: its environment and `$HOME`.
    pub fn from_env() -> HubConfig {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let home = vars.get("HOME").map(PathBuf::from).unwrap_or_default();
        HubConfig::resolve(&vars, &home)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_public_hub_and_the_home_cache() {
        let home = tempfile::tempdir().unwrap();
        let config = HubConfig::resolve(&vars(&[]), home.path());
        assert_eq!(config.endpoint, "https://huggingface.co");
        assert_eq!(config.home, home.path().join(".cache/huggingface"));
        assert_eq!(config.hub_cache, home.path().join(".cache/huggingface/hub"));
        assert_eq!(
            config.token_path,
            home.path().join(".cache/huggingface/token")
        );
        assert_eq!((config.token, config.offline), (None, false));
    }

    #[test]
    fn endpoint_loses_its_trailing_slashes() {
        let config = HubConfig::resolve(
            &vars(&[("HF_ENDPOINT", "http://127.0.0.1:9/mirror//")]),
            Path::new("/h"),
        );
        assert_eq!(config.endpoint, "http://127.0.0.1:9/mirror");
    }

    #[test]
    fn xdg_cache_home_then_hf_home_then_hub_cache() {
        let home = Path::new("/h");
        let xdg = HubConfig::resolve(&vars(&[("XDG_CACHE_HOME", "/x")]), home);
        assert_eq!(xdg.home, Path::new("/x/huggingface"));
        assert_eq!(xdg.hub_cache, Path::new("/x/huggingface/hub"));
        let hf_home = HubConfig::resolve(
            &vars(&[("XDG_CACHE_HOME", "/x"), ("HF_HOME", "~/hf")]),
            home,
        );
        assert_eq!(hf_home.home, Path::new("/h/hf"));
        assert_eq!(hf_home.token_path, Path::new("/h/hf/token"));
        let legacy = HubConfig::resolve(&vars(&[("HUGGINGFACE_HUB_CACHE", "/legacy")]), home);
        assert_eq!(legacy.hub_cache, Path::new("/legacy"));
        let both = HubConfig::resolve(
            &vars(&[
                ("HUGGINGFACE_HUB_CACHE", "/legacy"),
                ("HF_HUB_CACHE", "$BASE/${NAME}/$UNSET"),
                ("BASE", "/b"),
                ("NAME", "n"),
            ]),
            home,
        );
        assert_eq!(both.hub_cache, Path::new("/b/n/$UNSET"));
    }

    #[test]
    fn the_token_variable_wins_over_the_file() {
        let home = tempfile::tempdir().unwrap();
        let hf_home = home.path().join("hf");
        std::fs::create_dir_all(&hf_home).unwrap();
        std::fs::write(hf_home.join("token"), "hf_file\r\n").unwrap();
        let hf_home_text = hf_home.display().to_string();
        let from_file = HubConfig::resolve(&vars(&[("HF_HOME", &hf_home_text)]), home.path());
        assert_eq!(from_file.token.as_deref(), Some("hf_file"));
        assert_eq!(
            from_file.token_source,
            Some(TokenSource::File(hf_home.join("token")))
        );
        let from_env = HubConfig::resolve(
            &vars(&[("HF_HOME", &hf_home_text), ("HF_TOKEN", " hf_env\n")]),
            home.path(),
        );
        assert_eq!(from_env.token.as_deref(), Some("hf_env"));
        assert_eq!(
            from_env.token_source,
            Some(TokenSource::Environment("HF_TOKEN".into()))
        );
        let legacy = HubConfig::resolve(
            &vars(&[("HF_TOKEN", ""), ("HUGGING_FACE_HUB_TOKEN", "hf_old")]),
            home.path(),
        );
        assert_eq!(legacy.token.as_deref(), Some("hf_old"));
        let disabled = HubConfig::resolve(
            &vars(&[
                ("HF_TOKEN", "hf_env"),
                ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "yes"),
            ]),
            home.path(),
        );
        assert_eq!(disabled.token, None);
        let path = home.path().join("elsewhere");
        std::fs::write(&path, "  \n").unwrap();
        let blank = HubConfig::resolve(
            &vars(&[("HF_TOKEN_PATH", &path.display().to_string())]),
            home.path(),
        );
        assert_eq!((blank.token, blank.token_source), (None, None));
    }

    #[test]
    fn offline_accepts_the_true_words_in_any_case() {
        for (value, offline) in [
            ("1", true),
            ("on", true),
            ("Yes", true),
            ("TRUE", true),
            ("0", false),
            ("no", false),
        ] {
            let config = HubConfig::resolve(&vars(&[("HF_HUB_OFFLINE", value)]), Path::new("/h"));
            assert_eq!(config.offline, offline, "{value}");
        }
        let transformers =
            HubConfig::resolve(&vars(&[("TRANSFORMERS_OFFLINE", "1")]), Path::new("/h"));
        assert!(transformers.offline);
        assert!(
            !HubConfig::resolve(
                &vars(&[("HF_HUB_OFFLINE", "0"), ("TRANSFORMERS_OFFLINE", "1")]),
                Path::new("/h")
            )
            .offline
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = HubConfig::resolve(&vars(&[("HF_TOKEN", "hf_secret")]), Path::new("/h"));
        assert!(!format!("{config:?}").contains("hf_secret"));
    }
}
