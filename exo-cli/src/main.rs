//! `exo`: align language models with EXO and the DPO family.
//!
//! Every failure ends in one line on stderr, `exo: error: …` with its causes, and a non-zero exit.

mod cli;
mod commands;
mod plot;
mod toy;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            // One clear line for bad arguments (clap's own rendering adds usage and hints).
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("exo: {first} (see exo --help)");
            return ExitCode::from(2);
        }
        Err(err) => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("exo: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
