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

/// Where the newer transformers for GPT-OSS lives: CMI_TEST_GPT_OSS_PATH, or the folder that
/// scripts/test installs it into.
fn gpt_oss_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CMI_TEST_GPT_OSS_PATH") {
        return Some(PathBuf::from(path));
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/transformers-gpt-oss");
    local.exists().then_some(local)
}

/// The GPT-OSS fixtures (sparse openai/gpt-oss-20b folders, in MXFP4 and in BF16) against the
/// transformers that has GPT-OSS: scripts/crosscheck_gpt_oss.py derives the checkpoint's tensor
/// names, shapes and dtypes from GptOssForCausalLM and the MXFP4 quantizer, and the safetensors
/// library sees exactly those, as many as `check` reports, with no finding.
#[test]
fn gpt_oss_fixtures_match_transformers() {
    let (Some(python), Some(newer)) = (python(), gpt_oss_path()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CMI_TEST_PYTHON or the GPT-OSS transformers is missing: run ./scripts/test"
        );
        eprintln!("skipped: no Python environment with GPT-OSS; ./scripts/test creates it");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut folders = Vec::new();
    for (name, _) in cmi_testkit::fixtures::gpt_oss_specs() {
        let fixture = cmi_testkit::fixtures::all()
            .into_iter()
            .find(|f| f.name == name)
            .expect("listed");
        let dir = scratch.path().join(name);
        cmi_testkit::fixtures::write(&fixture, &dir).expect("written");
        folders.push(dir);
    }
    let output = Command::new(&python)
        .arg(root.join("scripts/crosscheck_gpt_oss.py"))
        .args(&folders)
        .env("PYTHONPATH", &newer)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "transformers disagrees with a GPT-OSS fixture:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");
    let version = seen["transformers_version"].as_str().expect("version");
    assert!(!version.starts_with("4.51"), "{version} has no GPT-OSS");
    for folder in &folders {
        let seen = &seen[folder.to_str().expect("utf-8 path")];
        assert_eq!(
            seen["eos_token_id"],
            serde_json::json!([200002, 199999, 200012])
        );
        let check = Command::new(env!("CARGO_BIN_EXE_cmi-preflight"))
            .arg("check")
            .arg(folder)
            .args(["--format", "json"])
            .output()
            .expect("check runs");
        let report: Value = serde_json::from_slice(&check.stdout).expect("JSON report");
        assert_eq!(
            report["findings"],
            serde_json::json!([]),
            "{}",
            folder.display()
        );
        assert_eq!(report["summary"]["model_type"], seen["model_type"]);
        assert_eq!(report["summary"]["architecture"], seen["architectures"][0]);
        let tensors = seen["tensors"].as_object().expect("tensors");
        assert_eq!(
            report["summary"]["tensor_count"].as_u64(),
            Some(tensors.len() as u64),
            "{}",
            folder.display()
        );
        let bytes = |dtype: &str| {
            tensors
                .values()
                .filter(|t| t["dtype"] == dtype)
                .map(|t| {
                    let elements: u64 = t["shape"]
                        .as_array()
                        .expect("shape")
                        .iter()
                        .map(|d| d.as_u64().expect("dim"))
                        .product();
                    elements * if dtype == "U8" { 1 } else { 2 }
                })
                .sum::<u64>()
        };
        for dtype in ["BF16", "U8"] {
            assert_eq!(
                report["summary"]["dtypes"][dtype].as_u64().unwrap_or(0),
                bytes(dtype),
                "{}: {dtype} bytes",
                folder.display()
            );
        }
    }
}
