//! The one place that touches machine code: owns the Cranelift JIT modules, turns a
//! finalized kernel function into [`JitKernel`], and is the only caller of its raw
//! function pointer.
//!
//! Calling generated code is safe because [`JitKernel::call`] checks every buffer
//! against the kernel's [`Footprint`] (the element range each input can be read at,
//! the dtype and length of each output chunk, the work range) before entering it.
//! What remains trusted is code generation itself: that the function reads inputs only
//! at iteration points of the kernel through the kernel's strides, writes only
//! `output[i]` for work items `i` in the range it is given, and stores only 0 or 1 into
//! bool outputs. The codegen tests hold it to that.

use std::sync::{Mutex, OnceLock};

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId};
use nabla_ir::canonical::BLOCK;
use nabla_ir::DType;

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
        for (name, value) in [
            ("opt_level", "speed"),
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
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
        Ok(JitKernel {
            entry,
            footprint,
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
        Ok(Footprint {
            inputs,
            outputs,
            items,
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
    Bool(&'a mut [bool]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    U32(&'a mut [u32]),
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
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

/// A compiled kernel function with the module that holds its code.
pub struct JitKernel {
    entry: Entry,
    footprint: Footprint,
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

    /// Computes work items `start..end`: `outputs[o]` holds exactly those items of
    /// output `o`. Fails, without running anything, when a buffer does not fit.
    pub fn call(
        &self,
        inputs: &[Buf],
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
        if inputs.len() != fp.inputs.len() || outputs.len() != fp.outputs.len() {
            return Err(CpuError::internal(format!(
                "a kernel of {} inputs and {} outputs given {} and {}",
                fp.inputs.len(),
                fp.outputs.len(),
                inputs.len(),
                outputs.len()
            )));
        }
        for (i, (buf, &(dtype, reach))) in inputs.iter().zip(&fp.inputs).enumerate() {
            if buf.dtype() != dtype {
                return Err(CpuError::internal(format!(
                    "input {i} is {} where the kernel reads {dtype}",
                    buf.dtype()
                )));
            }
            if let Some((lo, hi)) = reach {
                if lo < 0 || hi >= buf.len() as i128 {
                    return Err(CpuError::internal(format!(
                        "input {i} is read at elements {lo}..={hi} but holds {}",
                        buf.len()
                    )));
                }
            }
        }
        for (o, (buf, &dtype)) in outputs.iter().zip(&fp.outputs).enumerate() {
            if buf.dtype() != dtype || buf.len() != end - start {
                return Err(CpuError::internal(format!(
                    "output {o} is {} elements of {} where {} of {dtype} are written",
                    buf.len(),
                    buf.dtype(),
                    end - start
                )));
            }
        }
        if start == end {
            return Ok(());
        }
        let mut ptrs: Vec<*mut u8> = inputs.iter().map(Buf::ptr).collect();
        for buf in outputs.iter_mut() {
            // The function stores item `i` at `base + i * size`; shifting the base by
            // `start` items lands item `start` on the chunk's first element. The
            // shifted pointer may lie outside the allocation, so it is only formed with
            // wrapping arithmetic and never dereferenced as such.
            let size = buf.dtype().size_bytes();
            ptrs.push(buf.ptr().wrapping_sub(start * size));
        }
        // SAFETY: `entry` is a finalized kernel function whose code is alive while
        // `self` is. Every input holds the kernel's dtype and every element the
        // iteration space can reach (checked above against the footprint), every output
        // chunk holds exactly the items `start..end` of the right dtype, and the
        // chunks are `&mut` borrows, so no other thread writes them. `ptrs` outlives
        // the call and holds one pointer per input and output in the kernel's order.
        unsafe { (self.entry)(ptrs.as_ptr(), start as u64, end as u64) };
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
