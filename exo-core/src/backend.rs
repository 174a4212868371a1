//! The backend traits: [`TensorOps`] (forward ops) and [`Autodiff`] (gradients).
//!
//! A backend is a zero-sized marker type (`NdArray`, `exo_candle::Candle`, `exo_tch::LibTorch`)
//! whose associated functions are the ops: code reads `B::log_softmax(&x, 1)?`. Every op is
//! fallible and returns [`crate::Result`]; adapters never panic on a library error.
//!
//! The primitives are the small set that the objectives and `sequence_logps` need. The stable
//! composites (`logsumexp` with a max shift, `log_softmax`, `log_sigmoid`, `softplus`, `sigmoid`,
//! and the elementwise `relu`, `square`, `expm1`, `log1p`)
//! are default methods written once from the primitives; a backend may override any of them with
//! a fused kernel that computes the same function with a correct gradient.

use std::fmt::Debug;

use crate::{DType, Result};

/// Forward tensor ops over one tensor library.
///
/// Conventions:
/// * Binary elementwise ops (`add`, `sub`, `mul`, `div`, `select`) broadcast with NumPy rules.
/// * `dim` arguments index from the front (`0` is the outermost dimension).
/// * Reductions with `keepdim = false` remove the reduced dimension; reducing a rank-1 tensor
///   gives a rank-0 (scalar) tensor.
/// * Masks are float tensors of `0.0` / `1.0` in the data's dtype; they never carry gradients.
pub trait TensorOps: Copy + Default + Debug + Send + Sync + 'static {
    /// The float tensor type (a cheap, shallow handle: `Clone` must not copy the data).
    type Tensor: Clone + Debug;
    /// An integer index tensor (token ids), never differentiated.
    type Index: Clone + Debug;
    /// Where tensors live (CPU, a CUDA device, ...). Passed where tensors are created.
    type Device: Clone + Debug;

    /// The backend's name, used in error messages.
    const NAME: &'static str;

    // ----- host data in and out -------------------------------------------------------------

    /// Builds a tensor of `dims` from row-major `f64` values, stored as `dtype`.
    ///
    /// # Errors
    /// If `values.len()` is not the product of `dims`, or the library fails.
    fn from_f64s(
        values: &[f64],
        dims: &[usize],
        dtype: DType,
        device: &Self::Device,
    ) -> Result<Self::Tensor>;

    /// Builds a tensor of `dims` from row-major `f32` values, stored as `dtype`.
    ///
    /// # Errors
    /// If `values.len()` is not the product of `dims`, or the library fails.
    fn from_f32s(
        values: &[f32],
        dims: &[usize],
        dtype: DType,
        device: &Self::Device,
    ) -> Result<Self::Tensor>;

    /// Builds an index tensor of `dims` from row-major `i64` values.
    ///
    /// # Errors
    /// If `values.len()` is not the product of `dims`, or the library fails.
    fn index_from_i64s(
        values: &[i64],
        dims: &[usize],
        device: &Self::Device,
    ) -> Result<Self::Index>;

    /// Copies a tensor's values to the host as row-major `f64`.
    ///
    /// # Errors
    /// If the library fails (for example a device-to-host copy).
    fn to_f64s(t: &Self::Tensor) -> Result<Vec<f64>>;

    /// Copies a tensor's values to the host as row-major `f32` (rounding `f64` data).
    ///
    /// # Errors
    /// If the library fails.
    fn to_f32s(t: &Self::Tensor) -> Result<Vec<f32>>;

    /// The tensor's shape.
    fn dims(t: &Self::Tensor) -> Vec<usize>;

    /// The tensor's element type.
    ///
    /// # Errors
    /// If the tensor holds a dtype exo does not compute in.
    fn dtype(t: &Self::Tensor) -> Result<DType>;

    /// The device the tensor lives on.
    fn device(t: &Self::Tensor) -> Self::Device;

    /// Converts to another float dtype (a no-op handle when it already has it).
    ///
    /// # Errors
    /// If the library fails.
    fn to_dtype(t: &Self::Tensor, dtype: DType) -> Result<Self::Tensor>;

    // ----- elementwise ----------------------------------------------------------------------

    /// `lhs + rhs`, broadcasting.
    ///
    /// # Errors
    /// If the shapes do not broadcast or the dtypes differ.
    fn add(lhs: &Self::Tensor, rhs: &Self::Tensor) -> Result<Self::Tensor>;
    /// `lhs − rhs`, broadcasting.
    ///
    /// # Errors
    /// If the shapes do not broadcast or the dtypes differ.
    fn sub(lhs: &Self::Tensor, rhs: &Self::Tensor) -> Result<Self::Tensor>;
    /// `lhs · rhs`, broadcasting.
    ///
    /// # Errors
    /// If the shapes do not broadcast or the dtypes differ.
    fn mul(lhs: &Self::Tensor, rhs: &Self::Tensor) -> Result<Self::Tensor>;
    /// `lhs / rhs`, broadcasting.
    ///
    /// # Errors
    /// If the shapes do not broadcast or the dtypes differ.
    fn div(lhs: &Self::Tensor, rhs: &Self::Tensor) -> Result<Self::Tensor>;
    /// `t + value`.
    ///
    /// # Errors
    /// If the library fails.
    fn add_scalar(t: &Self::Tensor, value: f64) -> Result<Self::Tensor>;
    /// `t · value`.
    ///
    /// # Errors
    /// If the library fails.
    fn mul_scalar(t: &Self::Tensor, value: f64) -> Result<Self::Tensor>;
    /// `eᵗ`.
    ///
    /// # Errors
    /// If the library fails.
    fn exp(t: &Self::Tensor) -> Result<Self::Tensor>;
    /// `ln t`.
    ///
    /// # Errors
    /// If the library fails.
    fn log(t: &Self::Tensor) -> Result<Self::Tensor>;
    /// `−t`.
    ///
    /// # Errors
    /// If the library fails.
    fn neg(t: &Self::Tensor) -> Result<Self::Tensor>;

    /// Mask `1.0` where `t ≥ value`, else `0.0`, in `t`'s dtype. Carries no gradient.
    ///
    /// # Errors
    /// If the library fails.
    fn ge_scalar(t: &Self::Tensor, value: f64) -> Result<Self::Tensor>;

    /// `on_true` where `mask ≠ 0`, else `on_false`, broadcasting all three. The gradient flows
    /// only into the branch that was taken.
    ///
    /// # Errors
    /// If the shapes do not broadcast or the dtypes differ.
    fn select(
        mask: &Self::Tensor,
        on_true: &Self::Tensor,
        on_false: &Self::Tensor,
    ) -> Result<Self::Tensor>;

    // ----- reductions -----------------------------------------------------------------------

    /// Sum along `dim`.
    ///
    /// # Errors
    /// If `dim` is out of range.
    fn sum_dim(t: &Self::Tensor, dim: usize, keepdim: bool) -> Result<Self::Tensor>;
    /// Maximum along `dim`.
    ///
    /// # Errors
    /// If `dim` is out of range or the dimension is empty.
    fn max_dim(t: &Self::Tensor, dim: usize, keepdim: bool) -> Result<Self::Tensor>;
    /// Mean along `dim`.
    ///
    /// # Errors
    /// If `dim` is out of range.
    fn mean_dim(t: &Self::Tensor, dim: usize, keepdim: bool) -> Result<Self::Tensor>;
    /// Sum of all elements, as a rank-0 tensor.
    ///
    /// # Errors
    /// If the library fails.
    fn sum_all(t: &Self::Tensor) -> Result<Self::Tensor>;
    /// Mean of all elements, as a rank-0 tensor.
    ///
    /// # Errors
    /// If the library fails.
    fn mean_all(t: &Self::Tensor) -> Result<Self::Tensor>;

    // ----- indexing and shape ---------------------------------------------------------------

    /// `out[i…] = t[i…, index[i…]]`: picks one entry of the last dimension per position.
    ///
    /// Shapes: `t` is `[d0, …, dn, V]`, `index` is `[d0, …, dn]`, the result is `[d0, …, dn]`.
    ///
    /// # Errors
    /// If the shapes disagree or an index is outside `0..V`.
    fn gather_last(t: &Self::Tensor, index: &Self::Index) -> Result<Self::Tensor>;
    /// The shape of an index tensor.
    fn index_dims(index: &Self::Index) -> Vec<usize>;
    /// Narrows an index tensor along `dim` to `start..start + len`.
    ///
    /// # Errors
    /// If the range is out of bounds.
    fn index_narrow(
        index: &Self::Index,
        dim: usize,
        start: usize,
        len: usize,
    ) -> Result<Self::Index>;
    /// Same data, new shape (the element count must not change).
    ///
    /// # Errors
    /// If the element counts differ.
    fn reshape(t: &Self::Tensor, dims: &[usize]) -> Result<Self::Tensor>;
    /// The slice `start..start + len` along `dim`.
    ///
    /// # Errors
    /// If the range is out of bounds.
    fn narrow(t: &Self::Tensor, dim: usize, start: usize, len: usize) -> Result<Self::Tensor>;
    /// Broadcasts to `dims` (NumPy rules).
    ///
    /// # Errors
    /// If the shape does not broadcast to `dims`.
    fn broadcast_as(t: &Self::Tensor, dims: &[usize]) -> Result<Self::Tensor>;
    /// The same values, cut from the autodiff graph (identity on forward-only backends).
    ///
    /// # Errors
    /// If the library fails.
    fn detach(t: &Self::Tensor) -> Result<Self::Tensor>;

    // ----- stable composites (default methods; a backend may override) ----------------------

    /// `log Σ exp(t)` along `dim`, computed with a max shift so that it never overflows:
    ///
    /// ```text
    /// m = max_dim(t),  lse(t) = m + log Σ exp(t − m)
    /// ```
    ///
    /// `m` is detached: the value does not depend on it, and the gradient is `softmax(t)`.
    /// Inputs must be finite (a row of all `−∞` has no finite shift).
    ///
    /// # Errors
    /// If `dim` is out of range or an op fails.
    fn logsumexp(t: &Self::Tensor, dim: usize, keepdim: bool) -> Result<Self::Tensor> {
        let max = Self::detach(&Self::max_dim(t, dim, true)?)?;
        let shifted = Self::sub(t, &max)?;
        let sum = Self::sum_dim(&Self::exp(&shifted)?, dim, true)?;
        let lse = Self::add(&Self::log(&sum)?, &max)?;
        if keepdim {
            Ok(lse)
        } else {
            let mut dims = Self::dims(&lse);
            dims.remove(dim);
            Self::reshape(&lse, &dims)
        }
    }

    /// `log softmax(t)` along `dim` = `t − logsumexp(t)`. Never computed as `log(softmax)`, and
    /// not as `t − logsumexp(t)` either:
    ///
    /// ```text
    /// m = max_dim(t) (detached),  s = t − m,  log softmax(t) = s − log Σ exp(s)
    /// ```
    ///
    /// Rounding `m + log Σ` to the precision of `m` would cost every entry an absolute error of
    /// `ε·|m|` (in f32 with `|t| ≈ 10³`, `softmax` rows summing to `1 ± 10⁻⁴`); this costs
    /// `ε·(|t − m| + log K)`, and `exp` of it sums to 1 within a few `K·ε`.
    ///
    /// # Errors
    /// If `dim` is out of range or an op fails.
    fn log_softmax(t: &Self::Tensor, dim: usize) -> Result<Self::Tensor> {
        let max = Self::detach(&Self::max_dim(t, dim, true)?)?;
        let shifted = Self::sub(t, &max)?;
        let log_sum = Self::log(&Self::sum_dim(&Self::exp(&shifted)?, dim, true)?)?;
        Self::sub(&shifted, &log_sum)
    }

    /// `softmax(t)` along `dim` = `exp(log_softmax(t))`.
    ///
    /// # Errors
    /// If `dim` is out of range or an op fails.
    fn softmax(t: &Self::Tensor, dim: usize) -> Result<Self::Tensor> {
        Self::exp(&Self::log_softmax(t, dim)?)
    }

    /// `log σ(t) = −log(1 + e^{−t})`, stable and accurate for all finite `t`:
    ///
    /// ```text
    /// t ≥ 0:  −log1p(e^{−t})        (e^{−t} ≤ 1)
    /// t < 0:   t − log1p(e^{t})      (e^{t} < 1)
    /// ```
    ///
    /// `log1p` keeps the tail's relative accuracy: `log(1 + e^{−t})` would round `1 + e^{−t}`
    /// first (a relative error up to ~4e-8 at t ≈ 20 in f64, and exactly 0 above t ≈ 16.6 in
    /// f32).
    ///
    /// Each branch sees only inputs of its own sign (the other side is clamped to 0), and
    /// `select` sends the gradient only into the branch taken, so the gradient `σ(−t)` is exact
    /// everywhere, including `t = 0` (where DPO starts: policy = reference).
    ///
    /// # Errors
    /// If an op fails.
    fn log_sigmoid(t: &Self::Tensor) -> Result<Self::Tensor> {
        let zero = Self::mul_scalar(t, 0.0)?;
        let non_negative = Self::detach(&Self::ge_scalar(t, 0.0)?)?;
        let t_pos = Self::select(&non_negative, t, &zero)?;
        let t_neg = Self::select(&non_negative, &zero, t)?;
        // −log1p(e^{−t_pos})
        let pos = Self::neg(&Self::log1p(&Self::exp(&Self::neg(&t_pos)?)?)?)?;
        // t_neg − log1p(e^{t_neg})
        let neg = Self::sub(&t_neg, &Self::log1p(&Self::exp(&t_neg)?)?)?;
        Self::select(&non_negative, &pos, &neg)
    }

    /// `softplus(t) = log(1 + e^{t}) = −log σ(−t)`.
    ///
    /// # Errors
    /// If an op fails.
    fn softplus(t: &Self::Tensor) -> Result<Self::Tensor> {
        Self::neg(&Self::log_sigmoid(&Self::neg(t)?)?)
    }

    /// `σ(t) = exp(log σ(t))`.
    ///
    /// # Errors
    /// If an op fails.
    fn sigmoid(t: &Self::Tensor) -> Result<Self::Tensor> {
        Self::exp(&Self::log_sigmoid(t)?)
    }

    /// `relu(t) = max(t, 0)`, with the gradient `[t > 0]` (0 at the kink, as libtorch).
    ///
    /// ```text
    /// relu(t) = t where t > 0, else 0        [t > 0] = 1 − [−t ≥ 0]
    /// ```
    ///
    /// # Errors
    /// If an op fails.
    fn relu(t: &Self::Tensor) -> Result<Self::Tensor> {
        let positive = Self::detach(&Self::add_scalar(
            &Self::neg(&Self::ge_scalar(&Self::neg(t)?, 0.0)?)?,
            1.0,
        )?)?;
        Self::select(&positive, t, &zeros_like::<Self>(t)?)
    }

    /// `t²`.
    ///
    /// # Errors
    /// If an op fails.
    fn square(t: &Self::Tensor) -> Result<Self::Tensor> {
        Self::mul(t, t)
    }

    /// `eᵗ − 1`, accurate to a few ulps also where `|t|` is tiny (where `exp(t) − 1` cancels).
    ///
    /// ```text
    /// value:    −1 ≤ t < 1:  (u − 1)·t / log u,  u = fl(eᵗ)   (Kahan; t itself where u = 1)
    ///           otherwise:   eᵗ − 1                            (no cancellation)
    /// gradient: eᵗ, exactly
    /// ```
    ///
    /// Kahan's quotient cancels the rounding error of `u` between numerator and denominator. It
    /// is added as a detached correction to `eᵗ − 1`, so autodiff sees only `eᵗ − 1` and its
    /// exact derivative `eᵗ`.
    ///
    /// # Errors
    /// If an op fails.
    fn expm1(t: &Self::Tensor) -> Result<Self::Tensor> {
        let naive = Self::add_scalar(&Self::exp(t)?, -1.0)?;
        let x = Self::detach(t)?;
        let zero = zeros_like::<Self>(&x)?;
        // −1 ≤ x < 1 (as [x ≥ −1] − [x ≥ 1]); elsewhere x is replaced by 1/2 so that no branch
        // sees inf or NaN.
        let small = Self::sub(&Self::ge_scalar(&x, -1.0)?, &Self::ge_scalar(&x, 1.0)?)?;
        let xs = Self::select(&small, &x, &Self::add_scalar(&zero, 0.5)?)?;
        let u = Self::exp(&xs)?;
        let u_minus_1 = Self::add_scalar(&u, -1.0)?;
        let unit = is_one::<Self>(&u)?;
        let log_u = Self::select(&unit, &Self::add_scalar(&zero, 1.0)?, &Self::log(&u)?)?;
        let kahan = Self::select(
            &unit,
            &xs,
            &Self::div(&Self::mul(&u_minus_1, &xs)?, &log_u)?,
        )?;
        let naive_value = Self::detach(&naive)?;
        let correction = Self::select(&small, &Self::sub(&kahan, &naive_value)?, &zero)?;
        Self::add(&naive, &Self::detach(&correction)?)
    }

    /// `log(1 + t)`, accurate to a few ulps also where `|t|` is tiny (where `log(1 + t)` loses
    /// the digits of `t`).
    ///
    /// ```text
    /// value:    −1/2 ≤ t < 1/2:  t · log u / (u − 1),  u = fl(1 + t)   (Kahan; t where u = 1)
    ///           otherwise:       log(1 + t)
    /// gradient: 1 / (1 + t)
    /// ```
    ///
    /// As in [`TensorOps::expm1`], the accurate value enters as a detached correction.
    ///
    /// # Errors
    /// If an op fails.
    fn log1p(t: &Self::Tensor) -> Result<Self::Tensor> {
        let naive = Self::log(&Self::add_scalar(t, 1.0)?)?;
        let x = Self::detach(t)?;
        let zero = zeros_like::<Self>(&x)?;
        // −1/2 ≤ x < 1/2 (as [x ≥ −1/2] − [x ≥ 1/2]).
        let small = Self::sub(&Self::ge_scalar(&x, -0.5)?, &Self::ge_scalar(&x, 0.5)?)?;
        let xs = Self::select(&small, &x, &zero)?;
        let u = Self::add_scalar(&xs, 1.0)?;
        let u_minus_1 = Self::add_scalar(&u, -1.0)?;
        let unit = is_one::<Self>(&u)?;
        let denominator = Self::select(&unit, &Self::add_scalar(&zero, 1.0)?, &u_minus_1)?;
        let kahan = Self::select(
            &unit,
            &xs,
            &Self::div(&Self::mul(&xs, &Self::log(&u)?)?, &denominator)?,
        )?;
        let naive_value = Self::detach(&naive)?;
        let correction = Self::select(&small, &Self::sub(&kahan, &naive_value)?, &zero)?;
        Self::add(&naive, &Self::detach(&correction)?)
    }

    // ----- sequence log-probabilities (default method; a backend may override) ----------------

    /// The masked per-sequence log-probabilities of [`crate::sequence_logps`] (which calls this;
    /// see it for the formula and shapes).
    ///
    /// The default is [`crate::logps::sequence_logps_chunked`] over slices of at most
    /// [`crate::logps::CHUNK_ELEMENTS`] logits, so that its temporaries stay a small fraction of
    /// the logits. A backend may override it with a kernel that computes the same function with
    /// a correct gradient (candle: one fused pass; libtorch: slices through `split`, whose
    /// backward pass writes one gradient tensor instead of one per slice); an override checks
    /// its inputs with [`crate::logps::check_sequence_inputs`].
    ///
    /// # Errors
    /// As [`crate::sequence_logps`].
    fn sequence_logps(
        logits: &Self::Tensor,
        ids: &Self::Index,
        mask: &Self::Tensor,
        temperature: f64,
    ) -> Result<Self::Tensor> {
        crate::logps::sequence_logps_chunked::<Self>(
            logits,
            ids,
            mask,
            temperature,
            crate::logps::CHUNK_ELEMENTS,
        )
    }

    /// The per-row target log-probabilities of [`crate::logps::token_logps`] (which calls this;
    /// see it for the formula and shapes). The default is
    /// [`crate::logps::token_logps_composite`]; a backend may override it with a kernel that
    /// computes the same function with a correct gradient, checking its inputs with
    /// [`crate::logps::check_token_inputs`].
    ///
    /// # Errors
    /// As [`crate::logps::token_logps`].
    fn token_logps(
        logits: &Self::Tensor,
        targets: &Self::Index,
        temperature: f64,
    ) -> Result<Self::Tensor> {
        crate::logps::token_logps_composite::<Self>(logits, targets, temperature)
    }
}

/// Zeros of `t`'s shape, dtype and device, finite even where `t` is not (`[t ≥ 0] · 0`).
fn zeros_like<B: TensorOps>(t: &B::Tensor) -> Result<B::Tensor> {
    B::detach(&B::mul_scalar(&B::ge_scalar(t, 0.0)?, 0.0)?)
}

/// Mask `1.0` where `t = 1` exactly (`[t ≥ 1] · [−t ≥ −1]`), detached.
fn is_one<B: TensorOps>(t: &B::Tensor) -> Result<B::Tensor> {
    B::detach(&B::mul(
        &B::ge_scalar(t, 1.0)?,
        &B::ge_scalar(&B::neg(t)?, -1.0)?,
    )?)
}

/// Reverse-mode differentiation on top of [`TensorOps`].
///
/// The API is functional, like `torch.autograd.grad`: mark leaves with [`Autodiff::require_grad`],
/// build a scalar, and ask for its gradients with respect to a list of leaves.
pub trait Autodiff: TensorOps {
    /// Whether [`Autodiff::grad`] frees each node's saved tensors as its backward runs
    /// (libtorch's engine), so that activation memory shrinks while a deep graph is walked
    /// back. A library that keeps the whole forward graph alive until the backward pass returns
    /// (candle) says `false`, and exo-lm then differentiates a decoder one layer's graph at a
    /// time, dropping each after its backward (`exo_lm::LayerBackward::PerLayer`).
    const FREES_GRAPH_IN_BACKWARD: bool = true;

    /// A copy of `t` (sharing storage where the library allows) that is a leaf tracking
    /// gradients.
    ///
    /// # Errors
    /// If the library fails.
    fn require_grad(t: &Self::Tensor) -> Result<Self::Tensor>;

    /// `∂loss/∂w` for every `w` in `wrt`, in order. A leaf the loss does not depend on gets a
    /// zero gradient of its own shape.
    ///
    /// # Errors
    /// If `loss` is not a scalar (rank 0, or one element), a `wrt` tensor does not track
    /// gradients, or the library fails.
    fn grad(loss: &Self::Tensor, wrt: &[&Self::Tensor]) -> Result<Vec<Self::Tensor>>;
}
