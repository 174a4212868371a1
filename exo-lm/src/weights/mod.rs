//! Hugging Face safetensors checkpoints: reading (single file or sharded, f32/f16/bf16/f64
//! converted to the compute dtype) and writing (Hugging Face names plus `config.json`, through a
//! temporary file and a rename).
//!
//! Files are read whole with `std::fs::read` and parsed with safetensors' safe deserializer (no
//! memory map, hence no `unsafe`). Every failure names the file, and where it concerns one
//! tensor, the tensor.

mod host;
mod load;
mod save;

pub use host::{HostData, HostTensor};
pub use load::{
    HeaderEntry, INDEX_FILE, MAX_HEADER_BYTES, SINGLE_FILE, check_checkpoint, checkpoint_files,
    parse_header, read_checkpoint, read_header, read_safetensors,
};
pub use save::{
    Deferred, write_atomic, write_safetensors, write_safetensors_as, write_safetensors_deferred,
};
