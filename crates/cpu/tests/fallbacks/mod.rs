//! The fallbacks the CPU backend's tests hand to compiled programs: the reference
//! interpreter for what the backend leaves to it, with or without control flow.

#![allow(dead_code)]

use nabla_cpu::program::Fallback;
use nabla_diag::Diagnostic;
use nabla_ir::{Array, Prim};

/// The interpreter for everything the backend leaves to its fallback.
pub struct Interp;

impl Fallback for Interp {
    fn apply(&self, prim: &Prim, args: &[Array]) -> Result<Vec<Array>, Diagnostic> {
        nabla_interp::apply(prim, args).map_err(Diagnostic::from)
    }
}

/// The interpreter for everything the backend leaves to its fallback, control flow
/// excepted: that must run compiled.
pub struct NoControlFallback;

impl Fallback for NoControlFallback {
    fn apply(&self, prim: &Prim, args: &[Array]) -> Result<Vec<Array>, Diagnostic> {
        if matches!(
            prim,
            Prim::Cond { .. } | Prim::While { .. } | Prim::Scan { .. }
        ) {
            return Err(Diagnostic::error(
                nabla_diag::Code::INTERNAL,
                format!("{} reached the fallback", prim.name()),
            ));
        }
        nabla_interp::apply(prim, args).map_err(Diagnostic::from)
    }
}
