//! Causal self-attention with grouped-query heads, rotary positions and a key/value cache.
//!
//! ```text
//! q = x W_qᵀ (+ b_q) → [N, H, T, D]      k, v = x W_kᵀ, x W_vᵀ (+ b) → [N, H_kv, T, D]
//! q, k = rope(q), rope(k)
//! k, v = cat(cache_k, k), cat(cache_v, v)            (along T, when decoding)
//! out  = attention(q, k, v, bias, 1/√D) → [N, T, H·D] → W_oᵀ (+ b_o)
//! ```

use exo_core::{Error, Result};

use crate::ModelOps;
use crate::layers::linear::Linear;

/// The additive bias of a masked-out score: `f32::MIN`, as transformers uses `finfo.min`. It is
/// finite, so a row with no visible key (a padding query) still gets a finite softmax instead
/// of NaNs that would poison the backward pass.
pub const MASKED: f32 = f32::MIN;

/// [`MASKED`] in a tensor of `dtype`: f32 and f64 keep it; a 16-bit dtype, where `f32::MIN`
/// rounds to `-∞` (a padding query would then get NaNs), gets a finite value far enough from
/// its largest finite one that adding a score cannot overflow (bf16: `-10³⁸`, f16: `-2¹⁵`);
/// `exp` of either is 0 in the f32 softmax.
pub fn masked_in(dtype: exo_core::DType) -> f32 {
    match dtype {
        exo_core::DType::BF16 => -1e38,
        exo_core::DType::F16 => -32768.0,
        _ => MASKED,
    }
}

/// The additive attention bias `[N, 1, Tq, Tk]` (row-major, flattened) for queries at cache
/// slots `q_start .. q_start + Tq` over keys at slots `0 .. Tk`:
///
/// ```text
/// bias[n, 0, i, j] = 0        if key_mask[n, j] and j ≤ q_start + i   (causal, not padding)
///                  = MASKED   otherwise
/// ```
///
/// `key_mask` is `[N, Tk]`, `true` on real tokens and `false` on padding.
///
/// # Errors
/// If `key_mask.len() != n · tk` or the queries run past the keys.
pub fn attention_bias(
    key_mask: &[bool],
    n: usize,
    tk: usize,
    q_start: usize,
    tq: usize,
) -> Result<Vec<f32>> {
    if key_mask.len() != n * tk || q_start + tq > tk {
        return Err(Error::shape(
            "attention_bias",
            format!(
                "a key mask of [{n}, {tk}] covering queries {q_start}..{}",
                q_start + tq
            ),
            &[key_mask.len()],
        ));
    }
    let mut bias = Vec::with_capacity(n * tq * tk);
    for row in key_mask.chunks(tk) {
        for i in 0..tq {
            bias.extend(row.iter().enumerate().map(|(j, &real)| {
                if real && j <= q_start + i {
                    0.0
                } else {
                    MASKED
                }
            }));
        }
    }
    Ok(bias)
}

/// The keys and values one layer has seen so far, `[N, H_kv, T_past, D]` each.
#[derive(Debug, Clone)]
pub(crate) struct LayerKv<B: ModelOps> {
    pub(crate) k: B::Tensor,
    pub(crate) v: B::Tensor,
}

/// One attention block's weights and head layout.
#[derive(Debug, Clone)]
pub(crate) struct Attention<B: ModelOps> {
    pub(crate) q_proj: Linear<B>,
    pub(crate) k_proj: Linear<B>,
    pub(crate) v_proj: Linear<B>,
    pub(crate) o_proj: Linear<B>,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

/// The per-forward inputs every attention block shares: rotary tables and the mask bias.
#[derive(Debug, Clone)]
pub(crate) struct AttentionInputs<B: ModelOps> {
    /// `[N, 1, T, D]`.
    pub(crate) cos: B::Tensor,
    /// `[N, 1, T, D]`.
    pub(crate) sin: B::Tensor,
    /// `[N, 1, T, T_past + T]`.
    pub(crate) bias: B::Tensor,
    /// The seed of this forward pass's LoRA dropout masks (`None`: no dropout). It rides with
    /// the attention inputs because they are what every layer of one forward pass shares, and
    /// what a recomputed layer is given again.
    pub(crate) dropout_seed: Option<u64>,
}

impl<B: ModelOps> Attention<B> {
    /// `x` `[N, T, d]` → `[N, T, d]`; with `cache`, prepends the cached keys/values and stores
    /// the extended ones back.
    pub(crate) fn forward(
        &self,
        x: &B::Tensor,
        inputs: &AttentionInputs<B>,
        cache: Option<&mut Option<LayerKv<B>>>,
    ) -> Result<B::Tensor> {
        let dims = B::dims(x);
        let &[n, t, _] = dims.as_slice() else {
            return Err(Error::shape("attention", "[N, T, d]", &dims));
        };
        let heads = |proj: &Linear<B>, count: usize| -> Result<B::Tensor> {
            let y = proj.forward(x, inputs.dropout_seed)?;
            B::transpose(&B::reshape(&y, &[n, t, count, self.head_dim])?, 1, 2)
        };
        let q = B::rotary(&heads(&self.q_proj, self.heads)?, &inputs.cos, &inputs.sin)?;
        let mut k = B::rotary(
            &heads(&self.k_proj, self.kv_heads)?,
            &inputs.cos,
            &inputs.sin,
        )?;
        let mut v = heads(&self.v_proj, self.kv_heads)?;
        if let Some(slot) = cache {
            if let Some(past) = slot.as_ref() {
                k = B::cat(&[&past.k, &k], 2)?;
                v = B::cat(&[&past.v, &v], 2)?;
            }
            *slot = Some(LayerKv {
                k: k.clone(),
                v: v.clone(),
            });
        }
        #[allow(clippy::cast_precision_loss)]
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let out = B::attention(&q, &k, &v, &inputs.bias, scale)?;
        let out = B::reshape(
            &B::transpose(&out, 1, 2)?,
            &[n, t, self.heads * self.head_dim],
        )?;
        self.o_proj.forward(&out, inputs.dropout_seed)
    }
}
