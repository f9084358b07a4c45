//! `grad`, `value_and_grad`, `vmap`, `jvp` and `vjp` at both layers.
//!
//! The function is traced into a closed IR function over its argument leaves — as a
//! nested body when already tracing, so that closures over traced values become extra
//! parameters the transform treats as constants — then transformed by
//! `nabla_transform`, simplified, and applied to the leaves: inlined into the current
//! trace, or run on the host at the script layer. Because the result of a transform is
//! an ordinary traced function, transforms compose to any depth.

use std::rc::Rc;

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Atom, Func, Prim, Scalar, Type, Var};
use nabla_transform::TransformError;

use crate::cx::{Cx, OutTree, Res};
use crate::eval::ArgVal;
use crate::tracer::Tracer;
use crate::value::{Callable, Repr, Tensor, TransformKind, Value};

/// Where each array leaf of an argument sits in its tuple structure.
#[derive(Clone, Debug)]
pub enum ArgTree {
    Leaf {
        index: usize,
        weak: bool,
    },
    /// A static argument (an integer, a string, a function…), passed through as is.
    Static(Value),
    Tuple(Vec<ArgTree>),
}

/// The pullback returned by `vjp`.
#[derive(Debug)]
pub struct PullbackFn {
    /// Residuals, then one cotangent per result leaf → one cotangent per active leaf.
    func: Rc<Func>,
    residuals: Vec<Tensor>,
    out_types: Vec<Type>,
    primal_trees: Vec<ArgTree>,
    leaf_types: Vec<Type>,
    active: Vec<bool>,
}

/// A function closed over its argument leaves.
pub(crate) struct ClosedFn {
    /// Parameters: the argument leaves, then the captured values.
    pub func: Func,
    pub captures: Vec<Tensor>,
    pub out_tree: OutTree,
}

pub(crate) fn transform_error(e: TransformError, span: Span) -> Diagnostic {
    e.to_diagnostic().or_at(span)
}

fn rebuild(tree: &ArgTree, leaves: &[Tensor]) -> Value {
    match tree {
        ArgTree::Leaf { index, weak } => Value::Arr(leaves[*index].clone().with_weak(*weak)),
        ArgTree::Static(v) => v.clone(),
        ArgTree::Tuple(items) => Value::tuple(items.iter().map(|t| rebuild(t, leaves)).collect()),
    }
}

/// Like [`rebuild`] for cotangents: static arguments have none.
fn rebuild_cotangent(tree: &ArgTree, leaves: &[Tensor]) -> Value {
    match tree {
        ArgTree::Static(_) => Value::None,
        ArgTree::Leaf { .. } => rebuild(tree, leaves),
        ArgTree::Tuple(items) => {
            Value::tuple(items.iter().map(|t| rebuild_cotangent(t, leaves)).collect())
        }
    }
}

/// Rebuilds a tree taking leaves in order from `it` (the tree's own leaf order).
fn rebuild_in_order(tree: &ArgTree, it: &mut impl Iterator<Item = Tensor>) -> Value {
    match tree {
        ArgTree::Leaf { weak, .. } => it
            .next()
            .map_or(Value::None, |t| Value::Arr(t.with_weak(*weak))),
        ArgTree::Static(_) => Value::None,
        ArgTree::Tuple(items) => {
            Value::tuple(items.iter().map(|t| rebuild_in_order(t, it)).collect())
        }
    }
}

fn rebuild_out(tree: &OutTree, it: &mut impl Iterator<Item = Tensor>) -> Value {
    match tree {
        OutTree::Leaf { weak } => it
            .next()
            .map_or(Value::None, |t| Value::Arr(t.with_weak(*weak))),
        OutTree::Tuple(items) => Value::tuple(items.iter().map(|t| rebuild_out(t, it)).collect()),
    }
}

/// The leaf indices of an argument tree, in order.
pub(crate) fn tree_leaf_indices(tree: &ArgTree, out: &mut Vec<usize>) {
    tree_leaves(tree, out)
}

fn tree_leaves(tree: &ArgTree, out: &mut Vec<usize>) {
    match tree {
        ArgTree::Leaf { index, .. } => out.push(*index),
        ArgTree::Static(_) => {}
        ArgTree::Tuple(items) => items.iter().for_each(|t| tree_leaves(t, out)),
    }
}

fn has_static(tree: &ArgTree) -> bool {
    match tree {
        ArgTree::Leaf { .. } => false,
        ArgTree::Static(_) => true,
        ArgTree::Tuple(items) => items.iter().any(has_static),
    }
}

fn positional(args: Vec<ArgVal>, what: &str) -> Res<Vec<ArgVal>> {
    if let Some(a) = args.iter().find(|a| a.name.is_some()) {
        return Err(Diagnostic::error(
            Code::BAD_ARGUMENT,
            format!("a function transformed by `{what}` takes positional arguments only"),
        )
        .at(a.span, "a keyword argument")
        .hint("pass it by position, or close over it with a lambda"));
    }
    Ok(args)
}

impl Cx<'_> {
    fn flatten_arg(&mut self, v: &Value, leaves: &mut Vec<Tensor>, span: Span) -> Res<ArgTree> {
        match v {
            Value::Arr(t) => {
                leaves.push(t.clone());
                Ok(ArgTree::Leaf {
                    index: leaves.len() - 1,
                    weak: t.weak,
                })
            }
            Value::Float(_) | Value::List(_) => {
                let t = self.tensor_of(v, span)?;
                leaves.push(t.clone());
                Ok(ArgTree::Leaf {
                    index: leaves.len() - 1,
                    weak: t.weak,
                })
            }
            Value::Tuple(items) => {
                let mut trees = Vec::with_capacity(items.len());
                for i in items.iter() {
                    trees.push(self.flatten_arg(i, leaves, span)?);
                }
                Ok(ArgTree::Tuple(trees))
            }
            other => Ok(ArgTree::Static(other.clone())),
        }
    }

    pub(crate) fn flatten_args(&mut self, args: &[ArgVal]) -> Res<(Vec<ArgTree>, Vec<Tensor>)> {
        let mut leaves = Vec::new();
        let mut trees = Vec::with_capacity(args.len());
        for a in args {
            trees.push(self.flatten_arg(&a.value, &mut leaves, a.span)?);
        }
        Ok((trees, leaves))
    }

    /// Traces `f` applied to arguments of these trees, with leaves of `types`, into a
    /// closed function.
    pub(crate) fn close_fn(
        &mut self,
        f: &Value,
        trees: &[ArgTree],
        types: &[Type],
        span: Span,
    ) -> Res<ClosedFn> {
        let nested = self.tracing();
        let params: Vec<Var> = match self.tracer.as_mut() {
            Some(t) => t.begin_body(types),
            None => {
                let mut t = Tracer::new();
                let ps = types.iter().map(|ty| t.param(ty.clone())).collect();
                self.tracer = Some(t);
                ps
            }
        };
        let leaves: Vec<Tensor> = params.into_iter().map(Tensor::traced).collect();
        let traced = self.trace_closed_body(f, trees, &leaves, span);
        let name = match f {
            Value::Func(c) => match &**c {
                Callable::User { def, .. } => def.name.name.clone(),
                _ => "lambda".to_string(),
            },
            _ => "lambda".to_string(),
        };
        let lost = || Diagnostic::error(Code::INTERNAL, "the tracer was lost").at(span, "");
        if nested {
            let tracer = self.tracer.as_mut().ok_or_else(lost)?;
            match traced {
                Ok((out_tree, atoms)) => {
                    let closed = tracer.end_body(atoms);
                    Ok(ClosedFn {
                        func: Func {
                            name,
                            body: closed.body,
                        },
                        captures: closed.captures.into_iter().map(Tensor::traced).collect(),
                        out_tree,
                    })
                }
                Err(e) => {
                    tracer.end_body(Vec::new());
                    Err(e)
                }
            }
        } else {
            let tracer = self.tracer.take().ok_or_else(lost)?;
            let (out_tree, atoms) = traced?;
            Ok(ClosedFn {
                func: tracer.finish(&name, atoms),
                captures: Vec::new(),
                out_tree,
            })
        }
    }

    fn trace_closed_body(
        &mut self,
        f: &Value,
        trees: &[ArgTree],
        leaves: &[Tensor],
        span: Span,
    ) -> Res<(OutTree, Vec<Atom>)> {
        let args = trees
            .iter()
            .map(|t| ArgVal::pos(rebuild(t, leaves), span))
            .collect();
        let r = self.call_value(f, args, span, span)?;
        let mut atoms = Vec::new();
        let tree = self.flatten_result(&r, &mut atoms, span)?;
        Ok((tree, atoms))
    }

    /// Applies a closed function to tensors: inlined when tracing, run otherwise.
    pub(crate) fn apply_func(
        &mut self,
        f: &Rc<Func>,
        args: &[Tensor],
        span: Span,
    ) -> Res<Vec<Tensor>> {
        if self.tracing() {
            let mut atoms = Vec::with_capacity(args.len());
            for a in args {
                atoms.push(self.atom(a, span)?);
            }
            let tracer = self.tracer.as_mut().ok_or_else(|| {
                Diagnostic::error(Code::INTERNAL, "the tracer was lost").at(span, "")
            })?;
            let outs = tracer.inline(&f.body, atoms)?;
            Ok(outs
                .into_iter()
                .map(|a| match a {
                    Atom::Var(v) => Tensor::traced(v),
                    Atom::Lit(s) => self.scalar(s),
                })
                .collect())
        } else {
            let mut arrays = Vec::with_capacity(args.len());
            for a in args {
                match &a.repr {
                    Repr::Concrete(x) => arrays.push(x.clone()),
                    Repr::Traced(_) => {
                        return Err(Diagnostic::error(
                            Code::INTERNAL,
                            "a traced value reached the script layer",
                        )
                        .at(span, ""))
                    }
                }
            }
            let (outs, timing) = self.host.call(f, &arrays).map_err(|d| d.or_at(span))?;
            self.eng.compile_seconds += timing.compile_s;
            Ok(outs.into_iter().map(Tensor::concrete).collect())
        }
    }

    /// The simplified function, shared: the host caches compiled code per function, so
    /// every call of one transformed function must pass the same `Rc`.
    pub(crate) fn simplified(&self, f: Func, span: Span) -> Res<Rc<Func>> {
        nabla_transform::simplify(&f)
            .map(Rc::new)
            .map_err(|e| transform_error(e, span))
    }

    fn zeros_like_type(&mut self, ty: &Type, span: Span) -> Res<Tensor> {
        let z = self.scalar(Scalar::zero(ty.dtype));
        if ty.shape.is_empty() {
            return Ok(z);
        }
        self.emit1(
            Prim::BroadcastInDim {
                shape: ty.shape.clone(),
                dims: vec![],
            },
            &[z],
            span,
        )
    }

    /// Calls `grad(f)`, `value_and_grad(f)`, `vmap(f)` or `jit(f)` on arguments.
    pub(crate) fn call_transform(
        &mut self,
        kind: TransformKind,
        inner: &Value,
        options: &[(String, Value)],
        args: Vec<ArgVal>,
        callee_span: Span,
        span: Span,
    ) -> Res<Value> {
        // `none` is meaningful for the axes (not mapped) but means "default" for argnums.
        let opt = |k: &str| options.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match kind {
            TransformKind::Jit => self.call_value(inner, args, callee_span, span),
            TransformKind::Grad | TransformKind::ValueAndGrad => {
                let args = positional(args, kind.name())?;
                let argnums = opt("argnums").filter(|v| !matches!(v, Value::None));
                self.call_grad(
                    inner,
                    argnums,
                    kind == TransformKind::ValueAndGrad,
                    args,
                    span,
                )
            }
            TransformKind::Vmap => {
                let args = positional(args, "vmap")?;
                self.call_vmap(inner, opt("in_axes"), opt("out_axes"), args, span)
            }
        }
    }

    fn call_grad(
        &mut self,
        inner: &Value,
        argnums: Option<Value>,
        with_value: bool,
        args: Vec<ArgVal>,
        span: Span,
    ) -> Res<Value> {
        let nargs = args.len();
        let bad_argnum = |what: String| {
            Diagnostic::error(Code::BAD_ARGUMENT, what)
                .at(span, "this call")
                .hint("argnums is an argument position or a tuple of them")
        };
        let norm = |i: i64| -> Res<usize> {
            let j = if i < 0 { i + nargs as i64 } else { i };
            if j < 0 || j >= nargs as i64 {
                return Err(bad_argnum(format!(
                    "argnums {i} is out of range for a call with {nargs} argument(s)"
                )));
            }
            Ok(j as usize)
        };
        let (nums, tuple_form) = match &argnums {
            None => (vec![norm(0)?], false),
            Some(Value::Int(i)) => (vec![norm(*i)?], false),
            Some(Value::Tuple(items)) => {
                let mut v = Vec::new();
                for it in items.iter() {
                    match it {
                        Value::Int(i) => v.push(norm(*i)?),
                        other => {
                            return Err(bad_argnum(format!(
                                "argnums holds {}, not an integer",
                                other.kind_name()
                            )))
                        }
                    }
                }
                (v, true)
            }
            Some(other) => {
                return Err(bad_argnum(format!(
                    "argnums must be an integer or a tuple of integers, not {}",
                    other.kind_name()
                )))
            }
        };
        let (trees, leaves) = self.flatten_args(&args)?;
        for &n in &nums {
            if has_static(&trees[n]) {
                return Err(Diagnostic::error(
                    Code::NOT_DIFFERENTIABLE,
                    format!(
                        "grad with respect to argument {n}, which is {}",
                        args[n].value.kind_name()
                    ),
                )
                .at(args[n].span, "not a float array")
                .hint("differentiate with respect to float arrays; exclude it with argnums"));
            }
        }
        let types: Vec<Type> = leaves.iter().map(Tensor::ty).collect();
        let closed = self.close_fn(inner, &trees, &types, span)?;
        let mut leaf_nums = Vec::new();
        for &n in &nums {
            tree_leaves(&trees[n], &mut leaf_nums);
        }
        let g = nabla_transform::grad(&closed.func, &leaf_nums, with_value)
            .map_err(|e| transform_error(e, span))?;
        let g = self.simplified(g, span)?;
        let mut all = leaves.clone();
        all.extend(closed.captures.iter().cloned());
        let outs = self.apply_func(&g, &all, span)?;
        let mut it = outs.into_iter();
        let value = if with_value {
            Some(rebuild_out(&closed.out_tree, &mut it))
        } else {
            None
        };
        let mut grads: Vec<Value> = nums
            .iter()
            .map(|&n| rebuild_in_order(&trees[n], &mut it))
            .collect();
        let grads = if tuple_form {
            Value::tuple(grads)
        } else {
            grads.remove(0)
        };
        Ok(match value {
            Some(v) => Value::tuple(vec![v, grads]),
            None => grads,
        })
    }

    fn call_vmap(
        &mut self,
        inner: &Value,
        in_axes: Option<Value>,
        out_axes: Option<Value>,
        args: Vec<ArgVal>,
        span: Span,
    ) -> Res<Value> {
        let (trees, leaves) = self.flatten_args(&args)?;
        let in_axes = in_axes.unwrap_or(Value::Int(0));
        let specs: Vec<Value> = match &in_axes {
            Value::Tuple(items) => {
                if items.len() != args.len() {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        format!(
                            "vmap's in_axes has {} entries but the function is called with {} argument(s)",
                            items.len(),
                            args.len()
                        ),
                    )
                    .at(span, "this call")
                    .hint("give one entry per argument (an axis or none)"));
                }
                items.to_vec()
            }
            other => vec![other.clone(); args.len()],
        };
        let mut axes: Vec<Option<usize>> = vec![None; leaves.len()];
        for (k, (tree, spec)) in trees.iter().zip(&specs).enumerate() {
            self.assign_axes(tree, spec, &leaves, &mut axes, k, args[k].span)?;
        }
        // Every mapped leaf must agree on the batch size.
        let mut size: Option<(usize, usize, usize, usize)> = None; // (size, arg, leaf axis, leaf)
        let mut arg_of_leaf = vec![0; leaves.len()];
        for (k, t) in trees.iter().enumerate() {
            let mut ls = Vec::new();
            tree_leaves(t, &mut ls);
            for l in ls {
                arg_of_leaf[l] = k;
            }
        }
        for (l, ax) in axes.iter().enumerate() {
            if let Some(a) = ax {
                let n = leaves[l].shape()[*a];
                match size {
                    None => size = Some((n, arg_of_leaf[l], *a, l)),
                    Some((m, k0, a0, _)) if m != n => {
                        return Err(Diagnostic::error(
                            Code::VMAP_SIZE_MISMATCH,
                            format!(
                                "vmap got inconsistent sizes for the mapped axes: argument {k0} has size {m} along axis {a0}, argument {} has size {n} along axis {a}",
                                arg_of_leaf[l]
                            ),
                        )
                        .at(args[arg_of_leaf[l]].span, format!("size {n} along axis {a}"))
                        .also(args[k0].span, format!("size {m} along axis {a0}"))
                        .hint("all mapped arguments need the same size along their in_axes"));
                    }
                    Some(_) => {}
                }
            }
        }
        let Some((size, ..)) = size else {
            return Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                "vmap needs at least one mapped argument, but in_axes maps none",
            )
            .at(span, "this call")
            .hint("set in_axes to map an argument, e.g. in_axes=0"));
        };
        let types: Vec<Type> = leaves
            .iter()
            .zip(&axes)
            .map(|(t, ax)| {
                let mut ty = t.ty();
                if let Some(a) = ax {
                    ty.shape.remove(*a);
                }
                ty
            })
            .collect();
        let closed = self.close_fn(inner, &trees, &types, span)?;
        let out_types = closed.func.body.result_types();
        let out_spec = out_axes.unwrap_or(Value::Int(0));
        let mut out_ax = Vec::new();
        self.out_axes_of(&closed.out_tree, &out_spec, &out_types, &mut out_ax, span)?;
        let mut in_all = axes.clone();
        in_all.extend(std::iter::repeat_n(None, closed.captures.len()));
        let vf = nabla_transform::vmap(&closed.func, &in_all, size, &out_ax)
            .map_err(|e| transform_error(e, span))?;
        let vf = self.simplified(vf, span)?;
        let mut all = leaves.clone();
        all.extend(closed.captures.iter().cloned());
        let outs = self.apply_func(&vf, &all, span)?;
        Ok(rebuild_out(&closed.out_tree, &mut outs.into_iter()))
    }

    fn assign_axes(
        &self,
        tree: &ArgTree,
        spec: &Value,
        leaves: &[Tensor],
        axes: &mut [Option<usize>],
        arg: usize,
        span: Span,
    ) -> Res<()> {
        match (tree, spec) {
            (_, Value::None) => Ok(()),
            (ArgTree::Tuple(items), Value::Tuple(specs)) => {
                if items.len() != specs.len() {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        format!(
                            "in_axes for argument {arg} has {} entries but the argument is a tuple of {}",
                            specs.len(),
                            items.len()
                        ),
                    )
                    .at(span, "this argument"));
                }
                for (t, s) in items.iter().zip(specs.iter()) {
                    self.assign_axes(t, s, leaves, axes, arg, span)?;
                }
                Ok(())
            }
            (ArgTree::Tuple(items), Value::Int(_)) => {
                for t in items {
                    self.assign_axes(t, spec, leaves, axes, arg, span)?;
                }
                Ok(())
            }
            (ArgTree::Leaf { index, .. }, Value::Int(a)) => {
                let rank = leaves[*index].rank() as i64;
                let ax = if *a < 0 { a + rank } else { *a };
                if ax < 0 || ax >= rank {
                    return Err(Diagnostic::error(
                        Code::AXIS_OUT_OF_RANGE,
                        format!(
                            "vmap maps argument {arg} along axis {a}, but it is {}",
                            leaves[*index].ty()
                        ),
                    )
                    .at(span, "this argument")
                    .hint("use in_axes=none for arguments that are not mapped"));
                }
                axes[*index] = Some(ax as usize);
                Ok(())
            }
            (ArgTree::Static(v), Value::Int(_)) => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!("vmap cannot map argument {arg}: it is {}", v.kind_name()),
            )
            .at(span, "this argument")
            .hint("use in_axes=none for arguments that are not arrays")),
            (_, other) => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!(
                    "in_axes entries are axes, none or tuples of them, not {}",
                    other.kind_name()
                ),
            )
            .at(span, "this argument")),
        }
    }

    fn out_axes_of(
        &self,
        tree: &OutTree,
        spec: &Value,
        types: &[Type],
        out: &mut Vec<Option<usize>>,
        span: Span,
    ) -> Res<()> {
        match (tree, spec) {
            (OutTree::Tuple(items), Value::Tuple(specs)) if items.len() == specs.len() => {
                for (t, s) in items.iter().zip(specs.iter()) {
                    self.out_axes_of(t, s, types, out, span)?;
                }
                Ok(())
            }
            (OutTree::Tuple(items), Value::Int(_) | Value::None) => {
                for t in items {
                    self.out_axes_of(t, spec, types, out, span)?;
                }
                Ok(())
            }
            (OutTree::Leaf { .. }, Value::None) => {
                out.push(None);
                Ok(())
            }
            (OutTree::Leaf { .. }, Value::Int(a)) => {
                let rank = types.get(out.len()).map_or(0, Type::rank) as i64 + 1;
                let ax = if *a < 0 { a + rank } else { *a };
                if ax < 0 || ax >= rank {
                    return Err(Diagnostic::error(
                        Code::AXIS_OUT_OF_RANGE,
                        format!("out_axes {a} is out of range for a result of rank {rank}"),
                    )
                    .at(span, "this call"));
                }
                out.push(Some(ax as usize));
                Ok(())
            }
            (_, other) => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!(
                    "out_axes must match the result's structure with axes or none, not {}",
                    other.kind_name()
                ),
            )
            .at(span, "this call")),
        }
    }

    /// `jvp(f, primals, tangents)` → `(f(*primals), tangent of the result)`.
    pub(crate) fn jvp_builtin(
        &mut self,
        f: &Value,
        primals: &Value,
        tangents: &Value,
        spans: [Span; 3],
        span: Span,
    ) -> Res<Value> {
        let as_args = |v: &Value, s: Span| -> Vec<ArgVal> {
            match v {
                Value::Tuple(items) => items.iter().map(|i| ArgVal::pos(i.clone(), s)).collect(),
                other => vec![ArgVal::pos(other.clone(), s)],
            }
        };
        let pargs = as_args(primals, spans[1]);
        let targs = as_args(tangents, spans[2]);
        let (trees, leaves) = self.flatten_args(&pargs)?;
        let (_, tleaves) = self.flatten_args(&targs)?;
        let mismatch = |msg: String| {
            Diagnostic::error(Code::TUPLE_MISMATCH, msg)
                .at(spans[2], "the tangents")
                .also(spans[1], "the primals")
                .hint("give one tangent of the primal's dtype and shape per primal")
        };
        if targs.len() != pargs.len() || tleaves.len() != leaves.len() {
            return Err(mismatch(format!(
                "jvp got {} primal(s) but {} tangent(s)",
                pargs.len(),
                targs.len()
            )));
        }
        let mut tangent_in = Vec::new();
        let mut active = Vec::with_capacity(leaves.len());
        for (p, t) in leaves.iter().zip(&tleaves) {
            let (pt, tt) = (p.ty(), t.ty());
            if pt.shape != tt.shape {
                return Err(mismatch(format!(
                    "a tangent is {tt} but its primal is {pt}"
                )));
            }
            let is_float = pt.dtype.is_float();
            active.push(is_float);
            if is_float {
                let t = if tt.dtype == pt.dtype {
                    t.clone()
                } else if t.weak {
                    self.emit1(
                        Prim::Convert { dtype: pt.dtype },
                        std::slice::from_ref(t),
                        span,
                    )?
                } else {
                    return Err(mismatch(format!(
                        "a tangent is {tt} but its primal is {pt}"
                    )));
                };
                tangent_in.push(t);
            }
        }
        let types: Vec<Type> = leaves.iter().map(Tensor::ty).collect();
        let closed = self.close_fn(f, &trees, &types, span)?;
        active.extend(std::iter::repeat_n(false, closed.captures.len()));
        let jf =
            nabla_transform::jvp(&closed.func, &active).map_err(|e| transform_error(e, span))?;
        let jf = self.simplified(jf, span)?;
        let mut all = leaves.clone();
        all.extend(closed.captures.iter().cloned());
        all.extend(tangent_in);
        let outs = self.apply_func(&jf, &all, span)?;
        let n = closed.out_tree.leaves();
        let mut it = outs.into_iter();
        let primal_out = rebuild_out(&closed.out_tree, &mut it.by_ref().take(n));
        let tangent_out = rebuild_out(&closed.out_tree, &mut it);
        Ok(Value::tuple(vec![primal_out, tangent_out]))
    }

    /// `vjp(f, *primals)` → `(f(*primals), pullback)`.
    pub(crate) fn vjp_builtin(
        &mut self,
        f: &Value,
        primals: Vec<ArgVal>,
        span: Span,
    ) -> Res<Value> {
        let (trees, leaves) = self.flatten_args(&primals)?;
        let types: Vec<Type> = leaves.iter().map(Tensor::ty).collect();
        let closed = self.close_fn(f, &trees, &types, span)?;
        let mut active: Vec<bool> = types.iter().map(|t| t.dtype.is_float()).collect();
        let leaf_active = active.clone();
        active.extend(std::iter::repeat_n(false, closed.captures.len()));
        let v =
            nabla_transform::vjp(&closed.func, &active).map_err(|e| transform_error(e, span))?;
        let primal = self.simplified(v.primal, span)?;
        let pullback = self.simplified(v.pullback, span)?;
        let mut all = leaves.clone();
        all.extend(closed.captures.iter().cloned());
        let outs = self.apply_func(&primal, &all, span)?;
        let n = closed.out_tree.leaves();
        let out_types = closed.func.body.result_types();
        let residuals = outs[n..].to_vec();
        let value = rebuild_out(&closed.out_tree, &mut outs.into_iter().take(n));
        let pb = PullbackFn {
            func: pullback,
            residuals,
            out_types,
            primal_trees: trees,
            leaf_types: types,
            active: leaf_active,
        };
        Ok(Value::tuple(vec![
            value,
            Value::Func(Rc::new(Callable::Pullback(Rc::new(pb)))),
        ]))
    }

    /// Calls a pullback on a cotangent shaped like the function's result.
    pub(crate) fn call_pullback(
        &mut self,
        pb: &PullbackFn,
        args: Vec<ArgVal>,
        span: Span,
    ) -> Res<Value> {
        let [ct] = <[ArgVal; 1]>::try_from(args).map_err(|args| {
            Diagnostic::error(
                Code::ARITY,
                format!("a pullback takes one cotangent, not {}", args.len()),
            )
            .at(span, "this call")
            .hint("pass a value shaped like the function's result (a tuple for a tuple result)")
        })?;
        let mut leaves = Vec::new();
        self.flatten_arg(&ct.value, &mut leaves, ct.span)?;
        if leaves.len() != pb.out_types.len() {
            return Err(Diagnostic::error(
                Code::TUPLE_MISMATCH,
                format!(
                    "the cotangent has {} array(s) but the function returned {}",
                    leaves.len(),
                    pb.out_types.len()
                ),
            )
            .at(ct.span, "this cotangent"));
        }
        let mut cts = Vec::with_capacity(leaves.len());
        for (t, want) in leaves.into_iter().zip(&pb.out_types) {
            let got = t.ty();
            if got.shape != want.shape || (got.dtype != want.dtype && !t.weak) {
                return Err(Diagnostic::error(
                    Code::TUPLE_MISMATCH,
                    format!("the cotangent is {got} but the function's result is {want}"),
                )
                .at(ct.span, "this cotangent"));
            }
            cts.push(if got.dtype == want.dtype {
                t
            } else {
                self.emit1(Prim::Convert { dtype: want.dtype }, &[t], span)?
            });
        }
        let mut all = pb.residuals.clone();
        all.extend(cts);
        let outs = self.apply_func(&pb.func, &all, span)?;
        let mut outs = outs.into_iter();
        let mut per_leaf = Vec::with_capacity(pb.leaf_types.len());
        for (ty, &act) in pb.leaf_types.iter().zip(&pb.active) {
            per_leaf.push(match act {
                true => outs.next().ok_or_else(|| {
                    Diagnostic::error(Code::INTERNAL, "a pullback lost a cotangent").at(span, "")
                })?,
                false => self.zeros_like_type(ty, span)?,
            });
        }
        Ok(Value::tuple(
            pb.primal_trees
                .iter()
                .map(|t| rebuild_cotangent(t, &per_leaf))
                .collect(),
        ))
    }
}
