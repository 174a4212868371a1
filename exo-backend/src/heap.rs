//! The process heap (glibc's malloc), which both backends allocate their CPU tensors from:
//! libtorch's CPU allocator does not cache freed blocks, and candle's storage is a `Vec`.
//!
//! A training step allocates and frees tens of GB of activations. glibc either keeps freed
//! memory for reuse ([`glibc_tunables`] with `keep`: fewer page faults, faster steps) or gives
//! every block over 128 KiB back to the system when it is freed (a peak close to the live
//! tensors, slower steps). Kept memory is fragmented: the forward pass's transients leave holes
//! among the activations it keeps for the backward pass, and those pages stay resident while
//! the backward pass reaches the step's peak. [`return_free_pages`] between the two passes gives
//! the holes' pages back (they are refaulted only where the backward pass reuses them), for the
//! steps large enough for it to pay ([`worth_trimming`]).

/// The `GLIBC_TUNABLES` of a process that keeps freed memory for reuse (`keep`: blocks under
/// 256 MiB come from the heap, which is trimmed only when 1 GiB is free at its top) or returns
/// it (blocks over 128 KiB are mapped on their own and unmapped when freed). Naming a tunable
/// also stops glibc from raising its mmap threshold as it goes, which would keep freed tensors
/// in the heap.
pub fn glibc_tunables(keep: bool) -> &'static str {
    if keep {
        "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824"
    } else {
        "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072"
    }
}

/// Whether a training step that keeps `activation_bytes` of activations for its backward pass
/// (the start-of-run estimate) should [`return_free_pages`] between its passes: from 256 MiB.
/// A small model's holes are small, and the trim and the refaults of what it returns cost more
/// than they save (20% of the tiny `exo demo`'s SFT time, trimmed at every step).
pub fn worth_trimming(activation_bytes: u64) -> bool {
    activation_bytes >= 256 << 20
}

/// Gives the pages of the heap's free chunks back to the system (`malloc_trim(0)`: the free
/// top, and `MADV_DONTNEED` on whole free pages inside the heap); the chunks stay free for
/// reuse. Returns whether any memory was released; a no-op returning `false` off glibc.
pub fn return_free_pages() -> bool {
    trim()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own free lists, under the
    // arenas' locks.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_pages_go_back_and_the_heap_still_serves() {
        // 64 MiB in 64 KiB blocks (under glibc's default mmap threshold: from the heap), all but
        // every 64th freed, then a trim.
        let blocks: Vec<Vec<u8>> = (0..1024)
            .map(|i| vec![u8::try_from(i % 251).unwrap_or(0); 64 << 10])
            .collect();
        let kept = blocks.iter().step_by(64).cloned().collect::<Vec<_>>();
        drop(blocks);
        let released = return_free_pages();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(released, "no page returned");
        }
        let again = vec![7u8; 1 << 20];
        assert_eq!(again[12345], 7);
        assert_eq!(kept[3][100], 192);
    }
}
