//! `scatter` and `scatter_add` along one axis: out-of-range indices are dropped, and
//! updates apply in row-major order (`Set`: the last write wins; `Add`: accumulates in
//! that order, which matters for floats).
//!
//! Threads own disjoint ranges of destination rows and each walks all the indices in
//! order, applying only those that land in its range; so every element still sees its
//! updates in index order, and the result does not depend on the split.

use nabla_ir::{Array, Prim, ScatterMode};
use rayon::ThreadPool;

use super::common::{
    check, for_rows, make, map_data, parallel, same, split, with_index, Elem, Index,
};
use crate::error::Result;

/// `x` with `updates` (shaped like `take(x, idx, axis)`) written or added at `idx`
/// along `axis`.
pub fn scatter(
    x: &Array,
    idx: &Array,
    updates: &Array,
    axis: usize,
    mode: ScatterMode,
    pool: &ThreadPool,
) -> Result<Array> {
    let prim = Prim::Scatter { axis, mode };
    let out = check(&prim, &[x.clone(), idx.clone(), updates.clone()])?.remove(0);
    let dims = split(x.shape(), axis);
    let data = map_data!(x.data(), v => with_index!(idx.data(), ids => {
        scatter_typed(v, ids, same(updates.data())?, dims, mode, pool)
    }));
    make(out.shape, data)
}

fn scatter_typed<T: Elem, I: Index>(
    x: &[T],
    ids: &[I],
    updates: &[T],
    (outer, n, inner): (usize, usize, usize),
    mode: ScatterMode,
    pool: &ThreadPool,
) -> Vec<T> {
    let m = ids.len();
    let mut out = vec![T::default(); x.len()];
    // Every piece scans all the indices of each outer index it touches, so more pieces
    // than threads would only repeat that scan.
    let pieces = if parallel(pool, x.len() + outer * m * inner) {
        pool.current_num_threads()
    } else {
        1
    };
    for_rows(pool, &mut out, inner.max(1), pieces, |first, run| {
        let base = first * inner;
        run.copy_from_slice(&x[base..base + run.len()]);
        if m == 0 || inner == 0 || n == 0 {
            return;
        }
        let rows = run.len() / inner;
        for o in first / n..=(first + rows - 1) / n {
            // This run holds rows `lo..hi` (along the axis) of outer index `o`.
            let lo = first.max(o * n) - o * n;
            let hi = (first + rows).min((o + 1) * n) - o * n;
            for (j, &i) in ids.iter().enumerate() {
                let Ok(i) = usize::try_from(i.to_i64()) else {
                    continue;
                };
                if i < lo || i >= hi {
                    continue;
                }
                let d = (o * n + i - first) * inner;
                let u = (o * m + j) * inner;
                let (dst, src) = (&mut run[d..d + inner], &updates[u..u + inner]);
                match mode {
                    ScatterMode::Set => dst.copy_from_slice(src),
                    ScatterMode::Add => {
                        for (a, &b) in dst.iter_mut().zip(src) {
                            *a = a.accumulate(b);
                        }
                    }
                }
            }
        }
    });
    out
}
