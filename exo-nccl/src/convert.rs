//! exo-core's errors and reductions in cudarc's terms: [`Error::Collective`] for CUDA and NCCL
//! failures, NCCL's operation for a [`ReduceOp`].

use exo_core::Error;
use exo_core::collective::ReduceOp;

/// An [`Error::Collective`] for `op`.
pub(crate) fn err(op: &'static str, message: impl Into<String>) -> Error {
    Error::Collective {
        op,
        message: message.into(),
    }
}

/// A CUDA driver error for `op`.
pub(crate) fn driver(op: &'static str) -> impl Fn(cudarc::driver::DriverError) -> Error {
    move |e| err(op, format!("CUDA driver: {e}"))
}

/// An NCCL error for `op`.
pub(crate) fn nccl(op: &'static str) -> impl Fn(cudarc::nccl::result::NcclError) -> Error {
    move |e| err(op, format!("NCCL: {e:?}"))
}

/// The NCCL operation behind a [`ReduceOp`]: `Mean` is NCCL's sum on host buffers (divided on
/// the host afterwards) and NCCL's average on device buffers.
pub(crate) fn nccl_op(op: ReduceOp, device: bool) -> cudarc::nccl::ReduceOp {
    match op {
        ReduceOp::Sum => cudarc::nccl::ReduceOp::Sum,
        ReduceOp::Mean if device => cudarc::nccl::ReduceOp::Avg,
        ReduceOp::Mean => cudarc::nccl::ReduceOp::Sum,
        ReduceOp::Max => cudarc::nccl::ReduceOp::Max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_a_sum_on_the_host_and_an_average_on_the_device() {
        use cudarc::nccl::ReduceOp as N;
        assert!(matches!(nccl_op(ReduceOp::Mean, false), N::Sum));
        assert!(matches!(nccl_op(ReduceOp::Mean, true), N::Avg));
        assert!(matches!(nccl_op(ReduceOp::Sum, true), N::Sum));
        assert!(matches!(nccl_op(ReduceOp::Max, false), N::Max));
    }
}
