//! The dispatcher: request validation, the job allowlist, RunTask, replay protection and the
//! lane lock. Filled in by the dispatcher issue.
#![forbid(unsafe_code)]
