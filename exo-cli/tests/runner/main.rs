//! End-to-end tests of the runner: every command on tiny data on both backends, resume after a
//! kill, the reference cache, metrics names, config files, and one-line errors for bad inputs.
//!
//! The data come from one `exo demo --quick` run shared by all tests (a 2 × 32 model trained for
//! a few steps: the point is that every path runs, not the numbers).

// Helpers outside `#[test]` functions panic on failure too: this is test code.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

mod adapter_dtype;
mod commands;
mod conventions;
mod demo;
mod distributed;
mod errors;
mod limits;
mod lora_adapter;
mod model_folders;
mod resume;
mod reward_model;
mod stop;
