//! The buffer pool: a global allocator that keeps freed large blocks (array buffers)
//! for the next allocation of the same size, maps fresh ones aligned to huge pages with
//! `MADV_HUGEPAGE`, and hands everything small to the system allocator.
//!
//! A function called in a loop frees its output and temporaries and asks for blocks of
//! exactly the same sizes on the next call; the system allocator returns blocks that
//! large to the kernel (`munmap`) and maps fresh, zeroed pages on the next call, so every
//! call pays a page fault per 4 KiB — about as long as the arithmetic itself for a
//! streaming kernel. Recycling the block skips the faults, the kernel's zeroing and the
//! TLB misses. Why not a general-purpose allocator crate: they either return huge
//! blocks to the kernel as the system allocator does or keep them behind a time-based
//! purge, and none gives exact-size recycling with a hard cap on idle bytes.
//!
//! The idle blocks are bounded ([`MAX_IDLE_BYTES`], [`SLOTS`] blocks); a block that
//! does not fit is unmapped at once.
//!
//! Smaller blocks (a row pass's per-row values, a reduction's partial sums) stay with the
//! system allocator, but with glibc's defaults it too hands them back and faults them in
//! again every call: it trims the heap's top once more than 128 KiB there is free, and
//! maps blocks over 128 KiB on their own. So on first use the pool raises both
//! thresholds (see [`SYSTEM_TRIM_THRESHOLD`]). This crate is the only place outside the backends'
//! JIT and GPU modules with `unsafe` code: it is an allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blocks at least this large come from the pool; smaller ones from the system.
pub const LARGE: usize = 1 << 20;
/// The huge page size blocks are aligned to (x86-64 and aarch64 with 4 KiB pages).
const HUGE_PAGE: usize = 2 << 20;
/// Blocks below this size are rounded to 64 KiB, above it to whole huge pages.
const ROUND_TO_HUGE: usize = 8 << 20;
/// At most this many idle blocks are kept.
pub const SLOTS: usize = 32;
/// At most this many idle bytes are kept.
pub const MAX_IDLE_BYTES: usize = 2 << 30;
/// Free bytes the system allocator may keep at its heap's top before returning them.
/// W7's row pass frees about 0.5 MB of blocks under 1 MiB per call; with glibc's
/// 128 KiB default it faulted about 60 pages back in per call (11 % of the call).
pub const SYSTEM_TRIM_THRESHOLD: usize = 64 << 20;

/// The allocator. Install it in a program with
/// `#[global_allocator] static ALLOC: nabla_alloc::PoolAlloc = nabla_alloc::PoolAlloc;`.
pub struct PoolAlloc;

/// Counters since the program started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Large blocks mapped fresh from the kernel.
    pub mapped: usize,
    /// Large allocations served by an idle block.
    pub reused: usize,
    /// Large blocks returned to the kernel (the pool was full).
    pub unmapped: usize,
    /// Bytes in idle blocks now.
    pub idle_bytes: usize,
}

static MAPPED: AtomicUsize = AtomicUsize::new(0);
static SYSTEM_TUNED: AtomicBool = AtomicBool::new(false);
static REUSED: AtomicUsize = AtomicUsize::new(0);
static UNMAPPED: AtomicUsize = AtomicUsize::new(0);

/// Idle blocks: `(address, mapped length)`, most recently freed last.
struct Idle {
    blocks: [(usize, usize); SLOTS],
    len: usize,
    bytes: usize,
}

static IDLE: Mutex<Idle> = Mutex::new(Idle {
    blocks: [(0, 0); SLOTS],
    len: 0,
    bytes: 0,
});

fn idle() -> std::sync::MutexGuard<'static, Idle> {
    // Nothing panics while the lock is held, and the table is consistent between
    // statements anyway, so a poisoned lock is still a valid table.
    IDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PoolAlloc {
    /// The counters (for benchmarks and tests).
    pub fn stats() -> Stats {
        Stats {
            mapped: MAPPED.load(Ordering::Relaxed),
            reused: REUSED.load(Ordering::Relaxed),
            unmapped: UNMAPPED.load(Ordering::Relaxed),
            idle_bytes: idle().bytes,
        }
    }

    /// Returns every idle block to the kernel.
    pub fn release_idle() {
        let mut idle = idle();
        let n = idle.len;
        for i in 0..n {
            let (addr, len) = idle.blocks[i];
            unmap(addr, len);
        }
        idle.len = 0;
        idle.bytes = 0;
    }
}

/// Keeps the system allocator's freed blocks in its heap (glibc; elsewhere nothing to
/// do): everything under [`LARGE`] comes from the heap, never a mapping of its own, and
/// up to [`SYSTEM_TRIM_THRESHOLD`] free bytes stay at the top. Runs once, on the pool's
/// first request; a second thread racing it only repeats the same settings.
#[inline]
fn tune_system_heap() {
    if SYSTEM_TUNED.load(Ordering::Relaxed) {
        return;
    }
    SYSTEM_TUNED.store(true, Ordering::Relaxed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let as_int = |v: usize| libc::c_int::try_from(v).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only changes glibc's own parameters (it takes the arena
        // lock) and allocates nothing through this allocator.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, as_int(LARGE));
            libc::mallopt(libc::M_TRIM_THRESHOLD, as_int(SYSTEM_TRIM_THRESHOLD));
        }
    }
}

/// Whether a request is the pool's: large, and aligned no more than a huge page.
fn pooled(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= HUGE_PAGE
}

/// The mapped length of a block for `size` bytes: the same for every request of one
/// size, so a freed block serves the next request of that size exactly.
fn block_len(size: usize) -> Option<usize> {
    let unit = if size >= ROUND_TO_HUGE {
        HUGE_PAGE
    } else {
        64 << 10
    };
    size.checked_next_multiple_of(unit)
}

/// Takes an idle block of exactly `len` bytes, the most recently freed first (its pages
/// are the likeliest to be in cache).
fn take_idle(len: usize) -> Option<usize> {
    let mut idle = idle();
    let n = idle.len;
    let i = (0..n).rev().find(|&i| idle.blocks[i].1 == len)?;
    let (addr, _) = idle.blocks[i];
    idle.blocks.copy_within(i + 1..n, i);
    idle.len -= 1;
    idle.bytes -= len;
    Some(addr)
}

/// Keeps a freed block if there is room; otherwise it goes back to the kernel.
fn give_idle(addr: usize, len: usize) {
    {
        let mut idle = idle();
        if idle.len < SLOTS && idle.bytes + len <= MAX_IDLE_BYTES {
            let n = idle.len;
            idle.blocks[n] = (addr, len);
            idle.len += 1;
            idle.bytes += len;
            return;
        }
    }
    unmap(addr, len);
}

/// Maps `len` fresh zeroed bytes aligned to a huge page, advised to use huge pages.
fn map(len: usize) -> *mut u8 {
    let Some(span) = len.checked_add(HUGE_PAGE) else {
        return null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing
    // touches no existing memory.
    let base = unsafe {
        libc::mmap(
            null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return null_mut();
    }
    let base = base as usize;
    let start = base.next_multiple_of(HUGE_PAGE);
    let (head, tail) = (start - base, base + span - (start + len));
    // SAFETY: the head and tail are whole pages (`len`, `HUGE_PAGE` and the mapping are
    // page multiples) of the mapping just made, outside the block handed out.
    unsafe {
        if head > 0 {
            libc::munmap(base as *mut libc::c_void, head);
        }
        if tail > 0 {
            libc::munmap((start + len) as *mut libc::c_void, tail);
        }
        // Advice only: where huge pages are unavailable the block still works.
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    MAPPED.fetch_add(1, Ordering::Relaxed);
    start as *mut u8
}

fn unmap(addr: usize, len: usize) {
    // SAFETY: `addr..addr + len` is a block this allocator mapped and nothing uses any
    // more (it was freed, or is being evicted from the idle table).
    unsafe {
        libc::munmap(addr as *mut libc::c_void, len);
    }
    UNMAPPED.fetch_add(1, Ordering::Relaxed);
}

fn alloc_large(size: usize, zeroed: bool) -> *mut u8 {
    let Some(len) = block_len(size) else {
        return null_mut();
    };
    match take_idle(len) {
        Some(addr) => {
            REUSED.fetch_add(1, Ordering::Relaxed);
            if zeroed {
                // SAFETY: the block is `len >= size` bytes, mapped and now owned by
                // this request alone.
                unsafe { std::ptr::write_bytes(addr as *mut u8, 0, size) };
            }
            addr as *mut u8
        }
        // Fresh mappings are zero already.
        None => map(len),
    }
}

// SAFETY: large blocks are whole private mappings handed to one owner at a time (the
// idle table is behind a mutex) and aligned to `HUGE_PAGE`, which `pooled` checks covers
// the layout; everything else is the system allocator's.
unsafe impl GlobalAlloc for PoolAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tune_system_heap();
        if pooled(&layout) {
            alloc_large(layout.size(), false)
        } else {
            // SAFETY: forwarded with the caller's layout (non-zero size per contract).
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        tune_system_heap();
        if pooled(&layout) {
            alloc_large(layout.size(), true)
        } else {
            // SAFETY: as `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if pooled(&layout) {
            // A size with no block length could not have been allocated.
            if let Some(len) = block_len(layout.size()) {
                give_idle(ptr as usize, len);
            }
        } else {
            // SAFETY: `ptr` came from `System` with this layout (small layouts always do).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (whole block): the caller guarantees `ptr` is live with `layout` and
        // `new_size` is non-zero and does not overflow when rounded to the alignment.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            match (pooled(&layout), pooled(&new_layout)) {
                (false, false) => System.realloc(ptr, layout, new_size),
                (true, true) if block_len(layout.size()) == block_len(new_size) => ptr,
                _ => {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lengths_are_per_size_and_cover_the_request() {
        for size in [
            LARGE,
            LARGE + 1,
            3 << 20,
            ROUND_TO_HUGE - 1,
            ROUND_TO_HUGE,
            80_000_000,
        ] {
            let len = block_len(size).unwrap();
            assert!(len >= size && len - size < HUGE_PAGE, "{size} -> {len}");
            assert_eq!(len % 4096, 0);
        }
        assert_eq!(block_len(usize::MAX), None);
    }
}
