//! The builtin functions of LANGUAGE.md §6: their names, parameters and meaning in
//! terms of primitives.

use std::rc::Rc;

use nabla_diag::{closest_name, Code, Diagnostic, Span};
use nabla_ir::{ArgOp, BinaryOp, CmpOp, CumOp, DType, Prim, ReduceOp, Scalar, UnaryOp};

use crate::cx::{Cx, Res};
use crate::eval::ArgVal;
use crate::ops::{norm_axis, static_int};
use crate::promote::float_of;
use crate::value::{Callable, Tensor, TransformKind, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Unary(UnaryOp),
    Atan2,
    Pow,
    Maximum,
    Minimum,
    Where,
    Select,
    Reduce(ReduceOp),
    Mean,
    ArgMax,
    ArgMin,
    Cumsum,
    Cumprod,
    Reshape,
    Transpose,
    BroadcastTo,
    ExpandDims,
    Moveaxis,
    Squeeze,
    Concat,
    Stack,
    Flip,
    Pad,
    Take,
    Zeros,
    Ones,
    Full,
    Arange,
    Linspace,
    Eye,
    Matmul,
    Dot,
    Einsum,
    Fori,
    While,
    Scan,
    Key,
    Split,
    FoldIn,
    Uniform,
    Normal,
    Bernoulli,
    Randint,
    Grad,
    ValueAndGrad,
    Jvp,
    Vjp,
    Vmap,
    Jit,
    StopGradient,
    Cast(DType),
    Print,
    Load,
    Save,
    LoadCsv,
    Timeit,
    CheckPrecision,
    CheckGrads,
    Plot,
}

/// Every builtin with its source name.
const TABLE: &[(&str, Builtin)] = &[
    ("abs", Builtin::Unary(UnaryOp::Abs)),
    ("neg", Builtin::Unary(UnaryOp::Neg)),
    ("sign", Builtin::Unary(UnaryOp::Sign)),
    ("exp", Builtin::Unary(UnaryOp::Exp)),
    ("expm1", Builtin::Unary(UnaryOp::Expm1)),
    ("log", Builtin::Unary(UnaryOp::Log)),
    ("log1p", Builtin::Unary(UnaryOp::Log1p)),
    ("sqrt", Builtin::Unary(UnaryOp::Sqrt)),
    ("rsqrt", Builtin::Unary(UnaryOp::Rsqrt)),
    ("sin", Builtin::Unary(UnaryOp::Sin)),
    ("cos", Builtin::Unary(UnaryOp::Cos)),
    ("tan", Builtin::Unary(UnaryOp::Tan)),
    ("tanh", Builtin::Unary(UnaryOp::Tanh)),
    ("asin", Builtin::Unary(UnaryOp::Asin)),
    ("acos", Builtin::Unary(UnaryOp::Acos)),
    ("atan", Builtin::Unary(UnaryOp::Atan)),
    ("sinh", Builtin::Unary(UnaryOp::Sinh)),
    ("cosh", Builtin::Unary(UnaryOp::Cosh)),
    ("erf", Builtin::Unary(UnaryOp::Erf)),
    ("erfinv", Builtin::Unary(UnaryOp::Erfinv)),
    ("floor", Builtin::Unary(UnaryOp::Floor)),
    ("ceil", Builtin::Unary(UnaryOp::Ceil)),
    ("round", Builtin::Unary(UnaryOp::Round)),
    ("isnan", Builtin::Unary(UnaryOp::IsNan)),
    ("isfinite", Builtin::Unary(UnaryOp::IsFinite)),
    ("atan2", Builtin::Atan2),
    ("pow", Builtin::Pow),
    ("maximum", Builtin::Maximum),
    ("minimum", Builtin::Minimum),
    ("where", Builtin::Where),
    ("select", Builtin::Select),
    ("sum", Builtin::Reduce(ReduceOp::Sum)),
    ("prod", Builtin::Reduce(ReduceOp::Prod)),
    ("max", Builtin::Reduce(ReduceOp::Max)),
    ("min", Builtin::Reduce(ReduceOp::Min)),
    ("all", Builtin::Reduce(ReduceOp::And)),
    ("any", Builtin::Reduce(ReduceOp::Or)),
    ("mean", Builtin::Mean),
    ("argmax", Builtin::ArgMax),
    ("argmin", Builtin::ArgMin),
    ("cumsum", Builtin::Cumsum),
    ("cumprod", Builtin::Cumprod),
    ("reshape", Builtin::Reshape),
    ("transpose", Builtin::Transpose),
    ("broadcast_to", Builtin::BroadcastTo),
    ("expand_dims", Builtin::ExpandDims),
    ("moveaxis", Builtin::Moveaxis),
    ("squeeze", Builtin::Squeeze),
    ("concat", Builtin::Concat),
    ("stack", Builtin::Stack),
    ("flip", Builtin::Flip),
    ("pad", Builtin::Pad),
    ("take", Builtin::Take),
    ("zeros", Builtin::Zeros),
    ("ones", Builtin::Ones),
    ("full", Builtin::Full),
    ("arange", Builtin::Arange),
    ("linspace", Builtin::Linspace),
    ("eye", Builtin::Eye),
    ("matmul", Builtin::Matmul),
    ("dot", Builtin::Dot),
    ("einsum", Builtin::Einsum),
    ("fori", Builtin::Fori),
    ("while", Builtin::While),
    ("scan", Builtin::Scan),
    ("key", Builtin::Key),
    ("split", Builtin::Split),
    ("fold_in", Builtin::FoldIn),
    ("uniform", Builtin::Uniform),
    ("normal", Builtin::Normal),
    ("bernoulli", Builtin::Bernoulli),
    ("randint", Builtin::Randint),
    ("grad", Builtin::Grad),
    ("value_and_grad", Builtin::ValueAndGrad),
    ("jvp", Builtin::Jvp),
    ("vjp", Builtin::Vjp),
    ("vmap", Builtin::Vmap),
    ("jit", Builtin::Jit),
    ("stop_gradient", Builtin::StopGradient),
    ("f32", Builtin::Cast(DType::F32)),
    ("f64", Builtin::Cast(DType::F64)),
    ("i32", Builtin::Cast(DType::I32)),
    ("i64", Builtin::Cast(DType::I64)),
    ("u32", Builtin::Cast(DType::U32)),
    ("bool", Builtin::Cast(DType::Bool)),
    ("print", Builtin::Print),
    ("load", Builtin::Load),
    ("save", Builtin::Save),
    ("load_csv", Builtin::LoadCsv),
    ("timeit", Builtin::Timeit),
    ("check_precision", Builtin::CheckPrecision),
    ("check_grads", Builtin::CheckGrads),
    ("plot", Builtin::Plot),
];

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        TABLE.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    pub fn names() -> Vec<&'static str> {
        TABLE.iter().map(|(n, _)| *n).collect()
    }

    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("builtin", |(n, _)| n)
    }

    /// Parameter names; `*name` collects the remaining positional arguments.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            Builtin::Unary(_) | Builtin::StopGradient | Builtin::Cast(_) => &["x"],
            Builtin::Atan2 => &["y", "x"],
            Builtin::Pow | Builtin::Maximum | Builtin::Minimum => &["x", "y"],
            Builtin::Where | Builtin::Select => &["cond", "x", "y"],
            Builtin::Reduce(ReduceOp::Sum) | Builtin::Mean => {
                &["x", "axis", "keepdims", "accurate"]
            }
            Builtin::Reduce(_) | Builtin::ArgMax | Builtin::ArgMin => &["x", "axis", "keepdims"],
            Builtin::Cumsum | Builtin::Cumprod => &["x", "axis"],
            Builtin::Reshape => &["x", "shape"],
            Builtin::Moveaxis => &["x", "source", "destination"],
            Builtin::Transpose => &["x", "axes"],
            Builtin::BroadcastTo => &["x", "shape"],
            Builtin::ExpandDims | Builtin::Squeeze | Builtin::Flip => &["x", "axis"],
            Builtin::Concat | Builtin::Stack => &["xs", "axis"],
            Builtin::Pad => &["x", "pad_width", "value"],
            Builtin::Take => &["x", "indices", "axis"],
            Builtin::Zeros | Builtin::Ones => &["shape", "dtype"],
            Builtin::Full => &["shape", "value", "dtype"],
            Builtin::Arange => &["start", "stop", "step", "dtype"],
            Builtin::Linspace => &["start", "stop", "num", "dtype"],
            Builtin::Eye => &["n", "m", "dtype"],
            Builtin::Matmul => &["a", "b"],
            Builtin::Dot => &["a", "b", "accurate"],
            Builtin::Einsum => &["spec", "*operands"],
            Builtin::Fori => &["lo", "hi", "init", "body"],
            Builtin::While => &["cond", "body", "init"],
            Builtin::Scan => &["f", "init", "xs", "reverse"],
            Builtin::Key => &["seed"],
            Builtin::Split => &["key", "n"],
            Builtin::FoldIn => &["key", "data"],
            Builtin::Uniform => &["key", "shape", "lo", "hi", "dtype"],
            Builtin::Normal => &["key", "shape", "dtype"],
            Builtin::Bernoulli => &["key", "p", "shape"],
            Builtin::Randint => &["key", "shape", "lo", "hi", "dtype"],
            Builtin::Grad | Builtin::ValueAndGrad => &["f", "argnums"],
            Builtin::Jvp => &["f", "primals", "tangents"],
            Builtin::Vjp => &["f", "*primals"],
            Builtin::Vmap => &["f", "in_axes", "out_axes"],
            Builtin::Jit => &["f"],
            Builtin::Print | Builtin::Plot => &["*values"],
            Builtin::Load | Builtin::LoadCsv => &["path"],
            Builtin::Save => &["path", "x"],
            Builtin::Timeit => &["f", "*args", "label", "repeat"],
            Builtin::CheckPrecision => &["f", "*args"],
            Builtin::CheckGrads => &["f", "*args"],
        }
    }
}

/// Arguments bound to a builtin's parameters.
pub struct Bound {
    pub name: &'static str,
    names: &'static [&'static str],
    vals: Vec<Option<ArgVal>>,
    pub rest: Vec<ArgVal>,
    pub span: Span,
}

impl Bound {
    fn slot(&self, name: &str) -> Option<&ArgVal> {
        let i = self.names.iter().position(|n| *n == name)?;
        self.vals[i].as_ref()
    }

    /// The argument as given, an explicit `none` included (absent: `None`).
    pub fn given(&self, name: &str) -> Option<Value> {
        self.slot(name).map(|a| a.value.clone())
    }

    pub fn opt(&self, name: &str) -> Option<Value> {
        self.slot(name)
            .map(|a| a.value.clone())
            .filter(|v| !matches!(v, Value::None))
    }

    pub fn span_of(&self, name: &str) -> Span {
        self.slot(name).map_or(self.span, |a| a.span)
    }

    pub fn req(&self, name: &str) -> Res<Value> {
        self.slot(name).map(|a| a.value.clone()).ok_or_else(|| {
            Diagnostic::error(
                Code::ARITY,
                format!("`{}` is missing its argument `{name}`", self.name),
            )
            .at(self.span, "in this call")
            .hint(format!("{}({})", self.name, self.names.join(", ")))
        })
    }

    pub fn flag(&self, name: &str) -> Res<bool> {
        match self.opt(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(other) => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!("`{name}` must be true or false, not {}", other.kind_name()),
            )
            .at(self.span_of(name), "here")),
        }
    }
}

fn bind(b: Builtin, args: Vec<ArgVal>, span: Span) -> Res<Bound> {
    let names = b.params();
    let name = b.name();
    let variadic = names.iter().position(|n| n.starts_with('*'));
    let mut vals: Vec<Option<ArgVal>> = vec![None; names.len()];
    let mut rest = Vec::new();
    let mut pos = 0;
    for a in args {
        match &a.name {
            None => {
                if Some(pos) == variadic {
                    rest.push(a);
                    continue;
                }
                if pos >= names.len() || variadic.is_some_and(|v| pos > v) {
                    return Err(Diagnostic::error(
                        Code::ARITY,
                        format!(
                            "`{name}` takes at most {} positional argument(s)",
                            names.len()
                        ),
                    )
                    .at(a.span, "extra argument")
                    .hint(format!("{name}({})", names.join(", "))));
                }
                vals[pos] = Some(a);
                pos += 1;
            }
            Some(k) => {
                let Some(i) = names.iter().position(|n| n == k) else {
                    let mut d = Diagnostic::error(
                        Code::UNKNOWN_KEYWORD_ARG,
                        format!("`{name}` has no parameter `{k}`"),
                    )
                    .at(a.span, "unknown keyword");
                    if let Some(c) = closest_name(k, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{c}`?"));
                    } else {
                        d = d.hint(format!("{name}({})", names.join(", ")));
                    }
                    return Err(d);
                };
                vals[i] = Some(a);
            }
        }
    }
    Ok(Bound {
        name,
        names,
        vals,
        rest,
        span,
    })
}

/// A dtype from `dtype=` arguments (`f32` names the cast builtin, which also names the dtype).
pub fn as_dtype(v: &Value, span: Span) -> Res<DType> {
    match v {
        Value::DType(d) => Ok(*d),
        Value::Func(f) => match &**f {
            Callable::Builtin(Builtin::Cast(d)) => Ok(*d),
            _ => Err(not_dtype(v, span)),
        },
        Value::Str(s) => DType::from_name(s).ok_or_else(|| not_dtype(v, span)),
        _ => Err(not_dtype(v, span)),
    }
}

fn not_dtype(v: &Value, span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::BAD_ARGUMENT,
        format!("expected a dtype, found {}", v.kind_name()),
    )
    .at(span, "not a dtype")
    .hint("dtypes are f32, f64, i32, i64, u32 and bool")
}

impl Cx<'_> {
    /// The `axis=` of a builtin that treats `axis=none` as "flatten first" (NumPy's
    /// argmax, cumsum, take): with no axis, `x` is replaced by its flattening and the
    /// axis is 0.
    fn axis_or_flatten(&mut self, x: &mut Tensor, a: &Bound, span: Span) -> Res<usize> {
        match a.opt("axis") {
            None => {
                let n = x.shape().iter().product::<usize>();
                *x = self.reshape(x, &[n], span)?;
                Ok(0)
            }
            Some(v) => {
                let i = static_int(&v).ok_or_else(|| axis_err(a.span_of("axis")))?;
                norm_axis(i, x.rank(), a.span_of("axis"))
            }
        }
    }

    /// Axes from `axis=` (none, an int, or a tuple of ints), normalised.
    pub fn axes_arg(&self, v: Option<Value>, rank: usize, span: Span) -> Res<Option<Vec<usize>>> {
        match v {
            None => Ok(None),
            Some(Value::Tuple(items)) | Some(Value::List(items)) => {
                let mut out = Vec::new();
                for it in items.iter() {
                    let a = static_int(it).ok_or_else(|| axis_err(span))?;
                    out.push(norm_axis(a, rank, span)?);
                }
                Ok(Some(out))
            }
            Some(v) => {
                let a = static_int(&v).ok_or_else(|| axis_err(span))?;
                Ok(Some(vec![norm_axis(a, rank, span)?]))
            }
        }
    }

    pub fn call_builtin(
        &mut self,
        b: Builtin,
        args: Vec<ArgVal>,
        _callee_span: Span,
        span: Span,
    ) -> Res<Value> {
        let a = bind(b, args, span)?;
        match b {
            Builtin::Unary(op) => {
                let x = a.req("x")?;
                self.unary(op, &x, span)
            }
            Builtin::Atan2 => {
                let (y, x) = (a.req("y")?, a.req("x")?);
                self.binary(
                    BinaryOp::Atan2,
                    &y,
                    &x,
                    (a.span_of("y"), a.span_of("x"), span),
                )
            }
            Builtin::Pow => {
                let (x, y) = (a.req("x")?, a.req("y")?);
                self.binop(
                    nabla_syntax::ast::BinOp::Pow,
                    &x,
                    &y,
                    (a.span_of("x"), a.span_of("y"), span),
                )
            }
            Builtin::Maximum | Builtin::Minimum => {
                let op = if b == Builtin::Maximum {
                    BinaryOp::Max
                } else {
                    BinaryOp::Min
                };
                let (x, y) = (a.req("x")?, a.req("y")?);
                self.binary(op, &x, &y, (a.span_of("x"), a.span_of("y"), span))
            }
            Builtin::Where | Builtin::Select => {
                let (c, x, y) = (a.req("cond")?, a.req("x")?, a.req("y")?);
                self.select(
                    &c,
                    &x,
                    &y,
                    [a.span_of("cond"), a.span_of("x"), a.span_of("y"), span],
                )
            }
            Builtin::Reduce(op) => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let axes = self.axes_arg(a.opt("axis"), x.rank(), a.span_of("axis"))?;
                let accurate = op == ReduceOp::Sum && a.flag("accurate")?;
                let keep = a.flag("keepdims")?;
                Ok(Value::Arr(self.reduce(op, &x, axes, keep, accurate, span)?))
            }
            Builtin::Mean => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let x = if x.dtype().is_float() {
                    x
                } else {
                    self.cast(&x, float_of(x.dtype()), span)?
                };
                let axes = self.axes_arg(a.opt("axis"), x.rank(), a.span_of("axis"))?;
                let shape = x.shape();
                let count: usize = match &axes {
                    None => shape.iter().product(),
                    Some(ax) => ax.iter().map(|&i| shape[i]).product(),
                };
                let s = self.reduce(
                    ReduceOp::Sum,
                    &x,
                    axes,
                    a.flag("keepdims")?,
                    a.flag("accurate")?,
                    span,
                )?;
                // JAX's compiled mean multiplies by the reciprocal of the count (XLA
                // rewrites the division); doing the same keeps results bit-identical.
                let inv =
                    self.full_like(&s, Scalar::F64(1.0 / count as f64).cast(x.dtype()), span)?;
                let w = s.weak;
                Ok(Value::Arr(
                    self.binary_prim(BinaryOp::Mul, &s, &inv, span)?
                        .with_weak(w),
                ))
            }
            Builtin::ArgMax | Builtin::ArgMin => {
                let op = if b == Builtin::ArgMax {
                    ArgOp::ArgMax
                } else {
                    ArgOp::ArgMin
                };
                let mut x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let keep = a.flag("keepdims")?;
                let orig_rank = x.rank();
                let axis = self.axis_or_flatten(&mut x, &a, span)?;
                if x.shape()[axis] == 0 {
                    return Err(Diagnostic::error(
                        Code::SHAPE_MISMATCH,
                        format!("{} of an empty axis", b.name()),
                    )
                    .at(span, format!("operand is {}", x.ty())));
                }
                let r = self.emit1(
                    Prim::ArgReduce {
                        op,
                        axis,
                        index_dtype: DType::I64,
                    },
                    &[x.clone()],
                    span,
                )?;
                if keep {
                    let shape = if a.opt("axis").is_none() {
                        vec![1; orig_rank]
                    } else {
                        let mut s = x.shape();
                        s[axis] = 1;
                        s
                    };
                    return Ok(Value::Arr(self.reshape(&r, &shape, span)?));
                }
                Ok(Value::Arr(r))
            }
            Builtin::Cumsum | Builtin::Cumprod => {
                let op = if b == Builtin::Cumsum {
                    CumOp::Sum
                } else {
                    CumOp::Prod
                };
                let mut x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                if x.dtype() == DType::Bool {
                    x = self.cast(&x, DType::I64, span)?;
                }
                let axis = self.axis_or_flatten(&mut x, &a, span)?;
                let w = x.weak;
                Ok(Value::Arr(
                    self.emit1(
                        Prim::Cumulative {
                            op,
                            axis,
                            reverse: false,
                        },
                        &[x],
                        span,
                    )?
                    .with_weak(w),
                ))
            }
            Builtin::Reshape => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let shape = self.reshape_target(&a.req("shape")?, &x, a.span_of("shape"))?;
                Ok(Value::Arr(self.reshape(&x, &shape, span)?))
            }
            Builtin::Transpose => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let r = x.rank();
                let perm = match self.axes_arg(a.opt("axes"), r, a.span_of("axes"))? {
                    None => (0..r).rev().collect(),
                    Some(p) => {
                        let mut sorted = p.clone();
                        sorted.sort_unstable();
                        if sorted != (0..r).collect::<Vec<_>>() {
                            return Err(Diagnostic::error(
                                Code::AXIS_OUT_OF_RANGE,
                                format!(
                                    "axes {p:?} are not a permutation of the {r} axes of {}",
                                    x.ty()
                                ),
                            )
                            .at(a.span_of("axes"), "this permutation"));
                        }
                        p
                    }
                };
                Ok(Value::Arr(self.transpose(&x, &perm, span)?))
            }
            Builtin::BroadcastTo => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let shape = self.static_shape(&a.req("shape")?, a.span_of("shape"))?;
                Ok(Value::Arr(self.broadcast_to(&x, &shape, span)?))
            }
            Builtin::Moveaxis => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let r = x.rank();
                let src =
                    static_int(&a.req("source")?).ok_or_else(|| axis_err(a.span_of("source")))?;
                let dst = static_int(&a.req("destination")?)
                    .ok_or_else(|| axis_err(a.span_of("destination")))?;
                let src = norm_axis(src, r, a.span_of("source"))?;
                let dst = norm_axis(dst, r, a.span_of("destination"))?;
                let mut perm: Vec<usize> = (0..r).filter(|&i| i != src).collect();
                perm.insert(dst, src);
                Ok(Value::Arr(self.transpose(&x, &perm, span)?))
            }
            Builtin::ExpandDims => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let i = static_int(&a.req("axis")?).ok_or_else(|| axis_err(a.span_of("axis")))?;
                let axis = norm_axis(i, x.rank() + 1, a.span_of("axis"))?;
                let mut s = x.shape();
                s.insert(axis, 1);
                Ok(Value::Arr(self.reshape(&x, &s, span)?))
            }
            Builtin::Squeeze => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let shape = x.shape();
                let axes = match self.axes_arg(a.opt("axis"), x.rank(), a.span_of("axis"))? {
                    None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
                    Some(ax) => {
                        if let Some(&bad) = ax.iter().find(|&&i| shape[i] != 1) {
                            return Err(Diagnostic::error(
                                Code::SHAPE_MISMATCH,
                                format!(
                                    "cannot squeeze axis {bad} of size {} in {}",
                                    shape[bad],
                                    x.ty()
                                ),
                            )
                            .at(a.span_of("axis"), "this axis"));
                        }
                        ax
                    }
                };
                let s: Vec<usize> = (0..shape.len())
                    .filter(|i| !axes.contains(i))
                    .map(|i| shape[i])
                    .collect();
                Ok(Value::Arr(self.reshape(&x, &s, span)?))
            }
            Builtin::Concat | Builtin::Stack => {
                let xs = a.req("xs")?;
                let items = match &xs {
                    Value::List(v) | Value::Tuple(v) => v.clone(),
                    other => {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            format!(
                                "`{}` takes a list of arrays, not {}",
                                b.name(),
                                other.kind_name()
                            ),
                        )
                        .at(a.span_of("xs"), "e.g. `[x, y]`"))
                    }
                };
                let mut ts = Vec::new();
                for it in items.iter() {
                    ts.push(self.tensor_of(it, a.span_of("xs"))?);
                }
                let axis = match a.opt("axis") {
                    None => 0,
                    Some(v) => static_int(&v).ok_or_else(|| axis_err(a.span_of("axis")))?,
                };
                Ok(Value::Arr(if b == Builtin::Concat {
                    self.concat(&ts, axis, span)?
                } else {
                    self.stack(&ts, axis, span)?
                }))
            }
            Builtin::Flip => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let axes = self
                    .axes_arg(a.opt("axis"), x.rank(), a.span_of("axis"))?
                    .unwrap_or_else(|| (0..x.rank()).collect());
                let w = x.weak;
                Ok(Value::Arr(
                    self.emit1(Prim::Rev { axes }, &[x], span)?.with_weak(w),
                ))
            }
            Builtin::Pad => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let widths = pad_widths(&a.req("pad_width")?, x.rank(), a.span_of("pad_width"))?;
                let v = a.opt("value").unwrap_or(Value::Int(0));
                let pv = self.tensor_of(&v, a.span_of("value"))?;
                let pv = self.cast(&pv, x.dtype(), span)?;
                if pv.rank() != 0 {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        "the pad value must be a scalar",
                    )
                    .at(a.span_of("value"), "not a scalar"));
                }
                for (axis, (&d, &(l, h))) in x.shape().iter().zip(&widths).enumerate() {
                    let size = (d as i64).checked_add(l).and_then(|n| n.checked_add(h));
                    if size.is_none_or(|n| n < 0) {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            format!(
                                "padding axis {axis} of size {d} by ({l}, {h}) gives {}",
                                size.map_or("a size that overflows".to_string(), |n| {
                                    format!("the negative size {n}")
                                })
                            ),
                        )
                        .at(a.span_of("pad_width"), "these widths")
                        .hint(
                            "pad widths are element counts; the padded array must fit in memory",
                        ));
                    }
                }
                let (lo, hi): (Vec<i64>, Vec<i64>) = widths.into_iter().unzip();
                let w = x.weak;
                Ok(Value::Arr(
                    self.emit1(Prim::Pad { lo, hi }, &[x, pv], span)?
                        .with_weak(w),
                ))
            }
            Builtin::Take => {
                let mut x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let idx = self.tensor_of(&a.req("indices")?, a.span_of("indices"))?;
                let axis = self.axis_or_flatten(&mut x, &a, span)?;
                let mut items = vec![
                    crate::value::IndexArg::Slice {
                        start: None,
                        stop: None,
                        step: None,
                        span
                    };
                    axis
                ];
                items.push(crate::value::IndexArg::Tensor(idx, a.span_of("indices")));
                Ok(Value::Arr(self.index(&x, &items, span)?))
            }
            Builtin::Zeros | Builtin::Ones => {
                let shape = self.static_shape(&a.req("shape")?, a.span_of("shape"))?;
                let d = match a.opt("dtype") {
                    Some(v) => as_dtype(&v, a.span_of("dtype"))?,
                    None => DType::F64,
                };
                let v = if b == Builtin::Zeros {
                    Scalar::zero(d)
                } else {
                    Scalar::one(d)
                };
                Ok(Value::Arr(self.full(&shape, v, span)?))
            }
            Builtin::Full => {
                let shape = self.static_shape(&a.req("shape")?, a.span_of("shape"))?;
                let v = self.tensor_of(&a.req("value")?, a.span_of("value"))?;
                let d = match a.opt("dtype") {
                    Some(dv) => as_dtype(&dv, a.span_of("dtype"))?,
                    None => v.dtype(),
                };
                let v = self.cast(&v, d, span)?;
                let v = v.with_weak(false);
                Ok(Value::Arr(self.broadcast_to(&v, &shape, span)?))
            }
            Builtin::Arange => self.arange(&a, span),
            Builtin::Linspace => self.linspace(&a, span),
            Builtin::Eye => {
                let n = static_int(&a.req("n")?)
                    .ok_or_else(|| static_err("eye size", a.span_of("n")))?;
                let m = match a.opt("m") {
                    None => n,
                    Some(v) => {
                        static_int(&v).ok_or_else(|| static_err("eye size", a.span_of("m")))?
                    }
                };
                if n < 0 || m < 0 {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        "eye sizes must be non-negative",
                    )
                    .at(span, "here"));
                }
                let d = match a.opt("dtype") {
                    Some(v) => as_dtype(&v, a.span_of("dtype"))?,
                    None => DType::F64,
                };
                let shape = vec![n as usize, m as usize];
                nabla_ir::array::check_alloc(&shape, d).map_err(|e| {
                    Diagnostic::error(Code::ALLOCATION_TOO_LARGE, e.to_string())
                        .at(span, "this array")
                })?;
                let r = self.emit1(
                    Prim::Iota {
                        dtype: DType::I64,
                        shape: shape.clone(),
                        axis: 0,
                    },
                    &[],
                    span,
                )?;
                let c = self.emit1(
                    Prim::Iota {
                        dtype: DType::I64,
                        shape,
                        axis: 1,
                    },
                    &[],
                    span,
                )?;
                let eq = self.emit1(Prim::Compare(CmpOp::Eq), &[r, c], span)?;
                Ok(Value::Arr(self.cast(&eq, d, span)?))
            }
            Builtin::Matmul => {
                let (x, y) = (a.req("a")?, a.req("b")?);
                self.matmul(&x, &y, (a.span_of("a"), a.span_of("b"), span))
            }
            Builtin::Dot => self.dot(&a, span),
            Builtin::Einsum => {
                let spec = match a.req("spec")? {
                    Value::Str(s) => s,
                    other => {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            format!(
                                "einsum's first argument is a spec string, not {}",
                                other.kind_name()
                            ),
                        )
                        .at(a.span_of("spec"), "e.g. \"ij,jk->ik\""))
                    }
                };
                let mut ops = Vec::new();
                for r in &a.rest {
                    ops.push((self.tensor_of(&r.value, r.span)?, r.span));
                }
                Ok(Value::Arr(self.einsum(
                    &spec,
                    &ops,
                    a.span_of("spec"),
                    span,
                )?))
            }
            Builtin::Fori => {
                let (lo, hi, init, f) =
                    (a.req("lo")?, a.req("hi")?, a.req("init")?, a.req("body")?);
                self.fori(&lo, &hi, &init, &f, span)
            }
            Builtin::While => {
                let (c, body, init) = (a.req("cond")?, a.req("body")?, a.req("init")?);
                self.while_loop(&c, &body, &init, span)
            }
            Builtin::Scan => {
                let (f, init, xs) = (a.req("f")?, a.req("init")?, a.req("xs")?);
                let reverse = a.flag("reverse")?;
                self.scan(&f, &init, &xs, reverse, span)
            }
            Builtin::Key
            | Builtin::Split
            | Builtin::FoldIn
            | Builtin::Uniform
            | Builtin::Normal
            | Builtin::Bernoulli
            | Builtin::Randint => self.random_builtin(b, &a, span),
            Builtin::Grad | Builtin::ValueAndGrad | Builtin::Vmap | Builtin::Jit => {
                let f = a.req("f")?;
                if !matches!(f, Value::Func(_)) {
                    return Err(Diagnostic::error(
                        Code::NOT_CALLABLE,
                        format!(
                            "`{}` transforms a function, not {}",
                            b.name(),
                            f.kind_name()
                        ),
                    )
                    .at(a.span_of("f"), "not a function"));
                }
                let kind = match b {
                    Builtin::Grad => TransformKind::Grad,
                    Builtin::ValueAndGrad => TransformKind::ValueAndGrad,
                    Builtin::Vmap => TransformKind::Vmap,
                    _ => TransformKind::Jit,
                };
                let mut options = Vec::new();
                // An explicit `none` means something for the axes (not mapped), so
                // it is kept.
                for k in ["argnums", "in_axes", "out_axes"] {
                    if let Some(v) = a.given(k) {
                        options.push((k.to_string(), v));
                    }
                }
                Ok(Value::Func(Rc::new(Callable::Transform {
                    kind,
                    inner: f,
                    options: options.into(),
                })))
            }
            Builtin::Jvp | Builtin::Vjp => {
                let f = a.req("f")?;
                if !matches!(f, Value::Func(_)) {
                    return Err(Diagnostic::error(
                        Code::NOT_CALLABLE,
                        format!("`{}` needs a function first", b.name()),
                    )
                    .at(a.span_of("f"), "not a function"));
                }
                if b == Builtin::Jvp {
                    let (p, t) = (a.req("primals")?, a.req("tangents")?);
                    let spans = [a.span_of("f"), a.span_of("primals"), a.span_of("tangents")];
                    self.jvp_builtin(&f, &p, &t, spans, span)
                } else {
                    let primals = a.rest.clone();
                    self.vjp_builtin(&f, primals, span)
                }
            }
            Builtin::StopGradient => {
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let w = x.weak;
                Ok(Value::Arr(
                    self.emit1(Prim::StopGradient, &[x], span)?.with_weak(w),
                ))
            }
            Builtin::Cast(d) => {
                let x = a.req("x")?;
                let t = self.tensor_of(&x, a.span_of("x"))?;
                Ok(Value::Arr(self.cast(&t, d, span)?.with_weak(false)))
            }
            Builtin::Print
            | Builtin::Load
            | Builtin::Save
            | Builtin::LoadCsv
            | Builtin::Timeit
            | Builtin::CheckPrecision
            | Builtin::CheckGrads
            | Builtin::Plot => {
                if self.tracing() {
                    return Err(Diagnostic::error(
                        Code::STATEMENT_IN_FUNCTION,
                        format!(
                            "`{}` is a script-layer builtin and cannot be used inside a function",
                            b.name()
                        ),
                    )
                    .at(span, "inside a traced function")
                    .hint("functions are pure; call this at the top level of the script"));
                }
                self.script_builtin(b, &a, span)
            }
        }
    }

    fn reshape_target(&self, v: &Value, x: &Tensor, span: Span) -> Res<Vec<usize>> {
        // One entry may be -1 (inferred), as in NumPy.
        let items: Vec<Value> = match v {
            Value::List(xs) | Value::Tuple(xs) => xs.to_vec(),
            other => vec![other.clone()],
        };
        let mut dims = Vec::new();
        let mut infer_at = None;
        for (i, it) in items.iter().enumerate() {
            let n = static_int(it).ok_or_else(|| static_err("reshape sizes", span))?;
            if n == -1 && infer_at.is_none() {
                infer_at = Some(i);
                dims.push(1);
            } else if n < 0 {
                return Err(Diagnostic::error(
                    Code::BAD_RESHAPE,
                    format!("invalid size {n} in reshape"),
                )
                .at(span, "here"));
            } else {
                dims.push(n as usize);
            }
        }
        if let Some(i) = infer_at {
            let total: usize = x.shape().iter().product();
            let known: usize = dims.iter().product();
            if known == 0 || !total.is_multiple_of(known) {
                return Err(Diagnostic::error(
                    Code::BAD_RESHAPE,
                    format!(
                        "cannot infer the -1 size when reshaping {} to {:?}",
                        x.ty(),
                        items.len()
                    ),
                )
                .at(span, "here"));
            }
            dims[i] = total / known;
        }
        Ok(dims)
    }

    fn arange(&mut self, a: &Bound, span: Span) -> Res<Value> {
        let start = a.req("start")?;
        let (start, stop) = match a.opt("stop") {
            None => (Value::Int(0), start),
            Some(s) => (start, s),
        };
        let step = a.opt("step").unwrap_or(Value::Int(1));
        let all_int = [&start, &stop, &step]
            .iter()
            .all(|v| matches!(v, Value::Int(_)));
        let num = |v: &Value, what: &str| -> Res<f64> {
            match v {
                Value::Int(i) => Ok(*i as f64),
                Value::Float(f) => Ok(*f),
                _ => Err(static_err(what, span)),
            }
        };
        let (s0, s1, st) = (
            num(&start, "arange bounds")?,
            num(&stop, "arange bounds")?,
            num(&step, "arange step")?,
        );
        if st == 0.0 {
            return Err(
                Diagnostic::error(Code::BAD_ARGUMENT, "arange step cannot be zero")
                    .at(span, "here"),
            );
        }
        let len = ((s1 - s0) / st).ceil().max(0.0);
        if !len.is_finite() || len > 1e15 {
            return Err(
                Diagnostic::error(Code::ALLOCATION_TOO_LARGE, "arange would be too large")
                    .at(span, "here"),
            );
        }
        let n = len as usize;
        let dtype = match a.opt("dtype") {
            Some(v) => as_dtype(&v, a.span_of("dtype"))?,
            None if all_int => DType::I64,
            None => DType::F64,
        };
        nabla_ir::array::check_alloc(&[n], dtype).map_err(|e| {
            Diagnostic::error(Code::ALLOCATION_TOO_LARGE, e.to_string()).at(span, "this array")
        })?;
        let work = if dtype.is_float() || !all_int {
            float_of(dtype)
        } else {
            dtype
        };
        let iota = self.emit1(
            Prim::Iota {
                dtype: if work == DType::Bool {
                    DType::I64
                } else {
                    work
                },
                shape: vec![n],
                axis: 0,
            },
            &[],
            span,
        )?;
        let mut r = iota;
        let (st_s, s0_s) = if all_int {
            (Scalar::I64(st as i64), Scalar::I64(s0 as i64))
        } else {
            (Scalar::F64(st), Scalar::F64(s0))
        };
        if st != 1.0 {
            let k = self.full(&[n], st_s.cast(r.dtype()), span)?;
            r = self.binary_prim(BinaryOp::Mul, &r, &k, span)?;
        }
        if s0 != 0.0 {
            let k = self.full(&[n], s0_s.cast(r.dtype()), span)?;
            r = self.binary_prim(BinaryOp::Add, &r, &k, span)?;
        }
        Ok(Value::Arr(self.cast(&r, dtype, span)?))
    }

    fn linspace(&mut self, a: &Bound, span: Span) -> Res<Value> {
        let f = |v: Value, s: Span| -> Res<f64> {
            match v {
                Value::Int(i) => Ok(i as f64),
                Value::Float(x) => Ok(x),
                _ => Err(static_err("linspace bounds", s)),
            }
        };
        let s0 = f(a.req("start")?, a.span_of("start"))?;
        let s1 = f(a.req("stop")?, a.span_of("stop"))?;
        let n = match a.opt("num") {
            None => 50,
            Some(v) => {
                static_int(&v).ok_or_else(|| static_err("linspace count", a.span_of("num")))?
            }
        };
        if n < 0 {
            return Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                "linspace count must be non-negative",
            )
            .at(span, "here"));
        }
        let n = n as usize;
        let dtype = match a.opt("dtype") {
            Some(v) => as_dtype(&v, a.span_of("dtype"))?,
            None => DType::F64,
        };
        let step = if n > 1 {
            (s1 - s0) / (n - 1) as f64
        } else {
            0.0
        };
        let iota = self.emit1(
            Prim::Iota {
                dtype: DType::F64,
                shape: vec![n],
                axis: 0,
            },
            &[],
            span,
        )?;
        let k = self.full(&[n], Scalar::F64(step), span)?;
        let r = self.binary_prim(BinaryOp::Mul, &iota, &k, span)?;
        let k0 = self.full(&[n], Scalar::F64(s0), span)?;
        let mut r = self.binary_prim(BinaryOp::Add, &r, &k0, span)?;
        if n > 1 {
            // The last point is exactly `stop`, as in NumPy.
            let last = self.full(&[n], Scalar::F64((n - 1) as f64), span)?;
            let is_last = self.emit1(Prim::Compare(CmpOp::Eq), &[iota, last], span)?;
            let stop = self.full(&[n], Scalar::F64(s1), span)?;
            r = self.emit1(Prim::Select, &[is_last, stop, r], span)?;
        }
        Ok(Value::Arr(self.cast(&r, dtype, span)?))
    }

    fn dot(&mut self, a: &Bound, span: Span) -> Res<Value> {
        let x = self.tensor_of(&a.req("a")?, a.span_of("a"))?;
        let y = self.tensor_of(&a.req("b")?, a.span_of("b"))?;
        let accurate = a.flag("accurate")?;
        let (d, w) = crate::promote::join(x.dtype(), x.weak, y.dtype(), y.weak);
        let d = if d == DType::Bool { DType::I64 } else { d };
        let x = self.cast(&x, d, span)?;
        let y = self.cast(&y, d, span)?;
        let (rx, ry) = (x.rank(), y.rank());
        if rx == 0 || ry == 0 {
            return self.binary(
                BinaryOp::Mul,
                &Value::Arr(x),
                &Value::Arr(y),
                (a.span_of("a"), a.span_of("b"), span),
            );
        }
        let yc = if ry == 1 { 0 } else { ry - 2 };
        let (kx, ky) = (x.shape()[rx - 1], y.shape()[yc]);
        if kx != ky {
            return Err(Diagnostic::error(
                Code::SHAPE_MISMATCH,
                format!(
                    "dot: {} is {} but {} is {}: contracted dimensions {kx} and {ky} differ",
                    self.snippet(a.span_of("a")),
                    x.ty(),
                    self.snippet(a.span_of("b")),
                    y.ty()
                ),
            )
            .at(span, "in this dot"));
        }
        let r = self.dot_general(
            &x,
            &y,
            vec![rx - 1],
            vec![yc],
            vec![],
            vec![],
            accurate,
            span,
        )?;
        Ok(Value::Arr(r.with_weak(w)))
    }
}

fn pad_widths(v: &Value, rank: usize, span: Span) -> Res<Vec<(i64, i64)>> {
    let bad = || {
        Diagnostic::error(
            Code::BAD_ARGUMENT,
            "pad widths must be an int, a pair (lo, hi), or a list of pairs per axis",
        )
        .at(span, "these widths")
    };
    let pair = |v: &Value| -> Res<(i64, i64)> {
        match v {
            Value::Tuple(p) | Value::List(p) if p.len() == 2 => Ok((
                static_int(&p[0]).ok_or_else(bad)?,
                static_int(&p[1]).ok_or_else(bad)?,
            )),
            other => static_int(other).map(|n| (n, n)).ok_or_else(bad),
        }
    };
    let out = match v {
        Value::List(items) | Value::Tuple(items)
            if items
                .iter()
                .all(|i| matches!(i, Value::Tuple(_) | Value::List(_))) =>
        {
            let ps = items.iter().map(pair).collect::<Res<Vec<_>>>()?;
            if ps.len() == 1 {
                vec![ps[0]; rank]
            } else {
                ps
            }
        }
        other => vec![pair(other)?; rank],
    };
    if out.len() != rank {
        return Err(Diagnostic::error(
            Code::BAD_ARGUMENT,
            format!(
                "pad widths given for {} axes but the array has {rank}",
                out.len()
            ),
        )
        .at(span, "these widths"));
    }
    if out.iter().any(|(l, h)| *l < 0 || *h < 0) {
        return Err(
            Diagnostic::error(Code::BAD_ARGUMENT, "pad widths must be non-negative")
                .at(span, "these widths"),
        );
    }
    Ok(out)
}

fn axis_err(span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::NOT_STATIC,
        "an axis must be an integer (or tuple of integers) known at trace time",
    )
    .at(span, "this axis")
}

pub fn static_err(what: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::NOT_STATIC,
        format!("{what} must be numbers known at trace time"),
    )
    .at(span, "not static")
    .hint("use literals or values derived from shapes (`x.shape[0]`)")
}
