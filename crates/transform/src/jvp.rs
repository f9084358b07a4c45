//! Forward mode: the jvp rule of every primitive, with symbolic zeros.

use nabla_ir::{Atom, Body, Func};

use crate::emit::Emitter;
use crate::error::{Result, TransformError};

/// The Jacobian-vector product of `f`.
///
/// Parameters: `f`'s parameters, then one tangent (same type) for each parameter `i`
/// with `active[i]`. Only float parameters may be active. Results: `f`'s results, then
/// one tangent per result, zeros instantiated where the tangent is symbolically zero
/// (integer and bool results always get zeros of their own type).
pub fn jvp(f: &Func, active: &[bool]) -> Result<Func> {
    let _ = (f, active);
    Err(TransformError::unsupported("jvp is not implemented yet"))
}

/// Emits the jvp of `body` applied to `primals` into `em`'s current body. `tangents[i]`
/// is `None` for a symbolic zero. Returns the primal results and their tangents.
pub fn jvp_body(
    em: &mut Emitter,
    body: &Body,
    primals: &[Atom],
    tangents: &[Option<Atom>],
) -> Result<(Vec<Atom>, Vec<Option<Atom>>)> {
    let _ = (em, body, primals, tangents);
    Err(TransformError::unsupported("jvp is not implemented yet"))
}
