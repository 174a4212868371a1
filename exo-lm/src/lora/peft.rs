//! PEFT's adapter files: `adapter_config.json` (what `peft.LoraConfig` saves) and the tensor
//! names of `adapter_model.safetensors`.

use std::path::Path;

use serde_json::{Value, json};

use super::{LoraConfig, LoraTarget};
use crate::{LmError, Result};

/// The adapter's configuration file.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The adapter's weights.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// What PEFT puts before a base model's parameter names (`PeftModel.base_model.model.…`).
pub const PEFT_PREFIX: &str = "base_model.model.";

/// `adapter_config.json` for `config` on the base model `base` (a path or a hub name), as
/// `peft.LoraConfig(task_type="CAUSAL_LM", ...)` writes it.
pub(crate) fn adapter_config_json(config: &LoraConfig, base: &str) -> Value {
    let targets: Vec<&str> = config.targets().iter().map(|t| t.name()).collect();
    json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "r": config.r(),
        "lora_alpha": config.alpha(),
        "lora_dropout": config.dropout(),
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_rslora": false,
        "use_dora": false,
        "revision": null,
    })
}

/// A key of `adapter_config.json` and whether its value asks for something exo does not do.
type Unsupported = (&'static str, fn(&Value) -> bool);

/// Set (not null, not false, not empty).
fn set(x: &Value) -> bool {
    match x {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

/// What exo refuses rather than load wrongly: rsLoRA's and DoRA's other maths, trained biases,
/// transposed weights, per-layer ranks or scales, extra trained modules, layer selection or
/// replication, adapters on parameters or token rows, quantisation-aware and other variants.
const UNSUPPORTED: [Unsupported; 16] = [
    ("use_rslora", set),
    ("use_dora", set),
    ("fan_in_fan_out", set),
    ("bias", |x| x.as_str().is_some_and(|s| s != "none")),
    ("lora_bias", set),
    ("modules_to_save", set),
    ("layers_to_transform", set),
    ("rank_pattern", set),
    ("alpha_pattern", set),
    ("exclude_modules", set),
    ("layer_replication", set),
    ("target_parameters", set),
    ("trainable_token_indices", set),
    ("use_qalora", set),
    ("use_bdlora", set),
    ("alora_invocation_tokens", set),
];

/// The [`LoraConfig`] of a PEFT `adapter_config.json`, and its base model's name.
///
/// # Errors
/// [`LmError::Json`] if the file cannot be read or parsed, or asks for what exo does not
/// implement (another PEFT method, rsLoRA, DoRA, trained biases, per-layer ranks, extra saved
/// modules, fan-in-fan-out weights), naming the key.
pub fn read_adapter_config(path: &Path) -> Result<(LoraConfig, Option<String>)> {
    let bad = |message: String| LmError::Json {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(LmError::io(path))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let peft_type = v["peft_type"].as_str().unwrap_or("");
    if peft_type != "LORA" {
        return Err(bad(format!(
            "peft_type `{peft_type}`: only LORA adapters are supported"
        )));
    }
    for (key, is_set) in UNSUPPORTED {
        if is_set(&v[key]) {
            return Err(bad(format!("`{key}` = {}: not supported by exo", v[key])));
        }
    }
    let r = v["r"]
        .as_u64()
        .and_then(|r| usize::try_from(r).ok())
        .ok_or_else(|| bad("`r` is missing or not a positive integer".into()))?;
    let alpha = v["lora_alpha"]
        .as_f64()
        .ok_or_else(|| bad("`lora_alpha` is missing or not a number".into()))?;
    let targets = match &v["target_modules"] {
        Value::String(s) => LoraTarget::parse_list(s)?,
        // Module names (`q_proj`), or, as PEFT 0.21 saves `all-linear`, module paths
        // (`model.layers.0.self_attn.q_proj`), which PEFT matches by their last name. An adapter
        // on some layers only is refused when its tensors are read (missing matrices).
        Value::Array(items) => {
            let names: Vec<&str> = items
                .iter()
                .filter_map(Value::as_str)
                .map(|path| path.rsplit('.').next().unwrap_or(path))
                .collect();
            if names.len() != items.len() {
                return Err(bad(
                    "`target_modules` holds a value that is not a name".into()
                ));
            }
            LoraTarget::parse_list(&names.join(","))?
        }
        other => return Err(bad(format!("`target_modules` = {other}: expected names"))),
    };
    let dropout = match &v["lora_dropout"] {
        Value::Null => 0.0,
        x => x
            .as_f64()
            .ok_or_else(|| bad(format!("`lora_dropout` = {x}: expected a number")))?,
    };
    let base = v["base_model_name_or_path"].as_str().map(str::to_owned);
    Ok((
        LoraConfig::new(r, alpha, targets)?.with_dropout(dropout)?,
        base,
    ))
}
