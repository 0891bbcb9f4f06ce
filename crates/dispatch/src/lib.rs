//! The dispatcher: the deploy lane's security boundary in the production account. It turns
//! only valid, signed, fresh, allowlisted requests into Fargate tasks, tells CI why anything
//! else was refused, and reports tasks that stopped before their runner could.
//!
//! The decisions are the admission core shared with the local lane
//! ([`airlock_admission::Admission`], whose doc holds the check order), over one small trait
//! ([`airlock_admission::Ports`]); [`aws`] implements it on DynamoDB, ECS, ECR and SQS, and the
//! `airlock-dispatch` binary runs it as a Lambda function (`lambda_runtime`).
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod dispatcher;
pub mod event;

pub use config::DispatchConfig;
pub use dispatcher::{Decision, Dispatcher};
