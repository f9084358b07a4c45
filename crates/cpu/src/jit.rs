//! The one place that touches machine code: owns the Cranelift JIT modules, turns a
//! finalized kernel function into [`JitKernel`], and is the only caller of its raw
//! function pointer.
//!
//! Calling generated code is safe because [`JitKernel::call`] checks every buffer
//! against the kernel's [`Footprint`] (the element range each input can be read at,
//! the dtype and length of each output chunk, the work range) before entering it, and
//! [`JitKernel::call_frame`] runs only on regions of a frame that
//! [`JitKernel::bind_frame`] checked the same way (once, for a loop body run many
//! times).
//! What remains trusted is code generation itself: that the function reads inputs only
//! at iteration points of the kernel through the kernel's strides, writes `output[i]`
//! for every work item `i` in the range it is given and nothing else (outputs start
//! uninitialised), and stores only 0 or 1 into
//! bool outputs. The codegen tests hold it to that.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId};
use nabla_ir::canonical::BLOCK;
use nabla_ir::{DType, Data};

use crate::error::{CpuError, Result};
use crate::kernel::{Kernel, Output};

/// The signature of every kernel function: input base pointers then output pointers,
/// and the half-open range of work items to compute.
type Entry = unsafe extern "C" fn(*const *mut u8, u64, u64);

/// The host ISA, detected once; every module shares it.
fn host_isa() -> Result<OwnedTargetIsa> {
    static ISA: OnceLock<std::result::Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        // cranelift-jit needs absolute addresses: code and libcalls live anywhere.
        // Frames larger than a page (the cipher runs' buffers) touch each page in
        // turn, so a thread's guard page is never stepped over. The IR verifier
        // checks our code generator, which the test builds (debug) do on every
        // kernel; release builds skip it, a fifth of a kernel's compile time.
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        for (name, value) in [
            ("opt_level", "speed"),
            ("enable_verifier", verify),
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
            ("enable_probestack", "true"),
            ("probestack_strategy", "inline"),
        ] {
            flags.set(name, value).map_err(|e| e.to_string())?;
        }
        let isa = cranelift_native::builder().map_err(|e| e.to_string())?;
        isa.finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| CpuError::unsupported(format!("no native code generator for this host: {e}")))
}

/// A JIT module being filled with one kernel function; [`JitSession::finish`] makes it
/// executable.
pub struct JitSession {
    module: JITModule,
}

impl JitSession {
    /// A fresh module that resolves the given symbols (name, address) for imported
    /// functions.
    pub fn new(symbols: &[(&'static str, *const u8)]) -> Result<JitSession> {
        let mut builder = JITBuilder::with_isa(host_isa()?, default_libcall_names());
        builder.symbols(symbols.iter().copied());
        Ok(JitSession {
            module: JITModule::new(builder),
        })
    }

    pub fn module(&mut self) -> &mut JITModule {
        &mut self.module
    }

    /// Links and finalizes the module; `func` must have been defined in it with the
    /// [`Entry`] signature for a kernel with this footprint.
    pub fn finish(mut self, func: FuncId, footprint: Footprint) -> Result<JitKernel> {
        self.module
            .finalize_definitions()
            .map_err(|e| CpuError::internal(format!("linking a kernel: {e}")))?;
        let code = self.module.get_finalized_function(func);
        // SAFETY: `code` is the start of a function Cranelift just compiled and
        // finalized (mapped executable) with the `Entry` signature and the host's
        // default calling convention, which is `extern "C"`; the memory stays mapped
        // until `Owned::drop`, and the pointer never leaves the `JitKernel` that owns
        // the module.
        let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
        // Relaxed: the counter only has to hand out distinct numbers.
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(JitKernel {
            entry,
            footprint,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            _module: Mutex::new(Owned(Some(self.module))),
        })
    }
}

/// Frees a module's code when the kernel using it goes away (a `JITModule` leaks its
/// memory when merely dropped).
struct Owned(Option<JITModule>);

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: the only pointer into this module's code is the `entry` of the
            // `JitKernel` being dropped (this is its field), so nothing can call into
            // the memory after it is freed.
            unsafe { module.free_memory() };
        }
    }
}

/// What a kernel function may touch, derived from the kernel alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Footprint {
    /// Per input: its dtype and the inclusive range of element indices the iteration
    /// space reaches (`None` when the space is empty).
    pub inputs: Vec<(DType, Option<(i128, i128)>)>,
    /// Per output: the dtype of one work item's result.
    pub outputs: Vec<DType>,
    /// Work items: iteration points for store kernels, (result, block) pairs for
    /// reduce kernels.
    pub items: usize,
    /// When the work items are exactly the indices of the leading axis (a store kernel
    /// over one axis, or a reduction over the trailing axes in one block): that axis'
    /// length. Such a kernel can be run row range by row range ([`JitKernel::call_rows`]).
    pub rows: Option<usize>,
    /// Per input: whether it is read at the current row only (element `i` at row `i`:
    /// stride 1 along the leading axis, 0 along the others, no offset).
    pub row_indexed: Vec<bool>,
    /// Per input: whether work item `i` of this store kernel reads element `i` of it and
    /// no other (row-major strides of the iteration space, no offset, as long as the
    /// space), so an output may be written over it ([`KernelInput::InPlace`]).
    pub in_place: Vec<bool>,
}

impl Footprint {
    /// The footprint of a kernel whose outputs are all stores or all reductions over
    /// the same trailing axes (what code generation accepts).
    pub fn of(kernel: &Kernel) -> Result<Footprint> {
        let dtype_of = |node: usize| {
            kernel
                .dtypes
                .get(node)
                .copied()
                .ok_or_else(|| CpuError::internal(format!("output of missing node {node}")))
        };
        let mut outputs = Vec::with_capacity(kernel.outputs.len());
        let mut nreduce = None;
        for out in &kernel.outputs {
            let (node, n) = match *out {
                Output::Store { node } => (node, None),
                Output::Reduce { node, nreduce, .. } => (node, Some(nreduce)),
            };
            if outputs.is_empty() {
                nreduce = n;
            } else if nreduce != n {
                return Err(CpuError::unsupported(
                    "a kernel mixing stores and reductions, or reductions over different axes",
                ));
            }
            outputs.push(dtype_of(node)?);
        }
        let rank = kernel.shape.len();
        let items = match nreduce {
            None => checked_product(&kernel.shape)?,
            Some(n) if n <= rank => {
                let results = checked_product(&kernel.shape[..rank - n])?;
                let k = checked_product(&kernel.shape[rank - n..])?;
                results
                    .checked_mul(k.div_ceil(BLOCK).max(1))
                    .ok_or_else(|| CpuError::unsupported("a kernel with too many work items"))?
            }
            Some(n) => {
                return Err(CpuError::internal(format!(
                    "a reduction over {n} axes of a rank-{rank} kernel"
                )))
            }
        };
        let empty = kernel.shape.contains(&0);
        let mut inputs = Vec::with_capacity(kernel.inputs.len());
        for (i, input) in kernel.inputs.iter().enumerate() {
            if input.strides.len() != rank {
                return Err(CpuError::internal(format!(
                    "input {i} has {} strides for a rank-{rank} kernel",
                    input.strides.len()
                )));
            }
            let reach = (!empty).then(|| {
                let mut lo = input.offset as i128;
                let mut hi = input.offset as i128;
                for (&n, &s) in kernel.shape.iter().zip(&input.strides) {
                    let span = (n as i128 - 1) * s as i128;
                    lo += span.min(0);
                    hi += span.max(0);
                }
                (lo, hi)
            });
            inputs.push((input.dtype, reach));
        }
        let rows = kernel
            .shape
            .first()
            .copied()
            .filter(|&n| items == n && !(rank == 1 && nreduce.is_some()));
        let row_indexed = kernel
            .inputs
            .iter()
            .map(|input| {
                input.offset == 0
                    && input.strides.first() == Some(&1)
                    && input.strides[1..].iter().all(|&s| s == 0)
            })
            .collect();
        let mut row_major = vec![0isize; rank];
        let mut step = 1isize;
        for (st, &n) in row_major.iter_mut().zip(&kernel.shape).rev() {
            *st = step;
            step = step.saturating_mul(n as isize);
        }
        let in_place = kernel
            .inputs
            .iter()
            .map(|input| {
                nreduce.is_none()
                    && input.offset == 0
                    && input.len == items
                    && kernel
                        .shape
                        .iter()
                        .zip(input.strides.iter().zip(&row_major))
                        .all(|(&n, (&s, &r))| n == 1 || s == r)
            })
            .collect();
        Ok(Footprint {
            inputs,
            outputs,
            items,
            rows,
            row_indexed,
            in_place,
        })
    }
}

fn checked_product(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| CpuError::unsupported("an iteration space too large to index"))
}

/// An input buffer.
#[derive(Clone, Copy, Debug)]
pub enum Buf<'a> {
    Bool(&'a [bool]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U32(&'a [u32]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// An output buffer: exactly the work items of one call.
#[derive(Debug)]
pub enum BufMut<'a> {
    Bool(&'a mut [MaybeUninit<bool>]),
    I32(&'a mut [MaybeUninit<i32>]),
    I64(&'a mut [MaybeUninit<i64>]),
    U32(&'a mut [MaybeUninit<u32>]),
    F32(&'a mut [MaybeUninit<f32>]),
    F64(&'a mut [MaybeUninit<f64>]),
}

/// A kernel's output storage, reserved but not initialised: outputs are written once by
/// the generated code, so zero-filling them first would only double the memory traffic
/// (and fault every page in on one thread).
#[derive(Debug)]
pub struct Outputs {
    /// Empty vectors with capacity for `items` elements each, until filled.
    data: Vec<Data>,
    items: usize,
    filled: bool,
}

/// One call's share of a [`JitKernel::fill`]: work items `start..end` and the chunk of
/// every output holding them.
#[derive(Debug)]
pub struct Task<'a> {
    pub start: usize,
    pub end: usize,
    bufs: Vec<BufMut<'a>>,
}

impl Outputs {
    /// Reserves `items` elements of each dtype.
    pub fn new(dtypes: &[DType], items: usize) -> Result<Outputs> {
        fn reserve<T>(n: usize) -> Result<Vec<T>> {
            let mut v = Vec::new();
            v.try_reserve_exact(n)
                .map_err(|e| CpuError::unsupported(format!("allocating {n} elements: {e}")))?;
            Ok(v)
        }
        let data = dtypes
            .iter()
            .map(|d| {
                Ok(match d {
                    DType::Bool => Data::Bool(reserve(items)?),
                    DType::I32 => Data::I32(reserve(items)?),
                    DType::I64 => Data::I64(reserve(items)?),
                    DType::U32 => Data::U32(reserve(items)?),
                    DType::F32 => Data::F32(reserve(items)?),
                    DType::F64 => Data::F64(reserve(items)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Outputs {
            data,
            items,
            filled: false,
        })
    }

    /// [`Outputs::new`], with output `o` of each `(o, data)` stored in `data`'s buffer
    /// (the elements of a dead input the kernel reads in place).
    pub fn reusing(dtypes: &[DType], items: usize, reused: Vec<(usize, Data)>) -> Result<Outputs> {
        let mut outputs = Outputs::new(&[], items)?;
        let mut reused: Vec<Option<Data>> = {
            let mut v: Vec<Option<Data>> = dtypes.iter().map(|_| None).collect();
            for (o, data) in reused {
                match v.get_mut(o) {
                    Some(slot @ None) if data.dtype() == dtypes[o] && data.len() == items => {
                        *slot = Some(data)
                    }
                    _ => {
                        return Err(CpuError::internal(format!(
                            "output {o} cannot reuse {} elements of {}",
                            data.len(),
                            data.dtype()
                        )))
                    }
                }
            }
            v
        };
        for (o, &d) in dtypes.iter().enumerate() {
            let data = match reused[o].take() {
                // Emptied, the vector keeps its buffer (and, being plain numbers, its
                // elements) for the kernel to read and overwrite.
                Some(mut data) => {
                    match &mut data {
                        Data::Bool(v) => v.clear(),
                        Data::I32(v) => v.clear(),
                        Data::I64(v) => v.clear(),
                        Data::U32(v) => v.clear(),
                        Data::F32(v) => v.clear(),
                        Data::F64(v) => v.clear(),
                    }
                    data
                }
                None => Outputs::new(&[d], items)?.data.remove(0),
            };
            outputs.data.push(data);
        }
        Ok(outputs)
    }

    /// The outputs, once [`JitKernel::fill`] has written every item.
    pub fn into_data(self) -> Result<Vec<Data>> {
        if !self.filled {
            return Err(CpuError::internal(
                "kernel outputs read before they were written",
            ));
        }
        Ok(self.data)
    }

    /// Disjoint chunks of every output's reserved storage, one task per range (ranges
    /// are contiguous and increasing from 0).
    fn tasks(&mut self, ranges: &[(usize, usize)]) -> Vec<Task<'_>> {
        fn cut<'a, T>(
            v: &'a mut Vec<T>,
            items: usize,
            ranges: &[(usize, usize)],
            wrap: fn(&'a mut [MaybeUninit<T>]) -> BufMut<'a>,
        ) -> Vec<BufMut<'a>> {
            let mut rest = &mut v.spare_capacity_mut()[..items];
            let mut out = Vec::with_capacity(ranges.len());
            for &(s, e) in ranges {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(e - s);
                out.push(wrap(head));
                rest = tail;
            }
            out
        }
        let items = self.items;
        let mut tasks: Vec<Task> = ranges
            .iter()
            .map(|&(start, end)| Task {
                start,
                end,
                bufs: Vec::new(),
            })
            .collect();
        for data in self.data.iter_mut() {
            let chunks = match data {
                Data::Bool(v) => cut(v, items, ranges, BufMut::Bool),
                Data::I32(v) => cut(v, items, ranges, BufMut::I32),
                Data::I64(v) => cut(v, items, ranges, BufMut::I64),
                Data::U32(v) => cut(v, items, ranges, BufMut::U32),
                Data::F32(v) => cut(v, items, ranges, BufMut::F32),
                Data::F64(v) => cut(v, items, ranges, BufMut::F64),
            };
            for (task, chunk) in tasks.iter_mut().zip(chunks) {
                task.bufs.push(chunk);
            }
        }
        tasks
    }

    /// Marks every reserved element written.
    ///
    /// # Safety
    /// Every element `0..items` of every output must have been initialised.
    unsafe fn assume_filled(&mut self) {
        let n = self.items;
        // SAFETY: the caller guarantees elements `0..n` are initialised, and each vector
        // was reserved with capacity `n`.
        unsafe {
            for data in self.data.iter_mut() {
                match data {
                    Data::Bool(v) => v.set_len(n),
                    Data::I32(v) => v.set_len(n),
                    Data::I64(v) => v.set_len(n),
                    Data::U32(v) => v.set_len(n),
                    Data::F32(v) => v.set_len(n),
                    Data::F64(v) => v.set_len(n),
                }
            }
        }
        self.filled = true;
    }
}

macro_rules! buf_common {
    ($ty:ident, $as_ptr:ident) => {
        impl $ty<'_> {
            pub fn dtype(&self) -> DType {
                match self {
                    $ty::Bool(_) => DType::Bool,
                    $ty::I32(_) => DType::I32,
                    $ty::I64(_) => DType::I64,
                    $ty::U32(_) => DType::U32,
                    $ty::F32(_) => DType::F32,
                    $ty::F64(_) => DType::F64,
                }
            }

            pub fn len(&self) -> usize {
                match self {
                    $ty::Bool(v) => v.len(),
                    $ty::I32(v) => v.len(),
                    $ty::I64(v) => v.len(),
                    $ty::U32(v) => v.len(),
                    $ty::F32(v) => v.len(),
                    $ty::F64(v) => v.len(),
                }
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }
    };
}
buf_common!(Buf, as_ptr);
buf_common!(BufMut, as_mut_ptr);

impl Buf<'_> {
    fn ptr(&self) -> *mut u8 {
        match self {
            Buf::Bool(v) => v.as_ptr().cast_mut().cast(),
            Buf::I32(v) => v.as_ptr().cast_mut().cast(),
            Buf::I64(v) => v.as_ptr().cast_mut().cast(),
            Buf::U32(v) => v.as_ptr().cast_mut().cast(),
            Buf::F32(v) => v.as_ptr().cast_mut().cast(),
            Buf::F64(v) => v.as_ptr().cast_mut().cast(),
        }
    }
}

impl BufMut<'_> {
    fn ptr(&mut self) -> *mut u8 {
        match self {
            BufMut::Bool(v) => v.as_mut_ptr().cast(),
            BufMut::I32(v) => v.as_mut_ptr().cast(),
            BufMut::I64(v) => v.as_mut_ptr().cast(),
            BufMut::U32(v) => v.as_mut_ptr().cast(),
            BufMut::F32(v) => v.as_mut_ptr().cast(),
            BufMut::F64(v) => v.as_mut_ptr().cast(),
        }
    }
}

/// A mutable slice of one dtype: the rows of a buffer that [`JitKernel::call_rows`]
/// writes.
#[derive(Debug)]
pub enum SliceMut<'a> {
    Bool(&'a mut [bool]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    U32(&'a mut [u32]),
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

impl SliceMut<'_> {
    pub fn dtype(&self) -> DType {
        self.as_buf().dtype()
    }

    pub fn len(&self) -> usize {
        self.as_buf().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slice read-only, for a later kernel that reads these rows.
    pub fn as_buf(&self) -> Buf<'_> {
        match self {
            SliceMut::Bool(v) => Buf::Bool(v),
            SliceMut::I32(v) => Buf::I32(v),
            SliceMut::I64(v) => Buf::I64(v),
            SliceMut::U32(v) => Buf::U32(v),
            SliceMut::F32(v) => Buf::F32(v),
            SliceMut::F64(v) => Buf::F64(v),
        }
    }

    fn ptr(&mut self) -> *mut u8 {
        match self {
            SliceMut::Bool(v) => v.as_mut_ptr().cast(),
            SliceMut::I32(v) => v.as_mut_ptr().cast(),
            SliceMut::I64(v) => v.as_mut_ptr().cast(),
            SliceMut::U32(v) => v.as_mut_ptr().cast(),
            SliceMut::F32(v) => v.as_mut_ptr().cast(),
            SliceMut::F64(v) => v.as_mut_ptr().cast(),
        }
    }
}

/// An input of [`JitKernel::call_rows`].
#[derive(Clone, Copy, Debug)]
pub enum RowInput<'a> {
    /// A whole buffer, read wherever the kernel reads it.
    Whole(Buf<'a>),
    /// Only the call's rows of a buffer the kernel reads at the current row.
    Rows(Buf<'a>),
}

/// An input of [`JitKernel::fill_in_place`].
#[derive(Clone, Copy, Debug)]
pub enum KernelInput<'a> {
    Buf(Buf<'a>),
    /// The elements held by output `o`'s storage before the kernel overwrites them
    /// ([`Outputs::reusing`]); only for inputs read [`Footprint::in_place`].
    InPlace(usize),
}

/// A compiled kernel function with the module that holds its code.
pub struct JitKernel {
    entry: Entry,
    footprint: Footprint,
    /// Distinct for every kernel made in the process: what a [`FrameBinding`] checks
    /// to be used with the kernel it was checked against.
    id: u64,
    // Kept only to own (and finally free) the code; the mutex makes the kernel `Sync`
    // (the module itself is `Send` but has interior mutability).
    _module: Mutex<Owned>,
}

impl std::fmt::Debug for JitKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitKernel")
            .field("footprint", &self.footprint)
            .finish_non_exhaustive()
    }
}

impl JitKernel {
    pub fn footprint(&self) -> &Footprint {
        &self.footprint
    }

    /// Computes every work item into `outputs`, split into `ranges` (contiguous from 0 to
    /// the kernel's item count). `run` gets one task per range and the function that
    /// computes a task, and must call it on every task (in any order, on any thread);
    /// the outputs count as written only when every item was.
    pub fn fill(
        &self,
        inputs: &[Buf],
        outputs: &mut Outputs,
        ranges: &[(usize, usize)],
        run: impl FnOnce(Vec<Task<'_>>, &(dyn Fn(Task<'_>) -> Result<()> + Sync)) -> Result<()>,
    ) -> Result<()> {
        let inputs: Vec<KernelInput> = inputs.iter().map(|&b| KernelInput::Buf(b)).collect();
        self.fill_in_place(&inputs, outputs, ranges, run)
    }

    /// [`JitKernel::fill`] where inputs may be read from the outputs' reused storage.
    pub fn fill_in_place(
        &self,
        inputs: &[KernelInput],
        outputs: &mut Outputs,
        ranges: &[(usize, usize)],
        run: impl FnOnce(Vec<Task<'_>>, &(dyn Fn(Task<'_>) -> Result<()> + Sync)) -> Result<()>,
    ) -> Result<()> {
        let items = self.footprint.items;
        let mut next = 0;
        for &(s, e) in ranges {
            if s != next || e < s {
                return Err(CpuError::internal("work ranges do not tile the items"));
            }
            next = e;
        }
        if next != items || outputs.items != items || outputs.filled {
            return Err(CpuError::internal(format!(
                "work ranges to {next} and outputs of {} items for a kernel of {items}",
                outputs.items
            )));
        }
        let written = AtomicUsize::new(0);
        let compute = |mut task: Task<'_>| -> Result<()> {
            self.call(inputs, &mut task.bufs, task.start, task.end)?;
            written.fetch_add(task.end - task.start, Ordering::Relaxed);
            Ok(())
        };
        run(outputs.tasks(ranges), &compute)?;
        // Tasks are moved into `compute`, so each ran at most once; their ranges tile
        // `0..items`, so the count reaches `items` only if every item was written.
        if written.load(Ordering::Relaxed) != items {
            return Err(CpuError::internal("a kernel's work was not all done"));
        }
        // SAFETY: every task's chunks were written whole by a successful `call` (whose
        // contract is to write every item of its range), and the tasks tile `0..items`.
        unsafe { outputs.assume_filled() };
        Ok(())
    }

    /// Computes rows `rows` of a kernel whose work items are its rows
    /// ([`Footprint::rows`]) into `outputs` (exactly those rows of each output). Inputs
    /// given as [`RowInput::Rows`] hold only those rows, so a pass that produces a
    /// row-indexed value chunk by chunk can feed each chunk on to the next kernel while
    /// it is in cache. Fails, without running anything, when a buffer does not fit.
    pub fn call_rows(
        &self,
        inputs: &[RowInput],
        outputs: &mut [SliceMut],
        rows: std::ops::Range<usize>,
    ) -> Result<()> {
        let fp = &self.footprint;
        match fp.rows {
            Some(n) if rows.start <= rows.end && rows.end <= n => {}
            _ => {
                return Err(CpuError::internal(format!(
                    "rows {rows:?} of a kernel whose work items are not rows 0..{:?}",
                    fp.rows
                )))
            }
        }
        check_arity(fp, inputs.len(), outputs.len())?;
        let count = rows.end - rows.start;
        let mut ptrs: Vec<*mut u8> = Vec::with_capacity(inputs.len() + outputs.len());
        for (i, (input, &(dtype, reach))) in inputs.iter().zip(&fp.inputs).enumerate() {
            let ptr = match *input {
                RowInput::Whole(buf) => {
                    check_input(i, dtype, reach, buf.dtype(), Some(buf.len()))?;
                    buf.ptr()
                }
                RowInput::Rows(buf) => {
                    if !fp.row_indexed[i] || buf.len() != count {
                        return Err(CpuError::internal(format!(
                            "input {i} given as {} rows is not read row by row",
                            buf.len()
                        )));
                    }
                    check_input(i, dtype, reach, buf.dtype(), None)?;
                    // Row `r` is read at element `r`; shifting the base by the first
                    // row lands it on the slice's first element (formed with wrapping
                    // arithmetic, never dereferenced outside the slice).
                    buf.ptr().wrapping_sub(rows.start * dtype.size_bytes())
                }
            };
            ptrs.push(ptr);
        }
        for (o, (out, &dtype)) in outputs.iter_mut().zip(&fp.outputs).enumerate() {
            check_output(o, dtype, count, out.dtype(), out.len())?;
            ptrs.push(out.ptr().wrapping_sub(rows.start * dtype.size_bytes()));
        }
        if count == 0 {
            return Ok(());
        }
        // SAFETY: `entry` is a finalized kernel function whose code is alive while
        // `self` is. Its work items are its rows, and it stores item `r` at element `r`
        // of each output, so rows `rows` land exactly on the given output slices (of
        // the right dtype and length, `&mut` borrows no other thread holds). Whole
        // inputs hold every element the iteration space reaches (checked above); row
        // inputs are read only at the current row (`row_indexed`), so within the given
        // slices. `ptrs` outlives the call, one pointer per input and output in order.
        unsafe { (self.entry)(ptrs.as_ptr(), rows.start as u64, rows.end as u64) };
        Ok(())
    }

    /// Computes work items `start..end`: `outputs[o]` holds exactly those items of
    /// output `o`. Fails, without running anything, when a buffer does not fit.
    fn call(
        &self,
        inputs: &[KernelInput],
        outputs: &mut [BufMut],
        start: usize,
        end: usize,
    ) -> Result<()> {
        let fp = &self.footprint;
        if start > end || end > fp.items {
            return Err(CpuError::internal(format!(
                "work range {start}..{end} outside 0..{}",
                fp.items
            )));
        }
        check_arity(fp, inputs.len(), outputs.len())?;
        for (i, (input, &(dtype, reach))) in inputs.iter().zip(&fp.inputs).enumerate() {
            match *input {
                KernelInput::Buf(buf) => {
                    check_input(i, dtype, reach, buf.dtype(), Some(buf.len()))?
                }
                KernelInput::InPlace(o) => match outputs.get(o) {
                    Some(out) if fp.in_place[i] => check_input(i, dtype, reach, out.dtype(), None)?,
                    _ => {
                        return Err(CpuError::internal(format!(
                            "input {i} read in place from output {o}, which it cannot be"
                        )))
                    }
                },
            }
        }
        for (o, (buf, &dtype)) in outputs.iter().zip(&fp.outputs).enumerate() {
            check_output(o, dtype, end - start, buf.dtype(), buf.len())?;
        }
        if start == end {
            return Ok(());
        }
        // The function stores item `i` at `base + i * size`; shifting the base by
        // `start` items lands item `start` on the chunk's first element. The shifted
        // pointer may lie outside the allocation, so it is only formed with wrapping
        // arithmetic and never dereferenced as such.
        let out_ptrs: Vec<*mut u8> = outputs
            .iter_mut()
            .map(|buf| {
                let size = buf.dtype().size_bytes();
                buf.ptr().wrapping_sub(start * size)
            })
            .collect();
        let mut ptrs: Vec<*mut u8> = inputs
            .iter()
            .map(|input| match *input {
                KernelInput::Buf(buf) => buf.ptr(),
                // Item `i` reads element `i` of the storage it then overwrites: the same
                // shifted base as the output's.
                KernelInput::InPlace(o) => out_ptrs[o],
            })
            .collect();
        ptrs.extend(out_ptrs);
        // SAFETY: `entry` is a finalized kernel function whose code is alive while
        // `self` is. Every input holds the kernel's dtype and every element the
        // iteration space can reach (checked above against the footprint), every output
        // chunk holds exactly the items `start..end` of the right dtype, and the
        // chunks are `&mut` borrows, so no other thread writes them. An input read in
        // place is read by item `i` at element `i` only (`in_place`), which lies in this
        // task's chunk of the output storage and holds the input's element until item
        // `i` overwrites it (the storage was initialised: `Outputs::reusing`). `ptrs`
        // outlives the call and holds one pointer per input and output in the kernel's
        // order.
        unsafe { (self.entry)(ptrs.as_ptr(), start as u64, end as u64) };
        Ok(())
    }
}

/// Checks that a kernel of footprint `fp` is given `inputs` and `outputs` buffers (or
/// regions) as it takes.
fn check_arity(fp: &Footprint, inputs: usize, outputs: usize) -> Result<()> {
    if inputs != fp.inputs.len() || outputs != fp.outputs.len() {
        return Err(CpuError::internal(format!(
            "a kernel of {} inputs and {} outputs given {inputs} and {outputs}",
            fp.inputs.len(),
            fp.outputs.len(),
        )));
    }
    Ok(())
}

/// Checks input `i`, which the kernel reads as `dtype` at elements `reach` of its
/// footprint, against a buffer of `found` holding `len` elements. `len` is `None` for
/// an input read only at the current work item (rows, in place), whose extent the
/// caller checks instead.
fn check_input(
    i: usize,
    dtype: DType,
    reach: Option<(i128, i128)>,
    found: DType,
    len: Option<usize>,
) -> Result<()> {
    if found != dtype {
        return Err(CpuError::internal(format!(
            "input {i} is {found} where the kernel reads {dtype}"
        )));
    }
    if let (Some((lo, hi)), Some(len)) = (reach, len) {
        if lo < 0 || hi >= len as i128 {
            return Err(CpuError::internal(format!(
                "input {i} is read at elements {lo}..={hi} but holds {len}"
            )));
        }
    }
    Ok(())
}

/// Checks output `o`, to which the kernel writes `count` elements of `dtype`, against
/// a buffer of `len` elements of `found`.
fn check_output(o: usize, dtype: DType, count: usize, found: DType, len: usize) -> Result<()> {
    if found != dtype || len != count {
        return Err(CpuError::internal(format!(
            "output {o} is {len} elements of {found} where {count} of {dtype} are written"
        )));
    }
    Ok(())
}

/// One 8-byte unit of a frame: aligned for every dtype, so a region starting at a cell
/// holds elements of any dtype at their natural alignment. Plain bytes: any contents
/// are valid, and Rust reads them back only by decoding bytes, never as typed values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct Cell(pub [u8; 8]);

/// A buffer inside a frame: `len` elements of `dtype` from the start of cell `cell`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub cell: usize,
    pub len: usize,
    pub dtype: DType,
}

impl Region {
    /// Bytes the elements take.
    pub fn bytes(&self) -> usize {
        self.len * self.dtype.size_bytes()
    }

    /// Cells the region spans.
    pub fn cells(&self) -> usize {
        self.bytes().div_ceil(8)
    }

    /// The cell just past the region.
    pub fn end(&self) -> usize {
        self.cell + self.cells()
    }

    fn byte_range(&self) -> (usize, usize) {
        (self.cell * 8, self.cell * 8 + self.bytes())
    }
}

/// Where a kernel's inputs and outputs lie in a frame, checked once against the
/// kernel's footprint (and tied to that kernel by its id): each input region holds
/// every element the kernel can read, each output region exactly its work items, and
/// no output overlaps another output or an input.
#[derive(Clone, Debug)]
pub struct FrameBinding {
    kernel: u64,
    items: usize,
    /// The first cell of every input, then of every output.
    cells: Vec<usize>,
    /// The frame must have at least this many cells.
    need: usize,
}

impl JitKernel {
    /// Binds the kernel to regions of a frame, or says why they do not fit it.
    pub fn bind_frame(&self, inputs: &[Region], outputs: &[Region]) -> Result<FrameBinding> {
        let fp = &self.footprint;
        check_arity(fp, inputs.len(), outputs.len())?;
        for (i, (r, &(dtype, reach))) in inputs.iter().zip(&fp.inputs).enumerate() {
            check_input(i, dtype, reach, r.dtype, Some(r.len))?;
        }
        for (o, (r, &dtype)) in outputs.iter().zip(&fp.outputs).enumerate() {
            check_output(o, dtype, fp.items, r.dtype, r.len)?;
        }
        let overlap = |a: &Region, b: &Region| {
            let ((a0, a1), (b0, b1)) = (a.byte_range(), b.byte_range());
            a0 < b1 && b0 < a1
        };
        for (o, out) in outputs.iter().enumerate() {
            let clash = inputs.iter().any(|r| overlap(out, r))
                || outputs[o + 1..].iter().any(|r| overlap(out, r));
            if clash {
                return Err(CpuError::internal(format!(
                    "output {o} of a kernel overlaps another of its buffers"
                )));
            }
        }
        let mut need = 0;
        for r in inputs.iter().chain(outputs) {
            let end = r
                .len
                .checked_mul(r.dtype.size_bytes())
                .and_then(|b| r.cell.checked_add(b.div_ceil(8)))
                .ok_or_else(|| CpuError::internal("a frame region past the address space"))?;
            need = need.max(end);
        }
        Ok(FrameBinding {
            kernel: self.id,
            items: fp.items,
            cells: inputs.iter().chain(outputs).map(|r| r.cell).collect(),
            need,
        })
    }

    /// Computes every work item, reading and writing `frame` where `binding` (made by
    /// [`JitKernel::bind_frame`] for this kernel) says. `ptrs` is scratch space for
    /// kernels of many buffers, kept by the caller so that a call in a loop allocates
    /// nothing once it has grown.
    pub fn call_frame(
        &self,
        frame: &mut [Cell],
        binding: &FrameBinding,
        ptrs: &mut Vec<*mut u8>,
    ) -> Result<()> {
        if binding.kernel != self.id {
            return Err(CpuError::internal(
                "a frame binding used with another kernel",
            ));
        }
        if frame.len() < binding.need {
            return Err(CpuError::internal(format!(
                "a frame of {} cells for a kernel reaching cell {}",
                frame.len(),
                binding.need
            )));
        }
        let items = binding.items;
        if items == 0 {
            return Ok(());
        }
        let base: *mut u8 = frame.as_mut_ptr().cast();
        // In bounds: every cell index is below `binding.need <= frame.len()`.
        let at = |c: &usize| base.wrapping_add(c * 8);
        // Most kernels take few buffers: their pointers go on the stack.
        let mut few = [std::ptr::null_mut::<u8>(); 16];
        let ptrs: &[*mut u8] = match few.get_mut(..binding.cells.len()) {
            Some(few) => {
                for (p, c) in few.iter_mut().zip(&binding.cells) {
                    *p = at(c);
                }
                few
            }
            None => {
                ptrs.clear();
                ptrs.extend(binding.cells.iter().map(at));
                ptrs
            }
        };
        // SAFETY: `entry` is a finalized kernel function whose code is alive while
        // `self` is. The binding was checked against this kernel's footprint (its id is
        // this kernel's, and ids are never reused): every input region has the kernel's
        // dtype and holds every element the iteration space can reach, every output
        // region holds exactly the `items` work items (the kernel's count, copied when
        // bound) written from item 0, and outputs overlap neither each other nor any
        // input. Every region lies inside `frame` (checked above against `need`),
        // starts 8-byte aligned (cells are), and `frame` is borrowed mutably, so
        // nothing else reads or writes it during the call. Frame bytes are plain
        // bytes: whatever the code stores, Rust only decodes them as bytes. `ptrs` holds
        // one pointer per input and output in the kernel's order and outlives the call.
        unsafe { (self.entry)(ptrs.as_ptr(), 0, items as u64) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn kernels_can_be_shared_across_threads() {
        assert_send_sync::<JitKernel>();
    }
}
