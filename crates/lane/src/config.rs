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
//! env = { TF_IN_AUTOMATION = "1" }        # set for the job, as a task definition would
//! pass_env = ["KUBECONFIG"]                # taken from the caller's environment, if set
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

use airlock_admission::params::{Fields, valid_job_name, valid_param_name};

pub use airlock_admission::params::{ConfigError, DEFAULT_PARAM_MAX_LEN, ParamError, ParamSchema};

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
    /// `env`: variables set for the job, as a task definition's environment is.
    pub env: BTreeMap<String, String>,
    /// `pass_env`: the names of the caller's variables the job gets (those that are set).
    /// Nothing else of the caller's environment reaches a local job.
    pub pass_env: Vec<String>,
}

impl JobConfig {
    /// Checks a request's parameters against this job's schemas.
    pub fn validate_params(&self, params: &BTreeMap<String, String>) -> Result<(), ParamError> {
        airlock_admission::params::validate_params(&self.name, &self.params, params)
    }
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
        let ctx = Fields { file };
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
                    parse_job(&ctx, name, ctx.table(job, &field)?, &field)?,
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

fn parse_job(
    ctx: &Fields,
    name: &str,
    table: &toml::Table,
    field: &str,
) -> Result<JobConfig, ConfigError> {
    ctx.known_keys(
        table,
        field,
        &["command", "timeout_secs", "params", "env", "pass_env"],
    )?;
    let command_field = format!("{field}.command");
    let command = match table.get("command") {
        None => {
            return Err(ctx.err(
                &command_field,
                "is required (the program and its arguments)",
            ));
        }
        Some(value) => ctx.string_list(value, &command_field)?,
    };
    match command.first() {
        None => return Err(ctx.err(&command_field, "must name a program")),
        Some(program) if program.is_empty() => {
            return Err(ctx.err(
                &format!("{command_field}[0]"),
                "the program must not be empty",
            ));
        }
        Some(_) => {}
    }
    if let Some(i) = command.iter().position(|arg| arg.contains('\0')) {
        return Err(ctx.err(&format!("{command_field}[{i}]"), "contains a NUL byte"));
    }
    let timeout_secs = ctx
        .opt_positive(table, "timeout_secs", &format!("{field}.timeout_secs"))?
        .unwrap_or(DEFAULT_JOB_TIMEOUT_SECS);
    let params = match table.get("params") {
        Some(value) => ctx.params(value, &format!("{field}.params"))?,
        None => BTreeMap::new(),
    };
    let mut env = BTreeMap::new();
    if let Some(value) = table.get("env") {
        let env_field = format!("{field}.env");
        for (key, value) in ctx.table(value, &env_field)? {
            let key_field = format!("{env_field}.{key}");
            check_job_variable(ctx, key, &key_field, &params)?;
            match value {
                toml::Value::String(text) if !text.contains('\0') => {
                    env.insert(key.clone(), text.clone());
                }
                toml::Value::String(_) => return Err(ctx.err(&key_field, "contains a NUL byte")),
                other => {
                    return Err(ctx.err(
                        &key_field,
                        format!("must be a string, not {}", other.type_str()),
                    ));
                }
            }
        }
    }
    let pass_env = match table.get("pass_env") {
        None => Vec::new(),
        Some(value) => {
            let pass_field = format!("{field}.pass_env");
            let names = ctx.string_list(value, &pass_field)?;
            for (i, name) in names.iter().enumerate() {
                let name_field = format!("{pass_field}[{i}]");
                check_job_variable(ctx, name, &name_field, &params)?;
                if env.contains_key(name) {
                    return Err(ctx.err(
                        &name_field,
                        format!("{name} is also set in {field}.env; keep one"),
                    ));
                }
            }
            names
        }
    };
    Ok(JobConfig {
        name: name.to_string(),
        command,
        timeout_secs,
        params,
        env,
        pass_env,
    })
}

/// A variable a job's configuration names (`env`, `pass_env`): an environment variable name,
/// not the lane's own (`AIRLOCK_`), and not a parameter (whose value the request decides).
fn check_job_variable(
    ctx: &Fields,
    name: &str,
    field: &str,
    params: &BTreeMap<String, ParamSchema>,
) -> Result<(), ConfigError> {
    if !valid_param_name(name) {
        return Err(ctx.err(
            field,
            format!("{name:?} is not an environment variable name: [A-Z_][A-Z0-9_]*"),
        ));
    }
    if name.starts_with("AIRLOCK_") {
        return Err(ctx.err(
            field,
            format!("{name}: names starting with AIRLOCK_ are the lane's own"),
        ));
    }
    if params.contains_key(name) {
        return Err(ctx.err(
            field,
            format!("{name} is a parameter of the job; a request sets it"),
        ));
    }
    Ok(())
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

    #[test]
    fn a_job_names_the_variables_it_gets() {
        let config = parse(
            "[lane.jobs.tf]\ncommand = [\"terraform\"]\nenv = { TF_IN_AUTOMATION = \"1\" }\npass_env = [\"KUBECONFIG\"]\n",
        )
        .expect("valid");
        let job = config.job("tf").expect("job");
        assert_eq!(job.env["TF_IN_AUTOMATION"], "1");
        assert_eq!(job.pass_env, ["KUBECONFIG"]);
        let cases: &[(&str, &str)] = &[
            (
                "pass_env = [\"aws_key\"]",
                "airlock.toml: lane.jobs.tf.pass_env[0]: \"aws_key\" is not an environment variable name",
            ),
            (
                "pass_env = [\"AIRLOCK_JOB\"]",
                "airlock.toml: lane.jobs.tf.pass_env[0]: AIRLOCK_JOB: names starting with AIRLOCK_",
            ),
            (
                "env = { MODE = \"x\" }\n[lane.jobs.tf.params.MODE]",
                "airlock.toml: lane.jobs.tf.env.MODE: MODE is a parameter of the job",
            ),
            (
                "env = { HOME = 3 }",
                "airlock.toml: lane.jobs.tf.env.HOME: must be a string, not integer",
            ),
            (
                "env = { A = \"1\" }\npass_env = [\"A\"]",
                "airlock.toml: lane.jobs.tf.pass_env[0]: A is also set in lane.jobs.tf.env",
            ),
        ];
        for (extra, expected) in cases {
            let text = format!("[lane.jobs.tf]\ncommand = [\"terraform\"]\n{extra}\n");
            let error = parse(&text).expect_err(&text).to_string();
            assert!(error.starts_with(expected), "{text:?}\n  gave {error}");
        }
    }
}
