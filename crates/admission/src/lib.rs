//! The deploy lane's admission policy: which signed requests become tasks. This is the
//! contract between CI and production, and both dispatchers are this one code: the AWS
//! dispatcher Lambda (`airlock-dispatch`, over DynamoDB, ECS, ECR and SQS) and the local lane's
//! (`airlock deploy --local` in `airlock-lane`, over SQLite and an `airlock run` subprocess).
//! Each brings its own [`Ports`] and [`Allowlist`]; the decisions, their order, the replay
//! handling and who hears of a refusal exist only in [`Admission`].
//!
//! The check order is written once, on [`Admission::handle_envelope`].
//!
//! This crate depends on nothing heavy (no AWS SDK, no SQLite, no process handling, no async
//! runtime), so that the Lambda links only what it needs and a change to the CI side cannot
//! change what production accepts.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod checks;
pub mod gate;
pub mod params;
pub mod ports;

pub use admission::{Admission, AllowedJob, Allowlist, Decision, StopNotice, StoppedTask};
pub use checks::{Refusal, codes};
pub use ports::{PortError, Ports};
