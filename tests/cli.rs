//! The command line itself: exit statuses, output formats, the rule catalog.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

fn fixture(group: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(group)
        .join(name)
}

#[test]
fn missing_source_exits_2_with_a_clear_error() {
    cmd()
        .args(["check", "/nonexistent/model"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/nonexistent/model does not exist",
        ));
}

#[test]
fn a_file_instead_of_a_folder_exits_2() {
    let file = fixture("valid", "llama").join("config.json");
    cmd()
        .arg("check")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"));
}

#[test]
fn text_output_names_code_file_and_fix() {
    cmd()
        .arg("check")
        .arg(fixture("invalid", "st013-invalid-offsets"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "error[ST013] model.safetensors: tensor",
        ))
        .stdout(predicate::str::contains("fix: Save the file again"))
        .stdout(predicate::str::contains("failed"));
}

#[test]
fn passing_text_output() {
    cmd()
        .arg("check")
        .arg(fixture("valid", "llama-sharded"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("passed"))
        .stdout(predicate::str::contains("llama (LlamaForCausalLM)"));
}

#[test]
fn junit_output_is_one_case_per_rule_with_failures() {
    let output = cmd()
        .arg("check")
        .arg(fixture("invalid", "sh003-shape-mismatch"))
        .args(["--format", "junit"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let xml = String::from_utf8(output.stdout).expect("utf-8");
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    let check_rules = cmi_format::RULES
        .iter()
        .filter(|r| !matches!(r.group(), "MF" | "SG"))
        .count();
    assert_eq!(cases, check_rules);
    assert!(failures >= 1);
    assert!(xml.contains(r#"type="SH003""#));
}

#[test]
fn rules_lists_and_explains() {
    cmd()
        .arg("rules")
        .assert()
        .success()
        .stdout(predicate::str::contains("ST013"))
        .stdout(predicate::str::contains("TK010"));
    cmd()
        .args(["rules", "invalid-offsets"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ST013 invalid-offsets (error)"))
        .stdout(predicate::str::contains("How to fix it"));
    cmd()
        .args(["rules", "XX999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no rule \"XX999\""));
}

fn codes(output: &std::process::Output) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

#[test]
fn the_bedrock_region_must_offer_import_and_the_architecture() {
    let llama = fixture("valid", "llama");
    let check = |dir: &Path, region: &str| {
        let output = cmd()
            .args(["check", dir.to_str().expect("utf-8")])
            .args(["--format", "json", "--bedrock-region", region])
            .output()
            .expect("runs");
        (output.status.code(), codes(&output))
    };
    assert_eq!(check(&llama, "us-west-2"), (Some(0), vec![]));
    assert_eq!(
        check(&llama, "eu-west-1"),
        (Some(1), vec!["RG001".to_string()])
    );

    // A llama folder relabelled as GPT-OSS: its other findings do not matter here, only
    // whether the Region offers the architecture.
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(&llama).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).expect("config")).expect("JSON");
    config["model_type"] = "gpt_oss".into();
    config["architectures"] = serde_json::json!(["GptOssForCausalLM"]);
    std::fs::write(&config_path, config.to_string()).expect("written");
    let (_, west) = check(dir.path(), "us-west-2");
    assert!(west.contains(&"RG002".to_string()), "{west:?}");
    let (_, east) = check(dir.path(), "us-east-1");
    assert!(!east.iter().any(|c| c.starts_with("RG")), "{east:?}");
}
