//! The files of `exo demo`: the corpus split, the output folder, JSONL and line files, the demo
//! model's `config.json`, and `commands.sh`'s shell quoting.

use std::path::Path;

use anyhow::{Context, bail};

use crate::run::out_lock::{LOCK_FILE, OutLock, lock_out};

use super::plan::{DemoPlan, MARKER, ModelFamily};
use super::{corpus, tokenizer};

/// The held-out split of the corpus.
pub(super) struct Split {
    pub(super) sft: Vec<String>,
    pub(super) align: Vec<String>,
    pub(super) eval: Vec<String>,
}

/// Shuffles the texts (seeded) and holds out the last ones as prompt sources.
pub(super) fn split_corpus(texts: &[String], plan: &DemoPlan) -> anyhow::Result<Split> {
    let order = crate::run::data::permutation(texts.len(), plan.seed, u64::MAX);
    let mut prompts = Vec::new();
    let mut used = vec![false; texts.len()];
    for &i in order.iter().rev() {
        if prompts.len() == plan.align_prompts + plan.eval_prompts {
            break;
        }
        if let Some((p, _)) = corpus::split_prompt(&texts[i], plan.prompt_words) {
            prompts.push(p);
            used[i] = true;
        }
    }
    if prompts.len() < plan.align_prompts + plan.eval_prompts {
        bail!(
            "the corpus has only {} texts longer than {} words: {} are needed as held-out prompts",
            prompts.len(),
            plan.prompt_words,
            plan.align_prompts + plan.eval_prompts
        );
    }
    let sft: Vec<String> = order
        .iter()
        .filter(|&&i| !used[i])
        .map(|&i| texts[i].clone())
        .collect();
    if sft.len() < plan.sft_batch {
        bail!(
            "the corpus leaves {} texts for SFT, fewer than one batch of {}",
            sft.len(),
            plan.sft_batch
        );
    }
    let eval = prompts.split_off(plan.align_prompts);
    Ok(Split {
        sft,
        align: prompts,
        eval,
    })
}

/// One text per non-empty line.
pub(super) fn read_corpus(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--corpus {}", path.display()))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        bail!("--corpus {}: no text in it", path.display());
    }
    Ok(lines)
}

/// Creates the output folder, clearing it if an earlier demo wrote it, and locks it for this
/// demo (the lock, held until dropped, refuses a second run into the folder meanwhile).
pub(super) fn prepare_out(out: &Path) -> anyhow::Result<Option<OutLock>> {
    // What is in the folder besides its lock file.
    let contents = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(out)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name() != LOCK_FILE)
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    if out.exists() && !out.join(MARKER).is_file() && (!out.is_dir() || !contents().is_empty()) {
        bail!(
            "--out {} exists and was not written by exo demo; choose another folder",
            out.display()
        );
    }
    // Before anything is removed: another demo may be writing here.
    let lock = lock_out(out)?;
    for path in contents() {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("clearing {}", path.display()))?;
    }
    std::fs::write(
        out.join(MARKER),
        "written by exo demo; the next exo demo --out here replaces this folder\n",
    )
    .with_context(|| format!("writing {}", out.display()))?;
    Ok(lock)
}

pub(super) fn write_lines(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    exo_lm::weights::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub(super) fn write_jsonl(
    path: &Path,
    values: impl Iterator<Item = serde_json::Value>,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for v in values {
        text.push_str(&v.to_string());
        text.push('\n');
    }
    exo_lm::weights::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes the `config.json` of the demo model (its `--model-family`); returns its parameter
/// count.
pub(super) fn write_model_config(
    dir: &Path,
    plan: &DemoPlan,
    vocab: usize,
    tok: &tokenizers::Tokenizer,
) -> anyhow::Result<usize> {
    let id = |t: &str| tok.token_to_id(t);
    let (bos, eos) = (id(tokenizer::BOS), id(tokenizer::EOS));
    let config = match plan.model_family {
        ModelFamily::Llama => serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": vocab,
            "hidden_size": plan.hidden,
            "intermediate_size": plan.intermediate,
            "num_hidden_layers": plan.layers,
            "num_attention_heads": plan.heads,
            "num_key_value_heads": plan.kv_heads,
            "hidden_act": "silu",
            "max_position_embeddings": plan.context,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "tie_word_embeddings": true,
            "initializer_range": 0.02,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": eos,
            "torch_dtype": "float32",
        }),
        ModelFamily::Gpt2 => serde_json::json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": vocab,
            "n_embd": plan.hidden,
            "n_inner": plan.intermediate,
            "n_layer": plan.layers,
            "n_head": plan.heads,
            "n_positions": plan.context,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "tie_word_embeddings": true,
            "initializer_range": 0.02,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": eos,
            "torch_dtype": "float32",
        }),
        ModelFamily::Neox => serde_json::json!({
            "architectures": ["GPTNeoXForCausalLM"],
            "model_type": "gpt_neox",
            "vocab_size": vocab,
            "hidden_size": plan.hidden,
            "intermediate_size": plan.intermediate,
            "num_hidden_layers": plan.layers,
            "num_attention_heads": plan.heads,
            "hidden_act": "gelu",
            "max_position_embeddings": plan.context,
            "layer_norm_eps": 1e-5,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
            "use_parallel_residual": true,
            "tie_word_embeddings": false,
            "initializer_range": 0.02,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": eos,
            "torch_dtype": "float32",
        }),
    };
    let parsed = exo_lm::LmConfig::from_json(config.clone()).context("the demo's model config")?;
    let text = serde_json::to_string_pretty(&config)?;
    exo_lm::weights::write_atomic(&dir.join("config.json"), format!("{text}\n").as_bytes())?;
    Ok(parameter_count(&parsed))
}

/// The number of parameters `config` implies (as `exo_lm`'s parameter list has them).
fn parameter_count(c: &exo_lm::LmConfig) -> usize {
    let (d, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let head = if c.tie_word_embeddings { 0 } else { v * d };
    match c.architecture {
        exo_lm::config::Architecture::Gpt2 | exo_lm::config::Architecture::GptNeox => {
            // Two LayerNorms, the fused q/k/v, the output projection and the MLP, with biases.
            let per_layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * i + i) + (i * d + d);
            let positions = match c.positions {
                exo_lm::config::Positions::Learned => c.max_position_embeddings * d,
                _ => 0,
            };
            v * d + positions + c.num_hidden_layers * per_layer + 2 * d + head
        }
        _ => {
            let head_dim = c.head_dim;
            let per_layer = 2 * d
                + d * c.num_attention_heads * head_dim * 2
                + d * c.num_key_value_heads * head_dim * 2
                + 3 * d * i;
            v * d + c.num_hidden_layers * per_layer + d + head
        }
    }
}

/// A command line as one shell line (arguments with spaces or quotes are single-quoted).
pub(super) fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=,".contains(c))
                && !a.is_empty()
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
