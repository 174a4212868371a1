//! Mapping candle's errors into exo's, with the op name.

use exo_core::Error;

/// A closure for `map_err` that wraps a candle error with the exo op that called candle.
pub fn from_candle(op: &'static str) -> impl FnOnce(candle_core::Error) -> Error {
    move |err| Error::backend("candle", op, err)
}
