//! `Autodiff` for [`Candle`]: trainable leaves are candle `Var`s; gradients come from
//! `Tensor::backward`'s `GradStore`.

use candle_core::{Tensor, Var};
use exo_core::{Autodiff, Error, Result};

use crate::Candle;
use crate::error::from_candle;

impl Autodiff for Candle {
    // candle's `backward` sorts the graph, then walks it with every forward tensor held by the
    // loss until it returns.
    const FREES_GRAPH_IN_BACKWARD: bool = false;

    fn require_grad(t: &Tensor) -> Result<Tensor> {
        Var::from_tensor(&t.detach())
            .map(Var::into_inner)
            .map_err(from_candle("require_grad"))
    }

    fn grad(loss: &Tensor, wrt: &[&Tensor]) -> Result<Vec<Tensor>> {
        const OP: &str = "grad";
        if loss.elem_count() != 1 {
            return Err(Error::shape(OP, "a scalar loss", loss.dims()));
        }
        if let Some(leaf) = wrt.iter().find(|w| !w.is_variable()) {
            return Err(Error::shape(
                OP,
                "leaves made by require_grad (this tensor does not track gradients)",
                leaf.dims(),
            ));
        }
        let grads = loss.backward().map_err(from_candle(OP))?;
        wrt.iter()
            .map(|w| match grads.get(w) {
                // Detached: candle builds gradients with ops on the forward's tensors, so a
                // gradient would otherwise carry (and keep alive) a graph back into the forward
                // pass, and a later backward through it would differentiate the gradient itself.
                Some(g) => Ok(g.detach()),
                // The loss does not depend on this leaf.
                None => w.zeros_like().map_err(from_candle(OP)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use exo_core::{Autodiff, Result, TensorOps};

    use crate::Candle;

    /// A gradient is a plain value: no graph back into the forward pass (so the forward's
    /// tensors are freed with the graph, and a backward through an expression holding the
    /// gradient does not differentiate the gradient itself).
    #[test]
    fn gradients_carry_no_graph() -> Result<()> {
        let w = Candle::require_grad(&Candle::from_f64s(
            &[1.0, 2.0, 3.0],
            &[3],
            exo_core::DType::F32,
            &Device::Cpu,
        )?)?;
        let loss = Candle::sum_all(&Candle::mul(&w, &w)?)?;
        let grads = Candle::grad(&loss, &[&w])?;
        let g: &Tensor = &grads[0];
        assert!(!g.track_op(), "the gradient tracks an op");
        // d/dw Σ w ⊙ g with g held constant is g (with a graph, it would be 2g + 2w·…).
        let again = Candle::grad(&Candle::sum_all(&Candle::mul(&w, g)?)?, &[&w])?;
        assert_eq!(Candle::to_f64s(&again[0])?, vec![2.0, 4.0, 6.0]);
        Ok(())
    }
}
