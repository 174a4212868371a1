//! Link settings for the `exo` binary and its tests (libtorch through exo-tch).
//!
//! * An rpath to `$LIBTORCH/lib`, so test binaries find libtorch without `LD_LIBRARY_PATH`.
//! * `EXO_TCH_CUDA=1`: also link `-Wl,--no-as-needed -ltorch` so that `libtorch_cuda.so` is
//!   loaded and libtorch sees the GPU (tch-rs issues #907 and #980). Only for CUDA builds: on a
//!   CPU-only libtorch install the extra NEEDED entry pulls in CUDA libraries that are absent.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=EXO_TCH_CUDA");
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    if let Ok(dir) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath={dir}/lib");
    }
    if std::env::var("EXO_TCH_CUDA").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
