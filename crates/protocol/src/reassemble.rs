//! Putting a request's feedback back in order on the CI side.
//!
//! SQS delivers at least once and in any order. The [`Reassembler`] accepts messages as they
//! arrive, drops duplicates (same seq) and messages for other requests, holds early ones until
//! the gap before them fills, and releases the runner's stream in seq order. It knows it is
//! complete when it has released every seq up to `Finished`, counting the seqs that
//! `Finished.lost` declares lost.

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

#[derive(Debug)]
pub struct Reassembler {
    request_id: String,
    /// The next seq to release.
    next: u64,
    held: BTreeMap<u64, Feedback>,
    /// The seq of `Finished`, once seen.
    last: Option<u64>,
    lost: Vec<u64>,
}

impl Reassembler {
    pub fn new(request_id: impl Into<String>) -> Reassembler {
        Reassembler {
            request_id: request_id.into(),
            next: 1,
            held: BTreeMap::new(),
            last: None,
            lost: Vec::new(),
        }
    }

    pub fn accept(&mut self, message: Feedback) -> Accepted {
        let _ = (
            message,
            &self.request_id,
            self.next,
            &self.held,
            self.last,
            &self.lost,
        );
        todo!("protocol helper")
    }

    /// Every seq up to `Finished` has been released (or declared lost).
    pub fn is_complete(&self) -> bool {
        todo!("protocol helper")
    }

    /// Seqs not yet released below the highest seen: what a watchdog reports as missing.
    pub fn gaps(&self) -> Vec<u64> {
        todo!("protocol helper")
    }

    /// Seqs the runner declared lost in `Finished`.
    pub fn lost(&self) -> &[u64] {
        &self.lost
    }
}

// Silence "unused" until the helper fills the bodies in.
#[allow(dead_code)]
fn _uses(body: &FeedbackBody) -> bool {
    matches!(body, FeedbackBody::Finished { .. })
}
