//! Primitives that run as one step outside the fused kernels: matrix products on the
//! GEMM library, the rest as native Rust loops ([`crate::native`]), and only what has
//! neither (control flow until it is compiled) through the [`Fallback`].

use nabla_diag::{Diagnostic, Span};
use nabla_ir::{Array, DType, Prim};

use crate::error::CpuError;
use crate::native;
use crate::program::Fallback;

/// Runs `prim` on `ins` with up to `threads` threads; errors point at `span`.
pub fn run(
    prim: &Prim,
    ins: &[Array],
    threads: usize,
    fallback: &dyn Fallback,
    span: Span,
) -> Result<Vec<Array>, Diagnostic> {
    let at = |e: CpuError| e.at(span).to_diagnostic();
    let pool = || crate::exec::pool(threads).map_err(at);
    let one = |r: crate::error::Result<Array>| r.map(|a| vec![a]).map_err(at);
    match prim {
        Prim::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            compensated,
        } if ins.len() == 2 => {
            if *compensated {
                one(native::compensated_dot(
                    &ins[0],
                    &ins[1],
                    lhs_contract,
                    rhs_contract,
                    lhs_batch,
                    rhs_batch,
                    &*pool()?,
                ))
            } else {
                one(crate::gemm::dot_general(
                    &ins[0],
                    &ins[1],
                    lhs_contract,
                    rhs_contract,
                    lhs_batch,
                    rhs_batch,
                    threads,
                ))
            }
        }
        Prim::Concat { axis } => one(native::concat(ins, *axis)),
        Prim::Cumulative { op, axis, reverse }
            if ins.len() == 1 && ins[0].dtype() != DType::Bool =>
        {
            one(native::cumulative(&ins[0], *op, *axis, *reverse))
        }
        Prim::Reduce {
            axes,
            compensated: true,
            ..
        } if ins.len() == 1 => one(native::compensated_sum(&ins[0], axes, &*pool()?)),
        Prim::Reduce {
            op,
            axes,
            compensated: false,
        } if ins.len() == 1 && ins[0].rank() == 0 && axes.is_empty() => {
            // Only a literal operand gets here (the planner compiles the rest).
            one(native::reduce_scalar(&ins[0], *op))
        }
        Prim::ArgReduce {
            op,
            axis,
            index_dtype,
        } if ins.len() == 1 => one(native::arg_reduce(
            &ins[0],
            *op,
            *axis,
            *index_dtype,
            &*pool()?,
        )),
        Prim::Pad { lo, hi } if ins.len() == 2 => {
            one(native::pad(&ins[0], &ins[1], lo, hi, &*pool()?))
        }
        Prim::Take { axis } if ins.len() == 2 => {
            one(native::take(&ins[0], &ins[1], *axis, &*pool()?))
        }
        Prim::Scatter { axis, mode } if ins.len() == 3 => one(native::scatter(
            &ins[0],
            &ins[1],
            &ins[2],
            *axis,
            *mode,
            &*pool()?,
        )),
        Prim::DynamicSlice { sizes } if !ins.is_empty() => {
            one(native::dynamic_slice(&ins[0], &ins[1..], sizes, &*pool()?))
        }
        Prim::DynamicUpdateSlice if ins.len() >= 2 => one(native::dynamic_update_slice(
            &ins[0],
            &ins[1],
            &ins[2..],
            &*pool()?,
        )),
        _ => fallback.apply(prim, ins).map_err(|d| d.or_at(span)),
    }
}
