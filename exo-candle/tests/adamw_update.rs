//! candle's in-place AdamW update (three in-place passes on the host) gives the composite's
//! values and writes into the tensors it is given; weights it cannot update in place
//! (non-contiguous) go through the composite.

use candle_core::{DType as CDType, Device, Tensor};
use exo_candle::Candle;
use exo_core::model_ops::{AdamWUpdate, adamw::adamw_update_composite};
use exo_core::{Autodiff, DType, ModelOps, TensorOps};
use proptest::prelude::*;

fn tensor(values: &[f64], dtype: DType) -> Tensor {
    match Candle::from_f64s(values, &[values.len()], dtype, &Device::Cpu) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// The values as f64 (candle's composite writes `x·s + 0`, so a zero's sign may differ from
/// the fused kernel's `x·s`: compare values, not bits).
fn values(t: &Tensor) -> Vec<f64> {
    match Candle::to_f64s(t) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn address(t: &Tensor) -> usize {
    let (storage, layout) = t.storage_and_layout();
    std::ptr::from_ref(&*storage).addr() + layout.start_offset()
}

fn update(step: u64, lr: f64, decay: Option<f64>) -> AdamWUpdate {
    AdamWUpdate::at_step((0.9, 0.95), 1e-8, step, lr, decay)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn in_place_equals_the_composite(
        rows in prop::collection::vec((-3.0..3.0f64, -1.0..1.0f64, 0.0..2.0f64, -5.0..5.0f64), 1..40),
        step in 1..50u64,
        lr in 1e-6..1e-1f64,
        decay in prop::option::of(0.0..0.1f64),
        wide in any::<bool>(),
    ) {
        let dtype = if wide { DType::F64 } else { DType::F32 };
        let column = |i: usize| -> Vec<f64> {
            rows.iter().map(|r| [r.0, r.1, r.2, r.3][i]).collect()
        };
        let u = update(step, lr, decay);
        let fresh = || (tensor(&column(0), dtype), tensor(&column(1), dtype), tensor(&column(2), dtype));
        let g = tensor(&column(3), dtype);
        let (t0, m0, v0) = fresh();
        let want = adamw_update_composite::<Candle>(t0, m0, v0, &g, &u);
        let (t1, m1, v1) = fresh();
        let at = (address(&t1), address(&m1), address(&v1));
        let got = Candle::adamw_update(t1, m1, v1, &g, &u);
        let (Ok(want), Ok(got)) = (want, got) else {
            panic!("an update failed");
        };
        prop_assert_eq!(values(&got.0), values(&want.0));
        prop_assert_eq!(values(&got.1), values(&want.1));
        prop_assert_eq!(values(&got.2), values(&want.2));
        prop_assert_eq!((address(&got.0), address(&got.1), address(&got.2)), at);
    }
}

/// Long enough for the passes to split over threads, and a transposed (non-contiguous) weight,
/// which goes through the composite: both give the composite's values.
#[test]
fn long_and_strided_weights_equal_the_composite() -> candle_core::Result<()> {
    let u = update(3, 3e-4, Some(0.01));
    for (rows, cols, transposed) in [(700, 1001, false), (300, 257, true)] {
        let shape = if transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let lay = |t: Tensor| if transposed { t.t() } else { Ok(t) };
        let theta = Tensor::randn(0f32, 1.0, shape, &Device::Cpu)?;
        let m = Tensor::randn(0f32, 1.0, shape, &Device::Cpu)?;
        let v = Tensor::rand(0f32, 1.0, shape, &Device::Cpu)?;
        let g = lay(Tensor::randn(0f32, 1.0, shape, &Device::Cpu)?)?;
        let fresh = || -> candle_core::Result<_> {
            Ok((lay(theta.copy()?)?, lay(m.copy()?)?, lay(v.copy()?)?))
        };
        let (t0, m0, v0) = fresh()?;
        let (t1, m1, v1) = fresh()?;
        assert_eq!(t1.is_contiguous(), !transposed);
        assert_eq!(t1.dtype(), CDType::F32);
        let want = adamw_update_composite::<Candle>(t0, m0, v0, &g, &u);
        let got = Candle::adamw_update(t1, m1, v1, &g, &u);
        let (Ok(want), Ok(got)) = (want, got) else {
            panic!("an update failed");
        };
        assert_eq!(
            values(&got.0),
            values(&want.0),
            "theta, transposed = {transposed}"
        );
        assert_eq!(values(&got.1), values(&want.1), "m");
        assert_eq!(values(&got.2), values(&want.2), "v");
    }
    Ok(())
}

/// The optimiser's pattern: `θ` is the parameter's own storage (a detached handle), updated in
/// place, then assigned back to the parameter, which is then nothing to do.
#[test]
fn a_parameter_updated_in_place_is_assigned_to_itself() -> exo_core::Result<()> {
    let param = Candle::require_grad(&tensor(&[0.5, -1.0, 2.0], DType::F32))?;
    let theta = Candle::detach(&param)?;
    let (m, v, g) = (
        tensor(&[0.0; 3], DType::F32),
        tensor(&[0.0; 3], DType::F32),
        tensor(&[1.0, -1.0, 0.5], DType::F32),
    );
    let u = update(1, 0.1, None);
    let (theta, _, _) = Candle::adamw_update(theta, m, v, &g, &u)?;
    Candle::assign(&param, &theta)?;
    let got = values(&param);
    // The first step moves every weight by lr against the gradient's sign (up to ε).
    for (got, want) in got.iter().zip([0.4, -0.9, 1.9]) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    Ok(())
}
