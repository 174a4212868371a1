//! Mapping tch's errors into exo's, with the op name.

use exo_core::Error;

/// A closure for `map_err` that wraps a tch error with the exo op that called libtorch.
pub fn from_tch(op: &'static str) -> impl FnOnce(tch::TchError) -> Error {
    move |err| Error::backend("libtorch", op, err)
}
