//! The counting, fault-injecting proxy between the SDK and moto.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::{Fault, Matcher, Proxy, Shape, Stats};
use cmi_testkit::s3::create_bucket;

/// A proxy in front of the shared moto, a client through it, and `bucket` holding `key` with
/// `len` bytes (written directly to moto, not through the proxy).
async fn setup(bucket: &str, key: &str, len: usize) -> (Proxy, aws_sdk_s3::Client, Vec<u8>) {
    let moto = Moto::shared();
    let direct = moto.s3_client().await;
    create_bucket(&direct, bucket, "us-east-1").await.unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    direct
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let proxy = Proxy::start(&moto.endpoint());
    let config = moto::sdk_config_for(&proxy.endpoint(), moto.credentials(), moto::REGION).await;
    (proxy, moto::s3_client(&config), data)
}

#[tokio::test]
async fn counts_a_get_a_ranged_get_and_a_put() {
    let (proxy, s3, data) = setup("proxy-counts", "dir/w.bin", 1000).await;
    let got = s3
        .get_object()
        .bucket("proxy-counts")
        .key("dir/w.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[..]
    );
    assert_eq!(
        proxy.stats(),
        Stats {
            requests: 1,
            request_bytes: 0,
            upstream_response_bytes: 1000,
            client_response_bytes: 1000
        }
    );
    let log = proxy.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "GET");
    assert!(
        log[0].path.starts_with("/proxy-counts/dir/w.bin"),
        "{}",
        log[0].path
    );
    assert_eq!(
        (
            log[0].range.as_deref(),
            log[0].status,
            log[0].response_bytes
        ),
        (None, 200, 1000)
    );
    println!("GetObject as proxied: {:?}", log[0]);

    let got = s3
        .get_object()
        .bucket("proxy-counts")
        .key("dir/w.bin")
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[100..200]
    );
    let log = proxy.log();
    assert_eq!(
        (
            log[1].range.as_deref(),
            log[1].status,
            log[1].response_bytes
        ),
        (Some("bytes=100-199"), 206, 100)
    );
    assert_eq!(proxy.client_response_bytes(), 1100);

    s3.head_object()
        .bucket("proxy-counts")
        .key("dir/w.bin")
        .send()
        .await
        .unwrap();
    let log = proxy.log();
    assert_eq!(
        (log[2].method.as_str(), log[2].status, log[2].response_bytes),
        ("HEAD", 200, 0)
    );

    proxy.reset_stats();
    assert_eq!(proxy.stats(), Stats::default());
    assert!(proxy.log().is_empty());
    s3.put_object()
        .bucket("proxy-counts")
        .key("up")
        .body(ByteStream::from(vec![1u8; 5000]))
        .send()
        .await
        .unwrap();
    // The SDK may frame the body (aws-chunked, with a checksum trailer): at least the payload.
    println!(
        "PutObject of 5000 bytes as proxied: {:?}, {} request bytes",
        proxy.log()[0],
        proxy.request_bytes()
    );
    assert!(proxy.request_bytes() >= 5000);
    assert_eq!(proxy.log()[0].method, "PUT");
    let head = s3
        .head_object()
        .bucket("proxy-counts")
        .key("up")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5000));
}

#[tokio::test]
async fn slow_down_is_retried_by_the_sdk() {
    let (proxy, s3, data) = setup("proxy-slowdown", "k", 300).await;
    proxy.fail_next(1, Fault::Status503SlowDown);
    assert_eq!(proxy.pending_faults(), 1);
    let got = s3
        .get_object()
        .bucket("proxy-slowdown")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[..]
    );
    let statuses: Vec<u16> = proxy.log().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [503, 200]);
    assert_eq!(proxy.log()[0].fault, Some(Fault::Status503SlowDown));
    assert_eq!(proxy.upstream_response_bytes(), 300);
    assert_eq!(proxy.pending_faults(), 0);

    // More failures than the SDK's 3 attempts: the error reaches the caller.
    proxy.fail_next(5, Fault::Status503SlowDown);
    let e = s3
        .get_object()
        .bucket("proxy-slowdown")
        .key("k")
        .send()
        .await
        .unwrap_err();
    println!(
        "GetObject after 3 x 503: code {:?}, message {:?}",
        e.code(),
        e.message()
    );
    assert_eq!(e.code(), Some("SlowDown"));
    assert_eq!(e.message(), Some("Please reduce your request rate."));
    assert_eq!(proxy.pending_faults(), 2);
    proxy.clear_faults();
    assert_eq!(proxy.pending_faults(), 0);
}

#[tokio::test]
async fn a_cut_body_is_an_error_at_the_client() {
    let (proxy, s3, _) = setup("proxy-cut", "big", 100_000).await;
    proxy.fail_next(1, Fault::CutAfter(1000));
    let got = s3
        .get_object()
        .bucket("proxy-cut")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(100_000));
    let error = got.body.collect().await.unwrap_err();
    println!("body of a cut GetObject: {error} / {error:?}");
    let log = proxy.log();
    assert_eq!((log[0].status, log[0].response_bytes), (200, 1000));
    assert_eq!(proxy.client_response_bytes(), 1000);
    assert!(proxy.upstream_response_bytes() >= 1000);

    // A body shorter than the cut passes whole.
    proxy.fail_next(1, Fault::CutAfter(1_000_000));
    let got = s3
        .get_object()
        .bucket("proxy-cut")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        100_000
    );

    // Cut right after the headers.
    proxy.fail_next(1, Fault::CutAfter(0));
    let got = s3
        .get_object()
        .bucket("proxy-cut")
        .key("big")
        .send()
        .await
        .unwrap();
    assert!(got.body.collect().await.is_err());
}

#[tokio::test]
async fn delay_close_and_injected_errors() {
    let (proxy, s3, _) = setup("proxy-faults", "k", 10).await;
    proxy.fail_next(1, Fault::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    s3.get_object()
        .bucket("proxy-faults")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));

    // A closed connection is retried by the SDK.
    proxy.reset_stats();
    proxy.fail_next(1, Fault::CloseWithoutResponse);
    let got = s3
        .get_object()
        .bucket("proxy-faults")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 10);
    let statuses: Vec<u16> = proxy.log().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [0, 200]);

    // What moto cannot produce: SSE-C's error for a GET without the key.
    let sse_c = Fault::S3Error {
        status: 400,
        code: "InvalidRequest".into(),
        message: "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
    };
    proxy.fail_next(1, sse_c.clone());
    let e = s3
        .get_object()
        .bucket("proxy-faults")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequest"));
    assert!(e
        .message()
        .unwrap_or("")
        .starts_with("The object was stored"));
    proxy.fail_next(1, sse_c);
    let e = s3
        .head_object()
        .bucket("proxy-faults")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));

    // Only HEAD requests.
    proxy.reset_stats();
    let head_only = Matcher {
        method: Some("HEAD".into()),
        path_contains: None,
    };
    proxy.fail_next_matching(1, Fault::Status503SlowDown, head_only);
    s3.get_object()
        .bucket("proxy-faults")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(proxy.pending_faults(), 1);
    s3.head_object()
        .bucket("proxy-faults")
        .key("k")
        .send()
        .await
        .unwrap();
    let statuses: Vec<(String, u16)> = proxy
        .log()
        .iter()
        .map(|e| (e.method.clone(), e.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("GET".to_string(), 200),
            ("HEAD".to_string(), 503),
            ("HEAD".to_string(), 200)
        ]
    );
}

#[test]
fn works_from_synchronous_code() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint());
    let mut stream = std::net::TcpStream::connect(proxy.address()).unwrap();
    write!(
        stream,
        "GET /moto-api/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        proxy.address()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(proxy.requests(), 1);
    assert!(proxy.client_response_bytes() > 0);
    drop(proxy);
}

#[test]
#[should_panic(expected = "must be http://127.0.0.1:PORT")]
fn refuses_a_non_loopback_upstream() {
    let _ = Proxy::start("http://example.com:80");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_ranged_gets_are_all_counted() {
    let (proxy, s3, data) = setup("proxy-parallel", "w", 1 << 20).await;
    let chunk = 1 << 16;
    let gets = (0..16).map(|i| {
        let s3 = s3.clone();
        async move {
            let range = format!("bytes={}-{}", i * chunk, (i + 1) * chunk - 1);
            let got = s3
                .get_object()
                .bucket("proxy-parallel")
                .key("w")
                .range(range)
                .send()
                .await
                .unwrap();
            (i, got.body.collect().await.unwrap().into_bytes())
        }
    });
    let handles: Vec<_> = gets.map(tokio::spawn).collect();
    for handle in handles {
        let (i, bytes) = handle.await.unwrap();
        assert_eq!(bytes.as_ref(), &data[i * chunk..(i + 1) * chunk]);
    }
    assert_eq!(proxy.requests(), 16);
    assert_eq!(proxy.client_response_bytes(), 1 << 20);
    let mut ranges: Vec<String> = proxy.log().into_iter().filter_map(|e| e.range).collect();
    ranges.sort();
    ranges.dedup();
    assert_eq!(ranges.len(), 16);
}

#[tokio::test]
async fn replaces_text_in_a_body_and_logs_checksum_headers() {
    let (proxy, s3, data) = setup("proxy-replace", "w.bin", 300).await;
    proxy.fail_next_matching(
        1,
        Fault::ReplaceInBody {
            from: "<Key>w.bin</Key>".to_string(),
            to: "<Key>renamed.bin</Key>".to_string(),
        },
        Matcher {
            method: Some("GET".to_string()),
            path_contains: None,
        },
    );
    let listed = s3
        .list_objects_v2()
        .bucket("proxy-replace")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["renamed.bin"]);
    assert_eq!(
        proxy.client_response_bytes(),
        proxy.upstream_response_bytes() + 6
    );
    assert_eq!(proxy.pending_faults(), 0);

    s3.put_object()
        .bucket("proxy-replace")
        .key("other.bin")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap();
    let log = proxy.log();
    assert_eq!(log[1].method, "PUT");
    assert_eq!(log[1].checksum_headers, vec!["x-amz-checksum-sha256"]);
}

/// A shaped proxy passes the bytes unchanged and no faster than its cap: a lower bound only
/// (a busy machine may be slower, never faster).
#[tokio::test]
async fn a_shaped_proxy_caps_each_connection() {
    let moto = Moto::shared();
    let direct = moto.s3_client().await;
    create_bucket(&direct, "proxy-shaped", "us-east-1")
        .await
        .unwrap();
    let shape = Shape {
        bytes_per_sec: 2_000_000,
        latency: Duration::from_millis(50),
    };
    let proxy = Proxy::start_shaped(&moto.endpoint(), shape);
    let config = moto::sdk_config_for(&proxy.endpoint(), moto.credentials(), moto::REGION).await;
    let s3 = moto::s3_client(&config);
    let data: Vec<u8> = (0..1_000_000).map(|i| (i % 253) as u8).collect();
    let started = Instant::now();
    s3.put_object()
        .bucket("proxy-shaped")
        .key("up.bin")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("proxy-shaped")
        .key("up.bin")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let elapsed = started.elapsed();
    assert_eq!(got.as_ref(), &data[..]);
    assert_eq!(proxy.request_bytes(), 1_000_000);
    assert_eq!(proxy.client_response_bytes(), 1_000_000);
    // 1 MB up and 1 MB down at 2 MB/s (0.5 s each way) plus two latencies: over 1 s; the
    // bound is generous.
    assert!(
        elapsed >= Duration::from_millis(500),
        "2 MB through a 2 MB/s proxy took only {elapsed:?}"
    );
}
