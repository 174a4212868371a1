//! What `Autodiff::grad` promises, checked on every autodiff backend with one generic function.

use exo_core::{Autodiff, DType, Error};

fn contract<B: Autodiff>(device: &B::Device) -> exo_core::Result<()> {
    let x = B::require_grad(&B::from_f64s(&[1.0, 2.0, 3.0], &[3], DType::F64, device)?)?;
    let unused = B::require_grad(&B::from_f64s(&[5.0, 6.0], &[2], DType::F64, device)?)?;

    // d/dx Σ x² = 2x; a leaf the loss does not depend on gets zeros of its shape.
    let loss = B::sum_all(&B::mul(&x, &x)?)?;
    let grads = B::grad(&loss, &[&x, &unused])?;
    assert_eq!(B::to_f64s(&grads[0])?, [2.0, 4.0, 6.0]);
    assert_eq!(B::to_f64s(&grads[1])?, [0.0, 0.0]);

    // A constant loss (no leaf reaches it) has zero gradients, not a crash.
    // Regression: libtorch's engine dereferenced the missing graph root (SIGSEGV) before this
    // case was handled in exo-tch.
    let constant = B::sum_all(&B::from_f64s(&[1.0], &[1], DType::F64, device)?)?;
    assert_eq!(B::to_f64s(&B::grad(&constant, &[&x])?[0])?, [0.0, 0.0, 0.0]);

    // Only scalars can be differentiated.
    let vector = B::mul_scalar(&x, 2.0)?;
    assert!(matches!(
        B::grad(&vector, &[&x]),
        Err(Error::Shape { op: "grad", .. })
    ));

    // Only leaves made by require_grad can be differentiated against.
    let plain = B::from_f64s(&[1.0, 2.0, 3.0], &[3], DType::F64, device)?;
    let loss = B::sum_all(&B::mul(&plain, &x)?)?;
    assert!(B::grad(&loss, &[&plain]).is_err());

    // log σ has the exact gradient σ(−t) at t = 0, where DPO starts.
    let t = B::require_grad(&B::from_f64s(
        &[0.0, -30.0, 30.0],
        &[3],
        DType::F64,
        device,
    )?)?;
    let g = B::to_f64s(&B::grad(&B::sum_all(&B::log_sigmoid(&t)?)?, &[&t])?[0])?;
    let want = [0.5, 1.0 / (1.0 + (-30f64).exp()), 1.0 / (1.0 + 30f64.exp())];
    for (a, b) in g.iter().zip(want) {
        assert!((a - b).abs() <= 1e-15, "{a} vs {b}");
    }

    // log σ keeps its relative accuracy in the right tail (log σ(t) ≈ −e^{−t}), in f64 and f32.
    let tail = [16.0, 17.0, 20.0, 30.0, 80.0];
    for dtype in [DType::F64, DType::F32] {
        let t = B::from_f64s(&tail, &[tail.len()], dtype, device)?;
        let got = B::to_f64s(&B::log_sigmoid(&t)?)?;
        for (g, t) in got.iter().zip(tail) {
            let w = -(-t).exp().ln_1p();
            let w = if dtype == DType::F32 {
                f64::from(w as f32)
            } else {
                w
            };
            assert!(
                (g - w).abs() <= 4.0 * dtype.epsilon() * w.abs(),
                "{dtype:?} log σ({t}) = {g}, want {w}"
            );
        }
    }
    Ok(())
}

#[test]
fn candle_keeps_the_autodiff_contract() -> exo_core::Result<()> {
    contract::<exo_candle::Candle>(&candle_core::Device::Cpu)
}

#[test]
fn libtorch_keeps_the_autodiff_contract() -> exo_core::Result<()> {
    contract::<exo_tch::LibTorch>(&tch::Device::Cpu)
}
