//! `airlock guard --env ENV -- CMD`: the decision whether CMD may run against the account
//! the credentials belong to, and the confirmation a protected environment asks for.

use std::io::{BufRead, Write};

use crate::convention::Convention;
use crate::identity::{AliasStatus, Placement};

/// Exit code: the account is not in the expected environment, or its environment cannot be
/// told (no alias, an alias that breaks the convention, `[accounts.ids]` disagreeing).
pub const EXIT_WRONG_ENV: u8 = 3;
/// Exit code: a protected environment was not confirmed.
pub const EXIT_NOT_CONFIRMED: u8 = 4;
/// Exit code: the identity could not be resolved (no credentials, STS or IAM failed).
pub const EXIT_NO_IDENTITY: u8 = 5;

/// What the guard decided before any confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The account is in the expected, unprotected env: run.
    Run,
    /// The env is protected: run only once the user confirms by typing this alias.
    Confirm { alias: String },
    /// Do not run, for this reason.
    Refuse(String),
}

/// The `--env` value, checked against the convention before anything else happens. The
/// error names where the envs are configured.
pub fn expected_env(convention: &Convention, env: &str) -> Result<(), String> {
    if convention.is_env(env) {
        Ok(())
    } else {
        Err(format!(
            "--env {env:?} is not one of the envs configured at {}: {}",
            convention.envs_at,
            convention.envs.join(", ")
        ))
    }
}

pub fn decide(placement: &Placement, convention: &Convention, expected: &str) -> Decision {
    let identity = &placement.identity;
    let account = &identity.account;
    let refuse = |reason: String| Decision::Refuse(format!("refusing to run: {reason}"));
    let (alias, env) = match (&placement.status, &identity.alias) {
        (AliasStatus::Follows(labels), Some(alias)) => (alias, &labels.env),
        _ => {
            let why = placement.problems().join("; ");
            return refuse(format!(
                "the environment of account {account} cannot be told ({why})"
            ));
        }
    };
    if placement.ids_disagree() {
        return refuse(placement.problems().join("; "));
    }
    if env != expected {
        return refuse(format!(
            "the credentials are for {alias} ({account}), which is {env}, not {expected}"
        ));
    }
    if convention.is_protected(env) {
        Decision::Confirm {
            alias: alias.clone(),
        }
    } else {
        Decision::Run
    }
}

/// A `--confirm` value: it must be the alias exactly (no trimming, no case folding).
pub fn confirmed_by_flag(alias: &str, given: &str) -> bool {
    given == alias
}

/// Asks on a terminal for the alias to be typed and reads one line. Only the line's end is
/// trimmed: `bboq-prod-website ` with a trailing space is refused like any other near miss.
pub fn confirm_interactively(
    input: &mut impl BufRead,
    output: &mut impl Write,
    alias: &str,
    account: &str,
    env: &str,
    command: &str,
) -> std::io::Result<bool> {
    write!(
        output,
        "{command}\nwill run in {alias} ({account}), a protected {} account.\nType the account alias to confirm: ",
        env.to_ascii_uppercase()
    )?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let typed = line.strip_suffix('\n').unwrap_or(&line);
    let typed = typed.strip_suffix('\r').unwrap_or(typed);
    Ok(typed == alias)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::identity::tests::{convention, identity};

    fn placed(account: &str, alias: Option<&str>) -> Placement {
        Placement::new(
            Identity {
                account: account.into(),
                ..identity(alias)
            },
            Some(&convention()),
        )
    }

    #[test]
    fn the_env_decides_and_protected_envs_ask_for_the_alias() {
        let c = convention();
        assert_eq!(
            decide(
                &placed("123456789012", Some("bboq-prod-website")),
                &c,
                "prod"
            ),
            Decision::Confirm {
                alias: "bboq-prod-website".into()
            }
        );
        assert_eq!(
            decide(
                &placed("210987654321", Some("bboq-test-website")),
                &c,
                "test"
            ),
            Decision::Run
        );
        let Decision::Refuse(reason) = decide(
            &placed("210987654321", Some("bboq-test-website")),
            &c,
            "prod",
        ) else {
            panic!("a test account passed as prod");
        };
        assert!(
            reason.contains("bboq-test-website (210987654321), which is test, not prod"),
            "{reason}"
        );
    }

    #[test]
    fn an_unknown_env_is_refused() {
        let c = convention();
        for (account, alias, needle) in [
            ("210987654321", None, "has no alias"),
            ("210987654321", Some("website"), "breaks the convention"),
            // [accounts.ids] says 123456789012 is bboq-prod-website.
            (
                "123456789012",
                Some("bboq-test-website"),
                "says account 123456789012 is \"bboq-prod-website\"",
            ),
        ] {
            let Decision::Refuse(reason) = decide(&placed(account, alias), &c, "test") else {
                panic!("{alias:?} was not refused");
            };
            assert!(reason.contains(needle), "{reason}");
        }
    }

    #[test]
    fn expected_env_names_the_configuration() {
        let c = convention();
        assert!(expected_env(&c, "prod").is_ok());
        let error = expected_env(&c, "production").unwrap_err();
        assert!(error.contains("--env \"production\" is not one of the envs configured at airlock.toml:3: dev, test, prod"), "{error}");
    }

    #[test]
    fn confirmation_is_the_exact_alias() {
        let ask = |typed: &str| {
            let mut out = Vec::new();
            let ok = confirm_interactively(
                &mut typed.as_bytes(),
                &mut out,
                "bboq-prod-website",
                "123456789012",
                "prod",
                "terraform apply",
            )
            .unwrap();
            (ok, String::from_utf8(out).unwrap())
        };
        let (ok, prompt) = ask("bboq-prod-website\n");
        assert!(ok);
        assert!(prompt.contains("a protected PROD account"), "{prompt}");
        assert!(ask("bboq-prod-website\r\n").0);
        assert!(!ask("bboq-prod-websit\n").0);
        assert!(!ask("bboq-prod-website \n").0);
        assert!(!ask("BBOQ-PROD-WEBSITE\n").0);
        assert!(!ask("").0);
        assert!(confirmed_by_flag("bboq-prod-website", "bboq-prod-website"));
        assert!(!confirmed_by_flag(
            "bboq-prod-website",
            " bboq-prod-website"
        ));
    }
}
