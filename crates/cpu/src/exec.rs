//! Running a compiled kernel on arrays: checks the arrays against the kernel, allocates
//! the outputs, splits the work items across a thread pool, and combines reduction
//! blocks in the canonical order.
//!
//! Every work item is computed by exactly one call and no item depends on how the range
//! was split, and blocks are combined by `canonical::tree` afterwards, so results are
//! bitwise identical for every thread count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use nabla_ir::canonical::{self, BLOCK};
use nabla_ir::{Array, Data, ReduceOp, Scalar};
use rayon::prelude::*;
use rayon::ThreadPool;

use crate::codegen::CompiledKernel;
use crate::error::{CpuError, Result};
use crate::jit::{Buf, KernelInput, Outputs};
use crate::kernel::{Kernel, Node, Output};

/// Work per task: enough that scheduling costs are noise, so small problems stay on
/// the calling thread.
const GRAIN_ELEMENTS: usize = 32 * 1024;
/// Tasks per thread, for load balance when rows or blocks cost unequal time.
const TASKS_PER_THREAD: usize = 4;

/// Runs `compiled` (compiled from `kernel`) on `inputs` (one array per kernel input,
/// each exactly the input's dtype and length) with up to `threads` threads. Store
/// outputs have the kernel's shape; reduce outputs the leading `rank - nreduce` axes.
pub fn run(
    kernel: &Kernel,
    compiled: &CompiledKernel,
    inputs: &[&Array],
    threads: usize,
) -> Result<Vec<Array>> {
    if !same_kernel(compiled.kernel(), kernel) {
        return Err(CpuError::internal(
            "a compiled kernel run as a different kernel",
        ));
    }
    run_compiled(compiled, inputs, threads)
}

/// [`run`] on the kernel `compiled` was compiled from (no structural comparison: it
/// costs as much as a small kernel's whole run, in loops that call it every step).
pub fn run_compiled(
    compiled: &CompiledKernel,
    inputs: &[&Array],
    threads: usize,
) -> Result<Vec<Array>> {
    let inputs: Vec<Option<&Array>> = inputs.iter().map(|&a| Some(a)).collect();
    run_split(compiled, &inputs, None, Split::Threads(threads))
}

/// [`run`] with the work items split into the given ranges (which must tile them in
/// order), computed one after another on the calling thread. Where a thread pool
/// splits work depends on the item count and the thread count; this puts task
/// boundaries anywhere (mid-row, mid-vector), as tests need.
pub fn run_ranges(
    kernel: &Kernel,
    compiled: &CompiledKernel,
    inputs: &[&Array],
    ranges: &[(usize, usize)],
) -> Result<Vec<Array>> {
    if !same_kernel(compiled.kernel(), kernel) {
        return Err(CpuError::internal(
            "a compiled kernel run as a different kernel",
        ));
    }
    let inputs: Vec<Option<&Array>> = inputs.iter().map(|&a| Some(a)).collect();
    run_split(compiled, &inputs, None, Split::Ranges(ranges))
}

/// How a run divides its work items into tasks.
enum Split<'r> {
    /// As evenly as the grain allows across up to this many threads.
    Threads(usize),
    /// Exactly these ranges, in order on the calling thread.
    Ranges(&'r [(usize, usize)]),
}

/// Whether input `i` of `compiled` may give its elements to an output of the same dtype,
/// to be overwritten in place ([`run_reusing`]).
pub fn can_reuse(compiled: &CompiledKernel, i: usize) -> bool {
    let fp = compiled.jit().footprint();
    fp.in_place.get(i).copied().unwrap_or(false)
        && fp.outputs.contains(&compiled.kernel().inputs[i].dtype)
}

/// [`run_compiled`] where input `k` of `reuse = Some((k, data))` is given by its
/// elements (its array was the last reference to them): the first output of its dtype
/// is written over them, saving a buffer and its memory traffic. `inputs[k]` is `None`.
pub fn run_reusing(
    compiled: &CompiledKernel,
    inputs: &[Option<&Array>],
    reuse: Option<(usize, Data)>,
    threads: usize,
) -> Result<Vec<Array>> {
    run_split(compiled, inputs, reuse, Split::Threads(threads))
}

fn run_split(
    compiled: &CompiledKernel,
    inputs: &[Option<&Array>],
    reuse: Option<(usize, Data)>,
    split_by: Split,
) -> Result<Vec<Array>> {
    let kernel = compiled.kernel();
    if inputs.len() != kernel.inputs.len() {
        return Err(CpuError::internal(format!(
            "a kernel of {} inputs given {} arrays",
            kernel.inputs.len(),
            inputs.len()
        )));
    }
    let reused_input = reuse.as_ref().map(|(k, _)| *k);
    for (i, (a, input)) in inputs.iter().zip(&kernel.inputs).enumerate() {
        let (len, dtype) = match (a, &reuse) {
            (Some(a), _) if reused_input != Some(i) => (a.len(), a.dtype()),
            (None, Some((k, data))) if *k == i => (data.len(), data.dtype()),
            _ => return Err(CpuError::internal(format!("input {i} given wrongly"))),
        };
        if dtype != input.dtype || len != input.len {
            return Err(CpuError::internal(format!(
                "input {i} is {len} elements of {dtype} where the kernel reads {} of {}",
                input.len, input.dtype
            )));
        }
    }
    let jit = compiled.jit();
    let items = compiled.work_items();
    let dtypes = jit.footprint().outputs.clone();
    for &d in &dtypes {
        nabla_ir::array::check_alloc(&[items], d)
            .map_err(|e| CpuError::unsupported(e.to_string()))?;
    }
    let (mut outputs, bufs) = match reuse {
        None => (
            Outputs::new(&dtypes, items)?,
            inputs
                .iter()
                .map(|a| {
                    a.map(|a| KernelInput::Buf(buf(a.data())))
                        .ok_or_else(|| CpuError::internal("a kernel input is missing"))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        Some((k, data)) => {
            let o = dtypes
                .iter()
                .position(|&d| d == data.dtype())
                .ok_or_else(|| CpuError::internal("no output to reuse an input for"))?;
            let bufs = inputs
                .iter()
                .enumerate()
                .map(|(i, a)| match a {
                    Some(a) if i != k => KernelInput::Buf(buf(a.data())),
                    _ => KernelInput::InPlace(o),
                })
                .collect::<Vec<_>>();
            (Outputs::reusing(&dtypes, items, vec![(o, data)])?, bufs)
        }
    };
    let (ranges, threads) = match split_by {
        Split::Threads(threads) => (split(items, grain(compiled), threads), threads),
        Split::Ranges(ranges) => (ranges.to_vec(), 1),
    };
    jit.fill_in_place(&bufs, &mut outputs, &ranges, |tasks, compute| {
        if tasks.len() <= 1 || threads <= 1 {
            tasks.into_iter().try_for_each(compute)
        } else {
            pool(threads)?.install(|| tasks.into_par_iter().try_for_each(compute))
        }
    })?;
    let outs = outputs.into_data()?;
    let rank = kernel.shape.len();
    let mut arrays = Vec::with_capacity(outs.len());
    for (data, out) in outs.into_iter().zip(&kernel.outputs) {
        let (shape, data) = match (out, compiled.reduce_shape()) {
            (Output::Store { .. }, _) => (kernel.shape.clone(), data),
            (Output::Reduce { op, nreduce, .. }, Some(r)) => {
                let data = if r.nblocks == 1 {
                    data
                } else {
                    finish_reduce(*op, &data, r.results, r.nblocks)?
                };
                (kernel.shape[..rank - nreduce].to_vec(), data)
            }
            (Output::Reduce { .. }, None) => {
                return Err(CpuError::internal("a reduction compiled as a store kernel"))
            }
        };
        arrays.push(Array::new(shape, data).map_err(|e| CpuError::internal(e.to_string()))?);
    }
    Ok(arrays)
}

/// Work items per task for `compiled`: reductions of long rows take fewer.
fn grain(compiled: &CompiledKernel) -> usize {
    match compiled.reduce_shape() {
        None => GRAIN_ELEMENTS,
        Some(r) => (GRAIN_ELEMENTS / r.k.clamp(1, BLOCK)).max(1),
    }
}

/// Whether [`run_compiled`] runs `compiled` as one task on the calling thread whatever
/// the thread count, with its outputs finished when that task ends (no reduction
/// blocks left to combine): then running it once over all of its work items is all it
/// does, which a loop body laid out in a frame relies on.
pub(crate) fn is_one_task(compiled: &CompiledKernel) -> bool {
    let items = compiled.work_items();
    items <= grain(compiled) && compiled.reduce_shape().is_none_or(|r| r.nblocks == 1)
}

/// Structural equality with literals compared by bits (a NaN literal equals itself).
fn same_kernel(a: &Kernel, b: &Kernel) -> bool {
    let bits = |s: &Scalar| match *s {
        Scalar::F32(v) => Scalar::U32(v.to_bits()),
        Scalar::F64(v) => Scalar::I64(v.to_bits() as i64),
        other => other,
    };
    a.shape == b.shape
        && a.inputs == b.inputs
        && a.dtypes == b.dtypes
        && a.outputs == b.outputs
        && a.nodes.len() == b.nodes.len()
        && a.nodes.iter().zip(&b.nodes).all(|pair| match pair {
            (Node::Lit(x), Node::Lit(y)) => x.dtype() == y.dtype() && bits(x) == bits(y),
            (x, y) => x == y,
        })
}

/// Splits `0..items` into contiguous ranges of at least `grain` items (but for a
/// single range), at most `TASKS_PER_THREAD` per thread.
fn split(items: usize, grain: usize, threads: usize) -> Vec<(usize, usize)> {
    if items == 0 {
        return Vec::new();
    }
    let most = if threads <= 1 {
        1
    } else {
        threads.saturating_mul(TASKS_PER_THREAD)
    };
    let n = items.div_ceil(grain.max(1)).clamp(1, most);
    let at = |t: usize| (items as u128 * t as u128 / n as u128) as usize;
    (0..n).map(|t| (at(t), at(t + 1))).collect()
}

/// One rayon pool per thread count, built on first use and kept.
pub(crate) fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        // A panic while holding the lock leaves the map itself consistent.
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("nabla-cpu-{i}"))
        .build()
        .map_err(|e| CpuError::internal(format!("starting {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.insert(threads, Arc::clone(&p));
    Ok(p)
}

pub(crate) fn buf(d: &Data) -> Buf<'_> {
    match d {
        Data::Bool(v) => Buf::Bool(v),
        Data::I32(v) => Buf::I32(v),
        Data::I64(v) => Buf::I64(v),
        Data::U32(v) => Buf::U32(v),
        Data::F32(v) => Buf::F32(v),
        Data::F64(v) => Buf::F64(v),
    }
}

/// Combines each result's `nblocks` block partials (stored result-major) by the
/// canonical block tree, with the interpreter's arithmetic for `op`: the result is
/// bitwise `canonical::fold` over the elements the partials came from.
pub fn finish_reduce(
    op: ReduceOp,
    partials: &Data,
    results: usize,
    nblocks: usize,
) -> Result<Data> {
    if nblocks == 0 || Some(partials.len()) != results.checked_mul(nblocks) {
        return Err(CpuError::internal(format!(
            "{} partials for {results} results of {nblocks} blocks",
            partials.len()
        )));
    }
    let rejects = || CpuError::internal(format!("{} of {} partials", op.name(), partials.dtype()));
    Ok(match partials {
        Data::Bool(v) => Data::Bool(tree_all(v, nblocks, bool_op(op).ok_or_else(rejects)?)),
        Data::I32(v) => Data::I32(tree_all(v, nblocks, ints::i32_op(op).ok_or_else(rejects)?)),
        Data::I64(v) => Data::I64(tree_all(v, nblocks, ints::i64_op(op).ok_or_else(rejects)?)),
        Data::U32(v) => Data::U32(tree_all(v, nblocks, ints::u32_op(op).ok_or_else(rejects)?)),
        Data::F32(v) => Data::F32(tree_all(
            v,
            nblocks,
            floats::f32_op(op).ok_or_else(rejects)?,
        )),
        Data::F64(v) => Data::F64(tree_all(
            v,
            nblocks,
            floats::f64_op(op).ok_or_else(rejects)?,
        )),
    })
}

fn tree_all<T: Copy>(v: &[T], nblocks: usize, op: fn(T, T) -> T) -> Vec<T> {
    v.chunks_exact(nblocks)
        .map(|row| canonical::tree(0, nblocks, &|b| row[b], &op))
        .collect()
}

/// With false < true, max is `or` and min is `and`.
fn bool_op(op: ReduceOp) -> Option<fn(bool, bool) -> bool> {
    match op {
        ReduceOp::And | ReduceOp::Min => Some(|a, b| a & b),
        ReduceOp::Or | ReduceOp::Max => Some(|a, b| a | b),
        ReduceOp::Sum | ReduceOp::Prod => None,
    }
}

mod ints {
    use nabla_ir::ReduceOp;

    macro_rules! int_op {
        ($name:ident, $t:ty) => {
            /// Wrapping arithmetic, as the interpreter's integers.
            pub(super) fn $name(op: ReduceOp) -> Option<fn($t, $t) -> $t> {
                match op {
                    ReduceOp::Sum => Some(<$t>::wrapping_add),
                    ReduceOp::Prod => Some(<$t>::wrapping_mul),
                    ReduceOp::Max => Some(Ord::max),
                    ReduceOp::Min => Some(Ord::min),
                    ReduceOp::And | ReduceOp::Or => None,
                }
            }
        };
    }
    int_op!(i32_op, i32);
    int_op!(i64_op, i64);
    int_op!(u32_op, u32);
}

mod floats {
    use nabla_ir::ReduceOp;

    macro_rules! float_op {
        ($name:ident, $t:ty) => {
            /// Max and min propagate NaN (the first operand's when both are) and order
            /// `-0 < +0`, as the interpreter's `max_nan`/`min_nan`.
            pub(super) fn $name(op: ReduceOp) -> Option<fn($t, $t) -> $t> {
                match op {
                    ReduceOp::Sum => Some(|a, b| a + b),
                    ReduceOp::Prod => Some(|a, b| a * b),
                    ReduceOp::Max => Some(|a: $t, b: $t| {
                        if a.is_nan() {
                            a
                        } else if b.is_nan() {
                            b
                        } else if a > b {
                            a
                        } else if b > a {
                            b
                        } else if a.is_sign_negative() {
                            b
                        } else {
                            a
                        }
                    }),
                    ReduceOp::Min => Some(|a: $t, b: $t| {
                        if a.is_nan() {
                            a
                        } else if b.is_nan() {
                            b
                        } else if a < b {
                            a
                        } else if b < a {
                            b
                        } else if a.is_sign_negative() {
                            a
                        } else {
                            b
                        }
                    }),
                    ReduceOp::And | ReduceOp::Or => None,
                }
            }
        };
    }
    float_op!(f32_op, f32);
    float_op!(f64_op, f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        for (items, grain, threads) in [(0, 1, 4), (1, 1, 4), (10, 3, 1), (100, 7, 3), (5, 100, 8)]
        {
            let r = split(items, grain, threads);
            let mut next = 0;
            for &(s, e) in &r {
                assert_eq!(s, next);
                assert!(e > s);
                next = e;
            }
            assert_eq!(next, items);
            if threads <= 1 {
                assert!(r.len() <= 1);
            }
        }
    }

    #[test]
    fn finish_matches_the_canonical_fold() {
        let n = 5 * BLOCK + 17;
        let xs: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.4)
            .collect();
        let nblocks = n.div_ceil(BLOCK);
        let partials: Vec<f64> = (0..nblocks)
            .map(|b| {
                let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
                canonical::fold(hi - lo, 0.0, |i| xs[lo + i], |a, b| a + b)
            })
            .collect();
        let got = finish_reduce(ReduceOp::Sum, &Data::F64(partials), 1, nblocks).unwrap();
        let want = canonical::fold(n, 0.0, |i| xs[i], |a, b| a + b);
        assert_eq!(got, Data::F64(vec![want]));
    }
}
