//! Structured control flow: `cond`, `while` and `scan`, each evaluating its closed
//! nested bodies with [`crate::eval_body`].

use nabla_ir::{Array, Body, Data, Scalar, Type};

use crate::data::{dispatch, make, write_data};
use crate::num::Elem;
use crate::{eval_body, EvalError};

fn truth(a: &Array, what: &str) -> Result<bool, EvalError> {
    if let (0, Some(Scalar::Bool(b))) = (a.rank(), a.to_scalar()) {
        return Ok(b);
    }
    Err(EvalError::internal(format!(
        "{what} must be a bool scalar, got {}",
        a.ty()
    )))
}

pub(crate) fn cond(
    then_body: &Body,
    else_body: &Body,
    args: &[Array],
) -> Result<Vec<Array>, EvalError> {
    let (pred, operands) = args
        .split_first()
        .ok_or_else(|| EvalError::internal("cond without a predicate"))?;
    let body = if truth(pred, "the cond predicate")? {
        then_body
    } else {
        else_body
    };
    eval_body(body, operands)
}

pub(crate) fn while_loop(
    cond_body: &Body,
    body: &Body,
    cond_nconsts: usize,
    body_nconsts: usize,
    args: &[Array],
) -> Result<Vec<Array>, EvalError> {
    let nconsts = cond_nconsts + body_nconsts;
    if args.len() < nconsts {
        return Err(EvalError::internal("while: fewer operands than constants"));
    }
    let (cond_consts, rest) = args.split_at(cond_nconsts);
    let (body_consts, init) = rest.split_at(body_nconsts);
    let mut carry = init.to_vec();
    loop {
        let cond_args: Vec<Array> = cond_consts.iter().chain(&carry).cloned().collect();
        let c = eval_body(cond_body, &cond_args)?;
        let go = c
            .first()
            .ok_or_else(|| EvalError::internal("while condition returned nothing"))?;
        if !truth(go, "the while condition")? {
            return Ok(carry);
        }
        let body_args: Vec<Array> = body_consts.iter().chain(&carry).cloned().collect();
        carry = eval_body(body, &body_args)?;
    }
}

/// Row `i` (along axis 0) of `x`, as an array of rank one less.
fn row(x: &Array, i: usize) -> Result<Array, EvalError> {
    let shape = &x.shape()[1..];
    let n: usize = shape.iter().product();
    let range = i * n..(i + 1) * n;
    let data = dispatch!(x.data(), v => Elem::wrap(
        v.get(range)
            .ok_or_else(|| EvalError::internal("scan row out of bounds"))?
            .to_vec()
    ));
    make(shape, data)
}

pub(crate) fn scan(
    body: &Body,
    nconsts: usize,
    ncarry: usize,
    length: usize,
    reverse: bool,
    args: &[Array],
) -> Result<Vec<Array>, EvalError> {
    if args.len() < nconsts + ncarry {
        return Err(EvalError::internal(
            "scan: fewer operands than constants and carries",
        ));
    }
    let (consts, rest) = args.split_at(nconsts);
    let (init, xs) = rest.split_at(ncarry);
    // The stacked outputs are laid out from the body's declared result types, so a
    // zero-length scan still returns correctly shaped (empty) `ys`.
    let y_types: Vec<Type> = body
        .result_types()
        .split_off(ncarry.min(body.results.len()));
    let mut ys: Vec<Array> = y_types
        .iter()
        .map(|t| {
            let mut shape = vec![length];
            shape.extend(&t.shape);
            Array::zeros(&Type::new(t.dtype, shape))
        })
        .collect::<Result<_, _>>()?;
    let mut carry = init.to_vec();
    for step in 0..length {
        // A reverse scan walks from the end but still stores y[i] at index i.
        let i = if reverse { length - 1 - step } else { step };
        let mut step_args: Vec<Array> = consts.iter().chain(&carry).cloned().collect();
        for x in xs {
            step_args.push(row(x, i)?);
        }
        let mut out = eval_body(body, &step_args)?;
        if out.len() != ncarry + ys.len() {
            return Err(EvalError::internal(
                "scan body returned the wrong number of results",
            ));
        }
        let step_ys = out.split_off(ncarry);
        carry = out;
        for (acc, y) in ys.iter_mut().zip(&step_ys) {
            let n = y.len();
            write_data(acc.data_mut(), y.data(), i * n..(i + 1) * n)?;
        }
    }
    carry.extend(ys);
    Ok(carry)
}
