//! `exo`: align language models with EXO and the DPO family.
//!
//! Every failure ends in one line on stderr, `exo: error: …` with its causes, and a non-zero exit.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("exo: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
