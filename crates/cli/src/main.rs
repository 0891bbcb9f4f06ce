//! The `airlock` binary: argument parsing and wiring only. Each capability's logic lives in
//! its own crate.
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
mod agent;
mod args;
mod check;
mod deploy;
mod exit;
mod logging;
mod run;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(
        cli.log_format,
        cli.verbosity(),
        cli.color,
        matches!(cli.command, Command::Agent(_)),
    ) {
        eprintln!("airlock: {e}");
        return Exit::Usage.into();
    }
    run(cli)
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "airlock", &mut std::io::stdout());
            Exit::Ok.into()
        }
        Command::Check(args) => check::run(args, cli.color).into(),
        // The deployment's and the job's own exit codes pass through, so they are not `Exit`s.
        Command::Deploy(args) => deploy::run(args),
        Command::Run(args) => run::run(args),
        #[cfg(feature = "aws")]
        Command::Agent(args) => agent::run(args),
        #[cfg(not(feature = "aws"))]
        Command::Agent(_) => without_aws("agent").into(),
        Command::Accounts(_) => not_yet("accounts", 8).into(),
        Command::Whoami(_) => not_yet("whoami", 8).into(),
        Command::Guard(_) => not_yet("guard", 8).into(),
    }
}

/// A build without the `aws` feature is the scanner alone.
#[cfg(not(feature = "aws"))]
fn without_aws(command: &str) -> Exit {
    tracing::error!(
        "`airlock {command}` needs the AWS SDK; this airlock was built without the `aws` feature"
    );
    Exit::Usage
}

/// Commands whose capability has not landed yet say so plainly and exit with the usage code,
/// rather than pretending to work.
fn not_yet(command: &str, issue: u32) -> Exit {
    tracing::error!("`airlock {command}` is not yet implemented (tracked in issue #{issue})");
    Exit::Usage
}
