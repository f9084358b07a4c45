//! `erfinv` through the `Unary(Erfinv)` primitive: round trips through `erf`, special
//! values, and both float dtypes.

mod common;

use common::*;
use nabla_ir::{Prim, UnaryOp};

fn erfinv64(ys: &[f64]) -> Vec<f64> {
    get_f64(&run1(
        Prim::Unary(UnaryOp::Erfinv),
        &[f64s(&[ys.len()], ys)],
    ))
}

fn ulps(a: f64, b: f64) -> u64 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
}

fn grid() -> Vec<f64> {
    let mut ys: Vec<f64> = (1..2000).map(|i| -1.0 + i as f64 / 1000.0).collect();
    ys.extend([
        1e-300,
        1e-20,
        1e-8,
        0.5,
        0.9999,
        1.0 - 1e-12,
        1.0 - f64::EPSILON,
        1.0 - f64::EPSILON / 2.0,
    ]);
    ys.extend(ys.clone().iter().map(|y| -y));
    ys
}

/// `erf(erfinv(y))` returns `y` to within a few ulps over a grid of (-1, 1) that
/// includes the approximation's region edges and points within an ulp of ±1.
#[test]
fn erf_inverts_erfinv() {
    let ys = grid();
    let xs = erfinv64(&ys);
    for (&y, &x) in ys.iter().zip(&xs) {
        assert!(
            x.is_finite() && x.signum() == y.signum(),
            "erfinv({y:e}) = {x:e}"
        );
        let err = ulps(libm::erf(x), y);
        assert!(err <= 4, "erf(erfinv({y:e})) is {err} ulps off");
    }
}

/// A sharper check where erf is flat: the exact inverse lies within 2 ulps of the
/// result, i.e. `erf` (or `erfc`, for the tails, where `1 - |y|` is exact) brackets `y`
/// between `x ∓ 2 ulp`.
#[test]
fn erfinv_is_within_two_ulps_of_the_inverse() {
    let ys: Vec<f64> = grid().into_iter().filter(|&y| y > 0.0).collect();
    let xs = erfinv64(&ys);
    let step = |x: f64, k: i64| f64::from_bits((x.to_bits() as i64 + k) as u64);
    for (&y, &x) in ys.iter().zip(&xs) {
        let (below, above) = (step(x, -2), step(x, 2));
        let ok = if y > 0.5 {
            let t = 1.0 - y;
            libm::erfc(below) >= t && t >= libm::erfc(above)
        } else {
            libm::erf(below) <= y && y <= libm::erf(above)
        };
        assert!(
            ok,
            "erfinv({y:e}) = {x:e} is more than 2 ulps from the inverse"
        );
    }
}

#[test]
fn erfinv_is_odd_and_increasing() {
    let ys: Vec<f64> = (0..500).map(|i| i as f64 / 500.0).collect();
    let xs = erfinv64(&ys);
    assert!(xs.windows(2).all(|w| w[0] < w[1]));
    let neg: Vec<f64> = ys.iter().map(|y| -y).collect();
    let xn = erfinv64(&neg);
    for (a, b) in xs.iter().zip(&xn) {
        assert_eq!(a.to_bits(), (-b).to_bits());
    }
}

#[test]
fn erfinv_special_values() {
    let x = erfinv64(&[
        0.0,
        -0.0,
        1.0,
        -1.0,
        1.5,
        -1.0000001,
        f64::NAN,
        f64::INFINITY,
    ]);
    assert_eq!(
        bits64(&x[..4]),
        bits64(&[0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY])
    );
    assert!(x[4..].iter().all(|v| v.is_nan()));
}

#[test]
fn erfinv_f32_is_the_rounded_f64_result() {
    let ys: Vec<f32> = vec![-0.999, -0.5, 0.0, 0.1, 0.75, 0.999_999, 1.0, 2.0];
    let got = get_f32(&run1(
        Prim::Unary(UnaryOp::Erfinv),
        &[f32s(&[ys.len()], &ys)],
    ));
    let want = erfinv64(&ys.iter().map(|&y| f64::from(y)).collect::<Vec<_>>());
    for i in 0..ys.len() {
        let w = want[i] as f32;
        assert!(
            got[i].to_bits() == w.to_bits() || (got[i].is_nan() && w.is_nan()),
            "{}",
            ys[i]
        );
    }
    assert_eq!(got[2], 0.0);
    assert_eq!(got[6], f32::INFINITY);
    assert!(got[7].is_nan());
    // Round trip in f32 precision.
    for (&y, &x) in ys[..6].iter().zip(&got) {
        assert!((libm::erff(x) - y).abs() <= 2.0 * f32::EPSILON, "{y}");
    }
}
