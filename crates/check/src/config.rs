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

use serde::Deserialize;

use crate::finding::Severity;
use crate::rules::RuleMeta;

#[derive(Debug, Clone, Default)]
pub struct Config {
    enable: Vec<String>,
    disable: Vec<String>,
    severity: BTreeMap<String, Severity>,
    exclude: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    check: CheckSection,
    /// Other capabilities' sections (`[accounts]`, `[lane]`) are theirs to read.
    #[serde(flatten)]
    _others: BTreeMap<String, toml::Value>,
}

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

    /// Adds a rule to the disabled set (for `--disable` on the command line).
    pub fn disable(&mut self, code: &str) {
        self.disable.push(code.to_string());
    }
}
