//! Resident memory of this process from `/proc/self/status` (Linux): the current resident set
//! (`VmRSS`) and its high-water mark (`VmHWM`), which `/proc/self/clear_refs` resets.
//!
//! This sees every allocation (libtorch's allocator as well as Rust's), which is why each
//! measurement runs in a fresh process.

use anyhow::{Context, bail};

/// Resident memory in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak since start or the last [`reset_peak`].
    pub peak_kib: u64,
}

/// Parses the `VmRSS` and `VmHWM` lines of a `/proc/<pid>/status` text.
///
/// # Errors
/// If either line is missing or malformed.
pub fn parse_status(text: &str) -> anyhow::Result<Resident> {
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/self/status"))?;
        let value = line[name.len()..].trim().trim_end_matches("kB").trim();
        value
            .parse()
            .with_context(|| format!("malformed {name} line: {line:?}"))
    };
    Ok(Resident {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// This process's resident memory now.
///
/// # Errors
/// If `/proc/self/status` cannot be read (not Linux).
pub fn resident() -> anyhow::Result<Resident> {
    parse_status(&std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?)
}

/// Resets `VmHWM` to the current `VmRSS` (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0), so that
/// the next peak is that of what follows.
///
/// # Errors
/// If the kernel refuses (the peak then still includes the setup).
pub fn reset_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")?;
    let now = resident()?;
    if now.peak_kib > now.rss_kib + 1024 {
        bail!(
            "VmHWM was not reset ({} KiB > {} KiB resident)",
            now.peak_kib,
            now.rss_kib
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() -> anyhow::Result<()> {
        let text = "Name:\tx\nVmHWM:\t  123456 kB\nVmRSS:\t   2048 kB\nThreads:\t1\n";
        assert_eq!(
            parse_status(text)?,
            Resident {
                rss_kib: 2048,
                peak_kib: 123_456
            }
        );
        assert!(parse_status("VmRSS: 1 kB\n").is_err());
        Ok(())
    }
}
