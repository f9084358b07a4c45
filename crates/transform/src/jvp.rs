//! Forward mode: the jvp rule of every primitive, with symbolic zeros.
//!
//! A tangent is `Option<Atom>`: `None` is a symbolic zero that costs no equation, so an
//! equation whose inputs all have zero tangents is copied and nothing else. Only float
//! values have tangents; integer and bool results are always symbolic zeros, as are
//! the results of primitives that are piecewise constant (comparisons, `floor`, `sign`,
//! `argmax`, random bits, …) and of `stop_gradient`.
//!
//! Derivative conventions follow JAX's rules (`jax/_src/lax/lax.py`), including at the
//! points where the function is not differentiable:
//! - `abs`: `select(x >= 0, t, -t)`, so the derivative at 0 is +1;
//! - `max`/`min`: an operand equal to the result gets the whole tangent, ties split it
//!   half and half; `reduce_max`/`reduce_min` average over the tied locations;
//! - `pow(x, y)`: d/dx is `select(y == 0, 0, y * x^(y-1))`, d/dy is
//!   `log(select(x == 0, 1, x)) * x^y`;
//! - `reduce_prod` and `cumprod` are exact when elements are zero: `reduce_prod` uses
//!   the product of the other elements (exclusive products from both sides),
//!   `cumprod` a parallel prefix scan over (value, tangent) pairs as JAX does.
//!
//! Control flow is transformed into control flow: a `cond` branch, `while` body or
//! `scan` body becomes a new closed body taking the primal operands and then the
//! nonzero tangents (group by group), and which tangents exist is decided first by a
//! dependence analysis ([`tangent_mask`]), iterated to a fixpoint for loop carries.

use std::collections::{HashMap, HashSet};

use nabla_diag::Span;
use nabla_ir::{
    Atom, BinaryOp, Body, CmpOp, CumOp, Func, Prim, ReduceOp, ScatterMode, Type, UnaryOp, Var,
};

use crate::emit::{lit, subst, Emitter};
use crate::error::{Result, TransformError};

/// A tangent; `None` is a symbolic zero.
pub type Tangent = Option<Atom>;

/// The Jacobian-vector product of `f`.
///
/// Parameters: `f`'s parameters, then one tangent (same type) for each parameter `i`
/// with `active[i]`. Only float parameters may be active. Results: `f`'s results, then
/// one tangent per result, zeros instantiated where the tangent is symbolically zero
/// (integer and bool results always get zeros of their own type).
pub fn jvp(f: &Func, active: &[bool]) -> Result<Func> {
    let params = &f.body.params;
    if active.len() != params.len() {
        return Err(TransformError::internal(format!(
            "jvp of `{}`: {} activity flags for {} parameters",
            f.name,
            active.len(),
            params.len()
        )));
    }
    for (i, (p, &a)) in params.iter().zip(active).enumerate() {
        if a && !p.ty.dtype.is_float() {
            return Err(TransformError::not_differentiable(format!(
                "cannot differentiate `{}` with respect to parameter {i} of type {}: only \
                 float values have tangents",
                f.name, p.ty
            ))
            .with_hint(format!(
                "convert the argument to a float type, or leave parameter {i} out of \
                 the differentiated arguments"
            )));
        }
    }
    let mut em = Emitter::new();
    let primals: Vec<Atom> = params
        .iter()
        .map(|p| Atom::Var(em.param(p.ty.clone())))
        .collect();
    let tangents: Vec<Tangent> = params
        .iter()
        .zip(active)
        .map(|(p, &a)| a.then(|| Atom::Var(em.param(p.ty.clone()))))
        .collect();
    let (outs, tans) = jvp_body(&mut em, &f.body, &primals, &tangents)?;
    // Instantiated zeros of the results come from no source equation.
    em.set_span(Span::DUMMY);
    let mut results = outs.clone();
    for (o, t) in outs.iter().zip(tans) {
        results.push(match t {
            Some(t) => t,
            None => em.zeros(&o.ty())?,
        });
    }
    Ok(em.finish(format!("jvp({})", f.name), results))
}

/// Emits the jvp of `body` applied to `primals` into `em`'s current body. `tangents[i]`
/// is `None` for a symbolic zero. Returns the primal results and their tangents.
pub fn jvp_body(
    em: &mut Emitter,
    body: &Body,
    primals: &[Atom],
    tangents: &[Option<Atom>],
) -> Result<(Vec<Atom>, Vec<Option<Atom>>)> {
    let n = body.params.len();
    if primals.len() != n || tangents.len() != n {
        return Err(TransformError::internal(format!(
            "jvp of a body of {n} parameters with {} primals and {} tangents",
            primals.len(),
            tangents.len()
        )));
    }
    let mut env: HashMap<u32, Atom> = HashMap::new();
    let mut tenv: HashMap<u32, Atom> = HashMap::new();
    for ((p, a), t) in body.params.iter().zip(primals).zip(tangents) {
        env.insert(p.id, a.clone());
        if let Some(t) = t {
            if !p.ty.dtype.is_float() || t.ty() != p.ty {
                return Err(TransformError::internal(format!(
                    "a tangent of type {} for a parameter of type {}",
                    t.ty(),
                    p.ty
                )));
            }
            tenv.insert(p.id, t.clone());
        }
    }
    let saved = em.span();
    for e in &body.eqns {
        em.set_span(e.span);
        let args: Vec<Atom> = e.args.iter().map(|a| subst(&env, a)).collect();
        let tans: Vec<Tangent> = e.args.iter().map(|a| tangent_of(&tenv, a)).collect();
        let (outs, out_tans) = if tans.iter().all(Option::is_none) {
            (copy_eqn(em, &e.prim, args)?, vec![None; e.outs.len()])
        } else {
            jvp_eqn(em, &e.prim, &args, &tans)?
        };
        if outs.len() != e.outs.len() || out_tans.len() != e.outs.len() {
            return Err(TransformError::internal(format!(
                "the jvp of {} gave {} results and {} tangents for {} outputs",
                e.prim.name(),
                outs.len(),
                out_tans.len(),
                e.outs.len()
            )));
        }
        for ((o, p), t) in e.outs.iter().zip(outs).zip(out_tans) {
            env.insert(o.id, p);
            if let Some(t) = t {
                if o.ty.dtype.is_float() {
                    tenv.insert(o.id, t);
                }
            }
        }
    }
    em.set_span(saved);
    let outs = body.results.iter().map(|a| subst(&env, a)).collect();
    let tans = body.results.iter().map(|a| tangent_of(&tenv, a)).collect();
    Ok((outs, tans))
}

/// Which results of `body` can have a nonzero tangent when the parameters with
/// `in_mask[i]` do; only float results are ever marked. Sound for [`jvp_body`]:
/// wherever it returns a tangent the mask is true. Control flow follows the mask
/// exactly, instantiating zeros in a branch or loop body where a marked tangent is
/// symbolically zero, which is why the rules for nested bodies compute it first.
pub fn tangent_mask(body: &Body, in_mask: &[bool]) -> Vec<bool> {
    let mut active: HashSet<u32> = HashSet::new();
    for (p, &m) in body.params.iter().zip(in_mask) {
        if m && p.ty.dtype.is_float() {
            active.insert(p.id);
        }
    }
    let is_active = |active: &HashSet<u32>, a: &Atom| match a {
        Atom::Var(v) => active.contains(&v.id),
        Atom::Lit(_) => false,
    };
    for e in &body.eqns {
        let args: Vec<bool> = e.args.iter().map(|a| is_active(&active, a)).collect();
        if !args.iter().any(|&a| a) {
            continue;
        }
        let outs = eqn_mask(&e.prim, &args, &e.outs);
        for (o, m) in e.outs.iter().zip(outs) {
            if m && o.ty.dtype.is_float() {
                active.insert(o.id);
            }
        }
    }
    body.results.iter().map(|a| is_active(&active, a)).collect()
}

/// The output mask of one equation with at least one active operand.
fn eqn_mask(prim: &Prim, args: &[bool], outs: &[Var]) -> Vec<bool> {
    let floats = || outs.iter().map(|o| o.ty.dtype.is_float()).collect();
    let none = || vec![false; outs.len()];
    match prim {
        Prim::Cond {
            then_body,
            else_body,
        } => {
            let ops = args.get(1..).unwrap_or(&[]);
            or(&tangent_mask(then_body, ops), &tangent_mask(else_body, ops))
        }
        Prim::While {
            body,
            cond_nconsts,
            body_nconsts,
            ..
        } => {
            let (consts, init) = split_at(args, *cond_nconsts, *body_nconsts);
            while_carry_mask(body, consts, init)
        }
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            ..
        } => {
            let (carry, ys) = scan_masks(body, *nconsts, *ncarry, args);
            [carry, ys].concat()
        }
        Prim::Unary(op) => match op {
            UnaryOp::Sign
            | UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Round
            | UnaryOp::IsNan
            | UnaryOp::IsFinite
            | UnaryOp::Not => none(),
            UnaryOp::Neg
            | UnaryOp::Abs
            | UnaryOp::Exp
            | UnaryOp::Expm1
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Sqrt
            | UnaryOp::Rsqrt
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tan
            | UnaryOp::Tanh
            | UnaryOp::Asin
            | UnaryOp::Acos
            | UnaryOp::Atan
            | UnaryOp::Sinh
            | UnaryOp::Cosh
            | UnaryOp::Erf
            | UnaryOp::Erfinv => floats(),
        },
        Prim::IntPow { exponent } => {
            if *exponent == 0 {
                none()
            } else {
                floats()
            }
        }
        Prim::Compare(_)
        | Prim::StopGradient
        | Prim::Constant { .. }
        | Prim::Iota { .. }
        | Prim::ArgReduce { .. }
        | Prim::Threefry2x32
        | Prim::BitsToUnit { .. } => none(),
        // Integer operands are never active, so an active operand of a convert is a
        // float; float -> float is the only conversion that keeps a tangent.
        Prim::Binary(_)
        | Prim::Select
        | Prim::Convert { .. }
        | Prim::BroadcastInDim { .. }
        | Prim::Reshape { .. }
        | Prim::Transpose { .. }
        | Prim::Slice { .. }
        | Prim::Pad { .. }
        | Prim::Concat { .. }
        | Prim::Rev { .. }
        | Prim::Reduce { .. }
        | Prim::Cumulative { .. }
        | Prim::DotGeneral { .. }
        | Prim::Take { .. }
        | Prim::Scatter { .. }
        | Prim::DynamicSlice { .. }
        | Prim::DynamicUpdateSlice => floats(),
    }
}

fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(&x, &y)| x || y).collect()
}

/// A `while`'s operand mask split into its body constants and its initial carry (the
/// condition's constants never matter: the condition's result is a bool).
fn split_at(args: &[bool], cond_nconsts: usize, body_nconsts: usize) -> (&[bool], &[bool]) {
    let c = cond_nconsts.min(args.len());
    let b = (cond_nconsts + body_nconsts).min(args.len());
    (&args[c..b], &args[b..])
}

/// The carries of a `while` that can have a tangent: the least fixpoint containing the
/// initial carry's mask and closed under one trip through the body.
fn while_carry_mask(body: &Body, consts: &[bool], init: &[bool]) -> Vec<bool> {
    let mut carry = init.to_vec();
    loop {
        let out = tangent_mask(body, &[consts, &carry[..]].concat());
        let next = or(&carry, &out);
        if next == carry {
            return carry;
        }
        carry = next;
    }
}

/// The carries and the `ys` of a `scan` that can have a tangent, given the operand
/// mask (consts, init, xs); the carry mask is a fixpoint as for `while`.
fn scan_masks(body: &Body, nconsts: usize, ncarry: usize, args: &[bool]) -> (Vec<bool>, Vec<bool>) {
    let nc = nconsts.min(args.len());
    let nk = (nconsts + ncarry).min(args.len());
    let (consts, init, xs) = (&args[..nc], &args[nc..nk], &args[nk..]);
    let mut carry = init.to_vec();
    loop {
        let out = tangent_mask(body, &[consts, &carry[..], xs].concat());
        let k = ncarry.min(out.len());
        let next = or(&carry, &out[..k]);
        if next == carry {
            return (carry, out[k..].to_vec());
        }
        carry = next;
    }
}

fn tangent_of(tenv: &HashMap<u32, Atom>, a: &Atom) -> Tangent {
    match a {
        Atom::Var(v) => tenv.get(&v.id).cloned(),
        Atom::Lit(_) => None,
    }
}

fn vars(vs: Vec<Var>) -> Vec<Atom> {
    vs.into_iter().map(Atom::Var).collect()
}

/// The primal equation alone, nested bodies copied with fresh variables.
fn copy_eqn(em: &mut Emitter, prim: &Prim, args: Vec<Atom>) -> Result<Vec<Atom>> {
    let prim = em.copy_prim(prim)?;
    Ok(vars(em.emit(prim, args)?))
}

/// The primal results and tangents of one equation with at least one nonzero tangent.
fn jvp_eqn(
    em: &mut Emitter,
    prim: &Prim,
    args: &[Atom],
    tans: &[Tangent],
) -> Result<(Vec<Atom>, Vec<Tangent>)> {
    match prim {
        Prim::Cond {
            then_body,
            else_body,
        } => cond_jvp(em, prim, then_body, else_body, args, tans),
        Prim::While {
            cond_body,
            body,
            cond_nconsts,
            body_nconsts,
        } => while_jvp(
            em,
            prim,
            cond_body,
            body,
            *cond_nconsts,
            *body_nconsts,
            args,
            tans,
        ),
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            length,
            reverse,
        } => scan_jvp(
            em, prim, body, *nconsts, *ncarry, *length, *reverse, args, tans,
        ),
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
        | Prim::BitsToUnit { .. } => {
            let outs = vars(em.emit(prim.clone(), args.to_vec())?);
            let t = primitive_jvp(em, prim, args, &outs, tans)?;
            Ok((outs, t))
        }
    }
}

fn arg(args: &[Atom], i: usize) -> Result<Atom> {
    args.get(i)
        .cloned()
        .ok_or_else(|| TransformError::internal(format!("missing operand {i}")))
}

fn tan(tans: &[Tangent], i: usize) -> Tangent {
    tans.get(i).cloned().flatten()
}

fn first(outs: &[Atom]) -> Result<Atom> {
    arg(outs, 0)
}

/// `t`, or zeros of type `ty` where it is a symbolic zero.
fn instantiate(em: &mut Emitter, t: Tangent, ty: &Type) -> Result<Atom> {
    match t {
        Some(t) => Ok(t),
        None => em.zeros(ty),
    }
}

fn add_tangents(em: &mut Emitter, a: Tangent, b: Tangent) -> Result<Tangent> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(em.add(a, b)?),
        (a, None) => a,
        (None, b) => b,
    })
}

/// `t * factor` where `factor` is built only when `t` is nonzero.
fn scaled(
    em: &mut Emitter,
    t: Tangent,
    factor: impl FnOnce(&mut Emitter) -> Result<Atom>,
) -> Result<Tangent> {
    match t {
        Some(t) => {
            let f = factor(em)?;
            Ok(Some(em.mul(t, f)?))
        }
        None => Ok(None),
    }
}

/// Tangents of the primitives without nested bodies; `outs` are the primal results,
/// already emitted.
fn primitive_jvp(
    em: &mut Emitter,
    prim: &Prim,
    args: &[Atom],
    outs: &[Atom],
    tans: &[Tangent],
) -> Result<Vec<Tangent>> {
    let zero = || Ok(vec![None; outs.len()]);
    let float_out = outs.iter().all(|o| o.dtype().is_float());
    if !float_out {
        return zero();
    }
    // Applies `prim` itself to the tangent of operand 0 (the other operands unchanged):
    // the rule of every primitive linear in that operand.
    let same_on_first = |em: &mut Emitter| -> Result<Vec<Tangent>> {
        match tan(tans, 0) {
            Some(t) => {
                let mut a = args.to_vec();
                a[0] = t;
                Ok(vec![Some(em.emit1(prim.clone(), a)?)])
            }
            None => Ok(vec![None]),
        }
    };
    match prim {
        Prim::Unary(op) => {
            let t = tan(tans, 0);
            Ok(vec![match t {
                Some(t) => unary_jvp(em, *op, &arg(args, 0)?, &first(outs)?, t)?,
                None => None,
            }])
        }
        Prim::Binary(op) => Ok(vec![binary_jvp(
            em,
            *op,
            &arg(args, 0)?,
            &arg(args, 1)?,
            &first(outs)?,
            tan(tans, 0),
            tan(tans, 1),
        )?]),
        Prim::IntPow { exponent } => {
            let n = *exponent;
            if n == 0 {
                return zero();
            }
            let x = arg(args, 0)?;
            let d = x.dtype();
            Ok(vec![scaled(em, tan(tans, 0), |em| {
                let p = match n - 1 {
                    0 => return Ok(lit(d, n as f64)),
                    1 => x,
                    m => em.emit1(Prim::IntPow { exponent: m }, vec![x])?,
                };
                em.mul(lit(d, n as f64), p)
            })?])
        }
        Prim::Convert { dtype } => {
            let from = arg(args, 0)?.dtype();
            match tan(tans, 0) {
                Some(t) if from.is_float() && dtype.is_float() => {
                    Ok(vec![Some(em.convert(t, *dtype)?)])
                }
                Some(_) | None => zero(),
            }
        }
        Prim::Compare(_)
        | Prim::StopGradient
        | Prim::Constant { .. }
        | Prim::Iota { .. }
        | Prim::ArgReduce { .. }
        | Prim::Threefry2x32
        | Prim::BitsToUnit { .. } => zero(),
        Prim::Select => {
            let (ta, tb) = (tan(tans, 1), tan(tans, 2));
            if ta.is_none() && tb.is_none() {
                return zero();
            }
            let ty = first(outs)?.ty();
            let ta = instantiate(em, ta, &ty)?;
            let tb = instantiate(em, tb, &ty)?;
            Ok(vec![Some(em.select(arg(args, 0)?, ta, tb)?)])
        }
        Prim::BroadcastInDim { .. }
        | Prim::Reshape { .. }
        | Prim::Transpose { .. }
        | Prim::Slice { .. }
        | Prim::Rev { .. }
        | Prim::Take { .. }
        | Prim::DynamicSlice { .. } => same_on_first(em),
        Prim::Pad { .. } => {
            let x = arg(args, 0)?;
            let (tx, tv) = (tan(tans, 0), tan(tans, 1));
            if tx.is_none() && tv.is_none() {
                return zero();
            }
            let tx = instantiate(em, tx, &x.ty())?;
            let tv = tv.unwrap_or_else(|| lit(x.dtype(), 0.0));
            Ok(vec![Some(em.emit1(prim.clone(), vec![tx, tv])?)])
        }
        Prim::Concat { .. } => {
            let mut pieces = Vec::with_capacity(args.len());
            for (i, a) in args.iter().enumerate() {
                pieces.push(instantiate(em, tan(tans, i), &a.ty())?);
            }
            Ok(vec![Some(em.emit1(prim.clone(), pieces)?)])
        }
        Prim::Reduce { op, axes, .. } => {
            let Some(t) = tan(tans, 0) else {
                return zero();
            };
            let x = arg(args, 0)?;
            Ok(vec![match op {
                // The tangent keeps the primal's `compensated` flag.
                ReduceOp::Sum => Some(em.emit1(prim.clone(), vec![t])?),
                ReduceOp::Prod => Some(reduce_prod_jvp(em, &x, t, axes)?),
                ReduceOp::Max | ReduceOp::Min => {
                    Some(reduce_chooser_jvp(em, &x, &first(outs)?, t, axes)?)
                }
                ReduceOp::And | ReduceOp::Or => None,
            }])
        }
        Prim::Cumulative { op, axis, reverse } => match op {
            CumOp::Sum => same_on_first(em),
            CumOp::Prod => {
                let Some(t) = tan(tans, 0) else {
                    return zero();
                };
                Ok(vec![Some(cumprod_jvp(
                    em,
                    arg(args, 0)?,
                    t,
                    *axis,
                    *reverse,
                )?)])
            }
        },
        Prim::DotGeneral { .. } => {
            let (l, r) = (arg(args, 0)?, arg(args, 1)?);
            let a = match tan(tans, 0) {
                Some(tl) => Some(em.emit1(prim.clone(), vec![tl, r])?),
                None => None,
            };
            let b = match tan(tans, 1) {
                Some(tr) => Some(em.emit1(prim.clone(), vec![l, tr])?),
                None => None,
            };
            Ok(vec![add_tangents(em, a, b)?])
        }
        Prim::Scatter { mode, .. } => {
            let (x, idx, upd) = (arg(args, 0)?, arg(args, 1)?, arg(args, 2)?);
            let (tx, tu) = (tan(tans, 0), tan(tans, 2));
            let t = match (mode, tx, tu) {
                (_, None, None) => None,
                // Adding zeros changes nothing; setting zeros still overwrites.
                (ScatterMode::Add, Some(tx), None) => Some(tx),
                (ScatterMode::Add | ScatterMode::Set, tx, tu) => {
                    let tx = instantiate(em, tx, &x.ty())?;
                    let tu = instantiate(em, tu, &upd.ty())?;
                    Some(em.emit1(prim.clone(), vec![tx, idx, tu])?)
                }
            };
            Ok(vec![t])
        }
        Prim::DynamicUpdateSlice => {
            let (x, upd) = (arg(args, 0)?, arg(args, 1)?);
            let (tx, tu) = (tan(tans, 0), tan(tans, 1));
            if tx.is_none() && tu.is_none() {
                return zero();
            }
            let mut a = vec![
                instantiate(em, tx, &x.ty())?,
                instantiate(em, tu, &upd.ty())?,
            ];
            a.extend_from_slice(args.get(2..).unwrap_or(&[]));
            Ok(vec![Some(em.emit1(prim.clone(), a)?)])
        }
        Prim::Cond { .. } | Prim::While { .. } | Prim::Scan { .. } => Err(
            TransformError::internal("control flow reached the rule of plain primitives"),
        ),
    }
}

/// The tangent of `y = op(x)` along `t` (a float operand).
fn unary_jvp(em: &mut Emitter, op: UnaryOp, x: &Atom, y: &Atom, t: Atom) -> Result<Tangent> {
    let d = x.dtype();
    let c = |v: f64| lit(d, v);
    let (x, y) = (x.clone(), y.clone());
    let r = match op {
        UnaryOp::Sign
        | UnaryOp::Floor
        | UnaryOp::Ceil
        | UnaryOp::Round
        | UnaryOp::IsNan
        | UnaryOp::IsFinite
        | UnaryOp::Not => return Ok(None),
        UnaryOp::Neg => em.neg(t)?,
        UnaryOp::Abs => {
            // JAX: the derivative at 0 is +1.
            let nt = em.neg(t.clone())?;
            let p = em.compare(CmpOp::Ge, x, c(0.0))?;
            em.select(p, t, nt)?
        }
        UnaryOp::Exp => em.mul(t, y)?,
        UnaryOp::Expm1 => {
            let y1 = em.add(y, c(1.0))?;
            em.mul(t, y1)?
        }
        UnaryOp::Log => em.div(t, x)?,
        UnaryOp::Log1p => {
            let x1 = em.add(x, c(1.0))?;
            em.div(t, x1)?
        }
        UnaryOp::Sqrt => {
            let f = em.div(c(0.5), y)?;
            em.mul(t, f)?
        }
        UnaryOp::Rsqrt => {
            let q = em.div(y, x)?;
            let f = em.mul(c(-0.5), q)?;
            em.mul(t, f)?
        }
        UnaryOp::Sin => {
            let f = em.unary(UnaryOp::Cos, x)?;
            em.mul(t, f)?
        }
        UnaryOp::Cos => {
            let s = em.unary(UnaryOp::Sin, x)?;
            let m = em.mul(t, s)?;
            em.neg(m)?
        }
        UnaryOp::Tan => {
            let y2 = em.mul(y.clone(), y)?;
            let f = em.add(c(1.0), y2)?;
            em.mul(t, f)?
        }
        UnaryOp::Tanh => {
            // (t + t y)(1 - y), as JAX writes it.
            let ty = em.mul(t.clone(), y.clone())?;
            let a = em.add(t, ty)?;
            let b = em.sub(c(1.0), y)?;
            em.mul(a, b)?
        }
        UnaryOp::Asin | UnaryOp::Acos => {
            let x2 = em.mul(x.clone(), x)?;
            let d1 = em.sub(c(1.0), x2)?;
            let r = em.unary(UnaryOp::Rsqrt, d1)?;
            let f = if op == UnaryOp::Acos { em.neg(r)? } else { r };
            em.mul(t, f)?
        }
        UnaryOp::Atan => {
            let x2 = em.mul(x.clone(), x)?;
            let d1 = em.add(c(1.0), x2)?;
            em.div(t, d1)?
        }
        UnaryOp::Sinh => {
            let f = em.unary(UnaryOp::Cosh, x)?;
            em.mul(t, f)?
        }
        UnaryOp::Cosh => {
            let f = em.unary(UnaryOp::Sinh, x)?;
            em.mul(t, f)?
        }
        UnaryOp::Erf => {
            let x2 = em.mul(x.clone(), x)?;
            let n = em.neg(x2)?;
            let e = em.unary(UnaryOp::Exp, n)?;
            let m = em.mul(t, e)?;
            em.mul(c(std::f64::consts::FRAC_2_SQRT_PI), m)?
        }
        UnaryOp::Erfinv => {
            let y2 = em.mul(y.clone(), y)?;
            let e = em.unary(UnaryOp::Exp, y2)?;
            let f = em.mul(c(std::f64::consts::PI.sqrt() / 2.0), e)?;
            em.mul(t, f)?
        }
    };
    Ok(Some(r))
}

/// `select(x == z, 1, 0) / select(y == z, 2, 1)`: JAX's share of the tangent of `x` in
/// `z = max(x, y)` (or `min`), half each on ties.
fn balanced_eq(em: &mut Emitter, x: &Atom, z: &Atom, y: &Atom) -> Result<Atom> {
    let d = z.dtype();
    let ex = em.compare(CmpOp::Eq, x.clone(), z.clone())?;
    let num = em.select(ex, lit(d, 1.0), lit(d, 0.0))?;
    let ey = em.compare(CmpOp::Eq, y.clone(), z.clone())?;
    let den = em.select(ey, lit(d, 2.0), lit(d, 1.0))?;
    em.div(num, den)
}

/// The tangent of `z = op(x, y)` along `(tx, ty)`, at least one nonzero.
fn binary_jvp(
    em: &mut Emitter,
    op: BinaryOp,
    x: &Atom,
    y: &Atom,
    z: &Atom,
    tx: Tangent,
    ty: Tangent,
) -> Result<Tangent> {
    let d = z.dtype();
    if !d.is_float() {
        return Ok(None);
    }
    let c = |v: f64| lit(d, v);
    match op {
        BinaryOp::Add => add_tangents(em, tx, ty),
        BinaryOp::Sub => Ok(match (tx, ty) {
            (Some(a), Some(b)) => Some(em.sub(a, b)?),
            (a, None) => a,
            (None, Some(b)) => Some(em.neg(b)?),
        }),
        BinaryOp::Mul => {
            let a = scaled(em, tx, |_| Ok(y.clone()))?;
            let b = scaled(em, ty, |_| Ok(x.clone()))?;
            add_tangents(em, a, b)
        }
        BinaryOp::Div => {
            let a = match tx {
                Some(t) => Some(em.div(t, y.clone())?),
                None => None,
            };
            // -t x / y^2, as JAX writes it.
            let b = match ty {
                Some(t) => {
                    let n = em.neg(t)?;
                    let m = em.mul(n, x.clone())?;
                    let y2 = em.emit1(Prim::IntPow { exponent: -2 }, vec![y.clone()])?;
                    Some(em.mul(m, y2)?)
                }
                None => None,
            };
            add_tangents(em, a, b)
        }
        BinaryOp::Rem => {
            // d/dy rem(x, y) = -trunc(x / y), written as JAX does.
            let b = match ty {
                Some(t) => {
                    let q = em.div(x.clone(), y.clone())?;
                    let s = em.unary(UnaryOp::Sign, q.clone())?;
                    let a = em.unary(UnaryOp::Abs, q)?;
                    let f = em.unary(UnaryOp::Floor, a)?;
                    let tr = em.mul(s, f)?;
                    let n = em.neg(t)?;
                    Some(em.mul(n, tr)?)
                }
                None => None,
            };
            add_tangents(em, tx, b)
        }
        BinaryOp::Pow => {
            let a = scaled(em, tx, |em| {
                let y1 = em.sub(y.clone(), c(1.0))?;
                let p = em.binary(BinaryOp::Pow, x.clone(), y1)?;
                let j = em.mul(y.clone(), p)?;
                let y0 = em.compare(CmpOp::Eq, y.clone(), c(0.0))?;
                em.select(y0, c(0.0), j)
            })?;
            let b = scaled(em, ty, |em| {
                let x0 = em.compare(CmpOp::Eq, x.clone(), c(0.0))?;
                let safe = em.select(x0, c(1.0), x.clone())?;
                let l = em.unary(UnaryOp::Log, safe)?;
                em.mul(l, z.clone())
            })?;
            add_tangents(em, a, b)
        }
        BinaryOp::Atan2 => {
            let x2 = em.mul(x.clone(), x.clone())?;
            let y2 = em.mul(y.clone(), y.clone())?;
            let den = em.add(x2, y2)?;
            let a = match tx {
                Some(t) => {
                    let f = em.div(y.clone(), den.clone())?;
                    Some(em.mul(t, f)?)
                }
                None => None,
            };
            let b = match ty {
                Some(t) => {
                    let nx = em.neg(x.clone())?;
                    let m = em.mul(t, nx)?;
                    Some(em.div(m, den)?)
                }
                None => None,
            };
            add_tangents(em, a, b)
        }
        BinaryOp::Max | BinaryOp::Min => {
            let a = scaled(em, tx, |em| balanced_eq(em, x, z, y))?;
            let b = scaled(em, ty, |em| balanced_eq(em, y, z, x))?;
            add_tangents(em, a, b)
        }
        BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Xor
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRightLogical => Ok(None),
    }
}

/// JAX's `_reduce_chooser_jvp_rule`: the mean of the tangents at the locations that
/// attain the extreme.
fn reduce_chooser_jvp(
    em: &mut Emitter,
    x: &Atom,
    ans: &Atom,
    t: Atom,
    axes: &[usize],
) -> Result<Atom> {
    let ty = x.ty();
    let kept: Vec<usize> = (0..ty.rank()).filter(|i| !axes.contains(i)).collect();
    let back = em.broadcast_in_dim(ans.clone(), &ty.shape, &kept)?;
    let at = em.compare(CmpOp::Eq, x.clone(), back)?;
    let ind = em.convert(at, ty.dtype)?;
    let counts = em.reduce_sum(ind.clone(), axes)?;
    let picked = em.mul(t, ind)?;
    let s = em.reduce_sum(picked, axes)?;
    em.div(s, counts)
}

/// `sum_i t_i * prod_{j != i} x_j` over `axes`: exact with zeros among the `x_j`,
/// unlike `prod * sum(t / x)`.
fn reduce_prod_jvp(em: &mut Emitter, x: &Atom, t: Atom, axes: &[usize]) -> Result<Atom> {
    if axes.is_empty() {
        return Ok(t);
    }
    let shape = x.ty().shape;
    let rest: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<usize> = axes.iter().chain(&rest).copied().collect();
    let n: usize = axes.iter().map(|&a| shape[a]).product();
    let mut flat = vec![n];
    flat.extend(rest.iter().map(|&i| shape[i]));
    let xf = em.transpose(x.clone(), &perm)?;
    let xf = em.reshape(xf, &flat)?;
    let tf = em.transpose(t, &perm)?;
    let tf = em.reshape(tf, &flat)?;
    let others = exclusive_products(em, xf, 0)?;
    let m = em.mul(tf, others)?;
    em.reduce_sum(m, &[0])
}

/// For each position along `axis`, the product of all the other elements along it:
/// an exclusive running product from each end, multiplied.
fn exclusive_products(em: &mut Emitter, x: Atom, axis: usize) -> Result<Atom> {
    let r = x.ty().rank();
    let d = x.dtype();
    let shifted = |em: &mut Emitter, reverse: bool| -> Result<Atom> {
        let c = em.emit1(
            Prim::Cumulative {
                op: CumOp::Prod,
                axis,
                reverse,
            },
            vec![x.clone()],
        )?;
        let (mut lo, mut hi) = (vec![0i64; r], vec![0i64; r]);
        let (into, out) = if reverse { (-1, 1) } else { (1, -1) };
        lo[axis] = into;
        hi[axis] = out;
        em.emit1(Prim::Pad { lo, hi }, vec![c, lit(d, 1.0)])
    };
    let before = shifted(em, false)?;
    let after = shifted(em, true)?;
    em.mul(before, after)
}

/// The tangent of `cumprod(x)` along `axis`: the tangent half of a parallel prefix scan
/// over `(x, t)` pairs combined as `(a, da) . (b, db) = (a b, da b + a db)`, so zeros
/// in `x` need no special case (JAX differentiates its associative scan the same way).
fn cumprod_jvp(em: &mut Emitter, x: Atom, t: Atom, axis: usize, reverse: bool) -> Result<Atom> {
    if x.ty().shape[axis] < 2 {
        return Ok(t);
    }
    if !reverse {
        return Ok(prefix_scan(em, x, t, axis, false)?.1);
    }
    let x = em.emit1(Prim::Rev { axes: vec![axis] }, vec![x])?;
    let t = em.emit1(Prim::Rev { axes: vec![axis] }, vec![t])?;
    let dt = prefix_scan(em, x, t, axis, false)?.1;
    em.emit1(Prim::Rev { axes: vec![axis] }, vec![dt])
}

/// `x[start..limit:stride]` along `axis`, everything along the other axes.
fn slice_axis(
    em: &mut Emitter,
    x: &Atom,
    axis: usize,
    start: usize,
    limit: usize,
    stride: usize,
) -> Result<Atom> {
    let shape = x.ty().shape;
    let mut s = vec![0; shape.len()];
    let mut l = shape.clone();
    let mut st = vec![1; shape.len()];
    s[axis] = start;
    l[axis] = limit;
    st[axis] = stride;
    if s.iter().all(|&v| v == 0) && l == shape && st.iter().all(|&v| v == 1) {
        return Ok(x.clone());
    }
    em.emit1(
        Prim::Slice {
            start: s,
            limit: l,
            stride: st,
        },
        vec![x.clone()],
    )
}

/// `(a, da) . (b, db) = (a b, da b + a db)`; the product only when `want_a`.
fn combine(
    em: &mut Emitter,
    (a, da): (Atom, Atom),
    (b, db): (Atom, Atom),
    want_a: bool,
) -> Result<(Option<Atom>, Atom)> {
    let p = if want_a {
        Some(em.mul(a.clone(), b.clone())?)
    } else {
        None
    };
    let l = em.mul(da, b)?;
    let r = em.mul(a, db)?;
    Ok((p, em.add(l, r)?))
}

/// Inclusive prefix products of `(a, da)` along `axis` by recursive doubling (JAX's
/// `associative_scan`): scan the pairwise products of adjacent elements, then fill in
/// the even positions. Returns the products (only when `want_a`, so the outermost
/// level emits no dead products) and their tangents.
fn prefix_scan(
    em: &mut Emitter,
    a: Atom,
    da: Atom,
    axis: usize,
    want_a: bool,
) -> Result<(Option<Atom>, Atom)> {
    let n = a.ty().shape[axis];
    if n < 2 {
        return Ok((want_a.then_some(a), da));
    }
    let evens = |em: &mut Emitter, v: &Atom| slice_axis(em, v, axis, 0, n - 1, 2);
    let odds = |em: &mut Emitter, v: &Atom| slice_axis(em, v, axis, 1, n, 2);
    let left = (evens(em, &a)?, evens(em, &da)?);
    let right = (odds(em, &a)?, odds(em, &da)?);
    // Positions 0, 2, 4, … past the first: the element after the previous odd prefix.
    let k = (n - 1) / 2;
    // The odd prefixes' products feed the even positions and the products asked for.
    let need_odd = want_a || k > 0;
    let (ra, rda) = combine(em, left, right, need_odd)?;
    // Positions 1, 3, 5, …: prefixes ending at odd indices.
    let (oa, oda) = match ra {
        Some(ra) => prefix_scan(em, ra, rda, axis, true)?,
        None => (None, rda),
    };
    let head = |em: &mut Emitter, v: &Atom| slice_axis(em, v, axis, 0, 1, 1);
    let head_da = head(em, &da)?;
    let head_a = if want_a { Some(head(em, &a)?) } else { None };
    let (ea, eda) = if k == 0 {
        (head_a, head_da)
    } else {
        let oa = oa
            .as_ref()
            .ok_or_else(|| TransformError::internal("odd prefix products were not kept"))?;
        let prev = (
            slice_axis(em, oa, axis, 0, k, 1)?,
            slice_axis(em, &oda, axis, 0, k, 1)?,
        );
        let cur = (
            slice_axis(em, &a, axis, 2, n, 2)?,
            slice_axis(em, &da, axis, 2, n, 2)?,
        );
        let (ca, cda) = combine(em, prev, cur, want_a)?;
        let ea = match (head_a, ca) {
            (Some(h), Some(c)) => Some(em.emit1(Prim::Concat { axis }, vec![h, c])?),
            (None, _) | (_, None) => None,
        };
        let eda = em.emit1(Prim::Concat { axis }, vec![head_da, cda])?;
        (ea, eda)
    };
    let out_da = interleave(em, eda, oda, axis)?;
    let out_a = match (ea, oa) {
        (Some(ea), Some(oa)) => Some(interleave(em, ea, oa, axis)?),
        (None, _) | (_, None) => None,
    };
    Ok((out_a, out_da))
}

/// `e[0], o[0], e[1], o[1], …` along `axis`, where `e` has as many elements as `o` or
/// one more.
fn interleave(em: &mut Emitter, e: Atom, o: Atom, axis: usize) -> Result<Atom> {
    let es = e.ty().shape;
    let me = es[axis];
    let mo = o.ty().shape[axis];
    let extra = me != mo;
    let o = if extra {
        let r = es.len();
        let lo = vec![0i64; r];
        let mut hi = vec![0i64; r];
        hi[axis] = 1;
        em.emit1(Prim::Pad { lo, hi }, vec![o, lit(e.dtype(), 0.0)])?
    } else {
        o
    };
    let mut split = es.clone();
    split.insert(axis + 1, 1);
    let e2 = em.reshape(e, &split)?;
    let o2 = em.reshape(o, &split)?;
    let both = em.emit1(Prim::Concat { axis: axis + 1 }, vec![e2, o2])?;
    let mut merged = es.clone();
    merged[axis] = 2 * me;
    let r = em.reshape(both, &merged)?;
    if extra {
        slice_axis(em, &r, axis, 0, 2 * me - 1, 1)
    } else {
        Ok(r)
    }
}

// ---- control flow ------------------------------------------------------------------

/// Operands or results laid out group by group: each group's primals, then the
/// tangents of those of its members with `mask` set (zeros instantiated where the
/// tangent is symbolically zero).
fn with_tangents(
    em: &mut Emitter,
    groups: &[usize],
    primals: &[Atom],
    tans: &[Tangent],
    mask: &[bool],
) -> Result<Vec<Atom>> {
    let mut out = Vec::new();
    let mut i = 0;
    for &g in groups {
        out.extend_from_slice(&primals[i..i + g]);
        for j in i..i + g {
            if mask[j] {
                let t = instantiate(em, tans.get(j).cloned().flatten(), &primals[j].ty())?;
                out.push(t);
            }
        }
        i += g;
    }
    Ok(out)
}

/// The inverse of [`with_tangents`] on a control-flow equation's results.
fn split_tangents(outs: &[Atom], groups: &[usize], mask: &[bool]) -> (Vec<Atom>, Vec<Tangent>) {
    let mut primals = Vec::new();
    let mut tans = Vec::new();
    let mut k = 0;
    let mut i = 0;
    for &g in groups {
        primals.extend_from_slice(&outs[k..k + g]);
        k += g;
        for &m in &mask[i..i + g] {
            if m {
                tans.push(outs.get(k).cloned());
                k += 1;
            } else {
                tans.push(None);
            }
        }
        i += g;
    }
    (primals, tans)
}

fn check_groups(groups: &[usize], n: usize, mask: &[bool]) -> Result<()> {
    if groups.iter().sum::<usize>() != n || mask.len() != n {
        return Err(TransformError::internal(format!(
            "tangent groups {groups:?} and mask of {} for {n} values",
            mask.len()
        )));
    }
    Ok(())
}

/// The jvp of a closed body as a new closed body: parameters are laid out by
/// `in_groups` with tangents for `in_mask`, results by `out_groups` with tangents for
/// `out_mask`.
fn jvp_closed(
    em: &mut Emitter,
    body: &Body,
    in_groups: &[usize],
    in_mask: &[bool],
    out_groups: &[usize],
    out_mask: &[bool],
) -> Result<Body> {
    check_groups(in_groups, body.params.len(), in_mask)?;
    check_groups(out_groups, body.results.len(), out_mask)?;
    let types = body.param_types();
    let mut param_types = Vec::new();
    let mut i = 0;
    for &g in in_groups {
        param_types.extend_from_slice(&types[i..i + g]);
        for j in i..i + g {
            if in_mask[j] {
                param_types.push(types[j].clone());
            }
        }
        i += g;
    }
    let params = vars(em.begin_body(&param_types));
    let (primals, tangents) = split_tangents(&params, in_groups, in_mask);
    let inner = jvp_body(em, body, &primals, &tangents).and_then(|(outs, tans)| {
        if let Some(i) = (0..tans.len()).find(|&i| tans[i].is_some() && !out_mask[i]) {
            return Err(TransformError::internal(format!(
                "result {i} of a nested body has a tangent the dependence analysis missed"
            )));
        }
        with_tangents(em, out_groups, &outs, &tans, out_mask)
    });
    match inner {
        Ok(results) => Ok(em.end_body(results)),
        Err(e) => {
            // Close the body so the emitter stays balanced for a caller that recovers.
            em.end_body(Vec::new());
            Err(e)
        }
    }
}

fn cond_jvp(
    em: &mut Emitter,
    prim: &Prim,
    then_body: &Body,
    else_body: &Body,
    args: &[Atom],
    tans: &[Tangent],
) -> Result<(Vec<Atom>, Vec<Tangent>)> {
    let ops = args.get(1..).unwrap_or(&[]);
    let op_tans = tans.get(1..).unwrap_or(&[]);
    let in_mask: Vec<bool> = op_tans.iter().map(Option::is_some).collect();
    let out_mask = or(
        &tangent_mask(then_body, &in_mask),
        &tangent_mask(else_body, &in_mask),
    );
    let nout = then_body.results.len();
    if !out_mask.iter().any(|&m| m) {
        return Ok((copy_eqn(em, prim, args.to_vec())?, vec![None; nout]));
    }
    let groups_in = [ops.len()];
    let groups_out = [nout];
    let t = jvp_closed(em, then_body, &groups_in, &in_mask, &groups_out, &out_mask)?;
    let e = jvp_closed(em, else_body, &groups_in, &in_mask, &groups_out, &out_mask)?;
    let mut new_args = vec![arg(args, 0)?];
    new_args.extend(with_tangents(em, &groups_in, ops, op_tans, &in_mask)?);
    let outs = vars(em.emit(
        Prim::Cond {
            then_body: t,
            else_body: e,
        },
        new_args,
    )?);
    Ok(split_tangents(&outs, &groups_out, &out_mask))
}

#[allow(clippy::too_many_arguments)]
fn while_jvp(
    em: &mut Emitter,
    prim: &Prim,
    cond_body: &Body,
    body: &Body,
    cond_nconsts: usize,
    body_nconsts: usize,
    args: &[Atom],
    tans: &[Tangent],
) -> Result<(Vec<Atom>, Vec<Tangent>)> {
    let nc = cond_nconsts + body_nconsts;
    if args.len() < nc || tans.len() != args.len() {
        return Err(TransformError::internal(
            "while: fewer operands than constants",
        ));
    }
    let ncarry = args.len() - nc;
    let mask: Vec<bool> = tans.iter().map(Option::is_some).collect();
    let (const_mask, init_mask) = split_at(&mask, cond_nconsts, body_nconsts);
    let carry_mask = while_carry_mask(body, const_mask, init_mask);
    if !carry_mask.iter().any(|&m| m) {
        return Ok((copy_eqn(em, prim, args.to_vec())?, vec![None; ncarry]));
    }
    let body_mask = [const_mask, &carry_mask[..]].concat();
    let groups = [body_nconsts, ncarry];
    let new_body = jvp_closed(em, body, &groups, &body_mask, &[ncarry], &carry_mask)?;

    // The condition sees the primal carry only; the tangents ride along unused.
    let mut cond_types = cond_body.param_types();
    let carry_types: Vec<Type> = args[nc..].iter().map(Atom::ty).collect();
    for (t, &m) in carry_types.iter().zip(&carry_mask) {
        if m {
            cond_types.push(t.clone());
        }
    }
    let params = vars(em.begin_body(&cond_types));
    let npre = cond_body.params.len();
    let new_cond = match em.inline(cond_body, &params[..npre.min(params.len())]) {
        Ok(r) => em.end_body(r),
        Err(e) => {
            em.end_body(Vec::new());
            return Err(e);
        }
    };

    let mut new_args = args[..cond_nconsts].to_vec();
    new_args.extend(with_tangents(
        em,
        &groups,
        &args[cond_nconsts..],
        &tans[cond_nconsts..],
        &body_mask,
    )?);
    let nbt = const_mask.iter().filter(|&&m| m).count();
    let outs = vars(em.emit(
        Prim::While {
            cond_body: new_cond,
            body: new_body,
            cond_nconsts,
            body_nconsts: body_nconsts + nbt,
        },
        new_args,
    )?);
    Ok(split_tangents(&outs, &[ncarry], &carry_mask))
}

#[allow(clippy::too_many_arguments)]
fn scan_jvp(
    em: &mut Emitter,
    prim: &Prim,
    body: &Body,
    nconsts: usize,
    ncarry: usize,
    length: usize,
    reverse: bool,
    args: &[Atom],
    tans: &[Tangent],
) -> Result<(Vec<Atom>, Vec<Tangent>)> {
    if args.len() < nconsts + ncarry || tans.len() != args.len() {
        return Err(TransformError::internal(
            "scan: fewer operands than constants and carries",
        ));
    }
    let nxs = args.len() - nconsts - ncarry;
    let nys = body.results.len().saturating_sub(ncarry);
    let mask: Vec<bool> = tans.iter().map(Option::is_some).collect();
    let (carry_mask, ys_mask) = scan_masks(body, nconsts, ncarry, &mask);
    if !carry_mask.iter().chain(&ys_mask).any(|&m| m) {
        return Ok((copy_eqn(em, prim, args.to_vec())?, vec![None; ncarry + nys]));
    }
    let in_mask = [&mask[..nconsts], &carry_mask[..], &mask[nconsts + ncarry..]].concat();
    let out_mask = [carry_mask.clone(), ys_mask].concat();
    let in_groups = [nconsts, ncarry, nxs];
    let out_groups = [ncarry, nys];
    let new_body = jvp_closed(em, body, &in_groups, &in_mask, &out_groups, &out_mask)?;
    let new_args = with_tangents(em, &in_groups, args, tans, &in_mask)?;
    let count = |m: &[bool]| m.iter().filter(|&&b| b).count();
    let outs = vars(em.emit(
        Prim::Scan {
            body: new_body,
            nconsts: nconsts + count(&mask[..nconsts]),
            ncarry: ncarry + count(&carry_mask),
            length,
            reverse,
        },
        new_args,
    )?);
    Ok(split_tangents(&outs, &out_groups, &out_mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_ir::parse_func;

    #[test]
    fn mask_follows_dependences() {
        let f = parse_func(
            "fn f(%0: f64[], %1: f64[], %2: i32[]) -> (f64[], f64[], bool[], f64[]) {
               %3: f64[] = sin(%0)
               %4: bool[] = lt(%3, %1)
               %5: f64[] = floor(%3)
               %6: f64[] = convert[dtype=f64](%2)
               return (%3, %1, %4, %5)
             }",
        )
        .expect("the test function parses");
        assert_eq!(
            tangent_mask(&f.body, &[true, false, true]),
            vec![true, false, false, false]
        );
        assert_eq!(
            tangent_mask(&f.body, &[false, true, false]),
            vec![false, true, false, false]
        );
    }
}
