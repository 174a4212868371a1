//! Fuzzing with proptest: the safetensors-header reader and the `config.json` parser get
//! arbitrary bytes (and near-valid inputs, which reach deeper) and must return errors, never
//! panic; what they accept must keep their invariants (offsets inside the data and disjoint,
//! sizes inside [`exo_lm::config::limits`]).
//!
//! Cases per property: proptest's default (256), or `PROPTEST_CASES`; for a long run:
//! `PROPTEST_CASES=20000 cargo test -p exo-lm --release --test fuzz`.

// Test code: a failed setup may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use exo_lm::config::limits;
use exo_lm::weights::{HeaderEntry, parse_header, read_header};
use exo_lm::{Architecture, LmConfig};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Accepted entries lie inside the data section and do not overlap.
fn check_entries(entries: &[HeaderEntry], data_len: u64) {
    let mut ranges: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| e.offsets)
        .filter(|(a, b)| a < b)
        .collect();
    ranges.sort_unstable();
    for (a, b) in &ranges {
        assert!(a <= b && *b <= data_len, "{a}..{b} of {data_len}");
    }
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "{:?} overlaps {:?}", w[0], w[1]);
    }
}

/// A header entry that is often valid and often not.
fn entry() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("F32"),
            Just("F16"),
            Just("BF16"),
            Just("F64"),
            Just("I8"),
            Just("Q4")
        ],
        proptest::collection::vec(0u64..6, 0..4),
        0u64..200,
        0u64..200,
        any::<bool>(),
    )
        .prop_map(|(dtype, shape, start, len, good)| {
            let size: u64 = match dtype {
                "F64" => 8,
                "F32" => 4,
                _ => 2,
            };
            let len = if good {
                shape.iter().product::<u64>() * size
            } else {
                len
            };
            json!({"dtype": dtype, "shape": shape, "data_offsets": [start, start + len]})
        })
}

/// A config that is often valid and often absurd: each size field absent, tiny, huge, negative,
/// fractional or a string.
fn config_like() -> impl Strategy<Value = Value> {
    let size = prop_oneof![
        Just(Value::Null),
        (1u64..9).prop_map(|v| json!(v * 8)),
        any::<u64>().prop_map(|v| json!(v)),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        Just(json!("64")),
    ];
    (
        prop_oneof![
            Just("llama"),
            Just("qwen2"),
            Just("mistral"),
            Just("gpt2"),
            Just("gpt_neox"),
            Just("bert")
        ],
        proptest::collection::vec(size, 8),
        prop_oneof![
            Just(Value::Null),
            Just(json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
            Just(json!({"rope_type": "yarn"})),
            any::<f64>().prop_map(|f| json!({"rope_type": "llama3", "factor": f})),
        ],
        any::<f64>(),
    )
        .prop_map(|(model_type, sizes, rope, theta)| {
            let names = [
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "head_dim",
                "max_position_embeddings",
            ];
            let mut map = serde_json::Map::new();
            map.insert("model_type".into(), json!(model_type));
            for (name, v) in names.iter().zip(sizes) {
                if !v.is_null() {
                    map.insert((*name).into(), v);
                }
            }
            map.insert("rope_scaling".into(), rope);
            map.insert("rope_theta".into(), json!(theta));
            Value::Object(map)
        })
}

/// Accepted configs stay inside the limits, and their parameter count is computed without
/// panicking.
fn check_config(config: &LmConfig) {
    assert!(config.num_hidden_layers <= limits::MAX_LAYERS);
    assert!(config.hidden_size <= limits::MAX_HIDDEN);
    assert!(config.vocab_size <= limits::MAX_VOCAB);
    assert!(config.num_attention_heads <= limits::MAX_HEADS);
    assert!(
        config
            .num_attention_heads
            .is_multiple_of(config.num_key_value_heads)
    );
    let _ = config.parameter_count();
}

proptest! {
    #[test]
    fn header_parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048), data_len in 0u64..100_000) {
        if let Ok(entries) = parse_header(Path::new("f.safetensors"), &bytes, data_len) {
            check_entries(&entries, data_len);
        }
    }

    #[test]
    fn header_parser_survives_header_like_json(entries in proptest::collection::vec(entry(), 0..6), data_len in 0u64..400) {
        let header: serde_json::Map<String, Value> = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("t{i}"), e))
            .collect();
        let bytes = serde_json::to_vec(&header).unwrap();
        match parse_header(Path::new("f.safetensors"), &bytes, data_len) {
            Ok(entries) => check_entries(&entries, data_len),
            Err(e) => prop_assert!(e.to_string().contains("f.safetensors"), "{e}"),
        }
    }

    #[test]
    fn header_reader_survives_arbitrary_files(bytes in proptest::collection::vec(any::<u8>(), 0..512), len in any::<u64>(), prefix in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let mut file = bytes.clone();
        if prefix {
            // A plausible header length, so that the JSON parser is reached.
            file = (bytes.len() as u64).min(len).to_le_bytes().to_vec();
            file.extend_from_slice(&bytes);
        }
        std::fs::write(&path, &file).unwrap();
        if let Err(e) = read_header(&path) {
            prop_assert!(e.to_string().contains("model.safetensors"), "{e}");
        }
    }

    #[test]
    fn config_parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
            && let Ok(config) = LmConfig::from_json(value)
        {
            check_config(&config);
        }
    }

    #[test]
    fn config_parser_survives_config_like_json(value in config_like()) {
        if let Ok(config) = LmConfig::from_json(value) {
            check_config(&config);
        }
    }
}

#[test]
fn parameter_count_matches_the_shapes() {
    // The demo's model: 600 × 64 embedding (tied), 2 layers of 4 heads (2 KV heads), MLP 128.
    let config = LmConfig::tiny(Architecture::Llama, 600, 64, 128, 2, 4, 2, true).unwrap();
    let per_layer = 64 + 64 + 64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 3;
    assert_eq!(config.parameter_count(), 600 * 64 + 2 * per_layer + 64);
    // Llama-3.1-405B's shapes are in range and count about 405 billion parameters.
    let big = LmConfig::from_json(json!({
        "model_type": "llama", "vocab_size": 128_256, "hidden_size": 16_384,
        "intermediate_size": 53_248, "num_hidden_layers": 126, "num_attention_heads": 128,
        "num_key_value_heads": 8, "max_position_embeddings": 131_072,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "rope_theta": 500_000.0, "tie_word_embeddings": false,
    }))
    .unwrap();
    let n = big.parameter_count();
    assert!((405_000_000_000..406_000_000_000).contains(&n), "{n}");
}

#[test]
fn sizes_beyond_the_limits_name_the_field() {
    let base = json!({
        "model_type": "llama", "vocab_size": 600, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    });
    for (field, value, words) in [
        (
            "num_hidden_layers",
            json!(1_000_000_000u64),
            "beyond the supported maximum of 1024",
        ),
        (
            "hidden_size",
            json!(10_000_000u64),
            "beyond the supported maximum of 65536",
        ),
        (
            "vocab_size",
            json!(1u64 << 30),
            "beyond the supported maximum",
        ),
        ("intermediate_size", json!(0), "must be positive"),
        (
            "num_attention_heads",
            json!(-4),
            "must be a positive integer, got -4",
        ),
        (
            "max_position_embeddings",
            json!(1.5),
            "must be a positive integer, got 1.5",
        ),
        ("head_dim", json!(0), "must be positive"),
    ] {
        let mut config = base.clone();
        config[field] = value;
        let err = LmConfig::from_json(config).unwrap_err().to_string();
        assert!(err.contains(field) && err.contains(words), "{field}: {err}");
    }
}
