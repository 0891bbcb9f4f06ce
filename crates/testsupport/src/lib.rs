//! Test harness for airlock: a real AWS-compatible server (moto) per test, a fault-injecting
//! proxy to put between the SDK and it, and the standard fixtures every capability needs.
//!
//! This crate is a dev-dependency only; nothing in a shipped binary links it.
#![forbid(unsafe_code)]

pub mod fixtures;
mod moto;
mod process;
mod proxy;

use std::path::{Path, PathBuf};

pub use moto::{
    ACCOUNT_ID, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, MotoServer, REGION, env_for,
    sdk_config_for,
};
pub use process::LoggedChild;
pub use proxy::{Fault, FaultPlan, FaultProxy, FaultRates, RequestRecord};

/// Why the harness could not give a test what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "moto is not installed at {0}: run scripts/setup-test-env.sh (or set AIRLOCK_MOTO_PYTHON to a Python that has moto[server])"
    )]
    MotoMissing(PathBuf),
    #[error("moto did not start: {0}")]
    MotoStart(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("process under test: {0}")]
    Process(String),
    #[error("fault proxy: {0}")]
    Proxy(String),
    #[error("fixture {operation}: {message}")]
    Aws { operation: String, message: String },
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn aws<E: std::error::Error>(operation: &str, error: E) -> Self {
        HarnessError::Aws {
            operation: operation.to_string(),
            message: aws_smithy_types::error::display::DisplayErrorContext(error).to_string(),
        }
    }
}

/// The workspace root (where `.venv` and `Cargo.lock` live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
