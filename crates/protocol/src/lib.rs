//! Versioned wire types shared by `airlock deploy`, `airlock run` and the dispatcher.
//!
//! The deploy-lane issue fills this crate in; it exists now so that the workspace has its
//! final shape and the dependency graph (protocol at the bottom, no AWS SDK) is fixed early.
#![forbid(unsafe_code)]
