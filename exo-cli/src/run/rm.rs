//! The loss of `exo rm`: a Bradley–Terry reward model on preference pairs.
//!
//! ```text
//! r = score(prompt ++ completion)                 at the last non-padding token (exo_lm::score)
//! loss = mean over pairs of −log σ(r_chosen − r_rejected)
//! accuracy = mean [r_chosen > r_rejected],   margin = mean (r_chosen − r_rejected)
//! ```
//!
//! as TRL's `RewardTrainer` (without its optional `center_rewards_coefficient`) and the EXO
//! authors' reward-model code; `accuracy` and `margin` are the names TRL logs.

use exo_lm::memory::BatchShape;
use exo_lm::{CausalLm, DeferredLogps, ModelOps, TokenBatch};

use super::data::{Dataset, largest_batch};
use super::metrics::{MetricMean, Metrics};
use super::trainer::StepLoss;

/// Reward-model training on (chosen, rejected) pairs.
#[derive(Debug)]
pub struct RmLoss<'a> {
    /// Training pairs (K = 2, chosen first).
    pub train: &'a Dataset,
    /// Held-out pairs for `--eval-every`.
    pub eval: Option<&'a Dataset>,
    /// The padding id of the batches (any id: padding is masked).
    pub pad: u32,
    /// Pairs per forward pass when evaluating.
    pub eval_batch: usize,
}

impl RmLoss<'_> {
    fn forward<B: ModelOps>(
        &self,
        model: &CausalLm<B>,
        data: &Dataset,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)> {
        let mut rows = Vec::with_capacity(2 * records.len());
        for &i in records {
            let group = &data.groups[i];
            match (group.row(0), group.row(1)) {
                (Some(chosen), Some(rejected)) => rows.extend([chosen, rejected]),
                _ => anyhow::bail!("{}: a reward model trains on pairs", group.origin),
            }
        }
        let batch = TokenBatch::right_padded(&rows, self.pad)?;
        let scores = model.scores(&batch)?;
        let pairs = records.len();
        let pair_scores = B::reshape(&scores, &[pairs, 2])?;
        let (chosen, rejected) = (
            B::narrow(&pair_scores, 1, 0, 1)?,
            B::narrow(&pair_scores, 1, 1, 1)?,
        );
        let margin = B::sub(&chosen, &rejected)?;
        let loss = B::neg(&B::mean_all(&B::log_sigmoid(&margin)?)?)?;
        let host = B::to_f64s(&B::detach(&pair_scores)?)?;
        #[allow(clippy::cast_precision_loss)]
        let n = pairs as f64;
        let mean = |f: &dyn Fn(&[f64]) -> f64| host.chunks(2).map(f).sum::<f64>() / n;
        let mut metrics = Metrics::new();
        metrics.insert(
            "accuracy".into(),
            mean(&|p| f64::from(u8::from(p[0] > p[1]))),
        );
        metrics.insert("margin".into(), mean(&|p| p[0] - p[1]));
        metrics.insert("rewards/chosen".into(), mean(&|p| p[0]));
        metrics.insert("rewards/rejected".into(), mean(&|p| p[1]));
        Ok((loss, DeferredLogps::ready(scores), metrics))
    }
}

impl<B: ModelOps> StepLoss<B> for RmLoss<'_> {
    fn loss(
        &self,
        model: &CausalLm<B>,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)> {
        self.forward(model, self.train, records)
    }

    fn largest_batch(&self, batch: usize) -> anyhow::Result<BatchShape> {
        largest_batch(self.train, batch, self.pad, false)
    }

    fn evaluate(&self, model: &CausalLm<B>) -> anyhow::Result<Option<Metrics>> {
        let Some(data) = self.eval else {
            return Ok(None);
        };
        let mut mean = MetricMean::default();
        let all: Vec<usize> = (0..data.groups.len()).collect();
        for chunk in all.chunks(self.eval_batch.max(1)) {
            let (loss, _, mut metrics) = B::no_grad(|| self.forward(model, data, chunk))?;
            metrics.insert(
                "loss".into(),
                B::to_f64s(&loss)?.first().copied().unwrap_or(f64::NAN),
            );
            #[allow(clippy::cast_precision_loss)]
            mean.add(&metrics, chunk.len() as f64);
        }
        Ok(Some(mean.mean()))
    }
}
