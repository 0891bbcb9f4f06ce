//! Job and parameter schemas, as both dispatchers' configurations allowlist them
//! (`[lane.jobs.<name>.params.<NAME>]` in `airlock.toml`, `[dispatch.jobs.<name>.params.<NAME>]`
//! in the dispatcher's file), and [`validate_params`], the check every request's parameters
//! pass before anything runs.
//!
//! The TOML is walked by hand rather than through `serde(derive)` so that every error names
//! the dotted path of the offending key (`airlock.toml: lane.jobs.hello.params.ENV: pattern
//! is not a valid regex: …`); [`Fields`] holds those walking helpers for the configuration
//! files that embed these schemas.

use std::collections::BTreeMap;

use regex::Regex;

/// A parameter's length limit (in characters) when its schema gives no `max_len`.
pub const DEFAULT_PARAM_MAX_LEN: usize = 1024;

/// A configuration error: `"{file}: {field}: {message}"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct ConfigError {
    /// The configuration file as given (`airlock.toml`).
    pub file: String,
    /// The dotted path of the key (`lane.jobs.hello.params.ENV`), or `(file)` for errors of
    /// the whole file (unreadable, not TOML).
    pub field: String,
    pub message: String,
}

/// What one parameter may be. All given constraints apply; a parameter with none accepts any
/// value up to [`DEFAULT_PARAM_MAX_LEN`].
#[derive(Debug, Clone)]
pub struct ParamSchema {
    pub allowed: Option<Vec<String>>,
    /// The pattern as written in the file (for messages).
    pub pattern_source: Option<String>,
    /// The pattern compiled anchored: `^(?:pattern)$`.
    pub pattern: Option<Regex>,
    /// In characters.
    pub max_len: usize,
}

/// Why a request's parameters were refused. The messages name the parameter; values are
/// shown shortened and escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("job {job}: unknown parameter {name} (the job accepts: {accepted})")]
    Unknown {
        job: String,
        name: String,
        accepted: String,
    },
    #[error("job {job}: parameter {name}: value {value} is not one of {allowed}")]
    NotAllowed {
        job: String,
        name: String,
        value: String,
        allowed: String,
    },
    #[error("job {job}: parameter {name}: value {value} does not match the pattern {pattern}")]
    PatternMismatch {
        job: String,
        name: String,
        value: String,
        pattern: String,
    },
    #[error("job {job}: parameter {name}: value is {len} characters long, the limit is {max}")]
    TooLong {
        job: String,
        name: String,
        len: usize,
        max: usize,
    },
    #[error("job {job}: parameter {name}: value contains a NUL byte")]
    ContainsNul { job: String, name: String },
}

/// Checks a request's parameters against job `job`'s schemas: every name must be declared,
/// every value must satisfy all of its constraints and contain no NUL (it becomes an
/// environment variable).
pub fn validate_params(
    job: &str,
    schemas: &BTreeMap<String, ParamSchema>,
    params: &BTreeMap<String, String>,
) -> Result<(), ParamError> {
    for (name, value) in params {
        let Some(schema) = schemas.get(name) else {
            let accepted = if schemas.is_empty() {
                "no parameters".to_string()
            } else {
                schemas.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(ParamError::Unknown {
                job: job.to_string(),
                name: shorten(name),
                accepted,
            });
        };
        if value.contains('\0') {
            return Err(ParamError::ContainsNul {
                job: job.to_string(),
                name: name.clone(),
            });
        }
        let len = value.chars().count();
        if len > schema.max_len {
            return Err(ParamError::TooLong {
                job: job.to_string(),
                name: name.clone(),
                len,
                max: schema.max_len,
            });
        }
        if let Some(allowed) = &schema.allowed
            && !allowed.iter().any(|a| a == value)
        {
            return Err(ParamError::NotAllowed {
                job: job.to_string(),
                name: name.clone(),
                value: shorten(value),
                allowed: format!("{allowed:?}"),
            });
        }
        if let Some(pattern) = &schema.pattern
            && !pattern.is_match(value)
        {
            return Err(ParamError::PatternMismatch {
                job: job.to_string(),
                name: name.clone(),
                value: shorten(value),
                pattern: format!("{:?}", schema.pattern_source.as_deref().unwrap_or("")),
            });
        }
    }
    Ok(())
}

/// Parses a job's `params` table; `field` is the table's dotted path, for errors.
pub fn parse_param_schemas(
    file: &str,
    field: &str,
    value: &toml::Value,
) -> Result<BTreeMap<String, ParamSchema>, ConfigError> {
    Fields { file }.params(value, field)
}

/// Whether `name` is a valid parameter (environment variable) name: `[A-Z_][A-Z0-9_]*`.
pub fn valid_param_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'_'))
        && bytes.all(|b| matches!(b, b'A'..=b'Z' | b'0'..=b'9' | b'_'))
}

/// Whether `name` may name a job: 1 to 64 of `A-Z a-z 0-9 _ . -`, starting with a letter or
/// digit (the same rule for the local lane and the AWS dispatcher).
pub fn valid_job_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A value for a message: escaped, and cut to 64 characters so that a huge value cannot
/// flood a log line.
fn shorten(value: &str) -> String {
    const LIMIT: usize = 64;
    if value.chars().count() <= LIMIT {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(LIMIT).collect();
        format!("{head:?}… ({} characters)", value.chars().count())
    }
}

/// Reads typed values out of a TOML table, naming `file` and the dotted field in every error.
pub struct Fields<'a> {
    pub file: &'a str,
}

impl Fields<'_> {
    pub fn err(&self, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn table<'t>(
        &self,
        value: &'t toml::Value,
        field: &str,
    ) -> Result<&'t toml::Table, ConfigError> {
        value
            .as_table()
            .ok_or_else(|| self.err(field, format!("must be a table, not {}", value.type_str())))
    }

    pub fn known_keys(
        &self,
        table: &toml::Table,
        field: &str,
        known: &[&str],
    ) -> Result<(), ConfigError> {
        match table.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(self.err(
                &format!("{field}.{key}"),
                format!("unknown key `{key}` (known keys: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    pub fn opt_string(
        &self,
        table: &toml::Table,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, ConfigError> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                Err(self.err(field, format!("must be a string, not {}", other.type_str())))
            }
        }
    }

    pub fn opt_positive(
        &self,
        table: &toml::Table,
        key: &str,
        field: &str,
    ) -> Result<Option<u64>, ConfigError> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n > 0 => Ok(Some(n.unsigned_abs())),
            Some(toml::Value::Integer(n)) => {
                Err(self.err(field, format!("must be a positive integer, not {n}")))
            }
            Some(other) => Err(self.err(
                field,
                format!("must be a positive integer, not {}", other.type_str()),
            )),
        }
    }

    pub fn string_list(
        &self,
        value: &toml::Value,
        field: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let array = value.as_array().ok_or_else(|| {
            self.err(
                field,
                format!("must be an array of strings, not {}", value.type_str()),
            )
        })?;
        array
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(self.err(
                    &format!("{field}[{i}]"),
                    format!("must be a string, not {}", other.type_str()),
                )),
            })
            .collect()
    }

    /// A job's `params` table: each key an environment variable name outside the lane's
    /// reserved `AIRLOCK_` prefix, each value a schema.
    pub fn params(
        &self,
        value: &toml::Value,
        params_field: &str,
    ) -> Result<BTreeMap<String, ParamSchema>, ConfigError> {
        let mut params = BTreeMap::new();
        for (param, spec) in self.table(value, params_field)? {
            let field = format!("{params_field}.{param}");
            if !valid_param_name(param) {
                return Err(self.err(
                    &field,
                    "parameter names are environment variable names: [A-Z_][A-Z0-9_]*",
                ));
            }
            if param.starts_with("AIRLOCK_") {
                return Err(self.err(
                    &field,
                    "names starting with AIRLOCK_ are reserved for the lane (AIRLOCK_REQUEST_ID, AIRLOCK_JOB, the runner's settings)",
                ));
            }
            params.insert(
                param.clone(),
                self.param(self.table(spec, &field)?, &field)?,
            );
        }
        Ok(params)
    }

    fn param(&self, table: &toml::Table, field: &str) -> Result<ParamSchema, ConfigError> {
        self.known_keys(table, field, &["enum", "pattern", "max_len"])?;
        let allowed = match table.get("enum") {
            None => None,
            Some(value) => {
                let values = self.string_list(value, &format!("{field}.enum"))?;
                if values.is_empty() {
                    return Err(self.err(&format!("{field}.enum"), "must list at least one value"));
                }
                Some(values)
            }
        };
        let pattern_source = self.opt_string(table, "pattern", &format!("{field}.pattern"))?;
        let pattern = match &pattern_source {
            None => None,
            Some(source) => Some(Regex::new(&format!("^(?:{source})$")).map_err(|e| {
                // The regex error is multi-line (it draws the pattern); one line reads better.
                let detail = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                self.err(field, format!("pattern is not a valid regex: {detail}"))
            })?),
        };
        let max_len = match table.get("max_len") {
            None => DEFAULT_PARAM_MAX_LEN,
            Some(toml::Value::Integer(n)) if *n > 0 => usize::try_from(*n).unwrap_or(usize::MAX),
            Some(other) => {
                return Err(self.err(
                    &format!("{field}.max_len"),
                    format!("must be a positive integer, not {other}"),
                ));
            }
        };
        let schema = ParamSchema {
            allowed,
            pattern_source,
            pattern,
            max_len,
        };
        // An enum value the other constraints refuse can never be sent: a mistake in the file.
        if let Some(allowed) = &schema.allowed {
            let probe = BTreeMap::from([("P".to_string(), schema.clone())]);
            for value in allowed {
                let params = BTreeMap::from([("P".to_string(), value.clone())]);
                if validate_params("", &probe, &params).is_err() {
                    return Err(self.err(
                        &format!("{field}.enum"),
                        format!("value {value:?} breaks the parameter's own pattern, max_len or has a NUL"),
                    ));
                }
            }
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMAS: &str = r#"
[EXIT_CODE]
pattern = "[0-9]{1,3}"
max_len = 3
[GREETING]
enum = ["hello", "bonjour"]
[NOTE]
"#;

    fn hello() -> BTreeMap<String, ParamSchema> {
        let value: toml::Value = toml::from_str(SCHEMAS).expect("toml");
        parse_param_schemas("airlock.toml", "lane.jobs.hello.params", &value).expect("schemas")
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params_are_checked_against_the_schema() {
        let job = hello();
        assert_eq!(job["NOTE"].max_len, DEFAULT_PARAM_MAX_LEN);
        let check = |pairs: &[(&str, &str)]| validate_params("hello", &job, &params(pairs));
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(
            check(&[
                ("EXIT_CODE", "42"),
                ("GREETING", "bonjour"),
                ("NOTE", "any thing")
            ]),
            Ok(())
        );
        let err = |pairs: &[(&str, &str)]| check(pairs).expect_err("refused").to_string();
        assert_eq!(
            err(&[("COLOUR", "red")]),
            "job hello: unknown parameter \"COLOUR\" (the job accepts: EXIT_CODE, GREETING, NOTE)"
        );
        assert_eq!(
            err(&[("GREETING", "hi")]),
            "job hello: parameter GREETING: value \"hi\" is not one of [\"hello\", \"bonjour\"]"
        );
        // The pattern is anchored: a matching substring is not enough.
        assert_eq!(
            err(&[("EXIT_CODE", "4x")]),
            "job hello: parameter EXIT_CODE: value \"4x\" does not match the pattern \"[0-9]{1,3}\""
        );
        assert!(err(&[("EXIT_CODE", "1\n2")]).contains("does not match"));
        assert_eq!(
            err(&[("EXIT_CODE", "1234")]),
            "job hello: parameter EXIT_CODE: value is 4 characters long, the limit is 3"
        );
        assert_eq!(
            err(&[("NOTE", "a\0b")]),
            "job hello: parameter NOTE: value contains a NUL byte"
        );
        let long = "x".repeat(DEFAULT_PARAM_MAX_LEN + 1);
        assert!(err(&[("NOTE", &long)]).contains("the limit is 1024"));
        // Long values are cut in messages.
        let huge = "y".repeat(500);
        assert!(err(&[("GREETING", &huge)]).len() < 200);
    }

    #[test]
    fn param_names_are_environment_names() {
        for good in ["A", "_", "EXIT_CODE", "X9", "_9"] {
            assert!(valid_param_name(good), "{good}");
        }
        for bad in ["", "9X", "exit", "A-B", "A B", "É"] {
            assert!(!valid_param_name(bad), "{bad}");
        }
    }

    #[test]
    fn schema_errors_name_the_field() {
        let cases = [
            (
                "[ENV]\npattern = \"(\"\n",
                "p: p.ENV: pattern is not a valid regex: ",
            ),
            (
                "[ENV]\nmin_len = 1\n",
                "p: p.ENV.min_len: unknown key `min_len`",
            ),
            (
                "[env]\n",
                "p: p.env: parameter names are environment variable names",
            ),
            (
                "[AIRLOCK_JOB]\n",
                "p: p.AIRLOCK_JOB: names starting with AIRLOCK_ are reserved",
            ),
            (
                "[ENV]\nenum = []\n",
                "p: p.ENV.enum: must list at least one value",
            ),
            (
                "[ENV]\nenum = [\"prod\", \"staging\"]\nmax_len = 4\n",
                "p: p.ENV.enum: value \"staging\" breaks",
            ),
        ];
        for (text, expected) in cases {
            let value: toml::Value = toml::from_str(text).expect("toml");
            let error = parse_param_schemas("p", "p", &value)
                .expect_err(text)
                .to_string();
            assert!(error.starts_with(expected), "{text:?} gave {error}");
        }
    }
}
