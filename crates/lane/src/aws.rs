//! The lane's AWS transports: SNS for requests, SQS for feedback, KMS for signing.
//!
//! Clients come from [`airlock_aws`], so region, profile, credentials and endpoint overrides
//! work as everywhere else in airlock. SDK errors become [`TransportError`]s that name the
//! operation and the queue, topic or key, and say whether retrying can help: throttling,
//! 5xx, timeouts and connection failures can; access denied or a missing queue cannot. The
//! SDK has already retried the former (standard mode) by the time we see them.

use std::time::Duration;

use airlock_aws::SdkConfig;
use airlock_aws::aws_sdk_kms::primitives::Blob;
use airlock_aws::aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use airlock_aws::aws_sdk_sqs::config::http::HttpResponse;
use airlock_aws::aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use airlock_aws::aws_sdk_sqs::types::{
    BatchResultErrorEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};
use sha2::{Digest as _, Sha256};

use crate::follow::{DEFAULT_RECEIVE_WAIT, FOLLOW_VISIBILITY_TIMEOUT};
use crate::transport::{
    EntryOutcome, FeedbackSink, FeedbackSource, Received, RequestSigner, RequestSink,
    TransportError,
};

/// SQS's longest long poll.
const MAX_WAIT_SECONDS: u64 = 20;
/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 43_200;
/// SQS batch calls take at most 10 entries.
const MAX_BATCH: usize = 10;

/// Error codes that mean "try again later", whatever the HTTP status. Matched on the part
/// after the last `.`, since SQS's query-compatible codes carry an `AWS.SimpleQueueService.`
/// prefix.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KmsThrottled",
];

fn is_transient_code(code: &str) -> bool {
    let code = code.rsplit('.').next().unwrap_or(code);
    TRANSIENT_CODES.contains(&code)
}

/// Maps an SDK error. `target` names the queue, topic or key; the SDK's own message never
/// carries credentials (it is built from the response's code and message and the connector's
/// error), so it is kept for the person reading it.
fn sdk_error<E>(
    operation: &'static str,
    target: &str,
    error: SdkError<E, HttpResponse>,
) -> TransportError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = match &error {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) => true,
        // A user error here is a bad endpoint URL or the like; the rest are the network's.
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        // The service answered something unreadable: a proxy's error page, a cut body.
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error() || error.code().is_some_and(is_transient_code)
        }
        _ => true,
    };
    TransportError {
        operation,
        message: format!("{target}: {}", DisplayErrorContext(&error)),
        retryable,
    }
}

/// Publishes signed requests to the lane's SNS topic.
#[derive(Debug, Clone)]
pub struct SnsRequestSink {
    client: airlock_aws::aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsRequestSink {
    pub fn new(config: &SdkConfig, topic_arn: impl Into<String>) -> SnsRequestSink {
        SnsRequestSink {
            client: airlock_aws::sns(config),
            topic_arn: topic_arn.into(),
        }
    }
}

impl RequestSink for SnsRequestSink {
    async fn publish(&self, envelope: &str) -> Result<String, TransportError> {
        let target = format!("topic {}", self.topic_arn);
        let published = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(envelope)
            .send()
            .await
            .map_err(|e| sdk_error("sns:Publish", &target, e))?;
        Ok(published.message_id().unwrap_or_default().to_string())
    }
}

/// Reads a feedback queue with long polls.
#[derive(Debug, Clone)]
pub struct SqsFeedbackSource {
    /// Receives: one attempt per call, no SDK retries. A retried receive whose first answer
    /// was lost would hide that answer's messages for a visibility timeout without the
    /// follower knowing; failing instead lets the follower wait for them
    /// ([`crate::follow`]) and do its own backoff.
    receiver: airlock_aws::aws_sdk_sqs::Client,
    /// Deletes, with the SDK's standard retries: deleting twice is harmless.
    deleter: airlock_aws::aws_sdk_sqs::Client,
    queue_url: String,
    /// `VisibilityTimeout` of each receive, in whole seconds.
    visibility_timeout: Duration,
}

impl SqsFeedbackSource {
    /// A source whose receives hide messages for [`FOLLOW_VISIBILITY_TIMEOUT`] and whose
    /// attempt timeout is longer than SQS's longest wait ([`airlock_aws::sqs_long_poll`]).
    pub fn new(config: &SdkConfig, queue_url: impl Into<String>) -> SqsFeedbackSource {
        let long_poll = airlock_aws::sqs_long_poll(config, DEFAULT_RECEIVE_WAIT);
        let receiver = airlock_aws::aws_sdk_sqs::Client::from_conf(
            long_poll
                .config()
                .to_builder()
                .retry_config(airlock_aws::aws_sdk_sqs::config::retry::RetryConfig::disabled())
                .build(),
        );
        SqsFeedbackSource {
            receiver,
            deleter: airlock_aws::sqs(config),
            queue_url: queue_url.into(),
            visibility_timeout: FOLLOW_VISIBILITY_TIMEOUT,
        }
    }

    /// Receives with this visibility timeout (whole seconds, at most SQS's 12 hours). Zero
    /// hides nothing: what `airlock lane doctor` reads stays visible to a follower running at
    /// the same time.
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> SqsFeedbackSource {
        self.visibility_timeout =
            Duration::from_secs(timeout.as_secs().min(MAX_VISIBILITY_SECONDS));
        self
    }

    fn target(&self) -> String {
        format!("queue {}", self.queue_url)
    }
}

impl FeedbackSource for SqsFeedbackSource {
    fn redelivery_after(&self) -> Duration {
        self.visibility_timeout
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, TransportError> {
        // Whole seconds, rounded up so that a short wait is a short poll and not a busy loop.
        let seconds =
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).min(MAX_WAIT_SECONDS) as i32;
        let max = max.clamp(1, MAX_BATCH) as i32;
        let output = self
            .receiver
            .receive_message()
            .queue_url(&self.queue_url)
            .wait_time_seconds(seconds)
            .max_number_of_messages(max)
            .visibility_timeout(self.visibility_timeout.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:ReceiveMessage", &self.target(), e))?;
        let mut received = Vec::with_capacity(output.messages().len());
        for message in output.messages() {
            match (message.body(), message.receipt_handle()) {
                (Some(body), Some(handle)) => received.push(Received {
                    body: body.to_string(),
                    handle: handle.to_string(),
                    sent_at: sent_timestamp(message),
                }),
                _ => tracing::warn!(
                    queue = %self.queue_url,
                    message_id = message.message_id().unwrap_or("?"),
                    "ReceiveMessage returned a message without a body or receipt handle; skipped"
                ),
            }
        }
        Ok(received)
    }

    async fn delete(&self, handles: &[String]) -> Result<(), TransportError> {
        let mut failures = Vec::new();
        let mut retryable = false;
        for (batch_index, batch) in handles.chunks(MAX_BATCH).enumerate() {
            let mut entries = Vec::with_capacity(batch.len());
            for (index, handle) in batch.iter().enumerate() {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| TransportError {
                        operation: "sqs:DeleteMessageBatch",
                        message: format!("{}: building entry {index}: {e}", self.target()),
                        retryable: false,
                    })?;
                entries.push(entry);
            }
            let output = match self
                .deleter
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) => {
                    let error = sdk_error("sqs:DeleteMessageBatch", &self.target(), e);
                    retryable |= error.retryable;
                    failures.push(format!(
                        "batch {batch_index} ({} messages): {}",
                        batch.len(),
                        error.message
                    ));
                    continue;
                }
            };
            for failed in output.failed() {
                retryable |= entry_retryable(failed);
                failures.push(format!(
                    "entry {} of batch {batch_index}: {}{}",
                    failed.id(),
                    failed.code(),
                    failed
                        .message()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TransportError {
                operation: "sqs:DeleteMessageBatch",
                message: format!(
                    "{}: {} of {} deletes failed: {}",
                    self.target(),
                    failures.len(),
                    handles.len(),
                    failures.join("; ")
                ),
                retryable,
            })
        }
    }
}

/// The message's `SentTimestamp` (epoch milliseconds), when SQS gave it.
fn sent_timestamp(
    message: &airlock_aws::aws_sdk_sqs::types::Message,
) -> Option<std::time::SystemTime> {
    let millis: u64 = message
        .attributes()?
        .get(&MessageSystemAttributeName::SentTimestamp)?
        .parse()
        .ok()?;
    std::time::UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// Whether a failed batch entry is worth sending again: the service's fault (5xx) or
/// throttling is; the sender's fault (a malformed or oversized entry) is not.
fn entry_retryable(failed: &BatchResultErrorEntry) -> bool {
    is_transient_code(failed.code()) || !failed.sender_fault()
}

/// Sends feedback to a queue in batches.
#[derive(Debug, Clone)]
pub struct SqsFeedbackSink {
    client: airlock_aws::aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsFeedbackSink {
    pub fn new(config: &SdkConfig, queue_url: impl Into<String>) -> SqsFeedbackSink {
        SqsFeedbackSink {
            client: airlock_aws::sqs(config),
            queue_url: queue_url.into(),
        }
    }
}

impl FeedbackSink for SqsFeedbackSink {
    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<EntryOutcome>, TransportError> {
        let target = format!("queue {}", self.queue_url);
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        if bodies.len() > MAX_BATCH {
            return Err(TransportError {
                operation: "sqs:SendMessageBatch",
                message: format!(
                    "{target}: {} messages in one batch; SQS takes at most {MAX_BATCH}",
                    bodies.len()
                ),
                retryable: false,
            });
        }
        let mut entries = Vec::with_capacity(bodies.len());
        for (index, body) in bodies.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(body)
                .build()
                .map_err(|e| TransportError {
                    operation: "sqs:SendMessageBatch",
                    message: format!("{target}: building entry {index}: {e}"),
                    retryable: false,
                })?;
            entries.push(entry);
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("sqs:SendMessageBatch", &target, e))?;
        let mut outcomes = vec![
            EntryOutcome::Failed {
                retryable: true,
                reason: "SendMessageBatch reported nothing for this entry".into(),
            };
            bodies.len()
        ];
        for sent in output.successful() {
            if let Some(slot) = entry_slot(sent.id(), &mut outcomes) {
                *slot = EntryOutcome::Sent;
            }
        }
        for failed in output.failed() {
            if let Some(slot) = entry_slot(failed.id(), &mut outcomes) {
                *slot = EntryOutcome::Failed {
                    retryable: entry_retryable(failed),
                    reason: format!(
                        "{target}: {}{}",
                        failed.code(),
                        failed
                            .message()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ),
                };
            }
        }
        Ok(outcomes)
    }
}

fn entry_slot<'a>(id: &str, outcomes: &'a mut [EntryOutcome]) -> Option<&'a mut EntryOutcome> {
    id.parse::<usize>()
        .ok()
        .and_then(|index| outcomes.get_mut(index))
}

/// Signs with a KMS asymmetric key (`ECC_NIST_P256`, `ECDSA_SHA_256`); the private key never
/// leaves KMS.
#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: airlock_aws::aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSigner {
    /// `key_id` as the envelope will carry it: a key ARN is best, since the dispatcher looks
    /// the public key up by it.
    pub fn new(config: &SdkConfig, key_id: impl Into<String>) -> KmsSigner {
        KmsSigner {
            client: airlock_aws::kms(config),
            key_id: key_id.into(),
        }
    }

    /// The key's public half as SubjectPublicKeyInfo DER (KMS `GetPublicKey`).
    pub async fn public_key_der(&self) -> Result<Vec<u8>, TransportError> {
        let target = format!("key {}", self.key_id);
        let output = self
            .client
            .get_public_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| sdk_error("kms:GetPublicKey", &target, e))?;
        output
            .public_key()
            .map(|key| key.as_ref().to_vec())
            .ok_or_else(|| TransportError {
                operation: "kms:GetPublicKey",
                message: format!("{target}: the answer has no public key"),
                retryable: false,
            })
    }
}

impl RequestSigner for KmsSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        let target = format!("key {}", self.key_id);
        // KMS takes at most 4096 bytes as a RAW message, and a request may be larger (ECS
        // allows 8 KiB of overrides), so the payload is hashed here and sent as a DIGEST.
        // ECDSA_SHA_256 signs SHA-256 of the message either way, so this is the signature KMS
        // would make over the RAW payload, and the dispatcher verifies it over the payload.
        let digest = Sha256::digest(payload);
        let output = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(digest.to_vec()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| sdk_error("kms:Sign", &target, e))?;
        output
            .signature()
            .map(|signature| signature.as_ref().to_vec())
            .ok_or_else(|| TransportError {
                operation: "kms:Sign",
                message: format!("{target}: the answer has no signature"),
                retryable: false,
            })
    }
}

/// A CloudFormation stack's outputs (`cloudformation:DescribeStacks`), key to value.
pub async fn stack_outputs(
    config: &SdkConfig,
    stack: &str,
) -> Result<std::collections::BTreeMap<String, String>, TransportError> {
    let target = format!("stack {stack:?}");
    let answer = airlock_aws::cloudformation(config)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| sdk_error("cloudformation:DescribeStacks", &target, e))?;
    let [found] = answer.stacks() else {
        return Err(TransportError {
            operation: "cloudformation:DescribeStacks",
            message: format!(
                "{target}: {} stacks answered, expected one",
                answer.stacks().len()
            ),
            retryable: false,
        });
    };
    let mut outputs = std::collections::BTreeMap::new();
    for output in found.outputs() {
        if let (Some(key), Some(value)) = (output.output_key(), output.output_value()) {
            outputs.insert(key.to_string(), value.to_string());
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_match_with_or_without_the_sqs_prefix() {
        assert!(is_transient_code("ThrottlingException"));
        assert!(is_transient_code("AWS.SimpleQueueService.RequestThrottled"));
        assert!(is_transient_code("InternalError"));
        assert!(!is_transient_code("AccessDenied"));
        assert!(!is_transient_code(
            "AWS.SimpleQueueService.NonExistentQueue"
        ));
    }

    #[test]
    fn batch_entries_are_retryable_unless_the_sender_was_at_fault() {
        let entry = |code: &str, sender_fault: bool| {
            BatchResultErrorEntry::builder()
                .id("0")
                .code(code)
                .sender_fault(sender_fault)
                .build()
                .expect("entry")
        };
        assert!(entry_retryable(&entry("InternalError", false)));
        assert!(entry_retryable(&entry("ServiceUnavailable", false)));
        assert!(entry_retryable(&entry("RequestThrottled", true)));
        assert!(!entry_retryable(&entry("InvalidMessageContents", true)));
        assert!(!entry_retryable(&entry("MessageTooLong", true)));
    }
}
