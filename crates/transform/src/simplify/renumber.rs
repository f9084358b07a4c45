//! Dense renumbering of variables in the order a fresh trace would have numbered them.
//!
//! The other passes keep the ids of the variables they keep, so their output can be
//! compared with their input line by line; removing equations leaves gaps. Renumbering
//! closes the gaps and makes the text of equal programs equal, whatever ids they had.

use std::collections::HashMap;

use nabla_ir::{Atom, Body, Eqn, Func, Var};

use crate::error::Result;

/// `f` with its variables numbered `0, 1, …` as [`nabla_ir::Builder`] numbers them:
/// parameters first, then, equation by equation, the variables of its nested bodies
/// before its results.
pub fn renumber(f: &Func) -> Result<Func> {
    let mut r = Renumberer::default();
    Ok(Func {
        name: f.name.clone(),
        body: r.body(&f.body)?,
    })
}

/// Assigns ids in definition order. Variables it has not seen (the outer operands of
/// an equation renumbered on its own) keep their ids.
#[derive(Default)]
pub(super) struct Renumberer {
    next: u32,
    map: HashMap<u32, u32>,
}

impl Renumberer {
    /// A renumberer whose first id is `start`.
    pub(super) fn starting_at(start: u32) -> Renumberer {
        Renumberer {
            next: start,
            map: HashMap::new(),
        }
    }

    pub(super) fn define(&mut self, v: &Var) -> Var {
        let id = self.next;
        self.next += 1;
        self.map.insert(v.id, id);
        Var {
            id,
            ty: v.ty.clone(),
        }
    }

    pub(super) fn atom(&self, a: &Atom) -> Atom {
        match a {
            Atom::Var(v) => Atom::Var(Var {
                id: self.map.get(&v.id).copied().unwrap_or(v.id),
                ty: v.ty.clone(),
            }),
            Atom::Lit(_) => a.clone(),
        }
    }

    pub(super) fn body(&mut self, b: &Body) -> Result<Body> {
        let params = b.params.iter().map(|p| self.define(p)).collect();
        let mut eqns = Vec::with_capacity(b.eqns.len());
        for e in &b.eqns {
            eqns.push(self.eqn(e)?);
        }
        let results = b.results.iter().map(|a| self.atom(a)).collect();
        Ok(Body {
            params,
            eqns,
            results,
        })
    }

    pub(super) fn eqn(&mut self, e: &Eqn) -> Result<Eqn> {
        let args = e.args.iter().map(|a| self.atom(a)).collect();
        let prim = e.prim.try_map_bodies(|b| self.body(b))?;
        let outs = e.outs.iter().map(|o| self.define(o)).collect();
        Ok(Eqn {
            prim,
            args,
            outs,
            span: e.span,
        })
    }
}
