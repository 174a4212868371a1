//! What one `exo demo` run is: its sizes, settings, seeds and β, and the methods it compares.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::run::backend::Compute;

/// The marker file that says a folder was written by `exo demo` (and may be overwritten by it).
pub const MARKER: &str = ".exo-demo";

/// The model family the demo trains (`--model-family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// A Llama (RMSNorm, rotary, grouped-query attention, SwiGLU, tied head).
    #[default]
    Llama,
    /// A GPT-2 (learned positions, LayerNorm, `gelu_new`, tied head; no grouped-query heads).
    Gpt2,
    /// A GPT-NeoX / Pythia (rotary on a quarter of each head, parallel residual, exact GELU,
    /// untied `embed_out`; no grouped-query heads).
    Neox,
}

impl ModelFamily {
    /// Whether this is the default family (left out of the report, so that the default demo's
    /// report is unchanged).
    pub fn is_llama(&self) -> bool {
        *self == Self::Llama
    }

    /// The family's name in the demo's messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Llama => "Llama",
            Self::Gpt2 => "GPT-2",
            Self::Neox => "GPT-NeoX",
        }
    }
}

/// The sizes and settings of one demo run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoPlan {
    /// Output folder.
    pub out: PathBuf,
    /// A user corpus (one text per line) instead of the generated one.
    pub corpus: Option<PathBuf>,
    /// Generated sentences.
    pub sentences: usize,
    /// BPE vocabulary (at most).
    pub vocab: usize,
    /// The model family (`llama` unless `--model-family` says otherwise).
    #[serde(default, skip_serializing_if = "ModelFamily::is_llama")]
    pub model_family: ModelFamily,
    /// Decoder layers.
    pub layers: usize,
    /// Model width.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (Llama only: GPT-2 and GPT-NeoX have one per query head).
    pub kv_heads: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Context length.
    pub context: usize,
    /// SFT steps.
    pub sft_steps: u64,
    /// SFT sequences per step.
    pub sft_batch: usize,
    /// SFT learning rate.
    pub sft_lr: f64,
    /// Held-out prompts sampled for alignment.
    pub align_prompts: usize,
    /// Held-out prompts for evaluation.
    pub eval_prompts: usize,
    /// Words per prompt.
    pub prompt_words: usize,
    /// Completions per prompt.
    pub k: usize,
    /// New tokens per completion.
    pub max_new_tokens: usize,
    /// Sampling temperature (and logit temperature of training and KL).
    pub temperature: f64,
    /// Alignment steps (same for every method).
    pub align_steps: u64,
    /// Prompts per alignment step.
    pub align_batch: usize,
    /// Alignment learning rate.
    pub align_lr: f64,
    /// Every β_π (DPO's β) the methods are aligned with.
    pub betas: Vec<f64>,
    /// The β whose runs the single-run tables show (one of `betas`).
    pub example_beta: f64,
    /// β_r.
    pub beta_r: f64,
    /// Evaluation samples per prompt.
    pub eval_samples: usize,
    /// Seed of the corpus, the tokenizer split and SFT, and the first seed of the study.
    pub seed: u64,
    /// Seeds of the study: `seed, seed + 1, …` (sampling, alignment and evaluation).
    pub seeds: usize,
    /// Compute settings of each run.
    pub compute: Compute,
    /// Runs at once.
    pub jobs: usize,
}

impl DemoPlan {
    /// The seeds of the study, the first being `--seed`.
    pub fn seed_list(&self) -> Vec<u64> {
        (0..self.seeds as u64)
            .map(|i| self.seed.wrapping_add(i))
            .collect()
    }

    /// Whether this is one run (one seed, one β): its files keep the single-run layout.
    pub fn is_single(&self) -> bool {
        self.seeds == 1 && self.betas.len() == 1
    }

    /// The folder of one seed's samples, runs and evaluations.
    pub(super) fn seed_dir(&self, seed: u64) -> PathBuf {
        if self.seeds == 1 {
            self.out.clone()
        } else {
            self.out.join(format!("seed-{seed}"))
        }
    }

    /// The folder of one method's run at one β.
    pub(super) fn run_name(&self, method: &str, beta: f64) -> String {
        if self.betas.len() == 1 {
            method.to_owned()
        } else {
            format!("{method}-beta-{beta}")
        }
    }

    /// Steps between the alignment checkpoints that the evaluation follows (four per run).
    pub fn checkpoint_every(&self) -> u64 {
        (self.align_steps / 4).max(1)
    }
}

/// The methods compared, as their `--objective`.
pub const METHODS: [&str; 3] = ["exo", "dpo", "exo-pair"];
