//! exo-lm's tests: every generic check runs on candle and on libtorch (CPU) through
//! [`per_backend!`].

#[macro_use]
mod common;

mod all_reduce;
mod checkpoint;
mod chunked;
mod config;
mod families;
mod gradients;
mod lm_head;
mod lora;
mod loss_scaling;
mod memory;
mod ops;
mod optim;
mod overfit;
mod packed;
mod parity;
mod policy;
mod precision;
mod sampling;
mod score;
mod weights;
