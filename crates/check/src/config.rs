//! `airlock.toml`: which rules run, at what severity, and which paths are skipped.
//!
//! ```toml
//! [check]
//! disable = ["DKR004", "no-healthcheck"]   # codes or names
//! enable = []                              # if given, only these rules run
//! exclude = ["examples/insecure/**", "**/testdata/**"]
//!
//! [check.severity]
//! NET003 = "critical"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::Arc;

use airlock_accounts::{Convention, ConventionError};
use serde::Deserialize;

use crate::finding::Severity;
use crate::rules::RuleMeta;

#[derive(Debug, Clone, Default)]
pub struct Config {
    enable: Vec<String>,
    disable: Vec<String>,
    severity: BTreeMap<String, Severity>,
    exclude: Vec<String>,
    accounts: Option<Arc<Convention>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// `[accounts]` is invalid; the error names the line.
    #[error(transparent)]
    Accounts(#[from] ConventionError),
}

#[derive(Debug, Deserialize, Default)]
struct File {
    #[serde(default)]
    check: CheckSection,
    /// Other capabilities' sections are theirs to read; anything else is a typo. (serde's
    /// `deny_unknown_fields` cannot be combined with `flatten`, hence the check by hand.)
    #[serde(flatten)]
    others: BTreeMap<String, toml::Value>,
}

/// The top-level sections of airlock.toml.
const SECTIONS: [&str; 3] = ["check", "accounts", "lane"];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CheckSection {
    #[serde(default)]
    enable: Vec<String>,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
}

impl Config {
    /// Reads and validates a configuration file: unknown keys, unknown rule codes and bad
    /// severities are errors naming the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            path: display.clone(),
            message: e.to_string(),
        })?;
        Config::parse(&text, &display)
    }

    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_string(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if let Some(unknown) = file.others.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown section [{unknown}] (airlock.toml has [check], [accounts] and [lane])"
            )));
        }
        let check = file.check;
        let canonical = |name: &str| -> Result<String, ConfigError> {
            crate::rules::find(name)
                .map(|m| m.code.to_string())
                .ok_or_else(|| {
                    invalid(format!(
                        "unknown rule `{name}` (see `airlock check --list-rules`)"
                    ))
                })
        };
        let mut config = Config {
            enable: check
                .enable
                .iter()
                .map(|n| canonical(n))
                .collect::<Result<_, _>>()?,
            disable: check
                .disable
                .iter()
                .map(|n| canonical(n))
                .collect::<Result<_, _>>()?,
            exclude: check.exclude,
            accounts: Convention::from_toml(text, path)?.map(Arc::new),
            ..Config::default()
        };
        for (rule, severity) in check.severity {
            let code = canonical(&rule)?;
            let severity = Severity::parse(&severity).ok_or_else(|| {
                invalid(format!(
                    "severity of {rule}: `{severity}` is not one of low, medium, high, critical"
                ))
            })?;
            config.severity.insert(code, severity);
        }
        Ok(config)
    }

    pub fn is_enabled(&self, rule: &RuleMeta) -> bool {
        let code = rule.code.to_string();
        (self.enable.is_empty() || self.enable.contains(&code)) && !self.disable.contains(&code)
    }

    pub fn severity_override(&self, code: &str) -> Option<Severity> {
        self.severity.get(code).copied()
    }

    /// Glob patterns (gitignore syntax) of paths not to scan.
    pub fn excludes(&self) -> &[String] {
        &self.exclude
    }

    /// The account naming convention, when the file has `[accounts]`.
    pub fn accounts(&self) -> Option<Arc<Convention>> {
        self.accounts.clone()
    }

    /// Runs only these rules (codes), whatever the file enabled: `airlock accounts lint`
    /// runs the ACC family alone.
    pub fn only(&mut self, codes: &[&str]) {
        self.enable = codes.iter().map(|c| c.to_string()).collect();
    }

    /// Adds a rule to the disabled set (for `--disable` on the command line).
    pub fn disable(&mut self, code: &str) {
        self.disable.push(code.to_string());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[test]
    fn other_capabilities_sections_are_accepted_and_typos_are_not() {
        let text = "[check]\ndisable = [\"DKR004\"]\n\n[lane]\nqueue = \"q\"\n\n[accounts]\norg = \"bboq\"\nenvs = [\"dev\", \"prod\"]\n";
        let config = Config::parse(text, "airlock.toml").unwrap();
        assert_eq!(
            config.accounts().map(|c| c.org.clone()).as_deref(),
            Some("bboq")
        );
        let error = Config::parse("[acounts]\norg = \"bboq\"\n", "airlock.toml").unwrap_err();
        assert!(
            error.to_string().contains("unknown section [acounts]"),
            "{error}"
        );
        let error = Config::parse("[check]\ndisabled = []\n", "airlock.toml").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `disabled`"),
            "{error}"
        );
    }

    #[test]
    fn an_invalid_convention_is_a_configuration_error_with_its_line() {
        let error = Config::parse(
            "[check]\n\n[accounts]\norg = \"bboq\"\nenvs = [\"dev\"]\nalias = \"{org}-{stage}\"\nprotected_envs = [\"dev\"]\n",
            "airlock.toml",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("airlock.toml:6: accounts.alias: unknown placeholder {stage}"),
            "{error}"
        );
    }
}
