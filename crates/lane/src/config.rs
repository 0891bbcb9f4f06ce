//! The lane's configuration: the `[lane]` part of `airlock.toml`.
//!
//! ```toml
//! [lane]                                   # CI side (`airlock deploy`)
//! topic_arn = "arn:aws:sns:eu-west-1:123456789012:airlock-lane-prod"
//! feedback_queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-feedback-prod"
//! signing_key_id = "arn:aws:kms:eu-west-1:111111111111:key/…"
//! region = "eu-west-1"
//! watchdog_secs = 120                      # fail when nothing was heard for this long
//! cancel_grace_secs = 60                   # after a cancel, follow this long at most
//!
//! [lane.local]                             # the local lane (no AWS)
//! db = ".airlock/lane.db"                  # the SQLite file the whole lane runs through
//! key = ".airlock/local-signing-key.pem"   # P-256 key, generated on first use, mode 0600
//!
//! [lane.jobs.hello]                        # the local dispatcher's allowlist
//! command = ["./jobs/hello.sh"]
//! timeout_secs = 300
//! env = { TF_IN_AUTOMATION = "1" }         # set for the job, as a task definition's would be
//! pass_env = ["KUBECONFIG"]                # taken from the caller's environment, when set
//! [lane.jobs.hello.params.EXIT_CODE]
//! pattern = "[0-9]{1,3}"                   # anchored: the whole value must match
//! max_len = 3
//! [lane.jobs.hello.params.GREETING]
//! enum = ["hello", "bonjour"]
//! ```
//!
//! Relative paths (`db`, `key`, and a job command's program) are relative to the directory
//! of the configuration file, so the lane behaves the same from any working directory.
//!
//! The file is read as a TOML table and walked by hand rather than through `serde(derive)`,
//! so that every error can name the dotted path of the offending key
//! (`airlock.toml: lane.jobs.hello.params.ENV: pattern is not a valid regex: …`).
//! Other top-level sections (`[check]`, …) belong to other capabilities and are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The default configuration file, in the current directory.
pub const DEFAULT_CONFIG_FILE: &str = "airlock.toml";
/// Env var naming another configuration file.
pub const ENV_CONFIG: &str = "AIRLOCK_CONFIG";
pub const ENV_TOPIC_ARN: &str = "AIRLOCK_LANE_TOPIC_ARN";
pub const ENV_FEEDBACK_QUEUE_URL: &str = "AIRLOCK_LANE_FEEDBACK_QUEUE_URL";
pub const ENV_SIGNING_KEY_ID: &str = "AIRLOCK_LANE_SIGNING_KEY_ID";

pub const DEFAULT_WATCHDOG_SECS: u64 = 120;
pub const DEFAULT_CANCEL_GRACE_SECS: u64 = 60;
pub const DEFAULT_LOCAL_DB: &str = ".airlock/lane.db";
pub const DEFAULT_LOCAL_KEY: &str = ".airlock/local-signing-key.pem";
/// A job's timeout when the configuration gives none.
pub const DEFAULT_JOB_TIMEOUT_SECS: u64 = 3600;
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

/// The `[lane]` section.
#[derive(Debug, Clone)]
pub struct LaneConfig {
    pub topic_arn: Option<String>,
    pub feedback_queue_url: Option<String>,
    pub signing_key_id: Option<String>,
    pub region: Option<String>,
    pub watchdog_secs: u64,
    pub cancel_grace_secs: u64,
    pub local: LocalConfig,
    pub jobs: BTreeMap<String, JobConfig>,
    /// The directory relative paths are resolved against (the configuration file's).
    pub base_dir: PathBuf,
}

/// `[lane.local]`, with paths resolved against the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    pub db: PathBuf,
    pub key: PathBuf,
}

/// `[lane.jobs.<name>]`: one allowlisted job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub name: String,
    /// Program and arguments; the program is resolved like a shell would (a bare name
    /// through `PATH`), relative paths against the configuration file's directory.
    pub command: Vec<String>,
    pub timeout_secs: u64,
    pub params: BTreeMap<String, ParamSchema>,
    /// `env`: variables set for the job, as a task definition's `environment` is.
    pub env: BTreeMap<String, String>,
    /// `pass_env`: names of the caller's variables the job gets (those that are set). The
    /// local job starts from an empty environment, like a Fargate task, so nothing else of
    /// the caller's (AWS credentials above all) reaches it.
    pub pass_env: Vec<String>,
}

/// `[lane.jobs.<name>.params.<NAME>]`: what one parameter may be. All given constraints
/// apply; a parameter with none accepts any value up to [`DEFAULT_PARAM_MAX_LEN`].
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

/// The configuration file to read: `$AIRLOCK_CONFIG`, else `airlock.toml`.
pub fn config_path(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    env(ENV_CONFIG)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE), PathBuf::from)
}

impl LaneConfig {
    /// Reads `path`. A missing `[lane]` section gives the defaults (no jobs).
    pub fn load(path: &Path) -> Result<LaneConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            field: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let base_dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        LaneConfig::parse(&text, &file, &base_dir)
    }

    /// Parses configuration text; `file` names it in errors, `base_dir` anchors relative paths.
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<LaneConfig, ConfigError> {
        let ctx = Ctx { file };
        let root: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_string(),
            field: "(file)".into(),
            message: format!("not valid TOML: {}", e.message()),
        })?;
        let empty = toml::Table::new();
        let lane = match root.get("lane") {
            None => &empty,
            Some(value) => ctx.table(value, "lane")?,
        };
        ctx.known_keys(
            lane,
            "lane",
            &[
                "topic_arn",
                "feedback_queue_url",
                "signing_key_id",
                "region",
                "watchdog_secs",
                "cancel_grace_secs",
                "local",
                "jobs",
            ],
        )?;
        let local = match lane.get("local") {
            None => &empty,
            Some(value) => ctx.table(value, "lane.local")?,
        };
        ctx.known_keys(local, "lane.local", &["db", "key"])?;
        let path_or = |key: &str, default: &str| -> Result<PathBuf, ConfigError> {
            let field = format!("lane.local.{key}");
            let text = ctx
                .opt_string(local, key, &field)?
                .unwrap_or_else(|| default.to_string());
            if text.is_empty() {
                return Err(ctx.err(&field, "must not be empty"));
            }
            Ok(base_dir.join(text))
        };
        let local = LocalConfig {
            db: path_or("db", DEFAULT_LOCAL_DB)?,
            key: path_or("key", DEFAULT_LOCAL_KEY)?,
        };

        let mut jobs = BTreeMap::new();
        if let Some(value) = lane.get("jobs") {
            for (name, job) in ctx.table(value, "lane.jobs")? {
                let field = format!("lane.jobs.{name}");
                if !valid_job_name(name) {
                    return Err(ctx.err(
                        &field,
                        "job names are 1 to 64 of A-Z a-z 0-9 _ . - and start with a letter or digit",
                    ));
                }
                jobs.insert(
                    name.clone(),
                    ctx.job(name, ctx.table(job, &field)?, &field)?,
                );
            }
        }

        Ok(LaneConfig {
            topic_arn: ctx.opt_string(lane, "topic_arn", "lane.topic_arn")?,
            feedback_queue_url: ctx.opt_string(
                lane,
                "feedback_queue_url",
                "lane.feedback_queue_url",
            )?,
            signing_key_id: ctx.opt_string(lane, "signing_key_id", "lane.signing_key_id")?,
            region: ctx.opt_string(lane, "region", "lane.region")?,
            watchdog_secs: ctx
                .opt_positive(lane, "watchdog_secs", "lane.watchdog_secs")?
                .unwrap_or(DEFAULT_WATCHDOG_SECS),
            cancel_grace_secs: ctx
                .opt_positive(lane, "cancel_grace_secs", "lane.cancel_grace_secs")?
                .unwrap_or(DEFAULT_CANCEL_GRACE_SECS),
            local,
            jobs,
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// Applies the CI overrides (`AIRLOCK_LANE_TOPIC_ARN`, `AIRLOCK_LANE_FEEDBACK_QUEUE_URL`,
    /// `AIRLOCK_LANE_SIGNING_KEY_ID`) through `env`, so that callers pass
    /// `|k| std::env::var(k).ok()` and tests pass a map. An empty variable is ignored.
    pub fn apply_env_overrides(&mut self, env: impl Fn(&str) -> Option<String>) {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(v) = get(ENV_TOPIC_ARN) {
            self.topic_arn = Some(v);
        }
        if let Some(v) = get(ENV_FEEDBACK_QUEUE_URL) {
            self.feedback_queue_url = Some(v);
        }
        if let Some(v) = get(ENV_SIGNING_KEY_ID) {
            self.signing_key_id = Some(v);
        }
    }

    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.get(name)
    }
}

impl Default for LaneConfig {
    fn default() -> Self {
        LaneConfig {
            topic_arn: None,
            feedback_queue_url: None,
            signing_key_id: None,
            region: None,
            watchdog_secs: DEFAULT_WATCHDOG_SECS,
            cancel_grace_secs: DEFAULT_CANCEL_GRACE_SECS,
            local: LocalConfig {
                db: PathBuf::from(DEFAULT_LOCAL_DB),
                key: PathBuf::from(DEFAULT_LOCAL_KEY),
            },
            jobs: BTreeMap::new(),
            base_dir: PathBuf::from("."),
        }
    }
}

/// Checks a request's parameters against the job's schema: every name must be declared,
/// every value must satisfy all of its constraints and contain no NUL (it becomes an
/// environment variable).
pub fn validate_params(
    job: &JobConfig,
    params: &BTreeMap<String, String>,
) -> Result<(), ParamError> {
    for (name, value) in params {
        let Some(schema) = job.params.get(name) else {
            let accepted = if job.params.is_empty() {
                "no parameters".to_string()
            } else {
                job.params.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(ParamError::Unknown {
                job: job.name.clone(),
                name: shorten(name),
                accepted,
            });
        };
        if value.contains('\0') {
            return Err(ParamError::ContainsNul {
                job: job.name.clone(),
                name: name.clone(),
            });
        }
        let len = value.chars().count();
        if len > schema.max_len {
            return Err(ParamError::TooLong {
                job: job.name.clone(),
                name: name.clone(),
                len,
                max: schema.max_len,
            });
        }
        if let Some(allowed) = &schema.allowed
            && !allowed.iter().any(|a| a == value)
        {
            return Err(ParamError::NotAllowed {
                job: job.name.clone(),
                name: name.clone(),
                value: shorten(value),
                allowed: format!("{allowed:?}"),
            });
        }
        if let Some(pattern) = &schema.pattern
            && !pattern.is_match(value)
        {
            return Err(ParamError::PatternMismatch {
                job: job.name.clone(),
                name: name.clone(),
                value: shorten(value),
                pattern: format!("{:?}", schema.pattern_source.as_deref().unwrap_or("")),
            });
        }
    }
    Ok(())
}

/// Parses a job's `params` table as `[lane.jobs.<name>.params]` does, for other configuration
/// files that allowlist jobs in the same form (the AWS dispatcher's). `field` is the table's
/// dotted path, for errors.
pub fn parse_param_schemas(
    file: &str,
    field: &str,
    value: &toml::Value,
) -> Result<BTreeMap<String, ParamSchema>, ConfigError> {
    Ctx { file }.params(value, field)
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

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn table<'t>(
        &self,
        value: &'t toml::Value,
        field: &str,
    ) -> Result<&'t toml::Table, ConfigError> {
        value
            .as_table()
            .ok_or_else(|| self.err(field, format!("must be a table, not {}", value.type_str())))
    }

    fn known_keys(
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

    fn opt_string(
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

    fn opt_positive(
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

    fn string_list(&self, value: &toml::Value, field: &str) -> Result<Vec<String>, ConfigError> {
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

    fn job(&self, name: &str, table: &toml::Table, field: &str) -> Result<JobConfig, ConfigError> {
        self.known_keys(
            table,
            field,
            &["command", "timeout_secs", "params", "env", "pass_env"],
        )?;
        let command_field = format!("{field}.command");
        let command = match table.get("command") {
            None => {
                return Err(self.err(
                    &command_field,
                    "is required (the program and its arguments)",
                ));
            }
            Some(value) => self.string_list(value, &command_field)?,
        };
        match command.first() {
            None => return Err(self.err(&command_field, "must name a program")),
            Some(program) if program.is_empty() => {
                return Err(self.err(
                    &format!("{command_field}[0]"),
                    "the program must not be empty",
                ));
            }
            Some(_) => {}
        }
        if let Some(i) = command.iter().position(|arg| arg.contains('\0')) {
            return Err(self.err(&format!("{command_field}[{i}]"), "contains a NUL byte"));
        }
        let timeout_secs = self
            .opt_positive(table, "timeout_secs", &format!("{field}.timeout_secs"))?
            .unwrap_or(DEFAULT_JOB_TIMEOUT_SECS);
        let params = match table.get("params") {
            Some(value) => self.params(value, &format!("{field}.params"))?,
            None => BTreeMap::new(),
        };
        let mut env = BTreeMap::new();
        if let Some(value) = table.get("env") {
            let env_field = format!("{field}.env");
            for (key, value) in self.table(value, &env_field)? {
                let key_field = format!("{env_field}.{key}");
                self.job_variable(key, &key_field, &params)?;
                match value {
                    toml::Value::String(text) if !text.contains('\0') => {
                        env.insert(key.clone(), text.clone());
                    }
                    toml::Value::String(_) => {
                        return Err(self.err(&key_field, "contains a NUL byte"));
                    }
                    other => {
                        return Err(self.err(
                            &key_field,
                            format!("must be a string, not {}", other.type_str()),
                        ));
                    }
                }
            }
        }
        let mut pass_env = Vec::new();
        if let Some(value) = table.get("pass_env") {
            let pass_field = format!("{field}.pass_env");
            for (i, name) in self
                .string_list(value, &pass_field)?
                .into_iter()
                .enumerate()
            {
                let name_field = format!("{pass_field}[{i}]");
                self.job_variable(&name, &name_field, &params)?;
                if env.contains_key(&name) {
                    return Err(self.err(
                        &name_field,
                        format!("{name} is also set in {field}.env; keep one"),
                    ));
                }
                pass_env.push(name);
            }
        }
        Ok(JobConfig {
            name: name.to_string(),
            command,
            timeout_secs,
            params,
            env,
            pass_env,
        })
    }

    /// A variable a job's configuration names (`env`, `pass_env`): an environment variable
    /// name, not the lane's own (`AIRLOCK_`), and not a parameter, whose value the request
    /// decides and which must not be overridden behind the allowlist's back.
    fn job_variable(
        &self,
        name: &str,
        field: &str,
        params: &BTreeMap<String, ParamSchema>,
    ) -> Result<(), ConfigError> {
        let mut bytes = name.bytes();
        let is_variable_name = matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !is_variable_name {
            return Err(self.err(
                field,
                "variable names are environment variable names: [A-Za-z_][A-Za-z0-9_]*",
            ));
        }
        if name.starts_with("AIRLOCK_") {
            return Err(self.err(
                field,
                "names starting with AIRLOCK_ are reserved for the lane (AIRLOCK_REQUEST_ID, AIRLOCK_JOB, the runner's settings)",
            ));
        }
        if params.contains_key(name) {
            return Err(self.err(
                field,
                format!("{name} is a parameter of the job; the request sets it"),
            ));
        }
        Ok(())
    }

    fn params(
        &self,
        value: &toml::Value,
        params_field: &str,
    ) -> Result<BTreeMap<String, ParamSchema>, ConfigError> {
        let mut params = BTreeMap::new();
        {
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
            let probe = JobConfig {
                name: String::new(),
                command: Vec::new(),
                timeout_secs: 1,
                params: BTreeMap::from([("P".to_string(), schema.clone())]),
                env: BTreeMap::new(),
                pass_env: Vec::new(),
            };
            for value in allowed {
                let params = BTreeMap::from([("P".to_string(), value.clone())]);
                if validate_params(&probe, &params).is_err() {
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

    fn parse(text: &str) -> Result<LaneConfig, ConfigError> {
        LaneConfig::parse(text, "airlock.toml", Path::new("/srv/app"))
    }

    const GOOD: &str = r#"
[check]
disable = ["DKR004"]

[lane]
topic_arn = "arn:aws:sns:eu-west-1:123456789012:lane"
watchdog_secs = 30

[lane.local]
db = "state/lane.db"

[lane.jobs.hello]
command = ["./jobs/hello.sh", "--loud"]
timeout_secs = 60
[lane.jobs.hello.params.EXIT_CODE]
pattern = "[0-9]{1,3}"
max_len = 3
[lane.jobs.hello.params.GREETING]
enum = ["hello", "bonjour"]
[lane.jobs.hello.params.NOTE]
"#;

    #[test]
    fn a_full_file_parses_with_defaults_and_resolved_paths() {
        let config = parse(GOOD).expect("valid config");
        assert_eq!(
            config.topic_arn.as_deref(),
            Some("arn:aws:sns:eu-west-1:123456789012:lane")
        );
        assert_eq!(config.watchdog_secs, 30);
        assert_eq!(config.cancel_grace_secs, DEFAULT_CANCEL_GRACE_SECS);
        assert_eq!(config.local.db, PathBuf::from("/srv/app/state/lane.db"));
        assert_eq!(
            config.local.key,
            PathBuf::from("/srv/app/.airlock/local-signing-key.pem")
        );
        let hello = config.job("hello").expect("hello job");
        assert_eq!(hello.command, ["./jobs/hello.sh", "--loud"]);
        assert_eq!(hello.timeout_secs, 60);
        assert_eq!(hello.params.len(), 3);
        assert_eq!(hello.params["NOTE"].max_len, DEFAULT_PARAM_MAX_LEN);
    }

    #[test]
    fn a_file_without_lane_gives_defaults() {
        let config = parse("[check]\ndisable = []\n").expect("valid");
        assert!(config.jobs.is_empty());
        assert_eq!(config.watchdog_secs, DEFAULT_WATCHDOG_SECS);
        assert_eq!(config.local.db, PathBuf::from("/srv/app/.airlock/lane.db"));
    }

    #[test]
    fn env_overrides_replace_file_values_and_ignore_empty_ones() {
        let mut config = parse(GOOD).expect("valid");
        let env = BTreeMap::from([
            (ENV_TOPIC_ARN, "arn:aws:sns:us-east-1:000000000000:other"),
            (
                ENV_FEEDBACK_QUEUE_URL,
                "http://localhost:4566/000000000000/fb",
            ),
            (ENV_SIGNING_KEY_ID, ""),
        ]);
        config.apply_env_overrides(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(
            config.topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:000000000000:other")
        );
        assert_eq!(
            config.feedback_queue_url.as_deref(),
            Some("http://localhost:4566/000000000000/fb")
        );
        assert_eq!(config.signing_key_id, None);
        assert_eq!(config_path(|_| None), PathBuf::from("airlock.toml"));
        assert_eq!(
            config_path(|k| (k == ENV_CONFIG).then(|| "/etc/airlock.toml".to_string())),
            PathBuf::from("/etc/airlock.toml")
        );
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let cases: &[(&str, &str)] = &[
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\n[lane.jobs.hello.params.ENV]\npattern = \"(\"\n",
                "airlock.toml: lane.jobs.hello.params.ENV: pattern is not a valid regex: ",
            ),
            (
                "[lane]\ntopic = \"x\"\n",
                "airlock.toml: lane.topic: unknown key `topic`",
            ),
            (
                "[lane.local]\npath = \"x\"\n",
                "airlock.toml: lane.local.path: unknown key `path`",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\nretries = 3\n",
                "airlock.toml: lane.jobs.hello.retries: unknown key `retries`",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\n[lane.jobs.hello.params.ENV]\nmin_len = 1\n",
                "airlock.toml: lane.jobs.hello.params.ENV.min_len: unknown key `min_len`",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\n[lane.jobs.hello.params.env]\n",
                "airlock.toml: lane.jobs.hello.params.env: parameter names are environment variable names",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\n[lane.jobs.hello.params.AIRLOCK_JOB]\n",
                "airlock.toml: lane.jobs.hello.params.AIRLOCK_JOB: names starting with AIRLOCK_ are reserved",
            ),
            (
                "[lane.jobs.hello]\ntimeout_secs = 5\n",
                "airlock.toml: lane.jobs.hello.command: is required",
            ),
            (
                "[lane.jobs.hello]\ncommand = []\n",
                "airlock.toml: lane.jobs.hello.command: must name a program",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\", 3]\n",
                "airlock.toml: lane.jobs.hello.command[1]: must be a string, not integer",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\ntimeout_secs = 0\n",
                "airlock.toml: lane.jobs.hello.timeout_secs: must be a positive integer, not 0",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\nenv = { AIRLOCK_JOB = \"x\" }\n",
                "airlock.toml: lane.jobs.hello.env.AIRLOCK_JOB: names starting with AIRLOCK_ are reserved for the lane (AIRLOCK_REQUEST_ID, AIRLOCK_JOB, the runner's settings)",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\nenv = { TF = 1 }\n",
                "airlock.toml: lane.jobs.hello.env.TF: must be a string, not integer",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\npass_env = [\"A-B\"]\n",
                "airlock.toml: lane.jobs.hello.pass_env[0]: variable names are environment variable names: [A-Za-z_][A-Za-z0-9_]*",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\nenv = { K = \"v\" }\npass_env = [\"K\"]\n",
                "airlock.toml: lane.jobs.hello.pass_env[0]: K is also set in lane.jobs.hello.env; keep one",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\npass_env = [\"ENV\"]\n[lane.jobs.hello.params.ENV]\nmax_len = 4\n",
                "airlock.toml: lane.jobs.hello.pass_env[0]: ENV is a parameter of the job; the request sets it",
            ),
            (
                "[lane]\nwatchdog_secs = \"2m\"\n",
                "airlock.toml: lane.watchdog_secs: must be a positive integer, not string",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\n[lane.jobs.hello.params.ENV]\nenum = []\n",
                "airlock.toml: lane.jobs.hello.params.ENV.enum: must list at least one value",
            ),
            (
                "[lane.jobs.hello]\ncommand = [\"x\"]\n[lane.jobs.hello.params.ENV]\nenum = [\"prod\", \"staging\"]\nmax_len = 4\n",
                "airlock.toml: lane.jobs.hello.params.ENV.enum: value \"staging\" breaks",
            ),
            (
                "[lane.jobs.\"bad name\"]\ncommand = [\"x\"]\n",
                "airlock.toml: lane.jobs.bad name: job names are",
            ),
            (
                "[lane]\nlocal = 3\n",
                "airlock.toml: lane.local: must be a table, not integer",
            ),
            ("[lane\n", "airlock.toml: (file): not valid TOML"),
        ];
        for (text, expected) in cases {
            let error = parse(text).expect_err(text).to_string();
            assert!(
                error.starts_with(expected),
                "{text:?}\n  gave {error}\n  expected {expected}"
            );
        }
    }

    fn hello() -> JobConfig {
        parse(GOOD)
            .expect("valid")
            .jobs
            .remove("hello")
            .expect("hello")
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
        assert_eq!(validate_params(&job, &params(&[])), Ok(()));
        assert_eq!(
            validate_params(
                &job,
                &params(&[
                    ("EXIT_CODE", "42"),
                    ("GREETING", "bonjour"),
                    ("NOTE", "any thing")
                ])
            ),
            Ok(())
        );
        let err = |pairs: &[(&str, &str)]| {
            validate_params(&job, &params(pairs))
                .expect_err("refused")
                .to_string()
        };
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
}
