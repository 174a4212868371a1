//! LoRA adapters ([`CausalLm::with_lora`]) on both backends: a fresh adapter (`B = 0`) and the
//! adapters switched off give the base model's logits bit for bit; training moves the adapters
//! only (the base weights track no gradient); merging equals the adapted logits; PEFT's files
//! round-trip, in f32 or the dtype asked; the deferred backward (gradient checkpointing, the chunked head) gives the
//! adapters the same gradients as one graph.

use exo_core::DType;
use exo_lm::lora::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LoraConfig, LoraTarget};
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::weights::{read_header, read_safetensors};
use exo_lm::{Architecture, CausalLm, LmConfig, LmError, LogitRows, Mode, TokenBatch};

use crate::chunked::{assert_same, deferred_value_and_grads, value_and_grads, weighted};
use crate::common::{TestBackend, fixture, max_abs, max_abs_diff, sequences, tiny};
use crate::lm_head::prompt_completion_batch;
use crate::parity::{expected, inputs};

fn config(targets: &[LoraTarget]) -> exo_lm::Result<LoraConfig> {
    LoraConfig::new(4, 8.0, targets.to_vec())
}

fn logits<B: TestBackend>(model: &CausalLm<B>, batch: &TokenBatch) -> exo_lm::Result<Vec<f64>> {
    Ok(B::to_f64s(&model.forward(batch)?)?)
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|x| x.to_bits()).collect()
}

/// A LoRA model after a few AdamW steps on one batch (so that `B ≠ 0`).
fn trained<B: TestBackend>(
    base: &CausalLm<B>,
    lora: LoraConfig,
    steps: usize,
) -> exo_lm::Result<(CausalLm<B>, f64, f64)> {
    let model = base.with_lora(lora, 5)?;
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    let mut trainer = Trainer::new(
        model.params(),
        TrainerConfig {
            adamw: AdamWConfig {
                lr: 5e-2,
                weight_decay: 0.0,
                ..AdamWConfig::default()
            },
            schedule: LrSchedule::Constant,
            max_grad_norm: None,
            accumulation_steps: 1,
        },
    )?;
    let first = B::to_f64s(&model.nll_loss(&batch)?)?[0];
    for _ in 0..steps {
        trainer.backward_step(model.params(), &model.nll_loss(&batch)?)?;
    }
    let last = B::to_f64s(&model.nll_loss(&batch)?)?[0];
    Ok((model, first, last))
}

fn fresh_adapters_change_nothing<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    for (architecture, tied) in [(Architecture::Llama, false), (Architecture::Qwen2, true)] {
        let base = tiny::<B>(architecture, tied, 3, Mode::Trainable)?;
        let want = bits(&logits(&base, &batch)?);
        let adapted = base.with_lora(config(&LoraTarget::ALL)?, 5)?;
        assert_eq!(
            bits(&logits(&adapted, &batch)?),
            want,
            "{architecture:?}: B = 0"
        );
        let off = adapted.without_adapters()?;
        assert_eq!(bits(&logits(&off, &batch)?), want, "{architecture:?}: off");
        // Two layers × seven modules × (A, B); nothing else trains.
        assert_eq!(adapted.params().len(), 2 * 7 * 2);
        assert!(adapted.params().iter().all(|p| p.name.contains(".lora_")));
        let a = adapted
            .params()
            .get("model.layers.1.mlp.down_proj.lora_A.weight")
            .map(|p| B::dims(&p.tensor));
        assert_eq!(a, Some(vec![4, 24]), "A is [r, in]");
        assert!(adapted.with_lora(config(&[LoraTarget::QProj])?, 1).is_err());
        assert!(
            adapted
                .save_pretrained(std::env::temp_dir().join("never"))
                .is_err()
        );
    }
    Ok(())
}

fn training_moves_only_the_adapters<B: TestBackend>() -> exo_lm::Result<()> {
    let base = tiny::<B>(Architecture::Qwen2, true, 3, Mode::Trainable)?;
    let before = base.to_host()?;
    let (model, first, last) = trained(&base, config(&LoraTarget::ALL)?, 20)?;
    // The frozen embedding (std 0.02) and final norm bound this tiny model's logits, so the
    // adapters can only lower the loss a little from ln 32; they must lower it.
    assert!(last < first - 0.1, "the adapters learn: {first} → {last}");
    assert_eq!(
        model.without_adapters()?.to_host()?,
        before,
        "the base weights did not move"
    );
    let b_sum: f64 = model
        .params()
        .iter()
        .filter(|p| p.name.contains("lora_B"))
        .map(|p| B::to_f64s(&p.tensor).map(|v| max_abs(&v)))
        .sum::<exo_core::Result<f64>>()?;
    assert!(b_sum > 0.0, "B moved away from 0");
    // The frozen weights track no gradient: the backend refuses to differentiate them.
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    let loss = model.nll_loss(&batch)?;
    let frozen = model.without_adapters()?;
    let weight = frozen
        .params()
        .get("model.layers.0.self_attn.q_proj.weight")
        .map(|p| p.tensor.clone())
        .ok_or_else(|| LmError::Input {
            op: "test",
            message: "no q_proj".into(),
        })?;
    assert!(
        B::grad(&loss, &[&weight]).is_err(),
        "a frozen weight has a gradient"
    );
    Ok(())
}

fn merging_equals_the_adapted_model<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    for targets in [
        &LoraTarget::ALL[..],
        &[LoraTarget::VProj, LoraTarget::UpProj][..],
    ] {
        let base = tiny::<B>(Architecture::Llama, false, 4, Mode::Trainable)?;
        let (model, _, _) = trained(&base, config(targets)?, 4)?;
        let want = logits(&model, &batch)?;
        let merged = model.merged()?;
        assert!(merged.lora().is_none());
        let got = logits(&merged, &batch)?;
        let err = max_abs_diff(&got, &want);
        assert!(
            err <= 1e-5 * max_abs(&want).max(1.0),
            "{targets:?}: merged differs by {err}"
        );
    }
    Ok(())
}

fn adapters_round_trip_through_peft_files<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let base = tiny::<B>(Architecture::Qwen2, true, 6, Mode::Trainable)?;
    let (model, _, _) = trained(
        &base,
        config(&[LoraTarget::QProj, LoraTarget::DownProj])?,
        3,
    )?;
    let dir = tempfile::tempdir().map_err(LmError::io("tempdir"))?;
    model.save_adapter(dir.path(), "tiny-base")?;
    let loaded = base.load_adapter(dir.path())?;
    assert_eq!(loaded.lora(), model.lora());
    assert_eq!(
        bits(&logits(&loaded, &batch)?),
        bits(&logits(&model, &batch)?)
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(ADAPTER_CONFIG_FILE))
            .map_err(LmError::io(dir.path()))?,
    )
    .map_err(|e| LmError::Input {
        op: "test",
        message: e.to_string(),
    })?;
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    assert_eq!(config["base_model_name_or_path"], "tiny-base");
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["q_proj", "down_proj"])
    );
    let names: Vec<String> = read_safetensors(&dir.path().join(ADAPTER_WEIGHTS_FILE))?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.contains(&"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".into()),
        "{names:?}"
    );
    // What exo does not implement is refused by name.
    let path = dir.path().join(ADAPTER_CONFIG_FILE);
    let mut dora = config.clone();
    dora["use_dora"] = true.into();
    std::fs::write(&path, dora.to_string()).map_err(LmError::io(&path))?;
    match base.load_adapter(dir.path()) {
        Ok(_) => panic!("a DoRA adapter was accepted"),
        Err(e) => assert!(e.to_string().contains("use_dora"), "{e}"),
    }
    let mut more = config.clone();
    more["target_modules"] = serde_json::json!(["q_proj", "down_proj", "up_proj"]);
    std::fs::write(&path, more.to_string()).map_err(LmError::io(&path))?;
    match base.load_adapter(dir.path()) {
        Ok(_) => panic!("an adapter with missing tensors was accepted"),
        Err(e) => assert!(e.to_string().contains("up_proj.lora_A"), "{e}"),
    }
    Ok(())
}

/// `save_adapter` stores f32 whatever the compute dtype; `save_adapter_as` stores the dtype
/// asked, and loads back as the f32 adapter rounded to it.
fn adapters_save_in_the_dtype_asked<B: TestBackend>() -> exo_lm::Result<()> {
    let base = tiny::<B>(Architecture::Llama, false, 8, Mode::Trainable)?;
    let (model, _, _) = trained(&base, config(&[LoraTarget::VProj])?, 2)?;
    let dir = tempfile::tempdir().map_err(LmError::io("tempdir"))?;
    let file = dir.path().join(ADAPTER_WEIGHTS_FILE);
    let stored = |file: &std::path::Path| -> exo_lm::Result<Vec<String>> {
        let mut dtypes: Vec<String> = read_header(file)?.into_iter().map(|e| e.dtype).collect();
        dtypes.dedup();
        Ok(dtypes)
    };
    model.save_adapter(dir.path(), "tiny-base")?;
    assert_eq!(stored(&file)?, ["F32"]);
    let values = |m: &CausalLm<B>| -> exo_lm::Result<Vec<Vec<f64>>> {
        m.params()
            .iter()
            .map(|p| Ok(B::to_f64s(&p.tensor)?))
            .collect()
    };
    let want = values(&model)?;
    for (dtype, name) in [(DType::BF16, "BF16"), (DType::F16, "F16")] {
        model.save_adapter_as(dir.path(), "tiny-base", dtype)?;
        assert_eq!(stored(&file)?, [name]);
        let loaded = base.load_adapter(dir.path())?;
        assert_eq!(loaded.lora(), model.lora());
        for (got, want) in values(&loaded)?.iter().zip(&want) {
            let rounded: Vec<f64> = want.iter().map(|&x| dtype.round(x)).collect();
            assert_eq!(bits(got), bits(&rounded), "{dtype}");
        }
    }
    Ok(())
}

/// The deferred backward (checkpointing, chunked head) with a frozen base: the adapters get the
/// one-graph gradients.
fn deferred_backward_reaches_the_adapters<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let config3 = LmConfig::tiny(Architecture::Llama, 32, 16, 24, 3, 4, 2, true)?;
    let base = CausalLm::<B>::random(config3, 8, DType::F32, &B::cpu(), Mode::Trainable)?;
    let (model, _, _) = trained(&base, config(&LoraTarget::ALL)?, 2)?;
    let want = value_and_grads(
        &model,
        &weighted(&model, &model.sequence_logps(&batch, 0.8)?)?,
    )?;
    for (rows, checkpointing) in [
        (LogitRows::Chunked(3), false),
        (LogitRows::Counted, true),
        (LogitRows::Chunked(3), true),
    ] {
        let deferred = model
            .clone()
            .with_logit_rows(rows)
            .with_gradient_checkpointing(checkpointing);
        let logps = deferred.sequence_logps_deferred(&batch, 0.8)?;
        let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
        assert_same(
            &format!("{rows:?} checkpointing={checkpointing}"),
            &model,
            &got,
            &want,
        );
    }
    Ok(())
}

/// An adapter PEFT 0.21 trained and saved (`fixtures/make_peft_fixture.py`: all-linear, r = 4,
/// α = 8, on the untied `llama` fixture) loads onto the base and gives PEFT's logits (computed
/// in f64) to 1e-4 at every real position.
fn peft_adapter_gives_peft_logits<B: TestBackend>() -> exo_lm::Result<()> {
    let base =
        CausalLm::<B>::from_pretrained(fixture("llama"), DType::F32, &B::cpu(), Mode::Frozen)?;
    let model = base.load_adapter(fixture("llama-peft"))?;
    assert_eq!(
        model.lora().map(LoraConfig::targets),
        Some(&LoraTarget::ALL[..])
    );
    let batch = inputs("llama")?.batch;
    let want = &expected("llama-peft")?["logits"];
    let got = logits(&model, &batch)?;
    let vocab = model.config().vocab_size;
    let mut err: f64 = 0.0;
    for (slot, &real) in batch.attention_mask().iter().enumerate() {
        if real {
            let range = slot * vocab..(slot + 1) * vocab;
            err = err.max(max_abs_diff(&got[range.clone()], &want[range]));
        }
    }
    assert!(
        err <= 1e-4,
        "{}: PEFT's adapter gives logits {err:e} away from PEFT's",
        B::NAME
    );
    let unadapted = max_abs_diff(&logits(&base, &batch)?, want);
    assert!(
        unadapted > 1e-2,
        "the adapter changes the logits ({unadapted:e})"
    );
    Ok(())
}

/// LoRA dropout: a trainable model's forward pass with a seed drops the adapters' input (the
/// logits move with the seed and repeat with it), never the base path (fresh adapters give the
/// base logits under any seed); no seed, a frozen view, or `p = 0` drop nothing; activation
/// checkpointing recomputes a layer with its forward pass's masks (the same gradients); PEFT's
/// `adapter_config.json` carries `p`.
fn dropout_is_seeded_and_only_while_training<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let base = tiny::<B>(Architecture::Llama, false, 3, Mode::Trainable)?;
    let dropping = config(&LoraTarget::ALL)?.with_dropout(0.3)?;
    let mut fresh = base.with_lora(dropping.clone(), 5)?;
    fresh.set_dropout_seed(Some(1));
    assert_eq!(
        bits(&logits(&fresh, &batch)?),
        bits(&logits(&base, &batch)?)
    );

    let (mut model, _, _) = trained(&base, dropping.clone(), 5)?;
    let plain = logits(&model, &batch)?;
    model.set_dropout_seed(Some(1));
    let one = logits(&model, &batch)?;
    assert_eq!(
        bits(&one),
        bits(&logits(&model, &batch)?),
        "a seed repeats its masks"
    );
    assert!(max_abs_diff(&one, &plain) > 1e-4, "seed 1 dropped nothing");
    model.set_dropout_seed(Some(2));
    assert!(
        max_abs_diff(&logits(&model, &batch)?, &one) > 1e-4,
        "seeds 1 and 2 drop alike"
    );
    assert_eq!(
        bits(&logits(&model.detached()?, &batch)?),
        bits(&plain),
        "a frozen view drops"
    );
    let (mut undropped, _, _) = trained(&base, config(&LoraTarget::ALL)?, 5)?;
    let want = logits(&undropped, &batch)?;
    undropped.set_dropout_seed(Some(1));
    assert_eq!(
        bits(&logits(&undropped, &batch)?),
        bits(&want),
        "p = 0 dropped"
    );

    model.set_dropout_seed(Some(1));
    let want = value_and_grads(
        &model,
        &weighted(&model, &model.sequence_logps(&batch, 1.0)?)?,
    )?;
    let checkpointed = model.clone().with_gradient_checkpointing(true);
    let got = deferred_value_and_grads(
        &model,
        checkpointed.sequence_logps_deferred(&batch, 1.0)?,
        |s| weighted(&model, s),
    )?;
    assert_same("dropout, checkpointed", &model, &got, &want);

    let dir = std::env::temp_dir().join(format!(
        "exo-lm-lora-dropout-{}-{}",
        B::NAME,
        std::process::id()
    ));
    model.save_adapter(&dir, "base")?;
    let (read, _) = exo_lm::lora::read_adapter_config(&dir.join(ADAPTER_CONFIG_FILE))?;
    assert_eq!(read, dropping);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

per_backend!(
    dropout_is_seeded_and_only_while_training,
    peft_adapter_gives_peft_logits,
    fresh_adapters_change_nothing,
    training_moves_only_the_adapters,
    merging_equals_the_adapted_model,
    adapters_round_trip_through_peft_files,
    adapters_save_in_the_dtype_asked,
    deferred_backward_reaches_the_adapters
);
