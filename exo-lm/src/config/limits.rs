//! Upper bounds on the sizes of a config, so that an absurd `config.json` is refused before
//! anything proportional to it is allocated. Each admits every released model this crate's
//! families cover with a wide margin (Llama-3.1-405B: 126 layers, hidden 16384, 128 heads,
//! intermediate 53248, vocab 128256, context 131072).

/// `num_hidden_layers` (`n_layer`).
pub const MAX_LAYERS: usize = 1024;
/// `hidden_size` (`n_embd`).
pub const MAX_HIDDEN: usize = 65_536;
/// `intermediate_size` (`n_inner`).
pub const MAX_INTERMEDIATE: usize = 262_144;
/// `num_attention_heads` and `num_key_value_heads`.
pub const MAX_HEADS: usize = 1024;
/// `head_dim`.
pub const MAX_HEAD_DIM: usize = 1024;
/// `vocab_size` (2²⁴).
pub const MAX_VOCAB: usize = 1 << 24;
/// `max_position_embeddings` (`n_positions`; 2²⁴) and `sliding_window`.
pub const MAX_CONTEXT: usize = 1 << 24;
