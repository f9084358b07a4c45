//! Primitives that only move elements: `take` (a gather along one axis), `pad` (with
//! negative widths cropping), `dynamic_slice` and `dynamic_update_slice`. Each output
//! element is written exactly once from a position fixed by the shapes, so runs of
//! output rows go to different threads without changing a bit.
//!
//! Each entry point first checks its operands with [`super::common::check`] (as the
//! interpreter does), so shapes, dtypes and lengths agree and the slicing below stays in
//! bounds.

use nabla_ir::dtype::numel;
use nabla_ir::{Array, Prim};
use rayon::ThreadPool;

use super::common::{
    advance, check, for_rows, make, map_data, pieces, same, scalar_index, split, unflatten,
    with_index, Elem, Index,
};
use crate::error::{CpuError, Result};

/// `x` gathered along `axis` at `idx`, indices clamped into range; gathering from an
/// empty axis gives zeros, as the interpreter.
pub fn take(x: &Array, idx: &Array, axis: usize, pool: &ThreadPool) -> Result<Array> {
    let out = check(&Prim::Take { axis }, &[x.clone(), idx.clone()])?.remove(0);
    let dims = split(x.shape(), axis);
    let len = numel(&out.shape);
    let data = map_data!(x.data(), v => with_index!(idx.data(), ids => take_typed(v, ids, dims, len, pool)));
    make(out.shape, data)
}

fn take_typed<T: Elem, I: Index>(
    x: &[T],
    ids: &[I],
    (_, n, inner): (usize, usize, usize),
    len: usize,
    pool: &ThreadPool,
) -> Vec<T> {
    let mut out = vec![T::default(); len];
    let m = ids.len();
    if n == 0 || m == 0 || inner == 0 {
        return out;
    }
    let last = n as i64 - 1;
    // In range after the clamp: `x` holds `outer · n · inner` elements.
    let at = |j: usize| ids[j].to_i64().clamp(0, last) as usize;
    for_rows(pool, &mut out, inner, pieces(pool, len), |first, run| {
        let (mut o, mut j) = (first / m, first % m);
        if inner == 1 {
            // The common gather of single elements: no per-row copy call.
            for dst in run {
                *dst = x[o * n + at(j)];
                j += 1;
                if j == m {
                    (o, j) = (o + 1, 0);
                }
            }
        } else {
            for dst in run.chunks_exact_mut(inner) {
                let src = (o * n + at(j)) * inner;
                dst.copy_from_slice(&x[src..src + inner]);
                j += 1;
                if j == m {
                    (o, j) = (o + 1, 0);
                }
            }
        }
    });
    out
}

/// `x` padded by `lo`/`hi` elements of the scalar `value` on each axis; negative widths
/// crop.
pub fn pad(x: &Array, value: &Array, lo: &[i64], hi: &[i64], pool: &ThreadPool) -> Result<Array> {
    let prim = Prim::Pad {
        lo: lo.to_vec(),
        hi: hi.to_vec(),
    };
    let out = check(&prim, &[x.clone(), value.clone()])?.remove(0);
    let plan = Crop::new(
        x.shape(),
        lo.iter().map(|&l| i128::from(l)).collect(),
        &out.shape,
    );
    let data = map_data!(x.data(), v => {
        let fill = same(value.data())?
            .first()
            .copied()
            .ok_or_else(|| CpuError::internal("pad value without its element"))?;
        plan.run(v, fill, pool)
    });
    make(out.shape, data)
}

/// `sizes` elements of `x` from `starts` (integer scalars), each start clamped so the
/// slice stays inside `x`.
pub fn dynamic_slice(
    x: &Array,
    starts: &[Array],
    sizes: &[usize],
    pool: &ThreadPool,
) -> Result<Array> {
    let mut ins = vec![x.clone()];
    ins.extend_from_slice(starts);
    let out = check(
        &Prim::DynamicSlice {
            sizes: sizes.to_vec(),
        },
        &ins,
    )?
    .remove(0);
    let starts = clamped_starts(x.shape(), sizes, starts)?;
    // A slice is a pad with negative widths that never reaches the fill.
    let plan = Crop::new(
        x.shape(),
        starts.iter().map(|&s| -(s as i128)).collect(),
        sizes,
    );
    let data = map_data!(x.data(), v => plan.run(v, Default::default(), pool));
    make(out.shape, data)
}

/// `x` with `update` written at `starts` (integer scalars), each start clamped so the
/// update stays inside `x`.
pub fn dynamic_update_slice(
    x: &Array,
    update: &Array,
    starts: &[Array],
    pool: &ThreadPool,
) -> Result<Array> {
    let mut ins = vec![x.clone(), update.clone()];
    ins.extend_from_slice(starts);
    let out = check(&Prim::DynamicUpdateSlice, &ins)?.remove(0);
    let starts = clamped_starts(x.shape(), update.shape(), starts)?;
    let plan = Patch::new(x.shape(), update.shape(), &starts);
    let data = map_data!(x.data(), v => plan.run(v, same(update.data())?, pool));
    make(out.shape, data)
}

/// Start indices clamped to `[0, dim - size]`, as XLA's dynamic slices do.
fn clamped_starts(shape: &[usize], sizes: &[usize], starts: &[Array]) -> Result<Vec<usize>> {
    if starts.len() != shape.len() || sizes.len() != shape.len() {
        return Err(CpuError::internal(
            "dynamic slice starts do not match the rank",
        ));
    }
    shape
        .iter()
        .zip(sizes)
        .zip(starts)
        .map(|((&n, &size), s)| {
            let max = n.saturating_sub(size) as i64;
            Ok(scalar_index(s)?.clamp(0, max) as usize)
        })
        .collect()
}

/// Trailing axes that an operation leaves whole (`whole(axis)`) merge into the axis
/// before them: rows get longer and fewer. Rank 0 becomes `[1]` so every case has rows.
fn merged_rank(rank: usize, whole: impl Fn(usize) -> bool) -> usize {
    let mut r = rank.max(1);
    while r >= 2 && whole(r - 1) {
        r -= 1;
    }
    r
}

/// The per-axis sizes of `shape` with axes `r..` merged into axis `r - 1`.
fn merge(shape: &[usize], r: usize) -> Vec<usize> {
    if shape.is_empty() {
        return vec![1];
    }
    let mut s = shape[..r].to_vec();
    s[r - 1] = shape[r - 1..].iter().product();
    s
}

/// Output element `o` on axis `d` holds operand element `o - lo[d]` when that is in
/// range, the fill otherwise: `pad`, and `dynamic_slice` with `lo = -start`.
struct Crop {
    /// Operand and output shapes, trailing uncropped axes merged.
    xs: Vec<usize>,
    os: Vec<usize>,
    lo: Vec<i128>,
}

impl Crop {
    fn new(xshape: &[usize], lo: Vec<i128>, oshape: &[usize]) -> Crop {
        let rank = xshape.len();
        let r = merged_rank(rank, |d| lo[d] == 0 && xshape[d] == oshape[d]);
        let (xs, os) = (merge(xshape, r), merge(oshape, r));
        let mut lo: Vec<i128> = if rank == 0 { vec![0] } else { lo[..r].to_vec() };
        // An offset on the last kept axis counts whole merged rows of the later axes.
        let tail: usize = xshape.get(r..).map_or(1, |t| t.iter().product());
        lo[r - 1] *= tail as i128;
        Crop { xs, os, lo }
    }

    fn run<T: Elem>(&self, x: &[T], fill: T, pool: &ThreadPool) -> Vec<T> {
        let r = self.os.len();
        let (lead, row) = (&self.os[..r - 1], self.os[r - 1]);
        let mut out = vec![T::default(); numel(&self.os)];
        // The operand row's part that lands in an output row, the same for every row.
        let (n, lo) = (self.xs[r - 1] as i128, self.lo[r - 1]);
        let a = lo.clamp(0, row as i128);
        let b = (lo + n).clamp(0, row as i128);
        let (a, b, src0) = if a < b {
            (a as usize, b as usize, (a - lo) as usize)
        } else {
            (0, 0, 0)
        };
        let width = self.xs[r - 1];
        let pieces = pieces(pool, out.len());
        for_rows(pool, &mut out, row, pieces, |first, run| {
            let mut idx = vec![0; lead.len()];
            unflatten(first, lead, &mut idx);
            for dst in run.chunks_exact_mut(row) {
                match self.source_row(&idx) {
                    Some(s) if a < b => {
                        dst[..a].fill(fill);
                        let src = s * width + src0;
                        dst[a..b].copy_from_slice(&x[src..src + (b - a)]);
                        dst[b..].fill(fill);
                    }
                    _ => dst.fill(fill),
                }
                advance(&mut idx, lead);
            }
        });
        out
    }

    /// The operand row an output row (leading multi-index `idx`) reads, if any.
    fn source_row(&self, idx: &[usize]) -> Option<usize> {
        let mut src = 0usize;
        for ((&o, &lo), &n) in idx.iter().zip(&self.lo).zip(&self.xs) {
            let s = o as i128 - lo;
            if s < 0 || s >= n as i128 {
                return None;
            }
            src = src * n + s as usize;
        }
        Some(src)
    }
}

/// `x` with the block `update` at `starts` (clamped, so inside `x`).
struct Patch {
    /// Operand and update shapes and the starts, trailing axes the update spans whole
    /// merged.
    xs: Vec<usize>,
    us: Vec<usize>,
    starts: Vec<usize>,
}

impl Patch {
    fn new(xshape: &[usize], ushape: &[usize], starts: &[usize]) -> Patch {
        let rank = xshape.len();
        let r = merged_rank(rank, |d| ushape[d] == xshape[d]);
        let mut starts = if rank == 0 {
            vec![0]
        } else {
            starts[..r].to_vec()
        };
        let tail: usize = xshape.get(r..).map_or(1, |t| t.iter().product());
        starts[r - 1] *= tail;
        Patch {
            xs: merge(xshape, r),
            us: merge(ushape, r),
            starts,
        }
    }

    fn run<T: Elem>(&self, x: &[T], update: &[T], pool: &ThreadPool) -> Vec<T> {
        let r = self.xs.len();
        let (lead, row) = (&self.xs[..r - 1], self.xs[r - 1]);
        let (a, w) = (self.starts[r - 1], self.us[r - 1]);
        let mut out = vec![T::default(); x.len()];
        let pieces = pieces(pool, out.len());
        for_rows(pool, &mut out, row, pieces, |first, run| {
            let mut idx = vec![0; lead.len()];
            unflatten(first, lead, &mut idx);
            for (k, dst) in run.chunks_exact_mut(row).enumerate() {
                let at = (first + k) * row;
                dst.copy_from_slice(&x[at..at + row]);
                if let (Some(u), true) = (self.update_row(&idx), w > 0) {
                    dst[a..a + w].copy_from_slice(&update[u * w..(u + 1) * w]);
                }
                advance(&mut idx, lead);
            }
        });
        out
    }

    /// The update row that lands in the output row with leading multi-index `idx`.
    fn update_row(&self, idx: &[usize]) -> Option<usize> {
        let mut u = 0usize;
        for ((&o, &s), &n) in idx.iter().zip(&self.starts).zip(&self.us) {
            if o < s || o >= s + n {
                return None;
            }
            u = u * n + (o - s);
        }
        Some(u)
    }
}
