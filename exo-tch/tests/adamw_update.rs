//! libtorch's AdamW update writes into the tensors it is given (so a step holds no second copy
//! of the weights and moments). On the host it runs exo-core's one-pass kernel in the tensors'
//! memory: the kernel's bits (checked against `adamw_update_slices` on copies), the composite's
//! bits for `m` and `v`, and its `θ` to the last bit of the square root (libtorch's CPU `sqrt` is
//! MKL's, accurate to 1 ulp; the kernel's is correctly rounded). Elsewhere (here: a transposed
//! weight) libtorch's in-place ops give the composite's bits.

use exo_core::model_ops::AdamWUpdate;
use exo_core::model_ops::adamw::{adamw_update_composite, adamw_update_slices};
use exo_core::{DType, ModelOps, TensorOps};
use exo_tch::{LibTorch, TchTensor};
use proptest::prelude::*;

fn tensor(values: &[f64], dtype: DType) -> TchTensor {
    match LibTorch::from_f64s(values, &[values.len()], dtype, &tch::Device::Cpu) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn values(t: &TchTensor) -> Vec<f64> {
    match LibTorch::to_f64s(t) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Within `rel` of each other, relatively (and absolutely near zero).
fn close(got: &[f64], want: &[f64], rel: f64) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(a, b)| (a - b).abs() <= rel * (1.0 + a.abs().max(b.abs())))
}

fn update(beta2: f64, step: u64, lr: f64, decay: Option<f64>) -> AdamWUpdate {
    AdamWUpdate::at_step((0.9, beta2), 1e-8, step, lr, decay)
}

/// `adamw_update_slices` on host copies of `(θ, m, v, g)`, in `F`, as f64 values.
fn kernel<F: num_traits::Float + Send + Sync>(cols: [&[f64]; 4], u: &AdamWUpdate) -> [Vec<f64>; 3] {
    let cast = |c: &[f64]| -> Vec<F> {
        c.iter()
            .map(|&x| F::from(x).unwrap_or_else(F::nan))
            .collect()
    };
    let (mut t, mut m, mut v) = (cast(cols[0]), cast(cols[1]), cast(cols[2]));
    if let Err(e) = adamw_update_slices(&mut t, &mut m, &mut v, &cast(cols[3]), u, 3) {
        panic!("{e}");
    }
    [t, m, v].map(|c| c.iter().map(|x| x.to_f64().unwrap_or(f64::NAN)).collect())
}

/// Runs both on fresh copies of `cols` laid out by `make`, and checks what the module doc says.
fn check(
    cols: [&[f64]; 4],
    u: &AdamWUpdate,
    dtype: DType,
    make: impl Fn(TchTensor) -> TchTensor,
    on_host: bool,
) {
    let fresh = || {
        (
            make(tensor(cols[0], dtype)),
            make(tensor(cols[1], dtype)),
            make(tensor(cols[2], dtype)),
        )
    };
    let g = make(tensor(cols[3], dtype));
    let (t0, m0, v0) = fresh();
    let want = adamw_update_composite::<LibTorch>(t0, m0, v0, &g, u);
    let (t1, m1, v1) = fresh();
    let at = (t1.0.data_ptr(), m1.0.data_ptr(), v1.0.data_ptr());
    let got = LibTorch::adamw_update(t1, m1, v1, &g, u);
    let (Ok(want), Ok(got)) = (want, got) else {
        panic!("an update failed");
    };
    assert_eq!(
        (got.0.0.data_ptr(), got.1.0.data_ptr(), got.2.0.data_ptr()),
        at,
        "in place"
    );
    let (got, want) = (
        [&got.0, &got.1, &got.2].map(values),
        [&want.0, &want.1, &want.2].map(values),
    );
    assert_eq!(bits(&got[1]), bits(&want[1]), "m: the composite's bits");
    assert_eq!(bits(&got[2]), bits(&want[2]), "v: the composite's bits");
    if on_host {
        // A contiguous tensor: the host copies are in its storage order.
        let host = match dtype {
            DType::F64 => kernel::<f64>(cols, u),
            _ => kernel::<f32>(cols, u),
        };
        for (g, h) in got.iter().zip(&host) {
            assert_eq!(bits(g), bits(h), "the kernel's bits");
        }
        let rel = if dtype == DType::F64 { 1e-13 } else { 1e-6 };
        assert!(
            close(&got[0], &want[0], rel),
            "θ: the composite's to the square root's last bit"
        );
    } else {
        assert_eq!(bits(&got[0]), bits(&want[0]), "θ: the composite's bits");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn in_place_is_the_kernel_and_the_composite(
        rows in prop::collection::vec((-3.0..3.0f64, -1.0..1.0f64, 0.0..2.0f64, -5.0..5.0f64), 1..40),
        step in 1..50u64,
        lr in 1e-6..1e-1f64,
        decay in prop::option::of(0.0..0.1f64),
        wide in any::<bool>(),
    ) {
        let column = |i: usize| -> Vec<f64> { rows.iter().map(|r| [r.0, r.1, r.2, r.3][i]).collect() };
        let cols = [column(0), column(1), column(2), column(3)];
        let dtype = if wide { DType::F64 } else { DType::F32 };
        let u = update(0.95, step, lr, decay);
        check([&cols[0], &cols[1], &cols[2], &cols[3]], &u, dtype, |t| t, true);
    }
}

/// Long enough for the host pass to split over threads; and a transposed (non-contiguous)
/// weight, which libtorch's in-place ops update.
#[test]
fn long_and_strided_weights() {
    let u = update(0.999, 3, 3e-4, Some(0.01));
    let mut s: u64 = 7;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f64) / ((1u64 << 23) as f64) - 1.0
    };
    for (rows, cols, transposed) in [(700i64, 1001i64, false), (300, 257, true)] {
        let n = usize::try_from(rows * cols).unwrap_or(0);
        let mut col = |abs: bool| -> Vec<f64> {
            (0..n)
                .map(|_| if abs { next().abs() } else { next() })
                .collect()
        };
        let data = [col(false), col(false), col(true), col(false)];
        // Transposed: the tensor [cols, rows] read as its transpose [rows, cols].
        let make = |t: TchTensor| match t.0.f_reshape([
            if transposed { cols } else { rows },
            if transposed { rows } else { cols },
        ]) {
            Ok(r) if transposed => TchTensor(r.tr()),
            Ok(r) => TchTensor(r),
            Err(e) => panic!("{e}"),
        };
        check(
            [&data[0], &data[1], &data[2], &data[3]],
            &u,
            DType::F32,
            make,
            !transposed,
        );
    }
}
