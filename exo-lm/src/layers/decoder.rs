//! One pre-norm decoder layer.

use exo_core::Result;

use crate::ModelOps;
use crate::layers::attention::{Attention, AttentionInputs, LayerKv};
use crate::layers::linear::Linear;
use crate::layers::mlp::Mlp;
use crate::layers::rms_norm::RmsNorm;
use crate::lora::LoraTarget;

/// ```text
/// h   = x + attention(rms_norm(x; w_in))
/// out = h + mlp(rms_norm(h; w_post))
/// ```
#[derive(Debug, Clone)]
pub(crate) struct DecoderLayer<B: ModelOps> {
    pub(crate) input_layernorm: RmsNorm<B>,
    pub(crate) self_attn: Attention<B>,
    pub(crate) post_attention_layernorm: RmsNorm<B>,
    pub(crate) mlp: Mlp<B>,
}

impl<B: ModelOps> DecoderLayer<B> {
    /// The linear layer LoRA's `target` names.
    pub(crate) fn linear_mut(&mut self, target: LoraTarget) -> &mut Linear<B> {
        match target {
            LoraTarget::QProj => &mut self.self_attn.q_proj,
            LoraTarget::KProj => &mut self.self_attn.k_proj,
            LoraTarget::VProj => &mut self.self_attn.v_proj,
            LoraTarget::OProj => &mut self.self_attn.o_proj,
            LoraTarget::GateProj => &mut self.mlp.gate_proj,
            LoraTarget::UpProj => &mut self.mlp.up_proj,
            LoraTarget::DownProj => &mut self.mlp.down_proj,
        }
    }

    /// `x` `[N, T, d]` → `[N, T, d]`.
    pub(crate) fn forward(
        &self,
        x: &B::Tensor,
        inputs: &AttentionInputs<B>,
        cache: Option<&mut Option<LayerKv<B>>>,
    ) -> Result<B::Tensor> {
        let attn = self
            .self_attn
            .forward(&self.input_layernorm.forward(x)?, inputs, cache)?;
        let h = B::add(x, &attn)?;
        let mlp = self.mlp.forward(
            &self.post_attention_layernorm.forward(&h)?,
            inputs.dropout_seed,
        )?;
        B::add(&h, &mlp)
    }
}
