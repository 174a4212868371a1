//! Weighted sums of objectives (TRL's `loss_type=[...]` with `loss_weights`).

use super::{AnyObjective, Groups, Objective, ObjectiveOutput};
use crate::hyper::Weight;
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Error, Result, TensorOps};

/// A weighted sum of objectives on one input, as TRL's `loss_type=[...]` with `loss_weights`
/// (MPO: `sigmoid` 0.8 + `bco_pair` 0.2 + `sft` 1.0) and RPO (`dpo` + α `sft`).
///
/// ```text
/// L = Σ_k w_k L_k                 per-group:  ℓ_b = Σ_k w_k ℓ_{k,b}
/// ∂L/∂ log π_θ = Σ_k w_k ∂L_k/∂ log π_θ
/// ```
///
/// The input must satisfy every term (rewards, log-probs, lengths: the `needs_*` methods are the
/// union). The diagnostics are the first term's, plus each term's extra metrics and, for more than
/// one term, each term's per-group loss as `loss/<name>`. Built by hand or from an
/// [`ObjectiveSpec`](super::ObjectiveSpec) such as `exo:1.0,sft:0.2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    terms: Vec<(Weight, AnyObjective)>,
}

impl Mixture {
    /// `Σ w_k L_k` over `(w_k, L_k)`.
    ///
    /// # Errors
    /// [`Error::Input`] if there are no terms; [`Error::HyperParameter`] if a weight is not finite
    /// and positive.
    pub fn new(terms: Vec<(f64, AnyObjective)>) -> Result<Self> {
        if terms.is_empty() {
            return Err(Error::Input {
                objective: "mixture",
                message: "needs at least one term".into(),
            });
        }
        let terms = terms
            .into_iter()
            .map(|(w, o)| Ok((Weight::new("weight", w)?, o)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { terms })
    }

    /// One objective with weight 1.
    pub fn single(objective: AnyObjective) -> Self {
        Self {
            terms: vec![(Weight::one(), objective)],
        }
    }

    /// The terms as `(w_k, L_k)`.
    pub fn terms(&self) -> impl Iterator<Item = (f64, &AnyObjective)> {
        self.terms.iter().map(|(w, o)| (w.get(), o))
    }
}

impl Objective for Mixture {
    fn name(&self) -> &'static str {
        match self.terms.as_slice() {
            [(_, only)] => only.name(),
            _ => "mixture",
        }
    }

    fn beta(&self) -> f64 {
        self.terms.first().map_or(1.0, |(_, o)| o.beta())
    }

    fn needs_rewards(&self) -> bool {
        self.terms.iter().any(|(_, o)| o.needs_rewards())
    }

    fn needs_reference(&self) -> bool {
        self.terms.iter().any(|(_, o)| o.needs_reference())
    }

    fn needs_policy_logps(&self) -> bool {
        self.terms.iter().any(|(_, o)| o.needs_policy_logps())
    }

    fn needs_lengths(&self) -> bool {
        self.terms.iter().any(|(_, o)| o.needs_lengths())
    }

    fn input_scale(&self) -> f64 {
        self.terms
            .iter()
            .map(|(_, o)| o.input_scale())
            .fold(f64::INFINITY, f64::min)
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let several = self.terms.len() > 1;
        let mut total: Option<ObjectiveOutput<B>> = None;
        for (w, objective) in &self.terms {
            let w = w.get();
            let out = objective.forward(groups)?;
            let loss = B::mul_scalar(&out.loss, w)?;
            let per_group = B::mul_scalar(&out.per_group, w)?;
            let mut extra = out.diagnostics.extra;
            if several {
                extra.push((format!("loss/{}", objective.name()), out.per_group));
            }
            total = Some(match total {
                None => ObjectiveOutput {
                    loss,
                    per_group,
                    diagnostics: super::Diagnostics {
                        extra,
                        ..out.diagnostics
                    },
                },
                Some(mut acc) => {
                    acc.loss = B::add(&acc.loss, &loss)?;
                    acc.per_group = B::add(&acc.per_group, &per_group)?;
                    for (name, t) in extra {
                        let taken = acc.diagnostics.extra.iter().any(|(n, _)| *n == name);
                        let name = if taken {
                            format!("{}/{name}", objective.name())
                        } else {
                            name
                        };
                        acc.diagnostics.extra.push((name, t));
                    }
                    acc
                }
            });
        }
        total.ok_or_else(|| Error::Input {
            objective: "mixture",
            message: "needs at least one term".into(),
        })
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        let outs = self
            .terms
            .iter()
            .map(|(w, o)| Ok((w.get(), o.oracle(groups)?)))
            .collect::<Result<Vec<_>>>()?;
        OracleOutput::weighted_sum(&outs)
    }

    fn oracle_implied_rewards(&self, groups: &HostGroups) -> Result<Vec<f64>> {
        match self.terms.first() {
            Some((_, o)) => o.oracle_implied_rewards(groups),
            None => Ok(groups.log_ratios().to_vec()),
        }
    }
}
