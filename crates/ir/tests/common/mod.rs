//! Shared fixtures for the IR text tests: a "zoo" function that uses every primitive.

#![allow(dead_code)]

use nabla_diag::Span;
use nabla_ir::{
    ArgOp, Array, Atom, BinaryOp, Body, Builder, CmpOp, CumOp, DType, Data, Func, Prim, ReduceOp,
    Scalar, ScatterMode, Type, UnaryOp, Var,
};

pub fn emit(b: &mut Builder, prim: Prim, args: Vec<Atom>) -> Vec<Var> {
    b.emit(prim, args, Span::DUMMY)
        .expect("zoo equations are well typed")
}

pub fn emit1(b: &mut Builder, prim: Prim, args: Vec<Atom>) -> Var {
    b.emit1(prim, args, Span::DUMMY)
        .expect("zoo equations are well typed")
}

pub fn lit(s: Scalar) -> Atom {
    Atom::Lit(s)
}

fn a(v: &Var) -> Atom {
    Atom::from(v)
}

fn constant(shape: &[usize], data: Data) -> Prim {
    Prim::Constant {
        value: Array::new(shape.to_vec(), data).expect("zoo constants match their shapes"),
    }
}

/// A function using every primitive (every operator of the op enums too), constants of
/// every dtype with edge values, literals, multi-output and zero-output equations,
/// zero-size shapes, scalars and nested control flow.
pub fn zoo() -> Func {
    let mut b = Builder::new();
    let t23 = Type::new(DType::F64, [2, 3]);
    let x = b.param(t23.clone());
    let y = b.param(t23.clone());
    let m = b.param(Type::new(DType::Bool, [2, 3]));
    let k = b.param(Type::new(DType::U32, [4]));
    let idx = b.param(Type::new(DType::I32, [2]));
    let s = b.param(Type::scalar(DType::F32));
    let z = b.param(Type::new(DType::F64, [0, 3]));
    let mut res: Vec<Atom> = Vec::new();

    for op in UnaryOp::ALL {
        let arg = if op == UnaryOp::Not { &m } else { &x };
        res.push(a(&emit1(&mut b, Prim::Unary(op), vec![a(arg)])));
    }
    for op in BinaryOp::ALL {
        let arg = match op {
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => [&m, &m],
            BinaryOp::ShiftLeft | BinaryOp::ShiftRightLogical => [&k, &k],
            _ => [&x, &y],
        };
        res.push(a(&emit1(
            &mut b,
            Prim::Binary(op),
            vec![a(arg[0]), a(arg[1])],
        )));
    }
    for op in CmpOp::ALL {
        res.push(a(&emit1(&mut b, Prim::Compare(op), vec![a(&x), a(&y)])));
    }
    res.push(a(&emit1(&mut b, Prim::Select, vec![a(&m), a(&x), a(&y)])));
    res.push(a(&emit1(
        &mut b,
        Prim::IntPow { exponent: -2 },
        vec![a(&x)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Convert { dtype: DType::F32 },
        vec![a(&x)],
    )));
    res.push(a(&emit1(&mut b, Prim::StopGradient, vec![a(&x)])));

    let consts = [
        constant(
            &[2, 3],
            Data::F64(vec![
                0.1,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1e300,
            ]),
        ),
        constant(
            &[4],
            Data::F32(vec![0.1, f32::MAX, f32::MIN_POSITIVE / 4.0, -1.5]),
        ),
        constant(&[2], Data::I32(vec![i32::MIN, i32::MAX])),
        constant(&[3], Data::I64(vec![i64::MIN, 0, i64::MAX])),
        constant(&[2], Data::U32(vec![0, u32::MAX])),
        constant(&[2, 1], Data::Bool(vec![true, false])),
        constant(&[0, 3], Data::F64(vec![])),
        constant(&[], Data::F64(vec![2.5])),
    ];
    for c in consts {
        res.push(a(&emit1(&mut b, c, vec![])));
    }
    res.push(a(&emit1(
        &mut b,
        Prim::Iota {
            dtype: DType::I32,
            shape: vec![2, 3],
            axis: 1,
        },
        vec![],
    )));

    let r3 = emit1(
        &mut b,
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            compensated: false,
        },
        vec![a(&x)],
    );
    res.push(a(&emit1(
        &mut b,
        Prim::BroadcastInDim {
            shape: vec![2, 3],
            dims: vec![1],
        },
        vec![a(&r3)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Reshape { shape: vec![3, 2] },
        vec![a(&x)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Reshape { shape: vec![6] },
        vec![a(&x)],
    )));
    let xt = emit1(&mut b, Prim::Transpose { perm: vec![1, 0] }, vec![a(&x)]);
    res.push(a(&emit1(
        &mut b,
        Prim::Slice {
            start: vec![0, 1],
            limit: vec![2, 3],
            stride: vec![1, 2],
        },
        vec![a(&x)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Pad {
            lo: vec![1, -1],
            hi: vec![0, 2],
        },
        vec![a(&x), lit(Scalar::F64(0.0))],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Concat { axis: 0 },
        vec![a(&x), a(&y), a(&x)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Rev { axes: vec![0, 1] },
        vec![a(&x)],
    )));
    for op in ReduceOp::ALL {
        let (arg, axes) = match op {
            ReduceOp::And | ReduceOp::Or => (&m, vec![0, 1]),
            _ => (&x, vec![1]),
        };
        let compensated = false;
        res.push(a(&emit1(
            &mut b,
            Prim::Reduce {
                op,
                axes,
                compensated,
            },
            vec![a(arg)],
        )));
    }
    res.push(a(&emit1(
        &mut b,
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1, 0],
            compensated: true,
        },
        vec![a(&x)],
    )));
    for (op, axis, index_dtype) in [
        (ArgOp::ArgMax, 1, DType::I32),
        (ArgOp::ArgMin, 0, DType::I64),
    ] {
        res.push(a(&emit1(
            &mut b,
            Prim::ArgReduce {
                op,
                axis,
                index_dtype,
            },
            vec![a(&x)],
        )));
    }
    for (op, axis, reverse) in [(CumOp::Sum, 1, false), (CumOp::Prod, 0, true)] {
        res.push(a(&emit1(
            &mut b,
            Prim::Cumulative { op, axis, reverse },
            vec![a(&x)],
        )));
    }
    res.push(a(&emit1(
        &mut b,
        Prim::DotGeneral {
            lhs_contract: vec![1],
            rhs_contract: vec![0],
            lhs_batch: vec![],
            rhs_batch: vec![],
            compensated: false,
        },
        vec![a(&x), a(&xt)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::DotGeneral {
            lhs_contract: vec![1],
            rhs_contract: vec![1],
            lhs_batch: vec![0],
            rhs_batch: vec![0],
            compensated: true,
        },
        vec![a(&x), a(&y)],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Take { axis: 0 },
        vec![a(&x), a(&idx)],
    )));
    for mode in [ScatterMode::Set, ScatterMode::Add] {
        res.push(a(&emit1(
            &mut b,
            Prim::Scatter { axis: 0, mode },
            vec![a(&x), a(&idx), a(&y)],
        )));
    }
    let ds = emit1(
        &mut b,
        Prim::DynamicSlice { sizes: vec![1, 2] },
        vec![a(&x), lit(Scalar::I32(0)), lit(Scalar::I64(1))],
    );
    res.push(a(&emit1(
        &mut b,
        Prim::DynamicUpdateSlice,
        vec![a(&x), a(&ds), lit(Scalar::U32(1)), lit(Scalar::I32(-7))],
    )));
    let bits = emit(&mut b, Prim::Threefry2x32, vec![a(&k), a(&k), a(&k), a(&k)]);
    res.extend(bits.iter().map(a));
    res.push(a(&emit1(
        &mut b,
        Prim::BitsToUnit { dtype: DType::F32 },
        vec![a(&bits[0])],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::BitsToUnit { dtype: DType::F64 },
        vec![a(&bits[0]), a(&bits[1])],
    )));
    res.push(a(&emit1(
        &mut b,
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            compensated: false,
        },
        vec![a(&z)],
    )));

    // cond with two results
    let pred = emit1(
        &mut b,
        Prim::Reduce {
            op: ReduceOp::And,
            axes: vec![0, 1],
            compensated: false,
        },
        vec![a(&m)],
    );
    let ps = b.begin_body(&[t23.clone(), Type::scalar(DType::F32)]);
    let d = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Mul),
        vec![a(&ps[0]), a(&ps[0])],
    );
    let e = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Mul),
        vec![a(&ps[1]), lit(Scalar::F32(2.0))],
    );
    let then_body = b.end_body(vec![a(&d), a(&e)]);
    let ps = b.begin_body(&[t23.clone(), Type::scalar(DType::F32)]);
    let else_body = b.end_body(vec![a(&ps[0]), a(&ps[1])]);
    res.extend(
        emit(
            &mut b,
            Prim::Cond {
                then_body,
                else_body,
            },
            vec![a(&pred), a(&x), a(&s)],
        )
        .iter()
        .map(a),
    );

    // cond with no operands and no results
    b.begin_body(&[]);
    let then_body = b.end_body(vec![]);
    b.begin_body(&[]);
    let else_body = b.end_body(vec![]);
    let none = emit(
        &mut b,
        Prim::Cond {
            then_body,
            else_body,
        },
        vec![lit(Scalar::Bool(true))],
    );
    assert!(none.is_empty());

    // while: a counter up to a constant, with a body constant
    let i32s = Type::scalar(DType::I32);
    let ps = b.begin_body(&[i32s.clone(), i32s.clone(), t23.clone()]);
    let p = emit1(&mut b, Prim::Compare(CmpOp::Lt), vec![a(&ps[1]), a(&ps[0])]);
    let cond_body = b.end_body(vec![a(&p)]);
    let ps = b.begin_body(&[i32s.clone(), i32s.clone(), t23.clone()]);
    let i2 = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Add),
        vec![a(&ps[1]), a(&ps[0])],
    );
    let x2 = emit1(&mut b, Prim::Unary(UnaryOp::Sin), vec![a(&ps[2])]);
    let body = b.end_body(vec![a(&i2), a(&x2)]);
    res.extend(
        emit(
            &mut b,
            Prim::While {
                cond_body,
                body,
                cond_nconsts: 1,
                body_nconsts: 1,
            },
            vec![
                lit(Scalar::I32(10)),
                lit(Scalar::I32(1)),
                lit(Scalar::I32(0)),
                a(&x),
            ],
        )
        .iter()
        .map(a),
    );

    // scan with a const, a carry, an xs, a ys, and a cond nested in its body
    let t3 = Type::new(DType::F64, [3]);
    let ps = b.begin_body(&[Type::scalar(DType::F64), t3.clone(), t3.clone()]);
    let cb = emit1(
        &mut b,
        Prim::BroadcastInDim {
            shape: vec![3],
            dims: vec![],
        },
        vec![a(&ps[0])],
    );
    let n = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Add),
        vec![a(&ps[1]), a(&ps[2])],
    );
    let yv = emit1(&mut b, Prim::Binary(BinaryOp::Mul), vec![a(&ps[2]), a(&cb)]);
    let q = b.begin_body(std::slice::from_ref(&t3));
    let then_body = b.end_body(vec![a(&q[0])]);
    let q = b.begin_body(std::slice::from_ref(&t3));
    let r = emit1(&mut b, Prim::Unary(UnaryOp::Neg), vec![a(&q[0])]);
    let else_body = b.end_body(vec![a(&r)]);
    let n2 = emit1(
        &mut b,
        Prim::Cond {
            then_body,
            else_body,
        },
        vec![lit(Scalar::Bool(false)), a(&n)],
    );
    let body = b.end_body(vec![a(&n2), a(&yv)]);
    res.extend(
        emit(
            &mut b,
            Prim::Scan {
                body,
                nconsts: 1,
                ncarry: 1,
                length: 2,
                reverse: true,
            },
            vec![lit(Scalar::F64(2.0)), a(&r3), a(&x)],
        )
        .iter()
        .map(a),
    );

    // scan over a zero-length axis
    let ps = b.begin_body(&[Type::scalar(DType::F64), t3.clone()]);
    let sum = emit1(
        &mut b,
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            compensated: false,
        },
        vec![a(&ps[1])],
    );
    let c2 = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Add),
        vec![a(&ps[0]), a(&sum)],
    );
    let body = b.end_body(vec![a(&c2), a(&sum)]);
    res.extend(
        emit(
            &mut b,
            Prim::Scan {
                body,
                nconsts: 0,
                ncarry: 1,
                length: 0,
                reverse: false,
            },
            vec![lit(Scalar::F64(0.0)), a(&z)],
        )
        .iter()
        .map(a),
    );

    res.extend([
        lit(Scalar::F64(f64::NAN)),
        lit(Scalar::F32(f32::NEG_INFINITY)),
        lit(Scalar::F64(-0.0)),
        lit(Scalar::I64(3)),
        lit(Scalar::Bool(true)),
    ]);
    b.finish("zoo", res)
}

/// Index of a primitive's variant; exhaustive so a new primitive breaks the coverage
/// test until the zoo uses it.
pub fn variant(p: &Prim) -> usize {
    match p {
        Prim::Unary(_) => 0,
        Prim::Binary(_) => 1,
        Prim::Compare(_) => 2,
        Prim::Select => 3,
        Prim::IntPow { .. } => 4,
        Prim::Convert { .. } => 5,
        Prim::StopGradient => 6,
        Prim::Constant { .. } => 7,
        Prim::Iota { .. } => 8,
        Prim::BroadcastInDim { .. } => 9,
        Prim::Reshape { .. } => 10,
        Prim::Transpose { .. } => 11,
        Prim::Slice { .. } => 12,
        Prim::Pad { .. } => 13,
        Prim::Concat { .. } => 14,
        Prim::Rev { .. } => 15,
        Prim::Reduce { .. } => 16,
        Prim::ArgReduce { .. } => 17,
        Prim::Cumulative { .. } => 18,
        Prim::DotGeneral { .. } => 19,
        Prim::Take { .. } => 20,
        Prim::Scatter { .. } => 21,
        Prim::DynamicSlice { .. } => 22,
        Prim::DynamicUpdateSlice => 23,
        Prim::Threefry2x32 => 24,
        Prim::BitsToUnit { .. } => 25,
        Prim::Cond { .. } => 26,
        Prim::While { .. } => 27,
        Prim::Scan { .. } => 28,
    }
}

pub const VARIANTS: usize = 29;

/// Every primitive of a body, nested bodies included.
pub fn prims(b: &Body) -> Vec<&Prim> {
    let mut out = Vec::new();
    for e in &b.eqns {
        out.push(&e.prim);
        for inner in e.prim.bodies() {
            out.extend(prims(inner));
        }
    }
    out
}
