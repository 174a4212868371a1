//! `exo objectives`: what each objective computes, and its defaults.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `exo objectives`.
#[derive(Debug, Args)]
pub struct ObjectivesArgs {
    /// Print one JSON object per objective instead of a table.
    #[arg(long)]
    pub json: bool,
}

struct Row {
    name: &'static str,
    input: &'static str,
    loss: &'static str,
    defaults: &'static str,
}

const ROWS: [Row; 4] = [
    Row {
        name: "exo",
        input: "K >= 2 completions with rewards",
        loss: "KL(softmax(beta_pi f) || softmax(r / beta_r))  (reverse KL, mode-seeking)",
        defaults: "beta_pi = 0.1, beta_r = 0.1",
    },
    Row {
        name: "exo-pair",
        input: "pairs (chosen, rejected)",
        loss: "KL((s(z), s(-z)) || (1 - eps, eps)),  z = beta_pi (f_w - f_l)",
        defaults: "beta_pi = 0.1, eps = 1e-3 (official code: log-labels (0, -10))",
    },
    Row {
        name: "dpo",
        input: "pairs (chosen, rejected)",
        loss: "-(1 - eps) log s(z) - eps log s(-z),  z = beta (f_w - f_l)",
        defaults: "beta = 0.1, label smoothing eps = 0",
    },
    Row {
        name: "dpo-rw",
        input: "K >= 2 completions with rewards",
        loss: "-sum softmax(r / beta_r) log softmax(beta_pi f)  (forward KL, mean-seeking)",
        defaults: "beta_pi = 0.1, beta_r = 0.1",
    },
];

/// Prints the table (or JSON lines).
pub fn run(args: &ObjectivesArgs) -> anyhow::Result<ExitCode> {
    for row in &ROWS {
        if args.json {
            println!(
                "{{\"name\":\"{}\",\"input\":\"{}\",\"loss\":\"{}\",\"defaults\":\"{}\"}}",
                row.name, row.input, row.loss, row.defaults
            );
        } else {
            println!(
                "{:<9} {}\n          input:    {}\n          defaults: {}\n",
                row.name, row.loss, row.input, row.defaults
            );
        }
    }
    println!(
        "f = log pi_theta(y|x) - log pi_ref(y|x), summed over completion tokens; s = sigmoid."
    );
    Ok(ExitCode::SUCCESS)
}
