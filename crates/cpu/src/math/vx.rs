//! A thin layer over the instruction builder that lets every kernel be written once
//! for scalars (`F64`) and vectors (`F64X2`): constants are splatted, comparisons give
//! a mask of the right kind (an `i8` flag for scalars, a lane mask for vectors), and
//! selects use `select` or `bitselect` accordingly.
//!
//! It also holds the error-free transformations (two-sum, two-product) the kernels
//! use for extra precision, with Dekker's product when FMA is not native.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{self, types, InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

use super::Features;

/// How much accuracy the final result needs: f32 results are computed in f64 and can
/// use shorter polynomials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Prec {
    F32,
    F64,
}

pub(super) struct Vx<'a, 'f> {
    pub b: &'a mut FunctionBuilder<'f>,
    /// `F64` or `F64X2`.
    pub ty: Type,
    /// The integer type of the same shape: `I64` or `I64X2`.
    pub ity: Type,
    pub prec: Prec,
    pub fma: bool,
}

fn le() -> ir::MemFlagsData {
    ir::MemFlagsData::new().with_endianness(ir::Endianness::Little)
}

impl<'a, 'f> Vx<'a, 'f> {
    pub fn new(b: &'a mut FunctionBuilder<'f>, ty: Type, prec: Prec, features: Features) -> Self {
        let ity = if ty.is_vector() {
            types::I64X2
        } else {
            types::I64
        };
        Vx {
            b,
            ty,
            ity,
            prec,
            fma: features.fma,
        }
    }

    /// A scalar view on the same builder, for per-lane code.
    pub fn scalar(&mut self) -> Vx<'_, 'f> {
        Vx {
            b: &mut *self.b,
            ty: types::F64,
            ity: types::I64,
            prec: self.prec,
            fma: self.fma,
        }
    }

    pub fn is_vector(&self) -> bool {
        self.ty.is_vector()
    }

    pub fn lanes(&self) -> u8 {
        self.ty.lane_count() as u8
    }

    // ---- constants ----

    pub fn f(&mut self, c: f64) -> Value {
        let s = self.b.ins().f64const(c);
        if self.is_vector() {
            self.b.ins().splat(self.ty, s)
        } else {
            s
        }
    }

    pub fn i(&mut self, c: i64) -> Value {
        let s = self.b.ins().iconst(types::I64, c);
        if self.is_vector() {
            self.b.ins().splat(self.ity, s)
        } else {
            s
        }
    }

    // ---- float arithmetic ----

    pub fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }
    pub fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }
    pub fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }
    pub fn div(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }
    pub fn neg(&mut self, a: Value) -> Value {
        self.b.ins().fneg(a)
    }
    pub fn abs(&mut self, a: Value) -> Value {
        self.b.ins().fabs(a)
    }
    pub fn sqrt(&mut self, a: Value) -> Value {
        self.b.ins().sqrt(a)
    }
    /// `min(x, c)` with a NaN `x` kept (it compares false): a compare and a select,
    /// where `fmin`'s NaN-propagating lowering is several dependent instructions (at
    /// the head of every exponential's chain, that made `exp` twice as slow).
    pub fn at_most(&mut self, x: Value, c: f64) -> Value {
        let above = self.gtc(x, c);
        let c = self.f(c);
        self.sel(above, c, x)
    }
    /// `max(x, c)` with a NaN `x` kept, as [`Self::at_most`].
    pub fn at_least(&mut self, x: Value, c: f64) -> Value {
        let below = self.ltc(x, c);
        let c = self.f(c);
        self.sel(below, c, x)
    }
    /// Minimum; NaN if either operand is NaN.
    pub fn min(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmin(a, b)
    }
    pub fn max(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmax(a, b)
    }
    /// The magnitude of `a` with the sign of `b`.
    pub fn copysign(&mut self, a: Value, b: Value) -> Value {
        if !self.is_vector() {
            return self.b.ins().fcopysign(a, b);
        }
        // x64 has no vector `fcopysign` lowering.
        let ab = self.bits(a);
        let bb = self.bits(b);
        let mag = self.iandc(ab, i64::MAX);
        let sign = self.iandc(bb, i64::MIN);
        let r = self.ior(mag, sign);
        self.float_of(r)
    }

    pub fn addc(&mut self, a: Value, c: f64) -> Value {
        let c = self.f(c);
        self.add(a, c)
    }
    pub fn mulc(&mut self, a: Value, c: f64) -> Value {
        let c = self.f(c);
        self.mul(a, c)
    }
    /// `c - a`.
    pub fn rsubc(&mut self, c: f64, a: Value) -> Value {
        let c = self.f(c);
        self.sub(c, a)
    }

    /// `a * b + c`, fused when FMA is native (rounding differs only in the last bit,
    /// which polynomial evaluation tolerates).
    pub fn mad(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.fma {
            self.b.ins().fma(a, b, c)
        } else {
            let p = self.mul(a, b);
            self.add(p, c)
        }
    }

    /// Horner's scheme; `coeffs` from the highest degree down.
    pub fn horner(&mut self, x: Value, coeffs: &[f64]) -> Value {
        let mut p = self.f(coeffs[0]);
        for &c in &coeffs[1..] {
            let c = self.f(c);
            p = self.mad(p, x, c);
        }
        p
    }

    /// The same polynomial as [`Self::horner`] (`coeffs` from the highest degree down),
    /// its `horner_tail` lowest coefficients by Horner's scheme and the rest by
    /// Estrin's: pairs `a + b·x`, then pairs of those with `x²`, with `x⁴`… Estrin's
    /// chain of dependent operations grows with the log of the degree instead of the
    /// degree, which is what bounds a long polynomial in a vector loop (each
    /// iteration's chain is longer than the out-of-order window can overlap); the
    /// last Horner steps keep the rounding of the terms that dominate the value.
    pub fn estrin_horner(&mut self, x: Value, coeffs: &[f64], horner_tail: usize) -> Value {
        let split = coeffs.len().saturating_sub(horner_tail).max(1);
        let mut p = self.estrin(x, &coeffs[..split]);
        for &c in &coeffs[split..] {
            let c = self.f(c);
            p = self.mad(p, x, c);
        }
        p
    }

    /// [`Self::horner`]'s polynomial by Estrin's scheme alone (see
    /// [`Self::estrin_horner`]).
    fn estrin(&mut self, x: Value, coeffs: &[f64]) -> Value {
        let mut terms: Vec<Value> = coeffs.iter().rev().map(|&c| self.f(c)).collect();
        let mut power = x;
        while terms.len() > 1 {
            let pairs: Vec<Value> = terms
                .chunks(2)
                .map(|pair| match *pair {
                    [lo, hi] => self.mad(hi, power, lo),
                    _ => pair[0],
                })
                .collect();
            terms = pairs;
            if terms.len() > 1 {
                power = self.mul(power, power);
            }
        }
        terms[0]
    }

    /// Horner's scheme over per-lane coefficients.
    pub fn horner_v(&mut self, x: Value, coeffs: &[Value]) -> Value {
        let mut p = coeffs[0];
        for &c in &coeffs[1..] {
            p = self.mad(p, x, c);
        }
        p
    }

    // ---- error-free transformations ----

    /// `a + b = s + e` exactly, for `|a| >= |b|` (or `a` zero).
    pub fn fast_two_sum(&mut self, a: Value, b: Value) -> (Value, Value) {
        let s = self.add(a, b);
        let t = self.sub(s, a);
        let e = self.sub(b, t);
        (s, e)
    }

    /// `a + b = s + e` exactly (Knuth).
    pub fn two_sum(&mut self, a: Value, b: Value) -> (Value, Value) {
        let s = self.add(a, b);
        let bb = self.sub(s, a);
        let aa = self.sub(s, bb);
        let db = self.sub(b, bb);
        let da = self.sub(a, aa);
        let e = self.add(da, db);
        (s, e)
    }

    /// `a * b = p + e` exactly (barring underflow, and overflow of the splitting for
    /// `|a|, |b| > 2^995` without FMA).
    pub fn two_prod(&mut self, a: Value, b: Value) -> (Value, Value) {
        let p = self.mul(a, b);
        if self.fma {
            let np = self.neg(p);
            let e = self.b.ins().fma(a, b, np);
            return (p, e);
        }
        let (ah, al) = self.split(a);
        let (bh, bl) = self.split(b);
        let hh = self.mul(ah, bh);
        let t = self.sub(hh, p);
        let hl = self.mul(ah, bl);
        let t = self.add(t, hl);
        let lh = self.mul(al, bh);
        let t = self.add(t, lh);
        let ll = self.mul(al, bl);
        let e = self.add(t, ll);
        (p, e)
    }

    /// Veltkamp's split into two 26-bit halves.
    fn split(&mut self, a: Value) -> (Value, Value) {
        let c = self.mulc(a, 134217729.0);
        let d = self.sub(c, a);
        let hi = self.sub(c, d);
        let lo = self.sub(a, hi);
        (hi, lo)
    }

    /// Double-double sum, renormalised.
    pub fn dd_add(&mut self, ah: Value, al: Value, bh: Value, bl: Value) -> (Value, Value) {
        let (s, e) = self.two_sum(ah, bh);
        let l = self.add(al, bl);
        let e = self.add(e, l);
        self.fast_two_sum(s, e)
    }

    /// Double-double product, renormalised.
    pub fn dd_mul(&mut self, ah: Value, al: Value, bh: Value, bl: Value) -> (Value, Value) {
        let (p, e) = self.two_prod(ah, bh);
        let x = self.mul(ah, bl);
        let y = self.mul(al, bh);
        let xy = self.add(x, y);
        let e = self.add(e, xy);
        self.fast_two_sum(p, e)
    }

    /// `(nh + nl) / (dh + dl)` rounded about once: the double quotient plus one
    /// correction from the exact remainder.
    pub fn dd_div(&mut self, nh: Value, nl: Value, dh: Value, dl: Value) -> Value {
        let sn = self.add(nh, nl);
        let sd = self.add(dh, dl);
        let q = self.div(sn, sd);
        let (p, pe) = self.two_prod(q, dh);
        let r = self.sub(nh, p);
        let r = self.sub(r, pe);
        let qdl = self.mul(q, dl);
        let r2 = self.sub(nl, qdl);
        let r = self.add(r, r2);
        let corr = self.div(r, sd);
        self.add(q, corr)
    }

    // ---- comparisons and masks ----

    pub fn fcmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(cc, a, b)
    }
    pub fn lt(&mut self, a: Value, b: Value) -> Value {
        self.fcmp(FloatCC::LessThan, a, b)
    }
    pub fn ltc(&mut self, a: Value, c: f64) -> Value {
        let c = self.f(c);
        self.lt(a, c)
    }
    pub fn gtc(&mut self, a: Value, c: f64) -> Value {
        let c = self.f(c);
        self.fcmp(FloatCC::GreaterThan, a, c)
    }
    pub fn gec(&mut self, a: Value, c: f64) -> Value {
        let c = self.f(c);
        self.fcmp(FloatCC::GreaterThanOrEqual, a, c)
    }
    pub fn eqc(&mut self, a: Value, c: f64) -> Value {
        let c = self.f(c);
        self.fcmp(FloatCC::Equal, a, c)
    }
    pub fn and(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    pub fn or(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    /// Mask complement (scalar masks are 0/1 flags, vector masks all-ones lanes).
    pub fn not(&mut self, m: Value) -> Value {
        if self.is_vector() {
            self.b.ins().bnot(m)
        } else {
            self.b.ins().bxor_imm_u(m, 1)
        }
    }
    pub fn xor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bxor(a, b)
    }
    /// Integer equality as a mask.
    pub fn ieq(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().icmp(IntCC::Equal, a, b)
    }

    /// `m ? a : b` per lane, for float or integer operands.
    pub fn sel(&mut self, m: Value, a: Value, b: Value) -> Value {
        if !self.is_vector() {
            return self.b.ins().select(m, a, b);
        }
        let ty = self.b.func.dfg.value_type(a);
        let mty = self.b.func.dfg.value_type(m);
        let m = if mty == ty {
            m
        } else {
            self.b.ins().bitcast(ty, le(), m)
        };
        self.b.ins().bitselect(m, a, b)
    }

    /// `m ? c : b`.
    pub fn selc(&mut self, m: Value, c: f64, b: Value) -> Value {
        let c = self.f(c);
        self.sel(m, c, b)
    }

    /// Whether any lane of the mask is set, as a branch condition.
    pub fn any(&mut self, m: Value) -> Value {
        if self.is_vector() {
            self.b.ins().vany_true(m)
        } else {
            m
        }
    }

    // ---- integer views ----

    pub fn bits(&mut self, a: Value) -> Value {
        self.b.ins().bitcast(self.ity, le(), a)
    }
    pub fn float_of(&mut self, a: Value) -> Value {
        self.b.ins().bitcast(self.ty, le(), a)
    }
    pub fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().iadd(a, b)
    }
    pub fn iaddc(&mut self, a: Value, c: i64) -> Value {
        let c = self.i(c);
        self.iadd(a, c)
    }
    pub fn isub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().isub(a, b)
    }
    pub fn iand(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    pub fn iandc(&mut self, a: Value, c: i64) -> Value {
        let c = self.i(c);
        self.iand(a, c)
    }
    pub fn ior(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    pub fn iorc(&mut self, a: Value, c: i64) -> Value {
        let c = self.i(c);
        self.ior(a, c)
    }
    pub fn ixor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bxor(a, b)
    }
    pub fn shl(&mut self, a: Value, n: i64) -> Value {
        let n = self.b.ins().iconst(types::I32, n);
        self.b.ins().ishl(a, n)
    }
    pub fn shr(&mut self, a: Value, n: i64) -> Value {
        let n = self.b.ins().iconst(types::I32, n);
        self.b.ins().ushr(a, n)
    }

    /// Flips the sign of `a` where bit 63 of `s` is set.
    pub fn xor_sign(&mut self, a: Value, s: Value) -> Value {
        let ab = self.bits(a);
        let s = self.iandc(s, i64::MIN);
        let r = self.ixor(ab, s);
        self.float_of(r)
    }

    // ---- shared building blocks ----

    /// Rounds `a` (|a| < 2^51) to the nearest integer (ties to even) by adding and
    /// subtracting 1.5 * 2^52; also returns the sum, whose low mantissa bits hold the
    /// integer in two's complement.
    pub fn round_int(&mut self, a: Value) -> (Value, Value) {
        let t = self.addc(a, ROUND_SHIFT);
        let k = self.addc(t, -ROUND_SHIFT);
        (k, t)
    }

    /// `2^k` for an integer-valued `k` in `[-1022, 1023]`.
    pub fn pow2i(&mut self, k: Value) -> Value {
        let t = self.addc(k, ROUND_SHIFT + 1023.0);
        let tb = self.bits(t);
        let e = self.shl(tb, 52);
        self.float_of(e)
    }

    /// `y * 2^k` for an integer-valued `k` in `[-2044, 2046]`, in two steps so both
    /// factors are normal and a subnormal result is rounded only once.
    pub fn scale(&mut self, y: Value, k: Value) -> Value {
        let half = self.mulc(k, 0.5);
        let (k1, _) = self.round_int(half);
        let k2 = self.sub(k, k1);
        let s1 = self.pow2i(k1);
        let s2 = self.pow2i(k2);
        let y = self.mul(y, s1);
        self.mul(y, s2)
    }
}

/// 1.5 * 2^52: adding it rounds a double of magnitude below 2^51 to an integer.
pub(super) const ROUND_SHIFT: f64 = 6755399441055744.0;
