//! `doctor`'s trust-policy step, against roles in a private moto with IAM enforced: a trust
//! policy is evaluated for Bedrock's `sts:AssumeRole` of a model import job of the role's
//! account and Region, not just searched for an Allow naming bedrock.amazonaws.com.

use std::process::Output;

use assert_cmd::Command;
use aws_credential_types::Credentials;
use cmi_testkit::moto::{self, Moto};
use serde_json::{json, Value};

/// The statement `policy` writes for the hosting account, with `source_account` in its
/// `aws:SourceAccount` condition and `admin` as a second principal, so that the doctor (as
/// `admin`) can assume the role: moto crashes evaluating a statement whose only principal is a
/// service.
fn bedrock_statement(admin: &str, source_account: &str, conditions: bool) -> Value {
    let mut statement = json!({
        "Sid": "CmiBedrockAssumeImportRole",
        "Effect": "Allow",
        "Principal": {"Service": "bedrock.amazonaws.com", "AWS": admin},
        "Action": "sts:AssumeRole",
    });
    if conditions {
        statement["Condition"] = json!({
            "StringEquals": {"aws:SourceAccount": source_account},
            "ArnEquals": {"aws:SourceArn": format!(
                "arn:aws:bedrock:{}:{}:model-import-job/*", moto::REGION, moto::ACCOUNT_ID
            )},
        });
    }
    statement
}

fn doctor(moto: &Moto, admin: &Credentials, role: &str) -> Output {
    let role_arn = format!("arn:aws:iam::{}:role/{role}", moto::ACCOUNT_ID);
    Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .args([
            "doctor",
            "s3://models/llama/",
            "--role-arn",
            &role_arn,
            "--bucket-account",
            moto::ACCOUNT_ID,
            "--format",
            "json",
            "--endpoint-url",
            &moto.endpoint(),
            "--region",
            moto::REGION,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", admin.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", admin.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("binary runs")
}

/// The trust-policy step of the doctor's JSON document.
fn trust_step(output: &Output) -> Value {
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    document["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == "trust policy"))
        .cloned()
        .unwrap_or_else(|| panic!("no trust policy step: {document}"))
}

#[test]
fn the_trust_step_evaluates_accounts_denials_and_conditions() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let admin = runtime.block_on(async {
        let iam = moto.iam_client().await;
        let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
        // Denies Bedrock for this account's jobs. The admin (a second principal, for moto)
        // still assumes the role: its own request has no aws:SourceAccount, so on AWS the
        // StringEquals does not hold for it (moto skips conditions on absent keys too).
        let deny = json!({
            "Sid": "NoBedrock",
            "Effect": "Deny",
            "Principal": {"Service": "bedrock.amazonaws.com", "AWS": admin.arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": moto::ACCOUNT_ID}},
        });
        let roles = [
            ("correct", vec![bedrock_statement(&admin.arn, moto::ACCOUNT_ID, true)]),
            ("other-account", vec![bedrock_statement(&admin.arn, "111122223333", true)]),
            (
                "denied",
                vec![bedrock_statement(&admin.arn, moto::ACCOUNT_ID, true), deny],
            ),
            ("unconditioned", vec![bedrock_statement(&admin.arn, "", false)]),
        ];
        let identity = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::models"}]}).to_string();
        for (name, statements) in roles {
            let trust = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
            moto::create_role(&iam, name, &trust, &identity).await;
        }
        admin
    });
    moto.enforce_auth(0);

    let output = doctor(&moto, &admin.credentials, "correct");
    let step = trust_step(&output);
    assert_eq!(step["status"], "pass", "{step}");
    assert!(
        step["detail"]
            .as_str()
            .is_some_and(|d| d.contains("statement CmiBedrockAssumeImportRole")),
        "{step}"
    );

    // Today's doctor passes this one: the Allow names bedrock.amazonaws.com.
    let output = doctor(&moto, &admin.credentials, "other-account");
    let step = trust_step(&output);
    assert_eq!(step["status"], "fail", "{step}");
    assert_eq!(output.status.code(), Some(1));
    let detail = step["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("aws:SourceAccount is 111122223333")
            && detail.contains("this import runs in 123456789012"),
        "{step}"
    );
    assert_eq!(
        step["fixes"][0]["statement"]["Condition"]["StringEquals"]["aws:SourceAccount"],
        moto::ACCOUNT_ID,
        "{step}"
    );

    let output = doctor(&moto, &admin.credentials, "denied");
    let step = trust_step(&output);
    assert_eq!(step["status"], "fail", "{step}");
    assert!(
        step["detail"]
            .as_str()
            .is_some_and(|d| d.contains("statement NoBedrock denies")),
        "{step}"
    );

    // Works, but open to the confused deputy: a warning with the statement `policy` writes.
    let output = doctor(&moto, &admin.credentials, "unconditioned");
    let step = trust_step(&output);
    assert_eq!(step["status"], "warn", "{step}");
    assert!(
        step["detail"]
            .as_str()
            .is_some_and(|d| d.contains("confused-deputy")),
        "{step}"
    );
    let fix = &step["fixes"][0]["statement"];
    assert_eq!(fix["Sid"], "CmiBedrockAssumeImportRole", "{step}");
    assert_eq!(
        fix["Condition"]["ArnEquals"]["aws:SourceArn"],
        format!(
            "arn:aws:bedrock:{}:{}:model-import-job/*",
            moto::REGION,
            moto::ACCOUNT_ID
        ),
        "{step}"
    );
}
