//! Plumbing shared by the native loops: the element and index traits that let each loop
//! be written once for all six dtypes, dtype dispatch, operand checking, row-major
//! multi-index stepping, and cutting an output into runs of whole rows across a rayon
//! pool.

use nabla_diag::Code;
use nabla_ir::array::{check_alloc, Element};
use nabla_ir::{Array, Data, Prim, Type};
use rayon::prelude::*;
use rayon::ThreadPool;

use crate::error::{CpuError, Result};

/// Elements of work below which a loop stays on the calling thread: handing work to the
/// pool costs a few microseconds, about what copying this many elements takes.
pub const PARALLEL_WORK: usize = 32 * 1024;
/// Pieces per thread, so that pieces of uneven cost still balance.
const TASKS_PER_THREAD: usize = 4;
/// The least work worth one piece of its own.
const GRAIN: usize = 8 * 1024;

/// An element of any dtype, with the two operations whose meaning differs by dtype.
pub trait Elem: Element + Default + PartialOrd + Send + Sync {
    fn is_nan(self) -> bool;
    /// What `scatter_add` does with two elements: XLA's add, wrapping for integers and
    /// `or` for bool (as the interpreter).
    fn accumulate(self, other: Self) -> Self;
}

impl Elem for bool {
    fn is_nan(self) -> bool {
        false
    }
    fn accumulate(self, other: bool) -> bool {
        self | other
    }
}

macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn is_nan(self) -> bool {
                false
            }
            fn accumulate(self, other: $t) -> $t {
                self.wrapping_add(other)
            }
        }
    )*};
}
int_elem!(i32, i64, u32);

macro_rules! float_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn accumulate(self, other: $t) -> $t {
                self + other
            }
        }
    )*};
}
float_elem!(f32, f64);

/// An element of an integer index operand.
pub trait Index: Copy + Send + Sync {
    fn to_i64(self) -> i64;
}

impl Index for i32 {
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
}

impl Index for u32 {
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
}

impl Index for i64 {
    fn to_i64(self) -> i64 {
        self
    }
}

/// Runs `$body` with `$v` bound to the typed elements of `$data` (a `&Data`); the body
/// yields a `Vec` of some element type, wrapped back into `Data`. Expanded once per
/// dtype, so the body may call generic code.
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            nabla_ir::Data::Bool($v) => nabla_ir::Data::from($body),
            nabla_ir::Data::I32($v) => nabla_ir::Data::from($body),
            nabla_ir::Data::I64($v) => nabla_ir::Data::from($body),
            nabla_ir::Data::U32($v) => nabla_ir::Data::from($body),
            nabla_ir::Data::F32($v) => nabla_ir::Data::from($body),
            nabla_ir::Data::F64($v) => nabla_ir::Data::from($body),
        }
    };
}
pub(crate) use map_data;

/// Runs `$body` with `$v` bound to the typed elements of `$data` (a `&Data`); every
/// expansion yields the same type.
macro_rules! dispatch {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            nabla_ir::Data::Bool($v) => $body,
            nabla_ir::Data::I32($v) => $body,
            nabla_ir::Data::I64($v) => $body,
            nabla_ir::Data::U32($v) => $body,
            nabla_ir::Data::F32($v) => $body,
            nabla_ir::Data::F64($v) => $body,
        }
    };
}
pub(crate) use dispatch;

/// Runs `$body` with `$i` bound to the elements of the integer index operand `$data`;
/// any other dtype returns an internal error from the enclosing function.
macro_rules! with_index {
    ($data:expr, $i:ident => $body:expr) => {
        match $data {
            nabla_ir::Data::I32($i) => $body,
            nabla_ir::Data::I64($i) => $body,
            nabla_ir::Data::U32($i) => $body,
            other @ (nabla_ir::Data::Bool(_) | nabla_ir::Data::F32(_) | nabla_ir::Data::F64(_)) => {
                return Err($crate::error::CpuError::internal(format!(
                    "index operand of dtype {}",
                    other.dtype()
                )))
            }
        }
    };
}
pub(crate) use with_index;

/// The typed elements of an operand that must share the dtype `T` of another.
pub fn same<T: Element>(d: &Data) -> Result<&[T]> {
    T::slice(d).ok_or_else(|| {
        CpuError::internal(format!(
            "operand of dtype {} where {} was expected",
            d.dtype(),
            T::DTYPE
        ))
    })
}

/// The one element of an integer scalar operand (a dynamic start index), widened.
pub fn scalar_index(a: &Array) -> Result<i64> {
    if a.rank() != 0 {
        return Err(CpuError::internal(format!(
            "expected an integer scalar, got {}",
            a.ty()
        )));
    }
    fn first<I: Index>(v: &[I]) -> Result<i64> {
        v.first()
            .map(|i| i.to_i64())
            .ok_or_else(|| CpuError::internal("a scalar without its element"))
    }
    with_index!(a.data(), v => first(v))
}

/// Checks the operands as the interpreter does before it runs a primitive: the types
/// `infer` accepts (so the loops may index by the shapes), and results small enough to
/// allocate. Returns the result types.
pub fn check(prim: &Prim, ins: &[Array]) -> Result<Vec<Type>> {
    let types: Vec<Type> = ins.iter().map(Array::ty).collect();
    let outs = nabla_ir::infer(prim, &types)
        .map_err(|e| CpuError::internal(format!("{}: {e}", prim.name())))?;
    for t in &outs {
        check_alloc(&t.shape, t.dtype).map_err(|e| CpuError {
            code: Code::ALLOCATION_TOO_LARGE,
            message: e.to_string(),
            span: nabla_diag::Span::DUMMY,
        })?;
    }
    Ok(outs)
}

/// An array from a shape and the data computed for it.
pub fn make(shape: Vec<usize>, data: Data) -> Result<Array> {
    Array::new(shape, data).map_err(|e| CpuError::internal(e.to_string()))
}

/// `(outer, n, inner)`: the element counts before, along and after `axis`.
pub fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Sets `idx` to the row-major multi-index of flat position `flat` in `shape`.
pub fn unflatten(mut flat: usize, shape: &[usize], idx: &mut [usize]) {
    for (i, &n) in idx.iter_mut().zip(shape).rev() {
        if n > 0 {
            *i = flat % n;
            flat /= n;
        }
    }
}

/// Steps `idx` to the next multi-index of `shape` in row-major order (wrapping to zero).
pub fn advance(idx: &mut [usize], shape: &[usize]) {
    for (i, &n) in idx.iter_mut().zip(shape).rev() {
        *i += 1;
        if *i < n {
            return;
        }
        *i = 0;
    }
}

/// Runs `f(first_row, run)` over `out` cut into `pieces` runs of whole rows of `row`
/// elements, on `pool` when there are several (see [`pieces`]). Each run owns its rows,
/// so the split cannot change a result.
pub fn for_rows<T: Send>(
    pool: &ThreadPool,
    out: &mut [T],
    row: usize,
    pieces: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if row == 0 || out.is_empty() {
        return;
    }
    let rows = out.len() / row;
    let pieces = pieces.min(rows);
    if pieces <= 1 {
        f(0, out);
        return;
    }
    let per = rows.div_ceil(pieces);
    pool.install(|| {
        out.par_chunks_mut(per * row)
            .enumerate()
            .for_each(|(c, run)| f(c * per, run));
    });
}

/// Whether `work` elements are worth handing to the pool.
pub fn parallel(pool: &ThreadPool, work: usize) -> bool {
    pool.current_num_threads() > 1 && work >= PARALLEL_WORK
}

/// How many pieces to cut `work` elements of evenly spread work into (1: stay on this
/// thread).
pub fn pieces(pool: &ThreadPool, work: usize) -> usize {
    if parallel(pool, work) {
        (pool.current_num_threads() * TASKS_PER_THREAD).min((work / GRAIN).max(1))
    } else {
        1
    }
}
