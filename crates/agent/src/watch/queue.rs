//! S3 event notifications consumed from SQS, for `watch --sqs-queue-url`: instead of listing
//! the watched prefix on a timer, the daemon receives the bucket's events and re-lists only
//! the artifacts they touch.
//!
//! The parsing is pure ([`parse_body`]): an SQS message body holds an S3 event notification
//! (`{"Records":[...]}`), the same wrapped in an SNS notification (`{"Type":"Notification",
//! "Message":"<json>"}`, when the bucket notifies a topic the queue subscribes to without raw
//! delivery), an EventBridge event of source `aws.s3` (when a rule targets the queue), or the
//! `s3:TestEvent` that S3 sends when a notification configuration is saved. Anything else is a
//! [`BodyError`] naming the message, never a panic. [`SqsQueue`] does the I/O.
//!
//! # Keys
//! S3 event notifications URL-encode object keys as an HTML form does: a space is `+`, a `+`
//! is `%2B`, other bytes are `%XX` of their UTF-8 encoding (`/` may be `%2F` or left as is).
//! [`decode_key`] turns `models/llama+3/%C3%A9t%C3%A9%2B.json` back into
//! `models/llama 3/été+.json`. EventBridge events carry the key as it is, not encoded.
//!
//! # At-least-once delivery
//! SQS standard queues deliver every message at least once, and sometimes more than once:
//!
//! - A received message is invisible to other receivers for the queue's visibility timeout;
//!   if it is not deleted by then, it is delivered again, to this daemon or to another one on
//!   the same queue. The daemon keeps a message in flight while it works on the artifacts
//!   the message names, which may take longer than the timeout (a settle period, a check,
//!   a wait for the import slot), and extends its visibility before it lapses
//!   ([`SqsQueue::change_visibility`], at most [`MAX_VISIBILITY`] from the receive).
//! - The daemon deletes a message only once the artifacts it names reached a durable
//!   outcome (passed and submitted, failed, or already done). A crash, a failed delete
//!   ([`QueueError::Delete`] names the messages), or a failed extension, before that means
//!   the message comes back, to this daemon or another: its effect is then repeated, which
//!   is harmless because listing, checking, reporting and submitting are idempotent.
//! - A delete must use the receipt handle of the most recent receive: once a message has
//!   been received again, a delete with an older handle may leave it in the queue.
//! - Even while a message is invisible, AWS documents that a standard queue may, rarely,
//!   deliver a copy of it again. So the queue alone never prevents a double import: several
//!   daemons on one queue, each with its own state directory, rely on the import being
//!   idempotent (the job name and client request token derived from the artifact), not on
//!   SQS delivering each message once.
//! - Events are not ordered and may describe a state that has already changed (an object
//!   created, then deleted): the daemon treats an event as "look at this artifact again" and
//!   re-lists it, rather than trusting the event's size or ETag.
//! - A test event has no effect and is deleted. A body that is not an S3 event is for the
//!   daemon to log and delete, or to leave so that the queue's redrive policy moves it to a
//!   dead-letter queue after `maxReceiveCount` receives ([`QueueMessage::receive_count`]
//!   tells how many there were).

use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

use crate::s3::describe_sdk_error;

/// The longest long poll SQS allows (`WaitTimeSeconds`).
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// The most messages one receive returns, and the most entries of one batch request.
pub const MAX_BATCH: usize = 10;
/// The longest visibility timeout SQS accepts (12 hours), for a queue and for
/// ChangeMessageVisibility; a message cannot stay in flight longer than that from its receive.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// What happened to an object, by the family of the event's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// `ObjectCreated:*` (Put, Post, Copy, CompleteMultipartUpload), or EventBridge's
    /// "Object Created".
    Created,
    /// `ObjectRemoved:*` (Delete, DeleteMarkerCreated), or EventBridge's "Object Deleted".
    Removed,
    /// Any other event (restore, tagging, ACL, lifecycle transition): nothing to re-list for.
    Other,
}

/// One object event of a notification, with its key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// The event's name as S3 gives it: `ObjectCreated:Put`, or for EventBridge the
    /// detail type, `Object Created`.
    pub name: String,
    /// The family of the event.
    pub kind: EventKind,
    /// The bucket of the object.
    pub bucket: String,
    /// The object key, decoded: exactly the key of the object in S3.
    pub key: String,
    /// The object's size in bytes, when the event gives it (not for deletions on AWS).
    pub size: Option<u64>,
    /// The object's ETag, without quotes, when the event gives it.
    pub etag: Option<String>,
    /// The object's version id, in a versioned bucket.
    pub version_id: Option<String>,
    /// S3's hexadecimal sequencer: of two events of one key, the greater came later.
    pub sequencer: Option<String>,
}

/// What a message body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Object events (an S3 notification may hold several records; usually one).
    Objects(Vec<ObjectEvent>),
    /// The `s3:TestEvent` S3 sends when notifications are configured: delete it, without
    /// effect.
    Test {
        /// The bucket whose configuration was saved, when the event names it.
        bucket: Option<String>,
    },
}

/// A message body that is not an S3 event notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQS message {message_id} is not an S3 event notification: {reason}")]
pub struct BodyError {
    /// The SQS message id.
    pub message_id: String,
    /// What is wrong with the body.
    pub reason: String,
}

/// Decodes an object key of an S3 event notification: `+` is a space, `%XX` a byte of the
/// key's UTF-8 encoding. Fails when the bytes are not UTF-8.
pub fn decode_key(encoded: &str) -> Result<String, String> {
    let spaced = encoded.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| format!("the object key {encoded:?} does not decode to UTF-8"))
}

/// Parses the body of the SQS message `message_id`: an S3 event notification, directly, in an
/// SNS notification, or as an EventBridge event; or the S3 test event.
pub fn parse_body(message_id: &str, body: &str) -> Result<Notification, BodyError> {
    parse(body, true).map_err(|reason| BodyError {
        message_id: message_id.to_string(),
        reason,
    })
}

/// How much of an unrecognized body an error message quotes.
const QUOTED_BODY_CHARS: usize = 120;

fn parse(body: &str, unwrap_sns: bool) -> Result<Notification, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| format!("the body is not JSON ({e}): {}", quote(body)))?;
    let Some(object) = value.as_object() else {
        return Err(format!("the body is not a JSON object: {}", quote(body)));
    };
    if let Some(records) = object.get("Records") {
        return parse_records(records).map(Notification::Objects);
    }
    if object.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test {
            bucket: object
                .get("Bucket")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    if object.get("Type").and_then(Value::as_str) == Some("Notification") {
        if !unwrap_sns {
            return Err("an SNS notification inside an SNS notification".to_string());
        }
        let message = object
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("an SNS notification without a string Message")?;
        return parse(message, false).map_err(|e| format!("in the SNS notification: {e}"));
    }
    if object.get("source").and_then(Value::as_str) == Some("aws.s3") {
        return parse_eventbridge(value).map(|event| Notification::Objects(vec![event]));
    }
    Err(format!(
        "neither S3 Records, an s3:TestEvent, an SNS notification nor an aws.s3 EventBridge \
         event: {}",
        quote(body)
    ))
}

/// The start of `body`, for error messages.
fn quote(body: &str) -> String {
    let mut quoted: String = body.chars().take(QUOTED_BODY_CHARS).collect();
    if quoted.len() < body.len() {
        quoted.push_str("...");
    }
    format!("{quoted:?}")
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    #[serde(rename = "eventName")]
    event_name: String,
    s3: RecordS3,
}

#[derive(Deserialize)]
struct RecordS3 {
    bucket: NamedBucket,
    object: RecordObject,
}

#[derive(Deserialize)]
struct NamedBucket {
    name: String,
}

#[derive(Deserialize)]
struct RecordObject {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    etag: Option<String>,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

fn parse_records(records: &Value) -> Result<Vec<ObjectEvent>, String> {
    let records = records.as_array().ok_or("Records is not an array")?;
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let record = Record::deserialize(record)
                .map_err(|e| format!("record {i} is not an S3 event record: {e}"))?;
            if let Some(source) = record.event_source.as_deref().filter(|s| *s != "aws:s3") {
                return Err(format!("record {i} comes from {source}, not aws:s3"));
            }
            let key = decode_key(&record.s3.object.key).map_err(|e| format!("record {i}: {e}"))?;
            let kind = if record.event_name.starts_with("ObjectCreated:") {
                EventKind::Created
            } else if record.event_name.starts_with("ObjectRemoved:") {
                EventKind::Removed
            } else {
                EventKind::Other
            };
            Ok(ObjectEvent {
                kind,
                name: record.event_name,
                bucket: record.s3.bucket.name,
                key,
                size: record.s3.object.size,
                etag: record
                    .s3
                    .object
                    .etag
                    .map(|e| e.trim_matches('"').to_string()),
                version_id: record.s3.object.version_id,
                sequencer: record.s3.object.sequencer,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct BridgeEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: BridgeDetail,
}

#[derive(Deserialize)]
struct BridgeDetail {
    bucket: NamedBucket,
    object: BridgeObject,
}

#[derive(Deserialize)]
struct BridgeObject {
    key: String,
    size: Option<u64>,
    etag: Option<String>,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

fn parse_eventbridge(value: Value) -> Result<ObjectEvent, String> {
    let event = BridgeEvent::deserialize(value)
        .map_err(|e| format!("not an S3 object event of EventBridge: {e}"))?;
    let kind = match event.detail_type.as_str() {
        "Object Created" => EventKind::Created,
        "Object Deleted" => EventKind::Removed,
        _ => EventKind::Other,
    };
    Ok(ObjectEvent {
        name: event.detail_type,
        kind,
        bucket: event.detail.bucket.name,
        key: event.detail.object.key,
        size: event.detail.object.size,
        etag: event
            .detail
            .object
            .etag
            .map(|e| e.trim_matches('"').to_string()),
        version_id: event.detail.object.version_id,
        sequencer: event.detail.object.sequencer,
    })
}

/// A received message: what it says, and what it takes to delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The SQS message id, stable across deliveries of the message.
    pub message_id: String,
    /// The handle of this receive, which deletes it.
    pub receipt_handle: String,
    /// How many times SQS has delivered the message, this time included, when it says.
    pub receive_count: Option<u32>,
    /// The parsed body, or why it is not an S3 event notification.
    pub content: Result<Notification, BodyError>,
}

impl QueueMessage {
    /// The object events of the message: none for a test event or a body that is not an S3
    /// event notification.
    pub fn object_events(&self) -> &[ObjectEvent] {
        match &self.content {
            Ok(Notification::Objects(events)) => events,
            Ok(Notification::Test { .. }) | Err(_) => &[],
        }
    }
}

/// What SQS answered to a failed request, or why the request did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFailure {
    /// The service's error code (`AWS.SimpleQueueService.NonExistentQueue`,
    /// `ReceiptHandleIsInvalid`, `AccessDenied`...), when there was an answer.
    pub code: Option<String>,
    /// The service's message, or the transport failure.
    pub message: String,
}

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) if self.message.is_empty() => f.write_str(code),
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl ServiceFailure {
    /// What SQS said; for an answer the SDK could not parse (moto answers a denial of the
    /// JSON protocol with a query-protocol XML body), the `<Code>` and `<Message>` of the body
    /// ([`describe_sdk_error`]), which for a denial name the IAM action.
    fn from_sdk<E>(error: &SdkError<E, HttpResponse>) -> ServiceFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        ServiceFailure {
            code: error.code().map(str::to_string),
            message: match (error.code(), error.message()) {
                (_, Some(message)) => message.to_string(),
                (Some(_), None) => String::new(),
                (None, None) => describe_sdk_error(error),
            },
        }
    }
}

/// A message that a batch request could not delete or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The SQS message id.
    pub message_id: String,
    /// Why: the entry's error, or the whole request's.
    pub failure: ServiceFailure,
}

/// Why a queue operation failed. Each names the queue URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// ReceiveMessage failed; nothing was received.
    #[error("cannot receive messages from {queue_url}: {failure}")]
    Receive {
        /// The queue.
        queue_url: String,
        /// What SQS said.
        failure: ServiceFailure,
    },
    /// Some messages were not deleted (the others were): they will be delivered again.
    #[error("cannot delete {} message(s) from {queue_url}: {}", failures.len(), summary(failures))]
    Delete {
        /// The queue.
        queue_url: String,
        /// The messages not deleted, and why.
        failures: Vec<EntryFailure>,
    },
    /// GetQueueAttributes failed, or did not give the attribute asked for.
    #[error("cannot read the attributes of {queue_url}: {failure}")]
    Attributes {
        /// The queue.
        queue_url: String,
        /// What SQS said.
        failure: ServiceFailure,
    },
    /// The visibility of some messages was not changed (that of the others was).
    #[error("cannot change the visibility of {} message(s) of {queue_url}: {}", failures.len(), summary(failures))]
    ChangeVisibility {
        /// The queue.
        queue_url: String,
        /// The messages whose visibility is unchanged, and why.
        failures: Vec<EntryFailure>,
    },
}

/// The first failure of a batch, and how many others there are.
fn summary(failures: &[EntryFailure]) -> String {
    match failures {
        [] => "no failure".to_string(),
        [only] => format!("{}: {}", only.message_id, only.failure),
        [first, rest @ ..] => format!(
            "{}: {} (and {} more)",
            first.message_id,
            first.failure,
            rest.len()
        ),
    }
}

/// An SQS queue of S3 event notifications.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue of `config` (from [`crate::aws::load`]) at `queue_url`
    /// (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`). Makes no request.
    pub fn new(config: &SdkConfig, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client: aws_sdk_sqs::Client::new(config),
            queue_url: queue_url.into(),
        }
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Receives up to `max` messages (1 to 10), waiting up to `wait` (at most 20 s, long
    /// polling) for the first one. An empty vector when none came. Messages without a
    /// receipt handle (which SQS never sends) are skipped with a warning.
    pub async fn receive(&self, wait: Duration, max: i32) -> Result<Vec<QueueMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .wait_time_seconds(seconds(wait.min(MAX_WAIT)))
            .max_number_of_messages(max.clamp(1, MAX_BATCH as i32))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| QueueError::Receive {
                queue_url: self.queue_url.clone(),
                failure: ServiceFailure::from_sdk(&e),
            })?;
        let mut messages = Vec::new();
        for message in output.messages() {
            let message_id = message.message_id().unwrap_or_default().to_string();
            let Some(receipt_handle) = message.receipt_handle() else {
                warn!(queue = %self.queue_url, message_id, "SQS returned a message without a receipt handle");
                continue;
            };
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse().ok());
            let content = parse_body(&message_id, message.body().unwrap_or_default());
            messages.push(QueueMessage {
                message_id,
                receipt_handle: receipt_handle.to_string(),
                receive_count,
                content,
            });
        }
        Ok(messages)
    }

    /// Deletes `messages` with DeleteMessageBatch, 10 at a time. Every batch is tried; the
    /// messages that were not deleted are in [`QueueError::Delete`].
    pub async fn delete<'a>(
        &self,
        messages: impl IntoIterator<Item = &'a QueueMessage>,
    ) -> Result<(), QueueError> {
        let messages: Vec<&QueueMessage> = messages.into_iter().collect();
        let mut failures = Vec::new();
        for chunk in messages.chunks(MAX_BATCH) {
            let entries = chunk.iter().enumerate().map(|(i, message)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&message.receipt_handle)
                    .build()
            });
            let entries = match entries.collect::<Result<Vec<_>, _>>() {
                Ok(entries) => entries,
                Err(e) => {
                    failures.extend(not_sent(chunk, &e));
                    continue;
                }
            };
            let request = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries));
            match request.send().await {
                Ok(output) => failures.extend(
                    output
                        .failed()
                        .iter()
                        .map(|f| entry_failure(chunk, f.id(), f.code(), f.message())),
                ),
                Err(e) => failures.extend(whole_batch_failed(chunk, &e)),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Delete {
                queue_url: self.queue_url.clone(),
                failures,
            })
        }
    }
}

impl SqsQueue {
    /// The queue's default visibility timeout (its `VisibilityTimeout` attribute), read with
    /// GetQueueAttributes.
    pub async fn visibility_timeout(&self) -> Result<Duration, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| QueueError::Attributes {
                queue_url: self.queue_url.clone(),
                failure: ServiceFailure::from_sdk(&e),
            })?;
        let value = output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout));
        value
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .ok_or_else(|| QueueError::Attributes {
                queue_url: self.queue_url.clone(),
                failure: ServiceFailure {
                    code: None,
                    message: format!("VisibilityTimeout is {value:?}, not a number of seconds"),
                },
            })
    }

    /// Makes `messages` invisible for `timeout` from now (at most [`MAX_VISIBILITY`]; zero
    /// makes them visible at once) with ChangeMessageVisibilityBatch, 10 at a time. Every
    /// batch is tried; the messages left unchanged are in [`QueueError::ChangeVisibility`].
    pub async fn change_visibility<'a>(
        &self,
        messages: impl IntoIterator<Item = &'a QueueMessage>,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let messages: Vec<&QueueMessage> = messages.into_iter().collect();
        let timeout = seconds(timeout.min(MAX_VISIBILITY));
        let mut failures = Vec::new();
        for chunk in messages.chunks(MAX_BATCH) {
            let entries = chunk.iter().enumerate().map(|(i, message)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&message.receipt_handle)
                    .visibility_timeout(timeout)
                    .build()
            });
            let entries = match entries.collect::<Result<Vec<_>, _>>() {
                Ok(entries) => entries,
                Err(e) => {
                    failures.extend(not_sent(chunk, &e));
                    continue;
                }
            };
            let request = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries));
            match request.send().await {
                Ok(output) => failures.extend(
                    output
                        .failed()
                        .iter()
                        .map(|f| entry_failure(chunk, f.id(), f.code(), f.message())),
                ),
                Err(e) => failures.extend(whole_batch_failed(chunk, &e)),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(QueueError::ChangeVisibility {
                queue_url: self.queue_url.clone(),
                failures,
            })
        }
    }
}

/// Whole seconds of a duration already bounded by SQS's limits.
fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// The failure of one entry of a batch whose entry ids are the indices into `chunk`.
fn entry_failure(
    chunk: &[&QueueMessage],
    id: &str,
    code: &str,
    message: Option<&str>,
) -> EntryFailure {
    let message_id = id
        .parse::<usize>()
        .ok()
        .and_then(|i| chunk.get(i))
        .map_or_else(|| format!("(batch entry {id})"), |m| m.message_id.clone());
    EntryFailure {
        message_id,
        failure: ServiceFailure {
            code: Some(code.to_string()),
            message: message.unwrap_or_default().to_string(),
        },
    }
}

/// Every message of a batch request that failed as a whole.
fn whole_batch_failed<E>(
    chunk: &[&QueueMessage],
    error: &SdkError<E, HttpResponse>,
) -> Vec<EntryFailure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = ServiceFailure::from_sdk(error);
    chunk
        .iter()
        .map(|m| EntryFailure {
            message_id: m.message_id.clone(),
            failure: failure.clone(),
        })
        .collect()
}

/// Every message of a batch request that could not be built (the SDK found a required
/// field missing).
fn not_sent(
    chunk: &[&QueueMessage],
    error: &aws_smithy_types::error::operation::BuildError,
) -> Vec<EntryFailure> {
    chunk
        .iter()
        .map(|m| EntryFailure {
            message_id: m.message_id.clone(),
            failure: ServiceFailure {
                code: None,
                message: format!("the request was not sent: {error}"),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_name: &str, key: &str) -> String {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2024-01-01T00:00:00.000Z",
            "eventName": event_name,
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "cfg",
                "bucket": {"name": "models", "arn": "arn:aws:s3:::models"},
                "object": {"key": key, "size": 42, "eTag": "0123abcd", "sequencer": "0A1B"}
            }
        }]})
        .to_string()
    }

    fn objects(body: &str) -> Vec<ObjectEvent> {
        match parse_body("m-1", body) {
            Ok(Notification::Objects(events)) => events,
            other => panic!("expected object events, got {other:?}"),
        }
    }

    #[test]
    fn decodes_keys_as_s3_encodes_them() {
        assert_eq!(
            decode_key("models/llama/config.json").unwrap(),
            "models/llama/config.json"
        );
        assert_eq!(
            decode_key("models/llama+3/config.json").unwrap(),
            "models/llama 3/config.json"
        );
        // A real plus is %2B; a slash may come encoded (moto) or not (AWS).
        assert_eq!(
            decode_key("models%2Fa%2Bb%2F%C3%A9t%C3%A9+%E6%A8%A1%E5%9E%8B.json").unwrap(),
            "models/a+b/été 模型.json"
        );
        assert_eq!(decode_key("100%25").unwrap(), "100%");
        // A lone % is kept as it is, as percent-decoding does.
        assert_eq!(decode_key("a%zz").unwrap(), "a%zz");
        assert!(decode_key("bad%FF%FE").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn parses_an_s3_notification() {
        let events = objects(&record("ObjectCreated:Put", "models/llama+3/config.json"));
        assert_eq!(
            events,
            vec![ObjectEvent {
                name: "ObjectCreated:Put".to_string(),
                kind: EventKind::Created,
                bucket: "models".to_string(),
                key: "models/llama 3/config.json".to_string(),
                size: Some(42),
                etag: Some("0123abcd".to_string()),
                version_id: None,
                sequencer: Some("0A1B".to_string()),
            }]
        );
    }

    #[test]
    fn classifies_event_names() {
        let kind = |name| objects(&record(name, "k"))[0].kind;
        assert_eq!(
            kind("ObjectCreated:CompleteMultipartUpload"),
            EventKind::Created
        );
        assert_eq!(kind("ObjectCreated:Copy"), EventKind::Created);
        assert_eq!(kind("ObjectRemoved:Delete"), EventKind::Removed);
        assert_eq!(
            kind("ObjectRemoved:DeleteMarkerCreated"),
            EventKind::Removed
        );
        assert_eq!(kind("ObjectRestore:Completed"), EventKind::Other);
    }

    #[test]
    fn a_deletion_has_no_size() {
        let body = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete",
            "s3":{"bucket":{"name":"b"},"object":{"key":"m/x","sequencer":"0F"}}}]}"#;
        let events = objects(body);
        assert_eq!(events[0].kind, EventKind::Removed);
        assert_eq!(events[0].size, None);
        assert_eq!(events[0].etag, None);
    }

    #[test]
    fn parses_several_records_and_none() {
        let body = r#"{"Records":[
            {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"m/a"}}},
            {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"m/b","versionId":"v1"}}}]}"#;
        let events = objects(body);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].version_id.as_deref(), Some("v1"));
        assert_eq!(objects(r#"{"Records":[]}"#), vec![]);
    }

    #[test]
    fn recognises_the_test_event() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"models","RequestId":"R","HostId":"H"}"#;
        assert_eq!(
            parse_body("m-1", body),
            Ok(Notification::Test {
                bucket: Some("models".to_string())
            })
        );
    }

    #[test]
    fn unwraps_an_sns_notification() {
        let inner = record("ObjectCreated:Put", "models/a+b.json");
        let body = serde_json::json!({
            "Type": "Notification",
            "MessageId": "sns-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Subject": "Amazon S3 Notification",
            "Message": inner,
            "Timestamp": "2024-01-01T00:00:00.000Z"
        })
        .to_string();
        assert_eq!(objects(&body)[0].key, "models/a b.json");

        let test = serde_json::json!({
            "Type": "Notification",
            "Message": r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"models"}"#
        })
        .to_string();
        assert!(matches!(
            parse_body("m-1", &test),
            Ok(Notification::Test { .. })
        ));

        let nested = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        let error = parse_body("m-2", &nested).unwrap_err();
        assert!(
            error.reason.contains("inside an SNS notification"),
            "{error}"
        );

        let no_message = r#"{"Type":"Notification","Message":{"Records":[]}}"#;
        assert!(parse_body("m-3", no_message).is_err());
    }

    #[test]
    fn parses_an_eventbridge_event_with_its_key_as_is() {
        let body = r#"{"version":"0","id":"e","detail-type":"Object Created","source":"aws.s3",
            "account":"123456789012","time":"2024-01-01T00:00:00Z","region":"us-east-1",
            "resources":["arn:aws:s3:::models"],
            "detail":{"version":"0","bucket":{"name":"models"},
              "object":{"key":"raw/a b+c:1.json","size":7,"etag":"e1","version-id":"v","sequencer":"01"},
              "request-id":"R","requester":"123456789012","reason":"PutObject"}}"#;
        assert_eq!(
            objects(body),
            vec![ObjectEvent {
                name: "Object Created".to_string(),
                kind: EventKind::Created,
                bucket: "models".to_string(),
                key: "raw/a b+c:1.json".to_string(),
                size: Some(7),
                etag: Some("e1".to_string()),
                version_id: Some("v".to_string()),
                sequencer: Some("01".to_string()),
            }]
        );
        let deleted = body.replace("Object Created", "Object Deleted");
        assert_eq!(objects(&deleted)[0].kind, EventKind::Removed);
    }

    #[test]
    fn anything_else_is_an_error_naming_the_message() {
        for body in [
            "",
            "hello",
            "[1,2]",
            "null",
            r#"{"foo":1}"#,
            r#"{"Records":{}}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#,
            r#"{"Records":[{"eventSource":"aws:sqs","eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%FF"}}}]}"#,
            r#"{"source":"aws.s3","detail-type":"Object Created"}"#,
            r#"{"Event":"s3:SomethingElse"}"#,
        ] {
            let error = parse_body("msg-42", body).unwrap_err();
            assert_eq!(error.message_id, "msg-42");
            assert!(
                error.to_string().starts_with("SQS message msg-42 is not"),
                "{error}"
            );
        }
    }

    #[test]
    fn long_bodies_are_quoted_short() {
        let body = format!("{{\"x\":\"{}\"}}", "a".repeat(10_000));
        let error = parse_body("m", &body).unwrap_err();
        assert!(error.reason.len() < 400, "{}", error.reason);
        assert!(error.reason.ends_with("...\""), "{}", error.reason);
    }

    #[test]
    fn errors_name_the_queue_and_the_code() {
        let message = |id: &str| QueueMessage {
            message_id: id.to_string(),
            receipt_handle: "h".to_string(),
            receive_count: Some(1),
            content: Ok(Notification::Test { bucket: None }),
        };
        let (a, b) = (message("a"), message("b"));
        let chunk = [&a, &b];
        let failure = entry_failure(&chunk, "1", "ReceiptHandleIsInvalid", Some("bad handle"));
        assert_eq!(failure.message_id, "b");
        let error = QueueError::Delete {
            queue_url: "https://sqs.us-east-1.amazonaws.com/1/q".to_string(),
            failures: vec![failure.clone(), entry_failure(&chunk, "7", "X", None)],
        };
        assert_eq!(
            error.to_string(),
            "cannot delete 2 message(s) from https://sqs.us-east-1.amazonaws.com/1/q: \
             b: ReceiptHandleIsInvalid: bad handle (and 1 more)"
        );
        let receive = QueueError::Receive {
            queue_url: "u".to_string(),
            failure: ServiceFailure {
                code: None,
                message: "dispatch failure".to_string(),
            },
        };
        assert_eq!(
            receive.to_string(),
            "cannot receive messages from u: dispatch failure"
        );
    }

    #[test]
    fn object_events_of_a_message() {
        let message = |id: &str, body: &str| QueueMessage {
            message_id: id.to_string(),
            receipt_handle: format!("h{id}"),
            receive_count: None,
            content: parse_body(id, body),
        };
        let created = message("1", &record("ObjectCreated:Put", "m/a+b"));
        assert_eq!(created.object_events()[0].key, "m/a b");
        assert!(message("2", "garbage").object_events().is_empty());
        let test = message("3", r#"{"Event":"s3:TestEvent","Bucket":"models"}"#);
        assert!(test.object_events().is_empty());
    }
}
