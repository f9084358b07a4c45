//! Vectorised math functions emitted inline as Cranelift IR.
//!
//! [`emit`] expands one transcendental function of the IR (`exp`, `log`, `sin`, …)
//! into straight-line Cranelift instructions for a scalar (`F64`, `F32`) or vector
//! (`F64X2`, `F32X4`) operand: range reduction, a polynomial or rational kernel, and
//! selects for the special values, with no calls, so a fused loop stays a loop of
//! arithmetic and the vector lanes stay in registers.
//!
//! Every function follows C99/libm semantics for NaN, infinities, signed zeros,
//! subnormals, overflow and underflow, so the compiled code agrees with the
//! interpreter (which calls the `libm` crate) on every special case. Accuracy bounds
//! per function are [`max_ulp`]; `docs/math.md` records how they were measured.
//!
//! Single precision is computed in double precision and rounded once at the end: the
//! f64 kernels (with shorter polynomials where f32 allows) leave an error far below an
//! f32 ulp, and overflow, underflow and subnormal results then fall out of the final
//! rounding instead of needing f32-specific thresholds.
//!
//! `sin`, `cos` and `tan` reduce arguments beyond about 8e5 exactly (Payne–Hanek with
//! 64-bit integer arithmetic) on a separate, rarely taken path, so `emit` may end the
//! current block: it leaves the builder in a new, sealed block where the caller simply
//! continues. All other functions stay in the current block.

mod atan;
mod erf;
mod exp;
mod log;
mod pow;
mod trig;
mod vx;

use cranelift_codegen::ir::{self, types, InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

use vx::{Prec, Vx};

/// A transcendental function of the IR with an inline implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathOp {
    Exp,
    Expm1,
    Log,
    Log1p,
    Sin,
    Cos,
    Tan,
    Tanh,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Erf,
    Erfinv,
    /// `atan2(y, x)`: `args = [y, x]`.
    Atan2,
    /// `pow(x, y)`: `args = [x, y]`.
    Pow,
}

impl MathOp {
    pub const ALL: [MathOp; 17] = [
        MathOp::Exp,
        MathOp::Expm1,
        MathOp::Log,
        MathOp::Log1p,
        MathOp::Sin,
        MathOp::Cos,
        MathOp::Tan,
        MathOp::Tanh,
        MathOp::Asin,
        MathOp::Acos,
        MathOp::Atan,
        MathOp::Sinh,
        MathOp::Cosh,
        MathOp::Erf,
        MathOp::Erfinv,
        MathOp::Atan2,
        MathOp::Pow,
    ];

    /// Number of operands.
    pub fn arity(self) -> usize {
        match self {
            MathOp::Atan2 | MathOp::Pow => 2,
            MathOp::Exp
            | MathOp::Expm1
            | MathOp::Log
            | MathOp::Log1p
            | MathOp::Sin
            | MathOp::Cos
            | MathOp::Tan
            | MathOp::Tanh
            | MathOp::Asin
            | MathOp::Acos
            | MathOp::Atan
            | MathOp::Sinh
            | MathOp::Cosh
            | MathOp::Erf
            | MathOp::Erfinv => 1,
        }
    }

    /// The IR's name of the function.
    pub fn name(self) -> &'static str {
        match self {
            MathOp::Exp => "exp",
            MathOp::Expm1 => "expm1",
            MathOp::Log => "log",
            MathOp::Log1p => "log1p",
            MathOp::Sin => "sin",
            MathOp::Cos => "cos",
            MathOp::Tan => "tan",
            MathOp::Tanh => "tanh",
            MathOp::Asin => "asin",
            MathOp::Acos => "acos",
            MathOp::Atan => "atan",
            MathOp::Sinh => "sinh",
            MathOp::Cosh => "cosh",
            MathOp::Erf => "erf",
            MathOp::Erfinv => "erfinv",
            MathOp::Atan2 => "atan2",
            MathOp::Pow => "pow",
        }
    }
}

/// Element precision, for [`max_ulp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    F64,
}

/// Instruction-set features the emitted code may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Features {
    /// Fused multiply-add is a native instruction. Without it Cranelift would lower
    /// `fma` to a libm call, so the kernels use Dekker's exact products instead.
    pub fma: bool,
}

impl Features {
    /// What `cranelift_native` enables on this machine.
    pub fn host() -> Features {
        Features { fma: host_fma() }
    }
}

#[cfg(target_arch = "x86_64")]
fn host_fma() -> bool {
    std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "aarch64")]
fn host_fma() -> bool {
    true
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn host_fma() -> bool {
    false
}

/// Emits `op(args)` for operands of type `ty` (`F64`, `F32`, `F64X2` or `F32X4`),
/// using the host's features. `None` if `ty` is not one of those or the operands do
/// not match it; the caller then falls back to a libm call.
pub fn emit(b: &mut FunctionBuilder, op: MathOp, args: &[Value], ty: Type) -> Option<Value> {
    emit_with(b, op, args, ty, Features::host())
}

/// [`emit`] for an explicit feature set (the target's, when it is not the host).
pub fn emit_with(
    b: &mut FunctionBuilder,
    op: MathOp,
    args: &[Value],
    ty: Type,
    features: Features,
) -> Option<Value> {
    if args.len() != op.arity() || args.iter().any(|&a| b.func.dfg.value_type(a) != ty) {
        return None;
    }
    match ty {
        types::F64 => {
            let mut cx = Vx::new(b, types::F64, Prec::F64, features);
            Some(eval(&mut cx, op, args))
        }
        types::F64X2 => {
            let mut cx = Vx::new(b, types::F64X2, Prec::F64, features);
            Some(eval(&mut cx, op, args))
        }
        types::F32 => {
            let wide: Vec<Value> = args
                .iter()
                .map(|&a| b.ins().fpromote(types::F64, a))
                .collect();
            let mut cx = Vx::new(b, types::F64, Prec::F32, features);
            let r = eval(&mut cx, op, &wide);
            Some(b.ins().fdemote(types::F32, r))
        }
        types::F32X4 => {
            let mut lo = Vec::with_capacity(args.len());
            let mut hi = Vec::with_capacity(args.len());
            for &a in args {
                lo.push(b.ins().fvpromote_low(a));
                let swapped = shuffle_bytes(b, a, a, HIGH_HALF);
                hi.push(b.ins().fvpromote_low(swapped));
            }
            let mut cx = Vx::new(b, types::F64X2, Prec::F32, features);
            let rlo = eval(&mut cx, op, &lo);
            let rhi = eval(&mut cx, op, &hi);
            let dlo = b.ins().fvdemote(rlo);
            let dhi = b.ins().fvdemote(rhi);
            Some(shuffle_bytes(b, dlo, dhi, CONCAT_LOW))
        }
        _ => None,
    }
}

/// Bytes 8..16 of the first operand, then anything: lanes 2 and 3 of an `F32X4` move
/// to lanes 0 and 1.
const HIGH_HALF: [u8; 16] = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/// The low 8 bytes of each operand: two demoted halves back into one `F32X4`.
const CONCAT_LOW: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

fn shuffle_bytes(b: &mut FunctionBuilder, x: Value, y: Value, mask: [u8; 16]) -> Value {
    let ty = b.func.dfg.value_type(x);
    let le = ir::MemFlagsData::new().with_endianness(ir::Endianness::Little);
    let xb = b.ins().bitcast(types::I8X16, le, x);
    let yb = b.ins().bitcast(types::I8X16, le, y);
    let imm = b
        .func
        .dfg
        .immediates
        .push(ir::ConstantData::from(&mask[..]));
    let s = b.ins().shuffle(xb, yb, imm);
    b.ins().bitcast(ty, le, s)
}

fn eval(cx: &mut Vx, op: MathOp, args: &[Value]) -> Value {
    let x = args[0];
    match op {
        MathOp::Exp => exp::exp(cx, x),
        MathOp::Expm1 => exp::expm1(cx, x),
        MathOp::Sinh => exp::sinh(cx, x),
        MathOp::Cosh => exp::cosh(cx, x),
        MathOp::Tanh => exp::tanh(cx, x),
        MathOp::Log => log::log(cx, x),
        MathOp::Log1p => log::log1p(cx, x),
        MathOp::Sin => trig::sin(cx, x),
        MathOp::Cos => trig::cos(cx, x),
        MathOp::Tan => trig::tan(cx, x),
        MathOp::Atan => atan::atan(cx, x),
        MathOp::Asin => atan::asin(cx, x),
        MathOp::Acos => atan::acos(cx, x),
        MathOp::Atan2 => atan::atan2(cx, x, args[1]),
        MathOp::Erf => erf::erf(cx, x),
        MathOp::Erfinv => erf::erfinv(cx, x),
        MathOp::Pow => pow::pow(cx, x, args[1]),
    }
}

/// The documented bound on the error of [`emit`]'s result for `op` in `precision`, in
/// units in the last place of the exact result (for subnormal results, of the
/// smallest subnormal), over every input. The tests assert these over at least a
/// million inputs per function; `docs/math.md` lists the measured maxima.
pub fn max_ulp(op: MathOp, precision: Precision) -> f64 {
    match precision {
        // Rounding an f64 result whose own error is far below 2^-29 relative.
        Precision::F32 => 1.0,
        Precision::F64 => match op {
            MathOp::Exp | MathOp::Log | MathOp::Log1p | MathOp::Pow => 1.0,
            MathOp::Sin | MathOp::Cos | MathOp::Atan | MathOp::Acos => 1.0,
            MathOp::Expm1 | MathOp::Tan | MathOp::Tanh | MathOp::Sinh | MathOp::Cosh => 1.5,
            MathOp::Asin | MathOp::Erf | MathOp::Atan2 => 1.5,
            MathOp::Erfinv => 2.0,
        },
    }
}
