//! Feedback over real SQS (moto): `SqsFeedbackSink` sends, `follow` over `SqsFeedbackSource`
//! receives, with duplication, reordering, other requests' messages, injected faults and a
//! runner that goes silent.
#![cfg(feature = "aws")]

use std::time::{Duration, Instant};

use airlock_lane::aws::{SqsFeedbackSink, SqsFeedbackSource};
use airlock_lane::follow::{Cancel, FollowOptions, FollowOutcome, follow};
use airlock_lane::transport::{EntryOutcome, FeedbackSink, FeedbackSource};
use airlock_protocol::bytes::WireBytes;
use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, OutputChunk, Stream};
use airlock_testsupport::{
    FAKE_SECRET_ACCESS_KEY, Fault, FaultPlan, FaultProxy, FaultRates, MotoServer, fixtures,
    sdk_config_for,
};
use aws_config::retry::RetryConfig;
use rand::SeedableRng;
use rand::seq::SliceRandom;

const RID: &str = "6c1d2a9e-3f4b-4a5c-9d8e-7f6a5b4c3d2e";
const OTHER: &str = "0a0a0a0a-1111-4222-8333-444444444444";

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A queue with a short visibility timeout, so that a message whose receive answer was lost
/// (a dropped response) comes back within the test's time.
async fn queue(moto: &MotoServer, name: &str) -> String {
    fixtures::queue_with_visibility(&moto.sdk_config(), name, Duration::from_secs(2))
        .await
        .expect("create queue")
}

/// Messages in the queue, visible or not, read directly from moto.
async fn messages_left(moto: &MotoServer, queue_url: &str) -> usize {
    fixtures::messages_in(&moto.sdk_config(), queue_url)
        .await
        .expect("count the queue's messages")
}

fn options(watchdog: Duration) -> FollowOptions {
    FollowOptions {
        watchdog,
        receive_wait: Duration::from_secs(1),
        timestamps: false,
        task_stopped_grace: Duration::from_secs(3),
        cancel: Cancel::never(),
    }
}

/// The bytes deployment output is made of: ANSI colour, NUL, `\r`, invalid UTF-8, U+FFFE
/// (legal UTF-8 that SQS refuses raw), and plain text.
fn tricky_bytes(seq: u64) -> Vec<u8> {
    let mut bytes = format!("\u{1b}[1;3{}mstep {seq}\u{1b}[0m", seq % 8).into_bytes();
    match seq % 5 {
        0 => bytes.extend_from_slice(&[0, 0xff, 0xc3, 0x28]),
        1 => bytes.extend_from_slice("\u{FFFE}✓".as_bytes()),
        2 => bytes.extend_from_slice(b"\r progress 50%\r progress 100%"),
        3 => bytes.extend_from_slice(&[0x80, 0x80, 0x01, 0x7f]),
        _ => bytes.extend_from_slice(b"\tplain"),
    }
    bytes.push(b'\n');
    bytes
}

struct Run {
    bodies: Vec<String>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// `n - 1` Output messages and a Finished with `exit`, for `rid`.
fn run(rid: &str, n: u64, exit: ExitStatus) -> Run {
    let (mut stdout, mut stderr, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    for seq in 1..n {
        let bytes = tricky_bytes(seq);
        let stream = if seq % 4 == 0 {
            stderr.extend_from_slice(&bytes);
            Stream::Stderr
        } else {
            stdout.extend_from_slice(&bytes);
            Stream::Stdout
        };
        let chunks = vec![OutputChunk {
            stream,
            t: 1_700_000_000_000_000 + seq,
            bytes: WireBytes(bytes),
        }];
        bodies.push(Feedback::new(rid, seq, FeedbackBody::Output { chunks }).to_json());
    }
    bodies.push(
        Feedback::new(
            rid,
            n,
            FeedbackBody::Finished {
                exit,
                duration_ms: 10,
                timed_out: false,
                lost: vec![],
            },
        )
        .to_json(),
    );
    Run {
        bodies,
        stdout,
        stderr,
    }
}

/// Sends every body, retrying failed calls and failed entries as the runner does.
async fn send_all<S: FeedbackSink>(sink: &S, bodies: &[String]) {
    for batch in bodies.chunks(10) {
        let mut pending: Vec<String> = batch.to_vec();
        for attempt in 0.. {
            assert!(attempt < 30, "batch never got through");
            match sink.send_batch(&pending).await {
                Ok(outcomes) => {
                    assert_eq!(outcomes.len(), pending.len());
                    pending = pending
                        .into_iter()
                        .zip(outcomes)
                        .filter_map(|(body, outcome)| match outcome {
                            EntryOutcome::Sent => None,
                            EntryOutcome::Failed { retryable, reason } => {
                                assert!(retryable, "entry refused for good: {reason}");
                                Some(body)
                            }
                        })
                        .collect();
                    if pending.is_empty() {
                        break;
                    }
                }
                Err(error) => assert!(error.retryable, "send failed for good: {error}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn a_thousand_messages_shuffled_and_duplicated_arrive_byte_identical() {
    let moto = moto();
    let url = queue(&moto, "lane-feedback").await;
    let config = moto.sdk_config();
    let mine = run(RID, 1000, ExitStatus::Code(3));
    let theirs = run(OTHER, 20, ExitStatus::Code(0));
    let mut sent = mine.bodies.clone();
    sent.extend(mine.bodies.iter().step_by(7).cloned());
    sent.extend(theirs.bodies.iter().cloned());
    sent.shuffle(&mut rand::rngs::StdRng::seed_from_u64(1000));

    let sink = SqsFeedbackSink::new(&config, &url);
    let source =
        SqsFeedbackSource::new(&config, &url).with_visibility_timeout(Duration::from_secs(2));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (outcome, ()) = tokio::join!(
        follow(
            &source,
            RID,
            options(Duration::from_secs(30)),
            &mut out,
            &mut err
        ),
        send_all(&sink, &sent)
    );
    assert_eq!(
        outcome,
        FollowOutcome::Finished {
            exit: ExitStatus::Code(3),
            timed_out: false,
            lost: vec![]
        }
    );
    assert_eq!(outcome.exit_code(), 3);
    assert!(out == mine.stdout, "stdout differs");
    assert!(err == mine.stderr, "stderr differs");
    // Every message of ours was deleted; the other request's stay for their follower.
    // (Duplicates of ours that arrive after Finished may remain; none were sent after it.)
    let left = messages_left(&moto, &url).await;
    assert!(
        left >= theirs.bodies.len(),
        "the other request's {} messages must stay, {left} left",
        theirs.bodies.len()
    );
    assert!(
        left <= theirs.bodies.len() + mine.bodies.len() / 7 + 1,
        "{left} left"
    );
}

#[tokio::test]
async fn nothing_is_lost_doubled_or_misordered_through_faults() {
    let moto = moto();
    let url = queue(&moto, "lane-faults").await;
    let retry = || {
        RetryConfig::standard()
            .with_max_attempts(4)
            .with_max_backoff(Duration::from_millis(300))
    };
    let rates = FaultRates {
        drop_connection: 0.06,
        drop_response: 0.06,
        server_error: 0.06,
        throttle: 0.06,
        duplicate: 0.0,
        delay: 0.08,
        max_delay: Duration::from_secs(3),
    };
    let send_proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultPlan::random(17, rates.clone()).only_for(["SendMessageBatch"]),
    )
    .expect("proxy");
    let receive_proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultPlan::random(29, rates).only_for(["ReceiveMessage", "DeleteMessageBatch"]),
    )
    .expect("proxy");
    let sink = SqsFeedbackSink::new(&sdk_config_for(&send_proxy.endpoint(), retry()), &url);
    let source = SqsFeedbackSource::new(&sdk_config_for(&receive_proxy.endpoint(), retry()), &url)
        .with_visibility_timeout(Duration::from_secs(2));

    let mine = run(RID, 300, ExitStatus::Signal(9));
    let mut sent = mine.bodies.clone();
    sent.shuffle(&mut rand::rngs::StdRng::seed_from_u64(300));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (outcome, ()) = tokio::join!(
        follow(
            &source,
            RID,
            options(Duration::from_secs(60)),
            &mut out,
            &mut err
        ),
        send_all(&sink, &sent)
    );
    assert_eq!(outcome.exit_code(), 137, "{outcome:?}");
    assert!(out == mine.stdout, "stdout differs");
    assert!(err == mine.stderr, "stderr differs");

    let mut records = send_proxy.requests();
    records.extend(receive_proxy.requests());
    for operation in ["SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch"] {
        let faulted = records
            .iter()
            .filter(|r| r.operation == operation && r.fault != Fault::Pass)
            .count();
        assert!(faulted > 0, "no fault was injected into {operation}");
    }
    for kind in [
        Fault::DropConnection,
        Fault::DropResponse,
        Fault::ServerError,
        Fault::Throttle,
    ] {
        assert!(
            records.iter().any(|r| r.fault == kind),
            "{kind:?} never injected"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| matches!(r.fault, Fault::Delay(d) if d >= Duration::from_secs(1))),
        "no delay of a second or more"
    );
}

#[tokio::test]
async fn a_silent_runner_trips_the_watchdog_with_the_request_named() {
    let moto = moto();
    let url = queue(&moto, "lane-silent").await;
    let config = moto.sdk_config();
    let mine = run(RID, 10, ExitStatus::Code(0));
    // Seqs 1, 2, 4, 5 arrive; then the runner is killed.
    let sent: Vec<String> = [0, 1, 3, 4]
        .iter()
        .map(|&i| mine.bodies[i].clone())
        .collect();
    send_all(&SqsFeedbackSink::new(&config, &url), &sent).await;

    let source =
        SqsFeedbackSource::new(&config, &url).with_visibility_timeout(Duration::from_secs(2));
    let watchdog = Duration::from_secs(4);
    let mut err = Vec::new();
    let started = Instant::now();
    let outcome = follow(&source, RID, options(watchdog), Vec::new(), &mut err).await;
    let took = started.elapsed();
    let FollowOutcome::LostContact { message } = &outcome else {
        panic!("expected lost contact, got {outcome:?}");
    };
    assert_eq!(outcome.exit_code(), 252);
    assert!(message.contains(RID), "{message}");
    assert!(message.contains("last seq seen: 5"), "{message}");
    assert!(message.contains("missing seqs: 3"), "{message}");
    assert!(
        took >= watchdog && took < watchdog + Duration::from_secs(1) + Duration::from_secs(3),
        "watchdog {watchdog:?} + 1 s wait + 3 s slack, took {took:?}"
    );
    assert!(String::from_utf8_lossy(&err).contains(message.as_str()));
}

/// The follower tells another request's orphans by the time SQS got them (`SentTimestamp`,
/// asked for on every receive): the source must hand it over.
#[tokio::test]
async fn received_messages_carry_the_time_sqs_got_them() {
    let moto = moto();
    let url = queue(&moto, "lane-sent-at").await;
    let config = moto.sdk_config();
    let sink = SqsFeedbackSink::new(&config, &url);
    let body = Feedback::new(RID, 1, FeedbackBody::Heartbeat { last_output_seq: 0 }).to_json();
    let sent = sink.send_batch(&[body]).await.expect("send");
    assert_eq!(sent, vec![EntryOutcome::Sent]);
    let source = SqsFeedbackSource::new(&config, &url);
    let received = source
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(received.len(), 1, "{received:?}");
    let sent_at = received[0].sent_at.expect("SentTimestamp");
    let age = std::time::SystemTime::now()
        .duration_since(sent_at)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(60), "sent {age:?} ago");
    source
        .delete(&[received[0].handle.clone()])
        .await
        .expect("delete");
}

#[tokio::test]
async fn a_rejection_ends_the_follow_with_251() {
    let moto = moto();
    let url = queue(&moto, "lane-reject").await;
    let config = moto.sdk_config();
    let rejected = Feedback::new(
        RID,
        0,
        FeedbackBody::Rejected {
            code: "lane_busy".into(),
            reason: "lane busy: request 1234 by alice since 12:00".into(),
        },
    )
    .to_json();
    send_all(&SqsFeedbackSink::new(&config, &url), &[rejected]).await;
    let source =
        SqsFeedbackSource::new(&config, &url).with_visibility_timeout(Duration::from_secs(2));
    let mut err = Vec::new();
    let outcome = follow(
        &source,
        RID,
        options(Duration::from_secs(20)),
        Vec::new(),
        &mut err,
    )
    .await;
    assert_eq!(outcome.exit_code(), 251, "{outcome:?}");
    assert!(String::from_utf8_lossy(&err).contains("lane busy: request 1234 by alice"));
    assert_eq!(
        messages_left(&moto, &url).await,
        0,
        "the verdict was ours: deleted"
    );
}

#[tokio::test]
async fn errors_name_the_queue_and_say_whether_retrying_helps() {
    let moto = moto();
    let config = moto.sdk_config();
    let missing = format!(
        "{}/{}/no-such-queue",
        moto.endpoint(),
        airlock_testsupport::ACCOUNT_ID
    );
    let source =
        SqsFeedbackSource::new(&config, &missing).with_visibility_timeout(Duration::from_secs(2));
    let error = source
        .receive(10, Duration::from_secs(1))
        .await
        .expect_err("no such queue");
    assert_eq!(error.operation, "sqs:ReceiveMessage");
    assert!(!error.retryable, "{error}");
    assert!(error.to_string().contains(&missing), "{error}");
    assert!(!error.to_string().contains(FAKE_SECRET_ACCESS_KEY));
    let error = SqsFeedbackSink::new(&config, &missing)
        .send_batch(&["x".to_string()])
        .await
        .expect_err("no such queue");
    assert_eq!(error.operation, "sqs:SendMessageBatch");
    assert!(!error.retryable, "{error}");

    // Throttling, 5xx and dropped connections are worth retrying, even once the SDK's own
    // attempts are used up.
    let url = queue(&moto, "lane-errors").await;
    let proxy = FaultProxy::start(&moto.endpoint(), FaultPlan::pass()).expect("proxy");
    let no_retries = sdk_config_for(&proxy.endpoint(), RetryConfig::disabled());
    let source =
        SqsFeedbackSource::new(&no_retries, &url).with_visibility_timeout(Duration::from_secs(2));
    for fault in [Fault::Throttle, Fault::ServerError, Fault::DropConnection] {
        proxy.set_plan(FaultPlan::scripted([fault.clone()]));
        let error = source
            .receive(10, Duration::from_secs(1))
            .await
            .expect_err("faulted");
        assert!(error.retryable, "{fault:?}: {error}");
        assert!(error.to_string().contains(&url), "{error}");
    }
    proxy.set_plan(FaultPlan::scripted([Fault::ServerError]));
    let error = source
        .delete(&["handle".to_string()])
        .await
        .expect_err("faulted");
    assert_eq!(error.operation, "sqs:DeleteMessageBatch");
    assert!(error.retryable, "{error}");

    // A delete with a receipt handle SQS does not know fails for that entry alone, and says so.
    proxy.set_plan(FaultPlan::pass());
    let error = source
        .delete(&["not-a-receipt-handle".to_string()])
        .await
        .expect_err("bad handle");
    assert!(
        error.to_string().contains("1 of 1 deletes failed"),
        "{error}"
    );
}
