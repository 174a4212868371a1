//! The loss of `exo train`: all K completions of each prompt through the policy in one batched
//! forward pass, the cached reference log-probs, and any exo-core [`Objective`].

use exo_core::{Groups, Objective};
use exo_lm::memory::BatchShape;
use exo_lm::{CausalLm, DeferredLogps, ModelOps};

use super::data::{Dataset, largest_batch, packed_batch};
use super::metrics::{GroupStats, MetricMean, Metrics, group_metrics};
use super::trainer::StepLoss;

/// One data set with its reference log-probs (`None` for reference-free objectives).
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    /// The tokenised groups.
    pub data: &'a Dataset,
    /// `log π_ref(y|x)` per row, group-major.
    pub reference: Option<&'a [f64]>,
}

/// The alignment loss over the training split, and the same on an evaluation split.
#[derive(Debug)]
pub struct AlignLoss<'a, O> {
    /// Training data.
    pub train: Split<'a>,
    /// Held-out data for `--eval-every`.
    pub eval: Option<Split<'a>>,
    /// The objective.
    pub objective: &'a O,
    /// The logit temperature τ of the sequence log-probs.
    pub temperature: f64,
    /// The padding id.
    pub pad: u32,
    /// Groups per forward pass when evaluating.
    pub eval_batch: usize,
}

impl<O: Objective> AlignLoss<'_, O> {
    /// The loss of `records`, the policy log-probs it was built on (whose
    /// [`DeferredLogps::backward`] gives the gradient) and the metrics.
    fn forward<B: ModelOps>(
        &self,
        model: &CausalLm<B>,
        split: Split<'_>,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)> {
        let data = split.data;
        let k = data.k;
        let groups: Vec<&exo_data::TokenizedGroup> =
            records.iter().map(|&i| &data.groups[i]).collect();
        let (batch, lengths) = packed_batch(&groups, self.pad, false)?;
        let rows = groups.len() * k;
        // Log-probs, rewards and the objective are f32 when the model computes in bf16/f16.
        let (dtype, device) = (model.dtype().accumulate(), model.device());
        let deferred = model.packed_logps_deferred(&batch, self.temperature)?;
        let policy = deferred.logps().clone();
        let rewards: Vec<f64> = groups
            .iter()
            .flat_map(|g| g.rewards.iter().copied())
            .collect();
        let rewards_t = if rewards.len() == rows {
            Some(B::from_f64s(&rewards, &[rows], dtype, device)?)
        } else {
            None
        };
        let reference: Vec<f64> = match split.reference {
            Some(all) => records
                .iter()
                .flat_map(|&i| all[i * k..(i + 1) * k].iter().copied())
                .collect(),
            None => Vec::new(),
        };
        let input = if self.objective.needs_reference() {
            let reference_t = B::from_f64s(&reference, &[rows], dtype, device)?;
            Groups::<B>::from_logps(&policy, &reference_t, k, rewards_t.as_ref())?
        } else {
            Groups::<B>::reference_free(&policy, k, rewards_t.as_ref())?
        };
        let input = if self.objective.needs_lengths() {
            input.with_lengths(&B::from_f64s(&lengths, &[rows], dtype, device)?)?
        } else {
            input
        };
        let out = self.objective.forward(&input)?;
        let host = |t: &B::Tensor| B::to_f64s(t);
        let (p_f, p_r, implied) = (
            host(&out.diagnostics.p_f)?,
            host(&out.diagnostics.p_r)?,
            host(&out.diagnostics.implied_rewards)?,
        );
        let policy_host = host(&B::detach(&policy)?)?;
        let mut metrics = group_metrics(&GroupStats {
            k,
            p_f: &p_f,
            p_r: &p_r,
            implied: &implied,
            policy_logps: &policy_host,
            reference_logps: &reference,
            rewards: if rewards.len() == rows { &rewards } else { &[] },
        });
        for (name, t) in &out.diagnostics.extra {
            let v = host(t)?;
            if !v.is_empty() {
                metrics.insert(name.clone(), v.iter().sum::<f64>() / v.len() as f64);
            }
        }
        Ok((out.loss, deferred, metrics))
    }
}

impl<B: ModelOps, O: Objective> StepLoss<B> for AlignLoss<'_, O> {
    fn loss(
        &self,
        model: &CausalLm<B>,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)> {
        self.forward(model, self.train, records)
    }

    fn largest_batch(&self, batch: usize) -> anyhow::Result<BatchShape> {
        largest_batch(self.train.data, batch, self.pad, false)
    }

    fn evaluate(&self, model: &CausalLm<B>) -> anyhow::Result<Option<Metrics>> {
        let Some(split) = self.eval else {
            return Ok(None);
        };
        let mut mean = MetricMean::default();
        let all: Vec<usize> = (0..split.data.groups.len()).collect();
        for chunk in all.chunks(self.eval_batch.max(1)) {
            let (loss, _, mut metrics) = B::no_grad(|| self.forward(model, split, chunk))?;
            metrics.insert(
                "loss".into(),
                B::to_f64s(&loss)?.first().copied().unwrap_or(f64::NAN),
            );
            mean.add(&metrics, chunk.len() as f64);
        }
        Ok(Some(mean.mean()))
    }
}
