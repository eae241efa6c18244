//! S3 event notifications consumed from SQS, against moto: moto delivers S3's notifications
//! to an SQS queue in server mode, [`SqsQueue`] receives them with their keys decoded exactly
//! and recognises the test event, deleted messages do not come back, and two receivers of one
//! queue never get the same message while it is invisible, but do get it again after its
//! visibility timeout when it was not deleted (at-least-once).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cmi_agent::watch::queue::{EventKind, Notification, QueueError, QueueMessage, SqsQueue};
use cmi_testkit::moto::Moto;
use cmi_testkit::sqs;

/// Receives until `count` distinct messages came (keeping the latest delivery of each), or
/// fails after 20 seconds.
async fn receive_n(queue: &SqsQueue, count: usize) -> Vec<QueueMessage> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: BTreeMap<String, QueueMessage> = BTreeMap::new();
    while seen.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages came: {seen:#?}",
            seen.len()
        );
        for message in queue
            .receive(Duration::from_secs(1), 10)
            .await
            .expect("received")
        {
            seen.insert(message.message_id.clone(), message);
        }
    }
    seen.into_values().collect()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_events_arrive_with_exact_keys_and_deleted_messages_do_not_come_back() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let s3 = moto.s3_client().await;
    let bucket = "queue-events";
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    // Received messages stay invisible for 2 s: long enough to delete them, short enough to
    // see them come back if the delete did nothing.
    let created = sqs::create_queue(
        &sqs::client(&config),
        "queue-events",
        Duration::from_secs(2),
    )
    .await;
    sqs::notify_queue(&s3, bucket, &created.arn).await;

    let keys = [
        "models/llama 3/config.json",
        "models/llama 3/tökenizer+ü 模型.json",
        "models/a%41b/model.safetensors",
    ];
    for key in keys {
        put(&s3, bucket, key, b"{}").await;
    }
    s3.delete_object()
        .bucket(bucket)
        .key(keys[2])
        .send()
        .await
        .expect("deleted");

    let queue = SqsQueue::new(&config, &created.url);
    assert_eq!(queue.queue_url(), created.url);
    let messages = receive_n(&queue, 5).await;

    let tests: Vec<_> = messages
        .iter()
        .filter_map(|m| match &m.content {
            Ok(Notification::Test { bucket }) => Some(bucket.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tests, vec![Some(bucket.to_string())]);

    let mut events: Vec<(EventKind, String, Option<u64>)> = messages
        .iter()
        .flat_map(QueueMessage::object_events)
        .map(|e| {
            assert_eq!(e.bucket, bucket);
            (e.kind, e.key.clone(), e.size)
        })
        .collect();
    events.sort();
    let mut expected = vec![
        (EventKind::Created, keys[0].to_string(), Some(2)),
        (EventKind::Created, keys[1].to_string(), Some(2)),
        (EventKind::Created, keys[2].to_string(), Some(2)),
        // moto gives the deleted object's size; AWS does not.
        (EventKind::Removed, keys[2].to_string(), Some(2)),
    ];
    expected.sort();
    assert_eq!(events, expected);
    for message in &messages {
        assert_eq!(message.receive_count, Some(1), "{message:?}");
        assert!(message.content.is_ok(), "{message:?}");
    }

    queue.delete(&messages).await.expect("deleted");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = queue
        .receive(Duration::from_secs(1), 10)
        .await
        .expect("received");
    assert!(again.is_empty(), "deleted messages came back: {again:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_receivers_never_share_an_invisible_message_and_undeleted_ones_come_back() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let s3 = moto.s3_client().await;
    let bucket = "queue-receivers";
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    let created = sqs::create_queue(
        &sqs::client(&config),
        "queue-receivers",
        Duration::from_secs(2),
    )
    .await;
    sqs::notify_queue(&s3, bucket, &created.arn).await;
    for i in 0..5 {
        put(&s3, bucket, &format!("models/m{i}/config.json"), b"{}").await;
    }
    // The queue's default visibility timeout (2 s) applies to both.
    let a = SqsQueue::new(&config, &created.url);
    let b = SqsQueue::new(&config, &created.url);

    let got_a = a.receive(Duration::from_secs(1), 3).await.expect("a");
    let got_b = b.receive(Duration::from_secs(1), 10).await.expect("b");
    assert_eq!(got_a.len(), 3, "{got_a:#?}");
    let ids = |messages: &[QueueMessage]| -> BTreeSet<String> {
        messages.iter().map(|m| m.message_id.clone()).collect()
    };
    let (ids_a, ids_b) = (ids(&got_a), ids(&got_b));
    assert!(
        ids_a.is_disjoint(&ids_b),
        "both received {:?}",
        ids_a.intersection(&ids_b).collect::<Vec<_>>()
    );
    assert_eq!(ids_a.len() + ids_b.len(), 6, "a: {ids_a:?}, b: {ids_b:?}");
    // While they are invisible, nobody gets them again.
    let none = b
        .receive(Duration::from_secs(0), 10)
        .await
        .expect("b again");
    assert!(none.is_empty(), "{none:#?}");

    // A deletes its messages; B crashes before deleting: its messages come back, to A.
    a.delete(&got_a).await.expect("a deleted");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let redelivered = receive_n(&a, ids_b.len()).await;
    assert_eq!(ids(&redelivered), ids_b);
    for message in &redelivered {
        assert_eq!(message.receive_count, Some(2), "{message:?}");
    }
    // The receipt handles of B's receive are stale now; A's are current.
    a.delete(&redelivered).await.expect("a deleted the rest");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let none = b.receive(Duration::from_secs(1), 10).await.expect("b last");
    assert!(none.is_empty(), "{none:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_body_is_an_error_value_and_can_be_deleted() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let client = sqs::client(&config);
    let created = sqs::create_queue(&client, "queue-foreign", Duration::from_secs(2)).await;
    let sent = client
        .send_message()
        .queue_url(&created.url)
        .message_body("hello, not an S3 event")
        .send()
        .await
        .expect("sent");
    let queue = SqsQueue::new(&config, &created.url);
    let got = queue
        .receive(Duration::from_secs(1), 10)
        .await
        .expect("received");
    assert_eq!(got.len(), 1, "{got:#?}");
    let error = got[0].content.clone().expect_err("not an S3 event");
    assert_eq!(Some(error.message_id.as_str()), sent.message_id());
    assert!(got[0].object_events().is_empty());

    queue.delete(&got).await.expect("deleted");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gone = queue
        .receive(Duration::from_secs(0), 10)
        .await
        .expect("received");
    assert!(gone.is_empty(), "{gone:#?}");

    // Errors name the queue and SQS's code.
    let missing = format!("{}-missing", created.url);
    let error = SqsQueue::new(&config, &missing)
        .receive(Duration::from_secs(0), 1)
        .await
        .expect_err("no such queue");
    let QueueError::Receive { queue_url, failure } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(queue_url, &missing);
    assert_eq!(
        failure.code.as_deref(),
        Some("AWS.SimpleQueueService.NonExistentQueue"),
        "{error}"
    );
    assert!(error.to_string().contains(&missing), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_goes_in_batches_of_ten_and_names_the_messages_it_could_not_delete() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let client = sqs::client(&config);
    let created = sqs::create_queue(&client, "queue-batches", Duration::from_secs(2)).await;
    for i in 0..12 {
        client
            .send_message()
            .queue_url(&created.url)
            .message_body(format!(r#"{{"Event":"s3:TestEvent","Bucket":"b{i}"}}"#))
            .send()
            .await
            .expect("sent");
    }
    let queue = SqsQueue::new(&config, &created.url);
    let mut messages = receive_n(&queue, 12).await;
    assert!(messages
        .iter()
        .all(|m| matches!(m.content, Ok(Notification::Test { .. }))));
    messages.insert(
        5,
        QueueMessage {
            message_id: "bogus".to_string(),
            receipt_handle: "not-a-receipt-handle".to_string(),
            receive_count: None,
            content: Ok(Notification::Test { bucket: None }),
        },
    );

    let error = queue.delete(&messages).await.expect_err("one bogus handle");
    let QueueError::Delete {
        queue_url,
        failures,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(queue_url, &created.url);
    assert_eq!(failures.len(), 1, "{error}");
    assert_eq!(failures[0].message_id, "bogus");
    assert_eq!(
        failures[0].failure.code.as_deref(),
        Some("ReceiptHandleIsInvalid")
    );
    assert!(
        error.to_string().contains("bogus: ReceiptHandleIsInvalid"),
        "{error}"
    );

    // The 12 real ones, in two batches, are gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = queue
        .receive(Duration::from_secs(1), 10)
        .await
        .expect("received");
    assert!(again.is_empty(), "{again:#?}");
}
