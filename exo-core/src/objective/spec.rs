//! Objective specs (`exo:1.0,sft:0.2`) and the hyper-parameters they are built with.

use std::fmt;
use std::str::FromStr;

use std::collections::BTreeMap;

use super::{Mixture, ObjectiveKind};
use crate::hyper::{Beta, Epsilon, Finite, LabelSmoothing, NonNegative};
use crate::{Error, Result};

/// The hyper-parameters of every objective in one place, with TRL's defaults where TRL has the
/// loss. Each field is a validated type of [`crate::hyper`], so a config that exists holds only
/// valid values; each objective reads the fields its [`ObjectiveInfo::hyper`](super::ObjectiveInfo)
/// lists (robust DPO also checks that its `label_smoothing` is below 0.5).
///
/// Set fields by name from plain numbers with the `with_*` methods, which apply the field's rule
/// and name the field in the error:
///
/// ```
/// use exo_core::objective::ObjectiveConfig;
///
/// # fn main() -> exo_core::Result<()> {
/// let config = ObjectiveConfig::default().with_beta(0.2)?.with_beta_r(0.5)?;
/// assert_eq!(config.beta.get(), 0.2);
/// assert!(ObjectiveConfig::default().with_exo_epsilon(0.5).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectiveConfig {
    /// β (β_π of EXO and DPO-rw; IPO's τ; TRL's `beta`). Default 0.1.
    pub beta: Beta,
    /// β_r, the reward temperature of EXO and DPO-rw. Default 0.1.
    pub beta_r: Beta,
    /// ε of cDPO, AOT and SimPO, and robust DPO's label-flip rate (TRL's `label_smoothing`),
    /// in [0, 0.5]. Default 0.
    pub label_smoothing: LabelSmoothing,
    /// ε of pairwise EXO's target `(1 − ε, ε)` (TRL's `label_smoothing` for `exo_pair`), in
    /// (0, 0.5). Default 1e-3, the paper's advice.
    pub exo_epsilon: Epsilon,
    /// DiscoPOP's τ (TRL's `discopop_tau`). Default 0.05.
    pub discopop_tau: Beta,
    /// SimPO's target reward margin γ (TRL CPO's `simpo_gamma`). Default 0.5.
    pub simpo_gamma: NonNegative,
    /// ORPO's odds-ratio weight λ (TRL ORPO's `beta`). Default 0.1.
    pub orpo_lambda: Beta,
    /// BCO's reward shift δ, held fixed (TRL 1.x; `exo train --bco-delta`). Default 0. A trainer
    /// that wants TRL 0.x's running mean updates it with
    /// [`BcoRunningMean`](super::BcoRunningMean) between steps.
    pub bco_delta: Finite,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            beta: Beta::known(0.1),
            beta_r: Beta::known(0.1),
            label_smoothing: LabelSmoothing::known(0.0),
            exo_epsilon: Epsilon::known(super::exo_pair::DEFAULT_EPSILON),
            discopop_tau: Beta::known(0.05),
            simpo_gamma: NonNegative::known(0.5),
            orpo_lambda: Beta::known(0.1),
            bco_delta: Finite::known(0.0),
        }
    }
}

/// `with_<field>(value)`: the config with one field set, checked by the field's type.
macro_rules! setters {
    ($($(#[$doc:meta])* $method:ident => $field:ident: $ty:ident;)*) => {
        impl ObjectiveConfig {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// [`Error::HyperParameter`] naming the field if `value` breaks its rule.
                pub fn $method(mut self, value: f64) -> Result<Self> {
                    self.$field = $ty::new(stringify!($field), value)?;
                    Ok(self)
                }
            )*
        }
    };
}

setters! {
    /// Sets β (finite and > 0).
    with_beta => beta: Beta;
    /// Sets β_r (finite and > 0).
    with_beta_r => beta_r: Beta;
    /// Sets the label smoothing (in [0, 0.5]).
    with_label_smoothing => label_smoothing: LabelSmoothing;
    /// Sets pairwise EXO's ε (in (0, 0.5)).
    with_exo_epsilon => exo_epsilon: Epsilon;
    /// Sets DiscoPOP's τ (finite and > 0).
    with_discopop_tau => discopop_tau: Beta;
    /// Sets SimPO's γ (finite and ≥ 0).
    with_simpo_gamma => simpo_gamma: NonNegative;
    /// Sets ORPO's λ (finite and > 0).
    with_orpo_lambda => orpo_lambda: Beta;
    /// Sets BCO's δ (finite).
    with_bco_delta => bco_delta: Finite;
}

/// One term of a spec: an objective and its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecTerm {
    /// Which objective.
    pub kind: ObjectiveKind,
    /// Its weight (finite and > 0).
    pub weight: f64,
}

/// What `--objective` takes: one objective name, or a weighted sum of them.
///
/// ```text
/// spec  = term ("," term)*
/// term  = name (":" weight)?          weight defaults to 1
/// ```
///
/// Names are those of [`ObjectiveKind::ALL`] or their aliases, case-insensitive, with `-` read as
/// `_`; each may appear once; weights must be finite and `> 0`. `dpo` is DPO alone;
/// `exo:1.0,sft:0.2` is EXO plus 0.2 times the SFT term; `sigmoid:0.8,bco_pair:0.2,sft:1` is MPO.
///
/// ```
/// use exo_core::objective::{ObjectiveConfig, ObjectiveKind, ObjectiveSpec};
/// use exo_core::Objective;
///
/// # fn main() -> exo_core::Result<()> {
/// let spec: ObjectiveSpec = "exo:1.0,sft:0.2".parse()?;
/// assert_eq!(spec.terms()[1].kind, ObjectiveKind::Sft);
/// let mixture = spec.build(&ObjectiveConfig::default())?;
/// assert!(mixture.needs_rewards() && mixture.needs_lengths());
/// assert_eq!(spec.to_string(), "exo:1,sft:0.2");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveSpec {
    terms: Vec<SpecTerm>,
}

impl ObjectiveSpec {
    /// The terms, in the order given.
    pub fn terms(&self) -> &[SpecTerm] {
        &self.terms
    }

    /// The weighted sum of the named objectives with the hyper-parameters of `config`.
    ///
    /// # Errors
    /// If a hyper-parameter fails validation.
    pub fn build(&self, config: &ObjectiveConfig) -> Result<Mixture> {
        let terms = self
            .terms
            .iter()
            .map(|t| Ok((t.weight, t.kind.build(config)?)))
            .collect::<Result<Vec<_>>>()?;
        Mixture::new(terms)
    }

    /// The hyper-parameters the terms read, by name, with their values in `config`: with the
    /// canonical spec text (`to_string`), what identifies the objective of a run (e.g. in a
    /// resume fingerprint), independent of the fields no term reads.
    pub fn hyper_parameters(&self, config: &ObjectiveConfig) -> BTreeMap<&'static str, f64> {
        self.terms
            .iter()
            .flat_map(|t| t.kind.info().hyper.iter())
            .map(|h| (h.name(), h.value(config)))
            .collect()
    }
}

impl FromStr for ObjectiveSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        let fail = |message: String| Error::ObjectiveSpec {
            spec: spec.to_owned(),
            message,
        };
        if spec.trim().is_empty() {
            return Err(fail(
                "expected an objective name, as in `dpo` or `exo:1.0,sft:0.2`".into(),
            ));
        }
        let mut terms: Vec<SpecTerm> = Vec::new();
        for part in spec.split(',') {
            let (name, weight) = match part.split_once(':') {
                Some((name, weight)) => (name.trim(), Some(weight.trim())),
                None => (part.trim(), None),
            };
            let kind = ObjectiveKind::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = ObjectiveKind::ALL.iter().map(|k| k.name()).collect();
                fail(format!(
                    "unknown objective `{name}`; known: {}",
                    known.join(", ")
                ))
            })?;
            let weight = match weight {
                None => 1.0,
                Some(w) => w
                    .parse::<f64>()
                    .ok()
                    .filter(|w| w.is_finite() && *w > 0.0)
                    .ok_or_else(|| {
                        fail(format!(
                            "the weight of `{name}` must be a finite number > 0, got `{w}`"
                        ))
                    })?,
            };
            if terms.iter().any(|t| t.kind == kind) {
                return Err(fail(format!("`{}` appears twice", kind.name())));
            }
            terms.push(SpecTerm { kind, weight });
        }
        Ok(Self { terms })
    }
}

impl fmt::Display for ObjectiveSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", t.kind.name(), t.weight)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Objective;

    #[test]
    fn every_name_and_alias_parses_to_its_kind() -> Result<()> {
        for kind in ObjectiveKind::ALL {
            let info = kind.info();
            for name in std::iter::once(info.name).chain(info.aliases.iter().copied()) {
                let spec: ObjectiveSpec = name.parse()?;
                assert_eq!(spec.terms(), [SpecTerm { kind, weight: 1.0 }], "{name}");
                assert_eq!(
                    ObjectiveKind::from_name(&name.to_uppercase().replace('_', "-")),
                    Some(kind)
                );
            }
            // Each kind builds with the defaults, under its own name.
            assert_eq!(kind.build(&ObjectiveConfig::default())?.name(), info.name);
        }
        Ok(())
    }

    #[test]
    fn weights_names_and_duplicates_are_checked() -> Result<()> {
        let spec: ObjectiveSpec = " sigmoid:0.8 , bco_pair:0.2,sft:1".parse()?;
        assert_eq!(spec.to_string(), "dpo:0.8,bco_pair:0.2,sft:1");
        let message = |s: &str| {
            s.parse::<ObjectiveSpec>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            message("dpo:-1"),
            "invalid objective spec \"dpo:-1\": the weight of `dpo` must be a finite number > 0, \
             got `-1`"
        );
        assert!(message("kto").contains("unknown objective `kto`; known: exo, exo_pair"));
        assert!(message("dpo,sigmoid:2").ends_with("`dpo` appears twice"));
        assert!(message("").contains("expected an objective name"));
        assert!(message("dpo,").contains("unknown objective ``"));
        Ok(())
    }

    #[test]
    fn building_validates_the_config() {
        let err = ObjectiveConfig::default().with_beta(0.0).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("invalid hyper-parameter beta = 0: must be finite and > 0")
        );
        let config = ObjectiveConfig::default().with_label_smoothing(0.5);
        let spec: std::result::Result<ObjectiveSpec, _> = "robust".parse();
        let err = config.and_then(|c| spec.and_then(|s| s.build(&c))).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("invalid hyper-parameter label_smoothing = 0.5: must be in [0, 0.5)")
        );
    }
}
