//! The deploy lane's moving parts outside the dispatcher: the trigger and follower that run
//! in CI (`airlock deploy`), the runner in the deployment task (`airlock run`), and the
//! transports between them. The AWS transports (SNS, SQS, KMS) are behind the `aws` feature;
//! the local transport (one SQLite file) needs no AWS and runs the whole lane on one machine.
//! What a dispatcher accepts is not here: both the local and the AWS dispatcher are the
//! admission core of `airlock-admission`.
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod doctor;
pub mod exit;
pub mod follow;
pub mod local;
pub mod mask;
pub mod runner;
pub mod setup;
pub mod transport;
pub mod trigger;
