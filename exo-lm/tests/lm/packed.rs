//! Shared prompts and packed rows ([`PackedBatch`]) compute what the plain padded rows compute:
//! the same log-prob per completion and the same gradients, on both backends, for pairs, groups
//! of K = 4, SFT on whole sequences, through every objective of the catalog, and over three
//! training steps.

use exo_core::objective::{ObjectiveConfig, ObjectiveKind, ObjectiveSpec};
use exo_core::{Groups, Objective};
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::{
    Architecture, AttentionLayout, CausalLm, Mode, PackedBatch, Packing, TokenBatch, Unit,
};

use crate::common::{ObjectiveInputs, TestBackend, catalog_loss, max_abs, max_abs_diff, tiny};

/// Relative tolerance: the same f32 values through attention over different (masked) key sets
/// and GEMM shapes.
const TOL: f64 = 2e-5;

pub(crate) type Group = (Vec<u32>, Vec<Vec<u32>>);

/// Prompts of different lengths with K completions of different lengths (ids below 32).
pub(crate) fn groups(k: usize) -> Vec<Group> {
    let prompts: [&[u32]; 3] = [&[1, 5, 9], &[1, 7, 3, 7, 3, 8, 2], &[1, 30]];
    prompts
        .iter()
        .enumerate()
        .map(|(g, p)| {
            let completions = (0..k)
                .map(|c| {
                    (0..1 + (g * 3 + c * 2) % 6)
                        .map(|j| u32::try_from(4 + (g * 7 + c * 5 + j * 3) % 27).unwrap_or(4))
                        .collect()
                })
                .collect();
            (p.to_vec(), completions)
        })
        .collect()
}

pub(crate) fn units(groups: &[Group]) -> Vec<Unit<'_>> {
    groups
        .iter()
        .map(|(p, c)| Unit {
            prompt: p,
            completions: c,
        })
        .collect()
}

/// The plain rows `prompt ++ completion`, completion tokens counted (and the prompt's with
/// `count_prompt`).
fn plain_batch(groups: &[Group], count_prompt: bool) -> exo_lm::Result<TokenBatch> {
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = groups
        .iter()
        .flat_map(|(p, cs)| cs.iter().map(move |c| (p.clone(), c.clone())))
        .collect();
    let batch = TokenBatch::prompt_completion(&pairs, 0)?;
    if count_prompt {
        let attention = batch.attention_mask().to_vec();
        batch.with_loss_mask(attention)
    } else {
        Ok(batch)
    }
}

/// Shared prompts, packed rows, attention by segments (which the default chooses only for
/// batches larger than these tests').
pub(crate) const SEGMENTED: Packing = Packing {
    share_prompts: true,
    pack: true,
    attention: AttentionLayout::Segments,
};

const LAYOUTS: [Packing; 7] = [
    Packing::PLAIN,
    Packing {
        share_prompts: true,
        pack: false,
        attention: AttentionLayout::Rows,
    },
    Packing {
        share_prompts: false,
        pack: true,
        attention: AttentionLayout::Rows,
    },
    Packing {
        share_prompts: true,
        pack: true,
        attention: AttentionLayout::Rows,
    },
    Packing {
        share_prompts: true,
        pack: false,
        attention: AttentionLayout::Segments,
    },
    Packing {
        share_prompts: false,
        pack: true,
        attention: AttentionLayout::Segments,
    },
    SEGMENTED,
];

fn host_grads<B: TestBackend>(
    model: &CausalLm<B>,
    loss: &B::Tensor,
) -> exo_lm::Result<Vec<Vec<f64>>> {
    let grads = model.params().grad(loss)?;
    Ok(grads
        .tensors()
        .iter()
        .map(|g| B::to_f64s(g))
        .collect::<exo_core::Result<Vec<_>>>()?)
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    let err = max_abs_diff(got, want);
    assert!(
        err <= TOL * max_abs(want).max(1.0),
        "{what}: differs by {err}: {got:?} vs {want:?}"
    );
}

/// `Σ_s w_s S_s` with fixed weights.
fn weighted<B: TestBackend>(model: &CausalLm<B>, logps: &B::Tensor) -> exo_lm::Result<B::Tensor> {
    let s = B::dims(logps)[0];
    #[allow(clippy::cast_precision_loss)]
    let w: Vec<f64> = (0..s).map(|i| 1.0 - 0.1 * i as f64).collect();
    let w = B::from_f64s(&w, &[s], model.dtype(), model.device())?;
    Ok(B::sum_all(&B::mul(logps, &w)?)?)
}

fn every_layout_equals_the_plain_rows<B: TestBackend>() -> exo_lm::Result<()> {
    for (architecture, tied) in [(Architecture::Llama, false), (Architecture::Qwen2, true)] {
        let model = tiny::<B>(architecture, tied, 11, Mode::Trainable)?;
        for (k, count_prompt) in [(2, false), (4, false), (1, true), (2, true)] {
            let data = groups(k);
            let plain = plain_batch(&data, count_prompt)?;
            let want = model.sequence_logps(&plain, 0.8)?;
            let want_grads = host_grads(&model, &weighted(&model, &want)?)?;
            let want = B::to_f64s(&want)?;
            for packing in LAYOUTS {
                let what =
                    format!("{architecture:?} K={k} count_prompt={count_prompt} {packing:?}");
                let batch = PackedBatch::new(&units(&data), 0, packing, count_prompt)?;
                let got = model.packed_logps(&batch, 0.8)?;
                let grads = host_grads(&model, &weighted(&model, &got)?)?;
                assert_close(&format!("{what}: log-probs"), &B::to_f64s(&got)?, &want);
                for ((param, a), b) in model.params().iter().zip(&grads).zip(&want_grads) {
                    assert_close(&format!("{what}: ∂/∂{}", param.name), a, b);
                }
            }
        }
    }
    Ok(())
}

/// Shared and packed rows are fewer tokens: `P + K·C` per group instead of `K·(P + C)`.
fn sharing_and_packing_cut_the_tokens<B: TestBackend>() -> exo_lm::Result<()> {
    let data = groups(4);
    let plain = PackedBatch::new(&units(&data), 0, Packing::PLAIN, false)?;
    let shared = PackedBatch::new(&units(&data), 0, Packing::default(), false)?;
    let (pn, pt) = plain.dims();
    let (sn, st) = shared.dims();
    let prompts: usize = data.iter().map(|(p, _)| p.len()).sum();
    assert_eq!(plain.real_tokens(), shared.real_tokens() + 3 * prompts);
    assert!(
        sn * st < pn * pt,
        "{:?} vs {:?}",
        shared.dims(),
        plain.dims()
    );
    Ok(())
}

/// Every objective gets the same loss and gradients from shared + packed rows (attention by
/// segments) as from plain rows (pairs: K = 2, with a reference, rewards and lengths).
fn every_objective_agrees_on_packed_rows<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, false, 12, Mode::Trainable)?;
    let data = groups(2);
    let rows = data.len() * 2;
    let (dtype, device) = (model.dtype(), model.device());
    #[allow(clippy::cast_precision_loss)]
    let upload = |f: &dyn Fn(usize) -> f64| -> exo_lm::Result<B::Tensor> {
        let v: Vec<f64> = (0..rows).map(f).collect();
        Ok(B::from_f64s(&v, &[rows], dtype, device)?)
    };
    #[allow(clippy::cast_precision_loss)]
    let reference = upload(&|i| -3.0 - 1.5 * i as f64)?;
    #[allow(clippy::cast_precision_loss)]
    let rewards = upload(&|i| {
        if i % 2 == 0 {
            1.0
        } else {
            -0.5 + 0.1 * i as f64
        }
    })?;
    #[allow(clippy::cast_precision_loss)]
    let lengths = upload(&|i| {
        let (g, c) = (i / 2, i % 2);
        data[g].1[c].len() as f64
    })?;
    let plain = plain_batch(&data, false)?;
    let packed = PackedBatch::new(&units(&data), 0, SEGMENTED, false)?;
    let inputs = ObjectiveInputs::<B> {
        reference,
        rewards,
        lengths,
        k: 2,
    };
    for kind in ObjectiveKind::ALL {
        let loss_of = |policy: &B::Tensor| catalog_loss(kind, policy, &inputs);
        let want = loss_of(&model.sequence_logps(&plain, 1.0)?)?;
        let got = loss_of(&model.packed_logps(&packed, 1.0)?)?;
        let name = kind.name();
        assert_close(
            &format!("{name}: loss"),
            &B::to_f64s(&got)?,
            &B::to_f64s(&want)?,
        );
        let (g, w) = (host_grads(&model, &got)?, host_grads(&model, &want)?);
        for ((param, a), b) in model.params().iter().zip(&g).zip(&w) {
            assert_close(&format!("{name}: ∂/∂{}", param.name), a, b);
        }
    }
    Ok(())
}

/// Three DPO steps on shared + packed rows (attention by segments) reach the weights of three steps on plain rows.
fn packed_rows_train_to_the_same_weights<B: TestBackend>() -> exo_lm::Result<()> {
    let data = groups(2);
    let dpo = "dpo"
        .parse::<ObjectiveSpec>()?
        .build(&ObjectiveConfig::default())?;
    let mut finals = Vec::new();
    for packed in [false, true] {
        let model = tiny::<B>(Architecture::Qwen2, true, 13, Mode::Trainable)?;
        let reference = model.frozen_copy()?;
        let plain = plain_batch(&data, false)?;
        let batch = PackedBatch::new(&units(&data), 0, SEGMENTED, false)?;
        let ref_logps = B::detach(&reference.sequence_logps(&plain, 1.0)?)?;
        let mut trainer = Trainer::new(
            model.params(),
            TrainerConfig {
                adamw: AdamWConfig {
                    lr: 1e-2,
                    weight_decay: 0.0,
                    ..AdamWConfig::default()
                },
                schedule: LrSchedule::Constant,
                max_grad_norm: Some(1.0),
                accumulation_steps: 1,
            },
        )?;
        for _ in 0..3 {
            let policy = if packed {
                model.packed_logps(&batch, 1.0)?
            } else {
                model.sequence_logps(&plain, 1.0)?
            };
            let groups = Groups::<B>::from_logps(&policy, &ref_logps, 2, None)?;
            trainer.backward_step(model.params(), &dpo.forward(&groups)?.loss)?;
        }
        let weights = model
            .params()
            .iter()
            .map(|p| B::to_f64s(&p.tensor))
            .collect::<exo_core::Result<Vec<_>>>()?;
        finals.push(weights);
    }
    let model = tiny::<B>(Architecture::Qwen2, true, 13, Mode::Trainable)?;
    for ((param, a), b) in model.params().iter().zip(&finals[1]).zip(&finals[0]) {
        let err = max_abs_diff(a, b);
        assert!(
            err <= 1e-4,
            "{}: packed and plain weights differ by {err} after 3 steps",
            param.name
        );
    }
    Ok(())
}

per_backend!(
    every_layout_equals_the_plain_rows,
    sharing_and_packing_cut_the_tokens,
    every_objective_agrees_on_packed_rows,
    packed_rows_train_to_the_same_weights
);
