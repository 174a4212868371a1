//! The forward suite on the ndarray reference backend, in f64 and f32.

mod f64 {
    exo_core::forward_suite!(exo_core::NdArray, exo_core::Cpu, exo_core::DType::F64);
}

mod f32 {
    exo_core::forward_suite!(exo_core::NdArray, exo_core::Cpu, exo_core::DType::F32);
}
