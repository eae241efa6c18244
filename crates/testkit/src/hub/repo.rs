//! A repository's revisions as the Hub stores them: every file with its git blob id, the LFS
//! pointer of the large and binary ones, and a commit id per revision.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The extensions that the `.gitattributes` of a new Hub model repository sends to Git LFS
/// (the file the Hub writes when a repository is created).
const LFS_EXTENSIONS: &[&str] = &[
    "7z",
    "arrow",
    "bin",
    "bz2",
    "ckpt",
    "ftz",
    "gguf",
    "gz",
    "h5",
    "joblib",
    "mlmodel",
    "model",
    "msgpack",
    "npy",
    "npz",
    "onnx",
    "ot",
    "parquet",
    "pb",
    "pickle",
    "pkl",
    "pt",
    "pth",
    "rar",
    "safetensors",
    "tar",
    "tflite",
    "tgz",
    "wasm",
    "xz",
    "zip",
    "zst",
];

/// Files larger than this go to LFS whatever their name (huggingface_hub's uploads do the same).
const LFS_SIZE_THRESHOLD: u64 = 10 * 1024 * 1024;

/// The LFS side of a file: the SHA-256 of its bytes and the size of its pointer file.
#[derive(Debug, Clone)]
pub(super) struct Lfs {
    pub(super) sha256: String,
    pub(super) pointer_size: u64,
}

/// One file of a revision.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The path in the repository, `/`-separated.
    pub(super) path: String,
    /// Where its bytes are.
    pub(super) disk: PathBuf,
    pub(super) size: u64,
    /// The git blob id: of the content for a plain file, of the pointer for an LFS file.
    pub(super) blob_id: String,
    pub(super) lfs: Option<Lfs>,
}

/// One revision (branch or tag): its commit and files, sorted by path.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) name: String,
    pub(super) commit: String,
    pub(super) files: Vec<Entry>,
    /// `architectures` and `model_type` of its `config.json`, as the Hub's model info shows.
    pub(super) config: Option<serde_json::Value>,
}

impl Snapshot {
    pub(super) fn file(&self, path: &str) -> Option<&Entry> {
        self.files.iter().find(|entry| entry.path == path)
    }
}

/// A repository as served.
#[derive(Debug)]
pub(super) struct Repo {
    pub(super) id: String,
    pub(super) private: bool,
    pub(super) gated: bool,
    pub(super) grants: HashSet<String>,
    /// The first one is `main`.
    pub(super) revisions: Vec<Snapshot>,
}

impl Repo {
    /// The snapshot of a branch or tag name, or of a full commit id.
    pub(super) fn revision(&self, revision: &str) -> Option<&Snapshot> {
        self.revisions
            .iter()
            .find(|snapshot| snapshot.name == revision)
            .or_else(|| {
                self.revisions
                    .iter()
                    .find(|snapshot| snapshot.commit == revision)
            })
    }
}

/// Git's object id of a blob: SHA-1 over `blob <len>\0<content>`.
fn git_blob_id(content: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    hex(&hasher.finalize())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_lfs(path: &str, size: u64) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    size > LFS_SIZE_THRESHOLD || LFS_EXTENSIONS.contains(&extension)
}

fn entry(path: String, disk: PathBuf) -> io::Result<Entry> {
    let size = std::fs::metadata(&disk)?.len();
    if is_lfs(&path, size) {
        let mut sha = Sha256::new();
        let mut file = std::fs::File::open(&disk)?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            sha.update(&buffer[..n]);
        }
        let sha256 = hex(&sha.finalize());
        let pointer = format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
        );
        let blob_id = git_blob_id(pointer.as_bytes());
        Ok(Entry {
            path,
            disk,
            size,
            blob_id,
            lfs: Some(Lfs {
                sha256,
                pointer_size: pointer.len() as u64,
            }),
        })
    } else {
        let content = std::fs::read(&disk)?;
        let blob_id = git_blob_id(&content);
        Ok(Entry {
            path,
            disk,
            size,
            blob_id,
            lfs: None,
        })
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        let kind = std::fs::metadata(&path)?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .map_err(|_| io::Error::other("a file outside the repository's folder"))?;
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(name, path);
        }
    }
    Ok(())
}

/// Reads `folder` into the snapshot of revision `name`.
pub(super) fn snapshot(name: &str, folder: &Path) -> io::Result<Snapshot> {
    let mut found = BTreeMap::new();
    walk(folder, folder, &mut found)?;
    let files = found
        .into_iter()
        .map(|(path, disk)| entry(path, disk))
        .collect::<io::Result<Vec<_>>>()?;
    let mut hasher = Sha1::new();
    hasher.update(format!("revision {name}\n").as_bytes());
    for file in &files {
        hasher.update(format!("{}\0{}\n", file.path, file.blob_id).as_bytes());
    }
    let commit = hex(&hasher.finalize());
    let config = std::fs::read(folder.join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .map(|config| {
            let mut shown = serde_json::Map::new();
            for key in ["architectures", "model_type"] {
                if let Some(value) = config.get(key) {
                    shown.insert(key.to_string(), value.clone());
                }
            }
            serde_json::Value::Object(shown)
        });
    Ok(Snapshot {
        name: name.to_string(),
        commit,
        files,
        config,
    })
}
