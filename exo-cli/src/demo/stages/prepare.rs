//! Stages 1–3: the corpus, the tokenizer with the untrained model's config, and SFT.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;

use super::{Log, StageCommand};
use crate::cli::Command;
use crate::demo::corpus;
use crate::demo::files::{
    Split, read_corpus, split_corpus, write_jsonl, write_lines, write_model_config,
};
use crate::demo::plan::DemoPlan;
use crate::demo::tokenizer;

/// The corpus with its held-out prompts.
pub(crate) struct Corpus {
    pub(crate) texts: Vec<String>,
    pub(crate) eval: Vec<String>,
}

/// Stage 1: the corpus, the SFT records and the held-out prompts.
pub(crate) fn corpus_stage(plan: &DemoPlan, log: &mut Log) -> anyhow::Result<Corpus> {
    let t = Instant::now();
    let out = &plan.out;
    let texts = match &plan.corpus {
        Some(path) => read_corpus(path)?,
        None => corpus::generate(plan.sentences, plan.seed),
    };
    let Split { sft, align, eval } = split_corpus(&texts, plan)?;
    write_lines(&out.join("corpus.txt"), &texts)?;
    // SFT records: the first words as the prompt (texts of one word are left out).
    write_jsonl(
        &out.join("sft.jsonl"),
        sft.iter().filter_map(|t| {
            let (p, c) = corpus::split_prompt(t, plan.prompt_words)
                .or_else(|| corpus::split_prompt(t, 1))?;
            Some(serde_json::json!({"prompt": p, "completion": c}))
        }),
    )?;
    write_jsonl(
        &out.join("prompts-align.jsonl"),
        align.iter().map(|p| serde_json::json!({"prompt": p})),
    )?;
    write_jsonl(
        &out.join("prompts-eval.jsonl"),
        eval.iter().map(|p| serde_json::json!({"prompt": p})),
    )?;
    log.stage(
        "corpus",
        t,
        format!(
            "{} texts; {} for SFT, {} + {} held-out prompts",
            texts.len(),
            sft.len(),
            align.len(),
            eval.len()
        ),
    );
    Ok(Corpus { texts, eval })
}

/// Stage 2: the tokenizer and the untrained model's config; returns its folder and parameter count.
pub(crate) fn tokenizer_stage(
    plan: &DemoPlan,
    texts: &[String],
    log: &mut Log,
) -> anyhow::Result<(PathBuf, usize)> {
    let t = Instant::now();
    let tok = tokenizer::train(texts, plan.vocab)?;
    let init = plan.out.join("init");
    tokenizer::save(&tok, &init, plan.context)?;
    let vocab = tok.get_vocab_size(true).div_ceil(8) * 8;
    let params = write_model_config(&init, plan, vocab, &tok)?;
    log.stage(
        "tokenizer",
        t,
        format!(
            "byte-level BPE, {} tokens; tiny {} {}×{}, {:.2} M parameters",
            tok.get_vocab_size(true),
            plan.model_family.display_name(),
            plan.layers,
            plan.hidden,
            params as f64 / 1e6
        ),
    );
    Ok((init, params))
}

/// Stage 3: SFT from scratch; returns the SFT model's folder.
pub(crate) fn sft_stage(plan: &DemoPlan, init: &Path, log: &mut Log) -> anyhow::Result<PathBuf> {
    let t = Instant::now();
    let out = &plan.out;
    let sft_dir = out.join("sft");
    let command = StageCommand::new("sft")
        .path("model", init)
        .path("data", &out.join("sft.jsonl"))
        .path("out", &sft_dir)
        .on("from-scratch")
        .on("train-on-prompt")
        .count("max-steps", plan.sft_steps)
        .count("batch-prompts", plan.sft_batch)
        .set("lr", plan.sft_lr)
        .count("warmup-steps", plan.sft_steps / 20)
        .count("max-length", plan.context)
        .count("seed", plan.seed)
        .on("quiet")
        .compute(&plan.compute);
    let Command::Sft(args) = command.args()? else {
        bail!("internal: not an sft command")
    };
    let done = crate::commands::sft::execute(&crate::commands::sft::config(&args)?)?;
    log.commands.push(command.argv());
    log.stage(
        "sft",
        t,
        format!(
            "{} steps, final loss {:.3}",
            done.report.steps,
            done.report.last.get("loss").copied().unwrap_or(f64::NAN)
        ),
    );
    Ok(sft_dir)
}
