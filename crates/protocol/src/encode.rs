//! Fitting feedback into SQS messages and batches.
//!
//! SQS caps a message body (256 KiB by default, 1 MiB at most) and a SendMessageBatch request
//! (at most 10 entries, and the sum of the bodies under the same cap). The runner hands
//! [`OutputPacker`] its chunks as they come; the packer emits `Output` messages, each of which
//! serialises to at most `limit` bytes, splitting a chunk that is too large (a 3 MiB line) into
//! consecutive chunks of the same stream. It never reorders bytes and never drops any.

use crate::bytes::WireBytes;
use crate::feedback::{Feedback, FeedbackBody, OutputChunk, Stream};

/// SQS's default maximum message size (256 KiB).
pub const DEFAULT_MESSAGE_LIMIT: usize = 256 * 1024;
/// The largest message SQS accepts when the queue allows it (1 MiB).
pub const MAX_MESSAGE_LIMIT: usize = 1024 * 1024;
/// The smallest limit we accept: a message must hold its envelope and some bytes.
pub const MIN_MESSAGE_LIMIT: usize = 1024;
/// SendMessageBatch takes at most this many entries.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// Packs output chunks of one request into `Output` messages of at most `limit` bytes of JSON.
///
/// Sizes are tracked exactly, without serialising: the message's JSON length is the envelope's
/// length plus each chunk's, and a chunk's length follows from its form (escaped text or
/// base64), so [`OutputPacker::push`] costs time proportional to the chunk it is given. The
/// envelope is sized for a 20-digit seq, because the seq is only known when the message is
/// emitted (heartbeats may take seqs in between).
///
/// Consecutive chunks of the same stream are merged while both are in text form (the merged
/// chunk keeps the first chunk's `t`). Empty chunks carry nothing and are dropped.
///
/// The limit holds for every message as long as the envelope leaves room for one piece of
/// output: with a request id of a few hundred bytes and [`MIN_MESSAGE_LIMIT`] it does; with a
/// request id close to the limit a message carries one character (or byte) anyway and is
/// larger than the limit, rather than stalling the output.
#[derive(Debug)]
pub struct OutputPacker {
    request_id: String,
    limit: usize,
    pending: Vec<OutputChunk>,
    /// Exact JSON length of the pending message with a 20-digit seq.
    pending_size: usize,
    /// Whether the last pending chunk serialises as text (so text may be appended to it).
    last_is_text: bool,
    /// JSON length of an `Output` message with no chunks and a 20-digit seq.
    envelope_size: usize,
}

/// The form a run of bytes takes in JSON (see [`crate::bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `{"text":"…"}`; the field is the escaped length without quotes.
    Text { escaped: usize },
    /// `{"b64":"…"}`.
    Base64,
}

/// A piece of a chunk: its length in bytes and its form.
#[derive(Debug, Clone, Copy)]
struct Piece {
    len: usize,
    form: Form,
}

/// A text piece shorter than this that ends at bytes that cannot be text is not worth its own
/// chunk: binary output would otherwise become a flood of tiny chunks, each paying the ~50
/// bytes of chunk overhead. Such bytes go out as one base64 piece instead.
const MIN_TEXT_PIECE: usize = 64;

impl OutputPacker {
    /// `limit` is clamped into [`MIN_MESSAGE_LIMIT`]..=[`MAX_MESSAGE_LIMIT`].
    pub fn new(request_id: impl Into<String>, limit: usize) -> OutputPacker {
        let request_id = request_id.into();
        let envelope_size = Feedback::new(
            request_id.clone(),
            u64::MAX,
            FeedbackBody::Output { chunks: Vec::new() },
        )
        .to_json()
        .len();
        OutputPacker {
            request_id,
            limit: limit.clamp(MIN_MESSAGE_LIMIT, MAX_MESSAGE_LIMIT),
            pending: Vec::new(),
            pending_size: envelope_size,
            last_is_text: false,
            envelope_size,
        }
    }

    /// The limit in force, after clamping.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Adds a chunk. Returns the messages that are now full (each ≤ limit bytes as JSON), with
    /// seqs taken from `next_seq`, which it advances.
    pub fn push(&mut self, chunk: OutputChunk, next_seq: &mut u64) -> Vec<Feedback> {
        let mut emitted = Vec::new();
        let OutputChunk { stream, t, bytes } = chunk;
        let bytes = bytes.0;
        if bytes.is_empty() {
            return emitted;
        }
        let form = form_of(&bytes);
        // The usual case: the chunk fits whole, in this message or in a fresh one.
        if self.cost(stream, t, bytes.len(), form) <= self.room() {
            self.append(stream, t, &bytes, form);
            return emitted;
        }
        if !self.pending.is_empty() && self.fresh_room() >= chunk_size(stream, t, bytes.len(), form)
        {
            emitted.push(self.emit(next_seq));
            self.append(stream, t, &bytes, form);
            return emitted;
        }
        // Too large for one message: split it into consecutive pieces of the same stream.
        let mut pos = 0;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let room = self.room();
            let text_budget =
                room.saturating_sub(self.cost(stream, t, 0, Form::Text { escaped: 0 }));
            let b64_budget = room.saturating_sub(self.cost(stream, t, 0, Form::Base64));
            let piece = match next_piece(rest, text_budget, b64_budget) {
                Some(piece) => piece,
                None if !self.pending.is_empty() => {
                    emitted.push(self.emit(next_seq));
                    continue;
                }
                None => smallest_piece(rest),
            };
            self.append(stream, t, &rest[..piece.len], piece.form);
            pos += piece.len;
        }
        emitted
    }

    /// Emits what is pending (the batching window closed), possibly nothing.
    pub fn flush(&mut self, next_seq: &mut u64) -> Vec<Feedback> {
        if self.pending.is_empty() {
            Vec::new()
        } else {
            vec![self.emit(next_seq)]
        }
    }

    /// Whether chunks are waiting for [`OutputPacker::flush`].
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Bytes left before the pending message reaches the limit.
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.pending_size)
    }

    /// Bytes a message with no chunks has left.
    fn fresh_room(&self) -> usize {
        self.limit.saturating_sub(self.envelope_size)
    }

    /// Whether bytes of `stream` in `form` would be merged into the last pending chunk.
    fn merges(&self, stream: Stream, form: Form) -> bool {
        self.last_is_text
            && matches!(form, Form::Text { .. })
            && self
                .pending
                .last()
                .is_some_and(|last| last.stream == stream)
    }

    /// How much appending `len` bytes in `form` would add to the pending message.
    fn cost(&self, stream: Stream, t: u64, len: usize, form: Form) -> usize {
        if self.merges(stream, form) {
            content_size(len, form)
        } else {
            let comma = usize::from(!self.pending.is_empty());
            comma + chunk_size(stream, t, len, form)
        }
    }

    fn append(&mut self, stream: Stream, t: u64, bytes: &[u8], form: Form) {
        self.pending_size += self.cost(stream, t, bytes.len(), form);
        if self.merges(stream, form)
            && let Some(last) = self.pending.last_mut()
        {
            last.bytes.0.extend_from_slice(bytes);
            return;
        }
        self.pending.push(OutputChunk {
            stream,
            t,
            bytes: WireBytes(bytes.to_vec()),
        });
        self.last_is_text = matches!(form, Form::Text { .. });
    }

    fn emit(&mut self, next_seq: &mut u64) -> Feedback {
        let chunks = std::mem::take(&mut self.pending);
        self.pending_size = self.envelope_size;
        self.last_is_text = false;
        let message = Feedback::new(
            self.request_id.clone(),
            *next_seq,
            FeedbackBody::Output { chunks },
        );
        *next_seq = next_seq.saturating_add(1);
        message
    }
}

/// JSON escaping growth of each byte of UTF-8 text, as serde_json writes it: `"` and `\` and
/// the short escapes (`\b \t \n \f \r`) take 2 bytes, the other control characters `\u00XX` 6,
/// everything else (DEL and non-ASCII included) is written as is.
const ESCAPED_LEN: [u8; 256] = {
    let mut table = [1u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = match byte {
            0x08 | 0x09 | 0x0A | 0x0C | 0x0D => 2,
            _ => 6,
        };
        byte += 1;
    }
    table[b'"' as usize] = 2;
    table[b'\\' as usize] = 2;
    table
};

/// The escaped length of text, without the quotes.
fn escaped_len(text: &[u8]) -> usize {
    text.iter()
        .map(|&b| usize::from(ESCAPED_LEN[usize::from(b)]))
        .sum()
}

/// Length of base64 (with padding) of `len` bytes.
fn base64_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// The characters that are valid UTF-8 but which [`WireBytes`] still sends as base64.
fn forces_base64(c: char) -> bool {
    matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// The form [`WireBytes`] gives these bytes.
fn form_of(bytes: &[u8]) -> Form {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains(['\u{FFFE}', '\u{FFFF}']) => Form::Text {
            escaped: escaped_len(bytes),
        },
        _ => Form::Base64,
    }
}

/// Length of the JSON string value (with quotes) of `len` bytes in `form`, minus the quotes.
fn content_size(len: usize, form: Form) -> usize {
    match form {
        Form::Text { escaped } => escaped,
        Form::Base64 => base64_len(len),
    }
}

fn decimal_digits(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Exact JSON length of an [`OutputChunk`]:
/// `{"stream":"stdout","t":T,"bytes":{"text":"…"}}` or the same with `"b64"`.
fn chunk_size(stream: Stream, t: u64, len: usize, form: Form) -> usize {
    let stream_name = match stream {
        Stream::Stdout => "stdout".len(),
        Stream::Stderr => "stderr".len(),
    };
    let key = match form {
        Form::Text { .. } => "text".len(),
        Form::Base64 => "b64".len(),
    };
    r#"{"stream":""#.len()
        + stream_name
        + r#"","t":"#.len()
        + decimal_digits(t)
        + r#","bytes":{""#.len()
        + key
        + r#"":""#.len()
        + content_size(len, form)
        + r#""}}"#.len()
}

/// The largest piece at the start of `rest` that fits: as text when `rest` starts with text,
/// within `text_budget` escaped bytes, and as base64 within `b64_budget` otherwise. `None` when
/// nothing fits.
///
/// Text pieces end on character boundaries, so text output stays readable text on the wire.
/// A base64 piece is only chosen when the bytes after the text run cannot be text (invalid
/// UTF-8, U+FFFE/U+FFFF, or a character cut by the end of the chunk); any range that reaches
/// past such bytes is itself not text, so its size is the base64 size and the budget holds.
fn next_piece(rest: &[u8], text_budget: usize, b64_budget: usize) -> Option<Piece> {
    // No piece of either form is longer in bytes than its JSON, so the budget bounds the bytes
    // to look at: the scan costs O(piece), not O(rest of the chunk).
    let window = &rest[..rest.len().min(text_budget.max(b64_budget))];
    let decoded = std::str::from_utf8(window);
    let valid = match decoded {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&window[..error.valid_up_to()]).unwrap_or_default(),
    };
    let mut text_len = 0;
    let mut escaped = 0;
    let mut stopped_by_budget = false;
    for c in valid.chars() {
        if forces_base64(c) {
            break;
        }
        let mut utf8 = [0u8; 4];
        let char_escaped = escaped_len(c.encode_utf8(&mut utf8).as_bytes());
        if escaped + char_escaped > text_budget {
            stopped_by_budget = true;
            break;
        }
        escaped += char_escaped;
        text_len += c.len_utf8();
    }
    // A walk that reached where the window cuts the chunk (at a character boundary, or inside
    // a character that continues past the window) was stopped by the budget too: the window
    // is at least the text budget long and no byte escapes to less than one byte.
    let cut_by_window = window.len() < rest.len()
        && match decoded {
            Ok(_) => true,
            Err(error) => error.error_len().is_none(),
        };
    if text_len == valid.len() && cut_by_window {
        stopped_by_budget = true;
    }
    let text = Piece {
        len: text_len,
        form: Form::Text { escaped },
    };
    if text_len == rest.len() || (text_len > 0 && (stopped_by_budget || text_len >= MIN_TEXT_PIECE))
    {
        return Some(text);
    }
    if stopped_by_budget {
        // Not even one character fits (text_len is 0 here).
        return None;
    }
    // Bytes at `text_len` cannot be text, so every range reaching past them is base64.
    let b64_len = rest.len().min(b64_budget / 4 * 3);
    if b64_len > text_len {
        Some(Piece {
            len: b64_len,
            form: Form::Base64,
        })
    } else if text_len > 0 {
        Some(text)
    } else {
        None
    }
}

/// The least a message can carry: one character, or one byte that cannot be text. Used only
/// when an empty message has no room for even that (an absurdly long request id).
fn smallest_piece(rest: &[u8]) -> Piece {
    let first_char = rest
        .utf8_chunks()
        .next()
        .and_then(|chunk| chunk.valid().chars().next())
        .filter(|&c| !forces_base64(c));
    match first_char {
        Some(c) => {
            let len = c.len_utf8();
            Piece {
                len,
                form: Form::Text {
                    escaped: escaped_len(&rest[..len]),
                },
            }
        }
        None => {
            // One byte: `rest` starts with invalid UTF-8 or U+FFFE/U+FFFF, whose first byte
            // alone is not UTF-8 either.
            Piece {
                len: 1.min(rest.len()),
                form: Form::Base64,
            }
        }
    }
}

/// Groups message bodies into SendMessageBatch calls: at most [`MAX_BATCH_ENTRIES`] entries
/// and at most `limit` bytes of bodies per batch, keeping their order. A body larger than
/// `limit` on its own gets a batch of its own (SQS will refuse it; that is the sender's error
/// to report, not a reason to drop it here). Every body is in exactly one range.
pub fn batches(bodies: &[String], limit: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut size = 0usize;
    for (index, body) in bodies.iter().enumerate() {
        let full = index - start == MAX_BATCH_ENTRIES || size.saturating_add(body.len()) > limit;
        if index > start && full {
            ranges.push(start..index);
            start = index;
            size = 0;
        }
        size = size.saturating_add(body.len());
    }
    if start < bodies.len() {
        ranges.push(start..bodies.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn chunk(stream: Stream, t: u64, bytes: &[u8]) -> OutputChunk {
        OutputChunk {
            stream,
            t,
            bytes: WireBytes(bytes.to_vec()),
        }
    }

    /// Per-stream concatenation of the output in `messages`, checking seqs and sizes.
    fn unpack(messages: &[Feedback], limit: usize, first_seq: u64) -> BTreeMap<Stream, Vec<u8>> {
        let mut streams = BTreeMap::<Stream, Vec<u8>>::new();
        for (index, message) in messages.iter().enumerate() {
            assert_eq!(
                message.seq,
                first_seq + index as u64,
                "seqs increase by one"
            );
            let json = message.to_json();
            assert!(
                json.len() <= limit,
                "message of {} bytes > {limit}",
                json.len()
            );
            assert!(crate::bytes::sqs_accepts(&json));
            let FeedbackBody::Output { chunks } = &message.body else {
                panic!("not an Output message: {json}");
            };
            assert!(!chunks.is_empty(), "empty Output message");
            for chunk in chunks {
                streams
                    .entry(chunk.stream)
                    .or_default()
                    .extend(&chunk.bytes.0);
            }
        }
        streams
    }

    fn expected(chunks: &[OutputChunk]) -> BTreeMap<Stream, Vec<u8>> {
        let mut streams = BTreeMap::<Stream, Vec<u8>>::new();
        for chunk in chunks.iter().filter(|c| !c.bytes.0.is_empty()) {
            streams
                .entry(chunk.stream)
                .or_default()
                .extend(&chunk.bytes.0);
        }
        streams
    }

    fn pack(chunks: &[OutputChunk], limit: usize, next_seq: &mut u64) -> Vec<Feedback> {
        let mut packer = OutputPacker::new("0b4a2c4e-5d6f-4a1b-9c8d-7e6f5a4b3c2d", limit);
        let mut messages = Vec::new();
        for chunk in chunks {
            messages.extend(packer.push(chunk.clone(), next_seq));
        }
        messages.extend(packer.flush(next_seq));
        assert!(packer.is_empty());
        messages
    }

    fn output_bytes() -> impl Strategy<Value = Vec<u8>> {
        let part = prop_oneof![
            4 => "[ -~]{0,40}\n".prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..64),
            1 => Just(b"\x1b[1;31m\0\0\0\r\"\\".to_vec()),
            1 => Just("é✓😀\u{FFFE}".as_bytes().to_vec()),
            1 => any::<String>().prop_map(String::into_bytes),
            1 => (0usize..3000).prop_map(|n| vec![b'x'; n]),
            1 => (0usize..1500).prop_map(|n| vec![0u8; n]),
            1 => (0usize..800).prop_map(|n| "😀".repeat(n).into_bytes()),
        ];
        proptest::collection::vec(part, 0..6).prop_map(|parts| parts.concat())
    }

    fn output_chunks() -> impl Strategy<Value = Vec<OutputChunk>> {
        proptest::collection::vec(
            (any::<bool>(), any::<u64>(), output_bytes()).prop_map(|(stderr, t, bytes)| {
                let stream = if stderr {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                chunk(stream, t % 10_000_000_000_000_000, &bytes)
            }),
            0..40,
        )
    }

    proptest! {
        #[test]
        fn exact_size_matches_serde(stderr in any::<bool>(), t in any::<u64>(), bytes in output_bytes()) {
            let stream = if stderr { Stream::Stderr } else { Stream::Stdout };
            let json = serde_json::to_string(&chunk(stream, t, &bytes)).expect("serialises");
            prop_assert_eq!(chunk_size(stream, t, bytes.len(), form_of(&bytes)), json.len());
        }

        #[test]
        fn packed_messages_fit_and_keep_every_byte(
            chunks in output_chunks(),
            limit in MIN_MESSAGE_LIMIT..=8 * 1024,
            flush_every in 1usize..8,
            twenty_digit_seqs in any::<bool>(),
        ) {
            let first_seq = if twenty_digit_seqs { 10_000_000_000_000_000_000 } else { 1 };
            let mut packer = OutputPacker::new("0b4a2c4e-5d6f-4a1b-9c8d-7e6f5a4b3c2d", limit);
            let mut next_seq = first_seq;
            let mut messages = Vec::new();
            for (index, chunk) in chunks.iter().enumerate() {
                messages.extend(packer.push(chunk.clone(), &mut next_seq));
                if index % flush_every == 0 {
                    let tracked = packer.pending_size;
                    let flushed = packer.flush(&mut next_seq);
                    if let [message] = flushed.as_slice() && twenty_digit_seqs {
                        // With a 20-digit seq the running size is exact, not just a bound.
                        prop_assert_eq!(message.to_json().len(), tracked);
                    }
                    messages.extend(flushed);
                }
            }
            messages.extend(packer.flush(&mut next_seq));
            prop_assert_eq!(next_seq, first_seq + messages.len() as u64);
            prop_assert_eq!(unpack(&messages, limit, first_seq), expected(&chunks));
        }

        #[test]
        fn utf8_output_is_split_between_characters(
            text in proptest::collection::vec(any::<String>(), 1..20),
            limit in MIN_MESSAGE_LIMIT..=4 * 1024,
        ) {
            let text: String = text.concat().replace(['\u{FFFE}', '\u{FFFF}'], "?");
            let messages = pack(&[chunk(Stream::Stdout, 1, text.as_bytes())], limit, &mut 1);
            for message in &messages {
                let FeedbackBody::Output { chunks } = &message.body else { panic!("not output") };
                for piece in chunks {
                    prop_assert!(std::str::from_utf8(&piece.bytes.0).is_ok());
                }
            }
            let streams = unpack(&messages, limit, 1);
            let expected_bytes: &[u8] = text.as_bytes();
            prop_assert_eq!(streams.get(&Stream::Stdout).map(Vec::as_slice).unwrap_or_default(), expected_bytes);
        }

        #[test]
        fn batches_keep_order_and_respect_both_limits(
            sizes in proptest::collection::vec(0usize..5000, 0..60),
            limit in 1usize..20_000,
        ) {
            let bodies: Vec<String> = sizes.iter().map(|&n| "a".repeat(n)).collect();
            let ranges = batches(&bodies, limit);
            let mut next = 0;
            for range in &ranges {
                prop_assert_eq!(range.start, next, "contiguous, in order");
                prop_assert!(!range.is_empty());
                prop_assert!(range.len() <= MAX_BATCH_ENTRIES);
                let total: usize = bodies[range.clone()].iter().map(String::len).sum();
                prop_assert!(total <= limit || range.len() == 1, "{total} > {limit}");
                // Greedy: the next body would not have fitted.
                if range.end < bodies.len() {
                    let with_next = total + bodies[range.end].len();
                    prop_assert!(range.len() == MAX_BATCH_ENTRIES || with_next > limit);
                }
                next = range.end;
            }
            prop_assert_eq!(next, bodies.len());
        }
    }

    #[test]
    fn a_three_mib_line_is_split_into_full_text_messages() {
        let mut line = Vec::new();
        while line.len() < 3 * 1024 * 1024 {
            line.extend_from_slice("deploy ✓ \"quoted\" \0 step 😀 ".as_bytes());
        }
        line.push(b'\n');
        let input = [
            chunk(Stream::Stdout, 7, b"before\n"),
            chunk(Stream::Stdout, 8, &line),
            chunk(Stream::Stderr, 9, b"after\n"),
        ];
        let messages = pack(&input, DEFAULT_MESSAGE_LIMIT, &mut 1);
        assert_eq!(
            unpack(&messages, DEFAULT_MESSAGE_LIMIT, 1),
            expected(&input)
        );
        let json_total: usize = messages.iter().map(|m| m.to_json().len()).sum();
        assert!(
            messages.len() <= json_total / (DEFAULT_MESSAGE_LIMIT - 512) + 1,
            "{} messages for {json_total} bytes: badly filled",
            messages.len()
        );
        for message in &messages {
            let json = message.to_json();
            assert!(
                !json.contains(r#""b64""#),
                "UTF-8 output went out as base64"
            );
        }
    }

    #[test]
    fn a_three_mib_binary_chunk_round_trips() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let binary: Vec<u8> = (0..3 * 1024 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let input = [chunk(Stream::Stderr, 1, &binary)];
        let messages = pack(&input, DEFAULT_MESSAGE_LIMIT, &mut 1);
        assert_eq!(
            unpack(&messages, DEFAULT_MESSAGE_LIMIT, 1),
            expected(&input)
        );
        // Base64 grows 4/3: 3 MiB needs 16 full messages of 256 KiB, and no more than 17.
        assert!(messages.len() <= 17, "{} messages", messages.len());
    }

    #[test]
    fn small_lines_of_one_stream_merge_into_one_chunk() {
        let mut packer = OutputPacker::new("r1", DEFAULT_MESSAGE_LIMIT);
        let mut next_seq = 1;
        for line in 0..1000 {
            let out = packer.push(
                chunk(Stream::Stdout, line, format!("line {line}\n").as_bytes()),
                &mut next_seq,
            );
            assert!(out.is_empty());
        }
        packer.push(chunk(Stream::Stderr, 2000, b"warning\n"), &mut next_seq);
        let messages = packer.flush(&mut next_seq);
        let [message] = messages.as_slice() else {
            panic!("{} messages", messages.len())
        };
        let FeedbackBody::Output { chunks } = &message.body else {
            panic!("not output")
        };
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].t, 0, "a merged chunk keeps the first time");
        assert!(chunks[0].bytes.0.ends_with(b"line 999\n"));
        assert_eq!(chunks[1].bytes.0, b"warning\n");
        assert_eq!(next_seq, 2);
    }

    #[test]
    fn a_chunk_that_fits_a_fresh_message_is_not_split() {
        let mut packer = OutputPacker::new("r1", MIN_MESSAGE_LIMIT);
        let mut next_seq = 5;
        assert!(
            packer
                .push(chunk(Stream::Stdout, 1, &[b'a'; 600]), &mut next_seq)
                .is_empty()
        );
        let full = packer.push(chunk(Stream::Stderr, 2, &[b'b'; 600]), &mut next_seq);
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].seq, 5);
        let rest = packer.flush(&mut next_seq);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].seq, 6);
        let FeedbackBody::Output { chunks } = &rest[0].body else {
            panic!("not output")
        };
        assert_eq!(chunks[0].bytes.0, vec![b'b'; 600]);
        assert!(packer.flush(&mut next_seq).is_empty());
        assert_eq!(next_seq, 7);
    }

    #[test]
    fn nul_heavy_text_accounts_for_six_byte_escapes() {
        // 1 KiB of NULs is 6 KiB of JSON: it must be split although its bytes would fit.
        let input = [chunk(Stream::Stdout, 1, &[0u8; 1024])];
        let messages = pack(&input, 2048, &mut 1);
        assert!(messages.len() >= 3, "{} messages", messages.len());
        assert_eq!(unpack(&messages, 2048, 1), expected(&input));
    }

    #[test]
    fn a_huge_request_id_still_makes_progress() {
        let request_id = "r".repeat(5000);
        let mut packer = OutputPacker::new(request_id, MIN_MESSAGE_LIMIT);
        let mut next_seq = 1;
        let input = [b"ab".as_slice(), "\u{FFFE}😀".as_bytes(), b"\xff"].concat();
        let mut messages = packer.push(chunk(Stream::Stdout, 1, &input), &mut next_seq);
        messages.extend(packer.flush(&mut next_seq));
        let joined: Vec<u8> = messages
            .iter()
            .flat_map(|m| match &m.body {
                FeedbackBody::Output { chunks } => {
                    chunks.iter().flat_map(|c| c.bytes.0.clone()).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(joined, input);
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(OutputPacker::new("r", 10).limit(), MIN_MESSAGE_LIMIT);
        assert_eq!(
            OutputPacker::new("r", usize::MAX).limit(),
            MAX_MESSAGE_LIMIT
        );
        assert_eq!(OutputPacker::new("r", 5000).limit(), 5000);
    }
}
