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

/// Four rows' canonical sums from their 8 lanes each, in registers:
/// `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))` per row (the order of
/// `nabla_ir::canonical::combine_lanes`), the lower lane always the left operand.
///
/// # Safety
/// AVX-512F must be there.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn canonical_sums4_f64(acc: [std::arch::x86_64::__m512d; 4]) -> [f64; 4] {
    use std::arch::x86_64::*;
    // Adjacent lanes first: rows a and b interleave into
    // [a01 b01 a23 b23 a45 b45 a67 b67], c and d likewise.
    let ab = _mm512_add_pd(
        _mm512_unpacklo_pd(acc[0], acc[1]),
        _mm512_unpackhi_pd(acc[0], acc[1]),
    );
    let cd = _mm512_add_pd(
        _mm512_unpacklo_pd(acc[2], acc[3]),
        _mm512_unpackhi_pd(acc[2], acc[3]),
    );
    // Then pairs of those, 128-bit pieces apart: [a0123 b0123 a4567 b4567 c0123 ..].
    let quads = _mm512_add_pd(
        _mm512_shuffle_f64x2::<0b10_00_10_00>(ab, cd),
        _mm512_shuffle_f64x2::<0b11_01_11_01>(ab, cd),
    );
    // Then the halves: [a b c d] in the low four lanes.
    let sums = _mm512_add_pd(
        _mm512_shuffle_f64x2::<0b10_00_10_00>(quads, quads),
        _mm512_shuffle_f64x2::<0b11_01_11_01>(quads, quads),
    );
    let mut out = [0.0; 4];
    // SAFETY: 4 lanes stored into a 4-element array.
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), _mm512_castpd512_pd256(sums)) };
    out
}
