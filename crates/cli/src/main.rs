//! The `airlock` binary: argument parsing and wiring only. Each capability's logic lives in
//! its own crate.
#![forbid(unsafe_code)]

mod args;
mod check;
mod exit;
mod logging;
mod run;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format, cli.verbosity(), cli.color) {
        eprintln!("airlock: {e}");
        return Exit::Usage.into();
    }
    // `run` exits with the job's own code, which `Exit` does not carry.
    if let Command::Run(args) = cli.command {
        return run::run(args);
    }
    run(cli).into()
}

fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "airlock", &mut std::io::stdout());
            Exit::Ok
        }
        Command::Check(args) => check::run(args, cli.color),
        Command::Deploy(_) => not_yet("deploy", 5),
        Command::Run(_) => Exit::Usage, // handled in `main`
        Command::Agent(_) => not_yet("agent", 7),
        Command::Accounts(_) => not_yet("accounts", 8),
        Command::Whoami(_) => not_yet("whoami", 8),
        Command::Guard(_) => not_yet("guard", 8),
    }
}

/// Commands whose capability has not landed yet say so plainly and exit with the usage code,
/// rather than pretending to work.
fn not_yet(command: &str, issue: u32) -> Exit {
    tracing::error!("`airlock {command}` is not yet implemented (tracked in issue #{issue})");
    Exit::Usage
}
