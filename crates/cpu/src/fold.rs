//! The canonical 8 lanes of sums over contiguous rows, for the simple terms (`x`,
//! `x²`, `c·x`, `(c·x)²`) that norms, energies and sums of squares reduce, in the
//! host's widest vectors: a compiled reduction over short rows calls
//! [`nabla_fold4_f64`] for four rows at a time instead of running its own 128-bit
//! loop row by row. A row's lanes are one chain of dependent adds (each lane sums its
//! elements in order), so one row alone waits on the adds' latency, in any width;
//! four rows in AVX-512 keep four chains in flight at a quarter of the instructions.
//!
//! The lanes are the canonical ones (`nabla_ir::canonical`): element `p` of the run
//! into lane `p mod 8`, each lane folding in order from +0, with the kernel's own
//! operations (a product, then the square as a product, then the add; Rust never
//! contracts them into fused multiply-adds). An 8-lane f64 AVX-512 vector is exactly
//! the 8 lanes; AVX2 keeps them in two vectors. So the lanes are bitwise the compiled
//! loop's, and the kernel combines them as usual.

use std::sync::atomic::{AtomicBool, Ordering};

use nabla_ir::canonical::{self, LANES};

use crate::simd;

/// The symbol compiled kernels call [`nabla_fold4_sums_f64`] by.
pub(crate) const SYMBOL4_F64: &str = "nabla_fold4_sums_f64";

/// Rows [`fold4_f64`] folds at once: one row's lanes are one chain of dependent adds
/// (each lane sums its elements in order), so a row alone waits on the adds'
/// latency; four rows keep four chains in flight.
pub const ROWS: usize = 4;

#[doc(hidden)]
/// Makes compiled reductions run their own loops instead of calling the folds, so
/// tests can check that both give the same bits.
pub static FORCE_INLINE: AtomicBool = AtomicBool::new(false);

/// What each element adds: `c` is a value the kernel computes once per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Term {
    /// `x`
    Plain = 0,
    /// `x · x`
    Square = 1,
    /// `c · x`
    Scaled = 2,
    /// `(c · x) · (c · x)`
    ScaledSquare = 3,
}

impl Term {
    fn from_code(code: u32) -> Term {
        match code {
            0 => Term::Plain,
            1 => Term::Square,
            2 => Term::Scaled,
            _ => Term::ScaledSquare,
        }
    }

    fn scaled(self) -> bool {
        matches!(self, Term::Scaled | Term::ScaledSquare)
    }

    fn squared(self) -> bool {
        matches!(self, Term::Square | Term::ScaledSquare)
    }
}

/// Whether compiled reductions call the folds: only with AVX-512, whose one vector
/// holds a row's 8 lanes (with AVX2 a fold is no faster than the kernel's loop).
pub(crate) fn pays() -> bool {
    !FORCE_INLINE.load(Ordering::Relaxed) && simd::avx512()
}

/// Folds elements `from..` of `x` into `lanes` one at a time.
fn scalar_f64(term: Term, c: f64, x: &[f64], from: usize, lanes: &mut [f64; LANES]) {
    for (p, &v) in x.iter().enumerate().skip(from) {
        let v = if term.scaled() { c * v } else { v };
        let v = if term.squared() { v * v } else { v };
        lanes[p % LANES] += v;
    }
}

/// The 8 canonical lanes of `term` summed over `x`, in AVX2 where the host has it:
/// what [`fold4_f64`] does row by row without AVX-512.
pub fn fold_f64(term: Term, c: f64, x: &[f64]) -> [f64; LANES] {
    let mut lanes = [0.0; LANES];
    #[cfg(target_arch = "x86_64")]
    let done = if simd::avx2() {
        // SAFETY: AVX2 was detected.
        unsafe { wide::f64_avx2(term, c, x, &mut lanes) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    scalar_f64(term, c, x, done, &mut lanes);
    lanes
}

/// The 8 canonical lanes of `term` summed over each of [`ROWS`] rows, row `q` scaled
/// by `c[q]`: [`fold_f64`] of each, rows longer than the shortest cut to its length.
/// The lanes [`fold4_sums_f64`] combines where the host lacks AVX-512 (with it, they
/// never leave the registers).
pub fn fold4_f64(term: Term, c: [f64; ROWS], x: [&[f64]; ROWS]) -> [[f64; LANES]; ROWS] {
    let n = x.iter().map(|r| r.len()).min().unwrap_or(0);
    std::array::from_fn(|q| fold_f64(term, c[q], &x[q][..n]))
}

/// The canonical sums of [`fold4_f64`]'s lanes, row by row: what a compiled sum
/// stores for each of the rows (`nabla_ir::canonical::combine_lanes` of its lanes).
/// With AVX-512 the lanes never leave the registers.
pub fn fold4_sums_f64(term: Term, c: [f64; ROWS], x: [&[f64]; ROWS]) -> [f64; ROWS] {
    let n = x.iter().map(|r| r.len()).min().unwrap_or(0);
    #[cfg(target_arch = "x86_64")]
    if simd::avx512() {
        // SAFETY: AVX-512F was detected, and every row holds at least `n` elements.
        return unsafe { wide::f64x4_sums_avx512(term, c, x, n) };
    }
    fold4_f64(term, c, x).map(|lanes| canonical::combine_lanes(&lanes, |a, b| a + b))
}

/// Called by compiled kernels: [`fold4_sums_f64`] of `count` elements at each of the
/// [`ROWS`] addresses at `x`, scaled by the values at `c`, the sums written to the
/// `ROWS` at `sums`.
pub(crate) extern "C" fn nabla_fold4_sums_f64(
    term: u32,
    c: *const f64,
    x: *const *const f64,
    count: u64,
    sums: *mut f64,
) {
    let count = usize::try_from(count).unwrap_or(0);
    // SAFETY: kernels pass a buffer of their stack frame with `ROWS` scales, one
    // with the addresses of `ROWS` input rows that each hold `count` elements, and
    // a `ROWS`-element buffer for the sums; nothing else uses them meanwhile.
    let (c, x, out) = unsafe {
        let ptrs = &*x.cast::<[*const f64; ROWS]>();
        (
            *c.cast::<[f64; ROWS]>(),
            ptrs.map(|p| std::slice::from_raw_parts(p, count)),
            &mut *sums.cast::<[f64; ROWS]>(),
        )
    };
    *out = fold4_sums_f64(Term::from_code(term), c, x);
}

/// The vector paths.
#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    use nabla_ir::canonical::LANES;

    use super::Term;

    /// Four rows' first `n` elements at once, each into its own accumulator (a row's
    /// 8 lanes, the last part group masked), combined into the rows' canonical sums in
    /// registers.
    ///
    /// # Safety
    /// AVX-512F must be there, and every row must hold at least `n` elements.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn f64x4_sums_avx512(
        term: Term,
        c: [f64; super::ROWS],
        x: [&[f64]; super::ROWS],
        n: usize,
    ) -> [f64; super::ROWS] {
        // SAFETY (every arm): the caller's promise, passed on.
        let lanes = unsafe {
            match term {
                Term::Plain => lanes4::<false, false>(c, x, n),
                Term::Square => lanes4::<false, true>(c, x, n),
                Term::Scaled => lanes4::<true, false>(c, x, n),
                Term::ScaledSquare => lanes4::<true, true>(c, x, n),
            }
        };
        // SAFETY: AVX-512F is there (the caller's promise).
        unsafe { crate::simd::canonical_sums4_f64(lanes) }
    }

    /// The loop of [`f64x4_sums_avx512`] for one term: `c · x` if `SCALED`, then squared
    /// if `SQUARED`, added into the row's lanes.
    ///
    /// # Safety
    /// As [`f64x4_sums_avx512`]; inlined only into functions that enable AVX-512F.
    #[inline(always)]
    unsafe fn lanes4<const SCALED: bool, const SQUARED: bool>(
        c: [f64; super::ROWS],
        x: [&[f64]; super::ROWS],
        n: usize,
    ) -> [__m512d; super::ROWS] {
        let full = n / LANES * LANES;
        // SAFETY (whole body): AVX-512F is there (the caller's promise), which is all
        // the register intrinsics need; the loads are justified where they are.
        unsafe {
            let cv = c.map(|c| _mm512_set1_pd(c));
            let term_of = |q: usize, mut v: __m512d| {
                if SCALED {
                    v = _mm512_mul_pd(cv[q], v);
                }
                if SQUARED {
                    v = _mm512_mul_pd(v, v);
                }
                v
            };
            let mut acc = [_mm512_setzero_pd(); super::ROWS];
            let mut p = 0;
            while p < full {
                for q in 0..super::ROWS {
                    // `p + 8 <= full <= n <= x[q].len()` (the caller's promise).
                    let v = _mm512_loadu_pd(x[q].as_ptr().add(p));
                    acc[q] = _mm512_add_pd(acc[q], term_of(q, v));
                }
                p += LANES;
            }
            // The last part group: lane `l` takes element `full + l` for `l < n - full`,
            // its next in order, as a masked add; the other lanes keep their sums.
            let rest = n - full;
            if rest > 0 {
                let mask: __mmask8 = (1u8 << rest) - 1;
                for q in 0..super::ROWS {
                    // The masked load reads only elements `full..n`, which are in
                    // `x[q]` (the caller's promise).
                    let v = _mm512_maskz_loadu_pd(mask, x[q].as_ptr().add(full));
                    acc[q] = _mm512_mask_add_pd(acc[q], mask, acc[q], term_of(q, v));
                }
            }
            acc
        }
    }

    /// Sums the leading whole groups of 8 elements of `x` into `lanes` (from zero) and
    /// returns how many elements it took; the caller folds the rest.
    ///
    /// # Safety
    /// AVX2 must be there.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn f64_avx2(
        term: Term,
        c: f64,
        x: &[f64],
        lanes: &mut [f64; LANES],
    ) -> usize {
        let full = x.len() / LANES * LANES;
        let cv = _mm256_set1_pd(c);
        let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        let term_of = |mut v: __m256d| {
            if term.scaled() {
                v = _mm256_mul_pd(cv, v);
            }
            if term.squared() {
                v = _mm256_mul_pd(v, v);
            }
            v
        };
        let mut p = 0;
        while p < full {
            // SAFETY: `p + 8 <= full <= x.len()`.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_pd(x.as_ptr().add(p)),
                    _mm256_loadu_pd(x.as_ptr().add(p + 4)),
                )
            };
            lo = _mm256_add_pd(lo, term_of(a));
            hi = _mm256_add_pd(hi, term_of(b));
            p += LANES;
        }
        // SAFETY: two halves of 4 lanes stored into an 8-lane array.
        unsafe {
            _mm256_storeu_pd(lanes.as_mut_ptr(), lo);
            _mm256_storeu_pd(lanes.as_mut_ptr().add(4), hi);
        }
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::FORCE_NARROW;

    fn data(n: usize) -> Vec<f64> {
        // Values of every magnitude and sign, with specials, so any change of order
        // or rounding shows.
        let specials = [0.0, -0.0, f64::INFINITY, 1e-310, -3.5e300, f64::NAN];
        (0..n)
            .map(|i| {
                if i % 37 == 36 {
                    specials[(i / 37) % specials.len()]
                } else {
                    let t = (i as f64 * 0.618_033_988_75).fract();
                    (t - 0.45) * 10f64.powi((i % 13) as i32 - 6)
                }
            })
            .collect()
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.iter()
            .zip(b)
            .all(|(x, y)| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits())
    }

    #[test]
    fn one_row_gives_the_scalar_lanes() {
        let terms = [Term::Plain, Term::Square, Term::Scaled, Term::ScaledSquare];
        for n in [0, 1, 7, 8, 9, 100, 1003] {
            let x = data(n);
            for term in terms {
                for c in [1.5, -0.0, 3e-5] {
                    let mut want = [0.0; LANES];
                    scalar_f64(term, c, &x, 0, &mut want);
                    let got = fold_f64(term, c, &x);
                    assert!(same(&got, &want), "{term:?} n {n}: {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn four_rows_give_each_row_s_lanes() {
        let _serial = simd::NARROW_TESTS.lock();
        let terms = [Term::Plain, Term::Square, Term::Scaled, Term::ScaledSquare];
        for n in [0, 1, 8, 13, 100, 1003] {
            let rows: Vec<Vec<f64>> = (0..ROWS).map(|q| data(n + 3 * q)).collect();
            let x: [&[f64]; ROWS] = std::array::from_fn(|q| &rows[q][q..q + n]);
            let c = [1.5, -0.0, 3e-5, -7.25];
            for term in terms {
                for narrow in [false, true] {
                    FORCE_NARROW.store(narrow, Ordering::Relaxed);
                    let got = fold4_f64(term, c, x);
                    for q in 0..ROWS {
                        let mut want = [0.0; LANES];
                        scalar_f64(term, c[q], x[q], 0, &mut want);
                        assert!(
                            same(&got[q], &want),
                            "{term:?} n {n} row {q} narrow {narrow}"
                        );
                    }
                }
                FORCE_NARROW.store(false, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn four_rows_sums_are_the_canonical_combination_of_their_lanes() {
        let _serial = simd::NARROW_TESTS.lock();
        let terms = [Term::Plain, Term::Square, Term::Scaled, Term::ScaledSquare];
        for n in [0, 1, 8, 13, 100, 1003] {
            let rows: Vec<Vec<f64>> = (0..ROWS).map(|q| data(n + 5 * q + 1)).collect();
            let x: [&[f64]; ROWS] = std::array::from_fn(|q| &rows[q][q + 1..q + 1 + n]);
            let c = [-2.5, 1e-3, 0.0, 7.0];
            for term in terms {
                for narrow in [false, true] {
                    FORCE_NARROW.store(narrow, Ordering::Relaxed);
                    let got = fold4_sums_f64(term, c, x);
                    for q in 0..ROWS {
                        let mut lanes = [0.0; LANES];
                        scalar_f64(term, c[q], x[q], 0, &mut lanes);
                        let want = canonical::combine_lanes(&lanes, |a, b| a + b);
                        assert!(
                            same(&[got[q]], &[want]),
                            "{term:?} n {n} row {q} narrow {narrow}: {} vs {want}",
                            got[q]
                        );
                    }
                }
                FORCE_NARROW.store(false, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn the_entry_writes_every_row_s_sum() {
        let rows: Vec<Vec<f64>> = (0..ROWS)
            .map(|q| (0..19).map(|v| (v + q) as f64).collect())
            .collect();
        let ptrs: [*const f64; ROWS] = std::array::from_fn(|q| rows[q].as_ptr());
        let c = [1.0, 2.0, -1.0, 0.5];
        let mut sums = [f64::NAN; ROWS];
        nabla_fold4_sums_f64(
            Term::ScaledSquare as u32,
            c.as_ptr(),
            ptrs.as_ptr(),
            19,
            sums.as_mut_ptr(),
        );
        // Small integers and halves: every order of adding them is exact, so the sum
        // of (c·x)² over the row is the sum whatever the tree.
        for q in 0..ROWS {
            let want: f64 = rows[q].iter().map(|&v| (c[q] * v).powi(2)).sum();
            assert_eq!(sums[q], want, "row {q}");
        }
    }
}
