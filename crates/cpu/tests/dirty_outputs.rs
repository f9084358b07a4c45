//! Kernel outputs are not zero-filled before the generated code writes them, so with
//! the buffer pool installed they start as whatever a previous array left there: the
//! results must not depend on it (every item is written, no output is read).

mod fallbacks;
use fallbacks::Interp as InterpFallback;

use nabla_alloc::PoolAlloc;
use nabla_cpu::program::Compiled;
use nabla_diag::Span;
use nabla_ir::{Array, Atom, BinaryOp, Builder, CmpOp, DType, Prim, ReduceOp, Scalar, Type};

#[global_allocator]
static ALLOC: PoolAlloc = PoolAlloc;

/// Leaves idle pool blocks of every size up to `bytes` full of 0xFF bytes (NaN for
/// floats, `true`-violating bytes for bools, -1 for integers).
fn dirty_the_pool(bytes: usize) {
    let sizes: Vec<usize> = (0..8)
        .map(|i| bytes >> i)
        .filter(|&s| s >= 1 << 20)
        .collect();
    let blocks: Vec<Vec<u8>> = sizes.iter().map(|&s| vec![0xFF; s]).collect();
    drop(blocks);
}

#[test]
fn stores_and_reductions_ignore_what_the_buffers_held() {
    let n = 1_500_000;
    let mut b = Builder::new();
    let x = b.param(Type::new(DType::F64, vec![n]));
    let sp = Span::default();
    let splat = |b: &mut Builder, v: f64| -> Atom {
        b.emit1(
            Prim::BroadcastInDim {
                shape: vec![n],
                dims: vec![],
            },
            vec![Atom::Lit(Scalar::F64(v))],
            sp,
        )
        .unwrap()
        .into()
    };
    let (two, one, zero) = (splat(&mut b, 2.0), splat(&mut b, 1.0), splat(&mut b, 0.0));
    let twice = b
        .emit1(Prim::Binary(BinaryOp::Mul), vec![x.clone().into(), two], sp)
        .unwrap();
    let affine = b
        .emit1(Prim::Binary(BinaryOp::Add), vec![twice.into(), one], sp)
        .unwrap();
    let square = b
        .emit1(
            Prim::Binary(BinaryOp::Mul),
            vec![x.clone().into(), x.clone().into()],
            sp,
        )
        .unwrap();
    let total = b
        .emit1(
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
                compensated: false,
            },
            vec![square.into()],
            sp,
        )
        .unwrap();
    let negative = b
        .emit1(Prim::Compare(CmpOp::Lt), vec![x.clone().into(), zero], sp)
        .unwrap();
    let narrow = b
        .emit1(Prim::Convert { dtype: DType::F32 }, vec![x.into()], sp)
        .unwrap();
    let f = b.finish(
        "dirty",
        vec![affine.into(), total.into(), negative.into(), narrow.into()],
    );
    let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
    let args = [Array::from_vec(vec![n], xs).unwrap()];
    let want = nabla_interp::eval_func(&f, &args).unwrap();
    let c = Compiled::new(&f).unwrap();
    for threads in [1, 2, 3] {
        for round in 0..3 {
            dirty_the_pool(n * 8 * 2);
            let got = c.run(&args, threads, &InterpFallback).unwrap();
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(g.bit_eq(w), "output {i}, {threads} threads, round {round}");
            }
        }
    }
    assert!(PoolAlloc::stats().reused > 0, "the pool served no output");
}

/// The matrix path hands `gemm` an output that is neither zeroed nor read: a product
/// whose result takes a dirty pool block (f64 and f32, one product and a batch of
/// them) must be the clean result: within the rounding of its `k`-term sums of the
/// interpreter's (the blocked product sums in another order), and the same bits on
/// every round.
#[test]
fn matrix_products_ignore_what_the_buffers_held() {
    let sp = Span::default();
    // (batch, m, k, n): one 600 × 500 product (2.4 MB of f64) and three 400 × 400.
    for (batch, m, k, n) in [(0, 600, 70, 500), (3, 400, 90, 400)] {
        for dtype in [DType::F64, DType::F32] {
            let lead: Vec<usize> = if batch > 0 { vec![batch] } else { vec![] };
            let shape = |rows: usize, cols: usize| -> Vec<usize> {
                lead.iter().copied().chain([rows, cols]).collect()
            };
            let mut b = Builder::new();
            let x = b.param(Type::new(dtype, shape(m, k)));
            let y = b.param(Type::new(dtype, shape(k, n)));
            let r = lead.len();
            let batch_axes: Vec<usize> = (0..r).collect();
            let product = b
                .emit1(
                    Prim::DotGeneral {
                        lhs_contract: vec![r + 1],
                        rhs_contract: vec![r],
                        lhs_batch: batch_axes.clone(),
                        rhs_batch: batch_axes,
                        compensated: false,
                    },
                    vec![x.into(), y.into()],
                    sp,
                )
                .unwrap();
            let f = b.finish("dirty_product", vec![product.into()]);
            let values = |rows: usize, cols: usize, phase: f64| -> Array {
                let count = lead.iter().product::<usize>() * rows * cols;
                let xs: Vec<f64> = (0..count)
                    .map(|i| (i as f64 * 0.61 + phase).sin())
                    .collect();
                Array::from_vec(shape(rows, cols), xs).unwrap().cast(dtype)
            };
            let args = [values(m, k, 0.3), values(k, n, 1.7)];
            let want = nabla_interp::eval_func(&f, &args).unwrap();
            let c = Compiled::new(&f).unwrap();
            let bytes = lead.iter().product::<usize>() * m * n * dtype.size_bytes();
            let eps = if dtype == DType::F64 {
                f64::EPSILON
            } else {
                f32::EPSILON as f64
            };
            // Terms of magnitude at most 1: a sum's rounding is under k² ε.
            let bound = (k * k) as f64 * eps;
            let mut first: Option<Array> = None;
            for threads in [1, 2] {
                for round in 0..2 {
                    dirty_the_pool(2 * bytes);
                    let got = c.run(&args, threads, &InterpFallback).unwrap();
                    let worst = got[0]
                        .to_f64_vec()
                        .iter()
                        .zip(want[0].to_f64_vec())
                        .map(|(g, w)| (g - w).abs())
                        .fold(
                            0.0,
                            |a: f64, d| if d.is_nan() { f64::INFINITY } else { a.max(d) },
                        );
                    let at = format!("{dtype} batch {batch}, {threads} threads, round {round}");
                    assert!(worst <= bound, "{at}: off by {worst}");
                    let same = first.get_or_insert_with(|| got[0].clone());
                    assert!(got[0].bit_eq(same), "{at}: not the first round's bits");
                }
            }
        }
    }
    assert!(PoolAlloc::stats().reused > 0, "the pool served no output");
}
