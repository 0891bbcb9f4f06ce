//! From the job's pipes to feedback messages: read both streams concurrently into one channel
//! (so the order between streams is the order of reading), cut at line ends, flush partial
//! lines after a short delay, mask secrets, echo, and pack chunks into `Output` messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_protocol::bytes::WireBytes;
use airlock_protocol::{Feedback, FeedbackBody, OutputChunk, Stream};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::deliver::Outgoing;
use super::{Echo, Packing};
use crate::mask::Masker;

/// How much one read takes from a pipe.
const READ_SIZE: usize = 64 * 1024;
/// A partial line (no newline yet) is shown after this long, so prompts and progress bars
/// appear while the job waits.
pub(crate) const PARTIAL_LINE_DELAY: Duration = Duration::from_millis(50);
/// A partial line this long is sent without waiting (a long line written quickly).
const PARTIAL_LINE_MAX: usize = 64 * 1024;
/// Reads waiting between the pipe readers and the collector. Small: when the feedback queue
/// is full, the readers must stop soon so the job blocks on its pipe instead of us buffering.
pub(crate) const READS_IN_FLIGHT: usize = 16;

/// Bytes read from one of the job's pipes.
#[derive(Debug)]
pub(crate) struct Read {
    pub stream: Stream,
    /// Microseconds since the epoch, when the read returned.
    pub t: u64,
    pub bytes: Vec<u8>,
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Reads one pipe to its end. `idle` is true while the reader waits on the pipe (not on the
/// channel): the runner uses it to tell a pipe held open by a leftover process from a reader
/// that is only held up by backpressure.
pub(crate) async fn read_pipe<R: AsyncRead + Unpin>(
    stream: Stream,
    mut pipe: R,
    reads: mpsc::Sender<Read>,
    idle: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        idle.store(true, Ordering::SeqCst);
        let n = pipe.read(&mut buf).await;
        idle.store(false, Ordering::SeqCst);
        match n {
            Ok(0) => break,
            Ok(n) => {
                let read = Read {
                    stream,
                    t: now_micros(),
                    bytes: buf[..n].to_vec(),
                };
                if reads.send(read).await.is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(?stream, "reading the job's {stream:?} failed: {e}");
                break;
            }
        }
    }
    idle.store(true, Ordering::SeqCst);
}

/// One stream's bytes that are not yet sent: a partial line, or a tail held back by the
/// masker.
#[derive(Default)]
struct Partial {
    bytes: Vec<u8>,
    /// Time of the newest read in `bytes`.
    t: u64,
    /// When to send what is there even without a line end.
    flush_at: Option<Instant>,
}

/// Turns reads into `Output` (and `Heartbeat`) messages with consecutive seqs.
pub(crate) struct Collector<'a, P: Packing, E: Echo> {
    pub request_id: String,
    pub masker: Masker,
    pub packer: P,
    pub echo: &'a mut E,
    pub echo_failed: bool,
    pub next_seq: u64,
    pub batch_window: Duration,
    pub heartbeat: Duration,
    pub queue: mpsc::Sender<Outgoing>,
    partials: [Partial; 2],
    batch_due: Option<Instant>,
    /// The newest chunk time sent: chunk times never go backwards in seq order.
    last_t: u64,
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

const STREAMS: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

impl<'a, P: Packing, E: Echo> Collector<'a, P, E> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: String,
        masker: Masker,
        packer: P,
        echo: &'a mut E,
        batch_window: Duration,
        heartbeat: Duration,
        queue: mpsc::Sender<Outgoing>,
    ) -> Self {
        Collector {
            request_id,
            masker,
            packer,
            echo,
            echo_failed: false,
            next_seq: 1,
            batch_window,
            heartbeat,
            queue,
            partials: Default::default(),
            batch_due: None,
            last_t: 0,
        }
    }

    /// Runs until both pipes are read to their end (the channel closes), then sends what is
    /// left. Returns the next free seq (the seq of `Finished`).
    pub async fn run(mut self, mut reads: mpsc::Receiver<Read>) -> u64 {
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + self.heartbeat, self.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let wake = self
                .partials
                .iter()
                .filter_map(|p| p.flush_at)
                .chain(self.batch_due)
                .min();
            tokio::select! {
                biased;
                read = reads.recv() => match read {
                    Some(read) => self.on_read(read).await,
                    None => break,
                },
                () = sleep_until_opt(wake) => self.on_timers().await,
                _ = heartbeat.tick() => self.send_heartbeat().await,
            }
        }
        for stream in STREAMS {
            self.flush_partial(stream, true).await;
        }
        let messages = self.packer.flush(&mut self.next_seq);
        self.enqueue(messages).await;
        self.next_seq
    }

    async fn on_read(&mut self, read: Read) {
        let partial = &mut self.partials[index(read.stream)];
        partial.bytes.extend_from_slice(&read.bytes);
        partial.t = read.t;
        // Complete lines go out at once. Mask values never contain a line end, so a match
        // never crosses one and complete lines need no holding back.
        if let Some(last_newline) = partial.bytes.iter().rposition(|&b| b == b'\n') {
            let lines: Vec<u8> = partial.bytes.drain(..=last_newline).collect();
            let masked = self.masker.mask_all(&lines);
            self.emit(read.stream, read.t, masked).await;
        }
        let partial = &mut self.partials[index(read.stream)];
        if partial.bytes.len() >= PARTIAL_LINE_MAX {
            self.flush_partial(read.stream, false).await;
        } else if !partial.bytes.is_empty() && partial.flush_at.is_none() {
            partial.flush_at = Some(Instant::now() + PARTIAL_LINE_DELAY);
        }
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        for stream in STREAMS {
            if self.partials[index(stream)]
                .flush_at
                .is_some_and(|at| at <= now)
            {
                self.flush_partial(stream, false).await;
            }
        }
        if self.batch_due.is_some_and(|at| at <= now) {
            self.batch_due = None;
            let messages = self.packer.flush(&mut self.next_seq);
            self.enqueue(messages).await;
        }
    }

    /// Sends a stream's partial line, keeping back (unless `at_end`) a tail that may be the
    /// start of a secret. What is kept waits for more bytes or the end.
    async fn flush_partial(&mut self, stream: Stream, at_end: bool) {
        let partial = &mut self.partials[index(stream)];
        partial.flush_at = None;
        if partial.bytes.is_empty() {
            return;
        }
        let mut masked = Vec::with_capacity(partial.bytes.len());
        let consumed = self.masker.mask(&partial.bytes, at_end, &mut masked);
        partial.bytes.drain(..consumed);
        let t = partial.t;
        if !masked.is_empty() {
            self.emit(stream, t, masked).await;
        }
    }

    async fn emit(&mut self, stream: Stream, t: u64, bytes: Vec<u8>) {
        if !self.echo_failed
            && let Err(e) = self.echo.echo(stream, &bytes)
        {
            // The copy in our own logs is a convenience; the feedback stream goes on.
            tracing::warn!(
                request_id = %self.request_id,
                "cannot echo the job's output to the runner's {stream:?}: {e}; echo stopped"
            );
            self.echo_failed = true;
        }
        // The two readers stamp their reads before queueing them, so a read can reach the
        // channel a few microseconds behind a later-stamped read of the other stream. The
        // channel order is the order we keep; its times are made to agree with it.
        let t = t.max(self.last_t);
        self.last_t = t;
        let chunk = OutputChunk {
            stream,
            t,
            bytes: WireBytes(bytes),
        };
        let messages = self.packer.push(chunk, &mut self.next_seq);
        self.enqueue(messages).await;
        if self.packer.is_empty() {
            self.batch_due = None;
        } else if self.batch_due.is_none() {
            self.batch_due = Some(Instant::now() + self.batch_window);
        }
    }

    async fn send_heartbeat(&mut self) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let message = Feedback::new(
            self.request_id.clone(),
            seq,
            FeedbackBody::Heartbeat {
                last_output_seq: seq - 1,
            },
        );
        self.enqueue(vec![message]).await;
    }

    /// Hands messages to the sender, waiting while its queue is full (backpressure).
    async fn enqueue(&mut self, messages: Vec<Feedback>) {
        for message in messages {
            let outgoing = Outgoing {
                seq: message.seq,
                body: message.to_json(),
            };
            if self.queue.send(outgoing).await.is_err() {
                // The sender only stops after the queue closes; this cannot happen while we
                // hold the queue, but losing output silently would be worse than a log line.
                tracing::error!(request_id = %self.request_id, seq = message.seq, "feedback sender stopped early; message not sent");
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
