//! The demo's tokenizer: a byte-level BPE trained on the corpus with the `tokenizers` crate,
//! `<s>` prepended to every text (BOS) and `</s>` as EOS and padding, saved as a Hugging Face
//! `tokenizer.json` + `tokenizer_config.json` that `transformers` loads.

use std::path::Path;

use anyhow::Context;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

/// Beginning of sequence.
pub const BOS: &str = "<s>";
/// End of sequence (also padding).
pub const EOS: &str = "</s>";

/// Trains a byte-level BPE of at most `vocab_size` tokens (fewer when the corpus has fewer
/// merges to make) on `texts`.
///
/// # Errors
/// If training fails.
pub fn train(texts: &[String], vocab_size: usize) -> anyhow::Result<Tokenizer> {
    let byte_level = ByteLevel::default().add_prefix_space(false);
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(byte_level));
    tokenizer.with_decoder(Some(byte_level));
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![
            AddedToken::from(BOS, true),
            AddedToken::from(EOS, true),
        ])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    tokenizer
        .train(&mut trainer, texts.iter())
        .map_err(|e| anyhow::anyhow!("training the BPE tokenizer: {e}"))?;
    let bos = tokenizer
        .token_to_id(BOS)
        .context("the trained tokenizer has no <s>")?;
    let template = TemplateProcessing::builder()
        .try_single(format!("{BOS} $A"))
        .map_err(|e| anyhow::anyhow!("the BOS template: {e}"))?
        .special_tokens(vec![(BOS, bos)])
        .build()
        .map_err(|e| anyhow::anyhow!("the BOS template: {e}"))?;
    tokenizer.with_post_processor(Some(template));
    Ok(tokenizer)
}

/// Writes `dir/tokenizer.json` and `dir/tokenizer_config.json`.
///
/// # Errors
/// If a file cannot be written.
pub fn save(tokenizer: &Tokenizer, dir: &Path, max_length: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = tokenizer
        .to_string(true)
        .map_err(|e| anyhow::anyhow!("serialising the tokenizer: {e}"))?;
    exo_lm::weights::write_atomic(&dir.join("tokenizer.json"), json.as_bytes())?;
    let config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "add_bos_token": true,
        "add_eos_token": false,
        "model_max_length": max_length,
    });
    let text = serde_json::to_string_pretty(&config)?;
    exo_lm::weights::write_atomic(
        &dir.join("tokenizer_config.json"),
        format!("{text}\n").as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_is_deterministic_and_round_trips_text() -> anyhow::Result<()> {
        let texts = crate::demo::corpus::generate(300, 3);
        let a = train(&texts, 300)?;
        let b = train(&texts, 300)?;
        let (ja, jb) = (
            a.to_string(false).map_err(|e| anyhow::anyhow!("{e}"))?,
            b.to_string(false).map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        assert_eq!(ja, jb, "two trainings on the same corpus differ");
        let enc = a
            .encode(texts[0].as_str(), true)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(enc.get_ids()[0], a.token_to_id(BOS).unwrap_or(u32::MAX));
        let back = a
            .decode(enc.get_ids(), true)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(back, texts[0]);
        assert!(a.get_vocab_size(true) <= 300);
        Ok(())
    }
}
