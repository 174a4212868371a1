//! Per-step metrics: `metrics.jsonl` (one JSON object per optimiser step) under TRL's names where
//! they apply, and EXO's own.
//!
//! | key | meaning |
//! | --- | --- |
//! | `step`, `epoch` | optimiser steps done; epochs of data seen (fractional) |
//! | `loss` | the objective (mean over the step's groups) |
//! | `learning_rate`, `grad_norm` | the step's learning rate; the global gradient norm before clipping |
//! | `rewards/chosen`, `rewards/rejected` | mean implied reward `β·f` of the chosen and the rejected completion (K = 2: columns 0 and 1; K > 2: the best- and the worst-rewarded) |
//! | `rewards/margins`, `rewards/accuracies` | mean of chosen − rejected; share of groups where it is > 0 |
//! | `logps/chosen`, `logps/rejected` | mean summed completion log-prob of the policy, same completions |
//! | `exo/p_f_entropy` | entropy of `p_f = softmax(β f)` over the K completions |
//! | `exo/kl_pf_pr` | `KL(p_f ‖ p_r)`, the EXO loss term per group |
//! | `exo/group_reward` | mean data reward of the groups |
//! | `is/reward` | `E_πθ[r]` estimated from the K reference samples by self-normalised importance sampling: `Σ softmax(f)_i r_i` |
//! | `kl/ref_policy` | `KL(π_ref ‖ π_θ)` estimated without bias from the same samples (drawn from π_ref): `mean(−f)` |
//! | `eval_*` | the same on `--eval-data`, every `--eval-every` steps |
//!
//! plus the objective's own (`nll_loss`, `loss/<term>` of a mixture, ...).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// One step's metrics by name.
pub type Metrics = BTreeMap<String, f64>;

/// Means of metrics over micro-batches (each key over the micro-batches that reported it).
#[derive(Debug, Clone, Default)]
pub struct MetricMean {
    sums: BTreeMap<String, (f64, f64)>,
}

impl MetricMean {
    /// Adds one micro-batch's metrics with weight `w`.
    pub fn add(&mut self, metrics: &Metrics, w: f64) {
        for (k, v) in metrics {
            let e = self.sums.entry(k.clone()).or_insert((0.0, 0.0));
            e.0 += w * v;
            e.1 += w;
        }
    }

    /// The weighted means.
    pub fn mean(&self) -> Metrics {
        self.sums
            .iter()
            .filter(|(_, (_, w))| *w > 0.0)
            .map(|(k, (s, w))| (k.clone(), s / w))
            .collect()
    }
}

/// Appends one JSON line per step to `metrics.jsonl`, flushed after each line (a killed run
/// keeps every line it wrote).
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsWriter {
    /// Opens `path` for appending. With `keep_through = Some(step)` (a resumed run), the lines of
    /// later steps — written after the checkpoint the run resumes from — are removed first;
    /// with `None` the file starts empty.
    ///
    /// # Errors
    /// If the file cannot be read or written.
    pub fn open(path: &Path, keep_through: Option<u64>) -> anyhow::Result<Self> {
        let kept = match keep_through {
            None => String::new(),
            Some(step) => match std::fs::read_to_string(path) {
                Ok(text) => text
                    .lines()
                    .filter(|line| {
                        serde_json::from_str::<serde_json::Value>(line)
                            .ok()
                            .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                            .is_some_and(|s| s <= step)
                    })
                    .map(|l| format!("{l}\n"))
                    .collect(),
                Err(_) => String::new(),
            },
        };
        exo_lm::weights::write_atomic(path, kept.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one line `{"step": step, ...metrics}`.
    ///
    /// # Errors
    /// If the write fails.
    pub fn write(&mut self, step: u64, metrics: &Metrics) -> anyhow::Result<()> {
        let mut obj = serde_json::Map::new();
        obj.insert("step".into(), step.into());
        for (k, v) in metrics {
            // JSON has no NaN: a non-finite value is written as null.
            obj.insert(
                k.clone(),
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into),
            );
        }
        let line = serde_json::to_string(&obj)?;
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Reads `metrics.jsonl` back: `(step, metrics)` per line.
///
/// # Errors
/// If the file cannot be read or a line is not a JSON object with a step.
pub fn read(path: &Path) -> anyhow::Result<Vec<(u64, Metrics)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        let step = v
            .get("step")
            .and_then(serde_json::Value::as_u64)
            .with_context(|| format!("{}:{}: no step", path.display(), i + 1))?;
        let metrics = v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| *k != "step")
                    .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                    .collect()
            })
            .unwrap_or_default();
        out.push((step, metrics));
    }
    Ok(out)
}

/// Group statistics of an objective's output, on the host (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct GroupStats<'a> {
    /// K.
    pub k: usize,
    /// `[batch·K]` `p_f`.
    pub p_f: &'a [f64],
    /// `[batch·K]` `p_r` (empty if the objective has no target distribution).
    pub p_r: &'a [f64],
    /// `[batch·K]` implied rewards `β·f`.
    pub implied: &'a [f64],
    /// `[batch·K]` policy log-probs.
    pub policy_logps: &'a [f64],
    /// `[batch·K]` reference log-probs (empty for reference-free objectives).
    pub reference_logps: &'a [f64],
    /// `[batch·K]` data rewards (empty without rewards).
    pub rewards: &'a [f64],
}

/// The metrics of [`GroupStats`] (means over groups).
pub fn group_metrics(s: &GroupStats<'_>) -> Metrics {
    let mut m = Metrics::new();
    let k = s.k.max(1);
    let groups = s.implied.len() / k;
    if groups == 0 {
        return m;
    }
    let n = groups as f64;
    let (mut chosen, mut rejected, mut acc, mut lp_c, mut lp_r) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut entropy, mut kl, mut reward, mut is_r, mut is_kl) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for g in 0..groups {
        let row = |v: &[f64]| -> Vec<f64> {
            v.get(g * k..(g + 1) * k)
                .map(<[f64]>::to_vec)
                .unwrap_or_default()
        };
        let (imp, rw) = (row(s.implied), row(s.rewards));
        let (imp, rw) = (imp.as_slice(), rw.as_slice());
        let (c, r) = if k == 2 || rw.len() != k {
            (0, 1.min(k - 1))
        } else {
            (argmax(rw), argmin(rw))
        };
        chosen += imp[c];
        rejected += imp[r];
        acc += f64::from(u8::from(imp[c] > imp[r]));
        if let Some(lp) = s.policy_logps.get(g * k..(g + 1) * k) {
            lp_c += lp[c];
            lp_r += lp[r];
        }
        let (pf, pr) = (row(s.p_f), row(s.p_r));
        let (pf, pr) = (pf.as_slice(), pr.as_slice());
        entropy -= pf
            .iter()
            .filter(|p| **p > 0.0)
            .map(|p| p * p.ln())
            .sum::<f64>();
        if pr.len() == pf.len() {
            kl += pf
                .iter()
                .zip(pr)
                .filter(|(p, _)| **p > 0.0)
                // q = 0 under p > 0 (DPO's hard labels): the KL is infinite, not reported.
                .map(|(p, q)| p * (p.ln() - q.ln()))
                .sum::<f64>();
        }
        if rw.len() == k {
            reward += rw.iter().sum::<f64>() / k as f64;
        }
        if let (Some(pol), Some(reference)) = (
            s.policy_logps.get(g * k..(g + 1) * k),
            s.reference_logps.get(g * k..(g + 1) * k),
        ) {
            let f: Vec<f64> = pol.iter().zip(reference).map(|(a, b)| a - b).collect();
            let w = softmax(&f);
            is_kl -= f.iter().sum::<f64>() / k as f64;
            if rw.len() == k {
                is_r += w.iter().zip(rw).map(|(w, r)| w * r).sum::<f64>();
            }
        }
    }
    m.insert("rewards/chosen".into(), chosen / n);
    m.insert("rewards/rejected".into(), rejected / n);
    m.insert("rewards/margins".into(), (chosen - rejected) / n);
    m.insert("rewards/accuracies".into(), acc / n);
    if !s.policy_logps.is_empty() {
        m.insert("logps/chosen".into(), lp_c / n);
        m.insert("logps/rejected".into(), lp_r / n);
    }
    m.insert("exo/p_f_entropy".into(), entropy / n);
    if s.p_r.len() == s.p_f.len() && !s.p_r.is_empty() && kl.is_finite() {
        m.insert("exo/kl_pf_pr".into(), kl / n);
    }
    if s.rewards.len() == groups * k {
        m.insert("exo/group_reward".into(), reward / n);
    }
    if !s.reference_logps.is_empty() && !s.policy_logps.is_empty() {
        m.insert("kl/ref_policy".into(), is_kl / n);
        if s.rewards.len() == groups * k {
            m.insert("is/reward".into(), is_r / n);
        }
    }
    m
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn argmin(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] < v[b] { i } else { b })
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_metrics_follow_trl() {
        // Two pairs: implied rewards (0.2, −0.1) and (0.0, 0.3).
        let implied = [0.2, -0.1, 0.0, 0.3];
        let m = group_metrics(&GroupStats {
            k: 2,
            p_f: &[0.5, 0.5, 0.5, 0.5],
            p_r: &[0.9, 0.1, 0.9, 0.1],
            implied: &implied,
            policy_logps: &[-3.0, -4.0, -5.0, -6.0],
            reference_logps: &[-3.0, -4.0, -5.0, -6.0],
            rewards: &[1.0, 0.0, 1.0, 0.0],
        });
        assert!((m["rewards/chosen"] - 0.1).abs() < 1e-12);
        assert!((m["rewards/rejected"] - 0.1).abs() < 1e-12);
        assert!((m["rewards/margins"] - 0.0).abs() < 1e-12);
        assert!((m["rewards/accuracies"] - 0.5).abs() < 1e-12);
        assert!((m["logps/chosen"] + 4.0).abs() < 1e-12);
        assert!((m["exo/p_f_entropy"] - std::f64::consts::LN_2).abs() < 1e-12);
        let kl = 0.5 * (0.5f64 / 0.9).ln() + 0.5 * (0.5f64 / 0.1).ln();
        assert!((m["exo/kl_pf_pr"] - kl).abs() < 1e-12);
        // f = 0 everywhere: uniform weights, zero KL, the plain mean reward.
        assert!(m["kl/ref_policy"].abs() < 1e-12);
        assert!((m["is/reward"] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn groups_of_four_use_the_best_and_worst_rewarded() {
        let m = group_metrics(&GroupStats {
            k: 4,
            p_f: &[0.25; 4],
            p_r: &[0.25; 4],
            implied: &[0.1, 0.4, -0.2, 0.0],
            policy_logps: &[],
            reference_logps: &[],
            rewards: &[0.0, 0.9, -0.5, 0.2],
        });
        assert!((m["rewards/chosen"] - 0.4).abs() < 1e-12);
        assert!((m["rewards/rejected"] + 0.2).abs() < 1e-12);
        assert_eq!(m["rewards/accuracies"], 1.0);
        assert!((m["exo/group_reward"] - 0.15).abs() < 1e-12);
        assert!(!m.contains_key("kl/ref_policy"));
    }
}
