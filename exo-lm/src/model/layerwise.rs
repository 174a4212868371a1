//! The decoder's backward pass one layer at a time, for a trainable model's deferred log-probs
//! ([`crate::DeferredLogps`]). With `x_l` the input of decoder layer `l` (`x_0 = E[ids]`), `θ_l`
//! its parameters and `L` the loss:
//!
//! ```text
//! forward    x_{l+1} = layer_l(x_l; θ_l)          each layer from a leaf x̃_l holding x_l
//!            x̃_L     = x_L as a leaf                the final norm and the lm_head build on it
//! backward   g_L     = ∂L/∂x̃_L, and ∂L/∂ of the final norm, the lm_head (and a tied E)
//!            for l = L−1 … 0:
//!              (g_l, ∂L/∂θ_l) = ∂/∂(x̃_l, θ_l) Σ layer_l(x̃_l; θ_l) ⊙ g_{l+1}
//!            ∂L/∂E  += ∂/∂E Σ E[ids] ⊙ g_0      (and ∂L/∂P = ∂/∂P Σ P[positions] ⊙ g_0
//!                                                for GPT-2's learned positions)
//! ```
//!
//! Each step is the chain rule with the upstream gradient held constant (`∂(Σ y ⊙ g)/∂y = g`),
//! so every parameter gets the gradient the one-graph backward gives it. Two ways to have
//! `layer_l(x̃_l)`'s graph when its turn comes ([`LayerBackward`]):
//!
//! * **Recompute** (activation checkpointing): the forward pass runs with no graph and keeps
//!   `x_0 … x_{L−1}`; the backward runs each layer again from its input, with a graph. Memory:
//!   the kept inputs (`L · N · T · d` values) and one layer's activations at a time. The
//!   recomputed forward runs the same ops on the same inputs and gives the same values bit for
//!   bit.
//! * **PerLayer**: the forward pass builds each layer's graph from its own leaf and keeps it;
//!   the backward differentiates the last layer's graph, drops it, and goes on down. No
//!   recompute: this is for a library whose backward keeps the whole forward graph alive until
//!   it returns (candle; [`exo_core::Autodiff::FREES_GRAPH_IN_BACKWARD`]). There the one-graph
//!   peak is every activation *plus* every parameter gradient; here the activations of layers
//!   `> l` are freed while those of layers `≥ l` get their gradients, as libtorch's engine
//!   frees saved tensors. It costs one copy of each layer's output (candle's leaves own their
//!   storage) and one `Σ y ⊙ g` per layer.
//!
//! Either way the gradients may differ from the one-graph ones in the last bits, because a
//! tensor used twice (the residual stream) has its two gradient contributions summed in
//! whichever order the library's engine visits them.

use exo_core::Result as CoreResult;

use super::CausalLm;
use crate::families::{Layout, layer_of};
use crate::layers::attention::AttentionInputs;
use crate::layers::decoder::DecoderLayer;
use crate::params::{Gradients, Params};
use crate::{LmError, ModelOps, Result};

/// How a trainable model's deferred backward ([`crate::DeferredLogps::backward`]) goes through
/// the decoder layers (see the module's maths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerBackward {
    /// One backward pass over the whole graph.
    OneGraph,
    /// Each layer's graph is kept from the forward pass and differentiated on its own, last
    /// first, then dropped: less memory where the library keeps the whole graph until its
    /// backward returns (the default for such a library), the same values and, up to f32
    /// rounding, the same gradients.
    PerLayer,
    /// Activation checkpointing: only each layer's input is kept; the layer is run again in
    /// the backward pass.
    Recompute,
}

impl LayerBackward {
    /// [`LayerBackward::OneGraph`] where `B`'s backward frees the graph as it goes, else
    /// [`LayerBackward::PerLayer`].
    pub fn default_for<B: ModelOps>() -> Self {
        if B::FREES_GRAPH_IN_BACKWARD {
            Self::OneGraph
        } else {
            Self::PerLayer
        }
    }
}

/// What a layer's graph is made from when its turn in the backward pass comes.
#[derive(Debug)]
enum Kept<B: ModelOps> {
    /// `x_0 … x_{L−1}`, no graph: each layer is run again.
    Inputs(Vec<B::Tensor>),
    /// `(x̃_l, layer_l(x̃_l))` with its graph, which stops at the leaf `x̃_l`.
    Graphs(Vec<(B::Tensor, B::Tensor)>),
}

/// What the layer-by-layer backward needs: the kept layers and what they were run on.
#[derive(Debug)]
pub(crate) struct Layerwise<B: ModelOps> {
    kept: Kept<B>,
    /// `x̃_L`: the last layer's output as a leaf tracking gradients.
    top: B::Tensor,
    ids: B::Index,
    attention: AttentionInputs<B>,
    layers: Vec<DecoderLayer<B>>,
    embed: B::Tensor,
    /// The learned position table and the positions `[N, T]` (GPT-2).
    positions: Option<(B::Tensor, B::Index)>,
    tied: bool,
    layout: Layout,
}

impl<B: ModelOps> CausalLm<B> {
    /// The decoder's output `x_L` `[N, T, d]` (before the final norm) from the embedded ids,
    /// each layer on its own leaf (`how` = [`LayerBackward::PerLayer`]) or with no graph,
    /// keeping each layer's input ([`LayerBackward::Recompute`]): returns `x̃_L` (a leaf
    /// tracking gradients) and what [`Layerwise::backward`] needs.
    pub(super) fn layers_layerwise(
        &self,
        ids: &B::Index,
        positions: &[i64],
        attention: AttentionInputs<B>,
        how: LayerBackward,
    ) -> Result<(B::Tensor, Layerwise<B>)> {
        let dims = B::index_dims(ids);
        let &[n, t] = dims.as_slice() else {
            return Err(LmError::input(
                "layer-by-layer backward",
                format!("ids of shape {dims:?}, not [N, T]"),
            ));
        };
        let mut x = B::no_grad(|| self.embed_input(ids, positions, (n, t)))?;
        x = B::detach(&x)?;
        let kept = if how == LayerBackward::PerLayer {
            let mut graphs = Vec::with_capacity(self.layers.len());
            for (i, layer) in self.layers.iter().enumerate() {
                let leaf = B::require_grad(&x)?;
                let y = layer.forward(&leaf, &attention, None)?;
                x = B::detach(&y)?;
                graphs.push((leaf, y));
                self.after_layer(i);
            }
            Kept::Graphs(graphs)
        } else {
            let mut inputs = Vec::with_capacity(self.layers.len());
            for (i, layer) in self.layers.iter().enumerate() {
                let next = B::no_grad(|| layer.forward(&x, &attention, None))?;
                inputs.push(x);
                x = B::detach(&next)?;
                self.after_layer(i);
            }
            Kept::Inputs(inputs)
        };
        let top = B::require_grad(&x)?;
        Ok((
            top.clone(),
            Layerwise {
                kept,
                top,
                ids: ids.clone(),
                attention,
                layers: self.layers.clone(),
                embed: self.embed.clone(),
                positions: match &self.positions {
                    Some(table) => Some((
                        table.clone(),
                        B::index_from_i64s(positions, &[n, t], &self.device)?,
                    )),
                    None => None,
                },
                tied: self.config.tie_word_embeddings,
                layout: crate::families::layout(&self.config),
            },
        ))
    }
}

impl<B: ModelOps> Layerwise<B> {
    /// The gradient of `loss` with respect to every parameter in `params`, in order. `loss`
    /// must depend on the decoder only through `x̃_L`.
    ///
    /// # Errors
    /// [`LmError::Input`] if a parameter gets no gradient; otherwise if an op fails.
    pub(crate) fn backward(self, loss: &B::Tensor, params: &Params<B>) -> Result<Gradients<B>> {
        let list: Vec<_> = params.iter().collect();
        let mut out: Vec<Option<B::Tensor>> = vec![None; list.len()];
        // The top: the final norm, the lm_head (the embedding when tied), and g_L.
        let layout = self.layout;
        let is_embedding = |name: &str| name == layout.embed || Some(name) == layout.positions;
        let top: Vec<usize> = (0..list.len())
            .filter(|&i| layer_of(&layout, &list[i].name).is_none())
            .filter(|&i| {
                let name = list[i].name.as_str();
                (self.tied && name == layout.embed) || !is_embedding(name)
            })
            .collect();
        let mut g = gradients_into::<B>(loss, &self.top, &top, &list, &mut out)?;
        // The layers, last first; a kept graph is dropped once differentiated.
        let missing = || LmError::input("layer-by-layer backward", "a layer's input is missing");
        let mut kept = self.kept;
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let (x, y) = match &mut kept {
                Kept::Inputs(inputs) => {
                    let x = B::require_grad(&inputs.pop().ok_or_else(missing)?)?;
                    let y = layer.forward(&x, &self.attention, None)?;
                    (x, y)
                }
                Kept::Graphs(graphs) => graphs.pop().ok_or_else(missing)?,
            };
            let upstream = B::sum_all(&B::mul(&y, &g)?)?;
            let own: Vec<usize> = (0..list.len())
                .filter(|&i| layer_of(&layout, &list[i].name) == Some(l))
                .collect();
            g = gradients_into::<B>(&upstream, &x, &own, &list, &mut out)?;
        }
        // The embedding lookups (unless frozen, as under LoRA).
        let mut wrt = Vec::new();
        let mut at = Vec::new();
        if let Some(i) = list.iter().position(|p| p.name == layout.embed) {
            wrt.push(&self.embed);
            at.push(i);
        }
        let mut x0 = B::embedding(&self.embed, &self.ids)?;
        if let Some((table, index)) = &self.positions {
            x0 = B::add(&x0, &B::embedding(table, index)?)?;
            if let Some(i) = list
                .iter()
                .position(|p| Some(p.name.as_str()) == layout.positions)
            {
                wrt.push(table);
                at.push(i);
            }
        }
        if !wrt.is_empty() {
            let looked_up = B::sum_all(&B::mul(&x0, &g)?)?;
            for (&i, grad) in at.iter().zip(B::grad(&looked_up, &wrt)?) {
                let grad = B::detach(&grad)?;
                out[i] = Some(match out[i].take() {
                    Some(head) => B::add(&head, &grad)?,
                    None => grad,
                });
            }
        }
        let grads = out
            .into_iter()
            .zip(&list)
            .map(|(g, p)| {
                g.ok_or_else(|| {
                    LmError::input(
                        "layer-by-layer backward",
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
        .ok_or_else(|| LmError::input("layer-by-layer backward", "no input gradient"))?;
    for (&i, g) in at.iter().zip(grads) {
        out[i] = Some(g);
    }
    Ok(g_x)
}

#[cfg(test)]
mod tests {
    use crate::families::{gpt2, layer_of, llama, neox};

    #[test]
    fn layer_numbers_come_from_the_parameter_names() {
        let l = &llama::LAYOUT;
        assert_eq!(layer_of(l, "model.layers.0.mlp.up_proj.weight"), Some(0));
        assert_eq!(
            layer_of(l, "model.layers.27.input_layernorm.weight"),
            Some(27)
        );
        assert_eq!(layer_of(l, "model.norm.weight"), None);
        assert_eq!(layer_of(l, "model.embed_tokens.weight"), None);
        assert_eq!(layer_of(l, "lm_head.weight"), None);
        assert_eq!(
            layer_of(&gpt2::LAYOUT, "transformer.h.3.attn.c_attn.weight"),
            Some(3)
        );
        assert_eq!(layer_of(&gpt2::LAYOUT, "transformer.wpe.weight"), None);
        assert_eq!(
            layer_of(&neox::LAYOUT, "gpt_neox.layers.1.mlp.dense_4h_to_h.bias"),
            Some(1)
        );
        assert_eq!(
            layer_of(&neox::LAYOUT, "gpt_neox.final_layer_norm.weight"),
            None
        );
    }
}
