//! Loading `libcuda` and `libnccl` through cudarc, which reports a library or symbol it cannot
//! load by panicking: [`guarded`] turns that panic into [`Error::Collective`], silently.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use cudarc::driver::CudaContext;
#[cfg(doc)]
use exo_core::Error;
use exo_core::Result;

use crate::err;

/// The text of a caught panic.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

thread_local! {
    /// Whether this thread is inside [`guarded`], whose panics are errors, not news.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once per process) a panic hook that is silent for the panics [`guarded`] catches
/// and hands every other panic to the hook that was there before.
fn quiet_guarded_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic (cudarc's way of reporting a shared library it cannot load or a
/// symbol missing from it) into [`Error::Collective`] for `op`, which names `what` was loaded.
pub(crate) fn guarded<R>(op: &'static str, what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    quiet_guarded_panics();
    let outer = GUARDED.with(|g| g.replace(true));
    let caught = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    match caught {
        Ok(r) => r,
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            let message = if text.contains("load the \"nccl\" shared library") {
                "no NCCL library: cudarc could not load libnccl.so from the loader's path (on a \
                 PyTorch host, link libnccl.so to site-packages/nvidia/nccl/lib/libnccl.so.2 \
                 and put the link's folder on LD_LIBRARY_PATH)"
                    .to_string()
            } else if text.contains("load the \"cuda\" shared library") {
                "no CUDA driver: cudarc could not load libcuda.so or libcuda.so.1 from the \
                 loader's path (is the NVIDIA driver installed, its library on \
                 LD_LIBRARY_PATH?)"
                    .to_string()
            } else {
                format!("a panic in cudarc or exo-nccl: {text}")
            };
            Err(err(op, format!("{message}, while {what}")))
        }
    }
}

/// The number of CUDA devices the driver sees.
///
/// # Errors
/// [`Error::Collective`] (op `init`) if the CUDA driver library cannot be loaded or fails to
/// initialise (for instance `CUDA_ERROR_NO_DEVICE` on a host without a GPU).
pub fn device_count() -> Result<usize> {
    guarded("init", "counting CUDA devices", || {
        let n = CudaContext::device_count()
            .map_err(|e| err("init", format!("no CUDA device: the CUDA driver says {e}")))?;
        Ok(usize::try_from(n).unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_panic_becomes_an_error_naming_it() {
        let nccl = guarded::<()>("init", "loading", || {
            panic!("Unable to dynamically load the \"nccl\" shared library - searched for ...")
        });
        let message = nccl.unwrap_err().to_string();
        assert!(
            message.starts_with("collective init: no NCCL library"),
            "{message}"
        );
        assert!(message.contains("LD_LIBRARY_PATH"), "{message}");

        let cuda = guarded::<()>("barrier", "loading", || {
            panic!(
                "{}",
                String::from("Unable to dynamically load the \"cuda\" shared library")
            )
        });
        let message = cuda.unwrap_err().to_string();
        assert!(
            message.starts_with("collective barrier: no CUDA driver"),
            "{message}"
        );

        assert_eq!(guarded("init", "nothing", || Ok(3)).unwrap(), 3);
    }
}
