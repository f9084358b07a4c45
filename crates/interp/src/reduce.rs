//! Reductions: `reduce_*` in the canonical order, `argmax`/`argmin`, and the
//! sequential cumulative sum and product.
//!
//! `Reduce` must be bitwise what every backend produces, so each output element folds
//! its reduced index space (the reduced axes, in increasing axis order, flattened
//! row-major) with `nabla_ir::canonical::fold` or `canonical::compensated_sum`, never a
//! loop of our own.

use nabla_ir::canonical;
use nabla_ir::{ArgOp, Array, CumOp, DType, Data, ReduceOp};

use crate::data::{dispatch, make, signed_strides, split_at_axis, Strided};
use crate::num::{Elem, Float, Num};
use crate::EvalError;

/// Where each output element's reduced elements live: element `k` of output `o` is at
/// `bases[o] + offsets[k]`.
struct Plan {
    bases: Vec<usize>,
    offsets: Vec<usize>,
}

impl Plan {
    fn new(shape: &[usize], len: usize, axes: &[usize]) -> Result<Plan, EvalError> {
        let st = signed_strides(shape);
        let mut reduced: Vec<usize> = axes.to_vec();
        reduced.sort_unstable();
        let kept: Vec<usize> = (0..shape.len()).filter(|a| !reduced.contains(a)).collect();
        let pick = |axes: &[usize]| -> (Vec<usize>, Vec<isize>) {
            axes.iter().map(|&a| (shape[a], st[a])).unzip()
        };
        let (kshape, kst) = pick(&kept);
        let (rshape, rst) = pick(&reduced);
        let bases: Vec<usize> = Strided::new(&kshape, 0, &kst).collect();
        // An empty result needs no offsets; skipping them also avoids walking a huge
        // reduced space next to a zero-length kept axis.
        let offsets: Vec<usize> = if bases.is_empty() {
            Vec::new()
        } else {
            Strided::new(&rshape, 0, &rst).collect()
        };
        // Positions are then in bounds: the folds below index without further checks.
        let top =
            bases.iter().max().copied().unwrap_or(0) + offsets.iter().max().copied().unwrap_or(0);
        if !bases.is_empty() && !offsets.is_empty() && top >= len {
            return Err(EvalError::internal("reduction plan outside its operand"));
        }
        Ok(Plan { bases, offsets })
    }

    fn fold<T: Clone>(&self, v: &[T], identity: T, op: fn(T, T) -> T) -> Vec<T> {
        let n = self.offsets.len();
        self.bases
            .iter()
            .map(|&b| canonical::fold(n, identity.clone(), |k| v[b + self.offsets[k]].clone(), op))
            .collect()
    }

    fn compensated_sum<T: Float>(&self, v: &[T]) -> Vec<T> {
        let n = self.offsets.len();
        self.bases
            .iter()
            .map(|&b| canonical::compensated_sum(n, |k| v[b + self.offsets[k]]))
            .collect()
    }
}

fn rejects(op: ReduceOp, dtype: DType, compensated: bool) -> EvalError {
    let c = if compensated { "compensated " } else { "" };
    EvalError::internal(format!("{c}{} does not accept {dtype} operands", op.name()))
}

pub(crate) fn reduce(
    x: &Array,
    op: ReduceOp,
    axes: &[usize],
    compensated: bool,
) -> Result<Array, EvalError> {
    let plan = Plan::new(x.shape(), x.len(), axes)?;
    let data = match x.data() {
        Data::Bool(v) => Data::Bool(reduce_bool(&plan, v, op, compensated)?),
        Data::I32(v) => Data::I32(reduce_num(&plan, v, op, compensated)?),
        Data::I64(v) => Data::I64(reduce_num(&plan, v, op, compensated)?),
        Data::U32(v) => Data::U32(reduce_num(&plan, v, op, compensated)?),
        Data::F32(v) => Data::F32(reduce_float(&plan, v, op, compensated)?),
        Data::F64(v) => Data::F64(reduce_float(&plan, v, op, compensated)?),
    };
    let shape: Vec<usize> = (0..x.rank())
        .filter(|a| !axes.contains(a))
        .map(|a| x.shape()[a])
        .collect();
    make(&shape, data)
}

fn reduce_bool(
    plan: &Plan,
    v: &[bool],
    op: ReduceOp,
    compensated: bool,
) -> Result<Vec<bool>, EvalError> {
    if compensated {
        return Err(rejects(op, DType::Bool, compensated));
    }
    match op {
        ReduceOp::And | ReduceOp::Min => Ok(plan.fold(v, true, |a, b| a & b)),
        ReduceOp::Or | ReduceOp::Max => Ok(plan.fold(v, false, |a, b| a | b)),
        ReduceOp::Sum | ReduceOp::Prod => Err(rejects(op, DType::Bool, compensated)),
    }
}

fn reduce_num<T: Num>(
    plan: &Plan,
    v: &[T],
    op: ReduceOp,
    compensated: bool,
) -> Result<Vec<T>, EvalError> {
    if compensated {
        return Err(rejects(op, T::DTYPE, compensated));
    }
    match op {
        ReduceOp::Sum => Ok(plan.fold(v, T::ZERO, Num::add)),
        ReduceOp::Prod => Ok(plan.fold(v, T::ONE, Num::mul)),
        ReduceOp::Max => Ok(plan.fold(v, T::LOWEST, Num::max_nan)),
        ReduceOp::Min => Ok(plan.fold(v, T::HIGHEST, Num::min_nan)),
        ReduceOp::And | ReduceOp::Or => Err(rejects(op, T::DTYPE, compensated)),
    }
}

fn reduce_float<T: Float>(
    plan: &Plan,
    v: &[T],
    op: ReduceOp,
    compensated: bool,
) -> Result<Vec<T>, EvalError> {
    if !compensated {
        return reduce_num(plan, v, op, compensated);
    }
    match op {
        ReduceOp::Sum => Ok(plan.compensated_sum(v)),
        ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min | ReduceOp::And | ReduceOp::Or => {
            Err(rejects(op, T::DTYPE, compensated))
        }
    }
}

/// The index of the first extreme element along `axis`; a NaN is more extreme than
/// anything, so the first NaN wins (as in `jnp.argmax`).
pub(crate) fn arg_reduce(
    x: &Array,
    op: ArgOp,
    axis: usize,
    index_dtype: DType,
) -> Result<Array, EvalError> {
    let (outer, n, inner) = split_at_axis(x.shape(), axis);
    if n == 0 {
        return Err(EvalError::internal(format!(
            "{} along an empty axis",
            op.name()
        )));
    }
    let best: Vec<i64> = dispatch!(x.data(), v => arg_typed(v, op, outer, n, inner));
    let mut shape = x.shape().to_vec();
    shape.remove(axis);
    make(&shape, Data::I64(best).cast(index_dtype))
}

fn arg_typed<T: Elem>(v: &[T], op: ArgOp, outer: usize, n: usize, inner: usize) -> Vec<i64> {
    let better: fn(T, T) -> bool = match op {
        ArgOp::ArgMax => |a, b| a > b,
        ArgOp::ArgMin => |a, b| a < b,
    };
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            // `v` holds outer·n·inner elements (the array invariant), so these are in
            // bounds.
            let at = |k: usize| v[(o * n + k) * inner + i];
            let (mut best, mut best_k) = (at(0), 0);
            if !best.is_nan() {
                for k in 1..n {
                    let c = at(k);
                    if c.is_nan() {
                        best_k = k;
                        break;
                    }
                    if better(c, best) {
                        (best, best_k) = (c, k);
                    }
                }
            }
            out.push(best_k as i64);
        }
    }
    out
}

/// Inclusive running sum or product along `axis`, strictly sequential (from the end
/// when `reverse`); the first element is copied, not combined with an identity, so a
/// leading `-0.0` stays `-0.0`.
pub(crate) fn cumulative(
    x: &Array,
    op: CumOp,
    axis: usize,
    reverse: bool,
) -> Result<Array, EvalError> {
    let (outer, n, inner) = split_at_axis(x.shape(), axis);
    let data = match x.data() {
        Data::Bool(_) => {
            return Err(EvalError::internal(format!(
                "{} does not accept bool operands",
                op.name()
            )))
        }
        Data::I32(v) => Data::I32(scan_typed(v, op, outer, n, inner, reverse)),
        Data::I64(v) => Data::I64(scan_typed(v, op, outer, n, inner, reverse)),
        Data::U32(v) => Data::U32(scan_typed(v, op, outer, n, inner, reverse)),
        Data::F32(v) => Data::F32(scan_typed(v, op, outer, n, inner, reverse)),
        Data::F64(v) => Data::F64(scan_typed(v, op, outer, n, inner, reverse)),
    };
    make(x.shape(), data)
}

fn scan_typed<T: Num>(
    v: &[T],
    op: CumOp,
    outer: usize,
    n: usize,
    inner: usize,
    reverse: bool,
) -> Vec<T> {
    let f: fn(T, T) -> T = match op {
        CumOp::Sum => Num::add,
        CumOp::Prod => Num::mul,
    };
    let mut out = v.to_vec();
    for o in 0..outer {
        for step in 1..n {
            let (k, prev) = if reverse {
                (n - 1 - step, n - step)
            } else {
                (step, step - 1)
            };
            for i in 0..inner {
                let (p, q) = ((o * n + prev) * inner + i, (o * n + k) * inner + i);
                out[q] = f(out[p], out[q]);
            }
        }
    }
    out
}
