//! Concat and running sums/products on the CPU equal the interpreter's bit for bit.

use nabla_cpu::native::{concat, cumulative};
use nabla_ir::{Array, CumOp, Prim};

fn data(shape: &[usize], seed: u64) -> Array {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 37.0 - 13.0)
        .collect();
    Array::from_vec(shape.to_vec(), v).unwrap()
}

#[test]
fn running_sums_and_products_match_the_interpreter() {
    for shape in [
        vec![0],
        vec![1],
        vec![9],
        vec![4, 5],
        vec![3, 1, 6],
        vec![2, 3, 4],
    ] {
        for axis in 0..shape.len() {
            for op in [CumOp::Sum, CumOp::Prod] {
                for reverse in [false, true] {
                    let x = data(&shape, 7);
                    let got = cumulative(&x, op, axis, reverse).unwrap();
                    let prim = Prim::Cumulative { op, axis, reverse };
                    let want = nabla_interp::apply(&prim, &[x]).unwrap().remove(0);
                    assert!(got.bit_eq(&want), "{shape:?} axis {axis} {op:?} {reverse}");
                    let xi = data(&shape, 3).cast(nabla_ir::DType::I32);
                    let got = cumulative(&xi, op, axis, reverse).unwrap();
                    let want = nabla_interp::apply(&prim, &[xi]).unwrap().remove(0);
                    assert!(
                        got.bit_eq(&want),
                        "i32 {shape:?} axis {axis} {op:?} {reverse}"
                    );
                }
            }
        }
    }
}

#[test]
fn concat_matches_the_interpreter() {
    for (shapes, axis) in [
        (vec![vec![3], vec![0], vec![5]], 0),
        (vec![vec![2, 3], vec![2, 1], vec![2, 4]], 1),
        (vec![vec![1, 3], vec![4, 3]], 0),
        (vec![vec![2, 2, 3], vec![2, 5, 3]], 1),
    ] {
        let xs: Vec<Array> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| data(s, i as u64))
            .collect();
        let got = concat(&xs, axis).unwrap();
        let want = nabla_interp::apply(&Prim::Concat { axis }, &xs)
            .unwrap()
            .remove(0);
        assert!(got.bit_eq(&want), "{shapes:?} axis {axis}");
    }
}
