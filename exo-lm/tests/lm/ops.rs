//! Backend overrides of the composites agree with the composites (values and gradients), and
//! the in-place update reaches every handle.

use exo_core::DType;
use exo_core::model_ops::attention::attention_composite;
use exo_core::model_ops::gelu::{gelu_erf_composite, gelu_tanh_composite};
use exo_core::model_ops::layer_norm::layer_norm_composite;
use exo_core::model_ops::rms_norm::rms_norm_composite;
use exo_core::model_ops::rotary::rotary_composite;
use exo_core::model_ops::segments::{SegmentGroup, Segments, segment_attention_composite};
use exo_core::model_ops::swiglu::{silu_gate_composite, swiglu_composite};
use exo_lm::layers::attention::{MASKED, attention_bias};

use crate::common::{TestBackend, max_abs, max_abs_diff};

/// Fused kernel against composite, f64.
const FUSED_TOL: f64 = 1e-10;

fn values(count: usize, seed: u64) -> Vec<f64> {
    // A deterministic spread in (−2, 2).
    (0..count)
        .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 250.0) - 2.0)
        .collect()
}

fn leaf<B: TestBackend>(dims: &[usize], seed: u64) -> exo_lm::Result<B::Tensor> {
    leaf_of::<B>(dims, seed, DType::F64)
}

fn leaf_of<B: TestBackend>(dims: &[usize], seed: u64, dtype: DType) -> exo_lm::Result<B::Tensor> {
    let count = dims.iter().product();
    Ok(B::require_grad(&B::from_f64s(
        &values(count, seed),
        dims,
        dtype,
        &B::cpu(),
    )?)?)
}

/// Compares two functions of the same leaves: values, and gradients of a weighted sum.
fn same_function<B: TestBackend>(
    what: &str,
    leaves: &[B::Tensor],
    f: impl Fn(&[B::Tensor]) -> exo_core::Result<B::Tensor>,
    g: impl Fn(&[B::Tensor]) -> exo_core::Result<B::Tensor>,
) -> exo_lm::Result<()> {
    same_function_within::<B>(what, FUSED_TOL, leaves, f, g)
}

/// [`same_function`] to a relative tolerance `tol`.
fn same_function_within<B: TestBackend>(
    what: &str,
    tol: f64,
    leaves: &[B::Tensor],
    f: impl Fn(&[B::Tensor]) -> exo_core::Result<B::Tensor>,
    g: impl Fn(&[B::Tensor]) -> exo_core::Result<B::Tensor>,
) -> exo_lm::Result<()> {
    let (a, b) = (f(leaves)?, g(leaves)?);
    let dims = B::dims(&a);
    assert_eq!(dims, B::dims(&b), "{what}");
    let weights = B::from_f64s(
        &values(dims.iter().product(), 5),
        &dims,
        B::dtype(&a)?,
        &B::cpu(),
    )?;
    let refs: Vec<&B::Tensor> = leaves.iter().collect();
    let ga = B::grad(&B::sum_all(&B::mul(&a, &weights)?)?, &refs)?;
    let gb = B::grad(&B::sum_all(&B::mul(&b, &weights)?)?, &refs)?;
    let (va, vb) = (B::to_f64s(&a)?, B::to_f64s(&b)?);
    assert!(
        max_abs_diff(&va, &vb) <= tol * (1.0 + max_abs(&va)),
        "{what}: values"
    );
    for (x, y) in ga.iter().zip(&gb) {
        let (x, y) = (B::to_f64s(x)?, B::to_f64s(y)?);
        assert!(
            max_abs_diff(&x, &y) <= tol * (1.0 + max_abs(&x)),
            "{what}: gradients"
        );
    }
    Ok(())
}

fn overrides_match_the_composites<B: TestBackend>() -> exo_lm::Result<()> {
    // Attention with GQA (4 query heads over 2 key/value heads), a padding column and causality.
    let (n, h, h_kv, t, d) = (2, 4, 2, 5, 3);
    let mut key_mask = vec![true; n * t];
    key_mask[t - 1] = false;
    let bias = attention_bias(&key_mask, n, t, 0, t)?;
    let bias = B::from_f32s(&bias, &[n, 1, t, t], DType::F64, &B::cpu())?;
    let leaves = [
        leaf::<B>(&[n, h, t, d], 1)?,
        leaf::<B>(&[n, h_kv, t, d], 2)?,
        leaf::<B>(&[n, h_kv, t, d], 3)?,
    ];
    let scale = 0.6;
    same_function::<B>(
        "attention",
        &leaves,
        |l| B::attention(&l[0], &l[1], &l[2], &bias, scale),
        |l| attention_composite::<B>(&l[0], &l[1], &l[2], &bias, scale),
    )?;
    // G = 3 heads per key/value head; a left-padded row whose first query sees no key; queries
    // after a cache (Tq < Tk); f32 as well. A query that sees no key is padding, whose output
    // the model never reads: it is multiplied by 0 here (libtorch's fused attention gives its
    // scores another gradient than the composite's uniform softmax does).
    let (h, h_kv, tk) = (3, 1, 6);
    let mut key_mask = vec![true; n * tk];
    key_mask[0] = false;
    for (q_start, tq) in [(0, tk), (4, 2)] {
        let bias = attention_bias(&key_mask, n, tk, q_start, tq)?;
        let read: Vec<f64> = bias
            .chunks(tk)
            .map(|row| f64::from(u8::from(row.contains(&0.0))))
            .collect();
        for dtype in [DType::F64, DType::F32] {
            let read = B::from_f64s(&read, &[n, 1, tq, 1], dtype, &B::cpu())?;
            let bias = B::from_f32s(&bias, &[n, 1, tq, tk], dtype, &B::cpu())?;
            let leaves = [
                leaf_of::<B>(&[n, h, tq, d], 21, dtype)?,
                leaf_of::<B>(&[n, h_kv, tk, d], 22, dtype)?,
                leaf_of::<B>(&[n, h_kv, tk, d], 23, dtype)?,
            ];
            let tol = if dtype == DType::F64 { FUSED_TOL } else { 1e-5 };
            same_function_within::<B>(
                &format!("attention, queries {q_start}.. of {tk}, {dtype:?}"),
                tol,
                &leaves,
                |l| B::mul(&B::attention(&l[0], &l[1], &l[2], &bias, scale)?, &read),
                |l| {
                    B::mul(
                        &attention_composite::<B>(&l[0], &l[1], &l[2], &bias, scale)?,
                        &read,
                    )
                },
            )?;
        }
    }
    let x = [leaf::<B>(&[2, 3, 4], 4)?];
    same_function::<B>(
        "silu",
        &x,
        |l| B::silu(&l[0]),
        |l| B::mul(&l[0], &B::sigmoid(&l[0])?),
    )?;
    let positive = [B::require_grad(&B::add_scalar(
        &B::mul(&x[0], &x[0])?,
        0.5,
    )?)?];
    same_function::<B>(
        "rsqrt",
        &positive,
        |l| B::rsqrt(&l[0]),
        |l| {
            let root = B::sqrt(&l[0])?;
            B::div(&B::add_scalar(&B::mul_scalar(&root, 0.0)?, 1.0)?, &root)
        },
    )?;
    let lin = [
        leaf::<B>(&[2, 3, 4], 6)?,
        leaf::<B>(&[5, 4], 7)?,
        leaf::<B>(&[5], 8)?,
    ];
    same_function::<B>(
        "linear",
        &lin,
        |l| B::linear(&l[0], &l[1], Some(&l[2])),
        |l| B::add(&B::matmul(&l[0], &B::transpose(&l[1], 0, 1)?)?, &l[2]),
    )?;
    // SwiGLU's gated half: trainable weights in f64 and f32, then frozen ones (constants).
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 { FUSED_TOL } else { 1e-5 };
        let mlp = [
            leaf_of::<B>(&[2, 3, 4], 18, dtype)?,
            leaf_of::<B>(&[6, 4], 19, dtype)?,
            leaf_of::<B>(&[6, 4], 20, dtype)?,
        ];
        same_function_within::<B>(
            &format!("swiglu, {dtype:?}"),
            tol,
            &mlp,
            |l| B::swiglu(&l[0], &l[1], &l[2]),
            |l| swiglu_composite::<B>(&l[0], &l[1], &l[2]),
        )?;
        // The gating of projections computed by the caller (LoRA's path), and of leaves.
        same_function_within::<B>(
            &format!("silu_gate, {dtype:?}"),
            tol,
            &mlp,
            |l| {
                B::silu_gate(
                    B::linear(&l[0], &l[1], None)?,
                    B::linear(&l[0], &l[2], None)?,
                )
            },
            |l| swiglu_composite::<B>(&l[0], &l[1], &l[2]),
        )?;
        let gates = [
            leaf_of::<B>(&[2, 3, 6], 24, dtype)?,
            leaf_of::<B>(&[2, 3, 6], 25, dtype)?,
        ];
        same_function_within::<B>(
            &format!("silu_gate of leaves, {dtype:?}"),
            tol,
            &gates,
            |l| B::silu_gate(l[0].clone(), l[1].clone()),
            |l| silu_gate_composite::<B>(&l[0], &l[1]),
        )?;
        let (w_gate, w_up) = (B::detach(&mlp[1])?, B::detach(&mlp[2])?);
        same_function_within::<B>(
            &format!("swiglu, frozen weights, {dtype:?}"),
            tol,
            &mlp[..1],
            |l| B::swiglu(&l[0], &w_gate, &w_up),
            |l| swiglu_composite::<B>(&l[0], &w_gate, &w_up),
        )?;
    }
    let norm = [leaf::<B>(&[2, 3, 4], 9)?, leaf::<B>(&[4], 10)?];
    same_function::<B>(
        "rms_norm",
        &norm,
        |l| B::rms_norm(&l[0], &l[1], 1e-5),
        |l| rms_norm_composite::<B>(&l[0], &l[1], 1e-5),
    )?;
    let ln = [
        leaf::<B>(&[2, 3, 4], 14)?,
        leaf::<B>(&[4], 15)?,
        leaf::<B>(&[4], 16)?,
    ];
    same_function::<B>(
        "layer_norm",
        &ln,
        |l| B::layer_norm(&l[0], &l[1], &l[2], 1e-5),
        |l| layer_norm_composite::<B>(&l[0], &l[1], &l[2], 1e-5),
    )?;
    // Inputs in (−6, 6): both tails of Φ.
    let wide = [B::require_grad(&B::mul_scalar(
        &leaf::<B>(&[3, 40], 17)?,
        3.0,
    )?)?];
    same_function::<B>(
        "gelu_tanh",
        &wide,
        |l| B::gelu_tanh(&l[0]),
        |l| gelu_tanh_composite::<B>(&l[0]),
    )?;
    // The composite erf is a Chebyshev fit, relative error below 1.2e-7.
    same_function_within::<B>(
        "gelu_erf",
        5e-7,
        &wide,
        |l| B::gelu_erf(&l[0]),
        |l| gelu_erf_composite::<B>(&l[0]),
    )?;
    let rope = [leaf::<B>(&[1, 2, 3, 4], 11)?];
    let cos = B::from_f64s(&values(12, 12), &[1, 1, 3, 4], DType::F64, &B::cpu())?;
    let sin = B::from_f64s(&values(12, 13), &[1, 1, 3, 4], DType::F64, &B::cpu())?;
    same_function::<B>(
        "rotary",
        &rope,
        |l| B::rotary(&l[0], &cos, &sin),
        |l| rotary_composite::<B>(&l[0], &cos, &sin),
    )?;
    Ok(())
}

/// Two rows of 5 slots: row 0 a prompt (0..2) with completions A (2..4) and B (4..5), row 1 a
/// unit alone (0..3) and two padding slots. Group 0: A and B (B's second query and last key
/// padded); group 1: the prompt (padded by one) and row 1's unit. The padding slots read
/// output 0, so `out_index` has a duplicate.
fn two_rows_of_segments<B: TestBackend>(dtype: DType) -> exo_lm::Result<Segments<B>> {
    const M: f32 = MASKED;
    let index = |v: &[i64]| B::index_from_i64s(v, &[v.len()], &B::cpu());
    let bias = |v: &[f32], count: usize, tq: usize, tk: usize| {
        B::from_f32s(v, &[count, 1, tq, tk], dtype, &B::cpu())
    };
    #[rustfmt::skip]
    let completions = [
        0.0, 0.0, 0.0, M,    0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, M,    0.0, M,   M,   M,
    ];
    #[rustfmt::skip]
    let prompts = [
        0.0, M,   M,    0.0, 0.0, M,    0.0, M,   M,
        0.0, M,   M,    0.0, 0.0, M,    0.0, 0.0, 0.0,
    ];
    Ok(Segments {
        groups: vec![
            SegmentGroup {
                count: 2,
                tq: 2,
                tk: 4,
                q_index: index(&[2, 3, 4, 4])?,
                k_index: index(&[0, 1, 2, 3, 0, 1, 4, 4])?,
                bias: bias(&completions, 2, 2, 4)?,
            },
            SegmentGroup {
                count: 2,
                tq: 3,
                tk: 3,
                q_index: index(&[0, 1, 0, 5, 6, 7])?,
                k_index: index(&[0, 1, 0, 5, 6, 7])?,
                bias: bias(&prompts, 2, 3, 3)?,
            },
        ],
        out_index: index(&[4, 5, 0, 1, 2, 7, 8, 9, 0, 0])?,
    })
}

/// [`ModelOps::segment_attention`] (exo-candle's node on the CPU) against exo-core's composite,
/// values and gradients, f64 and f32, with G = 2 query heads per key/value head.
fn segment_attention_matches_the_composite<B: TestBackend>() -> exo_lm::Result<()> {
    for (dtype, tol) in [(DType::F64, FUSED_TOL), (DType::F32, 1e-5)] {
        let segments = two_rows_of_segments::<B>(dtype)?;
        let leaves = [
            leaf_of::<B>(&[2, 4, 5, 3], 21, dtype)?,
            leaf_of::<B>(&[2, 2, 5, 3], 22, dtype)?,
            leaf_of::<B>(&[2, 2, 5, 3], 23, dtype)?,
        ];
        same_function_within::<B>(
            &format!("segment_attention, {dtype:?}"),
            tol,
            &leaves,
            |l| B::segment_attention(&l[0], &l[1], &l[2], &segments, 0.5),
            |l| segment_attention_composite::<B>(&l[0], &l[1], &l[2], &segments, 0.5),
        )?;
    }
    Ok(())
}

fn assign_reaches_every_handle_and_deep_copy_does_not<B: TestBackend>() -> exo_lm::Result<()> {
    let param = leaf::<B>(&[2, 3], 1)?;
    let handle = param.clone();
    let copy = B::deep_copy(&param)?;
    let view = B::detach(&param)?;
    let new = B::from_f64s(
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &[2, 3],
        DType::F64,
        &B::cpu(),
    )?;
    B::assign(&param, &new)?;
    assert_eq!(B::to_f64s(&handle)?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(B::to_f64s(&view)?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(B::to_f64s(&copy)?, values(6, 1));
    // Still a leaf after the update.
    let g = B::grad(&B::sum_all(&B::mul(&handle, &handle)?)?, &[&param])?;
    assert_eq!(B::to_f64s(&g[0])?, vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
    // Plain tensors and mismatched shapes are refused.
    assert!(B::assign(&copy, &new).is_err());
    let wrong = B::from_f64s(&[1.0, 2.0], &[2], DType::F64, &B::cpu())?;
    assert!(B::assign(&param, &wrong).is_err());
    Ok(())
}

per_backend!(
    overrides_match_the_composites,
    segment_attention_matches_the_composite,
    assign_reaches_every_handle_and_deep_copy_does_not
);

#[test]
fn attention_bias_is_causal_and_masks_padding() -> exo_lm::Result<()> {
    // One row, keys [real, real, pad], queries at slots 1..3.
    let bias = attention_bias(&[true, true, false], 1, 3, 1, 2)?;
    assert_eq!(bias, vec![0.0, 0.0, MASKED, 0.0, 0.0, MASKED]);
    let bias = attention_bias(&[true, true, true], 1, 3, 0, 3)?;
    assert_eq!(
        bias,
        vec![0.0, MASKED, MASKED, 0.0, 0.0, MASKED, 0.0, 0.0, 0.0]
    );
    assert!(attention_bias(&[true], 1, 3, 0, 3).is_err());
    Ok(())
}
