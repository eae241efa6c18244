//! `cmi-preflight check` on every fixture of testdata/: valid fixtures pass with no error, no
//! warning and exactly the info findings their fixture declares, and each mutation triggers
//! the rule it was made for. Together with the testkit's
//! coverage test (one mutation per rule), this proves that every rule fires on its fixture and
//! on no valid fixture.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use cmi_testkit::fixtures::{self, Fixture};
use serde_json::Value;

/// Rules that a mutation cannot trigger alone, with the companions it necessarily brings:
/// a slow SentencePiece-only tokenizer without tokenizer.model (TK005) has no tokenizer.json
/// either (TK001); the 200 GB weight file of LY008 needs a tensor the architecture lacks; a
/// mutation of a family that Converse does not serve (CF003 on qwen3, CF006 on qwen2, CF012,
/// CF013 and LY012 on GPT-OSS) keeps that family's Converse note (CF016); a tensor that the
/// index maps to a file that is not a shard (IX010) is not loaded, so it is missing (SH001);
/// a folder under a file's name (LY013) holds files, which are in a sub-folder (LY006).
const COMPANIONS: &[(&str, &[&str])] = &[
    ("TK005", &["TK001"]),
    ("LY008", &["SH002"]),
    ("CF003", &["CF016"]),
    ("CF006", &["CF016"]),
    ("CF012", &["CF016"]),
    ("CF013", &["CF016"]),
    ("LY012", &["CF016"]),
    ("IX010", &["SH001"]),
    ("LY013", &["LY006"]),
];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn run_check(dir: &Path, extra: &[&str]) -> Output {
    Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .arg("check")
        .arg(dir)
        .args(extra)
        .output()
        .expect("runs")
}

fn json_report(dir: &Path) -> (i32, Value) {
    let output = run_check(dir, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not JSON ({e}): {}\nstderr: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

/// Where a fixture lives: testdata/ for committed ones, a fresh temporary folder otherwise.
fn materialize(fixture: &Fixture, scratch: &Path) -> PathBuf {
    if fixture.committed {
        let group = if fixture.expect.is_some() {
            "invalid"
        } else {
            "valid"
        };
        testdata().join(group).join(&fixture.name)
    } else {
        let dir = scratch.join(&fixture.name);
        fixtures::write(fixture, &dir).expect("fixture written");
        dir
    }
}

#[test]
fn valid_fixtures_pass_with_their_declared_infos_only() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let valid: Vec<Fixture> = fixtures::all()
        .into_iter()
        .filter(|f| f.expect.is_none())
        .collect();
    assert!(
        valid.len() >= 12,
        "expected single-file and sharded fixtures per architecture"
    );
    for fixture in valid {
        let dir = materialize(&fixture, scratch.path());
        let (code, report) = json_report(&dir);
        let expected: Vec<String> = fixture
            .infos
            .iter()
            .map(|rule| rule.rule().code.to_string())
            .collect();
        assert_eq!(
            codes(&report),
            expected,
            "{}: {}",
            fixture.name,
            serde_json::to_string_pretty(&report["findings"]).unwrap_or_default()
        );
        assert_eq!(code, 0, "{}", fixture.name);
        assert_eq!(report["passed"], true);
        assert!(report["summary"]["tensor_count"].as_u64().unwrap_or(0) > 0);
        let strict = run_check(&dir, &["--strict"]);
        assert_eq!(strict.status.code(), Some(0), "{} --strict", fixture.name);
    }
}

#[test]
fn each_mutation_triggers_its_rule() {
    let scratch = tempfile::tempdir().expect("tempdir");
    for fixture in fixtures::all() {
        let Some(rule) = fixture.expect else { continue };
        let rule = rule.rule();
        let dir = materialize(&fixture, scratch.path());
        let (code, report) = json_report(&dir);
        let mut found = codes(&report);
        found.sort();
        found.dedup();
        let mut allowed: Vec<&str> = COMPANIONS
            .iter()
            .find(|(code, _)| *code == rule.code)
            .map_or(&[][..], |(_, companions)| companions)
            .to_vec();
        allowed.push(rule.code);
        allowed.sort();
        assert_eq!(
            found, allowed,
            "{}: the mutation must trigger {} and nothing else",
            fixture.name, rule.code
        );
        let expected_exit = match rule.severity {
            cmi_format::Severity::Error => 1,
            _ if found.iter().any(|c| {
                cmi_format::rules::lookup(c).map(|r| r.severity)
                    == Some(cmi_format::Severity::Error)
            }) =>
            {
                1
            }
            _ => 0,
        };
        assert_eq!(code, expected_exit, "{}: exit status", fixture.name);
        if rule.severity == cmi_format::Severity::Warning && expected_exit == 0 {
            let strict = run_check(&dir, &["--strict"]);
            assert_eq!(strict.status.code(), Some(1), "{} --strict", fixture.name);
        }
    }
}

#[test]
fn git_lfs_pointer_fixture_points_at_the_llama_weights() {
    use sha2::Digest;
    let weights = std::fs::read(testdata().join("valid/llama/model.safetensors")).expect("weights");
    let pointer =
        std::fs::read_to_string(testdata().join("invalid/st016-git-lfs-pointer/model.safetensors"))
            .expect("pointer");
    let oid = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&weights)));
    assert_eq!(oid, fixtures::mutations::LLAMA_WEIGHTS_OID);
    assert_eq!(
        pointer,
        format!(
            "version https://git-lfs.github.com/spec/v1\noid {oid}\nsize {}\n",
            weights.len()
        )
    );
}
