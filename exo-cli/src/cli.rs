//! Command-line arguments (clap derive). Each subcommand's arguments live with its command.

use clap::{Parser, Subcommand};

use crate::commands;

/// exo: align language models with human preferences by EXO (efficient exact optimization,
/// Ji et al., ICML 2024) and the DPO family.
#[derive(Debug, Parser)]
#[command(name = "exo", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the alignment objectives with their formulas and default hyper-parameters.
    Objectives(commands::objectives::ObjectivesArgs),
    /// Work with preference data files (inspect: format, counts, token lengths, errors).
    Data(commands::data::DataArgs),
    /// Reproduce the EXO paper's figure exactly: EXO is mode-seeking, DPO mean-seeking.
    Toy(commands::toy::ToyArgs),
}
