//! Mixed precision (`DType::BF16`, `DType::F16`): a 16-bit model's log-probs are f32 and track
//! the f32 model's, its gradients arrive in f32, AdamW keeps an f32 master copy (so updates
//! below the weights' rounding step are not lost), one step tracks the f32 step, and 16-bit
//! checkpoints save and load exactly. Both backends.

use exo_core::DType;
use exo_lm::optim::{AdamW, AdamWConfig};
use exo_lm::weights::read_safetensors;
use exo_lm::{Architecture, CausalLm, LmConfig, Mode};

use crate::common::TestBackend;
use crate::lm_head::prompt_completion_batch;

const HALVES: [DType; 2] = [DType::BF16, DType::F16];

fn model<B: TestBackend>(
    architecture: Architecture,
    tied: bool,
    dtype: DType,
) -> exo_lm::Result<CausalLm<B>> {
    let config = LmConfig::tiny(architecture, 48, 32, 40, 2, 4, 2, tied)?;
    // The same f64 draws rounded once to each dtype.
    CausalLm::random(config, 5, dtype, &B::cpu(), Mode::Trainable)
}

/// `Σ_s w_s · S_s` in the log-probs' own dtype.
fn weighted<B: TestBackend>(logps: &B::Tensor) -> exo_lm::Result<B::Tensor> {
    let s = B::dims(logps)[0];
    #[allow(clippy::cast_precision_loss)]
    let w: Vec<f64> = (0..s).map(|i| 0.5 + 0.25 * i as f64).collect();
    let w = B::from_f64s(&w, &[s], B::dtype(logps)?, &B::device(logps))?;
    Ok(B::sum_all(&B::mul(logps, &w)?)?)
}

fn values<B: TestBackend>(model: &CausalLm<B>) -> exo_lm::Result<Vec<Vec<f64>>> {
    model
        .params()
        .iter()
        .map(|p| Ok(B::to_f64s(&p.tensor)?))
        .collect()
}

fn sixteen_bit_log_probs_and_a_step_track_f32<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let lr = 1e-2;
    let config = AdamWConfig {
        lr,
        weight_decay: 0.0,
        ..AdamWConfig::default()
    };
    for (architecture, tied) in [(Architecture::Llama, false), (Architecture::Qwen2, true)] {
        let full = model::<B>(architecture, tied, DType::F32)?;
        let logps32 = full.sequence_logps(&batch, 1.0)?;
        let want = B::to_f64s(&logps32)?;
        let loss32 = weighted::<B>(&logps32)?;
        let grads32 = full.params().grad(&loss32)?;
        let before32 = values(&full)?;
        AdamW::new(full.params(), config)?.step(full.params(), &grads32, lr)?;
        let after32 = values(&full)?;
        for dtype in HALVES {
            let what = format!("{architecture:?} {dtype}");
            let half = model::<B>(architecture, tied, dtype)?;
            assert_eq!(half.dtype(), dtype);
            let logps = half.sequence_logps(&batch, 1.0)?;
            assert_eq!(B::dtype(&logps)?, DType::F32, "{what}: log-probs in f32");
            let got = B::to_f64s(&logps)?;
            for (g, w) in got.iter().zip(&want) {
                // Sums of up to 7 log-probs of magnitude ~ln 48; bf16 keeps 8 bits.
                let tol = if dtype == DType::BF16 { 0.08 } else { 0.01 };
                assert!(
                    (g - w).abs() <= tol * w.abs().max(1.0),
                    "{what}: {got:?} vs {want:?}"
                );
            }
            let loss = weighted::<B>(&logps)?;
            let grads = half.params().grad(&loss)?;
            for g in grads.tensors() {
                assert_eq!(B::dtype(g)?, DType::F32, "{what}: gradients in f32");
            }
            let before = values(&half)?;
            let mut adamw = AdamW::new(half.params(), config)?;
            adamw.step(half.params(), &grads, lr)?;
            let state = adamw.state()?;
            let mut agree = 0usize;
            let mut total = 0usize;
            for (i, p) in half.params().iter().enumerate() {
                assert_eq!(
                    B::dtype(&p.tensor)?,
                    dtype,
                    "{what}: {} keeps its dtype",
                    p.name
                );
                let master = state.masters[i].as_ref().map_or_else(
                    || panic!("{what}: no master copy of {}", p.name),
                    |m| match &m.data {
                        exo_lm::weights::HostData::F32(v) => {
                            v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>()
                        }
                        other => panic!("{what}: master of {} is {other:?}", p.name),
                    },
                );
                // The parameter is its master rounded to the dtype.
                let param = B::to_f64s(&p.tensor)?;
                for (x, m) in param.iter().zip(&master) {
                    assert_eq!(
                        *x,
                        dtype.round(*m),
                        "{what}: {} is not its master rounded",
                        p.name
                    );
                }
                // The master moved as the f32 weights did: AdamW's first step is ±lr per
                // weight (the gradient's sign), so count the weights whose step agrees.
                for (((m, b), a32), b32) in master
                    .iter()
                    .zip(&before[i])
                    .zip(&after32[i])
                    .zip(&before32[i])
                {
                    total += 1;
                    if ((m - b) - (a32 - b32)).abs() <= 0.1 * lr {
                        agree += 1;
                    }
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let share = agree as f64 / total as f64;
            assert!(
                share >= 0.95,
                "{what}: only {agree} of {total} updates agree with f32"
            );
        }
    }
    Ok(())
}

/// An update far below a bf16 weight's rounding step leaves the weight as it is but moves the
/// master copy; enough of them move the weight. Without the master copy it would never move.
fn the_master_copy_keeps_updates_below_the_rounding_step<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let lr = 1e-6;
    let config = AdamWConfig {
        lr,
        weight_decay: 0.0,
        ..AdamWConfig::default()
    };
    let half = model::<B>(Architecture::Llama, false, DType::BF16)?;
    let before = values(&half)?;
    let mut adamw = AdamW::new(half.params(), config)?;
    let mut first_moved = None;
    for step in 1..=400 {
        let loss = weighted::<B>(&half.sequence_logps(&batch, 1.0)?)?;
        let grads = half.params().grad(&loss)?;
        adamw.step(half.params(), &grads, lr)?;
        if step == 1 {
            // Half a rounding step of a weight |w| ≥ 2.5e-4 (nearly all of N(0, 0.02) and the norm
            // gains of 1) is above lr.
            let unchanged = values(&half)?
                .iter()
                .zip(&before)
                .flat_map(|(a, b)| a.iter().zip(b))
                .filter(|(a, b)| a == b)
                .count();
            let total: usize = before.iter().map(Vec::len).sum();
            assert!(
                unchanged * 10 >= total * 9,
                "step 1 changed {} of {total} weights",
                total - unchanged
            );
        }
        let moved = values(&half)?
            .iter()
            .zip(&before)
            .flat_map(|(a, b)| a.iter().zip(b))
            .filter(|(a, b)| a != b)
            .count();
        if first_moved.is_none() && moved * 2 > before.iter().map(Vec::len).sum::<usize>() {
            first_moved = Some(step);
            break;
        }
    }
    assert!(
        first_moved.is_some(),
        "400 steps of 1e-6 moved no more than half of the weights"
    );
    Ok(())
}

/// A 16-bit model saves as 16-bit safetensors (`torch_dtype` says so), loads back bit for bit,
/// and widens to f32 exactly; AdamW's state (moments and master copies) round-trips.
fn sixteen_bit_checkpoints_round_trip<B: TestBackend>() -> exo_lm::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "exo-lm-precision-{}-{}",
        B::NAME,
        std::process::id()
    ));
    let batch = prompt_completion_batch()?;
    for dtype in HALVES {
        let half = model::<B>(Architecture::Qwen2, true, dtype)?;
        let mut adamw = AdamW::new(half.params(), AdamWConfig::default())?;
        let loss = weighted::<B>(&half.sequence_logps(&batch, 1.0)?)?;
        adamw.step(half.params(), &half.params().grad(&loss)?, 1e-3)?;
        let saved = dir.join(format!("{dtype}"));
        half.save_pretrained(&saved)?;
        let header = read_safetensors(&saved.join("model.safetensors"))?;
        assert!(!header.is_empty());
        let raw =
            std::fs::read(saved.join("model.safetensors")).map_err(exo_lm::LmError::io(&saved))?;
        let name = if dtype == DType::BF16 {
            "\"BF16\""
        } else {
            "\"F16\""
        };
        assert!(
            String::from_utf8_lossy(&raw[..2000.min(raw.len())]).contains(name),
            "{dtype}: not stored as {name}"
        );
        let config = LmConfig::from_file(saved.join("config.json"))?;
        assert_eq!(config.stored_dtype(), Some(dtype));
        let loaded = CausalLm::<B>::from_pretrained(&saved, dtype, &B::cpu(), Mode::Trainable)?;
        assert_eq!(
            values(&loaded)?,
            values(&half)?,
            "{dtype}: reloaded weights differ"
        );
        let widened = CausalLm::<B>::from_pretrained(&saved, DType::F32, &B::cpu(), Mode::Frozen)?;
        assert_eq!(
            values(&widened)?,
            values(&half)?,
            "{dtype}: widening is not exact"
        );
        let path = saved.join("optimizer.safetensors");
        adamw.save(half.params(), &path)?;
        let back = AdamW::load(loaded.params(), AdamWConfig::default(), &path)?;
        assert_eq!(back.state()?, adamw.state()?, "{dtype}: optimiser state");
        assert!(adamw.state()?.masters.iter().all(Option::is_some));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

per_backend!(
    sixteen_bit_log_probs_and_a_step_track_f32,
    the_master_copy_keeps_updates_below_the_rounding_step,
    sixteen_bit_checkpoints_round_trip,
);
