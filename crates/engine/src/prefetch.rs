//! Software prefetch: start loading a cache line that a read needs soon,
//! without waiting for it, so that the misses of many reads overlap
//! (batched point reads, [`crate::read_batch`]).

/// Asks the CPU to bring the cache line holding `b` into cache. A hint: it
/// never faults, changes no memory and does not wait for the line. On
/// `x86_64` it is the `prefetcht0` instruction; elsewhere a plain load of
/// `b`, which waits for the line but is still correct.
#[inline(always)]
pub(crate) fn prefetch(b: &u8) {
    #[cfg(target_arch = "x86_64")]
    {
        #[expect(unsafe_code, reason = "UNSAFE.md §10: prefetch hint")]
        // SAFETY: `_mm_prefetch` only needs the `sse` target feature, which
        // every x86_64 CPU has; a prefetch never faults and has no effect
        // on memory, and the address is a live reference anyway.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(b).cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box(*b);
}

/// Prefetches the cache lines holding `bytes[at]` and `bytes[at + 64]`
/// (those that exist): the start of an entry of a few dozen bytes, which
/// may cross into the next line.
#[inline(always)]
pub(crate) fn prefetch_entry(bytes: &[u8], at: usize) {
    if let Some(b) = bytes.get(at) {
        prefetch(b);
    }
    if let Some(b) = bytes.get(at + 64) {
        prefetch(b);
    }
}
