//! The compute settings of every model-running command (`--backend`, `--device`, `--threads`,
//! `--kernels`, `--dtype`, where logits run and how rows are laid out), validated into a [`Compute`], and [`dispatch`]: exo-backend's, the one place
//! where a backend name becomes a backend type, with the runner's errors.

use clap::Args;
use exo_backend::BackendError;
pub use exo_backend::{BackendJob, BackendKind, DeviceSpec};

pub use crate::process_env::{Kernels, ProcessEnv};

/// `--backend`, `--device`, `--threads`: shared by every command that runs a model.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct ComputeArgs {
    /// Tensor library: tch (libtorch; the default when built with it) or candle.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    /// Device: cpu or cuda:N. Under `mpirun -np N`, `cuda` (any N) puts each process on the GPU
    /// of its local rank (rank r of a host on cuda:r).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// CPU threads per process (sets CANDLE_NUM_THREADS, RAYON_NUM_THREADS and OMP_NUM_THREADS;
    /// 0 leaves the libraries' defaults). One thread is fastest for small models on a small,
    /// shared CPU: both libraries' thread pools spin under contention.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// libtorch's CPU kernels: native (the fastest this CPU has) or portable (the AVX2 paths of
    /// ATen, MKL and oneDNN, so that every x86-64 CPU with AVX2 computes the same bits; somewhat
    /// slower) [default: native; exo demo: portable].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernels: Option<Kernels>,
    /// Where the lm_head runs when log-probs are scored: counted (only at the positions whose
    /// next token counts, in one piece), chunked (the same positions, --logit-chunk of them at
    /// a time, keeping no [tokens, vocabulary] logits for the backward pass, where each chunk's
    /// logits are recomputed; it pays when a micro-batch counts many more tokens than the
    /// hidden size, at the cost of a second lm_head forward), or all (every position, [N, T, V]
    /// logits; for measuring). All give the same log-probs and gradients up to f32 rounding.
    /// Default: counted, or chunked when `exo train` / `exo sft` trains LoRA adapters (the
    /// lm_head is then frozen, so the chunks cost a second lm_head forward and no weight
    /// gradient).
    #[arg(long, value_enum)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logits: Option<Logits>,
    /// Positions per lm_head chunk with --logits chunked: at most this many rows of
    /// vocabulary-sized logits exist at a time.
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_LOGIT_CHUNK,
          value_parser = crate::run::values::at_least_one::<u32>())]
    #[serde(with = "crate::run::file_values::count_u32")]
    pub logit_chunk: u32,
    /// The dtype of the model's weights and activations: f32, or bf16 / f16 mixed precision
    /// (16-bit weights and activations; RMSNorm statistics, attention softmax, log-probs, the
    /// objective, gradients, an f32 master copy of the trained weights and AdamW's moments in
    /// f32; f16 training scales the loss dynamically so that small gradients do not underflow).
    #[arg(long, value_enum, default_value_t = Precision::default())]
    pub dtype: Precision,
    /// Score each completion in a row of its own, `prompt ++ completion`, instead of one copy
    /// of the prompt shared by all completions of a group (same log-probs up to f32 rounding;
    /// for measuring what sharing saves).
    #[arg(long)]
    pub no_shared_prompts: bool,
    /// One sequence (or shared group) per row, padded to the longest, instead of several per
    /// row (same log-probs up to f32 rounding; for measuring what packing saves).
    #[arg(long)]
    pub no_packing: bool,
    /// Attention in one masked call over each whole row instead of by segments (a shared
    /// prompt on itself, each completion on the prompt and itself, each packed sequence apart),
    /// which exo uses where it computes less; same log-probs up to f32 rounding; for measuring
    /// what segments save.
    #[arg(long)]
    pub no_segment_attention: bool,
    /// Have glibc return every freed block over 128 KiB to the system at once, instead of
    /// keeping freed memory for the next step: a lower peak RSS, slower steps (each step's large
    /// tensors are page-faulted in afresh; bench/README.md measures both). Implied by
    /// --gradient-checkpointing. Has no effect when GLIBC_TUNABLES is set.
    #[arg(long)]
    pub return_freed_memory: bool,
}

/// `--logits` (exo-lm's [`exo_lm::LogitRows`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Logits {
    /// Only where a log-prob counts, in one piece.
    #[default]
    Counted,
    /// Only where a log-prob counts, a chunk of positions at a time, recomputed in backward.
    Chunked,
    /// At every position.
    All,
}

/// `--dtype` and `--save-dtype`: a dtype exo computes or stores models in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// IEEE single precision.
    #[default]
    F32,
    /// bfloat16 (mixed precision).
    Bf16,
    /// IEEE half precision (mixed precision with loss scaling).
    F16,
    /// IEEE double precision (slow: for checking results to 1e-12, as the equivalence tests do).
    F64,
}

impl Precision {
    /// Whether this is f32 (the default).
    pub fn is_f32(&self) -> bool {
        *self == Self::F32
    }

    /// The dtype.
    pub fn dtype(self) -> exo_core::DType {
        match self {
            Self::F32 => exo_core::DType::F32,
            Self::Bf16 => exo_core::DType::BF16,
            Self::F16 => exo_core::DType::F16,
            Self::F64 => exo_core::DType::F64,
        }
    }
}

/// `--logit-chunk`'s default: 128 rows of logits (74 MiB in f32 at Qwen2.5's vocabulary of 151936,
/// 24 MiB at SmolLM2's 49152).
pub const DEFAULT_LOGIT_CHUNK: u32 = 128;

fn default_logit_chunk() -> u32 {
    DEFAULT_LOGIT_CHUNK
}

/// Validated compute settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compute {
    /// The tensor library.
    pub backend: BackendKind,
    /// The device.
    pub device: DeviceSpec,
    /// CPU threads (0: the libraries' defaults).
    pub threads: usize,
    /// libtorch's CPU kernels.
    pub kernels: Kernels,
    /// Where the lm_head runs when log-probs are scored.
    #[serde(default)]
    pub logits: Logits,
    /// Rows per lm_head chunk ([`Logits::Chunked`]).
    #[serde(default = "default_logit_chunk")]
    pub logit_chunk: u32,
    /// The compute dtype (recorded when not f32, so that f32 reports keep their layout).
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub dtype: Precision,
    /// Shared prompts.
    #[serde(default = "yes")]
    pub shared_prompts: bool,
    /// Packed rows.
    #[serde(default = "yes")]
    pub packing: bool,
    /// Attention by segments where cheaper (recorded when off).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub segment_attention: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_yes(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

impl Compute {
    /// Where exo-lm computes logits (`--logits`, `--logit-chunk`).
    pub fn logit_rows(&self) -> exo_lm::LogitRows {
        match self.logits {
            Logits::Chunked => exo_lm::LogitRows::Chunked(self.logit_chunk as usize),
            Logits::Counted => exo_lm::LogitRows::Counted,
            Logits::All => exo_lm::LogitRows::All,
        }
    }

    /// `backend` on the CPU with the libraries' default threads and native kernels.
    pub fn cpu(backend: BackendKind) -> Self {
        Self {
            backend,
            device: DeviceSpec::Cpu,
            threads: 0,
            kernels: Kernels::default(),
            logits: Logits::default(),
            logit_chunk: DEFAULT_LOGIT_CHUNK,
            dtype: Precision::default(),
            shared_prompts: true,
            packing: true,
            segment_attention: true,
        }
    }
}

impl ComputeArgs {
    /// The process environment these flags ask for, `--kernels` defaulting to `kernels`.
    pub fn process_env(&self, kernels: Kernels) -> ProcessEnv {
        ProcessEnv {
            threads: self.threads,
            kernels: self.kernels.unwrap_or(kernels),
            keep_freed_memory: !self.return_freed_memory,
        }
    }

    /// The validated settings, `--kernels` defaulting to `kernels`.
    ///
    /// # Errors
    /// If the backend is not in this build.
    pub fn compute(&self, kernels: Kernels) -> anyhow::Result<Compute> {
        self.compute_for(kernels, false)
    }

    /// [`ComputeArgs::compute`] for a run that trains LoRA adapters (`lora`) or all weights:
    /// without `--logits`, LoRA gets the chunked head. Its base's lm_head is frozen, so the
    /// chunks recompute their logits but no weight gradient, and no `[tokens, vocabulary]`
    /// logits are kept (bench/README.md: at the Qwen2.5-0.5B shape in bf16, 0.43× → 0.34× of
    /// the f32 full fine-tune's peak at the same step time).
    ///
    /// # Errors
    /// If the backend is not in this build.
    pub fn compute_for(&self, kernels: Kernels, lora: bool) -> anyhow::Result<Compute> {
        let backend = self.backend.unwrap_or_else(BackendKind::default_for_build);
        if !backend.is_built() {
            return Err(anyhow::Error::new(
                BackendError::<std::convert::Infallible>::NotBuilt(backend),
            ));
        }
        Ok(Compute {
            backend,
            device: self.device,
            threads: self.threads,
            kernels: self.kernels.unwrap_or(kernels),
            logits: self.logits.unwrap_or(if lora {
                Logits::Chunked
            } else {
                Logits::Counted
            }),
            logit_chunk: self.logit_chunk,
            dtype: self.dtype,
            shared_prompts: !self.no_shared_prompts,
            packing: !self.no_packing,
            segment_attention: !self.no_segment_attention,
        })
    }
}

/// Runs `job` on the backend and device of `compute` (see [`exo_backend::dispatch`]).
///
/// # Errors
/// If the device does not exist in this build or on this machine, or the job fails.
pub fn dispatch<J: BackendJob<Error = anyhow::Error>>(
    compute: &Compute,
    job: J,
) -> anyhow::Result<J::Output> {
    super::model::set_layout(super::model::Layout {
        logits: compute.logit_rows(),
        dtype: compute.dtype.dtype(),
        packing: exo_lm::Packing {
            share_prompts: compute.shared_prompts,
            pack: compute.packing,
            attention: if compute.segment_attention {
                exo_lm::AttentionLayout::Cheaper
            } else {
                exo_lm::AttentionLayout::Rows
            },
        },
    });
    let world = super::dist::world();
    let device = match compute.device {
        DeviceSpec::Cuda(_) if world.world_size() > 1 => DeviceSpec::Cuda(world.local_rank()),
        d => d,
    };
    exo_backend::dispatch(compute.backend, device, compute.threads, job).map_err(|e| match e {
        BackendError::Job(e) => e,
        other => anyhow::anyhow!("{other}"),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{ComputeArgs, Kernels, Logits};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        compute: ComputeArgs,
    }

    fn logits(flags: &[&str], lora: bool) -> Logits {
        let cli = Cli::try_parse_from(std::iter::once("exo").chain(flags.iter().copied()))
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        cli.compute
            .compute_for(Kernels::default(), lora)
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"))
            .logits
    }

    #[test]
    fn lora_defaults_to_the_chunked_head_and_full_training_to_the_counted_one() {
        assert_eq!(logits(&[], true), Logits::Chunked);
        assert_eq!(logits(&[], false), Logits::Counted);
        assert_eq!(Logits::default(), Logits::Counted);
    }

    #[test]
    fn an_explicit_logits_flag_wins_over_the_lora_default() {
        assert_eq!(logits(&["--logits", "counted"], true), Logits::Counted);
        assert_eq!(logits(&["--logits", "all"], true), Logits::All);
        assert_eq!(logits(&["--logits", "chunked"], false), Logits::Chunked);
    }
}
