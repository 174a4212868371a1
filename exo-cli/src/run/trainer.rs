//! The training loop shared by `exo sft` and `exo train`, generic over the backend and over what
//! a micro-batch's loss is ([`StepLoss`]):
//!
//! ```text
//! for each optimiser step:
//!     for each of grad_accum micro-batches (seeded order, position = micro-batches consumed):
//!         loss, metrics = L(model, records);  check loss finite;  acc += ∂(S · loss)/∂θ
//!     g = acc / (grad_accum · S);  ‖g‖ (before clipping) finite?  clip;  AdamW(θ, g, lr · schedule(step))
//!     metrics.jsonl ← the step's metrics;  every save_every steps: checkpoint
//! at the end: a last checkpoint, and the final model in OUT/
//! ```
//!
//! `S` is 1, except under `--dtype f16`, where it is the dynamic loss scale
//! ([`exo_lm::optim::LossScaler`]): a step whose scaled gradients overflow is skipped (no
//! update, the schedule still advances, `loss_scale` halves) instead of stopping the run
//! (the rule is [`exo_lm::optim::apply_update`]'s, shared with the library's trainer).
//!
//! A non-finite loss or gradient stops the run before the update: nothing is applied or saved.
//!
//! Rank 0 holds the lock of OUT for the whole run ([`super::out_lock`]). A SIGTERM or SIGINT
//! during the loop ([`super::stop`]) ends it after the current step with a checkpoint of that
//! step (every rank agrees on the step) and the error [`Stopped`]; no final model is written.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use exo_core::collective::{Collective, ReduceOp, shard};
use exo_lm::memory::BatchShape;
use exo_lm::optim::{
    AdamW, AdamWConfig, GradAccumulator, LossScaler, LrSchedule, all_reduce_mean, apply_update,
    scale_loss,
};
use exo_lm::{CausalLm, DeferredLogps, Mode, ModelOps};

use super::checkpoint::{self, OPTIMIZER_FILE, TrainerState};
use super::config::LoraStart;
use super::data::Order;
use super::metrics::{MetricMean, Metrics, MetricsWriter};
use super::model::{copy_tokenizer_files, load_model, save_model, with_set_logit_rows};
use super::progress::Progress;
use super::step_memory;
use super::stop::{self, Stopped};

/// What one micro-batch's loss is.
pub trait StepLoss<B: ModelOps> {
    /// The scalar loss of the micro-batch of `records`, the log-probs it was built on (whose
    /// [`DeferredLogps::backward`] gives the gradient) and its metrics.
    ///
    /// # Errors
    /// If the forward pass fails.
    fn loss(
        &self,
        model: &CausalLm<B>,
        records: &[usize],
    ) -> anyhow::Result<(B::Tensor, DeferredLogps<B>, Metrics)>;

    /// The weight of a micro-batch's loss when the ranks of a data-parallel run average their
    /// losses: the loss of the whole micro-batch is `Σ_r w_r · loss_r / Σ_r w_r`. 1 for losses
    /// that are means over records (equal shards: the plain mean); SFT's mean over tokens
    /// weighs each rank by its token count, so that N ranks equal one process.
    fn weight(&self, _metrics: &Metrics) -> f64 {
        1.0
    }

    /// The shape of the largest micro-batch of `batch` records (for the memory estimate).
    ///
    /// # Errors
    /// If the batch cannot be laid out.
    fn largest_batch(&self, batch: usize) -> anyhow::Result<BatchShape>;

    /// Metrics on held-out data (reported with an `eval_` prefix), if there is any.
    ///
    /// # Errors
    /// If the forward pass fails.
    fn evaluate(&self, _model: &CausalLm<B>) -> anyhow::Result<Option<Metrics>> {
        Ok(None)
    }
}

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// A checkpoint folder.
    Pretrained(PathBuf),
    /// Random weights (transformers' initialisation; the same on every backend) for the
    /// `config.json` in a folder.
    Random {
        /// The folder with `config.json`.
        dir: PathBuf,
        /// The seed of the weights.
        seed: u64,
    },
    /// A checkpoint folder as a reward model (one score): a `*ForSequenceClassification`
    /// checkpoint as it is, or a causal LM with a new score head (see
    /// [`CausalLm::from_pretrained_with_score_head`]).
    Scorer {
        /// The folder.
        dir: PathBuf,
        /// The seed of a new score head.
        seed: u64,
        /// The `pad_token_id` to record when the config has none.
        pad: u32,
    },
}

impl Init {
    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            Self::Pretrained(d) | Self::Random { dir: d, .. } | Self::Scorer { dir: d, .. } => d,
        }
    }

    fn load<B: ModelOps>(&self, device: &B::Device) -> anyhow::Result<CausalLm<B>> {
        match self {
            Self::Pretrained(dir) => load_model::<B>(dir, device, Mode::Trainable),
            Self::Random { dir, seed } => {
                let config = exo_lm::LmConfig::from_file(dir)
                    .with_context(|| format!("reading the model config in {}", dir.display()))?;
                Ok(with_set_logit_rows(CausalLm::<B>::random(
                    config,
                    *seed,
                    super::model::layout().dtype,
                    device,
                    Mode::Trainable,
                )?))
            }
            Self::Scorer { dir, seed, pad } => Ok(CausalLm::<B>::from_pretrained_with_score_head(
                dir,
                (1, Some(*pad)),
                *seed,
                super::model::layout().dtype,
                device,
                Mode::Trainable,
            )
            .with_context(|| format!("loading {} as a reward model", dir.display()))?),
        }
    }
}

/// A training run, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `sft` or `train` (recorded in checkpoints; a checkpoint of one does not resume the other).
    pub kind: &'static str,
    /// The model to start from.
    pub init: Init,
    /// The output folder.
    pub out: PathBuf,
    /// The tokenizer, copied into every checkpoint.
    pub tokenizer_json: PathBuf,
    /// AdamW (its `lr` is the peak).
    pub adamw: AdamWConfig,
    /// The schedule over `max_steps`.
    pub schedule: LrSchedule,
    /// Gradient clipping.
    pub max_grad_norm: Option<f64>,
    /// Optimiser steps.
    pub max_steps: u64,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    /// Recompute each decoder layer in the backward pass instead of keeping its activations.
    pub gradient_checkpointing: bool,
    /// The compute dtype (`--dtype`).
    pub dtype: exo_core::DType,
    /// The dtype the final model is stored in (`--save-dtype`; by default the initial model's
    /// for a full model, `None` for LoRA adapters: as trained, f32 or f64).
    pub save_dtype: Option<exo_core::DType>,
    /// Train LoRA adapters (fresh, or from an adapter folder) on the frozen initial weights
    /// instead of every weight.
    pub lora: Option<LoraStart>,
    /// Checkpoint every this many steps (0: only at the end).
    pub save_every: u64,
    /// Checkpoints kept (0: all).
    pub save_total_limit: usize,
    /// Evaluate every this many steps (0: never).
    pub eval_every: u64,
    /// The seed of the data order.
    pub seed: u64,
    /// A checkpoint (or a folder of checkpoints) to continue from.
    pub resume: Option<PathBuf>,
    /// Test hook (feature `test-hooks`): exit abruptly (status 137, as if killed) right after
    /// this step's update.
    #[cfg(feature = "test-hooks")]
    pub abort_after_step: Option<u64>,
    /// Test hook (feature `test-hooks`): the last process returns an error right after this
    /// step.
    #[cfg(feature = "test-hooks")]
    pub fail_after_step: Option<u64>,
    /// Test hook (feature `test-hooks`): the first loss scale of an f16 run.
    #[cfg(feature = "test-hooks")]
    pub initial_loss_scale: Option<f64>,
    /// Remove the checkpoints of an earlier run in `out` instead of refusing to start.
    pub overwrite: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Fingerprint of the data.
    pub data_fingerprint: String,
    /// Fingerprint of the settings that change the result.
    pub settings_fingerprint: String,
    /// The settings, for people.
    pub settings: serde_json::Value,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// Steps done in total.
    pub steps: u64,
    /// The step a resumed run started from.
    pub resumed_from: Option<u64>,
    /// The last step's metrics.
    pub last: Metrics,
    /// The last checkpoint.
    pub checkpoint: PathBuf,
    /// Wall time of this process's part of the run.
    pub elapsed: Duration,
    /// Wall time of each optimiser step of this process (forward, backward, clipping and the
    /// update; not evaluation or checkpoints).
    pub step_times: Vec<Duration>,
}

/// Runs `plan` with `loss` over the micro-batches of `order`.
///
/// # Errors
/// If another run holds the lock of the output folder, the model or checkpoint cannot be loaded,
/// a resumed run's data or settings differ from the checkpoint's, a step fails or is not finite,
/// or an output cannot be written; [`Stopped`] (after a checkpoint) if a signal asked the run to
/// stop.
pub fn fit<B: ModelOps, L: StepLoss<B>>(
    plan: &Plan,
    order: &mut Order,
    loss: &L,
    device: &B::Device,
) -> anyhow::Result<FitReport> {
    let started = Instant::now();
    let world = super::dist::world();
    let root = world.is_root();
    // Held to the end of the run (nothing to hold if the command holds it already, or on the
    // other ranks).
    let _lock = super::out_lock::lock_out(&plan.out)?;
    if root {
        prepare_out(plan)?;
    }
    // The others start once rank 0 has made (or cleaned) the output folder.
    world.barrier()?;

    let (model, mut optimizer, state, resumed_from) = match &plan.resume {
        Some(dir) => {
            let dir = checkpoint::resolve(dir)?;
            let state = TrainerState::read(&dir)?;
            check_resumable(plan, &state, &dir)?;
            let model = load_model::<B>(&dir, device, Mode::Trainable)?;
            let optimizer = AdamW::load(model.params(), plan.adamw, &dir.join(OPTIMIZER_FILE))
                .with_context(|| format!("loading the optimiser state of {}", dir.display()))?;
            let step = state.step;
            (model, optimizer, state, Some(step))
        }
        None => {
            let model = plan.init.load::<B>(device)?;
            let model = match &plan.lora {
                Some(LoraStart::Fresh(config)) => model.with_lora(config.clone(), plan.seed)?,
                Some(LoraStart::Adapter { dir, .. }) => model
                    .load_adapter(dir)
                    .with_context(|| format!("--lora-adapter {}", dir.display()))?,
                None => model,
            };
            let optimizer = AdamW::new(model.params(), plan.adamw)?;
            let mut state = TrainerState::new(
                plan.kind,
                plan.seed,
                &plan.data_fingerprint,
                &plan.settings_fingerprint,
                plan.settings.clone(),
            );
            state.world_size = world.world_size();
            (model, optimizer, state, None)
        }
    };
    let mut model = model.with_gradient_checkpointing(plan.gradient_checkpointing);
    if model.dtype() != plan.dtype {
        bail!(
            "the model computes in {} but the run asks for --dtype {}",
            model.dtype(),
            plan.dtype
        );
    }
    let mut state = state;
    if plan.dtype == exo_core::DType::F16 && state.loss_scaler.is_none() {
        #[allow(unused_mut)]
        let mut scaler = LossScaler::new();
        #[cfg(feature = "test-hooks")]
        if let Some(scale) = plan.initial_loss_scale {
            scaler.scale = scale;
        }
        state.loss_scaler = Some(scaler);
    }
    let shard_of = |records: Vec<usize>| -> Vec<usize> {
        records[shard(records.len(), world.rank(), world.world_size())].to_vec()
    };
    let batch = loss.largest_batch(order.batch() / world.world_size())?;
    let memory = model.step_memory(batch);
    if !plan.quiet && root {
        print!("{}", step_memory::report(plan.kind, &model, batch, &memory));
    }
    let trims = step_memory::set_heap_trims(&mut model, &memory);
    // MPI's world, or NCCL's for gradients on the GPUs (`--device cuda`, feature `nccl`).
    let grad_world = super::dist::gradient_world(B::cuda_ordinal(device))?;
    if root && world.world_size() > 1 {
        let transport = if grad_world.name() == world.name() {
            String::new()
        } else {
            format!(
                "; gradients all-reduced on the GPUs through {}",
                grad_world.name()
            )
        };
        println!(
            "exo {}: data-parallel over {} processes ({}): {} records per process per micro-batch, {} in all{transport}",
            plan.kind,
            world.world_size(),
            world.name(),
            order.batch() / world.world_size(),
            order.batch()
        );
    }
    let mut writer = if root {
        Some(MetricsWriter::open(
            &plan.out.join("metrics.jsonl"),
            resumed_from,
        )?)
    } else {
        None
    };
    let progress = Progress::new(plan.kind, plan.max_steps, state.step, plan.quiet || !root);
    let per_epoch = order.per_epoch() as f64;
    let mut last = Metrics::new();
    let mut last_checkpoint = checkpoint::list(&plan.out)
        .into_iter()
        .filter(|(s, _)| *s <= state.step)
        .max_by_key(|(s, _)| *s)
        .map(|(_, d)| d);

    let mut step_times = Vec::new();
    let graceful = stop::Graceful::enter();
    while state.step < plan.max_steps {
        let step = state.step + 1;
        let step_started = Instant::now();
        let mut acc = GradAccumulator::<B>::new();
        let mut mean = MetricMean::default();
        for _ in 0..plan.grad_accum {
            let (_, records) = order.micro_batch(state.micro_batches);
            let records = shard_of(records);
            // LoRA dropout's masks: a function of the seed, the rank and the position, as the
            // data order.
            model.set_dropout_seed(Some(dropout_seed(
                rank_seed(plan.seed, world.rank()),
                state.micro_batches,
            )));
            state.micro_batches += 1;
            let (value, logps, metrics) = loss
                .loss(&model, &records)
                .with_context(|| format!("step {step}"))?;
            let l = B::to_f64s(&value)?.first().copied().unwrap_or(f64::NAN);
            if !l.is_finite() {
                bail!("{}", not_finite(step, "loss", l, last_checkpoint.as_ref()));
            }
            // This rank's share of the micro-batch's loss (1 when the ranks' losses are means
            // of equally many records).
            let share = rank_share(world, loss.weight(&metrics))?;
            let value = if share == 1.0 {
                value
            } else {
                B::mul_scalar(&value, share)?
            };
            let scaled = scale_loss::<B>(state.loss_scaler.as_ref(), value)?;
            // The forward pass's freed transients out of the backward pass's peak
            // (exo_backend::heap).
            if trims.between_passes {
                exo_backend::heap::return_free_pages();
            }
            acc.add(
                logps
                    .backward(&scaled, model.params())
                    .with_context(|| format!("step {step}: backward"))?,
            )?;
            if trims.after_backward {
                exo_backend::heap::return_free_pages();
            }
            let mut metrics = metrics;
            metrics.insert("loss".into(), l * share);
            mean.add(&metrics, 1.0);
        }
        let Some(mut grads) = acc.take_mean()? else {
            bail!("step {step}: no gradient (grad_accum is 0)");
        };
        // Data-parallel: the mean over ranks, so every rank clips and applies the same update.
        all_reduce_mean(&mut grads, grad_world)
            .with_context(|| format!("step {step}: all-reduce"))?;
        let lr = plan.adamw.lr
            * plan
                .schedule
                .factor(usize::try_from(state.step).unwrap_or(usize::MAX));
        // Unscale, clip, update; f16: an overflow of the scaled gradients skips the update and
        // lowers the scale.
        let update = match apply_update(
            &mut optimizer,
            model.params(),
            grads,
            lr,
            plan.max_grad_norm,
            state.loss_scaler.as_mut(),
        ) {
            Err(exo_lm::LmError::NotFinite { what, value }) => {
                bail!(
                    "{}",
                    not_finite(step, what, value, last_checkpoint.as_ref())
                )
            }
            update => update?,
        };
        step_times.push(step_started.elapsed());
        state.step = step;
        state.epoch = state.micro_batches / order.per_epoch();

        let mut metrics = reduce_metrics(world, mean.mean())?;
        metrics.insert("learning_rate".into(), lr);
        metrics.insert("grad_norm".into(), update.grad_norm);
        if let Some(scale) = update.loss_scale {
            metrics.insert("loss_scale".into(), scale);
        }
        metrics.insert("epoch".into(), state.micro_batches as f64 / per_epoch);
        if plan.eval_every > 0 && step % plan.eval_every == 0 {
            let view = model.detached()?;
            if let Some(eval) = loss
                .evaluate(&view)
                .with_context(|| format!("step {step}: evaluation"))?
            {
                for (k, v) in eval {
                    metrics.insert(format!("eval_{k}"), v);
                }
            }
        }
        if let Some(writer) = &mut writer {
            writer.write(step, &metrics)?;
        }
        progress.step(step, metrics.get("loss").copied().unwrap_or(f64::NAN));
        last = metrics;

        let at_end = step == plan.max_steps;
        if at_end || (plan.save_every > 0 && step % plan.save_every == 0) {
            let dir = if root {
                let dir = checkpoint::save(plan, &model, &optimizer, &state)?;
                progress.println(&format!("checkpoint: {}", dir.display()));
                dir
            } else {
                checkpoint::checkpoint_dir(&plan.out, state.step)
            };
            last_checkpoint = Some(dir);
        }
        #[cfg(feature = "test-hooks")]
        if plan.abort_after_step == Some(step) {
            test_kill(world);
        }
        #[cfg(feature = "test-hooks")]
        if plan.fail_after_step == Some(step) && world.rank() + 1 == world.world_size() {
            bail!("test hook: failing after step {step}");
        }
        // A signal (on any rank) stops every rank here, after the same step; the last step
        // finishes the run as usual instead.
        if step < plan.max_steps
            && let Some(signal) = stop::agreed(world)?
        {
            let current = checkpoint::checkpoint_dir(&plan.out, step);
            let checkpoint = if !root || last_checkpoint.as_ref() == Some(&current) {
                current
            } else {
                checkpoint::save(plan, &model, &optimizer, &state)?
            };
            progress.finish();
            // The others exit once the checkpoint is complete.
            world.barrier()?;
            return Err(Stopped {
                signal,
                step,
                checkpoint,
                out: plan.out.clone(),
            }
            .into());
        }
    }
    drop(graceful);
    progress.finish();
    let checkpoint = match last_checkpoint {
        Some(dir) if dir == checkpoint::checkpoint_dir(&plan.out, state.step) => dir,
        _ if !root => checkpoint::checkpoint_dir(&plan.out, state.step),
        _ => checkpoint::save(plan, &model, &optimizer, &state)?,
    };
    if root {
        // The final model at the top of OUT: a complete Hugging Face folder (or PEFT adapter).
        save_model(&model, &plan.out, plan.init.dir(), plan.save_dtype)
            .with_context(|| format!("saving the final model to {}", plan.out.display()))?;
        copy_tokenizer_files(&plan.tokenizer_json, &plan.out)?;
    }
    // Every rank returns once the outputs are complete.
    world.barrier()?;
    Ok(FitReport {
        steps: state.step,
        resumed_from,
        last,
        checkpoint,
        elapsed: started.elapsed(),
        step_times,
    })
}

/// Makes the output folder ready (rank 0 only): created, temporaries of a killed run removed,
/// and the checkpoints of an earlier run refused, or removed with `--overwrite`.
fn prepare_out(plan: &Plan) -> anyhow::Result<()> {
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;
    checkpoint::remove_stale(&plan.out);
    let earlier = checkpoint::list(&plan.out);
    if plan.resume.is_none() && !earlier.is_empty() {
        if !plan.overwrite {
            bail!(
                "--out {} holds checkpoints of an earlier run: --resume {} continues it, --overwrite starts afresh",
                plan.out.display(),
                plan.out.display()
            );
        }
        for (_, dir) in earlier {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    Ok(())
}

/// This rank's factor on its micro-batch loss: `N · w_r / Σ_s w_s`, so that the mean over ranks
/// of the factored losses is the weighted mean `Σ_r w_r · loss_r / Σ_r w_r` (exactly 1 when the
/// weights are equal, and in a world of one).
fn rank_share(world: &dyn Collective, weight: f64) -> anyhow::Result<f64> {
    if world.world_size() <= 1 {
        return Ok(1.0);
    }
    let mut total = [weight];
    world.all_reduce_f64(&mut total, ReduceOp::Sum)?;
    let share = weight * world.world_size() as f64 / total[0];
    Ok(if share.is_finite() { share } else { 1.0 })
}

/// Metrics that add up over ranks rather than average.
const SUMMED_METRICS: [&str; 1] = ["num_tokens"];

/// The step's metrics over all ranks: means, except the counts of [`SUMMED_METRICS`]. Every rank
/// reports the same names (same loss), so they travel as one vector in name order.
fn reduce_metrics(world: &dyn Collective, metrics: Metrics) -> anyhow::Result<Metrics> {
    if world.world_size() <= 1 {
        return Ok(metrics);
    }
    let n = world.world_size() as f64;
    let mut values: Vec<f64> = metrics
        .iter()
        .map(|(k, v)| {
            if SUMMED_METRICS.contains(&k.as_str()) {
                v * n
            } else {
                *v
            }
        })
        .collect();
    let mut count = [values.len() as f64];
    world.all_reduce_f64(&mut count, ReduceOp::Sum)?;
    if count[0] != n * values.len() as f64 {
        bail!("the ranks report different metrics (a rank's loss differs)");
    }
    world.all_reduce_f64(&mut values, ReduceOp::Mean)?;
    Ok(metrics.into_keys().zip(values).collect())
}

/// The seed of rank `rank`'s randomness in a run seeded `seed` (`seed` itself for rank 0, so a
/// world of one draws what a single process always drew).
pub fn rank_seed(seed: u64, rank: usize) -> u64 {
    seed ^ (rank as u64).wrapping_mul(0xA076_1D64_78BD_642F)
}

/// Test hook: as if killed right after this step's update (no final save, no cleanup). In a
/// world of several processes the last rank is killed for real (`kill -9` of itself), and the
/// launcher must stop the others.
#[cfg(feature = "test-hooks")]
fn test_kill(world: &dyn Collective) {
    if world.world_size() > 1 {
        if world.rank() + 1 == world.world_size() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
        }
        return;
    }
    std::process::exit(137);
}

/// The seed of the LoRA dropout masks of micro-batch `position` of a run seeded `seed`.
fn dropout_seed(seed: u64, position: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ position
}

/// The message of a non-finite loss or gradient.
fn not_finite(step: u64, what: &str, value: f64, checkpoint: Option<&PathBuf>) -> String {
    let saved = checkpoint.map_or_else(
        || "no checkpoint was written".to_owned(),
        |d| format!("the last checkpoint is {}", d.display()),
    );
    format!(
        "step {step}: the {what} is {value}, not finite; the update was not applied and nothing was saved ({saved}); lower --lr or check the data"
    )
}

/// Errors unless the checkpoint in `dir` was made by a run with the same kind, data and settings.
fn check_resumable(plan: &Plan, state: &TrainerState, dir: &std::path::Path) -> anyhow::Result<()> {
    if state.kind != plan.kind {
        bail!(
            "{} is a checkpoint of `exo {}`, not of `exo {}`",
            dir.display(),
            state.kind,
            plan.kind
        );
    }
    if state.data_fingerprint != plan.data_fingerprint {
        bail!(
            "{}: the training data differ from the checkpoint's (same file, tokenizer and truncation needed to resume)",
            dir.display()
        );
    }
    if state.settings_fingerprint != plan.settings_fingerprint || state.seed != plan.seed {
        bail!(
            "{}: the settings differ from the checkpoint's (resume with the same flags; the checkpoint's are in its trainer_state.json)",
            dir.display()
        );
    }
    let world = super::dist::world().world_size();
    if state.world_size != world {
        bail!(
            "{}: the checkpoint was written by a run of {} process(es) and this run has {world}; resume with `mpirun -np {}` (each global batch is cut into that many shards)",
            dir.display(),
            state.world_size,
            state.world_size
        );
    }
    if state.step > plan.max_steps {
        bail!(
            "{}: the checkpoint is at step {}, past --max-steps {}",
            dir.display(),
            state.step,
            plan.max_steps
        );
    }
    Ok(())
}
