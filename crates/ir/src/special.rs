//! Special functions libm does not provide: the inverse error function, as every
//! backend must compute it (the interpreter, and the CPU backend's exact mode, call
//! it; the CPU backend's inline kernels use its coefficients).
//!
//! `erfinv` starts from M. Giles' double-precision approximation ("Approximating the
//! erfinv function", GPU Computing Gems Jade, 2011; relative error about 1e-15 before
//! rounding) and polishes it with one Halley step against libm's `erf`/`erfc`. Near
//! |y| = 1 the residual is formed as `(1 - |y|) - erfc(x)`: `1 - |y|` is exact there,
//! while `erf(x) - |y|` would cancel to nothing and let the step wander.

/// The inverse error function in f64: `erfinv(±1) = ±inf`, NaN outside `[-1, 1]`.
pub fn erfinv(y: f64) -> f64 {
    let a = y.abs();
    if a.is_nan() || a > 1.0 {
        return f64::NAN;
    }
    if a == 1.0 {
        return f64::INFINITY.copysign(y);
    }
    if a == 0.0 {
        return y;
    }
    let mut x = giles(a);
    // erf'(x) = 2/sqrt(pi) · exp(-x²) and erf''(x) = -2x · erf'(x).
    let residual = if a <= 0.5 {
        libm::erf(x) - a
    } else {
        (1.0 - a) - libm::erfc(x)
    };
    let deriv = std::f64::consts::FRAC_2_SQRT_PI * libm::exp(-x * x);
    let step = residual / deriv;
    if step.is_finite() {
        x -= step / (1.0 + x * step);
    }
    x.copysign(y)
}

/// Single precision: the f64 result rounded once, which is as accurate as an f32
/// result can be (no single-precision algorithm is specified to follow).
pub fn erfinv_f32(y: f32) -> f32 {
    erfinv(f64::from(y)) as f32
}

// Giles' coefficients, highest degree first: his published digits, kept verbatim so
// they can be checked against the paper.
/// Giles' polynomial in `w - 3.125` for `w = -ln((1 - a)(1 + a)) < 6.25`.
#[allow(clippy::excessive_precision)]
pub const GILES_CENTRAL: [f64; 23] = [
    -3.6444120640178196996e-21,
    -1.685059138182016589e-19,
    1.2858480715256400167e-18,
    1.115787767802518096e-17,
    -1.333171662854620906e-16,
    2.0972767875968561637e-17,
    6.6376381343583238325e-15,
    -4.0545662729752068639e-14,
    -8.1519341976054721522e-14,
    2.6335093153082322977e-12,
    -1.2975133253453532498e-11,
    -5.4154120542946279317e-11,
    1.051212273321532285e-09,
    -4.1126339803469836976e-09,
    -2.9070369957882005086e-08,
    4.2347877827932403518e-07,
    -1.3654692000834678645e-06,
    -1.3882523362786468719e-05,
    0.0001867342080340571352,
    -0.00074070253416626697512,
    -0.0060336708714301490533,
    0.24015818242558961693,
    1.6536545626831027356,
];
/// Giles' polynomial in `sqrt(w) - 3.25` for `6.25 <= w < 16`.
#[allow(clippy::excessive_precision)]
pub const GILES_MIDDLE: [f64; 19] = [
    2.2137376921775787049e-09,
    9.0756561938885390979e-08,
    -2.7517406297064545428e-07,
    1.8239629214389227755e-08,
    1.5027403968909827627e-06,
    -4.013867526981545969e-06,
    2.9234449089955446044e-06,
    1.2475304481671778723e-05,
    -4.7318229009055733981e-05,
    6.8284851459573175448e-05,
    2.4031110387097893999e-05,
    -0.0003550375203628474796,
    0.00095328937973738049703,
    -0.0016882755560235047313,
    0.0024914420961078508066,
    -0.0037512085075692412107,
    0.005370914553590063617,
    1.0052589676941592334,
    3.0838856104922207635,
];
/// Giles' polynomial in `sqrt(w) - 5` for `w >= 16`.
#[allow(clippy::excessive_precision)]
pub const GILES_TAIL: [f64; 17] = [
    -2.7109920616438573243e-11,
    -2.5556418169965252055e-10,
    1.5076572693500548083e-09,
    -3.7894654401267369937e-09,
    7.6157012080783393804e-09,
    -1.4960026627149240478e-08,
    2.9147953450901080826e-08,
    -6.7711997758452339498e-08,
    2.2900482228026654717e-07,
    -9.9298272942317002539e-07,
    4.5260625972231537039e-06,
    -1.9681778105531670567e-05,
    7.5995277030017761139e-05,
    -0.00021503011930044477347,
    -0.00013871931833623122026,
    1.0103004648645343977,
    4.8499064014085844221,
];

/// Giles' approximation for `0 < a < 1`.
fn giles(a: f64) -> f64 {
    let horner = |c: &[f64], w: f64| c.iter().fold(0.0, |p, &k| p * w + k);
    let w = -libm::log((1.0 - a) * (1.0 + a));
    let p = if w < 6.25 {
        horner(&GILES_CENTRAL, w - 3.125)
    } else if w < 16.0 {
        horner(&GILES_MIDDLE, libm::sqrt(w) - 3.25)
    } else {
        horner(&GILES_TAIL, libm::sqrt(w) - 5.0)
    };
    p * a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_high_precision_reference_values() {
        // mpmath at 50 digits applied to the f64 inputs, rounded to f64.
        let cases: [(f64, f64); 5] = [
            (0.5, 0.4769362762044699),
            (0.9, 1.1630871536766743),
            (-0.999, -2.3267537655135246),
            (1e-300, 8.86226925452758e-301),
            (0.999999999999, 5.042031898572696),
        ];
        for (y, want) in cases {
            let got = erfinv(y);
            let ulps = (got.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(
                ulps <= 2,
                "erfinv({y}) = {got:e}, want {want:e} ({ulps} ulps)"
            );
        }
    }

    #[test]
    fn special_values() {
        assert_eq!(erfinv(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(erfinv(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(erfinv(1.0), f64::INFINITY);
        assert_eq!(erfinv(-1.0), f64::NEG_INFINITY);
        assert!(erfinv(1.0 + f64::EPSILON).is_nan());
        assert!(erfinv(-2.0).is_nan());
        assert!(erfinv(f64::NAN).is_nan());
        assert_eq!(erfinv_f32(1.0), f32::INFINITY);
    }
}
