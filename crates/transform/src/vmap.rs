//! Batching: the vmap rule of every primitive.
//!
//! Every value of the batched program is either unbatched (shared by all batch elements)
//! or batched along exactly one axis of size `size`. Rules move a batch axis only when
//! the primitive needs it somewhere specific, so a chain of elementwise operations on
//! operands batched along the same axis emits no transposes at all.
//!
//! Where a primitive has no batched counterpart the rule rewrites it:
//! - gathers and scatters whose indices are batched fold the batch axis into the
//!   indexed axis and offset each batch element's indices by `b * n` (so one `take` or
//!   `scatter` serves the whole batch);
//! - dynamic slices with batched starts become such per-batch gathers of the window;
//!   dynamic updates with batched starts gather the update to the operand's shape and
//!   `select` it in with a window mask;
//! - a `cond` on a batched predicate runs both branches and selects per element;
//! - a `while` on a batched predicate runs while any element's predicate holds, and
//!   elements that are done keep their carry through a `select`.
//!
//! Every rewrite computes, for each batch element, bit-for-bit what the unbatched
//! primitive computes on that element.

use std::collections::HashMap;

use nabla_diag::Code;
use nabla_ir::{
    infer, Atom, BinaryOp, Body, CmpOp, DType, Func, Prim, ReduceOp, ScatterMode, Type,
};

use crate::emit::{lit, Emitter};
use crate::error::{Result, TransformError};

/// An atom of the batched program with its batch axis (`None`: unbatched).
type Val = (Atom, Option<usize>);

/// `f` mapped over a batch of `size`: parameter `i` is batched along axis
/// `in_axes[i]` (`None`: not batched, shared by every batch element); result `j` is
/// returned with its batch axis at `out_axes[j]` (`None`: the result must not depend on
/// the batch, else an error).
///
/// Axes are non-negative: the caller normalizes negative axes and checks that the
/// mapped arguments agree on `size`. An axis beyond a parameter's or result's rank is
/// reported as an error.
pub fn vmap(
    f: &Func,
    in_axes: &[Option<usize>],
    size: usize,
    out_axes: &[Option<usize>],
) -> Result<Func> {
    let params = &f.body.params;
    if in_axes.len() != params.len() {
        return Err(TransformError::new(
            Code::BAD_ARGUMENT,
            format!(
                "vmap: in_axes has {} entries but `{}` takes {} arguments",
                in_axes.len(),
                f.name,
                params.len()
            ),
        ));
    }
    if out_axes.len() != f.body.results.len() {
        return Err(TransformError::new(
            Code::BAD_ARGUMENT,
            format!(
                "vmap: out_axes has {} entries but `{}` returns {} results",
                out_axes.len(),
                f.name,
                f.body.results.len()
            ),
        ));
    }
    let mut em = Emitter::new();
    let mut args = Vec::with_capacity(params.len());
    for (i, (p, ax)) in params.iter().zip(in_axes).enumerate() {
        let mut ty = p.ty.clone();
        if let Some(a) = *ax {
            if a > ty.rank() {
                return Err(TransformError::new(
                    Code::AXIS_OUT_OF_RANGE,
                    format!(
                        "vmap: in_axes[{i}] = {a} is out of range for argument {i} of type {}",
                        p.ty
                    ),
                ));
            }
            ty.shape.insert(a, size);
        }
        args.push(Atom::Var(em.param(ty)));
    }
    let (results, bdims) = vmap_body(&mut em, &f.body, &args, in_axes, size)?;
    let mut outs = Vec::with_capacity(results.len());
    for (j, ((r, bd), out)) in results.into_iter().zip(bdims).zip(out_axes).enumerate() {
        let atom = match (bd, *out) {
            (None, None) => r,
            (Some(_), None) => {
                return Err(TransformError::new(
                    Code::BAD_ARGUMENT,
                    format!("vmap: result {j} depends on the mapped axis but out_axes is none"),
                ))
            }
            (bd, Some(o)) => {
                let rank = r.ty().rank() - usize::from(bd.is_some());
                if o > rank {
                    return Err(TransformError::new(
                        Code::AXIS_OUT_OF_RANGE,
                        format!(
                            "vmap: out_axes[{j}] = {o} is out of range for a result of rank \
                             {rank}"
                        ),
                    ));
                }
                Batcher { em: &mut em, size }.move_to((r, bd), o)?
            }
        };
        outs.push(atom);
    }
    Ok(em.finish(format!("vmap({})", f.name), outs))
}

/// Emits the batched version of `body` applied to `args` (arg `i` batched along
/// `bdims[i]`) into `em`'s current body. Returns the results and their batch axes.
pub fn vmap_body(
    em: &mut Emitter,
    body: &Body,
    args: &[Atom],
    bdims: &[Option<usize>],
    size: usize,
) -> Result<(Vec<Atom>, Vec<Option<usize>>)> {
    if args.len() != bdims.len() {
        return Err(TransformError::internal(format!(
            "vmap_body: {} arguments with {} batch axes",
            args.len(),
            bdims.len()
        )));
    }
    let vals: Vec<Val> = args.iter().cloned().zip(bdims.iter().copied()).collect();
    let out = Batcher { em, size }.body(body, vals)?;
    Ok(out.into_iter().unzip())
}

/// Which results of `body` are batched when its parameters are batched as `in_batched`
/// says. Every rule here batches a result exactly when this says so, except that a rule
/// may leave a result unbatched where this says batched (it is then broadcast where a
/// batched value is needed).
pub fn batched_results(body: &Body, in_batched: &[bool]) -> Vec<bool> {
    let mut env: HashMap<u32, bool> = HashMap::new();
    for (p, &b) in body.params.iter().zip(in_batched) {
        env.insert(p.id, b);
    }
    let flag = |env: &HashMap<u32, bool>, a: &Atom| match a {
        Atom::Var(v) => env.get(&v.id).copied().unwrap_or(false),
        Atom::Lit(_) => false,
    };
    for e in &body.eqns {
        let ins: Vec<bool> = e.args.iter().map(|a| flag(&env, a)).collect();
        let any = ins.iter().any(|&b| b);
        let outs: Vec<bool> = match &e.prim {
            Prim::Cond {
                then_body,
                else_body,
            } => cond_batched(then_body, else_body, &ins),
            Prim::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
            } => {
                let (pred, carry) =
                    while_batched(cond_body, body, *cond_nconsts, *body_nconsts, &ins);
                if pred {
                    vec![true; carry.len()]
                } else {
                    carry
                }
            }
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                ..
            } => {
                let (mut carry, ys) = scan_batched(body, *nconsts, *ncarry, &ins);
                carry.extend(ys);
                carry
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
            | Prim::BitsToUnit { .. } => vec![any; e.outs.len()],
        };
        for (o, b) in e.outs.iter().zip(outs) {
            env.insert(o.id, b);
        }
    }
    body.results.iter().map(|a| flag(&env, a)).collect()
}

/// Batched results of a `cond` whose operands (predicate first) are batched as `ins`.
fn cond_batched(then_body: &Body, else_body: &Body, ins: &[bool]) -> Vec<bool> {
    let n = then_body.results.len();
    if ins.first().copied().unwrap_or(false) {
        return vec![true; n];
    }
    let ops = ins.get(1..).unwrap_or(&[]);
    let t = batched_results(then_body, ops);
    let e = batched_results(else_body, ops);
    t.iter().zip(&e).map(|(a, b)| *a || *b).collect()
}

/// Whether a `while`'s predicate is batched, and which carries are batched at the
/// fixpoint (a carry is batched if its initial value is or if the body makes it so from
/// batched carries, which may take several rounds to settle).
fn while_batched(
    cond_body: &Body,
    body: &Body,
    cond_nconsts: usize,
    body_nconsts: usize,
    ins: &[bool],
) -> (bool, Vec<bool>) {
    let nc = (cond_nconsts + body_nconsts).min(ins.len());
    let cc = &ins[..cond_nconsts.min(nc)];
    let bc = &ins[cond_nconsts.min(nc)..nc];
    let mut carry: Vec<bool> = ins[nc..].to_vec();
    loop {
        let bin: Vec<bool> = bc.iter().chain(&carry).copied().collect();
        let out = batched_results(body, &bin);
        let next: Vec<bool> = carry
            .iter()
            .enumerate()
            .map(|(i, &c)| c || out.get(i).copied().unwrap_or(false))
            .collect();
        if next == carry {
            break;
        }
        carry = next;
    }
    let cin: Vec<bool> = cc.iter().chain(&carry).copied().collect();
    let pred = batched_results(cond_body, &cin)
        .first()
        .copied()
        .unwrap_or(false);
    (pred, carry)
}

/// Batched carries (at the fixpoint) and batched `ys` of a `scan`.
fn scan_batched(
    body: &Body,
    nconsts: usize,
    ncarry: usize,
    ins: &[bool],
) -> (Vec<bool>, Vec<bool>) {
    let nc = nconsts.min(ins.len());
    let ncc = (nconsts + ncarry).min(ins.len());
    let mut carry: Vec<bool> = ins[nc..ncc].to_vec();
    loop {
        let bin: Vec<bool> = ins[..nc]
            .iter()
            .chain(&carry)
            .chain(&ins[ncc..])
            .copied()
            .collect();
        let out = batched_results(body, &bin);
        let next: Vec<bool> = carry
            .iter()
            .enumerate()
            .map(|(i, &c)| c || out.get(i).copied().unwrap_or(false))
            .collect();
        if next == carry {
            let ys = out.get(ncarry..).map(<[bool]>::to_vec).unwrap_or_default();
            return (carry, ys);
        }
        carry = next;
    }
}

/// Axis `axis` of the unbatched value, in the batched value whose batch axis is `bd`.
fn phys(axis: usize, bd: usize) -> usize {
    if axis < bd {
        axis
    } else {
        axis + 1
    }
}

/// The per-element shape of a batched value.
fn elem_shape(v: &Val) -> Vec<usize> {
    let mut s = v.0.ty().shape;
    if let Some(b) = v.1 {
        s.remove(b);
    }
    s
}

fn bool_and(em: &mut Emitter, a: Atom, b: Atom) -> Result<Atom> {
    em.binary(BinaryOp::And, a, b)
}

struct Batcher<'a> {
    em: &'a mut Emitter,
    size: usize,
}

impl Batcher<'_> {
    /// `shape` with the batch axis inserted at `bd`.
    fn bshape(&self, shape: &[usize], bd: usize) -> Vec<usize> {
        let mut s = shape.to_vec();
        s.insert(bd, self.size);
        s
    }

    /// `v` batched along axis `to`: a transpose if it is batched elsewhere, a broadcast
    /// if it is not batched.
    fn move_to(&mut self, v: Val, to: usize) -> Result<Atom> {
        match v.1 {
            Some(from) => self.em.move_axis(v.0, from, to),
            None => {
                let shape = v.0.ty().shape;
                let dims: Vec<usize> = (0..shape.len()).map(|i| phys(i, to)).collect();
                let target = self.bshape(&shape, to);
                self.em.broadcast_in_dim(v.0, &target, &dims)
            }
        }
    }

    fn iota(&mut self, shape: &[usize], axis: usize) -> Result<Atom> {
        self.em.emit1(
            Prim::Iota {
                dtype: DType::I64,
                shape: shape.to_vec(),
                axis,
            },
            vec![],
        )
    }

    /// `x` converted to i64: index arithmetic below (offsets, clamping, differences)
    /// must neither wrap nor treat negative indices as large unsigned ones.
    fn i64(&mut self, x: Atom) -> Result<Atom> {
        self.em.convert(x, DType::I64)
    }

    /// `min(max(x, lo), hi)` on i64 values.
    fn clamp(&mut self, x: Atom, lo: i64, hi: i64) -> Result<Atom> {
        let x = self
            .em
            .binary(BinaryOp::Max, x, lit(DType::I64, lo as f64))?;
        self.em.binary(BinaryOp::Min, x, lit(DType::I64, hi as f64))
    }

    /// The batched body: environment of batched values, one rule per equation.
    fn body(&mut self, body: &Body, args: Vec<Val>) -> Result<Vec<Val>> {
        if args.len() != body.params.len() {
            return Err(TransformError::internal(format!(
                "vmap of a body of {} parameters with {} arguments",
                body.params.len(),
                args.len()
            )));
        }
        let mut env: HashMap<u32, Val> = HashMap::new();
        for (p, (a, bd)) in body.params.iter().zip(args) {
            if let Some(b) = bd {
                let shape = a.ty().shape;
                if shape.get(b) != Some(&self.size) {
                    return Err(TransformError::new(
                        Code::VMAP_SIZE_MISMATCH,
                        format!(
                            "vmap: an argument of type {} is mapped along axis {b}, but the \
                             batch size is {}",
                            a.ty(),
                            self.size
                        ),
                    ));
                }
            }
            env.insert(p.id, (a, bd));
        }
        let lookup = |env: &HashMap<u32, Val>, a: &Atom| -> Result<Val> {
            match a {
                Atom::Var(v) => env.get(&v.id).cloned().ok_or_else(|| {
                    TransformError::internal(format!("vmap: %{} is not defined", v.id))
                }),
                Atom::Lit(_) => Ok((a.clone(), None)),
            }
        };
        let saved = self.em.span();
        for e in &body.eqns {
            self.em.set_span(e.span);
            // The rules index operands and static parameters as far as the primitive's
            // typing rule guarantees, so the source equation must pass it.
            let src_types: Vec<Type> = e.args.iter().map(Atom::ty).collect();
            infer(&e.prim, &src_types).map_err(|err| {
                TransformError::internal(format!("vmap of an ill-typed equation: {err}"))
                    .or_at(e.span)
            })?;
            let args = e
                .args
                .iter()
                .map(|a| lookup(&env, a))
                .collect::<Result<Vec<Val>>>()?;
            let outs: Vec<Val> = if args.iter().all(|v| v.1.is_none()) {
                let prim = self.em.copy_prim(&e.prim)?;
                let atoms = args.into_iter().map(|v| v.0).collect();
                self.em
                    .emit(prim, atoms)?
                    .into_iter()
                    .map(|v| (Atom::Var(v), None))
                    .collect()
            } else {
                self.rule(&e.prim, args)?
            };
            if outs.len() != e.outs.len() {
                return Err(TransformError::internal(format!(
                    "vmap rule of {} gave {} results for {}",
                    e.prim.name(),
                    outs.len(),
                    e.outs.len()
                )));
            }
            for (o, v) in e.outs.iter().zip(outs) {
                env.insert(o.id, v);
            }
        }
        self.em.set_span(saved);
        body.results.iter().map(|a| lookup(&env, a)).collect()
    }

    /// The batched body with result `i` batched along axis 0 if `want[i]`, else
    /// unbatched (control flow needs the same layout from every branch and iteration).
    fn body_to(&mut self, body: &Body, args: Vec<Val>, want: &[bool]) -> Result<Vec<Atom>> {
        let outs = self.body(body, args)?;
        if outs.len() != want.len() {
            return Err(TransformError::internal(format!(
                "vmap: a body of {} results where {} were expected",
                outs.len(),
                want.len()
            )));
        }
        outs.into_iter()
            .zip(want)
            .map(|(v, &w)| {
                if w {
                    self.move_to(v, 0)
                } else if v.1.is_some() {
                    Err(TransformError::internal(
                        "vmap: a result the analysis found unbatched came out batched",
                    ))
                } else {
                    Ok(v.0)
                }
            })
            .collect()
    }

    /// `body_to` as a nested closed body with parameters of `types` batched along
    /// `bdims`.
    fn nested_body(
        &mut self,
        body: &Body,
        types: &[Type],
        bdims: &[Option<usize>],
        want: &[bool],
    ) -> Result<Body> {
        let params = self.em.begin_body(types);
        let vals: Vec<Val> = params
            .into_iter()
            .map(Atom::Var)
            .zip(bdims.iter().copied())
            .collect();
        let res = self.body_to(body, vals, want)?;
        Ok(self.em.end_body(res))
    }

    /// [`Batcher::nested_body`] taking the parameters' types and batch axes from `args`.
    fn nested_like(&mut self, body: &Body, args: &[Val], want: &[bool]) -> Result<Body> {
        let types: Vec<Type> = args.iter().map(|v| v.0.ty()).collect();
        let bdims: Vec<Option<usize>> = args.iter().map(|v| v.1).collect();
        self.nested_body(body, &types, &bdims, want)
    }

    fn one(&mut self, prim: Prim, args: Vec<Atom>, bd: Option<usize>) -> Result<Vec<Val>> {
        Ok(vec![(self.em.emit1(prim, args)?, bd)])
    }

    /// The batched operand of a one-operand primitive (the caller only gets here when
    /// some operand is batched).
    fn batched(v: &Val) -> Result<(Atom, usize)> {
        match v.1 {
            Some(b) => Ok((v.0.clone(), b)),
            None => Err(TransformError::internal(
                "vmap: rule reached with no batched operand",
            )),
        }
    }

    /// The rule of `prim` applied to `args`, at least one of which is batched.
    fn rule(&mut self, prim: &Prim, args: Vec<Val>) -> Result<Vec<Val>> {
        match prim {
            Prim::Unary(_)
            | Prim::Binary(_)
            | Prim::Compare(_)
            | Prim::Select
            | Prim::IntPow { .. }
            | Prim::Convert { .. }
            | Prim::StopGradient
            | Prim::Threefry2x32
            | Prim::BitsToUnit { .. } => self.elementwise(prim, args),
            // No operands, so never batched.
            Prim::Constant { .. } | Prim::Iota { .. } => Ok(self
                .em
                .emit(prim.clone(), vec![])?
                .into_iter()
                .map(|v| (Atom::Var(v), None))
                .collect()),
            Prim::BroadcastInDim { shape, dims } => {
                let (x, bd) = Self::batched(&args[0])?;
                // The batch axis goes right after the result axis of the operand axis
                // before it, which keeps `dims` increasing without a transpose.
                let out_bd = if bd == 0 { 0 } else { dims[bd - 1] + 1 };
                let mut new_dims: Vec<usize> = dims
                    .iter()
                    .map(|&d| if d >= out_bd { d + 1 } else { d })
                    .collect();
                new_dims.insert(bd, out_bd);
                let new_shape = self.bshape(shape, out_bd);
                let r = self.em.broadcast_in_dim(x, &new_shape, &new_dims)?;
                Ok(vec![(r, Some(out_bd))])
            }
            Prim::Reshape { shape } => {
                let (x, bd) = Self::batched(&args[0])?;
                let x = self.em.move_axis(x, bd, 0)?;
                let new_shape = self.bshape(shape, 0);
                Ok(vec![(self.em.reshape(x, &new_shape)?, Some(0))])
            }
            Prim::Transpose { perm } => {
                let (x, bd) = Self::batched(&args[0])?;
                let mut p: Vec<usize> = perm.iter().map(|&a| phys(a, bd)).collect();
                p.insert(bd, bd);
                Ok(vec![(self.em.transpose(x, &p)?, Some(bd))])
            }
            Prim::Slice {
                start,
                limit,
                stride,
            } => {
                let (x, bd) = Self::batched(&args[0])?;
                let (mut s, mut l, mut st) = (start.clone(), limit.clone(), stride.clone());
                s.insert(bd, 0);
                l.insert(bd, self.size);
                st.insert(bd, 1);
                self.one(
                    Prim::Slice {
                        start: s,
                        limit: l,
                        stride: st,
                    },
                    vec![x],
                    Some(bd),
                )
            }
            Prim::Pad { lo, hi } => self.pad(lo, hi, &args),
            Prim::Concat { axis } => {
                let bd = args.iter().find_map(|v| v.1).unwrap_or(0);
                let xs = args
                    .into_iter()
                    .map(|v| self.move_to(v, bd))
                    .collect::<Result<Vec<_>>>()?;
                self.one(
                    Prim::Concat {
                        axis: phys(*axis, bd),
                    },
                    xs,
                    Some(bd),
                )
            }
            Prim::Rev { axes } => {
                let (x, bd) = Self::batched(&args[0])?;
                let axes = axes.iter().map(|&a| phys(a, bd)).collect();
                self.one(Prim::Rev { axes }, vec![x], Some(bd))
            }
            Prim::Reduce {
                op,
                axes,
                compensated,
            } => {
                let (x, bd) = Self::batched(&args[0])?;
                let axes: Vec<usize> = axes.iter().map(|&a| phys(a, bd)).collect();
                let out_bd = bd - axes.iter().filter(|&&a| a < bd).count();
                self.one(
                    Prim::Reduce {
                        op: *op,
                        axes,
                        compensated: *compensated,
                    },
                    vec![x],
                    Some(out_bd),
                )
            }
            Prim::ArgReduce {
                op,
                axis,
                index_dtype,
            } => {
                let (x, bd) = Self::batched(&args[0])?;
                let a = phys(*axis, bd);
                let out_bd = if bd < a { bd } else { bd - 1 };
                self.one(
                    Prim::ArgReduce {
                        op: *op,
                        axis: a,
                        index_dtype: *index_dtype,
                    },
                    vec![x],
                    Some(out_bd),
                )
            }
            Prim::Cumulative { op, axis, reverse } => {
                let (x, bd) = Self::batched(&args[0])?;
                self.one(
                    Prim::Cumulative {
                        op: *op,
                        axis: phys(*axis, bd),
                        reverse: *reverse,
                    },
                    vec![x],
                    Some(bd),
                )
            }
            Prim::DotGeneral {
                lhs_contract,
                rhs_contract,
                lhs_batch,
                rhs_batch,
                compensated,
            } => self.dot_general(
                [lhs_contract, rhs_contract, lhs_batch, rhs_batch],
                *compensated,
                &args,
            ),
            Prim::Take { axis } => {
                let v = self.take(args[0].clone(), args[1].clone(), *axis)?;
                Ok(vec![v])
            }
            Prim::Scatter { axis, mode } => {
                let v = self.scatter(&args, *axis, *mode)?;
                Ok(vec![v])
            }
            Prim::DynamicSlice { sizes } => Ok(vec![self.dynamic_slice(sizes, &args)?]),
            Prim::DynamicUpdateSlice => Ok(vec![self.dynamic_update_slice(&args)?]),
            Prim::Cond {
                then_body,
                else_body,
            } => self.cond(then_body, else_body, args),
            Prim::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
            } => self.while_loop(cond_body, body, *cond_nconsts, *body_nconsts, args),
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                length,
                reverse,
            } => self.scan(body, *nconsts, *ncarry, *length, *reverse, args),
        }
    }

    /// Operands of one shape: all brought to the batch axis of the first batched one.
    fn elementwise(&mut self, prim: &Prim, args: Vec<Val>) -> Result<Vec<Val>> {
        let bd = args.iter().find_map(|v| v.1).unwrap_or(0);
        let xs = args
            .into_iter()
            .map(|v| self.move_to(v, bd))
            .collect::<Result<Vec<_>>>()?;
        Ok(self
            .em
            .emit(prim.clone(), xs)?
            .into_iter()
            .map(|v| (Atom::Var(v), Some(bd)))
            .collect())
    }

    fn pad(&mut self, lo: &[i64], hi: &[i64], args: &[Val]) -> Result<Vec<Val>> {
        let x = args[0].clone();
        let value = args[1].clone();
        let bd = x.1.unwrap_or(0);
        let (mut blo, mut bhi) = (lo.to_vec(), hi.to_vec());
        blo.insert(bd, 0);
        bhi.insert(bd, 0);
        let shape = elem_shape(&x);
        let dtype = x.0.dtype();
        let xb = self.move_to(x, bd)?;
        let Some(vbd) = value.1 else {
            return self.one(Prim::Pad { lo: blo, hi: bhi }, vec![xb, value.0], Some(bd));
        };
        // A batched pad value: pad with zero, then select each element's value where
        // the (unbatched) mask of original elements is false.
        let padded = self
            .em
            .emit1(Prim::Pad { lo: blo, hi: bhi }, vec![xb, lit(dtype, 0.0)])?;
        let out_shape = padded.ty().shape;
        let ones = self.em.full(&Type::new(DType::Bool, shape), 1.0)?;
        let mask = self.em.emit1(
            Prim::Pad {
                lo: lo.to_vec(),
                hi: hi.to_vec(),
            },
            vec![ones, lit(DType::Bool, 0.0)],
        )?;
        let mask = self.move_to((mask, None), bd)?;
        let value = self.em.move_axis(value.0, vbd, 0)?;
        let value = self.em.broadcast_in_dim(value, &out_shape, &[bd])?;
        let r = self.em.select(mask, padded, value)?;
        Ok(vec![(r, Some(bd))])
    }

    /// `dot_general`: a batch axis on both sides becomes a new leading batch pair; on one
    /// side it is a free axis of that side, found again in the result.
    fn dot_general(
        &mut self,
        [lc, rc, lb, rb]: [&Vec<usize>; 4],
        compensated: bool,
        args: &[Val],
    ) -> Result<Vec<Val>> {
        let (l, lbd) = args[0].clone();
        let (r, rbd) = args[1].clone();
        let map = |axes: &[usize], bd: Option<usize>| -> Vec<usize> {
            match bd {
                Some(b) => axes.iter().map(|&a| phys(a, b)).collect(),
                None => axes.to_vec(),
            }
        };
        let (lc2, rc2) = (map(lc, lbd), map(rc, rbd));
        let (mut lb2, mut rb2) = (map(lb, lbd), map(rb, rbd));
        let (lrank, rrank) = (l.ty().rank(), r.ty().rank());
        let free = |rank: usize, used: &[usize]| -> Vec<usize> {
            (0..rank).filter(|a| !used.contains(a)).collect()
        };
        let out_bd = match (lbd, rbd) {
            (Some(a), Some(b)) => {
                lb2.insert(0, a);
                rb2.insert(0, b);
                0
            }
            (Some(a), None) => {
                let used: Vec<usize> = lc2.iter().chain(&lb2).copied().collect();
                lb2.len() + free(lrank, &used).iter().filter(|&&f| f < a).count()
            }
            (None, Some(b)) => {
                let lused: Vec<usize> = lc2.iter().chain(&lb2).copied().collect();
                let rused: Vec<usize> = rc2.iter().chain(&rb2).copied().collect();
                lb2.len()
                    + free(lrank, &lused).len()
                    + free(rrank, &rused).iter().filter(|&&f| f < b).count()
            }
            (None, None) => {
                return Err(TransformError::internal(
                    "vmap: dot_general rule reached with no batched operand",
                ))
            }
        };
        self.one(
            Prim::DotGeneral {
                lhs_contract: lc2,
                rhs_contract: rc2,
                lhs_batch: lb2,
                rhs_batch: rb2,
                compensated,
            },
            vec![l, r],
            Some(out_bd),
        )
    }

    /// `take` along `axis` of the unbatched operand.
    fn take(&mut self, x: Val, idx: Val, axis: usize) -> Result<Val> {
        let irank = idx.0.ty().rank() - usize::from(idx.1.is_some());
        match (x.1, idx.1) {
            (None, None) => {
                let r = self.em.emit1(Prim::Take { axis }, vec![x.0, idx.0])?;
                Ok((r, None))
            }
            (Some(xb), None) => {
                let a = phys(axis, xb);
                let out_bd = if xb < a { xb } else { xb + irank - 1 };
                let r = self.em.emit1(Prim::Take { axis: a }, vec![x.0, idx.0])?;
                Ok((r, Some(out_bd)))
            }
            // The result is `x[..axis] ++ idx ++ x[axis+1..]`: idx's batch axis
            // simply lands at `axis + ib`.
            (None, Some(ib)) => {
                let r = self.em.emit1(Prim::Take { axis }, vec![x.0, idx.0])?;
                Ok((r, Some(axis + ib)))
            }
            (Some(_), Some(ib)) => {
                // Fold the batch axis into `axis` (batch-major) and gather at
                // `clamp(idx) + b * n`; clamping first keeps each element's indices
                // inside its own block, as the unbatched take clamps them.
                let xshape = elem_shape(&x);
                let n = xshape[axis];
                let xm = self.move_to(x, axis)?;
                let mut merged = xshape.clone();
                merged[axis] = self.size * n;
                let xm = self.em.reshape(xm, &merged)?;
                let idx = self.em.move_axis(idx.0, ib, 0)?;
                let idx = self.i64(idx)?;
                let idx = if n == 0 {
                    // Gathering from an empty axis gives zeros whatever the indices.
                    idx
                } else {
                    let idx = self.clamp(idx, 0, n as i64 - 1)?;
                    let offs = self.batch_offsets(&idx.ty().shape, n)?;
                    self.em.add(idx, offs)?
                };
                let r = self.em.emit1(Prim::Take { axis }, vec![xm, idx])?;
                Ok((r, Some(axis)))
            }
        }
    }

    /// `b * n` for batch element `b` along axis 0 of an i64 array of `shape`.
    fn batch_offsets(&mut self, shape: &[usize], n: usize) -> Result<Atom> {
        let b = self.iota(shape, 0)?;
        self.em.mul(b, lit(DType::I64, n as f64))
    }

    fn scatter(&mut self, args: &[Val], axis: usize, mode: ScatterMode) -> Result<Val> {
        let (x, idx, upd) = (args[0].clone(), args[1].clone(), args[2].clone());
        let irank = idx.0.ty().rank() - usize::from(idx.1.is_some());
        if idx.1.is_none() {
            let xb = x.1.unwrap_or(0);
            let a = phys(axis, xb);
            let ub = if xb < a { xb } else { xb + irank - 1 };
            let x = self.move_to(x, xb)?;
            let upd = self.move_to(upd, ub)?;
            let r = self
                .em
                .emit1(Prim::Scatter { axis: a, mode }, vec![x, idx.0, upd])?;
            return Ok((r, Some(xb)));
        }
        // Batched indices: fold the batch axis into `axis` as `take` does. Each element's
        // out-of-range indices must stay dropped rather than land in a neighbour's block,
        // so they become `size * n`, out of range of the folded axis.
        let xshape = elem_shape(&x);
        let n = xshape[axis];
        let xm = self.move_to(x, axis)?;
        let mut merged = xshape.clone();
        merged[axis] = self.size * n;
        let xm = self.em.reshape(xm, &merged)?;
        let idx = self.move_to(idx, 0)?;
        let idx = self.i64(idx)?;
        let ge = self
            .em
            .compare(CmpOp::Ge, idx.clone(), lit(DType::I64, 0.0))?;
        let lt = self
            .em
            .compare(CmpOp::Lt, idx.clone(), lit(DType::I64, n as f64))?;
        let inside = bool_and(self.em, ge, lt)?;
        let offs = self.batch_offsets(&idx.ty().shape, n)?;
        let shifted = self.em.add(idx, offs)?;
        let idx = self
            .em
            .select(inside, shifted, lit(DType::I64, (self.size * n) as f64))?;
        let upd = self.move_to(upd, axis)?;
        let r = self
            .em
            .emit1(Prim::Scatter { axis, mode }, vec![xm, idx, upd])?;
        let mut unmerged = xshape;
        unmerged.insert(axis, self.size);
        Ok((self.em.reshape(r, &unmerged)?, Some(axis)))
    }

    /// A start index as i64 clamped to `[0, max]`, as the dynamic slice clamps it.
    fn clamped_start(&mut self, start: Val, max: usize) -> Result<Val> {
        let s = self.i64(start.0)?;
        let s = self.clamp(s, 0, max as i64)?;
        Ok((s, start.1))
    }

    fn dynamic_slice(&mut self, sizes: &[usize], args: &[Val]) -> Result<Val> {
        let x = args[0].clone();
        let starts = &args[1..];
        let xshape = elem_shape(&x);
        // Axes whose start is batched and actually moves the window; elsewhere a batched
        // start is clamped to 0 anyway.
        let gathered: Vec<usize> = (0..sizes.len())
            .filter(|&k| starts[k].1.is_some() && sizes[k] < xshape[k])
            .collect();
        // First slice the axes with shared starts in one dynamic_slice.
        let mut s_atoms: Vec<Atom> = Vec::with_capacity(starts.len() + 1);
        let mut s_sizes: Vec<usize> = Vec::with_capacity(sizes.len() + 1);
        for (k, st) in starts.iter().enumerate() {
            if st.1.is_some() {
                s_atoms.push(lit(DType::I64, 0.0));
                s_sizes.push(if gathered.contains(&k) {
                    xshape[k]
                } else {
                    sizes[k]
                });
            } else {
                s_atoms.push(st.0.clone());
                s_sizes.push(sizes[k]);
            }
        }
        let mut cur = match x.1 {
            Some(xb) => {
                s_atoms.insert(xb, lit(DType::I64, 0.0));
                s_sizes.insert(xb, self.size);
                (x.0, Some(xb))
            }
            None => (x.0, None),
        };
        if s_sizes != cur.0.ty().shape {
            let mut ops = vec![cur.0];
            ops.extend(s_atoms);
            cur.0 = self.em.emit1(Prim::DynamicSlice { sizes: s_sizes }, ops)?;
        }
        // Then gather each batched-start window per batch element.
        for k in gathered {
            let (s, _) = self.clamped_start(starts[k].clone(), xshape[k] - sizes[k])?;
            let shape = [self.size, sizes[k]];
            let s = self.em.broadcast_in_dim(s, &shape, &[0])?;
            let iota = self.iota(&shape, 1)?;
            let idx = self.em.add(s, iota)?;
            cur = self.take(cur, (idx, Some(0)), k)?;
        }
        Ok(cur)
    }

    fn dynamic_update_slice(&mut self, args: &[Val]) -> Result<Val> {
        let (x, upd) = (args[0].clone(), args[1].clone());
        let starts = &args[2..];
        let xshape = elem_shape(&x);
        let ushape = elem_shape(&upd);
        let windowed: Vec<usize> = (0..xshape.len())
            .filter(|&k| ushape[k] < xshape[k])
            .collect();
        let batched_window = windowed.iter().any(|&k| starts[k].1.is_some());
        if !batched_window {
            // Batched starts only where the window spans the axis (clamped to 0).
            let mut s_atoms: Vec<Atom> = starts
                .iter()
                .map(|s| {
                    if s.1.is_some() {
                        lit(DType::I64, 0.0)
                    } else {
                        s.0.clone()
                    }
                })
                .collect();
            let (x, upd, bd) = match x.1.or(upd.1) {
                Some(bd) => {
                    s_atoms.insert(bd, lit(DType::I64, 0.0));
                    (self.move_to(x, bd)?, self.move_to(upd, bd)?, Some(bd))
                }
                None => (x.0, upd.0, None),
            };
            let mut ops = vec![x, upd];
            ops.extend(s_atoms);
            let r = self.em.emit1(Prim::DynamicUpdateSlice, ops)?;
            return Ok((r, bd));
        }
        if ushape.contains(&0) {
            return Ok(x);
        }
        // Gather the update to the operand's shape (position `p` of axis `k` reads
        // update row `p - start`), then select it inside the window.
        let mut cur = upd;
        let mut masks: Vec<(Atom, Option<usize>, usize)> = Vec::new();
        for &k in &windowed {
            let (s, sbd) = self.clamped_start(starts[k].clone(), xshape[k] - ushape[k])?;
            let (pos, pbd) = match sbd {
                Some(sb) => {
                    let shape = [self.size, xshape[k]];
                    let s = self.em.move_axis(s, sb, 0)?;
                    let s = self.em.broadcast_in_dim(s, &shape, &[0])?;
                    let iota = self.iota(&shape, 1)?;
                    (self.em.sub(iota, s)?, Some(0))
                }
                None => {
                    let iota = self.iota(&[xshape[k]], 0)?;
                    (self.em.sub(iota, s)?, None)
                }
            };
            let ge = self
                .em
                .compare(CmpOp::Ge, pos.clone(), lit(DType::I64, 0.0))?;
            let lt = self
                .em
                .compare(CmpOp::Lt, pos.clone(), lit(DType::I64, ushape[k] as f64))?;
            masks.push((bool_and(self.em, ge, lt)?, pbd, k));
            // Take clamps the positions outside the window; the mask drops them.
            cur = self.take(cur, (pos, pbd), k)?;
        }
        let full = self.bshape(&xshape, 0);
        let mut mask: Option<Atom> = None;
        for (m, mbd, k) in masks {
            let dims: Vec<usize> = match mbd {
                Some(_) => vec![0, k + 1],
                None => vec![k + 1],
            };
            let m = self.em.broadcast_in_dim(m, &full, &dims)?;
            mask = Some(match mask {
                Some(acc) => bool_and(self.em, acc, m)?,
                None => m,
            });
        }
        let cur = self.move_to(cur, 0)?;
        let x = self.move_to(x, 0)?;
        let r = match mask {
            Some(m) => self.em.select(m, cur, x)?,
            None => cur,
        };
        Ok((r, Some(0)))
    }

    fn cond(&mut self, then_body: &Body, else_body: &Body, args: Vec<Val>) -> Result<Vec<Val>> {
        let mut args = args.into_iter();
        let Some(pred) = args.next() else {
            return Err(TransformError::internal("vmap: cond without a predicate"));
        };
        let ops: Vec<Val> = args.collect();
        let flags: Vec<bool> = std::iter::once(pred.1.is_some())
            .chain(ops.iter().map(|v| v.1.is_some()))
            .collect();
        let want = cond_batched(then_body, else_body, &flags);
        match pred.1 {
            None => {
                let t = self.nested_like(then_body, &ops, &want)?;
                let e = self.nested_like(else_body, &ops, &want)?;
                let mut operands = vec![pred.0];
                operands.extend(ops.into_iter().map(|v| v.0));
                let outs = self.em.emit(
                    Prim::Cond {
                        then_body: t,
                        else_body: e,
                    },
                    operands,
                )?;
                Ok(outs
                    .into_iter()
                    .zip(want)
                    .map(|(v, w)| (Atom::Var(v), w.then_some(0)))
                    .collect())
            }
            Some(pb) => {
                // Each element takes its own branch: run both, select per element.
                let t = self.body_to(then_body, ops.clone(), &want)?;
                let e = self.body_to(else_body, ops, &want)?;
                let pred = self.em.move_axis(pred.0, pb, 0)?;
                t.into_iter()
                    .zip(e)
                    .map(|(t, e)| {
                        let shape = t.ty().shape;
                        let m = self.em.broadcast_in_dim(pred.clone(), &shape, &[0])?;
                        Ok((self.em.select(m, t, e)?, Some(0)))
                    })
                    .collect()
            }
        }
    }

    fn while_loop(
        &mut self,
        cond_body: &Body,
        body: &Body,
        cond_nconsts: usize,
        body_nconsts: usize,
        args: Vec<Val>,
    ) -> Result<Vec<Val>> {
        let flags: Vec<bool> = args.iter().map(|v| v.1.is_some()).collect();
        let (pred_b, carry_b) = while_batched(cond_body, body, cond_nconsts, body_nconsts, &flags);
        let nc = cond_nconsts + body_nconsts;
        let cc: Vec<Val> = args[..cond_nconsts].to_vec();
        let bc: Vec<Val> = args[cond_nconsts..nc].to_vec();
        let want: Vec<bool> = if pred_b {
            vec![true; carry_b.len()]
        } else {
            carry_b
        };
        let init: Vec<Val> = args[nc..]
            .iter()
            .zip(&want)
            .map(|(v, &w)| {
                if w {
                    Ok((self.move_to(v.clone(), 0)?, Some(0)))
                } else {
                    Ok(v.clone())
                }
            })
            .collect::<Result<_>>()?;
        let cond_args: Vec<Val> = cc.iter().chain(&init).cloned().collect();
        let body_args: Vec<Val> = bc.iter().chain(&init).cloned().collect();
        let (cond_b, body_b, operands, body_nconsts2) = if !pred_b {
            let cond_b = self.nested_like(cond_body, &cond_args, &[false])?;
            let body_b = self.nested_like(body, &body_args, &want)?;
            let operands: Vec<Atom> = args[..nc]
                .iter()
                .chain(&init)
                .map(|v| v.0.clone())
                .collect();
            (cond_b, body_b, operands, body_nconsts)
        } else {
            // Loop while any element's predicate holds: the condition reduces the
            // batched predicate with `or`, the body recomputes it and keeps the carry of
            // the elements that are done. The body needs the condition's constants too.
            let types: Vec<Type> = cond_args.iter().map(|v| v.0.ty()).collect();
            let params = self.em.begin_body(&types);
            let vals: Vec<Val> = params
                .into_iter()
                .zip(&cond_args)
                .map(|(p, v)| (Atom::Var(p), v.1))
                .collect();
            let p = self.body_to(cond_body, vals, &[true])?;
            let any = self.em.emit1(
                Prim::Reduce {
                    op: ReduceOp::Or,
                    axes: vec![0],
                    compensated: false,
                },
                p,
            )?;
            let cond_b = self.em.end_body(vec![any]);

            let all: Vec<Val> = cc.iter().chain(&bc).chain(&init).cloned().collect();
            let types: Vec<Type> = all.iter().map(|v| v.0.ty()).collect();
            let params = self.em.begin_body(&types);
            let vals: Vec<Val> = params
                .into_iter()
                .zip(&all)
                .map(|(p, v)| (Atom::Var(p), v.1))
                .collect();
            let (pc, rest) = vals.split_at(cond_nconsts);
            let (pbc, pcarry) = rest.split_at(body_nconsts);
            let cargs: Vec<Val> = pc.iter().chain(pcarry).cloned().collect();
            let bargs: Vec<Val> = pbc.iter().chain(pcarry).cloned().collect();
            let p = self.body_to(cond_body, cargs, &[true])?;
            let pred = p.into_iter().next().ok_or_else(|| {
                TransformError::internal("vmap: while condition without a result")
            })?;
            let new = self.body_to(body, bargs, &want)?;
            let mut res = Vec::with_capacity(new.len());
            for (n, old) in new.into_iter().zip(pcarry) {
                let shape = n.ty().shape;
                let m = self.em.broadcast_in_dim(pred.clone(), &shape, &[0])?;
                res.push(self.em.select(m, n, old.0.clone())?);
            }
            let body_b = self.em.end_body(res);
            let operands: Vec<Atom> = cc
                .iter()
                .chain(&cc)
                .chain(&bc)
                .chain(&init)
                .map(|v| v.0.clone())
                .collect();
            (cond_b, body_b, operands, cond_nconsts + body_nconsts)
        };
        let outs = self.em.emit(
            Prim::While {
                cond_body: cond_b,
                body: body_b,
                cond_nconsts,
                body_nconsts: body_nconsts2,
            },
            operands,
        )?;
        Ok(outs
            .into_iter()
            .zip(want)
            .map(|(v, w)| (Atom::Var(v), w.then_some(0)))
            .collect())
    }

    fn scan(
        &mut self,
        body: &Body,
        nconsts: usize,
        ncarry: usize,
        length: usize,
        reverse: bool,
        args: Vec<Val>,
    ) -> Result<Vec<Val>> {
        let flags: Vec<bool> = args.iter().map(|v| v.1.is_some()).collect();
        let (carry_b, ys_b) = scan_batched(body, nconsts, ncarry, &flags);
        let mut operands: Vec<Atom> = Vec::with_capacity(args.len());
        let mut types: Vec<Type> = Vec::with_capacity(args.len());
        let mut bdims: Vec<Option<usize>> = Vec::with_capacity(args.len());
        for (i, v) in args.into_iter().enumerate() {
            let (a, bd) = if i < nconsts {
                v
            } else if i < nconsts + ncarry {
                if carry_b[i - nconsts] {
                    (self.move_to(v, 0)?, Some(0))
                } else {
                    v
                }
            } else {
                // Axis 0 is the scanned axis, so the batch goes right after it and each
                // slice is batched along its axis 0.
                let a = match v.1 {
                    Some(b) => self.em.move_axis(v.0, b, 1)?,
                    None => v.0,
                };
                let mut t = a.ty();
                t.shape.remove(0);
                operands.push(a);
                types.push(t);
                bdims.push(v.1.map(|_| 0));
                continue;
            };
            types.push(a.ty());
            bdims.push(bd);
            operands.push(a);
        }
        let want: Vec<bool> = carry_b.iter().chain(&ys_b).copied().collect();
        let body_b = self.nested_body(body, &types, &bdims, &want)?;
        let outs = self.em.emit(
            Prim::Scan {
                body: body_b,
                nconsts,
                ncarry,
                length,
                reverse,
            },
            operands,
        )?;
        Ok(outs
            .into_iter()
            .zip(want)
            .enumerate()
            .map(|(i, (v, w))| {
                let bd = if i < ncarry { 0 } else { 1 };
                (Atom::Var(v), w.then_some(bd))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::phys;

    #[test]
    fn phys_skips_the_batch_axis() {
        assert_eq!(phys(0, 0), 1);
        assert_eq!(phys(0, 1), 0);
        assert_eq!(phys(1, 1), 2);
    }
}
