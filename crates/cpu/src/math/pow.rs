//! `pow(x, y)` as `exp(y log|x|)` with the sign and special cases of C99.
//!
//! For f64 results the product `y log|x|` can reach 745 in magnitude, so an ulp-level
//! result needs it to about 2^-62 absolute: `log|x|` is a double-double
//! ([`super::log::log_dd`]), the product is formed with an exact two-product, and its
//! low part enters the exponential's reduction. f32 results need only the plain f64
//! logarithm (relative error 2^-53 against an f32 ulp of 2^-24).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::Value;

use super::exp;
use super::log;
use super::vx::{Prec, Vx};

pub(super) fn pow(cx: &mut Vx, x: Value, y: Value) -> Value {
    let ax = cx.abs(x);
    let (lh, ll) = match cx.prec {
        Prec::F64 => log::log_dd(cx, ax),
        Prec::F32 => {
            let l = log::log(cx, ax);
            let z = cx.f(0.0);
            (l, z)
        }
    };
    // log_dd works on the bits and does not handle NaN, 0 and inf itself.
    let zero = cx.f(0.0);
    let nan_if_nan = cx.mul(ax, zero);
    let lh = cx.add(lh, nan_if_nan);
    let xz = cx.eqc(ax, 0.0);
    let xi = cx.eqc(ax, f64::INFINITY);
    let lh = cx.selc(xz, f64::NEG_INFINITY, lh);
    let lh = cx.selc(xi, f64::INFINITY, lh);
    let special_x = cx.or(xz, xi);
    let ll = cx.sel(special_x, zero, ll);

    let (ph, pe) = cx.two_prod(y, lh);
    let pl = cx.mad(y, ll, pe);
    // Past the overflow/underflow range the low part is meaningless (and may be NaN
    // from inf - inf); the clamp below then decides alone.
    // Also for |y| > 2^900, where y log|x| is out of range unless log|x| = 0, and
    // Dekker's splitting of y (without FMA) would overflow.
    let aph = cx.abs(ph);
    let inrange = cx.ltc(aph, 1000.0);
    let ay0 = cx.abs(y);
    let ysmall = cx.ltc(ay0, 8.452712498170644e270); // 2^900
    let inrange = cx.and(inrange, ysmall);
    let pl = cx.sel(inrange, pl, zero);
    let ph = cx.at_most(ph, 710.0);
    let ph = cx.at_least(ph, -746.0);
    let red = exp::kernel(cx, ph, Some(pl));
    let r = exp::finish_exp(cx, &red, 0.0);

    // Integer and odd-integer tests on y: below 2^52 adding 2^52 rounds to an integer
    // whose parity is the last mantissa bit; from 2^52 every double is an integer,
    // odd only below 2^53 and then by its own last bit.
    let ay = cx.abs(y);
    let two52 = 4503599627370496.0;
    let shifted = cx.addc(ay, two52);
    let rounded = cx.addc(shifted, -two52);
    let same = cx.fcmp(FloatCC::Equal, rounded, ay);
    let huge = cx.gec(ay, two52);
    let is_int = cx.or(same, huge);
    let small = cx.ltc(ay, two52);
    let pb = cx.sel(small, shifted, ay);
    let pbits = cx.bits(pb);
    let low = cx.iandc(pbits, 1);
    let one_i = cx.i(1);
    let parity = cx.ieq(low, one_i);
    let below53 = cx.ltc(ay, 2.0 * two52);
    let odd = cx.and(parity, below53);
    let odd = cx.and(odd, is_int);

    // Negative x: odd y flips the sign; a finite non-integer y has no real result.
    let xb = cx.bits(x);
    let xs = cx.iandc(xb, i64::MIN);
    let sign = cx.i(i64::MIN);
    let xneg = cx.ieq(xs, sign);
    let flip = cx.and(xneg, odd);
    let nr = cx.neg(r);
    let r = cx.sel(flip, nr, r);
    let xlt = cx.ltc(x, 0.0);
    let xfin = cx.gtc(x, f64::NEG_INFINITY);
    let yfin = cx.ltc(ay, f64::INFINITY);
    let bad = cx.and(xlt, xfin);
    let bad = cx.and(bad, yfin);
    let nonint = cx.not(is_int);
    let bad = cx.and(bad, nonint);
    let r = cx.selc(bad, f64::NAN, r);

    // pow(x, ±0) = 1 and pow(1, y) = 1 even for NaN; pow(-1, ±inf) = 1.
    let y0 = cx.eqc(y, 0.0);
    let x1 = cx.eqc(x, 1.0);
    let ax1 = cx.eqc(ax, 1.0);
    let yinf = cx.eqc(ay, f64::INFINITY);
    let m1 = cx.and(ax1, yinf);
    let one = cx.or(y0, x1);
    let one = cx.or(one, m1);
    cx.selc(one, 1.0, r)
}
