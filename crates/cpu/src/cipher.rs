//! Threefry-2x32 words for a run of counters, computed ahead of a kernel's loop with
//! the host's widest vectors: compiled kernels have 128-bit vectors and no rotate, so
//! a cipher whose counters step by one along the loop is cheaper here, 16 lanes at a
//! time with AVX-512's rotates (8 with AVX2), than inline.
//!
//! A compiled kernel calls [`nabla_threefry_run`] once per stretch of a row (a
//! reduction's block, a store kernel's pass; at most [`RUN`] elements) and then reads
//! the words like an input. The words are the
//! cipher's, whatever the path, so the result is bitwise the inline code's.

use std::sync::atomic::{AtomicBool, Ordering};

use nabla_ir::canonical::BLOCK;
use nabla_ir::threefry::threefry2x32;

use crate::simd;

/// The most counters of one run: the kernel's buffer holds word 0 of `RUN` counters,
/// then word 1 of them.
pub(crate) const RUN: usize = BLOCK;

/// The symbol compiled kernels call [`nabla_threefry_run`] by.
pub(crate) const SYMBOL: &str = "nabla_threefry_run";

#[doc(hidden)]
/// Makes compiled kernels compute every cipher inline, so tests can check that both
/// ways give the same bits.
pub static FORCE_INLINE: AtomicBool = AtomicBool::new(false);

/// Whether kernels compiled now take their ciphers from runs: only when the host has
/// vectors wider than the kernels' own (AVX2 or AVX-512).
pub(crate) fn runs_pay() -> bool {
    !FORCE_INLINE.load(Ordering::Relaxed) && width() >= 8
}

/// The lanes [`fill`] runs: 16 with AVX-512 (F and VL), 8 with AVX2, else 1.
pub(crate) fn width() -> usize {
    if simd::avx512() {
        16
    } else if simd::avx2() {
        8
    } else {
        1
    }
}

/// A run of consecutive counters: counter `t` is `(x[0] + t·step[0], x[1] +
/// t·step[1])`, modulo 2^32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub x: [u32; 2],
    pub step: [u32; 2],
}

impl Counters {
    fn at(&self, t: usize) -> [u32; 2] {
        // Counters wrap modulo 2^32, as the kernel's u32 arithmetic does.
        let t = t as u32;
        [
            self.x[0].wrapping_add(t.wrapping_mul(self.step[0])),
            self.x[1].wrapping_add(t.wrapping_mul(self.step[1])),
        ]
    }
}

/// Both words of the cipher under `key` for counters `0..word0.len()` of `counters`:
/// word 0 into `word0`, word 1 into `word1` (as long as `word0`).
pub fn fill(key: [u32; 2], counters: Counters, word0: &mut [u32], word1: &mut [u32]) {
    let n = word0.len().min(word1.len());
    let (word0, word1) = (&mut word0[..n], &mut word1[..n]);
    let done = match width() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `width` returns 16 only after detecting AVX-512F.
        16 => unsafe { wide::avx512(key, counters, word0, word1) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `width` returns 8 only after detecting AVX2.
        8 => unsafe { wide::avx2(key, counters, word0, word1) },
        _ => 0,
    };
    for t in done..n {
        [word0[t], word1[t]] = threefry2x32(key, counters.at(t));
    }
}

/// Called by compiled kernels: fills the buffer at `out` for `count` counters from
/// `(x0, x1)` by steps `(s0, s1)`, word 0 at `out[..RUN]`, word 1 at `out[RUN..]`.
pub(crate) extern "C" fn nabla_threefry_run(
    k0: u32,
    k1: u32,
    x0: u32,
    s0: u32,
    x1: u32,
    s1: u32,
    count: u64,
    out: *mut u32,
) {
    let count = usize::try_from(count).map_or(RUN, |c| c.min(RUN));
    // SAFETY: kernels pass a buffer of their own stack frame, 2·RUN u32 long, aligned
    // to its element, that nothing else reads or writes during the call (see
    // `codegen::CipherRuns`).
    let words = unsafe { std::slice::from_raw_parts_mut(out, 2 * RUN) };
    let (word0, word1) = words.split_at_mut(RUN);
    let counters = Counters {
        x: [x0, x1],
        step: [s0, s1],
    };
    fill([k0, k1], counters, &mut word0[..count], &mut word1[..count]);
}

/// The vector paths: each returns how many leading counters it filled (whole
/// vectors); [`fill`] does the rest.
#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    use nabla_ir::threefry::KEY_PARITY;

    use super::Counters;

    /// The key schedule: words 0..3, then the five injections' second words (word
    /// `(g + 2) % 3` plus `g + 1`).
    fn schedule(key: [u32; 2]) -> [u32; 8] {
        let k2 = key[0] ^ key[1] ^ KEY_PARITY;
        let ks = [key[0], key[1], k2];
        let mut s = [ks[0], ks[1], ks[2], 0, 0, 0, 0, 0];
        for g in 0..5 {
            s[3 + g] = ks[(g + 2) % 3].wrapping_add(g as u32 + 1);
        }
        s
    }

    /// One cipher over vectors: `$add`, `$xor` and `$rotl!(v, r)` for the vector
    /// width, the schedule `$k` as splats.
    macro_rules! cipher {
        ($x0:ident, $x1:ident, $k:ident, $add:ident, $xor:ident, $rotl:ident) => {{
            $x0 = $add($x0, $k[0]);
            $x1 = $add($x1, $k[1]);
            cipher!(@group $x0, $x1, $add, $xor, $rotl, 13, 15, 26, 6);
            $x0 = $add($x0, $k[1]);
            $x1 = $add($x1, $k[3]);
            cipher!(@group $x0, $x1, $add, $xor, $rotl, 17, 29, 16, 24);
            $x0 = $add($x0, $k[2]);
            $x1 = $add($x1, $k[4]);
            cipher!(@group $x0, $x1, $add, $xor, $rotl, 13, 15, 26, 6);
            $x0 = $add($x0, $k[0]);
            $x1 = $add($x1, $k[5]);
            cipher!(@group $x0, $x1, $add, $xor, $rotl, 17, 29, 16, 24);
            $x0 = $add($x0, $k[1]);
            $x1 = $add($x1, $k[6]);
            cipher!(@group $x0, $x1, $add, $xor, $rotl, 13, 15, 26, 6);
            $x0 = $add($x0, $k[2]);
            $x1 = $add($x1, $k[7]);
        }};
        (@group $x0:ident, $x1:ident, $add:ident, $xor:ident, $rotl:ident, $($r:literal),*) => {
            $(
                $x0 = $add($x0, $x1);
                $x1 = $xor($rotl!($x1, $r), $x0);
            )*
        };
    }

    macro_rules! rotl512 {
        ($v:expr, $r:literal) => {
            _mm512_rol_epi32::<$r>($v)
        };
    }

    macro_rules! rotl256 {
        ($v:expr, $r:literal) => {
            _mm256_or_si256(
                _mm256_slli_epi32::<$r>($v),
                _mm256_srli_epi32::<{ 32 - $r }>($v),
            )
        };
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512(
        key: [u32; 2],
        c: Counters,
        word0: &mut [u32],
        word1: &mut [u32],
    ) -> usize {
        const W: usize = 16;
        let s = schedule(key);
        let k = s.map(|v| _mm512_set1_epi32(v as i32));
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let d0 = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(c.step[0] as i32));
        let d1 = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(c.step[1] as i32));
        let n = word0.len().min(word1.len()) / W * W;
        let (add, xor) = (_mm512_add_epi32, _mm512_xor_si512);
        let mut t = 0;
        while t < n {
            let [b0, b1] = c.at(t);
            let mut x0 = _mm512_add_epi32(_mm512_set1_epi32(b0 as i32), d0);
            let mut x1 = _mm512_add_epi32(_mm512_set1_epi32(b1 as i32), d1);
            cipher!(x0, x1, k, add, xor, rotl512);
            // SAFETY: `t + 16 <= n`, and both slices hold at least `n` words.
            unsafe {
                _mm512_storeu_si512(word0.as_mut_ptr().add(t).cast(), x0);
                _mm512_storeu_si512(word1.as_mut_ptr().add(t).cast(), x1);
            }
            t += W;
        }
        n
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(
        key: [u32; 2],
        c: Counters,
        word0: &mut [u32],
        word1: &mut [u32],
    ) -> usize {
        const W: usize = 8;
        let s = schedule(key);
        let k = s.map(|v| _mm256_set1_epi32(v as i32));
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let d0 = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(c.step[0] as i32));
        let d1 = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(c.step[1] as i32));
        let n = word0.len().min(word1.len()) / W * W;
        let (add, xor) = (_mm256_add_epi32, _mm256_xor_si256);
        let mut t = 0;
        while t < n {
            let [b0, b1] = c.at(t);
            let mut x0 = _mm256_add_epi32(_mm256_set1_epi32(b0 as i32), d0);
            let mut x1 = _mm256_add_epi32(_mm256_set1_epi32(b1 as i32), d1);
            cipher!(x0, x1, k, add, xor, rotl256);
            // SAFETY: `t + 8 <= n`, and both slices hold at least `n` words.
            unsafe {
                _mm256_storeu_si256(word0.as_mut_ptr().add(t).cast(), x0);
                _mm256_storeu_si256(word1.as_mut_ptr().add(t).cast(), x1);
            }
            t += W;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::FORCE_NARROW;

    /// Every path against the scalar cipher, on counters that wrap, steps of 0, 1 and
    /// more, and lengths around the vector widths.
    #[test]
    fn every_path_gives_the_scalar_ciphers_words() {
        let cases = [
            ([0u32, 0u32], [0u32, 0u32], [0u32, 1u32]),
            ([12345, 67890], [0, u32::MAX - 20], [0, 1]),
            ([0xdead_beef, 7], [u32::MAX - 3, 99], [1, 1]),
            ([1, 2], [5, 6], [3, 0]),
        ];
        let _serial = crate::simd::NARROW_TESTS.lock();
        for narrow in [false, true] {
            FORCE_NARROW.store(narrow, Ordering::Relaxed);
            for (key, x, step) in cases {
                for n in [0, 1, 7, 8, 15, 16, 17, 33, 100, RUN] {
                    let counters = Counters { x, step };
                    let (mut w0, mut w1) = (vec![0; n], vec![0; n]);
                    fill(key, counters, &mut w0, &mut w1);
                    for t in 0..n {
                        let want = threefry2x32(key, counters.at(t));
                        assert_eq!([w0[t], w1[t]], want, "key {key:?} x {x:?} t {t}");
                    }
                }
            }
        }
        FORCE_NARROW.store(false, Ordering::Relaxed);
    }

    #[test]
    fn the_entry_fills_both_halves_of_its_buffer() {
        let mut buf = vec![0u32; 2 * RUN];
        nabla_threefry_run(3, 4, 0, 0, 10, 1, 20, buf.as_mut_ptr());
        for t in 0..20 {
            let want = threefry2x32([3, 4], [0, 10 + t as u32]);
            assert_eq!([buf[t], buf[RUN + t]], want);
        }
        assert!(buf[20..RUN].iter().all(|&w| w == 0));
    }
}
