//! [`TchTensor`]: a `tch::Tensor` whose `Clone` is a shallow clone.

use std::fmt;

/// A libtorch tensor handle. `Clone` shares the storage (`shallow_clone`), as `B::Tensor` clones
/// must be cheap; it is `Send` but not `Sync`, like `tch::Tensor`.
#[must_use]
pub struct TchTensor(pub tch::Tensor);

impl TchTensor {
    /// The wrapped tensor.
    pub fn inner(&self) -> &tch::Tensor {
        &self.0
    }

    /// Unwraps the tensor.
    pub fn into_inner(self) -> tch::Tensor {
        self.0
    }
}

impl From<tch::Tensor> for TchTensor {
    fn from(t: tch::Tensor) -> Self {
        Self(t)
    }
}

impl Clone for TchTensor {
    fn clone(&self) -> Self {
        Self(self.0.shallow_clone())
    }
}

impl fmt::Debug for TchTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TchTensor")
            .field("dims", &self.0.size())
            .field("kind", &self.0.f_kind().ok())
            .field("device", &self.0.device())
            .finish()
    }
}
