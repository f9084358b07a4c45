//! Reverse mode: vjp as linearize + transpose, and grad / value_and_grad on top.

use nabla_ir::{Atom, Func};

use crate::emit::{lit, Emitter};
use crate::error::{Result, TransformError};
use crate::linearize::linearize;
use crate::transpose::transpose;

/// The two halves of a vjp.
#[derive(Clone, Debug)]
pub struct Vjp {
    /// Parameters: `f`'s. Results: `f`'s results, then `nres` residuals.
    pub primal: Func,
    /// Parameters: the `nres` residuals, then one cotangent per result of `f`.
    /// Results: one cotangent per active parameter of `f`, in parameter order.
    pub pullback: Func,
    pub nres: usize,
}

/// Reverse mode of `f` with respect to the parameters with `active[i]`.
pub fn vjp(f: &Func, active: &[bool]) -> Result<Vjp> {
    let lin = linearize(f, active)?;
    let pullback = transpose(&lin.linear, lin.nres)?;
    Ok(Vjp {
        primal: lin.primal,
        pullback,
        nres: lin.nres,
    })
}

/// The gradient of `f`'s single scalar float result with respect to the parameters in
/// `argnums` (in that order; a parameter may be listed twice). Parameters: `f`'s.
/// Results: the value first when `with_value`, then one gradient per entry of
/// `argnums`.
pub fn grad(f: &Func, argnums: &[usize], with_value: bool) -> Result<Func> {
    let out_ty = match f.body.result_types().as_slice() {
        [t] => t.clone(),
        other => {
            return Err(TransformError::not_differentiable(format!(
                "grad needs a function with one result, this one has {}",
                other.len()
            )))
        }
    };
    if !out_ty.shape.is_empty() || !out_ty.dtype.is_float() {
        return Err(TransformError::not_differentiable(format!(
            "grad needs a scalar float result, the function returns {out_ty}"
        ))
        .with_hint("sum the result, or use vjp or jacrev for a non-scalar function"));
    }
    let nparams = f.body.params.len();
    let mut active = vec![false; nparams];
    for &i in argnums {
        let p = f.body.params.get(i).ok_or_else(|| {
            TransformError::internal(format!("argnum {i} of a function of {nparams} parameters"))
        })?;
        if !p.ty.dtype.is_float() {
            return Err(TransformError::not_differentiable(format!(
                "grad needs float inputs, but the differentiated argument is {}",
                p.ty
            ))
            .with_hint("convert it with f64(…) or exclude it with argnums"));
        }
        active[i] = true;
    }
    let v = vjp(f, &active)?;
    let mut em = Emitter::new();
    let params: Vec<Atom> = f
        .body
        .params
        .iter()
        .map(|p| Atom::Var(em.param(p.ty.clone())))
        .collect();
    let outs = em.inline(&v.primal.body, &params)?;
    let (value, residuals) = outs.split_at(1);
    let mut pb_args = residuals.to_vec();
    pb_args.push(lit(out_ty.dtype, 1.0));
    let cts = em.inline(&v.pullback.body, &pb_args)?;
    // `cts` holds one cotangent per active parameter, in parameter order.
    let active_index: Vec<usize> = (0..nparams).filter(|&i| active[i]).collect();
    let mut results = Vec::new();
    if with_value {
        results.push(value[0].clone());
    }
    for &i in argnums {
        let k = active_index
            .iter()
            .position(|&j| j == i)
            .ok_or_else(|| TransformError::internal("an argnum lost its cotangent"))?;
        results.push(cts[k].clone());
    }
    Ok(em.finish(format!("{}_grad", f.name), results))
}
