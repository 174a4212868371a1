//! BCO on preference pairs, and the running reward mean δ it is shifted by.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::pair::finish_pair;
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::{Beta, Finite};
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Error, Result, TensorOps};

/// BCO on pairs (Jung et al., 2024, "Binary Classifier Optimization for Large Language Model
/// Alignment"; TRL's `bco_pair`): a logistic classifier that puts the chosen implied reward above
/// δ and the rejected one below it.
///
/// ```text
/// x = β f_w,   y = β f_l
/// L = mean over pairs of −log σ(x − δ) − log σ(δ − y)
/// ∂L/∂f_w = −β σ(δ − x) / batch,   ∂L/∂f_l = β σ(y − δ) / batch
/// ```
///
/// δ is explicit state, a constant of the loss: TRL 0.x and LLaMA-Factory set it to the running
/// mean of the batches' implied rewards, kept by a [`BcoRunningMean`] (update it with
/// [`BcoPair::reward_mean`] of the batch, then rebuild with [`BcoPair::with_delta`]); TRL 1.x uses
/// δ = 0, the default. Not invariant to shifting a pair's log-ratios together. Shapes: log-ratios
/// `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BcoPair {
    beta: Beta,
    delta: Finite,
}

impl BcoPair {
    /// BCO with coefficient β and reward shift δ.
    ///
    /// # Errors
    /// If β is not finite and positive, or δ is not finite.
    pub fn new(beta: f64, delta: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            delta: Finite::new("bco_delta", delta)?,
        })
    }

    /// The same objective with a new δ (typically [`BcoRunningMean::mean`]).
    ///
    /// # Errors
    /// If δ is not finite.
    pub fn with_delta(self, delta: f64) -> Result<Self> {
        Ok(Self {
            delta: Finite::new("bco_delta", delta)?,
            ..self
        })
    }

    /// δ.
    pub fn delta(&self) -> f64 {
        self.delta.get()
    }

    /// The batch statistic TRL 0.x feeds the running mean: the mean implied reward `β f` over
    /// every completion of the batch (chosen and rejected), detached, on the host.
    ///
    /// # Errors
    /// If a tensor op fails.
    pub fn reward_mean<B: TensorOps>(&self, groups: &Groups<B>) -> Result<f64> {
        let mean = B::mean_all(&B::detach(&B::mul_scalar(
            groups.log_ratios(),
            self.beta(),
        )?)?)?;
        B::to_f64s(&mean)?
            .first()
            .copied()
            .ok_or_else(|| Error::shape("BcoPair::reward_mean", "a scalar", &[]))
    }
}

impl Objective for BcoPair {
    fn name(&self) -> &'static str {
        "bco_pair"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (f_w, f_l) = groups.pair_columns(self.name())?;
        let delta = self.delta();
        let chosen = B::add_scalar(&B::mul_scalar(&f_w, self.beta())?, -delta)?;
        let rejected = B::add_scalar(&B::mul_scalar(&f_l, -self.beta())?, delta)?;
        let per_group = B::neg(&B::add(
            &B::log_sigmoid(&chosen)?,
            &B::log_sigmoid(&rejected)?,
        )?)?;
        finish_pair(
            groups,
            self.name(),
            &per_group,
            self.beta(),
            None,
            (1.0, 0.0),
            Vec::new(),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::bco_pair(groups, self.beta(), self.delta())
    }
}

/// The running mean and variance of a stream of batch statistics, with the semantics of TRL's
/// `RunningMoments` (the parallel Welford update of stable-baselines3), which `bco_pair` uses for
/// δ.
///
/// ```text
/// start:  mean = 0, var = 1, count = 1e-24
/// update with xs (n values, batch mean m, population variance v):
///   d = m − mean,  N = count + n
///   var   ← (var·count + d²·count·n/N + v·n) / N
///   mean  ← mean + d·n/N
///   count ← N
///   std   = sqrt(var · N/(N − 1))          (infinite while N ≤ 1, as in TRL)
/// ```
///
/// TRL 0.x calls it once per step with **one** value, the batch's mean implied reward
/// ([`BcoPair::reward_mean`]), *before* computing the loss, so δ = the mean of the batch means so
/// far, the current one included. (TRL rounds the batch moments to f32; this keeps f64.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BcoRunningMean {
    mean: f64,
    var: f64,
    count: f64,
}

impl Default for BcoRunningMean {
    fn default() -> Self {
        Self::new()
    }
}

impl BcoRunningMean {
    /// The count TRL starts from (a positive zero, so the first update divides by `n`).
    pub const INITIAL_COUNT: f64 = 1e-24;

    /// No data yet: mean 0, variance 1.
    pub fn new() -> Self {
        Self {
            mean: 0.0,
            var: 1.0,
            count: Self::INITIAL_COUNT,
        }
    }

    /// Folds in a batch of values.
    ///
    /// # Errors
    /// [`Error::Input`] if `xs` is empty or holds a value that is not finite (the state is then
    /// unchanged).
    pub fn update(&mut self, xs: &[f64]) -> Result<()> {
        if xs.is_empty() || xs.iter().any(|x| !x.is_finite()) {
            return Err(Error::Input {
                objective: "bco_pair",
                message: format!(
                    "the running reward mean needs one or more finite values, got {xs:?}"
                ),
            });
        }
        #[allow(clippy::cast_precision_loss)]
        let n = xs.len() as f64;
        let batch_mean = xs.iter().sum::<f64>() / n;
        let batch_var = xs.iter().map(|x| (x - batch_mean).powi(2)).sum::<f64>() / n;
        let d = batch_mean - self.mean;
        let total = self.count + n;
        let old_sum = self.var * self.count + d * d * self.count * n / total;
        self.var = (old_sum + batch_var * n) / total;
        self.mean += d * n / total;
        self.count = total;
        Ok(())
    }

    /// The running mean: BCO's δ.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The running (population) variance.
    pub fn var(&self) -> f64 {
        self.var
    }

    /// The unbiased running standard deviation `sqrt(var · N/(N − 1))`; infinite while `N ≤ 1`.
    pub fn std(&self) -> f64 {
        if self.count > 1.0 {
            (self.var * self.count / (self.count - 1.0)).sqrt()
        } else {
            f64::INFINITY
        }
    }

    /// The number of values folded in (plus [`BcoRunningMean::INITIAL_COUNT`]).
    pub fn count(&self) -> f64 {
        self.count
    }
}

/// `bco_pair` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const bco_pair: Entry<BcoPair> = Entry {
    info: ObjectiveInfo {
        name: "bco_pair",
        aliases: &["bco"],
        formula: "−log σ(βf_w − δ) − log σ(δ − βf_l)",
        source: "BCO, Jung et al. 2024, arXiv 2404.04656 (δ: running reward mean)",
        input: PAIRS,
        hyper: &[Hyper::Beta, Hyper::BcoDelta],
    },
    build: |c| BcoPair::new(c.beta.get(), c.bco_delta.get()),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// |a − b| below this many ulps of 1 (the updates are short sums).
    const CLOSE: f64 = 1e-14;

    #[test]
    fn running_mean_of_scalar_batch_means_is_their_average() -> Result<()> {
        let mut running = BcoRunningMean::new();
        for (step, x) in [0.5, -1.5, 4.0].into_iter().enumerate() {
            running.update(&[x])?;
            let seen = [0.5, -1.5, 4.0];
            #[allow(clippy::cast_precision_loss)]
            let want = seen[..=step].iter().sum::<f64>() / (step + 1) as f64;
            assert!((running.mean() - want).abs() < CLOSE, "{step}: {running:?}");
        }
        // Population variance of (0.5, −1.5, 4.0) (the initial var·count = 1e-24 is negligible).
        let want_var = (0.25 + 2.25 + 16.0) / 3.0 - (3.0f64 / 3.0).powi(2);
        assert!((running.var() - want_var).abs() < CLOSE);
        assert!((running.count() - 3.0).abs() < CLOSE);
        Ok(())
    }

    #[test]
    fn running_mean_matches_trl_on_a_vector_batch() -> Result<()> {
        // TRL: RunningMoments().update(tensor([1., 2., 3., 4.])), then update(tensor([10.])).
        let mut running = BcoRunningMean::new();
        running.update(&[1.0, 2.0, 3.0, 4.0])?;
        assert!((running.mean() - 2.5).abs() < CLOSE);
        assert!((running.var() - 1.25).abs() < CLOSE);
        assert!((running.std() - (1.25f64 * 4.0 / 3.0).sqrt()).abs() < CLOSE);
        running.update(&[10.0])?;
        // mean 20/5 = 4; var = (1.25·4 + 7.5²·4·1/5 + 0)/5 = (5 + 45)/5 = 10.
        assert!((running.mean() - 4.0).abs() < CLOSE);
        assert!((running.var() - 10.0).abs() < CLOSE);
        assert!(running.update(&[]).is_err());
        assert!(running.update(&[f64::NAN]).is_err());
        assert!((running.mean() - 4.0).abs() < CLOSE);
        Ok(())
    }
}
