//! The one error type of exo-core, returned by every tensor op and objective.

use std::fmt;

/// Result alias used throughout exo-core and its backend adapters.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a tensor op, an objective or a hyper-parameter check.
///
/// Backend adapters map their own errors into [`Error::Backend`] with the op name, so a failure
/// deep inside candle or libtorch still says which exo op asked for it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor had the wrong shape for an op.
    #[error("{op}: expected {expected}, got shape {got:?}")]
    Shape {
        /// The op that checked the shape.
        op: &'static str,
        /// What the op needed, in words (for example `"[batch, k] with k >= 2"`).
        expected: String,
        /// The shape it got.
        got: Vec<usize>,
    },
    /// Two tensors that must agree in shape do not.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not match")]
    ShapeMismatch {
        /// The op that compared the shapes.
        op: &'static str,
        /// Shape of the first operand.
        lhs: Vec<usize>,
        /// Shape of the second operand.
        rhs: Vec<usize>,
    },
    /// A dimension index is out of range for a tensor's rank.
    #[error("{op}: dimension {dim} out of range for shape {shape:?}")]
    DimOutOfRange {
        /// The op that got the dimension.
        op: &'static str,
        /// The dimension asked for.
        dim: usize,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// Tensors of different dtypes met in one op, or a dtype is not supported by the op.
    #[error("{op}: {message}")]
    DType {
        /// The op that checked the dtype.
        op: &'static str,
        /// What went wrong, in words.
        message: String,
    },
    /// Host data of the wrong length for the requested shape.
    #[error("{op}: {len} values cannot fill shape {dims:?}")]
    DataLength {
        /// The op that built the tensor.
        op: &'static str,
        /// Number of host values given.
        len: usize,
        /// Requested shape.
        dims: Vec<usize>,
    },
    /// A hyper-parameter failed validation.
    #[error("invalid hyper-parameter {name} = {value}: must be {requirement}")]
    HyperParameter {
        /// The parameter's name as the user knows it (`beta_pi`, `epsilon`, ...).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The rule it broke, in words (`"finite and > 0"`).
        requirement: &'static str,
    },
    /// An objective was given the wrong kind of input (missing rewards, K != 2 for a pairwise loss, ...).
    #[error("{objective}: {message}")]
    Input {
        /// The objective's name.
        objective: &'static str,
        /// What is wrong with the input.
        message: String,
    },
    /// An objective spec (`exo:1.0,sft:0.2`) that does not parse or names an unknown objective.
    #[error("invalid objective spec {spec:?}: {message}")]
    ObjectiveSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// A collective operation among the processes of a data-parallel run failed.
    #[error("collective {op}: {message}")]
    Collective {
        /// The operation (`all_reduce`, `broadcast`, ...).
        op: &'static str,
        /// What went wrong, in words.
        message: String,
    },
    /// An error raised by a tensor library, wrapped with the exo op that called it.
    #[error("{backend} backend, op {op}: {message}")]
    Backend {
        /// The backend's name (`candle`, `libtorch`, `ndarray`).
        backend: &'static str,
        /// The exo op that called the library.
        op: &'static str,
        /// The library's own message.
        message: String,
    },
}

impl Error {
    /// Wraps a tensor library's error with the backend and op names.
    pub fn backend(backend: &'static str, op: &'static str, err: impl fmt::Display) -> Self {
        Self::Backend {
            backend,
            op,
            message: err.to_string(),
        }
    }

    /// A shape error for `op`.
    pub fn shape(op: &'static str, expected: impl Into<String>, got: &[usize]) -> Self {
        Self::Shape {
            op,
            expected: expected.into(),
            got: got.to_vec(),
        }
    }
}
