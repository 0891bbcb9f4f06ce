//! `airlock accounts`, `whoami` and `guard`: an org-env-purpose naming convention for
//! account aliases and profiles, which account the current credentials are in, and a guard
//! that refuses to run a command against the wrong environment.
//!
//! [`convention`] reads and applies `[accounts]` from `airlock.toml`; [`identity`] places
//! an identity in it and renders `whoami`; [`guard`] decides and confirms; [`alias`] says
//! which aliases `[accounts.ids]` allows; [`cache`] keeps the shell prompt fast. All of that is pure. The AWS calls are in [`aws`], behind the
//! `aws` feature, so the scanner can lint AWS config files by the convention without the
//! SDK. The lint rules themselves live in the scanner's registry (`airlock-check`, family
//! ACC), so that `airlock check` applies them too.
#![forbid(unsafe_code)]

pub mod alias;
pub mod cache;
pub mod convention;
pub mod guard;
pub mod identity;

#[cfg(feature = "aws")]
pub mod aws;

pub use convention::{Convention, ConventionError, Labels};
pub use identity::{Identity, Placement};

/// A per-user base directory by the XDG rules: `$XDG_…` when it is an absolute path, else
/// `$HOME/<under_home>` (`XDG_CACHE_HOME` and `.cache`, `XDG_CONFIG_HOME` and `.config`).
pub fn user_base_dir(
    env: impl Fn(&str) -> Option<String>,
    xdg: &str,
    under_home: &str,
) -> Option<std::path::PathBuf> {
    env(xdg)
        .filter(|v| std::path::Path::new(v).is_absolute())
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|home| std::path::Path::new(&home).join(under_home)))
}
