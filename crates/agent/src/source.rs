//! Where credentials come from: one small trait, with the STS adapter in [`crate::sts`] and
//! fakes in tests.

use std::future::Future;

use crate::credentials::Issued;

/// Why a fetch failed, in the classes that change what an operator should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling: retry later, more slowly.
    Throttled,
    /// Access denied, a bad trust policy, an unknown role: retrying will not help until
    /// someone fixes IAM, but it is retried anyway (with backoff) so the fix takes effect
    /// without a restart.
    Denied,
    /// The network, a timeout, a 5xx.
    Unavailable,
    /// Anything else, including an answer we could not use.
    Other,
}

/// A failed fetch. `message` never contains credentials: it is built from the service's error
/// code and message, which carry none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub kind: FailureKind,
    pub message: String,
}

impl FetchError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        FetchError {
            kind,
            message: message.into(),
        }
    }
}

pub trait CredentialSource: Send + Sync + 'static {
    /// One AssumeRole (or its equivalent). The cache guarantees at most one call at a time.
    fn fetch(&self) -> impl Future<Output = Result<Issued, FetchError>> + Send;
}
