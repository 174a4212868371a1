//! `Autodiff` for [`Candle`]: trainable leaves are candle `Var`s; gradients come from
//! `Tensor::backward`'s `GradStore`.

use candle_core::{Tensor, Var};
use exo_core::{Autodiff, Error, Result};

use crate::Candle;
use crate::error::from_candle;

impl Autodiff for Candle {
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
                Some(g) => Ok(g.clone()),
                // The loss does not depend on this leaf.
                None => w.zeros_like().map_err(from_candle(OP)),
            })
            .collect()
    }
}
