//! The whole exo-core property suite on candle: CPU in f64 and f32, and CUDA when built with the
//! `cuda` feature and a GPU is present.

mod cpu_f64 {
    exo_core::autodiff_suite!(
        exo_candle::Candle,
        candle_core::Device::Cpu,
        exo_core::DType::F64
    );
}

mod cpu_f32 {
    exo_core::autodiff_suite!(
        exo_candle::Candle,
        candle_core::Device::Cpu,
        exo_core::DType::F32
    );
}

#[cfg(feature = "cuda")]
mod cuda_f32 {
    exo_core::autodiff_suite!(
        exo_candle::Candle,
        if_available = exo_candle::cuda_device(0),
        exo_core::DType::F32,
        cases = 32
    );
}

#[cfg(feature = "cuda")]
mod cuda_f64 {
    exo_core::autodiff_suite!(
        exo_candle::Candle,
        if_available = exo_candle::cuda_device(0),
        exo_core::DType::F64,
        cases = 32
    );
}

#[test]
fn cuda_suite_runs_or_says_why_not() {
    if cfg!(feature = "cuda") {
        match exo_candle::cuda_device(0) {
            Some(_) => eprintln!("candle CUDA suite: running on cuda:0"),
            None => eprintln!("candle CUDA suite: skipped, no CUDA device 0 visible to candle"),
        }
    } else {
        eprintln!("candle CUDA suite: skipped, built without the `cuda` feature");
    }
}
