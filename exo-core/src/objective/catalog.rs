//! The catalog of objectives: every name the CLI and specs accept, with its formula, source,
//! input and hyper-parameters, from which `exo objectives`, the README table and
//! [`ObjectiveKind::build`] are all derived.
//!
//! Each objective's entry (an [`Entry`]: its [`ObjectiveInfo`] and how to build it from an
//! [`ObjectiveConfig`]) lives in its folder; [`ObjectiveKind`] and [`AnyObjective`] are generated
//! here from the registry ([`crate::__objectives!`], `objective/registry.rs`).

use super::{Groups, Objective, ObjectiveOutput};
use crate::objective::ObjectiveConfig;
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// A hyper-parameter of [`ObjectiveConfig`], by its user-facing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hyper {
    /// `beta`: β (β_π for EXO and DPO-rw; IPO's τ).
    Beta,
    /// `beta_r`: the reward temperature β_r.
    BetaR,
    /// `label_smoothing`: ε of cDPO, AOT and SimPO; robust DPO's flip rate.
    LabelSmoothing,
    /// `exo_epsilon`: ε of pairwise EXO's target `(1 − ε, ε)`.
    ExoEpsilon,
    /// `discopop_tau`: DiscoPOP's τ.
    DiscopopTau,
    /// `simpo_gamma`: SimPO's target reward margin γ.
    SimpoGamma,
    /// `orpo_lambda`: ORPO's odds-ratio weight λ.
    OrpoLambda,
    /// `bco_delta`: BCO's reward shift δ (fixed; see [`BcoRunningMean`](super::BcoRunningMean)).
    BcoDelta,
}

impl Hyper {
    /// The name in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Beta => "beta",
            Self::BetaR => "beta_r",
            Self::LabelSmoothing => "label_smoothing",
            Self::ExoEpsilon => "exo_epsilon",
            Self::DiscopopTau => "discopop_tau",
            Self::SimpoGamma => "simpo_gamma",
            Self::OrpoLambda => "orpo_lambda",
            Self::BcoDelta => "bco_delta",
        }
    }

    /// Its value in `config`.
    pub fn value(self, config: &ObjectiveConfig) -> f64 {
        match self {
            Self::Beta => config.beta.get(),
            Self::BetaR => config.beta_r.get(),
            Self::LabelSmoothing => config.label_smoothing.get(),
            Self::ExoEpsilon => config.exo_epsilon.get(),
            Self::DiscopopTau => config.discopop_tau.get(),
            Self::SimpoGamma => config.simpo_gamma.get(),
            Self::OrpoLambda => config.orpo_lambda.get(),
            Self::BcoDelta => config.bco_delta.get(),
        }
    }
}

/// What the catalog says about one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectiveInfo {
    /// The CLI name.
    pub name: &'static str,
    /// Other accepted names (TRL's where they differ).
    pub aliases: &'static [&'static str],
    /// The per-group loss, in the notation of [`crate::objective`].
    pub formula: &'static str,
    /// The source paper (and the peer whose variant it is).
    pub source: &'static str,
    /// What the objective reads.
    pub input: &'static str,
    /// The hyper-parameters it reads from [`ObjectiveConfig`].
    pub hyper: &'static [Hyper],
}

/// One objective's catalog entry, next to its loss in its folder: what [`ObjectiveKind::info`]
/// says about it and how [`ObjectiveKind::build`] builds it.
pub(crate) struct Entry<O> {
    /// The catalog's description.
    pub(crate) info: ObjectiveInfo,
    /// The objective with the hyper-parameters of a config (validated).
    pub(crate) build: fn(&ObjectiveConfig) -> Result<O>,
}

/// [`ObjectiveInfo::input`] of the plain pairwise objectives.
pub(crate) const PAIRS: &str = "pairs";
/// [`ObjectiveInfo::input`] of the length-normalised pairwise objectives.
pub(crate) const PAIRS_LENGTHS: &str = "pairs, lengths";
/// [`ObjectiveInfo::input`] of the reference-free pairwise objectives.
pub(crate) const REFERENCE_FREE: &str = "pairs, policy log-probs, lengths; no reference";

/// Whether two strings are equal, at compile time (the registry checks that each line's name is
/// its entry's [`ObjectiveInfo::name`]).
const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Generates [`ObjectiveKind`] and [`AnyObjective`] from the registry's table.
macro_rules! catalog {
    ($(
        $folder:ident $name:ident $kind:ident => $variant:ident $(($ty:ident))?
    ),* $(,)?) => {
        /// One objective of the catalog, by its CLI name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ObjectiveKind {
            $(
                #[doc = concat!("`", stringify!($name), "` ([`AnyObjective::", stringify!($variant),
                    "`]).")]
                $kind,
            )*
        }

        $(
            const _: () = assert!(
                same_name(super::$folder::$name.info.name, stringify!($name)),
                concat!("the registry's `", stringify!($name), "` is not its entry's name"),
            );
        )*

        impl ObjectiveKind {
            /// Every objective, in the order of the docs.
            pub const ALL: [Self; [$(stringify!($kind)),*].len()] = [$(Self::$kind),*];

            /// The CLI name.
            pub fn name(self) -> &'static str {
                self.info().name
            }

            /// The objective named `name` (or one of its aliases), case-insensitive, `-` read as
            /// `_`.
            pub fn from_name(name: &str) -> Option<Self> {
                let name = name.trim().to_ascii_lowercase().replace('-', "_");
                Self::ALL.into_iter().find(|kind| {
                    let info = kind.info();
                    info.name == name || info.aliases.contains(&name.as_str())
                })
            }

            /// The objective with the hyper-parameters of `config`.
            ///
            /// # Errors
            /// If a hyper-parameter it reads fails validation.
            pub fn build(self, config: &ObjectiveConfig) -> Result<AnyObjective> {
                match self {
                    $(Self::$kind => {
                        (super::$folder::$name.build)(config).map(AnyObjective::$variant)
                    })*
                }
            }

            /// The catalog entry.
            pub fn info(self) -> ObjectiveInfo {
                match self {
                    $(Self::$kind => super::$folder::$name.info,)*
                }
            }
        }

        /// Any of the objectives, chosen at run time (for the CLI and configuration files).
        /// Weighted sums of them are [`Mixture`](super::Mixture)s.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum AnyObjective {
            $($(
                #[doc = concat!("See [`", stringify!($ty), "`](super::", stringify!($ty), ").")]
                $variant(super::$ty),
            )?)*
        }

        impl Objective for AnyObjective {
            fn name(&self) -> &'static str {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::name(o),)?)*
                }
            }

            fn beta(&self) -> f64 {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::beta(o),)?)*
                }
            }

            fn needs_rewards(&self) -> bool {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::needs_rewards(o),)?)*
                }
            }

            fn needs_reference(&self) -> bool {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::needs_reference(o),)?)*
                }
            }

            fn needs_policy_logps(&self) -> bool {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::needs_policy_logps(o),)?)*
                }
            }

            fn needs_lengths(&self) -> bool {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::needs_lengths(o),)?)*
                }
            }

            fn input_scale(&self) -> f64 {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::input_scale(o),)?)*
                }
            }

            fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::forward(o, groups),)?)*
                }
            }

            fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
                match self {
                    $($(Self::$variant(o) => <super::$ty as Objective>::oracle(o, groups),)?)*
                }
            }

            fn oracle_implied_rewards(&self, groups: &HostGroups) -> Result<Vec<f64>> {
                match self {
                    $($(Self::$variant(o) => {
                        <super::$ty as Objective>::oracle_implied_rewards(o, groups)
                    })?)*
                }
            }
        }
    };
}

crate::__objectives!(catalog);
