//! The same objective on ndarray, candle and libtorch gives the same numbers (f64), and candle and
//! libtorch give the same gradients.

use exo_candle::Candle;
use exo_core::oracle::HostGroups;
use exo_core::{
    AnyObjective, Autodiff, Cpu, DType, Dpo, DpoRw, Exo, ExoPair, Groups, NdArray, Objective,
    TensorOps,
};
use exo_tch::LibTorch;

const TOL: f64 = 1e-12;

fn objectives() -> exo_core::Result<Vec<(AnyObjective, HostGroups)>> {
    let rewards = HostGroups::new(
        2,
        4,
        vec![0.5, -1.2, 2.0, 0.3, 4.0, -3.0, 0.0, 1.5],
        Some(vec![1.0, 0.2, -0.5, 2.5, -2.0, 0.0, 3.0, 1.0]),
    )?;
    let pairs = HostGroups::new(3, 2, vec![1.0, -0.5, 0.0, 0.0, -2.0, 3.0], None)?;
    Ok(vec![
        (AnyObjective::Exo(Exo::new(0.5, 0.1)?), rewards.clone()),
        (AnyObjective::DpoRw(DpoRw::new(0.5, 0.1)?), rewards),
        (
            AnyObjective::ExoPair(ExoPair::with_default_epsilon(0.1)?),
            pairs.clone(),
        ),
        (
            AnyObjective::ExoPair(ExoPair::official(0.5)?),
            pairs.clone(),
        ),
        (
            AnyObjective::Dpo(Dpo::with_label_smoothing(0.1, 0.1)?),
            pairs,
        ),
    ])
}

fn loss<B: TensorOps>(o: &AnyObjective, h: &HostGroups, dev: &B::Device) -> exo_core::Result<f64> {
    let out = o.forward(&Groups::<B>::from_host(h, DType::F64, dev)?)?;
    Ok(B::to_f64s(&out.loss)?[0])
}

fn grad<B: Autodiff>(
    o: &AnyObjective,
    h: &HostGroups,
    dev: &B::Device,
) -> exo_core::Result<Vec<f64>> {
    let dims = [h.batch(), h.k()];
    let f = B::require_grad(&B::from_f64s(h.log_ratios(), &dims, DType::F64, dev)?)?;
    let r = h
        .rewards()
        .map(|r| B::from_f64s(r, &dims, DType::F64, dev))
        .transpose()?;
    let out = o.forward(&Groups::<B>::new(f.clone(), r)?)?;
    B::to_f64s(&B::grad(&out.loss, &[&f])?[0])
}

#[test]
fn ndarray_candle_and_libtorch_agree_on_every_objective() -> exo_core::Result<()> {
    for (objective, host) in objectives()? {
        let reference = loss::<NdArray>(&objective, &host, &Cpu)?;
        let candle = loss::<Candle>(&objective, &host, &candle_core::Device::Cpu)?;
        let torch = loss::<LibTorch>(&objective, &host, &tch::Device::Cpu)?;
        assert!(
            (candle - reference).abs() < TOL,
            "{objective:?}: candle {candle} vs {reference}"
        );
        assert!(
            (torch - reference).abs() < TOL,
            "{objective:?}: libtorch {torch} vs {reference}"
        );
        let oracle = objective.oracle(&host)?;
        let g_candle = grad::<Candle>(&objective, &host, &candle_core::Device::Cpu)?;
        let g_torch = grad::<LibTorch>(&objective, &host, &tch::Device::Cpu)?;
        for ((a, b), c) in g_candle.iter().zip(&g_torch).zip(&oracle.grad) {
            assert!(
                (a - c).abs() < TOL && (b - c).abs() < TOL,
                "{objective:?}: {a} {b} {c}"
            );
        }
    }
    Ok(())
}

/// Every objective of the catalog on one batch with everything (rewards, log-probs, lengths), as
/// single objectives and as one mixture: the three backends agree on the loss, candle and libtorch
/// on the gradient with respect to the policy log-probs, and both with the oracle.
#[test]
fn ndarray_candle_and_libtorch_agree_on_the_whole_family() -> exo_core::Result<()> {
    use exo_core::{Mixture, ObjectiveConfig, ObjectiveKind, ObjectiveSpec};
    let host = HostGroups::from_logps(
        3,
        2,
        vec![-12.0, -15.5, -9.0, -11.2, -20.0, -18.0],
        vec![-12.5, -14.3, -11.0, -13.5, -19.0, -17.5],
        Some(vec![1.0, 0.0, 0.5, 2.0, -1.0, -3.0]),
    )?
    .with_lengths(vec![4.0, 5.0, 3.0, 7.0, 10.0, 8.0])?;
    let config = ObjectiveConfig::default()
        .with_beta(0.5)?
        .with_label_smoothing(0.1)?;
    let mut objectives: Vec<Mixture> = ObjectiveKind::ALL
        .iter()
        .map(|k| Ok(Mixture::single(k.build(&config)?)))
        .collect::<exo_core::Result<_>>()?;
    objectives.push(
        "exo:1.0,sft:0.2,aot:0.5,orpo:0.3"
            .parse::<ObjectiveSpec>()?
            .build(&config)?,
    );
    for objective in &objectives {
        let name = objective.name();
        let reference = family_loss::<NdArray>(objective, &host, &Cpu)?;
        let oracle = objective.oracle(&host)?;
        for (backend, (loss, grad)) in [
            (
                "candle",
                family_grad::<Candle>(objective, &host, &candle_core::Device::Cpu)?,
            ),
            (
                "libtorch",
                family_grad::<LibTorch>(objective, &host, &tch::Device::Cpu)?,
            ),
        ] {
            assert!(
                (loss - reference).abs() < TOL,
                "{name} {backend}: {loss} vs {reference}"
            );
            for (g, want) in grad.iter().zip(&oracle.grad) {
                assert!(
                    (g - want).abs() < TOL,
                    "{name} {backend}: grad {grad:?} vs {:?}",
                    oracle.grad
                );
            }
        }
    }
    Ok(())
}

fn family_loss<B: TensorOps>(
    o: &exo_core::Mixture,
    h: &HostGroups,
    dev: &B::Device,
) -> exo_core::Result<f64> {
    let out = o.forward(&Groups::<B>::from_host(h, DType::F64, dev)?)?;
    Ok(B::to_f64s(&out.loss)?[0])
}

/// The loss and its gradient with respect to the policy log-probs.
fn family_grad<B: Autodiff>(
    o: &exo_core::Mixture,
    h: &HostGroups,
    dev: &B::Device,
) -> exo_core::Result<(f64, Vec<f64>)> {
    let dims = [h.batch(), h.k()];
    let upload = |v: &[f64]| B::from_f64s(v, &dims, DType::F64, dev);
    let policy = B::require_grad(&upload(h.differentiable())?)?;
    let reference = h.reference_logps().map(upload).transpose()?;
    let rewards = h.rewards().map(upload).transpose()?;
    let lengths = h.lengths().map(upload).transpose()?;
    let mut groups = Groups::<B>::from_policy(policy.clone(), reference, rewards)?;
    if let Some(n) = lengths {
        groups = groups.with_lengths(&n)?;
    }
    let out = o.forward(&groups)?;
    let grad = B::to_f64s(&B::grad(&out.loss, &[&policy])?[0])?;
    Ok((B::to_f64s(&out.loss)?[0], grad))
}

/// The elementwise ops the family added (`expm1`, `log1p`, `relu`, `square`): candle runs
/// exo-core's default composites (`square` excepted), libtorch its fused kernels; both match
/// `f64::exp_m1`, `f64::ln_1p` to a few ulps, also at tiny arguments where `exp(x) − 1` and
/// `log(1 + x)` lose every digit, and have the exact gradients (to a few ulps of max(1, |∂|)).
#[test]
fn candle_and_libtorch_elementwise_ops_are_accurate() -> exo_core::Result<()> {
    elementwise::<Candle>(&candle_core::Device::Cpu)?;
    elementwise::<LibTorch>(&tch::Device::Cpu)
}

/// Relative accuracy of the elementwise ops: a few ulps.
const ULPS: f64 = 8.0;

fn elementwise<B: Autodiff>(dev: &B::Device) -> exo_core::Result<()> {
    // Both sides of −log 2 (ORPO's branch point), of 0, and of Kahan's ranges (|x| < 1, 1/2).
    let xs = [
        -30.0, -1.5, -0.7, -0.69, -0.3, -1e-7, -1e-12, 0.0, 1e-12, 3e-9, 0.25, 0.6, 0.9, 2.0,
    ];
    for dtype in [DType::F64, DType::F32] {
        let rounded: Vec<f64> = xs.iter().map(|&x| dtype.round(x)).collect();
        let check = |name: &str,
                     y: &B::Tensor,
                     x: &B::Tensor,
                     value: fn(f64) -> f64,
                     slope: fn(f64) -> f64| {
            accurate::<B>(name, dtype, &rounded, (y, x), (value, slope))
        };
        let x = B::require_grad(&B::from_f64s(&rounded, &[xs.len()], dtype, dev)?)?;
        check("expm1", &B::expm1(&x)?, &x, f64::exp_m1, f64::exp)?;
        check(
            "relu",
            &B::relu(&x)?,
            &x,
            |x| x.max(0.0),
            |x| if x > 0.0 { 1.0 } else { 0.0 },
        )?;
        check("square", &B::square(&x)?, &x, |x| x * x, |x| 2.0 * x)?;
        // log1p(x) is defined for x > −1 only.
        let inside: Vec<f64> = rounded.iter().copied().filter(|&x| x > -1.0).collect();
        let x = B::require_grad(&B::from_f64s(&inside, &[inside.len()], dtype, dev)?)?;
        accurate::<B>(
            "log1p",
            dtype,
            &inside,
            (&B::log1p(&x)?, &x),
            (f64::ln_1p, |x| 1.0 / (1.0 + x)),
        )?;
    }
    Ok(())
}

/// A scalar function of one variable.
type Scalar = fn(f64) -> f64;

/// Checks `y = value(x)` to a few ulps and `∂Σy/∂x = slope(x)` to a few ulps of max(1, |slope|):
/// libtorch's expm1 backward is 1 + expm1(x), exact to an ulp of 1 rather than of eˣ ≪ 1.
fn accurate<B: Autodiff>(
    name: &str,
    dtype: DType,
    xs: &[f64],
    (y, x): (&B::Tensor, &B::Tensor),
    (value, slope): (Scalar, Scalar),
) -> exo_core::Result<()> {
    let got = B::to_f64s(y)?;
    let grad = B::to_f64s(&B::grad(&B::sum_all(y)?, &[x])?[0])?;
    let tol = ULPS * dtype.epsilon();
    for (i, &x) in xs.iter().enumerate() {
        let (want, want_grad) = (value(x), slope(x));
        assert!(
            (got[i] - want).abs() <= tol * want.abs(),
            "{} {name}({x:e}) in {dtype}: {} vs {want}",
            B::NAME,
            got[i]
        );
        assert!(
            (grad[i] - want_grad).abs() <= tol * want_grad.abs().max(1.0),
            "{} {name}'({x:e}) in {dtype}: {} vs {want_grad}",
            B::NAME,
            grad[i]
        );
    }
    Ok(())
}
