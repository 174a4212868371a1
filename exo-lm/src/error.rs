//! The error type of exo-lm.

use std::path::PathBuf;

/// Result alias used throughout exo-lm.
pub type Result<T, E = LmError> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring, loading, running, sampling, training or saving
/// a model. Messages name the file, the tensor or the field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LmError {
    /// A tensor op failed (wraps exo-core's error, which names the backend and the op).
    #[error(transparent)]
    Tensor(#[from] exo_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (`config.json`, the shard index) could not be parsed.
    #[error("{path}: invalid json: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The model config names an architecture this crate does not implement.
    #[error(
        "unsupported model_type {model_type:?}: exo-lm implements llama, qwen2, mistral, gpt2 and gpt_neox"
    )]
    UnsupportedArchitecture {
        /// The `model_type` of `config.json`.
        model_type: String,
    },
    /// A feature exo-lm implements for some model families only was asked of another.
    #[error("{feature} is not implemented for {model_type} models (only for {supported})")]
    UnsupportedForFamily {
        /// The feature (for example "LoRA").
        feature: &'static str,
        /// The model's `model_type`.
        model_type: &'static str,
        /// The families that have it.
        supported: &'static str,
    },
    /// A config field is missing, invalid, or asks for a feature this crate does not implement.
    #[error("config field {field}: {message}")]
    Config {
        /// The field's name in `config.json`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A checkpoint file is malformed as a whole (bad header, truncated, not safetensors).
    #[error("{path}: {message}")]
    WeightsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// One tensor of a checkpoint is missing, duplicated, of the wrong shape or dtype, or
    /// unexpected.
    #[error("tensor {tensor} ({path}): {message}")]
    Weights {
        /// The checkpoint file or folder.
        path: PathBuf,
        /// The tensor's Hugging Face name.
        tensor: String,
        /// What is wrong with it.
        message: String,
    },
    /// The caller's input is invalid (empty batch, token id outside the vocabulary, ...).
    #[error("{op}: {message}")]
    Input {
        /// The function that checked the input.
        op: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A hyper-parameter failed validation.
    #[error("invalid {name} = {value}: must be {requirement}")]
    HyperParameter {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The rule it broke, in words.
        requirement: &'static str,
    },
    /// A value a training step needs finite (a gradient norm) is not; the update was not
    /// applied.
    #[error("the {what} is {value}, not finite; the update was not applied")]
    NotFinite {
        /// What the value is.
        what: &'static str,
        /// The value.
        value: f64,
    },
}

impl LmError {
    /// An input error for `op`.
    pub(crate) fn input(op: &'static str, message: impl Into<String>) -> Self {
        Self::Input {
            op,
            message: message.into(),
        }
    }

    /// A config error for `field`.
    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            field,
            message: message.into(),
        }
    }

    /// An error about tensor `tensor` of the checkpoint at `path`.
    pub(crate) fn weights(
        path: impl Into<PathBuf>,
        tensor: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Weights {
            path: path.into(),
            tensor: tensor.into(),
            message: message.into(),
        }
    }

    /// A closure for `map_err` that wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Checks that `value` is finite and satisfies `ok`, else a [`LmError::HyperParameter`].
pub(crate) fn check_hyper(
    name: &'static str,
    value: f64,
    requirement: &'static str,
    ok: impl FnOnce(f64) -> bool,
) -> Result<f64> {
    if value.is_finite() && ok(value) {
        Ok(value)
    } else {
        Err(LmError::HyperParameter {
            name,
            value,
            requirement,
        })
    }
}
