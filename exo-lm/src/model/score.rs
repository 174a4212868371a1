//! A sequence classifier's forward pass and how one is made from a causal LM checkpoint (see
//! [`crate::score`]).

use std::collections::BTreeMap;
use std::path::Path;

use exo_core::DType;

use super::load::Source;
use super::{CausalLm, Mode};
use crate::rng::HostRng;
use crate::score::{SCORE_WEIGHT, score_positions};
use crate::weights::{HostData, HostTensor};
use crate::{LmConfig, LmError, ModelOps, Result, TokenBatch};

impl<B: ModelOps> CausalLm<B> {
    /// The scores `[N, labels]` of a sequence classifier ([`crate::score`]): the final hidden
    /// state of each row at its [`score_positions`] times `score.weightᵀ`. On a trainable model
    /// they carry gradients to every parameter. In a 16-bit dtype the scores are computed in it
    /// and returned as f32.
    ///
    /// # Errors
    /// [`LmError::Input`] if the model is not a classifier, an id is outside the vocabulary or
    /// the batch is longer than the sliding window; a tensor error if an op fails.
    pub fn scores(&self, batch: &TokenBatch) -> Result<B::Tensor> {
        let Some(score) = &self.score else {
            return Err(LmError::input(
                "scores",
                "a causal language model has no score head (load a *ForSequenceClassification \
                 checkpoint, or add one with from_pretrained_with_score_head)",
            ));
        };
        batch.check_vocab(self.config.vocab_size)?;
        let ids = batch.ids_tensor::<B>(&self.device)?;
        let (n, t) = batch.dims();
        let hidden = self.hidden(
            &ids,
            &batch.positions(),
            batch.attention_mask(),
            (n, t, 0),
            None,
        )?;
        let d = self.config.hidden_size;
        let rows: Vec<i64> = score_positions(batch, self.config.pad_token_id)
            .into_iter()
            .enumerate()
            .map(|(row, i)| i64::try_from(row * t + i))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| LmError::input("scores", "batch too large to index"))?;
        let index = B::index_from_i64s(&rows, &[n], &self.device)?;
        let picked = B::embedding(&B::reshape(&hidden, &[n * t, d])?, &index)?;
        let scores = B::linear(&picked, score, None)?;
        Ok(exo_core::upcast::<B>(&scores)?)
    }

    /// A sequence classifier with `labels` scores per row from the checkpoint in `dir`: a
    /// `*ForSequenceClassification` checkpoint with that many labels as it is, or a causal LM
    /// checkpoint (its `lm_head.weight` dropped) with a new `score.weight` drawn from
    /// `N(0, initializer_range²)` with `seed` — transformers' initialisation of the head when
    /// `AutoModelForSequenceClassification` loads a causal LM. `pad` becomes the config's
    /// `pad_token_id` when it has none.
    ///
    /// # Errors
    /// As [`CausalLm::from_pretrained`], and [`LmError::Config`] if the checkpoint is a
    /// classifier with another number of labels.
    pub fn from_pretrained_with_score_head(
        dir: impl AsRef<Path>,
        (labels, pad): (usize, Option<u32>),
        seed: u64,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let config = LmConfig::from_file(dir)?;
        let mut tensors: BTreeMap<String, Source> = crate::weights::check_checkpoint(dir, &config)?
            .into_iter()
            .map(|(name, t)| (name, Source::File(t)))
            .collect();
        match config.score_labels() {
            Some(n) if n == labels => Self::from_sources(config, tensors, dir, dtype, device, mode),
            Some(n) => Err(LmError::config(
                "id2label",
                format!(
                    "{}: a classifier with {n} labels, not {labels}",
                    dir.display()
                ),
            )),
            None => {
                let config = config.with_score_head(labels, pad)?;
                let std = config.initializer_range;
                let mut rng = HostRng::new(seed, u64::MAX);
                let count = labels * config.hidden_size;
                #[allow(clippy::cast_possible_truncation)]
                let values = (0..count).map(|_| (std * rng.normal()) as f32).collect();
                let head = HostTensor {
                    shape: vec![labels, config.hidden_size],
                    data: HostData::F32(values),
                };
                tensors.insert(
                    SCORE_WEIGHT.to_owned(),
                    Source::Memory(dir.to_path_buf(), head),
                );
                Self::from_sources(config, tensors, dir, dtype, device, mode)
            }
        }
    }
}
