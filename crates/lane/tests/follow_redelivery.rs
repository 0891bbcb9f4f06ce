//! The follower against a queue that behaves like SQS where it matters for losing nothing: a
//! received message is hidden for the visibility timeout and then comes back unless it was
//! deleted, and a receive can be served and its answer lost. On tokio's paused clock.
//!
//! These are the cases of issue 16 in pure form: a lost answer must not turn a finished
//! deployment into "task stopped", and the follower leaves nothing of its own behind.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use airlock_lane::follow::{Cancel, FollowOptions, FollowOutcome, ORPHAN_AFTER, follow};
use airlock_lane::transport::{FeedbackSource, Received, TransportError};
use airlock_protocol::bytes::WireBytes;
use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, OutputChunk, Stream};
use tokio::time::Instant;

const RID: &str = "7c1d2e3f-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
const OTHER: &str = "0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c";
const VISIBILITY: Duration = Duration::from_secs(4);

struct Message {
    id: u64,
    body: String,
    sent_at: SystemTime,
    visible_at: Instant,
    /// The receipt handle of the latest receive; only it deletes.
    handle: Option<String>,
}

/// One scripted receive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Receive {
    /// Served, and the answer reaches the follower.
    Answered,
    /// Served (the messages are hidden), but the answer is lost: the follower gets an error.
    AnswerLost,
}

#[derive(Default)]
struct State {
    messages: Vec<Message>,
    next_id: u64,
    next_receipt: u64,
    script: std::collections::VecDeque<Receive>,
    /// At most this many messages per receive (SQS: 10); small to spread a run over receives.
    per_receive: usize,
}

#[derive(Default)]
struct SqsLikeQueue {
    state: Mutex<State>,
}

impl SqsLikeQueue {
    fn new(per_receive: usize) -> SqsLikeQueue {
        let queue = SqsLikeQueue::default();
        queue.lock().per_receive = per_receive;
        queue
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push_sent_at(&self, body: String, sent_at: SystemTime) {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.messages.push(Message {
            id,
            body,
            sent_at,
            visible_at: Instant::now(),
            handle: None,
        });
    }

    fn push(&self, bodies: impl IntoIterator<Item = String>) {
        for body in bodies {
            self.push_sent_at(body, SystemTime::now());
        }
    }

    fn script(&self, receives: impl IntoIterator<Item = Receive>) {
        self.lock().script.extend(receives);
    }

    fn left(&self) -> Vec<String> {
        self.lock()
            .messages
            .iter()
            .map(|m| m.body.clone())
            .collect()
    }

    fn take(&self, max: usize) -> (Receive, Vec<Received>) {
        let mut state = self.lock();
        let how = state.script.pop_front().unwrap_or(Receive::Answered);
        let now = Instant::now();
        let limit = max.min(state.per_receive.max(1));
        let mut taken = Vec::new();
        let mut receipt = state.next_receipt;
        for message in state.messages.iter_mut() {
            if taken.len() == limit {
                break;
            }
            if message.visible_at <= now {
                receipt += 1;
                let handle = format!("{}.{receipt}", message.id);
                message.visible_at = now + VISIBILITY;
                message.handle = Some(handle.clone());
                taken.push(Received {
                    body: message.body.clone(),
                    handle,
                    sent_at: Some(message.sent_at),
                });
            }
        }
        state.next_receipt = receipt;
        (how, taken)
    }
}

impl FeedbackSource for SqsLikeQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, TransportError> {
        let until = Instant::now() + wait;
        loop {
            let (how, taken) = self.take(max);
            if how == Receive::AnswerLost {
                return Err(TransportError {
                    operation: "sqs:ReceiveMessage",
                    message: "connection closed before the answer".into(),
                    retryable: true,
                });
            }
            if !taken.is_empty() || Instant::now() >= until {
                return Ok(taken);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn delete(&self, handles: &[String]) -> Result<(), TransportError> {
        let mut state = self.lock();
        state
            .messages
            .retain(|m| !m.handle.as_ref().is_some_and(|h| handles.contains(h)));
        Ok(())
    }

    fn redelivery_after(&self) -> Duration {
        VISIBILITY
    }
}

fn output(rid: &str, seq: u64, text: &str) -> String {
    let chunks = vec![OutputChunk {
        stream: Stream::Stdout,
        t: seq,
        bytes: WireBytes(text.as_bytes().to_vec()),
    }];
    Feedback::new(rid, seq, FeedbackBody::Output { chunks }).to_json()
}

fn finished(rid: &str, seq: u64, code: i32) -> String {
    let body = FeedbackBody::Finished {
        exit: ExitStatus::Code(code),
        duration_ms: 10,
        timed_out: false,
        lost: vec![],
    };
    Feedback::new(rid, seq, body).to_json()
}

fn task_stopped(rid: &str) -> String {
    let body = FeedbackBody::TaskStopped {
        stop_code: "EssentialContainerExited".into(),
        reason: "Essential container in task exited".into(),
        exit_code: Some(0),
    };
    Feedback::new(rid, 0, body).to_json()
}

fn options() -> FollowOptions {
    FollowOptions {
        watchdog: Duration::from_secs(60),
        receive_wait: Duration::from_secs(1),
        timestamps: false,
        // Shorter than the visibility timeout, as 10 s was against the queue's 30 s.
        task_stopped_grace: Duration::from_secs(1),
        cancel: Cancel::never(),
    }
}

fn run_of(rid: &str, lines: u64, code: i32) -> (Vec<String>, String) {
    let mut bodies = Vec::new();
    let mut printed = String::new();
    for seq in 1..=lines {
        let line = format!("line {seq}\n");
        printed.push_str(&line);
        bodies.push(output(rid, seq, &line));
    }
    bodies.push(finished(rid, lines + 1, code));
    (bodies, printed)
}

/// Measured case 1: the receive in flight when the transport paused took the end of the
/// run, its answer was lost, and ECS's TaskStopped arrived before those messages turned
/// visible again. The old follower gave its verdict after the grace: exit 255, output
/// missing. Now the verdict waits for what the lost receive hid.
#[tokio::test(start_paused = true)]
async fn a_lost_answer_before_task_stopped_is_waited_for_not_reported_missing() {
    let queue = SqsLikeQueue::new(10);
    let (bodies, printed) = run_of(RID, 6, 0);
    queue.push(bodies);
    queue.script([Receive::AnswerLost]);
    let follower = follow(&queue, RID, options(), Vec::new(), Vec::new());
    let events = async {
        // After the lost receive, before the runner's messages return: ECS's report.
        tokio::time::sleep(Duration::from_millis(500)).await;
        queue.push([task_stopped(RID)]);
    };
    let started = Instant::now();
    let (outcome, ()) = tokio::join!(follower, events);
    assert_eq!(
        outcome,
        FollowOutcome::Finished {
            exit: ExitStatus::Code(0),
            timed_out: false,
            lost: vec![]
        }
    );
    assert!(
        started.elapsed() >= VISIBILITY,
        "finished only once the hidden messages came back"
    );
    assert!(queue.left().is_empty(), "left behind: {:?}", queue.left());
    let _ = printed;
}

/// The output of that run is printed once, in order.
#[tokio::test(start_paused = true)]
async fn what_a_lost_answer_hid_is_printed_once_in_order() {
    let queue = SqsLikeQueue::new(3);
    let (bodies, printed) = run_of(RID, 12, 3);
    queue.push(bodies);
    queue.script([Receive::Answered, Receive::AnswerLost, Receive::AnswerLost]);
    let mut out = Vec::new();
    let outcome = follow(&queue, RID, options(), &mut out, Vec::new()).await;
    assert_eq!(outcome.exit_code(), 3);
    assert_eq!(String::from_utf8_lossy(&out), printed);
    assert!(queue.left().is_empty(), "left behind: {:?}", queue.left());
}

/// Copies of our own messages (a runner's retried send) and our own late TaskStopped are
/// taken out of the queue after the end; the old follower returned at `Finished` and left
/// them for every later follower to receive and skip.
#[tokio::test(start_paused = true)]
async fn the_follower_leaves_nothing_of_its_own_in_the_queue() {
    let queue = SqsLikeQueue::new(2);
    let (bodies, printed) = run_of(RID, 1, 0);
    queue.push(bodies.clone());
    // The send of both was retried after a lost answer: two more copies, then ECS's event.
    queue.push(bodies);
    queue.push([task_stopped(RID)]);
    let mut out = Vec::new();
    let outcome = follow(&queue, RID, options(), &mut out, Vec::new()).await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(String::from_utf8_lossy(&out), printed);
    assert!(queue.left().is_empty(), "left behind: {:?}", queue.left());
}

/// A copy hidden by a receive whose answer was lost comes back after the end: the follower
/// waits for it before it returns.
#[tokio::test(start_paused = true)]
async fn a_copy_hidden_by_a_lost_answer_is_taken_after_the_end() {
    let queue = SqsLikeQueue::new(10);
    let (bodies, _) = run_of(RID, 2, 0);
    queue.push([bodies[0].clone()]);
    queue.script([Receive::AnswerLost]);
    let follower = follow(&queue, RID, options(), Vec::new(), Vec::new());
    let runner = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        queue.push(bodies[1..].to_vec());
        // The first message's send was retried: a copy the follower gets now.
        queue.push([bodies[0].clone()]);
    };
    let (outcome, ()) = tokio::join!(follower, runner);
    assert_eq!(outcome.exit_code(), 0);
    assert!(queue.left().is_empty(), "left behind: {:?}", queue.left());
}

/// Another request's messages: fresh ones are left for their own follower (it may be a
/// `lane_busy` verdict it is waiting for), orphans older than ORPHAN_AFTER are deleted.
#[tokio::test(start_paused = true)]
async fn another_requests_orphans_are_deleted_and_its_fresh_messages_left() {
    let queue = SqsLikeQueue::new(10);
    let old = SystemTime::now() - ORPHAN_AFTER - Duration::from_secs(1);
    queue.push_sent_at(task_stopped(OTHER), old);
    queue.push_sent_at("{\"v\":99,\"request_id\":\"gone\"}".into(), old);
    let fresh = task_stopped("still-following");
    queue.push_sent_at(fresh.clone(), SystemTime::now());
    let (bodies, _) = run_of(RID, 2, 0);
    queue.push(bodies);
    let outcome = follow(&queue, RID, options(), Vec::new(), Vec::new()).await;
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(queue.left(), vec![fresh]);
}

/// With no fault at all the end costs one more receive, of at most a second.
#[tokio::test(start_paused = true)]
async fn a_clean_run_ends_without_waiting_for_redelivery() {
    let queue = SqsLikeQueue::new(10);
    let (bodies, _) = run_of(RID, 5, 0);
    queue.push(bodies);
    let started = Instant::now();
    let outcome = follow(&queue, RID, options(), Vec::new(), Vec::new()).await;
    assert_eq!(outcome.exit_code(), 0);
    assert!(started.elapsed() <= Duration::from_millis(1100));
}
