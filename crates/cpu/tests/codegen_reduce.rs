//! Compiled reductions against the interpreter, bit for bit: every reduce op and dtype
//! over reduced spaces around the lane and block sizes, several results, several
//! outputs, non-contiguous reduced axes, and any number of threads.

mod codegen_support;

use codegen_support::*;
use nabla_cpu::codegen::{compile, Options};
use nabla_cpu::exec;
use nabla_cpu::kernel::{Kernel, Node, Output};
use nabla_ir::{Array, BinaryOp, DType, ReduceOp, UnaryOp};

const SIZES: [usize; 9] = [0, 1, 7, 8, 9, 4095, 4096, 4097, 100_000];

fn valid(op: ReduceOp, d: DType) -> bool {
    match op {
        ReduceOp::And | ReduceOp::Or => d == DType::Bool,
        ReduceOp::Sum | ReduceOp::Prod => d != DType::Bool,
        ReduceOp::Max | ReduceOp::Min => true,
    }
}

/// Reduces the input over the trailing `nreduce` axes of `shape`.
fn reduce_kernel(
    shape: &[usize],
    layout: &Layout,
    d: DType,
    op: ReduceOp,
    nreduce: usize,
) -> Kernel {
    kernel(
        shape,
        vec![layout.input(d)],
        vec![(Node::Load(0), d)],
        vec![Output::Reduce {
            node: 0,
            op,
            nreduce,
        }],
    )
}

/// Products of many random values underflow or overflow; values near 1 keep them
/// informative.
fn reduce_data(op: ReduceOp, d: DType, n: usize, seed: u64) -> Array {
    let x = data(d, n, seed);
    if op != ReduceOp::Prod || !d.is_float() {
        return x;
    }
    let v: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, &v)| if i < 30 { v } else { 1.0 + v.sin() * 1e-3 })
        .collect();
    Array::from_f64(vec![n], v).unwrap().cast(d)
}

#[test]
fn every_op_and_dtype_over_every_size() {
    for op in ReduceOp::ALL {
        for d in DType::ALL {
            if !valid(op, d) {
                continue;
            }
            for n in SIZES {
                let layout = Layout::contiguous(&[n]);
                let k = reduce_kernel(&[n], &layout, d, op, 1);
                // Odd seeds skip the special values: a NaN would hide every ordering
                // mistake in sums.
                for seed in [1, 2] {
                    let x = reduce_data(op, d, n, seed);
                    let lanes = check(&format!("{} of {n} {d} (seed {seed})", op.name()), &k, &[x]);
                    if n >= 8 {
                        assert!(lanes[0] > 1, "{} of {n} {d} did not vectorize", op.name());
                    }
                }
            }
        }
    }
}

#[test]
fn several_results_with_contiguous_and_strided_reduced_axes() {
    for d in [DType::F64, DType::F32, DType::I32, DType::I64] {
        for (rows, cols) in [(3, 5000), (5, 9), (17, 8), (2, 1), (4, 8193)] {
            // Row sums of a row-major matrix: contiguous reduced axis.
            let a = Layout::contiguous(&[rows, cols]);
            let k = reduce_kernel(&[rows, cols], &a, d, ReduceOp::Sum, 1);
            let x = data(d, rows * cols, 3);
            check(
                &format!("row sums {rows}x{cols} {d}"),
                &k,
                std::slice::from_ref(&x),
            );
            // Column sums: the reduced axis strides over rows.
            let t = Layout {
                strides: vec![1, rows as isize],
                offset: 0,
                len: rows * cols,
            };
            let k = reduce_kernel(&[rows, cols], &t, d, ReduceOp::Max, 1);
            check(&format!("column max {rows}x{cols} {d}"), &k, &[x]);
        }
    }
}

#[test]
fn reductions_over_several_axes() {
    let d = DType::F64;
    // (shape, strides, offset, len, nreduce)
    type Case = (Vec<usize>, Vec<isize>, isize, usize, usize);
    let cases: Vec<Case> = vec![
        // Mergeable: one long reduced row.
        (vec![3, 40, 30], vec![1200, 30, 1], 0, 3600, 2),
        // Not mergeable, inner length 7: lanes depend on the position.
        (vec![4, 6, 7], vec![42, 1, 6], 0, 168, 2),
        // Not mergeable, inner length 16: rows start at lane 0.
        (vec![3, 5, 16], vec![80, 1, 5], 0, 240, 2),
        // Not mergeable, several blocks per result.
        (vec![2, 100, 50], vec![5000, 1, 100], 0, 10_000, 2),
        (vec![2, 100, 48], vec![4800, 1, 100], 0, 9600, 2),
        // Reversed reduced axes.
        (vec![3, 1000], vec![1000, -1], 999, 3000, 1),
        // Broadcast along the reduced axis.
        (vec![3, 5000], vec![1, 0], 0, 3, 1),
        // Everything reduced, over three axes.
        (vec![7, 9, 11], vec![1, 7, 63], 0, 693, 3),
        // Nothing reduced: every result is one element folded from the identity.
        (vec![10], vec![1], 0, 10, 0),
        // An empty reduced space, and no results at all.
        (vec![3, 0], vec![0, 1], 0, 0, 1),
        (vec![0, 5], vec![5, 1], 0, 0, 1),
        // Size-1 axes everywhere.
        (vec![1, 3, 1, 9, 1], vec![27, 9, 9, 1, 1], 0, 27, 3),
    ];
    for (shape, strides, offset, len, nreduce) in cases {
        let layout = Layout {
            strides,
            offset,
            len,
        };
        for op in [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min] {
            let k = reduce_kernel(&shape, &layout, d, op, nreduce);
            let x = reduce_data(op, d, len, 5);
            check_with(
                &format!("{} over {shape:?} / {nreduce}", op.name()),
                &k,
                &[x],
                &EXACT,
                &[1, 3],
            );
        }
    }
}

#[test]
fn several_outputs_and_computed_values() {
    // sum(x * y), max(x), any(x > y), sum of the reduced index, over 2 x 5000.
    let (r, n) = (2, 5000);
    let a = Layout::contiguous(&[r, n]);
    let f = DType::F64;
    let nodes = vec![
        (Node::Load(0), f),
        (Node::Load(1), f),
        (Node::Binary(BinaryOp::Mul, 0, 1), f),
        (Node::Compare(nabla_ir::CmpOp::Gt, 0, 1), DType::Bool),
        (Node::Index(1), DType::I64),
        (Node::Unary(UnaryOp::Neg, 4), DType::I64),
    ];
    let outputs = vec![
        Output::Reduce {
            node: 2,
            op: ReduceOp::Sum,
            nreduce: 1,
        },
        Output::Reduce {
            node: 0,
            op: ReduceOp::Max,
            nreduce: 1,
        },
        Output::Reduce {
            node: 3,
            op: ReduceOp::Or,
            nreduce: 1,
        },
        Output::Reduce {
            node: 5,
            op: ReduceOp::Sum,
            nreduce: 1,
        },
        Output::Reduce {
            node: 3,
            op: ReduceOp::And,
            nreduce: 1,
        },
    ];
    let k = kernel(&[r, n], vec![a.input(f), a.input(f)], nodes, outputs);
    let inputs = vec![data(f, r * n, 1), data(f, r * n, 3)];
    let lanes = check_with("several outputs", &k, &inputs, &EXACT, &[1, 2, 4]);
    assert_eq!(lanes, vec![2, 1]);
}

#[test]
fn f32_bool_and_mixed_width_reductions_vectorize() {
    let n = 10_001;
    let a = Layout::contiguous(&[n]);
    for (d, want) in [
        (DType::F32, 4),
        (DType::U32, 4),
        (DType::I64, 2),
        (DType::Bool, 4),
    ] {
        let op = if d == DType::Bool {
            ReduceOp::Or
        } else {
            ReduceOp::Sum
        };
        let k = reduce_kernel(&[n], &a, d, op, 1);
        let lanes = check(&format!("{} of {d}", op.name()), &k, &[data(d, n, 1)]);
        assert_eq!(lanes, vec![want, 1], "{d}");
    }
    // f32 values summed as f64: two lanes.
    let k = kernel(
        &[n],
        vec![a.input(DType::F32)],
        vec![
            (Node::Load(0), DType::F32),
            (Node::Convert(DType::F64, 0), DType::F64),
        ],
        vec![Output::Reduce {
            node: 1,
            op: ReduceOp::Sum,
            nreduce: 1,
        }],
    );
    let lanes = check("f32 summed as f64", &k, &[data(DType::F32, n, 1)]);
    assert_eq!(lanes, vec![2, 1]);
}

#[test]
fn column_reductions_vectorize_across_results() {
    // Reducing a strided axis while the results are contiguous: vector loads over
    // neighbouring results, each result still in its canonical order.
    for (d, want) in [
        (DType::F64, 2),
        (DType::F32, 4),
        (DType::I32, 4),
        (DType::Bool, 4),
    ] {
        let op = if d == DType::Bool {
            ReduceOp::And
        } else {
            ReduceOp::Sum
        };
        for (rows, cols) in [(7, 4096), (9, 13), (64, 100), (3, 8), (5, 1)] {
            // results: `cols` columns (contiguous), reduced: `rows` (stride `cols`).
            let t = Layout {
                strides: vec![1, cols as isize],
                offset: 0,
                len: rows * cols,
            };
            let k = reduce_kernel(&[cols, rows], &t, d, op, 1);
            let x = data(d, rows * cols, 3);
            let lanes = check_with(
                &format!("column {} {rows}x{cols} {d}", op.name()),
                &k,
                &[x],
                &EXACT,
                &[1, 3],
            );
            if cols >= want && rows > 1 {
                assert_eq!(lanes, vec![want, 1], "{rows}x{cols} {d}");
            }
        }
    }
    // With a computed value, an index along the reduced axis and two outputs, the
    // results split over a batch axis too.
    let f = DType::F64;
    let t = Layout {
        strides: vec![300, 1, 30],
        offset: 0,
        len: 600,
    };
    let k = kernel(
        &[2, 30, 10],
        vec![t.input(f)],
        vec![
            (Node::Load(0), f),
            (Node::Index(2), DType::I64),
            (Node::Convert(f, 1), f),
            (Node::Binary(BinaryOp::Mul, 0, 2), f),
        ],
        vec![
            Output::Reduce {
                node: 3,
                op: ReduceOp::Sum,
                nreduce: 1,
            },
            Output::Reduce {
                node: 0,
                op: ReduceOp::Min,
                nreduce: 1,
            },
        ],
    );
    let lanes = check_with(
        "batched columns",
        &k,
        &[data(f, 600, 4)],
        &EXACT,
        &[1, 2, 3],
    );
    assert_eq!(lanes, vec![2, 1]);
}

#[test]
fn large_element_code_rotates_lanes() {
    // Enough code per element that loops rotate their lane variables instead of
    // unrolling a group of 8: rows, columns and several reduced axes.
    let f = DType::F64;
    let nodes = vec![
        (Node::Load(0), f),
        (Node::Unary(UnaryOp::Sin, 0), f),
        (Node::Unary(UnaryOp::Cos, 0), f),
        (Node::Binary(BinaryOp::Mul, 1, 2), f),
        (Node::Unary(UnaryOp::Exp, 3), f),
        (Node::Binary(BinaryOp::Sub, 4, 0), f),
    ];
    type Case = (Vec<usize>, Vec<isize>, usize, usize);
    let cases: Vec<Case> = vec![
        (vec![7], vec![1], 7, 1),
        (vec![9], vec![1], 9, 1),
        (vec![3, 4097], vec![4097, 1], 3 * 4097, 1),
        (vec![13, 21], vec![1, 13], 273, 1),
        (vec![40, 19], vec![1, 40], 760, 1),
        (vec![3, 5, 16], vec![80, 1, 5], 240, 2),
        (vec![4, 6, 7], vec![42, 1, 6], 168, 2),
    ];
    for (shape, strides, len, nreduce) in cases {
        let layout = Layout {
            strides,
            offset: 0,
            len,
        };
        for op in [ReduceOp::Sum, ReduceOp::Max] {
            let k = kernel(
                &shape,
                vec![layout.input(f)],
                nodes.clone(),
                vec![
                    Output::Reduce {
                        node: 5,
                        op,
                        nreduce,
                    },
                    Output::Reduce {
                        node: 0,
                        op: ReduceOp::Sum,
                        nreduce,
                    },
                ],
            );
            check_with(
                &format!("heavy {} over {shape:?}", op.name()),
                &k,
                &[data(f, len, 7)],
                &EXACT,
                &[1, 2],
            );
        }
    }
}

#[test]
fn reductions_are_identical_for_any_thread_count() {
    let f = DType::F64;
    let cases: Vec<(Vec<usize>, Layout, usize)> = vec![
        (vec![1_000_003], Layout::contiguous(&[1_000_003]), 1),
        (vec![64, 5001], Layout::contiguous(&[64, 5001]), 1),
        (
            vec![5001, 64],
            Layout {
                strides: vec![1, 5001],
                offset: 0,
                len: 64 * 5001,
            },
            1,
        ),
        (vec![300, 3], Layout::contiguous(&[300, 3]), 1),
    ];
    for (shape, layout, nreduce) in cases {
        let k = reduce_kernel(&shape, &layout, f, ReduceOp::Sum, nreduce);
        let x = data(f, layout.len, 9);
        check_with(
            &format!("threads over {shape:?}"),
            &k,
            &[x],
            &[Options::default()],
            &[1, 2, 3, 4, 8],
        );
    }
}

#[test]
fn sum_of_negative_zeros_is_positive_zero_and_empty_max_is_minus_infinity() {
    let a = Layout::contiguous(&[3, 4]);
    let k = reduce_kernel(&[3, 4], &a, DType::F64, ReduceOp::Sum, 1);
    let x = Array::from_f64(vec![12], vec![-0.0; 12]).unwrap();
    let compiled = compile(&k).unwrap();
    let got = exec::run(&k, &compiled, &[&x], 1).unwrap();
    assert!(got[0].to_f64_vec().iter().all(|v| v.to_bits() == 0));
    let e = Layout::contiguous(&[2, 0]);
    let k = reduce_kernel(&[2, 0], &e, DType::F32, ReduceOp::Max, 1);
    let x = Array::from_vec(vec![0], Vec::<f32>::new()).unwrap();
    let compiled = compile(&k).unwrap();
    let got = exec::run(&k, &compiled, &[&x], 1).unwrap();
    assert_eq!(got[0].shape(), &[2]);
    assert_eq!(got[0].as_slice::<f32>(), Some(&[f32::NEG_INFINITY; 2][..]));
}

/// `Σ_j term(c[i], x[i, j])` over the rows of `x: [rows, cols]` (a full sum when
/// `rows` is 0: `x` is then `[cols]`), for the terms [`nabla_cpu::fold`] takes.
fn term_sum_kernel(rows: usize, cols: usize, d: DType, term: usize) -> Kernel {
    let (shape, x, c) = if rows == 0 {
        let x = Layout::contiguous(&[cols]);
        let c = Layout {
            strides: vec![0],
            offset: 0,
            len: 1,
        };
        (vec![cols], x, c)
    } else {
        let x = Layout::contiguous(&[rows, cols]);
        let c = Layout {
            strides: vec![1, 0],
            offset: 0,
            len: rows,
        };
        (vec![rows, cols], x, c)
    };
    let zero = nabla_ir::Scalar::F64(0.0).cast(d);
    let nodes = match term {
        // x
        0 => vec![(Node::Load(0), d)],
        // x²
        1 => vec![(Node::Load(0), d), (Node::IntPow(2, 0), d)],
        // x · x
        2 => vec![(Node::Load(0), d), (Node::Binary(BinaryOp::Mul, 0, 0), d)],
        // c · x
        3 => vec![
            (Node::Load(1), d),
            (Node::Load(0), d),
            (Node::Binary(BinaryOp::Mul, 0, 1), d),
        ],
        // (x · c + 0)², as the lowering writes an even power
        _ => vec![
            (Node::Load(1), d),
            (Node::Load(0), d),
            (Node::Binary(BinaryOp::Mul, 1, 0), d),
            (Node::Lit(zero), d),
            (Node::Binary(BinaryOp::Add, 2, 3), d),
            (Node::IntPow(2, 4), d),
        ],
    };
    let node = nodes.len() - 1;
    let inputs = if term >= 3 {
        vec![x.input(d), c.input(d)]
    } else {
        vec![x.input(d)]
    };
    kernel(
        &shape,
        inputs,
        nodes,
        vec![Output::Reduce {
            node,
            op: ReduceOp::Sum,
            nreduce: 1,
        }],
    )
}

#[test]
fn folded_sums_match_their_loops_and_the_interpreter() {
    // Sums over one axis of x, x², c·x and (c·x)² of f64 rows that fit a block call
    // the wide-vector folds (where the host has AVX-512), four whole rows at a time:
    // rows around the group size, row lengths around 8 and the block, and the same
    // bits with the kernels' own loops. Rows longer than a block, and f32, are there
    // as sums the folds must leave to the loops.
    let shapes = [
        (0, 100),
        (0, 4096 * 2 + 13),
        (1, 32),
        (3, 33),
        (4, 100),
        (9, 100),
        (5, 4096),
        (6, 4096 + 5),
        (13, 257),
    ];
    #[cfg(target_arch = "x86_64")]
    let wide = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let wide = false;
    for d in [DType::F64, DType::F32] {
        for (rows, cols) in shapes {
            for term in 0..5 {
                let k = term_sum_kernel(rows, cols, d, term);
                let x = data(d, rows.max(1) * cols, 2 + term as u64);
                let c = data(d, rows.max(1), 3);
                let inputs = if term >= 3 { vec![x, c] } else { vec![x] };
                for inline in [false, true] {
                    nabla_cpu::fold::FORCE_INLINE
                        .store(inline, std::sync::atomic::Ordering::Relaxed);
                    let folds = compile(&k)
                        .unwrap_or_else(|e| panic!("compiling: {e}"))
                        .folds_rows();
                    let want = wide && !inline && d == DType::F64 && (32..=4096).contains(&cols);
                    assert_eq!(
                        folds, want,
                        "{d} term {term} over [{rows}, {cols}], inline {inline}: folds"
                    );
                    check_with(
                        &format!("{d} term {term} over [{rows}, {cols}], inline {inline}"),
                        &k,
                        &inputs,
                        &EXACT[..1],
                        &[1, 3],
                    );
                }
                nabla_cpu::fold::FORCE_INLINE.store(false, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}
