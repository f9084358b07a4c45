//! Shared pieces of the math tests: the JIT harness, double-double references,
//! input generators and ulp measurement.

#![allow(dead_code)]

pub mod dd;
pub mod inputs;
pub mod jit;
pub mod oracle;
pub mod reference;

use dd::{exponent, ldexp};
use reference::Ref;

/// Binary format parameters for ulp measurement.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    /// Significand bits including the implicit one.
    pub p: i32,
    /// Exponent of the smallest normal number.
    pub emin: i32,
    /// Exponent of the largest finite number.
    pub emax: i32,
}

pub const F64: Format = Format {
    p: 53,
    emin: -1022,
    emax: 1023,
};
pub const F32: Format = Format {
    p: 24,
    emin: -126,
    emax: 127,
};

/// Error of `ours` against the exact value `r` in ulps of the exact value (for
/// results below the normal range, in units of the smallest subnormal). Infinite
/// when a NaN, an infinity or a zero is wrong; signs of zeros are not compared here.
pub fn ulp_error(ours: f64, r: Ref, fmt: Format) -> f64 {
    let v = r.m.hi;
    if v.is_nan() {
        return if ours.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if ours.is_nan() {
        return f64::INFINITY;
    }
    if v.is_infinite() {
        return if ours == v { 0.0 } else { f64::INFINITY };
    }
    if v == 0.0 {
        return if ours == 0.0 {
            0.0
        } else {
            (ours / ldexp(1.0, fmt.emin - fmt.p + 1)).abs()
        };
    }
    let ev = exponent(v) + r.e;
    // The exact value rounds to infinity from 2^(emax+1) (1 - 2^-(p+1)) on.
    let to_inf = ev > fmt.emax
        || (ev == fmt.emax
            && ldexp(r.m.to_f64().abs(), r.e - fmt.emax) >= 2.0 * (1.0 - ldexp(1.0, -fmt.p - 1)));
    if ours.is_infinite() {
        return if to_inf && ours.signum() == v.signum() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let ulp_exp = ev.clamp(fmt.emin, fmt.emax) - fmt.p + 1;
    // (ours 2^-e - m) 2^(e - ulp_exp), exact until the final rounding.
    let d = (ldexp(ours, -r.e) - r.m.hi) - r.m.lo;
    ldexp(d.abs(), r.e - ulp_exp)
}

/// The maximum error over a run and where it happened.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worst {
    pub ulp: f64,
    pub x: f64,
    pub y: f64,
    pub ours: f64,
    pub want: f64,
}

impl Worst {
    pub fn update(&mut self, e: f64, x: f64, y: f64, ours: f64, want: &Ref) {
        if e > self.ulp || e.is_nan() {
            *self = Worst {
                ulp: e,
                x,
                y,
                ours,
                want: want.m.to_f64() * ldexp(1.0, want.e),
            };
        }
    }

    pub fn merge(&mut self, o: &Worst) {
        if o.ulp > self.ulp {
            *self = *o;
        }
    }
}

/// Splits `0..n` over the available cores (the references dominate test time).
pub fn par_chunks<F>(n: usize, f: F) -> Worst
where
    F: Fn(std::ops::Range<usize>) -> Worst + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = n.div_ceil(threads);
    let mut worst = Worst::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || f(t * chunk..((t + 1) * chunk).min(n)))
            })
            .collect();
        for h in handles {
            worst.merge(&h.join().unwrap());
        }
    });
    worst
}
