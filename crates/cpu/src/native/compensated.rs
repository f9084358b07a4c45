//! Compensated (`accurate=true`) sums and dot products: Neumaier summation and Dot2 in
//! the canonical order of `nabla_ir::canonical`, bit for bit what the interpreter
//! computes.
//!
//! Operands are first laid out so that each result reads one contiguous row (a
//! transposed copy when the reduced or contracted axes are not already last); a row is
//! then folded block by block exactly as `canonical::compensated_sum` and
//! `canonical::compensated_dot` fold it: per-block lanes in the same order, blocks
//! combined by `canonical::tree`. Threads take whole results, or whole blocks of one
//! long row (combined by the same fixed tree), so no split changes a bit.

use std::borrow::Cow;

use nabla_ir::array::strides;
use nabla_ir::canonical::{self, combine_lanes, Compensated, BLOCK, LANES};
use nabla_ir::{Array, Data, Prim, ReduceOp};
use rayon::prelude::*;
use rayon::ThreadPool;

use super::common::{advance, check, for_rows, make, parallel, pieces, same, unflatten, Elem};
use crate::error::{CpuError, Result};

/// A float the compensated loops run on.
trait Float: Elem + canonical::Float {}
impl Float for f32 {}
impl Float for f64 {}

/// The compensated sum of `x` over `axes` (f32 or f64).
pub fn compensated_sum(x: &Array, axes: &[usize], pool: &ThreadPool) -> Result<Array> {
    let prim = Prim::Reduce {
        op: ReduceOp::Sum,
        axes: axes.to_vec(),
        compensated: true,
    };
    let out = check(&prim, std::slice::from_ref(x))?.remove(0);
    let mut reduced = axes.to_vec();
    reduced.sort_unstable();
    let shape = x.shape();
    let r: usize = reduced.iter().map(|&a| shape[a]).product();
    let len = out.numel();
    // Reduced axes that are adjacent view `x` as `(outer, r, inner)` in place; others
    // are first moved last (kept axes, then reduced axes increasing: the canonical
    // order) by a transposed copy.
    let adjacent = reduced.windows(2).all(|w| w[1] == w[0] + 1);
    let (order, dims) = match (reduced.first(), reduced.last()) {
        (Some(&a), Some(&b)) if adjacent => {
            let outer: usize = shape[..a].iter().product();
            let inner: usize = shape[b + 1..].iter().product();
            ((0..x.rank()).collect::<Vec<_>>(), (outer, r, inner))
        }
        _ => {
            let kept = (0..x.rank()).filter(|a| !reduced.contains(a));
            let order: Vec<usize> = kept.chain(reduced.iter().copied()).collect();
            (order, (len, r, 1))
        }
    };
    let data = match x.data() {
        Data::F32(v) => Data::from(sum_axis(&permute(v, shape, &order, pool), dims, pool)),
        Data::F64(v) => Data::from(sum_axis(&permute(v, shape, &order, pool), dims, pool)),
        other => {
            return Err(CpuError::internal(format!(
                "compensated sum of {}",
                other.dtype()
            )))
        }
    };
    make(out.shape, data)
}

/// The compensated (Dot2) `dot_general` of two f32 or f64 operands.
pub fn compensated_dot(
    l: &Array,
    r: &Array,
    lhs_contract: &[usize],
    rhs_contract: &[usize],
    lhs_batch: &[usize],
    rhs_batch: &[usize],
    pool: &ThreadPool,
) -> Result<Array> {
    let prim = Prim::DotGeneral {
        lhs_contract: lhs_contract.to_vec(),
        rhs_contract: rhs_contract.to_vec(),
        lhs_batch: lhs_batch.to_vec(),
        rhs_batch: rhs_batch.to_vec(),
        compensated: true,
    };
    let out = check(&prim, &[l.clone(), r.clone()])?.remove(0);
    let free = |x: &Array, con: &[usize], batch: &[usize]| -> Vec<usize> {
        (0..x.rank())
            .filter(|a| !con.contains(a) && !batch.contains(a))
            .collect()
    };
    let size =
        |x: &Array, axes: &[usize]| -> usize { axes.iter().map(|&a| x.shape()[a]).product() };
    let (lfree, rfree) = (
        free(l, lhs_contract, lhs_batch),
        free(r, rhs_contract, rhs_batch),
    );
    let dims = Dims {
        batch: size(l, lhs_batch),
        m: size(l, &lfree),
        n: size(r, &rfree),
        k: size(l, lhs_contract),
    };
    // Row `(b, i)` of the lhs and row `(b, j)` of the rhs hold the contracted elements
    // flattened in the order the axes are listed, as the canonical order pairs them.
    let lorder: Vec<usize> = lhs_batch
        .iter()
        .chain(&lfree)
        .chain(lhs_contract)
        .copied()
        .collect();
    let rorder: Vec<usize> = rhs_batch
        .iter()
        .chain(&rfree)
        .chain(rhs_contract)
        .copied()
        .collect();
    let data = match l.data() {
        Data::F32(x) => {
            let y: &[f32] = same(r.data())?;
            Data::from(dot_rows(
                &permute(x, l.shape(), &lorder, pool),
                &permute(y, r.shape(), &rorder, pool),
                dims,
                pool,
            ))
        }
        Data::F64(x) => {
            let y: &[f64] = same(r.data())?;
            Data::from(dot_rows(
                &permute(x, l.shape(), &lorder, pool),
                &permute(y, r.shape(), &rorder, pool),
                dims,
                pool,
            ))
        }
        other => {
            return Err(CpuError::internal(format!(
                "compensated dot_general of {}",
                other.dtype()
            )))
        }
    };
    make(out.shape, data)
}

/// `data` (row-major over `shape`) laid out row-major over the axes in `order`;
/// borrowed when that is already its layout. Runs of output rows are copied in parallel.
fn permute<'a, T: Elem>(
    data: &'a [T],
    shape: &[usize],
    order: &[usize],
    pool: &ThreadPool,
) -> Cow<'a, [T]> {
    if order.iter().enumerate().all(|(i, &a)| i == a) {
        return Cow::Borrowed(data);
    }
    let st = strides(shape);
    let pshape: Vec<usize> = order.iter().map(|&a| shape[a]).collect();
    let pst: Vec<usize> = order.iter().map(|&a| st[a]).collect();
    let (Some(&row), Some(&step)) = (pshape.last(), pst.last()) else {
        return Cow::Borrowed(data);
    };
    let lead = &pshape[..pshape.len() - 1];
    let mut out = vec![T::default(); data.len()];
    for_rows(
        pool,
        &mut out,
        row,
        pieces(pool, data.len()),
        |first, run| {
            let mut idx = vec![0; lead.len()];
            unflatten(first, lead, &mut idx);
            for dst in run.chunks_exact_mut(row) {
                let base: usize = idx.iter().zip(&pst).map(|(i, s)| i * s).sum();
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = data[base + k * step];
                }
                advance(&mut idx, lead);
            }
        },
    );
    Cow::Owned(out)
}

fn merge<T: Float>(a: Compensated<T>, b: Compensated<T>) -> Compensated<T> {
    a.merge(b)
}

/// One canonical block of a compensated sum: `canonical::compensated_sum`'s leaf, with
/// the lanes unrolled (each lane still adds its elements in increasing order).
fn sum_block<T: Float>(block: &[T]) -> Compensated<T> {
    let mut lanes = [Compensated::<T>::ZERO; LANES];
    let mut chunks = block.chunks_exact(LANES);
    for c in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(c) {
            *lane = lane.plus(x);
        }
    }
    for (lane, &x) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = lane.plus(x);
    }
    combine_lanes(&lanes, &merge)
}

/// One canonical block of a Dot2 product: `canonical::compensated_dot`'s leaf.
fn dot_block<T: Float>(a: &[T], b: &[T]) -> Compensated<T> {
    let mut lanes = [Compensated::<T>::ZERO; LANES];
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let lane = &mut lanes[i % LANES];
        *lane = lane.plus_product(x, y);
    }
    combine_lanes(&lanes, &merge)
}

/// Folds `nblocks` block results by the canonical tree; the blocks are computed on
/// `pool` when `work` is large, then combined in the same fixed tree.
fn fold_blocks<T: Float>(
    nblocks: usize,
    work: usize,
    block: impl Fn(usize) -> Compensated<T> + Sync,
    pool: &ThreadPool,
) -> T {
    if nblocks == 0 {
        return T::ZERO;
    }
    if nblocks > 1 && parallel(pool, work) {
        let leaves: Vec<Compensated<T>> =
            pool.install(|| (0..nblocks).into_par_iter().map(&block).collect());
        canonical::tree(0, nblocks, &|b| leaves[b], &merge).value()
    } else {
        canonical::tree(0, nblocks, &block, &merge).value()
    }
}

/// Columns per stripe of [`sum_columns`]: eight lanes of this many running sums stay
/// in L1 while the rows stream past.
const STRIPE: usize = 256;

/// `out[o, i]` = the compensated sum over `k` of `x[o, k, i]`, for `x` viewed as
/// `(outer, r, inner)`.
fn sum_axis<T: Float>(
    x: &[T],
    (outer, r, inner): (usize, usize, usize),
    pool: &ThreadPool,
) -> Vec<T> {
    // Empty sums are the identity, +0.
    let mut out = vec![T::ZERO; outer * inner];
    if out.is_empty() || r == 0 {
        return out;
    }
    if inner == 1 && outer < pool.current_num_threads() {
        // Few long rows: split each row's blocks instead.
        for (o, dst) in out.iter_mut().enumerate() {
            *dst = sum_row(&x[o * r..(o + 1) * r], pool);
        }
        return out;
    }
    let pieces = pieces(pool, x.len());
    for_rows(pool, &mut out, 1, pieces, |first, run| {
        if inner == 1 {
            for (k, dst) in run.iter_mut().enumerate() {
                let o = first + k;
                *dst = sum_row(&x[o * r..(o + 1) * r], pool);
            }
            return;
        }
        let mut scratch = Vec::new();
        let mut at = 0;
        while at < run.len() {
            let (o, i0) = ((first + at) / inner, (first + at) % inner);
            let w = (inner - i0).min(run.len() - at).min(STRIPE);
            sum_columns(x, (o, r, inner), i0, &mut run[at..at + w], &mut scratch);
            at += w;
        }
    });
    out
}

/// The compensated sum of one contiguous row, its blocks on `pool` when it is long.
fn sum_row<T: Float>(row: &[T], pool: &ThreadPool) -> T {
    fold_blocks(
        row.len().div_ceil(BLOCK),
        row.len(),
        |b| sum_block(&row[b * BLOCK..((b + 1) * BLOCK).min(row.len())]),
        pool,
    )
}

/// The sums of columns `i0..i0 + dst.len()` of outer index `o`, reading `x` row by row:
/// column `i` runs the lanes and blocks of [`sum_block`] over its elements in order, so
/// each result equals the one its gathered column would give. `scratch` holds each
/// column's eight lanes, then each block's result per column.
fn sum_columns<T: Float>(
    x: &[T],
    (o, r, inner): (usize, usize, usize),
    i0: usize,
    dst: &mut [T],
    scratch: &mut Vec<Compensated<T>>,
) {
    let w = dst.len();
    let nblocks = r.div_ceil(BLOCK);
    scratch.clear();
    scratch.resize(w * (LANES + nblocks), Compensated::ZERO);
    let (lanes, leaves) = scratch.split_at_mut(w * LANES);
    for b in 0..nblocks {
        lanes.fill(Compensated::ZERO);
        for k in b * BLOCK..((b + 1) * BLOCK).min(r) {
            // Blocks start at multiples of `LANES`, so element `k` is in lane `k % LANES`.
            let lane = &mut lanes[(k % LANES) * w..(k % LANES + 1) * w];
            let at = (o * r + k) * inner + i0;
            for (acc, &v) in lane.iter_mut().zip(&x[at..at + w]) {
                *acc = acc.plus(v);
            }
        }
        for i in 0..w {
            let l: [Compensated<T>; LANES] = std::array::from_fn(|j| lanes[j * w + i]);
            leaves[b * w + i] = combine_lanes(&l, &merge);
        }
    }
    for (i, d) in dst.iter_mut().enumerate() {
        *d = canonical::tree(0, nblocks, &|b| leaves[b * w + i], &merge).value();
    }
}

/// The shapes of a product: `batch` independent `(m × k) · (k × n)` products.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
}

/// `out[b, i, j]` = Dot2 of row `(b, i)` of `l` (`[batch, m, k]`) and row `(b, j)` of
/// `r` (`[batch, n, k]`).
fn dot_rows<T: Float>(l: &[T], r: &[T], d: Dims, pool: &ThreadPool) -> Vec<T> {
    let len = d.batch * d.m * d.n;
    let k = d.k;
    let one = |bi: usize, j: usize, pool: &ThreadPool| {
        let b = bi / d.m.max(1);
        let (x, y) = (
            &l[bi * k..(bi + 1) * k],
            &r[(b * d.n + j) * k..(b * d.n + j + 1) * k],
        );
        fold_blocks(
            k.div_ceil(BLOCK),
            k,
            |blk| {
                let (lo, hi) = (blk * BLOCK, ((blk + 1) * BLOCK).min(k));
                dot_block(&x[lo..hi], &y[lo..hi])
            },
            pool,
        )
    };
    let mut out = vec![T::ZERO; len];
    if len == 0 || k == 0 {
        return out;
    }
    if len < pool.current_num_threads() {
        for (at, dst) in out.iter_mut().enumerate() {
            *dst = one(at / d.n, at % d.n, pool);
        }
        return out;
    }
    for_rows(pool, &mut out, d.n, pieces(pool, len * k), |first, run| {
        for (at, dst) in run.chunks_exact_mut(d.n).enumerate() {
            for (j, o) in dst.iter_mut().enumerate() {
                *o = one(first + at, j, pool);
            }
        }
    });
    out
}
