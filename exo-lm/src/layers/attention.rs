//! Causal self-attention with grouped-query heads, rotary positions and a key/value cache.
//!
//! ```text
//! q = x W_qᵀ (+ b_q) → [N, H, T, D]      k, v = x W_kᵀ, x W_vᵀ (+ b) → [N, H_kv, T, D]
//! q, k = rope(q), rope(k)            (on the first R ≤ D dims of each head; none for GPT-2)
//! k, v = cat(cache_k, k), cat(cache_v, v)            (along T, when decoding)
//! out  = attention(q, k, v, bias, 1/√D) → [N, T, H·D] → W_oᵀ (+ b_o)
//! ```

use exo_core::model_ops::segments::Segments;
use exo_core::{Error, Result};

use crate::ModelOps;
use crate::layers::linear::Linear;
use crate::segments::SegmentPlan;

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

/// How a forward pass's queries see their keys, before it is on the device.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mask {
    /// One call over the rows with the additive bias `[N, 1, T, T_past + T]`, row-major.
    Dense(Vec<f32>),
    /// By segments ([`crate::segments`]; no cache).
    Segments(SegmentPlan),
}

/// [`Mask`] on the device.
#[derive(Debug, Clone)]
pub(crate) enum MaskTensors<B: ModelOps> {
    /// `[N, 1, T, T_past + T]`.
    Dense(B::Tensor),
    /// The grouped calls and where each slot's output lies ([`ModelOps::segment_attention`]).
    Segments(Segments<B>),
}

/// The keys and values one layer has seen so far, `[N, H_kv, T_past, D]` each.
#[derive(Debug, Clone)]
pub(crate) struct LayerKv<B: ModelOps> {
    pub(crate) k: B::Tensor,
    pub(crate) v: B::Tensor,
}

/// The query, key and value projections.
#[derive(Debug, Clone)]
pub(crate) enum Qkv<B: ModelOps> {
    /// Three layers (Llama, Qwen2, Mistral): `q` `[H·D, d]`, `k`/`v` `[H_kv·D, d]`.
    Separate {
        q_proj: Linear<B>,
        k_proj: Linear<B>,
        v_proj: Linear<B>,
    },
    /// One fused layer with `3·H·D` outputs (`H_kv = H`), laid out as `layout` says.
    Fused { proj: Linear<B>, layout: FusedQkv },
}

/// How a fused projection's `3·H·D` outputs are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FusedQkv {
    /// GPT-2's `c_attn`: `[3, H, D]`, i.e. `cat(q, k, v)`, each `[H·D]`.
    Blocks,
    /// GPT-NeoX's `query_key_value`: `[H, 3, D]`, each head's `q`, `k`, `v` in turn.
    PerHead,
}

/// One attention block's weights and head layout.
#[derive(Debug, Clone)]
pub(crate) struct Attention<B: ModelOps> {
    pub(crate) qkv: Qkv<B>,
    pub(crate) o_proj: Linear<B>,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
    /// `R`: rotary on the first `R` dims of each head (`R = D` for Llama, `D · rotary_pct` for
    /// GPT-NeoX); `None` for learned absolute positions (GPT-2).
    pub(crate) rotary_dims: Option<usize>,
}

/// The per-forward inputs every attention block shares: rotary tables and the mask bias.
#[derive(Debug, Clone)]
pub(crate) struct AttentionInputs<B: ModelOps> {
    /// `cos` and `sin`, `[N, 1, T, R]` each (`None` without rotary positions).
    pub(crate) rotary: Option<(B::Tensor, B::Tensor)>,
    /// Who sees whom.
    pub(crate) mask: MaskTensors<B>,
    /// The seed of this forward pass's LoRA dropout masks (`None`: no dropout). It rides with
    /// the attention inputs because they are what every layer of one forward pass shares, and
    /// what a recomputed layer is given again.
    pub(crate) dropout_seed: Option<u64>,
}

impl<B: ModelOps> Attention<B> {
    /// `q`, `k`, `v` as `[N, H, T, D]`, `[N, H_kv, T, D]`, `[N, H_kv, T, D]`, before rotary.
    fn project(
        &self,
        x: &B::Tensor,
        (n, t): (usize, usize),
        seed: Option<u64>,
    ) -> Result<(B::Tensor, B::Tensor, B::Tensor)> {
        let d = self.head_dim;
        let heads = |y: &B::Tensor, count: usize| -> Result<B::Tensor> {
            B::transpose(&B::reshape(y, &[n, t, count, d])?, 1, 2)
        };
        match &self.qkv {
            Qkv::Separate {
                q_proj,
                k_proj,
                v_proj,
            } => Ok((
                heads(&q_proj.forward(x, seed)?, self.heads)?,
                heads(&k_proj.forward(x, seed)?, self.kv_heads)?,
                heads(&v_proj.forward(x, seed)?, self.kv_heads)?,
            )),
            Qkv::Fused { proj, layout } => {
                let y = proj.forward(x, seed)?;
                let width = self.heads * d;
                let part = |i: usize| -> Result<B::Tensor> {
                    match layout {
                        FusedQkv::Blocks => heads(&B::narrow(&y, 2, i * width, width)?, self.heads),
                        FusedQkv::PerHead => {
                            let per_head = B::reshape(&y, &[n, t, self.heads, 3 * d])?;
                            B::transpose(&B::narrow(&per_head, 3, i * d, d)?, 1, 2)
                        }
                    }
                };
                Ok((part(0)?, part(1)?, part(2)?))
            }
        }
    }

    /// Rotary on the first `R` dims of each head of `x` `[N, heads, T, D]`; the rest pass.
    fn rope(&self, x: B::Tensor, inputs: &AttentionInputs<B>) -> Result<B::Tensor> {
        let (Some(r), Some((cos, sin))) = (self.rotary_dims, inputs.rotary.as_ref()) else {
            return Ok(x);
        };
        if r == self.head_dim {
            return B::rotary(&x, cos, sin);
        }
        let rotated = B::rotary(&B::narrow(&x, 3, 0, r)?, cos, sin)?;
        let pass = B::narrow(&x, 3, r, self.head_dim - r)?;
        B::cat(&[&rotated, &pass], 3)
    }

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
        let (q, k, v) = self.project(x, (n, t), inputs.dropout_seed)?;
        let q = self.rope(q, inputs)?;
        let mut k = self.rope(k, inputs)?;
        let mut v = v;
        #[allow(clippy::cast_precision_loss)]
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let bias = match &inputs.mask {
            MaskTensors::Dense(bias) => bias,
            MaskTensors::Segments(segments) => {
                if cache.is_some() {
                    return Err(Error::Input {
                        objective: "attention",
                        message: "attention by segments takes no key/value cache".into(),
                    });
                }
                let out = B::segment_attention(&q, &k, &v, segments, scale)?;
                return self.o_proj.forward(&out, inputs.dropout_seed);
            }
        };
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
        let out = B::attention(&q, &k, &v, bias, scale)?;
        let out = B::reshape(
            &B::transpose(&out, 1, 2)?,
            &[n, t, self.heads * self.head_dim],
        )?;
        self.o_proj.forward(&out, inputs.dropout_seed)
    }
}
