//! Double-double arithmetic (about 106 bits) for the f64 reference values.
//!
//! The algorithms are the standard error-free transformations (Knuth's two-sum,
//! FMA two-product) with the renormalisations of the QD library (Hida, Li, Bailey,
//! "Library for double-double and quad-double arithmetic", 2007); relative error of
//! each operation is a few units of 2^-106.

use std::ops::{Add, Div, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DD {
    pub hi: f64,
    pub lo: f64,
}

#[inline(always)]
pub fn two_sum(a: f64, b: f64) -> DD {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    DD { hi: s, lo: e }
}

#[inline(always)]
pub fn fast_two_sum(a: f64, b: f64) -> DD {
    let s = a + b;
    DD {
        hi: s,
        lo: b - (s - a),
    }
}

#[inline(always)]
pub fn two_prod(a: f64, b: f64) -> DD {
    let p = a * b;
    DD {
        hi: p,
        lo: a.mul_add(b, -p),
    }
}

impl DD {
    pub const ZERO: DD = DD { hi: 0.0, lo: 0.0 };
    pub const ONE: DD = DD { hi: 1.0, lo: 0.0 };

    #[inline(always)]
    pub const fn new(hi: f64, lo: f64) -> DD {
        DD { hi, lo }
    }

    #[inline(always)]
    pub fn from(x: f64) -> DD {
        DD { hi: x, lo: 0.0 }
    }

    /// `hi + lo` rounded to f64.
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    #[inline(always)]
    pub fn mul_f(self, b: f64) -> DD {
        let p = two_prod(self.hi, b);
        fast_two_sum(p.hi, p.lo + self.lo * b)
    }

    #[inline(always)]
    pub fn add_f(self, b: f64) -> DD {
        let s = two_sum(self.hi, b);
        fast_two_sum(s.hi, s.lo + self.lo)
    }

    pub fn div_f(self, b: f64) -> DD {
        let q1 = self.hi / b;
        let r = self - two_prod(q1, b);
        let q2 = r.hi / b;
        let r = r - two_prod(q2, b);
        let q3 = r.hi / b;
        fast_two_sum(q1, q2) + DD::from(q3)
    }

    /// Multiplies by 2^k exactly (no overflow or underflow in the callers' ranges).
    pub fn ldexp(self, k: i32) -> DD {
        DD {
            hi: ldexp(self.hi, k),
            lo: ldexp(self.lo, k),
        }
    }

    pub fn abs(self) -> DD {
        if self.hi < 0.0 {
            -self
        } else {
            self
        }
    }

    pub fn sqrt(self) -> DD {
        if self.hi <= 0.0 {
            return DD::from(self.hi.sqrt());
        }
        let s = self.hi.sqrt();
        let r = self - two_prod(s, s);
        fast_two_sum(s, r.hi / (2.0 * s))
    }

    pub fn recip(self) -> DD {
        DD::ONE / self
    }
}

impl Add for DD {
    type Output = DD;
    #[inline(always)]
    fn add(self, b: DD) -> DD {
        let s = two_sum(self.hi, b.hi);
        let t = two_sum(self.lo, b.lo);
        let s = fast_two_sum(s.hi, s.lo + t.hi);
        fast_two_sum(s.hi, s.lo + t.lo)
    }
}

impl Sub for DD {
    type Output = DD;
    #[inline(always)]
    fn sub(self, b: DD) -> DD {
        self + (-b)
    }
}

impl Neg for DD {
    type Output = DD;
    #[inline(always)]
    fn neg(self) -> DD {
        DD {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Mul for DD {
    type Output = DD;
    #[inline(always)]
    fn mul(self, b: DD) -> DD {
        let p = two_prod(self.hi, b.hi);
        fast_two_sum(p.hi, p.lo + (self.hi * b.lo + self.lo * b.hi))
    }
}

impl Div for DD {
    type Output = DD;
    fn div(self, b: DD) -> DD {
        let q1 = self.hi / b.hi;
        let r = self - b.mul_f(q1);
        let q2 = r.hi / b.hi;
        let r = r - b.mul_f(q2);
        let q3 = r.hi / b.hi;
        fast_two_sum(q1, q2) + DD::from(q3)
    }
}

/// `x * 2^k` for any `k`, in steps that are exact unless the result is subnormal.
pub fn ldexp(x: f64, k: i32) -> f64 {
    let mut x = x;
    let mut k = k;
    while k > 1000 {
        x *= 2f64.powi(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= 2f64.powi(-1000);
        k += 1000;
    }
    x * 2f64.powi(k)
}

/// floor(log2 |x|) for finite nonzero x, subnormals included.
pub fn exponent(x: f64) -> i32 {
    let b = x.abs().to_bits();
    let e = (b >> 52) as i32;
    if e == 0 {
        // Subnormal: position of the leading one.
        63 - b.leading_zeros() as i32 - 1074
    } else {
        e - 1023
    }
}
