//! The small traits the lane talks through, so that the runner and follower are the same code
//! over SQS/SNS/KMS and over the local SQLite file.

use std::future::Future;
use std::time::{Duration, SystemTime};

/// A transport failure. `retryable` separates throttling, 5xx and connection trouble (retry
/// with backoff) from errors that retrying cannot fix (no such queue, access denied).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct TransportError {
    pub operation: &'static str,
    pub message: String,
    pub retryable: bool,
}

/// The outcome of one entry of a batch send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    Sent,
    Failed { retryable: bool, reason: String },
}

/// Where the runner (and the dispatcher) send feedback: one request's feedback queue.
pub trait FeedbackSink: Send + Sync {
    /// Sends up to 10 bodies in one call (SendMessageBatch). An `Err` means the whole call
    /// failed; otherwise one outcome per body, in order (SQS can fail single entries).
    fn send_batch(
        &self,
        bodies: &[String],
    ) -> impl Future<Output = Result<Vec<EntryOutcome>, TransportError>> + Send;
}

/// A message taken from a feedback queue; `handle` deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub body: String,
    pub handle: String,
    /// When the queue got the message (SQS `SentTimestamp`), where the transport says.
    pub sent_at: Option<SystemTime>,
}

/// Where the follower reads feedback.
pub trait FeedbackSource: Send + Sync {
    /// Waits up to `wait` for up to `max` (≤ 10) messages.
    fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Received>, TransportError>> + Send;
    /// Deletes processed messages (DeleteMessageBatch).
    fn delete(&self, handles: &[String])
    -> impl Future<Output = Result<(), TransportError>> + Send;
    /// How long a received message stays hidden from every receive before it can be received
    /// again (the receive's visibility timeout). A receive whose answer never arrived hid its
    /// messages for this long: the follower waits at least this long before it calls anything
    /// missing.
    fn redelivery_after(&self) -> Duration;
}

/// Where CI publishes signed requests (the lane's SNS topic).
pub trait RequestSink: Send + Sync {
    /// Publishes one envelope; returns the transport's message id.
    fn publish(
        &self,
        envelope: &str,
    ) -> impl Future<Output = Result<String, TransportError>> + Send;
}

/// Signs request payloads (KMS `Sign`, or a local P-256 key for the local lane).
pub trait RequestSigner: Send + Sync {
    /// The key id that goes into the envelope.
    fn key_id(&self) -> &str;
    /// A DER-encoded ECDSA P-256 / SHA-256 signature over `payload`.
    fn sign(&self, payload: &[u8]) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}
