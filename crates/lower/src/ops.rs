//! Array operations shared by operators and builtins: conversion of values to arrays,
//! promotion, broadcasting, elementwise arithmetic (with NumPy's floor division and
//! modulo), reductions, shape manipulation and matrix products.

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Array, BinaryOp, CmpOp, DType, Data, Prim, ReduceOp, Scalar, UnaryOp};
use nabla_syntax::ast::BinOp;

use crate::cx::{Cx, Res};
use crate::promote::{float_of, join};
use crate::value::{Tensor, Value};

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Normalises a possibly negative axis against a rank.
pub fn norm_axis(axis: i64, rank: usize, span: Span) -> Res<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Diagnostic::error(
            Code::AXIS_OUT_OF_RANGE,
            format!("axis {axis} is out of range for an array of rank {rank}"),
        )
        .at(
            span,
            format!("valid axes are {} to {}", -r, r - 1).replace("0 to -1", "none"),
        ));
    }
    Ok(a as usize)
}

fn shape_str(s: &[usize]) -> String {
    format!("{s:?}")
}

impl Cx<'_> {
    /// An array from any array-like value: static numbers become weak scalars, lists
    /// are stacked.
    pub fn tensor_of(&mut self, v: &Value, span: Span) -> Res<Tensor> {
        match v {
            Value::Arr(t) => Ok(t.clone()),
            Value::Int(i) => Ok(self.scalar(Scalar::I64(*i)).with_weak(true)),
            Value::Float(f) => Ok(self.scalar(Scalar::F64(*f)).with_weak(true)),
            Value::Bool(b) => Ok(self.scalar(Scalar::Bool(*b))),
            Value::List(items) => self.stack_values(items, span),
            other => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!("expected an array, found {}", other.kind_name()),
            )
            .at(span, "this is not an array")),
        }
    }

    /// `[a, b, …]`: stacks equal-shaped elements along a new first axis.
    fn stack_values(&mut self, items: &[Value], span: Span) -> Res<Tensor> {
        if items.is_empty() {
            return Ok(Tensor::concrete(
                Array::new(vec![0], Data::F64(Vec::new())).map_err(|e| internal(e, span))?,
            ));
        }
        // Fast path: a literal of static numbers becomes one constant.
        if items
            .iter()
            .all(|v| matches!(v, Value::Int(_) | Value::Float(_) | Value::Bool(_)))
        {
            let any_float = items.iter().any(|v| matches!(v, Value::Float(_)));
            let all_bool = items.iter().all(|v| matches!(v, Value::Bool(_)));
            let (dtype, weak) = if all_bool {
                (DType::Bool, false)
            } else if any_float {
                (DType::F64, true)
            } else {
                (DType::I64, true)
            };
            let scalars = items.iter().map(|v| match v {
                Value::Int(i) => Scalar::I64(*i),
                Value::Float(f) => Scalar::F64(*f),
                Value::Bool(b) => Scalar::Bool(*b),
                _ => Scalar::F64(0.0),
            });
            let a = Array::new(vec![items.len()], Data::from_scalars(dtype, scalars))
                .map_err(|e| internal(e, span))?;
            // Nested lists of numbers are weak like their elements (JAX: `jnp.array`
            // of Python floats is f64; we keep literals weak so `x @ [[1.0]]` keeps
            // x's dtype).
            return Ok(Tensor::concrete(a).with_weak(weak));
        }
        let mut ts = Vec::with_capacity(items.len());
        for it in items {
            ts.push(self.tensor_of(it, span)?);
        }
        self.stack(&ts, 0, span)
    }

    pub fn cast(&mut self, t: &Tensor, dtype: DType, span: Span) -> Res<Tensor> {
        if t.dtype() == dtype {
            return Ok(t.clone());
        }
        if let Some(a) = t.as_concrete() {
            if a.rank() == 0 {
                return Ok(Tensor::concrete(a.cast(dtype)).with_weak(t.weak));
            }
        }
        Ok(self
            .emit1(Prim::Convert { dtype }, std::slice::from_ref(t), span)?
            .with_weak(t.weak))
    }

    pub fn broadcast_to(&mut self, t: &Tensor, shape: &[usize], span: Span) -> Res<Tensor> {
        let s = t.shape();
        if s == shape {
            return Ok(t.clone());
        }
        let compatible = s.len() <= shape.len()
            && s.iter()
                .enumerate()
                .all(|(i, &d)| d == 1 || d == shape[shape.len() - s.len() + i]);
        if !compatible {
            return Err(Diagnostic::error(
                Code::SHAPE_MISMATCH,
                format!(
                    "cannot broadcast shape {} to {}",
                    shape_str(&s),
                    shape_str(shape)
                ),
            )
            .at(span, "in this operation"));
        }
        let dims: Vec<usize> = (shape.len() - s.len()..shape.len()).collect();
        let w = t.weak;
        Ok(self
            .emit1(
                Prim::BroadcastInDim {
                    shape: shape.to_vec(),
                    dims,
                },
                std::slice::from_ref(t),
                span,
            )?
            .with_weak(w))
    }

    /// Promotes two operands to a common dtype and broadcasts them to a common shape.
    pub fn unify(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        what: &str,
        spans: (Span, Span, Span),
    ) -> Res<(Tensor, Tensor, bool)> {
        let (dtype, weak) = join(a.dtype(), a.weak, b.dtype(), b.weak);
        self.unify_to(a, b, dtype, weak, what, spans)
    }

    fn unify_to(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        dtype: DType,
        weak: bool,
        what: &str,
        (sa, sb, span): (Span, Span, Span),
    ) -> Res<(Tensor, Tensor, bool)> {
        let (shape_a, shape_b) = (a.shape(), b.shape());
        let shape = broadcast_shapes(&shape_a, &shape_b).ok_or_else(|| {
            let (na, nb) = (self.snippet(sa), self.snippet(sb));
            Diagnostic::error(
                Code::SHAPE_MISMATCH,
                format!(
                    "{what}: {na} is {} but {nb} is {}: shapes cannot broadcast",
                    a.ty(),
                    b.ty()
                ),
            )
            .at(span, "in this operation")
            .also(sa, a.ty().to_string())
            .also(sb, b.ty().to_string())
            .hint("broadcasting aligns trailing dimensions; each pair must be equal or 1")
        })?;
        let a = self.cast(a, dtype, span)?;
        let b = self.cast(b, dtype, span)?;
        let a = self.broadcast_to(&a, &shape, span)?;
        let b = self.broadcast_to(&b, &shape, span)?;
        Ok((a, b, weak))
    }

    pub fn binary_prim(&mut self, op: BinaryOp, a: &Tensor, b: &Tensor, span: Span) -> Res<Tensor> {
        self.emit1(Prim::Binary(op), &[a.clone(), b.clone()], span)
    }

    /// An elementwise binary primitive with promotion and broadcasting.
    pub fn binary(
        &mut self,
        op: BinaryOp,
        a: &Value,
        b: &Value,
        spans: (Span, Span, Span),
    ) -> Res<Value> {
        let ta = self.tensor_of(a, spans.0)?;
        let tb = self.tensor_of(b, spans.1)?;
        let (mut dtype, weak) = join(ta.dtype(), ta.weak, tb.dtype(), tb.weak);
        if matches!(op, BinaryOp::Pow | BinaryOp::Atan2) {
            dtype = float_of(dtype);
        }
        if matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul) && dtype == DType::Bool {
            dtype = match op {
                BinaryOp::Mul => DType::Bool,
                _ => DType::I64,
            };
            if op == BinaryOp::Mul {
                let (x, y, w) = self.unify_to(&ta, &tb, dtype, weak, op.name(), spans)?;
                return Ok(Value::Arr(
                    self.binary_prim(BinaryOp::And, &x, &y, spans.2)?
                        .with_weak(w),
                ));
            }
        }
        let (x, y, w) = self.unify_to(&ta, &tb, dtype, weak, op.name(), spans)?;
        Ok(Value::Arr(
            self.binary_prim(op, &x, &y, spans.2)?.with_weak(w),
        ))
    }

    pub fn compare(
        &mut self,
        op: CmpOp,
        a: &Value,
        b: &Value,
        spans: (Span, Span, Span),
    ) -> Res<Value> {
        let ta = self.tensor_of(a, spans.0)?;
        let tb = self.tensor_of(b, spans.1)?;
        let (x, y, _) = self.unify(&ta, &tb, op.name(), spans)?;
        Ok(Value::Arr(self.emit1(
            Prim::Compare(op),
            &[x, y],
            spans.2,
        )?))
    }

    /// `t != 0` elementwise (bools pass through): how conditions read numbers.
    pub fn truthy(&mut self, t: &Tensor, span: Span) -> Res<Tensor> {
        if t.dtype() == DType::Bool {
            return Ok(t.clone());
        }
        let z = self.full_like(t, Scalar::zero(t.dtype()), span)?;
        self.emit1(Prim::Compare(CmpOp::Ne), &[t.clone(), z], span)
    }

    /// An elementwise function of one operand; integer inputs of float-only functions
    /// are converted to floats first, as in NumPy.
    pub fn unary(&mut self, op: UnaryOp, v: &Value, span: Span) -> Res<Value> {
        let t = self.tensor_of(v, span)?;
        let t = if op.float_only() && !t.dtype().is_float() {
            self.cast(&t, float_of(t.dtype()), span)?
        } else {
            t
        };
        if matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign) && t.dtype() == DType::Bool {
            return Err(Diagnostic::error(
                Code::DTYPE_MISMATCH,
                format!("{} is not defined for bool arrays", op.name()),
            )
            .at(span, "this is bool")
            .hint("convert first, e.g. `i64(x)`"));
        }
        if op == UnaryOp::Not && t.dtype().is_float() {
            return Err(Diagnostic::error(
                Code::DTYPE_MISMATCH,
                "`not` needs bool (or integer) operands",
            )
            .at(span, format!("this is {}", t.ty()))
            .hint("compare first, e.g. `not (x > 0.0)`"));
        }
        let w = t.weak;
        Ok(Value::Arr(
            self.emit1(Prim::Unary(op), &[t], span)?.with_weak(w),
        ))
    }

    pub fn select(&mut self, c: &Value, a: &Value, b: &Value, spans: [Span; 4]) -> Res<Value> {
        let tc = self.tensor_of(c, spans[0])?;
        let tc = self.truthy(&tc, spans[0])?;
        let ta = self.tensor_of(a, spans[1])?;
        let tb = self.tensor_of(b, spans[2])?;
        let (x, y, w) = self.unify(&ta, &tb, "where", (spans[1], spans[2], spans[3]))?;
        let shape = broadcast_shapes(&tc.shape(), &x.shape()).ok_or_else(|| {
            Diagnostic::error(
                Code::SHAPE_MISMATCH,
                format!(
                    "where: condition is {} but the values are {}",
                    tc.ty(),
                    x.ty()
                ),
            )
            .at(spans[3], "in this where")
        })?;
        let tc = self.broadcast_to(&tc, &shape, spans[3])?;
        let x = self.broadcast_to(&x, &shape, spans[3])?;
        let y = self.broadcast_to(&y, &shape, spans[3])?;
        Ok(Value::Arr(
            self.emit1(Prim::Select, &[tc, x, y], spans[3])?
                .with_weak(w),
        ))
    }

    /// Operands that cannot become arrays (strings, functions, tuples, …), reported
    /// with the operation's name.
    fn check_operands(&self, op: &str, a: &Value, b: &Value, spans: (Span, Span, Span)) -> Res<()> {
        for (v, span) in [(a, spans.0), (b, spans.1)] {
            if !matches!(
                v,
                Value::Arr(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::List(_)
            ) {
                return Err(Diagnostic::error(
                    Code::BAD_ARGUMENT,
                    format!("`{op}` needs array operands, found {}", v.kind_name()),
                )
                .at(span, "this is not an array"));
            }
        }
        Ok(())
    }

    /// A source-level binary operator on two evaluated operands.
    pub fn binop(
        &mut self,
        op: BinOp,
        a: &Value,
        b: &Value,
        spans: (Span, Span, Span),
    ) -> Res<Value> {
        if let Some(v) = fold_static(op, a, b, spans.2)? {
            return Ok(v);
        }
        self.check_operands(op.symbol(), a, b, spans)?;
        match op {
            BinOp::Add => self.binary(BinaryOp::Add, a, b, spans),
            BinOp::Sub => self.binary(BinaryOp::Sub, a, b, spans),
            BinOp::Mul => self.binary(BinaryOp::Mul, a, b, spans),
            BinOp::Div => {
                let ta = self.tensor_of(a, spans.0)?;
                let tb = self.tensor_of(b, spans.1)?;
                let (d, w) = join(ta.dtype(), ta.weak, tb.dtype(), tb.weak);
                let (x, y, _) = self.unify_to(&ta, &tb, float_of(d), w, "/", spans)?;
                Ok(Value::Arr(
                    self.binary_prim(BinaryOp::Div, &x, &y, spans.2)?
                        .with_weak(w),
                ))
            }
            BinOp::FloorDiv => self.floor_divmod(a, b, spans, true),
            BinOp::Mod => self.floor_divmod(a, b, spans, false),
            BinOp::Pow => self.power(a, b, spans),
            BinOp::MatMul => self.matmul(a, b, spans),
            BinOp::Eq => self.compare(CmpOp::Eq, a, b, spans),
            BinOp::Ne => self.compare(CmpOp::Ne, a, b, spans),
            BinOp::Lt => self.compare(CmpOp::Lt, a, b, spans),
            BinOp::Le => self.compare(CmpOp::Le, a, b, spans),
            BinOp::Gt => self.compare(CmpOp::Gt, a, b, spans),
            BinOp::Ge => self.compare(CmpOp::Ge, a, b, spans),
            BinOp::And | BinOp::Or => {
                let ta = self.tensor_of(a, spans.0)?;
                let tb = self.tensor_of(b, spans.1)?;
                for (t, s) in [(&ta, spans.0), (&tb, spans.1)] {
                    if t.dtype().is_float() {
                        return Err(Diagnostic::error(
                            Code::DTYPE_MISMATCH,
                            format!("`{}` needs bool operands, found {}", op.symbol(), t.ty()),
                        )
                        .at(s, "not bool")
                        .hint("compare first, e.g. `(x > 0.0) and (y > 0.0)`"));
                    }
                }
                let prim = if op == BinOp::And {
                    BinaryOp::And
                } else {
                    BinaryOp::Or
                };
                let (x, y, w) = self.unify(&ta, &tb, op.symbol(), spans)?;
                Ok(Value::Arr(
                    self.binary_prim(prim, &x, &y, spans.2)?.with_weak(w),
                ))
            }
        }
    }

    /// `a // b` (floor division) or `a % b` (floor modulo), as NumPy and JAX define them.
    fn floor_divmod(
        &mut self,
        a: &Value,
        b: &Value,
        spans: (Span, Span, Span),
        div: bool,
    ) -> Res<Value> {
        let ta = self.tensor_of(a, spans.0)?;
        let tb = self.tensor_of(b, spans.1)?;
        let name = if div { "//" } else { "%" };
        let (x, y, w) = self.unify(&ta, &tb, name, spans)?;
        if x.dtype() == DType::Bool {
            return Err(Diagnostic::error(
                Code::DTYPE_MISMATCH,
                format!("`{name}` is not defined for bools"),
            )
            .at(spans.2, "here"));
        }
        let span = spans.2;
        let d = x.dtype();
        let zero = self.full_like(&x, Scalar::zero(d), span)?;
        let rem = self.binary_prim(BinaryOp::Rem, &x, &y, span)?;
        let rem_nonzero =
            self.emit1(Prim::Compare(CmpOp::Ne), &[rem.clone(), zero.clone()], span)?;
        let signs_differ = if d == DType::U32 {
            self.full_like(&x, Scalar::Bool(false), span)?
        } else {
            let rem_neg =
                self.emit1(Prim::Compare(CmpOp::Lt), &[rem.clone(), zero.clone()], span)?;
            let y_neg = self.emit1(Prim::Compare(CmpOp::Lt), &[y.clone(), zero.clone()], span)?;
            self.emit1(Prim::Compare(CmpOp::Ne), &[rem_neg, y_neg], span)?
        };
        let adjust = self.binary_prim(BinaryOp::And, &rem_nonzero, &signs_differ, span)?;
        if !div {
            let fixed = self.binary_prim(BinaryOp::Add, &rem, &y, span)?;
            return Ok(Value::Arr(
                self.emit1(Prim::Select, &[adjust, fixed, rem], span)?
                    .with_weak(w),
            ));
        }
        if d.is_float() {
            // (x - rem) / y is exact up to rounding; subtracting 1 where the signs differ
            // then rounding gives floor(x / y) without its double rounding.
            let num = self.binary_prim(BinaryOp::Sub, &x, &rem, span)?;
            let q = self.binary_prim(BinaryOp::Div, &num, &y, span)?;
            let one = self.full_like(&x, Scalar::one(d), span)?;
            let qm1 = self.binary_prim(BinaryOp::Sub, &q, &one, span)?;
            let q = self.emit1(Prim::Select, &[adjust, qm1, q], span)?;
            let q = self.emit1(Prim::Unary(UnaryOp::Round), &[q], span)?;
            Ok(Value::Arr(q.with_weak(w)))
        } else {
            let q = self.binary_prim(BinaryOp::Div, &x, &y, span)?;
            let one = self.full_like(&x, Scalar::one(d), span)?;
            let qm1 = self.binary_prim(BinaryOp::Sub, &q, &one, span)?;
            Ok(Value::Arr(
                self.emit1(Prim::Select, &[adjust, qm1, q], span)?
                    .with_weak(w),
            ))
        }
    }

    /// `a ** b`: a static integer exponent gives an exact `integer_pow`.
    fn power(&mut self, a: &Value, b: &Value, spans: (Span, Span, Span)) -> Res<Value> {
        if let Value::Int(n) = b {
            let t = self.tensor_of(a, spans.0)?;
            if t.dtype() == DType::Bool {
                return Err(Diagnostic::error(
                    Code::DTYPE_MISMATCH,
                    "`**` is not defined for bools",
                )
                .at(spans.0, "bool"));
            }
            let t = if *n < 0 && !t.dtype().is_float() {
                self.cast(&t, float_of(t.dtype()), spans.0)?
            } else {
                t
            };
            let w = t.weak;
            return Ok(Value::Arr(
                self.emit1(Prim::IntPow { exponent: *n }, &[t], spans.2)?
                    .with_weak(w),
            ));
        }
        self.binary(BinaryOp::Pow, a, b, spans)
    }

    /// An array of `t`'s shape filled with `value` (a broadcast literal).
    pub fn full_like(&mut self, t: &Tensor, value: Scalar, span: Span) -> Res<Tensor> {
        self.full(&t.shape(), value, span)
    }

    pub fn full(&mut self, shape: &[usize], value: Scalar, span: Span) -> Res<Tensor> {
        let s = self.scalar(value);
        if shape.is_empty() {
            return Ok(s);
        }
        nabla_ir::array::check_alloc(shape, value.dtype()).map_err(|e| {
            Diagnostic::error(Code::ALLOCATION_TOO_LARGE, e.to_string()).at(span, "this array")
        })?;
        self.emit1(
            Prim::BroadcastInDim {
                shape: shape.to_vec(),
                dims: vec![],
            },
            &[s],
            span,
        )
    }

    pub fn reshape(&mut self, t: &Tensor, shape: &[usize], span: Span) -> Res<Tensor> {
        if t.shape() == shape {
            return Ok(t.clone());
        }
        if nabla_ir::dtype::numel(shape) != nabla_ir::dtype::numel(&t.shape()) {
            return Err(Diagnostic::error(
                Code::BAD_RESHAPE,
                format!(
                    "cannot reshape {} into shape {}: {} elements vs {}",
                    t.ty(),
                    shape_str(shape),
                    nabla_ir::dtype::numel(&t.shape()),
                    nabla_ir::dtype::numel(shape)
                ),
            )
            .at(span, "this reshape"));
        }
        let w = t.weak;
        Ok(self
            .emit1(
                Prim::Reshape {
                    shape: shape.to_vec(),
                },
                std::slice::from_ref(t),
                span,
            )?
            .with_weak(w))
    }

    pub fn transpose(&mut self, t: &Tensor, perm: &[usize], span: Span) -> Res<Tensor> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(t.clone());
        }
        let w = t.weak;
        Ok(self
            .emit1(
                Prim::Transpose {
                    perm: perm.to_vec(),
                },
                std::slice::from_ref(t),
                span,
            )?
            .with_weak(w))
    }

    /// Reduces `axes` (all when `None`) with `op`; `keepdims` keeps them as size 1.
    pub fn reduce(
        &mut self,
        op: ReduceOp,
        t: &Tensor,
        axes: Option<Vec<usize>>,
        keepdims: bool,
        compensated: bool,
        span: Span,
    ) -> Res<Tensor> {
        let rank = t.rank();
        let mut axes = axes.unwrap_or_else(|| (0..rank).collect());
        axes.sort_unstable();
        axes.dedup();
        let t = match op {
            ReduceOp::Sum | ReduceOp::Prod if t.dtype() == DType::Bool => {
                self.cast(t, DType::I64, span)?
            }
            ReduceOp::And | ReduceOp::Or if t.dtype() != DType::Bool => {
                let z = self.full_like(t, Scalar::zero(t.dtype()), span)?;
                self.emit1(Prim::Compare(CmpOp::Ne), &[t.clone(), z], span)?
            }
            _ => t.clone(),
        };
        if matches!(op, ReduceOp::Max | ReduceOp::Min) {
            let shape = t.shape();
            if let Some(&a) = axes.iter().find(|&&a| shape[a] == 0) {
                return Err(Diagnostic::error(
                    Code::SHAPE_MISMATCH,
                    format!("{} of an empty axis ({a}) has no identity", op.name()),
                )
                .at(span, format!("operand is {}", t.ty())));
            }
        }
        let compensated = compensated && t.dtype().is_float() && op == ReduceOp::Sum;
        let w = t.weak;
        let r = self.emit1(
            Prim::Reduce {
                op,
                axes: axes.clone(),
                compensated,
            },
            std::slice::from_ref(&t),
            span,
        )?;
        let r = if keepdims {
            let shape: Vec<usize> = (0..rank)
                .map(|i| if axes.contains(&i) { 1 } else { t.shape()[i] })
                .collect();
            self.reshape(&r, &shape, span)?
        } else {
            r
        };
        Ok(r.with_weak(w))
    }

    /// Concatenates along an existing axis, promoting dtypes.
    pub fn concat(&mut self, ts: &[Tensor], axis: i64, span: Span) -> Res<Tensor> {
        let first = ts.first().ok_or_else(|| {
            Diagnostic::error(Code::BAD_ARGUMENT, "concat needs at least one array")
                .at(span, "here")
        })?;
        let axis = norm_axis(axis, first.rank(), span)?;
        let (mut d, mut weak) = (first.dtype(), first.weak);
        for t in &ts[1..] {
            (d, weak) = join(d, weak, t.dtype(), t.weak);
        }
        let mut cast = Vec::with_capacity(ts.len());
        for t in ts {
            let ok = t.rank() == first.rank()
                && (0..t.rank()).all(|i| i == axis || t.shape()[i] == first.shape()[i]);
            if !ok {
                return Err(Diagnostic::error(
                    Code::SHAPE_MISMATCH,
                    format!(
                        "concat along axis {axis}: shapes {} and {} differ off that axis",
                        shape_str(&first.shape()),
                        shape_str(&t.shape())
                    ),
                )
                .at(span, "in this concat"));
            }
            cast.push(self.cast(t, d, span)?);
        }
        if cast.len() == 1 {
            return Ok(cast.remove(0));
        }
        Ok(self
            .emit1(Prim::Concat { axis }, &cast, span)?
            .with_weak(weak))
    }

    /// Stacks equal-shaped arrays along a new axis.
    pub fn stack(&mut self, ts: &[Tensor], axis: i64, span: Span) -> Res<Tensor> {
        let first = ts.first().ok_or_else(|| {
            Diagnostic::error(Code::BAD_ARGUMENT, "stack needs at least one array").at(span, "here")
        })?;
        let shape = first.shape();
        let axis = norm_axis(axis, shape.len() + 1, span)?;
        let mut expanded = Vec::with_capacity(ts.len());
        for t in ts {
            if t.shape() != shape {
                return Err(Diagnostic::error(
                    Code::SHAPE_MISMATCH,
                    format!(
                        "stacked arrays must have equal shapes: {} and {}",
                        shape_str(&shape),
                        shape_str(&t.shape())
                    ),
                )
                .at(span, "in this stack"));
            }
            let mut s = shape.clone();
            s.insert(axis, 1);
            expanded.push(self.reshape(t, &s, span)?);
        }
        self.concat(&expanded, axis as i64, span)
    }

    /// NumPy `matmul` (`@`).
    pub fn matmul(&mut self, a: &Value, b: &Value, spans: (Span, Span, Span)) -> Res<Value> {
        let ta = self.tensor_of(a, spans.0)?;
        let tb = self.tensor_of(b, spans.1)?;
        let (d, w) = join(ta.dtype(), ta.weak, tb.dtype(), tb.weak);
        let d = if d == DType::Bool { DType::I64 } else { d };
        let ta = self.cast(&ta, d, spans.2)?;
        let tb = self.cast(&tb, d, spans.2)?;
        let (ra, rb) = (ta.rank(), tb.rank());
        let span = spans.2;
        let mismatch = |cx: &Cx, why: String| {
            Diagnostic::error(
                Code::SHAPE_MISMATCH,
                format!(
                    "{} @ {}: {} is {} but {} is {}: {why}",
                    cx.snippet(spans.0),
                    cx.snippet(spans.1),
                    cx.snippet(spans.0),
                    ta.ty(),
                    cx.snippet(spans.1),
                    tb.ty()
                ),
            )
            .at(span, "in this matrix product")
            .also(spans.0, ta.ty().to_string())
            .also(spans.1, tb.ty().to_string())
        };
        if ra == 0 || rb == 0 {
            return Err(
                mismatch(self, "matmul needs arrays of rank at least 1".into())
                    .hint("use `*` to multiply by a scalar"),
            );
        }
        let ka = ta.shape()[ra - 1];
        let kb = if rb == 1 {
            tb.shape()[0]
        } else {
            tb.shape()[rb - 2]
        };
        if ka != kb {
            return Err(mismatch(self, format!("inner dimensions {ka} and {kb} differ"))
                .hint(if rb >= 2 && tb.shape()[rb - 1] == ka {
                    "did you mean to transpose the right operand (`.T`)?"
                } else {
                    "the last axis of the left operand must match the first (or second-to-last) axis of the right"
                }));
        }
        let out = if rb == 1 {
            // [..., n, k] @ [k] -> [..., n]
            self.dot_general(&ta, &tb, vec![ra - 1], vec![0], vec![], vec![], false, span)?
        } else if ra == 1 {
            // [k] @ [..., k, m] -> [..., m]: batch over b's leading axes.
            let lead = rb - 2;
            let r = self.dot_general(&ta, &tb, vec![0], vec![lead], vec![], vec![], false, span)?;
            // Result axes: b's free axes (batch..., m) — already in order.
            r
        } else if rb == 2 {
            self.dot_general(&ta, &tb, vec![ra - 1], vec![0], vec![], vec![], false, span)?
        } else {
            // Both batched: broadcast the batch axes, then a batched dot_general.
            let (sa, sb) = (ta.shape(), tb.shape());
            let batch = broadcast_shapes(&sa[..ra - 2], &sb[..rb - 2])
                .ok_or_else(|| mismatch(self, "batch dimensions cannot broadcast".into()))?;
            let mut full_a = batch.clone();
            full_a.extend(&sa[ra - 2..]);
            let mut full_b = batch.clone();
            full_b.extend(&sb[rb - 2..]);
            let xa = self.broadcast_to(&ta, &full_a, span)?;
            let xb = self.broadcast_to(&tb, &full_b, span)?;
            let nb = batch.len();
            let bdims: Vec<usize> = (0..nb).collect();
            self.dot_general(
                &xa,
                &xb,
                vec![nb + 1],
                vec![nb],
                bdims.clone(),
                bdims,
                false,
                span,
            )?
        };
        Ok(Value::Arr(out.with_weak(w)))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn dot_general(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        lhs_contract: Vec<usize>,
        rhs_contract: Vec<usize>,
        lhs_batch: Vec<usize>,
        rhs_batch: Vec<usize>,
        compensated: bool,
        span: Span,
    ) -> Res<Tensor> {
        let compensated = compensated && a.dtype().is_float();
        self.emit1(
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
                compensated,
            },
            &[a.clone(), b.clone()],
            span,
        )
    }

    /// A static shape from a list/tuple of static integers (or one integer).
    pub fn static_shape(&self, v: &Value, span: Span) -> Res<Vec<usize>> {
        let items: Vec<Value> = match v {
            Value::List(xs) | Value::Tuple(xs) => xs.to_vec(),
            Value::Int(_) => vec![v.clone()],
            Value::Arr(t) if t.rank() == 0 && t.as_concrete().is_some() => vec![v.clone()],
            other => {
                return Err(Diagnostic::error(
                    Code::BAD_ARGUMENT,
                    format!(
                        "expected a shape such as `[2, 3]`, found {}",
                        other.kind_name()
                    ),
                )
                .at(span, "not a shape"))
            }
        };
        let mut shape = Vec::with_capacity(items.len());
        for it in &items {
            let n = static_int(it).ok_or_else(|| {
                Diagnostic::error(
                    Code::NOT_STATIC,
                    format!(
                        "shape entries must be integers known at trace time, found {}",
                        it.kind_name()
                    ),
                )
                .at(span, "in this shape")
                .hint("use `x.shape[i]` or a literal; traced values cannot size arrays")
            })?;
            if n < 0 {
                return Err(Diagnostic::error(
                    Code::BAD_ARGUMENT,
                    format!("negative dimension {n} in a shape"),
                )
                .at(span, "in this shape"));
            }
            shape.push(n as usize);
        }
        Ok(shape)
    }
}

/// A static integer from a value (static ints, concrete integer scalars).
pub fn static_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Arr(t) if t.rank() == 0 && !t.dtype().is_float() => t
            .as_concrete()
            .and_then(Array::to_scalar)
            .map(Scalar::as_i64),
        _ => None,
    }
}

fn internal(e: impl std::fmt::Display, span: Span) -> Diagnostic {
    Diagnostic::error(Code::INTERNAL, e.to_string()).at(span, "here")
}

/// Python-like arithmetic on static scalars; `None` when an operand is not static.
pub fn fold_static(op: BinOp, a: &Value, b: &Value, span: Span) -> Res<Option<Value>> {
    use Value::{Bool, Float, Int};
    let overflow = || {
        Diagnostic::error(
            Code::INT_OUT_OF_RANGE,
            "integer overflow in a constant expression",
        )
        .at(span, "this overflows 64 bits")
    };
    let div0 = || {
        Diagnostic::error(
            Code::INTEGER_DIVISION_BY_ZERO,
            "division by zero in a constant expression",
        )
        .at(span, "the divisor is 0")
    };
    let v = match (a, b) {
        (Int(x), Int(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinOp::Add => Int(x.checked_add(y).ok_or_else(overflow)?),
                BinOp::Sub => Int(x.checked_sub(y).ok_or_else(overflow)?),
                BinOp::Mul => Int(x.checked_mul(y).ok_or_else(overflow)?),
                BinOp::Div => Float(x as f64 / y as f64),
                BinOp::FloorDiv => {
                    if y == 0 {
                        return Err(div0());
                    }
                    Int(x.div_euclid(y) - i64::from(y < 0 && x.rem_euclid(y) != 0))
                }
                BinOp::Mod => {
                    if y == 0 {
                        return Err(div0());
                    }
                    let r = x.rem_euclid(y);
                    Int(if y < 0 && r != 0 { r + y } else { r })
                }
                BinOp::Pow => {
                    if y >= 0 {
                        let e = u32::try_from(y).map_err(|_| overflow())?;
                        Int(x.checked_pow(e).ok_or_else(overflow)?)
                    } else {
                        Float((x as f64).powf(y as f64))
                    }
                }
                BinOp::Eq => Bool(x == y),
                BinOp::Ne => Bool(x != y),
                BinOp::Lt => Bool(x < y),
                BinOp::Le => Bool(x <= y),
                BinOp::Gt => Bool(x > y),
                BinOp::Ge => Bool(x >= y),
                BinOp::MatMul | BinOp::And | BinOp::Or => return Ok(None),
            }
        }
        (Int(_) | Float(_), Int(_) | Float(_)) => {
            let x = as_f64(a);
            let y = as_f64(b);
            match op {
                BinOp::Add => Float(x + y),
                BinOp::Sub => Float(x - y),
                BinOp::Mul => Float(x * y),
                BinOp::Div => Float(x / y),
                BinOp::FloorDiv => Float((x / y).floor()),
                BinOp::Mod => {
                    let r = x % y;
                    Float(if r != 0.0 && ((r < 0.0) != (y < 0.0)) {
                        r + y
                    } else {
                        r
                    })
                }
                BinOp::Pow => Float(x.powf(y)),
                BinOp::Eq => Bool(x == y),
                BinOp::Ne => Bool(x != y),
                BinOp::Lt => Bool(x < y),
                BinOp::Le => Bool(x <= y),
                BinOp::Gt => Bool(x > y),
                BinOp::Ge => Bool(x >= y),
                BinOp::MatMul | BinOp::And | BinOp::Or => return Ok(None),
            }
        }
        (Value::None, _) | (_, Value::None) if matches!(op, BinOp::Eq | BinOp::Ne) => {
            let both = matches!((a, b), (Value::None, Value::None));
            Bool(if op == BinOp::Eq { both } else { !both })
        }
        (Value::Tuple(x), Value::Tuple(y)) if op == BinOp::Add => {
            // Tuple concatenation, for building shapes (`y.shape + x.shape`).
            Value::Tuple(x.iter().chain(y.iter()).cloned().collect::<Vec<_>>().into())
        }
        (Bool(x), Bool(y)) => match op {
            BinOp::And => Bool(*x && *y),
            BinOp::Or => Bool(*x || *y),
            BinOp::Eq => Bool(x == y),
            BinOp::Ne => Bool(x != y),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(v))
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}
