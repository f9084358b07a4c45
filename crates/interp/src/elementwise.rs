//! Elementwise primitives: unary and binary operators, comparisons, `select`,
//! `integer_pow` and `convert`.
//!
//! Arithmetic happens in the operand dtype (f32 stays f32); the per-dtype meaning of
//! each operator lives in [`crate::num`]. Each rule picks a kernel once per call with an
//! exhaustive match, then maps it over the elements.

use nabla_ir::{Array, BinaryOp, CmpOp, DType, Data, UnaryOp};

use crate::data::{dispatch, make, same};
use crate::num::{Elem, Float, Int, Num};
use crate::EvalError;

fn rejects(name: &str, dtype: DType) -> EvalError {
    EvalError::internal(format!("{name} does not accept {dtype} operands"))
}

fn map<T: Elem, U: Elem>(v: &[T], f: fn(T) -> U) -> Data {
    U::wrap(v.iter().map(|&x| f(x)).collect())
}

fn zip<T: Elem, U: Elem>(x: &[T], y: &[T], f: fn(T, T) -> U) -> Result<Data, EvalError> {
    if x.len() != y.len() {
        return Err(EvalError::internal(
            "elementwise operands of different sizes",
        ));
    }
    Ok(U::wrap(x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect()))
}

pub(crate) fn unary(op: UnaryOp, x: &Array) -> Result<Array, EvalError> {
    let data = match x.data() {
        Data::Bool(v) => bool_unary(op, v)?,
        Data::I32(v) => int_unary(op, v)?,
        Data::I64(v) => int_unary(op, v)?,
        Data::U32(v) => int_unary(op, v)?,
        Data::F32(v) => float_unary(op, v)?,
        Data::F64(v) => float_unary(op, v)?,
    };
    make(x.shape(), data)
}

fn float_unary<T: Float>(op: UnaryOp, v: &[T]) -> Result<Data, EvalError> {
    let f: fn(T) -> T = match op {
        UnaryOp::Neg => Num::neg,
        UnaryOp::Abs => Num::abs,
        UnaryOp::Sign => Num::sign,
        UnaryOp::Exp => Float::exp,
        UnaryOp::Expm1 => Float::exp_m1,
        UnaryOp::Log => Float::ln,
        UnaryOp::Log1p => Float::ln_1p,
        UnaryOp::Sqrt => Float::sqrt,
        // Two roundings, like XLA's CPU backend; there is no correctly rounded rsqrt.
        UnaryOp::Rsqrt => |x: T| T::ONE.div(x.sqrt()),
        UnaryOp::Sin => Float::sin,
        UnaryOp::Cos => Float::cos,
        UnaryOp::Tan => Float::tan,
        UnaryOp::Tanh => Float::tanh,
        UnaryOp::Asin => Float::asin,
        UnaryOp::Acos => Float::acos,
        UnaryOp::Atan => Float::atan,
        UnaryOp::Sinh => Float::sinh,
        UnaryOp::Cosh => Float::cosh,
        UnaryOp::Erf => Float::erf,
        UnaryOp::Erfinv => Float::erfinv,
        UnaryOp::Floor => Float::floor,
        UnaryOp::Ceil => Float::ceil,
        UnaryOp::Round => Float::round_even,
        UnaryOp::IsNan => return Ok(map(v, Elem::is_nan)),
        UnaryOp::IsFinite => return Ok(map(v, nabla_ir::canonical::Float::is_finite)),
        UnaryOp::Not => return Err(rejects(op.name(), T::DTYPE)),
    };
    Ok(map(v, f))
}

fn int_unary<T: Int>(op: UnaryOp, v: &[T]) -> Result<Data, EvalError> {
    let f: fn(T) -> T = match op {
        UnaryOp::Neg => Num::neg,
        UnaryOp::Abs => Num::abs,
        UnaryOp::Sign => Num::sign,
        UnaryOp::Not => Int::not,
        UnaryOp::Exp
        | UnaryOp::Expm1
        | UnaryOp::Log
        | UnaryOp::Log1p
        | UnaryOp::Sqrt
        | UnaryOp::Rsqrt
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Tan
        | UnaryOp::Tanh
        | UnaryOp::Asin
        | UnaryOp::Acos
        | UnaryOp::Atan
        | UnaryOp::Sinh
        | UnaryOp::Cosh
        | UnaryOp::Erf
        | UnaryOp::Erfinv
        | UnaryOp::Floor
        | UnaryOp::Ceil
        | UnaryOp::Round
        | UnaryOp::IsNan
        | UnaryOp::IsFinite => return Err(rejects(op.name(), T::DTYPE)),
    };
    Ok(map(v, f))
}

fn bool_unary(op: UnaryOp, v: &[bool]) -> Result<Data, EvalError> {
    match op {
        UnaryOp::Not => Ok(map(v, |b| !b)),
        UnaryOp::Neg
        | UnaryOp::Abs
        | UnaryOp::Sign
        | UnaryOp::Exp
        | UnaryOp::Expm1
        | UnaryOp::Log
        | UnaryOp::Log1p
        | UnaryOp::Sqrt
        | UnaryOp::Rsqrt
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Tan
        | UnaryOp::Tanh
        | UnaryOp::Asin
        | UnaryOp::Acos
        | UnaryOp::Atan
        | UnaryOp::Sinh
        | UnaryOp::Cosh
        | UnaryOp::Erf
        | UnaryOp::Erfinv
        | UnaryOp::Floor
        | UnaryOp::Ceil
        | UnaryOp::Round
        | UnaryOp::IsNan
        | UnaryOp::IsFinite => Err(rejects(op.name(), DType::Bool)),
    }
}

pub(crate) fn binary(op: BinaryOp, a: &Array, b: &Array) -> Result<Array, EvalError> {
    let y = b.data();
    let data = match a.data() {
        Data::Bool(x) => bool_binary(op, x, same(y)?)?,
        Data::I32(x) => int_binary(op, x, same(y)?)?,
        Data::I64(x) => int_binary(op, x, same(y)?)?,
        Data::U32(x) => int_binary(op, x, same(y)?)?,
        Data::F32(x) => float_binary(op, x, same(y)?)?,
        Data::F64(x) => float_binary(op, x, same(y)?)?,
    };
    make(a.shape(), data)
}

fn float_binary<T: Float>(op: BinaryOp, x: &[T], y: &[T]) -> Result<Data, EvalError> {
    let f: fn(T, T) -> T = match op {
        BinaryOp::Add => Num::add,
        BinaryOp::Sub => Num::sub,
        BinaryOp::Mul => Num::mul,
        BinaryOp::Div => Num::div,
        BinaryOp::Rem => Num::rem,
        BinaryOp::Pow => Float::pow,
        BinaryOp::Atan2 => Float::atan2,
        BinaryOp::Max => Num::max_nan,
        BinaryOp::Min => Num::min_nan,
        BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Xor
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRightLogical => return Err(rejects(op.name(), T::DTYPE)),
    };
    zip(x, y, f)
}

fn int_binary<T: Int>(op: BinaryOp, x: &[T], y: &[T]) -> Result<Data, EvalError> {
    let f: fn(T, T) -> T = match op {
        BinaryOp::Add => Num::add,
        BinaryOp::Sub => Num::sub,
        BinaryOp::Mul => Num::mul,
        BinaryOp::Div => Num::div,
        BinaryOp::Rem => Num::rem,
        BinaryOp::Max => Num::max_nan,
        BinaryOp::Min => Num::min_nan,
        BinaryOp::And => Int::and,
        BinaryOp::Or => Int::or,
        BinaryOp::Xor => Int::xor,
        BinaryOp::ShiftLeft => Int::shl,
        BinaryOp::ShiftRightLogical => Int::shr_logical,
        BinaryOp::Pow | BinaryOp::Atan2 => return Err(rejects(op.name(), T::DTYPE)),
    };
    zip(x, y, f)
}

fn bool_binary(op: BinaryOp, x: &[bool], y: &[bool]) -> Result<Data, EvalError> {
    // With false < true, max is `or` and min is `and`.
    let f: fn(bool, bool) -> bool = match op {
        BinaryOp::Max | BinaryOp::Or => |a, b| a | b,
        BinaryOp::Min | BinaryOp::And => |a, b| a & b,
        BinaryOp::Xor => |a, b| a ^ b,
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Rem
        | BinaryOp::Pow
        | BinaryOp::Atan2
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRightLogical => return Err(rejects(op.name(), DType::Bool)),
    };
    zip(x, y, f)
}

pub(crate) fn compare(op: CmpOp, a: &Array, b: &Array) -> Result<Array, EvalError> {
    let y = b.data();
    let data = dispatch!(a.data(), x => compare_typed(op, x, same(y)?)?);
    make(a.shape(), data)
}

/// IEEE comparisons: every comparison with NaN is false except `ne`.
fn compare_typed<T: Elem>(op: CmpOp, x: &[T], y: &[T]) -> Result<Data, EvalError> {
    let f: fn(T, T) -> bool = match op {
        CmpOp::Eq => |a, b| a == b,
        CmpOp::Ne => |a, b| a != b,
        CmpOp::Lt => |a, b| a < b,
        CmpOp::Le => |a, b| a <= b,
        CmpOp::Gt => |a, b| a > b,
        CmpOp::Ge => |a, b| a >= b,
    };
    zip(x, y, f)
}

pub(crate) fn select(pred: &Array, on_true: &Array, on_false: &Array) -> Result<Array, EvalError> {
    let p: &[bool] = same(pred.data())?;
    let f = on_false.data();
    let data = dispatch!(on_true.data(), t => select_typed(p, t, same(f)?)?);
    make(on_true.shape(), data)
}

fn select_typed<T: Elem>(p: &[bool], t: &[T], f: &[T]) -> Result<Data, EvalError> {
    if p.len() != t.len() || t.len() != f.len() {
        return Err(EvalError::internal("select operands of different sizes"));
    }
    Ok(T::wrap(
        p.iter()
            .zip(t.iter().zip(f))
            .map(|(&p, (&t, &f))| if p { t } else { f })
            .collect(),
    ))
}

pub(crate) fn int_pow(x: &Array, exponent: i64) -> Result<Array, EvalError> {
    let data = match x.data() {
        Data::Bool(_) => return Err(rejects("integer_pow", DType::Bool)),
        Data::I32(v) => int_pow_typed(v, exponent),
        Data::I64(v) => int_pow_typed(v, exponent),
        Data::U32(v) => int_pow_typed(v, exponent),
        Data::F32(v) => int_pow_typed(v, exponent),
        Data::F64(v) => int_pow_typed(v, exponent),
    };
    make(x.shape(), data)
}

fn int_pow_typed<T: Num>(v: &[T], exponent: i64) -> Data {
    T::wrap(v.iter().map(|&x| integer_power(x, exponent)).collect())
}

/// `x ** n` by JAX's `integer_pow` lowering, multiplication for multiplication (so the
/// rounding is bitwise JAX's): binary powering from the low bit, `1 / x^|n|` for
/// negative `n`. For integers that reciprocal is a truncating division: 0 unless
/// `x^|n|` is ±1, and -1 when it is 0 (XLA's division by zero).
pub(crate) fn integer_power<T: Num>(x: T, n: i64) -> T {
    let mut m = n.unsigned_abs();
    let mut base = x;
    let mut acc: Option<T> = None;
    while m > 0 {
        if m & 1 == 1 {
            acc = Some(match acc {
                None => base,
                Some(a) => a.mul(base),
            });
        }
        m >>= 1;
        if m > 0 {
            base = base.mul(base);
        }
    }
    // `acc` is None only for n == 0, where x^0 = 1 (NaN included, as in JAX).
    let acc = acc.unwrap_or(T::ONE);
    if n < 0 {
        T::ONE.div(acc)
    } else {
        acc
    }
}

/// NumPy `astype` as `Scalar::cast` defines it.
pub(crate) fn convert(x: &Array, dtype: DType) -> Array {
    x.cast(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_power_matches_repeated_multiplication() {
        assert_eq!(integer_power(3i64, 0), 1);
        assert_eq!(integer_power(3i64, 5), 243);
        assert_eq!(integer_power(-2i32, 31), i32::MIN);
        assert_eq!(integer_power(2i32, 32), 0);
        assert_eq!(integer_power(2.0f64, -2), 0.25);
        assert_eq!(integer_power(-1i32, -3), -1);
        assert_eq!(integer_power(2i32, -1), 0);
        assert_eq!(integer_power(0i32, -1), -1);
        assert!(integer_power(f64::NAN, 0) == 1.0);
        assert_eq!(integer_power(1.5f32, 3), 1.5f32 * (1.5 * 1.5));
    }
}
