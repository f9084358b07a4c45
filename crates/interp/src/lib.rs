//! The reference interpreter of Nabla's IR: evaluates functions, bodies and single
//! primitives on concrete arrays, defining the exact results every backend is tested
//! against.
//!
//! Correctness and clarity come before speed, but every rule works on typed vectors
//! (no per-element boxing), so arrays of millions of elements are fine.
//!
//! Semantics, where the IR leaves a choice (XLA's, as JAX users observe them):
//!
//! * Arithmetic is done in the operand dtype; integers wrap. Integer `x / 0` is -1
//!   (all bits set, so `u32::MAX` for u32), `x % 0` is `x`, `MIN / -1` is `MIN` and
//!   `MIN % -1` is 0: never an error. Shifts by a negative amount or by at least the
//!   bit width give 0.
//! * `max`/`min` (elementwise and reductions) propagate NaN and order `-0 < +0`.
//!   `sign` maps NaN and ±0 to themselves. `round` is half to even. `rsqrt` is
//!   `1 / sqrt(x)` (two roundings). Transcendentals come from the pure-Rust `libm`
//!   crate, so results do not depend on the host; f32 `erfinv` is the f64 one rounded.
//! * `integer_pow` multiplies exactly as JAX's lowering does; a negative exponent is
//!   `1 / x^|n|`, for integers with the division above (0 unless `x^|n|` is ±1).
//! * Bool `max`/`min` are `or`/`and`; scatter-add on bools is `or` (XLA's add on
//!   predicates).
//! * `reduce_*` and `dot_general` sum in the canonical order of
//!   `nabla_ir::canonical`; compensated `dot_general` is Dot2 laid out on that order
//!   (see the `linalg` module). Reductions start from the identity,
//!   so the sum of `[-0.0]` is `+0.0`; empty max/min reductions give -inf/+inf
//!   (`MIN`/`MAX` for integers).
//! * `cumsum`/`cumprod` are sequential and start from the first element itself.
//! * `take` clamps indices into range and gives zeros when gathering from an empty
//!   axis; `scatter` drops out-of-range indices (negative ones included) and applies
//!   updates in row-major order (`Set`: last write wins; `Add`: accumulates in order).
//!   Dynamic slice starts are clamped to `[0, dim - size]`.
//!
//! Every rule may rely on `nabla_ir::infer` having accepted its operands: [`apply`]
//! checks that first, so malformed IR becomes an [`EvalErrorKind::Internal`] error
//! rather than a panic, and every result's size is checked before it is allocated.

mod control;
mod data;
mod elementwise;
mod error;
mod linalg;
mod num;
mod random;
mod reduce;
mod shape_ops;

use std::collections::HashMap;

use nabla_ir::array::check_alloc;
use nabla_ir::{infer, Array, Atom, Body, Func, Prim, Type};

pub use error::{EvalError, EvalErrorKind};

/// Evaluates a traced function on arguments matching its parameters.
pub fn eval_func(f: &Func, args: &[Array]) -> Result<Vec<Array>, EvalError> {
    eval_body(&f.body, args)
}

fn check_type(a: &Array, ty: &Type, what: &str) -> Result<(), EvalError> {
    if a.dtype() == ty.dtype && a.shape() == ty.shape.as_slice() {
        Ok(())
    } else {
        Err(EvalError::internal(format!(
            "{what} is {} where {ty} was expected",
            a.ty()
        )))
    }
}

fn read(env: &HashMap<u32, Array>, atom: &Atom) -> Result<Array, EvalError> {
    match atom {
        Atom::Var(v) => env
            .get(&v.id)
            .cloned()
            .ok_or_else(|| EvalError::internal(format!("variable %{} is not bound", v.id))),
        Atom::Lit(s) => Ok(Array::scalar(*s)),
    }
}

/// For each variable read by the equations, the index of the last equation reading it
/// (variables the body returns are kept to the end).
fn last_uses(b: &Body) -> HashMap<u32, usize> {
    let mut last = HashMap::new();
    for (k, e) in b.eqns.iter().enumerate() {
        for v in e.args.iter().filter_map(Atom::as_var) {
            last.insert(v.id, k);
        }
    }
    for v in b.results.iter().filter_map(Atom::as_var) {
        last.remove(&v.id);
    }
    last
}

/// Evaluates a closed body on arguments matching its parameters. Each intermediate is
/// dropped after its last use, so memory follows the live set, not the program length.
pub fn eval_body(b: &Body, args: &[Array]) -> Result<Vec<Array>, EvalError> {
    if args.len() != b.params.len() {
        return Err(EvalError::internal(format!(
            "a body with {} parameters called with {} arguments",
            b.params.len(),
            args.len()
        )));
    }
    let mut env: HashMap<u32, Array> = HashMap::with_capacity(b.params.len() + b.eqns.len());
    for (p, a) in b.params.iter().zip(args) {
        check_type(a, &p.ty, "an argument")?;
        env.insert(p.id, a.clone());
    }
    let last = last_uses(b);
    for (k, eqn) in b.eqns.iter().enumerate() {
        let run = || -> Result<Vec<Array>, EvalError> {
            let ins = eqn
                .args
                .iter()
                .map(|a| read(&env, a))
                .collect::<Result<Vec<_>, _>>()?;
            let outs = apply(&eqn.prim, &ins)?;
            if outs.len() != eqn.outs.len() {
                return Err(EvalError::internal(format!(
                    "{} produced {} results for {} variables",
                    eqn.prim.name(),
                    outs.len(),
                    eqn.outs.len()
                )));
            }
            for (a, v) in outs.iter().zip(&eqn.outs) {
                check_type(a, &v.ty, eqn.prim.name())?;
            }
            Ok(outs)
        };
        let outs = run().map_err(|e| e.at(eqn.span))?;
        for v in eqn.args.iter().filter_map(Atom::as_var) {
            if last.get(&v.id) == Some(&k) {
                env.remove(&v.id);
            }
        }
        for (v, a) in eqn.outs.iter().zip(outs) {
            env.insert(v.id, a);
        }
    }
    b.results.iter().map(|a| read(&env, a)).collect()
}

/// Applies one primitive to concrete operands (eager, script-level execution).
pub fn apply(prim: &Prim, args: &[Array]) -> Result<Vec<Array>, EvalError> {
    let arg_types: Vec<Type> = args.iter().map(Array::ty).collect();
    let out_types = infer(prim, &arg_types)
        .map_err(|e| EvalError::internal(format!("{}: {e}", prim.name())))?;
    for t in &out_types {
        check_alloc(&t.shape, t.dtype)?;
    }
    let outs = apply_checked(prim, args)?;
    let same = outs.len() == out_types.len()
        && outs
            .iter()
            .zip(&out_types)
            .all(|(a, t)| check_type(a, t, "").is_ok());
    if !same {
        let got: Vec<String> = outs.iter().map(|a| a.ty().to_string()).collect();
        let want: Vec<String> = out_types.iter().map(Type::to_string).collect();
        return Err(EvalError::internal(format!(
            "the interpreter's {} produced [{}] where [{}] was inferred",
            prim.name(),
            got.join(", "),
            want.join(", ")
        )));
    }
    Ok(outs)
}

/// The rules proper; `infer` has accepted `args`, so arities and ranks are right.
fn apply_checked(prim: &Prim, args: &[Array]) -> Result<Vec<Array>, EvalError> {
    let one = |a: Array| Ok(vec![a]);
    match prim {
        Prim::Unary(op) => one(elementwise::unary(*op, &args[0])?),
        Prim::Binary(op) => one(elementwise::binary(*op, &args[0], &args[1])?),
        Prim::Compare(op) => one(elementwise::compare(*op, &args[0], &args[1])?),
        Prim::Select => one(elementwise::select(&args[0], &args[1], &args[2])?),
        Prim::IntPow { exponent } => one(elementwise::int_pow(&args[0], *exponent)?),
        Prim::Convert { dtype } => one(elementwise::convert(&args[0], *dtype)),
        Prim::StopGradient => one(args[0].clone()),
        Prim::Constant { value } => one(value.clone()),
        Prim::Iota { dtype, shape, axis } => one(shape_ops::iota(*dtype, shape, *axis)?),
        Prim::BroadcastInDim { shape, dims } => {
            one(shape_ops::broadcast_in_dim(&args[0], shape, dims)?)
        }
        Prim::Reshape { shape } => one(shape_ops::reshape(&args[0], shape)?),
        Prim::Transpose { perm } => one(shape_ops::transpose(&args[0], perm)?),
        Prim::Slice {
            start,
            limit,
            stride,
        } => one(shape_ops::slice(&args[0], start, limit, stride)?),
        Prim::Pad { lo, hi } => one(shape_ops::pad(&args[0], &args[1], lo, hi)?),
        Prim::Concat { axis } => one(shape_ops::concat(args, *axis)?),
        Prim::Rev { axes } => one(shape_ops::rev(&args[0], axes)?),
        Prim::Reduce {
            op,
            axes,
            compensated,
        } => one(reduce::reduce(&args[0], *op, axes, *compensated)?),
        Prim::ArgReduce {
            op,
            axis,
            index_dtype,
        } => one(reduce::arg_reduce(&args[0], *op, *axis, *index_dtype)?),
        Prim::Cumulative { op, axis, reverse } => {
            one(reduce::cumulative(&args[0], *op, *axis, *reverse)?)
        }
        Prim::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            compensated,
        } => one(linalg::dot_general(
            &args[0],
            &args[1],
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            *compensated,
        )?),
        Prim::Take { axis } => one(shape_ops::take(&args[0], &args[1], *axis)?),
        Prim::Scatter { axis, mode } => one(shape_ops::scatter(
            &args[0], &args[1], &args[2], *axis, *mode,
        )?),
        Prim::DynamicSlice { sizes } => one(shape_ops::dynamic_slice(&args[0], &args[1..], sizes)?),
        Prim::DynamicUpdateSlice => one(shape_ops::dynamic_update_slice(
            &args[0],
            &args[1],
            &args[2..],
        )?),
        Prim::Threefry2x32 => random::threefry_arrays(&args[0], &args[1], &args[2], &args[3]),
        Prim::BitsToUnit { dtype } => one(random::bits_to_unit(*dtype, args)?),
        Prim::Cond {
            then_body,
            else_body,
        } => control::cond(then_body, else_body, args),
        Prim::While {
            cond_body,
            body,
            cond_nconsts,
            body_nconsts,
        } => control::while_loop(cond_body, body, *cond_nconsts, *body_nconsts, args),
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            length,
            reverse,
        } => control::scan(body, *nconsts, *ncarry, *length, *reverse, args),
    }
}
