//! The loss of `exo sft`: the mean negative log-likelihood per completion token (optionally of
//! the prompt's tokens too).

use exo_lm::memory::BatchShape;
use exo_lm::{CausalLm, DeferredLogps, ModelOps};

use super::data::{Dataset, largest_batch, packed_batch};
use super::metrics::{MetricMean, Metrics};
use super::trainer::StepLoss;

/// Supervised fine-tuning on one target per prompt.
#[derive(Debug)]
pub struct SftLoss<'a> {
    /// Training data (K = 1).
    pub train: &'a Dataset,
    /// Held-out data for `--eval-every`.
    pub eval: Option<&'a Dataset>,
    /// Count the prompt's tokens in the loss as well (after the first token).
    pub train_on_prompt: bool,
    /// The padding id.
    pub pad: u32,
    /// Records per forward pass when evaluating.
    pub eval_batch: usize,
}

impl SftLoss<'_> {
    /// The loss of `records`, the log-probs it was built on (whose
    /// [`DeferredLogps::backward`] gives the gradient) and the metrics.
    fn forward<B: ModelOps>(
        &self,
        model: &CausalLm<B>,
        data: &Dataset,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)> {
        let groups: Vec<&exo_data::TokenizedGroup> =
            records.iter().map(|&i| &data.groups[i]).collect();
        let (batch, _) = packed_batch(&groups, self.pad, self.train_on_prompt)?;
        let tokens = batch.counted_tokens();
        if tokens == 0 {
            anyhow::bail!("nll_loss: the loss mask counts no predicted token");
        }
        // The mean negative log-likelihood per counted token.
        #[allow(clippy::cast_precision_loss)]
        let deferred = model.packed_logps_deferred(&batch, 1.0)?;
        let loss = B::mul_scalar(&B::sum_all(deferred.logps())?, -1.0 / tokens as f64)?;
        let mut metrics = Metrics::new();
        metrics.insert("num_tokens".into(), tokens as f64);
        Ok((loss, deferred, metrics))
    }
}

impl<B: ModelOps> StepLoss<B> for SftLoss<'_> {
    fn loss(
        &self,
        model: &CausalLm<B>,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)> {
        self.forward(model, self.train, records)
    }

    /// The counted tokens: N ranks' token means combine into the mean over all their tokens.
    fn weight(&self, metrics: &Metrics) -> f64 {
        metrics.get("num_tokens").copied().unwrap_or(1.0)
    }

    fn largest_batch(&self, batch: usize) -> anyhow::Result<BatchShape> {
        largest_batch(self.train, batch, self.pad, self.train_on_prompt)
    }

    fn evaluate(&self, model: &CausalLm<B>) -> anyhow::Result<Option<Metrics>> {
        let Some(data) = self.eval else {
            return Ok(None);
        };
        let mut mean = MetricMean::default();
        let all: Vec<usize> = (0..data.groups.len()).collect();
        for chunk in all.chunks(self.eval_batch.max(1)) {
            let (loss, _, metrics) = B::no_grad(|| self.forward(model, data, chunk))?;
            let tokens = metrics.get("num_tokens").copied().unwrap_or(0.0);
            let mut m = Metrics::new();
            m.insert(
                "loss".into(),
                B::to_f64s(&loss)?.first().copied().unwrap_or(f64::NAN),
            );
            mean.add(&m, tokens);
        }
        Ok(Some(mean.mean()))
    }
}
