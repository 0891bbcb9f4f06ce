//! The `airlock` binary: argument parsing and wiring only. Each capability's logic lives in
//! its own crate.
#![forbid(unsafe_code)]

mod accounts;
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

#[cfg(feature = "aws")]
use crate::args::AliasCommand;
use crate::args::{AccountsCommand, Cli, Command};
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
        Command::Accounts(args) => match args.command {
            AccountsCommand::Lint(args) => accounts::lint(args, cli.color).into(),
            #[cfg(feature = "aws")]
            AccountsCommand::Alias(AliasCommand::Set(args)) => accounts::alias_set(args),
            #[cfg(feature = "aws")]
            AccountsCommand::Alias(AliasCommand::Check(args)) => accounts::alias_check(args),
            #[cfg(not(feature = "aws"))]
            AccountsCommand::Alias(_) => without_aws("accounts alias").into(),
        },
        #[cfg(feature = "aws")]
        Command::Whoami(args) => accounts::whoami(args, cli.color),
        #[cfg(not(feature = "aws"))]
        Command::Whoami(_) => without_aws("whoami").into(),
        #[cfg(feature = "aws")]
        Command::Guard(args) => accounts::guard(args),
        #[cfg(not(feature = "aws"))]
        Command::Guard(_) => without_aws("guard").into(),
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
