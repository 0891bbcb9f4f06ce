//! The follower: reads one request's feedback from the lane's queue, prints the job's output
//! to the streams it came from, and ends with the deployment's outcome.
//!
//! Feedback arrives at least once and in any order. Each message is parsed, handed to the
//! [`Reassembler`] (which drops duplicates and other requests' messages and releases the
//! runner's stream in seq order), acted on, and only then deleted from the queue. A watchdog
//! ends the follow when nothing new has been heard for a while.
//!
//! A receive whose answer never arrives (a paused or cut connection, a timeout) may still have
//! been served: its messages are then hidden for the receive's visibility timeout
//! ([`FeedbackSource::redelivery_after`]) and come back after it. So the follower gives no
//! verdict that something is missing until that time has passed since the last such receive,
//! and before it returns it takes its own leftovers (duplicates) out of the queue.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime};

use airlock_protocol::reassemble::{Accepted, Reassembler};
use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, OutputChunk, Stream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::exit;
use crate::transport::FeedbackSource;

/// SQS returns at most 10 messages per ReceiveMessage.
pub const MAX_RECEIVE: usize = 10;
/// The longest long-poll SQS allows, and the default wait.
pub const DEFAULT_RECEIVE_WAIT: Duration = Duration::from_secs(20);
/// The default watchdog (`[lane] watchdog_secs`).
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(120);
/// How long to wait for the runner's `Finished` after ECS reported the task stopped: the
/// runner's last messages may still be in flight when the dispatcher's event arrives.
pub const DEFAULT_TASK_STOPPED_GRACE: Duration = Duration::from_secs(10);
/// Extra time a receive may take beyond its wait before the follower gives up on that call
/// and tries again (a long poll whose connection silently died).
const RECEIVE_SLACK: Duration = Duration::from_secs(15);
/// The visibility timeout of the follower's receives over SQS. Short, so that the messages of
/// a receive whose answer was lost come back within seconds; long enough that a follower
/// writing a full batch to a slow CI log deletes it before it turns visible again (if it
/// does not, the copies are dropped as duplicates).
pub const FOLLOW_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);
/// Beyond the visibility timeout: the time for the returned messages to be received.
const REDELIVERY_MARGIN: Duration = Duration::from_secs(3);
/// Another request's message older than this is an orphan: a live follower receives its own
/// messages within seconds (others hide them for one visibility timeout at most), so one this
/// old belongs to a follower that is gone (a `TaskStopped` that came after its follower ended
/// on `Finished`, a duplicate sent after it returned). Deleting it keeps the lane's queue
/// from filling with stragglers that take slots of every receive.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(300);
/// How long the first receive after the end waits for copies. A runner whose send of its
/// last message lost its answer sends it again after a backoff (the SDK's first retry comes
/// within a second), so a copy can land just after the follower got the first one. A copy
/// later than this is another follower's orphan to delete ([`ORPHAN_AFTER`]).
const LEFTOVER_WAIT: Duration = Duration::from_secs(1);
/// The most receives the follower spends taking its own leftovers after the end, and the
/// failed ones after which it leaves them to a later follower.
const MAX_DRAIN_RECEIVES: usize = 20;
const MAX_DRAIN_FAILURES: usize = 3;
/// The most receipt handles kept for a second delete.
const MAX_UNDELETED: usize = 100;
/// Backoff between failed receives that are worth retrying.
const RETRY_BACKOFF_START: Duration = Duration::from_millis(500);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Fires when the user asks `airlock deploy` to stop (SIGINT/SIGTERM). Cloneable; each clone
/// sees the same trigger, and waiting on it again after it fired returns at once.
#[derive(Debug, Clone)]
pub struct Cancel {
    fired: watch::Receiver<bool>,
}

/// The sending side of a [`Cancel`].
#[derive(Debug)]
pub struct CancelTrigger {
    fire: watch::Sender<bool>,
}

impl CancelTrigger {
    pub fn fire(&self) {
        self.fire.send_replace(true);
    }
}

impl Cancel {
    /// A trigger and the signal it fires.
    pub fn new() -> (CancelTrigger, Cancel) {
        let (fire, fired) = watch::channel(false);
        (CancelTrigger { fire }, Cancel { fired })
    }

    /// A signal that never fires.
    pub fn never() -> Cancel {
        Cancel::new().1
    }

    pub fn is_fired(&self) -> bool {
        *self.fired.borrow()
    }

    /// Completes once the trigger fired; never completes if the trigger was dropped unfired.
    pub async fn fired(&mut self) {
        loop {
            if *self.fired.borrow_and_update() {
                return;
            }
            if self.fired.changed().await.is_err() {
                // The trigger is gone without firing: nobody can cancel any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Give up when nothing new for this request has arrived for this long.
    pub watchdog: Duration,
    /// The long-poll wait of one receive (20 s for SQS; tests use less).
    pub receive_wait: Duration,
    /// Prefix each output line with the time the runner read it (UTC, milliseconds).
    pub timestamps: bool,
    /// How long to wait for `Finished` after a `TaskStopped` event.
    pub task_stopped_grace: Duration,
    /// Fires on SIGINT/SIGTERM.
    pub cancel: Cancel,
}

impl Default for FollowOptions {
    fn default() -> FollowOptions {
        FollowOptions {
            watchdog: DEFAULT_WATCHDOG,
            receive_wait: DEFAULT_RECEIVE_WAIT,
            timestamps: false,
            task_stopped_grace: DEFAULT_TASK_STOPPED_GRACE,
            cancel: Cancel::never(),
        }
    }
}

/// How a follow ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowOutcome {
    /// The runner reported the end and every seq arrived (or was declared lost).
    Finished {
        exit: ExitStatus,
        timed_out: bool,
        /// Seqs the runner declared lost: their output is missing from what was printed.
        lost: Vec<u64>,
    },
    /// The dispatcher refused the request; nothing ran.
    Rejected { code: String, reason: String },
    /// ECS stopped the task and the runner never reported the end.
    TaskStopped {
        stop_code: String,
        reason: String,
        exit_code: Option<i32>,
    },
    /// The watchdog fired; `message` names the request, the last seq seen and the gaps.
    LostContact { message: String },
    /// The user cancelled. `settled` is how the deployment ended within the cancel grace
    /// (`Finished` or `TaskStopped`), or `None` if it did not end in time.
    Cancelled { settled: Option<Box<FollowOutcome>> },
    /// The feedback queue refused us for good (no such queue, access denied).
    TransportFailed { message: String },
}

impl FollowOutcome {
    /// The exit code `airlock deploy` ends with (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            FollowOutcome::Finished {
                timed_out: true, ..
            } => exit::TIMED_OUT,
            FollowOutcome::Finished { exit, .. } => exit::job_code(exit.shell_code()),
            FollowOutcome::Rejected { .. } => exit::REJECTED,
            FollowOutcome::TaskStopped { .. } => exit::TASK_STOPPED,
            FollowOutcome::LostContact { .. } => exit::LOST_CONTACT,
            FollowOutcome::Cancelled { .. } => exit::CANCELLED,
            FollowOutcome::TransportFailed { .. } => exit::USAGE,
        }
    }
}

/// Follows `request_id`'s feedback from `source` to its end, writing the job's stdout to
/// `out` and its stderr (and the follower's own notes, prefixed `airlock:`) to `err`.
/// Returns [`FollowOutcome::Cancelled`] as soon as `options.cancel` fires; use [`Follower`]
/// to keep following after a cancel.
pub async fn follow<S: FeedbackSource, O: Write, E: Write>(
    source: &S,
    request_id: &str,
    options: FollowOptions,
    out: O,
    err: E,
) -> FollowOutcome {
    let mut cancel = options.cancel.clone();
    let mut follower = Follower::new(source, request_id, options, out, err);
    match follower.run_until(cancel.fired()).await {
        Some(outcome) => outcome,
        None => FollowOutcome::Cancelled { settled: None },
    }
}

/// A follow in progress. [`Follower::run_until`] can be called again after it was stopped,
/// keeping everything already received (the trigger does this to follow on after a cancel).
pub struct Follower<'s, S, O, E> {
    source: &'s S,
    request_id: String,
    options: FollowOptions,
    reassembler: Reassembler,
    out: O,
    err: E,
    /// Whether the next byte written to stdout / stderr starts a line.
    out_at_line_start: bool,
    err_at_line_start: bool,
    /// The stream written to last and not flushed yet. `out` and `err` are buffered
    /// separately, so the one holding bytes is flushed before the other is written: merged
    /// into one CI log, the lines come out in the order the job wrote them.
    unflushed: Option<Stream>,
    write_failed: bool,
    last_heard: Instant,
    heard_anything: bool,
    /// The highest runner seq received so far (released or held), for the watchdog's message.
    highest_seq: Option<u64>,
    /// ECS's report and when it came: the follow ends after the grace unless `Finished` does.
    task_stopped: Option<(FollowOutcome, Instant)>,
    /// The runner's `Finished`, once released; the follow ends when the stream is complete.
    finished: Option<FollowOutcome>,
    receive_backoff: Duration,
    /// When messages last went out of sight: a receive ended without an answer we read
    /// (failed, timed out, or was abandoned for a stop), or a delete failed. What it took or
    /// kept is hidden until `redelivery_after` later, then comes back.
    messages_hidden_at: Option<Instant>,
    /// When a stop abandoned a receive in flight. Unlike `messages_hidden_at` it does not
    /// make the end wait for leftovers: a cancel must end promptly, and what such a receive
    /// hid that was needed is waited for as missing output; a copy it hid is left to a later
    /// follower ([`ORPHAN_AFTER`]).
    receive_abandoned_at: Option<Instant>,
    /// Receipt handles whose delete failed; tried again with the next delete.
    undeleted: Vec<String>,
}

impl<'s, S: FeedbackSource, O: Write, E: Write> Follower<'s, S, O, E> {
    pub fn new(
        source: &'s S,
        request_id: &str,
        options: FollowOptions,
        out: O,
        err: E,
    ) -> Follower<'s, S, O, E> {
        Follower {
            source,
            request_id: request_id.to_string(),
            options,
            reassembler: Reassembler::new(request_id),
            out,
            err,
            out_at_line_start: true,
            err_at_line_start: true,
            unflushed: None,
            write_failed: false,
            last_heard: Instant::now(),
            heard_anything: false,
            highest_seq: None,
            task_stopped: None,
            finished: None,
            receive_backoff: RETRY_BACKOFF_START,
            messages_hidden_at: None,
            receive_abandoned_at: None,
            undeleted: Vec::new(),
        }
    }

    /// How long after an unanswered receive its messages may still be hidden.
    fn redelivery_window(&self) -> Duration {
        self.source.redelivery_after() + REDELIVERY_MARGIN
    }

    /// When the task-stopped verdict may be given: after the grace, and not while messages a
    /// lost receive took may still be hidden.
    fn task_stopped_deadline(&self, since: Instant) -> Instant {
        let mut deadline = since + self.options.task_stopped_grace;
        for hidden_at in [self.messages_hidden_at, self.receive_abandoned_at]
            .into_iter()
            .flatten()
        {
            deadline = deadline.max(hidden_at + self.redelivery_window());
        }
        deadline
    }

    /// Follows until the deployment's end (`Some`) or until `stop` completes (`None`). `stop`
    /// is only looked at between receives, so no message is ever half processed.
    pub async fn run_until(&mut self, stop: impl Future<Output = ()>) -> Option<FollowOutcome> {
        tokio::pin!(stop);
        loop {
            let now = Instant::now();
            if let Some(outcome) = self.expired(now) {
                return Some(outcome);
            }
            let mut deadline = self.last_heard + self.options.watchdog;
            if let Some((_, since)) = &self.task_stopped {
                deadline = deadline.min(self.task_stopped_deadline(*since));
            }
            let wait = self
                .options
                .receive_wait
                .min(deadline.saturating_duration_since(now));
            let received = tokio::select! {
                biased;
                () = &mut stop => {
                    // The receive in flight is abandoned; it may have been served. What it
                    // took that the follow still needs is waited for anyway (its seqs are
                    // missing); the verdict must not come before it is back.
                    self.receive_abandoned_at = Some(Instant::now());
                    return None;
                }
                received = tokio::time::timeout(
                    wait + RECEIVE_SLACK,
                    self.source.receive(MAX_RECEIVE, wait),
                ) => received,
            };
            if !matches!(received, Ok(Ok(_))) {
                self.messages_hidden_at = Some(Instant::now());
            }
            match received {
                Ok(Ok(messages)) => {
                    self.receive_backoff = RETRY_BACKOFF_START;
                    if let Some(outcome) = self.process(messages).await {
                        self.take_leftovers().await;
                        return Some(outcome);
                    }
                }
                Ok(Err(error)) if !error.retryable => {
                    self.note(&format!(
                        "cannot read the feedback of deployment {}: {error}",
                        self.request_id
                    ));
                    self.flush();
                    return Some(FollowOutcome::TransportFailed {
                        message: error.to_string(),
                    });
                }
                Ok(Err(error)) => {
                    tracing::warn!(request_id = %self.request_id, %error, "receiving feedback failed; retrying");
                    self.back_off(&mut stop).await?;
                }
                Err(_elapsed) => {
                    tracing::warn!(
                        request_id = %self.request_id,
                        "a feedback receive took longer than {:?}; retrying",
                        wait + RECEIVE_SLACK
                    );
                }
            }
        }
    }

    /// Sleeps the current backoff (or until `stop`), then doubles it.
    async fn back_off(
        &mut self,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<()> {
        let pause = self.receive_backoff;
        self.receive_backoff = (pause * 2).min(RETRY_BACKOFF_MAX);
        tokio::select! {
            biased;
            () = stop.as_mut() => None,
            () = tokio::time::sleep(pause) => Some(()),
        }
    }

    /// The watchdog and the task-stopped grace.
    fn expired(&mut self, now: Instant) -> Option<FollowOutcome> {
        if let Some((stopped, since)) = &self.task_stopped
            && now >= self.task_stopped_deadline(*since)
        {
            let outcome = stopped.clone();
            if let FollowOutcome::TaskStopped {
                stop_code, reason, ..
            } = &outcome
            {
                let gaps = self.reassembler.gaps();
                let mut text = format!(
                    "deployment {}: ECS stopped the task ({stop_code}: {reason}) and the runner never reported how the job ended",
                    self.request_id
                );
                if !gaps.is_empty() {
                    text.push_str(&format!("; missing output seqs: {}", format_seqs(&gaps)));
                }
                self.note(&text);
                self.flush();
            }
            return Some(outcome);
        }
        if now.saturating_duration_since(self.last_heard) >= self.options.watchdog {
            let message = self.lost_contact_message();
            self.note(&message);
            self.flush();
            return Some(FollowOutcome::LostContact { message });
        }
        None
    }

    fn lost_contact_message(&self) -> String {
        let silence = self.options.watchdog.as_secs_f64();
        if !self.heard_anything {
            return format!(
                "lost contact with deployment {}: no feedback at all within {silence:.0} s \
                 (is the dispatcher subscribed to the lane's topic, and does it send to this feedback queue?)",
                self.request_id
            );
        }
        let last = self
            .highest_seq
            .map_or_else(|| "none".to_string(), |seq| seq.to_string());
        let gaps = self.reassembler.gaps();
        let missing = if gaps.is_empty() {
            "none".to_string()
        } else {
            format_seqs(&gaps)
        };
        format!(
            "lost contact with deployment {}: nothing heard for {silence:.0} s; last seq seen: {last}; \
             missing seqs: {missing}. The job may still be running.",
            self.request_id
        )
    }

    /// Acts on one receive's messages, then deletes the ones that were ours.
    async fn process(
        &mut self,
        messages: Vec<crate::transport::Received>,
    ) -> Option<FollowOutcome> {
        let mut processed = Vec::with_capacity(messages.len());
        let mut outcome = None;
        for message in messages {
            let feedback = match Feedback::from_json(&message.body) {
                Ok(feedback) => feedback,
                Err(error) => {
                    if let Some(other) = foreign_request_id(&message.body, &self.request_id) {
                        if is_orphan(message.sent_at, SystemTime::now()) {
                            tracing::info!(
                                request_id = %self.request_id,
                                other_request = %other,
                                "deleting an unreadable orphan of another request (older than {} s)",
                                ORPHAN_AFTER.as_secs()
                            );
                            processed.push(message.handle);
                            continue;
                        }
                        tracing::debug!(
                            request_id = %self.request_id,
                            other_request = %other,
                            handle = %handle_tag(&message.handle),
                            %error,
                            "unreadable feedback of another request; leaving it"
                        );
                        continue;
                    }
                    // Unreadable and not provably someone else's: keeping it would only make
                    // it come back after every visibility timeout, for every follower.
                    tracing::warn!(
                        request_id = %self.request_id,
                        handle = %handle_tag(&message.handle),
                        %error,
                        "unreadable feedback message; deleting it"
                    );
                    processed.push(message.handle);
                    continue;
                }
            };
            let seq = feedback.seq;
            match self.reassembler.accept(feedback) {
                Accepted::OtherRequest { request_id }
                    if is_orphan(message.sent_at, SystemTime::now()) =>
                {
                    // See ORPHAN_AFTER: its follower is gone.
                    tracing::info!(
                        request_id = %self.request_id,
                        other_request = %request_id,
                        "deleting an orphaned feedback message of another request (older than {} s)",
                        ORPHAN_AFTER.as_secs()
                    );
                    processed.push(message.handle);
                }
                Accepted::OtherRequest { request_id } => {
                    // Not deleted: the lane's queue is shared by the lane's requests over time,
                    // and this message belongs to someone else. With the dispatcher's lane
                    // lock, at most one deployment runs per lane, so another request's message
                    // here is either a late straggler of an earlier deployment or the
                    // `Rejected` ("lane busy") meant for a second requester, whose follower
                    // must get to see it. Deleting it would steal that verdict. Left alone, it
                    // turns visible again after the queue's visibility timeout; its own
                    // follower takes it, or the queue's retention (or redrive policy) removes
                    // an orphan. The price is that we may receive it again and drop it again.
                    // Making it visible at once would need sqs:ChangeMessageVisibility, a right
                    // CI deliberately does not have.
                    tracing::debug!(
                        request_id = %self.request_id,
                        other_request = %request_id,
                        handle = %handle_tag(&message.handle),
                        "feedback of another request; leaving it in the queue"
                    );
                }
                Accepted::Duplicate { seq } => {
                    tracing::debug!(request_id = %self.request_id, seq, "duplicate feedback dropped");
                    processed.push(message.handle);
                }
                Accepted::Event(event) => {
                    self.heard();
                    if let Some(end) = self.on_event(event) {
                        outcome.get_or_insert(end);
                    }
                    processed.push(message.handle);
                }
                Accepted::Ready(released) => {
                    self.heard();
                    self.highest_seq = Some(self.highest_seq.unwrap_or(0).max(seq));
                    for feedback in released {
                        self.on_released(feedback);
                    }
                    processed.push(message.handle);
                }
            }
        }
        // Printed first, deleted second: a crash in between repeats output the reassembler of
        // a new follower would drop, never loses it.
        self.flush();
        self.delete(processed).await;
        if outcome.is_some() {
            return outcome;
        }
        if self.finished.is_some() && self.reassembler.is_complete() {
            return self.finished.clone();
        }
        None
    }

    /// Deletes `handles` and any whose delete failed before. Undeleted messages come back
    /// after the visibility timeout and are dropped then as duplicates; nothing is lost by
    /// going on, but the end of the follow waits for them so that none is left behind.
    async fn delete(&mut self, mut handles: Vec<String>) {
        handles.append(&mut self.undeleted);
        if handles.is_empty() {
            return;
        }
        if let Err(error) = self.source.delete(&handles).await {
            tracing::warn!(request_id = %self.request_id, %error, "deleting processed feedback failed");
            self.messages_hidden_at = Some(Instant::now());
            if error.retryable {
                handles.truncate(MAX_UNDELETED);
                self.undeleted = handles;
            }
        }
    }

    /// After the end: takes what is left of ours in the queue (copies of messages already
    /// handled, sent twice by a retry, or hidden by a receive whose answer was lost), so that
    /// the lane's queue is empty after a deployment. Normally one receive that waits up to
    /// [`LEFTOVER_WAIT`]; while copies turn up, or while a lost receive may still hide some,
    /// more.
    async fn take_leftovers(&mut self) {
        let window = self.redelivery_window();
        let mut failures = 0;
        for round in 0..MAX_DRAIN_RECEIVES {
            let now = Instant::now();
            let hidden_until = self
                .messages_hidden_at
                .map(|at| at + window)
                .filter(|until| *until > now);
            let wait = match hidden_until {
                Some(until) => until - now,
                None if round == 0 => LEFTOVER_WAIT,
                None => Duration::ZERO,
            };
            let received =
                tokio::time::timeout(wait + RECEIVE_SLACK, self.source.receive(MAX_RECEIVE, wait))
                    .await;
            let Ok(Ok(messages)) = received else {
                self.messages_hidden_at = Some(Instant::now());
                failures += 1;
                if failures >= MAX_DRAIN_FAILURES {
                    tracing::warn!(request_id = %self.request_id, "could not check the feedback queue for leftovers; a later follower removes them");
                    break;
                }
                tokio::time::sleep(RETRY_BACKOFF_START).await;
                continue;
            };
            let mut ours = 0;
            let mut delete = Vec::new();
            let now_wall = SystemTime::now();
            for message in messages {
                let foreign = match Feedback::from_json(&message.body) {
                    Ok(feedback) => {
                        (feedback.request_id != self.request_id).then_some(feedback.request_id)
                    }
                    Err(_) => foreign_request_id(&message.body, &self.request_id),
                };
                match foreign {
                    // Ours (or unreadable and not provably another's): the follow has ended,
                    // so it can only be a copy or a late event.
                    None => {
                        ours += 1;
                        delete.push(message.handle);
                    }
                    Some(_) if is_orphan(message.sent_at, now_wall) => delete.push(message.handle),
                    Some(_) => {}
                }
            }
            self.delete(delete).await;
            if ours == 0 && hidden_until.is_none() && self.undeleted.is_empty() {
                break;
            }
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.heard_anything = true;
    }

    /// A dispatcher event (seq 0). Returns the outcome if it ends the follow.
    fn on_event(&mut self, event: Feedback) -> Option<FollowOutcome> {
        let request_id = self.request_id.clone();
        match event.body {
            FeedbackBody::Accepted { job } => {
                self.flush();
                tracing::info!(%request_id, %job, "the dispatcher accepted the request");
                None
            }
            FeedbackBody::Started { task } => {
                self.flush();
                tracing::info!(%request_id, %task, "the deployment task started");
                None
            }
            FeedbackBody::Rejected { code, reason } => {
                self.note(&format!(
                    "deployment {request_id} rejected by the dispatcher ({code}): {reason}"
                ));
                self.flush();
                Some(FollowOutcome::Rejected { code, reason })
            }
            FeedbackBody::TaskStopped {
                stop_code,
                reason,
                exit_code,
            } => {
                self.flush();
                tracing::info!(%request_id, %stop_code, %reason, ?exit_code, "ECS stopped the task");
                if self.task_stopped.is_none() {
                    self.task_stopped = Some((
                        FollowOutcome::TaskStopped {
                            stop_code,
                            reason,
                            exit_code,
                        },
                        Instant::now(),
                    ));
                }
                None
            }
            other => {
                tracing::warn!(%request_id, body = ?other, "runner message with seq 0 ignored");
                None
            }
        }
    }

    /// A message of the runner's stream, released in seq order.
    fn on_released(&mut self, feedback: Feedback) {
        let seq = feedback.seq;
        match feedback.body {
            FeedbackBody::Output { chunks } => {
                for chunk in &chunks {
                    self.write_chunk(chunk);
                }
            }
            FeedbackBody::Heartbeat { last_output_seq } => {
                tracing::debug!(request_id = %self.request_id, seq, last_output_seq, "heartbeat");
            }
            FeedbackBody::Finished {
                exit,
                duration_ms,
                timed_out,
                lost,
            } => {
                // The job's last lines before our own line about its end (tracing writes to
                // stderr directly, past our buffers).
                self.flush();
                tracing::info!(request_id = %self.request_id, ?exit, duration_ms, timed_out, "the job ended");
                if timed_out {
                    self.note(&format!(
                        "deployment {}: the job ran past its deadline and was stopped",
                        self.request_id
                    ));
                }
                if !lost.is_empty() {
                    self.note(&format!(
                        "WARNING: deployment {}: the runner could not deliver output seqs {} before its deadline; that output is missing above (CloudWatch Logs has the full copy)",
                        self.request_id,
                        format_seqs(&lost)
                    ));
                }
                self.finished = Some(FollowOutcome::Finished {
                    exit,
                    timed_out,
                    lost,
                });
            }
            other => {
                tracing::warn!(request_id = %self.request_id, seq, body = ?other, "dispatcher event with a runner seq ignored");
            }
        }
    }

    fn write_chunk(&mut self, chunk: &OutputChunk) {
        self.switch_to(chunk.stream);
        let stamp = self.options.timestamps.then(|| timestamp(chunk.t));
        let result = match chunk.stream {
            Stream::Stdout => write_lines(
                &mut self.out,
                &chunk.bytes.0,
                &mut self.out_at_line_start,
                stamp.as_deref(),
            ),
            Stream::Stderr => write_lines(
                &mut self.err,
                &chunk.bytes.0,
                &mut self.err_at_line_start,
                stamp.as_deref(),
            ),
        };
        self.record_write(result);
    }

    /// A line of the follower's own on stderr, on a line of its own, flushed at once.
    pub(crate) fn note(&mut self, text: &str) {
        self.switch_to(Stream::Stderr);
        let mut line = Vec::with_capacity(text.len() + 11);
        if !self.err_at_line_start {
            line.push(b'\n');
        }
        line.extend_from_slice(b"airlock: ");
        line.extend_from_slice(text.as_bytes());
        line.push(b'\n');
        let result = self.err.write_all(&line);
        self.err_at_line_start = true;
        self.record_write(result);
        self.flush();
    }

    /// Before writing to `stream`: flushes the other stream's buffer if it holds bytes.
    fn switch_to(&mut self, stream: Stream) {
        match self.unflushed.replace(stream) {
            Some(Stream::Stdout) if stream == Stream::Stderr => {
                let result = self.out.flush();
                self.record_write(result);
            }
            Some(Stream::Stderr) if stream == Stream::Stdout => {
                let result = self.err.flush();
                self.record_write(result);
            }
            _ => {}
        }
    }

    pub(crate) fn flush(&mut self) {
        self.unflushed = None;
        let out = self.out.flush();
        self.record_write(out);
        let err = self.err.flush();
        self.record_write(err);
    }

    fn record_write(&mut self, result: std::io::Result<()>) {
        if let Err(error) = result
            && !self.write_failed
        {
            self.write_failed = true;
            tracing::error!(request_id = %self.request_id, %error, "writing the job's output failed");
        }
    }
}

/// Writes `bytes` exactly, putting `stamp` before every line start when given.
fn write_lines<W: Write>(
    writer: &mut W,
    bytes: &[u8],
    at_line_start: &mut bool,
    stamp: Option<&str>,
) -> std::io::Result<()> {
    let Some(stamp) = stamp else {
        writer.write_all(bytes)?;
        if let Some(&last) = bytes.last() {
            *at_line_start = last == b'\n';
        }
        return Ok(());
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        if *at_line_start {
            writer.write_all(stamp.as_bytes())?;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let (line, tail) = rest.split_at(end + 1);
                writer.write_all(line)?;
                *at_line_start = true;
                rest = tail;
            }
            None => {
                writer.write_all(rest)?;
                *at_line_start = false;
                rest = &[];
            }
        }
    }
    Ok(())
}

/// `2026-01-02T03:04:05.678Z ` for a time in microseconds since the epoch.
fn timestamp(micros: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z "
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{micros}us "))
}

/// `3-7, 9, 12-13`: seqs as ranges, so a long gap stays one short line.
pub fn format_seqs(seqs: &[u64]) -> String {
    let sorted: BTreeSet<u64> = seqs.iter().copied().collect();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for seq in sorted {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(seq) => *end = seq,
            _ => ranges.push((seq, seq)),
        }
    }
    ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `request_id` of an unreadable message when it is readable enough to show it is not
/// ours (a newer protocol version from another deployment, say).
fn foreign_request_id(body: &str, ours: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = value.get("request_id")?.as_str()?;
    (id != ours).then(|| id.to_string())
}

/// Whether a message sent at `sent_at` is old enough to be another request's orphan.
fn is_orphan(sent_at: Option<SystemTime>, now: SystemTime) -> bool {
    sent_at
        .and_then(|sent| now.duration_since(sent).ok())
        .is_some_and(|age| age >= ORPHAN_AFTER)
}

/// The start of a receipt handle: enough to find it in a log, short enough to read.
fn handle_tag(handle: &str) -> String {
    let mut tag: String = handle.chars().take(20).collect();
    if tag.len() < handle.len() {
        tag.push('…');
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_go_at_line_starts_only_across_chunks() {
        let mut out = Vec::new();
        let mut at_start = true;
        write_lines(&mut out, b"a\nb", &mut at_start, Some("T ")).expect("write");
        write_lines(&mut out, b"c\n\nd\n", &mut at_start, Some("U ")).expect("write");
        assert_eq!(out, b"T a\nT bc\nU \nU d\n");
        assert!(at_start);
    }

    #[test]
    fn without_timestamps_bytes_pass_unchanged() {
        let mut out = Vec::new();
        let mut at_start = true;
        let bytes = b"\x1b[31mred\x00\xff\r\npartial";
        write_lines(&mut out, bytes, &mut at_start, None).expect("write");
        assert_eq!(out, bytes);
        assert!(!at_start);
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(
            timestamp(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123Z "
        );
    }

    #[test]
    fn seqs_are_shown_as_ranges() {
        assert_eq!(format_seqs(&[9, 3, 4, 5, 12, 13, 4]), "3-5, 9, 12-13");
        assert_eq!(format_seqs(&[]), "");
    }

    #[test]
    fn only_provably_foreign_messages_are_left_alone() {
        assert_eq!(
            foreign_request_id(r#"{"v":9,"request_id":"other"}"#, "mine"),
            Some("other".into())
        );
        assert_eq!(
            foreign_request_id(r#"{"v":9,"request_id":"mine"}"#, "mine"),
            None
        );
        assert_eq!(foreign_request_id("not json", "mine"), None);
    }

    /// One log both streams end up in, as a CI runner merges them: each writer appends to it
    /// only when its buffer is flushed.
    #[derive(Clone, Default)]
    struct MergedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for MergedLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct NoFeedback;

    impl FeedbackSource for NoFeedback {
        fn redelivery_after(&self) -> Duration {
            Duration::from_secs(1)
        }
        async fn receive(
            &self,
            _max: usize,
            _wait: Duration,
        ) -> Result<Vec<crate::transport::Received>, crate::transport::TransportError> {
            Ok(Vec::new())
        }
        async fn delete(
            &self,
            _handles: &[String],
        ) -> Result<(), crate::transport::TransportError> {
            Ok(())
        }
    }

    #[test]
    fn buffered_streams_merge_in_the_order_the_chunks_came() {
        let log = MergedLog::default();
        let out = std::io::BufWriter::new(log.clone());
        let err = std::io::BufWriter::new(log.clone());
        let mut follower = Follower::new(&NoFeedback, "r", FollowOptions::default(), out, err);
        let mut expected = Vec::new();
        for i in 0..20 {
            let (stream, text) = if i % 3 == 0 {
                (Stream::Stderr, format!("err {i}\n"))
            } else {
                (Stream::Stdout, format!("out {i}\n"))
            };
            expected.extend_from_slice(text.as_bytes());
            follower.write_chunk(&OutputChunk {
                stream,
                t: i,
                bytes: airlock_protocol::bytes::WireBytes(text.into_bytes()),
            });
        }
        follower.note("the end");
        expected.extend_from_slice(b"airlock: the end\n");
        let merged = log.0.lock().expect("log").clone();
        assert_eq!(
            String::from_utf8_lossy(&merged),
            String::from_utf8_lossy(&expected)
        );
    }

    #[test]
    fn exit_codes_follow_the_table() {
        let finished = |exit, timed_out| FollowOutcome::Finished {
            exit,
            timed_out,
            lost: vec![],
        };
        assert_eq!(finished(ExitStatus::Code(0), false).exit_code(), 0);
        assert_eq!(finished(ExitStatus::Code(42), false).exit_code(), 42);
        assert_eq!(finished(ExitStatus::Signal(9), false).exit_code(), 137);
        assert_eq!(finished(ExitStatus::Code(1), true).exit_code(), 253);
        assert_eq!(
            FollowOutcome::Rejected {
                code: "x".into(),
                reason: "y".into()
            }
            .exit_code(),
            251
        );
        assert_eq!(
            FollowOutcome::LostContact {
                message: String::new()
            }
            .exit_code(),
            252
        );
        assert_eq!(FollowOutcome::Cancelled { settled: None }.exit_code(), 254);
        assert_eq!(
            FollowOutcome::TaskStopped {
                stop_code: "x".into(),
                reason: "y".into(),
                exit_code: None
            }
            .exit_code(),
            255
        );
    }
}
