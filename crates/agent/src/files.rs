//! Writing files so that a reader never sees half of one: a temporary file in the same
//! folder, flushed to disk, then renamed over the final name; and writing an output the user
//! named without destroying what that name already is.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
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

/// Writes `bytes` to an output the user named, without replacing what `path` is: a missing
/// name or a regular file is written atomically ([`write_atomic`]); a FIFO, a device node or a
/// socket (`/dev/stdout`, `/dev/null`) is opened and written as a stream; a symbolic link is
/// followed and its target written in place, so the link stays a link (a link to nothing, or
/// to a folder, is refused); a folder is refused.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), io::Error> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return write_atomic(path, bytes),
        Err(e) => return Err(with_path(e, "cannot inspect", path)),
        Ok(meta) => meta,
    };
    if meta.is_file() {
        return write_atomic(path, bytes);
    }
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is a folder, not a file", path.display()),
        ));
    }
    let target = fs::metadata(path)
        .map_err(|e| with_path(e, "refusing to write through the symbolic link", path))?;
    if target.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} leads to a folder, not a file", path.display()),
        ));
    }
    let mut options = OpenOptions::new();
    options.write(true).truncate(target.is_file());
    let mut file = options
        .open(path)
        .map_err(|e| with_path(e, "cannot open", path))?;
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| with_path(e, "cannot write", path))
}

/// Refuses an output that is, or lies inside, `folder`: canonical paths are compared, so a
/// relative path, `..` or a symbolic link cannot hide it. A name whose folder does not exist
/// is let through; writing it fails on its own.
pub fn ensure_outside(output: &Path, folder: &Path) -> Result<(), io::Error> {
    let Ok(folder) = fs::canonicalize(folder) else {
        return Ok(());
    };
    let resolved = match fs::canonicalize(output) {
        Ok(resolved) => resolved,
        Err(_) => {
            let parent = match output.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            match (fs::canonicalize(parent), output.file_name()) {
                (Ok(parent), Some(name)) => parent.join(name),
                _ => return Ok(()),
            }
        }
    };
    if resolved.starts_with(&folder) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to write {} inside the folder being read ({})",
                output.display(),
                folder.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses to let a rename replace `path` when it is anything but a regular file (a symbolic
/// link, a FIFO, a device node, a socket, a folder): a rename would destroy it. A missing name
/// or a regular file is fine.
pub fn ensure_replaceable(path: &Path) -> Result<(), io::Error> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(with_path(e, "cannot inspect", path)),
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to replace {}: it is {}, not a regular file; remove it or write elsewhere",
                path.display(),
                describe_kind(&meta.file_type())
            ),
        )),
    }
}

fn describe_kind(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device node";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
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

/// Reads a document the user named (a manifest) whole, refusing what would not end or would
/// not fit: a FIFO, device, socket or folder is refused by its kind before any read (a FIFO
/// is opened non-blocking, so a FIFO swapped in after the check is never waited on), and a
/// document of more than `limit` bytes is refused instead of read (`/dev/zero` would grow
/// until memory ran out). The read itself never takes more than `limit + 1` bytes.
pub fn read_document(path: &Path, limit: u64) -> Result<Vec<u8>, io::Error> {
    refuse_special(&fs::metadata(path)?.file_type())?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    refuse_special(&meta.file_type())?;
    if meta.len() > limit {
        return Err(too_large(meta.len(), limit));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

fn refuse_special(kind: &fs::FileType) -> Result<(), io::Error> {
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    ))
}

fn too_large(size: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("it has {size} bytes or more; the limit is {limit} bytes"),
    )
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
