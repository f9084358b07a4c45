//! Loop bodies laid out in a frame: every value of a body program gets a fixed region
//! of one block of memory, so running the body again allocates nothing.
//!
//! The slot table of [`Compiled::run_owned`] holds a fresh `Array` per value per run,
//! and every kernel step allocates its outputs and its argument lists: about a dozen
//! allocations for one scalar `add`, which dominate a loop of scalar arithmetic. A
//! program whose values are all small and whose steps are all kernels that run as one
//! task (and control flow whose own bodies qualify) is instead laid out once when it is
//! compiled: each slot a [`Region`] of a frame (a view shares its input's region), each
//! kernel bound to its regions and checked against its footprint ([`FrameBinding`]),
//! gathers (`take`, what `x[i]` with a traced index becomes) done by element copies.
//! A loop makes one [`State`] (the frame and scratch space) when it starts and runs
//! every iteration in it; carries move between iterations by copying bytes from the
//! body's result regions to its parameter regions.
//!
//! The kernels are the ones the slot-table path runs, over the same work items on one
//! thread (which is all that path does for them too), and a gather only copies
//! elements, so results are the same bits.

use std::time::Instant;

use nabla_ir::{Array, DType, Data, Scalar, Type};

use crate::control::ControlState;
use crate::error::{CpuError, Result};
use crate::jit::{Cell, FrameBinding, Region};
use crate::plan::{Operand, Program, Step};
use crate::program::{step_label, Compiled, Profile, StepCode};

/// The most cells one frame may take (8 MiB): frames are for small values, and a
/// program with larger ones runs on the slot table.
const MAX_CELLS: usize = 1 << 20;

/// A value a frame program reads: a region of its frame, or a literal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Src {
    Region(Region),
    Lit(Scalar),
}

impl Src {
    /// Whether the value can be copied into `r`: same dtype and element count.
    pub(crate) fn fits(&self, r: &Region) -> bool {
        match self {
            Src::Region(s) => s.dtype == r.dtype && s.len == r.len,
            Src::Lit(x) => x.dtype() == r.dtype && r.len == 1,
        }
    }
}

/// A body program laid out in a frame.
#[derive(Debug)]
pub(crate) struct FrameProgram {
    cells: usize,
    /// The region of every parameter, in order.
    pub(crate) params: Vec<Region>,
    pub(crate) results: Vec<Src>,
    /// Constant arrays, written into their regions once per [`State`].
    consts: Vec<(Region, Array)>,
    steps: Vec<FrameStep>,
}

#[derive(Debug)]
enum FrameStep {
    /// Program step `step`, a kernel.
    Kernel {
        step: usize,
        binding: FrameBinding,
        label: String,
    },
    /// Program step `step`, control flow whose bodies have frame programs.
    Control {
        step: usize,
        args: Vec<Src>,
        outs: Vec<Region>,
    },
    /// A gather (`x[i]` with a traced index): element copies within the frame.
    Take(Take),
}

/// `out[o, j, e] = x[o, clamp(idx[j], 0, n - 1), e]` over `outer` × `m` × `inner`
/// elements (all zeros when `n` is 0), as `take` clamps.
#[derive(Debug)]
struct Take {
    x: Region,
    idx: Src,
    out: Region,
    outer: usize,
    n: usize,
    inner: usize,
    m: usize,
    label: String,
}

/// Lays out `p` (compiled into `code`) in a frame; `None` when some value is too large
/// or some step is neither a one-task kernel, a view, a constant, a gather nor control
/// flow that runs in frames — the program then runs on the slot table.
pub(crate) fn plan(p: &Program, code: &[StepCode]) -> Option<FrameProgram> {
    let mut regions: Vec<Option<Region>> = vec![None; p.nslots];
    let mut next = 0usize;
    let mut fresh = |ty: &Type| -> Option<Region> {
        let len = ty.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        let bytes = len.checked_mul(ty.dtype.size_bytes())?;
        if bytes > MAX_CELLS * 8 {
            return None;
        }
        let r = Region {
            cell: next,
            len,
            dtype: ty.dtype,
        };
        next = next.checked_add(r.cells()).filter(|&n| n <= MAX_CELLS)?;
        Some(r)
    };
    let mut params = Vec::with_capacity(p.params.len());
    for &s in &p.params {
        let r = fresh(p.types.get(s)?)?;
        *regions.get_mut(s)? = Some(r);
        params.push(r);
    }
    let region = |regions: &[Option<Region>], s: usize| regions.get(s).copied().flatten();
    let src = |regions: &[Option<Region>], o: &Operand| match o {
        Operand::Slot(s) => region(regions, *s).map(Src::Region),
        Operand::Lit(x) => Some(Src::Lit(*x)),
    };
    let mut consts = Vec::new();
    let mut steps = Vec::new();
    for (i, (step, code)) in p.steps.iter().zip(code).enumerate() {
        match (step, code) {
            (
                Step::Kernel {
                    inputs, outputs, ..
                },
                StepCode::Kernel(ck),
            ) => {
                if !crate::exec::is_one_task(ck) {
                    return None;
                }
                let ins = inputs
                    .iter()
                    .map(|&s| region(&regions, s))
                    .collect::<Option<Vec<_>>>()?;
                let mut outs = Vec::with_capacity(outputs.len());
                for &s in outputs {
                    let r = fresh(p.types.get(s)?)?;
                    *regions.get_mut(s)? = Some(r);
                    outs.push(r);
                }
                let binding = ck.jit().bind_frame(&ins, &outs).ok()?;
                steps.push(FrameStep::Kernel {
                    step: i,
                    binding,
                    label: step_label(&p.name, i, step),
                });
            }
            (
                Step::View {
                    input,
                    shape,
                    output,
                },
                StepCode::Plain,
            ) => {
                // The same bytes under another shape: the output shares the region.
                let r = region(&regions, *input)?;
                let ty = p.types.get(*output)?;
                let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
                if ty.dtype != r.dtype || len != r.len {
                    return None;
                }
                *regions.get_mut(*output)? = Some(r);
            }
            (Step::Const { value, output }, StepCode::Plain) => {
                let r = fresh(p.types.get(*output)?)?;
                if value.dtype() != r.dtype || value.len() != r.len {
                    return None;
                }
                *regions.get_mut(*output)? = Some(r);
                consts.push((r, value.clone()));
            }
            (
                Step::Eqn {
                    prim,
                    args,
                    outputs,
                    ..
                },
                StepCode::Plain,
            ) => {
                // Of the primitives run outside kernels only gathers are laid out: `x[i]`
                // in a loop body is one.
                let nabla_ir::Prim::Take { axis } = prim else {
                    return None;
                };
                let ([Operand::Slot(x), idx], [out]) = (args.as_slice(), outputs.as_slice()) else {
                    return None;
                };
                let (x_ty, x) = (p.types.get(*x)?, region(&regions, *x)?);
                let idx = src(&regions, idx)?;
                let (idx_dtype, m) = match idx {
                    Src::Region(r) => (r.dtype, r.len),
                    Src::Lit(v) => (v.dtype(), 1),
                };
                let product = |d: &[usize]| d.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
                let outer = product(x_ty.shape.get(..*axis)?)?;
                let n = *x_ty.shape.get(*axis)?;
                let inner = product(x_ty.shape.get(axis + 1..)?)?;
                let r = fresh(p.types.get(*out)?)?;
                *regions.get_mut(*out)? = Some(r);
                let fits = idx_dtype.is_int()
                    && r.dtype == x.dtype
                    && Some(r.len) == outer.checked_mul(m).and_then(|k| k.checked_mul(inner));
                if !fits {
                    return None;
                }
                steps.push(FrameStep::Take(Take {
                    x,
                    idx,
                    out: r,
                    outer,
                    n,
                    inner,
                    m,
                    label: step_label(&p.name, i, step),
                }));
            }
            (Step::Eqn { args, outputs, .. }, StepCode::Control(c)) => {
                let args = args
                    .iter()
                    .map(|a| src(&regions, a))
                    .collect::<Option<Vec<_>>>()?;
                let mut outs = Vec::with_capacity(outputs.len());
                for &s in outputs {
                    let r = fresh(p.types.get(s)?)?;
                    *regions.get_mut(s)? = Some(r);
                    outs.push(r);
                }
                if !c.fits_frame(&args, &outs) {
                    return None;
                }
                steps.push(FrameStep::Control {
                    step: i,
                    args,
                    outs,
                });
            }
            (Step::Kernel { .. }, StepCode::Plain | StepCode::Control(_))
            | (
                Step::View { .. } | Step::Const { .. },
                StepCode::Kernel(_) | StepCode::Control(_),
            )
            | (Step::Eqn { .. }, StepCode::Kernel(_))
            // Row passes are for matrices far larger than a frame holds.
            | (_, StepCode::RowPass(_) | StepCode::InRowPass) => return None,
        }
    }
    let results = p
        .results
        .iter()
        .map(|o| src(&regions, o))
        .collect::<Option<Vec<_>>>()?;
    Some(FrameProgram {
        cells: next,
        params,
        results,
        consts,
        steps,
    })
}

/// What running a frame program needs: its frame, scratch space for kernel calls, and
/// the state of its control-flow steps. Made once per loop, reused by every iteration.
pub(crate) struct State {
    pub(crate) cells: Vec<Cell>,
    ptrs: Vec<*mut u8>,
    /// Per frame step, the state of a control-flow step.
    nested: Vec<Option<ControlState>>,
}

impl State {
    /// A frame for `c` with its constants written.
    pub(crate) fn new(c: &Compiled) -> Result<State> {
        let f = frame_of(c)?;
        let mut cells = vec![Cell::default(); f.cells];
        for (r, value) in &f.consts {
            write_data(&mut cells, *r, value.data(), 0)?;
        }
        let nested = f
            .steps
            .iter()
            .map(|s| match s {
                FrameStep::Kernel { .. } | FrameStep::Take(_) => Ok(None),
                FrameStep::Control { step, .. } => match c.code.get(*step) {
                    Some(StepCode::Control(ctl)) => ctl.frame_state().map(Some),
                    Some(
                        StepCode::Plain
                        | StepCode::Kernel(_)
                        | StepCode::RowPass(_)
                        | StepCode::InRowPass,
                    )
                    | None => Err(CpuError::internal(
                        "a frame control step is not control flow",
                    )),
                },
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(State {
            cells,
            ptrs: Vec::new(),
            nested,
        })
    }
}

/// The frame program of `c`, which the caller knows to have one.
pub(crate) fn frame_of(c: &Compiled) -> Result<&FrameProgram> {
    c.frame
        .as_ref()
        .ok_or_else(|| CpuError::internal("a program without a frame run in one"))
}

/// Runs `c` in `state`: parameters are read from, and results left in, its regions.
pub(crate) fn run(
    c: &Compiled,
    state: &mut State,
    mut profile: Option<&mut Profile>,
) -> Result<()> {
    let f = frame_of(c)?;
    let State {
        cells,
        ptrs,
        nested,
    } = state;
    for (k, step) in f.steps.iter().enumerate() {
        match step {
            FrameStep::Kernel {
                step,
                binding,
                label,
            } => {
                let Some(StepCode::Kernel(ck)) = c.code.get(*step) else {
                    return Err(CpuError::internal("a frame kernel step is not a kernel"));
                };
                let started = profile.as_ref().map(|_| Instant::now());
                ck.jit().call_frame(cells, binding, ptrs)?;
                if let (Some(p), Some(t)) = (profile.as_deref_mut(), started) {
                    p.record(label, t.elapsed().as_secs_f64());
                }
            }
            FrameStep::Control { step, args, outs } => {
                let (Some(StepCode::Control(ctl)), Some(Some(st))) =
                    (c.code.get(*step), nested.get_mut(k))
                else {
                    return Err(CpuError::internal("a frame control step without its state"));
                };
                ctl.run_in_frame(st, cells, args, outs, profile.as_deref_mut())?;
            }
            FrameStep::Take(t) => {
                let started = profile.as_ref().map(|_| Instant::now());
                t.run(cells)?;
                if let (Some(p), Some(started)) = (profile.as_deref_mut(), started) {
                    p.record(&t.label, started.elapsed().as_secs_f64());
                }
            }
        }
    }
    Ok(())
}

impl Take {
    fn run(&self, cells: &mut [Cell]) -> Result<()> {
        if self.n == 0 {
            // Gathering from an empty axis gives zeros (all-zero bytes in every dtype).
            let cells = cells
                .get_mut(self.out.cell..self.out.end())
                .ok_or_else(out_of_frame)?;
            cells.fill(Cell::default());
            return Ok(());
        }
        let last = self.n as i64 - 1;
        for j in 0..self.m {
            let k = index(cells, &self.idx, j)?.clamp(0, last) as usize;
            for o in 0..self.outer {
                let from = (o * self.n + k) * self.inner;
                let at = (o * self.m + j) * self.inner;
                copy_elements(cells, self.x, from, self.out, at, self.inner)?;
            }
        }
        Ok(())
    }
}

/// Element `j` of an integer value, widened.
fn index(cells: &[Cell], v: &Src, j: usize) -> Result<i64> {
    let Src::Region(r) = *v else {
        return match v {
            Src::Lit(x) if x.dtype().is_int() && j == 0 => Ok(x.as_i64()),
            Src::Lit(_) | Src::Region(_) => Err(out_of_frame()),
        };
    };
    if j >= r.len {
        return Err(out_of_frame());
    }
    let size = r.dtype.size_bytes();
    let b = elem_bytes(cells, r.cell * 8 + j * size, size).ok_or_else(out_of_frame)?;
    match r.dtype {
        DType::I32 => Ok(i64::from(i32::decode(b))),
        DType::I64 => Ok(i64::decode(b)),
        DType::U32 => Ok(i64::from(u32::decode(b))),
        DType::Bool | DType::F32 | DType::F64 => Err(CpuError::internal(format!(
            "a {} index in a frame",
            r.dtype
        ))),
    }
}

/// Copies `n` elements from element `from` of region `sr` to element `at` of region
/// `dr`, both in `cells` (not overlapping).
fn copy_elements(
    cells: &mut [Cell],
    sr: Region,
    from: usize,
    dr: Region,
    at: usize,
    n: usize,
) -> Result<()> {
    let (sp, dp, size) = copy_offsets(sr, from, dr, at, n)?;
    for e in 0..n {
        let mut tmp = [0u8; 8];
        let s = elem_bytes(cells, sp + e * size, size).ok_or_else(out_of_frame)?;
        for (t, b) in tmp.iter_mut().zip(s) {
            *t = *b;
        }
        let d = elem_bytes_mut(cells, dp + e * size, size).ok_or_else(out_of_frame)?;
        for (b, t) in d.iter_mut().zip(tmp) {
            *b = t;
        }
    }
    Ok(())
}

/// For a copy of `n` elements from element `from` of `sr` to element `at` of `dr`: the
/// byte offsets of its source and destination in their cells, and the element size.
/// Fails unless both regions hold the same dtype and every element copied, so the
/// offsets stay within the regions.
fn copy_offsets(
    sr: Region,
    from: usize,
    dr: Region,
    at: usize,
    n: usize,
) -> Result<(usize, usize, usize)> {
    if sr.dtype != dr.dtype {
        return Err(dtype_mismatch(sr.dtype, dr.dtype));
    }
    let fits = |r: &Region, start: usize| start.checked_add(n).is_some_and(|end| end <= r.len);
    if !fits(&sr, from) || !fits(&dr, at) {
        return Err(out_of_frame());
    }
    let size = sr.dtype.size_bytes();
    Ok((sr.cell * 8 + from * size, dr.cell * 8 + at * size, size))
}

fn out_of_frame() -> CpuError {
    CpuError::internal("a value reaches past its frame region")
}

/// An element type as bytes in a frame (native byte order).
trait Elem: Copy {
    const SIZE: usize;
    fn encode(self, out: &mut [u8]);
    fn decode(bytes: &[u8]) -> Self;
}

impl Elem for bool {
    const SIZE: usize = 1;
    fn encode(self, out: &mut [u8]) {
        out.fill(self as u8);
    }
    fn decode(bytes: &[u8]) -> bool {
        bytes.first().is_some_and(|&b| b != 0)
    }
}

macro_rules! number_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn encode(self, out: &mut [u8]) {
                for (o, b) in out.iter_mut().zip(self.to_ne_bytes()) {
                    *o = b;
                }
            }
            fn decode(bytes: &[u8]) -> $t {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                for (o, i) in b.iter_mut().zip(bytes) {
                    *o = *i;
                }
                <$t>::from_ne_bytes(b)
            }
        }
    )*};
}
number_elem!(i32, i64, u32, f32, f64);

/// The bytes of the element at byte `p` of a frame (elements never straddle cells:
/// regions start on a cell and every dtype's size divides 8).
fn elem_bytes(cells: &[Cell], p: usize, size: usize) -> Option<&[u8]> {
    cells.get(p / 8)?.0.get(p % 8..p % 8 + size)
}

fn elem_bytes_mut(cells: &mut [Cell], p: usize, size: usize) -> Option<&mut [u8]> {
    cells.get_mut(p / 8)?.0.get_mut(p % 8..p % 8 + size)
}

fn store<T: Elem>(cells: &mut [Cell], r: Region, at: usize, vals: &[T]) -> Result<()> {
    if at.checked_add(vals.len()).is_none_or(|end| end > r.len) {
        return Err(out_of_frame());
    }
    let base = r.cell * 8 + at * T::SIZE;
    for (k, v) in vals.iter().enumerate() {
        let b = elem_bytes_mut(cells, base + k * T::SIZE, T::SIZE).ok_or_else(out_of_frame)?;
        v.encode(b);
    }
    Ok(())
}

fn load<T: Elem>(cells: &[Cell], r: Region, out: &mut [T]) -> Result<()> {
    if out.len() != r.len {
        return Err(out_of_frame());
    }
    let base = r.cell * 8;
    for (k, v) in out.iter_mut().enumerate() {
        *v = T::decode(elem_bytes(cells, base + k * T::SIZE, T::SIZE).ok_or_else(out_of_frame)?);
    }
    Ok(())
}

fn dtype_mismatch(got: DType, want: DType) -> CpuError {
    CpuError::internal(format!("a frame region of {want} given {got}"))
}

/// Elements `at..at + r.len`: the part of an array a region's elements go to or come
/// from.
fn elements(at: usize, r: Region) -> Result<std::ops::Range<usize>> {
    let end = at.checked_add(r.len).ok_or_else(out_of_frame)?;
    Ok(at..end)
}

/// Writes elements `from..from + r.len` of `data` into region `r`.
pub(crate) fn write_data(cells: &mut [Cell], r: Region, data: &Data, from: usize) -> Result<()> {
    macro_rules! write {
        ($($variant:ident),*) => {
            match data {
                $(Data::$variant(v) if r.dtype == DType::$variant => {
                    let part = v.get(elements(from, r)?).ok_or_else(out_of_frame)?;
                    store(cells, r, 0, part)
                })*
                _ => Err(dtype_mismatch(data.dtype(), r.dtype)),
            }
        };
    }
    write!(Bool, I32, I64, U32, F32, F64)
}

/// Reads region `r` into elements `at..at + r.len` of `data`.
pub(crate) fn read_data(cells: &[Cell], r: Region, data: &mut Data, at: usize) -> Result<()> {
    let dtype = data.dtype();
    macro_rules! read {
        ($($variant:ident),*) => {
            match data {
                $(Data::$variant(v) if r.dtype == DType::$variant => {
                    let part = v.get_mut(elements(at, r)?).ok_or_else(out_of_frame)?;
                    load(cells, r, part)
                })*
                _ => Err(dtype_mismatch(dtype, r.dtype)),
            }
        };
    }
    read!(Bool, I32, I64, U32, F32, F64)
}

/// Writes `x` into element `at` of region `r`.
pub(crate) fn write_lit(cells: &mut [Cell], r: Region, at: usize, x: Scalar) -> Result<()> {
    match x {
        Scalar::Bool(v) if r.dtype == DType::Bool => store(cells, r, at, &[v]),
        Scalar::I32(v) if r.dtype == DType::I32 => store(cells, r, at, &[v]),
        Scalar::I64(v) if r.dtype == DType::I64 => store(cells, r, at, &[v]),
        Scalar::U32(v) if r.dtype == DType::U32 => store(cells, r, at, &[v]),
        Scalar::F32(v) if r.dtype == DType::F32 => store(cells, r, at, &[v]),
        Scalar::F64(v) if r.dtype == DType::F64 => store(cells, r, at, &[v]),
        _ => Err(dtype_mismatch(x.dtype(), r.dtype)),
    }
}

/// The value of a bool scalar (a predicate or a loop condition).
pub(crate) fn truth(cells: &[Cell], v: &Src) -> Result<bool> {
    match *v {
        Src::Region(r) if r.dtype == DType::Bool && r.len == 1 => {
            let b = elem_bytes(cells, r.cell * 8, 1).ok_or_else(out_of_frame)?;
            Ok(bool::decode(b))
        }
        Src::Lit(Scalar::Bool(b)) => Ok(b),
        Src::Region(_) | Src::Lit(_) => Err(CpuError::internal(
            "a predicate in a frame is not a bool scalar",
        )),
    }
}

/// Copies `n` elements from element `from` of region `sr` of `src` to element `at` of
/// region `dr` of `dst`.
pub(crate) fn copy(
    src: &[Cell],
    sr: Region,
    from: usize,
    dst: &mut [Cell],
    dr: Region,
    at: usize,
    n: usize,
) -> Result<()> {
    let (sp, dp, size) = copy_offsets(sr, from, dr, at, n)?;
    let bytes = n * size;
    if sp % 8 == 0 && dp % 8 == 0 {
        // Whole cells at once; only a last partial cell goes byte by byte.
        let (sc, dc, whole) = (sp / 8, dp / 8, bytes / 8);
        let s = src.get(sc..sc + whole).ok_or_else(out_of_frame)?;
        let d = dst.get_mut(dc..dc + whole).ok_or_else(out_of_frame)?;
        if let ([s], [d]) = (s, &mut *d) {
            // One scalar: a move, not a call to `memmove`.
            *d = *s;
        } else {
            d.copy_from_slice(s);
        }
        for b in whole * 8..bytes {
            let v = *elem_bytes(src, sp + b, 1)
                .and_then(<[u8]>::first)
                .ok_or_else(out_of_frame)?;
            elem_bytes_mut(dst, dp + b, 1)
                .ok_or_else(out_of_frame)?
                .fill(v);
        }
    } else {
        for b in 0..bytes {
            let v = *elem_bytes(src, sp + b, 1)
                .and_then(<[u8]>::first)
                .ok_or_else(out_of_frame)?;
            elem_bytes_mut(dst, dp + b, 1)
                .ok_or_else(out_of_frame)?
                .fill(v);
        }
    }
    Ok(())
}

/// Writes `v` (read from `src` when a region) into element `at` onwards of region `dr`
/// of `dst`.
pub(crate) fn put(src: &[Cell], v: &Src, dst: &mut [Cell], dr: Region, at: usize) -> Result<()> {
    match *v {
        Src::Region(r) => copy(src, r, 0, dst, dr, at, r.len),
        Src::Lit(x) => write_lit(dst, dr, at, x),
    }
}

/// Carries moved from a body's results to its carry parameters, in place, by moves
/// worked out once per loop. A carry passed through unchanged is not moved at all.
/// When a result is (or is a view of) another carry's parameter — carries swapped,
/// say — results are gathered into `scratch` before any parameter is written;
/// otherwise each goes straight to its parameter.
pub(crate) struct Carries {
    scratch: Vec<Cell>,
    /// Into `scratch` (or, with no scratch, straight into the parameters).
    gather: Vec<Move>,
    /// From `scratch` into the parameters.
    scatter: Vec<Move>,
}

/// One carry's move.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// `n` cells from cell `from` to cell `to`: whole cells, since a region owns the
    /// cells it spans (their padding included).
    Cells {
        from: usize,
        to: usize,
        n: usize,
    },
    Lit {
        to: Region,
        x: Scalar,
    },
}

impl Carries {
    /// The moves of `results` into `params` (carries of the same types, in order).
    pub(crate) fn new(results: &[Src], params: &[Region]) -> Carries {
        let overlap = |a: &Region, b: &Region| a.cell < b.end() && b.cell < a.end();
        let through_scratch = results.iter().enumerate().any(|(j, v)| match v {
            Src::Region(r) => params
                .iter()
                .enumerate()
                .any(|(k, p)| k != j && overlap(r, p)),
            Src::Lit(_) => false,
        });
        let (mut gather, mut scatter) = (Vec::new(), Vec::new());
        let mut next = 0;
        for (v, p) in results.iter().zip(params) {
            let to = if through_scratch {
                let s = Region { cell: next, ..*p };
                next += s.cells();
                scatter.push(Move::Cells {
                    from: s.cell,
                    to: p.cell,
                    n: p.cells(),
                });
                s
            } else {
                *p
            };
            match v {
                Src::Region(r) if r == p && !through_scratch => {}
                Src::Region(r) => gather.push(Move::Cells {
                    from: r.cell,
                    to: to.cell,
                    n: r.cells().min(to.cells()),
                }),
                Src::Lit(x) => gather.push(Move::Lit { to, x: *x }),
            }
        }
        Carries {
            scratch: vec![Cell::default(); next],
            gather,
            scatter,
        }
    }

    /// Moves the results into the parameters (regions of `cells`, the frame the moves
    /// were made for).
    pub(crate) fn update(&mut self, cells: &mut [Cell]) -> Result<()> {
        if self.scatter.is_empty() {
            for m in &self.gather {
                match *m {
                    Move::Cells { from, to, n } => {
                        let end = from.max(to).checked_add(n);
                        if end.is_none_or(|e| e > cells.len()) {
                            return Err(out_of_frame());
                        }
                        if n == 1 {
                            // One scalar: a move, not a call to `memmove`.
                            cells[to] = cells[from];
                        } else {
                            cells.copy_within(from..from + n, to);
                        }
                    }
                    Move::Lit { to, x } => write_lit(cells, to, 0, x)?,
                }
            }
            return Ok(());
        }
        for m in &self.gather {
            match *m {
                Move::Cells { from, to, n } => move_cells(cells, from, &mut self.scratch, to, n)?,
                Move::Lit { to, x } => write_lit(&mut self.scratch, to, 0, x)?,
            }
        }
        for m in &self.scatter {
            match *m {
                Move::Cells { from, to, n } => move_cells(&self.scratch, from, cells, to, n)?,
                Move::Lit { to, x } => write_lit(cells, to, 0, x)?,
            }
        }
        Ok(())
    }
}

/// Copies cells `from..from + n` of `src` to `to..to + n` of `dst`.
fn move_cells(src: &[Cell], from: usize, dst: &mut [Cell], to: usize, n: usize) -> Result<()> {
    let s = from
        .checked_add(n)
        .and_then(|e| src.get(from..e))
        .ok_or_else(out_of_frame)?;
    let d = to
        .checked_add(n)
        .and_then(|e| dst.get_mut(to..e))
        .ok_or_else(out_of_frame)?;
    d.copy_from_slice(s);
    Ok(())
}
