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

/// The activations a training step keeps between two [`return_free_pages`]: 256 MiB.
const TRIM_BYTES: u64 = 256 << 20;

/// Whether a training step that keeps `activation_bytes` of activations for its backward pass
/// (the start-of-run estimate) should [`return_free_pages`] between its passes: from 256 MiB.
/// A small model's holes are small, and the trim and the refaults of what it returns cost more
/// than they save (20% of the tiny `exo demo`'s SFT time, trimmed at every step).
pub fn worth_trimming(activation_bytes: u64) -> bool {
    activation_bytes >= TRIM_BYTES
}

/// Every how many decoder layers a training step's forward pass should also
/// [`return_free_pages`] (`exo_lm::LayerHook`): one trim per 256 MiB of kept activations, in
/// a step [`worth_trimming`] whose backward pass adds gradients of under a quarter of its
/// activations' size (`gradient_bytes`: a LoRA run, whose frozen weights get none). There the
/// step's peak is the end of its forward pass, and the heap's free chunks then hold as much as
/// its live tensors: glibc places each new tensor in the free chunk that fits it best, wherever
/// that is, so the transients of one layer spread over pages another's left. Measured at the
/// Qwen2.5-0.5B shape (LoRA r = 16, bf16, 2 threads): 6.3 GB at the forward pass's end with
/// 3.4 GB in use; a trim every 2–4 layers took the peak to 4.9 GB at no measurable cost. A
/// full fine-tune peaks in its backward pass, after the trim between the passes: trims in its
/// forward pass saved nothing there and cost 10% of a step (`None`).
pub fn trim_every_layers(
    activation_bytes: u64,
    gradient_bytes: u64,
    layers: usize,
) -> Option<usize> {
    let forward_peak = gradient_bytes.saturating_mul(4) < activation_bytes;
    if !(worth_trimming(activation_bytes) && forward_peak) || layers == 0 {
        return None;
    }
    let per_layer = (activation_bytes / layers as u64).max(1);
    let every = TRIM_BYTES.div_ceil(per_layer);
    Some(usize::try_from(every).unwrap_or(layers).clamp(1, layers))
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
    fn forward_trims_only_where_the_gradients_are_small() {
        const MIB: u64 = 1 << 20;
        // LoRA at the Qwen2.5-0.5B shape: 2.35 GiB over 24 layers, 35 MB of adapter gradients.
        assert_eq!(trim_every_layers(2406 * MIB, 35 * MIB, 24), Some(3));
        // Its full fine-tune in f32 (1.84 GiB of gradients, 4.71 GiB of activations) and in bf16
        // (2.35 GiB of activations).
        assert_eq!(trim_every_layers(4823 * MIB, 1884 * MIB, 24), None);
        assert_eq!(trim_every_layers(2406 * MIB, 1884 * MIB, 24), None);
        // Too small to trim at all, and a layer over 256 MiB on its own.
        assert_eq!(trim_every_layers(200 * MIB, 0, 24), None);
        assert_eq!(trim_every_layers(4096 * MIB, 0, 4), Some(1));
        assert_eq!(trim_every_layers(4096 * MIB, 0, 0), None);
    }

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
