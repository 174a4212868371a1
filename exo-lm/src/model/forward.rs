//! The forward pass of a [`CausalLm`]: hidden states, logits, and the sequence log-probs every
//! objective reads.

use exo_core::model_ops::segments::{SegmentGroup, Segments};

use super::{CausalLm, KvCache, LayerBackward, Layerwise, Mode};
use crate::batch::TokenBatch;
use crate::config::Positions;
use crate::layers::attention::{
    AttentionInputs, MASKED, Mask, MaskTensors, attention_bias, masked_in,
};
use crate::layers::rotary::rotary_tensors;
use crate::lm_head::{CountedRows, LogitRows, chunked_logps, counted_sequence_logps};
use crate::packed::PackedBatch;
use crate::{DeferredLogps, LmError, ModelOps, Result};

impl<B: ModelOps> CausalLm<B> {
    /// The decoder on `ids` `[N, T]` whose queries sit at cache slots `past .. past + T`:
    /// returns the final hidden states `[N, T, d]` (after the last RMSNorm).
    pub(crate) fn hidden(
        &self,
        ids: &B::Index,
        positions: &[i64],
        key_mask: &[bool],
        (n, t, past): (usize, usize, usize),
        cache: Option<&mut KvCache<B>>,
    ) -> Result<B::Tensor> {
        let tk = past + t;
        self.check_window(tk)?;
        let mask = Mask::Dense(attention_bias(key_mask, n, tk, past, t)?);
        self.hidden_masked(ids, positions, &mask, (n, t, past), cache)
    }

    /// [`CausalLm::hidden`] with a given [`Mask`] (an additive attention bias
    /// `[N, 1, T, past + T]`, row-major, `0` where a query sees a key and
    /// [`crate::layers::attention::MASKED`] where not; or segments) instead of the causal
    /// padding mask.
    pub(crate) fn hidden_masked(
        &self,
        ids: &B::Index,
        positions: &[i64],
        mask: &Mask,
        (n, t, past): (usize, usize, usize),
        mut cache: Option<&mut KvCache<B>>,
    ) -> Result<B::Tensor> {
        let inputs = self.attention_inputs(positions, mask, (n, t, past))?;
        let mut x = self.embed_input(ids, positions, (n, t))?;
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = match cache.as_deref_mut() {
                Some(c) => match c.layers.get_mut(i) {
                    Some(slot) => Some(slot),
                    None => return Err(LmError::input("forward", "the cache has too few layers")),
                },
                None => None,
            };
            x = layer.forward(&x, &inputs, slot)?;
            self.after_layer(i);
        }
        Ok(self.norm.forward(&x)?)
    }

    /// The decoder's input `[N, T, d]`: `E[ids]`, plus `P[positions]` with learned positions
    /// (GPT-2).
    ///
    /// # Errors
    /// [`LmError::Input`] if a position is outside the learned table.
    pub(crate) fn embed_input(
        &self,
        ids: &B::Index,
        positions: &[i64],
        (n, t): (usize, usize),
    ) -> Result<B::Tensor> {
        let x = B::embedding(&self.embed, ids)?;
        let Some(table) = &self.positions else {
            return Ok(x);
        };
        let max = self.config.max_position_embeddings;
        if let Some(p) = positions
            .iter()
            .find(|&&p| usize::try_from(p).map_or(true, |p| p >= max))
        {
            return Err(LmError::input(
                "forward",
                format!(
                    "position {p} is outside the learned position table of {max} (max_position_embeddings / n_positions)"
                ),
            ));
        }
        let index = B::index_from_i64s(positions, &[n, t], &self.device)?;
        Ok(B::add(&x, &B::embedding(table, &index)?)?)
    }

    /// The rotary tables and the attention mask tensors of a forward pass.
    fn attention_inputs(
        &self,
        positions: &[i64],
        mask: &Mask,
        (n, t, past): (usize, usize, usize),
    ) -> Result<AttentionInputs<B>> {
        let rotary = match self.config.positions {
            Positions::Rotary { dims } => Some(rotary_tensors::<B>(
                positions,
                (n, t),
                dims,
                (self.config.rope_theta, self.config.rope_scaling),
                self.dtype,
                &self.device,
            )?),
            Positions::Learned => None,
        };
        let mask = match mask {
            Mask::Dense(bias) => MaskTensors::Dense(self.bias_tensor(bias, &[n, 1, t, past + t])?),
            Mask::Segments(plan) => MaskTensors::Segments(Segments {
                groups: plan
                    .groups
                    .iter()
                    .map(|g| -> Result<SegmentGroup<B>> {
                        Ok(SegmentGroup {
                            count: g.count,
                            tq: g.tq,
                            tk: g.tk,
                            q_index: B::index_from_i64s(
                                &g.q_index,
                                &[g.q_index.len()],
                                &self.device,
                            )?,
                            k_index: B::index_from_i64s(
                                &g.k_index,
                                &[g.k_index.len()],
                                &self.device,
                            )?,
                            bias: self.bias_tensor(&g.bias, &[g.count, 1, g.tq, g.tk])?,
                        })
                    })
                    .collect::<Result<_>>()?,
                out_index: B::index_from_i64s(&plan.out_index, &[n * t], &self.device)?,
            }),
        };
        Ok(AttentionInputs {
            rotary,
            mask,
            dropout_seed: self.active_dropout_seed(),
        })
    }

    /// An additive attention bias of `dims` in the model's dtype ([`MASKED`] as
    /// [`masked_in`] says for a 16-bit one).
    fn bias_tensor(&self, bias: &[f32], dims: &[usize]) -> Result<B::Tensor> {
        if self.dtype.is_half() {
            let masked = masked_in(self.dtype);
            let bias: Vec<f32> = bias
                .iter()
                .map(|&b| if b == MASKED { masked } else { b })
                .collect();
            return Ok(B::from_f32s(&bias, dims, self.dtype, &self.device)?);
        }
        Ok(B::from_f32s(bias, dims, self.dtype, &self.device)?)
    }

    /// The final hidden states `[N, T, d]` of a batch whose loss is taken: on a trainable
    /// model whose backward is deferred and walks the decoder layer by layer
    /// ([`LayerBackward::PerLayer`], [`LayerBackward::Recompute`]), the graph starts at the
    /// decoder's output and the layers are kept for [`Layerwise::backward`] (see `layerwise`);
    /// otherwise as [`CausalLm::hidden_masked`].
    fn hidden_for_loss(
        &self,
        ids: &B::Index,
        positions: &[i64],
        mask: &Mask,
        (n, t): (usize, usize),
        defer: bool,
    ) -> Result<(B::Tensor, Option<Layerwise<B>>)> {
        let layerwise = self.layer_backward != LayerBackward::OneGraph;
        if !(defer && layerwise && self.mode == Mode::Trainable) {
            let hidden = self.hidden_masked(ids, positions, mask, (n, t, 0), None)?;
            return Ok((hidden, None));
        }
        let attention = self.attention_inputs(positions, mask, (n, t, 0))?;
        let (top, layers) =
            self.layers_layerwise(ids, positions, attention, self.layer_backward)?;
        Ok((self.norm.forward(&top)?, Some(layers)))
    }

    /// Logits from final hidden states: `h · Wᵀ`, `[..., d]` → `[..., V]`.
    pub(crate) fn logits(&self, hidden: &B::Tensor) -> Result<B::Tensor> {
        self.require_lm_head("logits")?;
        Ok(B::linear(hidden, &self.lm_head, None)?)
    }

    /// Errors for a sequence classifier, which has no lm_head.
    fn require_lm_head(&self, op: &'static str) -> Result<()> {
        match self.score {
            Some(_) => Err(LmError::input(
                op,
                "a sequence classifier (reward model) has no lm_head: read its scores",
            )),
            None => Ok(()),
        }
    }

    /// The logits `[N, T, V]` of every position of a padded batch. Position `t` predicts token
    /// `t + 1`. Padding is masked out of attention and takes no position; the logits *at*
    /// padding slots are well defined but meaningless.
    ///
    /// # Errors
    /// [`LmError::Input`] if an id is outside the vocabulary or the batch is longer than the
    /// sliding window; a tensor error if an op fails.
    pub fn forward(&self, batch: &TokenBatch) -> Result<B::Tensor> {
        let ids = self.upload_ids(batch)?;
        self.forward_ids(batch, &ids)
    }

    fn upload_ids(&self, batch: &TokenBatch) -> Result<B::Index> {
        batch.check_vocab(self.config.vocab_size)?;
        batch.ids_tensor::<B>(&self.device)
    }

    fn forward_ids(&self, batch: &TokenBatch, ids: &B::Index) -> Result<B::Tensor> {
        let (n, t) = batch.dims();
        let hidden = self.hidden(
            ids,
            &batch.positions(),
            batch.attention_mask(),
            (n, t, 0),
            None,
        )?;
        self.logits(&hidden)
    }

    /// The summed log-probability of each row's loss-masked tokens, `[N]`, under
    /// `softmax(logits / τ)`, with the lm_head run only at the positions whose next token
    /// counts ([`LogitRows::Counted`], the default; see [`crate::lm_head`] and
    /// [`CausalLm::with_logit_rows`]):
    ///
    /// ```text
    /// S_n = Σ_{t ≥ 1} loss_mask[n, t] · log softmax(logits[n, t−1] / τ)[ids[n, t]]
    /// ```
    ///
    /// On a trainable model the result carries gradients to every parameter.
    ///
    /// # Errors
    /// As [`CausalLm::forward`], and if τ is not finite and positive.
    pub fn sequence_logps(&self, batch: &TokenBatch, temperature: f64) -> Result<B::Tensor> {
        self.sequence_logps_with(batch, temperature, self.logit_rows)
    }

    /// [`CausalLm::sequence_logps`] with the lm_head on the counted positions only
    /// ([`LogitRows::Counted`]; [`LogitRows::Chunked`] on a frozen model, which needs no graph),
    /// or on every position ([`LogitRows::All`]: `[N, T, V]` logits and exo-core's
    /// [`exo_core::sequence_logps`] on them). All give the same values.
    ///
    /// # Errors
    /// As [`CausalLm::sequence_logps`].
    pub fn sequence_logps_with(
        &self,
        batch: &TokenBatch,
        temperature: f64,
        rows: LogitRows,
    ) -> Result<B::Tensor> {
        Ok(self
            .token_batch_logps(batch, temperature, rows, false)?
            .logps()
            .clone())
    }

    /// [`CausalLm::sequence_logps`] for a loss whose gradient is taken later: with
    /// [`LogitRows::Chunked`] on a trainable model no `[M, V]` logits are kept, and the
    /// lm_head's backward runs in [`DeferredLogps::backward`]; with gradient checkpointing
    /// ([`CausalLm::with_gradient_checkpointing`]) the decoder layers' too (see [`crate::lm_head`]).
    ///
    /// # Errors
    /// As [`CausalLm::sequence_logps`].
    pub fn sequence_logps_deferred(
        &self,
        batch: &TokenBatch,
        temperature: f64,
    ) -> Result<DeferredLogps<B>> {
        self.token_batch_logps(batch, temperature, self.logit_rows, true)
    }

    fn token_batch_logps(
        &self,
        batch: &TokenBatch,
        temperature: f64,
        rows: LogitRows,
        defer: bool,
    ) -> Result<DeferredLogps<B>> {
        let ids = self.upload_ids(batch)?;
        let (n, t) = batch.dims();
        self.check_window(t)?;
        let mask = Mask::Dense(attention_bias(batch.attention_mask(), n, t, 0, t)?);
        let (hidden, layers) =
            self.hidden_for_loss(&ids, &batch.positions(), &mask, (n, t), defer)?;
        let counted = match rows {
            LogitRows::Counted | LogitRows::Chunked(_) => {
                Some(CountedRows::of(batch)).filter(|c| c.len() > 0)
            }
            LogitRows::All => None,
        };
        let logps = match counted {
            Some(counted) => {
                self.head_logps(&hidden, &counted, (n, t), temperature, rows, defer)?
            }
            None => {
                let logits = self.logits(&hidden)?;
                let mask = batch.loss_mask_tensor::<B>(self.dtype, &self.device)?;
                DeferredLogps::ready(exo_core::sequence_logps::<B>(
                    &logits,
                    &ids,
                    &mask,
                    temperature,
                )?)
            }
        };
        Ok(logps.with_layers(layers))
    }

    /// `S` from the final hidden states on the counted rows, as `rows` says: chunked where
    /// asked and either deferred or graph-free (a frozen model), else in one piece.
    fn head_logps(
        &self,
        hidden: &B::Tensor,
        counted: &CountedRows,
        dims: (usize, usize),
        temperature: f64,
        rows: LogitRows,
        defer: bool,
    ) -> Result<DeferredLogps<B>> {
        let trainable = self.mode == Mode::Trainable;
        self.require_lm_head("sequence_logps")?;
        match rows {
            LogitRows::Chunked(chunk) if defer || !trainable => chunked_logps::<B>(
                hidden,
                counted,
                dims,
                temperature,
                (&self.lm_head, self.lora.is_none()),
                chunk,
                defer && trainable,
            )
            .map(|logps| logps.with_hook(self.layer_hook)),
            _ => {
                counted_sequence_logps::<B>(hidden, counted, dims, temperature, |h| self.logits(h))
                    .map(DeferredLogps::ready)
            }
        }
    }

    /// The summed log-probability of each completion of a [`PackedBatch`], `[S]` in the order
    /// its units were given (shared prompts and packed rows; see [`crate::PackedBatch`]), with
    /// the lm_head on the counted positions only:
    ///
    /// ```text
    /// S_s = Σ_{counted tokens y of completion s} log softmax(logits(predictor of y) / τ)[y]
    /// ```
    ///
    /// Equal, up to f32 rounding, to [`CausalLm::sequence_logps`] on the plain rows
    /// `prompt ++ completion`. On a trainable model the result carries gradients.
    ///
    /// # Errors
    /// [`LmError::Input`] if an id is outside the vocabulary or a unit is longer than the
    /// sliding window; [`exo_core::Error`] if τ is not finite and positive or an op fails.
    pub fn packed_logps(&self, batch: &PackedBatch, temperature: f64) -> Result<B::Tensor> {
        Ok(self
            .packed_logps_inner(batch, temperature, false)?
            .logps()
            .clone())
    }

    /// [`CausalLm::packed_logps`] for a loss whose gradient is taken later (see
    /// [`CausalLm::sequence_logps_deferred`]).
    ///
    /// # Errors
    /// As [`CausalLm::packed_logps`].
    pub fn packed_logps_deferred(
        &self,
        batch: &PackedBatch,
        temperature: f64,
    ) -> Result<DeferredLogps<B>> {
        self.packed_logps_inner(batch, temperature, true)
    }

    fn packed_logps_inner(
        &self,
        batch: &PackedBatch,
        temperature: f64,
        defer: bool,
    ) -> Result<DeferredLogps<B>> {
        batch.check_vocab(self.config.vocab_size)?;
        self.check_window(batch.longest())?;
        let (n, t) = batch.dims();
        let ids: Vec<i64> = batch.ids().iter().map(|&id| i64::from(id)).collect();
        let ids = B::index_from_i64s(&ids, &[n, t], &self.device)?;
        let (hidden, layers) = self.hidden_for_loss(
            &ids,
            batch.positions(),
            &batch.attention_mask(),
            (n, t),
            defer,
        )?;
        if batch.counted_tokens() == 0 {
            // Nothing counted: zeros. (`log softmax([0])[0]` is exactly 0, and checks τ.)
            let zero = exo_core::token_logps::<B>(
                &B::from_f32s(&[0.0], &[1, 1], self.dtype, &self.device)?,
                &B::index_from_i64s(&[0], &[1], &self.device)?,
                temperature,
            )?;
            return Ok(DeferredLogps::ready(B::broadcast_as(
                &zero,
                &[batch.sequences()],
            )?));
        }
        let rows = match self.logit_rows {
            LogitRows::All => LogitRows::Counted,
            rows => rows,
        };
        Ok(self
            .head_logps(&hidden, batch.counted(), (n, t), temperature, rows, defer)?
            .with_layers(layers))
    }

    /// The mean negative log-likelihood per counted token (the supervised fine-tuning loss), a
    /// scalar:
    ///
    /// ```text
    /// L = − Σ_n S_n / Σ_n Σ_{t ≥ 1} loss_mask[n, t]        (S from sequence_logps, τ = 1)
    /// ```
    ///
    /// # Errors
    /// [`LmError::Input`] if no token is counted; otherwise as [`CausalLm::sequence_logps`].
    pub fn nll_loss(&self, batch: &TokenBatch) -> Result<B::Tensor> {
        let (_, t) = batch.dims();
        #[allow(clippy::cast_precision_loss)]
        let counted = batch
            .loss_mask()
            .chunks(t)
            .map(|row| row.iter().skip(1).filter(|&&m| m).count())
            .sum::<usize>() as f64;
        if counted == 0.0 {
            return Err(LmError::input(
                "nll_loss",
                "the loss mask counts no predicted token",
            ));
        }
        let logps = self.sequence_logps(batch, 1.0)?;
        Ok(B::mul_scalar(&B::sum_all(&logps)?, -1.0 / counted)?)
    }
}
