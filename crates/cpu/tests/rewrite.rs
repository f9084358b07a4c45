//! Products with nothing to contract run as fused multiplies, bit for bit what the
//! interpreter's length-one contraction gives (signed zeros, infinities and NaNs
//! included), for every batch-axis order.

use nabla_cpu::program::{Compiled, Fallback};
use nabla_diag::{Diagnostic, Span};
use nabla_ir::{Array, Builder, DType, Prim, Type};

struct InterpFallback;

impl Fallback for InterpFallback {
    fn apply(&self, prim: &Prim, args: &[Array]) -> Result<Vec<Array>, Diagnostic> {
        nabla_interp::apply(prim, args).map_err(Diagnostic::from)
    }
}

fn data(shape: &[usize], d: DType, seed: usize) -> Array {
    let n: usize = shape.iter().product();
    let special = [0.0, -0.0, f64::INFINITY, f64::NAN, -1.5, 3.25];
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let h = (i * 2654435761 + seed * 97) % 1009;
            if h.is_multiple_of(7) {
                special[h % special.len()]
            } else {
                h as f64 / 17.0 - 29.0
            }
        })
        .collect();
    Array::from_f64(shape.to_vec(), v).unwrap().cast(d)
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
