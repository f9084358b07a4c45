//! Scalar arithmetic on literals, bit for bit what the reference interpreter computes.
//!
//! The interpreter does arithmetic in the operand dtype with Rust's IEEE operators
//! (f32 stays f32), wrapping integer arithmetic, and XLA's total integer division
//! (`x / 0` is all bits set, `MIN / -1` wraps). The same operators on the same types
//! here give the same bits, NaN payloads included. Functions whose value would come
//! from a math library (exp, sin, pow, …) are never folded: the library's rounding is
//! the backend's business.
//!
//! Every function returns `None` for an operator or dtype it does not fold.

use nabla_ir::{BinaryOp, CmpOp, Scalar, UnaryOp};

pub(super) fn unary(op: UnaryOp, x: Scalar) -> Option<Scalar> {
    use Scalar as S;
    match op {
        UnaryOp::Neg => match x {
            S::F32(v) => Some(S::F32(-v)),
            S::F64(v) => Some(S::F64(-v)),
            S::I32(v) => Some(S::I32(v.wrapping_neg())),
            S::I64(v) => Some(S::I64(v.wrapping_neg())),
            S::U32(v) => Some(S::U32(v.wrapping_neg())),
            S::Bool(_) => None,
        },
        UnaryOp::Not => match x {
            S::Bool(v) => Some(S::Bool(!v)),
            S::I32(v) => Some(S::I32(!v)),
            S::I64(v) => Some(S::I64(!v)),
            S::U32(v) => Some(S::U32(!v)),
            S::F32(_) | S::F64(_) => None,
        },
        UnaryOp::Abs
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
        | UnaryOp::IsFinite => None,
    }
}

/// XLA's integer division: total, with `x / 0` all bits set.
macro_rules! int_div {
    ($a:expr, $b:expr) => {
        if $b == 0 {
            !0
        } else {
            $a.wrapping_div($b)
        }
    };
}

pub(super) fn binary(op: BinaryOp, a: Scalar, b: Scalar) -> Option<Scalar> {
    use Scalar as S;
    match op {
        BinaryOp::Add => match (a, b) {
            (S::F32(x), S::F32(y)) => Some(S::F32(x + y)),
            (S::F64(x), S::F64(y)) => Some(S::F64(x + y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(x.wrapping_add(y))),
            (S::I64(x), S::I64(y)) => Some(S::I64(x.wrapping_add(y))),
            (S::U32(x), S::U32(y)) => Some(S::U32(x.wrapping_add(y))),
            _ => None,
        },
        BinaryOp::Sub => match (a, b) {
            (S::F32(x), S::F32(y)) => Some(S::F32(x - y)),
            (S::F64(x), S::F64(y)) => Some(S::F64(x - y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(x.wrapping_sub(y))),
            (S::I64(x), S::I64(y)) => Some(S::I64(x.wrapping_sub(y))),
            (S::U32(x), S::U32(y)) => Some(S::U32(x.wrapping_sub(y))),
            _ => None,
        },
        BinaryOp::Mul => match (a, b) {
            (S::F32(x), S::F32(y)) => Some(S::F32(x * y)),
            (S::F64(x), S::F64(y)) => Some(S::F64(x * y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(x.wrapping_mul(y))),
            (S::I64(x), S::I64(y)) => Some(S::I64(x.wrapping_mul(y))),
            (S::U32(x), S::U32(y)) => Some(S::U32(x.wrapping_mul(y))),
            _ => None,
        },
        BinaryOp::Div => match (a, b) {
            (S::F32(x), S::F32(y)) => Some(S::F32(x / y)),
            (S::F64(x), S::F64(y)) => Some(S::F64(x / y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(int_div!(x, y))),
            (S::I64(x), S::I64(y)) => Some(S::I64(int_div!(x, y))),
            (S::U32(x), S::U32(y)) => Some(S::U32(int_div!(x, y))),
            _ => None,
        },
        BinaryOp::And => match (a, b) {
            (S::Bool(x), S::Bool(y)) => Some(S::Bool(x & y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(x & y)),
            (S::I64(x), S::I64(y)) => Some(S::I64(x & y)),
            (S::U32(x), S::U32(y)) => Some(S::U32(x & y)),
            _ => None,
        },
        BinaryOp::Or => match (a, b) {
            (S::Bool(x), S::Bool(y)) => Some(S::Bool(x | y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(x | y)),
            (S::I64(x), S::I64(y)) => Some(S::I64(x | y)),
            (S::U32(x), S::U32(y)) => Some(S::U32(x | y)),
            _ => None,
        },
        BinaryOp::Xor => match (a, b) {
            (S::Bool(x), S::Bool(y)) => Some(S::Bool(x ^ y)),
            (S::I32(x), S::I32(y)) => Some(S::I32(x ^ y)),
            (S::I64(x), S::I64(y)) => Some(S::I64(x ^ y)),
            (S::U32(x), S::U32(y)) => Some(S::U32(x ^ y)),
            _ => None,
        },
        BinaryOp::Rem
        | BinaryOp::Pow
        | BinaryOp::Atan2
        | BinaryOp::Max
        | BinaryOp::Min
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRightLogical => None,
    }
}

/// IEEE comparisons (every comparison with NaN is false but `ne`); `false < true`.
pub(super) fn compare(op: CmpOp, a: Scalar, b: Scalar) -> Option<Scalar> {
    use Scalar as S;
    fn cmp<T: PartialOrd>(op: CmpOp, x: T, y: T) -> bool {
        match op {
            CmpOp::Eq => x == y,
            CmpOp::Ne => x != y,
            CmpOp::Lt => x < y,
            CmpOp::Le => x <= y,
            CmpOp::Gt => x > y,
            CmpOp::Ge => x >= y,
        }
    }
    let r = match (a, b) {
        (S::Bool(x), S::Bool(y)) => cmp(op, x, y),
        (S::I32(x), S::I32(y)) => cmp(op, x, y),
        (S::I64(x), S::I64(y)) => cmp(op, x, y),
        (S::U32(x), S::U32(y)) => cmp(op, x, y),
        (S::F32(x), S::F32(y)) => cmp(op, x, y),
        (S::F64(x), S::F64(y)) => cmp(op, x, y),
        _ => return None,
    };
    Some(S::Bool(r))
}

/// Whether two scalars are the same value bit for bit (NaNs by payload, `-0.0` and
/// `0.0` apart).
pub(super) fn same_bits(a: Scalar, b: Scalar) -> bool {
    use Scalar as S;
    match (a, b) {
        (S::F32(x), S::F32(y)) => x.to_bits() == y.to_bits(),
        (S::F64(x), S::F64(y)) => x.to_bits() == y.to_bits(),
        (S::Bool(x), S::Bool(y)) => x == y,
        (S::I32(x), S::I32(y)) => x == y,
        (S::I64(x), S::I64(y)) => x == y,
        (S::U32(x), S::U32(y)) => x == y,
        _ => false,
    }
}

/// Whether `s` is zero of its dtype (`-0.0` included).
pub(super) fn is_zero(s: Scalar) -> bool {
    s.dtype() != nabla_ir::DType::Bool && !s.is_nonzero()
}

/// Whether `s` is one of its dtype.
pub(super) fn is_one(s: Scalar) -> bool {
    s.dtype() != nabla_ir::DType::Bool && same_bits(s, Scalar::one(s.dtype()))
}
