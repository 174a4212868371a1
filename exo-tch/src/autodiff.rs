//! `Autodiff` for [`LibTorch`]: leaves with `requires_grad`, gradients by `torch.autograd.grad`
//! (`Tensor::f_run_backward`).

use exo_core::{Autodiff, Error, Result};
use tch::Tensor;

use crate::error::from_tch;
use crate::{LibTorch, TchTensor};

impl Autodiff for LibTorch {
    fn require_grad(t: &TchTensor) -> Result<TchTensor> {
        t.0.f_detach()
            .and_then(|d| d.f_set_requires_grad(true))
            .map(TchTensor)
            .map_err(from_tch("require_grad"))
    }

    fn grad(loss: &TchTensor, wrt: &[&TchTensor]) -> Result<Vec<TchTensor>> {
        const OP: &str = "grad";
        if loss.0.numel() != 1 {
            let dims: Vec<usize> = loss
                .0
                .size()
                .into_iter()
                .map(|d| usize::try_from(d).unwrap_or(0))
                .collect();
            return Err(Error::shape(OP, "a scalar loss", &dims));
        }
        let inputs: Vec<&Tensor> = wrt.iter().map(|w| &w.0).collect();
        if let Some(leaf) = inputs.iter().find(|w| !w.requires_grad()) {
            let dims: Vec<usize> = leaf
                .size()
                .into_iter()
                .map(|d| usize::try_from(d).unwrap_or(0))
                .collect();
            return Err(Error::shape(
                OP,
                "leaves made by require_grad (this tensor does not track gradients)",
                &dims,
            ));
        }
        if !loss.0.requires_grad() {
            // The loss is a constant: no leaf reaches it. (libtorch's engine would dereference
            // the missing graph root instead of raising.)
            return inputs
                .iter()
                .map(|w| w.f_zeros_like().map(TchTensor).map_err(from_tch(OP)))
                .collect();
        }
        let grads =
            Tensor::f_run_backward(&[&loss.0], &inputs, false, false).map_err(from_tch(OP))?;
        grads
            .into_iter()
            .zip(inputs)
            .map(|(g, w)| {
                if g.defined() {
                    Ok(TchTensor(g))
                } else {
                    // The loss does not depend on this leaf.
                    w.f_zeros_like().map(TchTensor).map_err(from_tch(OP))
                }
            })
            .collect()
    }
}
