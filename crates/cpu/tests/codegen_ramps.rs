//! Iotas converted to floats against the interpreter, bit for bit. Vector loops carry
//! such a conversion of the inner index from step to step (a float vector moved on by
//! exact adds) instead of converting the index each step, so these kernels cover
//! where that must agree with converting: f64 and f32 (up to and past 2^24, where f32
//! stops holding every integer), i64 and u32 indices, stores and reductions, the iota
//! along the inner axis and along outer ones, rows too short to carry it, and work
//! split at every kind of boundary (mid-row, mid-vector, one item).

mod codegen_support;

use codegen_support::*;
use nabla_cpu::codegen::compile_with;
use nabla_cpu::exec;
use nabla_cpu::kernel::{Input, Kernel, Node, Output};
use nabla_ir::{Array, BinaryOp, DType, ReduceOp};

/// Work ranges tiling `0..items`, cut at `cuts` (those inside the range).
fn ranges(items: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut at: Vec<usize> = cuts.iter().copied().filter(|&c| c < items).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for c in at {
        out.push((from, c));
        from = c;
    }
    out.push((from, items));
    out
}

/// Cut points for `items` work items: single items, odd offsets (mid-vector for
/// every lane count), the middle and the end.
fn cut_sets(items: usize) -> Vec<Vec<usize>> {
    let mut sets = vec![
        vec![],
        vec![1],
        vec![1, 2, 3],
        vec![3, 10, 11],
        vec![items / 2, items / 2 + 1],
        vec![items.saturating_sub(1)],
        vec![items.saturating_sub(3), items.saturating_sub(2)],
    ];
    if items <= 5000 {
        sets.push((5..items).step_by(7).collect());
    } else {
        sets.push((1..9).map(|t| items * t / 9 + t).collect());
    }
    sets
}

/// The thread counts most kernels here run with.
const THREADS: [usize; 4] = [1, 2, 3, 8];

/// Compiles `kernel` with each of the exact options and checks it against the
/// interpreter on each of `threads` and split at each of `cuts`. Returns the lanes
/// each option compiled to.
fn check_split(
    what: &str,
    kernel: &Kernel,
    inputs: &[Array],
    cuts: &[Vec<usize>],
    threads: &[usize],
) -> Vec<usize> {
    // The interpreter runs once per kernel: on 2^24-long iotas it is most of the time.
    let want = interpret(kernel, inputs);
    let refs: Vec<&Array> = inputs.iter().collect();
    let mut lanes = Vec::new();
    for opt in &EXACT {
        let compiled = compile_with(kernel, opt)
            .unwrap_or_else(|e| panic!("{what}: compiling: {e}\n{kernel:?}"));
        lanes.push(compiled.lanes());
        let by_threads = threads.iter().map(|&t| {
            let got = exec::run(kernel, &compiled, &refs, t);
            (format!("{t} threads"), got)
        });
        let by_cuts = cuts.iter().map(|cut| {
            let split = ranges(compiled.work_items(), cut);
            let got = exec::run_ranges(kernel, &compiled, &refs, &split);
            (format!("split {split:?}"), got)
        });
        for (how, got) in by_threads.chain(by_cuts) {
            let got = got.unwrap_or_else(|e| panic!("{what}: running ({how}): {e}"));
            assert_eq!(got.len(), want.len(), "{what}");
            for (o, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same_bits(g, w),
                    "{what}: output {o} with {opt:?}, {how}: {}",
                    first_difference(g, w)
                );
            }
        }
    }
    lanes
}

/// An input read at every point of `shape` (row-major, contiguous).
fn dense(shape: &[usize], d: DType) -> Input {
    Layout::contiguous(shape).input(d)
}

/// A 0-d input broadcast over `rank` axes (the traced scalar of generated data).
fn scalar_input(rank: usize, d: DType) -> Input {
    Input {
        dtype: d,
        strides: vec![0; rank],
        offset: 0,
        len: 1,
    }
}

/// The node of an iota along an axis.
type IndexNode = fn(usize) -> Node;

/// The two iota nodes, by dtype.
const INDICES: [(DType, IndexNode); 2] = [(DType::I64, Node::Index), (DType::U32, Node::IndexU32)];

/// Per axis, `float(iota)` stored, and `Σ_axis float(iota_axis) * (axis + 2) + x`
/// stored, with iotas of `idx_dtype` made by `index`.
fn iota_store_kernel(shape: &[usize], to: DType, (idx_dtype, index): (DType, IndexNode)) -> Kernel {
    let mut nodes = vec![(Node::Load(0), to)];
    let mut outputs = Vec::new();
    let mut acc = 0;
    for axis in 0..shape.len() {
        nodes.push((index(axis), idx_dtype));
        nodes.push((Node::Convert(to, nodes.len() - 1), to));
        let conv = nodes.len() - 1;
        outputs.push(Output::Store { node: conv });
        nodes.push((
            Node::Lit(nabla_ir::Scalar::F64(axis as f64 + 2.0).cast(to)),
            to,
        ));
        nodes.push((Node::Binary(BinaryOp::Mul, conv, nodes.len() - 1), to));
        nodes.push((Node::Binary(BinaryOp::Add, acc, nodes.len() - 1), to));
        acc = nodes.len() - 1;
    }
    outputs.push(Output::Store { node: acc });
    kernel(shape, vec![dense(shape, to)], nodes, outputs)
}

const STORE_SHAPES: [&[usize]; 12] = [
    &[1],
    &[2],
    &[7],
    &[8],
    &[9],
    &[31],
    &[64],
    &[1001],
    &[4099],
    &[5, 37],
    &[3, 1000],
    &[4, 3, 19],
];

#[test]
fn converted_iota_stores_match_the_interpreter() {
    for shape in STORE_SHAPES {
        for to in [DType::F64, DType::F32] {
            for index in INDICES {
                let k = iota_store_kernel(shape, to, index);
                let n: usize = shape.iter().product();
                let x = data(to, n, 3);
                let what = format!("{to} of a {} iota over {shape:?}", index.0);
                let lanes = check_split(&what, &k, &[x], &cut_sets(n), &THREADS);
                let inner = shape[shape.len() - 1];
                // A u32 iota converted to f32 leaves no 64-bit value: 4 lanes.
                let w = if to == DType::F32 && index.0 == DType::U32 {
                    4
                } else {
                    2
                };
                if inner >= w {
                    assert_eq!(lanes[0], w, "{what}");
                }
            }
        }
    }
}

/// `reduce(op, (float(iota_inner) + x) ** 2)` over the trailing `nreduce` axes, with
/// `x` a broadcast scalar (the W1 kernel), plus the same of the outer iota where the
/// space has one.
fn iota_reduce_kernel(shape: &[usize], to: DType, op: ReduceOp, nreduce: usize) -> Kernel {
    let rank = shape.len();
    let mut nodes = vec![
        (Node::Load(0), to),
        (Node::Index(rank - 1), DType::I64),
        (Node::Convert(to, 1), to),
        (Node::Binary(BinaryOp::Add, 2, 0), to),
        (Node::IntPow(2, 3), to),
    ];
    let mut outputs = vec![Output::Reduce {
        node: 4,
        op,
        nreduce,
    }];
    if rank > 1 {
        nodes.push((Node::Index(0), DType::I64));
        nodes.push((Node::Convert(to, 5), to));
        nodes.push((Node::Binary(BinaryOp::Sub, 4, 6), to));
        outputs.push(Output::Reduce {
            node: 7,
            op,
            nreduce,
        });
    }
    kernel(shape, vec![scalar_input(rank, to)], nodes, outputs)
}

#[test]
fn converted_iota_reductions_match_the_interpreter() {
    let cases: [(&[usize], usize); 12] = [
        (&[8], 1),
        (&[9], 1),
        (&[100], 1),
        (&[4096], 1),
        (&[4097], 1),
        (&[3 * 4096 + 5], 1),
        (&[100_000], 1),
        (&[3, 5000], 1),
        (&[6, 16], 2),
        (&[6, 13], 2),
        (&[2, 6, 16], 2),
        (&[5, 3, 40], 1),
    ];
    for (shape, nreduce) in cases {
        for to in [DType::F64, DType::F32] {
            for op in [ReduceOp::Sum, ReduceOp::Max] {
                let k = iota_reduce_kernel(shape, to, op, nreduce);
                let x = Array::from_f64(vec![1], vec![0.375]).unwrap().cast(to);
                let what = format!(
                    "{} of {to} iotas over {shape:?} ({nreduce} reduced)",
                    op.name()
                );
                let compiled = compile_with(&k, &EXACT[0]).unwrap();
                let items = compiled.work_items();
                let lanes = check_split(&what, &k, &[x], &cut_sets(items), &THREADS);
                let inner = shape[shape.len() - 1];
                if nreduce == 1 || inner % 8 == 0 {
                    assert_eq!(lanes[0], 2, "{what}");
                }
            }
        }
    }
}

/// f32 holds every integer up to 2^24 and only even ones above it: iotas up to 2^24
/// long are carried, longer ones converted, and either way each lane must be the
/// index rounded once. Task boundaries at odd indices above 2^24 start vectors at
/// values f32 cannot hold.
#[test]
fn f32_iotas_around_2_pow_24() {
    let top = 1usize << 24;
    for n in [top, top + 40] {
        for (idt, index) in INDICES {
            let f = DType::F32;
            let k = kernel(
                &[n],
                vec![scalar_input(1, f)],
                vec![
                    (Node::Load(0), f),
                    (index(0), idt),
                    (Node::Convert(f, 1), f),
                    (Node::Binary(BinaryOp::Add, 2, 0), f),
                ],
                vec![Output::Store { node: 2 }, Output::Store { node: 3 }],
            );
            let x = Array::from_f64(vec![1], vec![0.5]).unwrap().cast(f);
            let cuts = vec![
                vec![top - 9, n - 37, n - 36, n - 5],
                vec![top - 1, top + 1, top + 3, top + 17],
            ];
            check_split(
                &format!("f32 of a {idt} iota of {n}"),
                &k,
                &[x],
                &cuts,
                &[1, 3],
            );
        }
        let k = iota_reduce_kernel(&[n], DType::F32, ReduceOp::Sum, 1);
        let x = Array::from_f64(vec![1], vec![0.0])
            .unwrap()
            .cast(DType::F32);
        check_split(
            &format!("f32 sum over an iota of {n}"),
            &k,
            &[x],
            &[],
            &[1, 3],
        );
    }
}

/// A kernel that draws random bits and has 64-bit values runs vector steps in pairs:
/// the f64 iota per 2-lane half, the f32 one (from a u32 iota) over 4 lanes at once.
fn random_iota_kernel(n: usize, reduce: bool) -> (Kernel, Vec<Array>) {
    let u = DType::U32;
    let (f, g) = (DType::F64, DType::F32);
    let nodes = vec![
        (Node::Load(0), u),
        (Node::Load(1), u),
        (Node::IndexU32(0), u),
        (Node::Lit(nabla_ir::Scalar::U32(0)), u),
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
        (Node::BitsToUnit(f, vec![4, 5]), f),
        (Node::Index(0), DType::I64),
        (Node::Convert(f, 7), f),
        (Node::Binary(BinaryOp::Add, 6, 8), f),
        (Node::BitsToUnit(g, vec![4]), g),
        (Node::Convert(g, 2), g),
        (Node::Binary(BinaryOp::Mul, 10, 11), g),
    ];
    let outputs = if reduce {
        vec![
            Output::Reduce {
                node: 9,
                op: ReduceOp::Sum,
                nreduce: 1,
            },
            Output::Reduce {
                node: 12,
                op: ReduceOp::Sum,
                nreduce: 1,
            },
        ]
    } else {
        vec![
            Output::Store { node: 9 },
            Output::Store { node: 12 },
            Output::Store { node: 11 },
        ]
    };
    let key = Input {
        dtype: u,
        strides: vec![0],
        offset: 0,
        len: 1,
    };
    let k = kernel(&[n], vec![key.clone(), key], nodes, outputs);
    let inputs = vec![
        Array::from_vec(vec![1], vec![0x1234_5678u32]).unwrap(),
        Array::from_vec(vec![1], vec![0x9abc_def0u32]).unwrap(),
    ];
    (k, inputs)
}

#[test]
fn converted_iotas_beside_random_bits() {
    for n in [3, 8, 13, 64, 1001, 4099] {
        for reduce in [false, true] {
            let (k, inputs) = random_iota_kernel(n, reduce);
            let items = compile_with(&k, &EXACT[0]).unwrap().work_items();
            let what = format!("iotas beside random bits over {n} (reduce {reduce})");
            let lanes = check_split(&what, &k, &inputs, &cut_sets(items), &THREADS);
            if n >= 8 {
                assert_eq!(lanes[0], 2, "{what}");
            }
        }
    }
}

/// A column sum (the reduced axis strided, results contiguous) runs vectors across
/// results, where the inner axis is the result axis.
#[test]
fn converted_iotas_in_sums_across_results() {
    let (r, kk) = (37, 40);
    let f = DType::F64;
    let transposed = Input {
        dtype: f,
        strides: vec![1, r as isize],
        offset: 0,
        len: r * kk,
    };
    let k = kernel(
        &[r, kk],
        vec![transposed],
        vec![
            (Node::Load(0), f),
            (Node::Index(0), DType::I64),
            (Node::Convert(f, 1), f),
            (Node::Index(1), DType::I64),
            (Node::Convert(f, 3), f),
            (Node::Binary(BinaryOp::Mul, 2, 4), f),
            (Node::Binary(BinaryOp::Add, 5, 0), f),
        ],
        vec![Output::Reduce {
            node: 6,
            op: ReduceOp::Sum,
            nreduce: 1,
        }],
    );
    let x = data(f, r * kk, 5);
    check_split("iotas in a column sum", &k, &[x], &cut_sets(r), &THREADS);
}
