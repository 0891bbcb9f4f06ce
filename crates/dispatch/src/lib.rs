//! The dispatcher: the deploy lane's security boundary in the production account. It turns
//! only valid, signed, fresh, allowlisted requests into Fargate tasks, tells CI why anything
//! else was refused, and reports tasks that stopped before their runner could.
//!
//! The decisions ([`dispatcher`]) are pure logic over one small trait ([`ports::Ports`]);
//! [`aws`] implements it on DynamoDB, ECS, ECR and SQS, and the `airlock-dispatch` binary runs
//! it as a Lambda function (`lambda_runtime`).
#![forbid(unsafe_code)]

pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod dispatcher;
pub mod event;
pub mod gate;
pub mod ports;

pub use config::DispatchConfig;
pub use dispatcher::{Decision, Dispatcher};
