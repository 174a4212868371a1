//! One pre-norm decoder layer, sequential or with GPT-NeoX's parallel residual.

use exo_core::Result;

use crate::ModelOps;
use crate::layers::attention::{Attention, AttentionInputs, LayerKv, Qkv};
use crate::layers::linear::Linear;
use crate::layers::mlp::Mlp;
use crate::layers::norm::Norm;
use crate::lora::LoraTarget;

/// ```text
/// sequential:  h = x + attention(norm₁(x));   out = h + mlp(norm₂(h))
/// parallel:    out = x + attention(norm₁(x)) + mlp(norm₂(x))      (GPT-NeoX)
/// ```
#[derive(Debug, Clone)]
pub(crate) struct DecoderLayer<B: ModelOps> {
    pub(crate) input_layernorm: Norm<B>,
    pub(crate) self_attn: Attention<B>,
    pub(crate) post_attention_layernorm: Norm<B>,
    pub(crate) mlp: Mlp<B>,
    pub(crate) parallel_residual: bool,
}

impl<B: ModelOps> DecoderLayer<B> {
    /// The linear layer LoRA's `target` names, if this layer has it (only the Llama families'
    /// separate projections do).
    pub(crate) fn linear_mut(&mut self, target: LoraTarget) -> Option<&mut Linear<B>> {
        let Qkv::Separate {
            q_proj,
            k_proj,
            v_proj,
        } = &mut self.self_attn.qkv
        else {
            return None;
        };
        match target {
            LoraTarget::QProj => Some(q_proj),
            LoraTarget::KProj => Some(k_proj),
            LoraTarget::VProj => Some(v_proj),
            LoraTarget::OProj => Some(&mut self.self_attn.o_proj),
            LoraTarget::GateProj => self.mlp.gate_proj.as_mut(),
            LoraTarget::UpProj => Some(&mut self.mlp.up_proj),
            LoraTarget::DownProj => Some(&mut self.mlp.down_proj),
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
        if self.parallel_residual {
            let mlp = self.mlp.forward(
                &self.post_attention_layernorm.forward(x)?,
                inputs.dropout_seed,
            )?;
            // HF: mlp_output + attn_output + hidden_states.
            return B::add(&B::add(&mlp, &attn)?, x);
        }
        let h = B::add(x, &attn)?;
        let mlp = self.mlp.forward(
            &self.post_attention_layernorm.forward(&h)?,
            inputs.dropout_seed,
        )?;
        B::add(&h, &mlp)
    }
}
