//! Calling functions: binding arguments to parameters, checking shape annotations,
//! inlining calls while tracing, and — from the script layer — tracing a function once
//! per argument signature (like `jax.jit`) and running the cached IR on the host.

use std::collections::HashMap;
use std::rc::Rc;

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Array, Atom, DType, Scalar, Type};
use nabla_syntax::ast;

use crate::cx::{CacheKey, Cx, OutTree, Res, SigLeaf, Traced, MAX_CALL_DEPTH};
use crate::env::Env;
use crate::eval::ArgVal;
use crate::tracer::Tracer;
use crate::value::{Callable, Repr, Tensor, TransformKind, Value};

/// The shape of an argument for tracing: which leaves become IR parameters.
#[derive(Clone, Debug)]
pub enum ArgSpec {
    Array(Type, bool),
    Static(Value),
    Tuple(Vec<ArgSpec>),
}

impl ArgSpec {
    /// How a concrete argument is traced: arrays and floats become parameters; integers,
    /// bools, strings, dtypes and functions stay static (part of the cache key).
    pub fn of(v: &Value) -> ArgSpec {
        match v {
            Value::Arr(t) => ArgSpec::Array(t.ty(), t.weak),
            Value::Float(_) => ArgSpec::Array(Type::scalar(DType::F64), true),
            Value::Tuple(items) => ArgSpec::Tuple(items.iter().map(ArgSpec::of).collect()),
            other => ArgSpec::Static(other.clone()),
        }
    }

    pub fn has_arrays(&self) -> bool {
        match self {
            ArgSpec::Array(..) => true,
            ArgSpec::Static(_) => false,
            ArgSpec::Tuple(items) => items.iter().any(ArgSpec::has_arrays),
        }
    }

    fn key(&self, out: &mut Vec<SigLeaf>) {
        match self {
            ArgSpec::Array(t, w) => out.push(SigLeaf::Array(t.clone(), *w)),
            ArgSpec::Tuple(items) => {
                out.push(SigLeaf::Open(items.len()));
                for i in items {
                    i.key(out);
                }
                out.push(SigLeaf::Close);
            }
            ArgSpec::Static(v) => out.push(match v {
                Value::Int(i) => SigLeaf::Int(*i),
                Value::Bool(b) => SigLeaf::Bool(*b),
                Value::Str(s) => SigLeaf::Str(s.to_string()),
                Value::DType(d) => SigLeaf::DType(*d),
                Value::Func(f) => SigLeaf::Func(Rc::as_ptr(f) as *const u8 as usize),
                Value::Module(m) => SigLeaf::Module(*m),
                _ => SigLeaf::None,
            }),
        }
    }

    /// Builds the traced value standing for this argument.
    fn param(&self, tracer: &mut Tracer) -> Value {
        match self {
            ArgSpec::Array(t, w) => {
                Value::Arr(Tensor::traced(tracer.param(t.clone())).with_weak(*w))
            }
            ArgSpec::Static(v) => v.clone(),
            ArgSpec::Tuple(items) => Value::tuple(items.iter().map(|i| i.param(tracer)).collect()),
        }
    }
}

/// A stable identity for a callable, for the trace cache: a `fn` by its definition, a
/// transform by its kind, options and inner callable. `None` when there is none.
fn callable_key(c: &Rc<Callable>) -> Option<Vec<SigLeaf>> {
    match &**c {
        Callable::User { def, .. } => {
            Some(vec![SigLeaf::Func(Rc::as_ptr(def) as *const u8 as usize)])
        }
        Callable::Builtin(b) => Some(vec![SigLeaf::Str(b.name().to_string())]),
        Callable::Transform {
            kind,
            inner,
            options,
        } => {
            let Value::Func(f) = inner else { return None };
            let mut k = vec![SigLeaf::Str(kind.name().to_string())];
            for (name, v) in options.iter() {
                k.push(SigLeaf::Str(name.clone()));
                static_key(v, &mut k)?;
            }
            k.push(SigLeaf::Open(1));
            k.extend(callable_key(f)?);
            k.push(SigLeaf::Close);
            Some(k)
        }
        Callable::Lambda { .. }
        | Callable::Method { .. }
        | Callable::AtMethod { .. }
        | Callable::Pullback(_) => None,
    }
}

/// A transform option (`argnums`, `in_axes`, …) as key leaves; `None` for values with no
/// static identity.
fn static_key(v: &Value, out: &mut Vec<SigLeaf>) -> Option<()> {
    match v {
        Value::Int(i) => out.push(SigLeaf::Int(*i)),
        Value::Bool(b) => out.push(SigLeaf::Bool(*b)),
        Value::None => out.push(SigLeaf::None),
        Value::Str(s) => out.push(SigLeaf::Str(s.to_string())),
        Value::Tuple(items) | Value::List(items) => {
            out.push(SigLeaf::Open(items.len()));
            for i in items.iter() {
                static_key(i, out)?;
            }
            out.push(SigLeaf::Close);
        }
        _ => return None,
    }
    Some(())
}

/// The leaves of a concrete argument in parameter order.
pub(crate) fn arg_leaves_pub(v: &Value, out: &mut Vec<Array>) {
    arg_leaves(v, out)
}

fn arg_leaves(v: &Value, out: &mut Vec<Array>) {
    match v {
        Value::Arr(t) => {
            if let Repr::Concrete(a) = &t.repr {
                out.push(a.clone());
            }
        }
        Value::Float(f) => out.push(Array::scalar(Scalar::F64(*f))),
        Value::Tuple(items) => items.iter().for_each(|i| arg_leaves(i, out)),
        _ => {}
    }
}

impl Cx<'_> {
    /// Calls any callable value with evaluated arguments.
    pub fn call_value(
        &mut self,
        f: &Value,
        args: Vec<ArgVal>,
        callee_span: Span,
        span: Span,
    ) -> Res<Value> {
        let Value::Func(c) = f else {
            return Err(Diagnostic::error(
                Code::NOT_CALLABLE,
                format!("{} is not callable", f.kind_name()),
            )
            .at(callee_span, "this is not a function"));
        };
        self.eng.call_depth += 1;
        let r = if self.eng.call_depth > MAX_CALL_DEPTH {
            Err(Diagnostic::error(
                Code::RECURSION,
                "calls nested too deeply (is a function calling itself?)",
            )
            .at(span, "this call")
            .hint(
                "functions are traced, not run recursively: use `fori`, `while` or `scan` to loop",
            ))
        } else {
            self.call_callable(c.clone(), args, callee_span, span)
        };
        self.eng.call_depth -= 1;
        r
    }

    fn call_callable(
        &mut self,
        c: Rc<Callable>,
        mut args: Vec<ArgVal>,
        callee_span: Span,
        span: Span,
    ) -> Res<Value> {
        match &*c {
            Callable::Builtin(b) => self.call_builtin(*b, args, callee_span, span),
            Callable::Method { func, receiver } => {
                args.insert(0, ArgVal::pos(receiver.clone(), callee_span));
                self.call_callable(func.clone(), args, callee_span, span)
            }
            Callable::AtMethod { base, index, op } => {
                if args.len() > 1
                    || args
                        .iter()
                        .any(|a| a.name.is_some() && a.name.as_deref() != Some("mode"))
                {
                    return Err(
                        Diagnostic::error(Code::ARITY, "`.at[…]` updates take one value")
                            .at(span, "this update"),
                    );
                }
                let v = args.first().map(|a| a.value.clone());
                Ok(Value::Arr(self.at_update(
                    base,
                    index,
                    *op,
                    v.as_ref(),
                    span,
                )?))
            }
            Callable::User { module, def } => {
                if self.tracing() {
                    let bound =
                        self.bind_params(&def.params, &def.name.name, args, *module, span)?;
                    self.inline_user(*module, def, bound, span)
                } else {
                    let bound =
                        self.bind_params(&def.params, &def.name.name, args, *module, span)?;
                    let has_arrays = bound.iter().map(ArgSpec::of).any(|s| s.has_arrays());
                    if has_arrays {
                        self.call_traced(c.clone(), bound, span)
                    } else {
                        // Nothing to trace over (e.g. `hessian(f)` building a function):
                        // evaluate the body directly.
                        self.inline_user(*module, def, bound, span)
                    }
                }
            }
            Callable::Lambda {
                params,
                body,
                env,
                module,
                ..
            } => {
                let bound = self.bind_params(params, "lambda", args, *module, span)?;
                let inner = env.child();
                self.check_annotations(params, &bound, None, span)?;
                for (p, v) in params.iter().zip(bound) {
                    inner.define(&p.name.name, v, false);
                }
                self.eval(body, &inner, *module)
            }
            Callable::Transform {
                kind,
                inner,
                options,
            } => {
                // At the script layer a transformed function is traced, transformed and
                // cached per signature like any `fn`, so calling `grad(f)` in a loop
                // costs one trace.
                let cacheable = !self.tracing()
                    && *kind != TransformKind::Jit
                    && callable_key(&c).is_some()
                    && args.iter().all(|a| a.name.is_none());
                if cacheable {
                    let values: Vec<Value> = args.into_iter().map(|a| a.value).collect();
                    if values.iter().map(ArgSpec::of).any(|s| s.has_arrays()) {
                        return self.call_traced(c.clone(), values, span);
                    }
                    let args = values.into_iter().map(|v| ArgVal::pos(v, span)).collect();
                    return self.call_transform(*kind, inner, options, args, callee_span, span);
                }
                self.call_transform(*kind, inner, options, args, callee_span, span)
            }
            Callable::Pullback(pb) => self.call_pullback(pb, args, span),
        }
    }

    /// Matches arguments to parameters (positional, then keyword, then defaults).
    pub fn bind_params(
        &mut self,
        params: &[ast::Param],
        fname: &str,
        args: Vec<ArgVal>,
        module: usize,
        span: Span,
    ) -> Res<Vec<Value>> {
        let mut slots: Vec<Option<Value>> = vec![None; params.len()];
        let mut positional = 0;
        let given = args.iter().filter(|a| a.name.is_none()).count();
        for a in args {
            match &a.name {
                None => {
                    if positional >= params.len() {
                        let who = if fname == "lambda" {
                            "the lambda".to_string()
                        } else {
                            format!("`{fname}`")
                        };
                        let n = params.len();
                        let s = if n == 1 { "" } else { "s" };
                        return Err(Diagnostic::error(
                            Code::ARITY,
                            format!("{who} takes {n} argument{s} but {given} were given"),
                        )
                        .at(a.span, "extra argument"));
                    }
                    slots[positional] = Some(a.value);
                    positional += 1;
                }
                Some(k) => {
                    let Some(i) = params.iter().position(|p| &p.name.name == k) else {
                        let mut d = Diagnostic::error(
                            Code::UNKNOWN_KEYWORD_ARG,
                            format!("`{fname}` has no parameter `{k}`"),
                        )
                        .at(a.span, "unknown keyword");
                        if let Some(c) =
                            nabla_diag::closest_name(k, params.iter().map(|p| p.name.name.as_str()))
                        {
                            d = d.hint(format!("did you mean `{c}`?"));
                        }
                        return Err(d);
                    };
                    if slots[i].is_some() {
                        return Err(Diagnostic::error(
                            Code::ARITY,
                            format!("`{k}` is given twice in the call of `{fname}`"),
                        )
                        .at(a.span, "again here"));
                    }
                    slots[i] = Some(a.value);
                }
            }
        }
        let mut out = Vec::with_capacity(params.len());
        for (p, slot) in params.iter().zip(slots) {
            match slot {
                Some(v) => out.push(v),
                None => match &p.default {
                    Some(d) => {
                        let env = self.eng.modules[module].env.clone();
                        out.push(self.eval(d, &env, module)?);
                    }
                    None => {
                        return Err(Diagnostic::error(
                            Code::ARITY,
                            format!("`{fname}` is missing its argument `{}`", p.name.name),
                        )
                        .at(span, "in this call")
                        .also(p.span, "parameter declared here"))
                    }
                },
            }
        }
        Ok(out)
    }

    /// Checks shape/dtype annotations, unifying size variables across the signature.
    pub fn check_annotations(
        &self,
        params: &[ast::Param],
        values: &[Value],
        sizes: Option<&mut HashMap<String, usize>>,
        span: Span,
    ) -> Res<()> {
        let mut local = HashMap::new();
        let sizes = sizes.unwrap_or(&mut local);
        for (p, v) in params.iter().zip(values) {
            if let Some(ann) = &p.ann {
                let what = format!("`{}`", p.name.name);
                check_ann(ann, v, sizes, &what, "in this call", span)?;
            }
        }
        Ok(())
    }

    /// Inlines a call of a `fn` item into the function being traced.
    pub fn inline_user(
        &mut self,
        module: usize,
        def: &Rc<ast::FnDef>,
        args: Vec<Value>,
        span: Span,
    ) -> Res<Value> {
        let name = def.name.name.clone();
        if self.eng.tracing_stack.contains(&name) {
            return Err(Diagnostic::error(Code::RECURSION, format!("`{name}` calls itself")).at(span, "recursive call")
                .also(def.name.span, "defined here")
                .hint("functions are traced, not run recursively: use `fori`, `while` or `scan` to loop"));
        }
        let mut sizes = HashMap::new();
        self.check_annotations(&def.params, &args, Some(&mut sizes), span)?;
        let env = self.eng.modules[module].env.child();
        for (p, v) in def.params.iter().zip(args) {
            env.define(&p.name.name, v, false);
        }
        self.eng.tracing_stack.push(name.clone());
        let r = self.eval(&def.body, &env, module);
        self.eng.tracing_stack.pop();
        let r = r?;
        if let Some(ann) = &def.ret {
            let what = format!("the result of `{name}`");
            check_ann(ann, &r, &mut sizes, &what, "this result", def.body.span)?;
        }
        Ok(r)
    }

    /// Traces `callable` for the given argument specs into a function.
    pub fn trace(
        &mut self,
        callable: &Rc<Callable>,
        specs: &[ArgSpec],
        span: Span,
    ) -> Res<Rc<Traced>> {
        let mut sig = Vec::new();
        for s in specs {
            s.key(&mut sig);
        }
        // Keyed by what the callable *is* (a definition, a transform of one), never by
        // the address of a short-lived wrapper; callables without a stable identity
        // (lambdas, which may close over arrays) are traced afresh.
        let key = callable_key(callable).map(|mut k| {
            k.extend(sig);
            CacheKey { callee: 0, sig: k }
        });
        if let Some(t) = key.as_ref().and_then(|k| self.eng.cache.get(k)) {
            return Ok(t.clone());
        }
        let started = std::time::Instant::now();
        let outermost = self.tracer.is_none();
        let mut tracer = Tracer::new();
        let params: Vec<Value> = specs.iter().map(|s| s.param(&mut tracer)).collect();
        let saved = self.tracer.replace(tracer);
        let result = match &**callable {
            Callable::User { module, def } => self.inline_user(*module, def, params, span),
            _ => {
                let args = params.into_iter().map(|v| ArgVal::pos(v, span)).collect();
                self.call_callable(callable.clone(), args, span, span)
            }
        };
        let result = result.and_then(|r| {
            let mut atoms = Vec::new();
            let tree = self.flatten_result(&r, &mut atoms, span)?;
            Ok((tree, atoms))
        });
        let tracer = std::mem::replace(&mut self.tracer, saved);
        let (out_tree, atoms) = result?;
        let name = match &**callable {
            Callable::User { def, .. } => def.name.name.clone(),
            _ => "lambda".to_string(),
        };
        let func = Rc::new(
            tracer
                .ok_or_else(|| Diagnostic::error(Code::INTERNAL, "tracer lost").at(span, ""))?
                .finish(&name, atoms),
        );
        // Debug and test builds check every traced function: a failure here is a bug in
        // tracing or in the IR's text form, never a user error.
        #[cfg(debug_assertions)]
        if let Err(e) = nabla_ir::self_check(&func) {
            panic!("traced IR failed its self-check: {e}");
        }
        let traced = Rc::new(Traced { func, out_tree });
        if outermost {
            // Nested traces are part of their outer trace's time.
            self.eng.trace_seconds += started.elapsed().as_secs_f64();
        }
        self.eng.last_trace = Some(traced.func.clone());
        if let Some(key) = key {
            self.eng.cache.insert(key, traced.clone());
        }
        Ok(traced)
    }

    /// From the script layer: trace (once per signature) and run on the host.
    fn call_traced(&mut self, callable: Rc<Callable>, args: Vec<Value>, span: Span) -> Res<Value> {
        let specs: Vec<ArgSpec> = args.iter().map(ArgSpec::of).collect();
        let traced = self.trace(&callable, &specs, span)?;
        let mut leaves = Vec::new();
        for a in &args {
            arg_leaves(a, &mut leaves);
        }
        let (outs, timing) = self
            .host
            .call(&traced.func, &leaves)
            .map_err(|d| d.or_at(span))?;
        self.eng.compile_seconds += timing.compile_s;
        Ok(traced.out_tree.rebuild(&mut outs.into_iter()))
    }

    /// Turns a traced function's result into IR atoms and its tuple structure.
    pub fn flatten_result(&mut self, v: &Value, atoms: &mut Vec<Atom>, span: Span) -> Res<OutTree> {
        match v {
            Value::Tuple(items) => {
                let mut trees = Vec::with_capacity(items.len());
                for i in items.iter() {
                    trees.push(self.flatten_result(i, atoms, span)?);
                }
                Ok(OutTree::Tuple(trees))
            }
            Value::Arr(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::List(_) => {
                let t = self.tensor_of(v, span)?;
                atoms.push(self.atom(&t, span)?);
                Ok(OutTree::Leaf { weak: t.weak })
            }
            other => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!(
                    "a function called from a script must return arrays or tuples, not {}",
                    other.kind_name()
                ),
            )
            .at(span, "this call")),
        }
    }

    /// The environment a module's functions see.
    pub fn module_env(&self, m: usize) -> Env {
        self.eng.modules[m].env.clone()
    }
}

fn check_ann(
    ann: &ast::TypeAnn,
    v: &Value,
    sizes: &mut HashMap<String, usize>,
    what: &str,
    label: &str,
    span: Span,
) -> Res<()> {
    match ann {
        ast::TypeAnn::Tuple { elems, span: aspan } => {
            let Value::Tuple(items) = v else {
                return Err(Diagnostic::error(
                    Code::ANNOTATION_MISMATCH,
                    format!("{what} is annotated as a tuple but is {}", v.kind_name()),
                )
                .at(span, label)
                .also(*aspan, "annotation"));
            };
            if items.len() != elems.len() {
                return Err(Diagnostic::error(
                    Code::ANNOTATION_MISMATCH,
                    format!(
                        "{what} is annotated as a tuple of {} but has {}",
                        elems.len(),
                        items.len()
                    ),
                )
                .at(span, label)
                .also(*aspan, "annotation"));
            }
            for (a, i) in elems.iter().zip(items.iter()) {
                check_ann(a, i, sizes, what, label, span)?;
            }
            Ok(())
        }
        ast::TypeAnn::Array {
            dtype,
            dims,
            span: aspan,
        } => {
            let (got_dtype, got_shape) = match v {
                Value::Arr(t) => (t.dtype(), t.shape()),
                Value::Int(_) => (DType::I64, vec![]),
                Value::Float(_) => (DType::F64, vec![]),
                Value::Bool(_) => (DType::Bool, vec![]),
                other => {
                    return Err(Diagnostic::error(
                        Code::ANNOTATION_MISMATCH,
                        format!(
                            "{what} is annotated as an array but is {}",
                            other.kind_name()
                        ),
                    )
                    .at(span, label)
                    .also(*aspan, "annotation"))
                }
            };
            let want = DType::from_name(&dtype.name).ok_or_else(|| {
                Diagnostic::error(
                    Code::UNKNOWN_NAME,
                    format!("unknown dtype `{}`", dtype.name),
                )
                .at(dtype.span, "not a dtype")
                .hint("dtypes are f32, f64, i32, i64, u32 and bool")
            })?;
            let weak_ok = matches!(v, Value::Int(_) | Value::Float(_));
            let got_ty = Type::new(got_dtype, got_shape.clone());
            let ann_text = ann_string(ann);
            let mismatch = |why: String| {
                Diagnostic::error(
                    Code::ANNOTATION_MISMATCH,
                    format!("{what} is {got_ty} but is annotated {ann_text}: {why}"),
                )
                .at(span, label)
                .also(*aspan, "annotation")
            };
            if got_dtype != want && !weak_ok {
                return Err(mismatch(format!("dtype {got_dtype} is not {want}")));
            }
            let dims_v: &[ast::Dim] = dims.as_deref().unwrap_or(&[]);
            if dims_v.len() != got_shape.len() {
                return Err(mismatch(format!(
                    "rank {} is not {}",
                    got_shape.len(),
                    dims_v.len()
                )));
            }
            for (i, (d, &g)) in dims_v.iter().zip(&got_shape).enumerate() {
                match d {
                    ast::Dim::Const { value, .. } => {
                        if *value as usize != g {
                            return Err(mismatch(format!("axis {i} has size {g}, not {value}")));
                        }
                    }
                    ast::Dim::Var(id) => match sizes.get(&id.name) {
                        Some(&prev) if prev != g => {
                            return Err(mismatch(format!(
                                "size `{}` is {prev} elsewhere in the signature but {g} here",
                                id.name
                            )))
                        }
                        Some(_) => {}
                        None => {
                            sizes.insert(id.name.clone(), g);
                        }
                    },
                }
            }
            Ok(())
        }
    }
}

fn ann_string(ann: &ast::TypeAnn) -> String {
    match ann {
        ast::TypeAnn::Tuple { elems, .. } => {
            format!(
                "({})",
                elems.iter().map(ann_string).collect::<Vec<_>>().join(", ")
            )
        }
        ast::TypeAnn::Array { dtype, dims, .. } => match dims {
            None => dtype.name.clone(),
            Some(ds) => format!(
                "{}[{}]",
                dtype.name,
                ds.iter()
                    .map(|d| match d {
                        ast::Dim::Const { value, .. } => value.to_string(),
                        ast::Dim::Var(id) => id.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}
