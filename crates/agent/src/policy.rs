//! Writing the least-privilege policies of a cross-account Custom Model Import set-up. The
//! documents themselves, their inputs and their statements are pure and live in
//! [`cmi_format::policy`]; this module only puts them on disk.

#[cfg(unix)]
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cmi_format::policy::PolicySet;

use crate::files;

/// Writes every document of `set` into `dir` (created if needed) under its file name and
/// returns the paths, in document order.
///
/// Each file is written to a temporary file in `dir`, flushed to disk, and renamed over the
/// final name, so a reader never sees a half-written file. All temporary files are written
/// before the first rename; if any write fails, every temporary file is removed and no final
/// file is touched. Files of an earlier run that this set does not produce are left alone.
/// A final name that is not a regular file (a symbolic link, a FIFO, a device node, a folder)
/// is refused before anything is written: a rename would destroy it.
pub fn write_all(set: &PolicySet, dir: &Path) -> Result<Vec<PathBuf>, io::Error> {
    fs::create_dir_all(dir).map_err(|e| files::with_path(e, "cannot create directory", dir))?;
    for doc in &set.documents {
        files::ensure_replaceable(&dir.join(doc.file_name))?;
    }
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(set.documents.len());
    for doc in &set.documents {
        match files::write_temp(dir, doc.file_name, doc.to_pretty_json().as_bytes()) {
            Ok(temp) => staged.push((temp, dir.join(doc.file_name))),
            Err(e) => {
                for (temp, _) in &staged {
                    let _ = fs::remove_file(temp);
                }
                return Err(e);
            }
        }
    }
    let mut written = Vec::with_capacity(staged.len());
    let mut staged = staged.into_iter();
    while let Some((temp, target)) = staged.next() {
        if let Err(e) = fs::rename(&temp, &target) {
            let _ = fs::remove_file(&temp);
            for (rest, _) in staged {
                let _ = fs::remove_file(rest);
            }
            return Err(files::with_path(
                e,
                "cannot move a finished file to",
                &target,
            ));
        }
        written.push(target);
    }
    files::sync_dir(dir);
    Ok(written)
}
