//! Sharded checkpoints: `model.safetensors.index.json` and its shards.

use std::path::Path;

use serde_json::{Value, json};

use super::harness::sample_case;
use super::tensors::{Tensors, read_tensors, write_tensors};

/// Splits `model.safetensors` into two shards with an index; `edit` changes the shards and the
/// index's weight map before they are written.
fn shard(
    dir: &Path,
    edit: impl FnOnce(&mut Tensors, &mut Tensors, &mut serde_json::Map<String, Value>),
) {
    let path = dir.join("model.safetensors");
    let all = read_tensors(&path);
    std::fs::remove_file(&path).unwrap();
    let (mut one, mut two) = (Tensors::new(), Tensors::new());
    let mut map = serde_json::Map::new();
    for (i, (name, t)) in all.into_iter().enumerate() {
        let file = if i % 2 == 0 {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        };
        map.insert(name.clone(), json!(file));
        if i % 2 == 0 {
            one.insert(name, t);
        } else {
            two.insert(name, t);
        }
    }
    edit(&mut one, &mut two, &mut map);
    write_tensors(&dir.join("model-00001-of-00002.safetensors"), &one);
    write_tensors(&dir.join("model-00002-of-00002.safetensors"), &two);
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string(&json!({"metadata": {}, "weight_map": map})).unwrap(),
    )
    .unwrap();
}

#[test]
fn duplicate_names_across_shards() {
    sample_case(
        "duplicate",
        |d| {
            shard(d, |one, two, _| {
                let (name, t) = one
                    .iter()
                    .next()
                    .map(|(n, t)| (n.clone(), t.clone()))
                    .unwrap();
                two.insert(name, t);
            });
        },
        &[
            "tensor model.embed_tokens.weight",
            "model-00002-of-00002.safetensors",
            "also in",
            "model-00001-of-00002.safetensors",
        ],
    );
}

#[test]
fn shard_index_naming_a_missing_file() {
    sample_case(
        "missing-shard",
        |d| {
            shard(d, |_, _, map| {
                map.insert(
                    "model.norm.weight".into(),
                    json!("model-00003-of-00002.safetensors"),
                );
            });
        },
        &[
            "model-00003-of-00002.safetensors",
            "named in model.safetensors.index.json but not in the folder",
        ],
    );
}

#[test]
fn shard_index_without_a_weight_map() {
    sample_case(
        "index-no-map",
        |d| {
            shard(d, |_, _, _| {});
            std::fs::write(d.join("model.safetensors.index.json"), "{\"metadata\": {}}").unwrap();
        },
        &["model.safetensors.index.json", "no \"weight_map\" object"],
    );
}
