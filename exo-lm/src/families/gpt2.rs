//! GPT-2: learned absolute positions, LayerNorm, `Conv1D` weights stored `[in, out]`, one
//! fused `c_attn` projection, a `gelu_new` MLP and a head tied to `wte`.

use super::{Layout, Spec, linear_specs, norm, norm_specs};
use crate::config::LmConfig;
use crate::layers::attention::{Attention, FusedQkv, Qkv};
use crate::layers::decoder::DecoderLayer;
use crate::layers::linear::Linear;
use crate::layers::mlp::Mlp;
use crate::{ModelOps, Result};

pub(crate) const LAYOUT: Layout = Layout {
    embed: "transformer.wte.weight",
    positions: Some("transformer.wpe.weight"),
    layers: "transformer.h",
    final_norm: "transformer.ln_f",
    lm_head: "lm_head.weight",
};

/// Layer `p`'s parameters (`Conv1D` weights `[in, out]`): `ln_1`, `attn.c_attn [d, 3d]`
/// (outputs `cat(q, k, v)`), `attn.c_proj [d, d]`, `ln_2`, `mlp.c_fc [d, I]`,
/// `mlp.c_proj [I, d]`, every one with a bias.
pub(crate) fn layer_specs(c: &LmConfig, p: &str, out: &mut Vec<Spec>) {
    let (d, i) = (c.hidden_size, c.intermediate_size);
    norm_specs(c, &format!("{p}.ln_1"), out);
    linear_specs(&format!("{p}.attn.c_attn"), [d, 3 * d], Some(3 * d), out);
    linear_specs(&format!("{p}.attn.c_proj"), [d, d], Some(d), out);
    norm_specs(c, &format!("{p}.ln_2"), out);
    linear_specs(&format!("{p}.mlp.c_fc"), [d, i], Some(i), out);
    linear_specs(&format!("{p}.mlp.c_proj"), [i, d], Some(d), out);
}

/// A `Conv1D` module.
fn conv1d<B: ModelOps>(
    module: &str,
    take: &dyn Fn(&str) -> Result<B::Tensor>,
) -> Result<Linear<B>> {
    Ok(Linear::conv1d(
        take(&format!("{module}.weight"))?,
        Some(take(&format!("{module}.bias"))?),
    ))
}

/// Layer `p` from its tensors.
pub(crate) fn layer<B: ModelOps>(
    c: &LmConfig,
    p: &str,
    take: &dyn Fn(&str) -> Result<B::Tensor>,
) -> Result<DecoderLayer<B>> {
    Ok(DecoderLayer {
        input_layernorm: norm(c, &format!("{p}.ln_1"), take)?,
        self_attn: Attention {
            qkv: Qkv::Fused {
                proj: conv1d(&format!("{p}.attn.c_attn"), take)?,
                layout: FusedQkv::Blocks,
            },
            o_proj: conv1d(&format!("{p}.attn.c_proj"), take)?,
            heads: c.num_attention_heads,
            kv_heads: c.num_attention_heads,
            head_dim: c.head_dim,
            rotary_dims: None,
        },
        post_attention_layernorm: norm(c, &format!("{p}.ln_2"), take)?,
        mlp: Mlp {
            gate_proj: None,
            up_proj: conv1d(&format!("{p}.mlp.c_fc"), take)?,
            down_proj: conv1d(&format!("{p}.mlp.c_proj"), take)?,
            kind: c.mlp,
        },
        parallel_residual: false,
    })
}
