//! The admission core: from a signed envelope (or a stopped task) to at most one task, and a
//! message to the request's follower saying what happened. Both dispatchers are this code over
//! their own [`Ports`] and [`Allowlist`]: the AWS dispatcher Lambda (`airlock-dispatch`) and
//! the local lane's (`airlock deploy --local`, in `airlock-lane`).

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_protocol::signing::VerifiedRequest;
use airlock_protocol::{
    CancelRequest, DeployRequest, Feedback, FeedbackBody, ImageRef, RUNNER_UNREPORTED_EXIT,
};
use p256::ecdsa::VerifyingKey;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::audit::AuditRecord;
use crate::checks::{self, Refusal, codes, refuse, rfc3339, unverified_claims, valid_request_id};
use crate::gate::{self, EcrGate};
use crate::params::{ParamSchema, validate_params};
use crate::ports::{
    LaneLock, Launch, LockOutcome, NonceClaim, NonceOutcome, PortError, Ports, RunTaskOutcome,
    TaskOwner,
};

/// SNS's largest message: anything longer cannot have come through the topic.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// ECS RunTask: "A total of 8192 characters are allowed for overrides", JSON included. The
/// local lane holds its requests to the same limit, so that what it accepts production does.
pub const MAX_OVERRIDES_BYTES: usize = 8192;
/// `startedBy` on every task the dispatcher starts; the EventBridge rule filters on it.
pub const STARTED_BY: &str = "airlock-dispatch";
/// How long nonce records outlive their request's expiry (SNS retries for up to 23 days on
/// some endpoints; the window check refuses anything older anyway).
pub const NONCE_RETENTION_SECS: i64 = 24 * 3600;

/// What the admission policy needs to know of one allowlisted job.
pub trait AllowedJob: Send + Sync {
    fn name(&self) -> &str;
    fn params(&self) -> &BTreeMap<String, ParamSchema>;
    /// The longest the job may run; a request may ask for less.
    fn timeout_secs(&self) -> u64;
    /// The repositories the job's image may come from; by default none: the job takes no
    /// image, and a request naming one is `bad_image`.
    fn repositories(&self) -> &[String] {
        &[]
    }
    /// Whether a request must name an image.
    fn image_required(&self) -> bool {
        false
    }
    fn ecr_gate(&self) -> Option<EcrGate> {
        None
    }
    /// Where its followers hear from the lane. It is also the lane the job deploys through
    /// (the lock's name): one lock per queue keeps two deployments' output from ever sharing
    /// it.
    fn feedback_queue(&self) -> &str;
    /// Where its task runs (the ECS cluster), recorded on the lock for a cancel.
    fn cluster(&self) -> &str;
    /// The container whose environment carries the request.
    fn container(&self) -> &str;
}

/// A dispatcher's configuration as the policy reads it: the trusted keys and the jobs.
#[derive(Debug, Clone)]
pub struct Allowlist<J> {
    /// Each trusted key id with its public key.
    pub keys: BTreeMap<String, VerifyingKey>,
    /// Where the keys are configured (`dispatch.keys`), for the refusal of an unknown key.
    pub keys_configured_in: String,
    pub jobs: BTreeMap<String, J>,
    /// Where the jobs are configured (`dispatch.jobs`), for the refusal of an unknown job.
    pub jobs_configured_in: String,
    /// The lane lock's lease is the job's deadline plus this.
    pub lock_grace_secs: u64,
    /// A queue every follower of this lane reads, whatever its job (the local lane's one
    /// queue), or `None` when each job has its own (AWS).
    pub shared_queue: Option<String>,
}

impl<J: AllowedJob> Allowlist<J> {
    pub fn job(&self, name: &str) -> Option<&J> {
        self.jobs.get(name)
    }

    /// The one queue every follower of this lane reads, whatever its job: the shared queue,
    /// else the jobs' feedback queue when they all have the same one (the stacks' layout);
    /// none when the jobs have queues of their own (or there are no jobs).
    pub fn lane_queue(&self) -> Option<&str> {
        if let Some(shared) = self.shared_queue.as_deref() {
            return Some(shared);
        }
        let mut queues = self.jobs.values().map(AllowedJob::feedback_queue);
        let first = queues.next()?;
        queues.all(|queue| queue == first).then_some(first)
    }

    /// The queue through which a refusal of a request claiming job `claimed` can be told: the
    /// lane's shared queue, else the job's own. A job that is not configured (a mistyped
    /// `--job`) is told through the lane's one queue ([`Allowlist::lane_queue`]) if it has
    /// one, and only when a trusted key signed the request (`verified`): its follower is
    /// waiting on that queue, while an envelope that fails verification and names no
    /// configured job is nobody's deployment, and answering it would only let whoever can
    /// publish to the topic write to the queue. Without such a queue there is nobody to tell.
    pub fn refusal_queue(&self, claimed: Option<&str>, verified: bool) -> Option<&str> {
        if let Some(shared) = self.shared_queue.as_deref() {
            return Some(shared);
        }
        match claimed.and_then(|name| self.job(name)) {
            Some(job) => Some(job.feedback_queue()),
            None if verified => self.lane_queue(),
            None => None,
        }
    }
}

impl<J> AsRef<Allowlist<J>> for Allowlist<J> {
    fn as_ref(&self) -> &Allowlist<J> {
        self
    }
}

/// What the dispatcher did with one event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Started {
        request_id: String,
        job: String,
        task_arn: String,
    },
    Rejected {
        request_id: Option<String>,
        job: Option<String>,
        code: &'static str,
        reason: String,
        /// Whether the follower was told (a `Rejected` went to the job's queue).
        notified: bool,
    },
    /// A redelivery of an envelope already decided; nothing was done.
    Duplicate {
        request_id: String,
    },
    Cancelled {
        request_id: String,
        task_arn: String,
    },
    CancelIgnored {
        request_id: String,
        reason: String,
    },
    /// A task of ours stopped: the lane was released, and the follower told unless the
    /// runner had told it already ([`StopNotice`]).
    TaskStopped {
        request_id: String,
        task_arn: String,
        stop_code: String,
        /// The runner container's exit code, when ECS reported one.
        exit_code: Option<i32>,
        notice: StopNotice,
    },
    /// An event that is not ours to handle (another service's task, another status).
    Ignored {
        reason: String,
    },
}

/// Whether the follower was sent `TaskStopped` for a stopped task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopNotice {
    /// Sent: the runner may not have reported how the job ended.
    Sent,
    /// Not sent: the runner reported the end itself (it delivered `Finished`, as its exit
    /// code says: [`runner_reported_the_end`]), so the follower has ended and nobody would
    /// read the message; it would only pile up in the queue.
    RunnerReported,
}

/// ECS's stop code for a task whose essential container exited by itself.
pub const ESSENTIAL_CONTAINER_EXITED: &str = "EssentialContainerExited";

/// Whether the runner of a stopped task told its follower how the job ended. `airlock run`
/// exits with the job's own code only after it delivered `Finished`, and with
/// [`RUNNER_UNREPORTED_EXIT`] when it could not. So the end was reported if and only if the
/// runner's container (`container`) exited by itself (`EssentialContainerExited`) with an exit
/// code other than that one. Every other end may have cut the runner short: no exit code
/// (the task never started, the container never ran), or ECS stopped the task (a cancel's
/// `UserInitiated`, `SpotInterruption`, `TaskFailedToStart`, …; ECS SIGKILLs a runner that
/// outlives its stop timeout).
pub fn runner_reported_the_end(task: &StoppedTask, container: &str) -> bool {
    task.stop_code == ESSENTIAL_CONTAINER_EXITED
        && container_exit_code(task, container)
            .is_some_and(|code| code != i32::from(RUNNER_UNREPORTED_EXIT))
}

fn container_exit_code(task: &StoppedTask, container: &str) -> Option<i32> {
    task.containers
        .iter()
        .find(|(name, _)| name == container)
        .and_then(|(_, code)| *code)
}

/// A stopped task, as ECS reports it ("ECS Task State Change" STOPPED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    pub task_arn: String,
    pub stop_code: String,
    pub stopped_reason: String,
    /// Each container's name and exit code (when it has one).
    pub containers: Vec<(String, Option<i32>)>,
}

/// The admission policy over one dispatcher's configuration `C` (which holds its
/// [`Allowlist`]) and ports `P`.
pub struct Admission<C, P> {
    config: Arc<C>,
    ports: P,
    clock: fn() -> OffsetDateTime,
}

impl<C, P> Admission<C, P>
where
    C: AsRef<Allowlist<P::Job>> + Send + Sync,
    P: Ports,
{
    pub fn new(config: Arc<C>, ports: P) -> Self {
        Admission {
            config,
            ports,
            clock: checks::now,
        }
    }

    /// The same dispatcher with another clock (tests of the validity window).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    pub fn ports(&self) -> &P {
        &self.ports
    }

    pub fn config(&self) -> &C {
        &self.config
    }

    fn allowlist(&self) -> &Allowlist<P::Job> {
        (*self.config).as_ref()
    }

    /// Handles one envelope as published to the lane. `Err` only when a dependency could not
    /// be reached: the AWS dispatcher fails the invocation so that it is delivered again.
    ///
    /// # The check order
    ///
    /// This is the one place it is written down; the docs link here. A deploy request is
    /// accepted only if every check passes, in this order; the first failure refuses it with
    /// its stable code ([`codes`]) and starts nothing:
    ///
    /// 1. the envelope: at most 256 KiB (an SNS message's limit), parses, has a known protocol
    ///    version, is signed by a trusted key id, and the ECDSA P-256 signature over the exact
    ///    payload bytes holds, verified locally with the configured public key, no KMS call
    ///    (`bad_envelope`, `unsupported_version`, `unknown_key`, `bad_signature`:
    ///    [`checks::verify_envelope`]);
    /// 2. the request id's form (`bad_envelope`, never addressed), the validity window
    ///    (`bad_envelope` when it ends before it starts, `window_too_long` beyond
    ///    [`checks::MAX_WINDOW`], `not_yet_valid` beyond [`checks::MAX_CLOCK_SKEW`] in the
    ///    future, `expired`) and the nonce's form (`bad_envelope`);
    /// 3. the job in the allowlist (`unknown_job`), its parameters valid (`bad_params`:
    ///    [`validate_params`]), the image pinned by digest in one of the job's repositories
    ///    (`bad_image`), the task's overrides within ECS's 8,192 bytes (`overrides_too_large`;
    ///    ECS enforces it, moto does not, and the local lane has no ECS, so this code does);
    /// 4. the nonce never seen (a conditional write): a redelivery of a request already
    ///    decided is dropped silently ([`Decision::Duplicate`]), one that stopped midway is
    ///    finished; another request reusing the nonce or a deploy reusing the id is
    ///    `replayed`;
    /// 5. the ECR gate (`image_gate`), when the job has one;
    /// 6. the lane lock (`lane_busy`; a conditional write with a lease of the job's deadline
    ///    plus grace).
    ///
    /// Then one task start (ECS RunTask with a client token derived from the request id, or
    /// the local runner); a failed start, whether ECS refused it or the call failed
    /// (throttling, capacity, a 5xx: the reason names the error code), frees the lane and is
    /// `run_task_failed`. The follower hears `Accepted` and `Started{task}`, or
    /// `Rejected{code, reason}`.
    ///
    /// A refusal is addressed only to a request id that was never accepted, through the
    /// claimed job's queue, or the lane's one queue for a verified request naming a job that
    /// is not configured ([`Allowlist::refusal_queue`]), so that a forged or replayed
    /// envelope naming a running deployment cannot make its follower give up. The id and job
    /// of an envelope that fails step 1 are read without trusting them, for that addressing
    /// only. Refused cancels are never addressed (the deployment they name is still running).
    /// Every decision is audited ([`Ports::audit`]).
    ///
    /// A cancel passes steps 1 and 2, its job must be configured, and its nonce is claimed
    /// like a deploy's; then the task of the request it names, if it holds the lane, is
    /// stopped.
    pub async fn handle_envelope(&self, envelope: &str) -> Result<Decision, PortError> {
        let claims = if envelope.len() <= MAX_ENVELOPE_BYTES {
            unverified_claims(envelope)
        } else {
            Default::default()
        };
        let verified = if envelope.len() > MAX_ENVELOPE_BYTES {
            Err(refuse(
                codes::BAD_ENVELOPE,
                format!(
                    "envelope is {} bytes; an SNS message is at most 256 KiB ({MAX_ENVELOPE_BYTES} bytes)",
                    envelope.len()
                ),
            ))
        } else {
            checks::verify_envelope(
                envelope,
                &self.allowlist().keys,
                &self.allowlist().keys_configured_in,
            )
        };
        let decision = match verified {
            Err(refusal) => {
                self.refuse(
                    claims.request_id,
                    claims.job,
                    claims.is_cancel,
                    refusal,
                    Audit::Envelope,
                )
                .await?
            }
            Ok(VerifiedRequest::Deploy(request)) => self.deploy(request).await?,
            Ok(VerifiedRequest::Cancel(request)) => self.cancel(request).await?,
        };
        Ok(decision)
    }

    async fn deploy(&self, request: DeployRequest) -> Result<Decision, PortError> {
        let audit_base = AuditRecord::deploy(&request);
        let job_name = Some(request.job.clone());
        if !valid_request_id(&request.request_id) {
            // Never addressed: the id is what a refusal would be addressed to.
            let refusal = refuse(
                codes::BAD_ENVELOPE,
                "request_id: must be 1 to 128 of A-Z a-z 0-9 - _ . :",
            );
            return self
                .refuse(
                    None,
                    job_name,
                    false,
                    refusal,
                    Audit::Record(Box::new(audit_base)),
                )
                .await;
        }
        let stateless = self.stateless_deploy_checks(&request);
        let claim = NonceClaim::new(
            &request.nonce,
            &request.request_id,
            "deploy",
            request.expires_at,
        );
        let claim = match self
            .checked_and_claimed(stateless, claim, job_name, false, &audit_base)
            .await?
        {
            Ok(claim) => claim,
            Err(decision) => return Ok(decision),
        };
        let decision = self.admit(&request).await?;
        let accepted = matches!(decision, Decision::Started { .. });
        self.ports.settle_nonce(&claim, accepted).await?;
        self.ports.audit(&audit_base.decided(&decision));
        Ok(decision)
    }

    /// The checks that need no state: window, nonce form, job, parameters, image, overrides.
    fn stateless_deploy_checks(&self, request: &DeployRequest) -> Result<(), Refusal> {
        checks::check_window(request.issued_at, request.expires_at, (self.clock)())?;
        checks::check_nonce_format(&request.nonce)?;
        let job = self.job(&request.job)?;
        validate_params(job.name(), job.params(), &request.params)
            .map_err(|e| refuse(codes::BAD_PARAMS, e.to_string()))?;
        check_image(job, request.image.as_ref())?;
        check_overrides_size(&self.launch(job, request))?;
        Ok(())
    }

    fn job(&self, name: &str) -> Result<&P::Job, Refusal> {
        self.allowlist().job(name).ok_or_else(|| {
            let known: Vec<&str> = self.allowlist().jobs.keys().map(String::as_str).collect();
            refuse(
                codes::UNKNOWN_JOB,
                format!(
                    "job {:?} is not in this lane's allowlist, {} (configured: {})",
                    shorten(name),
                    self.allowlist().jobs_configured_in,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
    }

    /// From the checks that need state to a started task.
    async fn admit(&self, request: &DeployRequest) -> Result<Decision, PortError> {
        let id = Some(request.request_id.clone());
        let job_name = Some(request.job.clone());
        // The stateless checks passed, so the job exists.
        let Ok(job) = self.job(&request.job) else {
            return Ok(Decision::Ignored {
                reason: "the job disappeared from the configuration".into(),
            });
        };
        if let (Some(gate), Some(image)) = (job.ecr_gate(), request.image.as_ref()) {
            let scan = self.ports.image_scan(image).await?;
            if let Err(refusal) = gate::judge(gate, image, &scan) {
                return self
                    .refuse(id, job_name, false, refusal, Audit::ByCaller)
                    .await;
            }
        }
        let now = (self.clock)();
        let deadline = deadline_secs(job, request);
        let lock = LaneLock {
            lane: job.feedback_queue().to_string(),
            request_id: request.request_id.clone(),
            actor: actor(request),
            since: rfc3339(now),
            lease_until: now.unix_timestamp()
                + i64::try_from(deadline + self.allowlist().lock_grace_secs)
                    .unwrap_or(i64::MAX / 2),
            cluster: job.cluster().to_string(),
            task_arn: None,
        };
        if let LockOutcome::Busy(holder) =
            self.ports.acquire_lock(&lock, now.unix_timestamp()).await?
        {
            let refusal = refuse(
                codes::LANE_BUSY,
                format!(
                    "lane busy: request {} by {} since {}",
                    holder.request_id, holder.actor, holder.since
                ),
            );
            return self
                .refuse(id, job_name, false, refusal, Audit::ByCaller)
                .await;
        }
        self.send(
            job,
            &request.request_id,
            FeedbackBody::Accepted {
                job: job.name().to_string(),
            },
        )
        .await?;
        let launch = self.launch(job, request);
        let reason = match self.ports.run_task(job, &launch).await {
            Ok(RunTaskOutcome::Started { task_arn }) => {
                let owner = TaskOwner {
                    task_arn: task_arn.clone(),
                    request_id: request.request_id.clone(),
                    lane: job.feedback_queue().to_string(),
                    container: job.container().to_string(),
                };
                let held = LaneLock {
                    task_arn: Some(task_arn.clone()),
                    ..lock
                };
                self.ports.attach_task(&held, &owner).await?;
                self.send(
                    job,
                    &request.request_id,
                    FeedbackBody::Started {
                        task: task_arn.clone(),
                    },
                )
                .await?;
                return Ok(Decision::Started {
                    request_id: request.request_id.clone(),
                    job: job.name().to_string(),
                    task_arn,
                });
            }
            // ECS refused or could not place the task (the local runner could not be spawned).
            Ok(RunTaskOutcome::Failed { reason }) => format!("ecs:RunTask: {reason}"),
            // Throttling, capacity, a 5xx, the network: the SDK has retried already. Failing
            // the invocation here would keep the lane locked until its lease ends and leave a
            // follower that heard `Accepted` waiting for its watchdog; it is a failed start
            // like the one above.
            Err(error) => format!("{} failed: {}", error.operation, error.message),
        };
        self.ports
            .release_lock(job.feedback_queue(), &request.request_id)
            .await?;
        // Accepted went out already, but nothing runs: the follower must hear why.
        self.send(
            job,
            &request.request_id,
            FeedbackBody::Rejected {
                code: codes::RUN_TASK_FAILED.to_string(),
                reason: reason.clone(),
            },
        )
        .await?;
        // The caller then settles the nonce as decided (not accepted): a redelivery of this
        // envelope is a `Duplicate` and cannot start the task behind the back of a follower
        // that was told `run_task_failed` and has ended. Until then the nonce stays
        // undecided, so if releasing the lock or telling the follower fails, the invocation
        // fails, and its retry runs admission again and may start the task if the lane is
        // still free: that follower has heard no verdict and is still waiting.
        Ok(Decision::Rejected {
            request_id: Some(request.request_id.clone()),
            job: Some(job.name().to_string()),
            code: codes::RUN_TASK_FAILED,
            reason,
            notified: true,
        })
    }

    /// The task start for an accepted request.
    pub fn launch(&self, job: &P::Job, request: &DeployRequest) -> Launch {
        let deadline = deadline_secs(job, request);
        let mut environment = vec![
            ("AIRLOCK_REQUEST_ID".to_string(), request.request_id.clone()),
            ("AIRLOCK_JOB".to_string(), job.name().to_string()),
            (
                "AIRLOCK_FEEDBACK".to_string(),
                job.feedback_queue().to_string(),
            ),
            ("AIRLOCK_DEADLINE".to_string(), deadline.to_string()),
        ];
        if let Some(image) = &request.image {
            environment.push(("AIRLOCK_IMAGE".to_string(), image.to_string()));
        }
        environment.extend(request.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut tags = vec![
            ("airlock:request-id".to_string(), request.request_id.clone()),
            ("airlock:job".to_string(), job.name().to_string()),
        ];
        let ci = tag_value(&request.requester.ci);
        if !ci.is_empty() {
            tags.push(("airlock:ci".to_string(), ci));
        }
        Launch {
            request_id: request.request_id.clone(),
            job: job.name().to_string(),
            container: job.container().to_string(),
            environment,
            deadline_secs: deadline,
            client_token: client_token(&request.request_id),
            started_by: STARTED_BY.to_string(),
            tags,
        }
    }

    async fn cancel(&self, request: CancelRequest) -> Result<Decision, PortError> {
        let audit_base = AuditRecord::cancel(&request);
        let job_name = Some(request.job.clone());
        let stateless = valid_request_id(&request.request_id)
            .then_some(())
            .ok_or_else(|| refuse(codes::BAD_ENVELOPE, "request_id: not a request id"))
            .and_then(|()| {
                checks::check_window(request.issued_at, request.expires_at, (self.clock)())
            })
            .and_then(|()| checks::check_nonce_format(&request.nonce))
            .and_then(|()| self.job(&request.job).map(|_| ()));
        let claim = NonceClaim::new(
            &request.nonce,
            &request.request_id,
            "cancel",
            request.expires_at,
        );
        let claim = match self
            .checked_and_claimed(stateless, claim, job_name, true, &audit_base)
            .await?
        {
            Ok(claim) => claim,
            Err(decision) => return Ok(decision),
        };
        let decision = match self.job(&request.job) {
            Err(refusal) => Decision::CancelIgnored {
                request_id: request.request_id.clone(),
                reason: refusal.reason,
            },
            Ok(job) => match self.ports.lock_of(job.feedback_queue()).await? {
                Some(LaneLock {
                    request_id,
                    task_arn: Some(task_arn),
                    cluster,
                    ..
                }) if request_id == request.request_id => {
                    let reason = format!(
                        "cancelled by {}: {}",
                        actor_of(&request.requester),
                        shorten(&request.reason)
                    );
                    // ECS caps the reason at 255 characters.
                    let reason: String = reason.chars().take(255).collect();
                    self.ports.stop_task(&cluster, &task_arn, &reason).await?;
                    Decision::Cancelled {
                        request_id,
                        task_arn,
                    }
                }
                Some(LaneLock {
                    task_arn: None,
                    request_id,
                    ..
                }) if request_id == request.request_id => Decision::CancelIgnored {
                    request_id,
                    reason: "the request's task has not started yet".into(),
                },
                _ => Decision::CancelIgnored {
                    request_id: request.request_id.clone(),
                    reason: "the request is not running on this lane".into(),
                },
            },
        };
        self.ports.settle_nonce(&claim, false).await?;
        self.ports.audit(&audit_base.decided(&decision));
        Ok(decision)
    }

    /// Refuses a request whose stateless checks failed, else claims its nonce: `Ok(claim)` to
    /// go on, `Err(decision)` when that ended the request (refused, a redelivery of a decided
    /// request, a replay).
    async fn checked_and_claimed(
        &self,
        stateless: Result<(), Refusal>,
        claim: NonceClaim,
        job: Option<String>,
        is_cancel: bool,
        audit_base: &AuditRecord,
    ) -> Result<Result<NonceClaim, Decision>, PortError> {
        if let Err(refusal) = stateless {
            let audit = Audit::Record(Box::new(audit_base.clone()));
            let id = Some(claim.request_id.clone());
            let decision = self.refuse(id, job, is_cancel, refusal, audit).await?;
            return Ok(Err(decision));
        }
        Ok(
            match self.claim_nonce(&claim, job, is_cancel, audit_base).await? {
                Some(decision) => Err(decision),
                None => Ok(claim),
            },
        )
    }

    /// Records the request's nonce. `Some(decision)` when that ends the request: a redelivery
    /// of a request already decided (dropped), or a replay (refused).
    async fn claim_nonce(
        &self,
        claim: &NonceClaim,
        job: Option<String>,
        is_cancel: bool,
        audit_base: &AuditRecord,
    ) -> Result<Option<Decision>, PortError> {
        let replay = match self.ports.claim_nonce(claim).await? {
            NonceOutcome::Fresh | NonceOutcome::SameRequest { decided: false } => return Ok(None),
            // Cancels share their request's id by design.
            NonceOutcome::RequestIdReused if is_cancel => return Ok(None),
            NonceOutcome::SameRequest { decided: true } => {
                let decision = Decision::Duplicate {
                    request_id: claim.request_id.clone(),
                };
                self.ports.audit(&audit_base.decided(&decision));
                return Ok(Some(decision));
            }
            NonceOutcome::OtherRequest { request_id } => format!(
                "nonce {} was already used by request {request_id}; every request needs a fresh nonce",
                claim.nonce
            ),
            NonceOutcome::RequestIdReused => format!(
                "request id {} was already used by another request; every request needs a fresh id",
                claim.request_id
            ),
        };
        let refusal = refuse(codes::REPLAYED, replay);
        let audit = Audit::Record(Box::new(audit_base.clone()));
        self.refuse(
            Some(claim.request_id.clone()),
            job,
            is_cancel,
            refusal,
            audit,
        )
        .await
        .map(Some)
    }

    /// Handles a stopped task: frees the lane, and tells its follower how the task ended
    /// unless the runner did ([`runner_reported_the_end`]).
    pub async fn handle_stopped(&self, task: &StoppedTask) -> Result<Decision, PortError> {
        let Some(owner) = self.ports.task_owner(&task.task_arn).await? else {
            let decision = Decision::Ignored {
                reason: format!("task {} was not started by this dispatcher", task.task_arn),
            };
            self.ports.audit(&AuditRecord::task().decided(&decision));
            return Ok(decision);
        };
        let exit_code = container_exit_code(task, &owner.container);
        let notice = if runner_reported_the_end(task, &owner.container) {
            StopNotice::RunnerReported
        } else {
            let body = FeedbackBody::TaskStopped {
                stop_code: task.stop_code.clone(),
                reason: task.stopped_reason.clone(),
                exit_code,
            };
            let message = Feedback::new(&owner.request_id, 0, body).to_json();
            self.ports.send_feedback(&owner.lane, &message).await?;
            StopNotice::Sent
        };
        self.ports
            .release_lock(&owner.lane, &owner.request_id)
            .await?;
        let decision = Decision::TaskStopped {
            request_id: owner.request_id.clone(),
            task_arn: task.task_arn.clone(),
            stop_code: task.stop_code.clone(),
            exit_code,
            notice,
        };
        let mut record = AuditRecord::task();
        record.request_id = Some(owner.request_id);
        self.ports.audit(&record.decided(&decision));
        Ok(decision)
    }

    /// Refuses: tells the follower when the refusal can and may be addressed (a deploy whose id
    /// was never accepted, with a queue to tell it through: [`Allowlist::refusal_queue`]), and
    /// audits it unless the caller will.
    async fn refuse(
        &self,
        request_id: Option<String>,
        job: Option<String>,
        is_cancel: bool,
        refusal: Refusal,
        audit: Audit,
    ) -> Result<Decision, PortError> {
        let Refusal { code, reason } = refusal;
        let mut notified = false;
        let queue = self
            .allowlist()
            .refusal_queue(job.as_deref(), audit.verified());
        if let (Some(id), Some(queue), false) = (request_id.as_deref(), queue, is_cancel)
            && !self.ports.was_accepted(id).await?
        {
            let body = FeedbackBody::Rejected {
                code: code.to_string(),
                reason: reason.clone(),
            };
            let message = Feedback::new(id, 0, body).to_json();
            self.ports.send_feedback(queue, &message).await?;
            notified = true;
        }
        let decision = Decision::Rejected {
            request_id,
            job,
            code,
            reason,
            notified,
        };
        match audit {
            Audit::Envelope => self
                .ports
                .audit(&AuditRecord::envelope().decided(&decision)),
            Audit::Record(record) => self.ports.audit(&record.decided(&decision)),
            Audit::ByCaller => {}
        }
        Ok(decision)
    }

    async fn send(
        &self,
        job: &P::Job,
        request_id: &str,
        body: FeedbackBody,
    ) -> Result<(), PortError> {
        let message = Feedback::new(request_id, 0, body).to_json();
        self.ports
            .send_feedback(job.feedback_queue(), &message)
            .await
    }
}

/// Who writes the audit line of a refusal.
enum Audit {
    /// The envelope could not be verified: only what it claims is known.
    Envelope,
    /// A verified request's record.
    Record(Box<AuditRecord>),
    /// The caller, which audits its decision once whatever it was.
    ByCaller,
}

impl Audit {
    /// Whether a trusted key signed the refused request: every refusal but an envelope's
    /// comes after the signature check.
    fn verified(&self) -> bool {
        !matches!(self, Audit::Envelope)
    }
}

/// The image must be pinned by digest (the protocol type guarantees that) and come from one
/// of the job's repositories; a job that requires an image refuses a request without one.
fn check_image(job: &impl AllowedJob, image: Option<&ImageRef>) -> Result<(), Refusal> {
    match image {
        None if job.image_required() => Err(refuse(
            codes::BAD_IMAGE,
            format!(
                "job {} requires an image pinned by digest (one of: {})",
                job.name(),
                job.repositories().join(", ")
            ),
        )),
        None => Ok(()),
        Some(image) if job.repositories().contains(&image.repository) => Ok(()),
        Some(image) => Err(refuse(
            codes::BAD_IMAGE,
            format!(
                "image repository {:?} is not allowed for job {} (allowed: {})",
                shorten(&image.repository),
                job.name(),
                if job.repositories().is_empty() {
                    "none".to_string()
                } else {
                    job.repositories().join(", ")
                }
            ),
        )),
    }
}

/// The size ECS counts: the overrides structure as JSON.
pub fn overrides_size(launch: &Launch) -> usize {
    let environment: Vec<serde_json::Value> = launch
        .environment
        .iter()
        .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
        .collect();
    let overrides = serde_json::json!({
        "containerOverrides": [{"name": launch.container, "environment": environment}]
    });
    overrides.to_string().len()
}

fn check_overrides_size(launch: &Launch) -> Result<(), Refusal> {
    let size = overrides_size(launch);
    if size > MAX_OVERRIDES_BYTES {
        return Err(refuse(
            codes::OVERRIDES_TOO_LARGE,
            format!(
                "the task's overrides would be {size} bytes; ECS accepts at most {MAX_OVERRIDES_BYTES} (shorten the parameters)"
            ),
        ));
    }
    Ok(())
}

/// ECS's idempotency token (at most 64 ASCII characters): the same request always gets the
/// same token, so ECS starts its task at most once however often the request arrives.
pub fn client_token(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn deadline_secs(job: &impl AllowedJob, request: &DeployRequest) -> u64 {
    request.timeout_secs.map_or(job.timeout_secs(), |asked| {
        asked.clamp(1, job.timeout_secs())
    })
}

fn actor(request: &DeployRequest) -> String {
    actor_of(&request.requester)
}

fn actor_of(requester: &airlock_protocol::Requester) -> String {
    shorten(requester.actor.as_deref().unwrap_or(&requester.ci))
}

/// ECS tag values: letters, digits, spaces and `_ . : / = + - @`, at most 256.
fn tag_value(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(*c))
        .take(256)
        .collect()
}

/// Untrusted text for messages: control characters escaped, at most 128 characters.
fn shorten(text: &str) -> String {
    let escaped: String = text.escape_debug().take(128).collect();
    if escaped.len() < text.escape_debug().count() {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// The environment as the job sees it (for documentation and tests).
pub fn environment_of(launch: &Launch) -> BTreeMap<String, String> {
    launch.environment.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ports::ImageScan;
    use p256::ecdsa::signature::Signer as _;

    /// In-memory ports: what the AWS adapter stores, in maps.
    #[derive(Default)]
    struct Fake {
        nonces: Mutex<BTreeMap<String, (String, bool)>>,
        accepted: Mutex<Vec<String>>,
        lock: Mutex<Option<LaneLock>>,
        owners: Mutex<BTreeMap<String, TaskOwner>>,
        tasks: Mutex<Vec<Launch>>,
        audited: Mutex<Vec<String>>,
        /// Each feedback message sent: its queue and body.
        sent: Mutex<Vec<(String, String)>>,
        /// ECS refuses every RunTask (`RunTaskOutcome::Failed`).
        run_fails: bool,
        /// How many RunTask calls fail as a call (`Err`: a 500, throttling, the network).
        run_task_errors: AtomicUsize,
        /// How many sends of a `Rejected` fail.
        rejected_send_errors: AtomicUsize,
    }

    /// Takes one from `counter` if it is not zero: whether a scripted failure is due.
    fn take_one(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    impl Ports for Fake {
        type Job = TestJob;

        async fn claim_nonce(&self, claim: &NonceClaim) -> Result<NonceOutcome, PortError> {
            let mut nonces = self.nonces.lock().expect("lock");
            Ok(match nonces.get(&claim.nonce) {
                Some((id, decided)) if *id == claim.request_id => {
                    NonceOutcome::SameRequest { decided: *decided }
                }
                Some((id, _)) => NonceOutcome::OtherRequest {
                    request_id: id.clone(),
                },
                None => {
                    nonces.insert(claim.nonce.clone(), (claim.request_id.clone(), false));
                    NonceOutcome::Fresh
                }
            })
        }
        async fn settle_nonce(&self, claim: &NonceClaim, accepted: bool) -> Result<(), PortError> {
            if let Some(entry) = self.nonces.lock().expect("lock").get_mut(&claim.nonce) {
                entry.1 = true;
            }
            if accepted {
                self.accepted
                    .lock()
                    .expect("lock")
                    .push(claim.request_id.clone());
            }
            Ok(())
        }
        async fn was_accepted(&self, request_id: &str) -> Result<bool, PortError> {
            Ok(self
                .accepted
                .lock()
                .expect("lock")
                .iter()
                .any(|a| a == request_id))
        }
        async fn acquire_lock(&self, lock: &LaneLock, now: i64) -> Result<LockOutcome, PortError> {
            let mut held = self.lock.lock().expect("lock");
            match held.as_ref() {
                Some(h) if h.request_id != lock.request_id && h.lease_until >= now => {
                    Ok(LockOutcome::Busy(h.clone()))
                }
                _ => {
                    *held = Some(lock.clone());
                    Ok(LockOutcome::Acquired)
                }
            }
        }
        async fn lock_of(&self, _lane: &str) -> Result<Option<LaneLock>, PortError> {
            Ok(self.lock.lock().expect("lock").clone())
        }
        async fn attach_task(&self, lock: &LaneLock, owner: &TaskOwner) -> Result<(), PortError> {
            *self.lock.lock().expect("lock") = Some(lock.clone());
            self.owners
                .lock()
                .expect("lock")
                .insert(owner.task_arn.clone(), owner.clone());
            Ok(())
        }
        async fn release_lock(&self, _lane: &str, request_id: &str) -> Result<(), PortError> {
            let mut held = self.lock.lock().expect("lock");
            if held.as_ref().is_some_and(|h| h.request_id == request_id) {
                *held = None;
            }
            Ok(())
        }
        async fn task_owner(&self, task_arn: &str) -> Result<Option<TaskOwner>, PortError> {
            Ok(self.owners.lock().expect("lock").get(task_arn).cloned())
        }
        async fn image_scan(&self, _image: &ImageRef) -> Result<ImageScan, PortError> {
            Ok(ImageScan::default())
        }
        async fn run_task(
            &self,
            _job: &TestJob,
            launch: &Launch,
        ) -> Result<RunTaskOutcome, PortError> {
            if take_one(&self.run_task_errors) {
                return Err(PortError {
                    operation: "ecs:RunTask",
                    message: "InternalFailure: injected internal failure".into(),
                });
            }
            if self.run_fails {
                return Ok(RunTaskOutcome::Failed {
                    reason: "RESOURCE:MEMORY".into(),
                });
            }
            let mut tasks = self.tasks.lock().expect("lock");
            tasks.push(launch.clone());
            Ok(RunTaskOutcome::Started {
                task_arn: format!("task-{}", tasks.len()),
            })
        }
        async fn stop_task(&self, _c: &str, _t: &str, _r: &str) -> Result<(), PortError> {
            Ok(())
        }
        async fn send_feedback(&self, queue: &str, body: &str) -> Result<(), PortError> {
            if body.contains("\"rejected\"") && take_one(&self.rejected_send_errors) {
                return Err(PortError {
                    operation: "sqs:SendMessage",
                    message: "injected: the queue cannot be reached".into(),
                });
            }
            self.sent
                .lock()
                .expect("lock")
                .push((queue.to_string(), body.to_string()));
            Ok(())
        }
        fn audit(&self, record: &AuditRecord) {
            self.audited.lock().expect("lock").push(record.to_json());
        }
    }

    /// A job with no parameters and no image, and its feedback queue.
    struct TestJob {
        name: &'static str,
        queue: &'static str,
    }

    /// The lane's usual job: `web`, whose followers read queue `q`.
    const WEB: TestJob = TestJob {
        name: "web",
        queue: "q",
    };

    impl AllowedJob for TestJob {
        fn name(&self) -> &str {
            self.name
        }
        fn params(&self) -> &BTreeMap<String, ParamSchema> {
            static NONE: BTreeMap<String, ParamSchema> = BTreeMap::new();
            &NONE
        }
        fn timeout_secs(&self) -> u64 {
            600
        }
        fn feedback_queue(&self) -> &str {
            self.queue
        }
        fn cluster(&self) -> &str {
            "c"
        }
        fn container(&self) -> &str {
            "deploy"
        }
    }

    fn key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("valid scalar")
    }

    /// A key the dispatcher does not trust (signing under the trusted key's id).
    fn untrusted_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("valid scalar")
    }

    fn allowlist(jobs: impl IntoIterator<Item = TestJob>) -> Allowlist<TestJob> {
        Allowlist {
            keys: BTreeMap::from([("k".to_string(), *key().verifying_key())]),
            keys_configured_in: "test.keys".into(),
            jobs: jobs
                .into_iter()
                .map(|job| (job.name.to_string(), job))
                .collect(),
            jobs_configured_in: "test.jobs".into(),
            lock_grace_secs: 300,
            shared_queue: None,
        }
    }

    fn dispatcher(fake: Fake) -> Admission<Allowlist<TestJob>, Fake> {
        Admission::new(Arc::new(allowlist([WEB])), fake)
    }

    fn envelope(id: &str, nonce: &str) -> String {
        signed_envelope(id, nonce, "web", &key())
    }

    fn signed_envelope(
        id: &str,
        nonce: &str,
        job: &str,
        signer: &p256::ecdsa::SigningKey,
    ) -> String {
        let now = checks::now();
        let request = DeployRequest {
            v: airlock_protocol::PROTOCOL_VERSION,
            request_id: id.into(),
            job: job.into(),
            params: BTreeMap::new(),
            image: None,
            requester: airlock_protocol::Requester {
                ci: "ci".into(),
                ..Default::default()
            },
            issued_at: now,
            expires_at: now + time::Duration::minutes(5),
            nonce: nonce.into(),
            timeout_secs: None,
        };
        let payload = airlock_protocol::SignedRequest::deploy_payload(&request);
        let signature: p256::ecdsa::Signature = signer.sign(&payload);
        airlock_protocol::SignedRequest::new(
            airlock_protocol::RequestKind::Deploy,
            &payload,
            "k",
            signature.to_der().as_bytes(),
        )
        .to_json()
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn a_redelivery_resumes_an_undecided_request_and_drops_a_decided_one() {
        let nonce = "ab".repeat(16);
        let fake = Fake::default();
        // An earlier invocation recorded the nonce, then failed before deciding.
        fake.nonces
            .lock()
            .expect("lock")
            .insert(nonce.clone(), ("r-1".into(), false));
        let d = dispatcher(fake);
        let first = run(d.handle_envelope(&envelope("r-1", &nonce))).expect("dispatch");
        assert!(matches!(first, Decision::Started { .. }), "{first:?}");
        let again = run(d.handle_envelope(&envelope("r-1", &nonce))).expect("dispatch");
        assert!(matches!(again, Decision::Duplicate { .. }), "{again:?}");
        assert_eq!(d.ports().tasks.lock().expect("lock").len(), 1);
        let launch = d.ports().tasks.lock().expect("lock")[0].clone();
        assert_eq!(launch.client_token, client_token("r-1"));
        assert_eq!(launch.client_token.len(), 64);
        let environment = environment_of(&launch);
        assert_eq!(environment["AIRLOCK_REQUEST_ID"], "r-1");
        assert_eq!(environment["AIRLOCK_FEEDBACK"], "q");
        assert_eq!(environment["AIRLOCK_DEADLINE"], "600");
        // Every decision is audited, the redelivery too.
        let audited = d.ports().audited.lock().expect("lock").clone();
        assert_eq!(audited.len(), 2, "{audited:?}");
        assert!(audited[1].contains("\"duplicate\""), "{audited:?}");
    }

    #[test]
    fn a_failed_run_task_frees_the_lane_and_is_reported_after_accepted() {
        let d = dispatcher(Fake {
            run_fails: true,
            ..Fake::default()
        });
        let decision =
            run(d.handle_envelope(&envelope("r-2", &"cd".repeat(16)))).expect("dispatch");
        assert!(
            matches!(&decision, Decision::Rejected { code, reason, notified: true, .. } if *code == codes::RUN_TASK_FAILED && reason.contains("RESOURCE:MEMORY")),
            "{decision:?}"
        );
        assert!(d.ports().lock.lock().expect("lock").is_none());
        let sent = d.ports().sent.lock().expect("lock").clone();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(
            sent[0].1.contains("\"accepted\"") && sent[1].1.contains("\"rejected\""),
            "{sent:?}"
        );
    }

    #[test]
    fn the_overrides_limit_counts_the_json_ecs_counts() {
        let d = dispatcher(Fake::default());
        let job = d.config().job("web").expect("job");
        let mut request: DeployRequest =
            match airlock_protocol::SignedRequest::from_json(&envelope("r-3", &"ef".repeat(16)))
                .and_then(|e| e.verify(&key().verifying_key().to_owned()))
            {
                Ok(VerifiedRequest::Deploy(r)) => r,
                other => panic!("{other:?}"),
            };
        let base = overrides_size(&d.launch(job, &request));
        request
            .params
            .insert("P".into(), "x".repeat(MAX_OVERRIDES_BYTES - base - 27));
        let size = overrides_size(&d.launch(job, &request));
        assert!(size <= MAX_OVERRIDES_BYTES, "{size}");
        assert!(check_overrides_size(&d.launch(job, &request)).is_ok());
        request
            .params
            .insert("P".into(), "x".repeat(MAX_OVERRIDES_BYTES));
        let refused = check_overrides_size(&d.launch(job, &request)).expect_err("too large");
        assert_eq!(refused.code, codes::OVERRIDES_TOO_LARGE);
    }

    /// What the fake sent: each message's queue and body.
    fn sent(d: &Admission<Allowlist<TestJob>, Fake>) -> Vec<(String, FeedbackBody)> {
        d.ports()
            .sent
            .lock()
            .expect("lock")
            .iter()
            .map(|(queue, body)| {
                let feedback = Feedback::from_json(body).expect("feedback parses");
                (queue.clone(), feedback.body)
            })
            .collect()
    }

    #[test]
    fn a_run_task_error_after_accepted_frees_the_lane_and_names_the_error_code() {
        let fake = Fake::default();
        fake.run_task_errors.store(1, Ordering::SeqCst);
        let d = dispatcher(fake);
        let envelope = envelope("r-err", &"0a".repeat(16));
        let decision = run(d.handle_envelope(&envelope)).expect("no error escapes");
        assert!(
            matches!(&decision, Decision::Rejected { code, reason, notified: true, .. }
                if *code == codes::RUN_TASK_FAILED
                    && reason.starts_with("ecs:RunTask failed: InternalFailure")),
            "{decision:?}"
        );
        assert!(d.ports().lock.lock().expect("lock").is_none());
        let sent = sent(&d);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(sent[0].1, FeedbackBody::Accepted { job: "web".into() });
        assert!(
            matches!(&sent[1], (queue, FeedbackBody::Rejected { code, reason })
                if queue == "q" && code == codes::RUN_TASK_FAILED && reason.contains("InternalFailure")),
            "{sent:?}"
        );
        // Its follower was told and has ended: a redelivery must not start the task now.
        let again = run(d.handle_envelope(&envelope)).expect("dispatch");
        assert!(matches!(again, Decision::Duplicate { .. }), "{again:?}");
        assert!(d.ports().tasks.lock().expect("lock").is_empty());
        // The lane is free for the next request.
        let next =
            run(d.handle_envelope(&self::envelope("r-next", &"0b".repeat(16)))).expect("dispatch");
        assert!(matches!(next, Decision::Started { .. }), "{next:?}");
    }

    #[test]
    fn a_run_task_error_that_cannot_be_told_leaves_the_request_to_the_retry() {
        let fake = Fake::default();
        fake.run_task_errors.store(1, Ordering::SeqCst);
        fake.rejected_send_errors.store(1, Ordering::SeqCst);
        let d = dispatcher(fake);
        let envelope = envelope("r-retry", &"0c".repeat(16));
        let failed = run(d.handle_envelope(&envelope)).expect_err("the invocation fails");
        assert_eq!(failed.operation, "sqs:SendMessage");
        // The lane was released before the attempt to tell the follower.
        assert!(d.ports().lock.lock().expect("lock").is_none());
        // The follower heard only Accepted and still waits: Lambda's retry of the invocation
        // runs admission again and starts the task.
        let retried = run(d.handle_envelope(&envelope)).expect("dispatch");
        assert!(matches!(retried, Decision::Started { .. }), "{retried:?}");
        assert_eq!(d.ports().tasks.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_trusted_request_for_an_unknown_job_is_told_through_the_lanes_one_queue() {
        let d = dispatcher(Fake::default());
        let envelope = signed_envelope("r-typo", &"0d".repeat(16), "nope", &key());
        let decision = run(d.handle_envelope(&envelope)).expect("dispatch");
        assert!(
            matches!(&decision, Decision::Rejected { code, reason, notified: true, .. }
                if *code == codes::UNKNOWN_JOB && reason.contains("(configured: web)")),
            "{decision:?}"
        );
        let sent = sent(&d);
        assert!(
            matches!(sent.as_slice(), [(queue, FeedbackBody::Rejected { code, reason })]
                if queue == "q" && code == codes::UNKNOWN_JOB && reason.contains("web")),
            "{sent:?}"
        );
    }

    #[test]
    fn an_unverified_request_for_an_unknown_job_is_only_audited() {
        let d = dispatcher(Fake::default());
        let envelope = signed_envelope("r-forged", &"0e".repeat(16), "nope", &untrusted_key());
        let decision = run(d.handle_envelope(&envelope)).expect("dispatch");
        assert!(
            matches!(&decision, Decision::Rejected { code, notified: false, .. }
                if *code == codes::BAD_SIGNATURE),
            "{decision:?}"
        );
        assert!(sent(&d).is_empty());
        assert_eq!(d.ports().audited.lock().expect("lock").len(), 1);
    }

    #[test]
    fn with_a_queue_per_job_a_request_for_an_unknown_job_is_only_audited() {
        let config = allowlist([
            WEB,
            TestJob {
                name: "worker",
                queue: "q-worker",
            },
        ]);
        let d = Admission::new(Arc::new(config), Fake::default());
        let envelope = signed_envelope("r-typo", &"0f".repeat(16), "nope", &key());
        let decision = run(d.handle_envelope(&envelope)).expect("dispatch");
        assert!(
            matches!(&decision, Decision::Rejected { code, reason, notified: false, .. }
                if *code == codes::UNKNOWN_JOB && reason.contains("web, worker")),
            "{decision:?}"
        );
        assert!(sent(&d).is_empty());
    }

    #[test]
    fn the_lanes_one_queue_is_the_shared_queue_or_the_queue_all_jobs_share() {
        let other = || TestJob {
            name: "worker",
            queue: "q-worker",
        };
        let same = || TestJob {
            name: "worker",
            queue: "q",
        };
        assert_eq!(allowlist([WEB]).lane_queue(), Some("q"));
        assert_eq!(allowlist([WEB, same()]).lane_queue(), Some("q"));
        assert_eq!(allowlist([WEB, other()]).lane_queue(), None);
        assert_eq!(allowlist([]).lane_queue(), None);
        let shared = Allowlist {
            shared_queue: Some("lane".into()),
            ..allowlist([WEB, other()])
        };
        assert_eq!(shared.lane_queue(), Some("lane"));
        // A configured job's refusal goes to its own queue whether or not it was verified.
        let two = allowlist([WEB, other()]);
        assert_eq!(two.refusal_queue(Some("worker"), false), Some("q-worker"));
        assert_eq!(
            allowlist([WEB]).refusal_queue(Some("nope"), true),
            Some("q")
        );
        assert_eq!(allowlist([WEB]).refusal_queue(Some("nope"), false), None);
        assert_eq!(allowlist([WEB]).refusal_queue(None, true), Some("q"));
    }

    fn stopped(stop_code: &str, containers: Vec<(&str, Option<i32>)>) -> StoppedTask {
        StoppedTask {
            task_arn: "task-1".into(),
            stop_code: stop_code.into(),
            stopped_reason: "test".into(),
            containers: containers
                .into_iter()
                .map(|(name, code)| (name.to_string(), code))
                .collect(),
        }
    }

    #[test]
    fn only_a_runner_that_exited_by_itself_with_a_code_other_than_125_reported_the_end() {
        let exited = ESSENTIAL_CONTAINER_EXITED;
        let reported = |task: StoppedTask| runner_reported_the_end(&task, "deploy");
        // The runner delivered Finished: it exits with the job's code, whatever it is.
        assert!(reported(stopped(exited, vec![("deploy", Some(0))])));
        assert!(reported(stopped(exited, vec![("deploy", Some(42))])));
        assert!(reported(stopped(exited, vec![("deploy", Some(137))])));
        assert!(reported(stopped(
            exited,
            vec![("sidecar", None), ("deploy", Some(3))]
        )));
        // It could not deliver Finished.
        assert!(!reported(stopped(exited, vec![("deploy", Some(125))])));
        // No exit code for the runner's container: it may never have run.
        assert!(!reported(stopped(exited, vec![("deploy", None)])));
        assert!(!reported(stopped(exited, vec![("sidecar", Some(0))])));
        assert!(!reported(stopped(exited, vec![])));
        // ECS stopped the task: the runner may have been cut short.
        assert!(!reported(stopped(
            "UserInitiated",
            vec![("deploy", Some(143))]
        )));
        assert!(!reported(stopped(
            "SpotInterruption",
            vec![("deploy", Some(0))]
        )));
        assert!(!reported(stopped(
            "TaskFailedToStart",
            vec![("deploy", None)]
        )));
        assert!(!reported(stopped(
            "ServiceSchedulerInitiated",
            vec![("deploy", Some(0))]
        )));
    }

    #[test]
    fn a_task_whose_runner_reported_frees_the_lane_without_telling_the_follower() {
        let d = dispatcher(Fake::default());
        let started =
            run(d.handle_envelope(&envelope("r-done", &"1a".repeat(16)))).expect("dispatch");
        let Decision::Started { task_arn, .. } = started else {
            panic!("not started: {started:?}");
        };
        d.ports().sent.lock().expect("lock").clear();
        let task = StoppedTask {
            task_arn: task_arn.clone(),
            ..stopped(ESSENTIAL_CONTAINER_EXITED, vec![("deploy", Some(42))])
        };
        let decision = run(d.handle_stopped(&task)).expect("stopped");
        assert_eq!(
            decision,
            Decision::TaskStopped {
                request_id: "r-done".into(),
                task_arn,
                stop_code: ESSENTIAL_CONTAINER_EXITED.into(),
                exit_code: Some(42),
                notice: StopNotice::RunnerReported,
            }
        );
        assert!(sent(&d).is_empty());
        assert!(d.ports().lock.lock().expect("lock").is_none());
        let audited = d.ports().audited.lock().expect("lock").clone();
        assert!(
            audited
                .last()
                .is_some_and(|line| line.contains("\"notice\":\"runner_reported\"")),
            "{audited:?}"
        );
    }

    #[test]
    fn a_task_whose_runner_could_not_report_or_was_stopped_tells_the_follower() {
        for (n, (stop_code, exit_code)) in [
            (ESSENTIAL_CONTAINER_EXITED, Some(125)),
            (ESSENTIAL_CONTAINER_EXITED, None),
            ("UserInitiated", Some(143)),
            ("TaskFailedToStart", None),
        ]
        .into_iter()
        .enumerate()
        {
            let d = dispatcher(Fake::default());
            let id = format!("r-stop-{n}");
            let nonce = format!("{n:02}").repeat(16);
            let started = run(d.handle_envelope(&envelope(&id, &nonce))).expect("dispatch");
            let Decision::Started { task_arn, .. } = started else {
                panic!("not started: {started:?}");
            };
            d.ports().sent.lock().expect("lock").clear();
            let task = StoppedTask {
                task_arn,
                ..stopped(stop_code, vec![("deploy", exit_code)])
            };
            let decision = run(d.handle_stopped(&task)).expect("stopped");
            assert!(
                matches!(
                    &decision,
                    Decision::TaskStopped {
                        notice: StopNotice::Sent,
                        ..
                    }
                ),
                "{stop_code} {exit_code:?}: {decision:?}"
            );
            assert_eq!(
                sent(&d),
                vec![(
                    "q".to_string(),
                    FeedbackBody::TaskStopped {
                        stop_code: stop_code.into(),
                        reason: "test".into(),
                        exit_code,
                    }
                )],
                "{stop_code} {exit_code:?}"
            );
            assert!(d.ports().lock.lock().expect("lock").is_none());
        }
    }
}
