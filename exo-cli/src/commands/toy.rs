//! `exo toy`: the paper's mode-seeking (EXO) vs mean-seeking (DPO) illustration, exactly.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use plotters::style::RGBColor;
use serde::Serialize;

use crate::plot::{self, Chart, Series};
use crate::run::backend::{BackendJob, BackendKind, Compute, dispatch};
use crate::toy::fit::{AutodiffFit, Direction, Fit, OracleChain, Settings, gradient_descent};
use crate::toy::{MAJOR_MODE, MINOR_MODE, Problem};

/// What computes the fits' gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ToyBackend {
    /// No autodiff: ndarray's forward pass with the closed-form f64 oracle gradients, chained by
    /// hand.
    Ndarray,
    /// candle, with its autodiff through the generic exo-core objectives.
    Candle,
    /// libtorch (tch), with its autodiff through the generic exo-core objectives.
    Tch,
}

impl ToyBackend {
    /// The autodiff backend, or `None` for the hand-chained oracle gradients.
    fn autodiff(self) -> Option<BackendKind> {
        match self {
            Self::Ndarray => None,
            Self::Candle => Some(BackendKind::Candle),
            Self::Tch => Some(BackendKind::Tch),
        }
    }
}

/// Arguments of `exo toy`.
///
/// Fits a Gaussian-shaped policy (μ, σ) over a 21-point support to the bimodal optimal policy
/// 0.7·N(−2, 0.6²) + 0.3·N(2.5, 0.6²), once by EXO (reverse KL) and once by DPO-rw (forward KL),
/// with plain gradient descent. EXO settles on the major mode; DPO-rw spreads over both.
#[derive(Debug, Args)]
pub struct ToyArgs {
    /// Backend that computes the losses and gradients (all three give the same fits to 1e-6).
    #[arg(long, value_enum, default_value_t = ToyBackend::Candle)]
    pub backend: ToyBackend,
    /// Initial policy "MU,SIGMA" (σ > 0). From a start near the minor mode, EXO can settle there
    /// instead: mode-seeking picks a mode, not necessarily the largest.
    #[arg(long, value_name = "MU,SIGMA", default_value = "0,2", value_parser = parse_init)]
    pub init: (f64, f64),
    /// Gradient-descent updates.
    #[arg(long, default_value_t = 4000)]
    pub steps: usize,
    /// Learning rate (finite, > 0).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Print one JSON object with keys `exo` and `dpo_rw` instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Draw the target and both fitted policies to FILE.png or FILE.svg.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

fn parse_init(s: &str) -> Result<(f64, f64), String> {
    let (mu, sigma) = s
        .split_once(',')
        .ok_or_else(|| format!("expected MU,SIGMA, got {s:?}"))?;
    let mu: f64 = mu.trim().parse().map_err(|e| format!("MU {mu:?}: {e}"))?;
    let sigma: f64 = sigma
        .trim()
        .parse()
        .map_err(|e| format!("SIGMA {sigma:?}: {e}"))?;
    if !(mu.is_finite() && sigma.is_finite() && sigma > 0.0) {
        return Err(format!(
            "need a finite MU and a finite SIGMA > 0, got {mu},{sigma}"
        ));
    }
    Ok((mu, sigma))
}

/// One fitted policy, as printed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FitSummary {
    /// Fitted μ.
    pub mu: f64,
    /// Fitted σ.
    pub sigma: f64,
    /// Final loss.
    pub loss: f64,
    /// E_πθ\[r\].
    pub expected_reward: f64,
    /// KL(π_θ ‖ π*).
    pub reverse_kl: f64,
    /// KL(π* ‖ π_θ).
    pub forward_kl: f64,
}

/// Both fits.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ToyOutput {
    /// The EXO fit.
    pub exo: FitSummary,
    /// The DPO-rw fit.
    pub dpo_rw: FitSummary,
}

fn fit_with(args: &ToyArgs, problem: &Problem, direction: Direction) -> anyhow::Result<Fit> {
    let objective = direction.objective()?;
    let settings = Settings {
        mu: args.init.0,
        sigma: args.init.1,
        lr: args.lr,
        steps: args.steps,
    };
    let Some(backend) = args.backend.autodiff() else {
        return gradient_descent(&OracleChain { problem, objective }, settings);
    };
    dispatch(
        &Compute::cpu(backend),
        FitJob {
            problem,
            objective,
            settings,
        },
    )
}

/// One fit by gradient descent with a backend's autodiff.
pub(crate) struct FitJob<'a> {
    pub(crate) problem: &'a Problem,
    pub(crate) objective: exo_core::AnyObjective,
    pub(crate) settings: Settings,
}

impl BackendJob for FitJob<'_> {
    type Output = Fit;
    type Error = anyhow::Error;

    fn run<B: exo_core::ModelOps>(self, device: &B::Device) -> anyhow::Result<Fit> {
        let fit = AutodiffFit::<B> {
            problem: self.problem,
            objective: self.objective,
            device: device.clone(),
        };
        gradient_descent(&fit, self.settings)
    }
}

fn summarise(problem: &Problem, fit: &Fit) -> FitSummary {
    let report = problem.report(fit.mu, fit.sigma);
    FitSummary {
        mu: fit.mu,
        sigma: fit.sigma,
        loss: fit.loss(),
        expected_reward: report.expected_reward,
        reverse_kl: report.reverse_kl,
        forward_kl: report.forward_kl,
    }
}

/// Both fits for `args`: the summaries and the fitted policies.
fn fit_both(args: &ToyArgs, problem: &Problem) -> anyhow::Result<(ToyOutput, Fit, Fit)> {
    anyhow::ensure!(
        args.lr.is_finite() && args.lr > 0.0,
        "--lr must be finite and > 0, got {}",
        args.lr
    );
    let exo = fit_with(args, problem, Direction::Exo).context("fitting EXO")?;
    let dpo = fit_with(args, problem, Direction::DpoRw).context("fitting DPO-rw")?;
    let out = ToyOutput {
        exo: summarise(problem, &exo),
        dpo_rw: summarise(problem, &dpo),
    };
    Ok((out, exo, dpo))
}

/// The default `exo toy` (what `exo toy` with no flags fits), for the README's generated table.
///
/// # Errors
/// If a fit fails.
#[cfg(test)]
pub(crate) fn default_fits() -> anyhow::Result<ToyOutput> {
    let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(["exo", "toy"])?;
    let crate::cli::Command::Toy(args) = cli.command else {
        anyhow::bail!("internal: not a toy command")
    };
    Ok(fit_both(&args, &Problem::paper())?.0)
}

/// Runs both fits and prints the result.
pub fn run(args: &ToyArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.plot {
        plot::check_path(path)?;
    }
    let problem = Problem::paper();
    let (out, exo, dpo) = fit_both(args, &problem)?;
    if let Some(path) = &args.plot {
        plot::draw(&chart(&problem, &exo, &dpo), path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print_table(args, &out);
        if let Some(path) = &args.plot {
            println!("plot: {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(args: &ToyArgs, out: &ToyOutput) {
    println!(
        "Target: 0.7·N(−2, 0.6²) + 0.3·N(2.5, 0.6²) on 21 points, uniform π_sft, K = 21, β_π = β_r = 1.\n\
         Backend {:?}: {} steps of gradient descent at lr {} from (μ, σ) = ({}, {}).\n",
        args.backend, args.steps, args.lr, args.init.0, args.init.1
    );
    println!("{}", table(out));
    println!(
        "EXO is mode-seeking: it settles on one mode. DPO-rw is mean-seeking: it spreads over both."
    );
}

/// The fits against the two modes, as `exo toy` prints them (and the README shows them).
pub(crate) fn table(out: &ToyOutput) -> String {
    let mut t = format!(
        "{:<22} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}\n",
        "", "mu", "sigma", "loss", "E[r]", "KL(π‖π*)", "KL(π*‖π)"
    );
    for (name, s) in [
        ("exo (reverse KL)", out.exo),
        ("dpo_rw (forward KL)", out.dpo_rw),
    ] {
        t += &format!(
            "{name:<22} {:>8.4} {:>8.4} {:>10.6} {:>10.4} {:>10.4} {:>10.4}\n",
            s.mu, s.sigma, s.loss, s.expected_reward, s.reverse_kl, s.forward_kl
        );
    }
    t += &format!(
        "{:<22} {:>8.4} {:>8.4}\n",
        "major mode (0.7)", MAJOR_MODE.0, MAJOR_MODE.1
    );
    t += &format!(
        "{:<22} {:>8.4} {:>8.4}\n",
        "minor mode (0.3)", MINOR_MODE.0, MINOR_MODE.1
    );
    t
}

fn chart(problem: &Problem, exo: &Fit, dpo: &Fit) -> Chart {
    let curve = |log_p: Vec<f64>| -> Vec<(f64, f64)> {
        problem
            .support
            .iter()
            .zip(log_p)
            .map(|(&x, lp)| (x, lp.exp()))
            .collect()
    };
    Chart {
        title: "EXO (reverse KL) seeks a mode; DPO-rw (forward KL) covers both".into(),
        x_label: "response x".into(),
        y_label: "probability".into(),
        series: vec![
            Series {
                label: "target π* (0.7/0.3 mixture)".into(),
                points: curve(problem.log_target.clone()),
                color: RGBColor(110, 110, 110),
                markers: true,
                band: Vec::new(),
            },
            Series {
                label: format!("EXO fit (μ = {:.2}, σ = {:.2})", exo.mu, exo.sigma),
                points: curve(problem.log_policy(exo.mu, exo.sigma)),
                color: RGBColor(31, 119, 180),
                markers: false,
                band: Vec::new(),
            },
            Series {
                label: format!("DPO-rw fit (μ = {:.2}, σ = {:.2})", dpo.mu, dpo.sigma),
                points: curve(problem.log_policy(dpo.mu, dpo.sigma)),
                color: RGBColor(255, 127, 14),
                markers: false,
                band: Vec::new(),
            },
        ],
        legend_lower_right: false,
    }
}
