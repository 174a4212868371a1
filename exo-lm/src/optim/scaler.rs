//! Dynamic loss scaling for f16 training, with `torch.amp.GradScaler`'s rule.

/// The loss scale `S` of f16 mixed precision: the loss is multiplied by `S` before the
/// backward pass, so that gradients too small for f16 (below 6·10⁻⁸) do not flush to zero, and
/// the gradients are divided by `S` before clipping and the update. After each optimiser step:
///
/// ```text
/// gradients not finite:  skip the update;  S ← S · ½;  good ← 0
/// finite:                apply it;  good ← good + 1;  if good = 2000: S ← S · 2, good ← 0
/// ```
///
/// with `S₀ = 2¹⁶`, as `GradScaler(init_scale=2**16, growth_factor=2, backoff_factor=0.5,
/// growth_interval=2000)`. bf16 has f32's exponent range and needs none.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossScaler {
    /// `S`.
    pub scale: f64,
    /// Finite steps since `S` last changed.
    pub good_steps: u64,
}

impl LossScaler {
    /// `S₀`.
    pub const INITIAL: f64 = 65536.0;
    /// Finite steps after which `S` doubles.
    pub const GROWTH_INTERVAL: u64 = 2000;

    /// A scaler at `S₀`.
    pub fn new() -> Self {
        Self {
            scale: Self::INITIAL,
            good_steps: 0,
        }
    }

    /// Records whether this step's (unscaled) gradients were finite and returns whether the
    /// update is to be applied.
    pub fn update(&mut self, finite: bool) -> bool {
        if finite {
            self.good_steps += 1;
            if self.good_steps == Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale *= 0.5;
            self.good_steps = 0;
        }
        finite
    }
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_halves_on_overflow_and_doubles_after_the_growth_interval() {
        let mut s = LossScaler::new();
        assert!(!s.update(false));
        assert_eq!(s.scale, LossScaler::INITIAL / 2.0);
        for _ in 0..LossScaler::GROWTH_INTERVAL - 1 {
            assert!(s.update(true));
        }
        assert_eq!(s.scale, LossScaler::INITIAL / 2.0);
        assert!(s.update(true));
        assert_eq!((s.scale, s.good_steps), (LossScaler::INITIAL, 0));
        s.update(true);
        s.update(false);
        assert_eq!((s.scale, s.good_steps), (LossScaler::INITIAL / 2.0, 0));
    }
}
