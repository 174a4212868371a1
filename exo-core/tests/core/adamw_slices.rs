//! `adamw_pass_slices`, the host passes backends run in place of the composite: any split over
//! threads gives the bits of one thread, the three passes are the one-pass update,
//! the maths is AdamW's, and bad lengths are errors.

use exo_core::model_ops::AdamWUpdate;
use exo_core::model_ops::adamw::{AdamWPass, adamw_pass_slices, adamw_update_slices};
use proptest::prelude::*;

fn update(step: u64, lr: f64, decay: Option<f64>) -> AdamWUpdate {
    AdamWUpdate::at_step((0.9, 0.999), 1e-8, step, lr, decay)
}

/// Deterministic values in [-1, 1) (an LCG), `n` of them.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / ((1u64 << 23) as f32) - 1.0
        })
        .collect()
}

type State = (Vec<f32>, Vec<f32>, Vec<f32>);

/// The update over `θ`, `m`, `v` from `g`: in one pass (`adamw_update_slices`) when `fused`,
/// else as the three passes in order.
fn update_with<F: num_traits::Float + Send + Sync>(
    (theta, m, v, g): (&mut [F], &mut [F], &mut [F], &[F]),
    u: &AdamWUpdate,
    threads: usize,
    fused: bool,
) -> exo_core::Result<()> {
    if fused {
        return adamw_update_slices(theta, m, v, g, u, threads);
    }
    adamw_pass_slices(AdamWPass::FirstMoment, m, g, &[], u, threads)?;
    adamw_pass_slices(AdamWPass::SecondMoment, v, g, &[], u, threads)?;
    adamw_pass_slices(AdamWPass::Apply, theta, m, v, u, threads)
}

fn run(n: usize, threads: usize, u: &AdamWUpdate, fused: bool) -> State {
    let (mut theta, mut m) = (values(n, 1), values(n, 2));
    let mut v: Vec<f32> = values(n, 3).iter().map(|x| x.abs()).collect();
    let g = values(n, 4);
    if let Err(e) = update_with((&mut theta, &mut m, &mut v, &g), u, threads, fused) {
        panic!("{e}");
    }
    (theta, m, v)
}

fn bits(s: &State) -> Vec<u32> {
    [&s.0, &s.1, &s.2]
        .iter()
        .flat_map(|v| v.iter().map(|x| x.to_bits()))
        .collect()
}

#[test]
fn any_split_over_threads_and_passes_gives_the_bits_of_one_thread_and_pass() {
    let u = update(7, 1e-3, Some(0.01));
    // Below, at and above the length under which one thread does it all, and uneven splits.
    for n in [
        1,
        1000,
        1 << 16,
        (1 << 16) + 1,
        3 * (1 << 16) + 7,
        1_000_003,
    ] {
        let one = bits(&run(n, 1, &u, true));
        for threads in [2, 3, 8, 64] {
            for fused in [true, false] {
                let split = bits(&run(n, threads, &u, fused));
                assert_eq!(split, one, "n = {n}, threads = {threads}, fused = {fused}");
            }
        }
    }
}

#[test]
fn slices_of_different_lengths_are_an_error() {
    let u = update(1, 1e-3, None);
    let (mut theta, mut m, v) = (vec![1.0f32; 4], vec![0.5f32; 4], vec![0.25f32; 3]);
    let e = adamw_pass_slices(AdamWPass::Apply, &mut theta, &m, &v, &u, 2);
    assert!(
        matches!(e, Err(exo_core::Error::ShapeMismatch { .. })),
        "{e:?}"
    );
    assert_eq!(theta, [1.0; 4], "nothing written");
    let e = adamw_pass_slices(AdamWPass::FirstMoment, &mut m, &v, &[], &u, 2);
    assert!(
        matches!(e, Err(exo_core::Error::ShapeMismatch { .. })),
        "{e:?}"
    );
    // The moment passes do not read `b`.
    let g = [1.0f32; 4];
    assert!(adamw_pass_slices(AdamWPass::FirstMoment, &mut m, &g, &[], &u, 2).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Against AdamW in f64 straight from its definition (PyTorch's `AdamW` docs).
    #[test]
    fn the_update_is_adamw(
        theta in -3.0..3.0f64, m in -1.0..1.0f64, v in 0.0..2.0f64, g in -5.0..5.0f64,
        step in 1..100u64, lr in 1e-6..1e-1f64, wd in prop::option::of(0.0..0.1f64),
    ) {
        let u = update(step, lr, wd);
        let (mut t1, mut m1, mut v1) = ([theta], [m], [v]);
        update_with((&mut t1, &mut m1, &mut v1, &[g]), &u, 1, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let m_want = 0.9 * m + 0.1 * g;
        let v_want = 0.999 * v + 0.001 * g * g;
        let m_hat = m_want / u.bias1;
        let v_hat = v_want / u.bias2;
        let t_want = theta * (1.0 - lr * wd.unwrap_or(0.0)) - lr * m_hat / (v_hat.sqrt() + 1e-8);
        prop_assert!((m1[0] - m_want).abs() <= 1e-12 * (1.0 + m_want.abs()));
        prop_assert!((v1[0] - v_want).abs() <= 1e-12 * (1.0 + v_want.abs()));
        prop_assert!((t1[0] - t_want).abs() <= 1e-9 * (1.0 + t_want.abs()), "{} vs {}", t1[0], t_want);
    }
}
