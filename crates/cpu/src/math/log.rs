//! `log`, `log1p`, and the double-double logarithm behind `pow`.
//!
//! `log` and `log1p` are fdlibm's (Sun Microsystems, 1993; `e_log.c`, `s_log1p.c`),
//! made branch-free: `x = 2^k (1 + f)` with `1 + f` in `[sqrt(2)/2, sqrt(2))`, then
//! `log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2))` with `s = f / (2 + f)` and `R` the
//! minimax polynomial `Lg1..Lg7` (error below 2^-58.45). Exponent and mantissa come
//! from integer operations on the bits; subnormals are scaled by 2^54 first.

// Published coefficients keep their published digits, so they can be checked
// against the source; the compiler rounds them to the same doubles.
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::Value;

use super::exp::{LN2_HI, LN2_LO};
use super::vx::Vx;

const LG1: f64 = 6.666666666666735130e-01; // 3FE55555 55555593
const LG2: f64 = 3.999999999940941908e-01; // 3FD99999 9997FA04
const LG3: f64 = 2.857142874366239149e-01; // 3FD24924 94229359
const LG4: f64 = 2.222219843214978396e-01; // 3FCC71C5 1D8E78AF
const LG5: f64 = 1.818357216161805012e-01; // 3FC74664 96CB03DE
const LG6: f64 = 1.531383769920937332e-01; // 3FC39A09 D078C69F
const LG7: f64 = 1.479819860511658591e-01; // 3FC2F112 DF3E5244

/// Moves mantissas in `[sqrt(2)/2, 1)` up an exponent so `1 + f` lands in
/// `[sqrt(2)/2, sqrt(2))` (fdlibm's `0x3ff00000 - 0x3fe6a09e` in the high word).
const MANT_OFFSET: i64 = (0x3ff00000 - 0x3fe6a09e) << 32;
const SQRT_HALF_BITS: i64 = 0x3fe6a09e << 32;
const FRAC_MASK: i64 = 0x000f_ffff_ffff_ffff;
/// Bits of 2^52: or-ing a small integer into its mantissa makes `2^52 + n`.
const TWO52_BITS: i64 = 0x4330_0000_0000_0000;

/// `x = 2^k m` for positive normal `x`, `m` in `[sqrt(2)/2, sqrt(2))`; `k` as a float.
pub(super) fn decompose(cx: &mut Vx, x: Value) -> (Value, Value) {
    let xb = cx.bits(x);
    let u = cx.iaddc(xb, MANT_OFFSET);
    let e = cx.shr(u, 52);
    let eb = cx.iorc(e, TWO52_BITS);
    let ef = cx.float_of(eb);
    let k = cx.addc(ef, -(4503599627370496.0 + 1023.0));
    let mb = cx.iandc(u, FRAC_MASK);
    let mb = cx.iaddc(mb, SQRT_HALF_BITS);
    let m = cx.float_of(mb);
    (k, m)
}

/// `x` scaled into the normal range, and the power of two to add back to `k`.
fn normalise(cx: &mut Vx, x: Value) -> (Value, Value) {
    let sub = cx.ltc(x, f64::MIN_POSITIVE);
    let scaled = cx.mulc(x, 18014398509481984.0); // 2^54
    let xs = cx.sel(sub, scaled, x);
    let zero = cx.f(0.0);
    let kadj = cx.selc(sub, -54.0, zero);
    (xs, kadj)
}

/// `log(1 + f) - f` without the `k ln2` terms, as fdlibm's `hfsq` and `s (hfsq + R)`.
fn log1p_kernel(cx: &mut Vx, f: Value) -> (Value, Value) {
    let ff = cx.mul(f, f);
    let hfsq = cx.mulc(ff, 0.5);
    let two_f = cx.addc(f, 2.0);
    let s = cx.div(f, two_f);
    let z = cx.mul(s, s);
    let w = cx.mul(z, z);
    let t1 = cx.horner(w, &[LG6, LG4, LG2]);
    let t1 = cx.mul(w, t1);
    let t2 = cx.horner(w, &[LG7, LG5, LG3, LG1]);
    let t2 = cx.mul(z, t2);
    let r = cx.add(t1, t2);
    let hr = cx.add(hfsq, r);
    let shr = cx.mul(s, hr);
    (hfsq, shr)
}

pub(super) fn log(cx: &mut Vx, x: Value) -> Value {
    let (xs, kadj) = normalise(cx, x);
    let (k, m) = decompose(cx, xs);
    let k = cx.add(k, kadj);
    let f = cx.addc(m, -1.0);
    let (hfsq, shr) = log1p_kernel(cx, f);
    let klo = cx.mulc(k, LN2_LO);
    let y = combine(cx, k, f, hfsq, shr, klo);
    specials_log(cx, x, y, 0.0)
}

/// fdlibm's `s (hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi`, except that the two
/// large terms `k ln2_hi + f` (exact as a pair) are added last, so the result rounds
/// once instead of twice when they cancel (`1 + f` just below 1 with k = 1).
fn combine(cx: &mut Vx, k: Value, f: Value, hfsq: Value, shr: Value, klo: Value) -> Value {
    let small = cx.add(shr, klo);
    let small = cx.sub(small, hfsq);
    let khi = cx.mulc(k, LN2_HI);
    let (s, e) = cx.two_sum(khi, f);
    let low = cx.add(e, small);
    cx.add(s, low)
}

/// log(0) = -inf, log(inf) = inf, log(<0) = NaN (with `origin` the pole: 0 or -1).
fn specials_log(cx: &mut Vx, x: Value, y: Value, origin: f64) -> Value {
    let inf = cx.eqc(x, f64::INFINITY);
    let y = cx.selc(inf, f64::INFINITY, y);
    let pole = cx.eqc(x, origin);
    let y = cx.selc(pole, f64::NEG_INFINITY, y);
    let o = cx.f(origin);
    let bad = cx.fcmp(FloatCC::UnorderedOrLessThan, x, o);
    cx.selc(bad, f64::NAN, y)
}

pub(super) fn log1p(cx: &mut Vx, x: Value) -> Value {
    let u = cx.addc(x, 1.0);
    let (k, m) = decompose(cx, u);
    // fdlibm picks k = 0, f = x on x's range, from its high-word tests (just wider
    // than [sqrt(2)/2 - 1, sqrt(2) - 1)); deciding on u instead would cancel ln2
    // against log(m) just below sqrt(2) - 1.
    let lo = cx.gec(x, f64::from_bits(0xbfd2_bec4_0000_0000));
    let hi = cx.ltc(x, f64::from_bits(0x3fda_827a_0000_0000));
    let k0 = cx.and(lo, hi);
    let zero = cx.f(0.0);
    let k = cx.sel(k0, zero, k);
    // Otherwise f = m - 1, and c is the rounding error of 1 + x (exact from a
    // two-sum) divided by u, since log(u + err) ≈ log(u) + err / u.
    let fm = cx.addc(m, -1.0);
    let f = cx.sel(k0, x, fm);
    let one = cx.f(1.0);
    let (_, err) = cx.two_sum(one, x);
    let c = cx.div(err, u);
    let c = cx.sel(k0, zero, c);
    let (hfsq, shr) = log1p_kernel(cx, f);
    let klo = cx.mulc(k, LN2_LO);
    let klo = cx.add(klo, c);
    let y = combine(cx, k, f, hfsq, shr, klo);
    let y = specials_log(cx, x, y, -1.0);
    let z = cx.eqc(x, 0.0);
    cx.sel(z, x, y)
}

/// ln2 as a double-double.
const LN2_DD: (f64, f64) = (std::f64::consts::LN_2, 2.319046813846299558e-17);
/// 2/3 as a double-double.
const TWO_THIRDS: (f64, f64) = (6.666666666666666297e-01, 3.700743415417188357e-17);

/// `log(x)` as a double-double with relative error around 2^-68, for positive finite
/// `x` (subnormals included); other inputs give garbage the caller replaces.
///
/// `log(m) = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, `|s| <= 0.1716`: the series
/// `2s + s^3 (2/3 + s^2 P(s^2))` with the leading terms in double-double and `P`'s
/// exact Taylor coefficients `2/(2i+1)` (fdlibm's `e_pow.c` plays the same game with
/// its own split constants).
pub(super) fn log_dd(cx: &mut Vx, x: Value) -> (Value, Value) {
    let (xs, kadj) = normalise(cx, x);
    let (k, m) = decompose(cx, xs);
    let k = cx.add(k, kadj);
    let f = cx.addc(m, -1.0); // exact
    let one = cx.f(1.0);
    let (dh, dl) = cx.fast_two_sum(one, m);
    let s = cx.div(f, dh);
    // s_lo = (f - s (dh + dl)) / dh, with s dh exact.
    let (p, pe) = cx.two_prod(s, dh);
    let rem = cx.sub(f, p);
    let rem = cx.sub(rem, pe);
    let sdl = cx.mul(s, dl);
    let rem = cx.sub(rem, sdl);
    let sl = cx.div(rem, dh);
    let z = cx.mul(s, s);
    // 2/5 + 2z/7 + ... + 2z^12/29: truncation below 2^-72 relative at |s| = 0.1716.
    let coeffs: Vec<f64> = (2..=14).rev().map(|i| 2.0 / (2 * i + 1) as f64).collect();
    let a = cx.horner(z, &coeffs);
    let a = cx.mul(a, z);
    let th = cx.f(TWO_THIRDS.0);
    let tl = cx.f(TWO_THIRDS.1);
    let (bh, bl) = cx.fast_two_sum(th, a);
    let bl = cx.add(bl, tl);
    // s^3 as a double-double.
    let (zh, zl) = cx.two_prod(s, s);
    let ssl = cx.mul(s, sl);
    let two = cx.f(2.0);
    let zl = cx.mad(ssl, two, zl);
    let (ch, cl) = cx.dd_mul(zh, zl, s, sl);
    let (ch, cl) = cx.dd_mul(ch, cl, bh, bl);
    let s2 = cx.mulc(s, 2.0);
    let sl2 = cx.mulc(sl, 2.0);
    let (lh, ll) = cx.dd_add(s2, sl2, ch, cl);
    // k ln2: k * LN2_DD.0 is exact in two parts.
    let l2h = cx.f(LN2_DD.0);
    let (kh, ke) = cx.two_prod(k, l2h);
    let kl = cx.mulc(k, LN2_DD.1);
    let kl = cx.add(ke, kl);
    cx.dd_add(kh, kl, lh, ll)
}
