//! Simplification after transforms: dead-code elimination, common-subexpression
//! elimination, constant folding and algebraic identities.
//!
//! Each pass is a function `&Func -> Result<Func>` that recurses into the nested bodies
//! of `cond`, `while` and `scan`, and keeps the ids of the variables it keeps (new
//! variables never appear: a rewritten equation reuses its result variable), so the
//! output of one pass reads line by line against its input. [`simplify`] runs them to
//! a fixed point and then [`renumber`]s densely, in the order a fresh trace numbers
//! variables, so that equal programs print equal.
//!
//! What [`fold`] does and deliberately does not do is listed in its module; the one
//! rewrite that is not bit-exact is `x + 0 → x` (and its relatives), which turns
//! `-0.0` into `+0.0` exactly as JAX's symbolic zeros do.

mod cse;
mod dce;
mod fold;
mod renumber;
mod scalar;

use nabla_ir::{print_func, Eqn, Func, Prim};

use crate::error::Result;

pub use cse::cse;
pub use dce::dce;
pub use fold::fold;
pub use renumber::renumber;

/// How many rounds of fold, cse and dce [`simplify`] runs at most. Each round removes
/// what the previous one exposed; real programs settle in two or three.
pub const MAX_ROUNDS: usize = 10;

/// Runs fold, cse and dce until a round changes nothing (at most [`MAX_ROUNDS`]), then
/// renumbers the variables densely.
pub fn simplify(f: &Func) -> Result<Func> {
    let mut g = f.clone();
    let mut text = print_func(&g);
    for _ in 0..MAX_ROUNDS {
        let next = dce(&cse(&fold(&g)?)?)?;
        // Text, not `==`: NaN literals are unequal to themselves. A round may rewrite
        // without shrinking (a constant into a broadcast), so the count alone would
        // stop too early and leave work for the next call, which must find none.
        let next_text = print_func(&next);
        if next_text == text {
            break;
        }
        g = next;
        text = next_text;
    }
    renumber(&g)
}

/// Whether the operand, parameter and result counts of a control-flow equation agree,
/// which the passes' indexing relies on (the verifier reports the ones that do not).
pub(super) fn well_formed(e: &Eqn) -> bool {
    let (nargs, nouts) = (e.args.len(), e.outs.len());
    match &e.prim {
        Prim::Cond {
            then_body,
            else_body,
        } => {
            nargs >= 1
                && [then_body, else_body]
                    .iter()
                    .all(|b| b.params.len() == nargs - 1 && b.results.len() == nouts)
        }
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            ..
        } => {
            nconsts.checked_add(*ncarry).is_some_and(|n| n <= nargs)
                && *ncarry <= nouts
                && body.params.len() == nargs
                && body.results.len() == nouts
        }
        Prim::While {
            cond_body,
            body,
            cond_nconsts,
            body_nconsts,
        } => {
            cond_nconsts
                .checked_add(*body_nconsts)
                .and_then(|n| n.checked_add(nouts))
                == Some(nargs)
                && cond_body.params.len() == cond_nconsts + nouts
                && cond_body.results.len() == 1
                && body.params.len() == body_nconsts + nouts
                && body.results.len() == nouts
        }
        Prim::Unary(_)
        | Prim::Binary(_)
        | Prim::Compare(_)
        | Prim::Select
        | Prim::IntPow { .. }
        | Prim::Convert { .. }
        | Prim::StopGradient
        | Prim::Constant { .. }
        | Prim::Iota { .. }
        | Prim::BroadcastInDim { .. }
        | Prim::Reshape { .. }
        | Prim::Transpose { .. }
        | Prim::Slice { .. }
        | Prim::Pad { .. }
        | Prim::Concat { .. }
        | Prim::Rev { .. }
        | Prim::Reduce { .. }
        | Prim::ArgReduce { .. }
        | Prim::Cumulative { .. }
        | Prim::DotGeneral { .. }
        | Prim::Take { .. }
        | Prim::Scatter { .. }
        | Prim::DynamicSlice { .. }
        | Prim::DynamicUpdateSlice
        | Prim::Threefry2x32
        | Prim::BitsToUnit { .. } => true,
    }
}
