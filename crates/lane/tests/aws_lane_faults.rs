//! The lane's fault suite through the AWS path: a real job run by the runner, its feedback
//! sent with `SqsFeedbackSink` and followed with `SqsFeedbackSource`, each through its own
//! FaultProxy in front of moto. For each fault the run must end with every line printed once
//! and in the order the runner read it, the job's own exit code, and an empty feedback queue.
//!
//! The random plans take their base seed from `AIRLOCK_FAULT_SEED`; without it a seed is
//! drawn (fixed when `CI` is set, so CI runs are repeatable) and printed, so a failure can be
//! replayed with `AIRLOCK_FAULT_SEED=<seed>`.
#![cfg(feature = "aws")]

use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_lane::aws::{SqsFeedbackSink, SqsFeedbackSource};
use airlock_lane::follow::{FollowOptions, FollowOutcome, follow};
use airlock_lane::runner::{self, Echo, RunOptions};
use airlock_lane::transport::FeedbackSink;
use airlock_protocol::{Feedback, FeedbackBody, Stream};
use airlock_testsupport::{
    Fault, FaultPlan, FaultProxy, FaultRates, MotoServer, fixtures, sdk_config_for,
};
use aws_config::retry::RetryConfig;

/// 200 lines to stdout and 200 to stderr, alternating, `pause` apart, then exit 3.
fn alternating_job(pause: &str) -> Vec<OsString> {
    let script = format!(
        "i=1; while [ $i -le 200 ]; do echo \"out $i\"; {pause} echo \"err $i\" >&2; {pause} \
         i=$((i+1)); done; exit 3"
    );
    ["sh", "-c", script.as_str()]
        .iter()
        .map(OsString::from)
        .collect()
}

const JOB_EXIT: i32 = 3;

/// What the runner read, in its order: the reference the follower's output must match.
#[derive(Clone, Default)]
struct RecordingEcho(Arc<Mutex<Vec<u8>>>);

impl Echo for RecordingEcho {
    fn echo(&mut self, _stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(())
    }
}

/// Both of the follower's streams into one log, as a CI runner merges `2>&1`: each writer
/// appends when it is flushed, so the log shows the order the follower put things out in.
#[derive(Clone, Default)]
struct MergedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for MergedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The SDK's standard retries, short, as the runner and the follower's deletes use them.
fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(4)
        .with_max_backoff(Duration::from_millis(300))
}

/// How one run is set up.
struct Setup {
    /// Faults for the runner's side (SendMessageBatch).
    runner_plan: FaultPlan,
    /// Faults for the follower's side, on these of its operations.
    follower_plan: FaultPlan,
    follower_operations: &'static [&'static str],
    /// The queue's own visibility timeout.
    queue_visibility: Duration,
    /// The follower's receive visibility timeout; `None` keeps the follower's default.
    follower_visibility: Option<Duration>,
    job: Vec<OsString>,
    /// Freeze both endpoints this long, this far into the run.
    freeze: Option<(Duration, Duration)>,
    /// Send ECS's TaskStopped after the runner exits, as the dispatcher does when it cannot
    /// tell that the runner reported the end itself.
    task_stopped: bool,
    follow_options: FollowOptions,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            runner_plan: FaultPlan::pass(),
            follower_plan: FaultPlan::pass(),
            follower_operations: &["ReceiveMessage", "DeleteMessageBatch"],
            queue_visibility: Duration::from_secs(30),
            follower_visibility: Some(Duration::from_secs(2)),
            job: alternating_job(""),
            freeze: None,
            task_stopped: false,
            follow_options: FollowOptions {
                watchdog: Duration::from_secs(60),
                ..FollowOptions::default()
            },
        }
    }
}

/// How one run went.
struct Ran {
    outcome: FollowOutcome,
    /// The follower's merged output.
    printed: Vec<u8>,
    /// What the runner read, in order.
    read: Vec<u8>,
    left_in_queue: usize,
    /// When the queue is not empty: what is left, and the follower's calls.
    leftovers: Vec<String>,
    runner_proxy: FaultProxy,
    follower_proxy: FaultProxy,
    /// From the runner's end to the follower's.
    tail: Duration,
    /// From the start to the follower's end.
    total: Duration,
}

static QUEUE_NUMBER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn run_once(moto: &MotoServer, setup: Setup) -> Ran {
    let number = QUEUE_NUMBER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let url = fixtures::queue_with_visibility(
        &moto.sdk_config(),
        &format!("lane-faults-{number}"),
        setup.queue_visibility,
    )
    .await
    .expect("create queue");
    let runner_proxy = FaultProxy::start(
        &moto.endpoint(),
        setup.runner_plan.only_for(["SendMessageBatch"]),
    )
    .expect("proxy");
    let follower_proxy = FaultProxy::start(
        &moto.endpoint(),
        setup
            .follower_plan
            .only_for(setup.follower_operations.iter().copied()),
    )
    .expect("proxy");
    let sink = SqsFeedbackSink::new(&sdk_config_for(&runner_proxy.endpoint(), retry()), &url);
    let mut source =
        SqsFeedbackSource::new(&sdk_config_for(&follower_proxy.endpoint(), retry()), &url);
    if let Some(visibility) = setup.follower_visibility {
        source = source.with_visibility_timeout(visibility);
    }
    let request_id = format!("0d4e6f70-8a9b-4c0d-9e1f-{number:012}");

    let log = MergedLog::default();
    let echo = RecordingEcho::default();
    let started = Instant::now();
    let runner_ended = Arc::new(Mutex::new(None::<Instant>));
    let follower = follow(
        &source,
        &request_id,
        setup.follow_options,
        std::io::BufWriter::new(log.clone()),
        std::io::BufWriter::new(log.clone()),
    );
    let runner = async {
        let mut echo = echo.clone();
        let outcome = runner::run(
            RunOptions::new(request_id.clone(), setup.job),
            &sink,
            &mut echo,
        )
        .await
        .expect("the runner ran the job");
        *lock(&runner_ended) = Some(Instant::now());
        assert_eq!(outcome.lost, Vec::<u64>::new(), "the runner lost output");
        if setup.task_stopped {
            let stopped = Feedback::new(
                &request_id,
                0,
                FeedbackBody::TaskStopped {
                    stop_code: "EssentialContainerExited".into(),
                    reason: "Essential container in task exited".into(),
                    exit_code: Some(JOB_EXIT),
                },
            );
            SqsFeedbackSink::new(&moto.sdk_config(), &url)
                .send_batch(&[stopped.to_json()])
                .await
                .expect("send TaskStopped");
        }
    };
    let freezer = async {
        if let Some((after, duration)) = setup.freeze {
            tokio::time::sleep(after).await;
            runner_proxy.freeze_for(duration);
            follower_proxy.freeze_for(duration);
        }
    };
    let (outcome, (), ()) = tokio::time::timeout(Duration::from_secs(180), async {
        tokio::join!(follower, runner, freezer)
    })
    .await
    .expect("the run ended within 3 minutes");
    let ended = Instant::now();
    let tail = lock(&runner_ended).map_or(Duration::ZERO, |at| ended - at);

    let left_in_queue = fixtures::messages_in(&moto.sdk_config(), &url)
        .await
        .expect("count the queue's messages");
    let mut leftovers = Vec::new();
    if left_in_queue > 0 {
        // What is left, for the failure message: wait out any hiding, then look.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let seen = airlock_aws::sqs(&moto.sdk_config())
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive leftovers");
        for message in seen.messages() {
            let body = message.body().unwrap_or_default();
            leftovers.push(match Feedback::from_json(body) {
                Ok(feedback) => format!(
                    "seq {} {:?}",
                    feedback.seq,
                    std::mem::discriminant(&feedback.body)
                ),
                Err(_) => body.chars().take(80).collect(),
            });
        }
        leftovers.push(format!(
            "follower's calls: {:?}",
            follower_proxy
                .requests()
                .iter()
                .map(|r| format!("{}:{:?}", r.operation, r.fault))
                .collect::<Vec<_>>()
        ));
    }
    let printed = lock(&log.0).clone();
    let read = lock(&echo.0).clone();
    Ran {
        leftovers,
        outcome,
        printed,
        read,
        left_in_queue,
        runner_proxy,
        follower_proxy,
        tail,
        total: ended - started,
    }
}

/// The suite's promise, checked on one run; `what` names the run in a failure.
fn assert_lossless(ran: &Ran, what: &str) {
    assert_eq!(
        ran.outcome.exit_code(),
        JOB_EXIT,
        "{what}: outcome {:?}",
        ran.outcome
    );
    let printed = String::from_utf8_lossy(&ran.printed);
    let job_lines: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("out ") || l.starts_with("err "))
        .collect();
    let read = String::from_utf8_lossy(&ran.read);
    let read_lines: Vec<&str> = read.lines().collect();
    assert_eq!(read_lines.len(), 400, "{what}: the runner read every line");
    assert!(
        job_lines == read_lines,
        "{what}: the follower printed {} job lines, not the runner's 400 in its order; first difference at line {:?}",
        job_lines.len(),
        job_lines.iter().zip(&read_lines).position(|(a, b)| a != b)
    );
    for n in 1..=200 {
        for stream in ["out", "err"] {
            let line = format!("{stream} {n}");
            assert_eq!(
                job_lines.iter().filter(|l| **l == line).count(),
                1,
                "{what}: {line:?} printed once"
            );
        }
    }
    assert_eq!(
        ran.left_in_queue, 0,
        "{what}: the feedback queue is empty; left: {:?}",
        ran.leftovers
    );
}

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("{e}"))
}

fn faults_of(proxy: &FaultProxy, operation: &str) -> Vec<Fault> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.operation == operation && r.fault != Fault::Pass)
        .map(|r| r.fault)
        .collect()
}

/// Measured case 1 of issue 16, in the follower's production settings: receives whose
/// answers were lost took runner messages, which stayed hidden for the queue's 30 s
/// visibility timeout, and ECS's TaskStopped came before they returned. The old follower
/// (SDK-retried receives, the queue's visibility timeout, a 10 s grace) gave up: exit 255
/// and "missing output seqs". Now the receive hides messages for 10 s, the follower sees the
/// lost answer and waits for what it hid.
#[tokio::test]
async fn lost_receive_answers_before_task_stopped_do_not_turn_success_into_failure() {
    let moto = moto();
    let mut setup = Setup::new();
    setup.job = alternating_job("sleep 0.01;");
    setup.follower_visibility = None;
    setup.task_stopped = true;
    setup.follower_operations = &["ReceiveMessage"];
    setup.follower_plan = FaultPlan::scripted([
        Fault::Pass,
        Fault::DropResponse,
        Fault::Pass,
        Fault::DropResponse,
        Fault::Pass,
        Fault::DropResponse,
    ]);
    let ran = run_once(&moto, setup).await;
    let dropped = faults_of(&ran.follower_proxy, "ReceiveMessage");
    assert_eq!(dropped.len(), 3, "three receive answers dropped");
    assert_lossless(&ran, "lost receive answers and TaskStopped");
}

/// The endpoint frozen for 15 s, 2 s into a job that prints for about 4 s (both sides
/// paused, as SIGSTOP of the server did). The added delay is printed for bench/lane.sh.
#[tokio::test]
async fn a_fifteen_second_freeze_loses_nothing() {
    let moto = moto();
    let mut baseline = Setup::new();
    baseline.job = alternating_job("sleep 0.01;");
    let calm = run_once(&moto, baseline).await;
    assert_lossless(&calm, "no fault");

    let mut setup = Setup::new();
    setup.job = alternating_job("sleep 0.01;");
    setup.follower_visibility = None;
    setup.freeze = Some((Duration::from_secs(2), Duration::from_secs(15)));
    let ran = run_once(&moto, setup).await;
    assert_lossless(&ran, "15 s freeze");
    let added = ran.total.saturating_sub(calm.total);
    println!(
        "freeze 15 s: run {:.1} s against {:.1} s without faults (added {:.1} s); follower ended {:.1} s after the runner",
        ran.total.as_secs_f64(),
        calm.total.as_secs_f64(),
        added.as_secs_f64(),
        ran.tail.as_secs_f64()
    );
    assert!(
        added >= Duration::from_secs(10),
        "the freeze held the run up: added {added:?}"
    );
}

#[tokio::test]
async fn dropped_receive_answers_lose_nothing() {
    let moto = moto();
    let mut setup = Setup::new();
    setup.job = alternating_job("sleep 0.01;");
    setup.follower_plan = FaultPlan::scripted(
        [Fault::Pass, Fault::DropResponse]
            .into_iter()
            .cycle()
            .take(12),
    );
    setup.follower_operations = &["ReceiveMessage"];
    let ran = run_once(&moto, setup).await;
    assert_eq!(faults_of(&ran.follower_proxy, "ReceiveMessage").len(), 6);
    assert_lossless(&ran, "dropped receive answers");
}

/// Every send and delete done twice by the server (the side effect happens twice): each
/// message is in the queue twice.
#[tokio::test]
async fn duplicated_answers_print_each_line_once() {
    let moto = moto();
    let mut setup = Setup::new();
    setup.job = alternating_job("sleep 0.01;");
    setup.runner_plan = FaultPlan::scripted(std::iter::repeat_n(Fault::Duplicate, 200));
    setup.follower_plan = FaultPlan::scripted(std::iter::repeat_n(Fault::Duplicate, 50));
    setup.follower_operations = &["DeleteMessageBatch"];
    let ran = run_once(&moto, setup).await;
    assert!(!faults_of(&ran.runner_proxy, "SendMessageBatch").is_empty());
    assert_lossless(&ran, "duplicated answers");
}

#[tokio::test]
async fn throttling_bursts_lose_nothing() {
    let moto = moto();
    let mut setup = Setup::new();
    setup.job = alternating_job("sleep 0.01;");
    let burst = |n| std::iter::repeat_n(Fault::Throttle, n);
    setup.runner_plan = FaultPlan::scripted(
        std::iter::once(Fault::Pass)
            .chain(burst(6))
            .chain([Fault::Pass, Fault::Pass])
            .chain(burst(6)),
    );
    setup.follower_plan = FaultPlan::scripted(
        std::iter::once(Fault::Pass)
            .chain(burst(8))
            .chain([Fault::Pass])
            .chain(burst(8)),
    );
    let ran = run_once(&moto, setup).await;
    assert_eq!(faults_of(&ran.runner_proxy, "SendMessageBatch").len(), 12);
    assert_eq!(
        faults_of(&ran.follower_proxy, "ReceiveMessage").len()
            + faults_of(&ran.follower_proxy, "DeleteMessageBatch").len(),
        16
    );
    assert_lossless(&ran, "throttling bursts");
}

#[tokio::test]
async fn server_errors_on_send_message_batch_lose_nothing() {
    let moto = moto();
    let mut setup = Setup::new();
    setup.job = alternating_job("sleep 0.01;");
    setup.runner_plan = FaultPlan::random(
        5,
        FaultRates {
            server_error: 0.4,
            ..FaultRates::default()
        },
    );
    let ran = run_once(&moto, setup).await;
    assert!(faults_of(&ran.runner_proxy, "SendMessageBatch").len() >= 3);
    assert_lossless(&ran, "5xx on SendMessageBatch");
}

/// The base seed of the random plans: `AIRLOCK_FAULT_SEED`, else fixed under CI, else drawn.
fn base_seed() -> u64 {
    if let Some(seed) = std::env::var("AIRLOCK_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    if std::env::var_os("CI").is_some() {
        return 20_261_204;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// 50 runs, each with faults drawn from its own seed on both sides, four at a time. The
/// follower's receives get every fault but `Duplicate`: a receive served twice whose first
/// answer is thrown away is what the SDK's own retry did, which the follower now turns off;
/// it cannot be told apart from a clean answer, so the follower cannot promise to take the
/// copies it hid out of the queue (a later follower deletes them as orphans).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_random_fault_plans_lose_nothing() {
    let seed = base_seed();
    println!("fault plans: AIRLOCK_FAULT_SEED={seed}");
    let moto = Arc::new(moto());
    let mut runs = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    for run in 0..50u64 {
        if runs.len() >= 4
            && let Some(done) = runs.join_next().await
        {
            record(done, &names, &mut failures, &mut slowest);
        }
        let moto = moto.clone();
        let run_seed = seed.wrapping_add(run);
        let what = format!("run {run} (AIRLOCK_FAULT_SEED={seed}, plan seed {run_seed})");
        let name = what.clone();
        let handle = runs.spawn(async move {
            let mut setup = Setup::new();
            setup.runner_plan = FaultPlan::random(
                run_seed,
                FaultRates {
                    drop_connection: 0.05,
                    drop_response: 0.05,
                    server_error: 0.05,
                    throttle: 0.05,
                    duplicate: 0.05,
                    delay: 0.1,
                    max_delay: Duration::from_millis(1500),
                },
            );
            setup.follower_plan = FaultPlan::random(
                run_seed ^ 0x5eed,
                FaultRates {
                    drop_connection: 0.05,
                    drop_response: 0.05,
                    server_error: 0.05,
                    throttle: 0.05,
                    duplicate: 0.0,
                    delay: 0.1,
                    max_delay: Duration::from_millis(1500),
                },
            );
            let ran = run_once(&moto, setup).await;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                assert_lossless(&ran, &what)
            }));
            (what, ran.total, result.err().map(panic_text))
        });
        names.insert(handle.id(), name);
    }
    while let Some(done) = runs.join_next().await {
        record(done, &names, &mut failures, &mut slowest);
    }
    println!("fault plans: slowest run {:.1} s", slowest.as_secs_f64());
    assert!(failures.is_empty(), "failed runs:\n{}", failures.join("\n"));
}

type RunResult = (String, Duration, Option<String>);

fn record(
    done: Result<RunResult, tokio::task::JoinError>,
    names: &std::collections::HashMap<tokio::task::Id, String>,
    failures: &mut Vec<String>,
    slowest: &mut Duration,
) {
    match done {
        Ok((_, total, None)) => *slowest = (*slowest).max(total),
        Ok((what, _, Some(text))) => failures.push(format!("{what}: {text}")),
        Err(error) => {
            let what = names.get(&error.id()).map_or("a run", String::as_str);
            let text = if error.is_panic() {
                panic_text(error.into_panic())
            } else {
                error.to_string()
            };
            failures.push(format!("{what}: {text}"));
        }
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}
