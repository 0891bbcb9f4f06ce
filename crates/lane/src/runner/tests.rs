//! Runner tests with real processes and an in-memory sink that can inject failures.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, Stream};
use tokio::time::Instant;

use super::*;
use crate::transport::{EntryOutcome, FeedbackSink, TransportError};

/// The runner under test packs with the protocol's real packer.
type TestPacker = airlock_protocol::encode::OutputPacker;

/// What the fake transport does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    FailRetryable,
    FailPermanent,
    /// Keeps the message but answers as if the entry failed (a lost response): the runner
    /// resends, the receiver sees a duplicate.
    AcceptButFail,
}

type CallFault = Box<dyn Fn(usize) -> Option<TransportError> + Send + Sync>;
type EntryFault = Box<dyn Fn(usize, &str) -> Verdict + Send + Sync>;

/// An in-memory feedback queue.
struct MemorySink {
    received: Mutex<Vec<(Instant, String)>>,
    calls: AtomicUsize,
    call_fault: CallFault,
    entry_fault: EntryFault,
    limit: usize,
    delay: Duration,
}

impl MemorySink {
    fn new() -> MemorySink {
        MemorySink {
            received: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            call_fault: Box::new(|_| None),
            entry_fault: Box::new(|_, _| Verdict::Accept),
            limit: encode::DEFAULT_MESSAGE_LIMIT,
            delay: Duration::ZERO,
        }
    }
    fn bodies(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("sink lock")
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

impl FeedbackSink for MemorySink {
    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<EntryOutcome>, TransportError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            !bodies.is_empty() && bodies.len() <= 10,
            "batch of {}",
            bodies.len()
        );
        let total: usize = bodies.iter().map(String::len).sum();
        assert!(total <= self.limit, "batch of {total} bytes");
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Some(e) = (self.call_fault)(call) {
            return Err(e);
        }
        let mut outcomes = Vec::new();
        for body in bodies {
            let verdict = (self.entry_fault)(call, body);
            if matches!(verdict, Verdict::Accept | Verdict::AcceptButFail) {
                self.received
                    .lock()
                    .expect("sink lock")
                    .push((Instant::now(), body.clone()));
            }
            outcomes.push(match verdict {
                Verdict::Accept => EntryOutcome::Sent,
                Verdict::FailRetryable | Verdict::AcceptButFail => EntryOutcome::Failed {
                    retryable: true,
                    reason: "injected".into(),
                },
                Verdict::FailPermanent => EntryOutcome::Failed {
                    retryable: false,
                    reason: "injected: access denied".into(),
                },
            });
        }
        Ok(outcomes)
    }
}

/// The feedback as a follower would reassemble it.
#[derive(Debug, Default)]
struct Transcript {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    by_seq: BTreeMap<u64, Feedback>,
    finished: Option<(u64, ExitStatus, bool, Vec<u64>)>,
    heartbeats: Vec<(u64, u64)>,
    /// Chunk timestamps in seq order.
    times: Vec<u64>,
}

fn transcript(sink: &MemorySink) -> Transcript {
    let mut t = Transcript::default();
    for body in sink.bodies() {
        assert!(body.len() <= sink.limit, "message of {} bytes", body.len());
        let message = Feedback::from_json(&body).expect("feedback parses");
        assert_eq!(message.request_id, "req-test");
        if let Some(earlier) = t.by_seq.get(&message.seq) {
            assert_eq!(
                earlier, &message,
                "seq {} differs between copies",
                message.seq
            );
        }
        t.by_seq.insert(message.seq, message);
    }
    for (&seq, message) in &t.by_seq {
        match &message.body {
            FeedbackBody::Output { chunks } => {
                for chunk in chunks {
                    t.times.push(chunk.t);
                    match chunk.stream {
                        Stream::Stdout => t.stdout.extend_from_slice(&chunk.bytes.0),
                        Stream::Stderr => t.stderr.extend_from_slice(&chunk.bytes.0),
                    }
                }
            }
            FeedbackBody::Heartbeat { last_output_seq } => {
                t.heartbeats.push((seq, *last_output_seq));
            }
            FeedbackBody::Finished {
                exit,
                timed_out,
                lost,
                ..
            } => t.finished = Some((seq, *exit, *timed_out, lost.clone())),
            other => panic!("unexpected runner message {other:?}"),
        }
    }
    t
}

fn options(script: &str) -> RunOptions {
    let mut options = RunOptions::new("req-test", vec!["sh".into(), "-c".into(), script.into()]);
    options.batch_window = Duration::from_millis(20);
    options.grace = Duration::from_millis(500);
    options.delivery_timeout = Duration::from_secs(3);
    options
}

struct Ran {
    outcome: RunOutcome,
    echo_out: Vec<u8>,
    echo_err: Vec<u8>,
    transcript: Transcript,
    elapsed: Duration,
}

async fn run_test(options: RunOptions, sink: &MemorySink) -> Ran {
    let mut echo = (Vec::new(), Vec::new());
    let started = Instant::now();
    let outcome = run_with::<TestPacker, _, _>(options, sink, &mut echo)
        .await
        .expect("run");
    let elapsed = started.elapsed();
    let transcript = transcript(sink);
    // Everything up to Finished arrived (unless reported lost), and Finished is last.
    if outcome.finished_delivered {
        let (finished_seq, exit, timed_out, lost) =
            transcript.finished.clone().expect("Finished delivered");
        assert_eq!(finished_seq, outcome.finished_seq);
        assert_eq!(exit, outcome.exit);
        assert_eq!(timed_out, outcome.timed_out);
        assert_eq!(lost, outcome.lost);
        let expected: Vec<u64> = (1..=finished_seq).filter(|s| !lost.contains(s)).collect();
        let got: Vec<u64> = transcript.by_seq.keys().copied().collect();
        assert_eq!(got, expected, "seqs received");
    }
    Ran {
        outcome,
        echo_out: echo.0,
        echo_err: echo.1,
        transcript,
        elapsed,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_lines_arrive_complete_and_in_order() {
    let sink = MemorySink::new();
    let ran = run_test(options("seq 1 100000"), &sink).await;
    let expected: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert_eq!(ran.outcome.exit, ExitStatus::Code(0));
    assert!(
        ran.transcript.stdout == expected.as_bytes(),
        "stdout differs"
    );
    assert!(ran.echo_out == expected.as_bytes(), "echo differs");
    assert!(ran.transcript.stderr.is_empty());
    assert!(ran.outcome.lost.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_streams_are_each_byte_identical() {
    let sink = MemorySink::new();
    let script = "i=0; while [ $i -lt 3000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done";
    let ran = run_test(options(script), &sink).await;
    let out: String = (0..3000).map(|i| format!("out{i}\n")).collect();
    let err: String = (0..3000).map(|i| format!("err{i}\n")).collect();
    assert!(ran.transcript.stdout == out.as_bytes());
    assert!(ran.transcript.stderr == err.as_bytes());
    assert!(ran.echo_out == out.as_bytes() && ran.echo_err == err.as_bytes());
    // One merged channel: chunk times follow seq order.
    assert!(ran.transcript.times.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn invalid_utf8_nul_cr_and_ansi_pass_unchanged() {
    let sink = MemorySink::new();
    let script = r"printf '\377\376ok\000nul\033[31mred\033[0m\r\nprogress 50%%\rprogress 100%%\n'; printf '\033[1mbold\n\200' >&2";
    let ran = run_test(options(script), &sink).await;
    assert_eq!(
        ran.transcript.stdout,
        b"\xff\xfeok\x00nul\x1b[31mred\x1b[0m\r\nprogress 50%\rprogress 100%\n"
    );
    assert_eq!(ran.transcript.stderr, b"\x1b[1mbold\n\x80");
    assert_eq!(ran.echo_err, b"\x1b[1mbold\n\x80");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_mebibyte_line_arrives_whole_in_limited_messages() {
    let sink = MemorySink::new();
    let ran = run_test(
        options("head -c 3145728 /dev/zero | tr '\\0' x; echo end"),
        &sink,
    )
    .await;
    let mut expected = vec![b'x'; 3 * 1024 * 1024];
    expected.extend_from_slice(b"end\n");
    assert!(ran.transcript.stdout == expected);
    assert!(
        ran.transcript.by_seq.len() > 3,
        "split into several messages"
    );
}

#[tokio::test]
async fn a_partial_line_is_sent_while_the_job_still_runs() {
    let sink = MemorySink::new();
    let started = Instant::now();
    let ran = run_test(options("printf 'Password: '; sleep 1.5; echo done"), &sink).await;
    assert_eq!(ran.transcript.stdout, b"Password: done\n");
    let received = sink.received.lock().expect("sink lock").clone();
    let (prompt_at, _) = received
        .iter()
        .find(|(_, body)| body.contains("Password: "))
        .expect("prompt sent");
    assert!(
        prompt_at.duration_since(started) < Duration::from_millis(1000),
        "prompt arrived after {:?}",
        prompt_at.duration_since(started)
    );
    assert!(ran.elapsed >= Duration::from_millis(1500));
}

#[tokio::test]
async fn exit_codes_are_reported() {
    for code in [0, 1, 42] {
        let sink = MemorySink::new();
        let ran = run_test(options(&format!("echo hi; exit {code}")), &sink).await;
        assert_eq!(ran.outcome.exit, ExitStatus::Code(code));
        assert_eq!(ran.outcome.exit.shell_code(), code);
        assert!(!ran.outcome.timed_out);
        assert_eq!(
            ran.transcript.finished.expect("finished").1,
            ExitStatus::Code(code)
        );
    }
}

#[tokio::test]
async fn death_by_sigkill_is_signal_9() {
    let sink = MemorySink::new();
    let ran = run_test(options("echo before; kill -9 $$; echo after"), &sink).await;
    assert_eq!(ran.outcome.exit, ExitStatus::Signal(9));
    assert_eq!(ran.outcome.exit.shell_code(), 137);
    assert_eq!(ran.transcript.stdout, b"before\n");
}

#[tokio::test]
async fn deadline_sends_term_then_kill_to_a_job_that_ignores_term() {
    let sink = MemorySink::new();
    let mut options = options("trap '' TERM; echo started; sleep 30");
    options.deadline = Some(Duration::from_millis(300));
    options.grace = Duration::from_millis(500);
    let ran = run_test(options, &sink).await;
    assert!(ran.outcome.timed_out);
    assert_eq!(ran.outcome.exit, ExitStatus::Signal(9));
    assert!(
        ran.elapsed >= Duration::from_millis(800),
        "{:?}",
        ran.elapsed
    );
    assert!(
        ran.elapsed < Duration::from_millis(2500),
        "{:?}",
        ran.elapsed
    );
    let finished = ran.transcript.finished.expect("finished");
    assert!(finished.2, "Finished.timed_out");
}

#[tokio::test]
async fn deadline_term_stops_a_job_that_honours_it_before_the_grace_period() {
    let sink = MemorySink::new();
    let mut options = options("sleep 30");
    options.deadline = Some(Duration::from_millis(200));
    options.grace = Duration::from_secs(5);
    let ran = run_test(options, &sink).await;
    assert!(ran.outcome.timed_out);
    assert_eq!(ran.outcome.exit, ExitStatus::Signal(15));
    assert!(ran.elapsed < Duration::from_secs(2), "{:?}", ran.elapsed);
}

fn is_gone(pid: i32) -> bool {
    // A killed orphan may linger as a zombie until init reaps it: that counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[tokio::test]
async fn the_deadline_kills_grandchildren_in_the_group() {
    let sink = MemorySink::new();
    let mut options = options("sleep 30 & echo $!; wait");
    options.deadline = Some(Duration::from_millis(300));
    let ran = run_test(options, &sink).await;
    let pid: i32 = String::from_utf8_lossy(&ran.transcript.stdout)
        .trim()
        .parse()
        .expect("grandchild pid");
    assert!(ran.outcome.timed_out);
    assert!(ran.elapsed < Duration::from_secs(2), "{:?}", ran.elapsed);
    let mut gone = false;
    for _ in 0..50 {
        if is_gone(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "grandchild {pid} still alive");
}

#[tokio::test]
async fn leftover_processes_holding_the_pipes_do_not_hang_the_runner() {
    let sink = MemorySink::new();
    // The job exits at once, but a background process keeps stdout open.
    let mut options = options("echo main-done; (sleep 30; echo never) &");
    options.grace = Duration::from_millis(300);
    let ran = run_test(options, &sink).await;
    assert_eq!(ran.outcome.exit, ExitStatus::Code(0));
    assert_eq!(ran.transcript.stdout, b"main-done\n");
    assert!(ran.elapsed < Duration::from_secs(3), "{:?}", ran.elapsed);
}

#[tokio::test]
async fn sigterm_to_the_runner_is_forwarded_to_the_job() {
    let sink = MemorySink::new();
    let mut options = options("trap 'echo got-term; exit 7' TERM; echo ready; sleep 30 & wait");
    options.forward_signals = true;
    options.grace = Duration::from_secs(5);
    let run = run_test(options, &sink);
    let signal = async {
        for _ in 0..200 {
            if sink.bodies().iter().any(|b| b.contains("ready")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGTERM).expect("signal self");
    };
    let (ran, ()) = tokio::join!(run, signal);
    assert_eq!(ran.outcome.exit, ExitStatus::Code(7));
    assert!(!ran.outcome.timed_out);
    assert_eq!(ran.transcript.stdout, b"ready\ngot-term\n");
    assert!(ran.elapsed < Duration::from_secs(3), "{:?}", ran.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_failures_lose_nothing_and_double_nothing() {
    let mut sink = MemorySink::new();
    // The first calls fail whole (throttling), then every entry fails once in a while or
    // gets through with a lost answer (a duplicate).
    sink.call_fault = Box::new(|call| {
        (call < 3 || call % 7 == 0).then(|| TransportError {
            operation: "SendMessageBatch",
            message: "injected throttling".into(),
            retryable: true,
        })
    });
    let attempts: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    sink.entry_fault = Box::new(move |_, body| {
        let mut attempts = attempts.lock().expect("attempts");
        let n = attempts.entry(body.to_string()).or_default();
        *n += 1;
        match (body.len() % 3, *n) {
            (0, 1) => Verdict::FailRetryable,
            (1, 1) => Verdict::AcceptButFail,
            _ => Verdict::Accept,
        }
    });
    let script = "i=0; while [ $i -lt 5000 ]; do echo line$i; [ $((i % 500)) = 0 ] && sleep 0.05; i=$((i+1)); done";
    let ran = run_test(options(script), &sink).await;
    let expected: String = (0..5000).map(|i| format!("line{i}\n")).collect();
    assert!(ran.transcript.stdout == expected.as_bytes());
    assert!(ran.outcome.lost.is_empty());
    assert!(ran.outcome.finished_delivered);
    let bodies = sink.bodies();
    let distinct: std::collections::BTreeSet<&String> = bodies.iter().collect();
    assert!(
        bodies.len() > distinct.len(),
        "the test produced duplicates to dedupe"
    );
}

#[tokio::test]
async fn a_slow_transport_slows_the_job_but_loses_nothing() {
    let mut sink = MemorySink::new();
    sink.delay = Duration::from_millis(30);
    let mut options = options("head -c 4000000 /dev/zero | tr '\\0' y | fold -w 99");
    options.message_limit = 64 * 1024;
    sink.limit = 64 * 1024;
    let ran = run_test(options, &sink).await;
    let expected_len = 4_000_000 + 4_000_000 / 99;
    assert_eq!(ran.transcript.stdout.len(), expected_len);
    assert!(
        ran.transcript
            .stdout
            .iter()
            .all(|&b| b == b'y' || b == b'\n')
    );
    assert!(ran.outcome.lost.is_empty());
}

#[tokio::test]
async fn a_transport_that_refuses_output_reports_exactly_the_lost_seqs() {
    let mut sink = MemorySink::new();
    sink.entry_fault = Box::new(|_, body| {
        if body.contains("\"type\":\"finished\"") {
            Verdict::Accept
        } else {
            Verdict::FailPermanent
        }
    });
    let mut options = options("echo one; sleep 0.1; echo two; sleep 0.1; echo three >&2");
    options.delivery_timeout = Duration::from_millis(700);
    let ran = run_test(options, &sink).await;
    assert!(ran.outcome.finished_delivered);
    let (finished_seq, _, _, lost) = ran.transcript.finished.expect("finished");
    assert!(finished_seq >= 3, "three separate outputs: {finished_seq}");
    assert_eq!(lost, (1..finished_seq).collect::<Vec<_>>());
    // The echo still has everything.
    assert_eq!(ran.echo_out, b"one\ntwo\n");
    assert_eq!(ran.echo_err, b"three\n");
}

#[tokio::test]
async fn secrets_are_masked_even_when_written_in_pieces() {
    let sink = MemorySink::new();
    let mut options = options(
        "printf 'token: fake-'; sleep 0.2; printf 'secret-1234 end\\n'; echo 'multi: line-two-fake' >&2",
    );
    options.mask_values = vec![
        "fake-secret-1234".into(),
        "first-line-fake\nline-two-fake".into(),
    ];
    let ran = run_test(options, &sink).await;
    assert_eq!(ran.transcript.stdout, b"token: *** end\n");
    assert_eq!(ran.transcript.stderr, b"multi: ***\n");
    assert_eq!(ran.echo_out, b"token: *** end\n");
    for body in sink.bodies() {
        assert!(!body.contains("secret-1234") && !body.contains("line-two-fake"));
    }
    assert!(!contains(&ran.echo_out, b"secret"));
}

#[tokio::test]
async fn heartbeats_carry_seqs_while_the_job_is_quiet() {
    let sink = MemorySink::new();
    let mut options = options("echo hi; sleep 0.6; echo bye");
    options.heartbeat = Duration::from_millis(150);
    let ran = run_test(options, &sink).await;
    assert!(
        ran.transcript.heartbeats.len() >= 2,
        "{:?}",
        ran.transcript.heartbeats
    );
    for (seq, last_output_seq) in &ran.transcript.heartbeats {
        assert!(last_output_seq < seq);
    }
    assert_eq!(ran.transcript.stdout, b"hi\nbye\n");
}

#[tokio::test]
async fn a_missing_program_is_an_error_naming_the_request() {
    let sink = MemorySink::new();
    let options = RunOptions::new("req-test", vec!["/nonexistent/airlock-test-program".into()]);
    let mut echo = (Vec::new(), Vec::new());
    let err = run_with::<TestPacker, _, _>(options, &sink, &mut echo)
        .await
        .expect_err("cannot start");
    assert!(err.to_string().contains("req-test"), "{err}");
    assert!(
        matches!(
            err,
            RunError::Spawn {
                finished_delivered: true,
                ..
            }
        ),
        "{err:?}"
    );
    // CI learns why, and does not wait for its watchdog.
    let transcript = transcript(&sink);
    assert!(
        String::from_utf8_lossy(&transcript.stderr).contains("cannot start"),
        "{:?}",
        transcript.stderr
    );
    let (finished_seq, exit, _, lost) = transcript.finished.expect("finished");
    assert_eq!(
        (finished_seq, exit, lost),
        (2, ExitStatus::Code(127), vec![])
    );
    let err = run_with::<TestPacker, _, _>(RunOptions::new("req-x", vec![]), &sink, &mut echo)
        .await
        .expect_err("no command");
    assert!(err.to_string().contains("req-x"), "{err}");
}

/// When `Finished` cannot be delivered, the runner says so, whether the job ran or could not
/// start: `airlock run` then exits 125 and the dispatcher tells CI instead.
#[tokio::test]
async fn a_finished_that_cannot_be_delivered_is_reported_as_undelivered() {
    let mut sink = MemorySink::new();
    sink.entry_fault = Box::new(|_, _| Verdict::FailPermanent);
    let mut options = options("echo lost");
    options.delivery_timeout = Duration::from_millis(300);
    let ran = run_test(options, &sink).await;
    assert_eq!(ran.outcome.exit, ExitStatus::Code(0));
    assert!(!ran.outcome.finished_delivered);

    let mut options = RunOptions::new("req-test", vec!["/nonexistent/airlock-test-program".into()]);
    options.delivery_timeout = Duration::from_millis(300);
    let mut echo = (Vec::new(), Vec::new());
    let err = run_with::<TestPacker, _, _>(options, &sink, &mut echo)
        .await
        .expect_err("cannot start");
    assert!(
        matches!(
            err,
            RunError::Spawn {
                finished_delivered: false,
                ..
            }
        ),
        "{err:?}"
    );
}
