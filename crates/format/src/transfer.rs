//! What `push` sends and how it cuts it, decided without I/O: which files of a listing go to
//! the destination ([`select`], with one table of skip rules, [`SKIP_RULES`]), the index
//! rewrite of `--fix-index` ([`fix_index`]) and the multipart part size of a file
//! ([`part_size`]).
//!
//! The selection shares the knowledge of the layout rules (crates/format/src/layout.rs): a
//! file it sends never makes the destination fail `check` for its place in the layout (LY004,
//! LY006, LY012), and a file it skips is never one that `check` needs. It never hides why
//! `check` fails either: pickle files are skipped only beside safetensors weights (without
//! them, they are sent, and `check` names them, LY003), and the adapter and embedding-model
//! markers (LY005, LY011) are sent so that `check` refuses them. The selection sees names
//! only: a file whose *content* is a pickle under another name is sent, and the `check` of
//! the selection names it (LY004).

use std::fmt::Write as _;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde_json::Value;

use crate::index::UNSUPPORTED_METADATA_KEYS;
use crate::inputs::{is_needed_file, Entry};
use crate::layout::{ADAPTER_FILES, EMBEDDING_MODEL_FILES, EXTRA_FOLDERS, PICKLE_EXTENSIONS};
use crate::rules::RuleId;

/// How a [`SkipRule`] recognises a file of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipMatch {
    /// Every file under this top-level folder.
    Folder(&'static str),
    /// Every file under a top-level folder whose name starts with this prefix.
    FolderPrefix(&'static str),
    /// Every file under a folder of [`EXTRA_FOLDERS`] for the artifact's `model_type`.
    ExtraFolders,
    /// Every file under any other top-level folder.
    AnyFolder,
    /// A top-level file with one of these names; a name may hold one `*`, which stands for
    /// any characters.
    Names(&'static [&'static str]),
    /// A top-level file whose name starts with `.`.
    Hidden,
    /// A top-level file whose name ends with one of these extensions (ASCII case ignored).
    Extensions(&'static [&'static str]),
    /// A top-level file with one of the [`PICKLE_EXTENSIONS`], when the artifact has
    /// safetensors weights at the top level.
    PickleBesideSafetensors,
}

/// One reason to leave a file out of the upload.
#[derive(Debug)]
pub struct SkipRule {
    /// Short name of the rule (`hf-cache`), stable for JSON output.
    pub name: &'static str,
    /// Which files it matches.
    pub matches: SkipMatch,
    /// Why they are left out: one line.
    pub reason: &'static str,
}

/// The files that transformers' `Trainer` writes beside or instead of a model (transformers
/// 4.51.3 `trainer.py`: `TRAINING_ARGS_NAME`, `TRAINER_STATE_NAME`, `OPTIMIZER_NAME`,
/// `OPTIMIZER_NAME_BIN`, `SCALER_NAME`, `SCHEDULER_NAME`, and `_load_rng_state`'s
/// `rng_state.pth` and `rng_state_{process_index}.pth`). They are at the top level of a
/// `checkpoint-N/` folder pushed as the source, and `Trainer.save_model` writes
/// `training_args.bin` beside the final model.
pub const TRAINER_FILES: &[&str] = &[
    "training_args.bin",
    "trainer_state.json",
    "optimizer.pt",
    "optimizer.bin",
    "scaler.pt",
    "scheduler.pt",
    "rng_state.pth",
    "rng_state_*.pth",
];

/// The prefix of the folders of intermediate checkpoints: transformers 4.51.3
/// `trainer_utils.py` `PREFIX_CHECKPOINT_DIR = "checkpoint"`, folders `checkpoint-{step}`.
pub const CHECKPOINT_FOLDER_PREFIX: &str = "checkpoint-";

/// The skip rules, in the order they are tried (the first that matches gives the reason).
///
/// Folder rules come first: Bedrock reads the top level of the prefix only (LY006), so every
/// file of a sub-folder is skipped, the known folders with a reason of their own.
pub const SKIP_RULES: &[SkipRule] = &[
    SkipRule {
        name: "hf-cache",
        matches: SkipMatch::Folder(".cache"),
        // huggingface_hub (`_local_folder.py`): `hf download --local-dir` keeps its download
        // metadata in `<local_dir>/.cache/huggingface/download/<file>.metadata`.
        reason: "huggingface_hub's download metadata of a --local-dir download, not part of the model",
    },
    SkipRule {
        name: "git",
        matches: SkipMatch::Folder(".git"),
        reason: "the git repository of a clone, not part of the model",
    },
    SkipRule {
        name: "extra-folder",
        matches: SkipMatch::ExtraFolders,
        reason: "a folder of the reference repository that is not part of the import (LY012)",
    },
    SkipRule {
        name: "trainer-checkpoint",
        matches: SkipMatch::FolderPrefix(CHECKPOINT_FOLDER_PREFIX),
        reason: "an intermediate checkpoint of transformers' Trainer, not the final model",
    },
    SkipRule {
        name: "sub-folder",
        matches: SkipMatch::AnyFolder,
        reason: "in a sub-folder: Bedrock reads the top level of the prefix only (LY006)",
    },
    SkipRule {
        name: "trainer-state",
        matches: SkipMatch::Names(TRAINER_FILES),
        reason: "training state of transformers' Trainer (arguments, optimizer, scheduler, random generators), not needed to serve the model",
    },
    SkipRule {
        name: "hidden",
        matches: SkipMatch::Hidden,
        reason: "a hidden file (.gitattributes, .DS_Store), not part of the model",
    },
    SkipRule {
        name: "other-runtime",
        matches: SkipMatch::Extensions(&[".gguf", ".onnx"]),
        reason: "weights exported for another runtime (GGUF, ONNX), which Bedrock does not read",
    },
    SkipRule {
        name: "pickle-beside-safetensors",
        matches: SkipMatch::PickleBesideSafetensors,
        reason: "a pickle checkpoint beside the safetensors weights, which Bedrock does not read (LY004)",
    },
];

impl SkipRule {
    /// What the rule matches, in Markdown (the first column of docs/push.md's table).
    pub fn pattern(&self) -> String {
        let code = |items: Vec<String>| {
            items
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.matches {
            SkipMatch::Folder(folder) => code(vec![format!("{folder}/")]),
            SkipMatch::FolderPrefix(prefix) => code(vec![format!("{prefix}*/")]),
            SkipMatch::ExtraFolders => EXTRA_FOLDERS
                .iter()
                .map(|e| {
                    let folders = e.folders.iter().map(|(f, _)| format!("{f}/")).collect();
                    format!("{} when `model_type` is `{}`", code(folders), e.model_type)
                })
                .collect::<Vec<_>>()
                .join("; "),
            SkipMatch::AnyFolder => "any other sub-folder".to_string(),
            SkipMatch::Names(names) => code(names.iter().map(|n| n.to_string()).collect()),
            SkipMatch::Hidden => code(vec![".*".to_string()]),
            SkipMatch::Extensions(extensions) => {
                code(extensions.iter().map(|e| format!("*{e}")).collect())
            }
            SkipMatch::PickleBesideSafetensors => format!(
                "{} beside top-level `*.safetensors`",
                code(PICKLE_EXTENSIONS.iter().map(|e| format!("*{e}")).collect())
            ),
        }
    }

    fn matches(&self, entry: &Entry, model_type: Option<&str>, has_safetensors: bool) -> bool {
        let folder = entry.path.split_once('/').map(|(folder, _)| folder);
        let lower = entry.path.to_ascii_lowercase();
        match (self.matches, folder) {
            (SkipMatch::Folder(name), Some(folder)) => folder == name,
            (SkipMatch::FolderPrefix(prefix), Some(folder)) => folder.starts_with(prefix),
            (SkipMatch::ExtraFolders, Some(folder)) => extra_folder(model_type, folder).is_some(),
            (SkipMatch::AnyFolder, Some(_)) => true,
            (SkipMatch::Names(names), None) => names.iter().any(|n| wildcard(n, &entry.path)),
            (SkipMatch::Hidden, None) => entry.path.starts_with('.'),
            (SkipMatch::Extensions(extensions), None) => {
                extensions.iter().any(|e| lower.ends_with(e))
            }
            (SkipMatch::PickleBesideSafetensors, None) => has_safetensors && is_pickle_name(&lower),
            _ => false,
        }
    }
}

/// Whether `name` matches `pattern`, where one `*` in the pattern stands for any characters.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
        None => pattern == name,
    }
}

fn is_pickle_name(lowercase_path: &str) -> bool {
    PICKLE_EXTENSIONS
        .iter()
        .any(|ext| lowercase_path.ends_with(ext))
}

/// The [`EXTRA_FOLDERS`] entry of `folder` for `model_type`: the folder's name and what it
/// holds.
fn extra_folder(model_type: Option<&str>, folder: &str) -> Option<(&'static str, &'static str)> {
    let model_type = model_type?;
    EXTRA_FOLDERS
        .iter()
        .filter(|e| e.model_type == model_type)
        .flat_map(|e| e.folders.iter().copied())
        .find(|(name, _)| *name == folder)
}

/// Files that `check` must see to judge the artifact: the files it reads and the markers of an
/// adapter or an embedding model (which stay errors, LY005 and LY011, rather than skips).
fn never_skipped(entry: &Entry) -> bool {
    entry.is_top_level()
        && (is_needed_file(&entry.path)
            || ADAPTER_FILES.contains(&entry.path.as_str())
            || EMBEDDING_MODEL_FILES.contains(&entry.path.as_str()))
}

/// The layout rule a file would trigger at the destination, if any: LY006 or LY012 for a
/// file in a sub-folder, LY004 for a pickle checkpoint beside safetensors weights.
fn destination_rule(
    entry: &Entry,
    model_type: Option<&str>,
    has_safetensors: bool,
) -> Option<RuleId> {
    match entry.path.split_once('/') {
        Some((folder, _)) => Some(if extra_folder(model_type, folder).is_some() {
            RuleId::GptOssExtraFolder
        } else {
            RuleId::SubFolder
        }),
        None => (has_safetensors
            && !never_skipped(entry)
            && is_pickle_name(&entry.path.to_ascii_lowercase()))
        .then_some(RuleId::PickleBesideSafetensors),
    }
}

/// A `--include` or `--exclude` GLOB that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("--{flag} {glob:?} is not a valid GLOB: {message}")]
pub struct FilterError {
    /// `include` or `exclude`.
    pub flag: &'static str,
    /// The GLOB as given.
    pub glob: String,
    /// What is wrong with it.
    pub message: String,
}

/// The `--include` and `--exclude` GLOBs of `push`, matched against each file's path relative
/// to the artifact root (`/`-separated). `*`, `?` and `[...]` do not match `/`; `**` does.
///
/// The skip table applies first. Then `--include` brings back a file the table skipped,
/// unless sending it would make the destination fail `check` (a file in a sub-folder: LY006,
/// LY012; a pickle beside safetensors: LY004): such a file stays skipped, and its line says
/// that `--include` cannot bring it back. `--include` never restricts the selection to what it
/// matches. Last, `--exclude` leaves out every file it matches, whatever the table said (an
/// excluded file that `check` needs makes the `check` of the selection fail, which names it).
#[derive(Debug, Clone)]
pub struct Filters {
    include: Patterns,
    exclude: Patterns,
}

#[derive(Debug, Clone)]
struct Patterns {
    globs: Vec<String>,
    set: GlobSet,
}

impl Patterns {
    fn new(flag: &'static str, globs: &[String]) -> Result<Patterns, FilterError> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            builder.add(compile(flag, glob)?);
        }
        let set = builder.build().map_err(|e| FilterError {
            flag,
            glob: globs.join(" "),
            message: e.to_string(),
        })?;
        Ok(Patterns {
            globs: globs.to_vec(),
            set,
        })
    }

    /// The first GLOB (in the order given) that matches `path`.
    fn first_match(&self, path: &str) -> Option<&str> {
        self.set
            .matches(path)
            .into_iter()
            .min()
            .and_then(|i| self.globs.get(i))
            .map(String::as_str)
    }
}

fn compile(flag: &'static str, glob: &str) -> Result<Glob, FilterError> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| FilterError {
            flag,
            glob: glob.to_string(),
            message: e.kind().to_string(),
        })
}

impl Filters {
    /// Compiles the GLOBs of `--include` and `--exclude`.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filters, FilterError> {
        Ok(Filters {
            include: Patterns::new("include", include)?,
            exclude: Patterns::new("exclude", exclude)?,
        })
    }
}

impl Default for Filters {
    fn default() -> Self {
        let empty = Patterns {
            globs: Vec::new(),
            set: GlobSet::empty(),
        };
        Filters {
            include: empty.clone(),
            exclude: empty,
        }
    }
}

/// Why a file is not sent.
#[derive(Debug, Clone, PartialEq)]
pub enum SkipCause {
    /// A rule of [`SKIP_RULES`].
    Rule(&'static SkipRule),
    /// A `--exclude` GLOB (the first that matches).
    Excluded(String),
}

impl PartialEq for SkipRule {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// A file of the listing that is not sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The file.
    pub entry: Entry,
    /// Why.
    pub cause: SkipCause,
    /// The layout rule the file would trigger at the destination (LY004, LY006, LY012), if
    /// any: why `--include` cannot bring it back.
    pub rule: Option<RuleId>,
    /// Whether a `--include` GLOB matched the file but could not bring it back.
    pub include_refused: bool,
}

impl Skipped {
    /// Why the file is not sent, in one line.
    pub fn reason(&self) -> String {
        let mut line = match &self.cause {
            SkipCause::Excluded(glob) => format!("excluded by --exclude {glob}"),
            SkipCause::Rule(rule) => {
                let folder = self.entry.path.split_once('/').map(|(f, _)| f);
                match (rule.matches, folder.and_then(extra_folder_any)) {
                    (SkipMatch::ExtraFolders, Some(holds)) => {
                        format!("{holds}: not part of the import (LY012)")
                    }
                    _ => rule.reason.to_string(),
                }
            }
        };
        if self.include_refused {
            if let Some(rule) = self.rule {
                let _ = write!(
                    line,
                    "; --include cannot bring it back: the destination would fail check ({})",
                    rule.rule().code
                );
            }
        }
        line
    }
}

/// What an [`EXTRA_FOLDERS`] folder holds, for any model type (the rule matched already).
fn extra_folder_any(folder: &str) -> Option<&'static str> {
    EXTRA_FOLDERS
        .iter()
        .flat_map(|e| e.folders.iter())
        .find(|(name, _)| *name == folder)
        .map(|(_, holds)| *holds)
}

/// What `push` sends and what it leaves out, each sorted by path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// The files to upload.
    pub send: Vec<Entry>,
    /// The files left out, each with why.
    pub skipped: Vec<Skipped>,
}

impl Selection {
    /// Total size of the files to upload.
    pub fn send_bytes(&self) -> u64 {
        self.send.iter().map(|e| e.size).sum()
    }

    /// Total size of the files left out.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped.iter().map(|s| s.entry.size).sum()
    }
}

/// Decides which files of a listing `push` sends. `model_type` is config.json's (see
/// [`model_type`]), which names the architecture's extra folders (LY012); without it they
/// are skipped as sub-folders (LY006).
pub fn select(entries: &[Entry], model_type: Option<&str>, filters: &Filters) -> Selection {
    let has_safetensors = entries.iter().any(|e| {
        e.is_top_level()
            && e.is_safetensors()
            && !ADAPTER_FILES.contains(&e.path.as_str())
            && filters.exclude.first_match(&e.path).is_none()
    });
    let mut selection = Selection::default();
    for entry in entries {
        let rule = destination_rule(entry, model_type, has_safetensors);
        let table = if never_skipped(entry) {
            None
        } else {
            SKIP_RULES
                .iter()
                .find(|r| r.matches(entry, model_type, has_safetensors))
        };
        let included = filters.include.first_match(&entry.path).is_some();
        let mut skip = table.map(|r| Skipped {
            entry: entry.clone(),
            cause: SkipCause::Rule(r),
            rule,
            include_refused: false,
        });
        if let Some(skipped) = &mut skip {
            if included {
                if rule.is_some() {
                    skipped.include_refused = true;
                } else {
                    skip = None;
                }
            }
        }
        if let Some(glob) = filters.exclude.first_match(&entry.path) {
            skip = Some(Skipped {
                entry: entry.clone(),
                cause: SkipCause::Excluded(glob.to_string()),
                rule: None,
                include_refused: false,
            });
        }
        match skip {
            Some(skipped) => selection.skipped.push(skipped),
            None => selection.send.push(entry.clone()),
        }
    }
    selection.send.sort_by(|a, b| a.path.cmp(&b.path));
    selection
        .skipped
        .sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    selection
}

/// config.json's `model_type`, when the bytes are a JSON object that has one as a string.
pub fn model_type(config_json: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(config_json).ok()?;
    value.get("model_type")?.as_str().map(str::to_string)
}

/// The rows of docs/push.md's skip table, one per rule of [`SKIP_RULES`], in order.
pub fn skip_rules_markdown() -> String {
    let mut table = String::from("| rule | files | why |\n|---|---|---|\n");
    for rule in SKIP_RULES {
        let _ = writeln!(
            table,
            "| `{}` | {} | {} |",
            rule.name,
            rule.pattern(),
            rule.reason
        );
    }
    table
}

/// Why `--fix-index` cannot rewrite an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixIndexError {
    /// The bytes are not a JSON document.
    #[error("is not a JSON document: {0}")]
    NotJson(String),
    /// The document is not a JSON object.
    #[error("is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    /// `metadata` is neither an object nor absent.
    #[error("has a JSON {0} as its metadata, not an object")]
    MetadataNotObject(&'static str),
    /// An integer that Python reads exactly but this rewrite would not.
    #[error("holds the integer {0}, outside the 64-bit range this rewrite keeps exactly")]
    IntegerOutOfRange(String),
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The index (model.safetensors.index.json) with what IX009 refuses fixed: the
/// [`UNSUPPORTED_METADATA_KEYS`] removed from `metadata`, and an absent or null `metadata`
/// set to `{}`. `None` when there is nothing to fix (the bytes are then sent as they are).
///
/// The rewrite is the bytes transformers itself writes for the fixed index: transformers
/// 4.51.3 `modeling_utils.py` `save_pretrained` writes `json.dumps(index, indent=2,
/// sort_keys=True) + "\n"`, so the output is that of Python's `json` module after
/// `d['metadata'].pop(key)`: keys sorted by code point, two-space indentation, non-ASCII
/// characters as `\uXXXX` escapes, floats as Python's `repr`.
pub fn fix_index(bytes: &[u8]) -> Result<Option<Vec<u8>>, FixIndexError> {
    let mut document: Value =
        serde_json::from_slice(bytes).map_err(|e| FixIndexError::NotJson(e.to_string()))?;
    let Value::Object(root) = &mut document else {
        return Err(FixIndexError::NotAnObject(kind(&document)));
    };
    let mut changed = false;
    let metadata = root.entry("metadata").or_insert_with(|| {
        changed = true;
        Value::Null
    });
    if metadata.is_null() {
        *metadata = Value::Object(serde_json::Map::new());
        changed = true;
    }
    let Value::Object(metadata) = metadata else {
        return Err(FixIndexError::MetadataNotObject(kind(metadata)));
    };
    for (key, _) in UNSUPPORTED_METADATA_KEYS {
        changed |= metadata.remove(*key).is_some();
    }
    if !changed {
        return Ok(None);
    }
    if let Some(integer) = wide_integer(bytes) {
        return Err(FixIndexError::IntegerOutOfRange(integer));
    }
    let mut out = String::with_capacity(bytes.len());
    write_python_json(&document, 0, &mut out);
    out.push('\n');
    Ok(Some(out.into_bytes()))
}

/// The first integer literal of a JSON document that is outside the 64-bit range (Python
/// keeps it exactly; serde_json would read it as a float).
fn wide_integer(bytes: &[u8]) -> Option<String> {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
        } else if byte == b'"' {
            in_string = true;
            i += 1;
        } else if byte == b'-' || byte.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = String::from_utf8_lossy(&bytes[start..i]);
            let integer = !token.contains(['.', 'e', 'E']);
            if integer && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                return Some(token.into_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Writes `value` as Python's `json.dumps(value, indent=2, sort_keys=True)` does, at
/// nesting `level`.
fn write_python_json(value: &Value, level: usize, out: &mut String) {
    let indent = |out: &mut String, level: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => out.push_str(&u.to_string()),
            (None, Some(i), _) => out.push_str(&i.to_string()),
            (None, None, Some(f)) => out.push_str(&python_float_repr(f)),
            (None, None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_python_json(item, level + 1, out);
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_python_string(key, out);
                out.push_str(": ");
                write_python_json(item, level + 1, out);
            }
            indent(out, level);
            out.push('}');
        }
    }
}

/// A string as Python's `json` module writes it with `ensure_ascii=True`: `"` and `\`
/// escaped, `\n \r \t \b \f` by name, every other character outside `' '..='~'` as `\uxxxx`
/// (UTF-16 surrogate pairs above U+FFFF).
fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr` of a float: the shortest digits that round-trip, in positional notation
/// for decimal exponents from -4 to 15 and scientific notation otherwise (`1e+16`, `1e-05`);
/// `Infinity`, `-Infinity` and `NaN` as the `json` module writes them.
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else {
            let point = point as usize;
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        format!("{sign}{text}")
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs())
    }
}

/// One mebibyte.
pub const MIB: u64 = 1024 * 1024;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// Smallest part of a multipart upload, except the last: 5 MiB (Amazon S3 User Guide,
/// "Amazon S3 multipart upload limits").
pub const MIN_PART: u64 = 5 * MIB;
/// Largest part of a multipart upload: 5 GiB (same page).
pub const MAX_PART: u64 = 5 * GIB;
/// Most parts in one multipart upload: 10,000 (same page).
pub const MAX_PARTS: u64 = 10_000;
/// Largest object: 5 TiB (same page).
pub const MAX_OBJECT: u64 = 5 * 1024 * GIB;
/// Largest object uploaded in a single PUT: 5 GiB (same page).
pub const MAX_SINGLE_PUT: u64 = 5 * GIB;
/// The part size when none is requested: 8 MiB, the AWS CLI's `multipart_chunksize` default
/// (awscli `customizations/s3/transferconfig.py`).
pub const DEFAULT_PART: u64 = 8 * MIB;

/// Why a part size cannot upload a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartSizeError {
    /// The file is larger than S3's largest object.
    #[error("the file is {file_size} bytes, larger than S3's largest object ({max} bytes, 5 TiB)")]
    ObjectTooLarge {
        /// The file's size.
        file_size: u64,
        /// [`MAX_OBJECT`].
        max: u64,
    },
    /// The requested part size is below S3's smallest part.
    #[error("part size {requested} bytes is below S3's smallest part ({min} bytes, 5 MiB)")]
    TooSmall {
        /// The requested part size.
        requested: u64,
        /// [`MIN_PART`].
        min: u64,
    },
    /// The requested part size is above S3's largest part.
    #[error("part size {requested} bytes is above S3's largest part ({max} bytes, 5 GiB)")]
    TooLarge {
        /// The requested part size.
        requested: u64,
        /// [`MAX_PART`].
        max: u64,
    },
    /// The requested part size cuts the file into more parts than S3 allows.
    #[error(
        "part size {requested} bytes cuts the {file_size}-byte file into {parts} parts, more than \
         S3's {max_parts}; use at least {needed} bytes"
    )]
    TooManyParts {
        /// The requested part size.
        requested: u64,
        /// The file's size.
        file_size: u64,
        /// The parts it would take.
        parts: u64,
        /// [`MAX_PARTS`].
        max_parts: u64,
        /// The smallest part size (a whole number of MiB) that fits.
        needed: u64,
    },
}

/// How many parts of `part_size` bytes hold `file_size` bytes (at least one: an empty file
/// is one empty part). `part_size` must not be 0.
pub fn part_count(file_size: u64, part_size: u64) -> u64 {
    file_size.div_ceil(part_size.max(1)).max(1)
}

/// The part size of a multipart upload of a `file_size`-byte file.
///
/// Without a request: [`DEFAULT_PART`], doubled until the file fits [`MAX_PARTS`] parts (what
/// s3transfer's `ChunksizeAdjuster` does for the AWS CLI, s3transfer `utils.py`); for files up
/// to [`MAX_OBJECT`] this stays at or below 1 GiB. A requested size is used as it is, or
/// refused when it is outside [`MIN_PART`]..=[`MAX_PART`] or cuts the file into more than
/// [`MAX_PARTS`] parts.
pub fn part_size(file_size: u64, requested: Option<u64>) -> Result<u64, PartSizeError> {
    if file_size > MAX_OBJECT {
        return Err(PartSizeError::ObjectTooLarge {
            file_size,
            max: MAX_OBJECT,
        });
    }
    let Some(requested) = requested else {
        let mut size = DEFAULT_PART;
        while part_count(file_size, size) > MAX_PARTS {
            size *= 2;
        }
        return Ok(size);
    };
    if requested < MIN_PART {
        return Err(PartSizeError::TooSmall {
            requested,
            min: MIN_PART,
        });
    }
    if requested > MAX_PART {
        return Err(PartSizeError::TooLarge {
            requested,
            max: MAX_PART,
        });
    }
    let parts = part_count(file_size, requested);
    if parts > MAX_PARTS {
        let needed = (file_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB).max(MIN_PART);
        return Err(PartSizeError::TooManyParts {
            requested,
            file_size,
            parts,
            max_parts: MAX_PARTS,
            needed,
        });
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use proptest::prelude::*;

    use super::*;
    use crate::inputs::{Artifact, INDEX_JSON};

    fn entries(paths: &[&str]) -> Vec<Entry> {
        paths
            .iter()
            .map(|p| Entry {
                path: p.to_string(),
                size: 10,
            })
            .collect()
    }

    fn filters(include: &[&str], exclude: &[&str]) -> Filters {
        let owned = |globs: &[&str]| globs.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        Filters::new(&owned(include), &owned(exclude)).expect("valid globs")
    }

    fn sent(selection: &Selection) -> Vec<&str> {
        selection.send.iter().map(|e| e.path.as_str()).collect()
    }

    /// Each skipped file with the name of its rule (or `exclude`) and its layout rule.
    fn skipped(selection: &Selection) -> Vec<(&str, &str, Option<&str>)> {
        selection
            .skipped
            .iter()
            .map(|s| {
                let cause = match &s.cause {
                    SkipCause::Rule(rule) => rule.name,
                    SkipCause::Excluded(_) => "exclude",
                };
                (s.entry.path.as_str(), cause, s.rule.map(|r| r.rule().code))
            })
            .collect()
    }

    const DOWNLOAD: &[&str] = &[
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "chat_template.jinja",
        "README.md",
        "LICENSE",
        "pytorch_model.bin",
        "model.gguf",
        "model.ONNX",
        ".gitattributes",
        ".DS_Store",
        "optimizer.pt",
        "rng_state_3.pth",
        "trainer_state.json",
        "training_args.bin",
        ".cache/huggingface/download/config.json.metadata",
        ".git/HEAD",
        "checkpoint-500/optimizer.pt",
        "onnx/model.onnx",
    ];

    #[test]
    fn a_download_sends_the_model_files_only() {
        let selection = select(&entries(DOWNLOAD), Some("llama"), &Filters::default());
        assert_eq!(
            sent(&selection),
            [
                "LICENSE",
                "README.md",
                "chat_template.jinja",
                "config.json",
                "generation_config.json",
                "model.safetensors",
                "tokenizer.json",
                "tokenizer_config.json",
            ]
        );
        assert_eq!(
            skipped(&selection),
            [
                (".DS_Store", "hidden", None),
                (
                    ".cache/huggingface/download/config.json.metadata",
                    "hf-cache",
                    Some("LY006")
                ),
                (".git/HEAD", "git", Some("LY006")),
                (".gitattributes", "hidden", None),
                (
                    "checkpoint-500/optimizer.pt",
                    "trainer-checkpoint",
                    Some("LY006")
                ),
                ("model.ONNX", "other-runtime", None),
                ("model.gguf", "other-runtime", None),
                ("onnx/model.onnx", "sub-folder", Some("LY006")),
                ("optimizer.pt", "trainer-state", Some("LY004")),
                (
                    "pytorch_model.bin",
                    "pickle-beside-safetensors",
                    Some("LY004")
                ),
                ("rng_state_3.pth", "trainer-state", Some("LY004")),
                ("trainer_state.json", "trainer-state", None),
                ("training_args.bin", "trainer-state", Some("LY004")),
            ]
        );
        assert_eq!(selection.send_bytes(), 80);
        assert_eq!(selection.skipped_bytes(), 130);
        for skipped in &selection.skipped {
            assert!(!skipped.reason().contains('\n'));
        }
    }

    #[test]
    fn the_order_of_the_listing_does_not_matter() {
        let mut reversed = entries(DOWNLOAD);
        reversed.reverse();
        assert_eq!(
            select(&reversed, Some("llama"), &Filters::default()),
            select(&entries(DOWNLOAD), Some("llama"), &Filters::default())
        );
    }

    #[test]
    fn pickles_without_safetensors_are_sent_for_check_to_name() {
        let listing = entries(&[
            "config.json",
            "pytorch_model.bin",
            "model.ckpt",
            "optimizer.pt",
        ]);
        let selection = select(&listing, None, &Filters::default());
        assert_eq!(
            sent(&selection),
            ["config.json", "model.ckpt", "pytorch_model.bin"]
        );
        assert_eq!(
            skipped(&selection),
            [("optimizer.pt", "trainer-state", None)]
        );
        let adapter_only = entries(&["adapter_model.safetensors", "pytorch_model.bin"]);
        assert_eq!(
            sent(&select(&adapter_only, None, &Filters::default())),
            ["adapter_model.safetensors", "pytorch_model.bin"]
        );
    }

    #[test]
    fn adapter_and_embedding_markers_stay_for_check_to_refuse() {
        let listing = entries(&[
            "config.json",
            "model.safetensors",
            "adapter_config.json",
            "adapter_model.bin",
            "modules.json",
        ]);
        let selection = select(&listing, None, &Filters::default());
        assert_eq!(selection.send.len(), 5);
    }

    #[test]
    fn gpt_oss_extra_folders_have_their_own_reason() {
        let listing = entries(&[
            "config.json",
            "model.safetensors",
            "metal/model.bin",
            "original/config.json",
        ]);
        let selection = select(&listing, Some("gpt_oss"), &Filters::default());
        assert_eq!(
            skipped(&selection),
            [
                ("metal/model.bin", "extra-folder", Some("LY012")),
                ("original/config.json", "extra-folder", Some("LY012")),
            ]
        );
        assert!(selection.skipped[0].reason().contains("Apple Metal"));
        let other = select(&listing, Some("llama"), &Filters::default());
        assert_eq!(
            skipped(&other),
            [
                ("metal/model.bin", "sub-folder", Some("LY006")),
                ("original/config.json", "sub-folder", Some("LY006")),
            ]
        );
    }

    #[test]
    fn include_brings_back_what_check_accepts_only() {
        let selection = select(
            &entries(DOWNLOAD),
            Some("llama"),
            &filters(
                &[
                    ".gitattributes",
                    "trainer_state.json",
                    "*.gguf",
                    "*.bin",
                    ".cache/**",
                ],
                &[],
            ),
        );
        let sent = sent(&selection);
        for back in [".gitattributes", "trainer_state.json", "model.gguf"] {
            assert!(sent.contains(&back), "{back}");
        }
        for refused in [
            "pytorch_model.bin",
            "training_args.bin",
            ".cache/huggingface/download/config.json.metadata",
        ] {
            let skipped = selection
                .skipped
                .iter()
                .find(|s| s.entry.path == refused)
                .expect("still skipped");
            assert!(skipped.include_refused);
            assert!(
                skipped.reason().contains("--include cannot bring it back"),
                "{}",
                skipped.reason()
            );
        }
        let not_included = selection
            .skipped
            .iter()
            .find(|s| s.entry.path == "optimizer.pt")
            .expect("skipped");
        assert!(!not_included.include_refused);
        assert!(!not_included.reason().contains("--include"));
    }

    #[test]
    fn exclude_comes_last_and_wins() {
        let selection = select(
            &entries(DOWNLOAD),
            Some("llama"),
            &filters(&["*.md"], &["README.md", "*.jinja"]),
        );
        let excluded: Vec<_> = skipped(&selection)
            .into_iter()
            .filter(|s| s.1 == "exclude")
            .map(|s| s.0)
            .collect();
        assert_eq!(excluded, ["README.md", "chat_template.jinja"]);
        let reason = selection
            .skipped
            .iter()
            .find(|s| s.entry.path == "README.md")
            .expect("skipped")
            .reason();
        assert_eq!(reason, "excluded by --exclude README.md");
        let no_weights = select(
            &entries(&["config.json", "model.safetensors", "pytorch_model.bin"]),
            None,
            &filters(&[], &["*.safetensors"]),
        );
        assert_eq!(sent(&no_weights), ["config.json", "pytorch_model.bin"]);
    }

    #[test]
    fn globs_do_not_cross_folders_unless_asked() {
        let listing = entries(&["a.md", "docs/b.md"]);
        let selection = select(&listing, None, &filters(&[], &["*.md"]));
        assert_eq!(skipped(&selection)[0], ("a.md", "exclude", None));
        assert_eq!(
            skipped(&selection)[1],
            ("docs/b.md", "sub-folder", Some("LY006"))
        );
        let error = Filters::new(&[], &["[z-a".to_string()]).expect_err("invalid");
        assert_eq!(error.flag, "exclude");
        assert!(error.to_string().contains("[z-a"), "{error}");
    }

    #[test]
    fn model_type_reads_config_json() {
        assert_eq!(
            model_type(br#"{"model_type": "gpt_oss"}"#).as_deref(),
            Some("gpt_oss")
        );
        assert_eq!(model_type(br#"{"model_type": 3}"#), None);
        assert_eq!(model_type(b"not json"), None);
    }

    #[test]
    fn docs_push_md_lists_every_skip_rule() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/push.md");
        let docs = std::fs::read_to_string(path).expect("docs/push.md");
        assert!(
            docs.contains(&skip_rules_markdown()),
            "docs/push.md's skip table is out of date; it must hold, verbatim:\n{}",
            skip_rules_markdown()
        );
    }

    fn python() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CMI_TEST_PYTHON") {
            return Some(PathBuf::from(path));
        }
        let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
        if local.exists() {
            return Some(local);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CMI_TEST_PYTHON is not set and .venv is missing: run ./scripts/test"
        );
        eprintln!("skipped: no Python environment; ./scripts/test creates it");
        None
    }

    fn run_python(script: &str, input: &str) -> Option<String> {
        let python = python()?;
        let mut child = Command::new(python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes())
            .expect("stdin written");
        let output = child.wait_with_output().expect("python ends");
        assert!(output.status.success());
        Some(String::from_utf8(output.stdout).expect("utf-8"))
    }

    /// The names of the skip table, read from the libraries that write them.
    #[test]
    fn trainer_and_hub_names_are_the_libraries_own() {
        let script = r#"
import json, pathlib, tempfile
import transformers.trainer as t
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from huggingface_hub._local_folder import _huggingface_dir
with tempfile.TemporaryDirectory() as d:
    hub = str(_huggingface_dir(pathlib.Path(d)).relative_to(d))
print(json.dumps({
    "trainer": [t.TRAINING_ARGS_NAME, t.TRAINER_STATE_NAME, t.OPTIMIZER_NAME,
                t.OPTIMIZER_NAME_BIN, t.SCALER_NAME, t.SCHEDULER_NAME],
    "checkpoint": PREFIX_CHECKPOINT_DIR,
    "hub": hub,
}))
"#;
        let Some(output) = run_python(script, "") else {
            return;
        };
        let names: Value = serde_json::from_str(&output).expect("json");
        for name in names["trainer"].as_array().expect("names") {
            assert!(
                TRAINER_FILES.contains(&name.as_str().expect("name")),
                "{name}"
            );
        }
        assert_eq!(
            format!("{}-", names["checkpoint"].as_str().expect("prefix")),
            CHECKPOINT_FOLDER_PREFIX
        );
        let hub = names["hub"].as_str().expect("hub dir");
        let folder = hub.split('/').next().expect("folder");
        assert!(SKIP_RULES
            .iter()
            .any(|r| matches!(r.matches, SkipMatch::Folder(f) if f == folder)));
        for name in ["rng_state.pth", "rng_state_0.pth", "rng_state_12.pth"] {
            assert!(TRAINER_FILES.iter().any(|p| wildcard(p, name)), "{name}");
        }
    }

    const INDEXES: &[&str] = &[
        r#"{"metadata": {"total_parameters": 14672, "total_size": 29344}, "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors", "model.embed_tokens.weight": "model-00001-of-00002.safetensors"}}"#,
        r#"{"weight_map": {"b": "x.safetensors", "a": "y.safetensors"}}"#,
        r#"{"metadata": null, "weight_map": {}}"#,
        "{\"weight_map\":{\"z\u{e9}\\u00e9\\ud83d\\ude00\u{1f600}\":\"a\\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u007f/.safetensors\"},\"metadata\":{\"total_parameters\":1,\"format\":\"pt\",\"floats\":[0.1,1e16,1.5e-7,-0.0,123.0,1e-5,0.0001,12345678901234567.0,2.5E+300,-1],\"nested\":{\"empty\":{},\"list\":[],\"t\":true,\"f\":false,\"n\":null},\"big\":18446744073709551615,\"neg\":-9223372036854775808}}",
    ];

    #[test]
    fn fix_index_writes_what_transformers_writes() {
        let script = r#"
import json, sys
for line in sys.stdin.read().split("\n\x00\n"):
    d = json.loads(line)
    if d.get("metadata") is None:
        d["metadata"] = {}
    d["metadata"].pop("total_parameters", None)
    sys.stdout.write(json.dumps(d, indent=2, sort_keys=True) + "\n")
    sys.stdout.write("\x00")
"#;
        let Some(output) = run_python(script, &INDEXES.join("\n\x00\n")) else {
            return;
        };
        let expected: Vec<&str> = output.split('\0').filter(|s| !s.is_empty()).collect();
        assert_eq!(expected.len(), INDEXES.len());
        for (index, expected) in INDEXES.iter().zip(expected) {
            let fixed = fix_index(index.as_bytes())
                .expect("fixable")
                .expect("fixed");
            assert_eq!(
                String::from_utf8(fixed).expect("utf-8"),
                expected,
                "{index}"
            );
        }
    }

    #[test]
    fn the_fixed_index_passes_the_index_rules() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/invalid/ix009-index-metadata-unsupported/model.safetensors.index.json"
        );
        let index = std::fs::read(path).expect("fixture");
        let ix_findings = |bytes: Vec<u8>| {
            let artifact = Artifact {
                documents: [(INDEX_JSON.to_string(), bytes)].into(),
                ..Artifact::default()
            };
            let mut findings = Vec::new();
            let parsed = crate::index::parse(&artifact, &mut findings);
            (
                parsed,
                findings.into_iter().map(|f| f.rule).collect::<Vec<_>>(),
            )
        };
        let (before, rules) = ix_findings(index.clone());
        assert_eq!(rules, [RuleId::IndexMetadataUnsupported]);
        let fixed = fix_index(&index).expect("fixable").expect("fixed");
        let (after, rules) = ix_findings(fixed.clone());
        assert_eq!(rules, []);
        assert_eq!(before, after);
        assert_eq!(fix_index(&fixed), Ok(None));
    }

    #[test]
    fn fix_index_refuses_what_it_cannot_keep() {
        assert!(matches!(fix_index(b"{"), Err(FixIndexError::NotJson(_))));
        assert_eq!(fix_index(b"[]"), Err(FixIndexError::NotAnObject("array")));
        assert_eq!(
            fix_index(br#"{"metadata": "x"}"#),
            Err(FixIndexError::MetadataNotObject("string"))
        );
        assert_eq!(
            fix_index(
                br#"{"metadata": {"total_parameters": 1, "n": 123456789012345678901234567890}}"#
            ),
            Err(FixIndexError::IntegerOutOfRange(
                "123456789012345678901234567890".into()
            ))
        );
        assert_eq!(
            fix_index(br#"{"metadata": {"n": 1e400}}"#).map_err(|_| ()),
            Err(())
        );
        assert_eq!(
            fix_index(br#"{"metadata": {"total_size": 1}, "weight_map": {}}"#),
            Ok(None)
        );
    }

    #[test]
    fn part_size_defaults_and_grows_by_doubling() {
        assert_eq!(part_size(0, None), Ok(DEFAULT_PART));
        assert_eq!(part_size(DEFAULT_PART * MAX_PARTS, None), Ok(DEFAULT_PART));
        assert_eq!(
            part_size(DEFAULT_PART * MAX_PARTS + 1, None),
            Ok(2 * DEFAULT_PART)
        );
        assert_eq!(part_size(MAX_OBJECT, None), Ok(1024 * MIB));
        assert_eq!(
            part_size(MAX_OBJECT + 1, None),
            Err(PartSizeError::ObjectTooLarge {
                file_size: MAX_OBJECT + 1,
                max: MAX_OBJECT
            })
        );
    }

    #[test]
    fn part_size_errors_name_the_numbers() {
        let small = part_size(1, Some(MIN_PART - 1)).expect_err("too small");
        assert!(small.to_string().contains(&(MIN_PART - 1).to_string()));
        assert!(small.to_string().contains(&MIN_PART.to_string()));
        let large = part_size(1, Some(MAX_PART + 1)).expect_err("too large");
        assert!(large.to_string().contains(&MAX_PART.to_string()));
        let file = 100 * GIB;
        let many = part_size(file, Some(MIN_PART)).expect_err("too many parts");
        assert_eq!(
            many,
            PartSizeError::TooManyParts {
                requested: MIN_PART,
                file_size: file,
                parts: 20_480,
                max_parts: MAX_PARTS,
                needed: 11 * MIB,
            }
        );
        assert!(many.to_string().contains("20480 parts"), "{many}");
        assert_eq!(part_size(file, Some(11 * MIB)), Ok(11 * MIB));
        assert!(part_size(file, Some(10 * MIB)).is_err());
    }

    proptest! {
        #[test]
        fn every_part_is_within_s3_limits(
            file_size in prop_oneof![0..=MAX_OBJECT, 0..=(200 * GIB), 0..=(64 * MIB)],
            requested in proptest::option::of(prop_oneof![MIN_PART..=MAX_PART, 0..=(8 * GIB)]),
        ) {
            match part_size(file_size, requested) {
                Ok(size) => {
                    let parts = part_count(file_size, size);
                    prop_assert!(parts <= MAX_PARTS);
                    prop_assert!((MIN_PART..=MAX_PART).contains(&size));
                    let last = file_size - (parts - 1) * size;
                    prop_assert!(last <= size);
                    if let Some(requested) = requested {
                        prop_assert_eq!(size, requested);
                    }
                }
                Err(PartSizeError::TooManyParts { needed, .. }) => {
                    prop_assert!(requested.is_some());
                    prop_assert!(part_count(file_size, needed) <= MAX_PARTS);
                    prop_assert!(part_count(file_size, needed - MIB) > MAX_PARTS || needed == MIN_PART);
                }
                Err(PartSizeError::TooSmall { requested: r, .. }) => prop_assert!(r < MIN_PART),
                Err(PartSizeError::TooLarge { requested: r, .. }) => prop_assert!(r > MAX_PART),
                Err(PartSizeError::ObjectTooLarge { .. }) => prop_assert!(false),
            }
        }
    }
}
