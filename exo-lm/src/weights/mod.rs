//! Hugging Face safetensors checkpoints: reading (single file or sharded, f32/f16/bf16/f64
//! converted to the compute dtype) and writing (Hugging Face names plus `config.json`, through a
//! temporary file and a rename).
//!
//! A model's checkpoint is located by its headers and read one tensor at a time
//! ([`locate_checkpoint`], [`StoredTensor::read`]); other files (adapters, optimiser state) are
//! read whole and parsed with safetensors' safe deserializer. No memory map, hence no `unsafe`.
//! Every failure names the file, and where it concerns one tensor, the tensor.

mod host;
mod load;
mod save;
mod stored;

pub use host::{HostData, HostTensor};
pub use load::{
    HeaderEntry, INDEX_FILE, MAX_HEADER_BYTES, SINGLE_FILE, check_checkpoint, checkpoint_files,
    parse_header, read_checkpoint, read_header, read_safetensors,
};
pub use save::{
    Deferred, write_atomic, write_safetensors, write_safetensors_as, write_safetensors_deferred,
};
pub use stored::{StoredTensor, locate_checkpoint};
