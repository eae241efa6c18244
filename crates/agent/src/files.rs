//! Writing files so that a reader never sees half of one: a temporary file in the same
//! folder, flushed to disk, then renamed over the final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces (or creates) `path` with `bytes` atomically: an interrupted write leaves the old
/// file, if any, untouched and no partial file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), io::Error> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file name", path.display()),
        )
    })?;
    let temp = write_temp(dir, name, bytes)?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(with_path(e, "cannot move the finished file to", path));
    }
    sync_dir(dir);
    Ok(())
}

/// Writes `bytes` to a new, uniquely named hidden file in `dir` and flushes it to disk.
pub fn write_temp(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<PathBuf, io::Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(with_path(e, "cannot create", &temp)),
        };
        if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
            drop(file);
            let _ = fs::remove_file(&temp);
            return Err(with_path(e, "cannot write", &temp));
        }
        return Ok(temp);
    }
}

/// Makes the renames in `dir` durable where the platform allows it; best effort.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// The same error kind, with the path and what was being done.
pub fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
