//! The key/value cache of incremental decoding.

use crate::layers::attention::LayerKv;
use crate::{LmError, ModelOps, Result};

/// The per-layer key/value cache of an incremental forward pass (see `crate::sample`).
#[derive(Debug, Clone)]
pub(crate) struct KvCache<B: ModelOps> {
    pub(crate) layers: Vec<Option<LayerKv<B>>>,
}

impl<B: ModelOps> KvCache<B> {
    pub(crate) fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
        }
    }

    /// Repeats every row `k` times in place (`[N, …]` → `[N·k, …]`, row `i · k + j` a copy of
    /// row `i`): one prefilled prompt becomes the cache of its `k` samples.
    ///
    /// # Errors
    /// If a cached tensor is not `[N, H_kv, T, D]`.
    pub(crate) fn repeat_rows(&mut self, k: usize) -> Result<()> {
        let repeat = |t: &B::Tensor| -> Result<B::Tensor> {
            let dims = B::dims(t);
            let &[n, heads, len, d] = dims.as_slice() else {
                return Err(LmError::input(
                    "repeat_rows",
                    format!("a cached tensor of shape {dims:?}, not [N, H_kv, T, D]"),
                ));
            };
            let wide = B::broadcast_as(
                &B::reshape(t, &[n, 1, heads * len * d])?,
                &[n, k, heads * len * d],
            )?;
            Ok(B::reshape(&wide, &[n * k, heads, len, d])?)
        };
        for kv in self.layers.iter_mut().flatten() {
            kv.k = repeat(&kv.k)?;
            kv.v = repeat(&kv.v)?;
        }
        Ok(())
    }
}
