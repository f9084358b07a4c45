//! Evaluation of the syntax tree: statements, blocks, expressions, names, calls and
//! attribute access, for both the script layer (eager) and function bodies (traced).

use std::rc::Rc;

use nabla_diag::{closest_name, Code, Diagnostic, Span};
use nabla_ir::{DType, Scalar};
use nabla_syntax::ast::{self, Expr, ExprKind, Pattern, Stmt, StmtKind, UnOp};

use crate::builtins::Builtin;
use crate::cx::{Cx, Res};
use crate::env::{AssignError, Env};
use crate::ops::static_int;
use crate::value::{AtOp, Callable, IndexArg, Value};

/// An evaluated call argument.
#[derive(Clone, Debug)]
pub struct ArgVal {
    pub name: Option<String>,
    pub value: Value,
    pub span: Span,
}

impl ArgVal {
    pub fn pos(value: Value, span: Span) -> ArgVal {
        ArgVal {
            name: None,
            value,
            span,
        }
    }
}

impl Cx<'_> {
    /// Runs one statement; returns the value of an expression statement.
    pub fn exec_stmt(&mut self, s: &Stmt, env: &Env, m: usize) -> Res<Option<Value>> {
        match &s.kind {
            StmtKind::Fn(def) => {
                // A nested `fn` inside a block binds like a named lambda.
                let value = Value::Func(Rc::new(Callable::User {
                    module: m,
                    def: Rc::new(def.clone()),
                }));
                env.define(&def.name.name, value, false);
                Ok(None)
            }
            StmtKind::Use(_) => Ok(None), // resolved when the module was loaded
            StmtKind::Let { pat, value } => {
                let v = self.eval(value, env, m)?;
                self.bind_pattern(pat, v, env, value.span)?;
                Ok(None)
            }
            StmtKind::Var { name, value } => {
                let v = self.eval(value, env, m)?;
                env.define(&name.name, v, true);
                Ok(None)
            }
            StmtKind::Assign { name, value } => {
                let v = self.eval(value, env, m)?;
                match env.assign(&name.name, v) {
                    Ok(()) => Ok(None),
                    Err(AssignError::Immutable) => {
                        Err(crate::check::assign_to_let(&name.name, name.span))
                    }
                    Err(AssignError::Unknown) => {
                        Err(self.unknown_name(&name.name, name.span, env, m))
                    }
                }
            }
            StmtKind::For { var, lo, hi, body } => {
                let lo_v = self.eval(lo, env, m)?;
                let hi_v = self.eval(hi, env, m)?;
                let (a, b) = match (static_int(&lo_v), static_int(&hi_v)) {
                    (Some(a), Some(b)) => (a, b),
                    _ => {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            "`for` bounds must be integers",
                        )
                        .at(lo.span.to(hi.span), "these bounds")
                        .hint("convert with `i64(…)`"))
                    }
                };
                for i in a..b {
                    let inner = env.child();
                    inner.define(&var.name, Value::Int(i), false);
                    self.eval_block(body, &inner, m)?;
                }
                Ok(None)
            }
            StmtKind::Expr(e) => Ok(Some(self.eval(e, env, m)?)),
        }
    }

    fn bind_pattern(&mut self, pat: &Pattern, v: Value, env: &Env, span: Span) -> Res<()> {
        match pat {
            Pattern::Name(id) => {
                env.define(&id.name, v, false);
                Ok(())
            }
            Pattern::Wildcard(_) => Ok(()),
            Pattern::Tuple(pats, pspan) => {
                let items = match &v {
                    Value::Tuple(items) | Value::List(items) => items.clone(),
                    other => {
                        return Err(Diagnostic::error(
                            Code::TUPLE_MISMATCH,
                            format!(
                                "cannot destructure {} into a tuple pattern",
                                other.kind_name()
                            ),
                        )
                        .at(*pspan, format!("this pattern has {} parts", pats.len()))
                        .also(span, "this value is not a tuple"))
                    }
                };
                if items.len() != pats.len() {
                    return Err(Diagnostic::error(
                        Code::TUPLE_MISMATCH,
                        format!(
                            "the pattern has {} parts but the tuple has {}",
                            pats.len(),
                            items.len()
                        ),
                    )
                    .at(*pspan, "this pattern"));
                }
                for (p, it) in pats.iter().zip(items.iter()) {
                    self.bind_pattern(p, it.clone(), env, span)?;
                }
                Ok(())
            }
        }
    }

    pub fn eval_block(&mut self, b: &ast::Block, env: &Env, m: usize) -> Res<Value> {
        let inner = env.child();
        for s in &b.stmts {
            self.exec_stmt(s, &inner, m)?;
        }
        match &b.tail {
            Some(t) => self.eval(t, &inner, m),
            None => Ok(Value::None),
        }
    }

    pub fn eval(&mut self, e: &Expr, env: &Env, m: usize) -> Res<Value> {
        match &e.kind {
            ExprKind::Int(i) => Ok(Value::Int(*i)),
            ExprKind::Float(f) => Ok(Value::Float(*f)),
            ExprKind::Str(s) => Ok(Value::Str(s.as_str().into())),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::None => Ok(Value::None),
            ExprKind::Name(n) => self.lookup(n, e.span, env, m),
            ExprKind::Tuple(items) => {
                let vs = items
                    .iter()
                    .map(|x| self.eval(x, env, m))
                    .collect::<Res<Vec<_>>>()?;
                Ok(Value::tuple(vs))
            }
            ExprKind::List(items) => {
                let vs = items
                    .iter()
                    .map(|x| self.eval(x, env, m))
                    .collect::<Res<Vec<_>>>()?;
                Ok(Value::List(vs.into()))
            }
            ExprKind::Unary { op, operand } => {
                let v = self.eval(operand, env, m)?;
                match (op, &v) {
                    (UnOp::Neg, Value::Int(i)) => {
                        i.checked_neg().map(Value::Int).ok_or_else(|| {
                            Diagnostic::error(Code::INT_OUT_OF_RANGE, "integer overflow")
                                .at(e.span, "here")
                        })
                    }
                    (UnOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
                    (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnOp::Neg, _) => self.unary(nabla_ir::UnaryOp::Neg, &v, e.span),
                    (UnOp::Not, _) => self.unary(nabla_ir::UnaryOp::Not, &v, e.span),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(lhs, env, m)?;
                let b = self.eval(rhs, env, m)?;
                self.binop(*op, &a, &b, (lhs.span, rhs.span, e.span))
            }
            ExprKind::Call { callee, args } => {
                let f = self.eval(callee, env, m)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(ArgVal {
                        name: a.name.as_ref().map(|n| n.name.clone()),
                        value: self.eval(&a.value, env, m)?,
                        span: a.value.span,
                    });
                }
                self.call_value(&f, vals, callee.span, e.span)
            }
            ExprKind::Index { base, items } => {
                let b = self.eval(base, env, m)?;
                let idx = self.eval_index_items(items, env, m)?;
                self.index_value(b, idx, base.span, e.span)
            }
            ExprKind::Field { base, name } => {
                let b = self.eval(base, env, m)?;
                self.field(b, name, env, m, e.span)
            }
            ExprKind::TupleField {
                base,
                index,
                index_span,
            } => {
                let b = self.eval(base, env, m)?;
                tuple_get(&b, *index as i64, *index_span, base.span)
            }
            ExprKind::If {
                cond,
                then_branch,
                else_branch,
            } => self.eval_if(cond, then_branch, else_branch.as_deref(), env, m, e.span),
            ExprKind::Lambda { params, body } => Ok(Value::Func(Rc::new(Callable::Lambda {
                params: params.clone().into(),
                body: Rc::new((**body).clone()),
                env: env.clone(),
                module: m,
                span: e.span,
            }))),
            ExprKind::Block(b) => self.eval_block(b, env, m),
        }
    }

    fn eval_index_items(
        &mut self,
        items: &[ast::IndexItem],
        env: &Env,
        m: usize,
    ) -> Res<Vec<IndexArg>> {
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            out.push(match it {
                ast::IndexItem::Ellipsis(s) => IndexArg::Ellipsis(*s),
                ast::IndexItem::Expr(x) => {
                    let v = self.eval(x, env, m)?;
                    match v {
                        Value::None => IndexArg::NewAxis(x.span),
                        Value::Int(i) => IndexArg::Int(i, x.span),
                        other => {
                            let t = self.tensor_of(&other, x.span)?;
                            match t.as_concrete().filter(|a| a.rank() == 0 && !a.dtype().is_float()) {
                                Some(a) => IndexArg::Int(a.to_scalar().map_or(0, Scalar::as_i64), x.span),
                                None => IndexArg::Tensor(t, x.span),
                            }
                        }
                    }
                }
                ast::IndexItem::Slice {
                    start,
                    stop,
                    step,
                    span,
                } => {
                    let mut part = |p: &Option<Expr>| -> Res<Option<i64>> {
                        match p {
                            None => Ok(None),
                            Some(x) => {
                                let v = self.eval(x, env, m)?;
                                if matches!(v, Value::None) {
                                    return Ok(None);
                                }
                                static_int(&v).map(Some).ok_or_else(|| {
                                    Diagnostic::error(
                                        Code::NOT_STATIC,
                                        "slice bounds must be integers known at trace time",
                                    )
                                    .at(x.span, format!("this is {}", v.kind_name()))
                                    .hint("use `dynamic_slice`-style indexing with an integer index, e.g. `x[i]`")
                                })
                            }
                        }
                    };
                    IndexArg::Slice {
                        start: part(start)?,
                        stop: part(stop)?,
                        step: part(step)?,
                        span: *span,
                    }
                }
            });
        }
        Ok(out)
    }

    fn index_value(
        &mut self,
        b: Value,
        idx: Vec<IndexArg>,
        base_span: Span,
        span: Span,
    ) -> Res<Value> {
        match b {
            Value::Tuple(items) => {
                if let [IndexArg::Int(i, s)] = idx.as_slice() {
                    tuple_get(&Value::Tuple(items), *i, *s, base_span)
                } else {
                    Err(Diagnostic::error(
                        Code::TUPLE_MISMATCH,
                        "tuples are indexed by one static integer",
                    )
                    .at(span, "this index"))
                }
            }
            Value::At(t) => Ok(Value::AtIndex(t, idx.into())),
            other => {
                let t = self.tensor_of(&other, base_span)?;
                Ok(Value::Arr(self.index(&t, &idx, span)?))
            }
        }
    }

    fn field(
        &mut self,
        b: Value,
        name: &ast::Ident,
        env: &Env,
        m: usize,
        span: Span,
    ) -> Res<Value> {
        let n = name.name.as_str();
        match &b {
            Value::Module(mid) => {
                let mid = *mid;
                return self.module_member(mid, name);
            }
            Value::AtIndex(t, idx) => {
                let op = AtOp::from_name(n).ok_or_else(|| {
                    Diagnostic::error(
                        Code::UNKNOWN_ATTRIBUTE,
                        format!("`.at[…]` has no method `{n}`"),
                    )
                    .at(name.span, "unknown update")
                    .hint("use one of set, add, mul, min, max, get")
                })?;
                return Ok(Value::Func(Rc::new(Callable::AtMethod {
                    base: t.clone(),
                    index: idx.clone(),
                    op,
                })));
            }
            _ => {}
        }
        let is_array = matches!(
            b,
            Value::Arr(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::List(_)
        );
        if is_array {
            let t = self.tensor_of(&b, span)?;
            match n {
                "shape" => {
                    return Ok(Value::tuple(
                        t.shape().iter().map(|&d| Value::Int(d as i64)).collect(),
                    ))
                }
                "ndim" => return Ok(Value::Int(t.rank() as i64)),
                "size" => return Ok(Value::Int(nabla_ir::dtype::numel(&t.shape()) as i64)),
                "dtype" => return Ok(Value::DType(t.dtype())),
                "T" => {
                    let r = t.rank();
                    if r < 2 {
                        return Ok(Value::Arr(t));
                    }
                    let mut perm: Vec<usize> = (0..r).collect();
                    perm.swap(r - 2, r - 1);
                    return Ok(Value::Arr(self.transpose(&t, &perm, span)?));
                }
                "at" => return Ok(Value::At(t)),
                _ => {}
            }
        }
        if let Value::Tuple(_) = b {
            if n == "shape" || n == "T" {
                return Err(Diagnostic::error(
                    Code::UNKNOWN_ATTRIBUTE,
                    format!("a tuple has no `{n}`"),
                )
                .at(name.span, "tuples are not arrays")
                .hint("index the tuple first, e.g. `t.0`"));
            }
        }
        // Method sugar: `x.f(args)` is `f(x, args)`.
        let f = self.lookup(n, name.span, env, m).map_err(|_| {
            let mut d = Diagnostic::error(
                Code::UNKNOWN_ATTRIBUTE,
                format!("{} has no attribute or method `{n}`", b.kind_name()),
            )
            .at(name.span, "unknown attribute");
            let attrs = ["shape", "ndim", "size", "dtype", "T", "at"];
            let mut candidates: Vec<&str> = attrs.to_vec();
            candidates.extend(Builtin::names());
            if let Some(c) = closest_name(n, candidates) {
                d = d.hint(format!("did you mean `{c}`?"));
            }
            d
        })?;
        match f {
            Value::Func(func) => Ok(Value::Func(Rc::new(Callable::Method { func, receiver: b }))),
            other => Err(Diagnostic::error(
                Code::UNKNOWN_ATTRIBUTE,
                format!("`{n}` is {}, not a method", other.kind_name()),
            )
            .at(name.span, "not callable")),
        }
    }

    /// Resolves a name: local scopes, the module's `fn` items, its imports, builtins.
    pub fn lookup(&mut self, name: &str, span: Span, env: &Env, m: usize) -> Res<Value> {
        if let Some(v) = env.lookup(name) {
            return Ok(v);
        }
        if let Some(v) = self.module_lookup(m, name) {
            return Ok(v);
        }
        if let Some(b) = Builtin::from_name(name) {
            return Ok(Value::Func(Rc::new(Callable::Builtin(b))));
        }
        if let Some(d) = DType::from_name(name) {
            // Only reached for dtype names used as values (e.g. `dtype=f32`); calls of
            // `f32(x)` go through the builtin cast.
            return Ok(Value::DType(d));
        }
        Err(self.unknown_name(name, span, env, m))
    }

    pub fn unknown_name(&self, name: &str, span: Span, env: &Env, m: usize) -> Diagnostic {
        let mut names: Vec<String> = env.names();
        names.extend(self.module_visible_names(m));
        names.extend(Builtin::names().iter().map(|s| s.to_string()));
        let mut d = Diagnostic::error(Code::UNKNOWN_NAME, format!("unknown name `{name}`"))
            .at(span, "not found in this scope");
        if let Some(c) = closest_name(name, names.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{c}`?"));
        }
        d
    }

    fn eval_if(
        &mut self,
        cond: &Expr,
        then_b: &ast::Block,
        else_b: Option<&Expr>,
        env: &Env,
        m: usize,
        span: Span,
    ) -> Res<Value> {
        let c = self.eval(cond, env, m)?;
        let static_cond = match &c {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Arr(t) => {
                if t.rank() != 0 {
                    return Err(Diagnostic::error(
                        Code::ARRAY_CONDITION,
                        format!("`if` needs a scalar condition, but this is {}", t.ty()),
                    )
                    .at(cond.span, "an array condition")
                    .hint("to choose elementwise, use `where(cond, a, b)`; to test all elements, use `all(…)` or `any(…)`"));
                }
                t.as_concrete()
                    .and_then(|a| a.to_scalar())
                    .map(Scalar::is_nonzero)
            }
            other => {
                return Err(Diagnostic::error(
                    Code::BAD_ARGUMENT,
                    format!("`if` needs a bool condition, found {}", other.kind_name()),
                )
                .at(cond.span, "not a condition"))
            }
        };
        match static_cond {
            Some(true) => self.eval_block(then_b, env, m),
            Some(false) => match else_b {
                Some(e) => self.eval(e, env, m),
                None => Ok(Value::None),
            },
            None => {
                let Value::Arr(t) = c else {
                    return Err(
                        Diagnostic::error(Code::INTERNAL, "bad condition").at(cond.span, "")
                    );
                };
                let else_b = else_b.ok_or_else(|| {
                    Diagnostic::error(
                        Code::BRANCH_MISMATCH,
                        "an `if` on a traced condition needs an `else` branch",
                    )
                    .at(span, "this `if` has no `else`")
                    .hint("both branches must produce a value of the same type")
                })?;
                self.traced_if(t, then_b, else_b, env, m, cond.span, span)
            }
        }
    }
}

/// `t.i` / `t[i]` on a tuple.
pub fn tuple_get(v: &Value, i: i64, ispan: Span, base_span: Span) -> Res<Value> {
    match v {
        Value::Tuple(items) => {
            let n = items.len() as i64;
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(Diagnostic::error(
                    Code::INDEX_OUT_OF_RANGE,
                    format!("tuple index {i} is out of range for a tuple of {n}"),
                )
                .at(ispan, "this index"));
            }
            Ok(items[j as usize].clone())
        }
        other => Err(Diagnostic::error(
            Code::TUPLE_MISMATCH,
            format!("`.{i}` needs a tuple, found {}", other.kind_name()),
        )
        .at(base_span, "not a tuple")),
    }
}
