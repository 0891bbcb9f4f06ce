//! The local dispatcher: takes signed requests from the lane file and decides them with the
//! admission core the AWS dispatcher uses ([`airlock_admission::Admission`]; the check order,
//! the replay handling and who hears of a refusal are written on its `handle_envelope`). This
//! module is only the local lane's ports: the lane file for nonces, the lane lock, accepted
//! requests and feedback, and `airlock run` subprocesses for tasks.
//!
//! What is local about it:
//! - an accepted deploy runs as
//!   `<airlock> run --request-id <id> --feedback sqlite:<db>?queue=<queue> --deadline <secs> -- <command>`
//!   in the configuration file's directory, with [`job_environment`] as its whole environment:
//!   nothing else of the caller's environment (AWS credentials included) reaches the job;
//! - the follower hears `Started{task: "local pid <pid>"}`; a runner that cannot be spawned is
//!   `run_task_failed`, as a task ECS cannot place;
//! - the lane lock is held by a process (the dispatcher, then the runner): a lock whose holder
//!   is gone is stale and taken over, and the runner's exit releases it. A runner killed by a
//!   signal could not send `Finished`, so the follower gets `TaskStopped{stop_code:
//!   "RunnerKilled"}`, as ECS reports a task that died, and one that exits 125 (it could not
//!   deliver `Finished`) `TaskStopped{stop_code: "RunnerUnreported"}`;
//! - a cancel sends SIGTERM to the runner, which forwards it to the job;
//! - the one feedback queue serves every job, so a refusal can be told to any request whose id
//!   can be read, even one naming an unknown job in an envelope that does not verify (on AWS
//!   only a verified one is told, and only when all jobs share a queue);
//! - there is no registry: a job takes no image, so a request naming one is `bad_image`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use airlock_admission::audit::AuditRecord;
use airlock_admission::params::ParamSchema;
use airlock_admission::ports::{
    ImageScan, LaneLock, Launch, LockOutcome, NonceClaim, NonceOutcome, PortError, Ports,
    RunTaskOutcome, TaskOwner,
};
use airlock_admission::{Admission, AllowedJob, Allowlist};
use airlock_protocol::{Feedback, FeedbackBody, ImageRef, RUNNER_UNREPORTED_EXIT};
use p256::ecdsa::VerifyingKey;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

pub use airlock_admission::Decision;
pub use airlock_admission::checks::{MAX_CLOCK_SKEW, MAX_WINDOW, codes};

use super::{LocalLane, LocalQueue, LocalRequests, SqliteDestination, TakenRequest, now_ms};
use crate::config::{JobConfig, LaneConfig};
use crate::transport::{FeedbackSink, TransportError};

/// The caller's variables every local job gets, when they are set: what any program needs to
/// be found and run (`PATH`), to find its user's files (`HOME`, `TMPDIR`) and to read and
/// print text and times (`LANG`, `LC_ALL`, `TZ`). A Fargate task gets these from its image.
/// Anything else a job needs is named in its configuration (`env`, `pass_env`).
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"];

/// Where local tasks run, as the lane lock records it (ECS records the cluster).
const LOCAL_CLUSTER: &str = "local";
/// The "container" a local job runs in: the runner (ECS counts its name in the overrides).
const LOCAL_CONTAINER: &str = "airlock-run";
/// The lock lease the core computes is not used here (a local lock goes with its holder
/// process), but the core asks for a grace.
const LOCAL_LOCK_GRACE_SECS: u64 = 300;

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

/// A failure of the dispatcher itself (not of a request): the lane file is unusable.
pub type DispatchError = TransportError;

/// One `[lane.jobs.<name>]` with the queue its followers read.
pub struct LocalJob {
    config: JobConfig,
    queue: String,
}

impl AllowedJob for LocalJob {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn params(&self) -> &BTreeMap<String, ParamSchema> {
        &self.config.params
    }
    fn timeout_secs(&self) -> u64 {
        self.config.timeout_secs
    }
    // No repositories, so no image: there is no registry here (the trait's defaults).
    fn feedback_queue(&self) -> &str {
        &self.queue
    }
    fn cluster(&self) -> &str {
        LOCAL_CLUSTER
    }
    fn container(&self) -> &str {
        LOCAL_CONTAINER
    }
}

/// The local lane's key and `[lane.jobs]`. Its one feedback queue serves every job, so
/// whoever sent a readable request id is listening there.
fn allowlist(settings: &DispatcherSettings) -> Allowlist<LocalJob> {
    let jobs = settings
        .config
        .jobs
        .iter()
        .map(|(name, job)| {
            let job = LocalJob {
                config: job.clone(),
                queue: settings.feedback_queue.clone(),
            };
            (name.clone(), job)
        })
        .collect();
    Allowlist {
        keys: BTreeMap::from([(settings.key_id.clone(), settings.verifying_key)]),
        keys_configured_in: "the local lane's key in [lane.local] key".into(),
        jobs,
        jobs_configured_in: "[lane.jobs]".into(),
        lock_grace_secs: LOCAL_LOCK_GRACE_SECS,
        shared_queue: Some(settings.feedback_queue.clone()),
    }
}

struct RunningJob {
    request_id: String,
    handle: tokio::task::JoinHandle<std::io::Result<std::process::ExitStatus>>,
}

/// The admission core's ports on the lane file and `airlock run` subprocesses.
pub struct LocalPorts {
    lane: LocalLane,
    feedback_queue: String,
    airlock_binary: PathBuf,
    base_dir: PathBuf,
    running: tokio::sync::Mutex<Vec<RunningJob>>,
}

/// The local dispatcher. One per lane file is the normal setup, but several are safe: the
/// lock, the nonces and the request table are in the file.
pub struct LocalDispatcher {
    admission: Admission<Allowlist<LocalJob>, LocalPorts>,
    requests: LocalRequests,
}

impl LocalDispatcher {
    pub fn new(lane: LocalLane, settings: DispatcherSettings) -> LocalDispatcher {
        let ports = LocalPorts {
            feedback_queue: settings.feedback_queue.clone(),
            airlock_binary: settings.airlock_binary.clone(),
            base_dir: settings.config.base_dir.clone(),
            running: tokio::sync::Mutex::new(Vec::new()),
            lane: lane.clone(),
        };
        LocalDispatcher {
            admission: Admission::new(Arc::new(allowlist(&settings)), ports),
            requests: lane.requests(),
        }
    }

    /// Waits up to `wait` for one request and handles it (`None`: no request came).
    pub async fn dispatch_once(&self, wait: Duration) -> Result<Option<Decision>, DispatchError> {
        match self.requests.take(wait).await? {
            None => Ok(None),
            Some(taken) => self.handle(&taken).await.map(Some),
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
            match self.requests.take(Duration::ZERO).await {
                Ok(Some(taken)) => match self.handle(&taken).await {
                    Ok(decision) => tracing::debug!(?decision, "dispatched a request"),
                    // The request is lost, as an SNS message whose retries ran out: its
                    // follower's watchdog reports it. The next one may fare better.
                    Err(e) => tracing::error!(error = %e, "could not handle a request"),
                },
                Ok(None) => {}
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
        let jobs = std::mem::take(&mut *self.admission.ports().running.lock().await);
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
    pub async fn handle(&self, taken: &TakenRequest) -> Result<Decision, DispatchError> {
        self.admission
            .handle_envelope(&taken.envelope)
            .await
            .map_err(|e| TransportError {
                operation: e.operation,
                message: e.message,
                retryable: false,
            })
    }
}

impl From<TransportError> for PortError {
    fn from(e: TransportError) -> PortError {
        PortError {
            operation: e.operation,
            message: e.message,
        }
    }
}

/// The task id the follower hears for a runner.
fn local_task_id(pid: u32) -> String {
    format!("local pid {pid}")
}

fn runner_pid(task_id: &str) -> Option<nix::unistd::Pid> {
    task_id
        .strip_prefix("local pid ")?
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .map(nix::unistd::Pid::from_raw)
}

impl Ports for LocalPorts {
    type Job = LocalJob;

    async fn claim_nonce(&self, claim: &NonceClaim) -> Result<NonceOutcome, PortError> {
        let (nonce, request_id, kind) = (
            claim.nonce.clone(),
            claim.request_id.clone(),
            claim.kind.to_string(),
        );
        let outcome = self
            .lane
            .call("claim_nonce", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let earlier: Option<(String, String, bool)> = tx
                    .query_row(
                        "SELECT request_id, kind, EXISTS (SELECT 1 FROM decided_nonces d WHERE d.nonce = n.nonce)
                         FROM nonces n WHERE nonce = ?1",
                        [&nonce],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )
                    .optional()?;
                let outcome = match earlier {
                    Some((earlier_id, earlier_kind, decided))
                        if earlier_id == request_id && earlier_kind == kind =>
                    {
                        NonceOutcome::SameRequest { decided }
                    }
                    Some((earlier_id, _, _)) => NonceOutcome::OtherRequest {
                        request_id: earlier_id,
                    },
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
                            NonceOutcome::RequestIdReused
                        } else {
                            NonceOutcome::Fresh
                        }
                    }
                };
                tx.commit()?;
                Ok(outcome)
            })
            .await?;
        Ok(outcome)
    }

    async fn settle_nonce(&self, claim: &NonceClaim, accepted: bool) -> Result<(), PortError> {
        let (nonce, request_id) = (claim.nonce.clone(), claim.request_id.clone());
        self.lane
            .call("settle_nonce", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "INSERT OR IGNORE INTO decided_nonces (nonce) VALUES (?1)",
                    [&nonce],
                )?;
                if accepted {
                    tx.execute(
                        "INSERT OR IGNORE INTO accepted_requests (request_id, accepted_at) VALUES (?1, ?2)",
                        params![request_id, now_ms()],
                    )?;
                }
                tx.commit()
            })
            .await?;
        Ok(())
    }

    async fn was_accepted(&self, request_id: &str) -> Result<bool, PortError> {
        let request_id = request_id.to_string();
        let accepted = self
            .lane
            .call("was_accepted", move |conn| {
                conn.query_row(
                    "SELECT 1 FROM accepted_requests WHERE request_id = ?1",
                    [request_id],
                    |_| Ok(()),
                )
                .optional()
            })
            .await?;
        Ok(accepted.is_some())
    }

    /// Takes the lane for `lock.request_id`. The lease is not looked at: a local lock is held
    /// by a process (the dispatcher, then the runner), and one whose holder is gone (a crashed
    /// dispatcher or runner) is stale and taken over.
    async fn acquire_lock(&self, lock: &LaneLock, _now: i64) -> Result<LockOutcome, PortError> {
        let lock = lock.clone();
        let me = std::process::id();
        let outcome = self
            .lane
            .call("acquire_lock", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let holder = select_lock(&tx, &lock.lane)?;
                if let Some((holder, holder_pid)) = holder
                    && holder.request_id != lock.request_id
                {
                    if process_alive(holder_pid) {
                        return Ok(LockOutcome::Busy(holder));
                    }
                    tracing::warn!(stale_request = %holder.request_id, holder_pid, "took over a lane lock whose holder is gone");
                }
                tx.execute(
                    "INSERT OR REPLACE INTO lane_lock (lane, request_id, actor, since, holder_pid, runner_pid)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                    params![lock.lane, lock.request_id, lock.actor, lock.since, me],
                )?;
                tx.commit()?;
                Ok(LockOutcome::Acquired)
            })
            .await?;
        Ok(outcome)
    }

    async fn lock_of(&self, lane: &str) -> Result<Option<LaneLock>, PortError> {
        let lane = lane.to_string();
        let lock = self
            .lane
            .call("lock_of", move |conn| select_lock(conn, &lane))
            .await?;
        Ok(lock.map(|(lock, _)| lock))
    }

    /// Hands the lock to the runner: from now on it lives as long as the runner does.
    async fn attach_task(&self, lock: &LaneLock, owner: &TaskOwner) -> Result<(), PortError> {
        let Some(pid) = runner_pid(&owner.task_arn) else {
            return Err(PortError {
                operation: "attach_task",
                message: format!("{:?} is not a local runner's task id", owner.task_arn),
            });
        };
        let (lane, request_id) = (lock.lane.clone(), lock.request_id.clone());
        self.lane
            .call("attach_task", move |conn| {
                conn.execute(
                    "UPDATE lane_lock SET holder_pid = ?1, runner_pid = ?1 WHERE lane = ?2 AND request_id = ?3",
                    params![pid.as_raw(), lane, request_id],
                )
                .map(|_| ())
            })
            .await?;
        Ok(())
    }

    async fn release_lock(&self, lane: &str, request_id: &str) -> Result<(), PortError> {
        Ok(unlock_lane(&self.lane, lane, request_id).await?)
    }

    /// The local lane hears of its runners' ends from the runners themselves
    /// ([`watch_runner`]), never through task events: no task is ever looked up.
    async fn task_owner(&self, _task_arn: &str) -> Result<Option<TaskOwner>, PortError> {
        Ok(None)
    }

    /// There is no registry here, and no local job takes an image; should a gate ever ask,
    /// the image is not there and the gate refuses it.
    async fn image_scan(&self, _image: &ImageRef) -> Result<ImageScan, PortError> {
        Ok(ImageScan::default())
    }

    async fn run_task(&self, job: &LocalJob, launch: &Launch) -> Result<RunTaskOutcome, PortError> {
        let request_id = &launch.request_id;
        let destination = SqliteDestination {
            db: self.lane.path().to_path_buf(),
            queue: job.queue.clone(),
        };
        let environment = job_environment(&job.config, launch, &destination, |name| {
            std::env::var_os(name)
        });
        let mut command = tokio::process::Command::new(&self.airlock_binary);
        command
            .arg("run")
            .arg("--request-id")
            .arg(request_id)
            .arg("--feedback")
            .arg(destination.to_string())
            .arg("--deadline")
            .arg(launch.deadline_secs.to_string())
            .arg("--")
            .args(&job.config.command)
            .env_clear()
            .envs(environment)
            .current_dir(&self.base_dir)
            .stdin(Stdio::null());
        // The runner echoes the job's output to its own stdout for the task's log (CloudWatch
        // on ECS). Here that copy goes to a log file beside the lane file, not to the terminal
        // of the `airlock deploy` that started us, which prints the output from the feedback.
        match runner_log(self.lane.path(), request_id) {
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
                return Ok(RunTaskOutcome::Failed {
                    reason: format!(
                        "could not start {} for request {request_id}: {e}",
                        self.airlock_binary.display()
                    ),
                });
            }
        };
        let Some(pid) = child.id() else {
            // Only possible if the child was already reaped, which nothing here does.
            return Ok(RunTaskOutcome::Failed {
                reason: format!("the runner of request {request_id} has no process id"),
            });
        };
        tracing::debug!(request_id, job = %job.config.name, pid, "started the runner");
        let handle = tokio::spawn(watch_runner(
            self.lane.clone(),
            self.lane.queue(&self.feedback_queue),
            request_id.clone(),
            pid,
            child,
        ));
        self.running.lock().await.push(RunningJob {
            request_id: request_id.clone(),
            handle,
        });
        Ok(RunTaskOutcome::Started {
            task_arn: local_task_id(pid),
        })
    }

    /// SIGTERM to the runner, which forwards it to the job. A runner that is already gone is
    /// stopped, as ECS's StopTask of a stopped task succeeds.
    async fn stop_task(
        &self,
        _cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> Result<(), PortError> {
        let Some(pid) = runner_pid(task_arn) else {
            return Err(PortError {
                operation: "stop_task",
                message: format!("{task_arn:?} is not a local runner's task id"),
            });
        };
        match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {
                tracing::info!(
                    pid = pid.as_raw(),
                    reason,
                    "cancel: sent SIGTERM to the runner"
                );
                Ok(())
            }
            Err(e) => Err(PortError {
                operation: "stop_task",
                message: format!("SIGTERM to the runner (pid {pid}) failed: {e}"),
            }),
        }
    }

    async fn send_feedback(&self, queue: &str, body: &str) -> Result<(), PortError> {
        self.lane
            .queue(queue)
            .send_batch(&[body.to_string()])
            .await?;
        Ok(())
    }

    /// Into the log: this process's stdout is the terminal the job's output goes to.
    fn audit(&self, record: &AuditRecord) {
        if matches!(record.decision, Some(Decision::Rejected { .. })) {
            tracing::warn!(audit = %record.to_json(), "refused a request");
        } else {
            tracing::debug!(audit = %record.to_json(), "decided a request");
        }
    }
}

/// The lock of `lane` and the process holding it.
fn select_lock(
    conn: &rusqlite::Connection,
    lane: &str,
) -> rusqlite::Result<Option<(LaneLock, i64)>> {
    conn.query_row(
        "SELECT request_id, actor, since, holder_pid, runner_pid FROM lane_lock WHERE lane = ?1",
        [lane],
        |row| {
            let runner: Option<i64> = row.get(4)?;
            let lock = LaneLock {
                lane: lane.to_string(),
                request_id: row.get(0)?,
                actor: row.get(1)?,
                since: row.get(2)?,
                lease_until: i64::MAX,
                cluster: LOCAL_CLUSTER.to_string(),
                task_arn: runner
                    .and_then(|pid| u32::try_from(pid).ok())
                    .map(local_task_id),
            };
            Ok((lock, row.get(3)?))
        },
    )
    .optional()
}

async fn unlock_lane(lane: &LocalLane, name: &str, request_id: &str) -> Result<(), DispatchError> {
    let (name, request_id) = (name.to_string(), request_id.to_string());
    lane.call("unlock_lane", move |conn| {
        conn.execute(
            "DELETE FROM lane_lock WHERE lane = ?1 AND request_id = ?2",
            params![name, request_id],
        )
        .map(|_| ())
    })
    .await
}

/// The whole environment of a local job's runner (and so of the job): [`BASE_ENV`] and the
/// job's `pass_env` from the caller (`caller` reads its variables; unset ones are left out),
/// the job's `env`, then what the lane sets, as the dispatcher sets a task's: the request's
/// `AIRLOCK_*` variables and its validated parameters. `AIRLOCK_FEEDBACK` is the lane file's
/// queue. Later entries win; the lane's own come last, so configuration cannot override them.
pub fn job_environment(
    job: &JobConfig,
    launch: &Launch,
    feedback: &SqliteDestination,
    caller: impl Fn(&str) -> Option<OsString>,
) -> Vec<(OsString, OsString)> {
    let mut environment: Vec<(OsString, OsString)> = Vec::new();
    let named = BASE_ENV.iter().copied();
    for name in named.chain(job.pass_env.iter().map(String::as_str)) {
        if let Some(value) = caller(name) {
            environment.push((name.into(), value));
        }
    }
    environment.extend(
        job.env
            .iter()
            .map(|(name, value)| (name.into(), value.into())),
    );
    environment.extend(launch.environment.iter().map(|(name, value)| {
        let value = if name == "AIRLOCK_FEEDBACK" {
            feedback.to_string()
        } else {
            value.clone()
        };
        (name.into(), value.into())
    }));
    environment
}

/// Waits for a runner to exit, then releases the lane. A runner killed by a signal could not
/// send `Finished`, and one that exits [`RUNNER_UNREPORTED_EXIT`] says it could not, so the
/// follower is told with `TaskStopped` (as ECS tells it of a task that died); after any other
/// exit the runner has told it.
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
        match unlock_lane(&lane, feedback.name(), &request_id).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(request_id, error = %e, attempt, "could not release the lane lock");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let unreported = match &status {
        Ok(status) => match (status.signal(), status.code()) {
            (Some(signal), _) => Some((
                "RunnerKilled",
                format!(
                    "the runner (local pid {pid}) of request {request_id} was killed by signal {signal}"
                ),
                None,
            )),
            (None, Some(code)) if code == i32::from(RUNNER_UNREPORTED_EXIT) => Some((
                "RunnerUnreported",
                format!(
                    "the runner (local pid {pid}) of request {request_id} could not report how the job ended (exit code {code}; its log says why)"
                ),
                Some(code),
            )),
            _ => None,
        },
        Err(_) => None,
    };
    if let Some((stop_code, reason, exit_code)) = unreported {
        let body = FeedbackBody::TaskStopped {
            stop_code: stop_code.into(),
            reason,
            exit_code,
        };
        if let Err(e) = feedback
            .send_batch(&[Feedback::new(&request_id, 0, body).to_json()])
            .await
        {
            tracing::error!(request_id, error = %e, "could not tell the follower how the runner ended");
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
    fn runner_task_ids_round_trip_and_nothing_else_parses() {
        assert_eq!(runner_pid(&local_task_id(42)).map(|p| p.as_raw()), Some(42));
        for bad in [
            "local pid 0",
            "local pid -1",
            "local pid x",
            "arn:aws:ecs:task/1",
            "",
        ] {
            assert_eq!(runner_pid(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_job_gets_the_base_its_own_variables_and_the_lanes_nothing_else() {
        let text = "[lane.jobs.tf]\ncommand = [\"terraform\"]\nenv = { TF_IN_AUTOMATION = \"1\", PATH = \"/opt/tf/bin\" }\npass_env = [\"KUBECONFIG\", \"UNSET_ONE\"]\n[lane.jobs.tf.params.VERSION]\n";
        let config =
            LaneConfig::parse(text, "airlock.toml", std::path::Path::new("/srv")).expect("valid");
        let job = config.job("tf").expect("job");
        let launch = Launch {
            request_id: "r-1".into(),
            job: "tf".into(),
            container: LOCAL_CONTAINER.into(),
            environment: vec![
                ("AIRLOCK_REQUEST_ID".into(), "r-1".into()),
                ("AIRLOCK_FEEDBACK".into(), "feedback".into()),
                ("VERSION".into(), "v1".into()),
            ],
            deadline_secs: 60,
            client_token: String::new(),
            started_by: String::new(),
            tags: Vec::new(),
        };
        let caller = BTreeMap::from([
            ("PATH", "/usr/bin"),
            ("HOME", "/home/ci"),
            ("KUBECONFIG", "/home/ci/.kube/config"),
            ("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests"),
            ("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE"),
            ("VERSION", "from the caller"),
        ]);
        let feedback = SqliteDestination {
            db: PathBuf::from("/srv/.airlock/lane.db"),
            queue: "feedback".into(),
        };
        let environment = job_environment(job, &launch, &feedback, |name| {
            caller.get(name).map(OsString::from)
        });
        // As a process would see it: the last of each name wins.
        let seen: BTreeMap<String, String> = environment
            .into_iter()
            .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
            .collect();
        let expected: BTreeMap<String, String> = [
            ("PATH", "/opt/tf/bin"),
            ("HOME", "/home/ci"),
            ("KUBECONFIG", "/home/ci/.kube/config"),
            ("TF_IN_AUTOMATION", "1"),
            ("AIRLOCK_REQUEST_ID", "r-1"),
            (
                "AIRLOCK_FEEDBACK",
                "sqlite:/srv/.airlock/lane.db?queue=feedback",
            ),
            ("VERSION", "v1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(seen, expected);
    }
}
