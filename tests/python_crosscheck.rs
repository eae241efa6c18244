//! The real Hugging Face libraries (transformers 4.51.3, tokenizers, safetensors, PyTorch) from
//! the project's virtual environment are the oracle of the fixtures' tensor names and shapes:
//! every valid fixture loads into the model class its config.json names, with no missing,
//! unexpected or mismatched key, and transformers writes back exactly its tensors, which `check`
//! counts the same way. The shape-rule fixtures (SH001-SH003) prove the oracle refuses what it
//! should, naming the tensor `check` names. `scripts/test` creates the environment and sets
//! CMI_TEST_PYTHON; under CI the tests fail when it is missing rather than pass unchecked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The script's exit status when it ran to the end and refused at least one folder.
const REFUSED: i32 = 3;

/// The shape-rule fixtures, their rule, and transformers' loading report about the tensor the
/// rule names (`{}`), as the script words it.
const SHAPE_FIXTURES: [(&str, &str, &str); 3] = [
    ("sh001-missing-tensor", "SH001", "is missing key {}"),
    ("sh002-unexpected-tensor", "SH002", "does not expect key {}"),
    (
        "sh003-shape-mismatch",
        "SH003",
        "key {} has a shape the model does not expect",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CMI_TEST_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let local = root().join(".venv/bin/python");
    local.exists().then_some(local)
}

fn valid_folders() -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/valid"))
        .expect("testdata/valid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert!(!folders.is_empty());
    folders
}

fn shape_folders() -> Vec<PathBuf> {
    SHAPE_FIXTURES
        .iter()
        .map(|(name, _, _)| root().join("testdata/invalid").join(name))
        .collect()
}

fn key(folder: &Path) -> &str {
    folder.to_str().expect("utf-8 path")
}

/// One Python process loads every valid fixture and every shape-rule fixture; both tests read
/// its JSON. `None` when there is no Python environment outside CI.
fn crosscheck() -> Option<&'static Value> {
    static RESULT: OnceLock<Option<Value>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            let Some(python) = python() else {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CMI_TEST_PYTHON is not set and .venv is missing: run ./scripts/test"
                );
                eprintln!("skipped: no Python environment; ./scripts/test creates it");
                return None;
            };
            let output = Command::new(&python)
                .arg(root().join("scripts/crosscheck_fixtures.py"))
                .args(valid_folders())
                .args(shape_folders())
                .output()
                .expect("python runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(REFUSED),
                "the cross-check must run to the end and refuse the shape-rule fixtures:\n{stderr}"
            );
            Some(serde_json::from_slice(&output.stdout).expect("JSON from the script"))
        })
        .as_ref()
}

fn check_report(folder: &Path) -> Value {
    let check = Command::new(env!("CARGO_BIN_EXE_cmi-preflight"))
        .arg("check")
        .arg(folder)
        .args(["--format", "json"])
        .output()
        .expect("check runs");
    serde_json::from_slice(&check.stdout).expect("JSON report")
}

/// Tensor name -> shape, from the script's `tensors` (the folder) or `model_tensors` (what
/// transformers writes back).
fn shapes(tensors: &Value) -> BTreeMap<String, Vec<u64>> {
    tensors
        .as_object()
        .expect("tensors")
        .iter()
        .map(|(name, t)| {
            let shape = t.get("shape").unwrap_or(t);
            let dims = shape
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim"))
                .collect();
            (name.clone(), dims)
        })
        .collect()
}

#[test]
fn valid_fixtures_load_in_transformers() {
    let Some(loaded) = crosscheck() else {
        return;
    };
    let mut models = 0;
    for folder in &valid_folders() {
        let seen = &loaded[key(folder)];
        if let Some(reason) = seen["skipped"].as_str() {
            eprintln!("{}: not loaded by transformers: {reason}", folder.display());
            continue;
        }
        assert_eq!(
            seen["errors"].as_array().map(Vec::len),
            Some(0),
            "transformers refused {}: {:#}",
            folder.display(),
            seen["errors"]
        );
        let report = check_report(folder);
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
        let files = shapes(&seen["tensors"]);
        let written = shapes(&seen["model_tensors"]);
        assert_eq!(
            files,
            written,
            "{}: transformers writes other tensors than the folder holds",
            folder.display()
        );
        assert_eq!(
            report["summary"]["tensor_count"].as_u64(),
            Some(written.len() as u64),
            "{}: transformers sees a different tensor count",
            folder.display()
        );
        let parameters: u64 = written.values().map(|s| s.iter().product::<u64>()).sum();
        assert_eq!(
            report["summary"]["parameter_count"].as_u64(),
            Some(parameters),
            "{}: transformers sees a different parameter count",
            folder.display()
        );
        models += 1;
    }
    assert!(models > 0, "no valid fixture was loaded by transformers");
}

#[test]
fn transformers_refuses_the_shape_rule_fixtures() {
    let Some(loaded) = crosscheck() else {
        return;
    };
    for ((name, code, refusal), folder) in SHAPE_FIXTURES.iter().zip(shape_folders()) {
        let report = check_report(&folder);
        let finding = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["code"] == *code)
            .unwrap_or_else(|| panic!("{name}: check reports no {code}"));
        let message = finding["message"].as_str().expect("message");
        let tensor = message
            .strip_prefix("tensor ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name}: {code} names no tensor: {message}"));
        let errors: Vec<&str> = loaded[key(&folder)]["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no result from the cross-check"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let refusal = refusal.replace("{}", tensor);
        assert!(
            errors.iter().any(|e| e.contains(&refusal)),
            "{name}: transformers did not refuse {tensor} ({code}: {message}); it said {errors:#?}"
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
/// library sees exactly those, as many as `check` reports, with no finding but the declared
/// info notes.
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
    let all = cmi_testkit::fixtures::all();
    let mut folders = Vec::new();
    let mut infos = Vec::new();
    for (name, _) in cmi_testkit::fixtures::gpt_oss_specs() {
        let fixture = all.iter().find(|f| f.name == name).expect("listed");
        let dir = scratch.path().join(name);
        cmi_testkit::fixtures::write(fixture, &dir).expect("written");
        folders.push(dir);
        infos.push(
            fixture
                .infos
                .iter()
                .map(|rule| rule.rule().code)
                .collect::<Vec<_>>(),
        );
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
    for (folder, infos) in folders.iter().zip(&infos) {
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
        let codes: Vec<&str> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["code"].as_str().expect("code"))
            .collect();
        assert_eq!(
            &codes,
            infos,
            "{}: only the declared info notes",
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
