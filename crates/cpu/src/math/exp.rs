//! `exp`, `expm1` and the hyperbolic functions built on them.
//!
//! Reduction (Cody & Waite, "Software Manual for the Elementary Functions", 1980):
//! `x = k ln2 + r` with `|r| <= ln2/2`, where `ln2` is split as in fdlibm so `k * LN2_HI`
//! is exact and the rounding of `r` is recovered as a correction `c`. The kernel is
//! `expm1(r) = r + r^2 q(r)` with `q` the Taylor series of `(e^r - 1 - r) / r^2`
//! (coefficients `1/n!`), long enough that truncation stays below 2^-56 relative
//! (2^-30 for f32 results). Reconstruction adds the leading terms with an exact
//! two-sum so the result is rounded essentially once, then scales by `2^k` in two
//! steps so subnormal results are rounded once and `k = 1024` still overflows
//! correctly.

// Published coefficients keep their published digits, so they can be checked
// against the source; the compiler rounds them to the same doubles.
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::Value;

use super::vx::{Prec, Vx};

/// ln2 split for Cody–Waite: `LN2_HI` has 32 significant bits (fdlibm's `ln2HI`).
pub(super) const LN2_HI: f64 = 6.93147180369123816490e-01; // 0x3fe62e42_fee00000
pub(super) const LN2_LO: f64 = 1.90821492927058770002e-10; // 0x3dea39ef_35793c76
const LOG2_E: f64 = std::f64::consts::LOG2_E;

/// `1/n!` for n = 13 down to 2.
const Q_F64: [f64; 12] = [
    1.0 / 6227020800.0,
    1.0 / 479001600.0,
    1.0 / 39916800.0,
    1.0 / 3628800.0,
    1.0 / 362880.0,
    1.0 / 40320.0,
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];
/// `1/n!` for n = 8 down to 2.
const Q_F32: [f64; 7] = [
    1.0 / 40320.0,
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// `x (+ xlo) = k ln2 + r + c`: `k` integer-valued, `|r| <= ~0.347`, `c` the tiny
/// rounding error of `r`.
pub(super) struct Reduced {
    pub k: Value,
    pub r: Value,
    /// `expm1(r + c) - r`, i.e. everything but the leading term.
    pub tail: Value,
}

/// Reduces `x + xlo` (|x| <= ~1100) and evaluates the kernel.
pub(super) fn kernel(cx: &mut Vx, x: Value, xlo: Option<Value>) -> Reduced {
    let t = cx.mulc(x, LOG2_E);
    let (k, _) = cx.round_int(t);
    let kh = cx.mulc(k, LN2_HI);
    // Exact: k * LN2_HI has at most 53 bits and is within a factor 2 of x.
    let hi = cx.sub(x, kh);
    let mut lo = cx.mulc(k, LN2_LO);
    if let Some(xl) = xlo {
        lo = cx.sub(lo, xl);
    }
    let r = cx.sub(hi, lo);
    let d = cx.sub(hi, r);
    let c = cx.sub(d, lo);
    let q = match cx.prec {
        Prec::F64 => cx.estrin_horner(r, &Q_F64, 3),
        Prec::F32 => cx.estrin_horner(r, &Q_F32, 3),
    };
    let rr = cx.mul(r, r);
    // expm1(r + c) ≈ expm1(r) + c e^r, and c e^r ≈ c + c r at this size.
    let cc = cx.mad(c, r, c);
    let tail = cx.mad(rr, q, cc);
    Reduced { k, r, tail }
}

/// `e^(k ln2 + r + c) * 2^shift`: `1 + r` is exact as a pair, so the sum rounds once.
pub(super) fn finish_exp(cx: &mut Vx, red: &Reduced, shift: f64) -> Value {
    let one = cx.f(1.0);
    let (s, e) = cx.fast_two_sum(one, red.r);
    let low = cx.add(e, red.tail);
    let y = cx.add(s, low);
    let k = if shift == 0.0 {
        red.k
    } else {
        cx.addc(red.k, shift)
    };
    cx.scale(y, k)
}

/// `e^(k ln2 + r + c) - 1 = 2^k (1 - 2^-k + expm1(r + c))`.
pub(super) fn finish_expm1(cx: &mut Vx, red: &Reduced) -> Value {
    let (s, low) = expm1_pair(cx, red);
    let y = cx.add(s, low);
    cx.scale(y, red.k)
}

/// `2^-k expm1` as an unevaluated sum `s + low`.
fn expm1_pair(cx: &mut Vx, red: &Reduced) -> (Value, Value) {
    // For k >= 54, 1 - 2^-k rounds to 1 anyway; the cap keeps 2^-k normal.
    let kk = cx.at_most(red.k, 60.0);
    let nk = cx.neg(kk);
    let p = cx.pow2i(nk);
    let c1 = cx.rsubc(1.0, p);
    // 1 - 2^-k rounds for k >= 54; its error is exact and joins the low part.
    let one_c = cx.rsubc(1.0, c1);
    let cerr = cx.sub(one_c, p);
    let (s, e) = cx.two_sum(c1, red.r);
    let low = cx.add(e, red.tail);
    let low = cx.add(low, cerr);
    (s, low)
}

fn clamp(cx: &mut Vx, x: Value, lo: f64, hi: f64) -> Value {
    let x = cx.at_most(x, hi);
    cx.at_least(x, lo)
}

pub(super) fn exp(cx: &mut Vx, x: Value) -> Value {
    // e^710 overflows and e^-746 underflows to zero, so clamping keeps k in range
    // without changing the result; min/max propagate NaN.
    let xc = clamp(cx, x, -746.0, 710.0);
    let red = kernel(cx, xc, None);
    finish_exp(cx, &red, 0.0)
}

pub(super) fn expm1(cx: &mut Vx, x: Value) -> Value {
    // expm1(x) rounds to -1 below -38.
    let xc = clamp(cx, x, -40.0, 710.0);
    let red = kernel(cx, xc, None);
    let y = finish_expm1(cx, &red);
    // The two-sum turns -0 into +0.
    let z = cx.eqc(x, 0.0);
    cx.sel(z, x, y)
}

/// Above this, `e^|x| - 1` overflows before `sinh`/`cosh` do, so they use `e^|x| / 2`.
const HALF_EXP_FROM: f64 = 709.0;

/// `expm1` as an unevaluated sum `t + tl` for `|x| < 1`, where `k` is in [-2, 2] and
/// scaling the pair is exact; also returns `t` for any `x`.
fn expm1_split(cx: &mut Vx, red: &Reduced) -> (Value, Value) {
    let (s, low) = expm1_pair(cx, red);
    let th = cx.add(s, low);
    let t = cx.scale(th, red.k);
    let sc = cx.pow2i(red.k);
    let dt = cx.sub(th, s);
    let tl = cx.sub(low, dt);
    let tl = cx.mul(tl, sc);
    (t, tl)
}

pub(super) fn sinh(cx: &mut Vx, x: Value) -> Value {
    let a = cx.abs(x);
    let ac = clamp(cx, a, 0.0, 711.0);
    let red = kernel(cx, ac, None);
    let big = finish_exp(cx, &red, -1.0);
    let (t, tl) = expm1_split(cx, &red);
    // sinh = (e - 1/e) / 2 with e = 1 + t, written without cancellation:
    // (t + t / (t + 1)) / 2. Below 1 the quotient is taken in double-double, which
    // keeps the result within an ulp.
    let one = cx.f(1.0);
    let t1 = cx.add(t, one);
    let q = cx.div(t, t1);
    let s = cx.add(t, q);
    let mid = cx.mulc(s, 0.5);
    let (dh, de) = cx.two_sum(t, one);
    let dl = cx.add(de, tl);
    let q = cx.dd_div(t, tl, dh, dl);
    let ql = cx.add(q, tl);
    let s = cx.add(t, ql);
    let small = cx.mulc(s, 0.5);
    let m = cx.ltc(a, 1.0);
    let r = cx.sel(m, small, mid);
    let m = cx.gtc(a, HALF_EXP_FROM);
    let r = cx.sel(m, big, r);
    cx.copysign(r, x)
}

pub(super) fn cosh(cx: &mut Vx, x: Value) -> Value {
    let a = cx.abs(x);
    let ac = clamp(cx, a, 0.0, 711.0);
    let red = kernel(cx, ac, None);
    let big = finish_exp(cx, &red, -1.0);
    // Near 0: 1 + t^2 / (2 (1 + t)), which is 1 plus a small, accurate term.
    let t = finish_expm1(cx, &red);
    let t1 = cx.addc(t, 1.0);
    let q = cx.div(t, t1);
    let h = cx.mulc(t, 0.5);
    let one = cx.f(1.0);
    let small = cx.mad(h, q, one);
    // Above: (e + 1/e) / 2, where 1/e is the smaller term.
    let e = finish_exp(cx, &red, 0.0);
    let r = cx.div(one, e);
    let s = cx.add(e, r);
    let mid = cx.mulc(s, 0.5);
    let m = cx.ltc(a, 0.5);
    let r = cx.sel(m, small, mid);
    let m = cx.gtc(a, HALF_EXP_FROM);
    cx.sel(m, big, r)
}

pub(super) fn tanh(cx: &mut Vx, x: Value) -> Value {
    // fdlibm's formulation: for |x| >= 1, 1 - 2/(e^2|x| + 1); below, -t/(t + 2) with
    // t = expm1(-2|x|), which keeps full relative accuracy near 0. There t is kept
    // as a pair and divided as one, since the two roundings of t and t + 2 would
    // otherwise add up to 2 ulp.
    let a = cx.abs(x);
    let big = cx.gec(a, 1.0);
    let a2 = cx.mulc(a, 2.0);
    let na2 = cx.neg(a2);
    let arg = cx.sel(big, a2, na2);
    let argc = clamp(cx, arg, -40.0, 710.0);
    let red = kernel(cx, argc, None);
    let (t, tl) = expm1_split(cx, &red);
    let t2 = cx.addc(t, 2.0);
    let two = cx.f(2.0);
    let w = cx.div(two, t2);
    let zb = cx.rsubc(1.0, w);
    let (dh, de) = cx.two_sum(t, two);
    let dl = cx.add(de, tl);
    let nt = cx.neg(t);
    let ntl = cx.neg(tl);
    let zs = cx.dd_div(nt, ntl, dh, dl);
    let z = cx.sel(big, zb, zs);
    cx.copysign(z, x)
}
