//! `airlock accounts`, `whoami` and `guard`: an org-env-purpose naming convention for
//! account aliases and profiles, which account the current credentials are in, and a guard
//! that refuses to run a command against the wrong environment.
//!
//! [`convention`] reads and applies `[accounts]` from `airlock.toml`; [`identity`] places
//! an identity in it and renders `whoami`; [`guard`] decides and confirms; [`cache`] keeps
//! the shell prompt fast. All of that is pure. The AWS calls are in [`aws`], behind the
//! `aws` feature, so the scanner can lint AWS config files by the convention without the
//! SDK. The lint rules themselves live in the scanner's registry (`airlock-check`, family
//! ACC), so that `airlock check` applies them too.
#![forbid(unsafe_code)]

pub mod cache;
pub mod convention;
pub mod guard;
pub mod identity;

#[cfg(feature = "aws")]
pub mod aws;

pub use convention::{Convention, ConventionError, Labels};
pub use identity::{Identity, Placement};
