//! Checkpoints: save → load round-trips bit-exactly, and malformed files give errors that name
//! the tensor (never a panic).

use std::path::Path;

use exo_core::DType;
use exo_lm::weights::{
    HostData, HostTensor, locate_checkpoint, read_checkpoint, read_safetensors, write_safetensors,
    write_safetensors_as,
};
use exo_lm::{Architecture, CausalLm, LmError, Mode};

use crate::common::{TestBackend, fixture};

fn host_params<B: TestBackend>(model: &CausalLm<B>) -> exo_lm::Result<Vec<(String, Vec<u64>)>> {
    // Bit patterns, so that the comparison is exact (and NaN-safe).
    Ok(model
        .to_host()?
        .into_iter()
        .map(|(name, t)| {
            let bits = match t.data {
                HostData::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
                HostData::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
                _ => Vec::new(),
            };
            (name, bits)
        })
        .collect())
}

fn save_then_load_is_bit_exact<B: TestBackend>() -> exo_lm::Result<()> {
    for (architecture, tied, dtype) in [
        (Architecture::Llama, false, DType::F32),
        (Architecture::Qwen2, true, DType::F32),
        (Architecture::Mistral, false, DType::F64),
    ] {
        let config = exo_lm::LmConfig::tiny(architecture, 32, 16, 24, 2, 4, 2, tied)?;
        let model = CausalLm::<B>::random(config, 7, dtype, &B::cpu(), Mode::Trainable)?;
        let dir = tempfile::tempdir().map_err(LmError::io("tempdir"))?;
        model.save_pretrained(dir.path())?;
        let loaded = CausalLm::<B>::from_pretrained(dir.path(), dtype, &B::cpu(), Mode::Frozen)?;
        assert_eq!(
            host_params(&model)?,
            host_params(&loaded)?,
            "{architecture:?}"
        );
        assert_eq!(loaded.config().architecture, architecture);
        assert_eq!(loaded.config().tie_word_embeddings, tied);
        let names: Vec<String> = read_checkpoint(dir.path())?.into_keys().collect();
        assert_eq!(names.contains(&"lm_head.weight".to_owned()), !tied);
    }
    Ok(())
}

fn fixture_survives_save_and_load<B: TestBackend>() -> exo_lm::Result<()> {
    // bf16 shards in, f32 single file out, then back: the values stay bit-exact.
    let original =
        CausalLm::<B>::from_pretrained(fixture("qwen2"), DType::F32, &B::cpu(), Mode::Frozen)?;
    let dir = tempfile::tempdir().map_err(LmError::io("tempdir"))?;
    original.save_pretrained(dir.path())?;
    let again = CausalLm::<B>::from_pretrained(dir.path(), DType::F32, &B::cpu(), Mode::Frozen)?;
    assert_eq!(host_params(&original)?, host_params(&again)?);
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("config.json")).map_err(LmError::io("config"))?,
    )
    .map_err(|e| LmError::Json {
        path: dir.path().into(),
        message: e.to_string(),
    })?;
    assert_eq!(config["model_type"], "qwen2");
    assert_eq!(config["dtype"], "float32");
    assert_eq!(
        config["layer_types"][0], "full_attention",
        "unknown fields survive"
    );
    Ok(())
}

fn saving_over_a_sharded_checkpoint_replaces_it<B: TestBackend>() -> exo_lm::Result<()> {
    let dir = copy_fixture("qwen2")?;
    let model = CausalLm::<B>::from_pretrained(dir.path(), DType::F32, &B::cpu(), Mode::Frozen)?;
    model.save_pretrained(dir.path())?;
    assert!(
        !dir.path().join("model.safetensors.index.json").exists(),
        "the stale index is gone"
    );
    let again = CausalLm::<B>::from_pretrained(dir.path(), DType::F32, &B::cpu(), Mode::Frozen)?;
    assert_eq!(host_params(&model)?, host_params(&again)?);
    Ok(())
}

per_backend!(
    save_then_load_is_bit_exact,
    fixture_survives_save_and_load,
    saving_over_a_sharded_checkpoint_replaces_it,
);

// ----- malformed checkpoints (host only: no backend involved until the upload) ---------------

fn copy_fixture(name: &str) -> exo_lm::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().map_err(LmError::io("tempdir"))?;
    let source = fixture(name);
    for entry in std::fs::read_dir(&source).map_err(LmError::io(&source))? {
        let entry = entry.map_err(LmError::io(&source))?;
        let to = dir.path().join(entry.file_name());
        std::fs::copy(entry.path(), &to).map_err(LmError::io(&to))?;
    }
    Ok(dir)
}

fn load_error(dir: &Path) -> LmError {
    match CausalLm::<exo_candle::Candle>::from_pretrained(
        dir,
        DType::F32,
        &candle_core::Device::Cpu,
        Mode::Frozen,
    ) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn truncated_file_names_the_tensor() {
    let dir = copy_fixture("llama").expect("copy");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).expect("write");
    let err = load_error(dir.path());
    assert!(
        matches!(&err, LmError::Weights { tensor, message, .. } if !tensor.is_empty() && message.contains("truncated")),
        "{err}"
    );
}

#[test]
fn garbage_file_is_an_error() {
    let dir = copy_fixture("llama").expect("copy");
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"not a safetensors file at all",
    )
    .expect("write");
    let err = load_error(dir.path());
    assert!(matches!(err, LmError::WeightsFile { .. }), "{err}");
    std::fs::write(dir.path().join("model.safetensors"), b"abc").expect("write");
    assert!(matches!(
        load_error(dir.path()),
        LmError::WeightsFile { .. }
    ));
}

fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<(String, HostTensor)>)) -> exo_lm::Result<()> {
    let mut tensors = exo_lm::weights::read_safetensors(&dir.join("model.safetensors"))?;
    edit(&mut tensors);
    write_safetensors(&dir.join("model.safetensors"), &tensors)
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_fixture("llama").expect("copy");
    rewrite(dir.path(), |t| {
        t.retain(|(n, _)| n != "model.layers.1.mlp.up_proj.weight")
    })
    .expect("rewrite");
    let err = load_error(dir.path());
    assert!(
        matches!(&err, LmError::Weights { tensor, .. } if tensor == "model.layers.1.mlp.up_proj.weight"),
        "{err}"
    );
}

#[test]
fn wrong_shape_is_named() {
    let dir = copy_fixture("llama").expect("copy");
    rewrite(dir.path(), |t| {
        for (name, tensor) in t.iter_mut() {
            if name == "model.norm.weight" {
                *tensor = HostTensor {
                    shape: vec![2],
                    data: HostData::F32(vec![1.0, 1.0]),
                };
            }
        }
    })
    .expect("rewrite");
    let err = load_error(dir.path());
    assert!(
        matches!(&err, LmError::Weights { tensor, message, .. } if tensor == "model.norm.weight" && message.contains("shape")),
        "{err}"
    );
}

#[test]
fn unexpected_tensor_is_named() {
    let dir = copy_fixture("llama").expect("copy");
    rewrite(dir.path(), |t| {
        t.push((
            "model.layers.0.extra.weight".into(),
            HostTensor {
                shape: vec![1],
                data: HostData::F32(vec![0.0]),
            },
        ));
    })
    .expect("rewrite");
    let err = load_error(dir.path());
    assert!(
        matches!(&err, LmError::Weights { tensor, .. } if tensor == "model.layers.0.extra.weight"),
        "{err}"
    );
}

#[test]
fn integer_tensor_is_rejected_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = [1i32, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![3], &data)
        .expect("view");
    let bytes = safetensors::serialize([("model.norm.weight", view)], None).expect("serialize");
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, bytes).expect("write");
    let err = exo_lm::weights::read_safetensors(&path).expect_err("i32 is not a weight dtype");
    assert!(
        matches!(&err, LmError::Weights { tensor, .. } if tensor == "model.norm.weight"),
        "{err}"
    );
}

#[test]
fn shard_index_mismatches_are_named() {
    // The index names a tensor that its shard does not hold.
    let dir = copy_fixture("qwen2").expect("copy");
    let index_path = dir.path().join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).expect("read")).expect("json");
    let map = index["weight_map"].as_object_mut().expect("weight_map");
    let (name, file) = map
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("entry");
    let other = map
        .values()
        .find(|v| **v != file)
        .cloned()
        .expect("two shards");
    map.insert(name.clone(), other);
    std::fs::write(&index_path, serde_json::to_string(&index).expect("json")).expect("write");
    let err = load_error(dir.path());
    assert!(
        matches!(&err, LmError::Weights { tensor, .. } if *tensor == name),
        "{err}"
    );

    // A shard missing altogether.
    let dir = copy_fixture("qwen2").expect("copy");
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).expect("rm");
    // Found by the header check, before any tensor data is read: the message names the file.
    let err = load_error(dir.path()).to_string();
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("not in the folder"),
        "{err}"
    );

    // No weights at all.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        fixture("llama").join("config.json"),
        dir.path().join("config.json"),
    )
    .expect("copy");
    assert!(matches!(
        load_error(dir.path()),
        LmError::WeightsFile { .. }
    ));
}

#[test]
fn f16_and_bf16_convert_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values = [0.5f32, -1.25, 3.0, 65504.0];
    let f16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let a =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F16, vec![4], &f16).expect("view");
    let b = safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, vec![2, 2], &bf16)
        .expect("view");
    let bytes = safetensors::serialize([("a", a), ("b", b)], None).expect("serialize");
    let path = dir.path().join("x.safetensors");
    std::fs::write(&path, bytes).expect("write");
    let tensors = exo_lm::weights::read_safetensors(&path).expect("read");
    for (name, t) in tensors {
        let HostData::F32(got) = t.data else {
            panic!("{name}: f32 expected")
        };
        let want: Vec<f32> = match name.as_str() {
            "a" => values.to_vec(),
            _ => values
                .iter()
                .map(|&v| half::bf16::from_f32(v).to_f32())
                .collect(),
        };
        assert_eq!(got, want, "{name}");
    }
}

/// A model loads one stored tensor at a time ([`locate_checkpoint`], [`StoredTensor::read`]):
/// each tensor read alone equals the whole file's decoding, in every stored dtype, and a model
/// loaded that way equals one built from the whole file's tensors.
#[test]
fn stored_tensors_read_alone_equal_the_whole_file() -> exo_lm::Result<()> {
    let dir = copy_fixture("llama")?;
    let file = dir.path().join("model.safetensors");
    let whole = read_safetensors(&file)?;
    for dtype in [None, Some(DType::BF16), Some(DType::F16), Some(DType::F64)] {
        write_safetensors_as(&file, &whole, dtype)?;
        let want = read_safetensors(&file)?;
        let stored = locate_checkpoint(dir.path())?;
        assert_eq!(stored.len(), want.len());
        for (name, tensor) in &want {
            let got = stored[name].read()?;
            assert_eq!(&got, tensor, "{name} stored as {dtype:?}");
        }
    }
    write_safetensors(&file, &whole)?;
    let streamed = CausalLm::<exo_candle::Candle>::from_pretrained(
        dir.path(),
        DType::F32,
        &candle_core::Device::Cpu,
        Mode::Frozen,
    )?;
    let config = streamed.config().clone();
    let tensors = read_checkpoint(dir.path())?;
    let built = CausalLm::<exo_candle::Candle>::from_host_tensors(
        config,
        tensors,
        dir.path(),
        DType::F32,
        &candle_core::Device::Cpu,
        Mode::Frozen,
    )?;
    assert_eq!(host_params(&streamed)?, host_params(&built)?);
    Ok(())
}
