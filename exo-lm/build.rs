//! Link settings for the tests and examples of this crate (as in exo-tch's build script): an rpath
//! to `$LIBTORCH/lib`, so that binaries linking libtorch find it without `LD_LIBRARY_PATH`.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TCH").is_some()
        && let Ok(dir) = std::env::var("LIBTORCH")
    {
        println!("cargo:rustc-link-arg=-Wl,-rpath={dir}/lib");
    }
}
