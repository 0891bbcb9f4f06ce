//! The `airlock` binary as a user meets it: help, version, completions, logging, exit codes.

use std::process::{Command, Output};

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env_remove("AIRLOCK_LOG")
        .env_remove("AIRLOCK_LOG_FORMAT")
        .output()
        .expect("run airlock")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_lists_every_command() {
    let out = airlock(&["--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for command in [
        "check",
        "deploy",
        "run",
        "agent",
        "accounts",
        "whoami",
        "guard",
        "completions",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "`{command}` missing from --help:\n{help}"
        );
    }
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn version_names_the_package_version() {
    let out = airlock(&["--version"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("airlock {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    // The long form also says whether this build carries the AWS SDK.
    let features = if cfg!(feature = "aws") {
        "features: aws"
    } else {
        "features: scanner only (built without the AWS SDK)"
    };
    assert_eq!(lines.next(), Some(features));
}

#[test]
fn check_help_documents_formats_and_threshold() {
    let out = airlock(&["check", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for needle in [
        "--format",
        "sarif",
        "--severity",
        "--baseline",
        "--no-inline-suppressions",
    ] {
        assert!(help.contains(needle), "`{needle}` missing:\n{help}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef airlock"),
        ("fish", "complete -c airlock"),
    ] {
        let out = airlock(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        assert!(
            script.contains("deploy"),
            "{shell} script lacks subcommands"
        );
    }
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let out = airlock(&["check", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'xml'"),
        "{}",
        stderr(&out)
    );

    let out = airlock(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_configuration_error_names_the_file_on_stderr_and_exits_2() {
    let out = airlock(&["whoami", "--config", "/nonexistent/airlock.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/airlock.toml"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "diagnostics belong on stderr");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let out = airlock(&[
        "--log-format",
        "json",
        "whoami",
        "--config",
        "/nonexistent/airlock.toml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = err.lines().next().expect("a log line");
    let event: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(event["level"], "ERROR");
    assert!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent/airlock.toml")),
        "{event}"
    );
}

#[test]
fn an_invalid_log_filter_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["whoami"])
        .env("AIRLOCK_LOG", "airlock=[")
        .output()
        .expect("run airlock");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("AIRLOCK_LOG"), "{}", stderr(&out));
}
