//! Compiled element operations against the interpreter, bit for bit: every node kind
//! for every dtype the IR allows, on special values, through scalar and vector loops,
//! over contiguous, broadcast, reversed, transposed, scalar and empty iteration spaces.

mod codegen_support;

use codegen_support::*;
use nabla_cpu::codegen::{compile, compile_with, Math, Options};
use nabla_cpu::exec;
use nabla_cpu::kernel::{Kernel, Node, Output};
use nabla_cpu::math::{max_ulp, MathOp, Precision};
use nabla_ir::{Array, BinaryOp, CmpOp, DType, Data, Prim, Scalar, UnaryOp};

const NUMERIC: [DType; 5] = [DType::I32, DType::I64, DType::U32, DType::F32, DType::F64];

/// One operation applied to loads of two inputs laid out as `layout`.
fn op_kernel(shape: &[usize], a: &Layout, b: &Layout, d: DType, op: Node, out: DType) -> Kernel {
    kernel(
        shape,
        vec![a.input(d), b.input(d)],
        vec![(Node::Load(0), d), (Node::Load(1), d), (op, out)],
        vec![Output::Store { node: 2 }],
    )
}

fn inputs_for(d: DType, a: &Layout, b: &Layout) -> Vec<Array> {
    vec![data(d, a.len, 2), data(d, b.len, 7)]
}

/// Checks `op` (reading nodes 0 and 1) on every layout.
fn check_all_layouts(name: &str, d: DType, op: Node, out: DType) {
    for (lname, shape, a, b) in layouts() {
        let k = op_kernel(&shape, &a, &b, d, op.clone(), out);
        check(
            &format!("{name} on {d} ({lname})"),
            &k,
            &inputs_for(d, &a, &b),
        );
    }
}

#[test]
fn unary_ops_match_the_interpreter() {
    let mut checked = 0;
    for op in UnaryOp::ALL {
        for d in DType::ALL {
            let Some(out) = result_dtype(&Prim::Unary(op), &[d]) else {
                continue;
            };
            check_all_layouts(op.name(), d, Node::Unary(op, 0), out);
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn binary_ops_match_the_interpreter() {
    let mut checked = 0;
    for op in BinaryOp::ALL {
        for d in DType::ALL {
            let Some(out) = result_dtype(&Prim::Binary(op), &[d, d]) else {
                continue;
            };
            check_all_layouts(op.name(), d, Node::Binary(op, 0, 1), out);
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[test]
fn comparisons_match_the_interpreter() {
    for op in CmpOp::ALL {
        for d in DType::ALL {
            check_all_layouts(op.name(), d, Node::Compare(op, 0, 1), DType::Bool);
        }
    }
}

#[test]
fn select_matches_the_interpreter() {
    for d in DType::ALL {
        for (lname, shape, a, b) in layouts() {
            // pred = x < y (or x != y for bools), select(pred, y, x)
            let cmp = if d == DType::Bool {
                CmpOp::Ne
            } else {
                CmpOp::Lt
            };
            let k = kernel(
                &shape,
                vec![a.input(d), b.input(d)],
                vec![
                    (Node::Load(0), d),
                    (Node::Load(1), d),
                    (Node::Compare(cmp, 0, 1), DType::Bool),
                    (Node::Select(2, 1, 0), d),
                ],
                vec![Output::Store { node: 3 }],
            );
            check(
                &format!("select on {d} ({lname})"),
                &k,
                &inputs_for(d, &a, &b),
            );
        }
    }
}

#[test]
fn select_with_a_bool_input_predicate() {
    for d in NUMERIC {
        let (shape, a) = (vec![37], Layout::contiguous(&[37]));
        let k = kernel(
            &shape,
            vec![a.input(DType::Bool), a.input(d), a.input(d)],
            vec![
                (Node::Load(0), DType::Bool),
                (Node::Load(1), d),
                (Node::Load(2), d),
                (Node::Select(0, 1, 2), d),
            ],
            vec![Output::Store { node: 3 }],
        );
        let inputs = vec![data(DType::Bool, 37, 1), data(d, 37, 2), data(d, 37, 3)];
        check(&format!("select by a bool input on {d}"), &k, &inputs);
    }
}

#[test]
fn integer_pow_matches_the_interpreter() {
    for d in NUMERIC {
        for e in [0i64, 1, 2, 3, 5, 8, 13, -1, -2, -3, 31, 64, i64::MIN] {
            let (shape, a) = (vec![37], Layout::contiguous(&[37]));
            let k = op_kernel(&shape, &a, &a, d, Node::IntPow(e, 0), d);
            check(&format!("x ** {e} on {d}"), &k, &inputs_for(d, &a, &a));
        }
    }
}

#[test]
fn conversions_match_the_interpreter() {
    for from in DType::ALL {
        for to in DType::ALL {
            check_all_layouts(&format!("convert to {to}"), from, Node::Convert(to, 0), to);
        }
    }
}

#[test]
fn float_to_integer_conversions_saturate_and_map_nan_to_zero() {
    let xs = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        -0.9,
        4294967295.5,
        4294967296.0,
        -2147483648.9,
        2147483647.9,
        9.3e18,
        -9.3e18,
        1e300,
    ];
    for to in [DType::I32, DType::I64, DType::U32, DType::Bool] {
        for from in [DType::F32, DType::F64] {
            let a = Layout::contiguous(&[xs.len()]);
            let k = op_kernel(&[xs.len()], &a, &a, from, Node::Convert(to, 0), to);
            let x = Array::from_f64(vec![xs.len()], xs.to_vec())
                .unwrap()
                .cast(from);
            check(&format!("{from} to {to}"), &k, &[x.clone(), x]);
        }
    }
}

/// Integer to float conversions round like the scalar instructions for every i64,
/// including values that need rounding, the extremes and the halfway cases of the
/// vector conversion's split into 32-bit halves.
#[test]
fn int_to_float_conversion_rounds_like_scalar_code() {
    let mut xs: Vec<i64> = vec![
        0,
        1,
        -1,
        i64::MIN,
        i64::MAX,
        i64::MIN + 1,
        (1 << 53) + 1,
        -(1 << 53) - 1,
        (1 << 54) + 2,
        (1 << 54) + 6,
        (1 << 62) + (1 << 9) + 1,
        0xFFFF_FFFF,
        0x1_0000_0000,
        -0x1_0000_0000,
        0x7FFF_FFFF_FFFF_FC00,
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..4000 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let shift = (state >> 58) as u32;
        xs.push((state as i64) >> shift);
    }
    for to in [DType::F64, DType::F32] {
        let a = Layout::contiguous(&[xs.len()]);
        let k = op_kernel(&[xs.len()], &a, &a, DType::I64, Node::Convert(to, 0), to);
        let x = Array::from_vec(vec![xs.len()], xs.clone()).unwrap();
        check(&format!("i64 to {to}"), &k, &[x.clone(), x]);
    }
}

#[test]
fn literals_and_indices() {
    for (lname, shape, a, _) in layouts() {
        let rank = shape.len();
        let mut nodes = vec![
            (Node::Load(0), DType::F64),
            (Node::Lit(Scalar::F64(0.25)), DType::F64),
        ];
        let mut last = 1;
        for axis in 0..rank {
            nodes.push((Node::Index(axis), DType::I64));
            nodes.push((Node::Convert(DType::F64, nodes.len() - 1), DType::F64));
            nodes.push((Node::Binary(BinaryOp::Mul, nodes.len() - 1, 1), DType::F64));
            nodes.push((
                Node::Binary(BinaryOp::Add, nodes.len() - 1, last),
                DType::F64,
            ));
            last = nodes.len() - 1;
        }
        nodes.push((Node::Binary(BinaryOp::Sub, 0, last), DType::F64));
        let n = nodes.len() - 1;
        let mut outputs = vec![Output::Store { node: n }];
        if rank > 0 {
            // The iota itself, as i64 and as a bool.
            nodes.push((Node::Index(rank - 1), DType::I64));
            nodes.push((Node::Lit(Scalar::I64(3)), DType::I64));
            nodes.push((Node::Compare(CmpOp::Gt, n + 1, n + 2), DType::Bool));
            outputs.push(Output::Store { node: n + 1 });
            outputs.push(Output::Store { node: n + 3 });
        }
        let k = kernel(&shape, vec![a.input(DType::F64)], nodes, outputs);
        check(
            &format!("literals and iota ({lname})"),
            &k,
            &[data(DType::F64, a.len, 4)],
        );
    }
}

#[test]
fn literals_of_every_dtype() {
    let lits = [
        Scalar::Bool(true),
        Scalar::I32(-5),
        Scalar::I64(1 << 40),
        Scalar::U32(u32::MAX),
        Scalar::F32(-0.0),
        Scalar::F64(f64::NAN),
    ];
    for s in lits {
        let d = s.dtype();
        let a = Layout::contiguous(&[9]);
        let k = kernel(
            &[9],
            vec![a.input(d)],
            vec![(Node::Load(0), d), (Node::Lit(s), d)],
            vec![Output::Store { node: 1 }, Output::Store { node: 0 }],
        );
        check(&format!("literal {s}"), &k, &[data(d, 9, 1)]);
    }
}

fn random_kernel(shape: &[usize], which: usize, to: DType) -> (Kernel, Vec<Array>) {
    let a = Layout::contiguous(shape);
    let n: usize = shape.iter().product();
    let u = DType::U32;
    let mut nodes = vec![
        (Node::Load(0), u),
        (Node::Load(1), u),
        (Node::Load(2), u),
        (Node::Load(3), u),
        (
            Node::Threefry {
                which,
                args: [0, 1, 2, 3],
            },
            u,
        ),
        (
            Node::Threefry {
                which: 1 - which,
                args: [0, 1, 2, 3],
            },
            u,
        ),
    ];
    let bits = match to {
        DType::F32 => vec![4],
        _ => vec![4, 5],
    };
    nodes.push((Node::BitsToUnit(to, bits), to));
    let k = kernel(
        shape,
        vec![a.input(u), a.input(u), a.input(u), a.input(u)],
        nodes,
        vec![Output::Store { node: 4 }, Output::Store { node: 6 }],
    );
    let inputs = (0..4).map(|s| data(u, n, 10 + s)).collect();
    (k, inputs)
}

#[test]
fn threefry_and_bits_to_unit_match_the_interpreter() {
    for shape in [vec![37], vec![3], vec![4, 5], vec![]] {
        for which in [0, 1] {
            for to in [DType::F32, DType::F64] {
                let (k, inputs) = random_kernel(&shape, which, to);
                check(
                    &format!("threefry {which} to {to} over {shape:?}"),
                    &k,
                    &inputs,
                );
            }
        }
    }
}

#[test]
fn threefry_known_answer() {
    // Random123's known-answer vector for threefry2x32_20 with key and counter all
    // ones bits: (0x1cb996fc, 0xbb002be7).
    let a = Layout::contiguous(&[1]);
    let u = DType::U32;
    let k = kernel(
        &[1],
        vec![a.input(u), a.input(u), a.input(u), a.input(u)],
        vec![
            (Node::Load(0), u),
            (Node::Load(1), u),
            (Node::Load(2), u),
            (Node::Load(3), u),
            (
                Node::Threefry {
                    which: 0,
                    args: [0, 1, 2, 3],
                },
                u,
            ),
            (
                Node::Threefry {
                    which: 1,
                    args: [0, 1, 2, 3],
                },
                u,
            ),
        ],
        vec![Output::Store { node: 4 }, Output::Store { node: 5 }],
    );
    let ones = Array::from_vec(vec![1], vec![u32::MAX]).unwrap();
    let inputs = [ones.clone(), ones.clone(), ones.clone(), ones];
    let compiled = compile(&k).unwrap();
    let refs: Vec<&Array> = inputs.iter().collect();
    let got = exec::run(&k, &compiled, &refs, 1).unwrap();
    assert_eq!(got[0].as_slice::<u32>(), Some(&[0x1cb9_96fc][..]));
    assert_eq!(got[1].as_slice::<u32>(), Some(&[0xbb00_2be7][..]));
}

#[test]
fn vector_loops_are_used_where_expected() {
    let cases = [
        (DType::F64, 2),
        (DType::I64, 2),
        (DType::F32, 4),
        (DType::I32, 4),
        (DType::U32, 4),
        (DType::Bool, 4),
    ];
    for (d, lanes) in cases {
        let a = Layout::contiguous(&[100]);
        let op = if d == DType::Bool {
            Node::Binary(BinaryOp::Xor, 0, 1)
        } else {
            Node::Binary(BinaryOp::Max, 0, 1)
        };
        let k = op_kernel(&[100], &a, &a, d, op, d);
        let got = check_with(
            &format!("lanes of {d}"),
            &k,
            &inputs_for(d, &a, &a),
            &[Options::default()],
            &[1],
        );
        assert_eq!(got, vec![lanes], "{d}");
    }
    // Mixed widths run two lanes; a short inner loop runs scalar.
    let a = Layout::contiguous(&[3, 33]);
    let k = op_kernel(
        &[3, 33],
        &a,
        &a,
        DType::F32,
        Node::Convert(DType::F64, 0),
        DType::F64,
    );
    assert_eq!(compile(&k).unwrap().lanes(), 2);
    let a = Layout::contiguous(&[33, 1]);
    let k = op_kernel(
        &[33, 1],
        &a,
        &a,
        DType::F32,
        Node::Unary(UnaryOp::Neg, 0),
        DType::F32,
    );
    // The size-1 axis is dropped, leaving one long row.
    assert_eq!(compile(&k).unwrap().lanes(), 4);
    let b = Layout {
        strides: vec![1, 33],
        offset: 0,
        len: 99,
    };
    let k = op_kernel(
        &[33, 3],
        &b,
        &b,
        DType::F32,
        Node::Unary(UnaryOp::Neg, 0),
        DType::F32,
    );
    assert_eq!(compile(&k).unwrap().lanes(), 1);
}

#[test]
fn fused_expression_with_mixed_dtypes() {
    // y = select(isfinite(x), sqrt(|x|) * 2 + f64(i), 0) stored as f64 and f32, plus
    // the count of the row as i32, over a transposed input.
    let shape = [6, 11];
    let x = Layout {
        strides: vec![1, 6],
        offset: 0,
        len: 66,
    };
    let i = Layout {
        strides: vec![0, 1],
        offset: 0,
        len: 11,
    };
    let (f, l, b) = (DType::F64, DType::I32, DType::Bool);
    let nodes = vec![
        (Node::Load(0), f),
        (Node::Load(1), l),
        (Node::Unary(UnaryOp::Abs, 0), f),
        (Node::Unary(UnaryOp::Sqrt, 2), f),
        (Node::Lit(Scalar::F64(2.0)), f),
        (Node::Binary(BinaryOp::Mul, 3, 4), f),
        (Node::Convert(f, 1), f),
        (Node::Binary(BinaryOp::Add, 5, 6), f),
        (Node::Unary(UnaryOp::IsFinite, 0), b),
        (Node::Lit(Scalar::F64(0.0)), f),
        (Node::Select(8, 7, 9), f),
        (Node::Convert(DType::F32, 10), DType::F32),
        (Node::Index(0), DType::I64),
        (Node::Convert(l, 12), l),
        (Node::Binary(BinaryOp::Mul, 13, 1), l),
    ];
    let k = kernel(
        &shape,
        vec![x.input(f), i.input(l)],
        nodes,
        vec![
            Output::Store { node: 10 },
            Output::Store { node: 11 },
            Output::Store { node: 14 },
            Output::Store { node: 8 },
        ],
    );
    check("fused mixed dtypes", &k, &[data(f, 66, 2), data(l, 11, 3)]);
}

#[test]
fn narrow_values_in_two_lane_vectors() {
    // An f64 input makes the kernel run two lanes; f32, i32, u32 and bools then live
    // in the low half of 4-lane vectors and masks change width between them.
    let a = Layout::contiguous(&[41]);
    let (f, s, i, u, b) = (DType::F64, DType::F32, DType::I32, DType::U32, DType::Bool);
    let nodes = vec![
        (Node::Load(0), f),
        (Node::Load(1), s),
        (Node::Load(2), i),
        (Node::Convert(s, 0), s),
        (Node::Compare(CmpOp::Lt, 1, 3), b),
        (Node::Select(4, 1, 3), s),
        (Node::Convert(i, 4), i),
        (Node::Convert(s, 4), s),
        (Node::Convert(u, 4), u),
        (Node::Compare(CmpOp::Ge, 2, 6), b),
        (Node::Select(9, 2, 6), i),
        (Node::Convert(f, 5), f),
        (Node::Convert(DType::I64, 2), DType::I64),
        (Node::Convert(i, 12), i),
        (Node::Binary(BinaryOp::Xor, 4, 9), b),
        (Node::Select(14, 0, 11), f),
        (Node::Convert(u, 2), u),
        (Node::Convert(f, 16), f),
        (Node::Unary(UnaryOp::IsNan, 1), b),
    ];
    let outputs = [5, 6, 7, 8, 10, 13, 14, 15, 17, 18]
        .into_iter()
        .map(|node| Output::Store { node })
        .collect();
    let k = kernel(
        &[41],
        vec![a.input(f), a.input(s), a.input(i)],
        nodes,
        outputs,
    );
    let inputs = [data(f, 41, 2), data(s, 41, 4), data(i, 41, 6)];
    let lanes = check("narrow values in two lanes", &k, &inputs);
    assert_eq!(lanes, vec![2, 1]);
}

#[test]
fn transcendentals_inline_stay_within_their_error_bound() {
    let unary = [
        (UnaryOp::Exp, MathOp::Exp),
        (UnaryOp::Expm1, MathOp::Expm1),
        (UnaryOp::Log, MathOp::Log),
        (UnaryOp::Log1p, MathOp::Log1p),
        (UnaryOp::Sin, MathOp::Sin),
        (UnaryOp::Cos, MathOp::Cos),
        (UnaryOp::Tan, MathOp::Tan),
        (UnaryOp::Tanh, MathOp::Tanh),
        (UnaryOp::Asin, MathOp::Asin),
        (UnaryOp::Acos, MathOp::Acos),
        (UnaryOp::Atan, MathOp::Atan),
        (UnaryOp::Sinh, MathOp::Sinh),
        (UnaryOp::Cosh, MathOp::Cosh),
        (UnaryOp::Erf, MathOp::Erf),
        (UnaryOp::Erfinv, MathOp::Erfinv),
    ];
    let mut ops: Vec<(Node, MathOp)> = unary.iter().map(|&(u, m)| (Node::Unary(u, 0), m)).collect();
    ops.push((Node::Binary(BinaryOp::Pow, 0, 1), MathOp::Pow));
    ops.push((Node::Binary(BinaryOp::Atan2, 0, 1), MathOp::Atan2));
    for (node, m) in ops {
        for d in [DType::F32, DType::F64] {
            let n = 301;
            let a = Layout::contiguous(&[n]);
            let k = op_kernel(&[n], &a, &a, d, node.clone(), d);
            let mut inputs = inputs_for(d, &a, &a);
            if m == MathOp::Erfinv || m == MathOp::Asin || m == MathOp::Acos {
                // Mostly inside the domain.
                inputs[0] = inputs[0].cast(DType::F64);
                let v: Vec<f64> = inputs[0]
                    .to_f64_vec()
                    .iter()
                    .map(|x| (x / 7.0).sin())
                    .collect();
                inputs[0] = Array::from_f64(vec![n], v).unwrap().cast(d);
            }
            let want = interpret(&k, &inputs);
            let precision = if d == DType::F32 {
                Precision::F32
            } else {
                Precision::F64
            };
            // The bound is against the exact result; libm itself is within 1 ulp.
            let bound = max_ulp(m, precision).ceil() as u64 + 1;
            for simd in [true, false] {
                let opts = Options {
                    simd,
                    math: Math::Inline,
                };
                let compiled = compile_with(&k, &opts).unwrap();
                let refs: Vec<&Array> = inputs.iter().collect();
                let got = exec::run(&k, &compiled, &refs, 1).unwrap();
                let (g, w) = (got[0].to_f64_vec(), want[0].to_f64_vec());
                for (i, (&x, &y)) in g.iter().zip(&w).enumerate() {
                    let e = ulps(d, x, y);
                    assert!(
                        e <= bound,
                        "{m:?} on {d} (simd {simd}) at {:?}: {x:e} vs libm {y:e}: {e} ulps",
                        inputs[0].get_flat(i)
                    );
                }
            }
            // And libm mode is bitwise.
            check(&format!("{m:?} on {d} via libm"), &k, &inputs);
        }
    }
}

#[test]
fn malformed_kernels_are_rejected() {
    let a = Layout::contiguous(&[4]);
    let f = DType::F64;
    let good = op_kernel(&[4], &a, &a, f, Node::Binary(BinaryOp::Add, 0, 1), f);
    assert!(compile(&good).is_ok());
    let mut wrong_dtype = good.clone();
    wrong_dtype.dtypes[2] = DType::F32;
    let mut forward_ref = good.clone();
    forward_ref.nodes[2] = Node::Binary(BinaryOp::Add, 0, 2);
    let mut bool_add = good.clone();
    bool_add.inputs = vec![a.input(DType::Bool), a.input(DType::Bool)];
    bool_add.dtypes = vec![DType::Bool; 3];
    let mut bad_stride = good.clone();
    bad_stride.inputs[0].strides = vec![1, 1];
    let mut mixed = good.clone();
    mixed.outputs.push(Output::Reduce {
        node: 2,
        op: nabla_ir::ReduceOp::Sum,
        nreduce: 1,
    });
    let mut bool_sum = good.clone();
    bool_sum.nodes.push(Node::Compare(CmpOp::Lt, 0, 1));
    bool_sum.dtypes.push(DType::Bool);
    bool_sum.outputs = vec![Output::Reduce {
        node: 3,
        op: nabla_ir::ReduceOp::Sum,
        nreduce: 1,
    }];
    for (name, k) in [
        ("wrong dtype", wrong_dtype),
        ("forward reference", forward_ref),
        ("bool add", bool_add),
        ("bad stride", bad_stride),
        ("mixed outputs", mixed),
        ("bool sum", bool_sum),
    ] {
        assert!(compile(&k).is_err(), "{name} was accepted");
    }
}

#[test]
fn runs_reject_buffers_that_do_not_fit() {
    let f = DType::F64;
    let a = Layout::contiguous(&[8]);
    let k = op_kernel(&[8], &a, &a, f, Node::Binary(BinaryOp::Add, 0, 1), f);
    let compiled = compile(&k).unwrap();
    let x = data(f, 8, 1);
    let short = data(f, 7, 1);
    assert!(exec::run(&k, &compiled, &[&x, &short], 1).is_err());
    assert!(exec::run(&k, &compiled, &[&x], 1).is_err());
    let ints = data(DType::I64, 8, 1);
    assert!(exec::run(&k, &compiled, &[&x, &ints], 1).is_err());
    // A kernel whose strides reach past its declared buffer is refused at run time,
    // before any generated code runs.
    let mut far = k.clone();
    far.inputs[1].strides = vec![2];
    let compiled = compile(&far).unwrap();
    assert!(exec::run(&far, &compiled, &[&x, &x], 1).is_err());
    // A compiled kernel only runs as the kernel it was compiled from.
    assert!(exec::run(&k, &compiled, &[&x, &x], 1).is_err());
    let mut negative = k.clone();
    negative.inputs[1].strides = vec![-1];
    let compiled = compile(&negative).unwrap();
    assert!(exec::run(&negative, &compiled, &[&x, &x], 1).is_err());
}

#[test]
fn big_store_kernels_are_identical_for_any_thread_count() {
    let shape = [301, 1003];
    let a = Layout::contiguous(&shape);
    let b = Layout {
        strides: vec![1, 0],
        offset: 0,
        len: 301,
    };
    let f = DType::F64;
    let k = kernel(
        &shape,
        vec![a.input(f), b.input(f)],
        vec![
            (Node::Load(0), f),
            (Node::Load(1), f),
            (Node::Binary(BinaryOp::Mul, 0, 1), f),
            (Node::Unary(UnaryOp::Sin, 2), f),
            (Node::Binary(BinaryOp::Sub, 3, 0), f),
        ],
        vec![Output::Store { node: 4 }],
    );
    let inputs = vec![data(f, 301 * 1003, 3), data(f, 301, 5)];
    check_with("big store", &k, &inputs, &[EXACT[0]], &[1, 2, 3, 4, 8]);
    // Inline math too: identical across thread counts (not compared with libm here).
    let compiled = compile(&k).unwrap();
    let refs: Vec<&Array> = inputs.iter().collect();
    let one = exec::run(&k, &compiled, &refs, 1).unwrap();
    for t in [2, 3, 4, 8] {
        let many = exec::run(&k, &compiled, &refs, t).unwrap();
        assert!(same_bits(&one[0], &many[0]), "{t} threads");
    }
}

#[test]
fn bool_outputs_hold_only_zero_or_one() {
    // Comparisons through vector masks must still store proper bools: equality with a
    // fresh `Vec<bool>` of the expected values checks the bytes.
    let a = Layout::contiguous(&[101]);
    for d in [DType::F32, DType::F64, DType::I32, DType::I64] {
        let k = op_kernel(
            &[101],
            &a,
            &a,
            d,
            Node::Compare(CmpOp::Le, 0, 1),
            DType::Bool,
        );
        let inputs = inputs_for(d, &a, &a);
        let compiled = compile(&k).unwrap();
        let refs: Vec<&Array> = inputs.iter().collect();
        let got = exec::run(&k, &compiled, &refs, 1).unwrap();
        let Data::Bool(v) = got[0].data() else {
            panic!("not bools")
        };
        let xs = inputs[0].to_f64_vec();
        let ys = inputs[1].to_f64_vec();
        if d.is_float() {
            let want: Vec<bool> = xs.iter().zip(&ys).map(|(x, y)| x <= y).collect();
            assert_eq!(v, &want);
        }
        assert!(v.iter().all(|&b| u8::from(b) <= 1));
    }
}
