//! `config.json` parsing: the three families, and clear errors for what is not implemented.

use exo_lm::{Architecture, LmConfig, LmError, RopeScaling};
use serde_json::json;

use crate::common::fixture;

fn base() -> serde_json::Value {
    json!({
        "model_type": "llama", "vocab_size": 32, "hidden_size": 16, "intermediate_size": 24,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": true,
        "eos_token_id": [2, 7], "bos_token_id": 1
    })
}

fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
    let mut v = base();
    v[key] = value;
    v
}

#[test]
fn fixtures_parse_with_their_family_defaults() -> exo_lm::Result<()> {
    let llama = LmConfig::from_file(fixture("llama"))?;
    assert_eq!(llama.architecture, Architecture::Llama);
    assert_eq!(
        (llama.num_key_value_heads, llama.head_dim, llama.kv_groups()),
        (2, 8, 2)
    );
    assert!(!llama.qkv_bias && !llama.tie_word_embeddings);
    let qwen = LmConfig::from_file(fixture("qwen2"))?;
    assert!(qwen.qkv_bias && !qwen.o_bias && qwen.tie_word_embeddings);
    assert_eq!((qwen.rope_theta, qwen.sliding_window), (1e6, None));
    let mistral = LmConfig::from_file(fixture("mistral"))?;
    assert_eq!((mistral.head_dim, mistral.sliding_window), (16, Some(4096)));
    assert_eq!(mistral.eos_token_ids, vec![2]);
    Ok(())
}

#[test]
fn transformers_4_style_fields_parse() -> exo_lm::Result<()> {
    let c = LmConfig::from_json(base())?;
    assert_eq!(c.rope_theta, 500000.0);
    assert_eq!(c.eos_token_ids, vec![2, 7]);
    assert_eq!(c.head_dim, 4);
    assert!(c.tie_word_embeddings);
    let c = LmConfig::from_json(with("rope_scaling", serde_json::Value::Null))?;
    assert_eq!(c.rope_theta, 500000.0);
    Ok(())
}

/// Llama 3.2's `rope_scaling` (transformers 4 layout) parses to [`RopeScaling::Llama3`]; a
/// missing or inconsistent field is refused by name.
#[test]
fn llama3_rope_scaling_parses_and_is_checked() -> exo_lm::Result<()> {
    let llama32 = json!({"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
    let c = LmConfig::from_json(with("rope_scaling", llama32))?;
    assert_eq!(
        c.rope_scaling,
        RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192
        }
    );
    assert_eq!(c.rope_theta, 500000.0);
    assert_eq!(LmConfig::from_json(base())?.rope_scaling, RopeScaling::None);
    for bad in [
        json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
            "high_freq_factor": 1.0, "original_max_position_embeddings": 8192}),
        json!({"rope_type": "llama3", "factor": -8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0}),
    ] {
        match LmConfig::from_json(with("rope_scaling", bad.clone())) {
            Err(LmError::Config { field, .. }) => assert_eq!(field, "rope_scaling", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn unsupported_model_type_is_named() {
    let err = LmConfig::from_json(with("model_type", json!("falcon"))).expect_err("falcon");
    assert!(
        matches!(&err, LmError::UnsupportedArchitecture { model_type } if model_type == "falcon")
    );
    assert!(
        err.to_string()
            .contains("llama, qwen2, mistral, gpt2 and gpt_neox"),
        "{err}"
    );
}

/// GPT-2's own field names (`n_embd`, `n_layer`, `n_head`, `n_inner`, `n_positions`,
/// `layer_norm_epsilon`, `activation_function`) and GPT-NeoX's legacy `rotary_pct` /
/// `rotary_emb_base` are read; unimplemented variants are refused by name.
#[test]
fn gpt_family_configs_are_read_and_checked() -> exo_lm::Result<()> {
    use exo_lm::{MlpKind, NormKind, Positions};
    let gpt2 = LmConfig::from_json(json!({
        "model_type": "gpt2", "vocab_size": 50, "n_embd": 32, "n_layer": 3, "n_head": 4,
        "n_inner": null, "n_positions": 128, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new"
    }))?;
    assert_eq!(
        (
            gpt2.hidden_size,
            gpt2.intermediate_size,
            gpt2.num_hidden_layers
        ),
        (32, 128, 3)
    );
    assert_eq!(gpt2.max_position_embeddings, 128);
    assert_eq!(gpt2.positions, Positions::Learned);
    assert_eq!((gpt2.norm, gpt2.mlp), (NormKind::Layer, MlpKind::GeluTanh));
    assert!(gpt2.tie_word_embeddings);
    let neox = LmConfig::from_json(json!({
        "model_type": "gpt_neox", "vocab_size": 50, "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 256, "rotary_pct": 0.25,
        "rotary_emb_base": 10000, "hidden_act": "gelu", "use_parallel_residual": false
    }))?;
    assert_eq!(neox.positions, Positions::Rotary { dims: 4 });
    assert_eq!(neox.mlp, MlpKind::GeluErf);
    assert!(!neox.parallel_residual && !neox.tie_word_embeddings);
    for (field, value) in [
        ("scale_attn_by_inverse_layer_idx", json!(true)),
        ("activation_function", json!("relu")),
    ] {
        let mut raw = json!({"model_type": "gpt2", "vocab_size": 50, "n_embd": 32,
            "n_layer": 1, "n_head": 4});
        raw[field] = value;
        match LmConfig::from_json(raw) {
            Err(LmError::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn unimplemented_fields_are_rejected_by_name() {
    for (key, value, field) in [
        (
            "rope_scaling",
            json!({"rope_type": "llama3", "factor": 8.0}),
            "rope_scaling",
        ),
        (
            "rope_parameters",
            json!({"rope_type": "yarn", "rope_theta": 1e4}),
            "rope_parameters",
        ),
        ("hidden_act", json!("gelu"), "hidden_act"),
        ("attention_dropout", json!(0.1), "attention_dropout"),
        (
            "quantization_config",
            json!({"quant_method": "gptq"}),
            "quantization_config",
        ),
        ("num_key_value_heads", json!(3), "num_key_value_heads"),
        ("head_dim", json!(5), "head_dim"),
    ] {
        match LmConfig::from_json(with(key, value)) {
            Err(LmError::Config { field: f, .. }) => assert_eq!(f, field, "{key}"),
            other => panic!("{key}: {other:?}"),
        }
    }
    let mut missing = base();
    missing.as_object_mut().map(|m| m.remove("vocab_size"));
    assert!(matches!(
        LmConfig::from_json(missing),
        Err(LmError::Config {
            field: "vocab_size",
            ..
        })
    ));
}
