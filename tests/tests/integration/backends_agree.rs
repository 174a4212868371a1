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
