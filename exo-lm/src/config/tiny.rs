//! [`LmConfig::tiny`]: a small config of any family, for tests and examples.

use super::{Architecture, LmConfig};
use crate::{LmError, Result};

impl LmConfig {
    /// A small config for tests and examples, as `transformers` would write it. For GPT-2 and
    /// GPT-NeoX `num_key_value_heads` must equal `num_attention_heads` (they have no
    /// grouped-query attention); GPT-NeoX gets `rotary_pct = 0.25` and the parallel residual,
    /// GPT-2 its tied head whatever `tie_word_embeddings` says.
    ///
    /// # Errors
    /// As [`LmConfig::from_json`] (for example a width not divisible by the head count), and
    /// [`LmError::Config`] for grouped-query heads in a GPT family.
    #[allow(clippy::too_many_arguments)]
    pub fn tiny(
        architecture: Architecture,
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
        tie_word_embeddings: bool,
    ) -> Result<Self> {
        if !architecture.is_llama_like() && num_key_value_heads != num_attention_heads {
            return Err(LmError::config(
                "num_key_value_heads",
                format!(
                    "{num_key_value_heads} != num_attention_heads = {num_attention_heads}: {} has no grouped-query attention",
                    architecture.model_type()
                ),
            ));
        }
        match architecture {
            Architecture::Gpt2 => {
                return Self::from_json(serde_json::json!({
                    "architectures": [architecture.hf_class()],
                    "model_type": "gpt2",
                    "vocab_size": vocab_size,
                    "n_embd": hidden_size,
                    "n_inner": intermediate_size,
                    "n_layer": num_hidden_layers,
                    "n_head": num_attention_heads,
                    "n_positions": 512,
                    "activation_function": "gelu_new",
                    "layer_norm_epsilon": 1e-5,
                    "tie_word_embeddings": true,
                    "initializer_range": 0.02,
                }));
            }
            Architecture::GptNeox => {
                return Self::from_json(serde_json::json!({
                    "architectures": [architecture.hf_class()],
                    "model_type": "gpt_neox",
                    "vocab_size": vocab_size,
                    "hidden_size": hidden_size,
                    "intermediate_size": intermediate_size,
                    "num_hidden_layers": num_hidden_layers,
                    "num_attention_heads": num_attention_heads,
                    "hidden_act": "gelu",
                    "max_position_embeddings": 512,
                    "layer_norm_eps": 1e-5,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
                    "use_parallel_residual": true,
                    "tie_word_embeddings": tie_word_embeddings,
                    "initializer_range": 0.02,
                }));
            }
            _ => {}
        }
        Self::from_json(serde_json::json!({
            "architectures": [architecture.hf_class()],
            "model_type": architecture.model_type(),
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 512,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "tie_word_embeddings": tie_word_embeddings,
            "initializer_range": 0.02,
        }))
    }
}
