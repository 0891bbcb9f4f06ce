//! The deploy lane's CI side (trigger and follower), the runner, and their transports.
//!
//! Filled in by the deploy-lane issue. AWS transports will live behind the `aws` feature so
//! that the local (embedded) lane builds without the AWS SDK.
#![forbid(unsafe_code)]
