//! What the dispatcher needs from the outside world, as one small trait: state (DynamoDB),
//! tasks (ECS), the registry (ECR) and the feedback queues (SQS). [`crate::aws`] implements it
//! on the AWS SDK; unit tests implement it in memory.

use std::collections::BTreeMap;
use std::future::Future;

use airlock_protocol::ImageRef;

use crate::dispatcher::NONCE_RETENTION_SECS;

/// A failure to reach a dependency. The event is retried (the Lambda invocation fails, and
/// SNS/Lambda deliver it again); every step before it is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PortError {
    pub operation: &'static str,
    pub message: String,
}

/// A nonce to record, with the request it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceClaim {
    pub nonce: String,
    pub request_id: String,
    /// `deploy` or `cancel`.
    pub kind: &'static str,
    /// When the record may be forgotten (Unix seconds): well after the request expired.
    pub ttl: i64,
}

impl NonceClaim {
    /// The claim for a request that expires at `expires_at`, kept for
    /// [`NONCE_RETENTION_SECS`] beyond that.
    pub fn new(
        nonce: &str,
        request_id: &str,
        kind: &'static str,
        expires_at: time::OffsetDateTime,
    ) -> Self {
        NonceClaim {
            nonce: nonce.to_owned(),
            request_id: request_id.to_owned(),
            kind,
            ttl: expires_at.unix_timestamp() + NONCE_RETENTION_SECS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonceOutcome {
    /// Never seen: recorded now.
    Fresh,
    /// Seen before for this same request: a redelivery. `decided` is false when the earlier
    /// delivery did not get as far as a decision (it failed midway and must be finished).
    SameRequest { decided: bool },
    /// Used by another request: a replay.
    OtherRequest { request_id: String },
    /// A fresh nonce, but the request id was already used by another deploy request.
    RequestIdReused,
}

/// Who holds a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneLock {
    pub lane: String,
    pub request_id: String,
    pub actor: String,
    /// RFC 3339, for messages.
    pub since: String,
    /// Unix seconds after which the lock is stale and may be taken over.
    pub lease_until: i64,
    pub cluster: String,
    pub task_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired,
    Busy(LaneLock),
}

/// Which request a task was started for, recorded when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOwner {
    pub task_arn: String,
    pub request_id: String,
    pub lane: String,
    pub container: String,
}

/// What ECR knows of an image digest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageScan {
    pub exists: bool,
    /// `COMPLETE`, `IN_PROGRESS`, `FAILED`, … (None: never scanned).
    pub status: Option<String>,
    /// Finding counts by severity (`CRITICAL`, `HIGH`, …).
    pub counts: BTreeMap<String, i64>,
}

/// One RunTask call, fully decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub cluster: String,
    pub task_definition: String,
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// The container's environment overrides, in order.
    pub environment: Vec<(String, String)>,
    /// ECS's idempotency token: a redelivery cannot start a second task.
    pub client_token: String,
    pub started_by: String,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTaskOutcome {
    Started {
        task_arn: String,
    },
    /// ECS refused or could not place the task (capacity, bad configuration).
    Failed {
        reason: String,
    },
}

pub trait Ports: Send + Sync {
    fn claim_nonce(
        &self,
        claim: &NonceClaim,
    ) -> impl Future<Output = Result<NonceOutcome, PortError>> + Send;

    /// Marks the nonce's request as decided (so a redelivery is dropped), and a deploy that was
    /// accepted as such (so no refusal is ever addressed to it).
    fn settle_nonce(
        &self,
        claim: &NonceClaim,
        accepted: bool,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Whether a deploy request with this id was accepted.
    fn was_accepted(
        &self,
        request_id: &str,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Takes the lane for `lock.request_id`: succeeds if the lane is free, its lease is over
    /// (`now` is Unix seconds), or it is already this request's.
    fn acquire_lock(
        &self,
        lock: &LaneLock,
        now: i64,
    ) -> impl Future<Output = Result<LockOutcome, PortError>> + Send;

    fn lock_of(
        &self,
        lane: &str,
    ) -> impl Future<Output = Result<Option<LaneLock>, PortError>> + Send;

    /// Records the task on the lock and as the task's owner.
    fn attach_task(
        &self,
        lock: &LaneLock,
        owner: &TaskOwner,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Releases the lane if `request_id` holds it.
    fn release_lock(
        &self,
        lane: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    fn task_owner(
        &self,
        task_arn: &str,
    ) -> impl Future<Output = Result<Option<TaskOwner>, PortError>> + Send;

    fn image_scan(
        &self,
        image: &ImageRef,
    ) -> impl Future<Output = Result<ImageScan, PortError>> + Send;

    fn run_task(
        &self,
        spec: &TaskSpec,
    ) -> impl Future<Output = Result<RunTaskOutcome, PortError>> + Send;

    fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    fn send_feedback(
        &self,
        queue_url: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
