//! Fitting feedback into SQS messages and batches.
//!
//! SQS caps a message body (256 KiB by default, 1 MiB at most) and a SendMessageBatch request
//! (at most 10 entries, and the sum of the bodies under the same cap). The runner hands
//! [`OutputPacker`] its chunks as they come; the packer emits `Output` messages, each of which
//! serialises to at most `limit` bytes, splitting a chunk that is too large (a 3 MiB line) into
//! consecutive chunks of the same stream. It never reorders bytes and never drops any.

use crate::feedback::{Feedback, OutputChunk};

/// SQS's default maximum message size (256 KiB).
pub const DEFAULT_MESSAGE_LIMIT: usize = 256 * 1024;
/// The largest message SQS accepts when the queue allows it (1 MiB).
pub const MAX_MESSAGE_LIMIT: usize = 1024 * 1024;
/// The smallest limit we accept: a message must hold its envelope and some bytes.
pub const MIN_MESSAGE_LIMIT: usize = 1024;
/// SendMessageBatch takes at most this many entries.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// Packs output chunks of one request into `Output` messages of at most `limit` bytes of JSON.
#[derive(Debug)]
pub struct OutputPacker {
    request_id: String,
    limit: usize,
    pending: Vec<OutputChunk>,
}

impl OutputPacker {
    /// `limit` is clamped into [`MIN_MESSAGE_LIMIT`]..=[`MAX_MESSAGE_LIMIT`].
    pub fn new(request_id: impl Into<String>, limit: usize) -> OutputPacker {
        OutputPacker {
            request_id: request_id.into(),
            limit: limit.clamp(MIN_MESSAGE_LIMIT, MAX_MESSAGE_LIMIT),
            pending: Vec::new(),
        }
    }

    /// Adds a chunk. Returns the messages that are now full (each ≤ limit bytes as JSON), with
    /// seqs taken from `next_seq`, which it advances.
    pub fn push(&mut self, chunk: OutputChunk, next_seq: &mut u64) -> Vec<Feedback> {
        let _ = (chunk, next_seq, &self.request_id, self.limit, &self.pending);
        todo!("protocol helper")
    }

    /// Emits what is pending (the batching window closed), possibly nothing.
    pub fn flush(&mut self, next_seq: &mut u64) -> Vec<Feedback> {
        let _ = next_seq;
        todo!("protocol helper")
    }

    /// Whether chunks are waiting for [`OutputPacker::flush`].
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Groups message bodies into SendMessageBatch calls: at most [`MAX_BATCH_ENTRIES`] entries
/// and at most `limit` bytes of bodies per batch, keeping their order.
pub fn batches(bodies: &[String], limit: usize) -> Vec<std::ops::Range<usize>> {
    let _ = (bodies, limit);
    todo!("protocol helper")
}
