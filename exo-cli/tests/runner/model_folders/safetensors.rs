//! The safetensors file: its header, offsets, dtypes and shapes, missing or extra tensors,
//! and weights that are not finite.

use serde_json::json;

use super::harness::{edit_config, sample_case};
use super::tensors::{edit_header, read_tensors, write_tensors};

#[test]
fn truncated_safetensors() {
    sample_case(
        "truncated",
        |d| {
            let path = d.join("model.safetensors");
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
        },
        &["model.safetensors", "run past", "truncated?"],
    );
}

#[test]
fn safetensors_shorter_than_its_header_length() {
    sample_case(
        "short",
        |d| std::fs::write(d.join("model.safetensors"), b"abc").unwrap(),
        &["shorter than the 8-byte header length"],
    );
}

#[test]
fn header_length_beyond_the_file() {
    sample_case(
        "header-length",
        |d| {
            let path = d.join("model.safetensors");
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
        },
        &["header length 1099511627776 runs past the end of the file"],
    );
}

#[test]
fn header_not_json() {
    sample_case(
        "header-json",
        |d| {
            let path = d.join("model.safetensors");
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[8] = b'[';
            bytes[9] = b'}';
            std::fs::write(&path, bytes).unwrap();
        },
        &["the safetensors header is not valid JSON"],
    );
}

#[test]
fn overlapping_offsets() {
    sample_case(
        "overlap",
        |d| {
            edit_header(d, |h, _| {
                let gate = h["model.layers.0.mlp.gate_proj.weight"]["data_offsets"].clone();
                h["model.layers.0.mlp.up_proj.weight"]["data_offsets"] = gate;
            });
        },
        &["model.layers.0.mlp.", "overlap those of"],
    );
}

#[test]
fn out_of_range_offsets() {
    sample_case(
        "out-of-range",
        |d| {
            edit_header(d, |h, len| {
                h["model.norm.weight"]["data_offsets"] = json!([len, len + 256]);
            });
        },
        &["tensor model.norm.weight", "run past the"],
    );
}

#[test]
fn offsets_that_end_before_they_start() {
    sample_case(
        "reversed",
        |d| {
            edit_header(d, |h, _| {
                h["model.norm.weight"]["data_offsets"] = json!([256, 0]);
            });
        },
        &["tensor model.norm.weight", "end before they start"],
    );
}

#[test]
fn unknown_dtype() {
    sample_case(
        "dtype-q4",
        |d| edit_header(d, |h, _| h["model.norm.weight"]["dtype"] = json!("Q4")),
        &["tensor model.norm.weight", "dtype \"Q4\" is not supported"],
    );
}

#[test]
fn integer_dtype() {
    sample_case(
        "dtype-i32",
        |d| edit_header(d, |h, _| h["model.norm.weight"]["dtype"] = json!("I32")),
        &["tensor model.norm.weight", "dtype \"I32\" is not supported"],
    );
}

#[test]
fn shape_that_does_not_match_the_offsets() {
    sample_case(
        "shape-bytes",
        |d| edit_header(d, |h, _| h["model.norm.weight"]["shape"] = json!([65])),
        &[
            "tensor model.norm.weight",
            "needs 260 bytes but data_offsets give 256",
        ],
    );
}

#[test]
fn tensor_of_the_wrong_shape() {
    sample_case(
        "wrong-shape",
        |d| {
            edit_header(d, |h, _| {
                h["model.layers.1.mlp.down_proj.weight"]["shape"] = json!([128, 64]);
            });
        },
        &[
            "tensor model.layers.1.mlp.down_proj.weight",
            "shape [128, 64], but the config implies [64, 128]",
        ],
    );
}

#[test]
fn config_that_disagrees_with_the_checkpoint() {
    sample_case(
        "config-shape",
        |d| edit_config(d, |c| c["intermediate_size"] = json!(96)),
        &[
            "tensor model.layers.0.mlp.gate_proj.weight",
            "shape [128, 64], but the config implies [96, 64]",
        ],
    );
}

#[test]
fn missing_tensor() {
    sample_case(
        "missing",
        |d| {
            let path = d.join("model.safetensors");
            let mut t = read_tensors(&path);
            t.remove("model.layers.1.self_attn.v_proj.weight");
            write_tensors(&path, &t);
        },
        &[
            "tensor model.layers.1.self_attn.v_proj.weight",
            "missing from the checkpoint",
        ],
    );
}

#[test]
fn extra_tensor() {
    sample_case(
        "extra",
        |d| {
            let path = d.join("model.safetensors");
            let mut t = read_tensors(&path);
            t.insert(
                "model.layers.2.input_layernorm.weight".into(),
                ("F32".into(), vec![64], vec![0; 256]),
            );
            write_tensors(&path, &t);
        },
        &[
            "tensor model.layers.2.input_layernorm.weight",
            "not a parameter of a llama model with this config",
        ],
    );
}

#[test]
fn nan_weights_are_refused() {
    sample_case(
        "nan",
        |d| {
            let path = d.join("model.safetensors");
            let mut t = read_tensors(&path);
            let bytes = &mut t.get_mut("model.norm.weight").unwrap().2;
            bytes[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
            write_tensors(&path, &t);
        },
        &[
            "tensor model.norm.weight",
            "1 of its 64 values are NaN or infinite (the first, at index 3); refusing to load it",
        ],
    );
}

#[test]
fn infinite_weights_are_refused() {
    sample_case(
        "inf",
        |d| {
            let path = d.join("model.safetensors");
            let mut t = read_tensors(&path);
            let bytes = &mut t
                .get_mut("model.layers.0.self_attn.q_proj.weight")
                .unwrap()
                .2;
            bytes[..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
            bytes[8..12].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
            write_tensors(&path, &t);
        },
        &[
            "tensor model.layers.0.self_attn.q_proj.weight",
            "2 of its 4096 values are NaN or infinite (the first, at index 0)",
        ],
    );
}
