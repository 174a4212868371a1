//! Learning-rate schedules with linear warm-up, as in transformers' `get_*_schedule_with_warmup`.

use crate::Result;
use crate::error::check_hyper;

/// A multiplier of the peak learning rate as a function of the optimiser step `s` (0-based:
/// the factor used for the `(s+1)`-th update). With warm-up `w` and `S` total steps:
///
/// ```text
/// warm-up (s < w):  f(s) = s / w
/// Constant:         f(s) = 1
/// Linear:           f(s) = max(0, (S − s) / (S − w))
/// Cosine:           f(s) = r + (1 − r) · ½ (1 + cos(π · min(1, (s − w) / (S − w))))
/// ```
///
/// (`r` is the floor `min_lr_ratio`.) As in transformers, the first warm-up step has factor 0.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum LrSchedule {
    /// `f = 1` throughout.
    Constant,
    /// Linear warm-up to 1, then constant.
    ConstantWithWarmup {
        /// Warm-up steps `w`.
        warmup_steps: usize,
    },
    /// Linear warm-up, then linear decay to 0 at `total_steps`.
    Linear {
        /// Warm-up steps `w`.
        warmup_steps: usize,
        /// Total steps `S`.
        total_steps: usize,
    },
    /// Linear warm-up, then a half cosine from 1 down to `min_lr_ratio` at `total_steps`.
    Cosine {
        /// Warm-up steps `w`.
        warmup_steps: usize,
        /// Total steps `S`.
        total_steps: usize,
        /// The floor `r ∈ [0, 1]` (0 in transformers).
        min_lr_ratio: f64,
    },
}

impl LrSchedule {
    /// Checks the schedule.
    ///
    /// # Errors
    /// [`crate::LmError::HyperParameter`] if `min_lr_ratio` is outside `[0, 1]` or the warm-up
    /// is longer than the schedule.
    pub fn validate(&self) -> Result<()> {
        #[allow(clippy::cast_precision_loss)]
        match *self {
            Self::Constant | Self::ConstantWithWarmup { .. } => Ok(()),
            Self::Linear {
                warmup_steps,
                total_steps,
            } => check_hyper("warmup_steps", warmup_steps as f64, "<= total_steps", |w| {
                w <= total_steps as f64
            })
            .map(|_| ()),
            Self::Cosine {
                warmup_steps,
                total_steps,
                min_lr_ratio,
            } => {
                check_hyper("warmup_steps", warmup_steps as f64, "<= total_steps", |w| {
                    w <= total_steps as f64
                })?;
                check_hyper("min_lr_ratio", min_lr_ratio, "in [0, 1]", |r| {
                    (0.0..=1.0).contains(&r)
                })
                .map(|_| ())
            }
        }
    }

    /// The factor `f(step)`.
    #[allow(clippy::cast_precision_loss)]
    pub fn factor(&self, step: usize) -> f64 {
        let warm = |w: usize| (step < w).then(|| step as f64 / w as f64);
        match *self {
            Self::Constant => 1.0,
            Self::ConstantWithWarmup { warmup_steps } => warm(warmup_steps).unwrap_or(1.0),
            Self::Linear {
                warmup_steps,
                total_steps,
            } => warm(warmup_steps).unwrap_or_else(|| {
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                (total_steps.saturating_sub(step) as f64 / span).max(0.0)
            }),
            Self::Cosine {
                warmup_steps,
                total_steps,
                min_lr_ratio,
            } => warm(warmup_steps).unwrap_or_else(|| {
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                min_lr_ratio + (1.0 - min_lr_ratio) * cosine
            }),
        }
    }
}
