//! Transposition of linear functions: the transpose rule of every linear primitive.

use nabla_ir::{Atom, Body, Func};

use crate::emit::Emitter;
use crate::error::{Result, TransformError};

/// The transpose of `linear`, whose first `nres` parameters are non-linear (residuals)
/// and whose results are linear in the remaining parameters.
///
/// Parameters: the `nres` residuals, then one cotangent per result of `linear`.
/// Results: one cotangent per linear parameter (zeros instantiated).
pub fn transpose(linear: &Func, nres: usize) -> Result<Func> {
    let _ = (linear, nres);
    Err(TransformError::unsupported(
        "transpose is not implemented yet",
    ))
}

/// Emits the transpose of `body` into `em`'s current body: `residuals` are the atoms of
/// its first `residuals.len()` parameters, `cts[j]` the cotangent of result `j` (`None`
/// for a symbolic zero). Returns one cotangent per linear parameter (`None` for zero).
pub fn transpose_body(
    em: &mut Emitter,
    body: &Body,
    residuals: &[Atom],
    cts: &[Option<Atom>],
) -> Result<Vec<Option<Atom>>> {
    let _ = (em, body, residuals, cts);
    Err(TransformError::unsupported(
        "transpose is not implemented yet",
    ))
}
