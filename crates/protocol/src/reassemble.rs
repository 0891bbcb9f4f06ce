//! Putting a request's feedback back in order on the CI side.
//!
//! SQS delivers at least once and in any order. The [`Reassembler`] accepts messages as they
//! arrive, drops duplicates (same seq) and messages for other requests, holds early ones until
//! the gap before them fills, and releases the runner's stream in seq order. It knows it is
//! complete when it has released every seq up to `Finished`, counting the seqs that
//! `Finished.lost` declares lost.
//!
//! Rules, in the order [`Reassembler::accept`] applies them:
//! - a message for another request id is [`Accepted::OtherRequest`];
//! - seq 0 is a dispatcher event, [`Accepted::Event`] (events are not deduplicated: SQS may
//!   deliver one twice, so acting on an event must be idempotent);
//! - a seq already released, already held, declared lost, or past the `Finished` seq is
//!   [`Accepted::Duplicate`]; so is a second `Finished` with another seq (the first one wins);
//! - otherwise the message is held, and the run of seqs from the next one to release is
//!   released as [`Accepted::Ready`].
//!
//! Seqs that `Finished.lost` declares lost are skipped as if released, so the stream completes
//! and [`Reassembler::lost`] tells the follower what to report. A message for a lost seq that
//! arrived before the `Finished` is kept and released in order (it did arrive; no output is
//! thrown away). One that arrives after the `Finished` is dropped as a duplicate: its seq is
//! closed, it may already have been skipped, and printing it out of order would garble the
//! output.

use std::collections::BTreeMap;

use crate::feedback::{Feedback, FeedbackBody};

/// What [`Reassembler::accept`] made of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Messages now in order, to be acted on (printed) in this order. May be empty when the
    /// message filled no gap yet.
    Ready(Vec<Feedback>),
    /// A dispatcher event (seq 0): act on it now.
    Event(Feedback),
    /// Seen before: dropped.
    Duplicate { seq: u64 },
    /// For another request: dropped.
    OtherRequest { request_id: String },
}

/// At most this many seqs are listed by [`Reassembler::gaps`]: a bogus seq near `u64::MAX`
/// must not make the list unbounded.
pub const MAX_REPORTED_GAPS: usize = 1000;

#[derive(Debug)]
pub struct Reassembler {
    request_id: String,
    /// The next seq to release.
    next: u64,
    held: BTreeMap<u64, Feedback>,
    /// The seq of `Finished`, once seen.
    last: Option<u64>,
    /// Sorted, without duplicates, each in `1..last`.
    lost: Vec<u64>,
    /// `Finished` has been released: every seq up to it is accounted for.
    complete: bool,
}

impl Reassembler {
    pub fn new(request_id: impl Into<String>) -> Reassembler {
        Reassembler {
            request_id: request_id.into(),
            next: 1,
            held: BTreeMap::new(),
            last: None,
            lost: Vec::new(),
            complete: false,
        }
    }

    pub fn accept(&mut self, message: Feedback) -> Accepted {
        if message.request_id != self.request_id {
            return Accepted::OtherRequest {
                request_id: message.request_id,
            };
        }
        let seq = message.seq;
        if seq == 0 {
            return Accepted::Event(message);
        }
        let released = seq < self.next || self.complete;
        let past_the_end = self.last.is_some_and(|last| seq > last);
        if released || past_the_end || self.held.contains_key(&seq) || self.is_lost(seq) {
            return Accepted::Duplicate { seq };
        }
        if let FeedbackBody::Finished { lost, .. } = &message.body {
            if self.last.is_some() {
                // A second `Finished` with another seq: the first one stands.
                return Accepted::Duplicate { seq };
            }
            self.finish(seq, lost);
        }
        self.held.insert(seq, message);
        Accepted::Ready(self.release())
    }

    /// Every seq up to `Finished` has been released (or declared lost).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Seqs not yet released below the highest seen: what a watchdog reports as missing.
    /// Seqs declared lost are not missing (they will not come). At most
    /// [`MAX_REPORTED_GAPS`] of them, lowest first.
    pub fn gaps(&self) -> Vec<u64> {
        let highest_held = self.held.last_key_value().map(|(&seq, _)| seq);
        let Some(highest) = highest_held.max(self.last) else {
            return Vec::new();
        };
        let mut gaps = Vec::new();
        let mut seq = self.next;
        // Each step either lists a gap or passes a held or lost seq, so this stops after at
        // most MAX_REPORTED_GAPS + held + lost steps.
        while seq < highest && gaps.len() < MAX_REPORTED_GAPS {
            if !self.held.contains_key(&seq) && !self.is_lost(seq) {
                gaps.push(seq);
            }
            seq += 1;
        }
        gaps
    }

    /// Seqs the runner declared lost in `Finished` and that had not arrived by then: the ones
    /// skipped. Sorted; seqs not below `Finished`'s own seq are ignored as nonsense.
    pub fn lost(&self) -> &[u64] {
        &self.lost
    }

    fn is_lost(&self, seq: u64) -> bool {
        self.lost.binary_search(&seq).is_ok()
    }

    /// Records the end of the stream: drops what was held past it and keeps, of the lost
    /// seqs, those not already here.
    fn finish(&mut self, last: u64, lost: &[u64]) {
        self.last = Some(last);
        self.held.retain(|&seq, _| seq < last);
        let mut lost: Vec<u64> = lost
            .iter()
            .copied()
            .filter(|&seq| seq >= self.next && seq < last && !self.held.contains_key(&seq))
            .collect();
        lost.sort_unstable();
        lost.dedup();
        self.lost = lost;
    }

    /// Releases the contiguous run from `next`, skipping lost seqs.
    fn release(&mut self) -> Vec<Feedback> {
        let mut ready = Vec::new();
        while !self.complete {
            let seq = self.next;
            if let Some(message) = self.held.remove(&seq) {
                ready.push(message);
            } else if !self.is_lost(seq) {
                break;
            }
            if self.last == Some(seq) {
                self.complete = true;
            } else {
                // Reaching u64::MAX would take 2^64 messages; saturating keeps it panic-free.
                self.next = seq.saturating_add(1);
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::WireBytes;
    use crate::feedback::{ExitStatus, OutputChunk, Stream};

    const ID: &str = "req-1";

    fn output(seq: u64, text: &str) -> Feedback {
        Feedback::new(
            ID,
            seq,
            FeedbackBody::Output {
                chunks: vec![OutputChunk {
                    stream: Stream::Stdout,
                    t: seq,
                    bytes: WireBytes(text.as_bytes().to_vec()),
                }],
            },
        )
    }

    fn finished(seq: u64, lost: Vec<u64>) -> Feedback {
        Feedback::new(
            ID,
            seq,
            FeedbackBody::Finished {
                exit: ExitStatus::Code(0),
                duration_ms: 1,
                timed_out: false,
                lost,
            },
        )
    }

    fn seqs(accepted: Accepted) -> Vec<u64> {
        match accepted {
            Accepted::Ready(messages) => messages.iter().map(|m| m.seq).collect(),
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    #[test]
    fn releases_in_order_and_drops_duplicates() {
        let mut r = Reassembler::new(ID);
        assert_eq!(seqs(r.accept(output(2, "b"))), Vec::<u64>::new());
        assert_eq!(r.gaps(), vec![1]);
        assert_eq!(r.accept(output(2, "b")), Accepted::Duplicate { seq: 2 });
        assert_eq!(seqs(r.accept(output(1, "a"))), vec![1, 2]);
        assert_eq!(r.accept(output(1, "a")), Accepted::Duplicate { seq: 1 });
        assert!(!r.is_complete());
        assert_eq!(seqs(r.accept(finished(4, vec![]))), Vec::<u64>::new());
        assert_eq!(r.gaps(), vec![3]);
        assert_eq!(seqs(r.accept(output(3, "c"))), vec![3, 4]);
        assert!(r.is_complete());
        assert!(r.gaps().is_empty());
        assert_eq!(r.accept(output(3, "c")), Accepted::Duplicate { seq: 3 });
        assert_eq!(
            r.accept(finished(4, vec![])),
            Accepted::Duplicate { seq: 4 }
        );
    }

    #[test]
    fn events_and_other_requests_bypass_the_stream() {
        let mut r = Reassembler::new(ID);
        let event = Feedback::new(ID, 0, FeedbackBody::Accepted { job: "web".into() });
        assert_eq!(r.accept(event.clone()), Accepted::Event(event));
        let mut other = output(1, "x");
        other.request_id = "req-2".into();
        assert_eq!(
            r.accept(other),
            Accepted::OtherRequest {
                request_id: "req-2".into()
            }
        );
        assert_eq!(seqs(r.accept(output(1, "a"))), vec![1], "seq 1 still free");
    }

    #[test]
    fn lost_seqs_are_skipped_and_late_arrivals_dropped() {
        let mut r = Reassembler::new(ID);
        assert_eq!(seqs(r.accept(output(1, "a"))), vec![1]);
        // 4 arrived before Finished declared it lost: kept. 2, 3 and 9 (nonsense) are not.
        assert_eq!(seqs(r.accept(output(4, "d"))), Vec::<u64>::new());
        assert_eq!(
            seqs(r.accept(finished(5, vec![3, 2, 3, 4, 9, 0]))),
            vec![4, 5]
        );
        assert!(r.is_complete());
        assert_eq!(r.lost(), &[2, 3]);
        assert_eq!(r.accept(output(2, "late")), Accepted::Duplicate { seq: 2 });
    }

    #[test]
    fn a_lost_seq_arriving_after_finished_is_dropped_even_before_the_gap_fills() {
        let mut r = Reassembler::new(ID);
        assert_eq!(seqs(r.accept(finished(4, vec![2]))), Vec::<u64>::new());
        assert_eq!(r.accept(output(2, "late")), Accepted::Duplicate { seq: 2 });
        assert_eq!(r.gaps(), vec![1, 3]);
        assert_eq!(seqs(r.accept(output(3, "c"))), Vec::<u64>::new());
        assert_eq!(seqs(r.accept(output(1, "a"))), vec![1, 3, 4]);
        assert!(r.is_complete());
    }

    #[test]
    fn the_first_finished_wins() {
        let mut r = Reassembler::new(ID);
        assert_eq!(
            seqs(r.accept(output(3, "held past the end"))),
            Vec::<u64>::new()
        );
        assert_eq!(seqs(r.accept(finished(2, vec![]))), Vec::<u64>::new());
        assert_eq!(r.gaps(), vec![1], "the message past the end was dropped");
        assert_eq!(
            r.accept(finished(7, vec![])),
            Accepted::Duplicate { seq: 7 }
        );
        assert_eq!(
            r.accept(output(5, "past the end")),
            Accepted::Duplicate { seq: 5 }
        );
        assert_eq!(seqs(r.accept(output(1, "a"))), vec![1, 2]);
        assert!(r.is_complete());
    }

    #[test]
    fn extreme_seqs_do_not_panic_or_blow_up() {
        let mut r = Reassembler::new(ID);
        assert_eq!(seqs(r.accept(output(u64::MAX, "x"))), Vec::<u64>::new());
        assert_eq!(
            r.accept(output(u64::MAX, "x")),
            Accepted::Duplicate { seq: u64::MAX }
        );
        let gaps = r.gaps();
        assert_eq!(gaps.len(), MAX_REPORTED_GAPS);
        assert_eq!(gaps[0], 1);
        assert_eq!(
            seqs(r.accept(finished(u64::MAX - 1, vec![u64::MAX, 1]))),
            Vec::<u64>::new()
        );
        assert_eq!(r.lost(), &[1]);
        assert_eq!(r.gaps()[0], 2);
        assert!(!r.is_complete());
    }

    #[test]
    fn finished_with_everything_before_it_lost_completes() {
        let mut r = Reassembler::new(ID);
        let lost: Vec<u64> = (1..5).collect();
        assert_eq!(seqs(r.accept(finished(5, lost))), vec![5]);
        assert!(r.is_complete());
        assert_eq!(
            r.accept(output(6, "after the end")),
            Accepted::Duplicate { seq: 6 }
        );
    }
}
