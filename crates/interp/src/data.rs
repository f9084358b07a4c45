//! Typed storage plumbing shared by the rules: dtype dispatch, strided reads and writes,
//! and reading index operands.
//!
//! Every shape primitive is a "strided view" of its operand: output multi-index `i`
//! reads the operand at `offset + Σ i[k]·strides[k]` (negative strides reverse, zero
//! strides broadcast). Reads and writes go through bounds-checked accessors so a wrong
//! rule surfaces as an internal error instead of a panic.

use nabla_ir::array::strides;
use nabla_ir::dtype::numel;
use nabla_ir::{Array, Data};

use crate::num::Elem;
use crate::EvalError;

/// Runs `$body` with `$v` bound to the typed vector inside `$data` (`&Data` or
/// `&mut Data`); the body is expanded once per dtype, so it can call generic code.
macro_rules! dispatch {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            Data::Bool($v) => $body,
            Data::I32($v) => $body,
            Data::I64($v) => $body,
            Data::U32($v) => $body,
            Data::F32($v) => $body,
            Data::F64($v) => $body,
        }
    };
}
pub(crate) use dispatch;

/// The typed elements of an operand that must have the dtype `T` (the dtype of another
/// operand, or one the primitive fixes).
pub(crate) fn same<T: Elem>(d: &Data) -> Result<&[T], EvalError> {
    T::slice(d).ok_or_else(|| {
        EvalError::internal(format!(
            "operand of dtype {} where another was expected",
            d.dtype()
        ))
    })
}

/// An array from a shape and data computed for it.
pub(crate) fn make(shape: &[usize], data: Data) -> Result<Array, EvalError> {
    Ok(Array::new(shape.to_vec(), data)?)
}

/// Row-major strides as signed offsets, for views that reverse or broadcast.
pub(crate) fn signed_strides(shape: &[usize]) -> Vec<isize> {
    strides(shape).into_iter().map(|s| s as isize).collect()
}

/// Positions `offset + Σ idx[k]·strides[k]` for every multi-index `idx` of `shape`, in
/// row-major order. A position that would be negative comes out as `usize::MAX`, which
/// every accessor rejects.
pub(crate) struct Strided {
    shape: Vec<usize>,
    strides: Vec<isize>,
    idx: Vec<usize>,
    pos: isize,
    remaining: usize,
}

impl Strided {
    pub(crate) fn new(shape: &[usize], offset: isize, strides: &[isize]) -> Strided {
        Strided {
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            idx: vec![0; shape.len()],
            pos: offset,
            remaining: numel(shape),
        }
    }
}

impl Iterator for Strided {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let here = usize::try_from(self.pos).unwrap_or(usize::MAX);
        for k in (0..self.shape.len()).rev() {
            self.idx[k] += 1;
            self.pos += self.strides[k];
            if self.idx[k] < self.shape[k] {
                break;
            }
            self.pos -= self.strides[k] * self.shape[k] as isize;
            self.idx[k] = 0;
        }
        Some(here)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

fn out_of_bounds() -> EvalError {
    EvalError::internal("an element position outside its array (an interpreter bug)")
}

/// The elements of `v` at `positions`.
pub(crate) fn gather<T: Elem>(
    v: &[T],
    positions: impl Iterator<Item = usize>,
) -> Result<Vec<T>, EvalError> {
    let mut out = Vec::with_capacity(positions.size_hint().0);
    for p in positions {
        out.push(*v.get(p).ok_or_else(out_of_bounds)?);
    }
    Ok(out)
}

/// Any storage gathered at `positions`.
pub(crate) fn gather_data(
    d: &Data,
    positions: impl Iterator<Item = usize>,
) -> Result<Data, EvalError> {
    dispatch!(d, v => Ok(Elem::wrap(gather(v, positions)?)))
}

/// The strided view of `x` with the given output shape, as a new array.
pub(crate) fn view(
    x: &Array,
    shape: &[usize],
    offset: isize,
    strides: &[isize],
) -> Result<Array, EvalError> {
    make(
        shape,
        gather_data(x.data(), Strided::new(shape, offset, strides))?,
    )
}

/// Writes `src` (in order) to `dst` at `positions`.
pub(crate) fn write<T: Elem>(
    dst: &mut [T],
    src: &[T],
    positions: impl Iterator<Item = usize>,
) -> Result<(), EvalError> {
    for (p, &s) in positions.zip(src) {
        *dst.get_mut(p).ok_or_else(out_of_bounds)? = s;
    }
    Ok(())
}

/// Writes storage `src` into storage `dst` of the same dtype at `positions`.
pub(crate) fn write_data(
    dst: &mut Data,
    src: &Data,
    positions: impl Iterator<Item = usize>,
) -> Result<(), EvalError> {
    dispatch!(dst, d => write(d, same(src)?, positions))
}

/// Integer index operand elements as i64 (u32 and i32 widen losslessly).
pub(crate) fn indices(d: &Data) -> Result<Vec<i64>, EvalError> {
    match d {
        Data::I32(v) => Ok(v.iter().map(|&i| i64::from(i)).collect()),
        Data::I64(v) => Ok(v.clone()),
        Data::U32(v) => Ok(v.iter().map(|&i| i64::from(i)).collect()),
        Data::Bool(_) | Data::F32(_) | Data::F64(_) => Err(EvalError::internal(format!(
            "index operand of dtype {}",
            d.dtype()
        ))),
    }
}

/// A scalar integer operand (a dynamic start index).
pub(crate) fn scalar_index(a: &Array) -> Result<i64, EvalError> {
    let not_scalar = || EvalError::internal(format!("expected an integer scalar, got {}", a.ty()));
    if a.rank() != 0 {
        return Err(not_scalar());
    }
    indices(a.data())?.first().copied().ok_or_else(not_scalar)
}

/// Splits `shape` around `axis` into (elements before, axis length, elements after).
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        numel(&shape[..axis]),
        shape[axis],
        numel(&shape[axis + 1..]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_walks_row_major_with_signed_strides() {
        let p: Vec<usize> = Strided::new(&[2, 3], 2, &[3, -1]).collect();
        assert_eq!(p, vec![2, 1, 0, 5, 4, 3]);
        let p: Vec<usize> = Strided::new(&[2, 2], 0, &[0, 1]).collect();
        assert_eq!(p, vec![0, 1, 0, 1]);
        assert_eq!(Strided::new(&[3, 0, 5], 0, &[0, 0, 0]).count(), 0);
        assert_eq!(Strided::new(&[], 4, &[]).collect::<Vec<_>>(), vec![4]);
    }

    #[test]
    fn out_of_range_reads_are_errors() {
        let v = [1i32, 2, 3];
        assert!(gather(&v, [0usize, 3].into_iter()).is_err());
        assert!(gather(&v, Strided::new(&[2], -1, &[1])).is_err());
    }
}
