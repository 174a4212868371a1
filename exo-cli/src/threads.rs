//! `--threads N`: candle sizes its thread pools from `CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS`
//! and libtorch from `OMP_NUM_THREADS`, read once when the process starts, and setting
//! environment variables in a running process is `unsafe`. So when they do not already say `N`,
//! exo replaces itself (`exec`, same process id) with a copy whose environment does.

use std::ffi::OsString;

/// The variables that size the thread pools.
const VARS: [&str; 3] = ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"];

/// Set on the re-executed process, so that it never re-executes again.
const MARKER: &str = "EXO_THREADS_APPLIED";

/// Makes the thread-pool variables say `threads` (0: leave them alone), re-executing the process
/// with `args` if needed. Returns only when nothing needs to change or re-executing failed (the
/// run then goes on with the libraries' defaults, slower but correct).
pub fn apply(threads: usize, args: &[OsString]) {
    if threads == 0 || std::env::var_os(MARKER).is_some() {
        return;
    }
    let want = threads.to_string();
    if VARS
        .iter()
        .all(|v| std::env::var(v).is_ok_and(|x| x == want))
    {
        return;
    }
    reexec(&want, args);
}

#[cfg(unix)]
fn reexec(want: &str, args: &[OsString]) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command.args(args.iter().skip(1)).env(MARKER, want);
    for v in VARS {
        command.env(v, want);
    }
    // glibc: keep freed memory instead of returning it to the OS after every step (fewer page
    // faults; see exo-lm's README), unless the user chose otherwise.
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env(
            "GLIBC_TUNABLES",
            "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824",
        );
    }
    // Only returns on failure.
    let _ = command.exec();
}

#[cfg(not(unix))]
fn reexec(_: &str, _: &[OsString]) {}
