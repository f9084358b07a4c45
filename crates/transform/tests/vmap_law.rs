//! The vmap law `vmap(f)(xs)[i] == f(xs[i])`, bit for bit, checked with the reference
//! interpreter for every primitive, several shapes and every kind of `in_axes` /
//! `out_axes` mix; plus control flow, nested vmaps, errors and the absence of needless
//! transposes.

mod vmap_support;

use nabla_diag::Code;
use nabla_ir::{
    print_func, ArgOp, Array, Atom, BinaryOp, CmpOp, CumOp, DType, Data, Prim, ReduceOp, Scalar,
    ScatterMode, Type, UnaryOp,
};
use nabla_transform::vmap::vmap;
use proptest::prelude::*;
use vmap_support::{check, check_cases, check_with, f64l, func, i32l, random_array, t, Fb, Rng};

const N: Option<usize> = None;
const A0: Option<usize> = Some(0);
const A1: Option<usize> = Some(1);
const A2: Option<usize> = Some(2);
const A3: Option<usize> = Some(3);

use DType::{Bool, F32, F64, I32, I64, U32};

/// Every combination of the given axis choices for `n` parameters.
fn combos(choices: &[&[Option<usize>]]) -> Vec<Vec<Option<usize>>> {
    let mut out: Vec<Vec<Option<usize>>> = vec![vec![]];
    for c in choices {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                c.iter().map(move |&a| {
                    let mut p = prefix.clone();
                    p.push(a);
                    p
                })
            })
            .collect();
    }
    out
}

/// Checks every in_axes combination, with results at `out` where some parameter is
/// batched and unbatched (`None`) otherwise.
fn check_combos(f: &nabla_ir::Func, choices: &[&[Option<usize>]], out: &[Option<usize>]) -> usize {
    let mut n = 0;
    for ins in combos(choices) {
        let outs: Vec<Option<usize>> = if ins.iter().all(Option::is_none) {
            vec![N; out.len()]
        } else {
            out.to_vec()
        };
        check(f, &ins, &outs, 3);
        n += 1;
    }
    n
}

fn un(op: UnaryOp) -> Prim {
    Prim::Unary(op)
}

fn bin(op: BinaryOp) -> Prim {
    Prim::Binary(op)
}

// ---- elementwise -------------------------------------------------------------------

#[test]
fn unary() {
    for op in UnaryOp::ALL {
        let dtypes: &[DType] = match op {
            UnaryOp::Not => &[Bool, I32],
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => &[F64, I32],
            _ => &[F64, F32],
        };
        for &d in dtypes {
            let f = func(&[(d, &[2, 3])], |fb, p| {
                vec![fb.op(un(op), vec![p[0].clone()])]
            });
            check_cases(
                &f,
                &[
                    (&[A0], &[A0]),
                    (&[A1], &[A2]),
                    (&[A2], &[A1]),
                    (&[N], &[A1]),
                    (&[N], &[N]),
                ],
            );
            let f = func(&[(d, &[])], |fb, p| vec![fb.op(un(op), vec![p[0].clone()])]);
            check_cases(&f, &[(&[A0], &[A0]), (&[N], &[A0])]);
        }
    }
}

#[test]
fn binary_and_compare() {
    for op in BinaryOp::ALL {
        let dtypes: &[DType] = match op {
            BinaryOp::Pow | BinaryOp::Atan2 => &[F64],
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => &[Bool, U32],
            BinaryOp::ShiftLeft | BinaryOp::ShiftRightLogical => &[U32, I32],
            _ => &[F64, I32],
        };
        for &d in dtypes {
            let f = func(&[(d, &[2, 3]), (d, &[2, 3])], |fb, p| {
                vec![fb.op(bin(op), p.clone())]
            });
            check_combos(&f, &[&[N, A0, A1, A2], &[N, A0, A2]], &[A1]);
            // Scalars per element, and a literal operand.
            let f = func(&[(d, &[])], |fb, p| {
                let one = Atom::Lit(Scalar::one(d));
                vec![fb.op(bin(op), vec![p[0].clone(), one])]
            });
            check_cases(&f, &[(&[A0], &[A0])]);
        }
    }
    for op in CmpOp::ALL {
        for d in [F64, I32, Bool] {
            let f = func(&[(d, &[3]), (d, &[3])], |fb, p| {
                vec![fb.op(Prim::Compare(op), p.clone())]
            });
            check_combos(&f, &[&[N, A0, A1], &[N, A0, A1]], &[A1]);
        }
    }
}

#[test]
fn select_integer_pow_convert_stop_gradient() {
    let f = func(
        &[(Bool, &[2, 3]), (F64, &[2, 3]), (F64, &[2, 3])],
        |fb, p| vec![fb.op(Prim::Select, p.clone())],
    );
    assert_eq!(
        check_combos(&f, &[&[N, A0, A2], &[N, A1], &[N, A0, A2]], &[A0]),
        18
    );
    for exponent in [-3, -2, 0, 1, 2, 5] {
        for d in [F64, I32] {
            let f = func(&[(d, &[4])], |fb, p| {
                vec![fb.op(Prim::IntPow { exponent }, p.clone())]
            });
            check_cases(&f, &[(&[A0], &[A1]), (&[A1], &[A0])]);
        }
    }
    for (from, to) in [(F64, I32), (I32, F32), (Bool, F64), (F64, Bool), (I64, U32)] {
        let f = func(&[(from, &[2, 2])], |fb, p| {
            vec![fb.op(Prim::Convert { dtype: to }, p.clone())]
        });
        check_cases(&f, &[(&[A0], &[A0]), (&[A2], &[A1])]);
    }
    let f = func(&[(F64, &[2])], |fb, p| {
        vec![fb.op(Prim::StopGradient, p.clone())]
    });
    check_cases(&f, &[(&[A1], &[A0]), (&[N], &[A1])]);
}

#[test]
fn random_bits() {
    let f = func(
        &[(U32, &[3]), (U32, &[3]), (U32, &[3]), (U32, &[3])],
        |fb, p| fb.ops(Prim::Threefry2x32, p.clone()),
    );
    check_combos(&f, &[&[N, A0], &[N, A1], &[N, A0], &[N, A1]], &[A0, A1]);
    let f = func(&[(U32, &[2, 2])], |fb, p| {
        vec![fb.op(Prim::BitsToUnit { dtype: F32 }, p.clone())]
    });
    check_combos(&f, &[&[N, A0, A2]], &[A1]);
    let f = func(&[(U32, &[2]), (U32, &[2])], |fb, p| {
        vec![fb.op(Prim::BitsToUnit { dtype: F64 }, p.clone())]
    });
    let gen = |rng: &mut Rng, _: usize, ty: &Type| {
        let n = ty.numel();
        let v: Vec<u32> = (0..n).map(|_| rng.next() as u32).collect();
        Array::new(ty.shape.clone(), Data::U32(v)).expect("length matches")
    };
    for ins in combos(&[&[N, A0, A1], &[N, A0, A1]]) {
        let outs = if ins.iter().all(Option::is_none) {
            [N]
        } else {
            [A0]
        };
        check_with(&f, &ins, &outs, 3, 11, &gen);
    }
}

#[test]
fn constant_and_iota_are_unbatched() {
    let f = func(&[(F64, &[2, 3])], |fb, p| {
        let c = fb.op(
            Prim::Constant {
                value: Array::from_f64([2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
                    .expect("length matches"),
            },
            vec![],
        );
        let i = fb.op(
            Prim::Iota {
                dtype: I32,
                shape: vec![2, 3],
                axis: 1,
            },
            vec![],
        );
        let fi = fb.op(Prim::Convert { dtype: F64 }, vec![i.clone()]);
        let s = fb.op(bin(BinaryOp::Add), vec![p[0].clone(), c]);
        vec![fb.op(bin(BinaryOp::Mul), vec![s, fi]), i]
    });
    check_cases(
        &f,
        &[(&[A0], &[A0, N]), (&[A2], &[A1, A2]), (&[N], &[A0, A0])],
    );
}

// ---- shape ---------------------------------------------------------------------------

#[test]
fn broadcast_in_dim() {
    let cases: &[(&[usize], &[usize], &[usize])] = &[
        (&[3], &[2, 3], &[1]),
        (&[3], &[3, 2], &[0]),
        (&[3, 1], &[3, 4], &[0, 1]),
        (&[2], &[2, 3, 4], &[0]),
        (&[2, 4], &[2, 3, 4], &[0, 2]),
        (&[], &[2, 2], &[]),
    ];
    for (from, shape, dims) in cases {
        let f = func(&[(F64, from)], |fb, p| {
            vec![fb.op(
                Prim::BroadcastInDim {
                    shape: shape.to_vec(),
                    dims: dims.to_vec(),
                },
                p.clone(),
            )]
        });
        for ax in 0..=from.len() {
            for out in 0..=shape.len() {
                check(&f, &[Some(ax)], &[Some(out)], 3);
            }
        }
        check(&f, &[N], &[A0], 2);
    }
}

#[test]
fn reshape_transpose_slice_rev() {
    for (from, to) in [
        (vec![2, 3], vec![3, 2]),
        (vec![2, 3], vec![6]),
        (vec![2, 3, 4], vec![4, 6]),
        (vec![1], vec![]),
    ] {
        let f = func(&[(F64, &from)], |fb, p| {
            vec![fb.op(Prim::Reshape { shape: to.clone() }, p.clone())]
        });
        for ax in 0..=from.len() {
            check(&f, &[Some(ax)], &[Some(to.len())], 3);
        }
    }
    for perm in [vec![1, 0], vec![2, 0, 1], vec![0, 2, 1], vec![0, 1, 2]] {
        let shape: Vec<usize> = (2..2 + perm.len()).collect();
        let f = func(&[(F64, &shape)], |fb, p| {
            vec![fb.op(Prim::Transpose { perm: perm.clone() }, p.clone())]
        });
        for ax in 0..=perm.len() {
            for out in [0, perm.len()] {
                check(&f, &[Some(ax)], &[Some(out)], 3);
            }
        }
    }
    let f = func(&[(F64, &[5, 4])], |fb, p| {
        vec![fb.op(
            Prim::Slice {
                start: vec![1, 0],
                limit: vec![5, 3],
                stride: vec![2, 1],
            },
            p.clone(),
        )]
    });
    check_combos(&f, &[&[A0, A1, A2]], &[A1]);
    for axes in [vec![0], vec![1], vec![0, 1], vec![]] {
        let f = func(&[(F64, &[3, 4])], |fb, p| {
            vec![fb.op(Prim::Rev { axes: axes.clone() }, p.clone())]
        });
        check_combos(&f, &[&[A0, A1, A2]], &[A2]);
    }
}

#[test]
fn pad() {
    for (lo, hi) in [
        (vec![1, -1], vec![2, 1]),
        (vec![0, 0], vec![0, 0]),
        (vec![-1, 2], vec![0, -2]),
    ] {
        let f = func(&[(F64, &[3, 2]), (F64, &[])], |fb, p| {
            vec![fb.op(
                Prim::Pad {
                    lo: lo.clone(),
                    hi: hi.clone(),
                },
                p.clone(),
            )]
        });
        check_combos(&f, &[&[N, A0, A1, A2], &[N, A0]], &[A1]);
        let f = func(&[(F64, &[3, 2])], |fb, p| {
            vec![fb.op(
                Prim::Pad {
                    lo: lo.clone(),
                    hi: hi.clone(),
                },
                vec![p[0].clone(), f64l(-7.0)],
            )]
        });
        check_combos(&f, &[&[A0, A1, A2]], &[A0]);
    }
    // A batched pad value for a scalar and for bools.
    let f = func(&[(Bool, &[2]), (Bool, &[])], |fb, p| {
        vec![fb.op(
            Prim::Pad {
                lo: vec![1],
                hi: vec![1],
            },
            p.clone(),
        )]
    });
    check_combos(&f, &[&[N, A0, A1], &[N, A0]], &[A0]);
}

#[test]
fn concat() {
    let f = func(
        &[(F64, &[2, 3]), (F64, &[1, 3]), (F64, &[2, 3])],
        |fb, p| vec![fb.op(Prim::Concat { axis: 0 }, p.clone())],
    );
    check_combos(&f, &[&[N, A0, A2], &[N, A1], &[N, A0, A2]], &[A1]);
    let f = func(&[(I32, &[2, 1]), (I32, &[2, 3])], |fb, p| {
        vec![fb.op(Prim::Concat { axis: 1 }, p.clone())]
    });
    check_combos(&f, &[&[N, A0, A1, A2], &[N, A0, A1, A2]], &[A2]);
}

// ---- reductions ----------------------------------------------------------------------

#[test]
fn reduce() {
    for op in ReduceOp::ALL {
        let d = match op {
            ReduceOp::And | ReduceOp::Or => Bool,
            _ => F64,
        };
        for axes in [vec![1], vec![0, 2], vec![2, 0], vec![], vec![0, 1, 2]] {
            let f = func(&[(d, &[2, 3, 4])], |fb, p| {
                vec![fb.op(
                    Prim::Reduce {
                        op,
                        axes: axes.clone(),
                        compensated: false,
                    },
                    p.clone(),
                )]
            });
            let out_rank = 3 - axes.len();
            for ax in 0..=3 {
                check(&f, &[Some(ax)], &[Some(out_rank)], 3);
                check(&f, &[Some(ax)], &[A0], 2);
            }
        }
    }
    let f = func(&[(F64, &[5, 3])], |fb, p| {
        vec![fb.op(
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![1, 0],
                compensated: true,
            },
            p.clone(),
        )]
    });
    check_combos(&f, &[&[A0, A1, A2]], &[A0]);
    // Many elements: several lanes and a non-trivial canonical tree per element.
    let f = func(&[(F32, &[100, 70])], |fb, p| {
        vec![fb.op(
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0, 1],
                compensated: false,
            },
            p.clone(),
        )]
    });
    check_combos(&f, &[&[A0, A1, A2]], &[A0]);
}

#[test]
fn arg_reduce_and_cumulative() {
    for op in [ArgOp::ArgMax, ArgOp::ArgMin] {
        for (axis, d) in [(0, F64), (1, I32), (1, F64)] {
            let f = func(&[(d, &[3, 4])], |fb, p| {
                vec![fb.op(
                    Prim::ArgReduce {
                        op,
                        axis,
                        index_dtype: I64,
                    },
                    p.clone(),
                )]
            });
            check_combos(&f, &[&[A0, A1, A2]], &[A1]);
        }
    }
    for op in [CumOp::Sum, CumOp::Prod] {
        for axis in [0, 1] {
            for reverse in [false, true] {
                let f = func(&[(F64, &[3, 4])], |fb, p| {
                    vec![fb.op(Prim::Cumulative { op, axis, reverse }, p.clone())]
                });
                check_combos(&f, &[&[A0, A1, A2]], &[A2]);
            }
        }
    }
}

// ---- dot_general ---------------------------------------------------------------------

fn dot(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize], compensated: bool) -> Prim {
    Prim::DotGeneral {
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
        compensated,
    }
}

#[test]
fn dot_general_every_side() {
    let cases: &[(&[usize], &[usize], Prim)] = &[
        // matrix product
        (&[2, 3], &[3, 4], dot(&[1], &[0], &[], &[], false)),
        // matrix-vector and inner product
        (&[2, 3], &[3], dot(&[1], &[0], &[], &[], false)),
        (&[3], &[3], dot(&[0], &[0], &[], &[], true)),
        // outer product
        (&[2], &[3], dot(&[], &[], &[], &[], false)),
        // batched, with the batch axes in the middle and two contracted pairs
        (&[3, 2, 4], &[4, 5, 2], dot(&[2], &[0], &[1], &[2], false)),
        (
            &[2, 3, 4],
            &[4, 3, 2],
            dot(&[1, 2], &[1, 0], &[], &[], true),
        ),
    ];
    for (ls, rs, prim) in cases {
        let f = func(&[(F64, ls), (F64, rs)], |fb, p| {
            vec![fb.op(prim.clone(), p.clone())]
        });
        let out_rank = f.body.results[0].ty().rank();
        let l: Vec<Option<usize>> = std::iter::once(N).chain((0..=ls.len()).map(Some)).collect();
        let r: Vec<Option<usize>> = std::iter::once(N).chain((0..=rs.len()).map(Some)).collect();
        check_combos(&f, &[&l, &r], &[Some(out_rank)]);
        check_combos(&f, &[&[A0, A1], &[N, A0]], &[A0]);
    }
    let f = func(&[(I32, &[2, 3]), (I32, &[3, 2])], |fb, p| {
        vec![fb.op(dot(&[1], &[0], &[], &[], false), p.clone())]
    });
    check_combos(&f, &[&[N, A0, A2], &[N, A0, A2]], &[A1]);
}

// ---- gathers and scatters ------------------------------------------------------------

#[test]
fn take_with_batched_indices() {
    for (axis, d) in [(0, I32), (1, I32), (0, U32), (1, I64)] {
        let f = func(&[(F64, &[4, 3]), (d, &[2, 2])], |fb, p| {
            vec![fb.op(Prim::Take { axis }, p.clone())]
        });
        let n = check_combos(&f, &[&[N, A0, A1, A2], &[N, A0, A1, A2]], &[A2]);
        assert_eq!(n, 16);
        check_combos(&f, &[&[N, A0, A2], &[A0, A2]], &[A0]);
        // A scalar index removes the axis.
        let f = func(&[(F64, &[4, 3]), (d, &[])], |fb, p| {
            vec![fb.op(Prim::Take { axis }, p.clone())]
        });
        check_combos(&f, &[&[N, A0, A1, A2], &[N, A0]], &[A1]);
    }
    // Gathering from an empty axis gives zeros.
    let f = func(&[(F64, &[0, 2]), (I32, &[3])], |fb, p| {
        vec![fb.op(Prim::Take { axis: 0 }, p.clone())]
    });
    check_combos(&f, &[&[N, A0, A1], &[N, A0]], &[A0]);
}

#[test]
fn scatter_with_batched_indices() {
    for mode in [ScatterMode::Set, ScatterMode::Add] {
        for axis in [0, 1] {
            let upd: &[usize] = if axis == 0 { &[2, 2, 3] } else { &[4, 2, 2] };
            let f = func(&[(F64, &[4, 3]), (I32, &[2, 2]), (F64, upd)], |fb, p| {
                vec![fb.op(Prim::Scatter { axis, mode }, p.clone())]
            });
            check_combos(&f, &[&[N, A0, A2], &[N, A0, A2], &[N, A0, A3]], &[A1]);
            check_combos(&f, &[&[A1], &[A1], &[A1, A2]], &[A0]);
        }
        // Many duplicates (indices in 0..2) and an index scalar.
        let f = func(&[(F32, &[2]), (U32, &[5]), (F32, &[5])], |fb, p| {
            vec![fb.op(Prim::Scatter { axis: 0, mode }, p.clone())]
        });
        check_combos(&f, &[&[N, A0, A1], &[N, A0, A1], &[N, A0, A1]], &[A0]);
        let f = func(&[(Bool, &[3, 2]), (I64, &[]), (Bool, &[2])], |fb, p| {
            vec![fb.op(Prim::Scatter { axis: 0, mode }, p.clone())]
        });
        check_combos(&f, &[&[N, A0, A2], &[N, A0], &[N, A0, A1]], &[A2]);
    }
}

#[test]
fn dynamic_slice_with_batched_starts() {
    for sizes in [vec![2, 3], vec![5, 2], vec![1, 4], vec![0, 2]] {
        let f = func(&[(F64, &[5, 4]), (I32, &[]), (I64, &[])], |fb, p| {
            vec![fb.op(
                Prim::DynamicSlice {
                    sizes: sizes.clone(),
                },
                p.clone(),
            )]
        });
        check_combos(&f, &[&[N, A0, A1, A2], &[N, A0], &[N, A0]], &[A1]);
    }
    let f = func(&[(F64, &[])], |fb, p| {
        vec![fb.op(Prim::DynamicSlice { sizes: vec![] }, p.clone())]
    });
    check_combos(&f, &[&[A0]], &[A0]);
    // u32 starts and literal starts.
    let f = func(&[(I32, &[6, 3]), (U32, &[])], |fb, p| {
        vec![fb.op(
            Prim::DynamicSlice { sizes: vec![3, 2] },
            vec![p[0].clone(), p[1].clone(), i32l(1)],
        )]
    });
    check_combos(&f, &[&[N, A0, A2], &[N, A0]], &[A0]);
}

#[test]
fn dynamic_update_slice_with_batched_starts() {
    for ushape in [vec![2, 3], vec![5, 2], vec![1, 4], vec![5, 4], vec![0, 2]] {
        let f = func(
            &[(F64, &[5, 4]), (F64, &ushape), (I32, &[]), (I64, &[])],
            |fb, p| vec![fb.op(Prim::DynamicUpdateSlice, p.clone())],
        );
        check_combos(&f, &[&[N, A0, A2], &[N, A0, A1], &[N, A0], &[N, A0]], &[A2]);
    }
    let f = func(&[(Bool, &[4]), (Bool, &[2]), (U32, &[])], |fb, p| {
        vec![fb.op(Prim::DynamicUpdateSlice, p.clone())]
    });
    check_combos(&f, &[&[N, A0, A1], &[N, A0, A1], &[N, A0]], &[A0]);
}

// ---- control flow --------------------------------------------------------------------

/// `cond(p, x, y)`: then `(sin(x) * y, y + 1)`, else `(x, 2.0)`.
fn cond_fn() -> nabla_ir::Func {
    func(&[(Bool, &[]), (F64, &[3]), (F64, &[])], |fb, p| {
        let tys = [t(F64, &[3]), t(F64, &[])];
        let then_body = fb.body(&tys, |fb, q| {
            let s = fb.op(un(UnaryOp::Sin), vec![q[0].clone()]);
            let yb = fb.op(
                Prim::BroadcastInDim {
                    shape: vec![3],
                    dims: vec![],
                },
                vec![q[1].clone()],
            );
            let a = fb.op(bin(BinaryOp::Mul), vec![s, yb]);
            let b = fb.op(bin(BinaryOp::Add), vec![q[1].clone(), f64l(1.0)]);
            vec![a, b]
        });
        let else_body = fb.body(&tys, |_, q| vec![q[0].clone(), f64l(2.0)]);
        fb.ops(
            Prim::Cond {
                then_body,
                else_body,
            },
            p.clone(),
        )
    })
}

#[test]
fn cond_with_batched_and_unbatched_predicate() {
    let f = cond_fn();
    let n = check_combos(&f, &[&[N, A0], &[N, A0, A1], &[N, A0]], &[A0, A0]);
    assert_eq!(n, 12);
    // The unbatched predicate keeps a cond; the batched one becomes selects.
    let g = check(&f, &[N, A0, N], &[A0, A0], 3);
    assert!(print_func(&g).contains("cond("));
    let g = check(&f, &[A0, N, N], &[A0, A0], 3);
    assert!(!print_func(&g).contains("cond("));
    // A cond nested in a cond.
    let outer = func(
        &[(Bool, &[]), (Bool, &[]), (F64, &[3]), (F64, &[])],
        |fb, p| {
            let tys = [t(Bool, &[]), t(F64, &[3]), t(F64, &[])];
            let then_body = fb.body(&tys, |fb, q| {
                let ps: Vec<Atom> = q.clone();
                let then_body = fb.body(&[t(F64, &[3]), t(F64, &[])], |fb, r| {
                    let tb = fb.body(&[t(F64, &[3]), t(F64, &[])], |_, s| s);
                    let eb = fb.body(&[t(F64, &[3]), t(F64, &[])], |fb, s| {
                        vec![fb.op(un(UnaryOp::Neg), vec![s[0].clone()]), s[1].clone()]
                    });
                    fb.ops(
                        Prim::Cond {
                            then_body: tb,
                            else_body: eb,
                        },
                        vec![Atom::Lit(Scalar::Bool(false)), r[0].clone(), r[1].clone()],
                    )
                });
                let else_body = fb.body(&[t(F64, &[3]), t(F64, &[])], |_, r| r);
                fb.ops(
                    Prim::Cond {
                        then_body,
                        else_body,
                    },
                    ps,
                )
            });
            let else_body = fb.body(&tys, |_, q| vec![q[1].clone(), q[2].clone()]);
            fb.ops(
                Prim::Cond {
                    then_body,
                    else_body,
                },
                p.clone(),
            )
        },
    );
    check_combos(&outer, &[&[N, A0], &[N, A0], &[N, A1], &[N, A0]], &[A1, A0]);
}

/// `while i < n { i += 1; acc = acc * 1.5 + x }` from `(0, x)`: the trip count is `n`.
fn while_fn() -> nabla_ir::Func {
    func(&[(I32, &[]), (F64, &[2])], |fb, p| {
        let cond_body = fb.body(&[t(I32, &[]), t(I32, &[]), t(F64, &[2])], |fb, q| {
            vec![fb.op(Prim::Compare(CmpOp::Lt), vec![q[1].clone(), q[0].clone()])]
        });
        let body = fb.body(&[t(F64, &[2]), t(I32, &[]), t(F64, &[2])], |fb, q| {
            let i = fb.op(bin(BinaryOp::Add), vec![q[1].clone(), i32l(1)]);
            let c = fb.op(
                Prim::BroadcastInDim {
                    shape: vec![2],
                    dims: vec![],
                },
                vec![f64l(1.5)],
            );
            let a = fb.op(bin(BinaryOp::Mul), vec![q[2].clone(), c]);
            let a = fb.op(bin(BinaryOp::Add), vec![a, q[0].clone()]);
            vec![i, a]
        });
        fb.ops(
            Prim::While {
                cond_body,
                body,
                cond_nconsts: 1,
                body_nconsts: 1,
            },
            vec![p[0].clone(), p[1].clone(), i32l(0), p[1].clone()],
        )
    })
}

#[test]
fn while_with_batched_predicate() {
    let f = while_fn();
    // Trip counts 0..=6 and negative bounds (no iteration) across the batch.
    let gen = |rng: &mut Rng, p: usize, ty: &Type| {
        if p == 0 {
            Array::scalar(Scalar::I32(rng.int(-1, 6) as i32))
        } else {
            random_array(rng, ty)
        }
    };
    for ins in combos(&[&[N, A0], &[N, A0, A1]]) {
        let outs = if ins.iter().all(Option::is_none) {
            [N, N]
        } else {
            [A0, A1]
        };
        let outs = if ins[0].is_none() { [N, outs[1]] } else { outs };
        for seed in 0..4 {
            check_with(&f, &ins, &outs, 5, seed, &gen);
        }
    }
    let g = check_with(&f, &[A0, N], &[A0, A0], 5, 3, &gen);
    assert!(print_func(&g).contains("reduce_or"));
}

#[test]
fn while_carry_becomes_batched_in_the_body() {
    // Carries (i, a, b): a starts unbatched and picks up the batched constant c; b is
    // swapped in from a, so it is batched only after two rounds of the fixpoint.
    let f = func(&[(F64, &[]), (I32, &[])], |fb, p| {
        let s = t(F64, &[]);
        let i = t(I32, &[]);
        let cond_body = fb.body(&[i.clone(), i.clone(), s.clone(), s.clone()], |fb, q| {
            vec![fb.op(Prim::Compare(CmpOp::Lt), vec![q[1].clone(), q[0].clone()])]
        });
        let body = fb.body(&[s.clone(), i.clone(), s.clone(), s.clone()], |fb, q| {
            let i2 = fb.op(bin(BinaryOp::Add), vec![q[1].clone(), i32l(1)]);
            let a = fb.op(bin(BinaryOp::Add), vec![q[2].clone(), q[0].clone()]);
            vec![i2, a, q[2].clone()]
        });
        fb.ops(
            Prim::While {
                cond_body,
                body,
                cond_nconsts: 1,
                body_nconsts: 1,
            },
            vec![p[1].clone(), p[0].clone(), i32l(0), f64l(0.5), f64l(-1.0)],
        )
    });
    check_combos(&f, &[&[N, A0], &[N, A0]], &[A0, A0, A0]);
}

/// `scan` with a const, two carries and two xs: `carry = carry * c + x`, `ys = (carry +
/// x, k)` where the second carry `k` counts steps.
fn scan_fn(reverse: bool) -> nabla_ir::Func {
    func(
        &[(F64, &[]), (F64, &[2]), (F64, &[4, 2]), (I32, &[4])],
        |fb, p| {
            let tys = [
                t(F64, &[]),
                t(F64, &[2]),
                t(I32, &[]),
                t(F64, &[2]),
                t(I32, &[]),
            ];
            let body = fb.body(&tys, |fb, q| {
                let c = fb.op(
                    Prim::BroadcastInDim {
                        shape: vec![2],
                        dims: vec![],
                    },
                    vec![q[0].clone()],
                );
                let m = fb.op(bin(BinaryOp::Mul), vec![q[1].clone(), c]);
                let carry = fb.op(bin(BinaryOp::Add), vec![m, q[3].clone()]);
                let y = fb.op(bin(BinaryOp::Add), vec![q[1].clone(), q[3].clone()]);
                let k = fb.op(bin(BinaryOp::Add), vec![q[2].clone(), q[4].clone()]);
                vec![carry, k.clone(), y, k]
            });
            fb.ops(
                Prim::Scan {
                    body,
                    nconsts: 1,
                    ncarry: 2,
                    length: 4,
                    reverse,
                },
                vec![
                    p[0].clone(),
                    p[1].clone(),
                    i32l(0),
                    p[2].clone(),
                    p[3].clone(),
                ],
            )
        },
    )
}

#[test]
fn scan_with_batched_consts_carry_and_xs() {
    for reverse in [false, true] {
        let f = scan_fn(reverse);
        for ins in combos(&[&[N, A0], &[N, A0, A1], &[N, A0, A1, A2], &[N, A1]]) {
            let any = ins.iter().any(Option::is_some);
            let first = ins[..3].iter().any(Option::is_some);
            let ks = ins[3].is_some();
            let o = |b: bool, a: Option<usize>| if b { a } else { N };
            let outs = [o(first, A1), o(ks, A0), o(first, A0), o(ks, A1)];
            let outs = if any { outs } else { [N; 4] };
            check(&f, &ins, &outs, 3);
        }
    }
}

// ---- composition ---------------------------------------------------------------------

#[test]
fn vmap_of_vmap() {
    // f(a, b) = sum(a @ b, 0) with a take and a while inside.
    let f = func(&[(F64, &[2, 3]), (F64, &[3]), (I32, &[])], |fb, p| {
        let m = fb.op(
            dot(&[1], &[0], &[], &[], false),
            vec![p[0].clone(), p[1].clone()],
        );
        let g = fb.op(Prim::Take { axis: 1 }, vec![p[0].clone(), p[2].clone()]);
        let s = fb.op(bin(BinaryOp::Add), vec![m, g]);
        vec![fb.op(
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
                compensated: false,
            },
            vec![s],
        )]
    });
    let g = check(&f, &[A0, N, A0], &[A0], 3);
    let h = check(&g, &[A2, A0, N], &[A1], 2);
    check(&h, &[A1, A1, A0], &[A0], 2);
    let g = check(&cond_fn(), &[A0, A1, N], &[A1, A0], 3);
    check(&g, &[A0, N, A0], &[A1, A0], 2);
    let g = check(&while_fn(), &[N, A1], &[N, A0], 3);
    check(&g, &[A0, A0], &[A0, A1], 2);
    let g = check(&scan_fn(false), &[A0, N, A1, N], &[A0, N, A1, N], 2);
    check(&g, &[N, A0, A0, A0], &[A2, A0, A0, A0], 3);
}

// ---- layout --------------------------------------------------------------------------

#[test]
fn elementwise_chain_with_equal_batch_axes_emits_no_transposes() {
    let f = func(
        &[(F64, &[2, 3]), (F64, &[2, 3]), (Bool, &[2, 3])],
        |fb, p| {
            let a = fb.op(bin(BinaryOp::Mul), vec![p[0].clone(), p[1].clone()]);
            let b = fb.op(un(UnaryOp::Sin), vec![a]);
            let c = fb.op(Prim::Compare(CmpOp::Lt), vec![b.clone(), p[0].clone()]);
            let c = fb.op(bin(BinaryOp::And), vec![c, p[2].clone()]);
            let d = fb.op(Prim::Select, vec![c, b, p[1].clone()]);
            let e = fb.op(Prim::IntPow { exponent: 3 }, vec![d]);
            let i = fb.op(Prim::Convert { dtype: I32 }, vec![e.clone()]);
            let r = fb.op(
                Prim::Reduce {
                    op: ReduceOp::Sum,
                    axes: vec![0],
                    compensated: false,
                },
                vec![e],
            );
            vec![i, r]
        },
    );
    for ax in [A0, A1, A2] {
        let out_r = if ax == A2 { A1 } else { A0 };
        let g = check(&f, &[ax, ax, ax], &[ax, out_r], 3);
        let text = print_func(&g);
        assert!(!text.contains("transpose"), "{text}");
    }
    // An unbatched operand is broadcast, not transposed.
    let g = check(&f, &[A1, N, A1], &[A1, A0], 3);
    assert!(!print_func(&g).contains("transpose"));
}

// ---- errors --------------------------------------------------------------------------

#[test]
fn errors() {
    let f = func(&[(F64, &[2]), (F64, &[2])], |fb, p| {
        vec![fb.op(bin(BinaryOp::Add), p.clone()), p[1].clone()]
    });
    let e = vmap(&f, &[A0, N], 3, &[N, N]).expect_err("a batched result needs an out axis");
    assert_eq!(e.code, Code::BAD_ARGUMENT);
    assert!(
        e.message
            .contains("result 0 depends on the mapped axis but out_axes is none"),
        "{}",
        e.message
    );
    assert!(vmap(&f, &[A0, N], 3, &[A0, N]).is_ok());
    let e = vmap(&f, &[A2, N], 3, &[A0, N]).expect_err("axis out of range");
    assert_eq!(e.code, Code::AXIS_OUT_OF_RANGE);
    let e = vmap(&f, &[A0, N], 3, &[A2, N]).expect_err("out axis out of range");
    assert_eq!(e.code, Code::AXIS_OUT_OF_RANGE);
    let e = vmap(&f, &[A0], 3, &[A0, N]).expect_err("wrong in_axes length");
    assert_eq!(e.code, Code::BAD_ARGUMENT);
    let e = vmap(&f, &[A0, A0], 3, &[A0]).expect_err("wrong out_axes length");
    assert_eq!(e.code, Code::BAD_ARGUMENT);
}

// ---- random shapes -------------------------------------------------------------------

type ChainCase = (
    Vec<usize>,
    Vec<usize>,
    Vec<bool>,
    (Option<usize>, Option<usize>),
    (usize, usize),
    usize,
    u64,
);

fn chain_case() -> impl Strategy<Value = ChainCase> {
    prop::collection::vec(1usize..=3, 0..=3).prop_flat_map(|shape| {
        let r = shape.len();
        let perm = Just((0..r).collect::<Vec<usize>>()).prop_shuffle();
        let reduced = prop::collection::vec(any::<bool>(), r);
        let ax = prop::option::of(0..=r);
        (
            Just(shape),
            perm,
            reduced,
            (ax.clone(), ax),
            (0..=r, 0..=r),
            1usize..=3,
            any::<u64>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `transpose(sin(x) * y + x)` and a reduction of it, for random shapes, axes and
    /// batch sizes.
    #[test]
    fn elementwise_reduce_transpose((shape, perm, reduced, ins, outs, size, seed) in chain_case()) {
        let axes: Vec<usize> = (0..shape.len()).filter(|&i| reduced[i]).collect();
        let f = func(&[(F64, &shape), (F64, &shape)], |fb, p| {
            let s = fb.op(un(UnaryOp::Sin), vec![p[0].clone()]);
            let m = fb.op(bin(BinaryOp::Mul), vec![s, p[1].clone()]);
            let a = fb.op(bin(BinaryOp::Add), vec![m, p[0].clone()]);
            let tr = fb.op(Prim::Transpose { perm: perm.clone() }, vec![a]);
            let r = fb.op(
                Prim::Reduce { op: ReduceOp::Sum, axes: axes.clone(), compensated: false },
                vec![tr.clone()],
            );
            vec![tr, r]
        });
        let ins = [ins.0, ins.1];
        let out_axes = if ins.iter().any(Option::is_some) {
            [Some(outs.0), Some(outs.1.min(shape.len() - axes.len()))]
        } else {
            [None, Some(0)]
        };
        check_with(&f, &ins, &out_axes, size, seed, &|rng, _, ty| random_array(rng, ty));
    }
}

#[test]
fn fb_builds_checked_functions() {
    // The builder helper itself: a function with no parameters.
    let f = Fb::new().finish(vec![f64l(1.0)]);
    check(&f, &[], &[A0], 2);
}
