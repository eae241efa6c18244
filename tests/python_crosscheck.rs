//! The valid fixtures load in the real Hugging Face libraries (transformers 4.51.3, tokenizers,
//! safetensors) from the project's virtual environment, and those libraries see the same
//! tensors that `check` reports. `scripts/test` creates the environment and sets
//! CMI_TEST_PYTHON; under CI the test fails when it is missing rather than pass unchecked.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CMI_TEST_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    local.exists().then_some(local)
}

#[test]
fn valid_fixtures_load_in_transformers() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CMI_TEST_PYTHON is not set and .venv is missing: run ./scripts/test"
        );
        eprintln!("skipped: no Python environment; ./scripts/test creates it");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let valid = root.join("testdata/valid");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&valid)
        .expect("testdata/valid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert!(!folders.is_empty());
    let output = Command::new(&python)
        .arg(root.join("scripts/crosscheck_fixtures.py"))
        .args(&folders)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "transformers rejected a fixture:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let loaded: Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");
    for folder in &folders {
        let seen = &loaded[folder.to_str().expect("utf-8 path")];
        let check = Command::new(env!("CARGO_BIN_EXE_cmi-preflight"))
            .arg("check")
            .arg(folder)
            .args(["--format", "json"])
            .output()
            .expect("check runs");
        let report: Value = serde_json::from_slice(&check.stdout).expect("JSON report");
        assert_eq!(
            report["summary"]["model_type"],
            seen["model_type"],
            "{}",
            folder.display()
        );
        assert_eq!(
            report["summary"]["architecture"],
            seen["architectures"][0],
            "{}",
            folder.display()
        );
        let tensors = seen["tensors"].as_object().expect("tensors");
        assert_eq!(
            report["summary"]["tensor_count"].as_u64(),
            Some(tensors.len() as u64),
            "{}: the safetensors library sees a different tensor count",
            folder.display()
        );
        let parameters: u64 = tensors
            .values()
            .map(|t| {
                t["shape"]
                    .as_array()
                    .expect("shape")
                    .iter()
                    .map(|d| d.as_u64().expect("dim"))
                    .product::<u64>()
            })
            .sum();
        assert_eq!(
            report["summary"]["parameter_count"].as_u64(),
            Some(parameters),
            "{}",
            folder.display()
        );
    }
}
