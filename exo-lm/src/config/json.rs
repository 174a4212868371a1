//! The dtype fields of `config.json`: read from a checkpoint, written back on save.

use serde_json::Value;

use super::LmConfig;

impl LmConfig {
    /// The dtype the checkpoint says its weights are stored in (`dtype`, or transformers 4's
    /// `torch_dtype`: `float32`, `bfloat16`, `float16`, `float64`), if it says one exo knows.
    pub fn stored_dtype(&self) -> Option<exo_core::DType> {
        ["dtype", "torch_dtype"]
            .iter()
            .find_map(|key| self.raw.get(key).and_then(Value::as_str))
            .and_then(|name| name.parse().ok())
    }

    /// The `config.json` to write next to saved weights: [`LmConfig::raw`] with the weights'
    /// dtype (`"float32"`, `"bfloat16"`, `"float16"` or `"float64"`) under both the
    /// transformers 4 and 5 keys.
    pub fn to_json(&self, dtype: exo_core::DType) -> Value {
        let mut raw = self.raw.clone();
        let name = match dtype {
            exo_core::DType::F64 => "float64",
            exo_core::DType::BF16 => "bfloat16",
            exo_core::DType::F16 => "float16",
            _ => "float32",
        };
        if let Value::Object(map) = &mut raw {
            map.insert("torch_dtype".into(), Value::from(name));
            map.insert("dtype".into(), Value::from(name));
            map.insert(
                "tie_word_embeddings".into(),
                Value::from(self.tie_word_embeddings),
            );
        }
        raw
    }
}
