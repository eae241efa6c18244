//! SQS queues in [moto](crate::moto) and S3 event notifications to them.
//!
//! # What moto 5.2.5 does
//! Read from `moto/s3/notifications.py` and `moto/s3/models.py`; the points marked (tested)
//! are checked by `crates/agent/tests/queue.rs`.
//!
//! - In server mode, PutObject, CopyObject, CompleteMultipartUpload and DeleteObject on a
//!   bucket whose notification configuration names a queue of the same server send an S3
//!   event notification to that queue at once, within the S3 request (tested for PutObject
//!   and DeleteObject).
//! - Saving the configuration sends one `s3:TestEvent` per queue
//!   (`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":...,"Bucket":...}`, without AWS's
//!   `RequestId` and `HostId`) (tested).
//! - Keys are encoded with Python's `quote_plus`: a space is `+`, a `+` is `%2B`, non-ASCII
//!   is `%XX` of UTF-8, and unlike AWS `/` is `%2F` too (tested). Deletion events carry the
//!   size and ETag of the deleted object (AWS's do not), and no event has a `sequencer`.
//! - Key filters (`prefix`, `suffix`) and event patterns (`s3:ObjectCreated:*`) are honoured;
//!   a queue in another region than the bucket is refused (400 `InvalidArgument`); a queue
//!   that does not exist is accepted and its events are silently dropped. Queue policies are
//!   not checked.
//! - SQS: long polling, `MaxNumberOfMessages`, visibility timeouts (the queue's and per
//!   receive), `ApproximateReceiveCount`, DeleteMessageBatch with per-entry
//!   `ReceiptHandleIsInvalid` failures and ChangeMessageVisibilityBatch behave as on AWS
//!   (tested). Unlike AWS, any receipt handle a message ever had deletes it, not only the
//!   latest one.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;

/// The SQS client of [`client`], named for the tests that do not depend on the SDK.
pub use aws_sdk_sqs::Client;

/// A queue created by [`create_queue`].
#[derive(Debug, Clone)]
pub struct Queue {
    /// Its URL, for the SQS API: `http://127.0.0.1:PORT/123456789012/NAME` in moto.
    pub url: String,
    /// Its ARN, for notification configurations: `arn:aws:sqs:us-east-1:123456789012:NAME`.
    pub arn: String,
}

/// An SQS client of `config` (for moto: [`crate::moto::Moto::sdk_config`]).
pub fn client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// Creates the standard queue `name` with the given default visibility timeout (whole
/// seconds) and returns its URL and ARN.
///
/// # Panics
/// If an SQS call fails.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout: Duration,
) -> Queue {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"));
    let url = created
        .queue_url()
        .unwrap_or_else(|| panic!("CreateQueue {name} returned no URL"))
        .to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {url}: {e:?}"));
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .unwrap_or_else(|| panic!("GetQueueAttributes {url} returned no QueueArn"))
        .clone();
    Queue { url, arn }
}

/// Configures `bucket` to notify the queue `queue_arn` of `s3:ObjectCreated:*` and
/// `s3:ObjectRemoved:*` events, replacing its notification configuration. S3 (and moto)
/// then sends an `s3:TestEvent` to the queue.
///
/// # Panics
/// If the S3 call fails.
pub async fn notify_queue(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) {
    let queue = QueueConfiguration::builder()
        .id("cmi-preflight-watch")
        .queue_arn(queue_arn)
        .events(Event::S3ObjectCreated)
        .events(Event::S3ObjectRemoved)
        .build()
        .unwrap_or_else(|e| panic!("QueueConfiguration for {queue_arn}: {e}"));
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutBucketNotificationConfiguration {bucket}: {e:?}"));
}

/// How many messages the queue at `url` holds: visible (`ApproximateNumberOfMessages`) and in
/// flight (`ApproximateNumberOfMessagesNotVisible`).
///
/// # Panics
/// If the SQS call fails or an attribute is missing.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {url}: {e:?}"));
    let count = |name: &QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("GetQueueAttributes {url} returned no {name:?}"))
    };
    (
        count(&QueueAttributeName::ApproximateNumberOfMessages),
        count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}
