//! One run per output folder: a training command holds an exclusive advisory lock on
//! `OUT/.exo.lock` (`flock`, through [`std::fs::File::try_lock`]) from its start to its end, and
//! a second run into the same folder is refused at once with a line naming the holder (its PID
//! and host, which the holder writes into the file). The lock goes with the process: a killed
//! run leaves the file but no lock.
//!
//! Only rank 0 of a data-parallel world locks (it alone writes); the others wait for it at the
//! trainer's first barrier, and if it is refused the world stops with its error.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};

/// The name of the lock file in an output folder.
pub const LOCK_FILE: &str = ".exo.lock";

/// The folders (canonical paths) whose lock this process holds: a command locks its `--out`
/// early, and the training loop it calls finds the lock already held.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The lock of an output folder, held until dropped.
#[derive(Debug)]
pub struct OutLock {
    /// The open lock file (closing it releases the lock).
    _file: File,
    /// The folder, canonical.
    dir: PathBuf,
}

impl Drop for OutLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|d| d != &self.dir);
    }
}

/// Locks the output folder `out` for this run (created if missing), unless this process holds
/// its lock already or is not rank 0 (then `None`: nothing to hold).
///
/// # Errors
/// If another process holds the lock (the message names its PID and host), or the folder or the
/// lock file cannot be created.
pub fn lock_out(out: &Path) -> anyhow::Result<Option<OutLock>> {
    if !super::dist::world().is_root() {
        return Ok(None);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let dir = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    if held.contains(&dir) {
        return Ok(None);
    }
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => bail!(
            "--out {} is in use by another exo run ({}); wait for it or choose another --out",
            out.display(),
            holder(&path)
        ),
        Err(TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
    }
    let me = format!("pid {} on host {}", std::process::id(), host_name());
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{me}\n").as_bytes()))
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    held.push(dir.clone());
    Ok(Some(OutLock { _file: file, dir }))
}

/// Who holds the lock of `path`, as its holder wrote it ("pid 1234 on host h"). The holder
/// writes it right after locking: an empty file is read again for up to a second.
fn holder(path: &Path) -> String {
    for _ in 0..20 {
        if let Ok(text) = std::fs::read_to_string(path) {
            let text = text.trim();
            if !text.is_empty() {
                return text.to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    "a process that has not written its PID yet".to_owned()
}

/// This machine's name (Linux's `/proc/sys/kernel/hostname`, else `$HOSTNAME`), or "unknown".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_held_folder_is_refused_with_the_holders_pid_and_freed_on_drop() {
        let dir = tempfile_dir("held");
        let first = lock_out(&dir).expect("locks").expect("a new lock");
        // The same process: already held, nothing more to hold.
        assert!(lock_out(&dir).expect("held here").is_none());
        // Another open file description conflicts, as another process would.
        let other = File::open(dir.join(LOCK_FILE)).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        let text = holder(&dir.join(LOCK_FILE));
        assert!(
            text.starts_with(&format!("pid {} on host ", std::process::id())),
            "{text}"
        );
        drop(first);
        other.try_lock().expect("free once dropped");
        drop(other);
        assert!(lock_out(&dir).expect("locks again").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("exo-out-lock-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
