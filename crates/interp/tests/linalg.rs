//! `dot_general`: layouts of batch/free/contracting axes, integer wrap-around, the
//! canonical summation order, and the compensated (Dot2) mode.

mod common;

use common::*;
use nabla_ir::canonical::fold;
use nabla_ir::{Array, Prim};

fn dot(
    l: &Array,
    r: &Array,
    lc: &[usize],
    rc: &[usize],
    lb: &[usize],
    rb: &[usize],
    comp: bool,
) -> Array {
    run1(
        Prim::DotGeneral {
            lhs_contract: lc.to_vec(),
            rhs_contract: rc.to_vec(),
            lhs_batch: lb.to_vec(),
            rhs_batch: rb.to_vec(),
            compensated: comp,
        },
        &[l.clone(), r.clone()],
    )
}

#[test]
fn matrix_product() {
    let a = f64s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f64s(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    let c = dot(&a, &b, &[1], &[0], &[], &[], false);
    assert_eq!(c.shape(), [2, 2]);
    assert_eq!(get_f64(&c), [58.0, 64.0, 139.0, 154.0]);
    // Contracting a's rows with b's columns instead.
    let at = dot(&a, &b, &[0], &[1], &[], &[], false);
    assert_eq!(at.shape(), [3, 3]);
    // at[j, k] = Σ_i a[i, j] · b[k, i]
    let (av, bv) = (get_f64(&a), get_f64(&b));
    let want: Vec<f64> = (0..3)
        .flat_map(|j| (0..3).map(move |k| (j, k)))
        .map(|(j, k)| (0..2).map(|i| av[i * 3 + j] * bv[k * 2 + i]).sum())
        .collect();
    assert_eq!(get_f64(&at), want);
}

#[test]
fn integer_dot_wraps() {
    let a = i32s(&[2], &[1 << 30, 1 << 30]);
    let b = i32s(&[2], &[2, 2]);
    assert_eq!(get_i32(&dot(&a, &b, &[0], &[0], &[], &[], false)), [0]);
    let u = u32s(&[1], &[u32::MAX]);
    assert_eq!(get_u32(&dot(&u, &u, &[0], &[0], &[], &[], false)), [1]);
}

#[test]
fn batch_axes_come_first_then_lhs_then_rhs_free() {
    // lhs [m=2, b=3, k=4] with batch axis 1; rhs [k=4, n=5, b=3] with batch axis 2.
    let (m, bsz, k, n) = (2usize, 3usize, 4usize, 5usize);
    let lv: Vec<i64> = (0..(m * bsz * k) as i64).collect();
    let rv: Vec<i64> = (0..(k * n * bsz) as i64).map(|x| 3 * x - 7).collect();
    let l = i64s(&[m, bsz, k], &lv);
    let r = i64s(&[k, n, bsz], &rv);
    let out = dot(&l, &r, &[2], &[0], &[1], &[2], false);
    assert_eq!(out.shape(), [bsz, m, n]);
    let got = get_i64(&out);
    for b in 0..bsz {
        for i in 0..m {
            for j in 0..n {
                let want: i64 = (0..k)
                    .map(|t| lv[(i * bsz + b) * k + t] * rv[(t * n + j) * bsz + b])
                    .sum();
                assert_eq!(got[(b * m + i) * n + j], want, "b={b} i={i} j={j}");
            }
        }
    }
}

#[test]
fn contraction_space_is_flattened_in_listed_order() {
    // Two contracting axes listed as (2, 0) on the lhs and (0, 1) on the rhs; sizes
    // large enough that the canonical order differs from a sequential loop.
    let (p, q, m) = (70usize, 80usize, 2usize);
    let mut rng = Rng::new(3);
    let lv: Vec<f64> = (0..q * m * p).map(|_| rng.wide_f64()).collect(); // lhs [q, m, p]
    let rv: Vec<f64> = (0..p * q).map(|_| rng.wide_f64()).collect(); // rhs [p, q]
    let l = f64s(&[q, m, p], &lv);
    let r = f64s(&[p, q], &rv);
    let out = get_f64(&dot(&l, &r, &[2, 0], &[0, 1], &[], &[], false));
    assert_eq!(out.len(), m);
    for (i, &got) in out.iter().enumerate() {
        // Contraction index t = a·q + c walks (p-axis a, q-axis c) row-major.
        let term = |t: usize| {
            let (a, c) = (t / q, t % q);
            lv[(c * m + i) * p + a] * rv[a * q + c]
        };
        let want = fold(p * q, 0.0, term, |x, y| x + y);
        assert_eq!(got.to_bits(), want.to_bits(), "output {i}");
    }
}

#[test]
fn empty_contraction_gives_zeros_and_empty_free_axes_give_empty_results() {
    let a = f32s(&[2, 0], &[]);
    let b = f32s(&[0, 3], &[]);
    let c = dot(&a, &b, &[1], &[0], &[], &[], false);
    assert_eq!(c.shape(), [2, 3]);
    assert_eq!(get_f32(&c), [0.0; 6]);
    let e = dot(
        &f64s(&[0, 4], &[]),
        &f64s(&[4, 2], &[1.0; 8]),
        &[1],
        &[0],
        &[],
        &[],
        true,
    );
    assert_eq!(e.shape(), [0, 2]);
    // Outer product: nothing contracted.
    let o = dot(
        &f64s(&[2], &[1.0, 2.0]),
        &f64s(&[2], &[3.0, 4.0]),
        &[],
        &[],
        &[],
        &[],
        false,
    );
    assert_eq!(get_f64(&o), [3.0, 4.0, 6.0, 8.0]);
}

#[test]
fn compensated_dot_recovers_cancellation_and_product_errors() {
    // Plain: (1e16 + 1) + -1e16 = 0 in the canonical order; exact is 1.
    let x = f64s(&[3], &[1e16, 1.0, -1e16]);
    let ones = f64s(&[3], &[1.0; 3]);
    assert_eq!(get_f64(&dot(&x, &ones, &[0], &[0], &[], &[], false)), [0.0]);
    assert_eq!(get_f64(&dot(&x, &ones, &[0], &[0], &[], &[], true)), [1.0]);
    // (1 + 2^-30)² - (1 + 2^-29) = 2^-60 exactly, but the rounded product loses it:
    // only TwoProduct's error term recovers it.
    let e = 2f64.powi(-30);
    let a = f64s(&[2], &[1.0 + e, -(1.0 + 2.0 * e)]);
    let b = f64s(&[2], &[1.0 + e, 1.0]);
    assert_eq!(get_f64(&dot(&a, &b, &[0], &[0], &[], &[], false)), [0.0]);
    assert_eq!(
        get_f64(&dot(&a, &b, &[0], &[0], &[], &[], true)),
        [2f64.powi(-60)]
    );
    let e32 = 2f32.powi(-12);
    let a32 = f32s(&[2], &[1.0 + e32, -(1.0 + 2.0 * e32)]);
    let b32 = f32s(&[2], &[1.0 + e32, 1.0]);
    assert_eq!(
        get_f32(&dot(&a32, &b32, &[0], &[0], &[], &[], true)),
        [2f32.powi(-24)]
    );
}
