//! `atan2`, and `atan`, `asin`, `acos` through it.
//!
//! `atan2(y, x)` works on `n = min(|x|, |y|)` and `d = max(|x|, |y|)`: fdlibm's
//! `s_atan.c` reduction and minimax polynomial (`aT[0..10]`, error below 2^-56 on
//! `[0, 7/16]`) give `atan(n/d)` in `[0, pi/4]`, with the reduction's quotient
//! formed directly from `n` and `d` (`(2n - d)/(2d + n)`, `(n - d)/(n + d)`), so only
//! one division rounds. Octant and quadrant are then `pi/2 - t`, `pi - t`, `pi/2 + t`
//! with pi in two parts, and the sign of `y`. This covers C's special cases: signed
//! zeros (`atan2(±0, -0) = ±pi`), infinities (`atan2(±inf, -inf) = ±3pi/4`) and NaN.
//!
//! `atan(x) = atan2(x, 1)`, `asin(x) = atan2(x, sqrt((1-x)(1+x)))` and
//! `acos(x) = atan2(sqrt((1-x)(1+x)), x)`, which stay accurate near ±1 where the
//! classic `pi/2 - asin` formulas cancel.

// Published coefficients keep their published digits, so they can be checked
// against the source; the compiler rounds them to the same doubles.
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::Value;

use super::vx::Vx;

/// atan(1/2), atan(1) in two parts (fdlibm's `atanhi`/`atanlo`).
const ATANHI0: f64 = 4.63647609000806093515e-01; // 0x3FDDAC67 0561BB4F
const ATANLO0: f64 = 2.26987774529616870924e-17; // 0x3C7A2B7F 222F65E2
const ATANHI1: f64 = std::f64::consts::FRAC_PI_4; // 0x3FE921FB 54442D18
const ATANLO1: f64 = 3.06161699786838301793e-17; // 0x3C81A626 33145C07

/// fdlibm's `aT[]`: odd coefficients feed `s1` (in `w = x^4`), even ones `s2`.
const AT_EVEN: [f64; 6] = [
    1.62858201153657823623e-02, // aT10 0x3F90AD3A E322DA11
    4.97687799461593236017e-02, // aT8  0x3FA97B4B 24760DEB
    6.66107313738753120669e-02, // aT6  0x3FB10D66 A0D03D51
    9.09088713343650656196e-02, // aT4  0x3FB745CD C54C206E
    1.42857142725034663711e-01, // aT2  0x3FC24924 920083FF
    3.33333333333329318027e-01, // aT0  0x3FD55555 5555550D
];
const AT_ODD: [f64; 5] = [
    -3.65315727442169155270e-02, // aT9 0xBFA2B444 2C6A6C2F
    -5.83357013379057348645e-02, // aT7 0xBFADDE2D 52DEFD9A
    -7.69187620504482999495e-02, // aT5 0xBFB3B0F2 AF749A6D
    -1.11111104054623557880e-01, // aT3 0xBFBC71C6 FE231671
    -1.99999999998764832476e-01, // aT1 0xBFC99999 9998EBC4
];

const PIO2_HI: f64 = std::f64::consts::FRAC_PI_2;
const PIO2_LO: f64 = 6.123233995736766e-17;
const PI_HI: f64 = std::f64::consts::PI;
const PI_LO: f64 = 1.2246467991473532e-16;

/// `atan((n + nl) / (d + dl)) = hi - a` for `0 <= n <= d` (`nl`, `dl` tiny).
fn atan_core(cx: &mut Vx, n: Value, nl: Value, d: Value, dl: Value) -> (Value, Value) {
    let d7 = cx.mulc(d, 7.0 / 16.0);
    let d11 = cx.mulc(d, 11.0 / 16.0);
    // n > 0 guards against d * 7/16 underflowing to zero for subnormal d.
    let id0 = cx.fcmp(FloatCC::GreaterThanOrEqual, n, d7);
    let pos = cx.gtc(n, 0.0);
    let id0 = cx.and(id0, pos);
    let id1 = cx.fcmp(FloatCC::GreaterThanOrEqual, n, d11);
    // Numerators are exact by Sterbenz in their ranges (2n - d for n/d in
    // [7/16, 11/16], n - d in [11/16, 1]); denominators are exact pairs.
    let n2 = cx.mulc(n, 2.0);
    let num0 = cx.sub(n2, d);
    let d2 = cx.mulc(d, 2.0);
    let (den0, den0e) = cx.two_sum(d2, n);
    let num1 = cx.sub(n, d);
    let (den1, den1e) = cx.two_sum(n, d);
    let num = cx.sel(id0, num0, n);
    let num = cx.sel(id1, num1, num);
    let zero = cx.f(0.0);
    let den = cx.sel(id0, den0, d);
    let den = cx.sel(id1, den1, den);
    let dene = cx.sel(id0, den0e, zero);
    let dene = cx.sel(id1, den1e, dene);
    // Low parts of numerator and denominator.
    let nl2 = cx.mulc(nl, 2.0);
    let dl2 = cx.mulc(dl, 2.0);
    let numl0 = cx.sub(nl2, dl);
    let denl0 = cx.add(dl2, nl);
    let numl1 = cx.sub(nl, dl);
    let denl1 = cx.add(nl, dl);
    let numl = cx.sel(id0, numl0, nl);
    let numl = cx.sel(id1, numl1, numl);
    let denl = cx.sel(id0, denl0, dl);
    let denl = cx.sel(id1, denl1, denl);
    let denl = cx.add(denl, dene);
    let hi = cx.selc(id0, ATANHI0, zero);
    let hi = cx.selc(id1, ATANHI1, hi);
    let lo = cx.selc(id0, ATANLO0, zero);
    let lo = cx.selc(id1, ATANLO1, lo);
    // t + tl = num / den: the quotient can cross a binade from the result, so its
    // rounding error is carried (remainder exact with a two-product).
    let t = cx.div(num, den);
    let (p, pe) = cx.two_prod(t, den);
    let r = cx.sub(num, p);
    let r = cx.sub(r, pe);
    let r = cx.add(r, numl);
    let tdl = cx.mul(t, denl);
    let r = cx.sub(r, tdl);
    let tl = cx.div(r, den);
    // Infinite operands make the remainder NaN, and for a subnormal quotient the
    // product is not exact without FMA; t alone is right (to half an ulp) there.
    let atl = cx.abs(tl);
    let finite = cx.ltc(atl, f64::INFINITY);
    let at = cx.abs(t);
    let normal = cx.gtc(at, 1e-300);
    let ok = cx.and(finite, normal);
    let tl = cx.sel(ok, tl, zero);
    let z = cx.mul(t, t);
    let w = cx.mul(z, z);
    let s1 = cx.horner(w, &AT_EVEN);
    let s1 = cx.mul(z, s1);
    let s2 = cx.horner(w, &AT_ODD);
    let s2 = cx.mul(w, s2);
    let s = cx.add(s1, s2);
    // atan = hi - a with a = (t s - lo) - t (fdlibm's order); `hi` is kept apart so
    // the caller can add it to its octant constant exactly.
    let ts = cx.mul(t, s);
    let a = cx.sub(ts, lo);
    let a = cx.sub(a, tl);
    let a = cx.sub(a, t);
    (hi, a)
}

pub(super) fn atan2(cx: &mut Vx, y: Value, x: Value) -> Value {
    let zero = cx.f(0.0);
    atan2_pair(cx, y, zero, x, zero)
}

/// atan2 of `y + ylo` and `x + xlo`, the low parts tiny against the high ones (and
/// of the same sign or zero).
fn atan2_pair(cx: &mut Vx, y: Value, ylo: Value, x: Value, xlo: Value) -> Value {
    let ax = cx.abs(x);
    let ay = cx.abs(y);
    // |x + xlo| = |x| + sign(x) xlo.
    let xb = cx.bits(x);
    let axl = cx.xor_sign(xlo, xb);
    let yb = cx.bits(y);
    let ayl = cx.xor_sign(ylo, yb);
    let n = cx.min(ax, ay);
    let d = cx.max(ax, ay);
    let swap = cx.lt(ax, ay);
    let nl = cx.sel(swap, axl, ayl);
    let dl = cx.sel(swap, ayl, axl);
    // Only the ratio matters: scale d to [1, 2) (subnormal d to at least 2^-74) so
    // the exact remainder of the quotient neither overflows nor loses bits to
    // underflow; n may then underflow only when the result itself is subnormal.
    let db = cx.bits(d);
    let eb = cx.shr(db, 52);
    let eb = cx.iorc(eb, 0x4330_0000_0000_0000);
    let ef = cx.float_of(eb);
    let ne = cx.rsubc(4503599627370496.0 + 1023.0, ef);
    let lim = cx.f(1000.0);
    let ne = cx.min(ne, lim);
    let lim = cx.f(-1000.0);
    let ne = cx.max(ne, lim);
    let s = cx.pow2i(ne);
    let ns = cx.mul(n, s);
    let nls = cx.mul(nl, s);
    let ds = cx.mul(d, s);
    let dls = cx.mul(dl, s);
    let (hi, a) = atan_core(cx, ns, nls, ds, dls);
    // 0/0 and inf/inf: the limits C specifies.
    let dz = cx.eqc(d, 0.0);
    let both_inf = cx.eqc(n, f64::INFINITY);
    let special = cx.or(dz, both_inf);
    let hi = cx.selc(dz, 0.0, hi);
    let hi = cx.selc(both_inf, std::f64::consts::FRAC_PI_4, hi);
    let zero = cx.f(0.0);
    let a = cx.sel(special, zero, a);
    let xb = cx.bits(x);
    let xs = cx.iandc(xb, i64::MIN);
    let sign = cx.i(i64::MIN);
    let xneg = cx.ieq(xs, sign);
    // By octant: t, pi/2 - t, pi - t, pi/2 + t, i.e. k + s t. The octant constant and
    // `hi` are summed exactly, so the result rounds once more only at the end.
    let khi = cx.selc(xneg, PI_HI, zero);
    let khi = cx.selc(swap, PIO2_HI, khi);
    let klo = cx.selc(xneg, PI_LO, zero);
    let klo = cx.selc(swap, PIO2_LO, klo);
    let minus = cx.xor(swap, xneg);
    let nhi = cx.neg(hi);
    let shi = cx.sel(minus, nhi, hi);
    let na = cx.neg(a);
    let sa = cx.sel(minus, a, na);
    let (p, pe) = cx.two_sum(khi, shi);
    let low = cx.add(pe, klo);
    let low = cx.add(low, sa);
    let r = cx.add(p, low);
    cx.copysign(r, y)
}

pub(super) fn atan(cx: &mut Vx, x: Value) -> Value {
    let one = cx.f(1.0);
    atan2(cx, x, one)
}

/// `sqrt(1 - x^2)`, NaN for |x| > 1. `1 - x^2` is formed as a pair, `(1 - |x|)(1 + |x|)`
/// above 1/2 (where `1 - |x|` is exact) and `1 - x^2` with an exact square below, and
/// the square root comes with one Newton correction as its low part, which the
/// quotient inside atan2 takes into account; that keeps asin and acos near 1 ulp.
fn cosine_side(cx: &mut Vx, x: Value) -> (Value, Value) {
    let a = cx.abs(x);
    // Above 1/2.
    let p = cx.rsubc(1.0, a);
    let one = cx.f(1.0);
    let (qh, ql) = cx.fast_two_sum(one, a);
    let (h1, l1) = cx.two_prod(p, qh);
    let pl = cx.mul(p, ql);
    let l1 = cx.add(l1, pl);
    // Below 1/2.
    let (sq, se) = cx.two_prod(a, a);
    let h2 = cx.rsubc(1.0, sq);
    let d = cx.rsubc(1.0, h2);
    let d = cx.sub(d, sq);
    let l2 = cx.sub(d, se);
    let hi_side = cx.gec(a, 0.5);
    let h = cx.sel(hi_side, h1, h2);
    let l = cx.sel(hi_side, l1, l2);
    let r = cx.sqrt(h);
    let (rr, re) = cx.two_prod(r, r);
    let res = cx.sub(h, rr);
    let res = cx.sub(res, re);
    let res = cx.add(res, l);
    let r2 = cx.mulc(r, 2.0);
    let corr = cx.div(res, r2);
    // At |x| = 1 the correction is 0/0.
    let z = cx.eqc(h, 0.0);
    let zero = cx.f(0.0);
    let corr = cx.sel(z, zero, corr);
    (r, corr)
}

pub(super) fn asin(cx: &mut Vx, x: Value) -> Value {
    let (c, cl) = cosine_side(cx, x);
    let zero = cx.f(0.0);
    atan2_pair(cx, x, zero, c, cl)
}

pub(super) fn acos(cx: &mut Vx, x: Value) -> Value {
    let (c, cl) = cosine_side(cx, x);
    let zero = cx.f(0.0);
    atan2_pair(cx, c, cl, x, zero)
}
