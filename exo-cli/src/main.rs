//! `exo`: align language models with EXO and the DPO family.
//!
//! Every failure ends in one line on stderr, `exo: error: …` with its causes, and a non-zero exit;
//! a training run stopped by SIGTERM or SIGINT says so in one line, `exo: stopped by …`, and exits
//! with the status a shell reports for the signal (143 or 130).

// No `unsafe` here, ever: device memory is the backends' and the transports' business.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod config_file;
mod demo;
mod eval;
mod generate;
mod plot;
mod process_env;
mod prompts;
mod reward;
mod run;
mod samples;
mod toy;

use std::process::ExitCode;

fn main() -> ExitCode {
    let original: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match config_file::parse(original.clone()) {
        Ok(cli) => cli,
        Err(config_file::ParseError::Other(err)) => {
            eprintln!("exo: error: {}", one_line(&format!("{err:#}")));
            return ExitCode::FAILURE;
        }
        Err(config_file::ParseError::Clap(err)) if err.use_stderr() => {
            // One clear line for bad arguments (clap's own rendering adds usage and hints).
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("exo: {first} (see exo --help)");
            return ExitCode::from(2);
        }
        Err(config_file::ParseError::Clap(err)) => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
    };
    if let Some(env) = cli.command.process_env() {
        env.apply(&original);
    }
    // After the re-execution above: MPI starts in the process that does the work.
    let runtime = match run::dist::init() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("exo: error: {}", one_line(&render(&err)));
            return ExitCode::FAILURE;
        }
    };
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<run::stop::Stopped>().is_some() => {
            // Every rank stopped after the same step, with a checkpoint: rank 0 says so.
            let status = err
                .downcast_ref::<run::stop::Stopped>()
                .map_or(1, |stopped| {
                    if run::dist::world().is_root() {
                        eprintln!("exo: {stopped}");
                    }
                    stopped.signal.status()
                });
            ExitCode::from(status)
        }
        Err(err) => {
            eprintln!(
                "exo: error: {}{}",
                run::dist::who(),
                one_line(&render(&err))
            );
            // The other ranks may wait in a collective call for this one: stop them all.
            run::dist::fail();
            ExitCode::FAILURE
        }
    };
    drop(runtime);
    code
}

/// The error and its causes, `outer: cause: …`, each cause once: a cause whose text the message
/// already holds (an I/O error that its wrapper prints, and that is also its `source`) is not
/// repeated.
fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Folds a message that spans lines (a library's multi-line error) into one line.
fn one_line(message: &str) -> String {
    message
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_os_error_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let lm = exo_lm::LmError::Io {
            path: "x/.tmp/model.safetensors".into(),
            source: io,
        };
        let err = anyhow::Error::new(lm).context("writing the checkpoint x/checkpoint-2");
        assert_eq!(
            super::render(&err),
            "writing the checkpoint x/checkpoint-2: x/.tmp/model.safetensors: No space left on device"
        );
    }
}
