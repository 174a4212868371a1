//! Activation (gradient) checkpointing, segment-wise: neither candle nor libtorch lets Rust
//! define an autograd node, so the decoder's backward is run layer by layer once the loss is
//! known. With `x_l` the input of decoder layer `l` (`x_0 = E[ids]`), `θ_l` its parameters and
//! `L` the loss:
//!
//! ```text
//! forward    x_{l+1} = layer_l(x_l; θ_l)        no graph; x_0 … x_{L−1} kept  ([N, T, d] each)
//!            x̃_L     = x_L as a leaf              the final norm and the lm_head build on it
//! backward   g_L     = ∂L/∂x̃_L, and ∂L/∂ of the final norm, the lm_head (and a tied E)
//!            for l = L−1 … 0, x̃_l a fresh leaf holding x_l:
//!              (g_l, ∂L/∂θ_l) = ∂/∂(x̃_l, θ_l) Σ layer_l(x̃_l; θ_l) ⊙ g_{l+1}
//!            ∂L/∂E  += ∂/∂E Σ E[ids] ⊙ g_0
//! ```
//!
//! Each step is the chain rule with the upstream gradient held constant (`∂(Σ y ⊙ g)/∂y = g`),
//! so every parameter gets the gradient the one-graph backward gives it. The recomputed
//! forward runs the same ops on the same inputs and gives the same values bit for bit; the
//! gradients may differ from the one-graph ones in the last bits, because a tensor used twice
//! (the residual stream) has its two gradient contributions summed in whichever order the
//! library's engine visits them. Memory: the kept inputs (`L · N · T · d` values) and one
//! layer's activations at a time, instead of every layer's activations.

use exo_core::Result as CoreResult;

use super::CausalLm;
use crate::layers::attention::AttentionInputs;
use crate::layers::decoder::DecoderLayer;
use crate::params::{Gradients, Params};
use crate::{LmError, ModelOps, Result};

/// The Hugging Face name of the token embedding.
const EMBED: &str = "model.embed_tokens.weight";

/// What the layer-by-layer backward needs: the kept layer inputs and the layers.
#[derive(Debug)]
pub(crate) struct Recompute<B: ModelOps> {
    /// `x_0 … x_{L−1}`, no graph.
    inputs: Vec<B::Tensor>,
    /// `x̃_L`: the last layer's output as a leaf tracking gradients.
    top: B::Tensor,
    ids: B::Index,
    attention: AttentionInputs<B>,
    layers: Vec<DecoderLayer<B>>,
    embed: B::Tensor,
    tied: bool,
}

impl<B: ModelOps> CausalLm<B> {
    /// The decoder's output `x_L` `[N, T, d]` (before the final norm) from the embedded ids
    /// with no graph, keeping each layer's input: returns `x̃_L` (a leaf tracking gradients) and
    /// what [`Recompute::backward`] needs.
    pub(super) fn layers_recomputable(
        &self,
        ids: &B::Index,
        attention: AttentionInputs<B>,
    ) -> Result<(B::Tensor, Recompute<B>)> {
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut x = B::no_grad(|| B::embedding(&self.embed, ids))?;
        x = B::detach(&x)?;
        for layer in &self.layers {
            let next = B::no_grad(|| layer.forward(&x, &attention, None))?;
            inputs.push(x);
            x = B::detach(&next)?;
        }
        let top = B::require_grad(&x)?;
        Ok((
            top.clone(),
            Recompute {
                inputs,
                top,
                ids: ids.clone(),
                attention,
                layers: self.layers.clone(),
                embed: self.embed.clone(),
                tied: self.config.tie_word_embeddings,
            },
        ))
    }
}

impl<B: ModelOps> Recompute<B> {
    /// The gradient of `loss` with respect to every parameter in `params`, in order. `loss`
    /// must depend on the decoder only through `x̃_L`.
    ///
    /// # Errors
    /// [`LmError::Input`] if a parameter gets no gradient; otherwise if an op fails.
    pub(crate) fn backward(self, loss: &B::Tensor, params: &Params<B>) -> Result<Gradients<B>> {
        let list: Vec<_> = params.iter().collect();
        let mut out: Vec<Option<B::Tensor>> = vec![None; list.len()];
        // The top: the final norm, the lm_head (the embedding when tied), and g_L.
        let top: Vec<usize> = (0..list.len())
            .filter(|&i| layer_of(&list[i].name).is_none())
            .filter(|&i| self.tied || list[i].name != EMBED)
            .collect();
        let mut g = gradients_into::<B>(loss, &self.top, &top, &list, &mut out)?;
        // The layers, last first.
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let input = self.inputs.get(l).ok_or_else(|| {
                LmError::input("gradient checkpointing", "a layer input is missing")
            })?;
            let x = B::require_grad(input)?;
            let y = layer.forward(&x, &self.attention, None)?;
            let upstream = B::sum_all(&B::mul(&y, &g)?)?;
            let own: Vec<usize> = (0..list.len())
                .filter(|&i| layer_of(&list[i].name) == Some(l))
                .collect();
            g = gradients_into::<B>(&upstream, &x, &own, &list, &mut out)?;
        }
        // The embedding lookup (unless the embedding is frozen, as under LoRA).
        if let Some(embed) = list.iter().position(|p| p.name == EMBED) {
            let looked_up = B::sum_all(&B::mul(&B::embedding(&self.embed, &self.ids)?, &g)?)?;
            let grad = first::<B>(B::grad(&looked_up, &[&self.embed])?)?;
            out[embed] = Some(match out[embed].take() {
                Some(head) => B::add(&head, &grad)?,
                None => grad,
            });
        }
        let grads = out
            .into_iter()
            .zip(&list)
            .map(|(g, p)| {
                g.ok_or_else(|| {
                    LmError::input(
                        "gradient checkpointing",
                        format!("no gradient for {}", p.name),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Gradients::from_tensors(grads)
    }
}

/// Differentiates `scalar` with respect to the leaf `x` and the parameters at `at`, stores the
/// parameters' gradients (detached) in `out` and returns `∂scalar/∂x` (detached).
fn gradients_into<B: ModelOps>(
    scalar: &B::Tensor,
    x: &B::Tensor,
    at: &[usize],
    list: &[&crate::Param<B>],
    out: &mut [Option<B::Tensor>],
) -> Result<B::Tensor> {
    let mut wrt = vec![x];
    wrt.extend(at.iter().map(|&i| &list[i].tensor));
    let grads = B::grad(scalar, &wrt)?
        .iter()
        .map(B::detach)
        .collect::<CoreResult<Vec<_>>>()?;
    let mut grads = grads.into_iter();
    let g_x = grads
        .next()
        .ok_or_else(|| LmError::input("gradient checkpointing", "no input gradient"))?;
    for (&i, g) in at.iter().zip(grads) {
        out[i] = Some(g);
    }
    Ok(g_x)
}

/// The only gradient of a one-tensor `grad` call, detached.
fn first<B: ModelOps>(grads: Vec<B::Tensor>) -> Result<B::Tensor> {
    let g = grads
        .into_iter()
        .next()
        .ok_or_else(|| LmError::input("gradient checkpointing", "no embedding gradient"))?;
    Ok(B::detach(&g)?)
}

/// `l` for a parameter named `model.layers.{l}.…`.
fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("model.layers.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::layer_of;

    #[test]
    fn layer_numbers_come_from_the_parameter_names() {
        assert_eq!(layer_of("model.layers.0.mlp.up_proj.weight"), Some(0));
        assert_eq!(layer_of("model.layers.27.input_layernorm.weight"), Some(27));
        assert_eq!(layer_of("model.norm.weight"), None);
        assert_eq!(layer_of("model.embed_tokens.weight"), None);
        assert_eq!(layer_of("lm_head.weight"), None);
    }
}
