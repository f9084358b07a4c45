//! Constant folding and algebraic identities.
//!
//! Every rewrite gives the same bits as the original on every input, NaN and infinity
//! included, with one deliberate exception: adding a zero. `x + 0`, `0 + x`, `x - (-0)`
//! and a `reduce_sum` over no axes all turn `-0.0` into `+0.0`, yet are folded to `x`,
//! the simplification JAX's symbolic zeros make for every tangent (the jvp of `x + c`
//! adds a zero tangent). Nothing else is approximated; in particular `x * 0` is kept
//! (it is NaN for infinite or NaN `x`), as are `0 - x` (not `-x` at zero), `x - x`,
//! `x / x`, reassociation and any function a math library would compute.
//!
//! What is folded:
//! - identities: `convert` to the operand's dtype, `reshape` to its shape, the identity
//!   `transpose`, `broadcast_in_dim` to the same shape, the slice, dynamic slice or
//!   zero padding of the whole array, a full-size dynamic update (the update itself),
//!   `rev` of axes of length ≤ 1, `cumsum`/`cumprod` along an axis of length ≤ 1, a
//!   reduction over no axes, a one-operand `concat`, `integer_pow` by 1;
//! - `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1`, `x & true`, `x | false` (the
//!   constant a literal or a broadcast of one), `neg(neg(x))`;
//! - chains: `broadcast_in_dim`, `reshape` and `transpose` of the same kind compose into
//!   one equation (which may then be an identity);
//! - "splats" (literals and broadcasts of a literal): arithmetic, comparisons and
//!   conversions of splats evaluate (see [`super::scalar`]), layout changes of a splat
//!   are splats, as are a max/min/and/or reduction over a non-empty splat, `pad` and
//!   `concat` of equal splats, `integer_pow` by 0 and constants whose elements are all
//!   equal;
//! - `select` with a splat predicate or the same value in both branches;
//! - control flow: `cond` on a literal predicate is replaced by its branch (spliced in
//!   with its variables' ids), a `while` whose condition is `false` by its initial
//!   carry, and literal operands that a body takes as a constant (every `cond`
//!   operand, `while` and `scan` constants) are substituted into the body.
//!
//! Kept variables keep their ids: a rewritten equation keeps its result variable, and a
//! spliced branch keeps its own. Dead equations left behind are for [`super::dce`].

use std::collections::HashMap;

use nabla_ir::{
    infer, Atom, BinaryOp, Body, Data, Eqn, Func, Prim, ReduceOp, Scalar, Type, UnaryOp, Var,
};

use crate::emit::subst;
use crate::error::Result;

use super::scalar::{self, is_one, is_zero, same_bits};
use super::well_formed;

/// `f` with constants folded and identities applied, bodies included.
pub fn fold(f: &Func) -> Result<Func> {
    Ok(Func {
        name: f.name.clone(),
        body: fold_body(&f.body, HashMap::new())?,
    })
}

/// How many times one equation may be rewritten in a row (each rewrite can expose
/// another, e.g. a composed transpose that is the identity); real chains need two.
const MAX_REWRITES: usize = 8;

/// Folds `b` with the parameters in `bound` replaced by their atoms (and removed from
/// its parameter list).
fn fold_body(b: &Body, bound: HashMap<u32, Atom>) -> Result<Body> {
    let params = b
        .params
        .iter()
        .filter(|p| !bound.contains_key(&p.id))
        .cloned()
        .collect();
    let mut fb = Folder {
        env: bound,
        defs: HashMap::new(),
        eqns: Vec::with_capacity(b.eqns.len()),
    };
    fb.eqns_of(&b.eqns)?;
    let results = b.results.iter().map(|a| subst(&fb.env, a)).collect();
    Ok(Body {
        params,
        eqns: fb.eqns,
        results,
    })
}

/// The literal operands among `args` (operand `i` feeds `params[i]`), as a binding of
/// the corresponding parameters.
fn literal_bindings(params: &[Var], args: &[Atom]) -> HashMap<u32, Atom> {
    params
        .iter()
        .zip(args)
        .filter(|(_, a)| matches!(a, Atom::Lit(_)))
        .map(|(p, a)| (p.id, a.clone()))
        .collect()
}

fn non_literals(args: &[Atom]) -> impl Iterator<Item = Atom> + '_ {
    args.iter().filter(|a| matches!(a, Atom::Var(_))).cloned()
}

/// Rewrites one body, equation by equation.
struct Folder {
    /// What each removed variable (forwarded result, bound parameter) now stands for.
    env: HashMap<u32, Atom>,
    /// The primitive and operands of every single-result equation emitted so far into
    /// this body, to see through chains and splats.
    defs: HashMap<u32, (Prim, Vec<Atom>)>,
    eqns: Vec<Eqn>,
}

/// What a rule decides for one equation.
enum Step {
    Keep,
    /// The results are these atoms (of the results' types).
    Forward(Vec<Atom>),
    /// A single-result equation computing the same value, keeping the result variable.
    Rewrite(Prim, Vec<Atom>),
}

fn forward(a: &Atom) -> Step {
    Step::Forward(vec![a.clone()])
}

/// `s` as a value of type `ty`: the literal itself, or its broadcast.
fn splat_of(s: Scalar, ty: &Type) -> Step {
    if ty.shape.is_empty() {
        Step::Forward(vec![Atom::Lit(s)])
    } else {
        Step::Rewrite(
            Prim::BroadcastInDim {
                shape: ty.shape.clone(),
                dims: vec![],
            },
            vec![Atom::Lit(s)],
        )
    }
}

fn same_atom(a: &Atom, b: &Atom) -> bool {
    match (a, b) {
        (Atom::Var(x), Atom::Var(y)) => x.id == y.id,
        (Atom::Lit(x), Atom::Lit(y)) => same_bits(*x, *y),
        (Atom::Var(_), Atom::Lit(_)) | (Atom::Lit(_), Atom::Var(_)) => false,
    }
}

fn is_identity_perm(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// The first element of `value` when every element has its bits.
fn uniform(value: &nabla_ir::Array) -> Option<Scalar> {
    fn all_same<T: Copy>(v: &[T], eq: impl Fn(T, T) -> bool) -> bool {
        v.first().is_some_and(|&x| v.iter().all(|&y| eq(x, y)))
    }
    let same = match value.data() {
        Data::Bool(v) => all_same(v, |a, b| a == b),
        Data::I32(v) => all_same(v, |a, b| a == b),
        Data::I64(v) => all_same(v, |a, b| a == b),
        Data::U32(v) => all_same(v, |a, b| a == b),
        Data::F32(v) => all_same(v, |a, b| a.to_bits() == b.to_bits()),
        Data::F64(v) => all_same(v, |a, b| a.to_bits() == b.to_bits()),
    };
    if same {
        value.get_flat(0)
    } else {
        None
    }
}

impl Folder {
    fn eqns_of(&mut self, eqns: &[Eqn]) -> Result<()> {
        for e in eqns {
            self.eqn(e)?;
        }
        Ok(())
    }

    fn push(&mut self, e: Eqn) {
        if let [out] = e.outs.as_slice() {
            self.defs.insert(out.id, (e.prim.clone(), e.args.clone()));
        }
        self.eqns.push(e);
    }

    /// Maps `outs` to `atoms` if their types agree (a rule bug otherwise, which keeps
    /// the equation rather than build ill-typed IR).
    fn forward(&mut self, outs: &[Var], atoms: Vec<Atom>) -> bool {
        let agree =
            atoms.len() == outs.len() && outs.iter().zip(&atoms).all(|(o, a)| o.ty == a.ty());
        if agree {
            for (o, a) in outs.iter().zip(atoms) {
                self.env.insert(o.id, a);
            }
        }
        agree
    }

    fn eqn(&mut self, e: &Eqn) -> Result<()> {
        let args: Vec<Atom> = e.args.iter().map(|a| subst(&self.env, a)).collect();
        if !well_formed(e) {
            self.push(Eqn { args, ..e.clone() });
            return Ok(());
        }
        match &e.prim {
            Prim::Cond {
                then_body,
                else_body,
            } => self.cond(e, then_body, else_body, args),
            Prim::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
            } => self.while_loop(e, cond_body, body, *cond_nconsts, *body_nconsts, args),
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                length,
                reverse,
            } => {
                let (consts, rest) = args.split_at(*nconsts);
                let bound = literal_bindings(&body.params[..*nconsts], consts);
                let prim = Prim::Scan {
                    body: fold_body(body, bound)?,
                    nconsts: consts.iter().filter(|a| matches!(a, Atom::Var(_))).count(),
                    ncarry: *ncarry,
                    length: *length,
                    reverse: *reverse,
                };
                let args = non_literals(consts).chain(rest.iter().cloned()).collect();
                self.push(Eqn {
                    prim,
                    args,
                    outs: e.outs.clone(),
                    span: e.span,
                });
                Ok(())
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
            | Prim::BitsToUnit { .. } => {
                self.simple(e, args);
                Ok(())
            }
        }
    }

    /// A primitive without bodies: rules until none applies.
    fn simple(&mut self, e: &Eqn, mut args: Vec<Atom>) {
        let mut prim = e.prim.clone();
        let out_types: Vec<Type> = e.outs.iter().map(|o| o.ty.clone()).collect();
        for _ in 0..MAX_REWRITES {
            match self.rule(&prim, &args, &out_types) {
                Step::Keep => break,
                Step::Forward(atoms) => {
                    if self.forward(&e.outs, atoms) {
                        return;
                    }
                    break;
                }
                Step::Rewrite(p, a) => {
                    let arg_types: Vec<Type> = a.iter().map(Atom::ty).collect();
                    if infer(&p, &arg_types).ok().as_ref() != Some(&out_types) {
                        break;
                    }
                    prim = p;
                    args = a;
                }
            }
        }
        self.push(Eqn {
            prim,
            args,
            outs: e.outs.clone(),
            span: e.span,
        });
    }

    fn cond(&mut self, e: &Eqn, then_body: &Body, else_body: &Body, args: Vec<Atom>) -> Result<()> {
        // `well_formed` checked there is a predicate and one parameter per operand.
        let (pred, ops) = args.split_at(1);
        if let [Atom::Lit(p)] = pred {
            let branch = if p.is_nonzero() { then_body } else { else_body };
            for (param, a) in branch.params.iter().zip(ops) {
                self.env.insert(param.id, a.clone());
            }
            self.eqns_of(&branch.eqns)?;
            let results = branch.results.iter().map(|a| subst(&self.env, a)).collect();
            if self.forward(&e.outs, results) {
                return Ok(());
            }
            return Err(crate::TransformError::internal(format!(
                "a cond branch's results do not match the cond's: {}",
                nabla_ir::print_eqn(e)
            )));
        }
        let prim = Prim::Cond {
            then_body: fold_body(then_body, literal_bindings(&then_body.params, ops))?,
            else_body: fold_body(else_body, literal_bindings(&else_body.params, ops))?,
        };
        let args = pred.iter().cloned().chain(non_literals(ops)).collect();
        self.push(Eqn {
            prim,
            args,
            outs: e.outs.clone(),
            span: e.span,
        });
        Ok(())
    }

    fn while_loop(
        &mut self,
        e: &Eqn,
        cond_body: &Body,
        body: &Body,
        cn: usize,
        bn: usize,
        args: Vec<Atom>,
    ) -> Result<()> {
        let (cond_consts, rest) = args.split_at(cn);
        let (body_consts, init) = rest.split_at(bn);
        let cond_body = fold_body(
            cond_body,
            literal_bindings(&cond_body.params[..cn], cond_consts),
        )?;
        if let [Atom::Lit(go)] = cond_body.results.as_slice() {
            if !go.is_nonzero() && self.forward(&e.outs, init.to_vec()) {
                return Ok(());
            }
        }
        let prim = Prim::While {
            body: fold_body(body, literal_bindings(&body.params[..bn], body_consts))?,
            cond_body,
            cond_nconsts: non_literals(cond_consts).count(),
            body_nconsts: non_literals(body_consts).count(),
        };
        let args = non_literals(cond_consts)
            .chain(non_literals(body_consts))
            .chain(init.iter().cloned())
            .collect();
        self.push(Eqn {
            prim,
            args,
            outs: e.outs.clone(),
            span: e.span,
        });
        Ok(())
    }

    /// The scalar every element of `a` equals, when `a` is a literal or a broadcast of
    /// one.
    fn splat(&self, a: &Atom) -> Option<Scalar> {
        match a {
            Atom::Lit(s) => Some(*s),
            Atom::Var(v) => match self.defs.get(&v.id) {
                Some((Prim::BroadcastInDim { .. }, args)) => match args.as_slice() {
                    [Atom::Lit(s)] => Some(*s),
                    _ => None,
                },
                _ => None,
            },
        }
    }

    /// The single-result equation defining `a` in this body.
    fn def(&self, a: &Atom) -> Option<&(Prim, Vec<Atom>)> {
        a.as_var().and_then(|v| self.defs.get(&v.id))
    }

    /// The rule for one bodiless equation with operands `args` and result types `outs`.
    fn rule(&self, prim: &Prim, args: &[Atom], outs: &[Type]) -> Step {
        let Some(ty) = outs.first() else {
            return Step::Keep;
        };
        if let Prim::Constant { value } = prim {
            return uniform(value).map_or(Step::Keep, |s| splat_of(s, ty));
        }
        let Some(x) = args.first() else {
            return Step::Keep;
        };
        let xs = x.ty().shape;
        let splat_x = self.splat(x);
        match prim {
            Prim::Unary(op) => {
                if let Some(r) = splat_x.and_then(|s| scalar::unary(*op, s)) {
                    return splat_of(r, ty);
                }
                if let (UnaryOp::Neg, Some((Prim::Unary(UnaryOp::Neg), inner))) = (op, self.def(x))
                {
                    if let Some(y) = inner.first() {
                        return forward(y);
                    }
                }
                Step::Keep
            }
            Prim::Binary(op) => {
                let Some(y) = args.get(1) else {
                    return Step::Keep;
                };
                let splat_y = self.splat(y);
                if let (Some(a), Some(b)) = (splat_x, splat_y) {
                    if let Some(r) = scalar::binary(*op, a, b) {
                        return splat_of(r, ty);
                    }
                }
                let is = |s: Option<Scalar>, p: fn(Scalar) -> bool| s.is_some_and(p);
                let truth = |s: Scalar| s == Scalar::Bool(true);
                let falsity = |s: Scalar| s == Scalar::Bool(false);
                match op {
                    BinaryOp::Add if is(splat_y, is_zero) => forward(x),
                    BinaryOp::Add if is(splat_x, is_zero) => forward(y),
                    BinaryOp::Sub if is(splat_y, is_zero) => forward(x),
                    BinaryOp::Mul if is(splat_y, is_one) => forward(x),
                    BinaryOp::Mul if is(splat_x, is_one) => forward(y),
                    BinaryOp::Div if is(splat_y, is_one) => forward(x),
                    BinaryOp::And if is(splat_y, truth) => forward(x),
                    BinaryOp::And if is(splat_x, truth) => forward(y),
                    BinaryOp::Or if is(splat_y, falsity) => forward(x),
                    BinaryOp::Or if is(splat_x, falsity) => forward(y),
                    _ => Step::Keep,
                }
            }
            Prim::Compare(op) => {
                let r = args
                    .get(1)
                    .and_then(|y| self.splat(y))
                    .zip(splat_x)
                    .and_then(|(b, a)| scalar::compare(*op, a, b));
                r.map_or(Step::Keep, |r| splat_of(r, ty))
            }
            Prim::Select => match (splat_x, args.get(1), args.get(2)) {
                (Some(p), Some(t), Some(f)) => forward(if p.is_nonzero() { t } else { f }),
                (None, Some(t), Some(f)) if same_atom(t, f) => forward(t),
                _ => Step::Keep,
            },
            Prim::IntPow { exponent: 1 } => forward(x),
            Prim::IntPow { exponent: 0 } => splat_of(Scalar::one(ty.dtype), ty),
            Prim::IntPow { .. } => Step::Keep,
            Prim::Convert { dtype } => {
                if x.dtype() == *dtype {
                    forward(x)
                } else if let Some(s) = splat_x {
                    splat_of(s.cast(*dtype), ty)
                } else {
                    Step::Keep
                }
            }
            Prim::StopGradient => Step::Keep,
            // Handled first: a constant has no operand.
            Prim::Constant { .. } => Step::Keep,
            Prim::Iota { .. } => Step::Keep,
            Prim::BroadcastInDim { shape, dims } => {
                if xs == *shape && is_identity_perm(dims) {
                    return forward(x);
                }
                if let Atom::Lit(_) = x {
                    return Step::Keep;
                }
                if let Some(s) = splat_x {
                    return splat_of(s, ty);
                }
                if let Some((Prim::BroadcastInDim { dims: inner, .. }, y)) = self.def(x) {
                    if let Some(composed) = inner.iter().map(|&i| dims.get(i).copied()).collect() {
                        return Step::Rewrite(
                            Prim::BroadcastInDim {
                                shape: shape.clone(),
                                dims: composed,
                            },
                            y.clone(),
                        );
                    }
                }
                Step::Keep
            }
            Prim::Reshape { shape } => {
                if xs == *shape {
                    return forward(x);
                }
                if let Some(s) = splat_x {
                    return splat_of(s, ty);
                }
                if let Some((Prim::Reshape { .. }, y)) = self.def(x) {
                    return Step::Rewrite(prim.clone(), y.clone());
                }
                Step::Keep
            }
            Prim::Transpose { perm } => {
                if is_identity_perm(perm) {
                    return forward(x);
                }
                if let Some(s) = splat_x {
                    return splat_of(s, ty);
                }
                if let Some((Prim::Transpose { perm: inner }, y)) = self.def(x) {
                    // Result axis i is x's axis perm[i], which is y's axis inner[perm[i]].
                    if let Some(composed) = perm.iter().map(|&i| inner.get(i).copied()).collect() {
                        return Step::Rewrite(Prim::Transpose { perm: composed }, y.clone());
                    }
                }
                Step::Keep
            }
            Prim::Slice {
                start,
                limit,
                stride,
            } => {
                let whole = (0..xs.len()).all(|i| {
                    start.get(i) == Some(&0)
                        && limit.get(i) == Some(&xs[i])
                        && (stride.get(i) == Some(&1) || xs[i] <= 1)
                });
                if whole {
                    forward(x)
                } else if let Some(s) = splat_x {
                    splat_of(s, ty)
                } else {
                    Step::Keep
                }
            }
            Prim::Pad { lo, hi } => {
                if lo.iter().chain(hi).all(|&w| w == 0) {
                    return forward(x);
                }
                match (splat_x, args.get(1).and_then(|v| self.splat(v))) {
                    (Some(a), Some(b)) if same_bits(a, b) => splat_of(a, ty),
                    _ => Step::Keep,
                }
            }
            Prim::Concat { .. } => {
                if args.len() == 1 {
                    return forward(x);
                }
                let all_equal = |s: Scalar| {
                    args.iter()
                        .all(|a| self.splat(a).is_some_and(|v| same_bits(v, s)))
                };
                match splat_x {
                    Some(s) if all_equal(s) => splat_of(s, ty),
                    _ => Step::Keep,
                }
            }
            Prim::Rev { axes } => {
                if axes.iter().all(|&a| xs.get(a).is_some_and(|&d| d <= 1)) {
                    forward(x)
                } else if let Some(s) = splat_x {
                    splat_of(s, ty)
                } else {
                    Step::Keep
                }
            }
            Prim::Reduce { op, axes, .. } => {
                if axes.is_empty() {
                    return forward(x);
                }
                let nonempty = axes.iter().all(|&a| xs.get(a).is_some_and(|&d| d > 0));
                let idempotent = matches!(
                    op,
                    ReduceOp::Max | ReduceOp::Min | ReduceOp::And | ReduceOp::Or
                );
                match splat_x {
                    Some(s) if nonempty && idempotent => splat_of(s, ty),
                    _ => Step::Keep,
                }
            }
            Prim::ArgReduce { .. } => Step::Keep,
            // Cumulative ops start from the first element itself (no identity added).
            Prim::Cumulative { axis, .. } => {
                if xs.get(*axis).is_some_and(|&d| d <= 1) {
                    forward(x)
                } else {
                    Step::Keep
                }
            }
            Prim::DotGeneral { .. } | Prim::Take { .. } | Prim::Scatter { .. } => Step::Keep,
            // Starts are clamped into range, so a full-size window starts at zero.
            Prim::DynamicSlice { sizes } => {
                if xs == *sizes {
                    forward(x)
                } else if let Some(s) = splat_x {
                    splat_of(s, ty)
                } else {
                    Step::Keep
                }
            }
            Prim::DynamicUpdateSlice => match args.get(1) {
                Some(u) if u.ty().shape == xs => forward(u),
                _ => Step::Keep,
            },
            Prim::Threefry2x32 | Prim::BitsToUnit { .. } => Step::Keep,
            Prim::Cond { .. } | Prim::While { .. } | Prim::Scan { .. } => Step::Keep,
        }
    }
}
