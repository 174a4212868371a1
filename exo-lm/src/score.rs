//! The decoder as a sequence classifier — transformers' `*ForSequenceClassification`, the
//! reward models of RLHF — and where it reads a row's score.
//!
//! A classifier is the decoder with `score.weight` `[labels, d]` (no bias) in place of the
//! lm_head, read at one token per row:
//!
//! ```text
//! h = decoder(ids)                         [N, T, d]   (final norm applied)
//! i(n) = the last index t with ids[n, t] ≠ pad_token_id among the real tokens (0 if none;
//!        the last real token when the config has no pad_token_id)
//! scores[n] = h[n, i(n)] · score.weightᵀ   [N, labels]
//! ```
//!
//! `i(n)` is transformers' rule (`(arange(T) · (ids ≠ pad)).argmax(-1)`), so a checkpoint
//! scores here as `transformers` scores it. When the padding token is also the end-of-sequence
//! token (common), a sequence ending in EOS is read at the token before its EOS — the EXO
//! authors' `class_pos` rule. The checkpoint layout is transformers': the decoder's weights under
//! their causal-LM names (`model.*`), `score.weight`, no `lm_head.weight`, and `config.json`
//! with `architectures: ["<Family>ForSequenceClassification"]`, `id2label` (its length is the
//! number of labels) and `pad_token_id`.

use serde_json::{Map, Value};

use crate::{LmConfig, LmError, Result, TokenBatch};

/// The name of a classifier's head in its checkpoint.
pub const SCORE_WEIGHT: &str = "score.weight";

const SEQUENCE_CLASSIFICATION: &str = "ForSequenceClassification";

impl LmConfig {
    /// The number of labels (scores per row) of a `*ForSequenceClassification` config: the
    /// length of `id2label`, else `num_labels`, else transformers' default 2; `None` for a
    /// causal language model.
    pub fn score_labels(&self) -> Option<usize> {
        let class = self
            .raw
            .get("architectures")?
            .as_array()?
            .first()?
            .as_str()?;
        if !class.ends_with(SEQUENCE_CLASSIFICATION) {
            return None;
        }
        let from_map = self
            .raw
            .get("id2label")
            .and_then(Value::as_object)
            .map(Map::len)
            .filter(|&n| n > 0);
        let from_count = self
            .raw
            .get("num_labels")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0);
        Some(from_map.or(from_count).unwrap_or(2))
    }

    /// This config as a classifier with `labels` scores per row (a reward model: 1), as
    /// `AutoModelForSequenceClassification.from_pretrained(dir, num_labels=labels)` makes it:
    /// `architectures` names the family's `*ForSequenceClassification` class, `id2label` and
    /// `label2id` are `LABEL_i`, and `pad_token_id` is set to `pad` when the config has none.
    ///
    /// # Errors
    /// [`LmError::Config`] if `labels` is 0.
    pub fn with_score_head(mut self, labels: usize, pad: Option<u32>) -> Result<Self> {
        if labels == 0 {
            return Err(LmError::config("num_labels", "must be positive"));
        }
        let class = self.architecture.hf_class();
        let family = class
            .strip_suffix("ForCausalLM")
            .or_else(|| class.strip_suffix("LMHeadModel"))
            .unwrap_or(class);
        if self.pad_token_id.is_none() {
            self.pad_token_id = pad;
        }
        if let Value::Object(map) = &mut self.raw {
            map.insert(
                "architectures".into(),
                Value::from(vec![format!("{family}{SEQUENCE_CLASSIFICATION}")]),
            );
            let names: Vec<String> = (0..labels).map(|i| format!("LABEL_{i}")).collect();
            let id2label: Map<String, Value> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (i.to_string(), Value::from(n.as_str())))
                .collect();
            let label2id: Map<String, Value> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), Value::from(i)))
                .collect();
            map.insert("id2label".into(), Value::Object(id2label));
            map.insert("label2id".into(), Value::Object(label2id));
            map.remove("num_labels");
            if let Some(p) = self.pad_token_id {
                map.insert("pad_token_id".into(), Value::from(p));
            }
        }
        Ok(self)
    }
}

/// The token each row of `batch` is scored at (see the module docs): the last real token whose
/// id is not `pad_token_id` (0 when there is none), or with no `pad_token_id` the last real
/// token.
pub fn score_positions(batch: &TokenBatch, pad_token_id: Option<u32>) -> Vec<usize> {
    let (n, t) = batch.dims();
    let (ids, mask) = (batch.ids(), batch.attention_mask());
    (0..n)
        .map(|row| {
            (0..t)
                .rev()
                .find(|&j| {
                    let k = row * t + j;
                    mask[k] && pad_token_id.is_none_or(|p| ids[k] != p)
                })
                .unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Architecture;

    #[test]
    fn scores_are_read_at_the_last_token_that_is_not_padding() -> Result<()> {
        // Rows: [5, 6, 2] ends in EOS = pad = 2; [7, 8] is padded with 2; [2] is all pad.
        let batch = TokenBatch::right_padded(&[vec![5, 6, 2], vec![7, 8], vec![2]], 2)?;
        assert_eq!(score_positions(&batch, Some(2)), [1, 1, 0]);
        assert_eq!(score_positions(&batch, Some(0)), [2, 1, 0]);
        assert_eq!(score_positions(&batch, None), [2, 1, 0]);
        Ok(())
    }

    #[test]
    fn a_score_head_is_written_and_read_as_transformers_does() -> Result<()> {
        let lm = LmConfig::tiny(Architecture::Qwen2, 32, 16, 32, 1, 2, 1, true)?;
        assert_eq!(lm.score_labels(), None);
        let rm = lm.with_score_head(1, Some(3))?;
        assert_eq!(rm.score_labels(), Some(1));
        assert_eq!(rm.pad_token_id, Some(3));
        assert_eq!(rm.raw["architectures"][0], "Qwen2ForSequenceClassification");
        assert_eq!(rm.raw["id2label"]["0"], "LABEL_0");
        // Read back through config.json.
        let again = LmConfig::from_json(rm.to_json(exo_core::DType::F32))?;
        assert_eq!(
            (again.score_labels(), again.pad_token_id),
            (Some(1), Some(3))
        );
        // A classifier without id2label has transformers' default of 2 labels.
        let mut raw = again.raw.clone();
        if let Value::Object(m) = &mut raw {
            m.remove("id2label");
        }
        assert_eq!(LmConfig::from_json(raw)?.score_labels(), Some(2));
        assert!(
            LmConfig::tiny(Architecture::Llama, 32, 16, 32, 1, 2, 1, true)?
                .with_score_head(0, None)
                .is_err()
        );
        Ok(())
    }
}
