//! The follower and the trigger over an in-memory queue, on tokio's paused clock: the logic
//! that does not depend on real time or on AWS (ordering, duplicates, other requests,
//! unreadable messages, events, the watchdog, cancelling).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use airlock_lane::exit;
use airlock_lane::follow::{Cancel, FollowOptions, FollowOutcome, follow};
use airlock_lane::transport::{
    FeedbackSource, Received, RequestSigner, RequestSink, TransportError,
};
use airlock_lane::trigger::{self, DeployOptions, DeploySpec};
use airlock_protocol::bytes::WireBytes;
use airlock_protocol::signing::VerifiedRequest;
use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, OutputChunk, SignedRequest, Stream};
use p256::ecdsa::signature::Signer;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use tokio::time::Instant;

const RID: &str = "2b1f6a4e-9c0d-4c1e-8f7a-0d5e3b9a1c11";

/// A queue in memory: receive hands out visible messages with fresh handles; delete removes
/// them for good. Nothing becomes visible again (no visibility timeout), so a message the
/// follower leaves stays in `in_flight` where the test can see it.
#[derive(Default)]
struct MemoryQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    visible: VecDeque<String>,
    in_flight: BTreeMap<String, String>,
    deleted: Vec<String>,
    next_handle: u64,
    scripted_errors: VecDeque<TransportError>,
    receives: usize,
}

impl MemoryQueue {
    fn with(bodies: impl IntoIterator<Item = String>) -> MemoryQueue {
        let queue = MemoryQueue::default();
        queue.push(bodies);
        queue
    }

    fn push(&self, bodies: impl IntoIterator<Item = String>) {
        self.lock().visible.extend(bodies);
    }

    fn fail_next(&self, error: TransportError) {
        self.lock().scripted_errors.push_back(error);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().expect("queue lock")
    }

    fn left_in_flight(&self) -> Vec<String> {
        self.lock().in_flight.values().cloned().collect()
    }

    fn deleted(&self) -> Vec<String> {
        self.lock().deleted.clone()
    }

    fn take(&self, max: usize) -> Result<Vec<Received>, TransportError> {
        let mut state = self.lock();
        state.receives += 1;
        if let Some(error) = state.scripted_errors.pop_front() {
            return Err(error);
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some(body) = state.visible.pop_front() else {
                break;
            };
            state.next_handle += 1;
            let handle = format!("handle-{}", state.next_handle);
            state.in_flight.insert(handle.clone(), body.clone());
            out.push(Received {
                body,
                handle,
                sent_at: None,
            });
        }
        Ok(out)
    }
}

impl FeedbackSource for MemoryQueue {
    fn redelivery_after(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, TransportError> {
        let first = self.take(max)?;
        if !first.is_empty() {
            return Ok(first);
        }
        // A long poll: wait in small steps so that pushed messages are seen early.
        let until = Instant::now() + wait;
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100).min(until - Instant::now())).await;
            let has_messages = !self.lock().visible.is_empty();
            if has_messages {
                return self.take(max);
            }
        }
        Ok(Vec::new())
    }

    async fn delete(&self, handles: &[String]) -> Result<(), TransportError> {
        assert!(handles.len() <= 10, "more than 10 deletes in one batch");
        let mut state = self.lock();
        for handle in handles {
            let body = state
                .in_flight
                .remove(handle)
                .unwrap_or_else(|| panic!("delete of unknown handle {handle}"));
            state.deleted.push(body);
        }
        Ok(())
    }
}

fn chunk(stream: Stream, t: u64, bytes: &[u8]) -> OutputChunk {
    OutputChunk {
        stream,
        t,
        bytes: WireBytes(bytes.to_vec()),
    }
}

fn output(rid: &str, seq: u64, chunks: Vec<OutputChunk>) -> String {
    Feedback::new(rid, seq, FeedbackBody::Output { chunks }).to_json()
}

fn finished(rid: &str, seq: u64, exit: ExitStatus) -> String {
    finished_with(rid, seq, exit, false, vec![])
}

fn finished_with(rid: &str, seq: u64, exit: ExitStatus, timed_out: bool, lost: Vec<u64>) -> String {
    Feedback::new(
        rid,
        seq,
        FeedbackBody::Finished {
            exit,
            duration_ms: 1234,
            timed_out,
            lost,
        },
    )
    .to_json()
}

fn event(rid: &str, body: FeedbackBody) -> String {
    Feedback::new(rid, 0, body).to_json()
}

fn options() -> FollowOptions {
    FollowOptions {
        watchdog: Duration::from_secs(30),
        receive_wait: Duration::from_secs(2),
        timestamps: false,
        task_stopped_grace: Duration::from_secs(5),
        cancel: Cancel::never(),
    }
}

/// A run of the runner's stream: seq 1..=n Output, then Finished at n+1. Returns the bodies
/// and the expected stdout and stderr.
fn scripted_run(rid: &str, n: u64, exit: ExitStatus) -> (Vec<String>, Vec<u8>, Vec<u8>) {
    let mut bodies = Vec::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for seq in 1..=n {
        let stdout = format!("\u{1b}[32mline {seq}\u{1b}[0m\t").into_bytes();
        let mut stdout_tail = stdout.clone();
        stdout_tail.extend_from_slice(&[0, 0xff, 0xfe, b'\r', b'\n']);
        let stderr = format!("warning {seq}\n").into_bytes();
        let mut chunks = vec![chunk(Stream::Stdout, seq * 1000, &stdout_tail)];
        out.extend_from_slice(&stdout_tail);
        if seq % 3 == 0 {
            chunks.push(chunk(Stream::Stderr, seq * 1000 + 1, &stderr));
            err.extend_from_slice(&stderr);
        }
        bodies.push(output(rid, seq, chunks));
    }
    bodies.push(finished(rid, n + 1, exit));
    (bodies, out, err)
}

#[tokio::test(start_paused = true)]
async fn output_reaches_its_own_stream_byte_for_byte_and_everything_is_deleted() {
    let (bodies, want_out, want_err) = scripted_run(RID, 40, ExitStatus::Code(42));
    let mut all = vec![
        event(RID, FeedbackBody::Accepted { job: "web".into() }),
        event(
            RID,
            FeedbackBody::Started {
                task: "arn:task/1".into(),
            },
        ),
    ];
    all.extend(bodies.iter().cloned());
    let queue = MemoryQueue::with(all.clone());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(
        outcome,
        FollowOutcome::Finished {
            exit: ExitStatus::Code(42),
            timed_out: false,
            lost: vec![]
        }
    );
    assert_eq!(outcome.exit_code(), 42);
    assert_eq!(out, want_out);
    assert_eq!(err, want_err);
    let mut deleted = queue.deleted();
    deleted.sort();
    all.sort();
    assert_eq!(
        deleted, all,
        "every message of ours is deleted once processed"
    );
}

#[tokio::test(start_paused = true)]
async fn shuffled_and_duplicated_feedback_prints_once_in_order() {
    let (bodies, want_out, want_err) = scripted_run(RID, 200, ExitStatus::Signal(9));
    let mut sent = bodies.clone();
    sent.extend(bodies.iter().step_by(3).cloned());
    sent.push(event(RID, FeedbackBody::Started { task: "t".into() }));
    sent.push(event(RID, FeedbackBody::Started { task: "t".into() }));
    sent.shuffle(&mut rand::rngs::StdRng::seed_from_u64(5));
    let queue = MemoryQueue::with(sent.clone());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(outcome.exit_code(), 137, "{outcome:?}");
    assert_eq!(out, want_out);
    assert_eq!(err, want_err);
    // Duplicates are ours too: deleted, not left to come back.
    assert_eq!(queue.deleted().len(), sent.len());
}

#[tokio::test(start_paused = true)]
async fn another_requests_feedback_is_neither_printed_nor_deleted() {
    let other = "0f0f0f0f-0000-4000-8000-000000000002";
    let (mut mine, want_out, want_err) = scripted_run(RID, 5, ExitStatus::Code(0));
    let theirs = vec![
        output(other, 1, vec![chunk(Stream::Stdout, 1, b"NOT MINE\n")]),
        event(
            other,
            FeedbackBody::Rejected {
                code: "lane_busy".into(),
                reason: "lane busy".into(),
            },
        ),
        finished(other, 2, ExitStatus::Code(3)),
    ];
    mine.splice(2..2, theirs.iter().cloned());
    let queue = MemoryQueue::with(mine);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(outcome.exit_code(), 0, "{outcome:?}");
    assert_eq!(out, want_out);
    assert_eq!(err, want_err);
    let mut left = queue.left_in_flight();
    left.sort();
    let mut theirs = theirs;
    theirs.sort();
    assert_eq!(
        left, theirs,
        "the other request's messages stay in the queue"
    );
}

#[tokio::test(start_paused = true)]
async fn unreadable_messages_are_deleted_and_following_goes_on() {
    let (bodies, want_out, _) = scripted_run(RID, 3, ExitStatus::Code(1));
    let garbage = "this is not json".to_string();
    let newer_mine = format!(r#"{{"v":99,"request_id":"{RID}","seq":2,"type":"output"}}"#);
    let newer_theirs = r#"{"v":99,"request_id":"someone-else","seq":1,"type":"x"}"#.to_string();
    let mut sent = vec![garbage.clone(), newer_mine.clone(), newer_theirs.clone()];
    sent.extend(bodies);
    let queue = MemoryQueue::with(sent);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(outcome.exit_code(), 1, "{outcome:?}");
    assert_eq!(out, want_out);
    let deleted = queue.deleted();
    assert!(deleted.contains(&garbage));
    assert!(deleted.contains(&newer_mine));
    assert_eq!(queue.left_in_flight(), vec![newer_theirs]);
}

#[tokio::test(start_paused = true)]
async fn rejected_prints_the_reason_and_exits_251() {
    let queue = MemoryQueue::with([event(
        RID,
        FeedbackBody::Rejected {
            code: "unknown_job".into(),
            reason: "no job named web-prod".into(),
        },
    )]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(outcome.exit_code(), exit::REJECTED);
    assert_eq!(outcome.exit_code(), 251);
    let err = String::from_utf8(err).expect("utf-8");
    assert!(err.contains("no job named web-prod"), "{err}");
    assert!(err.contains("unknown_job") && err.contains(RID), "{err}");
    assert!(out.is_empty());
}

#[tokio::test(start_paused = true)]
async fn task_stopped_without_finished_ends_after_the_grace() {
    let (bodies, want_out, _) = scripted_run(RID, 3, ExitStatus::Code(0));
    let mut sent: Vec<String> = bodies[..2].to_vec();
    sent.push(event(
        RID,
        FeedbackBody::TaskStopped {
            stop_code: "EssentialContainerExited".into(),
            reason: "OutOfMemoryError: Container killed due to memory usage".into(),
            exit_code: Some(137),
        },
    ));
    let queue = MemoryQueue::with(sent);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    let took = started.elapsed();
    assert_eq!(outcome.exit_code(), 255, "{outcome:?}");
    assert!(
        matches!(&outcome, FollowOutcome::TaskStopped { stop_code, exit_code: Some(137), .. } if stop_code == "EssentialContainerExited")
    );
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "grace 5 s, took {took:?}"
    );
    // What did arrive was printed.
    let line_two = want_out.len() - (want_out.len() / 3);
    assert_eq!(out, want_out[..line_two].to_vec());
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains("OutOfMemoryError"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn finished_within_the_grace_after_task_stopped_wins() {
    let (bodies, want_out, _) = scripted_run(RID, 3, ExitStatus::Code(7));
    let queue = MemoryQueue::with([event(
        RID,
        FeedbackBody::TaskStopped {
            stop_code: "EssentialContainerExited".into(),
            reason: "Essential container in task exited".into(),
            exit_code: Some(7),
        },
    )]);
    let push_later = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        queue.push(bodies);
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (outcome, ()) = tokio::join!(
        follow(&queue, RID, options(), &mut out, &mut err),
        push_later
    );
    assert_eq!(outcome.exit_code(), 7, "{outcome:?}");
    assert_eq!(out, want_out);
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_names_the_request_the_last_seq_and_the_gaps() {
    let (bodies, _, _) = scripted_run(RID, 10, ExitStatus::Code(0));
    // 1, 2, 4 and 7 arrive; then the runner dies.
    let sent = vec![
        bodies[0].clone(),
        bodies[1].clone(),
        bodies[3].clone(),
        bodies[6].clone(),
    ];
    let queue = MemoryQueue::with(sent);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let options = FollowOptions {
        watchdog: Duration::from_secs(12),
        ..options()
    };
    let started = Instant::now();
    let outcome = follow(&queue, RID, options, &mut out, &mut err).await;
    let took = started.elapsed();
    let FollowOutcome::LostContact { message } = &outcome else {
        panic!("expected lost contact, got {outcome:?}");
    };
    assert_eq!(outcome.exit_code(), 252);
    assert!(message.contains(RID), "{message}");
    assert!(message.contains("last seq seen: 7"), "{message}");
    assert!(message.contains("missing seqs: 3, 5-6"), "{message}");
    assert!(
        took >= Duration::from_secs(12) && took <= Duration::from_secs(12 + 2 + 1),
        "watchdog 12 s + wait 2 s, took {took:?}"
    );
    assert!(String::from_utf8_lossy(&err).contains(message.as_str()));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_the_watchdog_quiet() {
    let queue = MemoryQueue::default();
    let beats = async {
        for seq in 1..=6 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            queue.push([
                Feedback::new(RID, seq, FeedbackBody::Heartbeat { last_output_seq: 0 }).to_json(),
            ]);
        }
        queue.push([finished(RID, 7, ExitStatus::Code(0))]);
    };
    let options = FollowOptions {
        watchdog: Duration::from_secs(6),
        ..options()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (outcome, ()) = tokio::join!(follow(&queue, RID, options, &mut out, &mut err), beats);
    assert_eq!(
        outcome.exit_code(),
        0,
        "24 s of heartbeats every 4 s: {outcome:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn lost_seqs_are_named_and_timed_out_exits_253() {
    let sent = vec![
        output(
            RID,
            1,
            vec![chunk(Stream::Stderr, 1, b"partial line without end")],
        ),
        finished_with(RID, 4, ExitStatus::Signal(15), true, vec![2, 3]),
    ];
    let queue = MemoryQueue::with(sent);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(outcome.exit_code(), 253, "{outcome:?}");
    let err = String::from_utf8(err).expect("utf-8");
    assert!(
        err.starts_with("partial line without end\nairlock: "),
        "{err}"
    );
    assert!(err.contains("seqs 2-3"), "{err}");
    assert!(err.contains("deadline"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn retryable_receive_errors_are_retried_and_fatal_ones_end_the_follow() {
    let (bodies, want_out, _) = scripted_run(RID, 2, ExitStatus::Code(0));
    let queue = MemoryQueue::with(bodies);
    for _ in 0..3 {
        queue.fail_next(TransportError {
            operation: "sqs:ReceiveMessage",
            message: "throttled".into(),
            retryable: true,
        });
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = follow(&queue, RID, options(), &mut out, &mut err).await;
    assert_eq!(outcome.exit_code(), 0, "{outcome:?}");
    assert_eq!(out, want_out);

    let queue = MemoryQueue::default();
    queue.fail_next(TransportError {
        operation: "sqs:ReceiveMessage",
        message: "queue https://sqs/123/lane: AWS.SimpleQueueService.NonExistentQueue".into(),
        retryable: false,
    });
    let mut err = Vec::new();
    let outcome = follow(&queue, RID, options(), Vec::new(), &mut err).await;
    assert_eq!(outcome.exit_code(), exit::USAGE, "{outcome:?}");
    assert!(String::from_utf8_lossy(&err).contains("NonExistentQueue"));
}

#[tokio::test(start_paused = true)]
async fn timestamps_prefix_every_line_start_of_each_stream() {
    let t = 1_700_000_000_123_456;
    let sent = vec![
        output(
            RID,
            1,
            vec![
                chunk(Stream::Stdout, t, b"one\ntw"),
                chunk(Stream::Stderr, t + 1000, b"err\n"),
            ],
        ),
        output(RID, 2, vec![chunk(Stream::Stdout, t + 2000, b"o\nthree\n")]),
        finished(RID, 3, ExitStatus::Code(0)),
    ];
    let queue = MemoryQueue::with(sent);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let options = FollowOptions {
        timestamps: true,
        ..options()
    };
    follow(&queue, RID, options, &mut out, &mut err).await;
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "2023-11-14T22:13:20.123Z one\n2023-11-14T22:13:20.123Z two\n2023-11-14T22:13:20.125Z three\n"
    );
    assert_eq!(
        String::from_utf8(err).expect("utf-8"),
        "2023-11-14T22:13:20.124Z err\n"
    );
}

#[tokio::test(start_paused = true)]
async fn follow_returns_cancelled_when_the_signal_fires() {
    let queue = MemoryQueue::default();
    let (trigger, cancel) = Cancel::new();
    let options = FollowOptions {
        cancel,
        ..options()
    };
    let fire = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.fire();
    };
    let started = Instant::now();
    let (outcome, ()) = tokio::join!(follow(&queue, RID, options, Vec::new(), Vec::new()), fire);
    assert_eq!(outcome, FollowOutcome::Cancelled { settled: None });
    assert_eq!(outcome.exit_code(), 254);
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// A P-256 key in memory, standing in for KMS.
struct MemorySigner(p256::ecdsa::SigningKey);

impl RequestSigner for MemorySigner {
    fn key_id(&self) -> &str {
        "memory-key"
    }
    async fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        let signature: p256::ecdsa::Signature = self.0.sign(payload);
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

#[derive(Default)]
struct MemorySink(Mutex<Vec<String>>);

impl RequestSink for MemorySink {
    async fn publish(&self, envelope: &str) -> Result<String, TransportError> {
        let mut published = self.0.lock().expect("sink lock");
        published.push(envelope.to_string());
        Ok(format!("message-{}", published.len()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancel_publishes_a_signed_cancel_request_and_follows_to_the_end() {
    let signer =
        MemorySigner(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("a valid test scalar"));
    let sink = MemorySink::default();
    let queue = MemoryQueue::default();
    let spec = DeploySpec::from_args("web", &["STAGE=prod".to_string()], None, None).expect("spec");
    let request = trigger::deploy_request(
        &spec,
        trigger::requester_from_env(|_| None),
        time::OffsetDateTime::now_utc(),
    );
    let rid = request.request_id.clone();
    let (fire, cancel) = Cancel::new();
    let options = DeployOptions {
        follow: FollowOptions {
            cancel,
            ..options()
        },
        cancel_grace: Duration::from_secs(20),
    };
    let runner = async {
        queue.push([output(
            &rid,
            1,
            vec![chunk(Stream::Stdout, 1, b"deploying\n")],
        )]);
        tokio::time::sleep(Duration::from_secs(3)).await;
        fire.fire();
        tokio::time::sleep(Duration::from_secs(4)).await;
        queue.push([
            output(&rid, 2, vec![chunk(Stream::Stdout, 2, b"terminated\n")]),
            finished(&rid, 3, ExitStatus::Signal(15)),
        ]);
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (outcome, ()) = tokio::join!(
        trigger::deploy(
            &sink, &signer, &queue, &request, options, &mut out, &mut err
        ),
        runner
    );
    let outcome = outcome.expect("published");
    assert_eq!(outcome.exit_code(), 254);
    let FollowOutcome::Cancelled {
        settled: Some(settled),
    } = &outcome
    else {
        panic!("expected a settled cancel, got {outcome:?}");
    };
    assert_eq!(settled.exit_code(), 128 + 15);
    assert_eq!(out, b"deploying\nterminated\n");
    assert!(String::from_utf8_lossy(&err).contains("cancelling deployment"));

    let published = sink.0.lock().expect("sink lock").clone();
    assert_eq!(published.len(), 2, "the deploy, then the cancel");
    let key = p256::ecdsa::VerifyingKey::from(&signer.0);
    let deploy = SignedRequest::from_json(&published[0])
        .expect("envelope")
        .verify(&key)
        .expect("verifies");
    assert_eq!(deploy, VerifiedRequest::Deploy(request.clone()));
    let cancel = SignedRequest::from_json(&published[1])
        .expect("envelope")
        .verify(&key)
        .expect("verifies");
    let VerifiedRequest::Cancel(cancel) = cancel else {
        panic!("second envelope is not a cancel: {cancel:?}");
    };
    assert_eq!(cancel.request_id, rid);
    assert_ne!(cancel.nonce, request.nonce);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_that_is_never_confirmed_ends_after_the_grace() {
    let signer =
        MemorySigner(p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("a valid test scalar"));
    let sink = MemorySink::default();
    let queue = MemoryQueue::default();
    let spec = DeploySpec::from_args("web", &[], None, None).expect("spec");
    let request = trigger::deploy_request(
        &spec,
        trigger::requester_from_env(|_| None),
        time::OffsetDateTime::now_utc(),
    );
    let (fire, cancel) = Cancel::new();
    fire.fire();
    // Fired before anything was sent: nothing is published at all.
    let early = DeployOptions {
        follow: FollowOptions {
            cancel: cancel.clone(),
            ..options()
        },
        cancel_grace: Duration::from_secs(10),
    };
    let outcome = trigger::deploy(
        &sink,
        &signer,
        &queue,
        &request,
        early,
        Vec::new(),
        Vec::new(),
    )
    .await
    .expect("no error");
    assert_eq!(outcome, FollowOutcome::Cancelled { settled: None });
    assert!(sink.0.lock().expect("sink lock").is_empty());

    let (fire, cancel) = Cancel::new();
    let later = DeployOptions {
        follow: FollowOptions {
            cancel,
            watchdog: Duration::from_secs(300),
            ..options()
        },
        cancel_grace: Duration::from_secs(10),
    };
    let started = Instant::now();
    let fire_later = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        fire.fire();
    };
    let mut err = Vec::new();
    let (outcome, ()) = tokio::join!(
        trigger::deploy(
            &sink,
            &signer,
            &queue,
            &request,
            later,
            Vec::new(),
            &mut err
        ),
        fire_later
    );
    let took = started.elapsed();
    assert_eq!(
        outcome.expect("published"),
        FollowOutcome::Cancelled { settled: None }
    );
    assert!(
        took >= Duration::from_secs(11) && took < Duration::from_secs(14),
        "1 s + 10 s grace, took {took:?}"
    );
    assert_eq!(sink.0.lock().expect("sink lock").len(), 2);
    assert!(String::from_utf8_lossy(&err).contains("may still be running"));
}
