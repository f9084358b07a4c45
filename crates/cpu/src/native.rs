//! Primitives the CPU backend runs as plain Rust loops rather than fused kernels:
//! they move memory (`concat` here; gathers, pads, dynamic slices and scatters in
//! [`gather`] and [`scatter`]), carry a sequential dependence along one axis
//! (`cumsum`, `cumprod` here), pick an index ([`arg`]) or sum in twice the working
//! precision ([`compensated`]). A tight loop over contiguous rows is already near the
//! memory bound for these. Results equal the interpreter's bit for bit: the same
//! element order, the same canonical summation order, wrapping integer arithmetic.

mod common;

pub mod arg;
pub mod compensated;
pub mod gather;
pub mod scatter;

pub use arg::arg_reduce;
pub use common::PARALLEL_WORK;
pub use compensated::{compensated_dot, compensated_sum};
pub use gather::{dynamic_slice, dynamic_update_slice, pad, take};
pub use scatter::scatter;

use nabla_ir::{Array, CumOp, Data, Prim, ReduceOp};

use crate::error::{CpuError, Result};

/// `(outer, n, inner)`: the shape around `axis`, row-major.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Concatenation along `axis`: each operand contributes a contiguous run per outer index.
pub fn concat(xs: &[Array], axis: usize) -> Result<Array> {
    let first = xs
        .first()
        .ok_or_else(|| CpuError::internal("concat of no operands"))?;
    let mut shape = first.shape().to_vec();
    if axis >= shape.len() {
        return Err(CpuError::internal("concat axis out of range"));
    }
    shape[axis] = xs.iter().map(|x| x.shape()[axis]).sum();
    let outer: usize = shape[..axis].iter().product();
    macro_rules! join {
        ($variant:ident) => {{
            let mut out = Vec::with_capacity(shape.iter().product());
            let parts = xs
                .iter()
                .map(|x| match x.data() {
                    Data::$variant(v) => {
                        let (_, n, inner) = split(x.shape(), axis);
                        Ok((v.as_slice(), n * inner))
                    }
                    _ => Err(CpuError::internal("concat operands of different dtypes")),
                })
                .collect::<Result<Vec<_>>>()?;
            for o in 0..outer {
                for (v, run) in &parts {
                    out.extend_from_slice(&v[o * run..(o + 1) * run]);
                }
            }
            Data::$variant(out)
        }};
    }
    let data = match first.data() {
        Data::Bool(_) => join!(Bool),
        Data::I32(_) => join!(I32),
        Data::I64(_) => join!(I64),
        Data::U32(_) => join!(U32),
        Data::F32(_) => join!(F32),
        Data::F64(_) => join!(F64),
    };
    Array::new(shape, data).map_err(|e| CpuError::internal(e.to_string()))
}

/// One row's inclusive running `f`, from the end when `reverse` (monomorphised per op so
/// the loop is a plain add or multiply chain).
fn running<T: Copy>(row: &mut [T], reverse: bool, f: impl Fn(T, T) -> T) {
    if reverse {
        let mut it = row.iter_mut().rev();
        if let Some(last) = it.next() {
            let mut acc = *last;
            for x in it {
                acc = f(acc, *x);
                *x = acc;
            }
        }
    } else {
        let mut it = row.iter_mut();
        if let Some(first) = it.next() {
            let mut acc = *first;
            for x in it {
                acc = f(acc, *x);
                *x = acc;
            }
        }
    }
}

/// The running `f` along the middle axis of `out` viewed as `(outer, n, inner)`, in
/// place (monomorphised per op, so no dispatch happens per element).
fn scan_rows<T: Copy>(
    out: &mut [T],
    (outer, n, inner): (usize, usize, usize),
    reverse: bool,
    f: impl Fn(T, T) -> T,
) {
    if inner == 1 {
        // One running value per row: a plain add or multiply chain.
        for row in out.chunks_mut(n.max(1)).take(outer) {
            running(row, reverse, &f);
        }
        return;
    }
    for o in 0..outer {
        let base = o * n * inner;
        for step in 1..n {
            // Row `cur` accumulates row `prev`: contiguous, so the loop vectorises.
            let (prev, cur) = if reverse {
                (n - step, n - 1 - step)
            } else {
                (step - 1, step)
            };
            let (p0, c0) = (base + prev * inner, base + cur * inner);
            for i in 0..inner {
                out[c0 + i] = f(out[p0 + i], out[c0 + i]);
            }
        }
    }
}

/// Inclusive running sum or product along `axis`, from the end when `reverse`.
pub fn cumulative(x: &Array, op: CumOp, axis: usize, reverse: bool) -> Result<Array> {
    if axis >= x.rank() {
        return Err(CpuError::internal("cumulative axis out of range"));
    }
    let (outer, n, inner) = split(x.shape(), axis);
    macro_rules! scan {
        ($v:expr, $variant:ident, $add:expr, $mul:expr) => {{
            let mut out = $v.clone();
            match op {
                CumOp::Sum => scan_rows(&mut out, (outer, n, inner), reverse, $add),
                CumOp::Prod => scan_rows(&mut out, (outer, n, inner), reverse, $mul),
            }
            Data::$variant(out)
        }};
    }
    let data = match x.data() {
        Data::Bool(_) => return Err(CpuError::unsupported(format!("{} of bool", op.name()))),
        Data::I32(v) => scan!(
            v,
            I32,
            |a: i32, b: i32| a.wrapping_add(b),
            |a: i32, b: i32| a.wrapping_mul(b)
        ),
        Data::I64(v) => scan!(
            v,
            I64,
            |a: i64, b: i64| a.wrapping_add(b),
            |a: i64, b: i64| a.wrapping_mul(b)
        ),
        Data::U32(v) => scan!(
            v,
            U32,
            |a: u32, b: u32| a.wrapping_add(b),
            |a: u32, b: u32| a.wrapping_mul(b)
        ),
        Data::F32(v) => scan!(v, F32, |a: f32, b: f32| a + b, |a: f32, b: f32| a * b),
        Data::F64(v) => scan!(v, F64, |a: f64, b: f64| a + b, |a: f64, b: f64| a * b),
    };
    Array::new(x.shape().to_vec(), data).map_err(|e| CpuError::internal(e.to_string()))
}

/// `reduce_*` of a scalar over no axes (the planner sends only literal operands here):
/// the canonical fold combines the element with identities, which changes only float
/// sums (`-0.0` becomes `+0.0`) and products (a signalling NaN is quieted).
pub fn reduce_scalar(x: &Array, op: ReduceOp) -> Result<Array> {
    let prim = Prim::Reduce {
        op,
        axes: Vec::new(),
        compensated: false,
    };
    common::check(&prim, std::slice::from_ref(x))?;
    if x.rank() != 0 {
        return Err(CpuError::internal("reduce_scalar of an array"));
    }
    let data = match (x.data(), op) {
        (Data::F32(v), ReduceOp::Sum) => Data::F32(v.iter().map(|&a| 0.0 + a).collect()),
        (Data::F64(v), ReduceOp::Sum) => Data::F64(v.iter().map(|&a| 0.0 + a).collect()),
        (Data::F32(v), ReduceOp::Prod) => Data::F32(v.iter().map(|&a| 1.0 * a).collect()),
        (Data::F64(v), ReduceOp::Prod) => Data::F64(v.iter().map(|&a| 1.0 * a).collect()),
        // Integer identities, NaN-propagating max/min and and/or leave the element as is.
        _ => x.data().clone(),
    };
    common::make(Vec::new(), data)
}
