//! Every JSON document the tool prints reads back into its typed struct and writes again to the
//! same bytes, and names its schema (docs/json-output.md). The documents come from real runs of
//! the binary on the fixtures of testdata/.

use std::path::{Path, PathBuf};

#[path = "support/documents.rs"]
mod documents;

use assert_cmd::Command;
use cmi_agent::manifest::Manifest;
use cmi_agent::verify::{VerifyDocument, VerifyMode};
use cmi_format::document::{CheckDocument, RuleRecord};
use documents::{round_trip, typed, SCHEMAS};

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

fn testdata(group: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(group)
}

/// The fixture folders of a group, sorted.
fn fixtures(group: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(testdata(group))
        .expect("testdata group")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Runs the binary and returns its stdout, which must be UTF-8; `codes` are the exit statuses
/// it may end with.
fn stdout_of(args: &[&str], codes: &[i32]) -> String {
    let output = cmd().args(args).output().expect("runs");
    assert!(
        output
            .status
            .code()
            .is_some_and(|code| codes.contains(&code)),
        "{args:?}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 stdout")
}

#[test]
fn check_documents_of_every_fixture_round_trip() {
    let mut count = 0;
    for dir in fixtures("valid").into_iter().chain(fixtures("invalid")) {
        let source = dir.to_str().expect("UTF-8 path");
        for strict in [false, true] {
            let mut args = vec!["check", source, "--format", "json"];
            if strict {
                args.push("--strict");
            }
            let json = stdout_of(&args, &[0, 1]);
            let document: CheckDocument = round_trip(&json);
            assert_eq!(document.schema, CheckDocument::SCHEMA, "{source}");
            assert_eq!(document.source, source);
            assert_eq!(document.strict, strict);
            assert_eq!(
                document.counts.error + document.counts.warning + document.counts.info,
                document.findings.len()
            );
            count += 1;
        }
    }
    assert!(count > 20, "only {count} fixtures");
}

#[test]
fn manifests_round_trip() {
    for name in ["llama", "llama-sharded"] {
        let dir = testdata("valid").join(name);
        let json = stdout_of(&["manifest", dir.to_str().expect("UTF-8 path"), "-q"], &[0]);
        let manifest: Manifest = round_trip(&json);
        assert_eq!(manifest.schema, Manifest::SCHEMA);
        assert_eq!(manifest.to_json(), json);
    }
}

#[test]
fn verify_documents_round_trip_passing_and_failing() {
    let temp = tempfile::tempdir().expect("temp dir");
    let artifact = temp.path().join("llama");
    std::fs::create_dir(&artifact).expect("mkdir");
    for entry in std::fs::read_dir(testdata("valid").join("llama")).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), artifact.join(entry.file_name())).expect("copy");
    }
    let manifest = temp.path().join("manifest.json");
    let source = artifact.to_str().expect("UTF-8 path");
    let manifest_arg = manifest.to_str().expect("UTF-8 path");
    stdout_of(&["manifest", source, "-o", manifest_arg, "-q"], &[0]);
    let verify = [
        "verify",
        source,
        "--manifest",
        manifest_arg,
        "--format",
        "json",
        "-q",
    ];

    let json = stdout_of(&verify, &[0]);
    let passing: VerifyDocument = round_trip(&json);
    assert_eq!(passing.check.schema, VerifyDocument::SCHEMA);
    assert!(passing.check.passed);
    assert_eq!(passing.comparison.mode, VerifyMode::Full);
    assert_eq!(
        passing
            .comparison
            .manifest
            .as_ref()
            .map(|m| m.path.as_str()),
        Some(manifest_arg)
    );

    std::fs::write(artifact.join("extra.txt"), "not in the manifest").expect("write");
    let json = stdout_of(&verify, &[1]);
    let failing: VerifyDocument = round_trip(&json);
    assert_eq!(failing.check.schema, VerifyDocument::SCHEMA);
    assert!(!failing.check.passed);
    assert_eq!(failing.check.findings[0].code, "MF002");
}

#[test]
fn the_rule_catalog_round_trips() {
    let json = stdout_of(&["rules", "--format", "json"], &[0]);
    let rules: Vec<RuleRecord> = round_trip(&json);
    assert_eq!(rules.len(), cmi_format::RULES.len());
    let json = stdout_of(&["rules", "ST013", "--format", "json"], &[0]);
    let rule: RuleRecord = round_trip(&json);
    assert_eq!(rule.code, "ST013");
}

#[test]
fn the_documentation_indexes_exactly_the_schemas_the_tool_writes() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-output.md"))
            .expect("docs/json-output.md");
    let mut indexed: Vec<&str> = doc
        .lines()
        .take_while(|line| !line.starts_with("# `check"))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|schema| schema.starts_with("cmi-preflight."))
        .collect();
    indexed.sort_unstable();
    let mut written = SCHEMAS.to_vec();
    written.sort_unstable();
    assert_eq!(indexed, written);
}

#[test]
fn a_check_document_is_read_by_its_schema() {
    let source = testdata("valid").join("llama");
    let json = stdout_of(
        &["check", source.to_str().expect("UTF-8"), "--format", "json"],
        &[0],
    );
    assert_eq!(typed(&json)["schema"], CheckDocument::SCHEMA);
}
