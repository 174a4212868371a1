//! libtorch's in-place AdamW update gives the composite's bits and writes into the tensors it is
//! given (so a step holds no second copy of the weights and moments).

use exo_core::model_ops::{AdamWUpdate, adamw::adamw_update_composite};
use exo_core::{DType, ModelOps, TensorOps};
use exo_tch::{LibTorch, TchTensor};
use proptest::prelude::*;

fn tensor(values: &[f64], dtype: DType) -> TchTensor {
    let n = values.len();
    match LibTorch::from_f64s(values, &[n], dtype, &tch::Device::Cpu) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn bits(t: &TchTensor) -> Vec<u64> {
    match LibTorch::to_f64s(t) {
        Ok(v) => v.iter().map(|x| x.to_bits()).collect(),
        Err(e) => panic!("{e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn in_place_equals_the_composite_bit_for_bit(
        rows in prop::collection::vec((-3.0..3.0f64, -1.0..1.0f64, 0.0..2.0f64, -5.0..5.0f64), 1..40),
        step in 1..50i32,
        lr in 1e-6..1e-1f64,
        decay in prop::option::of(0.0..0.1f64),
        wide in any::<bool>(),
    ) {
        let dtype = if wide { DType::F64 } else { DType::F32 };
        let column = |i: usize| -> Vec<f64> {
            rows.iter().map(|r| [r.0, r.1, r.2, r.3][i]).collect()
        };
        let (beta1, beta2): (f64, f64) = (0.9, 0.95);
        let u = AdamWUpdate {
            beta1,
            beta2,
            eps: 1e-8,
            bias1: 1.0 - beta1.powi(step),
            bias2: 1.0 - beta2.powi(step),
            lr,
            decay: decay.map(|wd| 1.0 - lr * wd),
        };
        let fresh = || (tensor(&column(0), dtype), tensor(&column(1), dtype), tensor(&column(2), dtype));
        let g = tensor(&column(3), dtype);
        let (t0, m0, v0) = fresh();
        let want = adamw_update_composite::<LibTorch>(t0, m0, v0, &g, &u);
        let (t1, m1, v1) = fresh();
        let at = (t1.0.data_ptr(), m1.0.data_ptr(), v1.0.data_ptr());
        let got = LibTorch::adamw_update(t1, m1, v1, &g, &u);
        let (Ok(want), Ok(got)) = (want, got) else {
            panic!("an update failed");
        };
        prop_assert_eq!(bits(&got.0), bits(&want.0));
        prop_assert_eq!(bits(&got.1), bits(&want.1));
        prop_assert_eq!(bits(&got.2), bits(&want.2));
        prop_assert_eq!((got.0.0.data_ptr(), got.1.0.data_ptr(), got.2.0.data_ptr()), at);
    }
}
