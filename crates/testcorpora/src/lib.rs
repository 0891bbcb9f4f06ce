//! Where the shared corpora are, for the tests that read them.
//!
//! The corpora are public IaC repositories kept beside the project (`../shared/corpora`), never
//! copied into it. A user's fresh clone has none, and its tests must still pass, so there a test
//! that needs them says `SKIPPED` and returns. In CI (`CI=true`) an absent corpus fails the test
//! instead: a green run that silently tested nothing would hide exactly the regressions these
//! tests exist to catch.
//!
//! Deliberately free of dependencies: the scanner's tests use it, and the scanner builds without
//! the AWS SDK that the other test harness brings.

use std::path::{Path, PathBuf};

/// The variable that names the corpora folder.
pub const CORPORA_ENV: &str = "AIRLOCK_CORPORA";

/// The corpora folder: `AIRLOCK_CORPORA`, else `../shared/corpora` beside the workspace.
pub fn corpora_dir() -> PathBuf {
    match std::env::var_os(CORPORA_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
    }
}

/// True when the tests run in CI, where a skipped test counts as a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| is_ci_value(&value))
}

fn is_ci_value(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    )
}

/// The corpora folder, for `test`; `None` when it is absent, after saying SKIPPED on stderr.
///
/// # Panics
///
/// With `CI=true`, when the folder is absent: CI must not pass on a test that ran nothing.
pub fn require(test: &str) -> Option<PathBuf> {
    decide(test, corpora_dir(), in_ci())
}

/// One corpus of the folder (`terragoat`, `reinvent2019-con414`, …), with [`require`]'s policy.
///
/// # Panics
///
/// With `CI=true`, when the corpus is absent.
pub fn require_corpus(test: &str, corpus: &str) -> Option<PathBuf> {
    decide(test, corpora_dir().join(corpus), in_ci())
}

fn decide(test: &str, dir: PathBuf, ci: bool) -> Option<PathBuf> {
    if dir.is_dir() {
        return Some(dir);
    }
    let message = format!(
        "{test}: corpora not found at {} (set {CORPORA_ENV} to the shared corpora folder)",
        dir.display()
    );
    if ci {
        panic!("{message}; CI=true, so a test that needs them fails rather than skips");
    }
    eprintln!("SKIPPED: {message}");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_folder_is_returned_in_and_out_of_ci() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(decide("t", here.clone(), false), Some(here.clone()));
        assert_eq!(decide("t", here.clone(), true), Some(here));
    }

    #[test]
    fn an_absent_folder_skips_outside_ci() {
        let missing = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-corpora");
        assert_eq!(decide("t", missing, false), None);
    }

    #[test]
    #[should_panic(expected = "CI=true")]
    fn an_absent_folder_fails_in_ci() {
        let missing = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-corpora");
        let _ = decide("t", missing, true);
    }

    #[test]
    fn ci_values_that_ci_systems_set() {
        for value in ["true", "TRUE", "1", "yes"] {
            assert!(is_ci_value(value), "{value}");
        }
        for value in ["", "false", "0", "no"] {
            assert!(!is_ci_value(value), "{value}");
        }
    }
}
