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
/// or where a long line was split to fit a message; the packer may merge consecutive chunks of
/// one stream (keeping the first `t`). Concatenating a stream's chunks in seq order gives
/// exactly the bytes the job wrote.
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

/// The exit code of `airlock run` when it could not deliver `Finished` to its feedback
/// destination (or could not even start: a usage error with a destination given). Whoever
/// watches the task must then tell the follower how it ended: the AWS dispatcher sends
/// `TaskStopped` for a task whose runner exited with this code, and skips it when the runner
/// exited with any other code, which is the job's own and means `Finished` was delivered.
///
/// 125 because `env`, `timeout` and `docker run` use it the same way ("the wrapper itself
/// failed"), and it is below 128, so it cannot be mistaken for death by a signal. A job that
/// exits 125 itself is reported by `Finished` and then once more by a `TaskStopped` that no
/// follower reads: rare, and better than a follower left waiting.
pub const RUNNER_UNREPORTED_EXIT: u8 = 125;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn every_body() -> Vec<FeedbackBody> {
        vec![
            FeedbackBody::Accepted {
                job: "deploy-web".into(),
            },
            FeedbackBody::Rejected {
                code: "bad_params".into(),
                reason: "parameter ENV: \"qa\" is not one of staging, production".into(),
            },
            FeedbackBody::Started {
                task: "arn:aws:ecs:eu-west-1:123456789012:task/lane/0123abcd".into(),
            },
            FeedbackBody::Output {
                chunks: vec![
                    OutputChunk {
                        stream: Stream::Stdout,
                        t: 1_700_000_000_123_456,
                        bytes: WireBytes(b"\x1b[32mok\x1b[0m\r\n".to_vec()),
                    },
                    OutputChunk {
                        stream: Stream::Stderr,
                        t: 1_700_000_000_123_999,
                        bytes: WireBytes(b"\xff\xfe binary\0".to_vec()),
                    },
                ],
            },
            FeedbackBody::Heartbeat {
                last_output_seq: 41,
            },
            FeedbackBody::Finished {
                exit: ExitStatus::Code(3),
                duration_ms: 12_345,
                timed_out: false,
                lost: vec![],
            },
            FeedbackBody::Finished {
                exit: ExitStatus::Signal(9),
                duration_ms: 600_000,
                timed_out: true,
                lost: vec![7, 9],
            },
            FeedbackBody::TaskStopped {
                stop_code: "EssentialContainerExited".into(),
                reason: "OutOfMemoryError: Container killed due to memory usage".into(),
                exit_code: Some(137),
            },
            FeedbackBody::TaskStopped {
                stop_code: "TaskFailedToStart".into(),
                reason: "CannotPullContainerError".into(),
                exit_code: None,
            },
        ]
    }

    #[test]
    fn every_message_type_round_trips_through_json() {
        for (seq, body) in every_body().into_iter().enumerate() {
            let message = Feedback::new("6f1c7f0e-request", seq as u64, body);
            let json = message.to_json();
            assert!(crate::bytes::sqs_accepts(&json), "{json}");
            assert_eq!(Feedback::from_json(&json), Ok(message), "{json}");
        }
    }

    #[test]
    fn wire_form_is_flat_and_tagged() {
        let json = Feedback::new(
            "r1",
            5,
            FeedbackBody::Finished {
                exit: ExitStatus::Code(0),
                duration_ms: 10,
                timed_out: false,
                lost: vec![],
            },
        )
        .to_json();
        assert_eq!(
            json,
            r#"{"v":1,"request_id":"r1","seq":5,"type":"finished","exit":{"code":0},"duration_ms":10}"#
        );
    }

    #[test]
    fn unknown_versions_and_garbage_are_refused() {
        let newer = r#"{"v":2,"request_id":"r1","seq":1,"type":"hologram"}"#;
        assert_eq!(
            Feedback::from_json(newer),
            Err(crate::ProtocolError::UnsupportedVersion { found: 2 })
        );
        for bad in [
            "not json",
            r#"{"request_id":"r1","seq":1,"type":"heartbeat","last_output_seq":0}"#,
            r#"{"v":1,"request_id":"r1","seq":1,"type":"hologram"}"#,
            r#"{"v":1,"request_id":"r1","seq":-1,"type":"heartbeat","last_output_seq":0}"#,
        ] {
            assert!(
                matches!(
                    Feedback::from_json(bad),
                    Err(crate::ProtocolError::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn shell_codes() {
        assert_eq!(ExitStatus::Code(3).shell_code(), 3);
        assert_eq!(ExitStatus::Signal(9).shell_code(), 137);
    }
}
