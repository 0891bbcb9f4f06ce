//! `airlock agent exec -- CMD`: the agent for one command, on laptops and in CI.
//!
//! The command's environment points its SDK at the agent and loses every setting an SDK would
//! otherwise prefer to the container provider: the SDKs' default chains try environment
//! keys, profiles, web identity and the shared credentials file before container credentials,
//! so any of them left in place would silently win.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitStatus;

use tokio::process::Command;

use crate::Agent;

/// Removed from the command's environment: every variable an SDK's default chain reads for
/// credentials before it reaches the container provider.
pub use airlock_aws::CREDENTIAL_VARIABLES as REMOVED_VARIABLES;

/// The command's environment: the parent's, minus [`REMOVED_VARIABLES`], with the two
/// container-credentials variables set, and the shared credentials file pointed at an empty
/// one (a `[default]` profile there would also come first). Endpoint and region settings, and
/// the config file, pass through unchanged.
pub fn child_environment(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    credentials_url: &str,
    token_file: &Path,
    empty_credentials_file: &Path,
) -> Vec<(OsString, OsString)> {
    let replaced = [
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ];
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(name, _)| {
            !REMOVED_VARIABLES.iter().any(|r| OsStr::new(r) == name)
                && !replaced.iter().any(|r| OsStr::new(r) == name)
        })
        .collect();
    env.push((replaced[0].into(), credentials_url.into()));
    env.push((replaced[1].into(), token_file.as_os_str().to_owned()));
    env.push((
        replaced[2].into(),
        empty_credentials_file.as_os_str().to_owned(),
    ));
    env
}

/// How [`run`] ended.
#[derive(Debug)]
pub enum ExecOutcome {
    /// The command ran and exited: its exit code (128 + N for signal N).
    Exited(u8),
    /// The command was not started because the agent had no credentials for it (or could
    /// not prepare its environment); the reason is STS's or the file system's.
    AgentFailed(String),
    /// The command could not be started: not found (127) or not executable (126).
    NotStarted { code: u8, error: std::io::Error },
}

/// Runs `command` with `agent` and stops the agent afterwards: waits up to `ready_timeout`
/// for the first credentials, writes the empty shared-credentials file beside the token,
/// runs the command with [`child_environment`] of this process's environment, and removes
/// what it wrote.
pub async fn run(
    agent: Agent,
    command: &[OsString],
    ready_timeout: std::time::Duration,
) -> ExecOutcome {
    if let Err(reason) = agent.wait_ready(ready_timeout).await {
        agent.shutdown().await;
        return ExecOutcome::AgentFailed(reason);
    }
    let empty = agent.token_path().with_file_name("empty-credentials");
    if let Err(e) = std::fs::write(&empty, "") {
        agent.shutdown().await;
        return ExecOutcome::AgentFailed(format!("cannot write {}: {e}", empty.display()));
    }
    let env = child_environment(
        std::env::vars_os(),
        &agent.credentials_url(),
        agent.token_path(),
        &empty,
    );
    tracing::debug!(url = %agent.credentials_url(), "running the command with the agent");
    let outcome = run_child(command, env).await;
    let _ = std::fs::remove_file(&empty);
    agent.shutdown().await;
    match outcome {
        ChildOutcome::Exited(status) => ExecOutcome::Exited(exit_code(status)),
        ChildOutcome::NotStarted { code, error } => ExecOutcome::NotStarted { code, error },
    }
}

/// How the command ended, for the exit code.
#[derive(Debug)]
pub enum ChildOutcome {
    Exited(ExitStatus),
    /// The command could not be started: not found (127) or not executable (126).
    NotStarted {
        code: u8,
        error: std::io::Error,
    },
}

/// Runs the command with `env` and waits for it. SIGINT and SIGTERM sent to the agent are
/// passed on to the command, which decides when to stop; the agent keeps serving it
/// credentials until it has. The exception is SIGINT while in the foreground of a terminal:
/// the terminal has sent it to the command too.
pub async fn run_child(command: &[OsString], env: Vec<(OsString, OsString)>) -> ChildOutcome {
    let Some((program, args)) = command.split_first() else {
        return ChildOutcome::NotStarted {
            code: 127,
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"),
        };
    };
    let spawned = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return ChildOutcome::NotStarted { code, error };
        }
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let forward = async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending::<()>().await;
        };
        // A Ctrl-C on the terminal goes to its whole foreground process group, the command
        // included. Passing it on as well would deliver it twice, and a second interrupt
        // means "stop now" to terraform and many others.
        let terminal_interrupts_child = terminal_delivers_interrupts();
        loop {
            let sig = tokio::select! {
                _ = int.recv() => nix::sys::signal::Signal::SIGINT,
                _ = term.recv() => nix::sys::signal::Signal::SIGTERM,
            };
            if sig == nix::sys::signal::Signal::SIGINT && terminal_interrupts_child {
                continue;
            }
            if let Some(pid) = pid {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
        }
    };
    tokio::select! {
        status = child.wait() => match status {
            Ok(status) => ChildOutcome::Exited(status),
            Err(error) => ChildOutcome::NotStarted { code: 126, error },
        },
        () = forward => unreachable_forward(),
    }
}

/// Whether this process (and so the command it started, which inherits its process group)
/// is in the foreground process group of a controlling terminal.
fn terminal_delivers_interrupts() -> bool {
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return false;
    };
    nix::unistd::tcgetpgrp(&tty).is_ok_and(|foreground| foreground == nix::unistd::getpgrp())
}

fn unreachable_forward() -> ChildOutcome {
    // `forward` loops forever; this arm exists only to satisfy the type of `select!`.
    ChildOutcome::NotStarted {
        code: 126,
        error: std::io::Error::other("signal forwarding ended"),
    }
}

/// The exit code that passes the command's on: its own, or 128 + N when signal N killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from((128 + signal) & 0xff).unwrap_or(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[test]
    fn the_child_loses_what_would_beat_the_container_provider_and_keeps_endpoints() {
        let parent: Vec<(OsString, OsString)> = [
            ("AWS_ACCESS_KEY_ID", "AKIDFAKE"),
            ("AWS_SECRET_ACCESS_KEY", "fake"),
            ("AWS_SESSION_TOKEN", "fake"),
            ("AWS_PROFILE", "prod-admin"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/node"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            ("AWS_SHARED_CREDENTIALS_FILE", "/home/me/.aws/credentials"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CONFIG_FILE", "/home/me/.aws/config"),
            ("PATH", "/usr/bin"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let env = child_environment(
            parent,
            "http://127.0.0.1:41234/v1/credentials",
            Path::new("/tmp/a/token"),
            Path::new("/tmp/a/empty"),
        );
        let get = |name: &str| {
            let matches: Vec<_> = env.iter().filter(|(k, _)| k == name).collect();
            assert!(matches.len() <= 1, "{name} set twice");
            matches
                .first()
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        for removed in REMOVED_VARIABLES {
            assert_eq!(get(removed), None, "{removed}");
        }
        assert_eq!(
            get("AWS_CONTAINER_CREDENTIALS_FULL_URI").as_deref(),
            Some("http://127.0.0.1:41234/v1/credentials")
        );
        assert_eq!(
            get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").as_deref(),
            Some("/tmp/a/token")
        );
        assert_eq!(
            get("AWS_SHARED_CREDENTIALS_FILE").as_deref(),
            Some("/tmp/a/empty")
        );
        assert_eq!(
            get("AWS_ENDPOINT_URL").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(get("AWS_REGION").as_deref(), Some("eu-west-1"));
        assert_eq!(
            get("AWS_CONFIG_FILE").as_deref(),
            Some("/home/me/.aws/config")
        );
        assert_eq!(get("PATH").as_deref(), Some("/usr/bin"));
    }

    #[tokio::test]
    async fn the_commands_exit_code_and_signals_pass_through() {
        let run = |script: &str| {
            let command: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into()];
            let env = vec![("PATH".into(), std::env::var_os("PATH").unwrap_or_default())];
            async move { run_child(&command, env).await }
        };
        let ChildOutcome::Exited(status) = run("exit 7").await else {
            panic!("sh did not run");
        };
        assert_eq!(exit_code(status), 7);
        let ChildOutcome::Exited(status) = run("kill -TERM $$").await else {
            panic!("sh did not run");
        };
        assert_eq!(exit_code(status), 128 + 15);
        let missing = run_child(&["/nonexistent/airlock-test-cmd".into()], vec![]).await;
        assert!(
            matches!(missing, ChildOutcome::NotStarted { code: 127, .. }),
            "{missing:?}"
        );
    }
}
