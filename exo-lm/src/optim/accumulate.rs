//! Gradient accumulation over micro-batches.

use crate::{Gradients, ModelOps, Result};

/// Sums the gradients of `k` micro-batches and hands back their mean:
///
/// ```text
/// ḡ = (1/k) Σ_{i=1}^{k} g_i
/// ```
///
/// With losses that are means over equally sized micro-batches, `ḡ` is the gradient of the
/// mean loss over their union.
#[derive(Debug)]
pub struct GradAccumulator<B: ModelOps> {
    sum: Option<Gradients<B>>,
    count: usize,
}

impl<B: ModelOps> Default for GradAccumulator<B> {
    fn default() -> Self {
        Self {
            sum: None,
            count: 0,
        }
    }
}

impl<B: ModelOps> GradAccumulator<B> {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many micro-batches have been added since the last [`GradAccumulator::take_mean`].
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds one micro-batch's gradients.
    ///
    /// # Errors
    /// If the gradients do not match the earlier ones.
    pub fn add(&mut self, grads: Gradients<B>) -> Result<()> {
        match &mut self.sum {
            Some(sum) => sum.add_assign(&grads)?,
            None => self.sum = Some(grads),
        }
        self.count += 1;
        Ok(())
    }

    /// The mean of the added gradients (`None` if none were added), emptying the accumulator.
    ///
    /// # Errors
    /// If an op fails.
    pub fn take_mean(&mut self) -> Result<Option<Gradients<B>>> {
        let count = std::mem::take(&mut self.count);
        match self.sum.take() {
            Some(mut sum) => {
                if count > 1 {
                    #[allow(clippy::cast_precision_loss)]
                    sum.scale(1.0 / count as f64)?;
                }
                Ok(Some(sum))
            }
            None => Ok(None),
        }
    }
}
