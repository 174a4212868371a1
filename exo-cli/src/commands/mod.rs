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
        Command::Objectives(args) => single("objectives", || objectives::run(&args)),
        Command::Data(args) => single("data", || data::run(&args)),
        Command::Toy(args) => single("toy", || toy::run(&args)),
        Command::Demo(args) => single("demo", || demo::run(&args)),
        Command::Sft(args) => sft::run(&args),
        Command::Rm(args) => rm::run(&args),
        Command::Sample(args) => sample::run(&args),
        Command::Score(args) => single("score", || score::run(&args)),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Merge(args) => single("merge", || merge::run(&args)),
    }
}

/// Runs `f` if this process is alone (see [`crate::run::dist::require_single`]).
fn single(name: &str, f: impl FnOnce() -> anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    crate::run::dist::require_single(name)?;
    f()
}
