//! The account naming convention, `whoami` and `guard`. Filled in by the accounts issue.
#![forbid(unsafe_code)]
