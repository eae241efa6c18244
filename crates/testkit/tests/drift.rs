//! The committed fixtures under `testdata/` are exactly what the generator writes: the same
//! files with the same bytes (symlinks with the same targets), and nothing else under
//! `testdata/valid` and `testdata/invalid`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use cmi_testkit::fixtures::{self, Content};

const REGENERATE: &str = "cargo run -p cmi-testkit --bin gen-fixtures";

/// What a path under the fixture root is.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// Every path under `root/valid` and `root/invalid`, relative to `root`, without following
/// symlinks.
fn on_disk(root: &Path) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    for group in ["valid", "invalid"] {
        if root.join(group).is_dir() {
            walk(root, group, &mut entries);
        }
    }
    entries
}

fn walk(root: &Path, relative: &str, entries: &mut BTreeMap<String, Entry>) {
    let path = root.join(relative);
    let meta = fs::symlink_metadata(&path).expect("listed paths exist");
    let entry = if meta.file_type().is_symlink() {
        let target = fs::read_link(&path).expect("a readable symlink");
        Entry::Symlink(target.to_string_lossy().into_owned())
    } else if meta.is_dir() {
        let mut children: Vec<_> = fs::read_dir(&path)
            .expect("a readable directory")
            .map(|child| child.expect("a readable entry").file_name())
            .collect();
        children.sort();
        for child in children {
            walk(
                root,
                &format!("{relative}/{}", child.to_string_lossy()),
                entries,
            );
        }
        Entry::Dir
    } else {
        Entry::File(fs::read(&path).expect("a readable file"))
    };
    entries.insert(relative.to_string(), entry);
}

/// Every path that the generator writes for the committed fixtures, relative to the root.
fn generated() -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    for group in ["valid", "invalid"] {
        entries.insert(group.to_string(), Entry::Dir);
    }
    for fixture in fixtures::all().into_iter().filter(|f| f.committed) {
        let dir = fixture.relative_dir();
        entries.insert(dir.clone(), Entry::Dir);
        for file in fixture.files {
            let path = format!("{dir}/{}", file.path);
            // Parent directories of nested files.
            let mut parent = path.as_str();
            while let Some((up, _)) = parent.rsplit_once('/') {
                if up.len() <= dir.len() {
                    break;
                }
                entries.insert(up.to_string(), Entry::Dir);
                parent = up;
            }
            let entry = match file.content {
                Content::Bytes(bytes) => Entry::File(bytes),
                Content::Sparse { mut head, len } => {
                    head.resize(usize::try_from(len).expect("committed files are small"), 0);
                    Entry::File(head)
                }
                Content::Symlink(target) => Entry::Symlink(target),
            };
            entries.insert(path, entry);
        }
    }
    entries
}

#[test]
fn committed_fixtures_match_the_generator() {
    let root = fixtures::default_root();
    let expected = generated();
    let actual = on_disk(&root);
    let mut problems = Vec::new();
    for (path, entry) in &expected {
        match actual.get(path) {
            None => problems.push(format!("testdata/{path} is missing")),
            Some(found) if found != entry => {
                let what = match (entry, found) {
                    (Entry::File(_), Entry::File(_)) => "has other bytes than the generator writes",
                    (Entry::Symlink(_), Entry::Symlink(_)) => {
                        "points elsewhere than the generator's symlink"
                    }
                    _ => "is not the kind of file the generator writes",
                };
                problems.push(format!("testdata/{path} {what}"));
            }
            Some(_) => {}
        }
    }
    for path in actual.keys().filter(|path| !expected.contains_key(*path)) {
        problems.push(format!("testdata/{path} is not produced by the generator"));
    }
    if !problems.is_empty() {
        let shown = problems.len().min(25);
        panic!(
            "testdata/ has drifted from the fixture generator ({} problems):\n  {}{}\n\
             Regenerate it with `{REGENERATE}` and commit the result.",
            problems.len(),
            problems[..shown].join("\n  "),
            if problems.len() > shown {
                "\n  ..."
            } else {
                ""
            },
        );
    }
}

#[test]
fn uncommitted_fixtures_are_written_sparse() {
    let scratch = std::env::temp_dir().join(format!("cmi-testkit-drift-{}", std::process::id()));
    for fixture in fixtures::all().into_iter().filter(|f| !f.committed) {
        let dir = scratch.join(&fixture.name);
        fixtures::write(&fixture, &dir).expect("the fixture is written");
        for file in &fixture.files {
            if let Content::Sparse { len, .. } = &file.content {
                let meta = fs::metadata(dir.join(&file.path)).expect("written");
                assert_eq!(meta.len(), *len, "{}/{}", fixture.name, file.path);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::MetadataExt;
                    assert!(
                        meta.blocks() * 512 < 16 << 20,
                        "{}/{} is not sparse",
                        fixture.name,
                        file.path
                    );
                }
            }
        }
    }
    fs::remove_dir_all(&scratch).expect("the scratch directory is removed");
}
