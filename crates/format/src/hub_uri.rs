//! Hugging Face Hub URIs (`hf://org/name[@revision]`): the one parser of a model on the Hub.
//!
//! The repository id follows the rules `huggingface_hub` enforces before any request
//! (`huggingface_hub.utils.validate_repo_id`): an optional namespace and a name, each of ASCII
//! letters, digits, `-`, `_` and `.`, starting and ending with a letter, digit or `_`, the name
//! at most 96 characters, no `--` or `..`, no `.git` at the end. The revision is a branch, a tag
//! or a commit, everything after the first `@` (it may hold `/`, as `refs/pr/1` does).
//! Only models: `hf://datasets/...` and `hf://spaces/...` are refused with the reason.

use std::fmt;
use std::str::FromStr;

/// The scheme of a Hub source.
pub const HUB_SCHEME: &str = "hf://";

/// The longest repository name (the part after the namespace) the Hub accepts.
pub const REPO_NAME_MAX_LEN: usize = 96;

/// The revision read when none is given: the Hub's default branch name.
pub const DEFAULT_REVISION: &str = "main";

/// A parsed `hf://org/name[@revision]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubUri {
    /// The repository id, `org/name` (or a bare `name` of the Hub's oldest models).
    pub repo_id: String,
    /// The revision as given (branch, tag or commit); `None` for the default branch.
    pub revision: Option<String>,
}

impl HubUri {
    /// The revision to resolve: the one given, else [`DEFAULT_REVISION`].
    pub fn revision_or_default(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }
}

/// Why a string is not an `hf://` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{uri:?} is not a Hugging Face Hub model: {reason}")]
pub struct HubUriError {
    /// The text given.
    pub uri: String,
    /// What is wrong.
    pub reason: String,
}

/// Whether `source` names the Hub (any case of the scheme, so that `HF://` reaches the parser
/// and its explanation rather than "does not exist").
pub fn is_hub(source: &str) -> bool {
    source
        .get(..HUB_SCHEME.len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(HUB_SCHEME))
}

/// Why `part` (the namespace or the name) is not a valid part of a repository id, if it is not.
fn part_error(part: &str, what: &str) -> Option<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if part.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    if let Some(bad) = part.chars().find(|&c| !word(c) && c != '-' && c != '.') {
        return Some(format!(
            "the {what} {part:?} holds {bad:?}; only ASCII letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    if !part.starts_with(word) || !part.ends_with(word) {
        return Some(format!(
            "the {what} {part:?} must start and end with a letter, a digit or '_'"
        ));
    }
    None
}

impl FromStr for HubUri {
    type Err = HubUriError;

    fn from_str(uri: &str) -> Result<HubUri, HubUriError> {
        let error = |reason: String| HubUriError {
            uri: uri.to_string(),
            reason,
        };
        let rest = uri
            .strip_prefix(HUB_SCHEME)
            .ok_or_else(|| error("it must start with hf:// (lowercase)".to_string()))?;
        let (repo_id, revision) = match rest.split_once('@') {
            Some((repo_id, revision)) => (repo_id, Some(revision)),
            None => (rest, None),
        };
        let repo_id = repo_id.strip_suffix('/').unwrap_or(repo_id);
        if let Some(kind) = ["datasets/", "spaces/"]
            .iter()
            .find(|kind| repo_id.starts_with(*kind))
        {
            return Err(error(format!(
                "only models can be imported, and this names one of the Hub's {}",
                kind.trim_end_matches('/')
            )));
        }
        let repo_id = repo_id.strip_prefix("models/").unwrap_or(repo_id);
        let parts: Vec<&str> = repo_id.split('/').collect();
        if parts.len() > 2 {
            return Err(error(format!(
                "{repo_id:?} has {} parts; give org/name (a folder inside the repository is not a model)",
                parts.len()
            )));
        }
        let name = parts[parts.len() - 1];
        if parts.len() == 2 {
            if let Some(reason) = part_error(parts[0], "organization") {
                return Err(error(reason));
            }
        }
        if let Some(reason) = part_error(name, "name") {
            return Err(error(reason));
        }
        if name.len() > REPO_NAME_MAX_LEN {
            return Err(error(format!(
                "the name is {} characters, more than the Hub's {REPO_NAME_MAX_LEN}",
                name.len()
            )));
        }
        if repo_id.contains("--") || repo_id.contains("..") {
            return Err(error(
                "a repository id never holds '--' or '..'".to_string(),
            ));
        }
        if repo_id.ends_with(".git") {
            return Err(error("a repository id never ends with .git".to_string()));
        }
        let revision = match revision {
            Some("") => return Err(error("the revision after '@' is empty".to_string())),
            Some(revision) if revision.chars().any(char::is_control) => {
                return Err(error("the revision holds a control character".to_string()))
            }
            Some(revision) => Some(revision.to_string()),
            None => None,
        };
        Ok(HubUri {
            repo_id: repo_id.to_string(),
            revision,
        })
    }
}

impl fmt::Display for HubUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HUB_SCHEME}{}", self.repo_id)?;
        match &self.revision {
            Some(revision) => write!(f, "@{revision}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<HubUri, String> {
        uri.parse::<HubUri>().map_err(|e| e.reason)
    }

    #[test]
    fn parses_repo_and_revision() {
        let uri = parse("hf://meta-llama/Llama-3.1-8B-Instruct").unwrap();
        assert_eq!(uri.repo_id, "meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(uri.revision, None);
        assert_eq!(uri.revision_or_default(), "main");
        let uri = parse("hf://org/name@refs/pr/1").unwrap();
        assert_eq!(uri.revision.as_deref(), Some("refs/pr/1"));
        assert_eq!(uri.to_string(), "hf://org/name@refs/pr/1");
        assert_eq!(parse("hf://gpt2").unwrap().repo_id, "gpt2");
        assert_eq!(parse("hf://models/org/name/").unwrap().repo_id, "org/name");
    }

    #[test]
    fn refuses_what_the_hub_refuses() {
        for (uri, reason) in [
            ("s3://b/p/", "must start with hf://"),
            ("hf://datasets/org/name", "only models"),
            ("hf://spaces/org/name", "only models"),
            ("hf://org/name/sub", "3 parts"),
            ("hf://org/-name", "must start and end"),
            ("hf://org/name.", "must start and end"),
            ("hf://org/na me", "holds ' '"),
            ("hf://org/na--me", "'--'"),
            ("hf://org/na..me", "'..'"),
            ("hf://org/name.git", ".git"),
            ("hf:///name", "organization is empty"),
            ("hf://org/name@", "revision after '@' is empty"),
        ] {
            let got = parse(uri).unwrap_err();
            assert!(got.contains(reason), "{uri}: {got}");
        }
        let long = format!("hf://org/{}", "a".repeat(97));
        assert!(parse(&long).unwrap_err().contains("more than the Hub's 96"));
        assert!(parse(&format!("hf://org/{}", "a".repeat(96))).is_ok());
    }

    #[test]
    fn tells_hub_sources_in_any_case() {
        assert!(is_hub("hf://org/name"));
        assert!(is_hub("HF://org/name"));
        assert!(!is_hub("./hf"));
        assert!(!is_hub("s3://b/"));
    }
}
