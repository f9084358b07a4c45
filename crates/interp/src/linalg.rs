//! `dot_general`: batched tensor contraction in the canonical summation order.
//!
//! Each output element sums the products over its contraction index space (the
//! contracting axes flattened row-major in the order listed) with
//! `nabla_ir::canonical::fold`; every product is rounded on its own (no fused
//! multiply-add), so a backend reproduces the bits by multiplying then folding.
//!
//! The compensated mode is `nabla_ir::canonical::compensated_dot` (Dot2 on the same
//! lanes and blocks). Compensating only the sum of rounded products would leave an error
//! of `u·cond` and miss Dot2's `u + γ_n²·cond` bound.

use nabla_ir::canonical;
use nabla_ir::dtype::numel;
use nabla_ir::{Array, Data};

use crate::data::{make, same, signed_strides, Strided};
use crate::num::{Float, Num};
use crate::EvalError;

/// Offsets of every multi-index over some axes of an operand, row-major in the order
/// the axes are listed.
fn offsets(x: &Array, axes: &[usize]) -> Vec<usize> {
    let st = signed_strides(x.shape());
    let (shape, strides): (Vec<usize>, Vec<isize>) =
        axes.iter().map(|&a| (x.shape()[a], st[a])).unzip();
    Strided::new(&shape, 0, &strides).collect()
}

/// Element `(b, i, j)` of the result multiplies `lhs[batch_l[b] + free_l[i] + con_l[k]]`
/// by `rhs[batch_r[b] + free_r[j] + con_r[k]]` for each contraction index `k`.
struct Plan {
    batch_l: Vec<usize>,
    batch_r: Vec<usize>,
    free_l: Vec<usize>,
    free_r: Vec<usize>,
    con_l: Vec<usize>,
    con_r: Vec<usize>,
}

fn max_of(v: &[usize]) -> usize {
    v.iter().max().copied().unwrap_or(0)
}

impl Plan {
    /// Checks once that every position the loops form is inside its operand, so the
    /// loops can index directly.
    fn check(&self, l_len: usize, r_len: usize) -> Result<(), EvalError> {
        let fits = |b: &[usize], f: &[usize], c: &[usize], len: usize| {
            c.is_empty() || b.is_empty() || f.is_empty() || max_of(b) + max_of(f) + max_of(c) < len
        };
        if fits(&self.batch_l, &self.free_l, &self.con_l, l_len)
            && fits(&self.batch_r, &self.free_r, &self.con_r, r_len)
        {
            Ok(())
        } else {
            Err(EvalError::internal("dot_general plan outside its operands"))
        }
    }

    /// The result elements in row-major order (batch, lhs free, rhs free), each from
    /// `element(lhs base, rhs base)`.
    fn each<T>(&self, mut element: impl FnMut(usize, usize) -> T) -> Vec<T> {
        let n = self.batch_l.len() * self.free_l.len() * self.free_r.len();
        let mut out = Vec::with_capacity(n);
        for (&bl, &br) in self.batch_l.iter().zip(&self.batch_r) {
            for &fl in &self.free_l {
                for &fr in &self.free_r {
                    out.push(element(bl + fl, br + fr));
                }
            }
        }
        out
    }

    fn plain<T: Num>(&self, x: &[T], y: &[T]) -> Vec<T> {
        let k = self.con_l.len();
        self.each(|lb, rb| {
            canonical::fold(
                k,
                T::ZERO,
                |t| x[lb + self.con_l[t]].mul(y[rb + self.con_r[t]]),
                Num::add,
            )
        })
    }

    fn compensated<T: Float>(&self, x: &[T], y: &[T]) -> Vec<T> {
        let k = self.con_l.len();
        self.each(|lb, rb| {
            canonical::compensated_dot(k, |t| (x[lb + self.con_l[t]], y[rb + self.con_r[t]]))
        })
    }
}

pub(crate) fn dot_general(
    l: &Array,
    r: &Array,
    lhs_contract: &[usize],
    rhs_contract: &[usize],
    lhs_batch: &[usize],
    rhs_batch: &[usize],
    compensated: bool,
) -> Result<Array, EvalError> {
    let free = |x: &Array, con: &[usize], batch: &[usize]| -> Vec<usize> {
        (0..x.rank())
            .filter(|a| !con.contains(a) && !batch.contains(a))
            .collect()
    };
    let (lfree, rfree) = (
        free(l, lhs_contract, lhs_batch),
        free(r, rhs_contract, rhs_batch),
    );
    let dims = |x: &Array, axes: &[usize]| axes.iter().map(|&a| x.shape()[a]).collect::<Vec<_>>();
    let mut shape = dims(l, lhs_batch);
    shape.extend(dims(l, &lfree));
    shape.extend(dims(r, &rfree));
    // With an empty result the contraction space may be huge and is never visited.
    let plan = if numel(&shape) == 0 {
        Plan {
            batch_l: Vec::new(),
            batch_r: Vec::new(),
            free_l: Vec::new(),
            free_r: Vec::new(),
            con_l: Vec::new(),
            con_r: Vec::new(),
        }
    } else {
        Plan {
            batch_l: offsets(l, lhs_batch),
            batch_r: offsets(r, rhs_batch),
            free_l: offsets(l, &lfree),
            free_r: offsets(r, &rfree),
            con_l: offsets(l, lhs_contract),
            con_r: offsets(r, rhs_contract),
        }
    };
    plan.check(l.len(), r.len())?;
    let y = r.data();
    let rejects = |what: &str| {
        Err(EvalError::internal(format!(
            "{what}dot_general does not accept {} operands",
            l.dtype()
        )))
    };
    let data = match l.data() {
        Data::Bool(_) => return rejects(""),
        Data::I32(x) if !compensated => Data::I32(plan.plain(x, same(y)?)),
        Data::I64(x) if !compensated => Data::I64(plan.plain(x, same(y)?)),
        Data::U32(x) if !compensated => Data::U32(plan.plain(x, same(y)?)),
        Data::I32(_) | Data::I64(_) | Data::U32(_) => return rejects("compensated "),
        Data::F32(x) if compensated => Data::F32(plan.compensated(x, same(y)?)),
        Data::F64(x) if compensated => Data::F64(plan.compensated(x, same(y)?)),
        Data::F32(x) => Data::F32(plan.plain(x, same(y)?)),
        Data::F64(x) => Data::F64(plan.plain(x, same(y)?)),
    };
    make(&shape, data)
}
