//! Regenerates the committed fixtures.
//!
//! Usage: `cargo run -p cmi-testkit --bin gen-fixtures -- [ROOT]`, where ROOT defaults to the
//! workspace's `testdata/`. Only `ROOT/valid` and `ROOT/invalid` are replaced.

use std::path::PathBuf;
use std::process::ExitCode;

use cmi_testkit::fixtures;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let root = args
        .next()
        .map_or_else(fixtures::default_root, PathBuf::from);
    if args.next().is_some() {
        eprintln!("usage: gen-fixtures [ROOT]");
        return ExitCode::from(2);
    }
    match fixtures::write_committed(&root) {
        Ok(()) => {
            let root = root.canonicalize().unwrap_or(root);
            let count = fixtures::all().iter().filter(|f| f.committed).count();
            println!("wrote {count} fixtures under {}", root.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "error: could not write the fixtures under {}: {error}",
                root.display()
            );
            ExitCode::FAILURE
        }
    }
}
