//! Control flow built with `nabla_ir::Builder` and run through `eval_func`: a counting
//! `while`, `scan` cumulative sums (forward, reverse, empty), `cond` both ways, and
//! control flow nested in a loop body.

mod common;

use common::*;
use nabla_diag::Span;
use nabla_interp::eval_func;
use nabla_ir::{Atom, BinaryOp, Builder, CmpOp, DType, Func, Prim, ReduceOp, Scalar, Type};

const S: Span = Span::DUMMY;

fn scalar(d: DType) -> Type {
    Type::scalar(d)
}

fn atoms(vs: &[nabla_ir::Var]) -> Vec<Atom> {
    vs.iter().map(Atom::from).collect()
}

/// `count(n, step)`: `i = 0; acc = 0; while i < n { i += 1; acc += step }`.
fn counting_loop() -> Func {
    let mut b = Builder::new();
    let n = b.param(scalar(DType::I64));
    let step = b.param(scalar(DType::F64));
    let c = b.begin_body(&[scalar(DType::I64), scalar(DType::I64), scalar(DType::F64)]);
    let lt = b
        .emit1(
            Prim::Compare(CmpOp::Lt),
            vec![(&c[1]).into(), (&c[0]).into()],
            S,
        )
        .unwrap();
    let cond_body = b.end_body(vec![lt.into()]);
    let p = b.begin_body(&[scalar(DType::F64), scalar(DType::I64), scalar(DType::F64)]);
    let i1 = b
        .emit1(
            Prim::Binary(BinaryOp::Add),
            vec![(&p[1]).into(), Atom::Lit(Scalar::I64(1))],
            S,
        )
        .unwrap();
    let a1 = b
        .emit1(
            Prim::Binary(BinaryOp::Add),
            vec![(&p[2]).into(), (&p[0]).into()],
            S,
        )
        .unwrap();
    let body = b.end_body(vec![i1.into(), a1.into()]);
    let outs = b
        .emit(
            Prim::While {
                cond_body,
                body,
                cond_nconsts: 1,
                body_nconsts: 1,
            },
            vec![
                n.into(),
                step.into(),
                Atom::Lit(Scalar::I64(0)),
                Atom::Lit(Scalar::F64(0.0)),
            ],
            S,
        )
        .unwrap();
    b.finish("count", atoms(&outs))
}

#[test]
fn while_counts() {
    let f = counting_loop();
    let out = eval_func(&f, &[i64s(&[], &[5]), f64s(&[], &[0.5])]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(get_i64(&out[0]), [5]);
    assert_eq!(get_f64(&out[1]), [2.5]);
    let none = eval_func(&f, &[i64s(&[], &[-3]), f64s(&[], &[0.5])]).unwrap();
    assert_eq!((get_i64(&none[0]), get_f64(&none[1])), (vec![0], vec![0.0]));
}

/// `cumsum(scale, xs)`: carry `c`, each step `c += scale * x`, `y = c`.
fn cumsum_scan(length: usize, reverse: bool) -> Func {
    let mut b = Builder::new();
    let scale = b.param(scalar(DType::F64));
    let xs = b.param(Type::new(DType::F64, vec![length]));
    let p = b.begin_body(&[scalar(DType::F64), scalar(DType::F64), scalar(DType::F64)]);
    let sx = b
        .emit1(
            Prim::Binary(BinaryOp::Mul),
            vec![(&p[0]).into(), (&p[2]).into()],
            S,
        )
        .unwrap();
    let c = b
        .emit1(
            Prim::Binary(BinaryOp::Add),
            vec![(&p[1]).into(), sx.into()],
            S,
        )
        .unwrap();
    let body = b.end_body(vec![(&c).into(), (&c).into()]);
    let outs = b
        .emit(
            Prim::Scan {
                body,
                nconsts: 1,
                ncarry: 1,
                length,
                reverse,
            },
            vec![scale.into(), Atom::Lit(Scalar::F64(0.0)), xs.into()],
            S,
        )
        .unwrap();
    b.finish("cumsum", atoms(&outs))
}

#[test]
fn scan_cumulative_sum_forward_and_reverse() {
    let xs = f64s(&[5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let two = f64s(&[], &[2.0]);
    let out = eval_func(&cumsum_scan(5, false), &[two.clone(), xs.clone()]).unwrap();
    assert_eq!(get_f64(&out[0]), [30.0]);
    assert_eq!(out[1].shape(), [5]);
    assert_eq!(get_f64(&out[1]), [2.0, 6.0, 12.0, 20.0, 30.0]);
    // Reverse: the step that consumed x[i] still writes y[i].
    let rev = eval_func(&cumsum_scan(5, true), &[two, xs]).unwrap();
    assert_eq!(get_f64(&rev[0]), [30.0]);
    assert_eq!(get_f64(&rev[1]), [30.0, 28.0, 24.0, 18.0, 10.0]);
}

#[test]
fn zero_length_scan_returns_init_and_empty_ys() {
    let out = eval_func(
        &cumsum_scan(0, false),
        &[f64s(&[], &[1.0]), f64s(&[0], &[])],
    )
    .unwrap();
    assert_eq!(get_f64(&out[0]), [0.0]);
    assert_eq!(out[1].shape(), [0]);
}

/// `f(x) = if sum(x) > 0 { x * 2 } else { x - 1 }`.
fn branchy() -> Func {
    let mut b = Builder::new();
    let x = b.param(Type::new(DType::F64, vec![3]));
    let s = b
        .emit1(
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
                compensated: false,
            },
            vec![(&x).into()],
            S,
        )
        .unwrap();
    let pred = b
        .emit1(
            Prim::Compare(CmpOp::Gt),
            vec![s.into(), Atom::Lit(Scalar::F64(0.0))],
            S,
        )
        .unwrap();
    let ty = [Type::new(DType::F64, vec![3])];
    let t = b.begin_body(&ty);
    let two = b
        .emit1(
            Prim::BroadcastInDim {
                shape: vec![3],
                dims: vec![],
            },
            vec![Atom::Lit(Scalar::F64(2.0))],
            S,
        )
        .unwrap();
    let d = b
        .emit1(
            Prim::Binary(BinaryOp::Mul),
            vec![(&t[0]).into(), two.into()],
            S,
        )
        .unwrap();
    let then_body = b.end_body(vec![d.into()]);
    let e = b.begin_body(&ty);
    let one = b
        .emit1(
            Prim::BroadcastInDim {
                shape: vec![3],
                dims: vec![],
            },
            vec![Atom::Lit(Scalar::F64(1.0))],
            S,
        )
        .unwrap();
    let m = b
        .emit1(
            Prim::Binary(BinaryOp::Sub),
            vec![(&e[0]).into(), one.into()],
            S,
        )
        .unwrap();
    let else_body = b.end_body(vec![m.into()]);
    let out = b
        .emit1(
            Prim::Cond {
                then_body,
                else_body,
            },
            vec![pred.into(), x.into()],
            S,
        )
        .unwrap();
    b.finish("branchy", vec![out.into()])
}

#[test]
fn cond_takes_each_branch() {
    let f = branchy();
    let up = eval_func(&f, &[f64s(&[3], &[1.0, 2.0, -0.5])]).unwrap();
    assert_eq!(get_f64(&up[0]), [2.0, 4.0, -1.0]);
    let down = eval_func(&f, &[f64s(&[3], &[1.0, -2.0, -0.5])]).unwrap();
    assert_eq!(get_f64(&down[0]), [0.0, -3.0, -1.5]);
}

#[test]
fn cond_nested_in_a_scan_body() {
    // Sums the positive elements: carry += x if x > 0, and y = the carry so far.
    let mut b = Builder::new();
    let xs = b.param(Type::new(DType::I32, vec![4]));
    let p = b.begin_body(&[scalar(DType::I32), scalar(DType::I32)]);
    let pos = b
        .emit1(
            Prim::Compare(CmpOp::Gt),
            vec![(&p[1]).into(), Atom::Lit(Scalar::I32(0))],
            S,
        )
        .unwrap();
    let ops = [scalar(DType::I32), scalar(DType::I32)];
    let t = b.begin_body(&ops);
    let s = b
        .emit1(
            Prim::Binary(BinaryOp::Add),
            vec![(&t[0]).into(), (&t[1]).into()],
            S,
        )
        .unwrap();
    let then_body = b.end_body(vec![s.into()]);
    let e = b.begin_body(&ops);
    let else_body = b.end_body(vec![(&e[0]).into()]);
    let c = b
        .emit1(
            Prim::Cond {
                then_body,
                else_body,
            },
            vec![pos.into(), (&p[0]).into(), (&p[1]).into()],
            S,
        )
        .unwrap();
    let body = b.end_body(vec![(&c).into(), (&c).into()]);
    let outs = b
        .emit(
            Prim::Scan {
                body,
                nconsts: 0,
                ncarry: 1,
                length: 4,
                reverse: false,
            },
            vec![Atom::Lit(Scalar::I32(0)), xs.into()],
            S,
        )
        .unwrap();
    let f = b.finish("positive_sum", atoms(&outs));
    let out = eval_func(&f, &[i32s(&[4], &[3, -1, 4, -5])]).unwrap();
    assert_eq!(get_i32(&out[0]), [7]);
    assert_eq!(get_i32(&out[1]), [3, 3, 7, 7]);
}

#[test]
fn scan_slices_multi_dimensional_xs_along_axis_zero() {
    // Carry is a row vector; each step adds the next row of a [3, 2] matrix.
    let mut b = Builder::new();
    let xs = b.param(Type::new(DType::I64, vec![3, 2]));
    let init = b.param(Type::new(DType::I64, vec![2]));
    let row = Type::new(DType::I64, vec![2]);
    let p = b.begin_body(&[row.clone(), row]);
    let s = b
        .emit1(
            Prim::Binary(BinaryOp::Add),
            vec![(&p[0]).into(), (&p[1]).into()],
            S,
        )
        .unwrap();
    let body = b.end_body(vec![(&s).into(), (&p[1]).into()]);
    let outs = b
        .emit(
            Prim::Scan {
                body,
                nconsts: 0,
                ncarry: 1,
                length: 3,
                reverse: true,
            },
            vec![init.into(), xs.into()],
            S,
        )
        .unwrap();
    let f = b.finish("rows", atoms(&outs));
    let x = i64s(&[3, 2], &[1, 2, 3, 4, 5, 6]);
    let out = eval_func(&f, &[x.clone(), i64s(&[2], &[100, 200])]).unwrap();
    assert_eq!(get_i64(&out[0]), [109, 212]);
    // ys copies each consumed row back to its own index.
    assert_eq!(out[1], x);
}
