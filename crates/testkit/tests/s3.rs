//! Uploading folders and fixtures to moto.

use cmi_testkit::fixtures::{self, Content, Fixture, FixtureFile};
use cmi_testkit::moto::Moto;
use cmi_testkit::s3::{create_bucket, upload_dir, upload_fixture};

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, i64)> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .map(|o| (o.key().unwrap().to_string(), o.size().unwrap_or(-1)))
        .collect()
}

#[tokio::test]
async fn uploads_a_folder_recursively() {
    let s3 = Moto::shared().s3_client().await;
    create_bucket(&s3, "upload-dir", "us-east-1").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
    std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
    std::fs::write(dir.path().join("sub/deeper/a.bin"), [1u8; 300]).unwrap();
    std::fs::write(dir.path().join("sub/b.txt"), b"b").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("config.json", dir.path().join("link.json")).unwrap();

    let written = upload_dir(&s3, "upload-dir", "models/m1/", dir.path())
        .await
        .unwrap();
    assert_eq!(
        written,
        [
            "models/m1/config.json",
            "models/m1/sub/b.txt",
            "models/m1/sub/deeper/a.bin"
        ]
    );
    assert_eq!(
        keys(&s3, "upload-dir", "models/m1/").await,
        [
            ("models/m1/config.json".to_string(), 2),
            ("models/m1/sub/b.txt".to_string(), 1),
            ("models/m1/sub/deeper/a.bin".to_string(), 300)
        ]
    );
    let got = s3
        .get_object()
        .bucket("upload-dir")
        .key("models/m1/sub/deeper/a.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &[1u8; 300][..]
    );

    let missing = upload_dir(&s3, "no-such-bucket-here", "", dir.path())
        .await
        .unwrap_err();
    println!("upload to a missing bucket: {missing}");
    assert!(missing.to_string().contains("NoSuchBucket"), "{missing}");
}

#[tokio::test]
async fn a_written_fixture_and_the_same_from_memory_give_the_same_objects() {
    let s3 = Moto::shared().s3_client().await;
    create_bucket(&s3, "upload-fixture", "us-east-1")
        .await
        .unwrap();
    let fixture = fixtures::all()
        .into_iter()
        .find(|f| f.name == "llama-sharded")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    fixtures::write(&fixture, dir.path()).unwrap();
    upload_dir(&s3, "upload-fixture", "disk/", dir.path())
        .await
        .unwrap();
    let report = upload_fixture(&s3, "upload-fixture", "memory/", &fixture)
        .await
        .unwrap();
    assert!(report.skipped.is_empty());
    assert_eq!(report.keys.len(), fixture.files.len());
    let from_disk: Vec<_> = keys(&s3, "upload-fixture", "disk/")
        .await
        .into_iter()
        .map(|(k, size)| (k["disk/".len()..].to_string(), size))
        .collect();
    let from_memory: Vec<_> = keys(&s3, "upload-fixture", "memory/")
        .await
        .into_iter()
        .map(|(k, size)| (k["memory/".len()..].to_string(), size))
        .collect();
    assert_eq!(from_disk, from_memory);
    assert!(from_disk
        .iter()
        .any(|(k, _)| k == "model.safetensors.index.json"));
}

#[tokio::test]
async fn symlinks_and_sparse_files_are_skipped() {
    let s3 = Moto::shared().s3_client().await;
    create_bucket(&s3, "upload-skips", "us-east-1")
        .await
        .unwrap();
    let fixture = Fixture {
        name: "skips".into(),
        expect: None,
        infos: Vec::new(),
        committed: false,
        files: vec![
            FixtureFile {
                path: "config.json".into(),
                content: Content::from("{}"),
            },
            FixtureFile {
                path: "huge.safetensors".into(),
                content: Content::Sparse {
                    head: vec![0; 8],
                    len: 200 << 30,
                },
            },
            FixtureFile {
                path: "link".into(),
                content: Content::Symlink("config.json".into()),
            },
        ],
    };
    let report = upload_fixture(&s3, "upload-skips", "", &fixture)
        .await
        .unwrap();
    assert_eq!(report.keys, ["config.json"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(skipped, ["huge.safetensors", "link"]);
    assert_eq!(
        keys(&s3, "upload-skips", "").await,
        [("config.json".to_string(), 2)]
    );
}

#[tokio::test]
async fn buckets_in_other_regions() {
    let s3 = Moto::shared().s3_client().await;
    create_bucket(&s3, "upload-eu-west-3", "eu-west-3")
        .await
        .unwrap();
    let location = s3
        .get_bucket_location()
        .bucket("upload-eu-west-3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        location.location_constraint().map(|c| c.as_str()),
        Some("eu-west-3")
    );
}
