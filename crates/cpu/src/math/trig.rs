//! `sin`, `cos`, `tan`: reduction modulo pi/2, fdlibm's kernels, quadrant selection.
//!
//! Reduction has two paths. Up to `2^19 pi/2` it is fdlibm's "medium" Cody–Waite
//! reduction (`e_rem_pio2.c`) with all three rounds done unconditionally: pi/2 in
//! 33-bit pieces so every `n * piece` is exact, giving `x - n pi/2` to about 151 bits
//! before cancellation, as a double-double `y0 + y1`. Beyond it (any finite double,
//! up to 1.8e308) the reduction is exact Payne–Hanek: the 53-bit mantissa times a
//! 192-bit window of 2/pi chosen by the exponent, in 64-bit integer arithmetic, so the
//! fraction is known to more than 120 bits even in the worst case (no double lies
//! closer than about 2^-61 to a multiple of pi/2). That path is per lane and branched
//! around, since real workloads rarely take it.
//!
//! The kernels are fdlibm's `__kernel_sin` / `__kernel_cos` minimax polynomials on
//! `[-pi/4, pi/4]` taking the reduced argument as a double-double (error below one
//! ulp); `tan` is their quotient.

// Published coefficients keep their published digits, so they can be checked
// against the source; the compiler rounds them to the same doubles.
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder, Value};

use super::vx::Vx;

const S1: f64 = -1.66666666666666324348e-01; // 0xBFC55555 55555549
const S2: f64 = 8.33333333332248946124e-03; // 0x3F811111 1110F8A6
const S3: f64 = -1.98412698298579493134e-04; // 0xBF2A01A0 19C161D5
const S4: f64 = 2.75573137070700676789e-06; // 0x3EC71DE3 57B1FE7D
const S5: f64 = -2.50507602534068634195e-08; // 0xBE5AE5E6 8A2B9CEB
const S6: f64 = 1.58969099521155010221e-10; // 0x3DE5D93A 5ACFD57C

const C1: f64 = 4.16666666666666019037e-02; // 0x3FA55555 5555554C
const C2: f64 = -1.38888888888741095749e-03; // 0xBF56C16C 16C15177
const C3: f64 = 2.48015872894767294178e-05; // 0x3EFA01A0 19CB1590
const C4: f64 = -2.75573143513906633035e-07; // 0xBE927E4F 809C52AD
const C5: f64 = 2.08757232129817482790e-09; // 0x3E21EE9E BDB4B1C4
const C6: f64 = -1.13596475577881948265e-11; // 0xBDA8FAE9 BE8838D4

const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI; // 0x3FE45F30 6DC9C883
const PIO2_1: f64 = 1.57079632673412561417e+00; // 0x3FF921FB 54400000, first 33 bits
const PIO2_2: f64 = 6.07710050630396597660e-11; // 0x3DD0B461 1A600000, next 33
const PIO2_3: f64 = 2.02226624871116645580e-21; // 0x3BA3198A 2E000000, next 33
const PIO2_3T: f64 = 8.47842766036889956997e-32; // 0x397B839A 252049C1, pi/2 - 1 - 2 - 3

/// Where the medium reduction stops being exact (fdlibm's bound, 2^19 pi/2).
const MEDIUM_LIMIT: f64 = 823549.0;

/// pi/2 as a double-double.
const PIO2_HI: f64 = std::f64::consts::FRAC_PI_2;
const PIO2_LO: f64 = 6.123233995736766e-17;

/// The binary expansion of 2/pi, most significant first, after one word of zeros so
/// windows starting before the binary point read zeros. 1216 bits cover every double
/// exponent plus the 192-bit window. Computed with 3000-bit arithmetic; the first
/// words match the published table of fdlibm's `k_rem_pio2.c` (`0xA2F983, 0x6E4E44,
/// ...`).
static TWO_OVER_PI: [u64; 20] = [
    0,
    0xA2F9836E4E441529,
    0xFC2757D1F534DDC0,
    0xDB6295993C439041,
    0xFE5163ABDEBBC561,
    0xB7246E3A424DD2E0,
    0x06492EEA09D1921C,
    0xFE1DEB1CB129A73E,
    0xE88235F52EBB4484,
    0xE99C7026B45F7E41,
    0x3991D639835339F4,
    0x9C845F8BBDF9283B,
    0x1FF897FFDE05980F,
    0xEF2F118B5A0A6D1F,
    0x6D367ECF27CB09B7,
    0x4F463F669E5FEA2D,
    0x7527BAC7EBE5F17B,
    0x3D0739F78A5292EA,
    0x6BFB5FB11F8D5D08,
    0x56033046FC7B6BAB,
];

/// `x = n pi/2 + y0 + y1` with `|y0 + y1| <= ~pi/4`; `n` as an integer vector whose
/// low two bits are the quadrant.
fn reduce(cx: &mut Vx, x: Value) -> (Value, Value, Value) {
    let t = cx.mulc(x, INV_PIO2);
    let (n, tn) = cx.round_int(t);
    let nbits = cx.bits(tn);
    let p1 = cx.mulc(n, PIO2_1);
    let r1 = cx.sub(x, p1);
    // x - n (P1 + P2) = r2 + e2 and then r2 - n P3 = r3 + e3, both exactly: each
    // difference is either exact by Sterbenz or small against the other operand.
    let w2 = cx.mulc(n, PIO2_2);
    let r2 = cx.sub(r1, w2);
    let d2 = cx.sub(r1, r2);
    let e2 = cx.sub(d2, w2);
    let w3 = cx.mulc(n, PIO2_3);
    let r3 = cx.sub(r2, w3);
    let d3 = cx.sub(r2, r3);
    let e3 = cx.sub(d3, w3);
    // x - n pi/2 = r3 - tail.
    let t3 = cx.mulc(n, PIO2_3T);
    let e23 = cx.add(e2, e3);
    let tail = cx.sub(t3, e23);
    let y0 = cx.sub(r3, tail);
    let dy = cx.sub(r3, y0);
    let y1 = cx.sub(dy, tail);

    let a = cx.abs(x);
    let big = cx.gtc(a, MEDIUM_LIMIT);
    let finite = cx.ltc(a, f64::INFINITY);
    let big = cx.and(big, finite);
    let any = cx.any(big);

    let slow = cx.b.create_block();
    let join = cx.b.create_block();
    cx.b.append_block_param(join, cx.ty);
    cx.b.append_block_param(join, cx.ty);
    cx.b.append_block_param(join, cx.ity);
    let fast_args = [y0.into(), y1.into(), nbits.into()];
    cx.b.ins().brif(any, slow, &[], join, &fast_args);

    cx.b.switch_to_block(slow);
    cx.b.seal_block(slow);
    let (sy0, sy1, sn) = if cx.is_vector() {
        let (mut vy0, mut vy1, mut vn) = (y0, y1, nbits);
        for lane in 0..cx.lanes() {
            let xl = cx.b.ins().extractlane(x, lane);
            let (ly0, ly1, ln) = payne_hanek(&mut cx.scalar(), xl);
            vy0 = cx.b.ins().insertlane(vy0, ly0, lane);
            vy1 = cx.b.ins().insertlane(vy1, ly1, lane);
            vn = cx.b.ins().insertlane(vn, ln, lane);
        }
        (vy0, vy1, vn)
    } else {
        payne_hanek(&mut cx.scalar(), x)
    };
    let sy0 = cx.sel(big, sy0, y0);
    let sy1 = cx.sel(big, sy1, y1);
    let sn = cx.sel(big, sn, nbits);
    let slow_args = [sy0.into(), sy1.into(), sn.into()];
    cx.b.ins().jump(join, &slow_args);

    cx.b.switch_to_block(join);
    cx.b.seal_block(join);
    let params = cx.b.block_params(join);
    (params[0], params[1], params[2])
}

/// Exact reduction of one finite f64 lane (scalar code). For lanes that do not need
/// it the result is garbage, but every load stays inside the table.
fn payne_hanek(s: &mut Vx, x: Value) -> (Value, Value, Value) {
    let xb = s.bits(x);
    let ab = s.iandc(xb, i64::MAX);
    let e = s.shr(ab, 52);
    let m = s.iandc(ab, 0x000f_ffff_ffff_ffff);
    let m = s.iorc(m, 1 << 52);
    // x = m 2^E with E = e - 1075. Bits of 2/pi above weight 2^-(E-1) contribute
    // multiples of 4 to x 2/pi and drop out; the window starts there, at global bit
    // 64 + (E - 1) - 1 of the table (one word of leading zeros).
    let g0 = s.iaddc(e, -1013);
    let zero = s.i(0);
    let g0 = s.b.ins().smax(g0, zero);
    let wi = s.shr(g0, 6);
    let sh = s.iandc(g0, 63);
    let base = s.i(TWO_OVER_PI.as_ptr() as i64);
    let off = s.shl(wi, 3);
    let addr = s.iadd(base, off);
    let flags = ir::MemFlagsData::trusted().with_readonly();
    let t: Vec<Value> = (0..4)
        .map(|i| s.b.ins().load(types::I64, flags, addr, 8 * i))
        .collect();
    let w0 = funnel(s, t[0], t[1], sh);
    let w1 = funnel(s, t[1], t[2], sh);
    let w2 = funnel(s, t[2], t[3], sh);
    // m * (w0 2^128 + w1 2^64 + w2); x 2/pi = that * 2^-190 (mod 4), so only words
    // below 2^192 matter.
    let l2 = s.b.ins().imul(m, w2);
    let h2 = s.b.ins().umulhi(m, w2);
    let l1 = s.b.ins().imul(m, w1);
    let h1 = s.b.ins().umulhi(m, w1);
    let l0 = s.b.ins().imul(m, w0);
    let p1 = s.iadd(l1, h2);
    let carry = s.b.ins().icmp(IntCC::UnsignedLessThan, p1, l1);
    let carry = s.b.ins().uextend(types::I64, carry);
    let p2 = s.iadd(l0, h1);
    let p2 = s.iadd(p2, carry);
    let p0 = l2;
    let n = s.shr(p2, 62);
    // The fraction, left-aligned: q2 q1 = bits 189..62 of the product.
    let q2 = s.shl(p2, 2);
    let t1 = s.shr(p1, 62);
    let q2 = s.ior(q2, t1);
    let q1 = s.shl(p1, 2);
    let t0 = s.shr(p0, 62);
    let q1 = s.ior(q1, t0);
    // A fraction >= 1/2 rounds n up and leaves 1 - f (the ones' complement, off by
    // 2^-128) with a negative sign.
    let neg = s.shr(q2, 63);
    let mask = s.b.ins().ineg(neg);
    let q2 = s.ixor(q2, mask);
    let q1 = s.ixor(q1, mask);
    let n = s.iadd(n, neg);
    // Normalise: |f| >= 2^-62, so the leading one is in q2.
    let lz = s.b.ins().clz(q2);
    let n2 = funnel(s, q2, q1, lz);
    let n1 = s.b.ins().ishl(q1, lz);
    let hi = s.shr(n2, 11);
    let lo_a = s.iandc(n2, 0x7ff);
    let lo_a = s.shl(lo_a, 42);
    let lo_b = s.shr(n1, 22);
    let lo = s.ior(lo_a, lo_b);
    let fh = s.b.ins().fcvt_from_sint(types::F64, hi);
    let fl = s.b.ins().fcvt_from_sint(types::F64, lo);
    // 2^-(53 + lz) and 2^-(106 + lz), built from their exponent fields.
    let c1 = s.i(1023 - 53);
    let e1 = s.isub(c1, lz);
    let e1 = s.shl(e1, 52);
    let sc1 = s.float_of(e1);
    let c2 = s.i(1023 - 106);
    let e2 = s.isub(c2, lz);
    let e2 = s.shl(e2, 52);
    let sc2 = s.float_of(e2);
    let fh = s.mul(fh, sc1);
    let fl = s.mul(fl, sc2);
    // y = f pi/2 as a double-double.
    let ph = s.f(PIO2_HI);
    let (rh, re) = s.two_prod(fh, ph);
    let a1 = s.mulc(fh, PIO2_LO);
    let a2 = s.mulc(fl, PIO2_HI);
    let a12 = s.add(a1, a2);
    let rl = s.add(re, a12);
    let (y0, y1) = s.fast_two_sum(rh, rl);
    // Signs: the rounding up above, then the sign of x (which also negates n).
    let sx = s.shr(xb, 63);
    let flip = s.ixor(neg, sx);
    let flip = s.shl(flip, 63);
    let y0 = s.xor_sign(y0, flip);
    let y1 = s.xor_sign(y1, flip);
    let nm = s.b.ins().ineg(sx);
    let n = s.ixor(n, nm);
    let n = s.iadd(n, sx);
    (y0, y1, n)
}

/// The 64 bits of `hi:lo` starting `sh` bits in (`sh` in 0..64; shifting by 64 is
/// avoided because shift amounts wrap).
fn funnel(s: &mut Vx, hi: Value, lo: Value, sh: Value) -> Value {
    let a = s.b.ins().ishl(hi, sh);
    let c63 = s.i(63);
    let inv = s.isub(c63, sh);
    let l1 = s.shr(lo, 1);
    let b = s.b.ins().ushr(l1, inv);
    s.ior(a, b)
}

/// fdlibm's `__kernel_sin(x, y, 1)`, as the unevaluated sum `x + t` (`t` is small
/// against `x`, so the pair carries a few extra bits for `tan`).
fn ksin(cx: &mut Vx, x: Value, y: Value) -> (Value, Value) {
    let z = cx.mul(x, x);
    let w = cx.mul(z, z);
    let r = cx.horner(z, &[S4, S3, S2]);
    let r2 = cx.horner(z, &[S6, S5]);
    let zw = cx.mul(z, w);
    let r = cx.mad(zw, r2, r);
    let v = cx.mul(z, x);
    let hy = cx.mulc(y, 0.5);
    let vr = cx.mul(v, r);
    let a = cx.sub(hy, vr);
    let a = cx.mul(z, a);
    let a = cx.sub(a, y);
    let vs = cx.mulc(v, S1);
    let a = cx.sub(a, vs);
    let t = cx.neg(a);
    (x, t)
}

/// fdlibm's `__kernel_cos(x, y)` in musl's form, as the unevaluated sum `w + t`.
fn kcos(cx: &mut Vx, x: Value, y: Value) -> (Value, Value) {
    let z = cx.mul(x, x);
    let w = cx.mul(z, z);
    let r = cx.horner(z, &[C3, C2, C1]);
    let r = cx.mul(z, r);
    let r2 = cx.horner(z, &[C6, C5, C4]);
    let ww = cx.mul(w, w);
    let r = cx.mad(ww, r2, r);
    let hz = cx.mulc(z, 0.5);
    let w1 = cx.rsubc(1.0, hz);
    let a = cx.rsubc(1.0, w1);
    let a = cx.sub(a, hz);
    let zr = cx.mul(z, r);
    let xy = cx.mul(x, y);
    let b = cx.sub(zr, xy);
    let a = cx.add(a, b);
    (w1, a)
}

/// Both kernels (as pairs) and the mask of odd quadrants.
struct Parts {
    s: (Value, Value),
    c: (Value, Value),
    odd: Value,
    n: Value,
}

fn parts(cx: &mut Vx, x: Value) -> Parts {
    let (y0, y1, n) = reduce(cx, x);
    let s = ksin(cx, y0, y1);
    let c = kcos(cx, y0, y1);
    let low = cx.iandc(n, 1);
    let one = cx.i(1);
    let odd = cx.ieq(low, one);
    Parts { s, c, odd, n }
}

pub(super) fn sin(cx: &mut Vx, x: Value) -> Value {
    let p = parts(cx, x);
    let s = cx.add(p.s.0, p.s.1);
    let c = cx.add(p.c.0, p.c.1);
    let v = cx.sel(p.odd, c, s);
    let sign = cx.shl(p.n, 62);
    cx.xor_sign(v, sign)
}

pub(super) fn cos(cx: &mut Vx, x: Value) -> Value {
    let p = parts(cx, x);
    let s = cx.add(p.s.0, p.s.1);
    let c = cx.add(p.c.0, p.c.1);
    let v = cx.sel(p.odd, s, c);
    let n1 = cx.iaddc(p.n, 1);
    let sign = cx.shl(n1, 62);
    cx.xor_sign(v, sign)
}

pub(super) fn tan(cx: &mut Vx, x: Value) -> Value {
    let p = parts(cx, x);
    let (nh, nl) = (cx.sel(p.odd, p.c.0, p.s.0), cx.sel(p.odd, p.c.1, p.s.1));
    let (dh, dl) = (cx.sel(p.odd, p.s.0, p.c.0), cx.sel(p.odd, p.s.1, p.c.1));
    let t = cx.dd_div(nh, nl, dh, dl);
    let sign = cx.shl(p.n, 63);
    let t = cx.xor_sign(t, sign);
    // The correction turns tan(-0) into +0.
    let z = cx.eqc(x, 0.0);
    cx.sel(z, x, t)
}
