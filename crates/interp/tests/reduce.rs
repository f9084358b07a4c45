//! Reductions: hand-computed results, identities of empty reductions, NaN handling,
//! and bitwise agreement with the canonical order of `nabla_ir::canonical`.

mod common;

use common::*;
use nabla_ir::canonical::{compensated_sum, fold};
use nabla_ir::{ArgOp, Array, CumOp, DType, Prim, ReduceOp};

fn reduce(op: ReduceOp, axes: &[usize], x: &Array) -> Array {
    run1(
        Prim::Reduce {
            op,
            axes: axes.to_vec(),
            compensated: false,
        },
        std::slice::from_ref(x),
    )
}

fn comp_sum(axes: &[usize], x: &Array) -> Array {
    run1(
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: axes.to_vec(),
            compensated: true,
        },
        std::slice::from_ref(x),
    )
}

#[test]
fn integer_reductions_over_each_axis() {
    let x = i32s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    assert_eq!(get_i32(&reduce(ReduceOp::Sum, &[0], &x)), [5, 7, 9]);
    assert_eq!(get_i32(&reduce(ReduceOp::Sum, &[1], &x)), [6, 15]);
    assert_eq!(get_i32(&reduce(ReduceOp::Prod, &[1], &x)), [6, 120]);
    assert_eq!(get_i32(&reduce(ReduceOp::Max, &[0, 1], &x)), [6]);
    assert_eq!(get_i32(&reduce(ReduceOp::Min, &[0], &x)), [1, 2, 3]);
    let all = reduce(ReduceOp::Sum, &[0, 1], &x);
    assert_eq!(all.shape(), [] as [usize; 0]);
    let w = i32s(&[2], &[i32::MAX, 1]);
    assert_eq!(get_i32(&reduce(ReduceOp::Sum, &[0], &w)), [i32::MIN]);
    let none = reduce(ReduceOp::Sum, &[], &x);
    assert_eq!(get_i32(&none), get_i32(&x));
}

#[test]
fn several_axes_in_any_listed_order() {
    // x[i, j, k] = 12i + 4j + k; summing axes 0 and 2 leaves axis j.
    let x = i64s(&[2, 3, 4], &(0..24).collect::<Vec<_>>());
    let want: Vec<i64> = (0..3)
        .map(|j| {
            (0..2)
                .flat_map(|i| (0..4).map(move |k| 12 * i + 4 * j + k))
                .sum()
        })
        .collect();
    assert_eq!(get_i64(&reduce(ReduceOp::Sum, &[0, 2], &x)), want);
    assert_eq!(get_i64(&reduce(ReduceOp::Sum, &[2, 0], &x)), want);
}

#[test]
fn empty_reductions_give_identities() {
    let e = f64s(&[2, 0], &[]);
    assert_eq!(get_f64(&reduce(ReduceOp::Sum, &[1], &e)), [0.0, 0.0]);
    assert_eq!(get_f64(&reduce(ReduceOp::Prod, &[1], &e)), [1.0, 1.0]);
    assert_eq!(
        get_f64(&reduce(ReduceOp::Max, &[1], &e)),
        [f64::NEG_INFINITY; 2]
    );
    assert_eq!(
        get_f64(&reduce(ReduceOp::Min, &[1], &e)),
        [f64::INFINITY; 2]
    );
    assert_eq!(get_f64(&comp_sum(&[1], &e)), [0.0, 0.0]);
    let ei = i32s(&[0], &[]);
    assert_eq!(get_i32(&reduce(ReduceOp::Max, &[0], &ei)), [i32::MIN]);
    assert_eq!(get_i32(&reduce(ReduceOp::Min, &[0], &ei)), [i32::MAX]);
    assert_eq!(get_u32(&reduce(ReduceOp::Max, &[0], &u32s(&[0], &[]))), [0]);
    let eb = bools(&[0], &[]);
    assert_eq!(get_bool(&reduce(ReduceOp::And, &[0], &eb)), [true]);
    assert_eq!(get_bool(&reduce(ReduceOp::Or, &[0], &eb)), [false]);
    // Reducing the non-empty axis of an empty array gives an empty result.
    let r = reduce(ReduceOp::Sum, &[0], &e);
    assert_eq!(r.shape(), [0]);
}

#[test]
fn sum_of_negative_zeros_starts_from_positive_zero() {
    let z = f64s(&[3], &[-0.0, -0.0, -0.0]);
    assert_eq!(
        get_f64(&reduce(ReduceOp::Sum, &[0], &z))[0].to_bits(),
        0.0f64.to_bits()
    );
}

#[test]
fn max_min_propagate_nan() {
    let x = f32s(&[2, 3], &[1.0, f32::NAN, 3.0, -1.0, -2.0, -0.0]);
    let mx = get_f32(&reduce(ReduceOp::Max, &[1], &x));
    assert!(mx[0].is_nan());
    assert_eq!(mx[1].to_bits(), (-0.0f32).to_bits());
    let mn = get_f32(&reduce(ReduceOp::Min, &[1], &x));
    assert!(mn[0].is_nan());
    assert_eq!(mn[1], -2.0);
    let s = get_f32(&reduce(ReduceOp::Sum, &[1], &x));
    assert!(s[0].is_nan());
}

#[test]
fn bool_reductions() {
    let b = bools(&[2, 3], &[true, true, true, true, false, true]);
    assert_eq!(get_bool(&reduce(ReduceOp::And, &[1], &b)), [true, false]);
    assert_eq!(
        get_bool(&reduce(ReduceOp::Or, &[0], &b)),
        [true, true, true]
    );
    assert_eq!(get_bool(&reduce(ReduceOp::Min, &[1], &b)), [true, false]);
    assert_eq!(get_bool(&reduce(ReduceOp::Max, &[0, 1], &b)), [true]);
}

fn random_f64(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.wide_f64()).collect()
}

#[test]
fn sum_is_bitwise_the_canonical_fold() {
    for n in [0usize, 1, 7, 4096, 4097, 100_000] {
        let v = random_f64(n, n as u64 + 1);
        let got = get_f64(&reduce(ReduceOp::Sum, &[0], &f64s(&[n], &v)))[0];
        let want = fold(n, 0.0, |i| v[i], |a, b| a + b);
        assert_eq!(got.to_bits(), want.to_bits(), "f64 n = {n}");
        // The canonical order really is not the sequential one for these sizes.
        if n >= 4096 {
            let seq: f64 = v.iter().fold(0.0, |a, &b| a + b);
            assert_ne!(seq.to_bits(), want.to_bits(), "n = {n}: pick another seed");
        }

        let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let got = get_f32(&reduce(ReduceOp::Sum, &[0], &f32s(&[n], &v32)))[0];
        let want = fold(n, 0.0f32, |i| v32[i], |a, b| a + b);
        assert_eq!(got.to_bits(), want.to_bits(), "f32 n = {n}");

        let got = get_f64(&comp_sum(&[0], &f64s(&[n], &v)))[0];
        let want = compensated_sum(n, |i| v[i]);
        assert_eq!(got.to_bits(), want.to_bits(), "compensated f64 n = {n}");
    }
}

#[test]
fn strided_reduced_space_is_flattened_row_major() {
    // Reduce axes 0 and 2 of [r0, m, r2]: output j folds x[i, j, k] in (i, k)
    // row-major order.
    let (r0, m, r2) = (70, 3, 90);
    let v = random_f64(r0 * m * r2, 42);
    let x = f64s(&[r0, m, r2], &v);
    let got = get_f64(&reduce(ReduceOp::Sum, &[0, 2], &x));
    let got_c = get_f64(&comp_sum(&[2, 0], &x));
    for j in 0..m {
        let at = |t: usize| v[((t / r2) * m + j) * r2 + t % r2];
        let want = fold(r0 * r2, 0.0, at, |a, b| a + b);
        assert_eq!(got[j].to_bits(), want.to_bits(), "j = {j}");
        assert_eq!(got_c[j].to_bits(), compensated_sum(r0 * r2, at).to_bits());
    }
}

#[test]
fn compensated_sum_survives_cancellation() {
    let v = [1e16, 1.0, -1e16, 1.0, 3.0, -2.0, 1e-3, -1e-3];
    let x = f64s(&[8], &v);
    assert_eq!(get_f64(&comp_sum(&[0], &x)), [3.0]);
    let plain = get_f64(&reduce(ReduceOp::Sum, &[0], &x))[0];
    assert_ne!(plain, 3.0);
    let x32 = f32s(&[3], &[16_777_216.0, 1.0, -16_777_216.0]);
    assert_eq!(get_f32(&comp_sum(&[0], &x32)), [1.0]);
}

#[test]
fn product_and_max_follow_the_canonical_fold() {
    let v: Vec<f64> = random_f64(5000, 7).iter().map(|x| 1.0 + x * 1e-6).collect();
    let got = get_f64(&reduce(ReduceOp::Prod, &[0], &f64s(&[5000], &v)))[0];
    assert_eq!(
        got.to_bits(),
        fold(5000, 1.0, |i| v[i], |a, b| a * b).to_bits()
    );
    let mx = get_f64(&reduce(ReduceOp::Max, &[0], &f64s(&[5000], &v)))[0];
    assert_eq!(mx, v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
}

#[test]
fn argmax_argmin_take_the_first_extreme() {
    let arg = |op, axis, d, x: &Array| {
        run1(
            Prim::ArgReduce {
                op,
                axis,
                index_dtype: d,
            },
            std::slice::from_ref(x),
        )
    };
    let x = f64s(
        &[2, 4],
        &[1.0, 3.0, 3.0, -1.0, 2.0, f64::NAN, 5.0, f64::NAN],
    );
    assert_eq!(get_i32(&arg(ArgOp::ArgMax, 1, DType::I32, &x)), [1, 1]);
    assert_eq!(get_i64(&arg(ArgOp::ArgMin, 1, DType::I64, &x)), [3, 1]);
    assert_eq!(
        get_u32(&arg(ArgOp::ArgMax, 0, DType::U32, &x)),
        [1, 1, 1, 1]
    );
    let ints = i32s(&[5], &[2, -7, 9, -7, 9]);
    assert_eq!(get_i64(&arg(ArgOp::ArgMax, 0, DType::I64, &ints)), [2]);
    assert_eq!(get_i64(&arg(ArgOp::ArgMin, 0, DType::I64, &ints)), [1]);
    let b = bools(&[3], &[false, true, true]);
    assert_eq!(get_i32(&arg(ArgOp::ArgMax, 0, DType::I32, &b)), [1]);
    let zeros = f32s(&[2], &[-0.0, 0.0]);
    assert_eq!(get_i32(&arg(ArgOp::ArgMax, 0, DType::I32, &zeros)), [0]);
    // An empty result (the other axis is empty) is fine.
    let e = f32s(&[0, 3], &[]);
    assert_eq!(arg(ArgOp::ArgMax, 1, DType::I32, &e).shape(), [0]);
}

#[test]
fn cumulative_sum_and_product() {
    let cum = |op, axis, reverse, x: &Array| {
        run1(
            Prim::Cumulative { op, axis, reverse },
            std::slice::from_ref(x),
        )
    };
    let x = i32s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    assert_eq!(get_i32(&cum(CumOp::Sum, 1, false, &x)), [1, 3, 6, 4, 9, 15]);
    assert_eq!(get_i32(&cum(CumOp::Sum, 1, true, &x)), [6, 5, 3, 15, 11, 6]);
    assert_eq!(get_i32(&cum(CumOp::Sum, 0, false, &x)), [1, 2, 3, 5, 7, 9]);
    assert_eq!(
        get_i32(&cum(CumOp::Prod, 1, false, &x)),
        [1, 2, 6, 4, 20, 120]
    );
    assert_eq!(
        get_i32(&cum(CumOp::Prod, 0, true, &x)),
        [4, 10, 18, 4, 5, 6]
    );
    let w = u32s(&[2], &[u32::MAX, 2]);
    assert_eq!(get_u32(&cum(CumOp::Sum, 0, false, &w)), [u32::MAX, 1]);
    // Sequential: 1e16, then + 1 (lost), then + 1 (lost again).
    let f = f64s(&[3], &[1e16, 1.0, 1.0]);
    assert_eq!(get_f64(&cum(CumOp::Sum, 0, false, &f)), [1e16, 1e16, 1e16]);
    let z = f64s(&[1], &[-0.0]);
    assert_eq!(
        get_f64(&cum(CumOp::Sum, 0, false, &z))[0].to_bits(),
        (-0.0f64).to_bits()
    );
    let e = f32s(&[2, 0], &[]);
    assert_eq!(cum(CumOp::Prod, 1, true, &e).shape(), [2, 0]);
}
