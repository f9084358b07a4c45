//! Common-subexpression elimination: an equation that repeats an earlier one of the
//! same body (same primitive, equal static parameters, identical operands) is dropped
//! and its results replaced by the earlier results.
//!
//! Equations are compared through a textual key: the printed equation with its
//! results and the variables of its nested bodies renumbered from zero, so that two
//! control-flow equations with alpha-equivalent bodies match. Printed floats round-trip
//! exactly except for NaN payloads, so the bits of every NaN are appended to the key:
//! constants are compared by bits, not by `==`.
//!
//! Bodies are closed, so each body has its own table: an equation inside a `cond`
//! branch can reuse an earlier equation of that branch only. Nothing is hoisted.

use std::collections::HashMap;
use std::fmt::Write;

use nabla_ir::{print_eqn, Atom, Body, Data, Eqn, Func, Prim, Scalar};

use crate::emit::subst;
use crate::error::Result;

use super::renumber::Renumberer;

/// `f` with repeated equations removed (bodies included). Kept variables keep their
/// ids.
pub fn cse(f: &Func) -> Result<Func> {
    Ok(Func {
        name: f.name.clone(),
        body: cse_body(&f.body)?,
    })
}

fn cse_body(b: &Body) -> Result<Body> {
    let mut env: HashMap<u32, Atom> = HashMap::new();
    let mut seen: HashMap<String, Vec<Atom>> = HashMap::new();
    let mut eqns = Vec::with_capacity(b.eqns.len());
    for e in &b.eqns {
        let e = Eqn {
            prim: e.prim.try_map_bodies(cse_body)?,
            args: e.args.iter().map(|a| subst(&env, a)).collect(),
            outs: e.outs.clone(),
            span: e.span,
        };
        let k = key(&e)?;
        if let Some(first) = seen.get(&k) {
            // Equal keys include equal result types, so the substitution is well typed.
            for (o, a) in e.outs.iter().zip(first) {
                env.insert(o.id, a.clone());
            }
            continue;
        }
        seen.insert(k, e.outs.iter().map(Atom::from).collect());
        eqns.push(e);
    }
    Ok(Body {
        params: b.params.clone(),
        eqns,
        results: b.results.iter().map(|a| subst(&env, a)).collect(),
    })
}

/// The text two equations share exactly when one can stand for the other.
fn key(e: &Eqn) -> Result<String> {
    let mut r = Renumberer::starting_at(0);
    let prim = e.prim.try_map_bodies(|b| r.body(b))?;
    let outs = e.outs.iter().map(|o| r.define(o)).collect();
    let normal = Eqn {
        prim,
        args: e.args.clone(),
        outs,
        span: e.span,
    };
    let mut k = print_eqn(&normal);
    nan_bits(&normal.prim, &normal.args, &mut k);
    Ok(k)
}

/// Appends the bit patterns of the NaNs among the literals and constants of an
/// equation and its nested bodies (the printer writes every NaN as `nan`).
fn nan_bits(prim: &Prim, args: &[Atom], out: &mut String) {
    literal_nan_bits(args, out);
    if let Prim::Constant { value } = prim {
        match value.data() {
            Data::F32(v) => {
                for x in v.iter().filter(|x| x.is_nan()) {
                    let _ = write!(out, " {:#x}", x.to_bits());
                }
            }
            Data::F64(v) => {
                for x in v.iter().filter(|x| x.is_nan()) {
                    let _ = write!(out, " {:#x}", x.to_bits());
                }
            }
            Data::Bool(_) | Data::I32(_) | Data::I64(_) | Data::U32(_) => {}
        }
    }
    for b in prim.bodies() {
        for e in &b.eqns {
            nan_bits(&e.prim, &e.args, out);
        }
        literal_nan_bits(&b.results, out);
    }
}

fn literal_nan_bits(atoms: &[Atom], out: &mut String) {
    for a in atoms {
        match a {
            Atom::Lit(Scalar::F32(v)) if v.is_nan() => {
                let _ = write!(out, " {:#x}", v.to_bits());
            }
            Atom::Lit(Scalar::F64(v)) if v.is_nan() => {
                let _ = write!(out, " {:#x}", v.to_bits());
            }
            Atom::Lit(_) | Atom::Var(_) => {}
        }
    }
}
