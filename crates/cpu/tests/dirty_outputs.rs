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
