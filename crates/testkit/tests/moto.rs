//! moto end to end, and the moto behaviours the S3 source relies on. Run with `--nocapture` to
//! see the exact errors moto returns.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::Proxy;
use cmi_testkit::s3::create_bucket;

/// Status, code and message of an SDK error, printed for the record.
fn describe<E>(what: &str, error: &SdkError<E>) -> (u16, String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let code = error.code().unwrap_or("").to_string();
    let message = error.message().unwrap_or("").to_string();
    println!("{what}: HTTP {status}, code {code:?}, message {message:?}");
    if let Some(body) = error.raw_response().and_then(|r| r.body().bytes()) {
        println!("{what}: body {}", String::from_utf8_lossy(body));
    }
    if let Some(r) = error.raw_response() {
        println!(
            "{what}: headers {:?}",
            r.headers().iter().collect::<Vec<_>>()
        );
    }
    println!(
        "{what}: Display: {error}; source: {:?}",
        std::error::Error::source(error).map(|s| s.to_string())
    );
    (status, code, message)
}

/// The raw body of an SDK error's response.
fn body<E>(error: &SdkError<E>) -> String {
    error
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn shared_server_is_one_per_process() {
    let a = Moto::shared();
    let b = Moto::shared();
    assert_eq!(a.port(), b.port());
    assert!(a.endpoint().starts_with("http://127.0.0.1:"));
    let s3 = a.s3_client().await;
    create_bucket(&s3, "shared-one", "us-east-1").await.unwrap();
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(buckets
        .buckets()
        .iter()
        .any(|b| b.name() == Some("shared-one")));
}

#[tokio::test]
async fn private_server_dies_on_drop() {
    let moto = Moto::start();
    let port = moto.port();
    assert_ne!(port, Moto::shared().port());
    drop(moto);
    let connect = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(connect.is_err(), "moto still listens on {port} after drop");
}

#[tokio::test]
async fn iam_enforcement_with_assumed_roles() {
    // Enforcement is global to a server: a private one.
    let moto = Moto::start();
    let iam = moto.iam_client().await;
    let s3 = moto.s3_client().await;
    let bucket = "cmi-enforced";
    let other_bucket = "cmi-enforced-other";

    let admin = moto::create_user(&iam, "admin", moto::ADMIN_POLICY).await;
    println!("admin ARN: {}", admin.arn);
    let reader = moto::create_role(
        &iam,
        "reader",
        &moto::trust_policy(&admin.arn),
        &moto::s3_read_policy(bucket, ""),
    )
    .await;
    let no_get_policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}")}]
    })
    .to_string();
    let no_get = moto::create_role(
        &iam,
        "no-get",
        &moto::trust_policy(&admin.arn),
        &no_get_policy,
    )
    .await;
    let untrusted = moto::create_role(
        &iam,
        "untrusted",
        &moto::trust_policy(&format!(
            "arn:aws:iam::{}:user/someone-else",
            moto::ACCOUNT_ID
        )),
        moto::ADMIN_POLICY,
    )
    .await;
    let account_trust = moto::create_role(
        &iam,
        "account-trust",
        &moto::trust_policy(&format!("arn:aws:iam::{}:root", moto::ACCOUNT_ID)),
        moto::ADMIN_POLICY,
    )
    .await;
    create_bucket(&s3, bucket, "us-east-1").await.unwrap();
    create_bucket(&s3, other_bucket, "us-east-1").await.unwrap();
    for b in [bucket, other_bucket] {
        s3.put_object()
            .bucket(b)
            .key("model/config.json")
            .body(ByteStream::from_static(b"{}"))
            .send()
            .await
            .unwrap();
    }
    // A bucket policy granting GetObject to no-get: moto ignores it.
    let bucket_policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": no_get}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(bucket_policy.to_string())
        .send()
        .await
        .unwrap();

    moto.enforce_auth(0);

    // The static setup credentials are refused now.
    let e = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("S3 with the static keys", &e);
    assert_eq!((status, code.as_str()), (403, "InvalidAccessKeyId"));
    let e = moto
        .sts_client()
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("STS with the static keys", &e);
    // moto wraps this error in <ErrorResponse><Errors><Error>, which the SDK cannot parse.
    assert_eq!((status, code.as_str()), (403, ""));
    assert!(
        body(&e).contains("<Code>InvalidClientTokenId</Code>"),
        "{}",
        body(&e)
    );

    // A wrong secret for the admin's key id.
    let forged = aws_credential_types::Credentials::new(
        admin.credentials.access_key_id(),
        "wrong",
        None,
        None,
        "test",
    );
    let forged_s3 = moto::s3_client(&moto.sdk_config_with(forged, "us-east-1").await);
    let e = forged_s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("S3 with a wrong secret", &e);
    assert_eq!((status, code.as_str()), (403, "SignatureDoesNotMatch"));

    let sts = aws_sdk_sts::Client::new(
        &moto
            .sdk_config_with(admin.credentials.clone(), "us-east-1")
            .await,
    );
    let who = sts.get_caller_identity().send().await.unwrap();
    println!("admin caller identity: {:?}", who.arn());

    // reader: list and get.
    let reader_creds = moto::assume_role(&sts, &reader, "reader-session")
        .await
        .unwrap();
    let reader_s3 = moto::s3_client(
        &moto
            .sdk_config_with(reader_creds.clone(), "us-east-1")
            .await,
    );
    let listed = reader_s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
    let got = reader_s3
        .get_object()
        .bucket(bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"{}"
    );
    reader_s3
        .head_object()
        .bucket(bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap();
    // Resource scoping: the other bucket is denied.
    let e = reader_s3
        .get_object()
        .bucket(other_bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("reader GetObject on another bucket", &e);
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    let e = reader_s3
        .list_objects_v2()
        .bucket(other_bucket)
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("reader ListObjectsV2 on another bucket", &e);
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    // HeadBucket is checked as s3:HeadBucket in moto, not s3:ListBucket.
    // (AWS allows HeadBucket with s3:ListBucket; moto wants s3:HeadBucket.)
    let e = reader_s3
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("reader HeadBucket", &e);
    assert_eq!((status, code.as_str(), body(&e).as_str()), (403, "", ""));
    // GetBucketLocation needs s3:GetBucketLocation, as on AWS.
    let e = reader_s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("reader GetBucketLocation", &e);
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));

    // The same through the proxy: the signature covers the Host header, which the proxy keeps.
    let proxy = Proxy::start(&moto.endpoint());
    let proxied = moto::s3_client(
        &moto::sdk_config_for(&proxy.endpoint(), reader_creds.clone(), "us-east-1").await,
    );
    let got = proxied
        .get_object()
        .bucket(bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"{}"
    );
    assert_eq!(proxy.requests(), 1);

    // no-get: list allowed, get denied, the bucket policy is not evaluated.
    let no_get_creds = moto::assume_role(&sts, &no_get, "no-get-session")
        .await
        .unwrap();
    let no_get_s3 = moto::s3_client(&moto.sdk_config_with(no_get_creds, "us-east-1").await);
    no_get_s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let e = no_get_s3
        .get_object()
        .bucket(bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = describe("no-get GetObject", &e);
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (403, "AccessDenied", "Access Denied")
    );
    println!("no-get GetObject Debug: {e:?}");
    // HEAD: no body, so no code.
    let e = no_get_s3
        .head_object()
        .bucket(bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("no-get HeadObject", &e);
    assert_eq!((status, code.as_str()), (403, ""));

    // Trust policies.
    let e = moto::assume_role(&sts, &untrusted, "untrusted-session")
        .await
        .unwrap_err();
    let (status, code, _) = describe("AssumeRole of a role that trusts someone else", &e);
    assert_eq!((status, code.as_str()), (403, ""));
    assert!(
        body(&e).contains("<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/admin is not authorized to perform: sts:AssumeRole</Message>"),
        "{}",
        body(&e)
    );
    // Unlike AWS, a trust policy naming the account root does not let the account's users in.
    let e = moto::assume_role(&sts, &account_trust, "account-session")
        .await
        .unwrap_err();
    describe("AssumeRole of a role trusting the account root", &e);
    assert!(
        body(&e).contains("<Code>AccessDenied</Code>"),
        "{}",
        body(&e)
    );

    // The reader session itself may not assume roles (no sts:AssumeRole in its policy).
    let reader_sts =
        aws_sdk_sts::Client::new(&moto.sdk_config_with(reader_creds, "us-east-1").await);
    let e = moto::assume_role(&reader_sts, &reader, "chained")
        .await
        .unwrap_err();
    describe("reader AssumeRole without sts:AssumeRole", &e);
    assert!(
        body(&e).contains("User: arn:aws:sts::123456789012:assumed-role/reader/reader-session is not authorized to perform: sts:AssumeRole"),
        "{}",
        body(&e)
    );

    moto.disable_auth();
    s3.list_objects_v2().bucket(bucket).send().await.unwrap();

    // Enforcement after n more authorized requests.
    moto.enforce_auth(2);
    s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    s3.head_object()
        .bucket(bucket)
        .key("model/config.json")
        .send()
        .await
        .unwrap();
    let e = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidAccessKeyId"));
    moto.disable_auth();
}

#[tokio::test]
async fn reset_clears_every_service() {
    let moto = Moto::start();
    let s3 = moto.s3_client().await;
    let iam = moto.iam_client().await;
    create_bucket(&s3, "cmi-reset", "us-east-1").await.unwrap();
    moto::create_user(&iam, "someone", moto::ADMIN_POLICY).await;
    moto.reset();
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());
    assert!(iam.list_users().send().await.unwrap().users().is_empty());
    assert!(moto.output_tail().contains("POST /moto-api/reset"));
}

#[tokio::test]
async fn sse_kms_headers() {
    let moto = Moto::shared();
    let s3 = moto.s3_client().await;
    let kms = moto.kms_client().await;
    let bucket = "cmi-sse-kms";
    create_bucket(&s3, bucket, "us-east-1").await.unwrap();
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    println!("KMS key id {key_id}, ARN {key_arn}");
    let put = s3
        .put_object()
        .bucket(bucket)
        .key("w.safetensors")
        .body(ByteStream::from_static(b"0123456789"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .send()
        .await
        .unwrap();
    println!(
        "PutObject SSE-KMS: sse {:?}, key {:?}",
        put.server_side_encryption(),
        put.ssekms_key_id()
    );
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("w.safetensors")
        .send()
        .await
        .unwrap();
    println!(
        "GetObject SSE-KMS: sse {:?}, key {:?}, bucket key {:?}",
        got.server_side_encryption(),
        got.ssekms_key_id(),
        got.bucket_key_enabled()
    );
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(got.ssekms_key_id(), Some(key_arn.as_str()));
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("w.safetensors")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_arn.as_str()));

    // With the key id rather than the ARN.
    s3.put_object()
        .bucket(bucket)
        .key("by-id")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("by-id")
        .send()
        .await
        .unwrap();
    println!(
        "HeadObject SSE-KMS by key id: key {:?}",
        head.ssekms_key_id()
    );
    // moto echoes the key as given (AWS answers with the key ARN).
    assert_eq!(head.ssekms_key_id(), Some(key_id.as_str()));

    // aws:kms without a key id.
    s3.put_object()
        .bucket(bucket)
        .key("default-key")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("default-key")
        .send()
        .await
        .unwrap();
    println!(
        "HeadObject SSE-KMS default key: sse {:?} key {:?}",
        head.server_side_encryption(),
        head.ssekms_key_id()
    );
    // No key id at all (AWS answers with the ARN of the aws/s3 managed key).
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), None);

    // A plain object.
    s3.put_object()
        .bucket(bucket)
        .key("plain")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("plain")
        .send()
        .await
        .unwrap();
    println!(
        "HeadObject plain: sse {:?} key {:?}",
        head.server_side_encryption(),
        head.ssekms_key_id()
    );
    // No default encryption header (AWS now answers AES256 for every object).
    assert_eq!(head.server_side_encryption(), None);
}

#[tokio::test]
async fn sse_c_is_not_emulated() {
    // moto ignores the SSE-C headers: the object is stored in the clear and served to anyone.
    // AWS answers a GET without the key with 400 InvalidRequest; inject that with
    // proxy::Fault::S3Error when a test needs it.
    let moto = Moto::shared();
    let s3 = moto.s3_client().await;
    let bucket = "cmi-sse-c";
    create_bucket(&s3, bucket, "us-east-1").await.unwrap();
    // 32 bytes of 7, base64, and the base64 of their MD5 (python3 hashlib).
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let key_md5 = "y4HAEFCYWuvAXWFTtA1Qpg==";
    let put = s3
        .put_object()
        .bucket(bucket)
        .key("secret")
        .body(ByteStream::from_static(b"0123456789"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(key)
        .sse_customer_key_md5(key_md5)
        .send()
        .await
        .unwrap();
    println!(
        "PutObject SSE-C: algorithm {:?}, md5 {:?}",
        put.sse_customer_algorithm(),
        put.sse_customer_key_md5()
    );
    assert_eq!(put.sse_customer_algorithm(), None);
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(head.sse_customer_algorithm(), None);
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(got.sse_customer_algorithm(), None);
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"0123456789"
    );
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(key)
        .sse_customer_key_md5(key_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.sse_customer_algorithm(), None);
}

#[tokio::test]
async fn glacier_objects_cannot_be_read() {
    let moto = Moto::shared();
    let s3 = moto.s3_client().await;
    let bucket = "cmi-glacier";
    create_bucket(&s3, bucket, "us-east-1").await.unwrap();
    for (class, readable) in [
        (StorageClass::Glacier, false),
        (StorageClass::DeepArchive, false),
        (StorageClass::GlacierIr, true),
        (StorageClass::IntelligentTiering, true),
    ] {
        let key = format!("obj-{}", class.as_str());
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from_static(b"0123456789"))
            .storage_class(class.clone())
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.storage_class(), Some(&class));
        assert_eq!(head.restore(), None);
        for range in [None, Some("bytes=0-3")] {
            let got = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .set_range(range.map(str::to_string))
                .send()
                .await;
            match got {
                Ok(_) => assert!(readable, "{key} {range:?} was readable"),
                Err(e) => {
                    let (status, code, message) =
                        describe(&format!("GetObject {key} {range:?}"), &e);
                    assert!(!readable, "{key}: {e:?}");
                    assert_eq!(
                        (status, code.as_str(), message.as_str()),
                        (
                            403,
                            "InvalidObjectState",
                            "The operation is not valid for the object's storage class"
                        )
                    );
                    assert!(body(&e)
                        .contains(&format!("<StorageClass>{}</StorageClass>", class.as_str())));
                }
            }
        }
    }
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let classes: Vec<_> = listed
        .contents()
        .iter()
        .map(|o| o.storage_class().map(|c| c.as_str().to_string()))
        .collect();
    println!("ListObjectsV2 storage classes: {classes:?}");
    assert!(classes.contains(&Some("GLACIER".to_string())));
}

#[tokio::test]
async fn bucket_region() {
    let moto = Moto::shared();
    let s3 = moto.s3_client().await;
    let bucket = "cmi-frankfurt";
    let created = create_bucket(&s3, bucket, "eu-central-1").await;
    created.unwrap();
    let location = s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    println!("GetBucketLocation: {:?}", location.location_constraint());
    assert_eq!(
        location.location_constraint(),
        Some(&aws_sdk_s3::types::BucketLocationConstraint::EuCentral1)
    );
    let head = s3.head_bucket().bucket(bucket).send().await.unwrap();
    println!(
        "HeadBucket from us-east-1: bucket_region {:?}",
        head.bucket_region()
    );
    assert_eq!(head.bucket_region(), Some("eu-central-1"));
    // An object in the bucket, written and read with a client of the wrong region: moto does
    // not redirect (AWS answers 301 PermanentRedirect or 400 AuthorizationHeaderMalformed).
    s3.put_object()
        .bucket(bucket)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    s3.get_object()
        .bucket(bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    let eu = moto::s3_client(
        &moto
            .sdk_config_with(moto.credentials(), "eu-central-1")
            .await,
    );
    let head = eu.head_bucket().bucket(bucket).send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("eu-central-1"));
    let e = s3
        .get_bucket_location()
        .bucket("cmi-no-such-bucket")
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("GetBucketLocation of a missing bucket", &e);
    assert_eq!((status, code.as_str()), (404, "NoSuchBucket"));
    // us-east-1: an empty LocationConstraint, which the SDK gives as Unknown("") (not None).
    create_bucket(&s3, "cmi-region-default", "us-east-1")
        .await
        .unwrap();
    let location = s3
        .get_bucket_location()
        .bucket("cmi-region-default")
        .send()
        .await
        .unwrap();
    println!(
        "GetBucketLocation us-east-1: {:?}",
        location.location_constraint()
    );
    assert_eq!(location.location_constraint().map(|c| c.as_str()), Some(""));
    let head = s3
        .head_bucket()
        .bucket("cmi-region-default")
        .send()
        .await
        .unwrap();
    assert_eq!(head.bucket_region(), Some("us-east-1"));

    let e = s3
        .head_bucket()
        .bucket("cmi-no-such-bucket")
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("HeadBucket of a missing bucket", &e);
    assert_eq!((status, code.as_str()), (404, "NotFound"));
    let e = s3
        .list_objects_v2()
        .bucket("cmi-no-such-bucket")
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = describe("ListObjectsV2 of a missing bucket", &e);
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (404, "NoSuchBucket", "The specified bucket does not exist")
    );
    let e = s3
        .get_object()
        .bucket(bucket)
        .key("missing")
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = describe("GetObject of a missing key", &e);
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (404, "NoSuchKey", "The specified key does not exist.")
    );
    let e = s3
        .head_object()
        .bucket(bucket)
        .key("missing")
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = describe("HeadObject of a missing key", &e);
    assert_eq!((status, code.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn ranges() {
    let moto = Moto::shared();
    let s3 = moto.s3_client().await;
    let bucket = "cmi-ranges";
    create_bucket(&s3, bucket, "us-east-1").await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("k")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("k")
        .range("bytes=2-5")
        .send()
        .await
        .unwrap();
    println!(
        "range 2-5: content_range {:?}, length {:?}",
        got.content_range(),
        got.content_length()
    );
    assert_eq!(got.content_range(), Some("bytes 2-5/10"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"2345"
    );
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("k")
        .range("bytes=8-100")
        .send()
        .await
        .unwrap();
    println!("range 8-100: content_range {:?}", got.content_range());
    assert_eq!(got.content_range(), Some("bytes 8-9/10"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"89"
    );
    let got = s3
        .get_object()
        .bucket(bucket)
        .key("k")
        .range("bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_range(), Some("bytes 7-9/10"));
    let e = s3
        .get_object()
        .bucket(bucket)
        .key("k")
        .range("bytes=10-20")
        .send()
        .await
        .unwrap_err();
    let (status, code, message) = describe("range 10-20 on 10 bytes", &e);
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            416,
            "InvalidRange",
            "The requested range is not satisfiable"
        )
    );
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    println!(
        "HeadObject: length {:?}, etag {:?}, last modified {:?}",
        head.content_length(),
        head.e_tag(),
        head.last_modified()
    );
    assert_eq!(head.content_length(), Some(10));
    assert_eq!(head.e_tag(), Some("\"781e5e245d69b566979b86e28d23f2c7\""));
}

#[test]
fn no_orphan_when_the_test_process_is_killed() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_moto-orphan-child"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    /// Kills the child test process even when this test fails half-way.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut child = KillOnDrop(child);
    let port: u16 = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let at = line.find("moto-port ")?;
            line[at + "moto-port ".len()..].trim().parse().ok()
        })
        .expect("the child announces moto's port");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    child.0.kill().unwrap(); // SIGKILL: no destructor, no atexit.
    child.0.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "moto on port {port} survived its test process"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
