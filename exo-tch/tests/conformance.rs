//! The whole exo-core property suite on libtorch: CPU in f64 and f32, and CUDA in f32 and f64
//! when libtorch sees a GPU (the cases are skipped otherwise; see `cuda_suite_runs_or_says_why_not`).

mod cpu_f64 {
    exo_core::autodiff_suite!(exo_tch::LibTorch, tch::Device::Cpu, exo_core::DType::F64);
}

mod cpu_f32 {
    exo_core::autodiff_suite!(exo_tch::LibTorch, tch::Device::Cpu, exo_core::DType::F32);
}

mod cuda_f32 {
    exo_core::autodiff_suite!(
        exo_tch::LibTorch,
        if_available = exo_tch::cuda_device(0),
        exo_core::DType::F32,
        cases = 64
    );
}

mod cuda_f64 {
    exo_core::autodiff_suite!(
        exo_tch::LibTorch,
        if_available = exo_tch::cuda_device(0),
        exo_core::DType::F64,
        cases = 64
    );
}

#[test]
fn cuda_suite_runs_or_says_why_not() {
    match exo_tch::cuda_device(0) {
        Some(device) => eprintln!("libtorch CUDA suite: running on {device:?}"),
        None if !tch::Cuda::is_available() => eprintln!(
            "libtorch CUDA suite: skipped, libtorch sees no GPU (CPU-only machine, or built without \
             EXO_TCH_CUDA=1 so libtorch_cuda.so is not loaded)"
        ),
        None => eprintln!("libtorch CUDA suite: skipped, no CUDA device 0"),
    }
}
