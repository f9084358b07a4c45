//! Which of the host's vector extensions the Rust-side vector loops (cipher runs, row
//! folds, dot products) use, and the one switch tests hold them to AVX2 with.

use std::sync::atomic::{AtomicBool, Ordering};

#[doc(hidden)]
/// Holds the Rust-side vector loops to AVX2 (or scalar code) even where AVX-512 is
/// there, so tests reach every path on a host that has them all. The bits never
/// depend on it, only the speed.
pub static FORCE_NARROW: AtomicBool = AtomicBool::new(false);

/// Serialises the unit tests that flip [`FORCE_NARROW`], so each runs the paths it
/// asks for.
#[cfg(test)]
pub(crate) static NARROW_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether the host has AVX2.
pub(crate) fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the host has AVX-512F and the loops may use it.
pub(crate) fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !FORCE_NARROW.load(Ordering::Relaxed) && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
