//! `erf` and `erfinv`.
//!
//! `erf` is fdlibm's `s_erf.c` (Sun Microsystems, 1993) made branch-free: a rational
//! approximation of `erf(x)/x - 1` in `x^2` below 0.84375, of `erf(x) - erx` in
//! `|x| - 1` up to 1.25, and above that `erfc(x) = exp(-x^2 - 0.5625 + R/S(1/x^2)) / x`
//! with two coefficient sets split at 1/0.35; every region is evaluated and the right
//! one selected. `x^2` enters the exponential as an exact two-product, which replaces
//! fdlibm's trick of truncating `x` to 32 bits.
//!
//! `erfinv` follows the interpreter: M. Giles' double-precision approximation
//! ("Approximating the erfinv function", GPU Computing Gems Jade, 2011) in
//! `w = -log(1 - y^2)`, with one Halley step against `erf`/`erfc` for f64 results
//! (forming the residual as `(1 - |y|) - erfc(x)` near 1, where `1 - |y|` is exact).
//! f32 results skip the step: Giles' relative error (about 1e-15) is already far
//! below an f32 ulp. The coefficient tables are evaluated with per-lane selects, one
//! Horner pass for all three pieces.

// Published coefficients keep their published digits, so they can be checked
// against the source; the compiler rounds them to the same doubles.
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::Value;
// Giles' coefficients, shared with the reference `erfinv` every backend follows.
use nabla_ir::special::{GILES_CENTRAL as CENTRAL, GILES_MIDDLE as MIDDLE, GILES_TAIL as TAIL};

use super::exp;
use super::log;
use super::vx::{Prec, Vx};

const ERX: f64 = 8.45062911510467529297e-01; // 0x3FEB0AC1 60000000
const PP: [f64; 5] = [
    -2.37630166566501626084e-05, // pp4 0xBEF8EAD6 120016AC
    -5.77027029648944159157e-03, // pp3 0xBF77A291 236668E4
    -2.84817495755985104766e-02, // pp2 0xBF9D2A51 DBD7194F
    -3.25042107247001499370e-01, // pp1 0xBFD4CD7D 691CB913
    1.28379167095512558561e-01,  // pp0 0x3FC06EBA 8214DB68
];
const QQ: [f64; 6] = [
    -3.96022827877536812320e-06, // qq5 0xBED09C43 42A26120
    1.32494738004321644526e-04,  // qq4 0x3F215DC9 221C1A10
    5.08130628187576562776e-03,  // qq3 0x3F74D022 C4D36B0F
    6.50222499887672944485e-02,  // qq2 0x3FB0A54C 5536CEBA
    3.97917223959155352819e-01,  // qq1 0x3FD97779 CDDADC09
    1.0,
];
const PA: [f64; 7] = [
    -2.16637559486879084300e-03, // pa6 0xBF61BF38 0A96073F
    3.54783043256182359371e-02,  // pa5 0x3FA22A36 599795EB
    -1.10894694282396677476e-01, // pa4 0xBFBC6398 3D3E28EC
    3.18346619901161753674e-01,  // pa3 0x3FD45FCA 805120E4
    -3.72207876035701323847e-01, // pa2 0xBFD7D240 FBB8C3F1
    4.14856118683748331666e-01,  // pa1 0x3FDA8D00 AD92B34D
    -2.36211856075265944077e-03, // pa0 0xBF6359B8 BEF77538
];
const QA: [f64; 7] = [
    1.19844998467991074170e-02, // qa6 0x3F888B54 5735151D
    1.36370839120290507362e-02, // qa5 0x3F8BEDC2 6B51DD1C
    1.26171219808761642112e-01, // qa4 0x3FC02660 E763351F
    7.18286544141962662868e-02, // qa3 0x3FB2635C D99FE9A7
    5.40397917702171048937e-01, // qa2 0x3FE14AF0 92EB6F33
    1.06420880400844228286e-01, // qa1 0x3FBB3E66 18EEE323
    1.0,
];
/// erfc on [1.25, 1/0.35] (`ra`, `sa`).
const RA: [f64; 8] = [
    -9.81432934416914548592e+00, // ra7 0xC023A0EF C69AC25C
    -8.12874355063065934246e+01, // ra6 0xC0545265 57E4D2F2
    -1.84605092906711035994e+02, // ra5 0xC067135C EBCCABB2
    -1.62396669462573470355e+02, // ra4 0xC0644CB1 84282266
    -6.23753324503260060396e+01, // ra3 0xC04F300A E4CBA38D
    -1.05586262253232909814e+01, // ra2 0xC0251E04 41B0E726
    -6.93858572707181764372e-01, // ra1 0xBFE63416 E4BA7360
    -9.86494403484714822705e-03, // ra0 0xBF843412 600D6435
];
const SA: [f64; 9] = [
    -6.04244152148580987438e-02, // sa8 0xBFAEEFF2 EE749A62
    6.57024977031928170135e+00,  // sa7 0x401A47EF 8E484A93
    1.08635005541779435134e+02,  // sa6 0x405B28A3 EE48AE2C
    4.29008140027567833386e+02,  // sa5 0x407AD021 57700314
    6.45387271733267880336e+02,  // sa4 0x40842B19 21EC2868
    4.34565877475229228821e+02,  // sa3 0x407B290D D58A1A71
    1.37657754143519042600e+02,  // sa2 0x4061350C 526AE721
    1.96512716674392571292e+01,  // sa1 0x4033A6B9 BD707687
    1.0,
];
/// erfc above 1/0.35 (`rb`, `sb`), padded with a leading zero to `RA`/`SA`'s length.
const RB: [f64; 8] = [
    0.0,
    -4.83519191608651397019e+02, // rb6 0xC07E384E 9BDC383F
    -1.02509513161107724954e+03, // rb5 0xC0900461 6A2E5992
    -6.37566443368389627722e+02, // rb4 0xC083EC88 1375F228
    -1.60636384855821916062e+02, // rb3 0xC064145D 43C5ED98
    -1.77579549177547519889e+01, // rb2 0xC031C209 555F995A
    -7.99283237680523006574e-01, // rb1 0xBFE993BA 70C285DE
    -9.86494292470009928597e-03, // rb0 0xBF843412 39E86F4A
];
const SB: [f64; 9] = [
    0.0,
    -2.24409524465858183362e+01, // sb7 0xC03670E2 42712D62
    4.74528541206955367215e+02,  // sb6 0x407DA874 E79FE763
    2.55305040643316442583e+03,  // sb5 0x40A3F219 CEDF3BE6
    3.19985821950859553908e+03,  // sb4 0x40A8FFB7 688C246A
    1.53672958608443695994e+03,  // sb3 0x409802EB 189D5118
    3.25792512996573918826e+02,  // sb2 0x40745CAE 221B9F0A
    3.03380607434824582924e+01,  // sb1 0x403E568B 261D5190
    1.0,
];

/// `(erf(a), erfc(a))` for `a >= 0` (NaN propagates into both).
fn erf_parts(cx: &mut Vx, a: Value) -> (Value, Value) {
    // |x| < 0.84375: erf = x + x P/Q(x^2).
    let z = cx.mul(a, a);
    let p = cx.horner(z, &PP);
    let q = cx.horner(z, &QQ);
    let y = cx.div(p, q);
    let ay = cx.mul(a, y);
    let erf_a = cx.add(a, ay);
    // Below 2^-28 erf is a * 2/sqrt(pi) to within an ulp; one product avoids the
    // underflow of a * y for tiny normal a (as fdlibm does).
    let tiny = cx.ltc(a, 3.725290298461914e-9);
    let at = cx.mulc(a, std::f64::consts::FRAC_2_SQRT_PI);
    let erf_a = cx.sel(tiny, at, erf_a);
    let c_small = cx.rsubc(1.0, erf_a);
    let am = cx.addc(a, -0.5);
    let am = cx.add(am, ay);
    let c_mid = cx.rsubc(0.5, am);
    let quarter = cx.ltc(a, 0.25);
    let erfc_a = cx.sel(quarter, c_small, c_mid);

    // 0.84375 <= |x| < 1.25: erf = erx + P/Q(|x| - 1).
    let s = cx.addc(a, -1.0);
    let p = cx.horner(s, &PA);
    let q = cx.horner(s, &QA);
    let pq = cx.div(p, q);
    let erf_b = cx.addc(pq, ERX);
    let erfc_b = cx.rsubc(1.0 - ERX, pq);

    // |x| >= 1.25: erfc = exp(-x^2 - 0.5625 + R/S(1/x^2)) / x; past 28 it is 0.
    let ac = cx.f(28.0);
    let ac = cx.min(a, ac);
    let one = cx.f(1.0);
    let (zh, zl) = cx.two_prod(ac, ac);
    let s = cx.div(one, zh);
    let near = cx.ltc(ac, 1.0 / 0.35);
    let rc: Vec<Value> = (0..RA.len())
        .map(|i| {
            let a = cx.f(RA[i]);
            let b = cx.f(RB[i]);
            cx.sel(near, a, b)
        })
        .collect();
    let sc: Vec<Value> = (0..SA.len())
        .map(|i| {
            let a = cx.f(SA[i]);
            let b = cx.f(SB[i]);
            cx.sel(near, a, b)
        })
        .collect();
    let r = cx.horner_v(s, &rc);
    let ss = cx.horner_v(s, &sc);
    let rs = cx.div(r, ss);
    // -x^2 - 0.5625 + R/S with all leading parts in `eh`, so the reduced argument
    // of the exponential stays within ln2/2.
    let nzh = cx.neg(zh);
    let (h1, l1) = cx.two_sum(nzh, rs);
    let c = cx.f(-0.5625);
    let (eh, l2) = cx.two_sum(h1, c);
    let el = cx.add(l1, l2);
    let el = cx.sub(el, zl);
    let red = exp::kernel(cx, eh, Some(el));
    let e = exp::finish_exp(cx, &red, 0.0);
    let erfc_c = cx.div(e, ac);
    let erf_c = cx.rsubc(1.0, erfc_c);

    let in_b = cx.gec(a, 0.84375);
    let in_c = cx.gec(a, 1.25);
    let erf = cx.sel(in_c, erf_c, erf_b);
    let erf = cx.sel(in_b, erf, erf_a);
    let erfc = cx.sel(in_c, erfc_c, erfc_b);
    let erfc = cx.sel(in_b, erfc, erfc_a);
    (erf, erfc)
}

pub(super) fn erf(cx: &mut Vx, x: Value) -> Value {
    let a = cx.abs(x);
    let (e, _) = erf_parts(cx, a);
    // fdlibm's erf is 1 - tiny from 6 on; the comparison is false for NaN.
    let big = cx.gec(a, 6.0);
    let e = cx.selc(big, 1.0, e);
    cx.copysign(e, x)
}

pub(super) fn erfinv(cx: &mut Vx, y: Value) -> Value {
    let a = cx.abs(y);
    let p = cx.rsubc(1.0, a);
    let q = cx.addc(a, 1.0);
    let pq = cx.mul(p, q);
    let l = log::log(cx, pq);
    let w = cx.neg(l);
    let central = cx.ltc(w, 6.25);
    let middle = cx.ltc(w, 16.0);
    let sw = cx.sqrt(w);
    let tc = cx.addc(w, -3.125);
    let tm = cx.addc(sw, -3.25);
    let tt = cx.addc(sw, -5.0);
    let t = cx.sel(middle, tm, tt);
    let t = cx.sel(central, tc, t);
    let coeffs: Vec<Value> = (0..CENTRAL.len())
        .map(|i| {
            let pad_m = CENTRAL.len() - MIDDLE.len();
            let pad_t = CENTRAL.len() - TAIL.len();
            let m = if i >= pad_m { MIDDLE[i - pad_m] } else { 0.0 };
            let tl = if i >= pad_t { TAIL[i - pad_t] } else { 0.0 };
            let c = cx.f(CENTRAL[i]);
            let m = cx.f(m);
            let tl = cx.f(tl);
            let v = cx.sel(middle, m, tl);
            cx.sel(central, c, v)
        })
        .collect();
    let poly = cx.horner_v(t, &coeffs);
    let mut x = cx.mul(poly, a);
    if cx.prec == Prec::F64 {
        x = halley(cx, x, a);
    }
    let r = cx.copysign(x, y);
    let one = cx.eqc(a, 1.0);
    let inf = cx.f(f64::INFINITY);
    let inf = cx.copysign(inf, y);
    let r = cx.sel(one, inf, r);
    let o = cx.f(1.0);
    let bad = cx.fcmp(FloatCC::UnorderedOrGreaterThan, a, o);
    let r = cx.selc(bad, f64::NAN, r);
    let zero = cx.eqc(a, 0.0);
    cx.sel(zero, y, r)
}

/// One Halley step on `erf(x) = a` (`erf'' = -2x erf'`), as the interpreter does.
fn halley(cx: &mut Vx, x: Value, a: Value) -> Value {
    let (e, ec) = erf_parts(cx, x);
    let r_low = cx.sub(e, a);
    let one_m = cx.rsubc(1.0, a);
    let r_high = cx.sub(one_m, ec);
    let half = cx.f(0.5);
    let low = cx.fcmp(FloatCC::LessThanOrEqual, a, half);
    let residual = cx.sel(low, r_low, r_high);
    let xx = cx.mul(x, x);
    let nxx = cx.neg(xx);
    let ex = exp::exp(cx, nxx);
    let deriv = cx.mulc(ex, std::f64::consts::FRAC_2_SQRT_PI);
    let step = cx.div(residual, deriv);
    let one = cx.f(1.0);
    let den = cx.mad(x, step, one);
    let corr = cx.div(step, den);
    let x1 = cx.sub(x, corr);
    let sa = cx.abs(step);
    let finite = cx.ltc(sa, f64::INFINITY);
    cx.sel(finite, x1, x)
}
