//! `argmax` and `argmin` along one axis: the index of the first extreme element, where a
//! NaN is more extreme than anything (the first NaN wins), as the interpreter and
//! `jnp.argmax`.
//!
//! Output elements are independent, so they split across threads freely. A long row
//! with few outputs is cut into pieces whose winners are combined left to right with
//! the same strict comparison, which picks exactly what one scan of the row picks.

use nabla_ir::{ArgOp, Array, DType, Data, Prim};
use rayon::prelude::*;
use rayon::ThreadPool;

use super::common::{check, dispatch, for_rows, make, parallel, pieces, split, Elem};
use crate::error::{CpuError, Result};

/// The index (of `index_dtype`) of the first extreme element along `axis`.
pub fn arg_reduce(
    x: &Array,
    op: ArgOp,
    axis: usize,
    index_dtype: DType,
    pool: &ThreadPool,
) -> Result<Array> {
    let prim = Prim::ArgReduce {
        op,
        axis,
        index_dtype,
    };
    let out = check(&prim, std::slice::from_ref(x))?.remove(0);
    let dims = split(x.shape(), axis);
    let best: Vec<i64> = dispatch!(x.data(), v => arg_typed(v, op, dims, pool));
    // Converted as the interpreter does (`astype` from i64, wrapping), in one cheap pass
    // over the result rather than one more copy of the loops per index dtype.
    let data = match index_dtype {
        DType::I64 => Data::I64(best),
        DType::I32 => Data::I32(best.iter().map(|&k| k as i32).collect()),
        DType::U32 => Data::U32(best.iter().map(|&k| k as u32).collect()),
        DType::Bool | DType::F32 | DType::F64 => {
            return Err(CpuError::internal(format!(
                "{} with index dtype {index_dtype}",
                op.name()
            )))
        }
    };
    make(out.shape, data)
}

/// Whether `a` replaces the best so far `b` (strictly, so the first extreme stays); a
/// const parameter rather than a function pointer so the hot loops inline it.
fn better<T: Elem, const MAX: bool>(a: T, b: T) -> bool {
    if MAX {
        a > b
    } else {
        a < b
    }
}

fn arg_typed<T: Elem>(
    v: &[T],
    op: ArgOp,
    dims: (usize, usize, usize),
    pool: &ThreadPool,
) -> Vec<i64> {
    match op {
        ArgOp::ArgMax => arg_op::<T, true>(v, dims, pool),
        ArgOp::ArgMin => arg_op::<T, false>(v, dims, pool),
    }
}

fn arg_op<T: Elem, const MAX: bool>(
    v: &[T],
    (outer, n, inner): (usize, usize, usize),
    pool: &ThreadPool,
) -> Vec<i64> {
    let mut out = vec![0i64; outer * inner];
    if out.is_empty() || n == 0 {
        return out;
    }
    if inner == 1 && outer < pool.current_num_threads() && parallel(pool, v.len()) {
        // Few long rows: split each row instead of the outputs.
        for (o, dst) in out.iter_mut().enumerate() {
            *dst = row_parallel::<T, MAX>(&v[o * n..(o + 1) * n], pool) as i64;
        }
        return out;
    }
    let pieces = pieces(pool, v.len()).min(out.len());
    for_rows(pool, &mut out, 1, pieces, |first, run| {
        if inner == 1 {
            for (k, dst) in run.iter_mut().enumerate() {
                let o = first + k;
                *dst = scan::<T, MAX>(&v[o * n..(o + 1) * n]).0 as i64;
            }
            return;
        }
        // Outputs `first..first + run.len()` as `(o, i)` pairs, one stretch of `i` per
        // `o`; the scratch rows are allocated once per run.
        let mut scratch = Columns::new(inner.min(run.len()));
        let mut at = 0;
        while at < run.len() {
            let (o, i0) = ((first + at) / inner, (first + at) % inner);
            let w = (inner - i0).min(run.len() - at);
            scratch.run::<MAX>(v, (o, n, inner), i0, &mut run[at..at + w]);
            at += w;
        }
    });
    out
}

/// The first extreme of a non-empty row and its value (a NaN when one was found).
fn scan<T: Elem, const MAX: bool>(row: &[T]) -> (usize, T) {
    let (mut best, mut best_k) = (row[0], 0);
    if best.is_nan() {
        return (0, best);
    }
    for (k, &c) in row.iter().enumerate().skip(1) {
        if c.is_nan() {
            return (k, c);
        }
        if better::<T, MAX>(c, best) {
            (best, best_k) = (c, k);
        }
    }
    (best_k, best)
}

/// [`scan`] of one long row in pieces on `pool`; the pieces' winners are combined in
/// order, so a later piece wins only with a strictly better value or the first NaN.
fn row_parallel<T: Elem, const MAX: bool>(row: &[T], pool: &ThreadPool) -> usize {
    let per = row.len().div_ceil(pieces(pool, row.len()));
    let winners: Vec<(usize, T)> = pool.install(|| {
        row.par_chunks(per)
            .enumerate()
            .map(|(c, piece)| {
                let (k, x) = scan::<T, MAX>(piece);
                (c * per + k, x)
            })
            .collect()
    });
    let mut best = winners[0];
    for &(k, x) in &winners[1..] {
        if best.1.is_nan() {
            break;
        }
        if x.is_nan() || better::<T, MAX>(x, best.1) {
            best = (k, x);
        }
    }
    best.0
}

/// Scratch for the outputs of one stretch of columns: the best value, its index, and
/// whether a NaN settled the answer.
struct Columns<T> {
    best: Vec<T>,
    best_k: Vec<usize>,
    done: Vec<bool>,
}

impl<T: Elem> Columns<T> {
    fn new(width: usize) -> Columns<T> {
        Columns {
            best: Vec::with_capacity(width),
            best_k: Vec::with_capacity(width),
            done: Vec::with_capacity(width),
        }
    }

    /// The outputs `(o, i0..i0 + dst.len())`, reading the axis row by row so that reads
    /// stay contiguous.
    fn run<const MAX: bool>(
        &mut self,
        v: &[T],
        (o, n, inner): (usize, usize, usize),
        i0: usize,
        dst: &mut [i64],
    ) {
        let w = dst.len();
        let row = |k: usize| {
            let at = (o * n + k) * inner + i0;
            &v[at..at + w]
        };
        self.best.clear();
        self.best.extend_from_slice(row(0));
        self.best_k.clear();
        self.best_k.resize(w, 0);
        self.done.clear();
        // Settled once a NaN is seen: it is the answer whatever follows.
        self.done.extend(self.best.iter().map(|x| x.is_nan()));
        for k in 1..n {
            let lanes = self
                .best
                .iter_mut()
                .zip(&mut self.best_k)
                .zip(&mut self.done);
            for (((best, best_k), done), &c) in lanes.zip(row(k)) {
                if *done {
                    continue;
                }
                if c.is_nan() {
                    (*done, *best_k) = (true, k);
                } else if better::<T, MAX>(c, *best) {
                    (*best, *best_k) = (c, k);
                }
            }
        }
        for (d, &k) in dst.iter_mut().zip(&self.best_k) {
            *d = k as i64;
        }
    }
}
