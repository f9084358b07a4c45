//! Partial evaluation, and linearize = jvp + partial evaluation (known primals,
//! unknown tangents).

use nabla_ir::{Body, Func};

use crate::error::{Result, TransformError};

/// A body split by partial evaluation.
#[derive(Clone, Debug)]
pub struct PartialEval {
    /// Parameters: the known inputs (in order). Results: the known outputs (those with
    /// `known_out[i]`, in order), then `nres` residuals.
    pub known: Body,
    /// Parameters: the `nres` residuals, then the unknown inputs (in order). Results:
    /// the unknown outputs (those with `!known_out[i]`, in order).
    pub unknown: Body,
    pub known_out: Vec<bool>,
    pub nres: usize,
}

/// Splits `body` into the part computable from the inputs with `known_in[i]` and the
/// rest. An output with `instantiate[i]` is always unknown (a known value it has is
/// passed through as a residual), so callers can demand e.g. every tangent output
/// from the unknown side.
pub fn partial_eval(body: &Body, known_in: &[bool], instantiate: &[bool]) -> Result<PartialEval> {
    let _ = (body, known_in, instantiate);
    Err(TransformError::unsupported(
        "partial evaluation is not implemented yet",
    ))
}

/// `f` linearized at its primal inputs.
#[derive(Clone, Debug)]
pub struct Linearized {
    /// Parameters: `f`'s. Results: `f`'s results, then `nres` residuals.
    pub primal: Func,
    /// Parameters: the `nres` residuals, then one tangent per active parameter of `f`.
    /// Results: one tangent per result of `f` (zeros instantiated). Linear in the
    /// tangents.
    pub linear: Func,
    pub nres: usize,
}

/// jvp of `f` (tangents for the `active` parameters), then partial evaluation with the
/// primals known and the tangents unknown.
pub fn linearize(f: &Func, active: &[bool]) -> Result<Linearized> {
    let _ = (f, active);
    Err(TransformError::unsupported(
        "linearize is not implemented yet",
    ))
}
