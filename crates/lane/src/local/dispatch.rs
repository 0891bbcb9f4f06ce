//! The local dispatcher: takes signed requests from the lane file, checks them exactly as
//! the AWS dispatcher does, and runs accepted jobs as `airlock run` subprocesses.
//!
//! For each request, in order (the first failing check refuses it):
//! 1. the envelope parses (`bad_envelope`) and has a known version (`unsupported_version`);
//! 2. it is signed by this lane's key (`unknown_key`) and the signature holds
//!    (`bad_signature`);
//! 3. its validity window is sane (`bad_envelope`), at most 15 minutes long
//!    (`window_too_long`), started no more than 60 s in the future (`not_yet_valid`) and has
//!    not ended (`expired`);
//! 4. its nonce was never seen (`replayed`);
//! 5. the job is in `[lane.jobs]` (`unknown_job`) and the parameters fit its schema
//!    (`bad_params`);
//! 6. no other request holds the lane (`lane_busy`).
//!
//! An accepted deploy gets `Accepted` and `Started{task: "local pid <pid>"}` (seq 0) in the
//! feedback queue and runs as
//! `<airlock> run --request-id <id> --feedback sqlite:<db>?queue=<queue> --deadline <secs> -- <command>`
//! in an environment built from nothing, as a Fargate task's is ([`job_environment`]): the
//! caller's `PATH HOME TMPDIR LANG LC_ALL TZ`, the job's `env` and `pass_env`, the
//! parameters, `AIRLOCK_REQUEST_ID` and `AIRLOCK_JOB`; the configuration file's directory is
//! its working directory. Nothing else of the caller's environment (its AWS credentials
//! above all) reaches the job. The lane lock is released when
//! the runner exits. A verified `CancelRequest` for the running request sends SIGTERM to the
//! runner, which forwards it to the job.
//!
//! Refusals and who hears of them: a refusal of a deploy request goes to the feedback queue
//! as `Rejected{code, reason}`, addressed to the request id in the payload (read before the
//! signature is checked, for addressing only). It is never addressed to a request that was
//! accepted: a duplicate delivery or a forged envelope naming a running deployment must not
//! make that deployment's follower give up. A second delivery of an envelope already
//! handled (same nonce, same request) is dropped silently. Refused cancels are only logged:
//! the deployment they name is still running and its follower must keep following.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use airlock_protocol::signing::VerifiedRequest;
use airlock_protocol::{CancelRequest, DeployRequest, Feedback, FeedbackBody};
use p256::ecdsa::VerifyingKey;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::format_description::well_known::Rfc3339;

use super::{LocalLane, LocalQueue, LocalRequests, SqliteDestination, TakenRequest, now_ms};
pub use crate::checks::{MAX_CLOCK_SKEW, MAX_WINDOW, codes};
use crate::checks::{
    Refusal, check_nonce_format, check_window, now, refuse, unverified_addressee, verify_envelope,
};
use crate::config::{JobConfig, LaneConfig, validate_params};
use crate::transport::{FeedbackSink, TransportError};

/// What every local job gets from the caller's environment: what it takes to be found and
/// run (`PATH`), to find its user's files (`HOME`, `TMPDIR`) and to read and print text and
/// times (`LANG`, `LC_ALL`, `TZ`). A Fargate task gets these from its image. Anything else a
/// job needs is named in its configuration (`env`, `pass_env`).
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"];

/// The whole environment of a local job's runner (and so of the job), from nothing: the
/// caller's [`BASE_ENV`] and `pass_env` variables that are set (`caller` looks one up), then
/// the job's `env`, then the request's parameters and the lane's own variables, which no
/// configuration can override (the configuration refuses such names, too).
pub fn job_environment(
    job: &JobConfig,
    params: &BTreeMap<String, String>,
    request_id: &str,
    caller: impl Fn(&str) -> Option<OsString>,
) -> BTreeMap<OsString, OsString> {
    let mut environment = BTreeMap::new();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(job.pass_env.iter().map(String::as_str))
    {
        if let Some(value) = caller(name) {
            environment.insert(OsString::from(name), value);
        }
    }
    for (name, value) in job.env.iter().chain(params) {
        environment.insert(OsString::from(name), OsString::from(value));
    }
    environment.insert("AIRLOCK_REQUEST_ID".into(), request_id.into());
    environment.insert("AIRLOCK_JOB".into(), job.name.clone().into());
    environment
}

/// The lane lock's name in the lane file (one lock per file).
pub const LANE_NAME: &str = "local";

/// What the dispatcher needs besides the lane file.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// The jobs allowlist and the directory jobs run in.
    pub config: Arc<LaneConfig>,
    /// The only key this lane trusts (the local signer's public key).
    pub verifying_key: VerifyingKey,
    /// Its key id ([`super::signer::local_key_id`]).
    pub key_id: String,
    /// The `airlock` binary that runs jobs (`std::env::current_exe()` in the CLI).
    pub airlock_binary: PathBuf,
    /// The feedback queue for every request ([`super::DEFAULT_QUEUE`]).
    pub feedback_queue: String,
}

/// What one dispatch step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    /// No request arrived in time.
    Idle,
    /// The job's runner was started.
    Started { request_id: String, pid: u32 },
    /// The request was refused. `notified`: a `Rejected` message went to `request_id`'s
    /// feedback (false when the request could not be addressed, was a cancel, or names an
    /// accepted request).
    Rejected {
        request_id: Option<String>,
        code: &'static str,
        reason: String,
        notified: bool,
    },
    /// A second delivery of an envelope already handled; dropped.
    Duplicate { request_id: String },
    /// SIGTERM was sent to the runner of `request_id`.
    Cancelled { request_id: String, pid: u32 },
    /// A valid cancel for a request that is not running here.
    CancelIgnored { request_id: String, reason: String },
    /// The request was accepted but its runner could not be started; the follower got
    /// `TaskStopped{stop_code: "SpawnFailed"}`.
    SpawnFailed { request_id: String, reason: String },
}

/// A failure of the dispatcher itself (not of a request): the lane file is unusable.
pub type DispatchError = TransportError;

struct RunningJob {
    request_id: String,
    handle: tokio::task::JoinHandle<std::io::Result<std::process::ExitStatus>>,
}

/// The local dispatcher. One per lane file is the normal setup, but several are safe: the
/// lock, the nonces and the request table are in the file.
pub struct LocalDispatcher {
    lane: LocalLane,
    requests: LocalRequests,
    feedback: LocalQueue,
    settings: DispatcherSettings,
    /// The one trusted key, keyed by its id, as the shared checks take it.
    keys: BTreeMap<String, VerifyingKey>,
    running: tokio::sync::Mutex<Vec<RunningJob>>,
}

impl LocalDispatcher {
    pub fn new(lane: LocalLane, settings: DispatcherSettings) -> LocalDispatcher {
        LocalDispatcher {
            requests: lane.requests(),
            feedback: lane.queue(&settings.feedback_queue),
            keys: BTreeMap::from([(settings.key_id.clone(), settings.verifying_key)]),
            lane,
            settings,
            running: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// Waits up to `wait` for one request and handles it.
    pub async fn dispatch_once(&self, wait: Duration) -> Result<DispatchOutcome, DispatchError> {
        match self.requests.take(wait).await? {
            None => Ok(DispatchOutcome::Idle),
            Some(taken) => self.handle(&taken).await,
        }
    }

    /// Dispatches until `shutdown` completes. A request that was taken is always handled to
    /// the end (shutdown is only looked at between requests). Runners still running at
    /// shutdown keep running and keep the lane locked until they exit.
    pub async fn run(
        &self,
        poll: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), DispatchError> {
        tokio::pin!(shutdown);
        loop {
            let outcome = match self.requests.take(Duration::ZERO).await {
                Ok(Some(taken)) => self.handle(&taken).await,
                Ok(None) => Ok(DispatchOutcome::Idle),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(DispatchOutcome::Idle) => {}
                Ok(outcome) => tracing::debug!(?outcome, "dispatched a request"),
                Err(e) if e.retryable => tracing::warn!(error = %e, "lane file busy; retrying"),
                Err(e) => return Err(e),
            }
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Waits for the runners started so far to exit; returns each request id with the
    /// runner's exit status.
    pub async fn wait_for_jobs(&self) -> Vec<(String, std::io::Result<std::process::ExitStatus>)> {
        let jobs = std::mem::take(&mut *self.running.lock().await);
        let mut results = Vec::new();
        for job in jobs {
            let status = job
                .handle
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            results.push((job.request_id, status));
        }
        results
    }

    /// Handles one envelope (as taken from the request table).
    pub async fn handle(&self, taken: &TakenRequest) -> Result<DispatchOutcome, DispatchError> {
        let envelope = taken.envelope.as_str();
        let (addressee, is_cancel) = unverified_addressee(envelope);
        let verified = match verify_envelope(
            envelope,
            &self.keys,
            "the local lane's key in [lane.local] key",
        ) {
            Ok(verified) => verified,
            Err(refusal) => return self.refuse(addressee, is_cancel, refusal).await,
        };
        match verified {
            VerifiedRequest::Deploy(request) => self.deploy(request).await,
            VerifiedRequest::Cancel(request) => self.cancel(request).await,
        }
    }

    async fn deploy(&self, request: DeployRequest) -> Result<DispatchOutcome, DispatchError> {
        let id = Some(request.request_id.clone());
        if let Err(refusal) = check_window(request.issued_at, request.expires_at, now()) {
            return self.refuse(id, false, refusal).await;
        }
        if let Err(refusal) = check_nonce_format(&request.nonce) {
            return self.refuse(id, false, refusal).await;
        }
        match self
            .record_nonce(&request.nonce, &request.request_id, "deploy")
            .await?
        {
            NonceCheck::Fresh => {}
            NonceCheck::DuplicateDelivery => {
                tracing::info!(request_id = %request.request_id, "dropped a second delivery of a request");
                return Ok(DispatchOutcome::Duplicate {
                    request_id: request.request_id,
                });
            }
            NonceCheck::Reused(refusal) => return self.refuse(id, false, refusal).await,
        }
        let Some(job) = self.settings.config.job(&request.job) else {
            let known: Vec<&str> = self
                .settings
                .config
                .jobs
                .keys()
                .map(String::as_str)
                .collect();
            let reason = format!(
                "job {:?} is not in this lane's [lane.jobs] (configured: {})",
                request.job,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            return self
                .refuse(id, false, refuse(codes::UNKNOWN_JOB, reason))
                .await;
        };
        if let Some(image) = &request.image {
            let reason = format!(
                "image: the local lane runs the job's command on this machine and cannot run image {image}; omit --image"
            );
            return self
                .refuse(id, false, refuse(codes::BAD_PARAMS, reason))
                .await;
        }
        if let Err(e) = validate_params(job, &request.params) {
            return self
                .refuse(id, false, refuse(codes::BAD_PARAMS, e.to_string()))
                .await;
        }
        let actor = request
            .requester
            .actor
            .clone()
            .unwrap_or_else(|| request.requester.ci.clone());
        if let Err(refusal) = self.lock_lane(&request.request_id, &actor).await? {
            return self.refuse(id, false, refusal).await;
        }

        let request_id = request.request_id.clone();
        self.send(
            &request_id,
            FeedbackBody::Accepted {
                job: job.name.clone(),
            },
        )
        .await?;
        let deadline = request
            .timeout_secs
            .map_or(job.timeout_secs, |asked| asked.clamp(1, job.timeout_secs));
        let destination = SqliteDestination {
            db: self.lane.path().to_path_buf(),
            queue: self.settings.feedback_queue.clone(),
        };
        let mut command = tokio::process::Command::new(&self.settings.airlock_binary);
        command
            .arg("run")
            .arg("--request-id")
            .arg(&request_id)
            .arg("--feedback")
            .arg(destination.to_string())
            .arg("--deadline")
            .arg(deadline.to_string())
            .arg("--")
            .args(&job.command)
            .env_clear()
            .envs(job_environment(job, &request.params, &request_id, |name| {
                std::env::var_os(name)
            }))
            .current_dir(&self.settings.config.base_dir)
            .stdin(Stdio::null());
        // The runner echoes the job's output to its own stdout for the task's log (CloudWatch
        // on ECS). Here that copy goes to a log file beside the lane file, not to the terminal
        // of the `airlock deploy` that started us, which prints the output from the feedback.
        match runner_log(self.lane.path(), &request_id) {
            Ok((out, err)) => {
                command.stdout(out).stderr(err);
            }
            Err(e) => {
                tracing::warn!(request_id = %request_id, "no runner log ({e}); discarding the runner's echo");
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let reason = format!(
                    "could not start {} for request {request_id}: {e}",
                    self.settings.airlock_binary.display()
                );
                self.unlock_lane(&request_id).await?;
                self.send(
                    &request_id,
                    FeedbackBody::TaskStopped {
                        stop_code: "SpawnFailed".into(),
                        reason: reason.clone(),
                        exit_code: None,
                    },
                )
                .await?;
                return Ok(DispatchOutcome::SpawnFailed { request_id, reason });
            }
        };
        let Some(pid) = child.id() else {
            // Only possible if the child was already reaped, which nothing here does.
            return Err(TransportError {
                operation: "spawn",
                message: format!("the runner of request {request_id} has no process id"),
                retryable: false,
            });
        };
        self.set_runner_pid(&request_id, pid).await?;
        self.send(
            &request_id,
            FeedbackBody::Started {
                task: format!("local pid {pid}"),
            },
        )
        .await?;
        tracing::debug!(request_id, job = %job.name, pid, "started the runner");
        let handle = tokio::spawn(watch_runner(
            self.lane.clone(),
            self.feedback.clone(),
            request_id.clone(),
            pid,
            child,
        ));
        self.running.lock().await.push(RunningJob {
            request_id: request_id.clone(),
            handle,
        });
        Ok(DispatchOutcome::Started { request_id, pid })
    }

    async fn cancel(&self, request: CancelRequest) -> Result<DispatchOutcome, DispatchError> {
        let id = Some(request.request_id.clone());
        if let Err(refusal) = check_window(request.issued_at, request.expires_at, now()) {
            return self.refuse(id, true, refusal).await;
        }
        if let Err(refusal) = check_nonce_format(&request.nonce) {
            return self.refuse(id, true, refusal).await;
        }
        match self
            .record_nonce(&request.nonce, &request.request_id, "cancel")
            .await?
        {
            NonceCheck::Fresh => {}
            NonceCheck::DuplicateDelivery => {
                return Ok(DispatchOutcome::Duplicate {
                    request_id: request.request_id,
                });
            }
            NonceCheck::Reused(refusal) => return self.refuse(id, true, refusal).await,
        }
        let target = request.request_id.clone();
        let runner = self
            .lane
            .call("cancel", move |conn| {
                conn.query_row(
                    "SELECT runner_pid FROM lane_lock WHERE lane = ?1 AND request_id = ?2",
                    params![LANE_NAME, target],
                    |row| row.get::<_, Option<i64>>(0),
                )
                .optional()
            })
            .await?;
        let pid = match runner {
            None => {
                return Ok(DispatchOutcome::CancelIgnored {
                    request_id: request.request_id,
                    reason: "the request is not running on this lane".into(),
                });
            }
            Some(None) => {
                return Ok(DispatchOutcome::CancelIgnored {
                    request_id: request.request_id,
                    reason: "the request's runner has not started yet".into(),
                });
            }
            Some(Some(pid)) => pid,
        };
        let Some(target) = u32::try_from(pid)
            .ok()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 0)
            .map(nix::unistd::Pid::from_raw)
        else {
            return Ok(DispatchOutcome::CancelIgnored {
                request_id: request.request_id,
                reason: format!("the lane lock names an impossible process id {pid}"),
            });
        };
        match nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM) {
            Ok(()) => {
                tracing::info!(request_id = %request.request_id, pid, reason = %request.reason, "cancel: sent SIGTERM to the runner");
                Ok(DispatchOutcome::Cancelled {
                    request_id: request.request_id,
                    pid: target.as_raw().unsigned_abs(),
                })
            }
            Err(e) => Ok(DispatchOutcome::CancelIgnored {
                request_id: request.request_id,
                reason: format!("SIGTERM to the runner (pid {pid}) failed: {e}"),
            }),
        }
    }

    /// Sends `Rejected` when the refusal can and may be addressed (see the module docs) and
    /// logs it in every case.
    async fn refuse(
        &self,
        request_id: Option<String>,
        is_cancel: bool,
        refusal: Refusal,
    ) -> Result<DispatchOutcome, DispatchError> {
        let Refusal { code, reason } = refusal;
        let mut notified = false;
        if let Some(id) = request_id.as_deref().filter(|_| !is_cancel) {
            let lookup = id.to_string();
            let accepted = self
                .lane
                .call("refuse", move |conn| {
                    conn.query_row(
                        "SELECT 1 FROM accepted_requests WHERE request_id = ?1",
                        [lookup],
                        |_| Ok(()),
                    )
                    .optional()
                })
                .await?
                .is_some();
            if !accepted {
                self.send(
                    id,
                    FeedbackBody::Rejected {
                        code: code.to_string(),
                        reason: reason.clone(),
                    },
                )
                .await?;
                notified = true;
            }
        }
        tracing::warn!(
            request_id = request_id.as_deref().unwrap_or("(unknown)"),
            code,
            reason,
            notified,
            cancel = is_cancel,
            "refused a request"
        );
        Ok(DispatchOutcome::Rejected {
            request_id,
            code,
            reason,
            notified,
        })
    }

    async fn send(&self, request_id: &str, body: FeedbackBody) -> Result<(), DispatchError> {
        let message = Feedback::new(request_id, 0, body).to_json();
        self.feedback.send_batch(&[message]).await.map(|_| ())
    }

    async fn record_nonce(
        &self,
        nonce: &str,
        request_id: &str,
        kind: &'static str,
    ) -> Result<NonceCheck, DispatchError> {
        let (nonce, request_id) = (nonce.to_string(), request_id.to_string());
        self.lane
            .call("record_nonce", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let earlier: Option<(String, String)> = tx
                    .query_row(
                        "SELECT request_id, kind FROM nonces WHERE nonce = ?1",
                        [&nonce],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                let check = match earlier {
                    Some((earlier_id, earlier_kind)) if earlier_id == request_id && earlier_kind == kind => {
                        NonceCheck::DuplicateDelivery
                    }
                    Some((earlier_id, _)) => NonceCheck::Reused(Refusal {
                        code: codes::REPLAYED,
                        reason: format!(
                            "nonce {nonce} was already used by request {earlier_id}; every request needs a fresh nonce"
                        ),
                    }),
                    None => {
                        let id_reused = kind == "deploy"
                            && tx
                                .query_row(
                                    "SELECT 1 FROM nonces WHERE request_id = ?1 AND kind = 'deploy'",
                                    [&request_id],
                                    |_| Ok(()),
                                )
                                .optional()?
                                .is_some();
                        tx.execute(
                            "INSERT INTO nonces (nonce, request_id, kind, seen_at) VALUES (?1, ?2, ?3, ?4)",
                            params![nonce, request_id, kind, now_ms()],
                        )?;
                        if id_reused {
                            NonceCheck::Reused(Refusal {
                                code: codes::REPLAYED,
                                reason: format!(
                                    "request id {request_id} was already used by another request; every request needs a fresh id"
                                ),
                            })
                        } else {
                            NonceCheck::Fresh
                        }
                    }
                };
                tx.commit()?;
                Ok(check)
            })
            .await
    }

    /// Takes the lane lock for `request_id`, or says who holds it. A lock whose holder
    /// process is gone (a crashed dispatcher or runner) is stale and taken over.
    async fn lock_lane(
        &self,
        request_id: &str,
        actor: &str,
    ) -> Result<Result<(), Refusal>, DispatchError> {
        let (request_id, actor) = (request_id.to_string(), actor.to_string());
        let since = now().format(&Rfc3339).unwrap_or_default();
        let me = std::process::id();
        self.lane
            .call("lock_lane", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let holder: Option<(String, String, String, i64)> = tx
                    .query_row(
                        "SELECT request_id, actor, since, holder_pid FROM lane_lock WHERE lane = ?1",
                        [LANE_NAME],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                    )
                    .optional()?;
                if let Some((holder_id, holder_actor, holder_since, holder_pid)) = holder {
                    if process_alive(holder_pid) {
                        return Ok(Err(Refusal {
                            code: codes::LANE_BUSY,
                            reason: format!(
                                "lane busy: request {holder_id} by {holder_actor} since {holder_since}"
                            ),
                        }));
                    }
                    tracing::warn!(stale_request = %holder_id, holder_pid, "took over a lane lock whose holder is gone");
                }
                tx.execute(
                    "INSERT OR REPLACE INTO lane_lock (lane, request_id, actor, since, holder_pid, runner_pid)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                    params![LANE_NAME, request_id, actor, since, me],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO accepted_requests (request_id, accepted_at) VALUES (?1, ?2)",
                    params![request_id, now_ms()],
                )?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .await
    }

    async fn set_runner_pid(&self, request_id: &str, pid: u32) -> Result<(), DispatchError> {
        let request_id = request_id.to_string();
        self.lane
            .call("lock_lane", move |conn| {
                conn.execute(
                    "UPDATE lane_lock SET holder_pid = ?1, runner_pid = ?1 WHERE lane = ?2 AND request_id = ?3",
                    params![pid, LANE_NAME, request_id],
                )
                .map(|_| ())
            })
            .await
    }

    async fn unlock_lane(&self, request_id: &str) -> Result<(), DispatchError> {
        unlock_lane(&self.lane, request_id).await
    }
}

async fn unlock_lane(lane: &LocalLane, request_id: &str) -> Result<(), DispatchError> {
    let request_id = request_id.to_string();
    lane.call("unlock_lane", move |conn| {
        conn.execute(
            "DELETE FROM lane_lock WHERE lane = ?1 AND request_id = ?2",
            params![LANE_NAME, request_id],
        )
        .map(|_| ())
    })
    .await
}

/// Waits for a runner to exit, then releases the lane. A runner killed by a signal could not
/// send `Finished`, so the follower is told with `TaskStopped` (as ECS tells it of a task
/// that died).
async fn watch_runner(
    lane: LocalLane,
    feedback: LocalQueue,
    request_id: String,
    pid: u32,
    mut child: tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    let status = child.wait().await;
    // The lock must go even if the lane file is briefly busy: retry a few times.
    for attempt in 0..5u32 {
        match unlock_lane(&lane, &request_id).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(request_id, error = %e, attempt, "could not release the lane lock");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    if let Ok(status) = &status
        && let Some(signal) = status.signal()
    {
        let body = FeedbackBody::TaskStopped {
            stop_code: "RunnerKilled".into(),
            reason: format!(
                "the runner (local pid {pid}) of request {request_id} was killed by signal {signal}"
            ),
            exit_code: None,
        };
        if let Err(e) = feedback
            .send_batch(&[Feedback::new(&request_id, 0, body).to_json()])
            .await
        {
            tracing::error!(request_id, error = %e, "could not report the runner's death");
        }
    }
    tracing::debug!(
        request_id,
        pid,
        ?status,
        "the runner exited; the lane is free"
    );
    status
}

enum NonceCheck {
    Fresh,
    DuplicateDelivery,
    Reused(Refusal),
}

/// `<lane file's folder>/runs/<request id>.log`, mode 0600, for the runner's stdout and stderr.
fn runner_log(db: &std::path::Path, request_id: &str) -> std::io::Result<(Stdio, Stdio)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = db
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("runs");
    std::fs::create_dir_all(&dir)?;
    // The request id comes from a verified request, but it still names a file: keep it tame.
    let name: String = request_id
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(format!("{name}.log")))?;
    let copy = file.try_clone()?;
    Ok((Stdio::from(file), Stdio::from(copy)))
}

/// Whether a process with this id exists (EPERM means it exists but is someone else's).
fn process_alive(pid: i64) -> bool {
    // Zero and negative ids would address process groups: filter them out first.
    let Some(pid) = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .map(nix::unistd::Pid::from_raw)
    else {
        return false;
    };
    // Signal 0 checks existence and permission without delivering anything.
    match nix::sys::signal::kill(pid, None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_pid_zero_is_not() {
        assert!(process_alive(i64::from(std::process::id())));
        assert!(!process_alive(0));
        assert!(!process_alive(-5));
    }

    #[test]
    fn the_job_environment_starts_from_nothing() {
        let config = LaneConfig::parse(
            "[lane.jobs.tf]\ncommand = [\"terraform\"]\nenv = { TF_IN_AUTOMATION = \"1\", HOME = \"/job\" }\n\
             pass_env = [\"KUBECONFIG\", \"UNSET_IN_CALLER\"]\n[lane.jobs.tf.params.ENV]\nenum = [\"prod\"]\n",
            "airlock.toml",
            std::path::Path::new("."),
        )
        .expect("valid configuration");
        let job = config.job("tf").expect("job tf");
        // The caller's environment, with credentials (obviously fake) that must stay behind.
        let caller = BTreeMap::from([
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/ci"),
            ("TZ", "UTC"),
            ("KUBECONFIG", "/home/ci/.kube/config"),
            ("AWS_SECRET_ACCESS_KEY", "fake/secret+for-tests-only"),
            ("AWS_ACCESS_KEY_ID", "AKIAFAKEFORTESTSONLY"),
            ("AIRLOCK_JOB", "spoofed"),
        ]);
        let params = BTreeMap::from([("ENV".to_string(), "prod".to_string())]);
        let environment = job_environment(job, &params, "req-1", |name| {
            caller.get(name).map(OsString::from)
        });
        let got: Vec<(String, String)> = environment
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("AIRLOCK_JOB", "tf"),
            ("AIRLOCK_REQUEST_ID", "req-1"),
            ("ENV", "prod"),
            ("HOME", "/job"),
            ("KUBECONFIG", "/home/ci/.kube/config"),
            ("PATH", "/usr/bin:/bin"),
            ("TF_IN_AUTOMATION", "1"),
            ("TZ", "UTC"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
