//! GPT-NeoX (Pythia): LayerNorm, one fused `query_key_value` projection whose outputs are
//! `[H, 3, D]` (each head's q, k, v in turn), rotary on the first `R = D · rotary_pct` dims of
//! each head, a GELU MLP, optionally the parallel residual, an untied `embed_out`.

use super::{Layout, Spec, linear, linear_specs, norm, norm_specs};
use crate::config::{LmConfig, Positions};
use crate::layers::attention::{Attention, FusedQkv, Qkv};
use crate::layers::decoder::DecoderLayer;
use crate::layers::mlp::Mlp;
use crate::{ModelOps, Result};

pub(crate) const LAYOUT: Layout = Layout {
    embed: "gpt_neox.embed_in.weight",
    positions: None,
    layers: "gpt_neox.layers",
    final_norm: "gpt_neox.final_layer_norm",
    lm_head: "embed_out.weight",
};

/// Layer `p`'s parameters (Linear layout): `input_layernorm`,
/// `attention.query_key_value [3d, d]`, `attention.dense [d, d]` (biases with
/// `attention_bias`), `post_attention_layernorm`, `mlp.dense_h_to_4h [I, d]`,
/// `mlp.dense_4h_to_h [d, I]` (with biases).
pub(crate) fn layer_specs(c: &LmConfig, p: &str, out: &mut Vec<Spec>) {
    let (d, i) = (c.hidden_size, c.intermediate_size);
    let bias = |len: usize| c.qkv_bias.then_some(len);
    norm_specs(c, &format!("{p}.input_layernorm"), out);
    norm_specs(c, &format!("{p}.post_attention_layernorm"), out);
    linear_specs(
        &format!("{p}.attention.query_key_value"),
        [3 * d, d],
        bias(3 * d),
        out,
    );
    linear_specs(&format!("{p}.attention.dense"), [d, d], bias(d), out);
    linear_specs(&format!("{p}.mlp.dense_h_to_4h"), [i, d], Some(i), out);
    linear_specs(&format!("{p}.mlp.dense_4h_to_h"), [d, i], Some(d), out);
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
            qkv: Qkv::Fused {
                proj: linear(&format!("{p}.attention.query_key_value"), c.qkv_bias, take)?,
                layout: FusedQkv::PerHead,
            },
            o_proj: linear(&format!("{p}.attention.dense"), c.o_bias, take)?,
            heads: c.num_attention_heads,
            kv_heads: c.num_attention_heads,
            head_dim: c.head_dim,
            rotary_dims,
        },
        post_attention_layernorm: norm(c, &format!("{p}.post_attention_layernorm"), take)?,
        mlp: Mlp {
            gate_proj: None,
            up_proj: linear(&format!("{p}.mlp.dense_h_to_4h"), true, take)?,
            down_proj: linear(&format!("{p}.mlp.dense_4h_to_h"), true, take)?,
            kind: c.mlp,
        },
        parallel_residual: c.parallel_residual,
    })
}
