//! The loss of `exo sft`: the mean negative log-likelihood per completion token (optionally of
//! the prompt's tokens too).

use exo_lm::{CausalLm, ModelOps};

use super::data::{Dataset, token_batch};
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
    fn forward<B: ModelOps>(
        &self,
        model: &CausalLm<B>,
        data: &Dataset,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, Metrics)> {
        let groups: Vec<&exo_data::TokenizedGroup> =
            records.iter().map(|&i| &data.groups[i]).collect();
        let (mut batch, _) = token_batch(&groups, self.pad)?;
        if self.train_on_prompt {
            let attention = batch.attention_mask().to_vec();
            batch = batch.with_loss_mask(attention)?;
        }
        let (_, t) = batch.dims();
        let tokens = batch
            .loss_mask()
            .chunks(t.max(1))
            .map(|row| row.iter().skip(1).filter(|&&m| m).count())
            .sum::<usize>();
        let loss = model.nll_loss(&batch)?;
        let mut metrics = Metrics::new();
        metrics.insert("num_tokens".into(), tokens as f64);
        Ok((loss, metrics))
    }
}

impl<B: ModelOps> StepLoss<B> for SftLoss<'_> {
    fn loss(&self, model: &CausalLm<B>, records: &[usize]) -> anyhow::Result<(B::Tensor, Metrics)> {
        self.forward(model, self.train, records)
    }

    fn evaluate(&self, model: &CausalLm<B>) -> anyhow::Result<Option<Metrics>> {
        let Some(data) = self.eval else {
            return Ok(None);
        };
        let mut mean = MetricMean::default();
        let all: Vec<usize> = (0..data.groups.len()).collect();
        for chunk in all.chunks(self.eval_batch.max(1)) {
            let (loss, metrics) = B::no_grad(|| self.forward(model, data, chunk))?;
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
