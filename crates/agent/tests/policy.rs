//! The least-privilege policy generator: documents, validation errors, and atomic writes.

use cmi_agent::policy::write_all;
use cmi_format::policy::{self, generate, sid, DocumentKind, PolicyError, PolicyInputs, PolicySet};
use serde_json::{json, Value};

const A: &str = "111122223333";
const H: &str = "444455556666";
const K1: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const K2: &str = "arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab";

fn minimal() -> PolicyInputs {
    PolicyInputs {
        bucket: "research-models".into(),
        prefix: None,
        bucket_account: A.into(),
        hosting_account: H.into(),
        region: "us-east-1".into(),
        role_name: "CmiImportRole".into(),
        source_kms_key_arn: None,
        hosting_kms_key_arn: None,
        importer_arn: None,
    }
}

fn full() -> PolicyInputs {
    PolicyInputs {
        prefix: Some("llama/v1".into()),
        source_kms_key_arn: Some(K1.into()),
        hosting_kms_key_arn: Some(K2.into()),
        ..minimal()
    }
}

fn set_of(inputs: &PolicyInputs) -> PolicySet {
    generate(&inputs.validate().expect("valid inputs"))
}

fn err_of(inputs: PolicyInputs) -> PolicyError {
    inputs.validate().expect_err("invalid inputs")
}

#[test]
fn full_example_matches_exactly() {
    let set = set_of(&full());
    let files: Vec<&str> = set.documents.iter().map(|d| d.file_name).collect();
    assert_eq!(
        files,
        [
            "trust-policy.json",
            "role-identity-policy.json",
            "bucket-policy.json",
            "source-kms-key-policy-statement.json",
            "hosting-kms-key-policy-statement.json",
        ]
    );
    let role = "arn:aws:iam::444455556666:role/CmiImportRole";
    // AWS Machine Learning blog, "How to configure cross-account model deployment using
    // Amazon Bedrock Custom Model Import", steps 4 and 5.
    let walkthrough = json!([
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey"
    ]);
    let expected = [
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "CmiBedrockAssumeImportRole",
                "Effect": "Allow",
                "Principal": { "Service": "bedrock.amazonaws.com" },
                "Action": ["sts:AssumeRole"],
                "Condition": {
                    "StringEquals": { "aws:SourceAccount": H },
                    "ArnEquals": {
                        "aws:SourceArn": "arn:aws:bedrock:us-east-1:444455556666:model-import-job/*"
                    }
                }
            }]
        }),
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CmiRoleListModelPrefix",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": "arn:aws:s3:::research-models",
                    "Condition": {
                        "StringEquals": { "aws:ResourceAccount": A },
                        "StringLike": { "s3:prefix": ["llama/v1/", "llama/v1/*"] }
                    }
                },
                {
                    "Sid": "CmiRoleReadModelObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": "arn:aws:s3:::research-models/llama/v1/*",
                    "Condition": { "StringEquals": { "aws:ResourceAccount": A } }
                },
                {
                    "Sid": "CmiRoleDecryptModelObjects",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:DescribeKey"],
                    "Resource": K1
                },
                {
                    "Sid": "CmiRoleUseImportedModelKey",
                    "Effect": "Allow",
                    "Action": walkthrough,
                    "Resource": K2
                }
            ]
        }),
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CmiBucketListModelPrefix",
                    "Effect": "Allow",
                    "Principal": { "AWS": role },
                    "Action": ["s3:ListBucket"],
                    "Resource": "arn:aws:s3:::research-models",
                    "Condition": { "StringLike": { "s3:prefix": ["llama/v1/", "llama/v1/*"] } }
                },
                {
                    "Sid": "CmiBucketReadModelObjects",
                    "Effect": "Allow",
                    "Principal": { "AWS": role },
                    "Action": ["s3:GetObject"],
                    "Resource": "arn:aws:s3:::research-models/llama/v1/*"
                }
            ]
        }),
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "CmiImportRoleDecryptModelObjects",
                "Effect": "Allow",
                "Principal": { "AWS": role },
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*"
            }]
        }),
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CmiImportRoleUseImportedModelKey",
                    "Effect": "Allow",
                    "Principal": { "AWS": role },
                    "Action": walkthrough,
                    "Resource": "*"
                },
                {
                    "Sid": "CmiBedrockEncryptImportedModel",
                    "Effect": "Allow",
                    "Principal": { "AWS": "arn:aws:iam::444455556666:root" },
                    "Action": ["kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": { "StringEquals": { "kms:ViaService": "bedrock.us-east-1.amazonaws.com" } }
                }
            ]
        }),
    ];
    for (doc, expected) in set.documents.iter().zip(expected) {
        let typed = serde_json::to_value(&doc.policy).unwrap();
        assert_eq!(typed, expected, "{}", doc.file_name);
        let reparsed: Value = serde_json::from_str(&doc.to_pretty_json()).unwrap();
        assert_eq!(reparsed, expected, "{} as written", doc.file_name);
    }
    // The key-policy note for the caller of CreateModelImportJob, and nothing else.
    assert_eq!(set.notes.len(), 1, "{:?}", set.notes);
    assert!(set.notes[0].contains("CreateModelImportJob"));
}

#[test]
fn every_document_is_a_versioned_policy_with_unique_sids() {
    for inputs in [
        minimal(),
        full(),
        with_importer("arn:aws:iam::444455556666:user/alice"),
    ] {
        let mut set = set_of(&inputs);
        // The runner policies (policy --runner all) get the same checks, in the same set.
        let runner = policy::RunnerInputs {
            queue_arn: Some("arn:aws:sqs:us-west-2:111122223333:artifacts".to_string()),
            report_prefix: Some("s3://reports/cmi/".to_string()),
            check_as_role: false,
            watch_import: true,
        };
        let validated = inputs.validate().expect("valid inputs");
        set.documents.extend(
            policy::runner_documents(&validated, &runner, &policy::RunnerCommand::ALL)
                .expect("runner documents"),
        );
        let mut sids = Vec::new();
        for doc in &set.documents {
            let text = doc.to_pretty_json();
            assert!(text.ends_with("}\n"), "{}", doc.file_name);
            assert!(text.starts_with("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": ["));
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed["Version"], "2012-10-17");
            let statements = parsed["Statement"].as_array().unwrap();
            assert!(!statements.is_empty());
            for s in statements {
                let sid = s["Sid"].as_str().unwrap();
                assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric()), "{sid}");
                assert_eq!(s["Effect"], "Allow");
                assert!(!text.contains("arn:aws:s3://"));
                sids.push(sid.to_string());
            }
            assert!(!doc.title.is_empty() && !doc.title.contains('\n'));
        }
        let count = sids.len();
        sids.sort();
        sids.dedup();
        assert_eq!(sids.len(), count, "Sids are unique across the set");
    }
}

#[test]
fn without_prefix_or_keys() {
    let set = set_of(&minimal());
    assert_eq!(set.documents.len(), 3);
    assert!(set.get(DocumentKind::SourceKmsKeyPolicyStatement).is_none());
    let (_, list) = set.statement(sid::BUCKET_LIST).unwrap();
    assert!(list.condition.is_empty());
    let (_, read) = set.statement(sid::ROLE_READ).unwrap();
    assert_eq!(
        read.resource.as_deref(),
        Some("arn:aws:s3:::research-models/*")
    );
    let (doc, list) = set.statement(sid::ROLE_LIST).unwrap();
    assert_eq!(doc.kind, DocumentKind::RoleIdentityPolicy);
    assert_eq!(
        serde_json::to_value(&list.condition).unwrap(),
        json!({ "StringEquals": { "aws:ResourceAccount": A } })
    );
    assert_eq!(doc.policy.statement.len(), 2, "no KMS statement");
    // Cross-account without a source key: a note about SSE-KMS and aws/s3.
    assert!(set.notes.iter().any(|n| n.contains("aws/s3")));
}

#[test]
fn empty_prefix_means_the_whole_bucket() {
    let v = PolicyInputs {
        prefix: Some(String::new()),
        ..minimal()
    }
    .validate()
    .unwrap();
    assert_eq!(v.prefix(), "");
    assert_eq!(v.s3_uri(), "s3://research-models/");
    assert_eq!(v.list_prefix_values(), None);
}

#[test]
fn role_kms_statements_are_also_available_alone() {
    let v = full().validate().unwrap();
    let alone = policy::role_kms_statements(&v);
    assert_eq!(alone.len(), 2);
    let identity = policy::role_identity_policy(&v);
    assert!(alone.iter().all(|s| identity.statement.contains(s)));
    assert!(policy::role_kms_statements(&minimal().validate().unwrap()).is_empty());
}

#[test]
fn notes_for_region_and_same_account() {
    let set = set_of(&PolicyInputs {
        region: "ap-south-1".into(),
        hosting_account: A.into(),
        ..minimal()
    });
    assert!(set.notes.iter().any(|n| n.contains("ap-south-1")));
    assert!(set.notes.iter().any(|n| n.contains("same")));
    assert!(!set.notes.iter().any(|n| n.contains("aws/s3")));

    let set = set_of(&PolicyInputs {
        source_kms_key_arn: Some(K1.replace("us-east-1", "us-west-2")),
        ..minimal()
    });
    assert!(set.notes.iter().any(|n| n.contains("us-west-2")));
}

#[test]
fn gov_cloud_region_uses_its_partition() {
    let v = PolicyInputs {
        region: "us-gov-west-1".into(),
        ..minimal()
    }
    .validate()
    .unwrap();
    assert_eq!(v.partition(), "aws-us-gov");
    assert_eq!(
        v.role_arn(),
        "arn:aws-us-gov:iam::444455556666:role/CmiImportRole"
    );
    let err = err_of(PolicyInputs {
        region: "us-gov-west-1".into(),
        source_kms_key_arn: Some(K1.into()),
        ..minimal()
    });
    assert!(
        matches!(err, PolicyError::KmsKeyPartition { .. }),
        "{err:?}"
    );
}

#[test]
fn bad_account() {
    let err = err_of(PolicyInputs {
        bucket_account: "12345".into(),
        ..minimal()
    });
    assert_eq!(
        err,
        PolicyError::Account {
            field: "--bucket-account",
            value: "12345".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("--bucket-account") && msg.contains("\"12345\"") && msg.contains("12 digits")
    );
    assert!(matches!(
        err_of(PolicyInputs {
            hosting_account: "4444-5555-6666".into(),
            ..minimal()
        }),
        PolicyError::Account {
            field: "--hosting-account",
            ..
        }
    ));
}

#[test]
fn malformed_s3_arn_as_bucket() {
    let err = err_of(PolicyInputs {
        bucket: "arn:aws:s3://bucket".into(),
        ..minimal()
    });
    assert_eq!(
        err,
        PolicyError::BucketArn {
            value: "arn:aws:s3://bucket".into(),
            suggestion: "bucket".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("--bucket bucket") && msg.contains("arn:aws:s3:::BUCKET"),
        "{msg}"
    );
}

#[test]
fn uppercase_and_underscore_bucket() {
    let err = err_of(PolicyInputs {
        bucket: "My_Bucket".into(),
        ..minimal()
    });
    assert_eq!(
        err,
        PolicyError::BucketChar {
            value: "My_Bucket".into(),
            ch: 'M',
            index: 0
        }
    );
    assert!(err.to_string().contains("lowercase"));
    let err = err_of(PolicyInputs {
        bucket: "my_bucket".into(),
        ..minimal()
    });
    assert!(matches!(
        err,
        PolicyError::BucketChar {
            ch: '_',
            index: 2,
            ..
        }
    ));
}

#[test]
fn prefix_errors_name_the_character() {
    for (prefix, ch, index) in [("models/a=b", '=', 8), ("models/llama 3/", ' ', 12)] {
        let err = err_of(PolicyInputs {
            prefix: Some(prefix.into()),
            ..minimal()
        });
        assert_eq!(
            err,
            PolicyError::PrefixChar {
                value: prefix.into(),
                ch,
                index
            }
        );
        assert!(err.to_string().contains(&format!("{ch:?}")));
    }
    assert!(matches!(
        err_of(PolicyInputs {
            prefix: Some("models//llama/".into()),
            ..minimal()
        }),
        PolicyError::PrefixEmptySegment { .. }
    ));
    let err = err_of(PolicyInputs {
        prefix: Some("/models/llama/".into()),
        ..minimal()
    });
    assert!(matches!(err, PolicyError::PrefixLeadingSlash { .. }));
    assert!(err.to_string().contains("give models/llama/"));
    assert!(matches!(
        err_of(PolicyInputs {
            prefix: Some("s3://research-models/llama/".into()),
            ..minimal()
        }),
        PolicyError::PrefixUri { .. }
    ));
    let long = format!("{}/", "a".repeat(1024));
    assert!(matches!(
        err_of(PolicyInputs {
            prefix: Some(long),
            ..minimal()
        }),
        PolicyError::S3UriTooLong { .. }
    ));
}

#[test]
fn alias_key_arn_is_rejected_with_the_reason() {
    for alias in [
        "arn:aws:kms:us-east-1:111122223333:alias/models",
        "alias/models",
    ] {
        let err = err_of(PolicyInputs {
            source_kms_key_arn: Some(alias.into()),
            ..minimal()
        });
        assert_eq!(
            err,
            PolicyError::KmsKeyAlias {
                field: "--source-kms-key-arn",
                value: alias.into()
            }
        );
        assert!(err.to_string().contains("resolves only inside the account"));
    }
    assert!(matches!(
        err_of(PolicyInputs {
            hosting_kms_key_arn: Some("1234abcd-12ab-34cd-56ef-1234567890ab".into()),
            ..minimal()
        }),
        PolicyError::KmsKeyNotArn {
            field: "--hosting-kms-key-arn",
            ..
        }
    ));
    for bad in [
        "arn:aws:kms:us-east-1:111122223333:key/not-a-uuid",
        "arn:aws:s3:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1",
    ] {
        assert!(
            matches!(
                err_of(PolicyInputs {
                    source_kms_key_arn: Some(bad.into()),
                    ..minimal()
                }),
                PolicyError::KmsKeyMalformed { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn keys_from_the_wrong_account() {
    let err = err_of(PolicyInputs {
        source_kms_key_arn: Some(K2.into()),
        ..minimal()
    });
    assert!(
        matches!(
            &err,
            PolicyError::KmsKeyAccount { field: "--source-kms-key-arn", key_account, expected, .. }
                if key_account == H && expected == A
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--bucket-account 111122223333"));
    let err = err_of(PolicyInputs {
        hosting_kms_key_arn: Some(K1.into()),
        ..minimal()
    });
    assert!(matches!(
        err,
        PolicyError::KmsKeyAccount {
            field: "--hosting-kms-key-arn",
            expected_field: "--hosting-account",
            ..
        }
    ));
}

#[test]
fn role_name_too_long() {
    let name = "r".repeat(65);
    let err = err_of(PolicyInputs {
        role_name: name.clone(),
        ..minimal()
    });
    assert_eq!(
        err,
        PolicyError::RoleNameLength {
            value: name,
            len: 65
        }
    );
    assert!(err.to_string().contains("1 to 64"));
    assert!(PolicyInputs {
        role_name: "r".repeat(64),
        ..minimal()
    }
    .validate()
    .is_ok());
}

#[test]
fn bad_region() {
    for region in ["US-EAST-1", "us-east-1a", "virginia", ""] {
        assert_eq!(
            err_of(PolicyInputs {
                region: region.into(),
                ..minimal()
            }),
            PolicyError::Region {
                value: region.into()
            }
        );
    }
}

#[test]
fn write_all_writes_every_file_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policies/nested");
    let set = set_of(&full());
    let written = write_all(&set, &out).unwrap();
    assert_eq!(written.len(), set.documents.len());
    for (path, doc) in written.iter().zip(&set.documents) {
        assert_eq!(path, &out.join(doc.file_name));
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text, doc.to_pretty_json());
    }
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = set.documents.iter().map(|d| d.file_name.into()).collect();
    expected.sort();
    assert_eq!(names, expected, "no temporary files left behind");

    // Again, over the existing files, with a smaller set: replaced in place.
    let small = set_of(&minimal());
    write_all(&small, &out).unwrap();
    let bucket = std::fs::read_to_string(out.join("bucket-policy.json")).unwrap();
    assert!(bucket.contains("research-models/*") && !bucket.contains("llama"));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);
}

#[test]
fn write_all_failure_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where a file must go: its rename fails, and every temporary file is removed.
    std::fs::create_dir(dir.path().join("bucket-policy.json")).unwrap();
    std::fs::write(dir.path().join("bucket-policy.json/keep"), b"x").unwrap();
    let err = write_all(&set_of(&full()), dir.path()).unwrap_err();
    assert!(err.to_string().contains("bucket-policy.json"), "{err}");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn with_importer(importer: &str) -> PolicyInputs {
    PolicyInputs {
        importer_arn: Some(importer.into()),
        ..full()
    }
}

#[test]
fn importer_arn_is_the_principal_of_the_create_grant_statement() {
    let importer = "arn:aws:iam::444455556666:role/pipelines/CmiImporter";
    let set = set_of(&with_importer(importer));
    let (doc, statement) = set.statement(sid::HOSTING_KEY).unwrap();
    assert_eq!(doc.kind, DocumentKind::HostingKmsKeyPolicyStatement);
    let typed = serde_json::to_value(statement).unwrap();
    assert_eq!(typed["Principal"]["AWS"], importer);
    assert_eq!(
        typed["Condition"]["StringEquals"]["kms:ViaService"],
        "bedrock.us-east-1.amazonaws.com"
    );
    let (_, role) = set.statement(sid::HOSTING_KEY_ROLE).unwrap();
    assert_eq!(
        serde_json::to_value(role).unwrap()["Principal"]["AWS"],
        "arn:aws:iam::444455556666:role/CmiImportRole"
    );
    // The importer is named, so no note about delegating to the account's IAM policies.
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    for user in [
        "arn:aws:iam::444455556666:user/alice",
        "arn:aws:iam::444455556666:root",
    ] {
        assert!(with_importer(user).validate().is_ok(), "{user}");
    }
}

#[test]
fn importer_arn_must_be_an_iam_principal_of_the_hosting_account() {
    for bad in [
        "CmiImporter",
        "arn:aws:sts::444455556666:assumed-role/R/session",
        "arn:aws:iam:us-east-1:444455556666:role/R",
        "arn:aws:iam::4444:role/R",
        "arn:aws:iam::444455556666:group/G",
        "arn:aws:iam::444455556666:role/",
        "arn:aws:iam::444455556666:role/*",
        "arn:aws:iam",
    ] {
        let err = err_of(with_importer(bad));
        assert!(
            matches!(err, PolicyError::ImporterArn { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("--importer-arn"), "{err}");
    }
    for other in [
        "arn:aws:iam::111122223333:role/R",
        "arn:aws-us-gov:iam::444455556666:role/R",
    ] {
        let err = err_of(with_importer(other));
        assert!(
            matches!(err, PolicyError::ImporterAccount { .. }),
            "{other}: {err:?}"
        );
        assert!(err.to_string().contains("444455556666"), "{err}");
    }
}

#[test]
fn every_statement_names_the_public_document_it_comes_from() {
    let inputs = with_importer("arn:aws:iam::444455556666:role/CmiImporter");
    let mut set = set_of(&inputs);
    set.documents.extend(
        policy::runner_documents(
            &inputs.validate().expect("valid inputs"),
            &policy::RunnerInputs::default(),
            &policy::RunnerCommand::ALL,
        )
        .expect("runner documents"),
    );
    for doc in &set.documents {
        for statement in &doc.policy.statement {
            assert!(
                policy::statement_source(&statement.sid).is_some(),
                "{}",
                statement.sid
            );
        }
    }
    assert_eq!(
        policy::statement_source(sid::HOSTING_KEY_ROLE),
        Some(policy::SOURCE_WALKTHROUGH)
    );
    assert_eq!(
        policy::statement_source(sid::ROLE_HOSTING_KEY),
        Some(policy::SOURCE_WALKTHROUGH)
    );
    assert_eq!(
        policy::statement_source(sid::HOSTING_KEY),
        Some(policy::SOURCE_CMK)
    );
}
