//! Reverse mode: vjp as linearize + transpose, and grad / value_and_grad on top.

use nabla_ir::Func;

use crate::error::{Result, TransformError};

/// The two halves of a vjp.
#[derive(Clone, Debug)]
pub struct Vjp {
    /// Parameters: `f`'s. Results: `f`'s results, then `nres` residuals.
    pub primal: Func,
    /// Parameters: the `nres` residuals, then one cotangent per result of `f`.
    /// Results: one cotangent per active parameter of `f`.
    pub pullback: Func,
    pub nres: usize,
}

pub fn vjp(f: &Func, active: &[bool]) -> Result<Vjp> {
    let _ = (f, active);
    Err(TransformError::unsupported("vjp is not implemented yet"))
}

/// The gradient of `f`'s single scalar float result with respect to the parameters in
/// `argnums`. Parameters: `f`'s. Results: the value first when `with_value`, then one
/// gradient per entry of `argnums`.
pub fn grad(f: &Func, argnums: &[usize], with_value: bool) -> Result<Func> {
    let _ = (f, argnums, with_value);
    Err(TransformError::unsupported("grad is not implemented yet"))
}
