//! Row passes: `z = X @ w` over a large row-major matrix, the kernels that use `z` row
//! by row, and `c @ X` over the same matrix, run together chunk by chunk of rows, so
//! `X` streams from memory once instead of once per step. This is the shape of a
//! linear model's loss and gradient (`X @ w`, a per-row function, `Xᵀ c`) and of
//! per-example gradient norms.
//!
//! Every piece does exactly what its own step would do: the products run the vector
//! path's loops in its canonical order (`gemm::rows`), the kernels run their own
//! compiled code on row ranges, and `c @ X`'s canonical blocks are the units of work.
//! So a row pass gives the unfused program's bits, for every thread count.

use std::ops::Range;

use nabla_ir::canonical::{BLOCK, LANES};
use nabla_ir::{Array, DType, Data, Prim};
use rayon::prelude::*;

use crate::codegen::CompiledKernel;
use crate::error::{CpuError, Result};
use crate::exec::buf;
use crate::gemm::{rows, Elem};
use crate::jit::{Buf, RowInput, SliceMut};
use crate::kernel::{Kernel, Output};
use crate::plan::{Operand, Program, Step};

/// Matrices smaller than this (in elements) stay with the plain steps: the pass saves
/// memory traffic, which small matrices do not cost.
const MIN_ELEMENTS: usize = 1 << 16;
/// Bytes of the matrix per chunk of rows: small enough that the chunk is still in L2
/// when the kernels and `c @ X` read it after `X @ w`.
const CHUNK_BYTES: usize = 192 * 1024;

/// A row pass found in a program (step and slot indices are the program's).
#[derive(Clone, Debug, PartialEq)]
pub struct RowPlan {
    /// The step of `z = X @ w`; the pass runs in its place.
    pub anchor: usize,
    pub x: usize,
    pub w: usize,
    pub z: usize,
    pub rows: usize,
    pub cols: usize,
    /// Kernel steps that run inside the pass, in program order.
    pub kernels: Vec<usize>,
    /// `c @ X` (or `Xᵀ @ c`) inside the pass: its step, `c`'s slot, the result's slot.
    pub vecmat: Option<(usize, usize, usize)>,
}

impl RowPlan {
    /// Every step the pass replaces.
    pub fn steps(&self) -> Vec<usize> {
        let mut v = vec![self.anchor];
        v.extend(&self.kernels);
        v.extend(self.vecmat.map(|(s, _, _)| s));
        v
    }
}

fn slot(op: &Operand) -> Option<usize> {
    match op {
        Operand::Slot(s) => Some(*s),
        Operand::Lit(_) => None,
    }
}

fn written(step: &Step) -> &[usize] {
    match step {
        Step::Kernel { outputs, .. } | Step::Eqn { outputs, .. } => outputs,
        Step::View { output, .. } | Step::Const { output, .. } => std::slice::from_ref(output),
    }
}

/// An uncompensated product without batch axes over two slots.
struct Product<'a> {
    lhs_contract: &'a [usize],
    rhs_contract: &'a [usize],
    lhs: usize,
    rhs: usize,
    out: usize,
}

fn product(step: &Step) -> Option<Product<'_>> {
    let Step::Eqn {
        prim:
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
                compensated: false,
            },
        args,
        outputs,
        ..
    } = step
    else {
        return None;
    };
    match (args.as_slice(), outputs.as_slice()) {
        ([a, b], &[out]) if lhs_batch.is_empty() && rhs_batch.is_empty() => Some(Product {
            lhs_contract,
            rhs_contract,
            lhs: slot(a)?,
            rhs: slot(b)?,
            out,
        }),
        _ => None,
    }
}

/// `z = X @ w` with `X: [n, d]` a float matrix large enough to matter and `d` within one
/// canonical block: `(x, w, z, n, d)`.
fn matvec(p: &Program, step: &Step) -> Option<(usize, usize, usize, usize, usize)> {
    let pr = product(step)?;
    if pr.lhs_contract != [1] || pr.rhs_contract != [0] {
        return None;
    }
    let (x, w, z) = (pr.lhs, pr.rhs, pr.out);
    let (tx, tw) = (p.types.get(x)?, p.types.get(w)?);
    let float = matches!(tx.dtype, DType::F32 | DType::F64);
    match (tx.shape.as_slice(), tw.shape.as_slice()) {
        (&[n, d], &[dw])
            if float
                && tw.dtype == tx.dtype
                && dw == d
                && (1..=BLOCK).contains(&d)
                && n.saturating_mul(d) >= MIN_ELEMENTS =>
        {
            Some((x, w, z, n, d))
        }
        _ => None,
    }
}

/// `c @ X` or `Xᵀ @ c` for the pass's `X` and a `c` the pass computes: `(c, out)`.
fn vecmat(step: &Step, x: usize, staged: &[bool]) -> Option<(usize, usize)> {
    let pr = product(step)?;
    if pr.lhs_contract != [0] || pr.rhs_contract != [0] {
        return None;
    }
    let (a, b, out) = (pr.lhs, pr.rhs, pr.out);
    let c = if b == x && a != x {
        a
    } else if a == x && b != x {
        b
    } else {
        return None;
    };
    staged.get(c).copied().unwrap_or(false).then_some((c, out))
}

/// Whether a kernel can run row range by row range inside the pass: one work item per
/// row of `n` (a store over `[n]`, or a reduction of `[n, …]` over the rest in one
/// block), the pass's values read at the current row only, everything else computed
/// before the pass.
fn fits(
    kernel: &Kernel,
    inputs: &[usize],
    n: usize,
    staged: &[bool],
    ready: &dyn Fn(usize) -> bool,
) -> bool {
    let per_row: usize = kernel.shape.iter().skip(1).product();
    let rank = kernel.shape.len();
    let rows_are_items = kernel.shape.first() == Some(&n)
        && !kernel.outputs.is_empty()
        && kernel.outputs.iter().all(|o| match o {
            Output::Store { .. } => per_row == 1,
            Output::Reduce { nreduce, .. } => rank >= 2 && nreduce + 1 == rank && per_row <= BLOCK,
        });
    rows_are_items
        && inputs.len() == kernel.inputs.len()
        && inputs.iter().zip(&kernel.inputs).all(|(&s, input)| {
            if staged.get(s).copied().unwrap_or(false) {
                input.offset == 0
                    && input.strides.first() == Some(&1)
                    && input.strides[1..].iter().all(|&st| st == 0)
            } else {
                ready(s)
            }
        })
}

/// The row passes of a program, each anchored at a distinct `X @ w`.
pub fn find(p: &Program) -> Vec<RowPlan> {
    let mut defined: Vec<Option<usize>> = vec![None; p.nslots];
    for (i, step) in p.steps.iter().enumerate() {
        for &s in written(step) {
            if let Some(d) = defined.get_mut(s) {
                *d = Some(i);
            }
        }
    }
    let mut taken = vec![false; p.steps.len()];
    let mut plans = Vec::new();
    for (a, step) in p.steps.iter().enumerate() {
        if taken[a] {
            continue;
        }
        let Some((x, w, z, n, d)) = matvec(p, step) else {
            continue;
        };
        let ready = |s: usize| defined.get(s).is_some_and(|d| d.is_none_or(|i| i < a));
        let mut staged = vec![false; p.nslots];
        staged[z] = true;
        let mut kernels = Vec::new();
        let mut product = None;
        for (i, st) in p.steps.iter().enumerate().skip(a + 1) {
            if taken[i] {
                continue;
            }
            match st {
                Step::Kernel {
                    kernel,
                    inputs,
                    outputs,
                    ..
                } if inputs.iter().any(|&s| staged[s])
                    && fits(kernel, inputs, n, &staged, &ready) =>
                {
                    kernels.push(i);
                    for &o in outputs {
                        staged[o] = true;
                    }
                }
                Step::Eqn { .. } if product.is_none() => {
                    if let Some((c, out)) = vecmat(st, x, &staged) {
                        product = Some((i, c, out));
                    }
                }
                _ => {}
            }
        }
        // Without `c @ X` the pass only pays when a kernel reads `X` again.
        let rereads = kernels.iter().any(|&k| match &p.steps[k] {
            Step::Kernel { inputs, .. } => inputs.contains(&x),
            _ => false,
        });
        if product.is_none() && !rereads {
            continue;
        }
        let plan = RowPlan {
            anchor: a,
            x,
            w,
            z,
            rows: n,
            cols: d,
            kernels,
            vecmat: product,
        };
        for s in plan.steps() {
            taken[s] = true;
        }
        plans.push(plan);
    }
    plans
}

/// The lines `nabla ir --kernels` adds for a program's row passes.
pub fn describe(plans: &[RowPlan]) -> String {
    let mut s = String::new();
    for plan in plans {
        s.push_str(&format!(
            "  row pass at step {}: steps {:?} run chunk by chunk over the rows of slot {} ({} × {}), which is read once\n",
            plan.anchor,
            plan.steps(),
            plan.x,
            plan.rows,
            plan.cols
        ));
    }
    s
}

/// A kernel step inside a row pass.
pub struct PassKernel {
    pub code: CompiledKernel,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

/// A row pass with its kernels compiled.
pub struct RowPass {
    pub plan: RowPlan,
    pub kernels: Vec<PassKernel>,
}

/// Float element types of a row pass.
trait PassElem: Elem {
    fn data(d: &Data) -> Option<&[Self]>;
    fn slice<'s>(s: &'s mut SliceMut<'_>) -> Option<&'s mut [Self]>;
    fn wrap(v: Vec<Self>) -> Data;
}

impl PassElem for f32 {
    fn data(d: &Data) -> Option<&[f32]> {
        match d {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }
    fn slice<'s>(s: &'s mut SliceMut<'_>) -> Option<&'s mut [f32]> {
        match s {
            SliceMut::F32(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<f32>) -> Data {
        Data::F32(v)
    }
}

impl PassElem for f64 {
    fn data(d: &Data) -> Option<&[f64]> {
        match d {
            Data::F64(v) => Some(v),
            _ => None,
        }
    }
    fn slice<'s>(s: &'s mut SliceMut<'_>) -> Option<&'s mut [f64]> {
        match s {
            SliceMut::F64(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<f64>) -> Data {
        Data::F64(v)
    }
}

fn zeros(dtype: DType, n: usize) -> Data {
    match dtype {
        DType::Bool => Data::Bool(vec![false; n]),
        DType::I32 => Data::I32(vec![0; n]),
        DType::I64 => Data::I64(vec![0; n]),
        DType::U32 => Data::U32(vec![0; n]),
        DType::F32 => Data::F32(vec![0.0; n]),
        DType::F64 => Data::F64(vec![0.0; n]),
    }
}

/// Cuts a buffer into the rows of consecutive units.
fn cut<'a>(data: &'a mut Data, units: &[Range<usize>]) -> Vec<SliceMut<'a>> {
    fn go<'a, T>(
        mut rest: &'a mut [T],
        units: &[Range<usize>],
        wrap: fn(&'a mut [T]) -> SliceMut<'a>,
    ) -> Vec<SliceMut<'a>> {
        units
            .iter()
            .map(|u| {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(u.len());
                rest = tail;
                wrap(head)
            })
            .collect()
    }
    match data {
        Data::Bool(v) => go(v, units, SliceMut::Bool),
        Data::I32(v) => go(v, units, SliceMut::I32),
        Data::I64(v) => go(v, units, SliceMut::I64),
        Data::U32(v) => go(v, units, SliceMut::U32),
        Data::F32(v) => go(v, units, SliceMut::F32),
        Data::F64(v) => go(v, units, SliceMut::F64),
    }
}

/// `rows` of a unit's slice (relative to the unit), reborrowed.
fn sub<'s>(s: &'s mut SliceMut<'_>, r: Range<usize>) -> SliceMut<'s> {
    match s {
        SliceMut::Bool(v) => SliceMut::Bool(&mut v[r]),
        SliceMut::I32(v) => SliceMut::I32(&mut v[r]),
        SliceMut::I64(v) => SliceMut::I64(&mut v[r]),
        SliceMut::U32(v) => SliceMut::U32(&mut v[r]),
        SliceMut::F32(v) => SliceMut::F32(&mut v[r]),
        SliceMut::F64(v) => SliceMut::F64(&mut v[r]),
    }
}

fn sub_buf<'s>(b: Buf<'s>, r: Range<usize>) -> Buf<'s> {
    match b {
        Buf::Bool(v) => Buf::Bool(&v[r]),
        Buf::I32(v) => Buf::I32(&v[r]),
        Buf::I64(v) => Buf::I64(&v[r]),
        Buf::U32(v) => Buf::U32(&v[r]),
        Buf::F32(v) => Buf::F32(&v[r]),
        Buf::F64(v) => Buf::F64(&v[r]),
    }
}

/// Moves a slice out, leaving an empty one of the same dtype.
fn take<'a>(s: &mut SliceMut<'a>) -> SliceMut<'a> {
    let empty = match s {
        SliceMut::Bool(_) => SliceMut::Bool(&mut []),
        SliceMut::I32(_) => SliceMut::I32(&mut []),
        SliceMut::I64(_) => SliceMut::I64(&mut []),
        SliceMut::U32(_) => SliceMut::U32(&mut []),
        SliceMut::F32(_) => SliceMut::F32(&mut []),
        SliceMut::F64(_) => SliceMut::F64(&mut []),
    };
    std::mem::replace(s, empty)
}

/// One unit of work: a range of rows, its share of every value the pass computes, and
/// (with `c @ X`) its canonical block's sums.
struct Unit<'a, T> {
    rows: Range<usize>,
    staged: Vec<SliceMut<'a>>,
    sums: Option<&'a mut [T]>,
}

impl RowPass {
    /// Runs the pass: reads `X`, `w` and the kernels' other inputs from `slots`, and
    /// writes `z`, every kernel output and `c @ X`'s result there.
    pub fn run(
        &self,
        slots: &mut [Option<Array>],
        types: &[nabla_ir::Type],
        threads: usize,
    ) -> Result<()> {
        let get =
            |slots: &[Option<Array>], s: usize| -> Result<Array> {
                slots.get(s).cloned().flatten().ok_or_else(|| {
                    CpuError::internal(format!("slot {s} is read before it is written"))
                })
            };
        let x = get(slots, self.plan.x)?;
        let w = get(slots, self.plan.w)?;
        // Values the pass computes: `z` first, then each kernel's outputs.
        let mut order = vec![self.plan.z];
        for k in &self.kernels {
            order.extend(&k.outputs);
        }
        let staged_index = |s: usize| order.iter().position(|&o| o == s);
        let mut whole: Vec<Option<Array>> = Vec::new();
        let mut kernel_inputs: Vec<Vec<(Option<usize>, usize)>> = Vec::new();
        for k in &self.kernels {
            let mut ins = Vec::with_capacity(k.inputs.len());
            for &s in &k.inputs {
                match staged_index(s) {
                    Some(i) => ins.push((Some(i), 0)),
                    None => {
                        whole.push(Some(get(slots, s)?));
                        ins.push((None, whole.len() - 1));
                    }
                }
            }
            kernel_inputs.push(ins);
        }
        let mut data = Vec::with_capacity(order.len());
        for &s in &order {
            let t = types
                .get(s)
                .ok_or_else(|| CpuError::internal(format!("slot {s} has no type")))?;
            data.push(zeros(t.dtype, self.plan.rows));
        }
        let product = match (x.data(), w.data()) {
            (Data::F32(_), Data::F32(_)) => {
                self.run_typed::<f32>(&x, &w, &whole, &kernel_inputs, &mut data, &order, threads)?
            }
            (Data::F64(_), Data::F64(_)) => {
                self.run_typed::<f64>(&x, &w, &whole, &kernel_inputs, &mut data, &order, threads)?
            }
            _ => return Err(CpuError::internal("a row pass over a non-float matrix")),
        };
        let array = |s: usize, d: Data| -> Result<Array> {
            let shape = types
                .get(s)
                .map(|t| t.shape.clone())
                .ok_or_else(|| CpuError::internal(format!("slot {s} has no type")))?;
            Array::new(shape, d).map_err(|e| CpuError::internal(e.to_string()))
        };
        for (&s, d) in order.iter().zip(data) {
            slots[s] = Some(array(s, d)?);
        }
        if let (Some((_, _, out)), Some(g)) = (self.plan.vecmat, product) {
            slots[out] = Some(array(out, g)?);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_typed<T: PassElem>(
        &self,
        x: &Array,
        w: &Array,
        whole: &[Option<Array>],
        kernel_inputs: &[Vec<(Option<usize>, usize)>],
        data: &mut [Data],
        order: &[usize],
        threads: usize,
    ) -> Result<Option<Data>> {
        let (n, d) = (self.plan.rows, self.plan.cols);
        let dtype_changed = || CpuError::internal("row pass operand dtypes changed");
        let xs = T::data(x.data()).ok_or_else(dtype_changed)?;
        let ws = T::data(w.data()).ok_or_else(dtype_changed)?;
        if xs.len() != n * d || ws.len() != d {
            return Err(CpuError::internal("row pass operands changed shape"));
        }
        let c_index = match self.plan.vecmat {
            Some((_, c, _)) => Some(
                order
                    .iter()
                    .position(|&o| o == c)
                    .ok_or_else(|| CpuError::internal("c @ X reads a value the pass lacks"))?,
            ),
            None => None,
        };
        let chunk =
            (CHUNK_BYTES / (d * std::mem::size_of::<T>())).clamp(LANES, BLOCK) / LANES * LANES;
        // With `c @ X`, a unit is one canonical block of its contraction (its lanes run
        // through the block's rows in order); otherwise any chunk will do.
        let unit_rows = if c_index.is_some() { BLOCK } else { chunk };
        let units: Vec<Range<usize>> = (0..n.div_ceil(unit_rows))
            .map(|u| u * unit_rows..((u + 1) * unit_rows).min(n))
            .collect();
        let mut sums = vec![
            T::ZERO;
            if c_index.is_some() {
                units.len() * d
            } else {
                0
            }
        ];
        let mut per_unit: Vec<Vec<SliceMut>> = units
            .iter()
            .map(|_| Vec::with_capacity(data.len()))
            .collect();
        for buffer in data.iter_mut() {
            for (u, s) in cut(buffer, &units).into_iter().enumerate() {
                per_unit[u].push(s);
            }
        }
        let mut sum_chunks = sums.chunks_mut(d.max(1));
        let work: Vec<Unit<T>> = units
            .iter()
            .cloned()
            .zip(per_unit)
            .map(|(rows, staged)| Unit {
                rows,
                staged,
                sums: if c_index.is_some() {
                    sum_chunks.next()
                } else {
                    None
                },
            })
            .collect();
        let run_unit = |mut u: Unit<T>| -> Result<()> {
            let mut acc = vec![T::ZERO; if c_index.is_some() { LANES * d } else { 0 }];
            let mut c0 = u.rows.start;
            while c0 < u.rows.end {
                let c1 = (c0 + chunk).min(u.rows.end);
                let local = c0 - u.rows.start..c1 - u.rows.start;
                let z = T::slice(&mut u.staged[0])
                    .ok_or_else(|| CpuError::internal("z changed dtype"))?;
                rows::dots(xs, d, ws, c0, &mut z[local.clone()]);
                for (k, ins) in self.kernels.iter().zip(kernel_inputs) {
                    let out_index: Vec<usize> = k
                        .outputs
                        .iter()
                        .map(|&s| order.iter().position(|&o| o == s).unwrap_or(usize::MAX))
                        .collect();
                    let mut outs: Vec<SliceMut> = Vec::with_capacity(out_index.len());
                    for &i in &out_index {
                        let s = u.staged.get_mut(i).ok_or_else(|| {
                            CpuError::internal("a kernel output outside the pass")
                        })?;
                        outs.push(take(s));
                    }
                    let result = {
                        let inputs: Vec<RowInput> = ins
                            .iter()
                            .map(|&(st, wi)| match st {
                                Some(i) => {
                                    RowInput::Rows(sub_buf(u.staged[i].as_buf(), local.clone()))
                                }
                                None => RowInput::Whole(match &whole[wi] {
                                    Some(a) => buf(a.data()),
                                    None => Buf::Bool(&[]),
                                }),
                            })
                            .collect();
                        let mut chunks: Vec<SliceMut> =
                            outs.iter_mut().map(|s| sub(s, local.clone())).collect();
                        k.code.jit().call_rows(&inputs, &mut chunks, c0..c1)
                    };
                    for (&i, s) in out_index.iter().zip(outs) {
                        u.staged[i] = s;
                    }
                    result?;
                }
                if let Some(ci) = c_index {
                    let c = T::slice(&mut u.staged[ci])
                        .ok_or_else(|| CpuError::internal("c changed dtype"))?;
                    rows::scaled(xs, d, &c[local], c0, u.rows.start, &mut acc);
                }
                c0 = c1;
            }
            if let Some(s) = u.sums.take() {
                rows::finish_block(&acc, d, s);
            }
            Ok(())
        };
        if threads <= 1 || work.len() <= 1 {
            work.into_iter().try_for_each(run_unit)?;
        } else {
            crate::exec::pool(threads)?.install(|| work.into_par_iter().try_for_each(run_unit))?;
        }
        Ok(c_index.map(|_| {
            let mut g = vec![T::ZERO; d];
            rows::finish(&sums, d, units.len(), &mut g);
            T::wrap(g)
        }))
    }
}
