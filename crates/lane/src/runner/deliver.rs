//! Delivery of feedback messages through a [`FeedbackSink`]: batches, retries with
//! exponential backoff and full jitter, resending only what failed, and giving up on what is
//! still undelivered when the delivery deadline passes (those seqs become `Finished.lost`).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Packing;
use crate::transport::{EntryOutcome, FeedbackSink, TransportError};

/// The first retry waits up to this long; each further one doubles it.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Retries never wait longer than this.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// `Finished` is retried more eagerly: its backoff stops growing here.
const FINISHED_BACKOFF_CAP: Duration = Duration::from_secs(1);
/// One `send_batch` call that takes longer than this is treated as a retryable failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages the sender holds (sending or waiting to retry) before it stops taking more from
/// the queue; with the queue itself this bounds what the runner buffers.
const MAX_HELD: usize = 40;

/// A message on its way: its seq and its JSON body.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub seq: u64,
    pub body: String,
}

struct Held {
    body: String,
    failures: u32,
    next_try: Instant,
    last_error: Option<String>,
}

/// Full jitter: a uniformly random wait between zero and the exponential bound.
fn backoff(failures: u32, cap: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let bound = BACKOFF_BASE.saturating_mul(1u32 << exponent).min(cap);
    let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=bound_ms))
}

/// Sends what arrives on `queue` until the queue is closed and everything is sent, or the
/// give-up time (set through `give_up_at`, once the job has ended) passes. Returns the seqs
/// it gave up on, in order.
pub(crate) async fn deliver<S: FeedbackSink, P: Packing>(
    request_id: &str,
    sink: &S,
    mut queue: mpsc::Receiver<Outgoing>,
    mut give_up_at: watch::Receiver<Option<Instant>>,
    message_limit: usize,
) -> Vec<u64> {
    let mut held: BTreeMap<u64, Held> = BTreeMap::new();
    let mut lost: Vec<u64> = Vec::new();
    let mut queue_closed = false;
    let mut deadline_known = false;
    let mut deadline: Option<Instant> = None;
    loop {
        if !deadline_known {
            deadline = *give_up_at.borrow_and_update();
        }
        let now = Instant::now();
        let past_deadline = deadline.is_some_and(|at| now >= at);
        if past_deadline && !held.is_empty() {
            for (seq, message) in std::mem::take(&mut held) {
                tracing::error!(
                    request_id,
                    seq,
                    attempts = message.failures,
                    last_error = message.last_error.as_deref().unwrap_or("none"),
                    "giving up on a feedback message: the delivery deadline passed"
                );
                lost.push(seq);
            }
        }
        // Take what is waiting, so that batches fill up.
        while !queue_closed && held.len() < MAX_HELD {
            match queue.try_recv() {
                Ok(message) => take(&mut held, &mut lost, message, past_deadline, now),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => queue_closed = true,
            }
        }
        if queue_closed && held.is_empty() {
            lost.sort_unstable();
            return lost;
        }
        let ready: Vec<u64> = held
            .iter()
            .filter(|(_, m)| m.next_try <= now)
            .map(|(&seq, _)| seq)
            .collect();
        if !ready.is_empty() {
            send_some::<S, P>(request_id, sink, &mut held, &ready, message_limit).await;
            continue;
        }
        let next_retry = held.values().map(|m| m.next_try).min();
        tokio::select! {
            message = queue.recv(), if !queue_closed && held.len() < MAX_HELD => match message {
                Some(message) => take(&mut held, &mut lost, message, past_deadline, Instant::now()),
                None => queue_closed = true,
            },
            () = sleep_until_opt(next_retry) => {}
            () = sleep_until_opt(deadline.filter(|_| !past_deadline)) => {}
            changed = give_up_at.changed(), if !deadline_known => {
                if changed.is_err() {
                    // The runner dropped the sender without setting a deadline: keep the
                    // current one (none means: no deadline).
                    deadline_known = true;
                }
            }
        }
    }
}

fn take(
    held: &mut BTreeMap<u64, Held>,
    lost: &mut Vec<u64>,
    message: Outgoing,
    past_deadline: bool,
    now: Instant,
) {
    if past_deadline {
        lost.push(message.seq);
        return;
    }
    held.insert(
        message.seq,
        Held {
            body: message.body,
            failures: 0,
            next_try: now,
            last_error: None,
        },
    );
}

/// Sends the first batch of the ready messages and records each entry's outcome.
async fn send_some<S: FeedbackSink, P: Packing>(
    request_id: &str,
    sink: &S,
    held: &mut BTreeMap<u64, Held>,
    ready: &[u64],
    message_limit: usize,
) {
    let bodies: Vec<String> = ready
        .iter()
        .filter_map(|seq| held.get(seq).map(|m| m.body.clone()))
        .collect();
    let Some(range) = P::batches(&bodies, message_limit).into_iter().next() else {
        return;
    };
    let seqs = &ready[range.clone()];
    let bodies = &bodies[range];
    let result = match tokio::time::timeout(CALL_TIMEOUT, sink.send_batch(bodies)).await {
        Ok(result) => result,
        Err(_) => Err(TransportError {
            operation: "send feedback",
            message: format!("no answer within {CALL_TIMEOUT:?}"),
            retryable: true,
        }),
    };
    let outcomes: Vec<EntryOutcome> = match result {
        Ok(outcomes) if outcomes.len() == seqs.len() => outcomes,
        Ok(outcomes) => {
            tracing::warn!(
                request_id,
                sent = seqs.len(),
                answered = outcomes.len(),
                "the feedback transport answered for a different number of messages; resending them all"
            );
            vec![
                EntryOutcome::Failed {
                    retryable: true,
                    reason: "no outcome for this entry".into()
                };
                seqs.len()
            ]
        }
        Err(e) => {
            tracing::warn!(
                request_id,
                retryable = e.retryable,
                "sending feedback failed: {e}"
            );
            vec![
                EntryOutcome::Failed {
                    retryable: e.retryable,
                    reason: e.to_string(),
                };
                seqs.len()
            ]
        }
    };
    let now = Instant::now();
    for (seq, outcome) in seqs.iter().zip(outcomes) {
        match outcome {
            EntryOutcome::Sent => {
                held.remove(seq);
            }
            EntryOutcome::Failed { retryable, reason } => {
                if let Some(message) = held.get_mut(seq) {
                    message.failures += 1;
                    // Non-retryable failures are retried too (until the deadline): a queue
                    // policy fixed by an operator mid-deploy should not cost the log.
                    if !retryable && message.failures == 1 {
                        tracing::error!(request_id, seq, "feedback message refused: {reason}");
                    }
                    message.next_try = now + backoff(message.failures, BACKOFF_CAP);
                    message.last_error = Some(reason);
                }
            }
        }
    }
}

/// Sends one message (`Finished`) until it is sent or `budget` has passed. Returns whether it
/// was delivered.
pub(crate) async fn deliver_one<S: FeedbackSink>(
    request_id: &str,
    sink: &S,
    seq: u64,
    body: String,
    budget: Duration,
) -> bool {
    let give_up = Instant::now() + budget;
    let bodies = [body];
    let mut failures = 0;
    loop {
        let result = tokio::time::timeout(CALL_TIMEOUT, sink.send_batch(&bodies)).await;
        let reason = match result {
            Ok(Ok(outcomes)) => match outcomes.first() {
                Some(EntryOutcome::Sent) => return true,
                Some(EntryOutcome::Failed { reason, .. }) => reason.clone(),
                None => "no outcome for the entry".to_string(),
            },
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {CALL_TIMEOUT:?}"),
        };
        failures += 1;
        let wait = backoff(failures, FINISHED_BACKOFF_CAP);
        if Instant::now() + wait > give_up {
            tracing::error!(
                request_id,
                seq,
                attempts = failures,
                "could not deliver the final message: {reason}"
            );
            return false;
        }
        tracing::warn!(
            request_id,
            seq,
            "sending the final message failed, retrying: {reason}"
        );
        tokio::time::sleep(wait).await;
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        for failures in 1..40 {
            let wait = backoff(failures, BACKOFF_CAP);
            assert!(wait <= BACKOFF_CAP, "{failures}: {wait:?}");
            let bound = BACKOFF_BASE
                .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
                .min(BACKOFF_CAP);
            assert!(wait <= bound, "{failures}: {wait:?} > {bound:?}");
        }
        // Full jitter: over many draws at a high failure count some waits are long.
        let longest = (0..200)
            .map(|_| backoff(10, BACKOFF_CAP))
            .max()
            .unwrap_or_default();
        assert!(longest > Duration::from_secs(2), "{longest:?}");
    }
}
