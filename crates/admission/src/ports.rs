//! What a dispatcher needs from the outside world, as one small trait: state (nonces, lane
//! locks, task owners), tasks, the registry and the feedback queues. The AWS dispatcher
//! (`airlock-dispatch`) implements it on DynamoDB, ECS, ECR and SQS; the local one
//! (`airlock-lane`, `deploy --local`) on its SQLite lane file and `airlock run` subprocesses.

use std::collections::BTreeMap;
use std::future::Future;

use airlock_protocol::ImageRef;

use crate::admission::NONCE_RETENTION_SECS;
use crate::audit::AuditRecord;

/// A failure to reach a dependency. On AWS the event is retried (the Lambda invocation fails,
/// and SNS/Lambda deliver it again); every step before it is idempotent.
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
    /// Where the task runs (the ECS cluster), for stopping it.
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

/// A task to start for an accepted request, fully decided: what the job's process gets and
/// how the start is made idempotent. Where and how it runs is the job's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub request_id: String,
    pub job: String,
    /// The container whose environment carries the request.
    pub container: String,
    /// The environment the lane sets, in order: `AIRLOCK_REQUEST_ID`, `AIRLOCK_JOB`,
    /// `AIRLOCK_FEEDBACK`, `AIRLOCK_DEADLINE`, `AIRLOCK_IMAGE` (with an image), then the
    /// validated parameters.
    pub environment: Vec<(String, String)>,
    /// The job's deadline in seconds (also `AIRLOCK_DEADLINE`).
    pub deadline_secs: u64,
    /// An idempotency token (ECS's `clientToken`): a redelivery cannot start a second task.
    pub client_token: String,
    pub started_by: String,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTaskOutcome {
    Started {
        task_arn: String,
    },
    /// The task could not be started (ECS refused or could not place it; the local runner
    /// could not be spawned).
    Failed {
        reason: String,
    },
}

pub trait Ports: Send + Sync {
    /// A job as this dispatcher configures it (an ECS task definition, a local command).
    type Job: crate::admission::AllowedJob;

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
        job: &Self::Job,
        launch: &Launch,
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

    /// Keeps the audit record of one decision.
    fn audit(&self, record: &AuditRecord);
}
