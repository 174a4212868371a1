//! The multi-seed study of `exo demo --seeds N --betas …`: per method, β and checkpoint, the mean
//! reward, KL and win rate across seeds with their standard errors, and EXO against each other
//! method at equal KL on the reward-vs-KL frontier, paired by seed ([`super::stats`]).

use serde::{Deserialize, Serialize};

use super::plan::METHODS;
use super::report::MethodResult;
use super::stats::{Comparison, Estimate, compare, frontier};

/// One method at one β and checkpoint, across seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `sft` or the method.
    pub method: String,
    /// β_π (none for SFT).
    pub beta: Option<f64>,
    /// Alignment steps (0: SFT).
    pub step: u64,
    /// Mean reward.
    pub reward: Estimate,
    /// KL to SFT, nats.
    pub kl: Estimate,
    /// Win rate against SFT's samples.
    pub win_rate: Estimate,
}

/// Everything the seeds say together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Study {
    /// The seeds, in order.
    pub seeds: Vec<u64>,
    /// SFT, then each method at each β, at each checkpoint.
    pub cells: Vec<Cell>,
    /// EXO against each other method at equal KL (none when a range is empty).
    pub comparisons: Vec<Comparison>,
}

impl Study {
    /// The study of `runs` (one per seed, method and β; SFT with no β).
    pub fn of(runs: &[MethodResult]) -> Self {
        let mut seeds: Vec<u64> = Vec::new();
        for r in runs {
            if !seeds.contains(&r.seed) {
                seeds.push(r.seed);
            }
        }
        let mut keys: Vec<(&str, Option<f64>, u64)> = Vec::new();
        for r in runs {
            for p in &r.frontier {
                let key = (r.name.as_str(), r.beta, p.step);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        let cells = keys
            .into_iter()
            .map(|(method, beta, step)| {
                let points: Vec<_> = runs
                    .iter()
                    .filter(|r| r.name == method && r.beta == beta)
                    .filter_map(|r| r.frontier.iter().find(|p| p.step == step))
                    .collect();
                let of = |f: fn(&super::report::FrontierPoint) -> f64| {
                    Estimate::of(&points.iter().map(|p| f(p)).collect::<Vec<_>>())
                };
                Cell {
                    method: method.to_owned(),
                    beta,
                    step,
                    reward: of(|p| p.reward),
                    kl: of(|p| p.kl),
                    win_rate: of(|p| p.win_rate),
                }
            })
            .collect();
        let fronts = |method: &str| -> Vec<Vec<(f64, f64)>> {
            seeds
                .iter()
                .map(|&seed| frontier(&frontier_points(runs, method, seed)))
                .collect()
        };
        let (first, others) = METHODS
            .split_first()
            .map_or((None, &[][..]), |(f, o)| (Some(*f), o));
        let comparisons = first
            .map(|a| {
                let fa = fronts(a);
                others
                    .iter()
                    .filter_map(|b| compare(a, &fa, b, &fronts(b)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            seeds,
            cells,
            comparisons,
        }
    }
}

/// A method's `(KL, reward)` points for one seed: SFT at KL 0 and every checkpoint of every β.
pub fn frontier_points(runs: &[MethodResult], method: &str, seed: u64) -> Vec<(f64, f64)> {
    runs.iter()
        .filter(|r| r.seed == seed && (r.name == "sft" || r.name == method))
        .flat_map(|r| r.frontier.iter().map(|p| (p.kl, p.reward)))
        .collect()
}
