//! Versioned wire types of the deploy lane, shared by `airlock deploy` (CI side), the
//! dispatcher Lambda and `airlock run` (the runner in the deployment task).
//!
//! Two paths cross account boundaries:
//! - **Requests** ([`SignedRequest`] carrying a [`DeployRequest`] or [`CancelRequest`]) go from
//!   CI to the dispatcher over SNS. The envelope keeps the exact payload bytes that were signed,
//!   so the verifier never re-serialises before checking the signature.
//! - **Feedback** ([`Feedback`]) goes from the dispatcher and the runner back to CI over SQS.
//!   SQS is at-least-once and unordered, so every runner message carries a per-request `seq`
//!   and [`reassemble::Reassembler`] puts them back in order, dropping duplicates.
//!
//! Every message carries the protocol version `v`; a receiver rejects versions it does not
//! know with [`ProtocolError::UnsupportedVersion`] instead of guessing.
#![forbid(unsafe_code)]

pub mod bytes;
pub mod encode;
pub mod feedback;
pub mod reassemble;
pub mod request;
pub mod signing;

pub use feedback::{
    ExitStatus, Feedback, FeedbackBody, OutputChunk, RUNNER_UNREPORTED_EXIT, Stream,
};
pub use request::{CancelRequest, DeployRequest, ImageRef, Requester};
pub use signing::{RequestKind, SIGNING_ALGORITHM, SignedRequest};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error(
        "unsupported protocol version {found} (this airlock speaks version {PROTOCOL_VERSION}); upgrade the older side"
    )]
    UnsupportedVersion { found: u64 },
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("signature check failed: {0}")]
    Signature(String),
}

/// Checks the `v` field of a parsed message before its other fields are read.
pub(crate) fn check_version(
    value: &serde_json::Value,
    what: &'static str,
) -> Result<(), ProtocolError> {
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => Ok(()),
        Some(found) => Err(ProtocolError::UnsupportedVersion { found }),
        None => Err(ProtocolError::Malformed {
            what,
            reason: "no protocol version field `v`".into(),
        }),
    }
}
