//! Products with nothing to contract run as fused multiplies, bit for bit what the
//! interpreter's length-one contraction gives (signed zeros, infinities and NaNs
//! included), for every batch-axis order. Products read transposed operands in place
//! (no stored transpose) when that keeps the result's axis order, with the
//! interpreter's results and the same bits for every thread count.

mod fallbacks;
use fallbacks::Interp as InterpFallback;

mod inputs;

use nabla_cpu::plan::{describe, Step};
use nabla_cpu::program::Compiled;
use nabla_diag::Span;
use nabla_ir::{Array, Builder, DType, Prim, Type};

fn data(shape: &[usize], d: DType, seed: usize) -> Array {
    inputs::with_specials(shape, d, seed)
}

/// Lhs shape, rhs shape, lhs batch axes, rhs batch axes.
type Case = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

#[test]
fn uncontracted_products_match_the_interpreter() {
    let cases: Vec<Case> = vec![
        (vec![3], vec![4], vec![], vec![]),
        (vec![], vec![5], vec![], vec![]),
        (vec![6], vec![6, 4], vec![0], vec![0]),
        (vec![2, 3], vec![3, 4, 2], vec![1, 0], vec![0, 2]),
        (vec![4, 2], vec![2], vec![1], vec![0]),
        (vec![2, 3, 5], vec![5, 2], vec![2, 0], vec![0, 1]),
        (vec![1000], vec![1000, 37], vec![0], vec![0]),
    ];
    for d in [DType::F64, DType::F32, DType::I32, DType::I64] {
        for (i, (ls, rs, lb, rb)) in cases.iter().enumerate() {
            let mut b = Builder::new();
            let x = b.param(Type::new(d, ls.clone()));
            let y = b.param(Type::new(d, rs.clone()));
            let prim = Prim::DotGeneral {
                lhs_contract: vec![],
                rhs_contract: vec![],
                lhs_batch: lb.clone(),
                rhs_batch: rb.clone(),
                compensated: false,
            };
            let out = b
                .emit1(prim, vec![x.into(), y.into()], Span::default())
                .unwrap();
            let f = b.finish("outer", vec![out.into()]);
            let args = [data(ls, d, i), data(rs, d, i + 50)];
            let want = nabla_interp::eval_func(&f, &args).unwrap();
            let c = Compiled::new(&f).unwrap();
            assert!(
                c.program
                    .steps
                    .iter()
                    .all(|s| !matches!(s, nabla_cpu::plan::Step::Eqn { .. })),
                "case {i} still runs a product step"
            );
            for threads in [1, 3] {
                let got = c.run(&args, threads, &InterpFallback).unwrap();
                assert!(
                    got[0].bit_eq(&want[0]),
                    "{d} case {i}: {:?} vs {:?}",
                    got[0],
                    want[0]
                );
            }
        }
    }
}

/// One operand of a transposed-operand case: its parameter's shape and the transpose
/// applied before the product, if any.
struct Side {
    shape: Vec<usize>,
    perm: Option<Vec<usize>>,
}

fn side(shape: &[usize], perm: Option<&[usize]>) -> Side {
    Side {
        shape: shape.to_vec(),
        perm: perm.map(<[usize]>::to_vec),
    }
}

/// `dot_general(lhs', rhs')` of two parameters, each transposed first when its side
/// says so; the axes refer to the transposed operands.
fn transposed_product(d: DType, l: &Side, r: &Side, axes: [&[usize]; 4]) -> nabla_ir::Func {
    let mut b = Builder::new();
    let x = b.param(Type::new(d, l.shape.clone()));
    let y = b.param(Type::new(d, r.shape.clone()));
    let mut operand = |v: nabla_ir::Var, s: &Side| match &s.perm {
        Some(perm) => b
            .emit1(
                Prim::Transpose { perm: perm.clone() },
                vec![v.into()],
                Span::default(),
            )
            .unwrap(),
        None => v,
    };
    let (xt, yt) = (operand(x, l), operand(y, r));
    let prim = Prim::DotGeneral {
        lhs_contract: axes[0].to_vec(),
        rhs_contract: axes[1].to_vec(),
        lhs_batch: axes[2].to_vec(),
        rhs_batch: axes[3].to_vec(),
        compensated: false,
    };
    let out = b
        .emit1(prim, vec![xt.into(), yt.into()], Span::default())
        .unwrap();
    b.finish("transposed", vec![out.into()])
}

#[test]
fn transposed_operands_are_read_in_place() {
    // (lhs, rhs, [lhs contract, rhs contract, lhs batch, rhs batch], folded, canonical):
    // `folded` says whether the plan reads the parameters directly; `canonical` whether
    // the product takes a canonical-order path (bitwise the interpreter's floats).
    type Case = (Side, Side, [&'static [usize]; 4], bool, bool);
    let cases: Vec<Case> = vec![
        // x @ y.T (cdist's product)
        (
            side(&[30, 20], None),
            side(&[25, 20], Some(&[1, 0])),
            [&[1], &[0], &[], &[]],
            true,
            false,
        ),
        // x.T @ g
        (
            side(&[20, 30], Some(&[1, 0])),
            side(&[20, 25], None),
            [&[1], &[0], &[], &[]],
            true,
            false,
        ),
        // batched a @ b.swapaxes(1, 2)
        (
            side(&[4, 9, 6], None),
            side(&[4, 7, 6], Some(&[0, 2, 1])),
            [&[2], &[1], &[0], &[0]],
            true,
            false,
        ),
        // batch axis moved by the transpose
        (
            side(&[9, 3, 6], Some(&[1, 0, 2])),
            side(&[3, 6, 8], None),
            [&[2], &[1], &[0], &[0]],
            true,
            false,
        ),
        // a cyclic permutation (not its own inverse)
        (
            side(&[6, 3, 9], Some(&[1, 2, 0])),
            side(&[3, 6, 8], None),
            [&[2], &[1], &[0], &[0]],
            true,
            false,
        ),
        // two free axes the transpose swaps: reading in place would permute the result
        (
            side(&[6, 8], None),
            side(&[5, 3, 8], Some(&[2, 1, 0])),
            [&[1], &[0], &[], &[]],
            false,
            false,
        ),
        // both operands transposed, a small product
        (
            side(&[3, 2], Some(&[1, 0])),
            side(&[4, 3], Some(&[1, 0])),
            [&[1], &[0], &[], &[]],
            true,
            true,
        ),
        // a.T @ v on the vector path
        (
            side(&[50, 40], Some(&[1, 0])),
            side(&[50], None),
            [&[1], &[0], &[], &[]],
            true,
            true,
        ),
        // nothing contracted: a batched scaling of a transposed operand
        (
            side(&[3, 6], Some(&[1, 0])),
            side(&[6], None),
            [&[], &[], &[0], &[0]],
            true,
            true,
        ),
    ];
    for d in [DType::F64, DType::F32, DType::I64] {
        for (i, (l, r, axes, folded, canonical)) in cases.iter().enumerate() {
            let f = transposed_product(d, l, r, *axes);
            let c = Compiled::new(&f).unwrap();
            let plan = describe(&c.program);
            let kernels = c
                .program
                .steps
                .iter()
                .filter(|s| matches!(s, Step::Kernel { .. }))
                .count();
            let product_reads_params = c.program.steps.iter().any(|s| match s {
                Step::Eqn { args, .. } => args
                    .iter()
                    .all(|a| matches!(a, nabla_cpu::plan::Operand::Slot(s) if c.program.params.contains(s))),
                _ => false,
            });
            if axes[0].is_empty() {
                // Rewritten as a multiply: one fused kernel, no product step.
                assert_eq!(kernels, 1, "{d} case {i}:\n{plan}");
            } else if *folded {
                assert!(
                    kernels == 0 && product_reads_params,
                    "{d} case {i}:\n{plan}"
                );
            } else {
                assert!(
                    kernels == 1 && !product_reads_params,
                    "{d} case {i}:\n{plan}"
                );
            }
            let args = [data(&l.shape, d, i), data(&r.shape, d, i + 50)];
            // Finite inputs, so the tolerance below is meaningful.
            let args = args.map(|a| {
                let v = a
                    .to_f64_vec()
                    .iter()
                    .map(|x| if x.is_finite() { *x } else { 0.5 })
                    .collect();
                Array::from_f64(a.shape().to_vec(), v).unwrap().cast(d)
            });
            let want = nabla_interp::eval_func(&f, &args).unwrap().remove(0);
            let got = c.run(&args, 1, &InterpFallback).unwrap().remove(0);
            for threads in [2, 3, 4, 8] {
                let again = c.run(&args, threads, &InterpFallback).unwrap().remove(0);
                assert!(got.bit_eq(&again), "{d} case {i}: {threads} threads differ");
            }
            assert_eq!(got.shape(), want.shape(), "{d} case {i}");
            if !d.is_float() || *canonical {
                assert!(got.bit_eq(&want), "{d} case {i}: {got:?} vs {want:?}");
                continue;
            }
            // The matrix path rounds in gemm's order: within γ_{k+2}·Σ|l·r| (doubled).
            let lt: Vec<usize> = match &l.perm {
                Some(perm) => perm.iter().map(|&a| l.shape[a]).collect(),
                None => l.shape.clone(),
            };
            let k: usize = axes[0].iter().map(|&a| lt[a]).product();
            let eps = if d == DType::F64 {
                f64::EPSILON
            } else {
                f32::EPSILON as f64
            };
            let bound = nabla_interp::eval_func(&f, &args.clone().map(|a| inputs::magnitudes(&a)))
                .unwrap()
                .remove(0)
                .to_f64_vec();
            let tol = 2.0 * (k as f64 + 2.0) * eps;
            for (j, ((g, w), b)) in got
                .to_f64_vec()
                .iter()
                .zip(want.to_f64_vec())
                .zip(bound)
                .enumerate()
            {
                assert!(
                    (g - w).abs() <= tol * b + f64::MIN_POSITIVE,
                    "{d} case {i} element {j}: {g} vs {w}"
                );
            }
        }
    }
}
