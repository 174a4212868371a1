//! LoRA adapters (Hu et al., 2021) in PEFT's layout: each targeted linear layer `W` `[out, in]`
//! (frozen) gets a trainable low-rank update,
//!
//! ```text
//! y = x · Wᵀ + b + (α / r) · (x · Aᵀ) · Bᵀ        A: [r, in],  B: [out, r]
//! ```
//!
//! initialised as PEFT does (`A ~ U(−1/√in, 1/√in)`, Kaiming-uniform with `a = √5`; `B = 0`), so
//! that a fresh adapter leaves the model unchanged. The base weights are plain tensors that
//! track no gradient; only `A` and `B` are the model's parameters (and AdamW's). The reference
//! model of an alignment run is the same weights with the adapters off
//! ([`crate::CausalLm::without_adapters`]: no second copy). Adapters are saved and loaded in
//! PEFT's files (`adapter_config.json`, `adapter_model.safetensors` with PEFT's key names), so
//! `peft.PeftModel.from_pretrained(base, dir)` loads exo's adapters and exo loads PEFT's;
//! [`crate::CausalLm::merged`] folds them into a plain model (`W + (α / r) · B · A`).

mod config;
mod dropout;
mod peft;

pub use config::{LoraConfig, LoraTarget};
pub(crate) use dropout::dropout_mask;
pub(crate) use peft::adapter_config_json;
pub use peft::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, PEFT_PREFIX, read_adapter_config};
