//! Dead-code elimination, through the nested bodies of control flow.
//!
//! Every primitive is pure, so an equation none of whose results is read can go. For
//! control flow the pass also narrows the equation itself: results nobody reads are
//! removed from the bodies that compute them, and operands no body reads any more are
//! removed with their parameters. Carried values (of `scan` and `while`) need care:
//! a carry feeds the next iteration, so it may go only when its final value is unused
//! *and* no kept part of the bodies reads it; that set is found by a fixed point.

use std::collections::HashSet;

use nabla_ir::{Atom, Body, Eqn, Func, Prim};

use crate::error::Result;

use super::well_formed;

/// `f` without the equations (and control-flow results, operands and carries) that do
/// not contribute to its results. Parameters and results are kept; ids are unchanged.
pub fn dce(f: &Func) -> Result<Func> {
    let keep = vec![true; f.body.results.len()];
    let (body, _) = prune(&f.body, &keep);
    Ok(Func {
        name: f.name.clone(),
        body,
    })
}

/// `b` returning only the results flagged in `keep`, without the equations those do
/// not need; parameters are left in place (the caller decides whether the operand slot
/// can go) and the second value says which of them are still read.
fn prune(b: &Body, keep: &[bool]) -> (Body, Vec<bool>) {
    let results: Vec<Atom> = b
        .results
        .iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(a, _)| a.clone())
        .collect();
    let mut live: HashSet<u32> = HashSet::new();
    mark(&mut live, &results);
    let mut eqns: Vec<Eqn> = Vec::with_capacity(b.eqns.len());
    for e in b.eqns.iter().rev() {
        let outs_live: Vec<bool> = e.outs.iter().map(|o| live.contains(&o.id)).collect();
        if !outs_live.contains(&true) {
            continue;
        }
        let e = prune_eqn(e, &outs_live);
        mark(&mut live, &e.args);
        eqns.push(e);
    }
    eqns.reverse();
    let used = b.params.iter().map(|p| live.contains(&p.id)).collect();
    (
        Body {
            params: b.params.clone(),
            eqns,
            results,
        },
        used,
    )
}

fn mark(live: &mut HashSet<u32>, atoms: &[Atom]) {
    for a in atoms {
        if let Atom::Var(v) = a {
            live.insert(v.id);
        }
    }
}

/// Items of `xs` whose flag is set.
fn pick<T: Clone>(xs: &[T], flags: &[bool]) -> Vec<T> {
    xs.iter()
        .zip(flags)
        .filter(|(_, &f)| f)
        .map(|(x, _)| x.clone())
        .collect()
}

fn keep_params(mut b: Body, flags: &[bool]) -> Body {
    b.params = pick(&b.params, flags);
    b
}

/// `e` (at least one of whose results is live) narrowed to the results flagged live.
/// Only control flow can drop results; other equations are kept whole.
fn prune_eqn(e: &Eqn, outs_live: &[bool]) -> Eqn {
    if !well_formed(e) {
        // Nothing below may index out of bounds; an equation the verifier would reject
        // is left for it to report.
        return e.clone();
    }
    let narrowed = |prim: Prim, args: Vec<Atom>, outs_flags: &[bool]| Eqn {
        prim,
        args,
        outs: pick(&e.outs, outs_flags),
        span: e.span,
    };
    match &e.prim {
        Prim::Cond {
            then_body,
            else_body,
        } => {
            let (t, t_used) = prune(then_body, outs_live);
            let (f, f_used) = prune(else_body, outs_live);
            let used: Vec<bool> = t_used.iter().zip(&f_used).map(|(a, b)| *a || *b).collect();
            // The predicate is always read.
            let mut args = e.args[..1].to_vec();
            args.extend(pick(&e.args[1..], &used));
            let prim = Prim::Cond {
                then_body: keep_params(t, &used),
                else_body: keep_params(f, &used),
            };
            narrowed(prim, args, outs_live)
        }
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            length,
            reverse,
        } => {
            let (nconsts, ncarry) = (*nconsts, *ncarry);
            let mut keep_carry = outs_live[..ncarry].to_vec();
            let keep_ys = &outs_live[ncarry..];
            let (body, used) = loop {
                let mut keep = keep_carry.clone();
                keep.extend_from_slice(keep_ys);
                let (body, used) = prune(body, &keep);
                let mut grew = false;
                for (j, k) in keep_carry.iter_mut().enumerate() {
                    if used[nconsts + j] && !*k {
                        *k = true;
                        grew = true;
                    }
                }
                if !grew {
                    break (body, used);
                }
            };
            let mut params = used[..nconsts].to_vec();
            params.extend_from_slice(&keep_carry);
            params.extend_from_slice(&used[nconsts + ncarry..]);
            let mut outs = keep_carry.clone();
            outs.extend_from_slice(keep_ys);
            let prim = Prim::Scan {
                body: keep_params(body, &params),
                nconsts: count(&used[..nconsts]),
                ncarry: count(&keep_carry),
                length: *length,
                reverse: *reverse,
            };
            narrowed(prim, pick(&e.args, &params), &outs)
        }
        Prim::While {
            cond_body,
            body,
            cond_nconsts,
            body_nconsts,
        } => {
            let (cn, bn) = (*cond_nconsts, *body_nconsts);
            let (cond_body, cond_used) = prune(cond_body, &[true]);
            let mut keep_carry = outs_live.to_vec();
            let (body, body_used) = loop {
                let (body, used) = prune(body, &keep_carry);
                let mut grew = false;
                for (j, k) in keep_carry.iter_mut().enumerate() {
                    if (cond_used[cn + j] || used[bn + j]) && !*k {
                        *k = true;
                        grew = true;
                    }
                }
                if !grew {
                    break (body, used);
                }
            };
            let mut cond_params = cond_used[..cn].to_vec();
            cond_params.extend_from_slice(&keep_carry);
            let mut body_params = body_used[..bn].to_vec();
            body_params.extend_from_slice(&keep_carry);
            let mut operands = cond_used[..cn].to_vec();
            operands.extend_from_slice(&body_used[..bn]);
            operands.extend_from_slice(&keep_carry);
            let prim = Prim::While {
                cond_body: keep_params(cond_body, &cond_params),
                body: keep_params(body, &body_params),
                cond_nconsts: count(&cond_used[..cn]),
                body_nconsts: count(&body_used[..bn]),
            };
            narrowed(prim, pick(&e.args, &operands), &keep_carry)
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
        | Prim::BitsToUnit { .. } => e.clone(),
    }
}

fn count(flags: &[bool]) -> usize {
    flags.iter().filter(|&&f| f).count()
}
