//! The model's parameters, by Hugging Face name, and their gradients.

use exo_core::Result as CoreResult;

use crate::{LmError, ModelOps, Result};

/// What a parameter is, which decides whether AdamW decays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParamKind {
    /// The token embedding (also the output projection when tied). Decayed.
    Embedding,
    /// A projection matrix `[out, in]` (including an untied `lm_head`). Decayed.
    Matrix,
    /// A projection bias `[out]`. Not decayed.
    Bias,
    /// An RMSNorm gain `[d]`. Not decayed.
    Norm,
}

impl ParamKind {
    /// Whether decoupled weight decay applies (matrices and embeddings, not biases and norms).
    pub fn decays(self) -> bool {
        matches!(self, Self::Embedding | Self::Matrix)
    }
}

/// One named parameter. The tensor is a shallow handle: the model's layers hold handles on the
/// same storage, so an in-place update ([`ModelOps::assign`]) reaches them.
#[derive(Debug, Clone)]
pub struct Param<B: ModelOps> {
    /// The Hugging Face tensor name (`model.layers.0.self_attn.q_proj.weight`, ...).
    pub name: String,
    /// The values (a trainable leaf when the model is trainable).
    pub tensor: B::Tensor,
    /// What the parameter is.
    pub kind: ParamKind,
}

/// All parameters of a model, in a fixed order (the order of [`Params::iter`], of
/// [`Gradients`] and of the optimiser state). A tied embedding appears once.
#[derive(Debug, Clone)]
pub struct Params<B: ModelOps> {
    list: Vec<Param<B>>,
}

impl<B: ModelOps> Params<B> {
    pub(crate) fn new(list: Vec<Param<B>>) -> Self {
        Self { list }
    }

    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = &Param<B>> {
        self.list.iter()
    }

    /// How many parameter tensors there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The parameter named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Param<B>> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The total number of scalar parameters.
    pub fn num_scalars(&self) -> usize {
        self.list
            .iter()
            .map(|p| B::dims(&p.tensor).iter().product::<usize>())
            .sum()
    }

    /// `∂loss/∂p` for every parameter, in order.
    ///
    /// # Errors
    /// If `loss` is not a scalar, the parameters are frozen (not leaves that track gradients),
    /// or the backward pass fails.
    pub fn grad(&self, loss: &B::Tensor) -> Result<Gradients<B>> {
        let leaves: Vec<&B::Tensor> = self.list.iter().map(|p| &p.tensor).collect();
        let grads = B::grad(loss, &leaves)?;
        // Plain values: accumulating or scaling them must not extend any graph.
        let grads = grads
            .iter()
            .map(B::detach)
            .collect::<CoreResult<Vec<_>>>()?;
        Gradients::from_tensors(grads)
    }
}

/// Gradients aligned with a [`Params`] list (same order, same shapes). Plain tensors, cut from
/// any graph. The gradients of bf16 or f16 parameters are held in f32
/// ([`exo_core::DType::accumulate`]), so that accumulation over micro-batches, the global norm,
/// clipping and AdamW work in f32 (mixed precision).
#[derive(Debug, Clone)]
pub struct Gradients<B: ModelOps> {
    grads: Vec<B::Tensor>,
}

impl<B: ModelOps> Gradients<B> {
    /// Gradients already computed in parameter order (plain tensors); 16-bit ones are upcast
    /// to f32.
    ///
    /// # Errors
    /// If a conversion fails.
    pub(crate) fn from_tensors(grads: Vec<B::Tensor>) -> Result<Self> {
        // One at a time, each 16-bit gradient freed once converted.
        let grads = grads
            .into_iter()
            .map(|g| exo_core::upcast::<B>(&g))
            .collect::<CoreResult<Vec<_>>>()?;
        Ok(Self { grads })
    }

    /// The gradients in parameter order.
    pub fn tensors(&self) -> &[B::Tensor] {
        &self.grads
    }

    /// The gradients in parameter order, to replace in place (same shapes).
    pub(crate) fn tensors_mut(&mut self) -> &mut [B::Tensor] {
        &mut self.grads
    }

    /// The global L2 norm over all gradients:
    ///
    /// ```text
    /// ‖g‖ = √( Σ_p Σ_i g_{p,i}² )
    /// ```
    ///
    /// # Errors
    /// If an op fails.
    pub fn global_norm(&self) -> Result<f64> {
        let mut total = 0.0;
        for g in &self.grads {
            let sq = B::sum_all(&B::mul(g, g)?)?;
            total += B::to_f64s(&sq)?.first().copied().unwrap_or(0.0);
        }
        Ok(total.sqrt())
    }

    /// Multiplies every gradient by `factor`.
    ///
    /// # Errors
    /// If an op fails.
    pub fn scale(&mut self, factor: f64) -> Result<()> {
        for g in &mut self.grads {
            *g = B::mul_scalar(g, factor)?;
        }
        Ok(())
    }

    /// Adds `other` elementwise (gradient accumulation).
    ///
    /// # Errors
    /// [`LmError::Input`] if the lists have different lengths; a tensor error if shapes differ.
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        if self.grads.len() != other.grads.len() {
            return Err(LmError::input(
                "Gradients::add_assign",
                format!("{} gradients plus {}", self.grads.len(), other.grads.len()),
            ));
        }
        for (g, o) in self.grads.iter_mut().zip(&other.grads) {
            *g = B::add(g, o)?;
        }
        Ok(())
    }

    /// How many parameters have a gradient that is not identically zero (and finite). A
    /// training-health check: every parameter of a decoder should receive a gradient.
    ///
    /// # Errors
    /// If an op fails.
    pub fn count_nonzero(&self) -> Result<usize> {
        let mut count = 0;
        for g in &self.grads {
            let sq = B::to_f64s(&B::sum_all(&B::mul(g, g)?)?)?;
            if sq.first().is_some_and(|&s| s.is_finite() && s > 0.0) {
                count += 1;
            }
        }
        Ok(count)
    }
}
