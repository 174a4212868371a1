//! Validated hyper-parameters. A value that exists has passed its check.

use crate::{Error, Result};

/// A temperature-like coefficient: finite and strictly positive (β_π, β_r, DPO's β).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Beta(f64);

impl Beta {
    /// A constant the crate knows to satisfy the rule (the defaults).
    pub(crate) const fn known(value: f64) -> Self {
        Self(value)
    }

    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] if `value` is not finite or not `> 0`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "finite and > 0",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A label-smoothing probability strictly inside `(0, 0.5)`: the mass EXO's pairwise target
/// `(1 − ε, ε)` puts on the rejected completion (at 0.5 and above the target no longer prefers
/// the chosen one; at 0 the reverse KL is infinite).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Epsilon(f64);

impl Epsilon {
    /// A constant the crate knows to satisfy the rule (the defaults).
    pub(crate) const fn known(value: f64) -> Self {
        Self(value)
    }

    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] unless `0 < value < 0.5`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if value > 0.0 && value < 0.5 {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "in the open interval (0, 0.5)",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A conservative-DPO label-smoothing probability in `[0, 0.5]` (TRL's `label_smoothing`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct LabelSmoothing(f64);

impl LabelSmoothing {
    /// A constant the crate knows to satisfy the rule (the defaults).
    pub(crate) const fn known(value: f64) -> Self {
        Self(value)
    }

    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] unless `0 ≤ value ≤ 0.5`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if (0.0..=0.5).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "in [0, 0.5]",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The assumed rate of flipped preference labels of robust DPO, in `[0, 0.5)` (TRL's
/// `label_smoothing` for `loss_type="robust"`). At 0.5 the labels carry no information and the
/// unbiased loss divides by `1 − 2ε = 0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct FlipRate(f64);

impl FlipRate {
    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] unless `0 ≤ value < 0.5`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if (0.0..0.5).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "in [0, 0.5)",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A finite, non-negative offset (SimPO's target reward margin γ).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct NonNegative(f64);

impl NonNegative {
    /// A constant the crate knows to satisfy the rule (the defaults).
    pub(crate) const fn known(value: f64) -> Self {
        Self(value)
    }

    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] unless `value` is finite and `≥ 0`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if value.is_finite() && value >= 0.0 {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "finite and >= 0",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Any finite value (BCO's reward shift δ).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Finite(f64);

impl Finite {
    /// A constant the crate knows to satisfy the rule (the defaults).
    pub(crate) const fn known(value: f64) -> Self {
        Self(value)
    }

    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] if `value` is NaN or infinite.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if value.is_finite() {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "finite",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The weight of one term of a [`Mixture`](crate::objective::Mixture): finite and `> 0`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Weight(f64);

impl Weight {
    /// The weight 1.
    pub fn one() -> Self {
        Self(1.0)
    }

    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] if `value` is not finite or not `> 0`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "finite and > 0",
            })
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_rejects_zero_negative_and_non_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = Beta::new("beta_pi", bad).err();
            assert!(
                matches!(
                    err,
                    Some(Error::HyperParameter {
                        name: "beta_pi",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(Beta::new("beta_pi", 0.1).map(Beta::get), Ok(0.1));
    }

    #[test]
    fn epsilon_must_lie_strictly_inside_zero_to_one_half() {
        for bad in [0.0, 0.5, 1.0, -0.1, f64::NAN] {
            assert!(Epsilon::new("epsilon", bad).is_err(), "{bad}");
        }
        let msg = Epsilon::new("epsilon", 0.0).err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("invalid hyper-parameter epsilon = 0: must be in the open interval (0, 0.5)")
        );
    }

    #[test]
    fn label_smoothing_allows_zero_and_half() {
        assert!(LabelSmoothing::new("label_smoothing", 0.0).is_ok());
        assert!(LabelSmoothing::new("label_smoothing", 0.5).is_ok());
        assert!(LabelSmoothing::new("label_smoothing", 0.51).is_err());
    }

    #[test]
    fn flip_rate_excludes_one_half() {
        assert!(FlipRate::new("label_smoothing", 0.0).is_ok());
        assert!(FlipRate::new("label_smoothing", 0.49).is_ok());
        for bad in [0.5, -0.01, f64::NAN] {
            assert!(FlipRate::new("label_smoothing", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_and_weights_are_checked() {
        assert!(NonNegative::new("simpo_gamma", 0.0).is_ok());
        assert!(NonNegative::new("simpo_gamma", -0.1).is_err());
        assert!(Finite::new("bco_delta", -3.0).is_ok());
        assert!(Finite::new("bco_delta", f64::INFINITY).is_err());
        assert!(Weight::new("weight", 0.2).is_ok());
        assert!(Weight::new("weight", 0.0).is_err());
    }
}
