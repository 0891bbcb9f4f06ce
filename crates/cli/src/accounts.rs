//! `airlock accounts`, `whoami` and `guard`: wiring between the arguments, the convention
//! in airlock.toml, the scanner's ACC rules and reporters, and `airlock-accounts`.

use std::path::PathBuf;

use airlock_check::formats::awsconfig::AwsFileKind;
use airlock_check::report::{self, ReportOptions};
use airlock_check::{Config, ScanError, ScanOptions, ScanResult, SourceFile};

use crate::args::{AccountsLintArgs, ColorChoice, ConfigArg};
use crate::exit::Exit;

/// The configuration file: `--config`, `AIRLOCK_CONFIG` (both must exist), `./airlock.toml`,
/// then the user's own `~/.config/airlock/airlock.toml` (so that `whoami` in a shell prompt
/// knows the convention in every directory).
fn config_path(arg: &ConfigArg, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = &arg.config {
        return Some(path.clone());
    }
    if let Some(path) = env("AIRLOCK_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let local = PathBuf::from(crate::check::DEFAULT_CONFIG);
    if local.is_file() {
        return Some(local);
    }
    let user = airlock_accounts::user_base_dir(env, "XDG_CONFIG_HOME", ".config")
        .map(|base| base.join("airlock").join("airlock.toml"));
    user.filter(|p| p.is_file())
}

/// The configuration, and the file it came from (none: the defaults, no convention).
struct Loaded {
    config: Config,
    path: Option<PathBuf>,
}

fn load_config(arg: &ConfigArg) -> Result<Loaded, String> {
    let path = config_path(arg, |k| std::env::var(k).ok());
    let config = match &path {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    Ok(Loaded { config, path })
}

/// Where the CLI and SDKs look for their two files.
fn default_files(env: impl Fn(&str) -> Option<String>) -> Vec<(PathBuf, AwsFileKind)> {
    let home = env("HOME").map(PathBuf::from);
    let pick = |var: &str, name: &str| {
        env(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    [
        (pick("AWS_CONFIG_FILE", "config"), AwsFileKind::Config),
        (
            pick("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            AwsFileKind::Credentials,
        ),
    ]
    .into_iter()
    .filter_map(|(path, kind)| path.map(|p| (p, kind)))
    .collect()
}

pub fn lint(args: AccountsLintArgs, color: ColorChoice) -> Exit {
    let Loaded {
        mut config,
        path: config_file,
    } = match load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(message) => {
            tracing::error!("{message}");
            return Exit::Usage;
        }
    };
    if config.accounts().is_none() {
        tracing::warn!(
            "no [accounts] convention in {}: only the credential-chain rules (ACC006-ACC008) run",
            config_file.as_deref().map_or_else(
                || "any airlock.toml (looked for --config, AIRLOCK_CONFIG, ./airlock.toml, ~/.config/airlock/airlock.toml)".to_string(),
                |p| p.display().to_string()
            )
        );
    }
    let codes: Vec<&str> = airlock_check::rules::all()
        .iter()
        .map(|r| r.meta().code)
        .filter(|c| c.starts_with("ACC"))
        .collect();
    config.only(&codes);

    let explicit = !args.files.is_empty();
    let files: Vec<(PathBuf, AwsFileKind)> = if explicit {
        args.files
            .iter()
            .map(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                (
                    p.clone(),
                    AwsFileKind::of_name(name.as_deref().unwrap_or("")),
                )
            })
            .collect()
    } else {
        default_files(|k| std::env::var(k).ok())
    };
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    for (path, kind) in files {
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((SourceFile::new(shown, text), kind)),
            // The CLI's own files are optional; a file named on the command line is not.
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!("{shown} does not exist; skipped");
            }
            Err(e) => errors.push(ScanError {
                file: shown,
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if sources.is_empty() && errors.is_empty() {
        tracing::error!(
            "no AWS config or credentials file to lint: name one, or set AWS_CONFIG_FILE"
        );
        return Exit::Usage;
    }
    let mut result: ScanResult = airlock_check::scan_aws_files(
        &sources,
        &ScanOptions {
            config,
            inline_suppressions: true,
            ..ScanOptions::default()
        },
    );
    result.files_scanned = sources.len();
    result.errors.extend(errors);

    let format = crate::check::report_format(args.format);
    let options = ReportOptions {
        color: format == report::ReportFormat::Human && crate::check::wants_color(color, None),
        baselined: 0,
        sources: if format == report::ReportFormat::Human {
            report::read_sources(&result)
        } else {
            Default::default()
        },
    };
    let text = report::render(format, &result, &options);
    if let Err(message) = crate::check::emit(&text, None) {
        tracing::error!("{message}");
        return Exit::Usage;
    }
    crate::check::exit_code(&result, crate::check::threshold(args.severity))
}

#[cfg(feature = "aws")]
pub use with_aws::{alias_check, alias_set, guard, whoami};

#[cfg(feature = "aws")]
mod with_aws {
    use std::ffi::OsString;
    use std::io::IsTerminal;
    use std::process::ExitCode;
    use std::time::SystemTime;

    use airlock_accounts::alias;
    use airlock_accounts::aws::{AwsAccounts, AwsError, child_environment};
    use airlock_accounts::cache::{KeyInputs, PROMPT_TTL, PromptCache};
    use airlock_accounts::guard::{
        self, Decision, EXIT_NO_IDENTITY, EXIT_NOT_CONFIRMED, EXIT_WRONG_ENV,
    };
    use airlock_accounts::identity::{self, Style};
    use airlock_accounts::{Convention, Identity, Placement};
    use airlock_aws::aws_credential_types::Credentials;
    use airlock_check::formats::awsconfig::AwsFileKind;

    use super::{Loaded, load_config};
    use crate::args::{
        AliasCheckArgs, AliasSetArgs, AwsArgs, ColorChoice, GuardArgs, WhoamiArgs, WhoamiFormat,
    };
    use crate::exit::Exit;

    fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                tracing::error!("cannot start the async runtime: {e}");
                ExitCode::from(Exit::Usage.code())
            })
    }

    fn code(code: u8) -> ExitCode {
        ExitCode::from(code)
    }

    fn usage(message: impl std::fmt::Display) -> ExitCode {
        tracing::error!("{message}");
        Exit::Usage.into()
    }

    fn no_identity(error: AwsError) -> ExitCode {
        tracing::error!("{error}");
        code(EXIT_NO_IDENTITY)
    }

    fn convention(loaded: &Loaded, command: &str) -> Result<std::sync::Arc<Convention>, ExitCode> {
        loaded.config.accounts().ok_or_else(|| {
            usage(format!(
                "`airlock {command}` needs the [accounts] convention in airlock.toml{}",
                loaded
                    .path
                    .as_ref()
                    .map_or(String::new(), |p| format!(" (read {})", p.display()))
            ))
        })
    }

    /// The convention (required) and a runtime, for the commands that need both.
    fn prepare(
        arg: &crate::args::ConfigArg,
        command: &str,
    ) -> Result<(std::sync::Arc<Convention>, tokio::runtime::Runtime), ExitCode> {
        let config = load_config(arg).map_err(usage)?;
        Ok((convention(&config, command)?, runtime()?))
    }

    async fn client(aws: &AwsArgs) -> AwsAccounts {
        AwsAccounts::new(airlock_aws::load(&aws.options()).await)
    }

    /// The credentials, resolved once, and the identity they have.
    async fn resolve(accounts: &AwsAccounts) -> Result<(Credentials, Identity), AwsError> {
        let credentials = accounts.credentials().await?;
        let identity = accounts.identity(&credentials).await?;
        Ok((credentials, identity))
    }

    pub fn whoami(args: WhoamiArgs, color: ColorChoice) -> ExitCode {
        let config = match load_config(&args.config) {
            Ok(c) => c,
            Err(message) => return usage(message),
        };
        let convention = config.config.accounts();
        let runtime = match runtime() {
            Ok(r) => r,
            Err(code) => return code,
        };
        let identity = runtime.block_on(async {
            if args.format != WhoamiFormat::Prompt {
                let accounts = client(&args.aws).await;
                let credentials = accounts.credentials().await?;
                return accounts.identity(&credentials).await;
            }
            let cache = PromptCache::default_dir(|k| std::env::var(k).ok())
                .map(|dir| PromptCache::new(dir, PROMPT_TTL));
            let inputs = key_inputs(&args.aws);
            let now = SystemTime::now();
            // Decided by the environment and the files: look up before even loading the SDK's
            // configuration, let alone calling AWS.
            let early_key = inputs.decide_identity().then(|| inputs.key(None));
            if let (Some(cache), Some(key)) = (&cache, &early_key)
                && let Some(hit) = cache.get(key, now)
            {
                return Ok(hit);
            }
            let accounts = client(&args.aws).await;
            let credentials = accounts.credentials().await?;
            let key = match early_key {
                Some(key) => key,
                None => inputs.key(Some(credentials.access_key_id())),
            };
            if let Some(hit) = cache.as_ref().and_then(|c| c.get(&key, now)) {
                return Ok(hit);
            }
            let identity = accounts.identity(&credentials).await?;
            if let Some(cache) = &cache
                && let Err(e) = cache.put(&key, &identity, now, credentials.expiry())
            {
                tracing::debug!("cannot write the prompt cache: {e}");
            }
            Ok(identity)
        });
        let identity = match identity {
            Ok(identity) => identity,
            Err(error) => return no_identity(error),
        };
        let placement = Placement::new(identity, convention.as_deref());
        let text = match args.format {
            WhoamiFormat::Text => {
                for problem in placement.problems() {
                    tracing::warn!("{problem}");
                }
                let style = if crate::check::wants_color(color, None) {
                    Style::Color
                } else {
                    Style::Plain
                };
                identity::render_text(&placement, convention.as_deref(), style)
            }
            WhoamiFormat::Json => identity::render_json(&placement, convention.as_deref()),
            WhoamiFormat::Prompt => identity::render_prompt(&placement, convention.as_deref()),
        };
        println!("{text}");
        Exit::Ok.into()
    }

    pub fn guard(args: GuardArgs) -> ExitCode {
        let (convention, runtime) = match prepare(&args.config, "guard") {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
        if let Err(message) = guard::expected_env(&convention, &args.env) {
            return usage(message);
        }
        runtime.block_on(async {
            let accounts = client(&args.aws).await;
            let (credentials, identity) = match resolve(&accounts).await {
                Ok(resolved) => resolved,
                Err(error) => return no_identity(error),
            };
            let placement = Placement::new(identity, Some(&convention));
            let account = placement.identity.account.clone();
            let command_line = shell_words(&args.command);
            match guard::decide(&placement, &convention, &args.env) {
                Decision::Refuse(reason) => {
                    tracing::error!("{reason}");
                    return code(EXIT_WRONG_ENV);
                }
                Decision::Run => {}
                Decision::Confirm { alias } => {
                    let confirmed = match &args.confirm {
                        Some(given) => guard::confirmed_by_flag(&alias, given),
                        None if std::io::stdin().is_terminal() => {
                            let mut input = std::io::stdin().lock();
                            let mut output = std::io::stderr();
                            guard::confirm_interactively(
                                &mut input,
                                &mut output,
                                &alias,
                                &account,
                                &args.env,
                                &command_line,
                            )
                            .unwrap_or(false)
                        }
                        None => {
                            tracing::error!(
                                "refusing to run: {alias} ({account}) is a protected {} account and there is no terminal to confirm on; pass --confirm {alias}",
                                args.env
                            );
                            return code(EXIT_NOT_CONFIRMED);
                        }
                    };
                    if !confirmed {
                        tracing::error!(
                            "refusing to run: the alias typed was not {alias}, so {command_line} does not run"
                        );
                        return code(EXIT_NOT_CONFIRMED);
                    }
                }
            }
            tracing::info!(
                "running in {} ({account}), env {}: {command_line}",
                placement.identity.alias.as_deref().unwrap_or("?"),
                args.env
            );
            let env = child_environment(std::env::vars_os(), &credentials, accounts.region().as_deref());
            let command: Vec<OsString> = args.command.iter().map(OsString::from).collect();
            match airlock_agent::exec::run_child(&command, env).await {
                airlock_agent::exec::ChildOutcome::Exited(status) => {
                    code(airlock_agent::exec::exit_code(status))
                }
                airlock_agent::exec::ChildOutcome::NotStarted { code: c, error } => {
                    tracing::error!("cannot run {command_line}: {error}");
                    code(c)
                }
            }
        })
    }

    pub fn alias_set(args: AliasSetArgs) -> ExitCode {
        let (convention, runtime) = match prepare(&args.config, "accounts alias set") {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
        let name = &args.name;
        if let Err(violation) = convention.check_alias(name) {
            return usage(format!("{name:?} cannot be the alias: {violation}"));
        }
        runtime.block_on(async {
            let accounts = client(&args.aws).await;
            let (credentials, identity) = match resolve(&accounts).await {
                Ok(resolved) => resolved,
                Err(error) => return no_identity(error),
            };
            let account = &identity.account;
            if let Some(reason) = alias::refusal(&convention, account, name) {
                tracing::error!("{reason}");
                return code(EXIT_WRONG_ENV);
            }
            if identity.alias.as_deref() == Some(name.as_str()) {
                println!("account {account} already has the alias {name}");
                return Exit::Ok.into();
            }
            if let Err(error) = accounts.create_alias(&credentials, name).await {
                return no_identity(error);
            }
            match &identity.alias {
                Some(old) => println!("account {account}: alias set to {name} (was {old})"),
                None => println!("account {account}: alias set to {name}"),
            }
            Exit::Ok.into()
        })
    }

    pub fn alias_check(args: AliasCheckArgs) -> ExitCode {
        let (convention, runtime) = match prepare(&args.config, "accounts alias check") {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
        runtime.block_on(async {
            let accounts = client(&args.aws).await;
            let identity = match resolve(&accounts).await {
                Ok((_, identity)) => identity,
                Err(error) => return no_identity(error),
            };
            if identity.alias_error.is_some() {
                tracing::error!(
                    "{}",
                    identity
                        .alias_error
                        .as_deref()
                        .unwrap_or("the alias could not be read")
                );
                return code(EXIT_NO_IDENTITY);
            }
            let account = identity.account.clone();
            let placement = Placement::new(identity, Some(&convention));
            let problems = alias::check(&placement);
            if problems.is_empty() {
                println!(
                    "account {account}: alias {} agrees with [accounts.ids] and the convention",
                    placement.identity.alias.as_deref().unwrap_or("")
                );
                Exit::Ok.into()
            } else {
                for problem in problems {
                    tracing::error!("{problem}");
                }
                code(EXIT_WRONG_ENV)
            }
        })
    }

    /// What decides the identity, read without any AWS call.
    fn key_inputs(aws: &AwsArgs) -> KeyInputs {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let file =
            |path: Option<std::path::PathBuf>| path.and_then(|p| std::fs::read_to_string(p).ok());
        let files = super::default_files(env);
        let of_kind = |kind: AwsFileKind| {
            files
                .iter()
                .find(|(_, k)| *k == kind)
                .map(|(p, _)| p.clone())
        };
        KeyInputs {
            env_access_key_id: env("AWS_ACCESS_KEY_ID"),
            profile: aws
                .profile
                .clone()
                .or_else(|| env("AWS_PROFILE"))
                .unwrap_or_else(|| "default".into()),
            config_file: file(of_kind(AwsFileKind::Config)),
            credentials_file: file(of_kind(AwsFileKind::Credentials)),
            // A profile's own endpoint_url is in the config file, which is part of the key.
            endpoint: aws.endpoint_url.clone().or_else(|| env("AWS_ENDPOINT_URL")),
        }
    }

    /// The command as a person would type it, for messages.
    fn shell_words(command: &[String]) -> String {
        command
            .iter()
            .map(|word| {
                if !word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
                {
                    word.clone()
                } else {
                    format!("'{}'", word.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_looked_for_in_order() {
        let none = ConfigArg { config: None };
        let env = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        let given = ConfigArg {
            config: Some("given.toml".into()),
        };
        assert_eq!(
            config_path(&given, env(vec![("AIRLOCK_CONFIG", "env.toml".into())])),
            Some(PathBuf::from("given.toml"))
        );
        assert_eq!(
            config_path(&none, env(vec![("AIRLOCK_CONFIG", "env.toml".into())])),
            Some(PathBuf::from("env.toml"))
        );
        let home = tempfile::tempdir().unwrap();
        let user = home.path().join(".config/airlock/airlock.toml");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(&user, "").unwrap();
        let home_env = env(vec![("HOME", home.path().display().to_string())]);
        // The tests run in the crate's directory, which has no airlock.toml.
        assert_eq!(config_path(&none, home_env), Some(user));
        assert_eq!(config_path(&none, env(vec![])), None);
    }

    #[test]
    fn the_default_files_follow_the_cli() {
        let files = default_files(|k| match k {
            "HOME" => Some("/home/a".into()),
            "AWS_CONFIG_FILE" => Some("/etc/aws/config".into()),
            _ => None,
        });
        assert_eq!(
            files,
            vec![
                (PathBuf::from("/etc/aws/config"), AwsFileKind::Config),
                (
                    PathBuf::from("/home/a/.aws/credentials"),
                    AwsFileKind::Credentials
                ),
            ]
        );
    }
}
