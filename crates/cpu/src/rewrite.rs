//! Rewrites before planning:
//!
//! - A product reads a transposed operand (`x @ y.T`, `x.T @ g`) through the
//!   transpose's input with its axes renumbered, when that keeps the result's axis
//!   order. The transpose is an index map the planner would otherwise have to store
//!   (a product is not a kernel), while [`crate::gemm`] takes any strides and copies
//!   only what its paths need. The contracted pairs stay in their listed order, so the
//!   canonical-order paths keep their bits; the matrix path sums in `gemm`'s order
//!   either way.
//! - A product with nothing to contract (an outer or batched scaling product, as
//!   `vmap(grad(...))` of a dot produces) becomes broadcasts and a multiply, which fuse
//!   into their consumers instead of running as one tiny matrix product per batch
//!   element. This keeps the bits too: a contraction of length one is `0 + a·b` in the
//!   canonical order (the other lanes hold the identity), so floats get the same `+ 0`
//!   (which turns a `-0` product into `+0`, as the product does) and integers, whose
//!   arithmetic wraps, need none.

use std::collections::HashMap;

use nabla_diag::Span;
use nabla_ir::{infer, Atom, Body, Builder, Eqn, Func, Prim, Scalar, Type, Var};

use crate::error::{CpuError, Result};

/// `f` with every uncompensated product's transposed operands read in place and every
/// uncontracted one rewritten as a multiply (nested bodies too).
pub fn prepare(f: &Func) -> Result<Func> {
    let mut fresh = Builder::after(&f.body);
    Ok(Func {
        name: f.name.clone(),
        body: rewrite_body(&f.body, &mut fresh)?,
    })
}

fn rewrite_body(body: &Body, fresh: &mut Builder) -> Result<Body> {
    let mut eqns = Vec::with_capacity(body.eqns.len());
    // The transposes of this body (a body is closed, so its products see no others):
    // result variable → (operand, perm).
    let mut transposes: HashMap<u32, (Var, Vec<usize>)> = HashMap::new();
    for e in &body.eqns {
        let prim = e.prim.try_map_bodies(|inner| rewrite_body(inner, fresh))?;
        match (&prim, e.args.as_slice(), e.outs.as_slice()) {
            (Prim::Transpose { perm }, [Atom::Var(x)], [out]) => {
                transposes.insert(out.id, (x.clone(), perm.clone()));
            }
            (
                Prim::DotGeneral {
                    lhs_contract,
                    rhs_contract,
                    lhs_batch,
                    rhs_batch,
                    compensated: false,
                },
                [lhs, rhs],
                [out],
            ) => {
                let l = untranspose(&transposes, lhs, lhs_contract, lhs_batch);
                let r = untranspose(&transposes, rhs, rhs_contract, rhs_batch);
                if l.contract.is_empty() {
                    let mut em = Emit {
                        eqns: &mut eqns,
                        fresh,
                        span: e.span,
                    };
                    em.outer(&l.atom, &r.atom, &l.batch, &r.batch, out)?;
                } else {
                    eqns.push(Eqn {
                        prim: Prim::DotGeneral {
                            lhs_contract: l.contract,
                            rhs_contract: r.contract,
                            lhs_batch: l.batch,
                            rhs_batch: r.batch,
                            compensated: false,
                        },
                        args: vec![l.atom, r.atom],
                        outs: e.outs.clone(),
                        span: e.span,
                    });
                }
                continue;
            }
            _ => {}
        }
        eqns.push(Eqn {
            prim,
            args: e.args.clone(),
            outs: e.outs.clone(),
            span: e.span,
        });
    }
    Ok(Body {
        params: body.params.clone(),
        eqns,
        results: body.results.clone(),
    })
}

/// One operand of a product with its contracted and batch axes.
struct Operand {
    atom: Atom,
    contract: Vec<usize>,
    batch: Vec<usize>,
}

/// `a` with the transposes it was made by undone, its axes renumbered to match, as
/// long as its free axes keep their relative order: the product lists them in
/// increasing order, so a reordering would permute the result.
fn untranspose(
    transposes: &HashMap<u32, (Var, Vec<usize>)>,
    a: &Atom,
    contract: &[usize],
    batch: &[usize],
) -> Operand {
    let mut op = Operand {
        atom: a.clone(),
        contract: contract.to_vec(),
        batch: batch.to_vec(),
    };
    while let Some((x, perm)) = op.atom.as_var().and_then(|v| transposes.get(&v.id)) {
        let free_order_kept = (0..perm.len())
            .filter(|i| !op.contract.contains(i) && !op.batch.contains(i))
            .map(|i| perm[i])
            .is_sorted();
        if !free_order_kept {
            break;
        }
        // Axes were checked when the product was built; a malformed one stops here.
        let renumber = |axes: &[usize]| -> Option<Vec<usize>> {
            axes.iter().map(|&i| perm.get(i).copied()).collect()
        };
        let (Some(contract), Some(batch)) = (renumber(&op.contract), renumber(&op.batch)) else {
            break;
        };
        op = Operand {
            atom: Atom::Var(x.clone()),
            contract,
            batch,
        };
    }
    op
}

struct Emit<'a> {
    eqns: &'a mut Vec<Eqn>,
    fresh: &'a mut Builder,
    span: Span,
}

impl Emit<'_> {
    /// Appends `prim(args)` into `out`, or into a fresh variable.
    fn push(&mut self, prim: Prim, args: Vec<Atom>, out: Option<&Var>) -> Result<Var> {
        let types: Vec<Type> = args.iter().map(Atom::ty).collect();
        let ty = infer(&prim, &types)
            .map_err(|e| CpuError::internal(format!("rewriting a product: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| CpuError::internal("a rewritten step has no result"))?;
        let var = match out {
            Some(v) if v.ty == ty => v.clone(),
            Some(v) => {
                return Err(CpuError::internal(format!(
                    "a rewritten product is {ty} where {} was traced",
                    v.ty
                )))
            }
            None => self.fresh.fresh(ty),
        };
        self.eqns.push(Eqn {
            prim,
            args,
            outs: vec![var.clone()],
            span: self.span,
        });
        Ok(var)
    }

    /// `x` broadcast to `shape`, its axis `a` landing on axis `at[a]`.
    fn place(&mut self, x: &Atom, at: &[usize], shape: &[usize]) -> Result<Atom> {
        let mut order: Vec<usize> = (0..at.len()).collect();
        order.sort_by_key(|&a| at[a]);
        let x = if order.iter().enumerate().all(|(i, &a)| i == a) {
            x.clone()
        } else {
            let perm = order.clone();
            self.push(Prim::Transpose { perm }, vec![x.clone()], None)?
                .into()
        };
        let dims = order.iter().map(|&a| at[a]).collect();
        Ok(self
            .push(
                Prim::BroadcastInDim {
                    shape: shape.to_vec(),
                    dims,
                },
                vec![x],
                None,
            )?
            .into())
    }

    /// `out = dot_general(lhs, rhs)` with no contraction: result axes are the batch
    /// axes, then the free axes of `lhs`, then those of `rhs`.
    fn outer(
        &mut self,
        lhs: &Atom,
        rhs: &Atom,
        lhs_batch: &[usize],
        rhs_batch: &[usize],
        out: &Var,
    ) -> Result<()> {
        let shape = out.ty.shape.clone();
        let nb = lhs_batch.len();
        let positions = |rank: usize, batch: &[usize], free_from: usize| -> Vec<usize> {
            let mut next_free = free_from;
            (0..rank)
                .map(|a| match batch.iter().position(|&b| b == a) {
                    Some(i) => i,
                    None => {
                        next_free += 1;
                        next_free - 1
                    }
                })
                .collect()
        };
        let (lr, rr) = (lhs.ty().rank(), rhs.ty().rank());
        let l_at = positions(lr, lhs_batch, nb);
        let r_at = positions(rr, rhs_batch, nb + (lr - nb));
        let l = self.place(lhs, &l_at, &shape)?;
        let r = self.place(rhs, &r_at, &shape)?;
        let dtype = out.ty.dtype;
        if dtype.is_float() {
            let product = self.push(Prim::Binary(nabla_ir::BinaryOp::Mul), vec![l, r], None)?;
            let zero = Atom::Lit(Scalar::zero(dtype));
            let zeros = self.push(
                Prim::BroadcastInDim {
                    shape: shape.clone(),
                    dims: vec![],
                },
                vec![zero],
                None,
            )?;
            self.push(
                Prim::Binary(nabla_ir::BinaryOp::Add),
                vec![product.into(), zeros.into()],
                Some(out),
            )?;
        } else {
            self.push(Prim::Binary(nabla_ir::BinaryOp::Mul), vec![l, r], Some(out))?;
        }
        Ok(())
    }
}
