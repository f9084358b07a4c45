//! Control flow (`cond`, `while`, `scan`) compiled: each body planned and compiled once
//! as its own program, the loop driven natively.

use nabla_diag::Diagnostic;
use nabla_ir::{Array, Prim};

use crate::error::Result;
use crate::program::{Fallback, Profile};

/// A control-flow primitive with its bodies compiled.
pub struct Control {
    _private: (),
}

impl Control {
    /// Compiles `prim`'s bodies; `None` when `prim` is not control flow (or not compiled
    /// yet), so the step runs as a plain equation.
    pub fn new(prim: &Prim) -> Result<Option<Control>> {
        let _ = prim;
        Ok(None)
    }

    /// Runs the primitive on `ins`.
    pub fn run(
        &self,
        ins: &[Array],
        threads: usize,
        fallback: &dyn Fallback,
        profile: Option<&mut Profile>,
    ) -> std::result::Result<Vec<Array>, Diagnostic> {
        let _ = (ins, threads, fallback, profile, &self._private);
        Err(crate::error::CpuError::internal("control flow is not compiled yet").to_diagnostic())
    }
}
