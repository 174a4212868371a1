//! A reward model as the reward: a `*ForSequenceClassification` checkpoint (`exo rm`'s, or one
//! transformers wrote) scoring each prompt + completion at its last non-padding token (see
//! [`exo_lm::score`]), batched.
//!
//! Texts are encoded as in training: the prompt with BOS once, the completion with EOS once.
//! With one label the reward is the score; with `--reward-label N` it is the log-odds of label
//! `N`, `z_N − log Σ_{j≠N} e^{z_j}` (for two labels `z_N − z_{1−N}`: the IMDB oracle's reward,
//! label 1 of a positive/negative sentiment classifier).

use std::path::PathBuf;

use anyhow::{Context, bail};
use exo_lm::{Mode, ModelOps, TokenBatch};

use super::Item;
use crate::run::backend::{BackendJob, Compute, dispatch};
use crate::run::model::{load_model, load_tokenizer};

/// A reward model and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelReward {
    /// The classifier's folder.
    pub dir: PathBuf,
    /// The label whose log-odds is the reward (classifiers with several labels).
    pub label: Option<usize>,
    /// Sequences per forward pass.
    pub batch: usize,
    /// Backend, device, threads and dtype.
    pub compute: Compute,
}

impl ModelReward {
    /// The reward of every item, in order.
    ///
    /// # Errors
    /// If the folder is not a classifier, the label does not fit it, or a forward pass fails.
    pub fn score(&self, items: &[Item]) -> anyhow::Result<Vec<f64>> {
        let (tokenizer, _) = load_tokenizer(&self.dir, None)?;
        let seqs = items
            .iter()
            .map(|it| {
                let mut ids = tokenizer.encode_prompt(&it.prompt)?;
                ids.extend(tokenizer.encode_completion(&it.completion)?);
                Ok(ids)
            })
            .collect::<Result<Vec<_>, exo_data::ErrorKind>>()
            .map_err(|e| anyhow::anyhow!("encoding a text for the reward model: {e}"))?;
        dispatch(
            &self.compute,
            ScoreJob {
                rm: self,
                seqs: &seqs,
            },
        )
        .with_context(|| format!("scoring with the reward model {}", self.dir.display()))
    }

    /// A short name for tables.
    pub fn describe(&self) -> String {
        match self.label {
            Some(l) => format!("log-odds of label {l} of {}", self.dir.display()),
            None => format!("reward model {}", self.dir.display()),
        }
    }
}

struct ScoreJob<'a> {
    rm: &'a ModelReward,
    seqs: &'a [Vec<u32>],
}

impl BackendJob for ScoreJob<'_> {
    type Output = Vec<f64>;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Vec<f64>> {
        let model = load_model::<B>(&self.rm.dir, device, Mode::Frozen)?;
        let Some(labels) = model.config().score_labels() else {
            bail!(
                "{} is not a reward model: its config.json names no *ForSequenceClassification \
                 class (train one with `exo rm`)",
                self.rm.dir.display()
            );
        };
        let pick = match (labels, self.rm.label) {
            (1, None) => Pick::Score,
            (1, Some(_)) => bail!(
                "--reward-label: {} has one score, no labels",
                self.rm.dir.display()
            ),
            (n, None) => bail!(
                "{} is a classifier with {n} labels: give --reward-label N (its log-odds is the reward)",
                self.rm.dir.display()
            ),
            (n, Some(l)) if l >= n => bail!(
                "--reward-label {l}: {} has labels 0..{n}",
                self.rm.dir.display()
            ),
            (_, Some(l)) => Pick::LogOdds(l),
        };
        let pad = model.config().pad_token_id.unwrap_or(0);
        let mut out = Vec::with_capacity(self.seqs.len());
        for chunk in self.seqs.chunks(self.rm.batch.max(1)) {
            let batch = TokenBatch::right_padded(chunk, pad)?;
            let scores = B::no_grad(|| model.scores(&batch))?;
            let values = B::to_f64s(&scores)?;
            out.extend(values.chunks(labels).map(|z| pick.reward(z)));
        }
        Ok(out)
    }
}

/// Which number of a row of scores is the reward.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// The one score.
    Score,
    /// The log-odds of a label.
    LogOdds(usize),
}

impl Pick {
    fn reward(self, z: &[f64]) -> f64 {
        match self {
            Self::Score => z[0],
            Self::LogOdds(l) => {
                // log Σ_{j≠l} e^{z_j}, max-shifted.
                let others = z
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != l)
                    .map(|(_, &v)| v);
                let max = others.clone().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + others.map(|v| (v - max).exp()).sum::<f64>().ln();
                z[l] - lse
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_odds_of_a_label() {
        assert_eq!(Pick::LogOdds(1).reward(&[0.5, 2.0]), 1.5);
        assert_eq!(Pick::LogOdds(0).reward(&[0.5, 2.0]), -1.5);
        // Three labels: z_0 − log(e^{z_1} + e^{z_2}), stable for large scores.
        let got = Pick::LogOdds(0).reward(&[1000.0, 999.0, 999.0]);
        assert!(
            (got - (1.0 - std::f64::consts::LN_2)).abs() < 1e-12,
            "{got}"
        );
        assert_eq!(Pick::Score.reward(&[-0.25]), -0.25);
    }
}
