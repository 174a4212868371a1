//! [`LayerHook`]: a function a training step calls between decoder layers.

/// A function a training step calls between its parts: in the decoder's forward pass after
/// every `every` layers (and not after the last), and in the backward pass once the chunked
/// lm_head's deferred backward is done, before the decoder's ([`crate::DeferredLogps::backward`]).
/// A trainer's hook, such as giving the heap's freed pages back to the system
/// (`exo_backend::heap`). It sees no tensor and cannot change a value.
#[derive(Debug, Clone, Copy)]
pub struct LayerHook {
    every: usize,
    run: fn(),
}

impl LayerHook {
    /// Calls `run` after layers `every`, `2 · every`, … (an `every` of 0 counts as 1).
    pub fn new(every: usize, run: fn()) -> Self {
        Self {
            every: every.max(1),
            run,
        }
    }

    /// The number of layers between two calls.
    pub fn every(&self) -> usize {
        self.every
    }

    /// Runs the hook if layer `index` (from 0) of `layers` ends a stretch of `every`.
    pub(crate) fn after_layer(&self, index: usize, layers: usize) {
        if (index + 1).is_multiple_of(self.every) && index + 1 < layers {
            (self.run)();
        }
    }

    /// Runs the hook between the lm_head's deferred backward and the decoder's.
    pub(crate) fn after_head_backward(&self) {
        (self.run)();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn runs_after_every_stretch_but_the_last_layer() {
        let hook = LayerHook::new(3, count);
        let before = CALLS.load(Ordering::SeqCst);
        (0..24).for_each(|i| hook.after_layer(i, 24));
        // After layers 3, 6, …, 21 (7 calls), not after 24, the last.
        assert_eq!(CALLS.load(Ordering::SeqCst) - before, 7);
        assert_eq!(LayerHook::new(0, count).every(), 1);
        let before = CALLS.load(Ordering::SeqCst);
        hook.after_head_backward();
        assert_eq!(CALLS.load(Ordering::SeqCst) - before, 1);
    }
}
