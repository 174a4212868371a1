//! The feed-forward blocks: Llama's SwiGLU and GPT's two-layer GELU MLP.

use exo_core::Result;

use crate::ModelOps;
use crate::config::MlpKind;
use crate::layers::linear::Linear;

/// ```text
/// SwiGLU (Llama):  mlp(x) = W_down ( silu(W_gate x) ⊙ W_up x )
/// GELU (GPT-2, GPT-NeoX):  mlp(x) = W_down gelu(W_up x)
/// ```
///
/// with `W_gate`, `W_up` `[I, d]` and `W_down` `[d, I]` in the Linear layout (GPT-2's
/// Conv1D weights are transposed, see [`Linear`]); biases where the family has them.
#[derive(Debug, Clone)]
pub(crate) struct Mlp<B: ModelOps> {
    /// SwiGLU's gate (`None` for a GELU MLP).
    pub(crate) gate_proj: Option<Linear<B>>,
    /// `up_proj`, GPT-2's `c_fc`, GPT-NeoX's `dense_h_to_4h`.
    pub(crate) up_proj: Linear<B>,
    /// `down_proj`, GPT-2's `mlp.c_proj`, GPT-NeoX's `dense_4h_to_h`.
    pub(crate) down_proj: Linear<B>,
    /// Which block this is.
    pub(crate) kind: MlpKind,
}

impl<B: ModelOps> Mlp<B> {
    /// Whether [`Mlp::forward`] runs the gated half as one [`ModelOps::swiglu`].
    pub(crate) fn one_swiglu(&self) -> bool {
        self.kind == MlpKind::SwiGlu
            && self
                .gate_proj
                .as_ref()
                .is_some_and(|g| g.plain_weight().is_some())
            && self.up_proj.plain_weight().is_some()
    }

    /// `x` `[..., d]` → `[..., d]`.
    ///
    /// A SwiGLU block whose gate and up projections are plain (no bias, no LoRA adapter) runs
    /// its gated half as one [`ModelOps::swiglu`], which a backend may fuse; otherwise each
    /// projection on its own and [`ModelOps::silu_gate`].
    pub(crate) fn forward(&self, x: &B::Tensor, dropout_seed: Option<u64>) -> Result<B::Tensor> {
        let hidden = match (self.kind, &self.gate_proj) {
            (MlpKind::SwiGlu, Some(gate)) => {
                match (gate.plain_weight(), self.up_proj.plain_weight()) {
                    (Some(w_gate), Some(w_up)) => B::swiglu(x, w_gate, w_up)?,
                    _ => B::silu_gate(
                        gate.forward(x, dropout_seed)?,
                        self.up_proj.forward(x, dropout_seed)?,
                    )?,
                }
            }
            (MlpKind::SwiGlu, None) => {
                return Err(exo_core::Error::shape(
                    "mlp",
                    "a SwiGLU block with a gate projection",
                    &B::dims(x),
                ));
            }
            (MlpKind::GeluErf, _) => B::gelu_erf(&self.up_proj.forward(x, dropout_seed)?)?,
            (MlpKind::GeluTanh, _) => B::gelu_tanh(&self.up_proj.forward(x, dropout_seed)?)?,
        };
        self.down_proj.forward(&hidden, dropout_seed)
    }
}
