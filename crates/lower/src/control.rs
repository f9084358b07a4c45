//! Control flow: `if` on a traced condition becomes `cond`; `fori`, `while` and `scan`
//! become the `scan`/`while` primitives with closed bodies. Loop carries keep a fixed
//! type; weakly typed results are converted to it, anything else is an error.

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Atom, Body, DType, Eqn, Prim, Scalar, Type, Var};
use nabla_syntax::ast;

use crate::cx::{Cx, OutTree, Res};
use crate::env::Env;
use crate::eval::ArgVal;
use crate::promote::join;
use crate::tracer::Closed;
use crate::value::{Tensor, Value};

/// Moves the captured parameters (after the explicit ones) to the front of a body, as
/// `while` and `scan` expect constants first.
fn captures_first(body: &mut Body, explicit: usize) {
    let caps = body.params.split_off(explicit);
    let mut params = caps;
    params.append(&mut body.params);
    body.params = params;
}

/// Rebuilds a value of the given structure from traced variables.
fn tree_value(tree: &OutTree, vars: &mut impl Iterator<Item = Var>) -> Value {
    match tree {
        OutTree::Leaf { weak } => match vars.next() {
            Some(v) => Value::Arr(Tensor::traced(v).with_weak(*weak)),
            None => Value::None,
        },
        OutTree::Tuple(ts) => Value::tuple(ts.iter().map(|t| tree_value(t, vars)).collect()),
    }
}

fn same_structure(a: &OutTree, b: &OutTree) -> bool {
    match (a, b) {
        (OutTree::Leaf { .. }, OutTree::Leaf { .. }) => true,
        (OutTree::Tuple(x), OutTree::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_structure(p, q))
        }
        _ => false,
    }
}

impl Cx<'_> {
    /// A value's array leaves (static numbers materialised) and its structure.
    pub fn flatten_tensors(&mut self, v: &Value, span: Span) -> Res<(OutTree, Vec<Tensor>)> {
        let mut out = Vec::new();
        let tree = self.flatten_into(v, &mut out, span)?;
        Ok((tree, out))
    }

    fn flatten_into(&mut self, v: &Value, out: &mut Vec<Tensor>, span: Span) -> Res<OutTree> {
        match v {
            Value::Tuple(items) => {
                let mut ts = Vec::new();
                for i in items.iter() {
                    ts.push(self.flatten_into(i, out, span)?);
                }
                Ok(OutTree::Tuple(ts))
            }
            other => {
                let t = self.tensor_of(other, span)?;
                let weak = t.weak;
                out.push(t);
                Ok(OutTree::Leaf { weak })
            }
        }
    }

    /// Converts loop results to the carry's types (weak values adopt the carry dtype).
    fn conform(
        &mut self,
        got: Vec<Tensor>,
        want: &[Type],
        what: &str,
        span: Span,
    ) -> Res<Vec<Atom>> {
        let mut atoms = Vec::with_capacity(got.len());
        for (i, (t, w)) in got.into_iter().zip(want).enumerate() {
            let ty = t.ty();
            // Weakly typed and integer results adopt the carry's dtype; anything that
            // promotes to it is accepted too.
            let compatible = ty.shape == w.shape
                && (ty.dtype == w.dtype
                    || t.weak
                    || ty.dtype.is_int()
                    || join(ty.dtype, t.weak, w.dtype, false).0 == w.dtype);
            if !compatible {
                return Err(Diagnostic::error(
                    Code::BRANCH_MISMATCH,
                    format!("{what}: element {i} is {ty} but the carry is {w}"),
                )
                .at(span, "here")
                .hint(
                    "a loop carry keeps its shape and dtype; cast the initial value or the result",
                ));
            }
            let t = self.cast(&t, w.dtype, span)?;
            atoms.push(self.atom(&t, span)?);
        }
        Ok(atoms)
    }

    fn tracer_mut(&mut self, span: Span) -> Res<&mut crate::tracer::Tracer> {
        self.tracer.as_mut().ok_or_else(|| {
            Diagnostic::error(Code::INTERNAL, "control flow outside tracing").at(span, "")
        })
    }

    /// `if c { … } else { … }` on a traced scalar condition.
    #[allow(clippy::too_many_arguments)]
    pub fn traced_if(
        &mut self,
        cond: Tensor,
        then_b: &ast::Block,
        else_e: &ast::Expr,
        env: &Env,
        m: usize,
        cond_span: Span,
        span: Span,
    ) -> Res<Value> {
        let pred = self.truthy(&cond, cond_span)?;
        let pred_atom = self.atom(&pred, cond_span)?;

        self.tracer_mut(span)?.begin_body(&[]);
        let v = self.eval_block(then_b, env, m)?;
        let (then_tree, then_ts) = self.flatten_tensors(&v, then_b.span)?;
        let then_types: Vec<(Type, bool)> = then_ts.iter().map(|t| (t.ty(), t.weak)).collect();
        let then_atoms: Vec<Atom> = then_ts
            .iter()
            .map(|t| self.atom(t, span))
            .collect::<Res<_>>()?;
        let mut then_c = self.tracer_mut(span)?.end_body(then_atoms);

        self.tracer_mut(span)?.begin_body(&[]);
        let v = self.eval(else_e, env, m)?;
        let (else_tree, else_ts) = self.flatten_tensors(&v, else_e.span)?;
        if !same_structure(&then_tree, &else_tree) || then_ts.len() != else_ts.len() {
            return Err(Diagnostic::error(
                Code::BRANCH_MISMATCH,
                "the branches of this `if` return different structures",
            )
            .at(span, "this `if`")
            .also(then_b.span, "then branch")
            .also(else_e.span, "else branch"));
        }
        // Join each leaf's type; convert in the else body now, patch the then body after.
        let mut joined = Vec::new();
        let mut else_atoms = Vec::new();
        for (i, (t, (tt, tw))) in else_ts.iter().zip(&then_types).enumerate() {
            if t.shape() != tt.shape {
                return Err(Diagnostic::error(
                    Code::BRANCH_MISMATCH,
                    format!(
                        "the branches of this `if` differ in shape: {tt} and {}",
                        t.ty()
                    ),
                )
                .at(span, format!("result element {i}"))
                .also(then_b.span, tt.to_string())
                .also(else_e.span, t.ty().to_string()));
            }
            let (d, w) = join(tt.dtype, *tw, t.dtype(), t.weak);
            let c = self.cast(t, d, span)?;
            else_atoms.push(self.atom(&c, span)?);
            joined.push((Type::new(d, tt.shape.clone()), w));
        }
        let mut else_c = self.tracer_mut(span)?.end_body(else_atoms);
        for (i, (ty, _)) in joined.iter().enumerate() {
            if then_c.body.results[i].dtype() != ty.dtype {
                self.patch_convert(&mut then_c, i, ty.dtype, span)?;
            }
        }
        // Both bodies take every capture of either branch.
        let then_caps = then_c.captures.clone();
        let else_caps = else_c.captures.clone();
        let tracer = self.tracer_mut(span)?;
        for v in &else_caps {
            let d = tracer.fresh(v.ty.clone());
            then_c.body.params.push(d);
        }
        let mut else_params = Vec::new();
        for v in &then_caps {
            else_params.push(tracer.fresh(v.ty.clone()));
        }
        else_params.append(&mut else_c.body.params);
        else_c.body.params = else_params;
        let mut args = vec![pred_atom];
        args.extend(
            then_caps
                .iter()
                .chain(&else_caps)
                .map(|v| Atom::Var(v.clone())),
        );
        let outs = tracer.emit(
            Prim::Cond {
                then_body: then_c.body,
                else_body: else_c.body,
            },
            args,
            span,
        )?;
        let weak_tree = rebuild_weak(&then_tree, &mut joined.iter().map(|(_, w)| *w));
        Ok(tree_value(&weak_tree, &mut outs.into_iter()))
    }

    /// Appends a conversion of result `i` to a closed body.
    fn patch_convert(
        &mut self,
        closed: &mut Closed,
        i: usize,
        dtype: DType,
        span: Span,
    ) -> Res<()> {
        let r = closed.body.results[i].clone();
        match r {
            Atom::Lit(s) => closed.body.results[i] = Atom::Lit(s.cast(dtype)),
            Atom::Var(v) => {
                let out = self.tracer_mut(span)?.fresh(v.ty.with_dtype(dtype));
                closed.body.eqns.push(Eqn {
                    prim: Prim::Convert { dtype },
                    args: vec![Atom::Var(v)],
                    outs: vec![out.clone()],
                    span,
                });
                closed.body.results[i] = Atom::Var(out);
            }
        }
        Ok(())
    }

    /// Calls a body function with traced parameters inside a new nested body.
    fn trace_loop_body(
        &mut self,
        f: &Value,
        trees: &[&OutTree],
        types: &[Type],
        span: Span,
    ) -> Res<(Value, usize)> {
        let params = self.tracer_mut(span)?.begin_body(types);
        let mut it = params.into_iter();
        let args: Vec<ArgVal> = trees
            .iter()
            .map(|t| ArgVal::pos(tree_value(t, &mut it), span))
            .collect();
        let v = self.call_value(f, args, span, span)?;
        Ok((v, types.len()))
    }

    /// `fori(lo, hi, init, |i, carry| …)`.
    pub fn fori(
        &mut self,
        lo: &Value,
        hi: &Value,
        init: &Value,
        f: &Value,
        span: Span,
    ) -> Res<Value> {
        let (lo_s, hi_s) = (crate::ops::static_int(lo), crate::ops::static_int(hi));
        if !self.tracing() {
            let (Some(a), Some(b)) = (lo_s, hi_s) else {
                let bad = if lo_s.is_none() { lo } else { hi };
                return Err(Diagnostic::error(
                    Code::BAD_ARGUMENT,
                    format!("fori bounds must be integers, found {}", bad.kind_name()),
                )
                .at(span, "this fori")
                .hint(
                    "the bounds of `fori(lo, hi, init, body)` are integers; convert with `i64(…)`",
                ));
            };
            let mut c = init.clone();
            for i in a..b {
                c = self.call_value(
                    f,
                    vec![ArgVal::pos(Value::Int(i), span), ArgVal::pos(c, span)],
                    span,
                    span,
                )?;
            }
            return Ok(c);
        }
        let (tree, init_ts) = self.flatten_tensors(init, span)?;
        let carry_types: Vec<Type> = init_ts.iter().map(Tensor::ty).collect();
        let i_ty = Type::scalar(DType::I64);
        match (lo_s, hi_s) {
            (Some(a), Some(b)) => {
                // Static bounds: a scan over the counter, which reverse mode can differentiate.
                let length = (b - a).max(0) as usize;
                let mut types = vec![i_ty.clone()];
                types.extend(carry_types.iter().cloned());
                let params = self.tracer_mut(span)?.begin_body(&types);
                let i_var = params[0].clone();
                let mut it = params[1..].iter().cloned();
                let carry = tree_value(&tree, &mut it);
                let v = self.call_value(
                    f,
                    vec![
                        ArgVal::pos(Value::Arr(Tensor::traced(i_var.clone())), span),
                        ArgVal::pos(carry, span),
                    ],
                    span,
                    span,
                )?;
                let (vt, vts) = self.flatten_tensors(&v, span)?;
                if !same_structure(&vt, &tree) {
                    return Err(Diagnostic::error(
                        Code::BRANCH_MISMATCH,
                        "the fori body changes the carry's structure",
                    )
                    .at(span, "this fori"));
                }
                let mut results = self.conform(vts, &carry_types, "fori body", span)?;
                let one = self.scalar(Scalar::I64(1));
                let next_i = self.emit1(
                    nabla_ir::Prim::Binary(nabla_ir::BinaryOp::Add),
                    &[Tensor::traced(i_var), one],
                    span,
                )?;
                results.insert(0, self.atom(&next_i, span)?);
                let mut closed = self.tracer_mut(span)?.end_body(results);
                let ncap = closed.captures.len();
                captures_first(&mut closed.body, types.len());
                let mut args: Vec<Atom> = closed
                    .captures
                    .iter()
                    .map(|v| Atom::Var(v.clone()))
                    .collect();
                args.push(Atom::Lit(Scalar::I64(a)));
                for t in &init_ts {
                    let c = self.cast(t, t.dtype(), span)?;
                    args.push(self.atom(&c, span)?);
                }
                let outs = self.tracer_mut(span)?.emit(
                    Prim::Scan {
                        body: closed.body,
                        nconsts: ncap,
                        ncarry: types.len(),
                        length,
                        reverse: false,
                    },
                    args,
                    span,
                )?;
                Ok(tree_value(&tree, &mut outs.into_iter().skip(1)))
            }
            _ => {
                // Traced bounds: a while loop over (i, hi, carry).
                let lo_t = self.tensor_of(lo, span)?;
                let hi_t = self.tensor_of(hi, span)?;
                for t in [&lo_t, &hi_t] {
                    if t.rank() != 0 || t.dtype().is_float() {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            format!("fori bounds must be integer scalars, found {}", t.ty()),
                        )
                        .at(span, "this fori")
                        .hint("the bounds of `fori(lo, hi, init, body)` are integers; convert with `i64(…)`"));
                    }
                }
                let lo_t = self.cast(&lo_t, DType::I64, span)?;
                let hi_t = self.cast(&hi_t, DType::I64, span)?;
                let f = f.clone();
                let mut types = vec![i_ty.clone(), i_ty.clone()];
                types.extend(carry_types.iter().cloned());
                // cond: i < hi
                let cp = self.tracer_mut(span)?.begin_body(&types);
                let lt = self.emit1(
                    Prim::Compare(nabla_ir::CmpOp::Lt),
                    &[Tensor::traced(cp[0].clone()), Tensor::traced(cp[1].clone())],
                    span,
                )?;
                let a = self.atom(&lt, span)?;
                let cond_c = self.tracer_mut(span)?.end_body(vec![a]);
                // body
                let bp = self.tracer_mut(span)?.begin_body(&types);
                let mut it = bp[2..].iter().cloned();
                let carry = tree_value(&tree, &mut it);
                let v = self.call_value(
                    &f,
                    vec![
                        ArgVal::pos(Value::Arr(Tensor::traced(bp[0].clone())), span),
                        ArgVal::pos(carry, span),
                    ],
                    span,
                    span,
                )?;
                let (_, vts) = self.flatten_tensors(&v, span)?;
                let mut results = self.conform(vts, &carry_types, "fori body", span)?;
                let one = self.scalar(Scalar::I64(1));
                let next_i = self.emit1(
                    Prim::Binary(nabla_ir::BinaryOp::Add),
                    &[Tensor::traced(bp[0].clone()), one],
                    span,
                )?;
                results.insert(0, Atom::Var(bp[1].clone()));
                results.insert(0, self.atom(&next_i, span)?);
                let body_c = self.tracer_mut(span)?.end_body(results);
                let mut carry = vec![self.atom(&lo_t, span)?, self.atom(&hi_t, span)?];
                for t in &init_ts {
                    carry.push(self.atom(t, span)?);
                }
                let outs = self.emit_while(cond_c, body_c, types.len(), carry, span)?;
                Ok(tree_value(&tree, &mut outs.into_iter().skip(2)))
            }
        }
    }

    /// `while(|c| pred, |c| next, init)`.
    pub fn while_loop(
        &mut self,
        cond_f: &Value,
        body_f: &Value,
        init: &Value,
        span: Span,
    ) -> Res<Value> {
        if !self.tracing() {
            let mut c = init.clone();
            loop {
                let p = self.call_value(cond_f, vec![ArgVal::pos(c.clone(), span)], span, span)?;
                let go = match &p {
                    Value::Bool(b) => *b,
                    Value::Arr(t) if t.rank() == 0 => t
                        .as_concrete()
                        .and_then(|a| a.to_scalar())
                        .is_some_and(Scalar::is_nonzero),
                    other => {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            format!(
                                "the while condition must return a bool scalar, not {}",
                                other.kind_name()
                            ),
                        )
                        .at(span, "this while"))
                    }
                };
                if !go {
                    return Ok(c);
                }
                c = self.call_value(body_f, vec![ArgVal::pos(c, span)], span, span)?;
            }
        }
        let (tree, init_ts) = self.flatten_tensors(init, span)?;
        let types: Vec<Type> = init_ts.iter().map(Tensor::ty).collect();
        let (p, n) = self.trace_loop_body(cond_f, &[&tree], &types, span)?;
        let pt = self.tensor_of(&p, span)?;
        if pt.rank() != 0 {
            return Err(Diagnostic::error(
                Code::ARRAY_CONDITION,
                format!(
                    "the while condition must return a scalar, but returns {}",
                    pt.ty()
                ),
            )
            .at(span, "this while")
            .hint("reduce it, e.g. with `all(…)` or `any(…)`"));
        }
        let pt = self.truthy(&pt, span)?;
        let pa = self.atom(&pt, span)?;
        let cond_c = self.tracer_mut(span)?.end_body(vec![pa]);
        let (v, _) = self.trace_loop_body(body_f, &[&tree], &types, span)?;
        let (vt, vts) = self.flatten_tensors(&v, span)?;
        if !same_structure(&vt, &tree) {
            return Err(Diagnostic::error(
                Code::BRANCH_MISMATCH,
                "the while body changes the carry's structure",
            )
            .at(span, "this while"));
        }
        let results = self.conform(vts, &types, "while body", span)?;
        let body_c = self.tracer_mut(span)?.end_body(results);
        let mut carry = Vec::with_capacity(init_ts.len());
        for t in &init_ts {
            carry.push(self.atom(t, span)?);
        }
        let outs = self.emit_while(cond_c, body_c, n, carry, span)?;
        Ok(tree_value(&tree, &mut outs.into_iter()))
    }

    /// Emits a `while` from its closed condition and body (each with `ncarry` explicit
    /// carry parameters followed by its captures): the captures become the loop's
    /// leading constant operands, as `Prim::While` orders them.
    fn emit_while(
        &mut self,
        mut cond_c: Closed,
        mut body_c: Closed,
        ncarry: usize,
        carry: Vec<Atom>,
        span: Span,
    ) -> Res<Vec<Var>> {
        let (nc, nb) = (cond_c.captures.len(), body_c.captures.len());
        captures_first(&mut cond_c.body, ncarry);
        captures_first(&mut body_c.body, ncarry);
        let mut args: Vec<Atom> = cond_c
            .captures
            .iter()
            .chain(&body_c.captures)
            .map(|v| Atom::Var(v.clone()))
            .collect();
        args.extend(carry);
        self.tracer_mut(span)?.emit(
            Prim::While {
                cond_body: cond_c.body,
                body: body_c.body,
                cond_nconsts: nc,
                body_nconsts: nb,
            },
            args,
            span,
        )
    }

    /// `scan(|carry, x| (carry2, y), init, xs)` → `(carry, ys)`.
    pub fn scan(
        &mut self,
        f: &Value,
        init: &Value,
        xs: &Value,
        reverse: bool,
        span: Span,
    ) -> Res<Value> {
        let (tree, init_ts) = self.flatten_tensors(init, span)?;
        let carry_types: Vec<Type> = init_ts.iter().map(Tensor::ty).collect();
        let (xtree, xs_ts) = self.flatten_tensors(xs, span)?;
        let length = match xs_ts.first() {
            Some(t) if t.rank() > 0 => t.shape()[0],
            _ => {
                return Err(Diagnostic::error(
                    Code::BAD_ARGUMENT,
                    "scan needs arrays with a leading axis to scan over",
                )
                .at(span, "this scan"))
            }
        };
        for t in &xs_ts {
            if t.rank() == 0 || t.shape()[0] != length {
                return Err(Diagnostic::error(
                    Code::SHAPE_MISMATCH,
                    format!(
                        "scan inputs must share their leading length {length}; found {}",
                        t.ty()
                    ),
                )
                .at(span, "this scan"));
            }
        }
        let x_types: Vec<Type> = xs_ts
            .iter()
            .map(|t| Type::new(t.dtype(), t.shape()[1..].to_vec()))
            .collect();
        if !self.tracing() {
            // Script layer: run it as a one-off traced function.
            return Err(
                Diagnostic::error(Code::BAD_ARGUMENT, "scan runs inside functions")
                    .at(span, "called from the script layer")
                    .hint("wrap it in a `fn` and call that"),
            );
        }
        let mut types = carry_types.clone();
        types.extend(x_types.iter().cloned());
        let params = self.tracer_mut(span)?.begin_body(&types);
        let mut it = params.into_iter();
        let carry = tree_value(&tree, &mut it);
        let x = tree_value(&xtree, &mut it);
        let v = self.call_value(
            f,
            vec![ArgVal::pos(carry, span), ArgVal::pos(x, span)],
            span,
            span,
        )?;
        let (c2, y) = match &v {
            Value::Tuple(items) if items.len() == 2 => (items[0].clone(), items[1].clone()),
            other => {
                return Err(Diagnostic::error(
                    Code::TUPLE_MISMATCH,
                    format!(
                        "the scan body must return a pair (carry, y), not {}",
                        other.kind_name()
                    ),
                )
                .at(span, "this scan"))
            }
        };
        let (ct, cts) = self.flatten_tensors(&c2, span)?;
        if !same_structure(&ct, &tree) {
            return Err(Diagnostic::error(
                Code::BRANCH_MISMATCH,
                "the scan body changes the carry's structure",
            )
            .at(span, "this scan"));
        }
        let mut results = self.conform(cts, &carry_types, "scan body", span)?;
        let (ytree, yts) = self.flatten_tensors(&y, span)?;
        for t in &yts {
            results.push(self.atom(t, span)?);
        }
        let mut closed = self.tracer_mut(span)?.end_body(results);
        let ncap = closed.captures.len();
        captures_first(&mut closed.body, types.len());
        let mut args: Vec<Atom> = closed
            .captures
            .iter()
            .map(|v| Atom::Var(v.clone()))
            .collect();
        for t in init_ts.iter().chain(&xs_ts) {
            args.push(self.atom(t, span)?);
        }
        let outs = self.tracer_mut(span)?.emit(
            Prim::Scan {
                body: closed.body,
                nconsts: ncap,
                ncarry: carry_types.len(),
                length,
                reverse,
            },
            args,
            span,
        )?;
        let mut it = outs.into_iter();
        let carry_v = tree_value(&tree, &mut it);
        let ys_v = tree_value(&ytree, &mut it);
        Ok(Value::tuple(vec![carry_v, ys_v]))
    }
}

fn rebuild_weak(tree: &OutTree, weak: &mut impl Iterator<Item = bool>) -> OutTree {
    match tree {
        OutTree::Leaf { .. } => OutTree::Leaf {
            weak: weak.next().unwrap_or(false),
        },
        OutTree::Tuple(ts) => OutTree::Tuple(ts.iter().map(|t| rebuild_weak(t, weak)).collect()),
    }
}
