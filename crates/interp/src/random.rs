//! Counter-based random bits: the Threefry-2x32 block cipher and the conversion of
//! random bits to uniform floats, bit for bit as JAX does them.

use nabla_ir::threefry::threefry2x32;
use nabla_ir::{Array, DType};

use crate::data::{make, same};
use crate::EvalError;

pub(crate) fn threefry_arrays(
    k0: &Array,
    k1: &Array,
    x0: &Array,
    x1: &Array,
) -> Result<Vec<Array>, EvalError> {
    let (k0v, k1v): (&[u32], &[u32]) = (same(k0.data())?, same(k1.data())?);
    let (x0v, x1v): (&[u32], &[u32]) = (same(x0.data())?, same(x1.data())?);
    let n = k0v.len();
    if [k1v.len(), x0v.len(), x1v.len()].iter().any(|&m| m != n) {
        return Err(EvalError::internal(
            "threefry2x32 operands of different sizes",
        ));
    }
    let (mut y0, mut y1) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let [a, b] = threefry2x32([k0v[i], k1v[i]], [x0v[i], x1v[i]]);
        y0.push(a);
        y1.push(b);
    }
    Ok(vec![
        make(k0.shape(), y0.into())?,
        make(k0.shape(), y1.into())?,
    ])
}

/// A float in `[0, 1)` from 32 random bits: the top 23 bits become the mantissa of a
/// number in `[1, 2)`, minus one (exact).
pub(crate) fn unit_f32(bits: u32) -> f32 {
    f32::from_bits((bits >> 9) | 0x3f80_0000) - 1.0
}

/// A double in `[0, 1)` from 64 random bits `hi << 32 | lo` (the top 52 bits).
pub(crate) fn unit_f64(hi: u32, lo: u32) -> f64 {
    let b = (u64::from(hi) << 32) | u64::from(lo);
    f64::from_bits((b >> 12) | 0x3ff0_0000_0000_0000) - 1.0
}

pub(crate) fn bits_to_unit(dtype: DType, args: &[Array]) -> Result<Array, EvalError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(EvalError::internal(format!(
                "bits_to_unit to {dtype} takes {n} operand(s), got {}",
                args.len()
            )))
        }
    };
    match dtype {
        DType::F32 => {
            arity(1)?;
            let bits: &[u32] = same(args[0].data())?;
            let v: Vec<f32> = bits.iter().map(|&b| unit_f32(b)).collect();
            make(args[0].shape(), v.into())
        }
        DType::F64 => {
            arity(2)?;
            let (hi, lo): (&[u32], &[u32]) = (same(args[0].data())?, same(args[1].data())?);
            if hi.len() != lo.len() {
                return Err(EvalError::internal(
                    "bits_to_unit operands of different sizes",
                ));
            }
            let v: Vec<f64> = hi.iter().zip(lo).map(|(&h, &l)| unit_f64(h, l)).collect();
            make(args[0].shape(), v.into())
        }
        DType::Bool | DType::I32 | DType::I64 | DType::U32 => Err(EvalError::internal(format!(
            "bits_to_unit cannot make {dtype}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_floats_span_zero_to_just_below_one() {
        assert_eq!(unit_f32(0), 0.0);
        assert_eq!(unit_f32(u32::MAX), 1.0 - f32::EPSILON);
        assert_eq!(unit_f32(0x8000_0000), 0.5);
        assert_eq!(unit_f64(0, 0), 0.0);
        assert_eq!(unit_f64(u32::MAX, u32::MAX), 1.0 - f64::EPSILON);
        assert_eq!(unit_f64(0x8000_0000, 0), 0.5);
        // The low 12 bits of `lo` are dropped.
        assert_eq!(unit_f64(0, 0xfff), 0.0);
        assert_eq!(unit_f64(0, 0x1000), f64::EPSILON);
    }
}
