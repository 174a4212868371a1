//! `config.json`: malformed, missing fields, absurd or inconsistent sizes, unsupported
//! features, and a model too large to train from scratch.

use serde_json::json;

use super::harness::{
    ABSURD_KIB, ABSURD_SECS, LIMIT_KIB, LIMIT_SECS, edit_config, fails, from_scratch_args,
    model_copy, sample_args, sample_case,
};

#[test]
fn config_not_json() {
    sample_case(
        "config-json",
        |d| std::fs::write(d.join("config.json"), "{\"model_type\": ").unwrap(),
        &["config.json: invalid json"],
    );
}

#[test]
fn config_missing_a_required_field() {
    sample_case(
        "no-hidden",
        |d| edit_config(d, |c| drop(c.remove("hidden_size"))),
        &["config field hidden_size: missing"],
    );
}

#[test]
fn absurd_sizes_with_sample() {
    let dir = model_copy("absurd-sample");
    edit_config(&dir, |c| {
        c["num_hidden_layers"] = json!(1_000_000_000u64);
        c["hidden_size"] = json!(10_000_000u64);
    });
    fails(
        "absurd-sample",
        &dir,
        &sample_args(&dir, None),
        &["config field hidden_size: 10000000 is beyond the supported maximum of 65536"],
        ABSURD_SECS,
        ABSURD_KIB,
    );
}

#[test]
fn absurd_sizes_with_sft_from_scratch() {
    let dir = model_copy("absurd-sft");
    edit_config(&dir, |c| {
        c["num_hidden_layers"] = json!(1_000_000_000u64);
        c["hidden_size"] = json!(10_000_000u64);
    });
    fails(
        "absurd-sft",
        &dir,
        &from_scratch_args(&dir),
        &["config field hidden_size: 10000000 is beyond the supported maximum of 65536"],
        ABSURD_SECS,
        ABSURD_KIB,
    );
}

#[test]
fn absurd_layer_count() {
    sample_case(
        "absurd-layers",
        |d| edit_config(d, |c| c["num_hidden_layers"] = json!(1_000_000_000u64)),
        &["config field num_hidden_layers: 1000000000 is beyond the supported maximum of 1024"],
    );
}

#[test]
fn absurd_vocabulary() {
    sample_case(
        "absurd-vocab",
        |d| edit_config(d, |c| c["vocab_size"] = json!(1u64 << 40)),
        &["config field vocab_size: 1099511627776 is beyond the supported maximum of 16777216"],
    );
}

#[test]
fn negative_size() {
    sample_case(
        "negative",
        |d| edit_config(d, |c| c["num_attention_heads"] = json!(-4)),
        &["config field num_attention_heads: must be a positive integer, got -4"],
    );
}

#[test]
fn zero_size() {
    sample_case(
        "zero",
        |d| edit_config(d, |c| c["num_hidden_layers"] = json!(0)),
        &["config field num_hidden_layers: must be positive"],
    );
}

#[test]
fn zero_context() {
    sample_case(
        "zero-context",
        |d| edit_config(d, |c| c["max_position_embeddings"] = json!(0)),
        &["config field max_position_embeddings: must be positive"],
    );
}

#[test]
fn heads_not_dividing_hidden() {
    sample_case(
        "heads-hidden",
        |d| edit_config(d, |c| c["num_attention_heads"] = json!(6)),
        &["config field hidden_size: 64 is not a multiple of num_attention_heads = 6"],
    );
}

#[test]
fn kv_heads_not_dividing_heads() {
    sample_case(
        "kv-heads",
        |d| edit_config(d, |c| c["num_key_value_heads"] = json!(3)),
        &["config field num_key_value_heads: 3 does not divide num_attention_heads = 4"],
    );
}

#[test]
fn more_kv_heads_than_heads() {
    sample_case(
        "kv-more",
        |d| edit_config(d, |c| c["num_key_value_heads"] = json!(8)),
        &["config field num_key_value_heads: 8 is more than num_attention_heads = 4"],
    );
}

#[test]
fn unknown_model_type() {
    sample_case(
        "model-type",
        |d| edit_config(d, |c| c["model_type"] = json!("bert")),
        &["unsupported model_type \"bert\""],
    );
}

#[test]
fn unsupported_rope_type() {
    sample_case(
        "rope-yarn",
        |d| {
            edit_config(d, |c| {
                drop(c.insert(
                    "rope_scaling".into(),
                    json!({"rope_type": "yarn", "factor": 4.0}),
                ))
            })
        },
        &["config field rope_scaling: rope type \"yarn\" is not implemented"],
    );
}

#[test]
fn negative_rope_theta() {
    sample_case(
        "rope-theta",
        |d| edit_config(d, |c| c["rope_theta"] = json!(-1.0)),
        &["config field rope_theta: -1 must be finite and > 1"],
    );
}

#[test]
fn from_scratch_beyond_the_machine_memory() {
    let dir = model_copy("memory");
    // Llama-3.1-405B's shapes: in range, but 6.5 TB to train.
    edit_config(&dir, |c| {
        c["num_hidden_layers"] = json!(126);
        c["hidden_size"] = json!(16384);
        c["intermediate_size"] = json!(53248);
        c["num_attention_heads"] = json!(128);
        c["num_key_value_heads"] = json!(8);
        c["vocab_size"] = json!(128_256);
    });
    fails(
        "memory",
        &dir,
        &from_scratch_args(&dir),
        &[
            "--from-scratch",
            "parameters, needing",
            "GB for weights, gradients and AdamW state",
            "--ignore-memory-check",
        ],
        LIMIT_SECS,
        LIMIT_KIB,
    );
}
