//! Errors: oversized results, malformed IR and bad arguments become `EvalError`s (and
//! diagnostics with stable codes) located at the failing equation, never panics.

mod common;

use common::*;
use nabla_diag::{Code, Diagnostic, FileId, Span};
use nabla_interp::{apply, eval_body, eval_func, EvalErrorKind};
use nabla_ir::{Atom, BinaryOp, Body, Builder, DType, Eqn, Prim, Type, Var};

#[test]
fn oversized_results_are_reported_before_allocating() {
    let huge = Prim::BroadcastInDim {
        shape: vec![1 << 30, 1 << 30],
        dims: vec![],
    };
    let err = apply(&huge, &[f64s(&[], &[1.0])]).unwrap_err();
    assert_eq!(err.kind, EvalErrorKind::AllocationTooLarge);
    let iota = Prim::Iota {
        dtype: DType::I64,
        shape: vec![usize::MAX, 2],
        axis: 0,
    };
    assert_eq!(
        apply(&iota, &[]).unwrap_err().kind,
        EvalErrorKind::AllocationTooLarge
    );

    // Through a traced function the error carries the equation's span and converts to
    // an E0504 diagnostic.
    let span = Span::new(FileId(0), 10, 20);
    let mut b = Builder::new();
    let x = b.param(Type::scalar(DType::F64));
    let y = b.emit1(huge, vec![x.into()], span).unwrap();
    let f = b.finish("huge", vec![y.into()]);
    let err = eval_func(&f, &[f64s(&[], &[1.0])]).unwrap_err();
    assert_eq!(err.span, span);
    let d: Diagnostic = err.into();
    assert_eq!(d.code, Code::ALLOCATION_TOO_LARGE);
    assert_eq!(d.labels.len(), 1);
}

#[test]
fn huge_empty_shapes_are_fine() {
    // Zero elements however large the other dimensions: nothing to allocate or visit.
    let x = f64s(&[0], &[]);
    let b = Prim::BroadcastInDim {
        shape: vec![0, usize::MAX / 16],
        dims: vec![0],
    };
    let out = apply(&b, &[x]).unwrap();
    assert!(out[0].is_empty());
    let r = Prim::Reduce {
        op: nabla_ir::ReduceOp::Sum,
        axes: vec![1],
        compensated: false,
    };
    let s = apply(&r, &out).unwrap();
    assert_eq!(s[0].shape(), [0]);
}

#[test]
fn operand_mismatches_are_internal_errors() {
    let add = Prim::Binary(BinaryOp::Add);
    let err = apply(&add, &[f64s(&[2], &[1.0, 2.0]), f32s(&[2], &[1.0, 2.0])]).unwrap_err();
    assert_eq!(err.kind, EvalErrorKind::Internal);
    assert_eq!(err.code(), Code::INTERNAL);
    assert!(apply(&add, &[f64s(&[2], &[1.0, 2.0])]).is_err());
    let not = Prim::Unary(nabla_ir::UnaryOp::Exp);
    assert_eq!(
        apply(&not, &[i32s(&[1], &[1])]).unwrap_err().kind,
        EvalErrorKind::Internal
    );
}

#[test]
fn malformed_bodies_are_internal_errors_at_the_equation() {
    let span = Span::new(FileId(1), 3, 7);
    let x = Var {
        id: 0,
        ty: Type::new(DType::F64, vec![2]),
    };
    let ghost = Var {
        id: 9,
        ty: Type::new(DType::F64, vec![2]),
    };
    let out = Var {
        id: 1,
        ty: Type::new(DType::F64, vec![2]),
    };
    let body = Body {
        params: vec![x.clone()],
        eqns: vec![Eqn {
            prim: Prim::Binary(BinaryOp::Add),
            args: vec![Atom::Var(x.clone()), Atom::Var(ghost)],
            outs: vec![out.clone()],
            span,
        }],
        results: vec![Atom::Var(out.clone())],
    };
    let err = eval_body(&body, &[f64s(&[2], &[1.0, 2.0])]).unwrap_err();
    assert_eq!((err.kind, err.span), (EvalErrorKind::Internal, span));
    let d: Diagnostic = err.into();
    assert_eq!(d.code, Code::INTERNAL);

    // Wrong number or type of arguments.
    assert!(eval_body(&body, &[]).is_err());
    assert!(eval_body(&body, &[f32s(&[2], &[1.0, 2.0])]).is_err());

    // An output variable whose declared type disagrees with the primitive's result.
    let lying = Body {
        params: vec![x.clone()],
        eqns: vec![Eqn {
            prim: Prim::Unary(nabla_ir::UnaryOp::IsNan),
            args: vec![Atom::Var(x)],
            outs: vec![out.clone()],
            span,
        }],
        results: vec![Atom::Var(out)],
    };
    let err = eval_body(&lying, &[f64s(&[2], &[1.0, 2.0])]).unwrap_err();
    assert_eq!((err.kind, err.span), (EvalErrorKind::Internal, span));
}

#[test]
fn integer_division_by_zero_is_not_an_error() {
    let mut b = Builder::new();
    let x = b.param(Type::new(DType::I64, vec![2]));
    let y = b.param(Type::new(DType::I64, vec![2]));
    let q = b
        .emit1(
            Prim::Binary(BinaryOp::Div),
            vec![x.into(), y.into()],
            Span::DUMMY,
        )
        .unwrap();
    let f = b.finish("div", vec![q.into()]);
    let out = eval_func(&f, &[i64s(&[2], &[5, -5]), i64s(&[2], &[0, 0])]).unwrap();
    assert_eq!(get_i64(&out[0]), [-1, -1]);
}

#[test]
fn literals_and_parameters_can_be_returned_directly() {
    let mut b = Builder::new();
    let x = b.param(Type::scalar(DType::U32));
    let f = b.finish(
        "id",
        vec![x.into(), Atom::Lit(nabla_ir::Scalar::Bool(true))],
    );
    let out = eval_func(&f, &[u32s(&[], &[7])]).unwrap();
    assert_eq!(get_u32(&out[0]), [7]);
    assert_eq!(get_bool(&out[1]), [true]);
}
