//! The dispatcher's decisions: from a signed envelope (or an ECS task state change) to at most
//! one task, and a message to the request's follower saying what happened.
//!
//! A deploy request is accepted only if every check passes, in this order; the first failure
//! refuses it with its stable code and starts nothing:
//!
//! 1. size (an SNS message is at most 256 KiB), envelope parse, protocol version, trusted key
//!    id, ECDSA P-256 signature over the exact payload bytes (verified locally with the
//!    configured public key, no KMS call): [`airlock_lane::checks::verify_envelope`];
//! 2. the request id's form, the validity window and the nonce's form;
//! 3. the nonce never seen (a conditional write): a redelivery of a request already decided is
//!    dropped silently, another request reusing a nonce or an id is `replayed`;
//! 4. the job in the allowlist, its parameters valid, the image pinned by digest in one of the
//!    job's repositories, the ECR gate;
//! 5. the container overrides within ECS's 8,192-byte limit (ECS enforces it; moto does not, so
//!    this code does);
//! 6. the lane lock (a conditional write with a lease of the job's timeout plus grace).
//!
//! Then one `RunTask` with a client token derived from the request id. The follower hears
//! `Accepted` and `Started{task}`, or `Rejected{code, reason}`. A refusal is addressed only to
//! a request id that was never accepted, so a forged or replayed envelope naming a running
//! deployment cannot make its follower give up; a request for a job that is not configured has
//! no queue to be told through and is audited only.

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_lane::checks::{
    self, Refusal, codes, refuse, rfc3339, unverified_claims, valid_request_id,
};
use airlock_lane::config::validate_params;
use airlock_protocol::signing::VerifiedRequest;
use airlock_protocol::{CancelRequest, DeployRequest, Feedback, FeedbackBody, ImageRef};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::audit::{self, AuditRecord};
use crate::config::{DispatchConfig, Job};
use crate::ports::{
    LaneLock, LockOutcome, NonceClaim, NonceOutcome, PortError, Ports, RunTaskOutcome, TaskOwner,
    TaskSpec,
};

/// SNS's largest message: anything longer cannot have come through the topic.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// ECS RunTask: "A total of 8192 characters are allowed for overrides", JSON included.
pub const MAX_OVERRIDES_BYTES: usize = 8192;
/// `startedBy` on every task the dispatcher starts; the EventBridge rule filters on it.
pub const STARTED_BY: &str = "airlock-dispatch";
/// How long nonce records outlive their request's expiry (SNS retries for up to 23 days on
/// some endpoints; the window check refuses anything older anyway).
pub const NONCE_RETENTION_SECS: i64 = 24 * 3600;

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
    /// A task of ours stopped: the follower was told and the lane released.
    TaskStopped {
        request_id: String,
        task_arn: String,
        stop_code: String,
    },
    /// An event that is not ours to handle (another service's task, another status).
    Ignored {
        reason: String,
    },
}

/// A stopped ECS task, from an EventBridge "ECS Task State Change" event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    pub task_arn: String,
    pub stop_code: String,
    pub stopped_reason: String,
    /// Each container's name and exit code (when it has one).
    pub containers: Vec<(String, Option<i32>)>,
}

pub struct Dispatcher<P> {
    config: Arc<DispatchConfig>,
    ports: P,
    clock: fn() -> OffsetDateTime,
}

impl<P: Ports> Dispatcher<P> {
    pub fn new(config: Arc<DispatchConfig>, ports: P) -> Self {
        Dispatcher {
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

    /// Handles one envelope as published to the topic. `Err` only when a dependency could not
    /// be reached: the caller fails the invocation so that it is delivered again.
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
            checks::verify_envelope(envelope, &self.config.keys, "dispatch.keys")
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
        let id = Some(request.request_id.clone());
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
        if let Err(refusal) = self.stateless_deploy_checks(&request) {
            return self
                .refuse(
                    id,
                    job_name,
                    false,
                    refusal,
                    Audit::Record(Box::new(audit_base)),
                )
                .await;
        }
        let claim = NonceClaim::new(
            &request.nonce,
            &request.request_id,
            "deploy",
            request.expires_at,
        );
        if let Some(decision) = self
            .claim_nonce(&claim, job_name, false, &audit_base)
            .await?
        {
            return Ok(decision);
        }
        let decision = self.admit(&request).await?;
        let accepted = matches!(decision, Decision::Started { .. });
        self.ports.settle_nonce(&claim, accepted).await?;
        audit::emit(&audit_base.decided(&decision));
        Ok(decision)
    }

    /// The checks that need no state: window, nonce form, job, parameters, image, overrides.
    fn stateless_deploy_checks(&self, request: &DeployRequest) -> Result<(), Refusal> {
        checks::check_window(request.issued_at, request.expires_at, (self.clock)())?;
        checks::check_nonce_format(&request.nonce)?;
        let job = self.job(&request.job)?;
        validate_params(&job.as_lane_job(), &request.params)
            .map_err(|e| refuse(codes::BAD_PARAMS, e.to_string()))?;
        check_image(job, request.image.as_ref())?;
        let spec = self.task_spec(job, request);
        check_overrides_size(&spec)?;
        Ok(())
    }

    fn job(&self, name: &str) -> Result<&Job, Refusal> {
        self.config.job(name).ok_or_else(|| {
            let known: Vec<&str> = self.config.jobs.keys().map(String::as_str).collect();
            refuse(
                codes::UNKNOWN_JOB,
                format!(
                    "job {:?} is not in this lane's allowlist (configured: {})",
                    shorten(name),
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
        if let (Some(gate), Some(image)) = (job.ecr_gate, request.image.as_ref()) {
            let scan = self.ports.image_scan(image).await?;
            if let Err(refusal) = crate::gate::judge(gate, image, &scan) {
                return self
                    .refuse(id, job_name, false, refusal, Audit::ByCaller)
                    .await;
            }
        }
        let now = (self.clock)();
        let deadline = deadline_secs(job, request);
        let lock = LaneLock {
            lane: job.lane().to_string(),
            request_id: request.request_id.clone(),
            actor: actor(request),
            since: rfc3339(now),
            lease_until: now.unix_timestamp()
                + i64::try_from(deadline + self.config.lock_grace_secs).unwrap_or(i64::MAX / 2),
            cluster: job.cluster.clone(),
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
                job: job.name.clone(),
            },
        )
        .await?;
        let spec = self.task_spec(job, request);
        match self.ports.run_task(&spec).await? {
            RunTaskOutcome::Started { task_arn } => {
                let owner = TaskOwner {
                    task_arn: task_arn.clone(),
                    request_id: request.request_id.clone(),
                    lane: job.lane().to_string(),
                    container: job.container.clone(),
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
                Ok(Decision::Started {
                    request_id: request.request_id.clone(),
                    job: job.name.clone(),
                    task_arn,
                })
            }
            RunTaskOutcome::Failed { reason } => {
                self.ports
                    .release_lock(job.lane(), &request.request_id)
                    .await?;
                let refusal = refuse(codes::RUN_TASK_FAILED, format!("ecs:RunTask: {reason}"));
                // Accepted went out already, but nothing runs: the follower must hear why.
                let reason = refusal.reason.clone();
                self.send(
                    job,
                    &request.request_id,
                    FeedbackBody::Rejected {
                        code: refusal.code.to_string(),
                        reason: reason.clone(),
                    },
                )
                .await?;
                Ok(Decision::Rejected {
                    request_id: Some(request.request_id.clone()),
                    job: Some(job.name.clone()),
                    code: refusal.code,
                    reason,
                    notified: true,
                })
            }
        }
    }

    /// The RunTask call for an accepted request.
    pub fn task_spec(&self, job: &Job, request: &DeployRequest) -> TaskSpec {
        let mut environment = vec![
            ("AIRLOCK_REQUEST_ID".to_string(), request.request_id.clone()),
            ("AIRLOCK_JOB".to_string(), job.name.clone()),
            (
                "AIRLOCK_FEEDBACK".to_string(),
                job.feedback_queue_url.clone(),
            ),
            (
                "AIRLOCK_DEADLINE".to_string(),
                deadline_secs(job, request).to_string(),
            ),
        ];
        if let Some(image) = &request.image {
            environment.push(("AIRLOCK_IMAGE".to_string(), image.to_string()));
        }
        environment.extend(request.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut tags = vec![
            ("airlock:request-id".to_string(), request.request_id.clone()),
            ("airlock:job".to_string(), job.name.clone()),
        ];
        let ci = tag_value(&request.requester.ci);
        if !ci.is_empty() {
            tags.push(("airlock:ci".to_string(), ci));
        }
        TaskSpec {
            cluster: job.cluster.clone(),
            task_definition: job.task_definition.clone(),
            container: job.container.clone(),
            subnets: job.subnets.clone(),
            security_groups: job.security_groups.clone(),
            assign_public_ip: job.assign_public_ip,
            environment,
            client_token: client_token(&request.request_id),
            started_by: STARTED_BY.to_string(),
            tags,
        }
    }

    async fn cancel(&self, request: CancelRequest) -> Result<Decision, PortError> {
        let audit_base = AuditRecord::cancel(&request);
        let id = Some(request.request_id.clone());
        let job_name = Some(request.job.clone());
        let stateless = valid_request_id(&request.request_id)
            .then_some(())
            .ok_or_else(|| refuse(codes::BAD_ENVELOPE, "request_id: not a request id"))
            .and_then(|()| {
                checks::check_window(request.issued_at, request.expires_at, (self.clock)())
            })
            .and_then(|()| checks::check_nonce_format(&request.nonce))
            .and_then(|()| self.job(&request.job).map(|_| ()));
        if let Err(refusal) = stateless {
            return self
                .refuse(
                    id,
                    job_name,
                    true,
                    refusal,
                    Audit::Record(Box::new(audit_base)),
                )
                .await;
        }
        let claim = NonceClaim::new(
            &request.nonce,
            &request.request_id,
            "cancel",
            request.expires_at,
        );
        if let Some(decision) = self
            .claim_nonce(&claim, job_name, true, &audit_base)
            .await?
        {
            return Ok(decision);
        }
        let decision = match self.job(&request.job) {
            Err(refusal) => Decision::CancelIgnored {
                request_id: request.request_id.clone(),
                reason: refusal.reason,
            },
            Ok(job) => match self.ports.lock_of(job.lane()).await? {
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
        audit::emit(&audit_base.decided(&decision));
        Ok(decision)
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
                audit::emit(&audit_base.decided(&decision));
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

    /// Handles a stopped task: tells its follower how it ended and frees the lane.
    pub async fn handle_stopped(&self, task: &StoppedTask) -> Result<Decision, PortError> {
        let Some(owner) = self.ports.task_owner(&task.task_arn).await? else {
            let decision = Decision::Ignored {
                reason: format!("task {} was not started by this dispatcher", task.task_arn),
            };
            audit::emit(&AuditRecord::task().decided(&decision));
            return Ok(decision);
        };
        let exit_code = task
            .containers
            .iter()
            .find(|(name, _)| *name == owner.container)
            .and_then(|(_, code)| *code);
        let body = FeedbackBody::TaskStopped {
            stop_code: task.stop_code.clone(),
            reason: task.stopped_reason.clone(),
            exit_code,
        };
        let message = Feedback::new(&owner.request_id, 0, body).to_json();
        self.ports.send_feedback(&owner.lane, &message).await?;
        self.ports
            .release_lock(&owner.lane, &owner.request_id)
            .await?;
        let decision = Decision::TaskStopped {
            request_id: owner.request_id.clone(),
            task_arn: task.task_arn.clone(),
            stop_code: task.stop_code.clone(),
        };
        let mut record = AuditRecord::task();
        record.request_id = Some(owner.request_id);
        audit::emit(&record.decided(&decision));
        Ok(decision)
    }

    /// Refuses: tells the follower when the refusal can and may be addressed (a deploy for a
    /// configured job whose id was never accepted), and audits it in every case.
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
        let queue_job = job.as_deref().and_then(|name| self.config.job(name));
        if let (Some(id), Some(queue_job), false) = (request_id.as_deref(), queue_job, is_cancel)
            && !self.ports.was_accepted(id).await?
        {
            self.send(
                queue_job,
                id,
                FeedbackBody::Rejected {
                    code: code.to_string(),
                    reason: reason.clone(),
                },
            )
            .await?;
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
            Audit::Envelope => audit::emit(&AuditRecord::envelope().decided(&decision)),
            Audit::Record(record) => audit::emit(&record.decided(&decision)),
            Audit::ByCaller => {}
        }
        Ok(decision)
    }

    async fn send(&self, job: &Job, request_id: &str, body: FeedbackBody) -> Result<(), PortError> {
        let message = Feedback::new(request_id, 0, body).to_json();
        self.ports
            .send_feedback(&job.feedback_queue_url, &message)
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

/// The image must be pinned by digest (the protocol type guarantees that) and come from one
/// of the job's repositories; a job that requires an image refuses a request without one.
fn check_image(job: &Job, image: Option<&ImageRef>) -> Result<(), Refusal> {
    match image {
        None if job.image_required => Err(refuse(
            codes::BAD_IMAGE,
            format!(
                "job {} requires an image pinned by digest (one of: {})",
                job.name,
                job.repositories.join(", ")
            ),
        )),
        None => Ok(()),
        Some(image) if job.repositories.contains(&image.repository) => Ok(()),
        Some(image) => Err(refuse(
            codes::BAD_IMAGE,
            format!(
                "image repository {:?} is not allowed for job {} (allowed: {})",
                shorten(&image.repository),
                job.name,
                if job.repositories.is_empty() {
                    "none".to_string()
                } else {
                    job.repositories.join(", ")
                }
            ),
        )),
    }
}

/// The size ECS counts: the overrides structure as JSON.
pub fn overrides_size(spec: &TaskSpec) -> usize {
    let environment: Vec<serde_json::Value> = spec
        .environment
        .iter()
        .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
        .collect();
    let overrides = serde_json::json!({
        "containerOverrides": [{"name": spec.container, "environment": environment}]
    });
    overrides.to_string().len()
}

fn check_overrides_size(spec: &TaskSpec) -> Result<(), Refusal> {
    let size = overrides_size(spec);
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

fn deadline_secs(job: &Job, request: &DeployRequest) -> u64 {
    request
        .timeout_secs
        .map_or(job.timeout_secs, |asked| asked.clamp(1, job.timeout_secs))
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

/// Parameters as the job sees them (for documentation and tests).
pub fn environment_of(spec: &TaskSpec) -> BTreeMap<String, String> {
    spec.environment.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ports::{ImageScan, LockOutcome};
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};

    /// In-memory ports: what the AWS adapter stores, in maps.
    #[derive(Default)]
    struct Fake {
        nonces: Mutex<BTreeMap<String, (String, bool)>>,
        accepted: Mutex<Vec<String>>,
        lock: Mutex<Option<LaneLock>>,
        tasks: Mutex<Vec<TaskSpec>>,
        sent: Mutex<Vec<String>>,
        run_fails: bool,
    }

    impl Ports for Fake {
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
        async fn attach_task(&self, lock: &LaneLock, _owner: &TaskOwner) -> Result<(), PortError> {
            *self.lock.lock().expect("lock") = Some(lock.clone());
            Ok(())
        }
        async fn release_lock(&self, _lane: &str, request_id: &str) -> Result<(), PortError> {
            let mut held = self.lock.lock().expect("lock");
            if held.as_ref().is_some_and(|h| h.request_id == request_id) {
                *held = None;
            }
            Ok(())
        }
        async fn task_owner(&self, _task_arn: &str) -> Result<Option<TaskOwner>, PortError> {
            Ok(None)
        }
        async fn image_scan(&self, _image: &ImageRef) -> Result<ImageScan, PortError> {
            Ok(ImageScan::default())
        }
        async fn run_task(&self, spec: &TaskSpec) -> Result<RunTaskOutcome, PortError> {
            if self.run_fails {
                return Ok(RunTaskOutcome::Failed {
                    reason: "RESOURCE:MEMORY".into(),
                });
            }
            let mut tasks = self.tasks.lock().expect("lock");
            tasks.push(spec.clone());
            Ok(RunTaskOutcome::Started {
                task_arn: format!("task-{}", tasks.len()),
            })
        }
        async fn stop_task(&self, _c: &str, _t: &str, _r: &str) -> Result<(), PortError> {
            Ok(())
        }
        async fn send_feedback(&self, _queue: &str, body: &str) -> Result<(), PortError> {
            self.sent.lock().expect("lock").push(body.to_string());
            Ok(())
        }
    }

    fn key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("valid scalar")
    }

    fn dispatcher(fake: Fake) -> Dispatcher<Fake> {
        let pem = key()
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        let text = format!(
            "[dispatch]\ntable = \"t\"\n[dispatch.keys]\n\"k\" = \"\"\"\n{pem}\"\"\"\n[dispatch.jobs.web]\ncluster = \"c\"\ntask_definition = \"d:1\"\ncontainer = \"deploy\"\nsubnets = [\"s\"]\nfeedback_queue_url = \"q\"\n"
        );
        let config = DispatchConfig::parse(&text, "d.toml").expect("config");
        Dispatcher::new(Arc::new(config), fake)
    }

    fn envelope(id: &str, nonce: &str) -> String {
        let now = checks::now();
        let request = DeployRequest {
            v: airlock_protocol::PROTOCOL_VERSION,
            request_id: id.into(),
            job: "web".into(),
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
        let signature: p256::ecdsa::Signature = key().sign(&payload);
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
        let spec = d.ports().tasks.lock().expect("lock")[0].clone();
        assert_eq!(spec.client_token, client_token("r-1"));
        assert_eq!(spec.client_token.len(), 64);
        assert!(!spec.assign_public_ip);
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
            sent[0].contains("\"accepted\"") && sent[1].contains("\"rejected\""),
            "{sent:?}"
        );
    }

    #[test]
    fn the_overrides_limit_counts_the_json_ecs_counts() {
        let d = dispatcher(Fake::default());
        let job = d.config.job("web").expect("job").clone();
        let mut request: DeployRequest =
            match airlock_protocol::SignedRequest::from_json(&envelope("r-3", &"ef".repeat(16)))
                .and_then(|e| e.verify(&key().verifying_key().to_owned()))
            {
                Ok(VerifiedRequest::Deploy(r)) => r,
                other => panic!("{other:?}"),
            };
        let base = overrides_size(&d.task_spec(&job, &request));
        request
            .params
            .insert("P".into(), "x".repeat(MAX_OVERRIDES_BYTES - base - 27));
        let size = overrides_size(&d.task_spec(&job, &request));
        assert!(size <= MAX_OVERRIDES_BYTES, "{size}");
        assert!(check_overrides_size(&d.task_spec(&job, &request)).is_ok());
        request
            .params
            .insert("P".into(), "x".repeat(MAX_OVERRIDES_BYTES));
        let refused = check_overrides_size(&d.task_spec(&job, &request)).expect_err("too large");
        assert_eq!(refused.code, codes::OVERRIDES_TOO_LARGE);
    }
}
