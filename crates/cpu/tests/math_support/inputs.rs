//! Deterministic test inputs: a mixture of uniform samples over each function's
//! interesting interval, log-uniform magnitudes over the whole exponent range, raw
//! random bit patterns (NaN and infinities included), clusters of neighbours around
//! edge points (overflow thresholds, branch points, poles, multiples of pi/2) and
//! tiny and subnormal values.

use nabla_cpu::math::MathOp;

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and good enough to spread
/// test points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * 2f64.powi(-53)
    }

    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Magnitude 2^U(lo, hi), random mantissa.
    pub fn log_uniform(&mut self, lo: i32, hi: i32) -> f64 {
        let e = self.uniform(lo as f64, hi as f64);
        let m = 1.0 + self.unit();
        super::dd::ldexp(m, e.floor() as i32)
    }

    pub fn sign(&mut self) -> f64 {
        if self.next_u64() & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    }
}

/// Where a unary function is sampled.
struct Domain {
    core: (f64, f64),
    /// Exponent range of the log-uniform magnitudes.
    mag: (i32, i32),
    /// Whether log-uniform samples take both signs.
    signed: bool,
    edges: Vec<f64>,
}

fn domain(op: MathOp) -> Domain {
    use std::f64::consts::{FRAC_PI_2, LN_2, PI};
    let pio2_multiples: Vec<f64> = [1.0, 2.0, 3.0, 4.0, 7.0, 100.0, 1e4, 5.24e5, 1e6, 1e9]
        .iter()
        .flat_map(|&k| [k * FRAC_PI_2, -k * FRAC_PI_2])
        .chain([
            823549.0,
            -823549.0,
            1e22,
            2f64.powi(60),
            1e300,
            6381956970095103.0 * 2f64.powi(797),
        ])
        .collect();
    let d = |core: (f64, f64), mag: (i32, i32), signed: bool, edges: &[f64]| Domain {
        core,
        mag,
        signed,
        edges: edges.to_vec(),
    };
    match op {
        MathOp::Exp => d(
            (-750.0, 712.0),
            (-1074, 10),
            true,
            &[
                709.782712893384,
                -708.3964185322641,
                -745.1332191019411,
                0.0,
                LN_2 / 2.0,
                -LN_2 / 2.0,
                1.0,
            ],
        ),
        MathOp::Expm1 => d(
            (-40.0, 712.0),
            (-1074, 10),
            true,
            &[
                0.0,
                LN_2 / 2.0,
                -LN_2 / 2.0,
                709.782712893384,
                -37.5,
                1.0,
                -1.0,
            ],
        ),
        MathOp::Log => d(
            (0.0, 4.0),
            (-1074, 1024),
            false,
            &[
                1.0,
                2.0,
                0.5,
                std::f64::consts::FRAC_1_SQRT_2,
                std::f64::consts::SQRT_2,
                f64::MIN_POSITIVE,
                f64::MAX,
            ],
        ),
        MathOp::Log1p => d(
            (-1.0, 4.0),
            (-1074, 1024),
            true,
            &[
                0.0,
                -1.0,
                std::f64::consts::FRAC_1_SQRT_2 - 1.0,
                std::f64::consts::SQRT_2 - 1.0,
                1e-10,
                f64::MAX,
            ],
        ),
        MathOp::Sin | MathOp::Cos | MathOp::Tan => {
            d((-10.0, 10.0), (-1074, 1024), true, &pio2_multiples)
        }
        MathOp::Tanh => d(
            (-25.0, 25.0),
            (-1074, 6),
            true,
            &[0.0, 1.0, -1.0, 19.06, -22.0, 0.55],
        ),
        MathOp::Sinh | MathOp::Cosh => d(
            (-715.0, 715.0),
            (-1074, 10),
            true,
            &[
                0.0,
                1.0,
                -1.0,
                709.0,
                710.4758600739439,
                -710.4758600739439,
                0.35,
            ],
        ),
        MathOp::Asin | MathOp::Acos => {
            d((-1.0, 1.0), (-1074, 0), true, &[1.0, -1.0, 0.0, 0.5, -0.5])
        }
        MathOp::Atan => d(
            (-10.0, 10.0),
            (-1074, 1024),
            true,
            &[
                0.0,
                7.0 / 16.0,
                11.0 / 16.0,
                1.0,
                -1.0,
                19.0 / 16.0,
                39.0 / 16.0,
                2f64.powi(66),
            ],
        ),
        MathOp::Erf => d(
            (-7.0, 7.0),
            (-1074, 3),
            true,
            &[
                0.0,
                0.84375,
                -0.84375,
                1.25,
                -1.25,
                1.0 / 0.35,
                6.0,
                -5.9,
                0.25,
            ],
        ),
        MathOp::Erfinv => d(
            (-1.0, 1.0),
            (-1074, 0),
            true,
            &[1.0, -1.0, 0.0, 0.5, -0.5, 0.9999],
        ),
        MathOp::Atan2 | MathOp::Pow => d((-10.0, 10.0), (-1074, 1024), true, &[0.0, 1.0, PI]),
    }
}

/// Rounds to the test's precision.
fn fit(x: f64, f32: bool) -> f64 {
    if f32 {
        x as f32 as f64
    } else {
        x
    }
}

fn random_bits(rng: &mut Rng, f32: bool) -> f64 {
    if f32 {
        f32::from_bits(rng.next_u64() as u32) as f64
    } else {
        f64::from_bits(rng.next_u64())
    }
}

/// A neighbour of `e`: within a few thousand ulps (of the precision), or a tiny
/// value when `e` is zero.
fn near(rng: &mut Rng, e: f64, f32: bool) -> f64 {
    if e == 0.0 {
        return rng.sign() * rng.log_uniform(if f32 { -149 } else { -1074 }, -20);
    }
    let k = rng.below(4001) as i64 - 2000;
    let k = if rng.below(4) == 0 { k / 200 } else { k };
    if f32 {
        let b = (e as f32).to_bits() as i64 + k;
        f32::from_bits(b.clamp(0, u32::MAX as i64) as u32) as f64
    } else {
        let b = (e.to_bits() as i64).wrapping_add(k);
        f64::from_bits(b as u64)
    }
}

fn tiny(rng: &mut Rng, f32: bool) -> f64 {
    let lo = if f32 { -149 } else { -1074 };
    rng.sign() * rng.log_uniform(lo, -20)
}

fn sample(rng: &mut Rng, dom: &Domain, f32: bool) -> f64 {
    let (mlo, mhi) = if f32 {
        (dom.mag.0.max(-149), dom.mag.1.min(128))
    } else {
        dom.mag
    };
    let u = rng.below(100);
    let x = if u < 35 {
        rng.uniform(dom.core.0, dom.core.1)
    } else if u < 60 {
        let m = rng.log_uniform(mlo, mhi);
        if dom.signed {
            rng.sign() * m
        } else {
            m
        }
    } else if u < 70 {
        random_bits(rng, f32)
    } else if u < 90 {
        let e = dom.edges[rng.below(dom.edges.len() as u64) as usize];
        let e = if f32 { e.clamp(-3.4e38, 3.4e38) } else { e };
        near(rng, e, f32)
    } else {
        tiny(rng, f32)
    };
    fit(x, f32)
}

/// `n` inputs for a unary function, as f64 (exactly representable in f32 if `f32`).
pub fn unary(op: MathOp, n: usize, f32: bool, seed: u64) -> Vec<f64> {
    let dom = domain(op);
    let mut rng = Rng::new(seed ^ (op as u64).wrapping_mul(0x9E37_79B9));
    let mut v: Vec<f64> = specials(f32);
    while v.len() < n {
        v.push(sample(&mut rng, &dom, f32));
    }
    v.truncate(n);
    v
}

/// The special values every function is checked on.
pub fn specials(f32: bool) -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
    ];
    if f32 {
        v.extend([
            f32::MIN_POSITIVE as f64,
            -(f32::MIN_POSITIVE as f64),
            f32::from_bits(1) as f64,
            -(f32::from_bits(1) as f64),
            f32::MAX as f64,
            f32::MIN as f64,
            f32::EPSILON as f64,
        ]);
    } else {
        v.extend([
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
        ]);
    }
    v
}

/// `n` operand pairs for `atan2(y, x)` or `pow(x, y)`.
pub fn binary(op: MathOp, n: usize, f32: bool, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(seed ^ (op as u64).wrapping_mul(0x9E37_79B9));
    let sp = specials(f32);
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for &x in &sp {
        for &y in &sp {
            a.push(x);
            b.push(y);
        }
    }
    let (lo, hi) = if f32 { (-149, 128) } else { (-1074, 1024) };
    while a.len() < n {
        let u = rng.below(100);
        let (x, y) = match op {
            MathOp::Pow => {
                if u < 40 {
                    // Results mostly in range: |y log x| up to ~800.
                    let x = rng.log_uniform(lo, hi);
                    let l = x.ln().abs().max(1e-300);
                    let y = rng.sign() * rng.uniform(0.0, 800.0) / l;
                    let y = if rng.below(4) == 0 { y.min(1e300) } else { y };
                    (x, y)
                } else if u < 55 {
                    // Negative bases with integer exponents.
                    let x = -rng.log_uniform(-20, 20);
                    let y = (rng.uniform(-60.0, 60.0)).round();
                    (x, y)
                } else if u < 70 {
                    (rng.uniform(0.0, 10.0), rng.uniform(-30.0, 30.0))
                } else if u < 80 {
                    // Near 1, where log x is tiny and y large.
                    let x = 1.0 + rng.sign() * rng.log_uniform(-52, -10);
                    let y = rng.sign() * rng.log_uniform(0, 60);
                    (x, y)
                } else if u < 90 {
                    (random_bits(&mut rng, f32), random_bits(&mut rng, f32))
                } else {
                    (rng.sign() * rng.log_uniform(lo, hi), rng.uniform(-4.0, 4.0))
                }
            }
            _ => {
                if u < 40 {
                    (rng.uniform(-10.0, 10.0), rng.uniform(-10.0, 10.0))
                } else if u < 80 {
                    (
                        rng.sign() * rng.log_uniform(lo, hi),
                        rng.sign() * rng.log_uniform(lo, hi),
                    )
                } else if u < 90 {
                    (random_bits(&mut rng, f32), random_bits(&mut rng, f32))
                } else {
                    // Near the axes and the diagonal.
                    let x = rng.sign() * rng.log_uniform(-10, 10);
                    let k = rng.below(3);
                    let y = match k {
                        0 => x * (1.0 + rng.sign() * rng.log_uniform(-52, -20)),
                        1 => x * rng.log_uniform(-80, -20),
                        _ => rng.sign() * x.abs(),
                    };
                    (x, y)
                }
            }
        };
        a.push(fit(x, f32));
        b.push(fit(y, f32));
    }
    a.truncate(n);
    b.truncate(n);
    (a, b)
}
