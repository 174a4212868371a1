//! Link settings for the benchmark binaries (as in exo-tch's build script): an rpath to
//! `$LIBTORCH/lib`, so that they find libtorch without `LD_LIBRARY_PATH`; with `EXO_TCH_CUDA=1`,
//! `libtorch_cuda.so` is linked too so that libtorch sees the GPU (scripts/bench-gpu.sh).

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=EXO_TCH_CUDA");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath={dir}/lib");
    }
    if std::env::var("EXO_TCH_CUDA").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
