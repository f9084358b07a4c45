//! Matrix products (`dot_general`) through a GEMM library.
//!
//! Every `dot_general` is viewed as `nb` independent products `(m × k) · (k × n)`: `nb`
//! the product of the batch dims, `m` of the lhs free dims, `n` of the rhs free dims and
//! `k` of the contracted dims. The result is row-major `[batch…, lhs free…, rhs free…]`
//! (XLA's convention), i.e. `nb` contiguous `m × n` blocks.
//!
//! # Layout
//!
//! Operands are row-major arrays; a group of axes (lhs free, rhs free, contracted) is
//! used in place when it flattens to a single stride, i.e. its non-unit axes are
//! contiguous and in the needed order. Batch axes never force a copy: each batch gets
//! its own base offset. Otherwise the offending operand gets one contiguous copy;
//! [`planned_copies`] reports which. The common products (`x @ w`, `w @ x.T`,
//! `x.T @ g`, batched `[b, m, k] @ [b, k, n]`, attention-style contractions over
//! `[b, h, s, d]` or `[b, s, h, d]`) need none; a copy is made when a free group is
//! split by another axis (`[m, k, m2]` contracting the middle axis), or when the
//! contracted axes run in different orders in the two operands.
//!
//! # Paths
//!
//! - *Matrix* (`m, n ≥ 2`, `m·n·k > SMALL_WORK`): f32/f64 go to `gemm`, which takes
//!   strides, so transposed operands cost nothing (`x @ y.T` reaches it as `y` with
//!   renumbered axes, see [`crate::rewrite`]); it is built with its AVX-512 kernels,
//!   chosen at run time where the CPU has them. Contracted pairs may be flattened in
//!   either operand's preferred order (this path's summation order is `gemm`'s
//!   anyway). Integers use a wrapping `i-k-j` loop: wrapping addition is associative
//!   and commutative, so any order gives the interpreter's exact result.
//! - *Vector* (`m == 1` or `n == 1`: matrix–vector, vector–matrix, dot products): loops
//!   that follow `nabla_ir::canonical`'s summation order (8 lanes, 4096-element
//!   blocks, fixed tree, contracted axes flattened as listed, no fused multiply-add),
//!   so they match the interpreter bitwise, and spread over threads, where `gemm`'s
//!   vector kernels are single-threaded. Single-threaded they run at about `gemm`'s
//!   speed (both are bound by memory bandwidth at sizes where speed matters).
//! - *Small* (`m·n·k ≤ SMALL_WORK`): `gemm`'s per-call overhead (0.1–1.5 µs measured)
//!   dominates, so each element is one canonical block over strided operands —
//!   bitwise the interpreter's result again.
//!
//! The canonical loops are compiled twice, for the baseline and for AVX2 (chosen at
//! run time); each lane does the same IEEE operations either way, so the bits agree.
//!
//! # Determinism
//!
//! Work is split only over disjoint output elements (or, for long vector contractions,
//! over whole canonical blocks combined by the fixed tree), never inside a partial
//! sum, so every element is computed by the same operations in the same order for any
//! thread count. `gemm` likewise splits only output tiles between its threads (read in
//! `gemm-common` 0.19): its `k` blocking comes from the cache sizes and the shape, its
//! micro-kernels keep one accumulator per element, and its choice of kernel depends
//! only on shape and strides, so no deterministic mode has to be forced. The float
//! matrix path uses fused multiply-adds in a blocked order, so it differs from the
//! interpreter by rounding (tested with a tolerance), but not between runs or thread
//! counts on one machine; `gemm` picks its kernels by CPU features, so another
//! machine may round differently.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use nabla_diag::{Code, Span};
use nabla_ir::array::check_alloc;
use nabla_ir::canonical::{self, BLOCK, LANES};
use nabla_ir::dtype::numel;
use nabla_ir::{Array, DType, Data};
use rayon::prelude::*;

use crate::error::{CpuError, Result};

/// Work (`m·n·k` multiply-adds) below which one product stays on one thread.
pub const PARALLEL_WORK: usize = 1 << 18;
/// Work per product at or below which `gemm`'s per-call overhead dominates and the
/// strided canonical loop is used instead (measured: equal near `6³`, `gemm` 4–6×
/// faster at `8³`).
pub const SMALL_WORK: usize = 256;
// With `m, n ≥ 2`, a small product's `k` fits in one canonical block.
const _: () = assert!(SMALL_WORK / 4 <= BLOCK);
/// Output columns per unit of work of the scaled-rows loop: 8 lanes of this many
/// accumulators stay in L2 while the matrix streams past row by row (narrower tiles
/// read it in strided stripes, measurably slower).
const AXPY_TILE: usize = 4096;
/// The narrowest tile when columns are split between threads.
const AXPY_MIN_TILE: usize = 256;
/// Output rows per unit of work of the matrix–vector loop.
const DOTS_TILE: usize = 32;
/// Canonical blocks per unit of work of the vector loops when `k` spans several.
const BLOCK_GROUP: usize = 4;
/// Output rows per unit of work of the integer matrix loop.
const INT_TILE: usize = 16;

/// Which operands the layout step copies to make their axis groups contiguous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copies {
    pub lhs: bool,
    pub rhs: bool,
}

/// `dot_general` with XLA's semantics: contracts `lhs_contract[i]` with
/// `rhs_contract[i]`, pairs `lhs_batch[i]` with `rhs_batch[i]`; the result's axes are
/// the batch axes (in the listed order), then the lhs free axes, then the rhs free
/// axes (each in increasing order). `threads` bounds the parallelism; the result's
/// bits do not depend on it. Compensated products are not handled here.
pub fn dot_general(
    lhs: &Array,
    rhs: &Array,
    lhs_contract: &[usize],
    rhs_contract: &[usize],
    lhs_batch: &[usize],
    rhs_batch: &[usize],
    threads: usize,
) -> Result<Array> {
    if lhs.dtype() != rhs.dtype() || lhs.dtype() == DType::Bool {
        return Err(CpuError::internal(format!(
            "dot_general operands must share a numeric dtype, not {} and {}",
            lhs.dtype(),
            rhs.dtype()
        )));
    }
    let dims = Dims::new(
        lhs.shape(),
        rhs.shape(),
        lhs_contract,
        rhs_contract,
        lhs_batch,
        rhs_batch,
    )?;
    check_alloc(&dims.out_shape, lhs.dtype()).map_err(|e| CpuError {
        code: Code::ALLOCATION_TOO_LARGE,
        message: e.to_string(),
        span: Span::DUMMY,
    })?;
    let threads = threads.max(1);
    let data = match (lhs.data(), rhs.data()) {
        (Data::F32(x), Data::F32(y)) => Data::F32(product(&dims, x, y, threads)),
        (Data::F64(x), Data::F64(y)) => Data::F64(product(&dims, x, y, threads)),
        (Data::I32(x), Data::I32(y)) => Data::I32(product(&dims, x, y, threads)),
        (Data::I64(x), Data::I64(y)) => Data::I64(product(&dims, x, y, threads)),
        (Data::U32(x), Data::U32(y)) => Data::U32(product(&dims, x, y, threads)),
        _ => return Err(CpuError::internal("dot_general operand dtypes changed")),
    };
    Array::new(dims.out_shape.clone(), data).map_err(|e| CpuError::internal(e.to_string()))
}

/// Which operands [`dot_general`] copies for these shapes and axes, whatever the dtype
/// (for tests and performance diagnostics); validated as `dot_general` validates.
pub fn planned_copies(
    lhs_shape: &[usize],
    rhs_shape: &[usize],
    lhs_contract: &[usize],
    rhs_contract: &[usize],
    lhs_batch: &[usize],
    rhs_batch: &[usize],
) -> Result<Copies> {
    let dims = Dims::new(
        lhs_shape,
        rhs_shape,
        lhs_contract,
        rhs_contract,
        lhs_batch,
        rhs_batch,
    )?;
    Ok(match dims.path() {
        Path::Zeros => Copies::default(),
        Path::Small => dims.matrix_layout(true).copies,
        Path::Matrix => dims.matrix_layout(false).copies,
        Path::Vector => dims.vector_layout().copies,
    })
}

/// Shapes, axis groups and the `nb × (m × k) · (k × n)` sizes of one contraction.
struct Dims {
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
    out_shape: Vec<usize>,
    lhs_batch: Vec<usize>,
    rhs_batch: Vec<usize>,
    lhs_free: Vec<usize>,
    rhs_free: Vec<usize>,
    lhs_contract: Vec<usize>,
    rhs_contract: Vec<usize>,
    /// The contracted pairs whose size is not 1 (the only ones that need a layout).
    pairs: Vec<(usize, usize)>,
    nb: usize,
    m: usize,
    n: usize,
    k: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// Empty result, or nothing to contract: zeros of the result's shape.
    Zeros,
    Small,
    Vector,
    Matrix,
}

fn check_axes(what: &str, axes: &[usize], rank: usize) -> Result<()> {
    for (i, &a) in axes.iter().enumerate() {
        if a >= rank || axes[..i].contains(&a) {
            return Err(CpuError::internal(format!(
                "dot_general: {what} axes {axes:?} invalid for rank {rank}"
            )));
        }
    }
    Ok(())
}

impl Dims {
    fn new(
        lhs_shape: &[usize],
        rhs_shape: &[usize],
        lhs_contract: &[usize],
        rhs_contract: &[usize],
        lhs_batch: &[usize],
        rhs_batch: &[usize],
    ) -> Result<Dims> {
        if lhs_contract.len() != rhs_contract.len() || lhs_batch.len() != rhs_batch.len() {
            return Err(CpuError::internal(
                "dot_general: unpaired contracting or batch axes",
            ));
        }
        let lhs_used: Vec<usize> = lhs_contract.iter().chain(lhs_batch).copied().collect();
        let rhs_used: Vec<usize> = rhs_contract.iter().chain(rhs_batch).copied().collect();
        check_axes("lhs", &lhs_used, lhs_shape.len())?;
        check_axes("rhs", &rhs_used, rhs_shape.len())?;
        let paired = lhs_contract
            .iter()
            .zip(rhs_contract)
            .chain(lhs_batch.iter().zip(rhs_batch));
        for (&a, &b) in paired {
            if lhs_shape[a] != rhs_shape[b] {
                return Err(CpuError::internal(format!(
                    "dot_general: lhs {lhs_shape:?} axis {a} and rhs {rhs_shape:?} axis {b} differ"
                )));
            }
        }
        let free = |rank: usize, used: &[usize]| -> Vec<usize> {
            (0..rank).filter(|a| !used.contains(a)).collect()
        };
        let lhs_free = free(lhs_shape.len(), &lhs_used);
        let rhs_free = free(rhs_shape.len(), &rhs_used);
        let sizes = |shape: &[usize], axes: &[usize]| axes.iter().map(|&a| shape[a]).collect();
        let batch_dims: Vec<usize> = sizes(lhs_shape, lhs_batch);
        let lhs_free_dims: Vec<usize> = sizes(lhs_shape, &lhs_free);
        let rhs_free_dims: Vec<usize> = sizes(rhs_shape, &rhs_free);
        let contract_dims: Vec<usize> = sizes(lhs_shape, lhs_contract);
        let mut out_shape = batch_dims.clone();
        out_shape.extend(&lhs_free_dims);
        out_shape.extend(&rhs_free_dims);
        let pairs = lhs_contract
            .iter()
            .zip(rhs_contract)
            .filter(|(&a, _)| lhs_shape[a] != 1)
            .map(|(&a, &b)| (a, b))
            .collect();
        Ok(Dims {
            lhs_shape: lhs_shape.to_vec(),
            rhs_shape: rhs_shape.to_vec(),
            out_shape,
            lhs_batch: lhs_batch.to_vec(),
            rhs_batch: rhs_batch.to_vec(),
            lhs_free,
            rhs_free,
            lhs_contract: lhs_contract.to_vec(),
            rhs_contract: rhs_contract.to_vec(),
            pairs,
            nb: numel(&batch_dims),
            m: numel(&lhs_free_dims),
            n: numel(&rhs_free_dims),
            k: numel(&contract_dims),
        })
    }

    /// Multiply-adds of one of the `nb` products (saturating: only compared with
    /// thresholds).
    fn work(&self) -> usize {
        self.m.saturating_mul(self.n).saturating_mul(self.k)
    }

    fn path(&self) -> Path {
        if self.nb == 0 || self.m == 0 || self.n == 0 || self.k == 0 {
            Path::Zeros
        } else if self.m == 1 || self.n == 1 {
            Path::Vector
        } else if self.work() <= SMALL_WORK {
            Path::Small
        } else {
            Path::Matrix
        }
    }

    /// The candidate orders of the contracted pairs: the listed one when the summation
    /// order must be canonical, else the lhs's preferred (outermost first by its
    /// strides) and the rhs's.
    fn pair_orders(&self, listed: bool) -> Vec<Vec<(usize, usize)>> {
        if listed {
            return vec![self.pairs.clone()];
        }
        let ls = row_major(&self.lhs_shape);
        let rs = row_major(&self.rhs_shape);
        let mut by_lhs = self.pairs.clone();
        by_lhs.sort_by_key(|&(a, _)| std::cmp::Reverse(ls[a]));
        let mut by_rhs = self.pairs.clone();
        by_rhs.sort_by_key(|&(_, b)| std::cmp::Reverse(rs[b]));
        if by_lhs == by_rhs {
            vec![by_lhs]
        } else {
            vec![by_lhs, by_rhs]
        }
    }

    /// The cheapest layout for the matrix and small paths: both operands need their
    /// free group and their contracted group flat.
    fn matrix_layout(&self, listed: bool) -> Layout {
        let ls = row_major(&self.lhs_shape);
        let rs = row_major(&self.rhs_shape);
        let lhs_free_ok = flat(&self.lhs_shape, &ls, &self.lhs_free).is_some();
        let rhs_free_ok = flat(&self.rhs_shape, &rs, &self.rhs_free).is_some();
        let candidates = self.pair_orders(listed).into_iter().map(|pairs| {
            let (lk, rk) = pair_axes(&pairs);
            let copies = Copies {
                lhs: !(lhs_free_ok && flat(&self.lhs_shape, &ls, &lk).is_some()),
                rhs: !(rhs_free_ok && flat(&self.rhs_shape, &rs, &rk).is_some()),
            };
            Layout {
                pairs,
                copies,
                rhs_free_first: false,
                role: Role::LhsMatrix,
            }
        });
        self.cheapest(candidates)
    }

    /// The cheapest layout for the vector path (`m == 1` or `n == 1`): the matrix
    /// operand `M` (the one with the long free group) is read either along `k`
    /// (dot products, which want the vector contiguous too) or along its free group
    /// (scaled rows summed, which read the vector one element at a time).
    fn vector_layout(&self) -> Layout {
        let roles: &[Role] = match (self.m == 1, self.n == 1) {
            (false, _) => &[Role::LhsMatrix],
            (true, false) => &[Role::RhsMatrix],
            (true, true) => &[Role::LhsMatrix, Role::RhsMatrix],
        };
        let ls = row_major(&self.lhs_shape);
        let rs = row_major(&self.rhs_shape);
        // The canonical order flattens the contracted axes as listed.
        let pairs = &self.pairs;
        let (lk, rk) = pair_axes(pairs);
        let lhs_k = flat(&self.lhs_shape, &ls, &lk);
        let rhs_k = flat(&self.rhs_shape, &rs, &rk);
        let long = self.m.max(self.n) > 1;
        let candidates = roles.iter().map(|&role| {
            let (mat_free, mat_k, vec_k) = match role {
                Role::LhsMatrix => (flat(&self.lhs_shape, &ls, &self.lhs_free), lhs_k, rhs_k),
                Role::RhsMatrix => (flat(&self.rhs_shape, &rs, &self.rhs_free), rhs_k, lhs_k),
            };
            let (copy_mat, copy_vec) = match (mat_free, mat_k) {
                // Rows read along k: the vector must be contiguous too.
                (Some(_), Some(1)) => (false, vec_k != Some(1)),
                // Scaled rows summed: the vector's elements are read one by one.
                (Some(1), Some(_)) if long => (false, vec_k.is_none()),
                // A copy of the matrix is laid out for dot products.
                _ => (true, vec_k != Some(1)),
            };
            let copies = match role {
                Role::LhsMatrix => Copies {
                    lhs: copy_mat,
                    rhs: copy_vec,
                },
                Role::RhsMatrix => Copies {
                    lhs: copy_vec,
                    rhs: copy_mat,
                },
            };
            Layout {
                pairs: pairs.clone(),
                copies,
                rhs_free_first: true,
                role,
            }
        });
        self.cheapest(candidates)
    }

    fn cheapest(&self, candidates: impl Iterator<Item = Layout>) -> Layout {
        let (ln, rn) = (numel(&self.lhs_shape), numel(&self.rhs_shape));
        let cost = |l: &Layout| usize::from(l.copies.lhs) * ln + usize::from(l.copies.rhs) * rn;
        let mut best: Option<Layout> = None;
        for c in candidates {
            if best.as_ref().is_none_or(|b| cost(&c) < cost(b)) {
                best = Some(c);
            }
        }
        // Every caller offers at least one candidate; were there none, copying both
        // operands would still be correct.
        best.unwrap_or_else(|| Layout {
            pairs: self.pairs.clone(),
            copies: Copies {
                lhs: true,
                rhs: true,
            },
            rhs_free_first: false,
            role: Role::LhsMatrix,
        })
    }
}

/// Which operand plays the matrix in the vector path (in the matrix path, always lhs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    LhsMatrix,
    RhsMatrix,
}

struct Layout {
    /// The contracted pairs (of size > 1) in the order they are flattened.
    pairs: Vec<(usize, usize)>,
    copies: Copies,
    /// A copied rhs is laid out `[batch, free, contract]` (else `[batch, contract, free]`).
    rhs_free_first: bool,
    role: Role,
}

fn pair_axes(pairs: &[(usize, usize)]) -> (Vec<usize>, Vec<usize>) {
    pairs.iter().copied().unzip()
}

fn row_major(shape: &[usize]) -> Vec<usize> {
    nabla_ir::array::strides(shape)
}

/// The single stride of `axes` flattened row-major in the listed order, if they are
/// laid out that way (axes of size 1 are ignored; a group of no such axes has any
/// stride, reported as 1).
fn flat(shape: &[usize], strides: &[usize], axes: &[usize]) -> Option<usize> {
    let mut inner = None;
    let mut expect = 0;
    for &a in axes.iter().rev().filter(|&&a| shape[a] != 1) {
        match inner {
            None => inner = Some(strides[a]),
            Some(_) if strides[a] != expect => return None,
            Some(_) => {}
        }
        expect = strides[a] * shape[a];
    }
    Some(inner.unwrap_or(1))
}

/// Offsets of every multi-index over `axes` (row-major in the listed order).
fn offsets(shape: &[usize], strides: &[usize], axes: &[usize]) -> Vec<usize> {
    let mut out = vec![0usize];
    for &a in axes {
        let (d, s) = (shape[a], strides[a]);
        out = out
            .iter()
            .flat_map(|&o| (0..d).map(move |i| o + i * s))
            .collect();
    }
    out
}

/// A copy of `data` (row-major over `shape`) laid out row-major over the axes in
/// `order` (a permutation); returns the data and each original axis's new stride.
fn relayout<T: Copy>(data: &[T], shape: &[usize], order: &[usize]) -> (Vec<T>, Vec<usize>) {
    let src = row_major(shape);
    let pshape: Vec<usize> = order.iter().map(|&a| shape[a]).collect();
    let pstrides: Vec<usize> = order.iter().map(|&a| src[a]).collect();
    let dst_strides = row_major(&pshape);
    let mut new_strides = vec![0; shape.len()];
    for (i, &a) in order.iter().enumerate() {
        new_strides[a] = dst_strides[i];
    }
    let n = numel(shape);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return (out, new_strides);
    }
    let Some((&inner_len, outer)) = pshape.split_last() else {
        out.push(data[0]);
        return (out, new_strides);
    };
    let inner_stride = pstrides[pshape.len() - 1];
    let mut idx = vec![0usize; outer.len()];
    let mut base = 0usize;
    loop {
        out.extend((0..inner_len).map(|i| data[base + i * inner_stride]));
        // Odometer over the outer axes, innermost first.
        let mut ax = outer.len();
        loop {
            if ax == 0 {
                return (out, new_strides);
            }
            ax -= 1;
            idx[ax] += 1;
            base += pstrides[ax];
            if idx[ax] < outer[ax] {
                break;
            }
            base -= pstrides[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
}

/// One operand after layout: its data (borrowed or copied) and per-axis strides.
struct View<'a, T: Clone> {
    data: Cow<'a, [T]>,
    strides: Vec<usize>,
}

impl<'a, T: Copy> View<'a, T> {
    fn new(
        data: &'a [T],
        shape: &[usize],
        copy: bool,
        groups: [&[usize]; 3],
        trailing: &[usize],
    ) -> Self {
        if copy {
            let order: Vec<usize> = groups
                .iter()
                .flat_map(|g| g.iter())
                .chain(trailing)
                .copied()
                .collect();
            let (d, s) = relayout(data, shape, &order);
            View {
                data: Cow::Owned(d),
                strides: s,
            }
        } else {
            View {
                data: Cow::Borrowed(data),
                strides: row_major(shape),
            }
        }
    }
}

/// Flattened operands: `nb` products `out[b] (m × n) = lhs[b] (m × k) · rhs[b] (k × n)`
/// with element `(i, p)` of `lhs[b]` at `lhs_off[b] + i·l_rs + p·l_cs`, and so on.
pub(crate) struct Flat {
    m: usize,
    n: usize,
    k: usize,
    lhs_off: Vec<usize>,
    rhs_off: Vec<usize>,
    l_rs: usize,
    l_cs: usize,
    r_rs: usize,
    r_cs: usize,
}

/// The element operations the loops need; integers wrap.
pub(crate) trait Elem: Copy + Send + Sync + 'static {
    const ZERO: Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// The matrix path over flattened operands: the `len` elements of the result.
    fn matrix(f: &Flat, l: &[Self], r: &[Self], len: usize, threads: usize) -> Vec<Self>;
    /// [`lanes`] of four rows against one vector `v`; with `AVX2` (only ever set by
    /// code that runs after [`use_avx2`] said yes), in AVX2 intrinsics where there are
    /// some for `Self`.
    #[inline(always)]
    fn dots4<const AVX2: bool>(rows: [&[Self]; 4], v: &[Self]) -> [Self; 4] {
        lanes(rows, [v; 4])
    }
}

macro_rules! float_elem {
    ($t:ty, $dots:ident) => {
        impl Elem for $t {
            const ZERO: $t = 0.0;
            #[inline(always)]
            fn add(self, o: $t) -> $t {
                self + o
            }
            #[inline(always)]
            fn mul(self, o: $t) -> $t {
                self * o
            }
            fn matrix(f: &Flat, l: &[$t], r: &[$t], len: usize, threads: usize) -> Vec<$t> {
                gemm_fresh(f, l, r, len, threads, 0.0, 1.0)
            }
            #[inline(always)]
            fn dots4<const AVX2: bool>(rows: [&[$t]; 4], v: &[$t]) -> [$t; 4] {
                #[cfg(target_arch = "x86_64")]
                if AVX2 {
                    // SAFETY: `AVX2` is set only on paths `use_avx2` chose.
                    return unsafe { avx2_dots::$dots(rows, v) };
                }
                lanes(rows, [v; 4])
            }
        }
    };
}
float_elem!(f32, f32_rows);
float_elem!(f64, f64_rows);

/// [`lanes`] of four rows against one vector, written out for AVX2: the compiler's own
/// vectorisation of the generic loop shuffles lanes inside the hot loop (about 2.2
/// instructions per element against 0.7 here). Same operations in the same order:
/// lane `p mod 8` of each row takes `acc + a[p]·v[p]` (a multiply, then an add), the
/// tail's elements go to lanes `0..`, and the lanes combine by the canonical tree.
#[cfg(target_arch = "x86_64")]
mod avx2_dots {
    use std::arch::x86_64::*;

    use nabla_ir::canonical::{self, LANES};

    /// Adds the tail `full..len` into lanes `0..`, then combines each row's lanes.
    fn finish<T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>>(
        mut acc: [[T; LANES]; 4],
        rows: [&[T]; 4],
        v: &[T],
        full: usize,
    ) -> [T; 4] {
        for (q, row) in rows.iter().enumerate() {
            for (l, p) in (full..v.len()).enumerate() {
                acc[q][l] = acc[q][l] + row[p] * v[p];
            }
        }
        acc.map(|lanes| canonical::combine_lanes(&lanes, |a, b| a + b))
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn f64_rows(rows: [&[f64]; 4], v: &[f64]) -> [f64; 4] {
        if crate::simd::avx512() {
            // SAFETY: AVX-512F was detected.
            return unsafe { f64_rows_avx512(rows, v) };
        }
        let len = v.len();
        let rows = rows.map(|r| &r[..len]);
        let full = len / LANES * LANES;
        let mut lo = [_mm256_setzero_pd(); 4];
        let mut hi = [_mm256_setzero_pd(); 4];
        let mut p = 0;
        while p < full {
            // SAFETY: `p + 8 <= full <= len`, and `v` and every row hold `len` elements.
            unsafe {
                let v_lo = _mm256_loadu_pd(v.as_ptr().add(p));
                let v_hi = _mm256_loadu_pd(v.as_ptr().add(p + 4));
                for q in 0..4 {
                    let a = rows[q].as_ptr().add(p);
                    lo[q] = _mm256_add_pd(lo[q], _mm256_mul_pd(_mm256_loadu_pd(a), v_lo));
                    hi[q] = _mm256_add_pd(hi[q], _mm256_mul_pd(_mm256_loadu_pd(a.add(4)), v_hi));
                }
            }
            p += LANES;
        }
        let mut acc = [[0.0; LANES]; 4];
        for q in 0..4 {
            // SAFETY: each half stores 4 lanes into its own half of an 8-lane array.
            unsafe {
                _mm256_storeu_pd(acc[q].as_mut_ptr(), lo[q]);
                _mm256_storeu_pd(acc[q].as_mut_ptr().add(4), hi[q]);
            }
        }
        finish(acc, rows, v, full)
    }

    /// [`f64_rows`] in AVX-512: a row's 8 lanes are one vector, so four rows keep
    /// four chains of adds in flight at half AVX2's instructions; the tail is a masked
    /// add into lanes `0..` (each tail element is its lane's next in order), and the
    /// four rows' lanes combine together, pair by pair in the canonical tree's order.
    ///
    /// # Safety
    /// AVX-512F must be there.
    #[target_feature(enable = "avx512f")]
    unsafe fn f64_rows_avx512(rows: [&[f64]; 4], v: &[f64]) -> [f64; 4] {
        let len = v.len();
        let rows = rows.map(|r| &r[..len]);
        let full = len / LANES * LANES;
        let mut acc = [_mm512_setzero_pd(); 4];
        let mut p = 0;
        while p < full {
            // SAFETY: `p + 8 <= full <= len`, and `v` and every row hold `len` elements.
            unsafe {
                let vv = _mm512_loadu_pd(v.as_ptr().add(p));
                for q in 0..4 {
                    let a = _mm512_loadu_pd(rows[q].as_ptr().add(p));
                    acc[q] = _mm512_add_pd(acc[q], _mm512_mul_pd(a, vv));
                }
            }
            p += LANES;
        }
        if full < len {
            // `len - full < 8`, so the mask fits 8 bits.
            let mask: __mmask8 = (1u8 << (len - full)) - 1;
            // SAFETY: the masked loads read only elements `full..len`, which `v` and
            // every row hold.
            unsafe {
                let vv = _mm512_maskz_loadu_pd(mask, v.as_ptr().add(full));
                for q in 0..4 {
                    let a = _mm512_maskz_loadu_pd(mask, rows[q].as_ptr().add(full));
                    acc[q] = _mm512_mask_add_pd(acc[q], mask, acc[q], _mm512_mul_pd(a, vv));
                }
            }
        }
        // SAFETY: AVX-512F was detected (the caller's promise).
        unsafe { crate::simd::canonical_sums4_f64(acc) }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn f32_rows(rows: [&[f32]; 4], v: &[f32]) -> [f32; 4] {
        let len = v.len();
        let rows = rows.map(|r| &r[..len]);
        let full = len / LANES * LANES;
        let mut sums = [_mm256_setzero_ps(); 4];
        let mut p = 0;
        while p < full {
            // SAFETY: `p + 8 <= full <= len`, and `v` and every row hold `len` elements.
            unsafe {
                let vv = _mm256_loadu_ps(v.as_ptr().add(p));
                for q in 0..4 {
                    let a = _mm256_loadu_ps(rows[q].as_ptr().add(p));
                    sums[q] = _mm256_add_ps(sums[q], _mm256_mul_ps(a, vv));
                }
            }
            p += LANES;
        }
        let mut acc = [[0.0; LANES]; 4];
        for q in 0..4 {
            // SAFETY: 8 lanes stored into an 8-lane array.
            unsafe { _mm256_storeu_ps(acc[q].as_mut_ptr(), sums[q]) };
        }
        finish(acc, rows, v, full)
    }
}

macro_rules! int_elem {
    ($t:ty) => {
        impl Elem for $t {
            const ZERO: $t = 0;
            #[inline(always)]
            fn add(self, o: $t) -> $t {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn mul(self, o: $t) -> $t {
                self.wrapping_mul(o)
            }
            fn matrix(f: &Flat, l: &[$t], r: &[$t], len: usize, threads: usize) -> Vec<$t> {
                let mut out = vec![0; len];
                int_matrix(f, l, r, &mut out, threads);
                out
            }
        }
    };
}
int_elem!(i32);
int_elem!(i64);
int_elem!(u32);

fn product<T: Elem>(d: &Dims, l: &[T], r: &[T], threads: usize) -> Vec<T> {
    let len = numel(&d.out_shape);
    match d.path() {
        Path::Zeros => vec![T::ZERO; len],
        Path::Small => {
            let lay = d.matrix_layout(true);
            let (f, lv, rv) = flatten(d, &lay, l, r);
            let mut out = vec![T::ZERO; len];
            small(&f, &lv.data, &rv.data, &mut out, threads);
            out
        }
        // The matrix path makes its own result: the float one is not zero-filled.
        Path::Matrix => {
            let lay = d.matrix_layout(false);
            let (f, lv, rv) = flatten(d, &lay, l, r);
            T::matrix(&f, &lv.data, &rv.data, len, threads)
        }
        Path::Vector => {
            let lay = d.vector_layout();
            let (f, lv, rv) = flatten(d, &lay, l, r);
            let mut out = vec![T::ZERO; len];
            vector(d, &lay, &f, &lv.data, &rv.data, &mut out, threads);
            out
        }
    }
}

/// Applies a layout: copies what it says, then reads off the single strides.
fn flatten<'a, T: Copy>(
    d: &Dims,
    lay: &Layout,
    l: &'a [T],
    r: &'a [T],
) -> (Flat, View<'a, T>, View<'a, T>) {
    let (lk, rk) = pair_axes(&lay.pairs);
    let trailing = |shape: &[usize], contract: &[usize]| -> Vec<usize> {
        contract
            .iter()
            .copied()
            .filter(|&a| shape[a] == 1)
            .collect()
    };
    let lt = trailing(&d.lhs_shape, &d.lhs_contract);
    let rt = trailing(&d.rhs_shape, &d.rhs_contract);
    let lv = View::new(
        l,
        &d.lhs_shape,
        lay.copies.lhs,
        [&d.lhs_batch, &d.lhs_free, &lk],
        &lt,
    );
    let rv = if lay.rhs_free_first {
        View::new(
            r,
            &d.rhs_shape,
            lay.copies.rhs,
            [&d.rhs_batch, &d.rhs_free, &rk],
            &rt,
        )
    } else {
        View::new(
            r,
            &d.rhs_shape,
            lay.copies.rhs,
            [&d.rhs_batch, &rk, &d.rhs_free],
            &rt,
        )
    };
    // The layout was chosen (or the operand copied) so that every group is flat; 1 is
    // only a fallback that cannot be reached.
    let stride = |shape: &[usize], strides: &[usize], axes: &[usize]| -> usize {
        flat(shape, strides, axes).unwrap_or(1)
    };
    let f = Flat {
        m: d.m,
        n: d.n,
        k: d.k,
        lhs_off: offsets(&d.lhs_shape, &lv.strides, &d.lhs_batch),
        rhs_off: offsets(&d.rhs_shape, &rv.strides, &d.rhs_batch),
        l_rs: stride(&d.lhs_shape, &lv.strides, &d.lhs_free),
        l_cs: stride(&d.lhs_shape, &lv.strides, &lk),
        r_rs: stride(&d.rhs_shape, &rv.strides, &rk),
        r_cs: stride(&d.rhs_shape, &rv.strides, &d.rhs_free),
    };
    (f, lv, rv)
}

/// Runs `unit(i, slot)` for every `(i, slot)`, on up to `threads` rayon tasks when
/// `parallel`; each unit owns its slot, so the split cannot change any result.
fn run_units<S: Send>(
    slots: &mut [S],
    threads: usize,
    parallel: bool,
    unit: impl Fn(usize, &mut S) + Sync,
) {
    if parallel && threads > 1 && slots.len() > 1 {
        let per = slots.len().div_ceil(threads);
        slots
            .par_chunks_mut(per)
            .enumerate()
            .for_each(|(g, group)| {
                for (i, s) in group.iter_mut().enumerate() {
                    unit(g * per + i, s);
                }
            });
    } else {
        for (i, s) in slots.iter_mut().enumerate() {
            unit(i, s);
        }
    }
}

/// Float matrix path: the `len` elements of the result, one `gemm` call per batch;
/// the threads go inside `gemm` for a large product, or across batches for many small
/// ones. The result is never zero-filled first: `gemm` overwrites every element
/// without reading it, and zeroing a reused block cost W4 (8 MB) about 8 % of its time.
fn gemm_fresh<T: Elem>(
    f: &Flat,
    l: &[T],
    r: &[T],
    len: usize,
    threads: usize,
    zero: T,
    one: T,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    let mn = f.m * f.n;
    // The batches tile the result exactly (`len` is `nb · m · n`); any remainder is
    // zeroed all the same, so that every element is written.
    let whole = len.checked_div(mn).map_or(0, |blocks| blocks * mn);
    let (blocks_part, rest) = spare.split_at_mut(whole);
    for x in rest {
        x.write(zero);
    }
    gemm_batches(f, l, r, blocks_part, threads, zero, one);
    // SAFETY: `gemm_batches` wrote every element of `blocks_part` (`gemm` overwrites
    // each `m × n` block it is handed, reading none: `read_dst` is false), and the loop
    // above the rest, so the first `len` elements are initialised.
    unsafe { out.set_len(len) };
    out
}

/// [`gemm_fresh`]'s products into `out`, whole `m × n` blocks, which it writes
/// without reading.
fn gemm_batches<T: Elem>(
    f: &Flat,
    l: &[T],
    r: &[T],
    out: &mut [MaybeUninit<T>],
    threads: usize,
    zero: T,
    one: T,
) {
    let mn = f.m * f.n;
    if mn == 0 {
        return;
    }
    let work = f.m.saturating_mul(f.n).saturating_mul(f.k);
    let inner_parallel = threads > 1 && work >= PARALLEL_WORK;
    let one_call = |b: usize, dst: &mut [MaybeUninit<T>], par: gemm::Parallelism| {
        // SAFETY: `dst` holds the `m × n` row-major block of batch `b`, which `gemm`
        // writes without reading (`read_dst` false), so it may be uninitialised. Every lhs
        // position `lhs_off[b] + i·l_rs + p·l_cs` (i < m, p < k) is the offset of a
        // multi-index of the lhs — `flatten` derived the strides from its (possibly
        // copied) layout — so it lies inside `l`; likewise for the rhs. `T` is f32 or
        // f64 (only their `Elem::matrix` calls this), which `gemm` supports.
        unsafe {
            gemm::gemm(
                f.m,
                f.n,
                f.k,
                dst.as_mut_ptr().cast::<T>(),
                1,
                f.n as isize,
                false,
                l.as_ptr().add(f.lhs_off[b]),
                f.l_cs as isize,
                f.l_rs as isize,
                r.as_ptr().add(f.rhs_off[b]),
                f.r_cs as isize,
                f.r_rs as isize,
                zero,
                one,
                false,
                false,
                false,
                par,
            );
        }
    };
    let mut blocks: Vec<&mut [MaybeUninit<T>]> = out.chunks_mut(mn).collect();
    if inner_parallel {
        for (b, dst) in blocks.iter_mut().enumerate() {
            one_call(b, dst, gemm::Parallelism::Rayon(threads));
        }
    } else {
        let total = work.saturating_mul(blocks.len());
        run_units(&mut blocks, threads, total >= PARALLEL_WORK, |b, dst| {
            one_call(b, dst, gemm::Parallelism::None)
        });
    }
}

/// Integer matrix path: wrapping multiply-adds, `i-k-j` so the innermost loop runs
/// along contiguous rhs rows (or dot products when both operands are contiguous along
/// `k` instead). Integer results do not depend on the order.
fn int_matrix<T: Elem>(f: &Flat, l: &[T], r: &[T], out: &mut [T], threads: usize) {
    let (m, n, k) = (f.m, f.n, f.k);
    let tiles = m.div_ceil(INT_TILE);
    let mut slots: Vec<&mut [T]> = out
        .chunks_mut(m * n)
        .flat_map(|b| b.chunks_mut(INT_TILE * n))
        .collect();
    let total =
        f.m.saturating_mul(n)
            .saturating_mul(k)
            .saturating_mul(f.lhs_off.len());
    let dots = f.r_cs != 1 && f.l_cs == 1 && f.r_rs == 1;
    run_units(&mut slots, threads, total >= PARALLEL_WORK, |u, dst| {
        let (b, t) = (u / tiles, u % tiles);
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<T: Elem>(
                f: &Flat,
                l: &[T],
                r: &[T],
                b: usize,
                t: usize,
                dots: bool,
                dst: &mut [T],
            ) {
                int_rows(f, l, r, b, t, dots, dst)
            }
            // SAFETY: the CPU has AVX2 (`use_avx2`).
            return unsafe { avx2(f, l, r, b, t, dots, dst) };
        }
        int_rows(f, l, r, b, t, dots, dst)
    });
}

/// Rows `t·INT_TILE…` of batch `b` of the integer matrix path.
#[inline(always)]
fn int_rows<T: Elem>(f: &Flat, l: &[T], r: &[T], b: usize, t: usize, dots: bool, dst: &mut [T]) {
    let (n, k) = (f.n, f.k);
    let (lb, rb) = (f.lhs_off[b], f.rhs_off[b]);
    for (ii, row) in dst.chunks_mut(n).enumerate() {
        let lrow = lb + (t * INT_TILE + ii) * f.l_rs;
        if dots {
            let a = &l[lrow..lrow + k];
            for (j, o) in row.iter_mut().enumerate() {
                let c = &r[rb + j * f.r_cs..][..k];
                *o = a.iter().zip(c).fold(T::ZERO, |s, (&x, &y)| s.add(x.mul(y)));
            }
        } else if f.r_cs == 1 {
            for p in 0..k {
                let a = l[lrow + p * f.l_cs];
                let c = &r[rb + p * f.r_rs..][..n];
                for (o, &y) in row.iter_mut().zip(c) {
                    *o = o.add(a.mul(y));
                }
            }
        } else {
            for p in 0..k {
                let a = l[lrow + p * f.l_cs];
                for (j, o) in row.iter_mut().enumerate() {
                    *o = o.add(a.mul(r[rb + p * f.r_rs + j * f.r_cs]));
                }
            }
        }
    }
}

/// Whether to run the AVX2 builds of the canonical loops. They use separate
/// multiplies and adds (Rust never contracts them into fused multiply-adds), so wider
/// vectors change the speed, never the bits.
#[cfg(target_arch = "x86_64")]
fn use_avx2() -> bool {
    !FORCE_BASELINE.load(Ordering::Relaxed) && crate::simd::avx2()
}

#[doc(hidden)]
/// Forces the baseline (non-AVX2) loops, so tests can check that both give the same
/// bits.
pub static FORCE_BASELINE: AtomicBool = AtomicBool::new(false);

/// Small products (`gemm`'s per-call overhead would dominate): per element, one
/// canonical block over strided operands — the interpreter's order, so its bits.
fn small<T: Elem>(f: &Flat, l: &[T], r: &[T], out: &mut [T], threads: usize) {
    let (m, n, k) = (f.m, f.n, f.k);
    let mut blocks: Vec<&mut [T]> = out.chunks_mut(m * n).collect();
    let total = m
        .saturating_mul(n)
        .saturating_mul(k)
        .saturating_mul(blocks.len());
    run_units(&mut blocks, threads, total >= PARALLEL_WORK, |b, dst| {
        for (i, row) in dst.chunks_mut(n).enumerate() {
            let x = f.lhs_off[b] + i * f.l_rs;
            for (j, o) in row.iter_mut().enumerate() {
                let y = f.rhs_off[b] + j * f.r_cs;
                let get = |p: usize| l[x + p * f.l_cs].mul(r[y + p * f.r_rs]);
                let mut acc = [T::ZERO; LANES];
                let full = k / LANES * LANES;
                for p in (0..full).step_by(LANES) {
                    for (q, a) in acc.iter_mut().enumerate() {
                        *a = a.add(get(p + q));
                    }
                }
                for (a, p) in acc.iter_mut().zip(full..k) {
                    *a = a.add(get(p));
                }
                *o = canonical::combine_lanes(&acc, &T::add);
            }
        }
    });
}

/// Canonical-block sums of `a[q][p]·v[q][p]` (lanes `p mod 8`) for `R` pairs of equal
/// length at once: independent pairs hide the latency of the adds.
#[inline(always)]
fn lanes<T: Elem, const R: usize>(a: [&[T]; R], v: [&[T]; R]) -> [T; R] {
    let len = v[0].len();
    let full = len / LANES * LANES;
    let mut acc = [[T::ZERO; LANES]; R];
    let mut p = 0;
    while p < full {
        for q in 0..R {
            let (ac, vc) = (&a[q][p..p + LANES], &v[q][p..p + LANES]);
            for l in 0..LANES {
                acc[q][l] = acc[q][l].add(ac[l].mul(vc[l]));
            }
        }
        p += LANES;
    }
    for q in 0..R {
        for (l, p) in (full..len).enumerate() {
            acc[q][l] = acc[q][l].add(a[q][p].mul(v[q][p]));
        }
    }
    // Without this barrier the vectoriser pairs lanes for the final combination
    // tree and shuffles inside the hot loop (about twice as slow); the value is
    // unchanged.
    let acc = std::hint::black_box(acc);
    acc.map(|lanes| canonical::combine_lanes(&lanes, &T::add))
}

/// The operands of the vector path: `out[b, j] = Σ_p M[b, j, p] · v[b, p]`.
struct VectorSrc<'a, T> {
    mat: &'a [T],
    m_off: &'a [usize],
    /// Strides of `M` along `j` and `p`.
    mj: usize,
    mp: usize,
    vdata: &'a [T],
    v_off: &'a [usize],
    vp: usize,
    k: usize,
    jn: usize,
    /// Outputs per unit of work.
    tile: usize,
}

impl<T: Elem> VectorSrc<'_, T> {
    /// [`Self::unit`], built for AVX2 when the CPU has it.
    fn unit_dispatch(&self, b: usize, t: usize, blocks: std::ops::Range<usize>, dst: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<T: Elem>(
                src: &VectorSrc<'_, T>,
                b: usize,
                t: usize,
                blocks: std::ops::Range<usize>,
                dst: &mut [T],
            ) {
                src.unit::<true>(b, t, blocks, dst)
            }
            // SAFETY: the CPU has AVX2 (`use_avx2`).
            return unsafe { avx2(self, b, t, blocks, dst) };
        }
        self.unit::<false>(b, t, blocks, dst)
    }

    /// The partial sums of batch `b`, tile `t` over the canonical `blocks`, written to
    /// `dst[(blk - blocks.start) · tile + j]`.
    #[inline(always)]
    fn unit<const AVX2: bool>(
        &self,
        b: usize,
        t: usize,
        blocks: std::ops::Range<usize>,
        dst: &mut [T],
    ) {
        let j0 = t * self.tile;
        let w = self.tile.min(self.jn - j0);
        let (mb, vb) = (self.m_off[b], self.v_off[b]);
        let span = |blk: usize| (blk * BLOCK, ((blk + 1) * BLOCK).min(self.k));
        let first = blocks.start;
        if self.mp == 1 {
            // Dot products along contiguous rows. Rows of one block share a length;
            // with few rows, consecutive blocks of one row are paired instead.
            let nbl = blocks.len();
            let task = |i: usize| {
                if w >= 4 {
                    (i % w, first + i / w)
                } else {
                    (i / nbl, first + i % nbl)
                }
            };
            let row = |(j, blk): (usize, usize)| {
                let (lo, hi) = span(blk);
                (
                    &self.mat[mb + (j0 + j) * self.mj + lo..][..hi - lo],
                    &self.vdata[vb + lo..vb + hi],
                )
            };
            let store = |dst: &mut [T], (j, blk): (usize, usize), x: T| {
                dst[(blk - first) * self.tile + j] = x;
            };
            let tasks = nbl * w;
            let mut i = 0;
            while i < tasks {
                let ts: [(usize, usize); 4] = std::array::from_fn(|q| task((i + q).min(tasks - 1)));
                if i + 4 <= tasks && ts.iter().all(|&(_, blk)| span(blk) == span(ts[0].1)) {
                    let rs = ts.map(row);
                    // Four rows of one block read the same piece of the vector.
                    let s = if ts.iter().all(|&(_, blk)| blk == ts[0].1) {
                        T::dots4::<AVX2>(rs.map(|r| r.0), rs[0].1)
                    } else {
                        lanes(rs.map(|r| r.0), rs.map(|r| r.1))
                    };
                    for (&tq, x) in ts.iter().zip(s) {
                        store(dst, tq, x);
                    }
                    i += 4;
                } else {
                    let (a, v) = row(ts[0]);
                    store(dst, ts[0], lanes([a], [v])[0]);
                    i += 1;
                }
            }
        } else {
            // Scaled rows of `M` (contiguous along j) summed into 8 lanes of
            // accumulators.
            let mut acc = vec![T::ZERO; LANES * w];
            for blk in blocks {
                let (lo, hi) = span(blk);
                acc.fill(T::ZERO);
                for p in lo..hi {
                    let x = self.vdata[vb + p * self.vp];
                    let row = &self.mat[mb + p * self.mp + j0 * self.mj..][..w];
                    rows::add_scaled(&mut acc, w, (p - lo) % LANES, row, x);
                }
                rows::finish_block(&acc, w, &mut dst[(blk - first) * self.tile..][..w]);
            }
        }
    }
}

/// Vector path (`m == 1` or `n == 1`) in the canonical order; see the module docs.
fn vector<T: Elem>(
    d: &Dims,
    lay: &Layout,
    f: &Flat,
    l: &[T],
    r: &[T],
    out: &mut [T],
    threads: usize,
) {
    let (mat, m_off, mj, mp, vdata, v_off, vp) = match lay.role {
        Role::LhsMatrix => (l, &f.lhs_off, f.l_rs, f.l_cs, r, &f.rhs_off, f.r_rs),
        Role::RhsMatrix => (r, &f.rhs_off, f.r_cs, f.r_rs, l, &f.lhs_off, f.l_cs),
    };
    let (nb, jn, k) = (d.nb, d.m * d.n, d.k);
    let parallel = jn.saturating_mul(k).saturating_mul(nb) >= PARALLEL_WORK;
    // Tiles only group outputs, so their width may follow the thread count.
    let tile = if mp == 1 {
        DOTS_TILE
    } else if parallel {
        jn.div_ceil(threads).clamp(AXPY_MIN_TILE, AXPY_TILE)
    } else {
        AXPY_TILE
    }
    .min(jn);
    let src = VectorSrc {
        mat,
        m_off,
        mj,
        mp,
        vdata,
        v_off,
        vp,
        k,
        jn,
        tile,
    };
    let tiles = jn.div_ceil(tile);
    let nblocks = k.div_ceil(BLOCK);
    if nblocks == 1 {
        let mut slots: Vec<&mut [T]> = out
            .chunks_mut(jn)
            .flat_map(|row| row.chunks_mut(tile))
            .collect();
        run_units(&mut slots, threads, parallel, |u, dst| {
            src.unit_dispatch(u / tiles, u % tiles, 0..1, dst)
        });
        return;
    }
    // Several blocks per unit give short rows independent chains; the block sums are
    // then combined by the canonical tree.
    let group = BLOCK_GROUP;
    let groups = nblocks.div_ceil(group);
    let mut partial = vec![T::ZERO; nb * tiles * groups * group * tile];
    let mut slots: Vec<&mut [T]> = partial.chunks_mut(group * tile).collect();
    run_units(&mut slots, threads, parallel, |u, dst| {
        let (bt, g) = (u / groups, u % groups);
        let blocks = g * group..((g + 1) * group).min(nblocks);
        src.unit_dispatch(bt / tiles, bt % tiles, blocks, dst)
    });
    for (bt, sums) in partial.chunks(groups * group * tile).enumerate() {
        let (b, t) = (bt / tiles, bt % tiles);
        let j0 = t * tile;
        for j in 0..tile.min(jn - j0) {
            out[b * jn + j0 + j] =
                canonical::tree(0, nblocks, &|blk| sums[blk * tile + j], &T::add);
        }
    }
}

/// Row pieces of the vector path for [`crate::rowpass`], which runs `X @ w` and `c @ X`
/// chunk by chunk of rows: the same operations in the same order as [`vector`], so a
/// fused pass gives the unfused bits (and the interpreter's).
pub(crate) mod rows {
    use super::*;

    /// How many rows ahead of the one being read [`dots`] prefetches.
    const PREFETCH_ROWS: usize = 16;

    /// `out[r] = Σ_p x[(first + r)·d + p] · w[p]` over a row-major `[_, d]` matrix with
    /// `d ≤ BLOCK`: one canonical block per row, as the matrix–vector loop computes it.
    pub(crate) fn dots<T: Elem>(x: &[T], d: usize, w: &[T], first: usize, out: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<T: Elem>(x: &[T], d: usize, w: &[T], first: usize, out: &mut [T]) {
                dots_body::<T, true>(x, d, w, first, out)
            }
            // SAFETY: the CPU has AVX2 (`use_avx2`).
            return unsafe { avx2(x, d, w, first, out) };
        }
        dots_body::<T, false>(x, d, w, first, out)
    }

    #[inline(always)]
    fn dots_body<T: Elem, const AVX2: bool>(
        x: &[T],
        d: usize,
        w: &[T],
        first: usize,
        out: &mut [T],
    ) {
        let w = &w[..d];
        let row = |r: usize| &x[(first + r) * d..][..d];
        let n = out.len();
        // Rows are short streams the hardware prefetcher picks up late: ask for the
        // rows a few groups ahead explicitly (hints only, never faulting).
        let ahead = |r: usize| {
            #[cfg(target_arch = "x86_64")]
            {
                let lo = ((first + r + PREFETCH_ROWS) * d).min(x.len());
                let hi = ((first + r + PREFETCH_ROWS + 4) * d).min(x.len());
                // A plain loop over byte addresses: the iterator form cost about as
                // much per element as the dot products themselves (callgrind).
                let base = x.as_ptr().cast::<i8>();
                let size = std::mem::size_of::<T>();
                let (mut at, end) = (lo * size, hi * size);
                while at < end {
                    // SAFETY: SSE is part of every x86-64 CPU, and a prefetch is only a
                    // hint (it never faults); `wrapping_add` forms the address without
                    // any claim that it is in bounds (it is: `at < hi · size`).
                    unsafe {
                        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                            base.wrapping_add(at),
                        )
                    };
                    at += 64;
                }
            }
        };
        let mut r = 0;
        while r + 4 <= n {
            ahead(r);
            let s = T::dots4::<AVX2>([row(r), row(r + 1), row(r + 2), row(r + 3)], w);
            out[r..r + 4].copy_from_slice(&s);
            r += 4;
        }
        while r < n {
            out[r] = lanes([row(r)], [w])[0];
            r += 1;
        }
    }

    /// Adds `c[r] · x[first + r, :]` to lane `(first + r − block) mod LANES` of `acc`
    /// (`LANES` rows of `d`), rows in increasing order: the vector–matrix loop's
    /// scaled rows, for rows of the canonical block that starts at row `block`.
    pub(crate) fn scaled<T: Elem>(
        x: &[T],
        d: usize,
        c: &[T],
        first: usize,
        block: usize,
        acc: &mut [T],
    ) {
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<T: Elem>(
                x: &[T],
                d: usize,
                c: &[T],
                first: usize,
                block: usize,
                acc: &mut [T],
            ) {
                scaled_body(x, d, c, first, block, acc)
            }
            // SAFETY: the CPU has AVX2 (`use_avx2`).
            return unsafe { avx2(x, d, c, first, block, acc) };
        }
        scaled_body(x, d, c, first, block, acc)
    }

    #[inline(always)]
    fn scaled_body<T: Elem>(x: &[T], d: usize, c: &[T], first: usize, block: usize, acc: &mut [T]) {
        for (r, &cv) in c.iter().enumerate() {
            let p = first + r;
            add_scaled(acc, d, (p - block) % LANES, &x[p * d..][..d], cv);
        }
    }

    /// Adds `c · row` to lane `lane` of `acc` (`LANES` lanes of `width`), a multiply
    /// then an add per element: the scaled-row step of every vector–matrix loop.
    #[inline(always)]
    pub(super) fn add_scaled<T: Elem>(acc: &mut [T], width: usize, lane: usize, row: &[T], c: T) {
        for (a, &e) in acc[lane * width..][..width].iter_mut().zip(row) {
            *a = a.add(e.mul(c));
        }
    }

    /// One canonical block's sums from its lanes (`acc` as [`scaled`] fills it).
    pub(crate) fn finish_block<T: Elem>(acc: &[T], d: usize, out: &mut [T]) {
        for (j, o) in out.iter_mut().enumerate().take(d) {
            let lanes: [T; LANES] = std::array::from_fn(|l| acc[l * d + j]);
            *o = canonical::combine_lanes(&lanes, &T::add);
        }
    }

    /// Combines `nblocks` block sums (`partial[blk · d + j]`) by the canonical tree.
    pub(crate) fn finish<T: Elem>(partial: &[T], d: usize, nblocks: usize, out: &mut [T]) {
        for (j, o) in out.iter_mut().enumerate().take(d) {
            *o = canonical::tree(0, nblocks, &|blk| partial[blk * d + j], &T::add);
        }
    }
}
