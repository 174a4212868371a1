//! The runner's machinery, generic over the backend: compute settings and the one backend
//! dispatch ([`backend`]), model folders ([`model`]) and model IDs ([`hub`]), training data ([`data`]), the reference
//! log-prob cache ([`ref_cache`]), data-parallel worlds ([`dist`]), the training loop ([`trainer`]) with its memory report and heap trims ([`step_memory`]) and its losses ([`sft`],
//! [`align`], [`rm`]) and what the training commands share around it ([`inputs`], [`fit_job`]), checkpoints ([`checkpoint`]), the lock of an output folder ([`out_lock`]), graceful stop on a signal
//! ([`stop`]), metrics ([`metrics`]), progress and plots.

pub mod align;
pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod dist;
pub mod file_values;
pub mod fit_job;
pub mod hash;
pub mod hub;
pub mod inputs;
pub mod metrics;
pub mod model;
pub mod out_lock;
pub mod plots;
pub mod progress;
pub mod ref_cache;
pub mod rm;
pub mod setup;
pub mod sft;
pub mod step_memory;
pub mod stop;
pub mod trainer;
pub mod values;
