//! What flows back to CI over SQS: the dispatcher's verdict, the runner's output, the end.
//!
//! Two producers write to a request's feedback: the dispatcher (`Accepted`, `Rejected`,
//! `Started`, `TaskStopped`) and the runner (`Output`, `Heartbeat`, `Finished`). The runner's
//! messages form one ordered stream, `seq` 1, 2, 3, … with no gaps; `Finished` is the last and
//! states its own seq, so the follower knows when it has everything. The dispatcher's messages
//! are events, not part of that stream: they carry `seq` 0 and are handled on arrival.

use serde::{Deserialize, Serialize};

use crate::bytes::WireBytes;

/// One feedback message (one SQS message body, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// Protocol version ([`crate::PROTOCOL_VERSION`]).
    pub v: u32,
    pub request_id: String,
    /// The runner's sequence number, from 1; 0 for the dispatcher's events.
    pub seq: u64,
    #[serde(flatten)]
    pub body: FeedbackBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedbackBody {
    /// The dispatcher validated the request and is starting the task.
    Accepted { job: String },
    /// The dispatcher refused the request; nothing ran. `code` is stable
    /// (`bad_signature`, `expired`, `replayed`, `unknown_job`, `bad_params`, `lane_busy`, …),
    /// `reason` is for people.
    Rejected { code: String, reason: String },
    /// The task was started (its ARN, or a process id for the local lane).
    Started { task: String },
    /// Captured output, in the order the runner read it.
    Output { chunks: Vec<OutputChunk> },
    /// The runner is alive; `last_output_seq` is the highest seq it has sent so far.
    Heartbeat { last_output_seq: u64 },
    /// The job ended. `seq` of this message is the last of the stream.
    Finished {
        exit: ExitStatus,
        duration_ms: u64,
        /// The runner stopped the job because its deadline passed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
        /// Seqs the runner could not deliver before its deadline (empty when nothing was lost):
        /// the follower stops waiting for them and says so.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lost: Vec<u64>,
    },
    /// ECS stopped the task (from the dispatcher's EventBridge handler): how CI learns of a
    /// task that died before its runner could report, e.g. an image pull failure or OOM.
    TaskStopped {
        stop_code: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
    },
}

/// A run of bytes from one stream. A chunk ends at a line end, at a flush of a partial line,
/// or where a long line was split to fit a message; concatenating a stream's chunks in seq
/// order gives exactly the bytes the job wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChunk {
    pub stream: Stream,
    /// When the runner read the bytes, microseconds since the Unix epoch.
    pub t: u64,
    pub bytes: WireBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it (9 for SIGKILL).
    Signal(i32),
}

impl ExitStatus {
    /// The exit code a shell would report: the code, or 128 + signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signal) => 128 + signal,
        }
    }
}

impl Feedback {
    pub fn new(request_id: impl Into<String>, seq: u64, body: FeedbackBody) -> Feedback {
        Feedback {
            v: crate::PROTOCOL_VERSION,
            request_id: request_id.into(),
            seq,
            body,
        }
    }

    /// Parses one message body, checking the version first so that a newer peer gets
    /// [`crate::ProtocolError::UnsupportedVersion`] rather than a confusing field error.
    pub fn from_json(body: &str) -> Result<Feedback, crate::ProtocolError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| crate::ProtocolError::Malformed {
                what: "feedback message",
                reason: e.to_string(),
            })?;
        crate::check_version(&value, "feedback message")?;
        serde_json::from_value(value).map_err(|e| crate::ProtocolError::Malformed {
            what: "feedback message",
            reason: e.to_string(),
        })
    }

    /// The message as JSON text that SQS accepts (see [`crate::bytes`]).
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).unwrap_or_default()
    }
}
