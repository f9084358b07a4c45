//! Partial evaluation, and linearize = jvp + partial evaluation (known primals,
//! unknown tangents).
//!
//! Partial evaluation follows JAX's `partial_eval_jaxpr_nounits`: an equation whose
//! operands are all known goes to the known body, any other to the unknown body, and
//! every known value an unknown equation reads becomes a residual (once, however many
//! equations read it; literals stay literals). Control flow with mixed operands is
//! split rather than sent whole to the unknown side, so that the primal half of a
//! linearized function never waits on a tangent:
//!
//! - `cond`: both branches are split with the same known mask; an output is known only
//!   when it is known in both. The known cond returns the union of both branches'
//!   residuals (each branch fills the other's with zeros) and the unknown cond takes
//!   them, with the predicate, as operands.
//! - `scan`: which carries are known is a fixpoint (a carry is known when its initial
//!   value is and the body computes it from known values only). The known scan returns
//!   its per-iteration residuals as extra stacked `ys`; residuals that are the scan's
//!   own known consts or xs are passed to the unknown scan directly instead of being
//!   stacked.
//! - `while`: the known carries (again a fixpoint, and only when the condition is
//!   known) are computed by a known loop restricted to them; the unknown loop is the
//!   whole original loop, known operands as residuals, recomputing the known carries as
//!   JAX does. Forward mode through a loop thus works; transposing the unknown loop is
//!   reported by `transpose`.

use std::collections::{HashMap, HashSet};

use nabla_ir::{Atom, Body, Eqn, Func, Prim, Var};

use crate::emit::Emitter;
use crate::error::{Result, TransformError};

/// A body split by partial evaluation.
#[derive(Clone, Debug)]
pub struct PartialEval {
    /// Parameters: the known inputs (in order). Results: the known outputs (those with
    /// `known_out[i]`, in order), then `nres` residuals.
    pub known: Body,
    /// Parameters: the `nres` residuals, then the unknown inputs (in order). Results:
    /// the unknown outputs (those with `!known_out[i]`, in order).
    pub unknown: Body,
    pub known_out: Vec<bool>,
    pub nres: usize,
}

/// Splits `body` into the part computable from the inputs with `known_in[i]` and the
/// rest. An output with `instantiate[i]` is always unknown (a known value it has is
/// passed through as a residual), so callers can demand e.g. every tangent output
/// from the unknown side.
pub fn partial_eval(body: &Body, known_in: &[bool], instantiate: &[bool]) -> Result<PartialEval> {
    if known_in.len() != body.params.len() || instantiate.len() != body.results.len() {
        return Err(TransformError::internal(format!(
            "partial evaluation of a body with {} parameters and {} results given {} known \
             flags and {} instantiate flags",
            body.params.len(),
            body.results.len(),
            known_in.len(),
            instantiate.len()
        )));
    }
    let mut pe = Pe::default();
    let mut unknown_params = Vec::new();
    for (p, &k) in body.params.iter().zip(known_in) {
        let val = if k {
            Val::Known(Atom::Var(pe.known.param(p.ty.clone())))
        } else {
            let v = pe.unknown.param(p.ty.clone());
            unknown_params.push(v.clone());
            Val::Unknown(Atom::Var(v))
        };
        pe.env.insert(p.id, val);
    }
    for e in &body.eqns {
        pe.eqn(e)?;
    }
    let mut known_outs = Vec::new();
    let mut unknown_outs = Vec::new();
    let mut known_out = Vec::with_capacity(body.results.len());
    for (r, &inst) in body.results.iter().zip(instantiate) {
        match pe.read(r)? {
            Val::Known(a) if !inst => {
                known_outs.push(a);
                known_out.push(true);
            }
            Val::Known(a) => {
                let a = pe.residual(&a);
                unknown_outs.push(a);
                known_out.push(false);
            }
            Val::Unknown(a) => {
                unknown_outs.push(a);
                known_out.push(false);
            }
        }
    }
    let nres = pe.residuals.len();
    known_outs.extend(pe.residuals);
    let known = pe.known.finish("", known_outs).body;
    let mut unknown = pe.unknown.finish("", unknown_outs).body;
    // Residuals are only discovered while the unknown body is being built, so their
    // parameters were added after the unknown inputs'; the contract puts them first.
    let mut params = pe.res_params;
    params.extend(unknown_params);
    unknown.params = params;
    Ok(PartialEval {
        known,
        unknown,
        known_out,
        nres,
    })
}

/// What partial evaluation knows of a variable of the source body: its atom in the
/// known body or in the unknown body.
#[derive(Clone, Debug)]
enum Val {
    Known(Atom),
    Unknown(Atom),
}

impl Val {
    fn is_known(&self) -> bool {
        matches!(self, Val::Known(_))
    }

    fn atom(&self) -> &Atom {
        match self {
            Val::Known(a) | Val::Unknown(a) => a,
        }
    }
}

#[derive(Default)]
struct Pe {
    known: Emitter,
    unknown: Emitter,
    /// Source variable id → its value.
    env: HashMap<u32, Val>,
    /// Known-body variable id → the unknown-body parameter standing for it.
    res_cache: HashMap<u32, Atom>,
    /// The residuals as known-body atoms, in parameter order.
    residuals: Vec<Atom>,
    res_params: Vec<Var>,
}

/// Where a residual of a split scan body comes from.
enum ScanRes {
    /// A known const of the scan: passed as a const of the unknown scan.
    Const(usize),
    /// A known xs operand of the scan: passed as an xs of the unknown scan unchanged.
    Xs(usize),
    /// Computed per iteration: the known scan stacks it as an extra ys.
    Stacked,
}

impl Pe {
    fn read(&self, a: &Atom) -> Result<Val> {
        match a {
            Atom::Lit(_) => Ok(Val::Known(a.clone())),
            Atom::Var(v) => self.env.get(&v.id).cloned().ok_or_else(|| {
                TransformError::internal(format!("partial evaluation: %{} is unbound", v.id))
            }),
        }
    }

    /// The unknown-body atom for the known-body atom `a`. Must be called while no
    /// nested body of the unknown emitter is open, since it may add a parameter.
    fn residual(&mut self, a: &Atom) -> Atom {
        let v = match a {
            Atom::Lit(_) => return a.clone(),
            Atom::Var(v) => v,
        };
        if let Some(p) = self.res_cache.get(&v.id) {
            return p.clone();
        }
        let p = self.unknown.param(v.ty.clone());
        self.res_params.push(p.clone());
        self.residuals.push(a.clone());
        let p = Atom::Var(p);
        self.res_cache.insert(v.id, p.clone());
        p
    }

    fn unknown_atom(&mut self, v: &Val) -> Atom {
        match v {
            Val::Known(a) => self.residual(a),
            Val::Unknown(a) => a.clone(),
        }
    }

    fn bind(&mut self, outs: &[Var], vals: Vec<Val>) {
        for (o, v) in outs.iter().zip(vals) {
            self.env.insert(o.id, v);
        }
    }

    fn eqn(&mut self, e: &Eqn) -> Result<()> {
        let vals: Vec<Val> = e.args.iter().map(|a| self.read(a)).collect::<Result<_>>()?;
        if vals.iter().all(Val::is_known) {
            let args: Vec<Atom> = vals.iter().map(|v| v.atom().clone()).collect();
            self.known.set_span(e.span);
            let prim = self.known.copy_prim(&e.prim)?;
            let outs = self.known.emit(prim, args)?;
            let vals = outs.into_iter().map(|v| Val::Known(Atom::Var(v))).collect();
            self.bind(&e.outs, vals);
            return Ok(());
        }
        match &e.prim {
            Prim::Cond {
                then_body,
                else_body,
            } => self.cond(e, then_body, else_body, &vals),
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                length,
                reverse,
            } => self.scan(e, body, *nconsts, *ncarry, *length, *reverse, &vals),
            Prim::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
            } => self.while_loop(e, cond_body, body, *cond_nconsts, *body_nconsts, &vals),
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
            | Prim::BitsToUnit { .. } => self.all_unknown(e, &vals),
        }
    }

    /// Sends `e` whole to the unknown body.
    fn all_unknown(&mut self, e: &Eqn, vals: &[Val]) -> Result<()> {
        // Operands first: residual parameters must be added before copy_prim opens the
        // nested bodies.
        let args: Vec<Atom> = vals.iter().map(|v| self.unknown_atom(v)).collect();
        self.unknown.set_span(e.span);
        let prim = self.unknown.copy_prim(&e.prim)?;
        let outs = self.unknown.emit(prim, args)?;
        let vals = outs
            .into_iter()
            .map(|v| Val::Unknown(Atom::Var(v)))
            .collect();
        self.bind(&e.outs, vals);
        Ok(())
    }

    fn cond(&mut self, e: &Eqn, then_body: &Body, else_body: &Body, vals: &[Val]) -> Result<()> {
        if !vals[0].is_known() {
            return self.all_unknown(e, vals);
        }
        let ops = &vals[1..];
        let known_in: Vec<bool> = ops.iter().map(Val::is_known).collect();
        let known_out: Vec<bool> = known_outputs(then_body, &known_in)
            .iter()
            .zip(known_outputs(else_body, &known_in))
            .map(|(a, b)| *a && b)
            .collect();
        let inst: Vec<bool> = known_out.iter().map(|k| !k).collect();
        let t = split_as(then_body, &known_in, &inst, &known_out)?;
        let f = split_as(else_body, &known_in, &inst, &known_out)?;
        let nk = known_out.iter().filter(|k| **k).count();
        let t_res = t.known.result_types()[nk..].to_vec();
        let f_res = f.known.result_types()[nk..].to_vec();

        // The known cond: known outputs, then the then-branch residuals, then the
        // else-branch residuals.
        let known_ops: Vec<Atom> = ops
            .iter()
            .filter(|v| v.is_known())
            .map(|v| v.atom().clone())
            .collect();
        let known_types: Vec<_> = known_ops.iter().map(Atom::ty).collect();
        let km = &mut self.known;
        km.set_span(e.span);
        let ps = km.begin_body(&known_types);
        let args: Vec<Atom> = ps.into_iter().map(Atom::Var).collect();
        let mut res = km.inline(&t.known, &args)?;
        for ty in &f_res {
            let z = km.zeros(ty)?;
            res.push(z);
        }
        let kthen = km.end_body(res);
        let ps = km.begin_body(&known_types);
        let args: Vec<Atom> = ps.into_iter().map(Atom::Var).collect();
        let r = km.inline(&f.known, &args)?;
        let mut res: Vec<Atom> = r[..nk].to_vec();
        for ty in &t_res {
            let z = km.zeros(ty)?;
            res.push(z);
        }
        res.extend_from_slice(&r[nk..]);
        let kelse = km.end_body(res);
        let kouts: Vec<Atom> = if nk + t_res.len() + f_res.len() == 0 {
            Vec::new()
        } else {
            let mut args = vec![vals[0].atom().clone()];
            args.extend(known_ops);
            km.emit(
                Prim::Cond {
                    then_body: kthen,
                    else_body: kelse,
                },
                args,
            )?
            .into_iter()
            .map(Atom::Var)
            .collect()
        };

        // The unknown cond: predicate, all residuals, unknown operands.
        let nout = e.outs.len();
        let nu = nout - nk;
        let mut uouts = Vec::new();
        if nu > 0 {
            let mut args = vec![self.unknown_atom(&vals[0])];
            for a in &kouts[nk..] {
                let r = self.residual(a);
                args.push(r);
            }
            for v in ops.iter().filter(|v| !v.is_known()) {
                args.push(v.atom().clone());
            }
            let types: Vec<_> = args[1..].iter().map(Atom::ty).collect();
            let (nt, nf) = (t_res.len(), f_res.len());
            let um = &mut self.unknown;
            um.set_span(e.span);
            let ps: Vec<Atom> = um.begin_body(&types).into_iter().map(Atom::Var).collect();
            let targs: Vec<Atom> = ps[..nt].iter().chain(&ps[nt + nf..]).cloned().collect();
            let r = um.inline(&t.unknown, &targs)?;
            let uthen = um.end_body(r);
            let ps: Vec<Atom> = um.begin_body(&types).into_iter().map(Atom::Var).collect();
            let fargs: Vec<Atom> = ps[nt..].to_vec();
            let r = um.inline(&f.unknown, &fargs)?;
            let uelse = um.end_body(r);
            uouts = um
                .emit(
                    Prim::Cond {
                        then_body: uthen,
                        else_body: uelse,
                    },
                    args,
                )?
                .into_iter()
                .map(Atom::Var)
                .collect();
        }
        let (mut ki, mut ui) = (0, 0);
        let mut out_vals = Vec::with_capacity(nout);
        for &k in &known_out {
            if k {
                out_vals.push(Val::Known(kouts[ki].clone()));
                ki += 1;
            } else {
                out_vals.push(Val::Unknown(uouts[ui].clone()));
                ui += 1;
            }
        }
        self.bind(&e.outs, out_vals);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn scan(
        &mut self,
        e: &Eqn,
        body: &Body,
        nconsts: usize,
        ncarry: usize,
        length: usize,
        reverse: bool,
        vals: &[Val],
    ) -> Result<()> {
        let ny = e.outs.len() - ncarry;
        let known_in: Vec<bool> = vals.iter().map(Val::is_known).collect();
        let (known_in, carry_known, expect) = scan_known(body, nconsts, ncarry, &known_in);
        // Unknown carries must come out of the unknown body even where one iteration
        // would compute them from known values.
        let mut inst: Vec<bool> = carry_known.iter().map(|k| !k).collect();
        inst.extend(std::iter::repeat_n(false, ny));
        let p = split_as(body, &known_in, &inst, &expect)?;
        // Operand index of each parameter of the known body.
        let known_idx: Vec<usize> = (0..vals.len()).filter(|&i| known_in[i]).collect();
        let nko = p.known_out.iter().filter(|k| **k).count();
        let kinds: Vec<ScanRes> = p.known.results[nko..]
            .iter()
            .map(|r| {
                let pos = r
                    .as_var()
                    .and_then(|v| p.known.params.iter().position(|q| q.id == v.id));
                match pos.map(|i| known_idx[i]) {
                    Some(op) if op < nconsts => ScanRes::Const(op),
                    Some(op) if op >= nconsts + ncarry => ScanRes::Xs(op),
                    Some(_) | None => ScanRes::Stacked,
                }
            })
            .collect();

        // The known scan: known carries, known ys, then the stacked residuals.
        let nkc = (0..nconsts).filter(|&i| known_in[i]).count();
        let nkcarry = carry_known.iter().filter(|k| **k).count();
        let known_ops: Vec<Atom> = known_idx.iter().map(|&i| vals[i].atom().clone()).collect();
        let nstacked = kinds
            .iter()
            .filter(|k| matches!(k, ScanRes::Stacked))
            .count();
        let km = &mut self.known;
        km.set_span(e.span);
        let kouts: Vec<Atom> = if nko + nstacked == 0 {
            Vec::new()
        } else {
            let ps: Vec<Atom> = km
                .begin_body(&p.known.param_types())
                .into_iter()
                .map(Atom::Var)
                .collect();
            let r = km.inline(&p.known, &ps)?;
            let mut res: Vec<Atom> = r[..nko].to_vec();
            for (a, k) in r[nko..].iter().zip(&kinds) {
                if matches!(k, ScanRes::Stacked) {
                    res.push(a.clone());
                }
            }
            let kbody = km.end_body(res);
            km.emit(
                Prim::Scan {
                    body: kbody,
                    nconsts: nkc,
                    ncarry: nkcarry,
                    length,
                    reverse,
                },
                known_ops,
            )?
            .into_iter()
            .map(Atom::Var)
            .collect()
        };

        // The unknown scan: consts = const residuals + unknown consts; carries = unknown
        // carries; xs = stacked residuals + xs residuals + unknown xs.
        let nu = p.known_out.iter().filter(|k| !**k).count();
        let mut uouts = Vec::new();
        if nu > 0 {
            let mut const_res = Vec::new();
            let mut stacked = Vec::new();
            let mut xs_res = Vec::new();
            // Where residual j goes among the unknown body's parameters, as (group, index).
            let mut slot = Vec::with_capacity(kinds.len());
            let mut next_stacked = nko;
            for k in &kinds {
                match k {
                    ScanRes::Const(op) => {
                        slot.push((0, const_res.len()));
                        const_res.push(self.unknown_atom(&vals[*op]));
                    }
                    ScanRes::Xs(op) => {
                        slot.push((2, xs_res.len()));
                        xs_res.push(self.unknown_atom(&vals[*op]));
                    }
                    ScanRes::Stacked => {
                        slot.push((1, stacked.len()));
                        let a = kouts[next_stacked].clone();
                        next_stacked += 1;
                        stacked.push(self.residual(&a));
                    }
                }
            }
            let mut u_consts = Vec::new();
            let mut u_carry = Vec::new();
            let mut u_xs = Vec::new();
            for (i, v) in vals.iter().enumerate() {
                if known_in[i] {
                    continue;
                }
                let a = self.unknown_atom(v);
                if i < nconsts {
                    u_consts.push(a);
                } else if i < nconsts + ncarry {
                    u_carry.push(a);
                } else {
                    u_xs.push(a);
                }
            }
            let slice_ty = |a: &Atom| {
                let t = a.ty();
                nabla_ir::Type::new(t.dtype, t.shape[1..].to_vec())
            };
            let mut types: Vec<_> = const_res
                .iter()
                .chain(&u_consts)
                .chain(&u_carry)
                .map(Atom::ty)
                .collect();
            types.extend(stacked.iter().chain(&xs_res).chain(&u_xs).map(slice_ty));
            let nconsts_u = const_res.len() + u_consts.len();
            let ncarry_u = u_carry.len();
            let mut args = const_res;
            args.extend(u_consts);
            args.extend(u_carry);
            args.extend(stacked);
            args.extend(xs_res);
            args.extend(u_xs);

            let um = &mut self.unknown;
            um.set_span(e.span);
            let ps: Vec<Atom> = um.begin_body(&types).into_iter().map(Atom::Var).collect();
            let ncr = slot.iter().filter(|s| s.0 == 0).count();
            let nst = slot.iter().filter(|s| s.0 == 1).count();
            let nxr = slot.iter().filter(|s| s.0 == 2).count();
            let nuc = nconsts_u - ncr;
            let xs_base = nconsts_u + ncarry_u;
            let mut inner: Vec<Atom> = slot
                .iter()
                .map(|&(g, j)| match g {
                    0 => ps[j].clone(),
                    1 => ps[xs_base + j].clone(),
                    _ => ps[xs_base + nst + j].clone(),
                })
                .collect();
            inner.extend_from_slice(&ps[ncr..ncr + nuc]);
            inner.extend_from_slice(&ps[nconsts_u..xs_base]);
            inner.extend_from_slice(&ps[xs_base + nst + nxr..]);
            let r = um.inline(&p.unknown, &inner)?;
            let ubody = um.end_body(r);
            uouts = um
                .emit(
                    Prim::Scan {
                        body: ubody,
                        nconsts: nconsts_u,
                        ncarry: ncarry_u,
                        length,
                        reverse,
                    },
                    args,
                )?
                .into_iter()
                .map(Atom::Var)
                .collect();
        }
        let (mut ki, mut ui) = (0, 0);
        let mut out_vals = Vec::with_capacity(e.outs.len());
        for &k in &p.known_out {
            if k {
                out_vals.push(Val::Known(kouts[ki].clone()));
                ki += 1;
            } else {
                out_vals.push(Val::Unknown(uouts[ui].clone()));
                ui += 1;
            }
        }
        self.bind(&e.outs, out_vals);
        Ok(())
    }

    fn while_loop(
        &mut self,
        e: &Eqn,
        cond_body: &Body,
        body: &Body,
        cond_nconsts: usize,
        body_nconsts: usize,
        vals: &[Val],
    ) -> Result<()> {
        let nc = cond_nconsts + body_nconsts;
        let known_in: Vec<bool> = vals.iter().map(Val::is_known).collect();
        let Some(carry_known) = while_known(cond_body, body, cond_nconsts, body_nconsts, &known_in)
        else {
            return self.all_unknown(e, vals);
        };
        let cconst_known = &known_in[..cond_nconsts];
        let bconst_known = &known_in[cond_nconsts..nc];
        let ncarry = carry_known.len();
        let mut body_in = bconst_known.to_vec();
        body_in.extend(&carry_known);
        let p = split_as(body, &body_in, &vec![false; ncarry], &carry_known)?;
        let mut cond_in = cconst_known.to_vec();
        cond_in.extend(&carry_known);
        let pc = split_as(cond_body, &cond_in, &[false], &[true])?;

        // The known loop, restricted to the known carries.
        let nkcarry = carry_known.iter().filter(|k| **k).count();
        let mut kcond = pc.known.clone();
        kcond.results.truncate(1);
        dce(&mut kcond);
        let mut kbody = p.known.clone();
        kbody.results.truncate(nkcarry);
        dce(&mut kbody);
        let kargs: Vec<Atom> = vals
            .iter()
            .enumerate()
            .filter(|(i, v)| v.is_known() && (*i < nc || carry_known[*i - nc]))
            .map(|(_, v)| v.atom().clone())
            .collect();
        let km = &mut self.known;
        km.set_span(e.span);
        let kcond = km.copy_body(&kcond)?;
        let kbody = km.copy_body(&kbody)?;
        let kouts = km.emit(
            Prim::While {
                cond_body: kcond,
                body: kbody,
                cond_nconsts: cconst_known.iter().filter(|k| **k).count(),
                body_nconsts: bconst_known.iter().filter(|k| **k).count(),
            },
            kargs,
        )?;

        // The unknown loop: the whole loop again, its outputs used for unknown carries.
        let uouts = if nkcarry < ncarry {
            let args: Vec<Atom> = vals.iter().map(|v| self.unknown_atom(v)).collect();
            self.unknown.set_span(e.span);
            let prim = self.unknown.copy_prim(&e.prim)?;
            self.unknown.emit(prim, args)?
        } else {
            Vec::new()
        };
        let mut ki = 0;
        let mut out_vals = Vec::with_capacity(ncarry);
        for (i, &k) in carry_known.iter().enumerate() {
            if k {
                out_vals.push(Val::Known(Atom::Var(kouts[ki].clone())));
                ki += 1;
            } else {
                out_vals.push(Val::Unknown(Atom::Var(uouts[i].clone())));
            }
        }
        self.bind(&e.outs, out_vals);
        Ok(())
    }
}

/// [`partial_eval`] of a nested body whose known outputs the caller has already
/// decided with [`known_outputs`]; the two must agree.
fn split_as(
    body: &Body,
    known_in: &[bool],
    instantiate: &[bool],
    expect: &[bool],
) -> Result<PartialEval> {
    let p = partial_eval(body, known_in, instantiate)?;
    if p.known_out != expect {
        return Err(TransformError::internal(format!(
            "partial evaluation found known outputs {:?} where {expect:?} were expected",
            p.known_out
        )));
    }
    Ok(p)
}

/// Which results of `body` [`partial_eval`] makes known (without instantiation) when
/// the parameters with `known_in[i]` are. A dependence analysis that builds nothing, so
/// that splitting control flow partial-evaluates each nested body once rather than once
/// per guess (nested `cond`s would otherwise cost exponential time).
pub fn known_outputs(body: &Body, known_in: &[bool]) -> Vec<bool> {
    let mut known: HashSet<u32> = body
        .params
        .iter()
        .zip(known_in)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p.id)
        .collect();
    let is_known = |known: &HashSet<u32>, a: &Atom| match a {
        Atom::Var(v) => known.contains(&v.id),
        Atom::Lit(_) => true,
    };
    for e in &body.eqns {
        let args: Vec<bool> = e.args.iter().map(|a| is_known(&known, a)).collect();
        let outs: Vec<bool> = if args.iter().all(|k| *k) {
            vec![true; e.outs.len()]
        } else {
            match &e.prim {
                Prim::Cond {
                    then_body,
                    else_body,
                } if args[0] => known_outputs(then_body, &args[1..])
                    .iter()
                    .zip(known_outputs(else_body, &args[1..]))
                    .map(|(a, b)| *a && b)
                    .collect(),
                Prim::Scan {
                    body,
                    nconsts,
                    ncarry,
                    ..
                } => scan_known(body, *nconsts, *ncarry, &args).2,
                Prim::While {
                    cond_body,
                    body,
                    cond_nconsts,
                    body_nconsts,
                } => while_known(cond_body, body, *cond_nconsts, *body_nconsts, &args)
                    .unwrap_or_else(|| vec![false; e.outs.len()]),
                Prim::Cond { .. }
                | Prim::Unary(_)
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
                | Prim::BitsToUnit { .. } => vec![false; e.outs.len()],
            }
        };
        for (o, k) in e.outs.iter().zip(outs) {
            if k {
                known.insert(o.id);
            }
        }
    }
    body.results.iter().map(|r| is_known(&known, r)).collect()
}

/// The fixpoint of which carries of a scan stay known: a carry is known when its
/// initial value is and the body computes it from known values only. Returns the
/// body's known parameters at the fixpoint, the known carries and the scan's known
/// outputs.
fn scan_known(
    body: &Body,
    nconsts: usize,
    ncarry: usize,
    known_in: &[bool],
) -> (Vec<bool>, Vec<bool>, Vec<bool>) {
    let mut known_in = known_in.to_vec();
    loop {
        let out = known_outputs(body, &known_in);
        let mut changed = false;
        for i in 0..ncarry {
            if known_in[nconsts + i] && !out[i] {
                known_in[nconsts + i] = false;
                changed = true;
            }
        }
        if !changed {
            let carries = known_in[nconsts..nconsts + ncarry].to_vec();
            let mut outs = carries.clone();
            outs.extend(&out[ncarry..]);
            return (known_in, carries, outs);
        }
    }
}

/// The known carries of a while loop (the same fixpoint as a scan's), or `None` when
/// the loop must be unknown as a whole: its condition is unknown, or no carry is known.
fn while_known(
    cond_body: &Body,
    body: &Body,
    cond_nconsts: usize,
    body_nconsts: usize,
    known_in: &[bool],
) -> Option<Vec<bool>> {
    let nc = cond_nconsts + body_nconsts;
    let mut body_in = known_in[cond_nconsts..].to_vec();
    let ncarry = known_in.len() - nc;
    loop {
        let out = known_outputs(body, &body_in);
        let mut changed = false;
        for i in 0..ncarry {
            if body_in[body_nconsts + i] && !out[i] {
                body_in[body_nconsts + i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let carries = body_in[body_nconsts..].to_vec();
    let mut cond_in = known_in[..cond_nconsts].to_vec();
    cond_in.extend(&carries);
    let cond_known = known_outputs(cond_body, &cond_in).first().copied() == Some(true);
    (cond_known && carries.iter().any(|k| *k)).then_some(carries)
}

/// Removes the top-level equations of `body` whose results nothing uses (every
/// primitive is pure, so that never changes what the body computes).
fn dce(body: &mut Body) {
    let mut live: HashSet<u32> = body
        .results
        .iter()
        .filter_map(Atom::as_var)
        .map(|v| v.id)
        .collect();
    let mut keep = vec![false; body.eqns.len()];
    for (k, e) in body.eqns.iter().enumerate().rev() {
        if e.outs.iter().any(|o| live.contains(&o.id)) {
            keep[k] = true;
            live.extend(e.args.iter().filter_map(Atom::as_var).map(|v| v.id));
        }
    }
    let mut k = 0;
    body.eqns.retain(|_| {
        k += 1;
        keep[k - 1]
    });
}

/// `f` linearized at its primal inputs.
#[derive(Clone, Debug)]
pub struct Linearized {
    /// Parameters: `f`'s. Results: `f`'s results, then `nres` residuals.
    pub primal: Func,
    /// Parameters: the `nres` residuals, then one tangent per active parameter of `f`.
    /// Results: one tangent per result of `f` (zeros instantiated). Linear in the
    /// tangents.
    pub linear: Func,
    pub nres: usize,
}

/// jvp of `f` (tangents for the `active` parameters), then partial evaluation with the
/// primals known and the tangents unknown.
pub fn linearize(f: &Func, active: &[bool]) -> Result<Linearized> {
    let g = crate::jvp::jvp(f, active)?;
    let n = f.body.params.len();
    let m = f.body.results.len();
    let k = active.iter().filter(|a| **a).count();
    if g.body.params.len() != n + k || g.body.results.len() != 2 * m {
        return Err(TransformError::internal(format!(
            "jvp of a function of {n} parameters ({k} active) and {m} results has {} \
             parameters and {} results",
            g.body.params.len(),
            g.body.results.len()
        )));
    }
    let mut known_in = vec![true; n];
    known_in.resize(n + k, false);
    let mut instantiate = vec![false; m];
    instantiate.resize(2 * m, true);
    let pe = partial_eval(&g.body, &known_in, &instantiate)?;
    if pe.known_out[..m].iter().any(|k| !k) {
        return Err(TransformError::internal(
            "linearize: a primal result depends on a tangent",
        ));
    }
    let mut primal = pe.known;
    let mut linear = pe.unknown;
    dce(&mut linear);
    // Residuals the linear function no longer reads are dropped from both halves.
    let used: HashSet<u32> = linear
        .eqns
        .iter()
        .flat_map(|e| e.args.iter())
        .chain(&linear.results)
        .filter_map(Atom::as_var)
        .map(|v| v.id)
        .collect();
    let keep: Vec<bool> = linear.params[..pe.nres]
        .iter()
        .map(|p| used.contains(&p.id))
        .collect();
    let mut i = 0;
    linear.params.retain(|_| {
        i += 1;
        i > pe.nres || keep[i - 1]
    });
    let mut i = 0;
    primal.results.retain(|_| {
        i += 1;
        i <= m || keep[i - 1 - m]
    });
    dce(&mut primal);
    let nres = keep.iter().filter(|k| **k).count();
    Ok(Linearized {
        primal: Func {
            name: format!("linearize({})", f.name),
            body: primal,
        },
        linear: Func {
            name: format!("linear({})", f.name),
            body: linear,
        },
        nres,
    })
}
