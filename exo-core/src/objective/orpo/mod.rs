//! ORPO: the NLL of the chosen completion plus a log odds-ratio term, with no reference.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, REFERENCE_FREE};
use super::pair::{finish_pair, mean_token_logps};
use super::simpo::scaled_mean_token_logps;
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, OracleOutput, SftNorm};
use crate::{Result, TensorOps};

/// ORPO (Hong et al., 2024, "ORPO: Monolithic Preference Optimization without Reference Model";
/// TRL's `ORPOTrainer`, LLaMA-Factory's `orpo`): supervised fine-tuning on the chosen completion
/// plus λ times a log-sigmoid of the log odds ratio of chosen over rejected, on mean token
/// log-probs.
///
/// ```text
/// ā = log π_θ(y|x) / |y| < 0,   log odds(y) = ā − log(1 − e^{ā})
/// o = log odds(y_w) − log odds(y_l)
/// orpo:      L = −Σ_b log π_θ(y_w) / Σ_b |y_w| − λ mean over pairs of log σ(o)
/// orpo_seq:  L = mean over pairs of −ā_w − λ log σ(o)
/// ```
///
/// The NLL term of `orpo` is TRL's `ORPOTrainer`'s: one cross-entropy over all chosen tokens of
/// the batch (as [`SftNorm::Tokens`]); `orpo_seq` averages per sequence first (LLaMA-Factory's
/// `orpo`, [`SftNorm::Sequence`]). The odds-ratio term is the same in both.
///
/// `log(1 − e^{ā})` is computed stably: `log(−expm1(ā))` for `ā ≥ −log 2`, `log1p(−e^{ā})`
/// below. λ is TRL's ORPO `beta` (0.1). Implied rewards are `λ ā`; the extra diagnostics are
/// TRL's `nll_loss` (each pair's NLL term), `log_odds_ratio` (`log σ(o)`) and `log_odds_chosen` (`o`). Every
/// mean token log-prob must be below 0 (a completion of probability 1 has infinite odds; the loss
/// is then not finite). Gradient in [`oracle::orpo`]. Input: [`Groups::reference_free`] with
/// lengths; shapes `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orpo {
    lambda: Beta,
    nll: SftNorm,
}

impl Orpo {
    /// ORPO with odds-ratio weight λ and TRL's NLL term (`orpo`).
    ///
    /// # Errors
    /// If λ is not finite and positive.
    pub fn new(lambda: f64) -> Result<Self> {
        Self::with_nll(lambda, SftNorm::Tokens)
    }

    /// ORPO with odds-ratio weight λ and the NLL term averaged as `nll` says (`orpo` for
    /// [`SftNorm::Tokens`], `orpo_seq` for [`SftNorm::Sequence`]).
    ///
    /// # Errors
    /// If λ is not finite and positive.
    pub fn with_nll(lambda: f64, nll: SftNorm) -> Result<Self> {
        Ok(Self {
            lambda: Beta::new("orpo_lambda", lambda)?,
            nll,
        })
    }

    /// How the NLL term averages.
    pub fn nll(&self) -> SftNorm {
        self.nll
    }

    /// λ.
    pub fn lambda(&self) -> f64 {
        self.lambda.get()
    }
}

/// `log(1 − eᵃ)` for `a < 0`, stable at both ends (see [`oracle::log1m_exp`]).
fn log1m_exp<B: TensorOps>(a: &B::Tensor) -> Result<B::Tensor> {
    let near = B::detach(&B::ge_scalar(a, -std::f64::consts::LN_2)?)?;
    // Each branch sees only its own inputs; the others get −1, which is safe in both.
    let minus_one = B::add_scalar(&B::mul_scalar(&near, 0.0)?, -1.0)?;
    let a_near = B::select(&near, a, &minus_one)?;
    let a_far = B::select(&near, &minus_one, a)?;
    let near_value = B::log(&B::neg(&B::expm1(&a_near)?)?)?;
    let far_value = B::log1p(&B::neg(&B::exp(&a_far)?)?)?;
    B::select(&near, &near_value, &far_value)
}

impl Objective for Orpo {
    fn name(&self) -> &'static str {
        match self.nll {
            SftNorm::Tokens => "orpo",
            SftNorm::Sequence => "orpo_seq",
        }
    }

    fn beta(&self) -> f64 {
        self.lambda()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn needs_reference(&self) -> bool {
        false
    }

    fn needs_policy_logps(&self) -> bool {
        true
    }

    fn needs_lengths(&self) -> bool {
        true
    }

    fn input_scale(&self) -> f64 {
        1.0
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let mean_logps = mean_token_logps(groups, self.name())?;
        let (a_w, a_l) = groups.split_pair(self.name(), &mean_logps)?;
        let log_odds = |a: &B::Tensor| B::sub(a, &log1m_exp::<B>(a)?);
        let o = B::sub(&log_odds(&a_w)?, &log_odds(&a_l)?)?;
        let log_odds_ratio = B::log_sigmoid(&o)?;
        let nll = match self.nll {
            SftNorm::Sequence => B::neg(&a_w)?,
            SftNorm::Tokens => {
                // −log π_θ(y_w) / n̄ with n̄ the batch's mean chosen length: its mean over pairs
                // is −Σ log π_θ(y_w) / Σ |y_w|.
                let policy = groups.require_policy(self.name())?;
                let lengths = groups.require_lengths(self.name())?;
                let (logp_w, _) = groups.split_pair(self.name(), policy)?;
                let (n_w, _) = groups.split_pair(self.name(), lengths)?;
                B::neg(&B::div(&logp_w, &B::mean_all(&n_w)?)?)?
            }
        };
        let per_group = B::sub(&nll, &B::mul_scalar(&log_odds_ratio, self.lambda())?)?;
        finish_pair(
            groups,
            self.name(),
            &per_group,
            self.lambda(),
            Some(B::mul_scalar(&mean_logps, self.lambda())?),
            (1.0, 0.0),
            vec![
                ("nll_loss", nll),
                ("log_odds_ratio", log_odds_ratio),
                ("log_odds_chosen", o),
            ],
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::orpo(groups, self.lambda(), self.nll)
    }

    fn oracle_implied_rewards(&self, groups: &HostGroups) -> Result<Vec<f64>> {
        scaled_mean_token_logps(groups, self.name(), self.lambda())
    }
}

/// `orpo` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const orpo: Entry<Orpo> = Entry {
    info: ObjectiveInfo {
        name: "orpo",
        aliases: &[],
        formula: "−Σ_b log π_θ(y_w) / Σ_b |y_w| − λ log σ(o), \
                  o = [ā_w − log(1 − e^ā_w)] − [ā_l − log(1 − e^ā_l)]",
        source: "ORPO, Hong et al. 2024, arXiv 2403.07691, NLL as TRL's ORPOTrainer",
        input: REFERENCE_FREE,
        hyper: &[Hyper::OrpoLambda],
    },
    build: |c| Orpo::new(c.orpo_lambda.get()),
};

/// `orpo_seq` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const orpo_seq: Entry<Orpo> = Entry {
    info: ObjectiveInfo {
        name: "orpo_seq",
        aliases: &[],
        formula: "−ā_w − λ log σ(o) (the NLL per sequence)",
        source: "ORPO with the NLL per sequence (LLaMA-Factory's orpo)",
        input: REFERENCE_FREE,
        hyper: &[Hyper::OrpoLambda],
    },
    build: |c| Orpo::with_nll(c.orpo_lambda.get(), SftNorm::Sequence),
};
