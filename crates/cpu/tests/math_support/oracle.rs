//! What each function should return: libm for special values and f32 references,
//! the double-double references for f64.

use nabla_cpu::math::MathOp;

use super::reference::{self as refs, Ref};

pub fn libm64(op: MathOp, x: f64, y: f64) -> f64 {
    match op {
        MathOp::Exp => libm::exp(x),
        MathOp::Expm1 => libm::expm1(x),
        MathOp::Log => libm::log(x),
        MathOp::Log1p => libm::log1p(x),
        MathOp::Sin => libm::sin(x),
        MathOp::Cos => libm::cos(x),
        MathOp::Tan => libm::tan(x),
        MathOp::Tanh => libm::tanh(x),
        MathOp::Asin => libm::asin(x),
        MathOp::Acos => libm::acos(x),
        MathOp::Atan => libm::atan(x),
        MathOp::Sinh => libm::sinh(x),
        MathOp::Cosh => libm::cosh(x),
        MathOp::Erf => libm::erf(x),
        MathOp::Erfinv => erfinv_special(x).unwrap_or_else(|| refs::erfinv(x).m.to_f64()),
        MathOp::Atan2 => libm::atan2(x, y),
        MathOp::Pow => libm::pow(x, y),
    }
}

pub fn libm32(op: MathOp, x: f32, y: f32) -> f32 {
    match op {
        MathOp::Exp => libm::expf(x),
        MathOp::Expm1 => libm::expm1f(x),
        MathOp::Log => libm::logf(x),
        MathOp::Log1p => libm::log1pf(x),
        MathOp::Sin => libm::sinf(x),
        MathOp::Cos => libm::cosf(x),
        MathOp::Tan => libm::tanf(x),
        MathOp::Tanh => libm::tanhf(x),
        MathOp::Asin => libm::asinf(x),
        MathOp::Acos => libm::acosf(x),
        MathOp::Atan => libm::atanf(x),
        MathOp::Sinh => libm::sinhf(x),
        MathOp::Cosh => libm::coshf(x),
        MathOp::Erf => libm::erff(x),
        MathOp::Erfinv => libm64(op, x as f64, 0.0) as f32,
        MathOp::Atan2 => libm::atan2f(x, y),
        MathOp::Pow => libm::powf(x, y),
    }
}

/// libm has no erfinv; its special values are the interpreter's.
pub fn erfinv_special(x: f64) -> Option<f64> {
    if x.is_nan() || x.abs() > 1.0 {
        Some(f64::NAN)
    } else if x.abs() == 1.0 {
        Some(f64::INFINITY.copysign(x))
    } else if x == 0.0 {
        Some(x)
    } else {
        None
    }
}

/// The exact value of `op` at an f64 input.
pub fn reference64(op: MathOp, x: f64, y: f64) -> Ref {
    if op == MathOp::Erfinv {
        return erfinv_special(x).map_or_else(|| refs::erfinv(x), Ref::f);
    }
    let lib = libm64(op, x, y);
    let finite_args = x.is_finite() && (op.arity() == 1 || y.is_finite());
    if lib.is_nan() || !finite_args {
        return Ref::f(lib);
    }
    match op {
        MathOp::Exp => refs::exp(x),
        MathOp::Expm1 => refs::expm1(x),
        MathOp::Log if x == 0.0 => Ref::f(lib),
        MathOp::Log => Ref::dd(refs::log(x)),
        MathOp::Log1p if x == -1.0 || x == 0.0 => Ref::f(lib),
        MathOp::Log1p => Ref::dd(refs::log1p(x)),
        MathOp::Sin => refs::sin(x),
        MathOp::Cos => refs::cos(x),
        MathOp::Tan => refs::tan(x),
        MathOp::Tanh => refs::tanh(x),
        MathOp::Asin => refs::asin(x),
        MathOp::Acos => refs::acos(x),
        MathOp::Atan => refs::atan(x),
        MathOp::Sinh => refs::sinh(x),
        MathOp::Cosh => refs::cosh(x),
        MathOp::Erf => refs::erf(x),
        MathOp::Erfinv => unreachable!(),
        MathOp::Atan2 => refs::atan2(x, y),
        MathOp::Pow => {
            let special = x == 0.0 || y == 0.0 || x == 1.0 || (x < 0.0 && y.fract() != 0.0);
            if special {
                Ref::f(lib)
            } else {
                refs::pow(x, y)
            }
        }
    }
}
