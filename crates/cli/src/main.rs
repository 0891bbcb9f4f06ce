//! The `airlock` binary: argument parsing and wiring only. Each capability's logic lives in
//! its own crate.
#![forbid(unsafe_code)]

mod accounts;
#[cfg(feature = "aws")]
mod agent;
mod args;
mod check;
#[cfg(feature = "lane")]
mod deploy;
mod exit;
#[cfg(feature = "lane")]
mod lane;
mod logging;
#[cfg(feature = "lane")]
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
        #[cfg(feature = "lane")]
        Command::Deploy(args) => deploy::run(args),
        #[cfg(not(feature = "lane"))]
        Command::Deploy(_) => not_built("deploy", "lane").into(),
        #[cfg(feature = "lane")]
        Command::Run(args) => run::run(args),
        #[cfg(not(feature = "lane"))]
        Command::Run(_) => not_built("run", "lane").into(),
        #[cfg(feature = "lane")]
        Command::Lane(args) => lane::run(args),
        #[cfg(not(feature = "lane"))]
        Command::Lane(_) => not_built("lane", "lane").into(),
        #[cfg(feature = "aws")]
        Command::Agent(args) => agent::run(args),
        #[cfg(not(feature = "aws"))]
        Command::Agent(_) => not_built("agent", "aws").into(),
        Command::Accounts(args) => match args.command {
            AccountsCommand::Lint(args) => accounts::lint(args, cli.color).into(),
            #[cfg(feature = "aws")]
            AccountsCommand::Alias(AliasCommand::Set(args)) => accounts::alias_set(args),
            #[cfg(feature = "aws")]
            AccountsCommand::Alias(AliasCommand::Check(args)) => accounts::alias_check(args),
            #[cfg(not(feature = "aws"))]
            AccountsCommand::Alias(_) => not_built("accounts alias", "aws").into(),
        },
        #[cfg(feature = "aws")]
        Command::Whoami(args) => accounts::whoami(args, cli.color),
        #[cfg(not(feature = "aws"))]
        Command::Whoami(_) => not_built("whoami", "aws").into(),
        #[cfg(feature = "aws")]
        Command::Guard(args) => accounts::guard(args),
        #[cfg(not(feature = "aws"))]
        Command::Guard(_) => not_built("guard", "aws").into(),
    }
}

/// A build without the `aws` feature is the scanner alone (with `lane`, also the local lane).
/// Its missing commands still parse, so that a user who runs one learns why it is not there
/// instead of reading "unrecognized subcommand"; `--help` does not list them.
#[cfg(not(feature = "aws"))]
fn not_built(command: &str, feature: &str) -> Exit {
    tracing::error!(
        "`airlock {command}` is not in this build of airlock: it was built without the \
         `{feature}` feature; the full airlock (default features) has it"
    );
    Exit::NotBuilt
}
