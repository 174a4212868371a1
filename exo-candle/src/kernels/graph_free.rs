//! [`Node`]: a three-input graph node whose forward and backward passes are computed on
//! graph-free tensors ([`GraphFree3`]), so that candle's graph keeps only the node's inputs and
//! output, never the intermediates of either pass (the attention kernels).

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Shape, Tensor};

use super::contiguous;

/// A function of three tensors with its gradient, both computed on graph-free CPU tensors.
pub(super) trait GraphFree3 {
    /// The op's name, in errors.
    const NAME: &'static str;

    /// The output.
    fn output(&self, a: &Tensor, b: &Tensor, c: &Tensor) -> candle_core::Result<Tensor>;

    /// The gradients of the three inputs, given the output's gradient.
    fn grads(
        &self,
        a: &Tensor,
        b: &Tensor,
        c: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<[Tensor; 3]>;
}

/// `T` as a candle graph node (CPU, f32 and f64).
pub(super) struct Node<T>(pub(super) T);

/// A graph-free CPU tensor of the contiguous data of `storage` in `layout`.
fn tensor_of(storage: &CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<Tensor> {
    let shape = layout.shape();
    on_floats!(op; storage => data; |T, _wrap| Tensor::from_slice::<_, T>(
        contiguous(data, layout, op)?,
        shape.clone(),
        &Device::Cpu,
    ))
}

/// `out`'s data as CPU storage (f32 or f64) and its shape: what a node's `cpu_fwd` returns.
fn storage_of(out: &Tensor, op: &str) -> candle_core::Result<(CpuStorage, Shape)> {
    let storage = match out.dtype() {
        candle_core::DType::F32 => CpuStorage::F32(out.flatten_all()?.to_vec1()?),
        candle_core::DType::F64 => CpuStorage::F64(out.flatten_all()?.to_vec1()?),
        other => {
            return Err(candle_core::Error::Msg(format!(
                "{op}: only f32 and f64 are supported, not {other:?}"
            )));
        }
    };
    Ok((storage, out.shape().clone()))
}

impl<T: GraphFree3 + Send + Sync> CustomOp3 for Node<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, b, c) = (
            tensor_of(s1, l1, T::NAME)?,
            tensor_of(s2, l2, T::NAME)?,
            tensor_of(s3, l3, T::NAME)?,
        );
        storage_of(&self.0.output(&a, &b, &c)?, T::NAME)
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        c: &Tensor,
        _out: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Graph-free copies of the handles: nothing computed here joins the graph.
        let (a, b, c, g) = (a.detach(), b.detach(), c.detach(), grad_out.detach());
        let [da, db, dc] = self.0.grads(&a, &b, &c, &g)?;
        Ok((Some(da), Some(db), Some(dc)))
    }
}
