//! Transposition of linear functions: the transpose rule of every linear primitive.
//!
//! A linear body mixes two kinds of values: *linear* ones, which depend on the linear
//! parameters, and non-linear ones, computed from the residuals and literals alone.
//! The transpose first recomputes (forward) the non-linear equations that the
//! transposition needs, then walks the linear equations backwards, accumulating
//! cotangents. `None` is a symbolic zero: an equation whose results all have zero
//! cotangents is skipped. Integer and bool values never carry cotangents.
//!
//! An operand that is non-linear where a linear rule expects a linear one (the `0.0` in
//! `add(t, 0.0)`, the zero initial carry of a tangent scan) is a constant of an affine
//! map that is linear whenever the constant is zero, as in every function partial
//! evaluation produces; its cotangent is simply not propagated.

use std::collections::{HashMap, HashSet};

use nabla_ir::{
    Atom, BinaryOp, Body, CmpOp, CumOp, DType, Eqn, Func, Prim, ReduceOp, ScatterMode, Type,
    UnaryOp,
};

use crate::emit::{lit, subst, Emitter};
use crate::error::{Result, TransformError};

/// The transpose of `linear`, whose first `nres` parameters are non-linear (residuals)
/// and whose results are linear in the remaining parameters.
///
/// Parameters: the `nres` residuals, then one cotangent per result of `linear`.
/// Results: one cotangent per linear parameter (zeros instantiated).
pub fn transpose(linear: &Func, nres: usize) -> Result<Func> {
    let body = &linear.body;
    if nres > body.params.len() {
        return Err(TransformError::internal(format!(
            "transpose of a function of {} parameters with {nres} residuals",
            body.params.len()
        )));
    }
    let mut em = Emitter::new();
    let residuals: Vec<Atom> = body.params[..nres]
        .iter()
        .map(|p| Atom::Var(em.param(p.ty.clone())))
        .collect();
    let cts: Vec<Option<Atom>> = body
        .results
        .iter()
        .map(|r| Some(Atom::Var(em.param(r.ty()))))
        .collect();
    let out = transpose_body(&mut em, body, &residuals, &cts)?;
    let mut results = Vec::with_capacity(out.len());
    for (c, p) in out.into_iter().zip(&body.params[nres..]) {
        results.push(match c {
            Some(c) => c,
            None => em.zeros(&p.ty)?,
        });
    }
    Ok(em.finish(format!("transpose({})", linear.name), results))
}

/// Emits the transpose of `body` into `em`'s current body: `residuals` are the atoms of
/// its first `residuals.len()` parameters, `cts[j]` the cotangent of result `j` (`None`
/// for a symbolic zero). Returns one cotangent per linear parameter (`None` for zero).
pub fn transpose_body(
    em: &mut Emitter,
    body: &Body,
    residuals: &[Atom],
    cts: &[Option<Atom>],
) -> Result<Vec<Option<Atom>>> {
    let nres = residuals.len();
    if nres > body.params.len() {
        return Err(TransformError::internal(format!(
            "transpose of a body of {} parameters with {nres} residuals",
            body.params.len()
        )));
    }
    let linear: Vec<bool> = (0..body.params.len()).map(|i| i >= nres).collect();
    let mut args: Vec<Option<Atom>> = residuals.iter().cloned().map(Some).collect();
    args.resize(body.params.len(), None);
    let mut out = transpose_masked(em, body, &linear, &args, cts)?;
    Ok(out.split_off(nres))
}

/// The general form of [`transpose_body`]: the parameters with `linear[i]` are linear,
/// the others are bound to `args[i]`. Returns one cotangent per parameter (`None` for
/// the non-linear ones).
pub fn transpose_masked(
    em: &mut Emitter,
    body: &Body,
    linear: &[bool],
    args: &[Option<Atom>],
    cts: &[Option<Atom>],
) -> Result<Vec<Option<Atom>>> {
    if linear.len() != body.params.len()
        || args.len() != body.params.len()
        || cts.len() != body.results.len()
    {
        return Err(TransformError::internal(format!(
            "transpose of a body of {} parameters and {} results given {} flags, {} \
             arguments and {} cotangents",
            body.params.len(),
            body.results.len(),
            linear.len(),
            args.len(),
            cts.len()
        )));
    }
    let mut tr = Transposer {
        em,
        lin: HashSet::new(),
        env: HashMap::new(),
        ct: HashMap::new(),
    };
    for ((p, &l), a) in body.params.iter().zip(linear).zip(args) {
        if l {
            tr.lin.insert(p.id);
        } else {
            let a = a.clone().ok_or_else(|| {
                TransformError::internal("transpose: a non-linear parameter without a value")
            })?;
            tr.env.insert(p.id, a);
        }
    }
    for e in &body.eqns {
        if e.args.iter().any(|a| tr.is_lin(a)) {
            tr.lin.extend(e.outs.iter().map(|o| o.id));
        }
    }

    // One backward sweep finds the linear equations that can receive a cotangent and
    // the non-linear equations those need (every use follows its definition).
    let mut reach: HashSet<u32> = HashSet::new();
    for (r, c) in body.results.iter().zip(cts) {
        if let (Atom::Var(v), Some(_)) = (r, c) {
            if tr.lin.contains(&v.id) && v.ty.dtype.is_float() {
                reach.insert(v.id);
            }
        }
    }
    let mut needed: HashSet<u32> = HashSet::new();
    let mut forward = vec![false; body.eqns.len()];
    let mut live = vec![false; body.eqns.len()];
    for (k, e) in body.eqns.iter().enumerate().rev() {
        let is_linear = e.args.iter().any(|a| tr.is_lin(a));
        if is_linear {
            if !e.outs.iter().any(|o| reach.contains(&o.id)) {
                continue;
            }
            live[k] = true;
            for v in e.args.iter().filter_map(Atom::as_var) {
                if !tr.lin.contains(&v.id) {
                    needed.insert(v.id);
                } else if v.ty.dtype.is_float() {
                    reach.insert(v.id);
                }
            }
        } else if e.outs.iter().any(|o| needed.contains(&o.id)) {
            forward[k] = true;
            needed.extend(e.args.iter().filter_map(Atom::as_var).map(|v| v.id));
        }
    }

    let saved = tr.em.span();
    for (k, e) in body.eqns.iter().enumerate() {
        if !forward[k] {
            continue;
        }
        tr.em.set_span(e.span);
        let args: Vec<Atom> = e.args.iter().map(|a| subst(&tr.env, a)).collect();
        let prim = tr.em.copy_prim(&e.prim)?;
        let outs = tr.em.emit(prim, args)?;
        for (o, n) in e.outs.iter().zip(outs) {
            tr.env.insert(o.id, Atom::Var(n));
        }
    }

    for (r, c) in body.results.iter().zip(cts) {
        if let Some(c) = c {
            tr.accumulate(r, c.clone())?;
        }
    }
    for (k, e) in body.eqns.iter().enumerate().rev() {
        if !live[k] {
            continue;
        }
        let out_cts: Vec<Option<Atom>> = e.outs.iter().map(|o| tr.ct.remove(&o.id)).collect();
        if out_cts.iter().all(Option::is_none) {
            continue;
        }
        tr.em.set_span(e.span);
        let arg_cts = tr.rule(e, &out_cts).map_err(|err| err.or_at(e.span))?;
        for (a, c) in e.args.iter().zip(arg_cts) {
            if let Some(c) = c {
                tr.accumulate(a, c)?;
            }
        }
    }
    tr.em.set_span(saved);
    Ok(body
        .params
        .iter()
        .zip(linear)
        .map(|(p, &l)| if l { tr.ct.remove(&p.id) } else { None })
        .collect())
}

/// Which parameters of `body` can receive a nonzero cotangent when the parameters with
/// `linear[i]` are linear and the results with `given[j]` have cotangents: the
/// reachability [`transpose_masked`] computes, without emitting anything. Never false
/// where the transposition returns a cotangent.
fn ct_params(body: &Body, linear: &[bool], given: &[bool]) -> Vec<bool> {
    let mut lin: HashSet<u32> = body
        .params
        .iter()
        .zip(linear)
        .filter(|(_, l)| **l)
        .map(|(p, _)| p.id)
        .collect();
    let is_lin = |lin: &HashSet<u32>, a: &Atom| matches!(a, Atom::Var(v) if lin.contains(&v.id));
    let mut linear_eqn = Vec::with_capacity(body.eqns.len());
    for e in &body.eqns {
        let l = e.args.iter().any(|a| is_lin(&lin, a));
        if l {
            lin.extend(e.outs.iter().map(|o| o.id));
        }
        linear_eqn.push(l);
    }
    let mut reach: HashSet<u32> = HashSet::new();
    for (r, &g) in body.results.iter().zip(given) {
        if let Atom::Var(v) = r {
            if g && lin.contains(&v.id) && v.ty.dtype.is_float() {
                reach.insert(v.id);
            }
        }
    }
    for (e, &l) in body.eqns.iter().zip(&linear_eqn).rev() {
        if l && e.outs.iter().any(|o| reach.contains(&o.id)) {
            for v in e.args.iter().filter_map(Atom::as_var) {
                if lin.contains(&v.id) && v.ty.dtype.is_float() {
                    reach.insert(v.id);
                }
            }
        }
    }
    body.params
        .iter()
        .zip(linear)
        .map(|(p, &l)| l && p.ty.dtype.is_float() && reach.contains(&p.id))
        .collect()
}

struct Transposer<'a> {
    em: &'a mut Emitter,
    /// Ids of the linear variables.
    lin: HashSet<u32>,
    /// Non-linear variables → their atoms in the output.
    env: HashMap<u32, Atom>,
    /// Linear variables → their accumulated cotangents.
    ct: HashMap<u32, Atom>,
}

fn not_linear(e: &Eqn) -> TransformError {
    TransformError::internal(format!(
        "transpose: {} is not linear in its linear operand",
        e.prim.name()
    ))
}

/// The positions `0..rank` that are neither in `a` nor in `b`.
fn remaining(rank: usize, a: &[usize], b: &[usize]) -> Vec<usize> {
    (0..rank)
        .filter(|i| !a.contains(i) && !b.contains(i))
        .collect()
}

/// The permutation sorting `v` (NumPy's argsort).
fn argsort(v: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by_key(|&i| v[i]);
    order
}

impl Transposer<'_> {
    fn is_lin(&self, a: &Atom) -> bool {
        matches!(a, Atom::Var(v) if self.lin.contains(&v.id))
    }

    /// The output atom of a non-linear operand.
    fn nl(&self, a: &Atom) -> Result<Atom> {
        match a {
            Atom::Lit(_) => Ok(a.clone()),
            Atom::Var(v) if self.lin.contains(&v.id) => Err(TransformError::internal(format!(
                "transpose: a rule needs the value of the linear variable %{}",
                v.id
            ))),
            Atom::Var(v) => self.env.get(&v.id).cloned().ok_or_else(|| {
                TransformError::internal(format!("transpose: %{} was not recomputed", v.id))
            }),
        }
    }

    fn accumulate(&mut self, a: &Atom, c: Atom) -> Result<()> {
        let v = match a {
            Atom::Var(v) if self.lin.contains(&v.id) && v.ty.dtype.is_float() => v,
            Atom::Var(_) | Atom::Lit(_) => return Ok(()),
        };
        let sum = match self.ct.remove(&v.id) {
            Some(old) => self.em.add(old, c)?,
            None => c,
        };
        self.ct.insert(v.id, sum);
        Ok(())
    }

    fn pad(&mut self, x: Atom, lo: Vec<i64>, hi: Vec<i64>) -> Result<Atom> {
        if lo.iter().chain(&hi).all(|&w| w == 0) {
            return Ok(x);
        }
        let zero = lit(x.dtype(), 0.0);
        self.em.emit1(Prim::Pad { lo, hi }, vec![x, zero])
    }

    fn sum_all(&mut self, x: Atom) -> Result<Atom> {
        let axes: Vec<usize> = (0..x.ty().rank()).collect();
        self.em.reduce_sum(x, &axes)
    }

    /// `idx` clamped into `[0, n - 1]`, the indices `take` actually reads.
    fn clamp_index(&mut self, idx: Atom, n: usize) -> Result<Atom> {
        let dt = idx.dtype();
        let hi = n.saturating_sub(1) as f64;
        if let Atom::Lit(s) = &idx {
            return Ok(lit(dt, s.as_f64().clamp(0.0, hi)));
        }
        let m = self.em.binary(BinaryOp::Max, idx, lit(dt, 0.0))?;
        self.em.binary(BinaryOp::Min, m, lit(dt, hi))
    }

    /// Broadcasts a bool mask over `idx`'s shape to the shape of `take(x, idx, axis)`.
    fn mask_to_updates(&mut self, m: Atom, upd: &Type, axis: usize) -> Result<Atom> {
        let dims: Vec<usize> = (axis..axis + m.ty().rank()).collect();
        self.em.broadcast_in_dim(m, &upd.shape, &dims)
    }

    /// Whether each index is in `[0, n)`, i.e. whether `scatter` writes it.
    fn in_range(&mut self, idx: Atom, n: usize) -> Result<Atom> {
        let dt = idx.dtype();
        let ge = self.em.compare(CmpOp::Ge, idx.clone(), lit(dt, 0.0))?;
        let lt = self.em.compare(CmpOp::Lt, idx, lit(dt, n as f64))?;
        self.em.binary(BinaryOp::And, ge, lt)
    }

    /// Whether each index is the one whose write a `Set` scatter keeps: in range and
    /// the last occurrence of its value in row-major order. Computed by scattering
    /// each index's own flat position and reading back which one survived.
    fn scatter_winner(&mut self, idx: Atom, n: usize) -> Result<Atom> {
        let it = idx.ty();
        let count = it.numel();
        let pos = self.em.emit1(
            Prim::Iota {
                dtype: DType::I64,
                shape: vec![count],
                axis: 0,
            },
            vec![],
        )?;
        let pos = self.em.reshape(pos, &it.shape)?;
        let fill = self.em.full(&Type::new(DType::I64, vec![n]), -1.0)?;
        let kept = self.em.emit1(
            Prim::Scatter {
                axis: 0,
                mode: ScatterMode::Set,
            },
            vec![fill, idx.clone(), pos.clone()],
        )?;
        let back = self.em.emit1(Prim::Take { axis: 0 }, vec![kept, idx])?;
        self.em.compare(CmpOp::Eq, back, pos)
    }

    /// `where(mask, x, 0)`.
    fn keep_where(&mut self, mask: Atom, x: Atom) -> Result<Atom> {
        let zero = lit(x.dtype(), 0.0);
        self.em.select(mask, x, zero)
    }

    /// JAX's `_dot_general_transpose_lhs`: the cotangent of `x` in `dot_general(x, y)`
    /// (or, with `swap_ans`, in `dot_general(y, x)` with the dimension numbers given
    /// from `x`'s side).
    #[allow(clippy::too_many_arguments)]
    fn dot_transpose_lhs(
        &mut self,
        g: Atom,
        y: Atom,
        x_rank: usize,
        x_contract: &[usize],
        y_contract: &[usize],
        x_batch: &[usize],
        y_batch: &[usize],
        compensated: bool,
        swap_ans: bool,
    ) -> Result<Atom> {
        let y_rank = y.ty().rank();
        let x_kept = remaining(x_rank, x_contract, x_batch);
        let y_kept = remaining(y_rank, y_contract, y_batch);
        let nb = x_batch.len();
        let ans_y: Vec<usize> = if swap_ans {
            (nb..nb + y_kept.len()).collect()
        } else {
            let s = nb + x_kept.len();
            (s..s + y_kept.len()).collect()
        };
        let out = self.em.emit1(
            Prim::DotGeneral {
                lhs_contract: ans_y,
                rhs_contract: y_kept,
                lhs_batch: (0..nb).collect(),
                rhs_batch: y_batch.to_vec(),
                compensated,
            },
            vec![g, y],
        )?;
        let sorted_by_y: Vec<usize> = argsort(y_contract).iter().map(|&i| x_contract[i]).collect();
        let mut pre: Vec<usize> = x_batch.to_vec();
        pre.extend(x_kept);
        pre.extend(sorted_by_y);
        let perm = argsort(&pre);
        self.em.transpose(out, &perm)
    }

    fn slice_transpose(
        &mut self,
        c: Atom,
        x: &Type,
        start: &[usize],
        stride: &[usize],
    ) -> Result<Atom> {
        // A strided axis is spread out first: append s-1 zeros after each element
        // (reshape to [m, 1], pad to [m, s], reshape to [m*s]), then the whole is padded
        // into place; a negative high padding drops the zeros past the last element.
        let mut cur = c;
        let mut shape = cur.ty().shape;
        let r = shape.len();
        for a in 0..r {
            let s = stride[a];
            if s <= 1 {
                continue;
            }
            let m = shape[a];
            let mut sh1 = shape.clone();
            sh1.insert(a + 1, 1);
            cur = self.em.reshape(cur, &sh1)?;
            let lo = vec![0; r + 1];
            let mut hi = vec![0; r + 1];
            hi[a + 1] = s as i64 - 1;
            cur = self.pad(cur, lo, hi)?;
            shape[a] = m * s;
            cur = self.em.reshape(cur, &shape)?;
        }
        let lo: Vec<i64> = start.iter().map(|&s| s as i64).collect();
        let hi: Vec<i64> = (0..r)
            .map(|a| x.shape[a] as i64 - start[a] as i64 - shape[a] as i64)
            .collect();
        self.pad(cur, lo, hi)
    }

    /// The cotangents of `e`'s operands from those of its results (not all `None`).
    fn rule(&mut self, e: &Eqn, cts: &[Option<Atom>]) -> Result<Vec<Option<Atom>>> {
        let a = &e.args;
        let n = a.len();
        let lin: Vec<bool> = a.iter().map(|x| self.is_lin(x)).collect();
        let ct = || {
            cts.first().cloned().flatten().ok_or_else(|| {
                TransformError::internal("transpose: a single-result rule without a cotangent")
            })
        };
        let mut out: Vec<Option<Atom>> = vec![None; n];
        match &e.prim {
            Prim::Unary(op) => match op {
                UnaryOp::Neg => out[0] = Some(self.em.neg(ct()?)?),
                UnaryOp::Abs
                | UnaryOp::Sign
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
                | UnaryOp::Erfinv
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::IsNan
                | UnaryOp::IsFinite
                | UnaryOp::Not => return Err(not_linear(e)),
            },
            Prim::Binary(op) => match op {
                BinaryOp::Add => {
                    let c = ct()?;
                    out[0] = lin[0].then(|| c.clone());
                    out[1] = lin[1].then_some(c);
                }
                BinaryOp::Sub => {
                    let c = ct()?;
                    if lin[1] {
                        out[1] = Some(self.em.neg(c.clone())?);
                    }
                    out[0] = lin[0].then_some(c);
                }
                BinaryOp::Mul => {
                    let c = ct()?;
                    match (lin[0], lin[1]) {
                        (true, false) => {
                            let y = self.nl(&a[1])?;
                            out[0] = Some(self.em.mul(c, y)?);
                        }
                        (false, true) => {
                            let x = self.nl(&a[0])?;
                            out[1] = Some(self.em.mul(x, c)?);
                        }
                        (true, true) | (false, false) => {
                            return Err(TransformError::internal(
                                "transpose: a product of two linear values",
                            ))
                        }
                    }
                }
                BinaryOp::Div => {
                    if lin[1] {
                        return Err(TransformError::internal(
                            "transpose: division by a linear value",
                        ));
                    }
                    let y = self.nl(&a[1])?;
                    out[0] = Some(self.em.div(ct()?, y)?);
                }
                BinaryOp::Rem
                | BinaryOp::Pow
                | BinaryOp::Atan2
                | BinaryOp::Max
                | BinaryOp::Min
                | BinaryOp::And
                | BinaryOp::Or
                | BinaryOp::Xor
                | BinaryOp::ShiftLeft
                | BinaryOp::ShiftRightLogical => return Err(not_linear(e)),
            },
            Prim::Select => {
                if lin[0] {
                    return Err(TransformError::internal(
                        "transpose: a select whose predicate is linear",
                    ));
                }
                let p = self.nl(&a[0])?;
                let c = ct()?;
                let zero = lit(c.dtype(), 0.0);
                if lin[1] {
                    out[1] = Some(self.em.select(p.clone(), c.clone(), zero.clone())?);
                }
                if lin[2] {
                    out[2] = Some(self.em.select(p, zero, c)?);
                }
            }
            Prim::IntPow { exponent } => {
                if *exponent != 1 {
                    return Err(not_linear(e));
                }
                out[0] = Some(ct()?);
            }
            Prim::Convert { dtype } => {
                let src = a[0].dtype();
                if src.is_float() && dtype.is_float() {
                    out[0] = Some(self.em.convert(ct()?, src)?);
                }
            }
            Prim::StopGradient => {}
            Prim::BroadcastInDim { shape, dims } => {
                let xs = a[0].ty().shape;
                let mut axes: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
                for (i, &d) in dims.iter().enumerate() {
                    if xs[i] == 1 && shape[d] != 1 {
                        axes.push(d);
                    }
                }
                axes.sort_unstable();
                let s = self.em.reduce_sum(ct()?, &axes)?;
                out[0] = Some(self.em.reshape(s, &xs)?);
            }
            Prim::Reshape { .. } => {
                out[0] = Some(self.em.reshape(ct()?, &a[0].ty().shape)?);
            }
            Prim::Transpose { perm } => {
                out[0] = Some(self.em.transpose(ct()?, &argsort(perm))?);
            }
            Prim::Slice { start, stride, .. } => {
                out[0] = Some(self.slice_transpose(ct()?, &a[0].ty(), start, stride)?);
            }
            Prim::Pad { lo, hi } => {
                let c = ct()?;
                let neg = |w: &[i64]| w.iter().map(|x| -x).collect::<Vec<_>>();
                let inner = self.pad(c.clone(), neg(lo), neg(hi))?;
                if lin[1] {
                    let total = self.sum_all(c)?;
                    let kept = self.sum_all(inner.clone())?;
                    out[1] = Some(self.em.sub(total, kept)?);
                }
                out[0] = lin[0].then_some(inner);
            }
            Prim::Concat { axis } => {
                let c = ct()?;
                let ct_shape = c.ty().shape;
                let mut off = 0;
                for (i, x) in a.iter().enumerate() {
                    let len = x.ty().shape[*axis];
                    if lin[i] {
                        let mut start = vec![0; ct_shape.len()];
                        let mut limit = ct_shape.clone();
                        start[*axis] = off;
                        limit[*axis] = off + len;
                        let piece = if start.iter().all(|&s| s == 0) && limit == ct_shape {
                            c.clone()
                        } else {
                            self.em.emit1(
                                Prim::Slice {
                                    start,
                                    limit,
                                    stride: vec![1; ct_shape.len()],
                                },
                                vec![c.clone()],
                            )?
                        };
                        out[i] = Some(piece);
                    }
                    off += len;
                }
            }
            Prim::Rev { axes } => {
                let c = ct()?;
                out[0] = Some(if axes.is_empty() {
                    c
                } else {
                    self.em.emit1(Prim::Rev { axes: axes.clone() }, vec![c])?
                });
            }
            Prim::Reduce { op, axes, .. } => match op {
                ReduceOp::Sum => {
                    let xs = a[0].ty().shape;
                    let dims: Vec<usize> = (0..xs.len()).filter(|d| !axes.contains(d)).collect();
                    out[0] = Some(self.em.broadcast_in_dim(ct()?, &xs, &dims)?);
                }
                ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min | ReduceOp::And | ReduceOp::Or => {
                    return Err(not_linear(e))
                }
            },
            Prim::Cumulative { op, axis, reverse } => match op {
                CumOp::Sum => {
                    out[0] = Some(self.em.emit1(
                        Prim::Cumulative {
                            op: CumOp::Sum,
                            axis: *axis,
                            reverse: !reverse,
                        },
                        vec![ct()?],
                    )?);
                }
                CumOp::Prod => return Err(not_linear(e)),
            },
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
                compensated,
            } => {
                let c = ct()?;
                match (lin[0], lin[1]) {
                    (true, false) => {
                        let y = self.nl(&a[1])?;
                        out[0] = Some(self.dot_transpose_lhs(
                            c,
                            y,
                            a[0].ty().rank(),
                            lhs_contract,
                            rhs_contract,
                            lhs_batch,
                            rhs_batch,
                            *compensated,
                            false,
                        )?);
                    }
                    (false, true) => {
                        let x = self.nl(&a[0])?;
                        out[1] = Some(self.dot_transpose_lhs(
                            c,
                            x,
                            a[1].ty().rank(),
                            rhs_contract,
                            lhs_contract,
                            rhs_batch,
                            lhs_batch,
                            *compensated,
                            true,
                        )?);
                    }
                    (true, true) | (false, false) => {
                        return Err(TransformError::internal(
                            "transpose: a dot_general of two linear values",
                        ))
                    }
                }
            }
            Prim::Take { axis } => {
                let x = a[0].ty();
                let c = ct()?;
                let n = x.shape[*axis];
                out[0] = Some(if n == 0 {
                    self.em.zeros(&x)?
                } else {
                    // take clamps its indices; scatter drops out-of-range ones, so the
                    // indices are clamped here to send each cotangent where it was read.
                    let idx = self.nl(&a[1])?;
                    let idx = self.clamp_index(idx, n)?;
                    let z = self.em.zeros(&x)?;
                    self.em.emit1(
                        Prim::Scatter {
                            axis: *axis,
                            mode: ScatterMode::Add,
                        },
                        vec![z, idx, c],
                    )?
                });
            }
            Prim::Scatter { axis, mode } => {
                let c = ct()?;
                let idx = self.nl(&a[1])?;
                let upd = a[2].ty();
                let n = a[0].ty().shape[*axis];
                if lin[0] {
                    out[0] = Some(match mode {
                        ScatterMode::Add => c.clone(),
                        ScatterMode::Set => {
                            let z = self.em.zeros(&upd)?;
                            self.em.emit1(
                                Prim::Scatter {
                                    axis: *axis,
                                    mode: ScatterMode::Set,
                                },
                                vec![c.clone(), idx.clone(), z],
                            )?
                        }
                    });
                }
                if lin[2] {
                    // Only updates that were written receive a cotangent: out-of-range
                    // ones are dropped by both modes, and of duplicates `Set` keeps
                    // only the last.
                    let mask = match mode {
                        ScatterMode::Add => self.in_range(idx.clone(), n)?,
                        ScatterMode::Set => self.scatter_winner(idx.clone(), n)?,
                    };
                    let mask = self.mask_to_updates(mask, &upd, *axis)?;
                    let g = self.em.emit1(Prim::Take { axis: *axis }, vec![c, idx])?;
                    out[2] = Some(self.keep_where(mask, g)?);
                }
            }
            Prim::DynamicSlice { .. } => {
                let starts: Vec<Atom> = a[1..].iter().map(|s| self.nl(s)).collect::<Result<_>>()?;
                let z = self.em.zeros(&a[0].ty())?;
                let mut args = vec![z, ct()?];
                args.extend(starts);
                out[0] = Some(self.em.emit1(Prim::DynamicUpdateSlice, args)?);
            }
            Prim::DynamicUpdateSlice => {
                let c = ct()?;
                let starts: Vec<Atom> = a[2..].iter().map(|s| self.nl(s)).collect::<Result<_>>()?;
                let upd = a[1].ty();
                if lin[0] {
                    let z = self.em.zeros(&upd)?;
                    let mut args = vec![c.clone(), z];
                    args.extend(starts.iter().cloned());
                    out[0] = Some(self.em.emit1(Prim::DynamicUpdateSlice, args)?);
                }
                if lin[1] {
                    let mut args = vec![c];
                    args.extend(starts);
                    out[1] = Some(
                        self.em
                            .emit1(Prim::DynamicSlice { sizes: upd.shape }, args)?,
                    );
                }
            }
            Prim::Cond {
                then_body,
                else_body,
            } => return self.cond(e, then_body, else_body, cts),
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                length,
                reverse,
            } => return self.scan(e, body, *nconsts, *ncarry, *length, *reverse, cts),
            Prim::While { .. } => {
                return Err(TransformError::not_differentiable(
                    "reverse-mode differentiation through a while loop",
                )
                .with_hint(
                    "use fori with static bounds or scan, which are reverse-differentiable",
                ))
            }
            Prim::Compare(_)
            | Prim::Constant { .. }
            | Prim::Iota { .. }
            | Prim::ArgReduce { .. }
            | Prim::Threefry2x32
            | Prim::BitsToUnit { .. } => return Err(not_linear(e)),
        }
        Ok(out)
    }

    /// The transposed cond: the same predicate, the non-linear operands and the
    /// non-zero cotangents as operands, each branch transposed.
    fn cond(
        &mut self,
        e: &Eqn,
        then_body: &Body,
        else_body: &Body,
        cts: &[Option<Atom>],
    ) -> Result<Vec<Option<Atom>>> {
        if self.is_lin(&e.args[0]) {
            return Err(TransformError::internal(
                "transpose: a cond whose predicate is linear",
            ));
        }
        let pred = self.nl(&e.args[0])?;
        let ops = &e.args[1..];
        let op_lin: Vec<bool> = ops.iter().map(|x| self.is_lin(x)).collect();
        let wants: Vec<bool> = ops
            .iter()
            .zip(&op_lin)
            .map(|(x, &l)| l && x.dtype().is_float())
            .collect();
        let mut operands = vec![pred];
        for (x, &l) in ops.iter().zip(&op_lin) {
            if !l {
                operands.push(self.nl(x)?);
            }
        }
        let nnl = operands.len() - 1;
        operands.extend(cts.iter().flatten().cloned());
        let types: Vec<Type> = operands[1..].iter().map(Atom::ty).collect();
        // Which operands get a cotangent is predicted before building anything, so each
        // branch is transposed once (rebuilding a branch to add zeros would make nested
        // conds cost exponential time); the prediction may only err towards zeros.
        let given: Vec<bool> = cts.iter().map(Option::is_some).collect();
        let union: Vec<bool> = ct_params(then_body, &op_lin, &given)
            .iter()
            .zip(ct_params(else_body, &op_lin, &given))
            .zip(&wants)
            .map(|((a, b), w)| (*a || b) && *w)
            .collect();
        let mut out = vec![None; e.args.len()];
        if !union.iter().any(|u| *u) {
            return Ok(out);
        }
        let tb = self.cond_branch(then_body, &types, &op_lin, nnl, cts, &union)?;
        let fb = self.cond_branch(else_body, &types, &op_lin, nnl, cts, &union)?;
        let res = self.em.emit(
            Prim::Cond {
                then_body: tb,
                else_body: fb,
            },
            operands,
        )?;
        let mut res = res.into_iter();
        for (i, &u) in union.iter().enumerate() {
            if u {
                out[i + 1] = res.next().map(Atom::Var);
            }
        }
        Ok(out)
    }

    /// One transposed branch, returning the cotangents of the operands with
    /// `present[i]` (zeros where the branch has none).
    fn cond_branch(
        &mut self,
        body: &Body,
        types: &[Type],
        op_lin: &[bool],
        nnl: usize,
        cts: &[Option<Atom>],
        present: &[bool],
    ) -> Result<Body> {
        let ps: Vec<Atom> = self
            .em
            .begin_body(types)
            .into_iter()
            .map(Atom::Var)
            .collect();
        let mut nl = ps[..nnl].iter();
        let args: Vec<Option<Atom>> = op_lin
            .iter()
            .map(|&l| if l { None } else { nl.next().cloned() })
            .collect();
        let mut given = ps[nnl..].iter();
        let body_cts: Vec<Option<Atom>> = cts
            .iter()
            .map(|c| c.as_ref().and_then(|_| given.next().cloned()))
            .collect();
        let r = transpose_masked(self.em, body, op_lin, &args, &body_cts)?;
        let mut results = Vec::new();
        for (i, c) in r.into_iter().enumerate() {
            match (present[i], c) {
                (true, Some(c)) => results.push(c),
                (true, None) => {
                    let z = self.em.zeros(&body.params[i].ty)?;
                    results.push(z);
                }
                (false, None) => {}
                (false, Some(_)) => {
                    return Err(TransformError::internal(
                        "transpose: a cond branch gave a cotangent that was not predicted",
                    ))
                }
            }
        }
        Ok(self.em.end_body(results))
    }

    /// JAX's scan transpose: a scan the other way whose carries are the cotangents of
    /// the linear consts (accumulated) and of the carries, whose xs are the non-linear
    /// xs and the cotangents of the ys, and whose ys are the cotangents of the linear
    /// xs.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &mut self,
        e: &Eqn,
        body: &Body,
        nconsts: usize,
        ncarry: usize,
        length: usize,
        reverse: bool,
        cts: &[Option<Atom>],
    ) -> Result<Vec<Option<Atom>>> {
        let a = &e.args;
        let xs0 = nconsts + ncarry;
        if let Some(c) = a[nconsts..xs0].iter().find(|c| !c.dtype().is_float()) {
            return Err(TransformError::internal(format!(
                "transpose: a linear scan carries a {} value",
                c.ty()
            )));
        }
        // Carries are linear even where their initial value is not: a zero initial
        // tangent is a residual or a literal, yet the body adds linear values to it.
        let mut mask: Vec<bool> = a[..nconsts].iter().map(|x| self.is_lin(x)).collect();
        mask.extend(std::iter::repeat_n(true, ncarry));
        mask.extend(a[xs0..].iter().map(|x| self.is_lin(x)));

        let mut res_consts = Vec::new();
        let mut acc_idx = Vec::new();
        for (i, x) in a[..nconsts].iter().enumerate() {
            if !mask[i] {
                res_consts.push(self.nl(x)?);
            } else if x.dtype().is_float() {
                acc_idx.push(i);
            }
        }
        let mut res_xs = Vec::new();
        let mut lin_xs = Vec::new();
        for (j, x) in a[xs0..].iter().enumerate() {
            if !mask[xs0 + j] {
                res_xs.push(self.nl(x)?);
            } else if x.dtype().is_float() {
                lin_xs.push(j);
            }
        }
        let mut acc_init = Vec::new();
        for &i in &acc_idx {
            acc_init.push(self.em.zeros(&a[i].ty())?);
        }
        let mut carry_ct = Vec::new();
        for (i, o) in e.outs[..ncarry].iter().enumerate() {
            carry_ct.push(match &cts[i] {
                Some(c) => c.clone(),
                None => self.em.zeros(&o.ty)?,
            });
        }
        let ys_ct: Vec<Atom> = cts[ncarry..].iter().flatten().cloned().collect();

        let slice = |t: Type| Type::new(t.dtype, t.shape[1..].to_vec());
        let mut types: Vec<Type> = res_consts
            .iter()
            .chain(&acc_init)
            .chain(&carry_ct)
            .map(Atom::ty)
            .collect();
        types.extend(res_xs.iter().chain(&ys_ct).map(|x| slice(x.ty())));
        let ps: Vec<Atom> = self
            .em
            .begin_body(&types)
            .into_iter()
            .map(Atom::Var)
            .collect();
        let (nrc, nacc, nrx) = (res_consts.len(), acc_init.len(), res_xs.len());
        let acc_p = &ps[nrc..nrc + nacc];
        let carry_p = &ps[nrc + nacc..nrc + nacc + ncarry];
        let rx0 = nrc + nacc + ncarry;
        let mut rc = ps[..nrc].iter();
        let mut rx = ps[rx0..rx0 + nrx].iter();
        let args: Vec<Option<Atom>> = mask
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                if l {
                    None
                } else if i < nconsts {
                    rc.next().cloned()
                } else {
                    rx.next().cloned()
                }
            })
            .collect();
        let mut ys_p = ps[rx0 + nrx..].iter();
        let mut body_cts: Vec<Option<Atom>> = carry_p.iter().cloned().map(Some).collect();
        body_cts.extend(
            cts[ncarry..]
                .iter()
                .map(|c| c.as_ref().and_then(|_| ys_p.next().cloned())),
        );
        let r = transpose_masked(self.em, body, &mask, &args, &body_cts)?;
        let mut results = Vec::with_capacity(nacc + ncarry + lin_xs.len());
        for (k, &i) in acc_idx.iter().enumerate() {
            results.push(match &r[i] {
                Some(c) => self.em.add(acc_p[k].clone(), c.clone())?,
                None => acc_p[k].clone(),
            });
        }
        for i in 0..ncarry {
            results.push(match &r[nconsts + i] {
                Some(c) => c.clone(),
                None => self.em.zeros(&body.params[nconsts + i].ty)?,
            });
        }
        for &j in &lin_xs {
            results.push(match &r[xs0 + j] {
                Some(c) => c.clone(),
                None => self.em.zeros(&body.params[xs0 + j].ty)?,
            });
        }
        let tbody = self.em.end_body(results);

        let mut operands = res_consts;
        operands.extend(acc_init);
        operands.extend(carry_ct);
        operands.extend(res_xs);
        operands.extend(ys_ct);
        let res = self.em.emit(
            Prim::Scan {
                body: tbody,
                nconsts: nrc,
                ncarry: nacc + ncarry,
                length,
                reverse: !reverse,
            },
            operands,
        )?;
        let mut out = vec![None; a.len()];
        for (k, &i) in acc_idx.iter().enumerate() {
            out[i] = Some(Atom::Var(res[k].clone()));
        }
        for i in 0..ncarry {
            out[nconsts + i] = Some(Atom::Var(res[nacc + i].clone()));
        }
        for (k, &j) in lin_xs.iter().enumerate() {
            out[xs0 + j] = Some(Atom::Var(res[nacc + ncarry + k].clone()));
        }
        Ok(out)
    }
}
