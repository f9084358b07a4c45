//! dtype promotion following JAX's lattice, with weak types for literals.
//!
//! Strong dtypes: `bool < {u32, i32} < i64 < f32 < f64`, with `u32 ∨ i32 = i64` and any
//! integer joined with a float giving that float. A weak operand (a literal, or a value
//! computed only from literals) adopts the other operand's dtype when that operand is of
//! the same kind or a higher one; a weak float meeting an integer array gives a weak f64.

use nabla_ir::DType;

fn kind(d: DType) -> u8 {
    match d {
        DType::Bool => 0,
        DType::I32 | DType::I64 | DType::U32 => 1,
        DType::F32 | DType::F64 => 2,
    }
}

/// The default dtype of a weak value of a kind.
fn default_of_kind(k: u8) -> DType {
    match k {
        0 => DType::Bool,
        1 => DType::I64,
        _ => DType::F64,
    }
}

/// Join of two strong dtypes.
pub fn join_strong(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    match (kind(a), kind(b)) {
        (0, _) => b,
        (_, 0) => a,
        (1, 1) => match (a, b) {
            (I32, U32) | (U32, I32) | (_, I64) | (I64, _) => I64,
            _ => I64,
        },
        (1, 2) => b,
        (2, 1) => a,
        _ => F64, // f32 ∨ f64
    }
}

/// The dtype (and weakness) of the result of combining two operands.
pub fn join(a: DType, a_weak: bool, b: DType, b_weak: bool) -> (DType, bool) {
    match (a_weak, b_weak) {
        (false, false) => (join_strong(a, b), false),
        (true, true) => {
            let k = kind(a).max(kind(b));
            let d = if kind(a) == kind(b) {
                join_strong(a, b)
            } else {
                default_of_kind(k)
            };
            (d, true)
        }
        (true, false) => weak_with_strong(a, b),
        (false, true) => weak_with_strong(b, a),
    }
}

fn weak_with_strong(weak: DType, strong: DType) -> (DType, bool) {
    if kind(weak) <= kind(strong) {
        (strong, false)
    } else {
        (default_of_kind(kind(weak)), true)
    }
}

/// The float dtype a value of `d` becomes under true division and float functions.
pub fn float_of(d: DType) -> DType {
    match d {
        DType::F32 => DType::F32,
        DType::F64 | DType::Bool | DType::I32 | DType::I64 | DType::U32 => DType::F64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn lattice_matches_jax() {
        assert_eq!(join(I32, false, F32, false), (F32, false));
        assert_eq!(join(F32, false, F64, false), (F64, false));
        assert_eq!(join(I32, false, U32, false), (I64, false));
        assert_eq!(join(Bool, false, I32, false), (I32, false));
        assert_eq!(join(I64, false, F32, false), (F32, false));
    }

    #[test]
    fn weak_literals_adopt_the_array_dtype() {
        assert_eq!(join(F32, false, F64, true), (F32, false));
        assert_eq!(join(F32, false, I64, true), (F32, false));
        assert_eq!(join(I32, false, I64, true), (I32, false));
        assert_eq!(join(I32, false, F64, true), (F64, true));
        assert_eq!(join(I64, true, F64, true), (F64, true));
        assert_eq!(join(Bool, false, I64, true), (I64, true));
    }
}
