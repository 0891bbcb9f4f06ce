//! `airlock run [options] -- CMD ARGS...`: the deployment container's entrypoint. Parses the
//! flags (each also from `AIRLOCK_<FLAG>`), picks the feedback transport and runs the job
//! through `airlock_lane::runner`; exits with the job's code (128 + N for signal N) once
//! `Finished` was delivered, 127 (delivered too) when the command could not be started, and
//! [`RUNNER_UNREPORTED_EXIT`] (125) whenever a feedback destination was given but CI could not
//! be told how the run ended: the dispatcher reads that code to decide whether CI needs a
//! `TaskStopped` from it.

use std::process::ExitCode;
use std::time::Duration;

use airlock_lane::local::SqliteDestination;
use airlock_lane::mask::mask_values_from_env;
use airlock_lane::runner::{self, RunOptions, StdEcho, TaggedEcho};
use airlock_lane::transport::{EntryOutcome, FeedbackSink, TransportError};
use airlock_protocol::RUNNER_UNREPORTED_EXIT;

use crate::args::{EchoMode, RunArgs};
use crate::exit::Exit;

/// The request id used when none is given and no feedback is sent.
const LOCAL_REQUEST_ID: &str = "local";

pub fn run(args: RunArgs) -> ExitCode {
    // How a run ends that told CI nothing (a usage error, a runner error). In the deployment
    // task that is as silent towards CI as a lost `Finished`: with a feedback destination it
    // must be 125, so that the dispatcher tells the follower; without one, the usage error.
    let has_feedback = args
        .feedback
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty());
    let not_reported = || {
        if has_feedback {
            ExitCode::from(RUNNER_UNREPORTED_EXIT)
        } else {
            Exit::Usage.into()
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return not_reported();
        }
    };
    let sink = match runtime.block_on(sink_for(args.feedback.as_deref())) {
        Ok(sink) => sink,
        Err(e) => {
            tracing::error!("{e}");
            return not_reported();
        }
    };
    let request_id = match (&args.request_id, &sink) {
        (Some(id), _) => id.clone(),
        (None, Sink::StdoutOnly(_)) => LOCAL_REQUEST_ID.to_string(),
        (None, _) => {
            tracing::error!("--request-id (AIRLOCK_REQUEST_ID) is required with --feedback");
            return not_reported();
        }
    };
    let mut options = RunOptions::new(request_id, args.command);
    options.deadline = args.deadline.map(Duration::from_secs);
    options.grace = Duration::from_secs(args.grace);
    options.heartbeat = Duration::from_secs(args.heartbeat);
    options.batch_window = Duration::from_millis(args.batch_window_ms);
    options.message_limit = usize::try_from(args.message_limit).unwrap_or(usize::MAX);
    options.delivery_timeout = Duration::from_secs(args.delivery_timeout);
    options.mask_values = mask_values_from_env(std::env::vars_os());
    options.forward_signals = true;

    let outcome = runtime.block_on(async {
        match args.echo {
            EchoMode::Tagged => {
                runner::run(options, &sink, &mut TaggedEcho::new(std::io::stdout())).await
            }
            EchoMode::Streams => runner::run(options, &sink, &mut StdEcho).await,
        }
    });
    match outcome {
        Ok(outcome) if !outcome.finished_delivered => {
            tracing::error!(
                exit = outcome.exit.shell_code(),
                "CI was not told how the job ended (Finished was not delivered); exiting \
                 {RUNNER_UNREPORTED_EXIT} so that the dispatcher tells it"
            );
            ExitCode::from(RUNNER_UNREPORTED_EXIT)
        }
        Ok(outcome) => {
            if !outcome.lost.is_empty() {
                // Finished listed them, so CI knows; the task's log has their lines.
                tracing::error!(lost = ?outcome.lost, "some feedback messages were not delivered");
            }
            // A shell reports exit codes modulo 256; 128 + signal stays below that.
            ExitCode::from((outcome.exit.shell_code() & 0xff) as u8)
        }
        Err(
            e @ runner::RunError::Spawn {
                finished_delivered, ..
            },
        ) => {
            tracing::error!("{e}");
            if finished_delivered {
                ExitCode::from(127) // the shell's "command not found / not executable"
            } else {
                ExitCode::from(RUNNER_UNREPORTED_EXIT)
            }
        }
        // Nothing was reported: the job did not start, or the runner lost it.
        Err(e) => {
            tracing::error!("{e}");
            not_reported()
        }
    }
}

/// The feedback transports `airlock run` can send through. Traits with async fns are not
/// object-safe, so this enum is the runtime choice.
enum Sink {
    /// No feedback destination: output is only echoed.
    StdoutOnly(DiscardSink),
    /// The local lane's SQLite file.
    Sqlite(airlock_lane::local::LocalQueue),
    /// The lane's SQS feedback queue.
    #[cfg(feature = "aws")]
    Sqs(airlock_lane::aws::SqsFeedbackSink),
}

impl FeedbackSink for Sink {
    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<EntryOutcome>, TransportError> {
        match self {
            Sink::StdoutOnly(sink) => sink.send_batch(bodies).await,
            Sink::Sqlite(queue) => queue.send_batch(bodies).await,
            #[cfg(feature = "aws")]
            Sink::Sqs(queue) => queue.send_batch(bodies).await,
        }
    }
}

/// Accepts and forgets every message (stdout-only mode).
struct DiscardSink;

impl FeedbackSink for DiscardSink {
    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<EntryOutcome>, TransportError> {
        Ok(vec![EntryOutcome::Sent; bodies.len()])
    }
}

/// Opens the transport for `--feedback DEST`.
async fn sink_for(dest: Option<&str>) -> Result<Sink, String> {
    match dest.map(str::trim) {
        None | Some("") => {
            tracing::warn!(
                "no --feedback (AIRLOCK_FEEDBACK) given: the job's output is only echoed, \
                 nothing is sent back"
            );
            Ok(Sink::StdoutOnly(DiscardSink))
        }
        Some(dest) if SqliteDestination::is_sqlite(dest) => {
            let destination = SqliteDestination::parse(dest).map_err(|e| e.to_string())?;
            let queue = destination.open().await.map_err(|e| e.to_string())?;
            Ok(Sink::Sqlite(queue))
        }
        #[cfg(feature = "aws")]
        Some(dest) if dest.starts_with("https://") || dest.starts_with("http://") => {
            // The standard AWS chain: the task role, region and endpoint from the environment.
            let sdk = airlock_aws::load(&airlock_aws::AwsOptions::default()).await;
            Ok(Sink::Sqs(airlock_lane::aws::SqsFeedbackSink::new(
                &sdk, dest,
            )))
        }
        #[cfg(not(feature = "aws"))]
        Some(dest) if dest.starts_with("https://") || dest.starts_with("http://") => Err(format!(
            "--feedback {dest}: this airlock was built without AWS support (cargo feature `aws`)"
        )),
        Some(dest) => Err(format!(
            "--feedback {dest:?}: expected an https:// SQS queue URL or sqlite:<path>"
        )),
    }
}
