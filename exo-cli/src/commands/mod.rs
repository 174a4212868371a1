//! One module per subcommand; [`run`] dispatches.

pub mod data;
pub mod demo;
pub mod eval;
pub mod merge;
pub mod objectives;
pub mod rm;
pub mod sample;
pub mod score;
pub mod sft;
pub mod toy;
pub mod train;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Objectives(args) => objectives::run(&args),
        Command::Data(args) => data::run(&args),
        Command::Toy(args) => toy::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Sft(args) => sft::run(&args),
        Command::Rm(args) => rm::run(&args),
        Command::Sample(args) => sample::run(&args),
        Command::Score(args) => score::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Merge(args) => merge::run(&args),
    }
}
