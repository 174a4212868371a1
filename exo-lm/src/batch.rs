//! [`TokenBatch`]: padded token ids with their attention and loss masks, on the host.

use crate::{LmError, ModelOps, Result};

/// A batch of `N` token sequences padded to a common length `T`, with two `[N, T]` masks:
///
/// * the **attention mask**: `true` on real tokens, `false` on padding (padding is never
///   attended to and gets no position);
/// * the **loss mask**: `true` on the tokens whose log-probability counts in
///   [`crate::CausalLm::sequence_logps`] (by default every real token; with
///   [`TokenBatch::prompt_completion`] only the completion). Always a subset of the attention
///   mask.
///
/// Positions (for the rotary embedding) count real tokens only: `pos[n, t] = Σ_{s<t}
/// attention[n, s]`, so right and left padding give every real token the same position as it
/// would have unpadded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    n: usize,
    t: usize,
    ids: Vec<u32>,
    attention: Vec<bool>,
    loss: Vec<bool>,
}

impl TokenBatch {
    /// A batch from row-major `[n, t]` ids and attention mask; the loss mask is the attention
    /// mask.
    ///
    /// # Errors
    /// [`LmError::Input`] if the batch is empty or the lengths are not `n · t`.
    pub fn new(ids: Vec<u32>, attention_mask: Vec<bool>, n: usize, t: usize) -> Result<Self> {
        const OP: &str = "TokenBatch::new";
        if n == 0 || t == 0 {
            return Err(LmError::input(OP, format!("an empty batch [{n}, {t}]")));
        }
        if ids.len() != n * t || attention_mask.len() != n * t {
            return Err(LmError::input(
                OP,
                format!(
                    "{} ids and {} mask entries for a [{n}, {t}] batch",
                    ids.len(),
                    attention_mask.len()
                ),
            ));
        }
        Ok(Self {
            n,
            t,
            ids,
            loss: attention_mask.clone(),
            attention: attention_mask,
        })
    }

    /// Right-pads `seqs` with `pad_id` to the longest one (the training layout).
    ///
    /// # Errors
    /// [`LmError::Input`] if there are no sequences or all are empty.
    pub fn right_padded(seqs: &[Vec<u32>], pad_id: u32) -> Result<Self> {
        Self::padded(seqs, pad_id, false)
    }

    /// Left-pads `seqs` with `pad_id` to the longest one (the prompt layout for generation:
    /// every row's next token goes in the same column).
    ///
    /// # Errors
    /// [`LmError::Input`] if there are no sequences or all are empty.
    pub fn left_padded(seqs: &[Vec<u32>], pad_id: u32) -> Result<Self> {
        Self::padded(seqs, pad_id, true)
    }

    fn padded(seqs: &[Vec<u32>], pad_id: u32, left: bool) -> Result<Self> {
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let n = seqs.len();
        let mut ids = Vec::with_capacity(n * t);
        let mut mask = Vec::with_capacity(n * t);
        for s in seqs {
            let pad = t - s.len();
            if left {
                ids.extend(std::iter::repeat_n(pad_id, pad));
                mask.extend(std::iter::repeat_n(false, pad));
            }
            ids.extend_from_slice(s);
            mask.extend(std::iter::repeat_n(true, s.len()));
            if !left {
                ids.extend(std::iter::repeat_n(pad_id, pad));
                mask.extend(std::iter::repeat_n(false, pad));
            }
        }
        Self::new(ids, mask, n, t)
    }

    /// Right-padded `prompt ++ completion` rows whose loss mask covers only the completion
    /// tokens: the layout for `log π(y | x)`.
    ///
    /// # Errors
    /// [`LmError::Input`] if there are no pairs, or a prompt is empty (the first completion
    /// token needs a prediction).
    pub fn prompt_completion(pairs: &[(Vec<u32>, Vec<u32>)], pad_id: u32) -> Result<Self> {
        if let Some(i) = pairs.iter().position(|(p, _)| p.is_empty()) {
            return Err(LmError::input(
                "TokenBatch::prompt_completion",
                format!("prompt {i} is empty"),
            ));
        }
        let rows: Vec<Vec<u32>> = pairs
            .iter()
            .map(|(p, c)| p.iter().chain(c).copied().collect())
            .collect();
        let mut batch = Self::right_padded(&rows, pad_id)?;
        for (row, (p, c)) in pairs.iter().enumerate() {
            let start = row * batch.t;
            for (slot, flag) in batch.loss[start..start + batch.t].iter_mut().enumerate() {
                *flag = slot >= p.len() && slot < p.len() + c.len();
            }
        }
        Ok(batch)
    }

    /// Replaces the loss mask (row-major `[N, T]`).
    ///
    /// # Errors
    /// [`LmError::Input`] if the length is wrong or the mask marks a padding token.
    pub fn with_loss_mask(mut self, loss_mask: Vec<bool>) -> Result<Self> {
        const OP: &str = "TokenBatch::with_loss_mask";
        if loss_mask.len() != self.n * self.t {
            return Err(LmError::input(
                OP,
                format!(
                    "{} entries for a [{}, {}] batch",
                    loss_mask.len(),
                    self.n,
                    self.t
                ),
            ));
        }
        if let Some(i) = loss_mask
            .iter()
            .zip(&self.attention)
            .position(|(&l, &a)| l && !a)
        {
            return Err(LmError::input(
                OP,
                format!(
                    "the loss mask marks padding at row {}, column {}",
                    i / self.t,
                    i % self.t
                ),
            ));
        }
        self.loss = loss_mask;
        Ok(self)
    }

    /// `(N, T)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.t)
    }

    /// The ids, row-major `[N, T]`.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The attention mask, row-major `[N, T]`.
    pub fn attention_mask(&self) -> &[bool] {
        &self.attention
    }

    /// The loss mask, row-major `[N, T]`.
    pub fn loss_mask(&self) -> &[bool] {
        &self.loss
    }

    /// Rotary positions, row-major `[N, T]`: the number of real tokens before each slot
    /// (padding slots get the position of the next real token, which nothing reads).
    pub fn positions(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.ids.len());
        for row in self.attention.chunks(self.t) {
            let mut seen = 0i64;
            for &real in row {
                out.push(seen);
                seen += i64::from(real);
            }
        }
        out
    }

    /// Errors unless every id is below `vocab_size`.
    pub(crate) fn check_vocab(&self, vocab_size: usize) -> Result<()> {
        check_ids("forward", &self.ids, self.t, vocab_size)
    }

    /// The ids as a `[N, T]` index tensor.
    ///
    /// # Errors
    /// If the upload fails.
    pub fn ids_tensor<B: ModelOps>(&self, device: &B::Device) -> Result<B::Index> {
        let ids: Vec<i64> = self.ids.iter().map(|&id| i64::from(id)).collect();
        Ok(B::index_from_i64s(&ids, &[self.n, self.t], device)?)
    }

    /// The loss mask as a `[N, T]` tensor of `0.0`/`1.0` in `dtype`.
    ///
    /// # Errors
    /// If the upload fails.
    pub fn loss_mask_tensor<B: ModelOps>(
        &self,
        dtype: exo_core::DType,
        device: &B::Device,
    ) -> Result<B::Tensor> {
        let mask: Vec<f32> = self.loss.iter().map(|&m| f32::from(u8::from(m))).collect();
        Ok(B::from_f32s(&mask, &[self.n, self.t], dtype, device)?)
    }
}

/// Errors unless every id of the row-major `[·, t]` grid `ids` is below `vocab_size`, naming
/// `op` and the first offending id's row and column.
pub(crate) fn check_ids(op: &'static str, ids: &[u32], t: usize, vocab_size: usize) -> Result<()> {
    match ids.iter().position(|&id| id as usize >= vocab_size) {
        Some(i) => Err(LmError::input(
            op,
            format!(
                "token id {} at row {}, column {} is outside the vocabulary of {vocab_size}",
                ids[i],
                i / t.max(1),
                i % t.max(1)
            ),
        )),
        None => Ok(()),
    }
}
