//! The emitter every transform builds its output with: a [`Builder`] plus typed
//! helpers that skip no-op equations (a reshape to the same shape, a sum over no axes),
//! broadcast scalar operands, and copy bodies with fresh variables (inlining).

use std::collections::HashMap;

use nabla_diag::Span;
use nabla_ir::{
    Atom, BinaryOp, Body, Builder, CmpOp, DType, Func, Prim, ReduceOp, Scalar, Type, UnaryOp, Var,
};

use crate::error::{Result, TransformError};

/// Builds a new function (and its nested bodies) equation by equation.
#[derive(Debug)]
pub struct Emitter {
    b: Builder,
    span: Span,
}

impl Default for Emitter {
    fn default() -> Self {
        Emitter::new()
    }
}

/// A scalar literal of `dtype` with value `v` (cast as NumPy's `astype` does).
pub fn lit(dtype: DType, v: f64) -> Atom {
    Atom::Lit(Scalar::F64(v).cast(dtype))
}

/// Whether `a` is the literal `v` (after conversion to f64).
pub fn is_lit(a: &Atom, v: f64) -> bool {
    matches!(a, Atom::Lit(s) if s.as_f64() == v)
}

impl Emitter {
    pub fn new() -> Emitter {
        Emitter {
            b: Builder::new(),
            span: Span::DUMMY,
        }
    }

    /// New equations carry this span (the source equation being transformed), so
    /// runtime errors in transformed code still point at the user's source.
    pub fn set_span(&mut self, span: Span) {
        self.span = span;
    }

    pub fn span(&self) -> Span {
        self.span
    }

    /// Adds a parameter to the innermost open body.
    pub fn param(&mut self, ty: Type) -> Var {
        self.b.param(ty)
    }

    pub fn emit(&mut self, prim: Prim, args: Vec<Atom>) -> Result<Vec<Var>> {
        self.b
            .emit(prim, args, self.span)
            .map_err(|e| TransformError::from(e).or_at(self.span))
    }

    pub fn emit1(&mut self, prim: Prim, args: Vec<Atom>) -> Result<Atom> {
        self.b
            .emit1(prim, args, self.span)
            .map(Atom::Var)
            .map_err(|e| TransformError::from(e).or_at(self.span))
    }

    /// Opens a nested closed body with parameters of these types.
    pub fn begin_body(&mut self, param_types: &[Type]) -> Vec<Var> {
        self.b.begin_body(param_types)
    }

    pub fn end_body(&mut self, results: Vec<Atom>) -> Body {
        self.b.end_body(results)
    }

    pub fn finish(self, name: impl Into<String>, results: Vec<Atom>) -> Func {
        self.b.finish(name, results)
    }

    // ---- constants -------------------------------------------------------------------

    /// An array of type `ty` filled with `v`: a literal for scalars, else a broadcast.
    pub fn full(&mut self, ty: &Type, v: f64) -> Result<Atom> {
        let l = lit(ty.dtype, v);
        if ty.shape.is_empty() {
            return Ok(l);
        }
        self.emit1(
            Prim::BroadcastInDim {
                shape: ty.shape.clone(),
                dims: vec![],
            },
            vec![l],
        )
    }

    pub fn zeros(&mut self, ty: &Type) -> Result<Atom> {
        self.full(ty, 0.0)
    }

    pub fn ones(&mut self, ty: &Type) -> Result<Atom> {
        self.full(ty, 1.0)
    }

    // ---- shape ---------------------------------------------------------------------

    /// XLA's broadcast_in_dim; no equation when it would be the identity.
    pub fn broadcast_in_dim(&mut self, x: Atom, shape: &[usize], dims: &[usize]) -> Result<Atom> {
        let t = x.ty();
        let identity = t.shape == shape && dims.iter().enumerate().all(|(i, &d)| i == d);
        if identity {
            return Ok(x);
        }
        self.emit1(
            Prim::BroadcastInDim {
                shape: shape.to_vec(),
                dims: dims.to_vec(),
            },
            vec![x],
        )
    }

    /// NumPy-style broadcast of `x` to `shape` (trailing axes aligned).
    pub fn broadcast_to(&mut self, x: Atom, shape: &[usize]) -> Result<Atom> {
        let r = x.ty().rank();
        if r > shape.len() {
            return Err(TransformError::internal(format!(
                "cannot broadcast rank {r} to {shape:?}"
            )));
        }
        let dims: Vec<usize> = (shape.len() - r..shape.len()).collect();
        self.broadcast_in_dim(x, shape, &dims)
    }

    pub fn reshape(&mut self, x: Atom, shape: &[usize]) -> Result<Atom> {
        if x.ty().shape == shape {
            return Ok(x);
        }
        self.emit1(
            Prim::Reshape {
                shape: shape.to_vec(),
            },
            vec![x],
        )
    }

    /// Result axis `i` is operand axis `perm[i]`; no equation for the identity.
    pub fn transpose(&mut self, x: Atom, perm: &[usize]) -> Result<Atom> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        self.emit1(
            Prim::Transpose {
                perm: perm.to_vec(),
            },
            vec![x],
        )
    }

    /// Moves axis `from` to position `to`, keeping the others in order.
    pub fn move_axis(&mut self, x: Atom, from: usize, to: usize) -> Result<Atom> {
        if from == to {
            return Ok(x);
        }
        let r = x.ty().rank();
        let mut perm: Vec<usize> = (0..r).filter(|&a| a != from).collect();
        perm.insert(to, from);
        self.transpose(x, &perm)
    }

    pub fn reduce_sum(&mut self, x: Atom, axes: &[usize]) -> Result<Atom> {
        if axes.is_empty() {
            return Ok(x);
        }
        self.emit1(
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: axes.to_vec(),
                compensated: false,
            },
            vec![x],
        )
    }

    /// Sums `x` down to `shape` (the transpose of a NumPy broadcast from `shape`).
    pub fn sum_to_shape(&mut self, x: Atom, shape: &[usize]) -> Result<Atom> {
        let xs = x.ty().shape;
        if xs == shape {
            return Ok(x);
        }
        let lead = xs.len() - shape.len();
        let mut axes: Vec<usize> = (0..lead).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && xs[lead + i] != 1 {
                axes.push(lead + i);
            }
        }
        let s = self.reduce_sum(x, &axes)?;
        self.reshape(s, shape)
    }

    // ---- elementwise ---------------------------------------------------------------

    pub fn convert(&mut self, x: Atom, dtype: DType) -> Result<Atom> {
        if x.dtype() == dtype {
            return Ok(x);
        }
        if let Atom::Lit(s) = &x {
            return Ok(Atom::Lit(s.cast(dtype)));
        }
        self.emit1(Prim::Convert { dtype }, vec![x])
    }

    pub fn unary(&mut self, op: UnaryOp, x: Atom) -> Result<Atom> {
        self.emit1(Prim::Unary(op), vec![x])
    }

    /// Brings two operands to one shape by broadcasting scalars.
    fn align(&mut self, a: Atom, b: Atom) -> Result<(Atom, Atom)> {
        let (ta, tb) = (a.ty(), b.ty());
        if ta.shape == tb.shape {
            return Ok((a, b));
        }
        if ta.shape.is_empty() {
            let a = self.broadcast_in_dim(a, &tb.shape, &[])?;
            return Ok((a, b));
        }
        if tb.shape.is_empty() {
            let b = self.broadcast_in_dim(b, &ta.shape, &[])?;
            return Ok((a, b));
        }
        Err(TransformError::internal(format!(
            "elementwise operands of shapes {:?} and {:?}",
            ta.shape, tb.shape
        )))
    }

    pub fn binary(&mut self, op: BinaryOp, a: Atom, b: Atom) -> Result<Atom> {
        let (a, b) = self.align(a, b)?;
        self.emit1(Prim::Binary(op), vec![a, b])
    }

    pub fn compare(&mut self, op: CmpOp, a: Atom, b: Atom) -> Result<Atom> {
        let (a, b) = self.align(a, b)?;
        self.emit1(Prim::Compare(op), vec![a, b])
    }

    /// `x + y`, skipping literal zeros.
    pub fn add(&mut self, a: Atom, b: Atom) -> Result<Atom> {
        if is_lit(&b, 0.0) && a.as_var().is_some() {
            return Ok(a);
        }
        if is_lit(&a, 0.0) && b.as_var().is_some() {
            return Ok(b);
        }
        self.binary(BinaryOp::Add, a, b)
    }

    pub fn sub(&mut self, a: Atom, b: Atom) -> Result<Atom> {
        if is_lit(&b, 0.0) && a.as_var().is_some() {
            return Ok(a);
        }
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `x * y`, skipping literal ones.
    pub fn mul(&mut self, a: Atom, b: Atom) -> Result<Atom> {
        if is_lit(&b, 1.0) && a.as_var().is_some() {
            return Ok(a);
        }
        if is_lit(&a, 1.0) && b.as_var().is_some() {
            return Ok(b);
        }
        self.binary(BinaryOp::Mul, a, b)
    }

    pub fn div(&mut self, a: Atom, b: Atom) -> Result<Atom> {
        if is_lit(&b, 1.0) && a.as_var().is_some() {
            return Ok(a);
        }
        self.binary(BinaryOp::Div, a, b)
    }

    pub fn neg(&mut self, x: Atom) -> Result<Atom> {
        if let Atom::Lit(s) = &x {
            if s.dtype().is_float() || s.dtype().is_signed_int() {
                return Ok(lit(s.dtype(), -s.as_f64()));
            }
        }
        self.unary(UnaryOp::Neg, x)
    }

    /// `where(pred, a, b)`, broadcasting scalar operands to the predicate's shape.
    pub fn select(&mut self, pred: Atom, a: Atom, b: Atom) -> Result<Atom> {
        let shape = pred.ty().shape;
        let a = if a.ty().shape.is_empty() {
            self.broadcast_in_dim(a, &shape, &[])?
        } else {
            a
        };
        let b = if b.ty().shape.is_empty() {
            self.broadcast_in_dim(b, &shape, &[])?
        } else {
            b
        };
        self.emit1(Prim::Select, vec![pred, a, b])
    }

    // ---- copying -------------------------------------------------------------------

    /// Emits a fresh copy of `body`'s equations applied to `args` into the current body
    /// and returns its results. Nested bodies get fresh variables too (ids are unique
    /// per function).
    pub fn inline(&mut self, body: &Body, args: &[Atom]) -> Result<Vec<Atom>> {
        if args.len() != body.params.len() {
            return Err(TransformError::internal(format!(
                "inlining a body of {} parameters with {} arguments",
                body.params.len(),
                args.len()
            )));
        }
        let mut env: HashMap<u32, Atom> = HashMap::new();
        for (p, a) in body.params.iter().zip(args) {
            env.insert(p.id, a.clone());
        }
        let saved = self.span;
        for e in &body.eqns {
            self.span = e.span;
            let args: Vec<Atom> = e.args.iter().map(|a| subst(&env, a)).collect();
            let prim = self.copy_prim(&e.prim)?;
            let outs = self.emit(prim, args)?;
            for (o, n) in e.outs.iter().zip(outs) {
                env.insert(o.id, Atom::Var(n));
            }
        }
        self.span = saved;
        Ok(body.results.iter().map(|a| subst(&env, a)).collect())
    }

    /// A copy of `body` with fresh variables, as a nested body of the current one.
    pub fn copy_body(&mut self, body: &Body) -> Result<Body> {
        let params = self.begin_body(&body.param_types());
        let args: Vec<Atom> = params.into_iter().map(Atom::Var).collect();
        let results = self.inline(body, &args)?;
        Ok(self.end_body(results))
    }

    /// `prim` with every nested body copied with fresh variables.
    pub fn copy_prim(&mut self, prim: &Prim) -> Result<Prim> {
        prim.try_map_bodies(|b| self.copy_body(b))
    }
}

/// The atom `a` stands for under `env` (literals and unmapped variables unchanged).
pub fn subst(env: &HashMap<u32, Atom>, a: &Atom) -> Atom {
    match a {
        Atom::Var(v) => env.get(&v.id).cloned().unwrap_or_else(|| a.clone()),
        Atom::Lit(_) => a.clone(),
    }
}
