//! The Llama family (Llama, Qwen2, Mistral): RMSNorm, separate q/k/v/o projections with
//! grouped-query heads, full-width rotary, SwiGLU.

use super::{Layout, Spec, linear, linear_specs, norm, norm_specs};
use crate::config::{LmConfig, Positions};
use crate::layers::attention::{Attention, Qkv};
use crate::layers::decoder::DecoderLayer;
use crate::layers::mlp::Mlp;
use crate::{ModelOps, Result};

pub(crate) const LAYOUT: Layout = Layout {
    embed: "model.embed_tokens.weight",
    positions: None,
    layers: "model.layers",
    final_norm: "model.norm",
    lm_head: "lm_head.weight",
};

/// Layer `p`'s parameters: `q_proj [H·D, d]`, `k_proj`/`v_proj [H_kv·D, d]`,
/// `o_proj [d, H·D]`, `gate_proj`/`up_proj [I, d]`, `down_proj [d, I]`, two RMSNorm gains.
pub(crate) fn layer_specs(c: &LmConfig, p: &str, out: &mut Vec<Spec>) {
    let (d, i) = (c.hidden_size, c.intermediate_size);
    let (q_out, kv_out) = (
        c.num_attention_heads * c.head_dim,
        c.num_key_value_heads * c.head_dim,
    );
    let bias = |on: bool, len: usize| on.then_some(len);
    norm_specs(c, &format!("{p}.input_layernorm"), out);
    for (proj, rows) in [("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)] {
        linear_specs(
            &format!("{p}.self_attn.{proj}"),
            [rows, d],
            bias(c.qkv_bias, rows),
            out,
        );
    }
    linear_specs(
        &format!("{p}.self_attn.o_proj"),
        [d, q_out],
        bias(c.o_bias, d),
        out,
    );
    norm_specs(c, &format!("{p}.post_attention_layernorm"), out);
    for (proj, shape) in [
        ("gate_proj", [i, d]),
        ("up_proj", [i, d]),
        ("down_proj", [d, i]),
    ] {
        linear_specs(
            &format!("{p}.mlp.{proj}"),
            shape,
            bias(c.mlp_bias, shape[0]),
            out,
        );
    }
}

/// Layer `p` from its tensors.
pub(crate) fn layer<B: ModelOps>(
    c: &LmConfig,
    p: &str,
    take: &dyn Fn(&str) -> Result<B::Tensor>,
) -> Result<DecoderLayer<B>> {
    let rotary_dims = match c.positions {
        Positions::Rotary { dims } => Some(dims),
        _ => None,
    };
    Ok(DecoderLayer {
        input_layernorm: norm(c, &format!("{p}.input_layernorm"), take)?,
        self_attn: Attention {
            qkv: Qkv::Separate {
                q_proj: linear(&format!("{p}.self_attn.q_proj"), c.qkv_bias, take)?,
                k_proj: linear(&format!("{p}.self_attn.k_proj"), c.qkv_bias, take)?,
                v_proj: linear(&format!("{p}.self_attn.v_proj"), c.qkv_bias, take)?,
            },
            o_proj: linear(&format!("{p}.self_attn.o_proj"), c.o_bias, take)?,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            rotary_dims,
        },
        post_attention_layernorm: norm(c, &format!("{p}.post_attention_layernorm"), take)?,
        mlp: Mlp {
            gate_proj: Some(linear(&format!("{p}.mlp.gate_proj"), c.mlp_bias, take)?),
            up_proj: linear(&format!("{p}.mlp.up_proj"), c.mlp_bias, take)?,
            down_proj: linear(&format!("{p}.mlp.down_proj"), c.mlp_bias, take)?,
            kind: c.mlp,
        },
        parallel_residual: false,
    })
}
