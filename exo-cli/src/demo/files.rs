//! The files of `exo demo`: the corpus split, the output folder, JSONL and line files, the demo
//! model's `config.json`, and `commands.sh`'s shell quoting.

use std::path::Path;

use anyhow::{Context, bail};

use super::plan::{DemoPlan, MARKER};
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

/// Creates the output folder, clearing it if an earlier demo wrote it.
pub(super) fn prepare_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !out.join(MARKER).is_file() && !empty {
            bail!(
                "--out {} exists and was not written by exo demo; choose another folder",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "written by exo demo; the next exo demo --out here replaces this folder\n",
    )
    .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
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

/// Writes the Llama `config.json` of the demo model; returns its parameter count.
pub(super) fn write_model_config(
    dir: &Path,
    plan: &DemoPlan,
    vocab: usize,
    tok: &tokenizers::Tokenizer,
) -> anyhow::Result<usize> {
    let id = |t: &str| tok.token_to_id(t);
    let config = serde_json::json!({
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
        "bos_token_id": id(tokenizer::BOS),
        "eos_token_id": id(tokenizer::EOS),
        "pad_token_id": id(tokenizer::EOS),
        "torch_dtype": "float32",
    });
    let parsed = exo_lm::LmConfig::from_json(config.clone()).context("the demo's model config")?;
    let text = serde_json::to_string_pretty(&config)?;
    exo_lm::weights::write_atomic(&dir.join("config.json"), format!("{text}\n").as_bytes())?;
    let d = parsed.hidden_size;
    let head = parsed.head_dim;
    let per_layer = 2 * d
        + d * parsed.num_attention_heads * head * 2
        + d * parsed.num_key_value_heads * head * 2
        + 3 * d * parsed.intermediate_size;
    Ok(parsed.vocab_size * d + parsed.num_hidden_layers * per_layer + d)
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
