//! Scalar functions compiled code calls by address: the transcendental functions when
//! they are not emitted inline, and float remainder. Each is the exact function the
//! interpreter applies (the pure-Rust `libm` crate, Rust's `%`), so a call gives the
//! interpreter's bits.

/// A callable the JIT resolves by name: its symbol and address (all operands and the
/// result have one float type).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Libcall {
    pub name: &'static str,
    pub addr: *const u8,
}

macro_rules! unary {
    ($($name:ident: $t:ty => $body:expr;)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                let f: fn($t) -> $t = $body;
                f(x)
            }
        )*
    };
}

macro_rules! binary {
    ($($name:ident: $t:ty => $body:expr;)*) => {
        $(
            extern "C" fn $name(x: $t, y: $t) -> $t {
                let f: fn($t, $t) -> $t = $body;
                f(x, y)
            }
        )*
    };
}

unary! {
    nabla_exp: f64 => libm::exp;
    nabla_expm1: f64 => libm::expm1;
    nabla_log: f64 => libm::log;
    nabla_log1p: f64 => libm::log1p;
    nabla_sin: f64 => libm::sin;
    nabla_cos: f64 => libm::cos;
    nabla_tan: f64 => libm::tan;
    nabla_tanh: f64 => libm::tanh;
    nabla_asin: f64 => libm::asin;
    nabla_acos: f64 => libm::acos;
    nabla_atan: f64 => libm::atan;
    nabla_sinh: f64 => libm::sinh;
    nabla_cosh: f64 => libm::cosh;
    nabla_erf: f64 => libm::erf;
    nabla_erfinv: f64 => erfinv;
    nabla_expf: f32 => libm::expf;
    nabla_expm1f: f32 => libm::expm1f;
    nabla_logf: f32 => libm::logf;
    nabla_log1pf: f32 => libm::log1pf;
    nabla_sinf: f32 => libm::sinf;
    nabla_cosf: f32 => libm::cosf;
    nabla_tanf: f32 => libm::tanf;
    nabla_tanhf: f32 => libm::tanhf;
    nabla_asinf: f32 => libm::asinf;
    nabla_acosf: f32 => libm::acosf;
    nabla_atanf: f32 => libm::atanf;
    nabla_sinhf: f32 => libm::sinhf;
    nabla_coshf: f32 => libm::coshf;
    nabla_erff: f32 => libm::erff;
    nabla_erfinvf: f32 => |y| erfinv(f64::from(y)) as f32;
}

binary! {
    nabla_pow: f64 => libm::pow;
    nabla_atan2: f64 => libm::atan2;
    nabla_fmod: f64 => |x, y| x % y;
    nabla_powf: f32 => libm::powf;
    nabla_atan2f: f32 => libm::atan2f;
    nabla_fmodf: f32 => |x, y| x % y;
}

macro_rules! table {
    ($($name:ident),* $(,)?) => {
        [$(Libcall {
            name: stringify!($name),
            addr: $name as *const u8,
        }),*]
    };
}

/// Every libcall, for registering with the JIT.
pub(crate) fn all() -> [Libcall; 36] {
    table![
        nabla_exp,
        nabla_expm1,
        nabla_log,
        nabla_log1p,
        nabla_sin,
        nabla_cos,
        nabla_tan,
        nabla_tanh,
        nabla_asin,
        nabla_acos,
        nabla_atan,
        nabla_sinh,
        nabla_cosh,
        nabla_erf,
        nabla_erfinv,
        nabla_expf,
        nabla_expm1f,
        nabla_logf,
        nabla_log1pf,
        nabla_sinf,
        nabla_cosf,
        nabla_tanf,
        nabla_tanhf,
        nabla_asinf,
        nabla_acosf,
        nabla_atanf,
        nabla_sinhf,
        nabla_coshf,
        nabla_erff,
        nabla_erfinvf,
        nabla_pow,
        nabla_atan2,
        nabla_fmod,
        nabla_powf,
        nabla_atan2f,
        nabla_fmodf,
    ]
}

/// The symbol of the libcall computing `name` (the IR's function name, or `fmod`) in
/// double (`f32 == false`) or single precision.
pub(crate) fn symbol(name: &str, f32: bool) -> Option<&'static str> {
    let wanted = if f32 {
        format!("nabla_{name}f")
    } else {
        format!("nabla_{name}")
    };
    all().iter().map(|l| l.name).find(|n| *n == wanted)
}

/// The inverse error function exactly as the interpreter computes it (its `special`
/// module, which this crate cannot depend on): M. Giles' approximation polished by one
/// Halley step against libm's `erf`/`erfc`.
pub(crate) fn erfinv(y: f64) -> f64 {
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

// Giles' published digits, kept verbatim (and identical to the interpreter's copy).
#[allow(clippy::excessive_precision)]
fn giles(a: f64) -> f64 {
    const CENTRAL: [f64; 23] = [
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
    const MIDDLE: [f64; 19] = [
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
    const TAIL: [f64; 17] = [
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
    let horner = |c: &[f64], w: f64| c.iter().fold(0.0, |p, &k| p * w + k);
    let w = -libm::log((1.0 - a) * (1.0 + a));
    let p = if w < 6.25 {
        horner(&CENTRAL, w - 3.125)
    } else if w < 16.0 {
        horner(&MIDDLE, libm::sqrt(w) - 3.25)
    } else {
        horner(&TAIL, libm::sqrt(w) - 5.0)
    };
    p * a
}
