//! `policy` for the hosting account's KMS key: statements for the import role (AWS's
//! walkthrough) and for the identity that calls `CreateModelImportJob` (`--importer-arn`), each
//! named in the summary with the public document it follows.

use assert_cmd::Command;
use serde_json::Value;

const ACCOUNT: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn policy(extra: &[&str], out_dir: &std::path::Path) -> std::process::Output {
    Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args([
            "policy",
            "--bucket",
            "models",
            "--bucket-account",
            "111122223333",
            "--hosting-account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--role-name",
            "cmi-import",
            "--hosting-kms-key-arn",
            KEY,
        ])
        .args(extra)
        .arg("--out-dir")
        .arg(out_dir)
        .output()
        .expect("runs")
}

#[test]
fn hosting_key_grants_the_role_and_the_importer_and_says_where_each_comes_from() {
    let dir = tempfile::tempdir().expect("temp dir");
    let importer = "arn:aws:iam::444455556666:role/CmiPipeline";
    let out = policy(&["--importer-arn", importer], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_policy: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("hosting-kms-key-policy-statement.json")).expect("file"),
    )
    .expect("JSON");
    let statements = key_policy["Statement"].as_array().expect("statements");
    let principals: Vec<&str> = statements
        .iter()
        .filter_map(|s| s["Principal"]["AWS"].as_str())
        .collect();
    assert_eq!(
        principals,
        ["arn:aws:iam::444455556666:role/cmi-import", importer],
        "{key_policy}"
    );
    assert!(statements[0]["Action"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "kms:ReEncrypt*")));
    assert!(statements[1]["Action"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "kms:CreateGrant")));
    let identity: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("role-identity-policy.json")).expect("file"),
    )
    .expect("JSON");
    assert!(
        identity["Statement"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["Resource"] == KEY)),
        "{identity}"
    );
    for line in [
        "CmiImportRoleUseImportedModelKey: from AWS Machine Learning blog",
        "CmiRoleUseImportedModelKey: from AWS Machine Learning blog",
        "CmiBedrockEncryptImportedModel: from Amazon Bedrock User Guide, \"Encryption of imported custom models\"",
        "CmiBedrockAssumeImportRole: from Amazon Bedrock User Guide",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}

#[test]
fn importer_arn_of_another_account_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = policy(
        &[
            "--importer-arn",
            "arn:aws:iam::111122223333:role/CmiPipeline",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--importer-arn"), "{stderr}");
    assert!(stderr.contains("hosting account 444455556666"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

#[test]
fn an_aggregated_finding_carries_the_number_it_stands_for_in_json() {
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama-sharded");
    let scratch = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&source).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), scratch.path().join(entry.file_name())).expect("copies");
    }
    let index_path = scratch.path().join("model.safetensors.index.json");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("JSON");
    let map = index["weight_map"].as_object_mut().expect("weight_map");
    let shard = map.values().next().expect("a tensor").clone();
    let ghosts = 30;
    for n in 0..ghosts {
        map.insert(
            format!("model.layers.{}.ghost.weight", n + 100),
            shard.clone(),
        );
    }
    std::fs::write(&index_path, index.to_string()).expect("writes");
    let out = Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .arg("check")
        .arg(scratch.path())
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["file"] == "model.safetensors.index.json")
        .collect();
    let aggregated: Vec<&&Value> = findings
        .iter()
        .filter(|f| f.get("occurrences").is_some())
        .collect();
    assert_eq!(aggregated.len(), 1, "{findings:?}");
    let code = aggregated[0]["code"].clone();
    let omitted = ghosts - 20;
    assert_eq!(aggregated[0]["occurrences"], omitted, "{:?}", aggregated[0]);
    assert!(aggregated[0]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with(&format!("and {omitted} more"))));
    // `counts` lists the aggregate once; the occurrences add up to every missing tensor.
    let of_rule: Vec<&&Value> = findings.iter().filter(|f| f["code"] == code).collect();
    assert_eq!(of_rule.len(), 21);
    assert_eq!(
        report["counts"]["error"],
        report["findings"]
            .as_array()
            .map_or(0, |f| f.iter().filter(|f| f["severity"] == "error").count())
    );
    let total: u64 = of_rule
        .iter()
        .map(|f| f.get("occurrences").and_then(Value::as_u64).unwrap_or(1))
        .sum();
    assert_eq!(total, ghosts as u64);
}
