//! Primitives that run as one step outside the fused kernels: matrix products on the
//! GEMM library, concat and running sums as Rust loops, and the rest through the
//! [`Fallback`] until they are compiled.

use nabla_diag::{Diagnostic, Span};
use nabla_ir::{Array, DType, Prim};

use crate::program::Fallback;

/// Runs `prim` on `ins` with up to `threads` threads; errors point at `span`.
pub fn run(
    prim: &Prim,
    ins: &[Array],
    threads: usize,
    fallback: &dyn Fallback,
    span: Span,
) -> Result<Vec<Array>, Diagnostic> {
    Ok(match prim {
        // Compensated products keep the reference implementation until compiled.
        Prim::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            compensated: false,
        } if ins.len() == 2 => vec![crate::gemm::dot_general(
            &ins[0],
            &ins[1],
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            threads,
        )
        .map_err(|e| e.at(span).to_diagnostic())?],
        Prim::Concat { axis } => {
            vec![crate::native::concat(ins, *axis).map_err(|e| e.at(span).to_diagnostic())?]
        }
        Prim::Cumulative { op, axis, reverse }
            if ins.len() == 1 && ins[0].dtype() != DType::Bool =>
        {
            vec![crate::native::cumulative(&ins[0], *op, *axis, *reverse)
                .map_err(|e| e.at(span).to_diagnostic())?]
        }
        _ => fallback.apply(prim, ins).map_err(|d| d.or_at(span))?,
    })
}
