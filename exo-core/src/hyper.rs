//! Validated hyper-parameters. A value that exists has passed its check.

use crate::{Error, Result};

/// A temperature-like coefficient: finite and strictly positive (β_π, β_r, DPO's β).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Beta(f64);

impl Beta {
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

/// A label-smoothing probability strictly inside `(0, 1)`: the mass EXO's pairwise target puts on
/// the rejected completion.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Epsilon(f64);

impl Epsilon {
    /// Checks `value` under the user-facing `name`.
    ///
    /// # Errors
    /// [`Error::HyperParameter`] unless `0 < value < 1`.
    pub fn new(name: &'static str, value: f64) -> Result<Self> {
        if value > 0.0 && value < 1.0 {
            Ok(Self(value))
        } else {
            Err(Error::HyperParameter {
                name,
                value,
                requirement: "in the open interval (0, 1)",
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
    fn epsilon_must_lie_strictly_inside_the_unit_interval() {
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(Epsilon::new("epsilon", bad).is_err(), "{bad}");
        }
        let msg = Epsilon::new("epsilon", 0.0).err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("invalid hyper-parameter epsilon = 0: must be in the open interval (0, 1)")
        );
    }

    #[test]
    fn label_smoothing_allows_zero_and_half() {
        assert!(LabelSmoothing::new("label_smoothing", 0.0).is_ok());
        assert!(LabelSmoothing::new("label_smoothing", 0.5).is_ok());
        assert!(LabelSmoothing::new("label_smoothing", 0.51).is_err());
    }
}
