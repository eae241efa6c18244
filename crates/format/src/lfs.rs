//! Git LFS pointer files: what a clone without Git LFS holds in place of large files.
//!
//! A pointer is a short text file (the Git LFS specification, git-lfs/git-lfs `docs/spec.md`):
//!
//! ```text
//! version https://git-lfs.github.com/spec/v1
//! oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393
//! size 12345
//! ```
//!
//! Recognising one needs only the first bytes of a file, which the check reads anyway (the
//! speculative header read of a safetensors file, or a document read whole): no extra request.

use crate::finding::Finding;
use crate::inputs::Artifact;
use crate::rules::RuleId;

/// The first line of a pointer, one per spec version: the current one, and the pre-release
/// name (Hawser) that Git LFS still accepts.
pub const POINTER_VERSION_LINES: &[&str] = &[
    "version https://git-lfs.github.com/spec/v1",
    "version https://hawser.github.com/spec/v1",
];

/// What a pointer says about the file it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pointer {
    /// The `oid` value, such as `sha256:4d7a…`, when present in the bytes at hand.
    pub oid: Option<String>,
    /// The `size` of the real file in bytes, when present in the bytes at hand.
    pub size: Option<u64>,
}

impl Pointer {
    /// Parses the first bytes of a file; `None` unless they start with a pointer's version
    /// line. A prefix cut before the `oid` and `size` lines still counts as a pointer.
    pub fn parse(file_start: &[u8]) -> Option<Pointer> {
        let version = POINTER_VERSION_LINES
            .iter()
            .find(|line| file_start.starts_with(line.as_bytes()))?;
        let rest = &file_start[version.len()..];
        if !(rest.is_empty() || rest.starts_with(b"\n") || rest.starts_with(b"\r\n")) {
            return None;
        }
        let text = String::from_utf8_lossy(rest);
        let mut pointer = Pointer::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("oid", value)) => pointer.oid = Some(value.to_string()),
                Some(("size", value)) => pointer.size = value.trim().parse().ok(),
                _ => {}
            }
        }
        Some(pointer)
    }

    /// One phrase for messages: `a Git LFS pointer to 4976698672 bytes (sha256:…)`.
    pub fn describe(&self) -> String {
        let mut text = "a Git LFS pointer".to_string();
        if let Some(size) = self.size {
            text.push_str(&format!(" to {size} bytes"));
        }
        if let Some(oid) = &self.oid {
            text.push_str(&format!(" ({oid})"));
        }
        text
    }
}

/// The artifact without the documents that are pointers, which become unreadable files
/// reported as [`RuleId::GitLfsPointer`]: the rules of config.json and the tokenizer files
/// then stay silent about them instead of reporting invalid JSON. `None` when no document is
/// a pointer (the common case, which copies nothing).
pub(crate) fn without_pointer_documents(artifact: &Artifact) -> Option<Artifact> {
    let mut pointers: Vec<(&String, Pointer)> = artifact
        .documents
        .iter()
        .filter_map(|(path, bytes)| Pointer::parse(bytes).map(|p| (path, p)))
        .collect();
    if pointers.is_empty() {
        return None;
    }
    pointers.sort_by(|a, b| a.0.cmp(b.0));
    let mut stripped = artifact.clone();
    for (path, pointer) in pointers {
        stripped.documents.remove(path);
        let finding = Finding::new(
            RuleId::GitLfsPointer,
            path.clone(),
            format!("is {}, not the file itself", pointer.describe()),
        );
        stripped.unreadable.insert(path.clone(), finding);
    }
    Some(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POINTER: &str = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";

    #[test]
    fn parses_pointers_and_their_prefixes() {
        let pointer = Pointer::parse(POINTER.as_bytes()).expect("a pointer");
        assert_eq!(pointer.size, Some(12345));
        assert_eq!(
            pointer.oid.as_deref(),
            Some("sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393")
        );
        assert_eq!(
            pointer.describe(),
            "a Git LFS pointer to 12345 bytes (sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393)"
        );
        let cut = Pointer::parse(&POINTER.as_bytes()[..42]).expect("the version line alone");
        assert_eq!(cut, Pointer::default());
        let hawser = POINTER.replace("git-lfs", "hawser");
        assert!(Pointer::parse(hawser.as_bytes()).is_some());
    }

    #[test]
    fn pointer_documents_are_reported_once_each() {
        let files = [
            ("config.json", POINTER.as_bytes().to_vec()),
            ("tokenizer.json", POINTER.as_bytes().to_vec()),
            (
                "tokenizer_config.json",
                br#"{"chat_template": "{{ x }}"}"#.to_vec(),
            ),
        ];
        let artifact = Artifact {
            entries: files
                .iter()
                .map(|(path, bytes)| crate::Entry {
                    path: path.to_string(),
                    size: bytes.len() as u64,
                })
                .collect(),
            documents: files
                .into_iter()
                .map(|(path, bytes)| (path.to_string(), bytes))
                .collect(),
            ..Artifact::default()
        };
        let report = crate::check(&artifact);
        let found: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.file.as_str(), f.code()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("", "LY002"),
                ("config.json", "ST016"),
                ("tokenizer.json", "ST016")
            ]
        );
        assert!(report.findings[1].message.contains("to 12345 bytes"));
    }

    #[test]
    fn other_bytes_are_not_pointers() {
        for bytes in [
            &b"version https://git-lfs.github.com/spec/v10\n"[..],
            b"version ",
            b"{\"version\": 1}",
            b"",
            &[0x28, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(Pointer::parse(bytes), None, "{bytes:?}");
        }
    }
}
