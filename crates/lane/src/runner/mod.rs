//! `airlock run`: runs the deployment command in the deployment task and streams its output
//! and exit status back as feedback.
//!
//! Four parts run concurrently:
//! - two pipe readers (one per stream) feed one channel, so reads of stdout and stderr keep
//!   the order in which they were read;
//! - the collector ([`capture`]) cuts at line ends, flushes partial lines after
//!   [`capture::PARTIAL_LINE_DELAY`], masks secrets ([`crate::mask`]), echoes to the runner's
//!   own stdout/stderr, packs chunks into `Output` messages (seqs from 1) and sends
//!   `Heartbeat`s;
//! - the sender ([`deliver`]) sends batches through the [`FeedbackSink`], retrying failed
//!   entries with backoff; its queue is bounded, so a slow transport slows the readers and
//!   finally blocks the job on its pipe — nothing is dropped;
//! - the supervisor waits for the job, enforces the deadline (SIGTERM to the job's process
//!   group, SIGKILL after the grace period) and forwards SIGTERM/SIGINT.
//!
//! When the job has ended and its pipes are drained, the sender has `delivery_timeout` to
//! deliver the rest; then `Finished` (the next seq) says how the job ended and which seqs
//! were lost, and is retried for another `delivery_timeout`.

mod capture;
mod deliver;
mod echo;
mod process;

use std::ffi::OsString;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use airlock_protocol::encode::{self, OutputPacker};
use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, OutputChunk, Stream};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use echo::{NOTE_TAG, STDERR_TAG, STDOUT_TAG, TaggedEcho};
pub use process::signal_group;

use crate::mask::Masker;
use crate::transport::FeedbackSink;

/// Messages waiting for the sender. With the sender's own holding this bounds the runner's
/// memory (each message is at most `message_limit` bytes).
const QUEUE_CAPACITY: usize = 32;
/// After killing leftover processes that keep the job's pipes open, how long to wait for the
/// pipes to close before abandoning them.
const LEFTOVER_DRAIN: Duration = Duration::from_secs(1);

/// What to run and how. [`RunOptions::new`] fills in the documented defaults.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub request_id: String,
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// Stop the job after this long (SIGTERM, then SIGKILL after `grace`).
    pub deadline: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Between heartbeats.
    pub heartbeat: Duration,
    /// Output waits at most this long before it is sent.
    pub batch_window: Duration,
    /// The largest message body in bytes (SQS: 256 KiB default, 1 MiB at most).
    pub message_limit: usize,
    /// After the job ended: how long to keep trying to deliver output (and then, separately,
    /// `Finished`).
    pub delivery_timeout: Duration,
    /// Secret values to replace by `***` (see [`crate::mask`]).
    pub mask_values: Vec<String>,
    /// Forward SIGTERM and SIGINT received by this process to the job's process group. On
    /// for the `airlock run` binary; off by default so a library caller keeps its own
    /// signal handling.
    pub forward_signals: bool,
}

impl RunOptions {
    pub fn new(request_id: impl Into<String>, command: Vec<OsString>) -> RunOptions {
        RunOptions {
            request_id: request_id.into(),
            command,
            deadline: None,
            grace: Duration::from_secs(10),
            heartbeat: Duration::from_secs(10),
            batch_window: Duration::from_millis(100),
            message_limit: encode::DEFAULT_MESSAGE_LIMIT,
            delivery_timeout: Duration::from_secs(60),
            mask_values: Vec::new(),
            forward_signals: false,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub exit: ExitStatus,
    /// The deadline passed and the runner stopped the job.
    pub timed_out: bool,
    /// Seqs that were never delivered (as reported in `Finished`).
    pub lost: Vec<u64>,
    /// The seq of `Finished`.
    pub finished_seq: u64,
    /// Whether `Finished` itself was delivered.
    pub finished_delivered: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("request {request_id}: no command to run")]
    NoCommand { request_id: String },
    #[error("request {request_id}: cannot start {program:?}: {source}")]
    Spawn {
        request_id: String,
        program: OsString,
        source: std::io::Error,
        /// Whether `Finished` (exit code 127, the reason on stderr before it) reached the
        /// feedback destination, so that CI knows.
        finished_delivered: bool,
    },
    #[error("request {request_id}: waiting for the job failed: {source}")]
    Wait {
        request_id: String,
        source: std::io::Error,
    },
    #[error("request {request_id}: cannot listen for {signal}: {source}")]
    Signals {
        request_id: String,
        signal: &'static str,
        source: std::io::Error,
    },
}

/// Where the runner echoes the (masked) output, stream by stream, with its own lines about
/// the request (which request, how the job ended) around it.
pub trait Echo: Send {
    fn echo(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()>;
    /// One line of the runner's own. An echo that keeps only the job's bytes (a test's pair
    /// of buffers) leaves it out.
    fn note(&mut self, _text: &str) -> std::io::Result<()> {
        Ok(())
    }
}

/// Echo to a pair of writers: `.0` for stdout, `.1` for stderr.
impl<O: Write + Send, E: Write + Send> Echo for (O, E) {
    fn echo(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        match stream {
            Stream::Stdout => {
                self.0.write_all(bytes)?;
                self.0.flush()
            }
            Stream::Stderr => {
                self.1.write_all(bytes)?;
                self.1.flush()
            }
        }
    }
}

/// Echo to the runner's own stdout and stderr, each stream to its own, bytes unchanged; the
/// runner's lines go to stderr. For logs that keep the two streams apart; CloudWatch's
/// `awslogs` does not, and gets [`TaggedEcho`].
#[derive(Debug, Default, Clone, Copy)]
pub struct StdEcho;

impl Echo for StdEcho {
    fn echo(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        match stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Stream::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(bytes)?;
                err.flush()
            }
        }
    }

    fn note(&mut self, text: &str) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        err.write_all(NOTE_TAG)?;
        err.write_all(text.as_bytes())?;
        err.write_all(b"\n")?;
        err.flush()
    }
}

/// Packs chunks into messages and messages into batches: [`OutputPacker`] and
/// [`encode::batches`], behind a trait so tests can exercise the runner with a stand-in.
pub(crate) trait Packing: Send {
    fn new(request_id: &str, limit: usize) -> Self;
    fn push(&mut self, chunk: OutputChunk, next_seq: &mut u64) -> Vec<Feedback>;
    fn flush(&mut self, next_seq: &mut u64) -> Vec<Feedback>;
    fn is_empty(&self) -> bool;
    fn batches(bodies: &[String], limit: usize) -> Vec<Range<usize>>;
}

impl Packing for OutputPacker {
    fn new(request_id: &str, limit: usize) -> Self {
        OutputPacker::new(request_id, limit)
    }
    fn push(&mut self, chunk: OutputChunk, next_seq: &mut u64) -> Vec<Feedback> {
        OutputPacker::push(self, chunk, next_seq)
    }
    fn flush(&mut self, next_seq: &mut u64) -> Vec<Feedback> {
        OutputPacker::flush(self, next_seq)
    }
    fn is_empty(&self) -> bool {
        OutputPacker::is_empty(self)
    }
    fn batches(bodies: &[String], limit: usize) -> Vec<Range<usize>> {
        encode::batches(bodies, limit)
    }
}

/// Runs the job, streams its output through `sink` and echoes it to `echo`; returns when the
/// job has ended and `Finished` was sent (or given up on).
pub async fn run<S: FeedbackSink, E: Echo>(
    options: RunOptions,
    sink: &S,
    echo: &mut E,
) -> Result<RunOutcome, RunError> {
    run_with::<OutputPacker, S, E>(options, sink, echo).await
}

pub(crate) async fn run_with<P: Packing, S: FeedbackSink, E: Echo>(
    options: RunOptions,
    sink: &S,
    echo: &mut E,
) -> Result<RunOutcome, RunError> {
    let request_id = options.request_id.clone();
    let Some(program) = options.command.first().cloned() else {
        return Err(RunError::NoCommand { request_id });
    };
    let signals = if options.forward_signals {
        Some(StopSignals::listen(&request_id)?)
    } else {
        None
    };
    let started = Instant::now();
    let (mut child, group) = match process::spawn(&options.command) {
        Ok(spawned) => spawned,
        Err(source) => {
            let mut error = RunError::Spawn {
                request_id: request_id.clone(),
                program,
                source,
                finished_delivered: false,
            };
            // The error names the request already.
            let _ = echo.note(&error.to_string());
            let delivered = report_spawn_failure::<P, S>(&options, sink, &error).await;
            if let RunError::Spawn {
                finished_delivered, ..
            } = &mut error
            {
                *finished_delivered = delivered;
            }
            return Err(error);
        }
    };
    tracing::info!(request_id, group = group.as_raw(), "job started");
    note(
        echo,
        &request_id,
        &format!(
            "request {request_id}: started {} (process group {})",
            Path::new(&program).display(),
            group.as_raw()
        ),
    );

    let (reads_tx, reads_rx) = mpsc::channel(capture::READS_IN_FLIGHT);
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(Reader::start(Stream::Stdout, stdout, reads_tx.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(Reader::start(Stream::Stderr, stderr, reads_tx.clone()));
    }
    drop(reads_tx);

    let (queue_tx, queue_rx) = mpsc::channel(QUEUE_CAPACITY);
    let (give_up_tx, give_up_rx) = watch::channel(None);
    let collector = capture::Collector::new(
        request_id.clone(),
        Masker::new(&options.mask_values),
        P::new(&request_id, options.message_limit),
        echo,
        options.batch_window,
        options.heartbeat,
        queue_tx,
    );
    let supervise = async {
        let ended = supervise(
            &request_id,
            &mut child,
            group,
            options.deadline,
            options.grace,
            signals,
        )
        .await;
        // The delivery deadline runs from the job's end.
        let _ = give_up_tx.send(Some(Instant::now() + options.delivery_timeout));
        drain_pipes(&request_id, readers, group, options.grace).await;
        ended
    };
    let (ended, finished_seq, lost) = tokio::join!(
        supervise,
        collector.run(reads_rx),
        deliver::deliver::<S, P>(
            &request_id,
            sink,
            queue_rx,
            give_up_rx,
            options.message_limit
        ),
    );
    let (exit, timed_out) = ended?;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let finished = Feedback::new(
        request_id.clone(),
        finished_seq,
        FeedbackBody::Finished {
            exit,
            duration_ms,
            timed_out,
            lost: lost.clone(),
        },
    );
    let finished_delivered = deliver::deliver_one(
        &request_id,
        sink,
        finished_seq,
        finished.to_json(),
        options.delivery_timeout,
    )
    .await;
    note(
        echo,
        &request_id,
        &end_note(
            &request_id,
            exit,
            timed_out,
            &lost,
            finished_delivered,
            duration_ms,
        ),
    );
    tracing::info!(
        request_id,
        ?exit,
        timed_out,
        lost = lost.len(),
        finished_delivered,
        // Feedback messages sent, Finished included (seqs run from 1 without gaps).
        messages = finished_seq,
        "job ended"
    );
    Ok(RunOutcome {
        exit,
        timed_out,
        lost,
        finished_seq,
        finished_delivered,
    })
}

/// The runner's own line in its log; a log that cannot be written is not worth stopping for.
fn note<E: Echo>(echo: &mut E, request_id: &str, text: &str) {
    if let Err(e) = echo.note(text) {
        tracing::warn!(request_id, "cannot write the runner's own log line: {e}");
    }
}

/// The footer of a request's record in the runner's log.
fn end_note(
    request_id: &str,
    exit: ExitStatus,
    timed_out: bool,
    lost: &[u64],
    finished_delivered: bool,
    duration_ms: u64,
) -> String {
    let how = match exit {
        ExitStatus::Code(code) => format!("the job exited with code {code}"),
        ExitStatus::Signal(signal) => format!("the job was killed by signal {signal}"),
    };
    let mut text = format!(
        "request {request_id}: {how} after {:.1} s",
        duration_ms as f64 / 1000.0
    );
    if timed_out {
        text.push_str("; it ran past its deadline and was stopped");
    }
    if !lost.is_empty() {
        text.push_str(&format!(
            "; feedback seqs {} were not delivered to CI (this log has their lines)",
            crate::follow::format_seqs(lost)
        ));
    }
    if !finished_delivered {
        text.push_str("; CI was not told how the job ended");
    }
    text
}

/// Tells CI that the job could not even start: the reason on stderr, then `Finished` with
/// exit code 127 (the shell's "command not found"), so the follower does not wait for its
/// watchdog. Returns whether `Finished` was delivered.
async fn report_spawn_failure<P: Packing, S: FeedbackSink>(
    options: &RunOptions,
    sink: &S,
    error: &RunError,
) -> bool {
    let request_id = &options.request_id;
    let mut packer = P::new(request_id, options.message_limit);
    let mut next_seq = 1;
    let chunk = OutputChunk {
        stream: Stream::Stderr,
        t: capture::now_micros(),
        bytes: airlock_protocol::bytes::WireBytes(format!("airlock run: {error}\n").into_bytes()),
    };
    let mut messages = packer.push(chunk, &mut next_seq);
    messages.extend(packer.flush(&mut next_seq));
    messages.push(Feedback::new(
        request_id.clone(),
        next_seq,
        FeedbackBody::Finished {
            exit: ExitStatus::Code(127),
            duration_ms: 0,
            timed_out: false,
            lost: Vec::new(),
        },
    ));
    let mut finished_delivered = false;
    for message in messages {
        // Finished is the last message: what is left of this flag is its delivery.
        finished_delivered = deliver::deliver_one(
            request_id,
            sink,
            message.seq,
            message.to_json(),
            options.delivery_timeout,
        )
        .await;
    }
    finished_delivered
}

/// A pipe reader task and whether it is waiting on the pipe.
struct Reader {
    task: JoinHandle<()>,
    idle: Arc<AtomicBool>,
}

impl Reader {
    fn start<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
        stream: Stream,
        pipe: R,
        reads: mpsc::Sender<capture::Read>,
    ) -> Reader {
        let idle = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(capture::read_pipe(stream, pipe, reads, idle.clone()));
        Reader { task, idle }
    }
}

/// After the job ended: waits until both pipes are read to the end. Readers held up by
/// backpressure are waited for as long as it takes (their bytes must not be lost). Pipes
/// still open `grace` after the job ended are held by processes the job left behind: those
/// in the job's group are killed; a pipe still open after that is abandoned.
async fn drain_pipes(request_id: &str, mut readers: Vec<Reader>, group: Pid, grace: Duration) {
    let mut killed_leftovers = false;
    loop {
        let wait = if killed_leftovers {
            LEFTOVER_DRAIN
        } else {
            grace
        };
        let all_done = async {
            while let Some(reader) = readers.last_mut() {
                let _ = (&mut reader.task).await;
                readers.pop();
            }
        };
        if tokio::time::timeout(wait, all_done).await.is_ok() {
            return;
        }
        let held_open = readers.iter().any(|r| r.idle.load(Ordering::SeqCst));
        if !held_open {
            continue; // still delivering what was read
        }
        if killed_leftovers {
            tracing::warn!(
                request_id,
                "the job's output pipes stay open after its process group was killed; \
                 abandoning them"
            );
            for reader in readers.iter().filter(|r| r.idle.load(Ordering::SeqCst)) {
                reader.task.abort();
            }
            killed_leftovers = false; // the remaining readers are busy; wait for them
            readers.retain(|r| !r.idle.load(Ordering::SeqCst));
            continue;
        }
        tracing::warn!(
            request_id,
            group = group.as_raw(),
            "the job ended but processes it left keep its output open; killing its process group"
        );
        signal_group(group, Signal::SIGKILL);
        killed_leftovers = true;
    }
}

/// SIGTERM and SIGINT to the runner (ECS StopTask sends SIGTERM).
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen(request_id: &str) -> Result<StopSignals, RunError> {
        let listen = |kind: SignalKind, name: &'static str| {
            signal(kind).map_err(|source| RunError::Signals {
                request_id: request_id.to_string(),
                signal: name,
                source,
            })
        };
        Ok(StopSignals {
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    async fn recv(signals: &mut Option<StopSignals>) -> Signal {
        match signals {
            Some(s) => tokio::select! {
                _ = s.terminate.recv() => Signal::SIGTERM,
                _ = s.interrupt.recv() => Signal::SIGINT,
            },
            None => std::future::pending().await,
        }
    }
}

/// Waits for the job while enforcing its deadline and forwarding stop signals. Returns its
/// exit status and whether the deadline stopped it.
async fn supervise(
    request_id: &str,
    child: &mut tokio::process::Child,
    group: Pid,
    deadline: Option<Duration>,
    grace: Duration,
    mut signals: Option<StopSignals>,
) -> Result<(ExitStatus, bool), RunError> {
    let deadline_at = deadline.map(|d| Instant::now() + d);
    let mut timed_out = false;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|source| RunError::Wait {
                    request_id: request_id.to_string(),
                    source,
                })?;
                return Ok((process::exit_status(status), timed_out));
            }
            () = sleep_until_opt(deadline_at.filter(|_| !timed_out)) => {
                tracing::warn!(request_id, ?deadline, ?grace, "the job's deadline passed; stopping it (SIGTERM, then SIGKILL after the grace period)");
                timed_out = true;
                signal_group(group, Signal::SIGTERM);
                kill_at.get_or_insert(Instant::now() + grace);
            }
            received = StopSignals::recv(&mut signals) => {
                tracing::warn!(request_id, %received, "forwarding {received} to the job");
                signal_group(group, received);
                kill_at.get_or_insert(Instant::now() + grace);
            }
            () = sleep_until_opt(kill_at.filter(|_| !killed)) => {
                tracing::warn!(request_id, "the job did not stop within the grace period; SIGKILL");
                killed = true;
                signal_group(group, Signal::SIGKILL);
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

#[cfg(test)]
mod tests;
