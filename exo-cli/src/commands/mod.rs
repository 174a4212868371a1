//! One module per subcommand; [`run`] dispatches.

pub mod data;
pub mod objectives;
pub mod toy;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Objectives(args) => objectives::run(&args),
        Command::Data(args) => data::run(&args),
        Command::Toy(args) => toy::run(&args),
    }
}
