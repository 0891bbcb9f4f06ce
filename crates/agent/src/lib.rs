//! The credential agent: an in-memory credential cache with early refresh, served over the
//! container-credentials HTTP protocol. Filled in by the agent issue.
#![forbid(unsafe_code)]
