//! Data-movement primitives against hand-computed layouts, including empty and rank-0
//! arrays, negative padding, clamped gathers and dynamic slices, and scatter order.

mod common;

use common::*;
use nabla_ir::{Array, DType, Prim, Scalar, ScatterMode};

fn iota_f64(shape: &[usize]) -> Array {
    let n: usize = shape.iter().product();
    f64s(shape, &(0..n).map(|i| i as f64).collect::<Vec<_>>())
}

#[test]
fn iota_counts_along_its_axis() {
    let a = run1(
        Prim::Iota {
            dtype: DType::I32,
            shape: vec![2, 3],
            axis: 1,
        },
        &[],
    );
    assert_eq!(get_i32(&a), [0, 1, 2, 0, 1, 2]);
    let b = run1(
        Prim::Iota {
            dtype: DType::F32,
            shape: vec![3, 2],
            axis: 0,
        },
        &[],
    );
    assert_eq!(get_f32(&b), [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
    let e = run1(
        Prim::Iota {
            dtype: DType::U32,
            shape: vec![0, 4],
            axis: 1,
        },
        &[],
    );
    assert_eq!(e.shape(), [0, 4]);
    assert!(e.is_empty());
}

#[test]
fn constant_returns_its_value() {
    let v = i64s(&[2], &[3, 4]);
    assert_eq!(run1(Prim::Constant { value: v.clone() }, &[]), v);
}

#[test]
fn broadcast_in_dim_repeats_size_one_and_missing_axes() {
    let row = f64s(&[3], &[1.0, 2.0, 3.0]);
    let b = run1(
        Prim::BroadcastInDim {
            shape: vec![2, 3],
            dims: vec![1],
        },
        &[row],
    );
    assert_eq!(get_f64(&b), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    let col = i32s(&[2, 1], &[7, 8]);
    let c = run1(
        Prim::BroadcastInDim {
            shape: vec![2, 3],
            dims: vec![0, 1],
        },
        &[col],
    );
    assert_eq!(get_i32(&c), [7, 7, 7, 8, 8, 8]);
    let s = run1(
        Prim::BroadcastInDim {
            shape: vec![2, 2],
            dims: vec![],
        },
        &[bools(&[], &[true])],
    );
    assert_eq!(get_bool(&s), [true; 4]);
    let e = run1(
        Prim::BroadcastInDim {
            shape: vec![0, 5],
            dims: vec![1],
        },
        &[f32s(&[5], &[1.0; 5])],
    );
    assert_eq!(e.shape(), [0, 5]);
}

#[test]
fn reshape_keeps_row_major_order() {
    let r = run1(Prim::Reshape { shape: vec![3, 2] }, &[iota_f64(&[2, 3])]);
    assert_eq!(r.shape(), [3, 2]);
    assert_eq!(get_f64(&r), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let s = run1(Prim::Reshape { shape: vec![] }, &[i32s(&[1, 1], &[9])]);
    assert_eq!(s.shape(), [] as [usize; 0]);
}

#[test]
fn transpose_permutes_axes() {
    // x[i, j, k] = 12i + 4j + k, shape [2, 3, 4]; y = transpose(x, [2, 0, 1]) has
    // y[k, i, j] = x[i, j, k].
    let x = iota_f64(&[2, 3, 4]);
    let y = run1(
        Prim::Transpose {
            perm: vec![2, 0, 1],
        },
        &[x],
    );
    assert_eq!(y.shape(), [4, 2, 3]);
    let v = get_f64(&y);
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(v[k * 6 + i * 3 + j], (12 * i + 4 * j + k) as f64);
            }
        }
    }
}

#[test]
fn slice_with_strides() {
    let x = iota_f64(&[10]);
    let s = run1(
        Prim::Slice {
            start: vec![1],
            limit: vec![8],
            stride: vec![3],
        },
        &[x],
    );
    assert_eq!(get_f64(&s), [1.0, 4.0, 7.0]);
    let m = iota_f64(&[3, 4]);
    let t = run1(
        Prim::Slice {
            start: vec![1, 1],
            limit: vec![3, 4],
            stride: vec![1, 2],
        },
        std::slice::from_ref(&m),
    );
    assert_eq!(t.shape(), [2, 2]);
    assert_eq!(get_f64(&t), [5.0, 7.0, 9.0, 11.0]);
    let e = run1(
        Prim::Slice {
            start: vec![2, 0],
            limit: vec![2, 4],
            stride: vec![1, 1],
        },
        &[m],
    );
    assert_eq!(e.shape(), [0, 4]);
}

#[test]
fn pad_with_positive_and_negative_widths() {
    let x = i32s(&[3], &[1, 2, 3]);
    let zero = i32s(&[], &[0]);
    let p = run1(
        Prim::Pad {
            lo: vec![2],
            hi: vec![-1],
        },
        &[x.clone(), zero.clone()],
    );
    assert_eq!(get_i32(&p), [0, 0, 1, 2]);
    let q = run1(
        Prim::Pad {
            lo: vec![-2],
            hi: vec![1],
        },
        &[x.clone(), i32s(&[], &[9])],
    );
    assert_eq!(get_i32(&q), [3, 9]);
    let gone = run1(
        Prim::Pad {
            lo: vec![-3],
            hi: vec![0],
        },
        &[x, zero],
    );
    assert_eq!(gone.shape(), [0]);
    // 2-D: crop a row at the top, add a column of -1 on the right.
    let m = f64s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let r = run1(
        Prim::Pad {
            lo: vec![-1, 0],
            hi: vec![1, 1],
        },
        &[m, f64s(&[], &[-1.0])],
    );
    assert_eq!(r.shape(), [2, 3]);
    assert_eq!(get_f64(&r), [3.0, 4.0, -1.0, -1.0, -1.0, -1.0]);
    // Extreme widths that cancel: everything cropped, everything padded.
    let w = run1(
        Prim::Pad {
            lo: vec![i64::MIN + 1],
            hi: vec![i64::MAX],
        },
        &[i32s(&[3], &[1, 2, 3]), i32s(&[], &[9])],
    );
    assert_eq!(get_i32(&w), [9, 9, 9]);
    // Padding an empty axis.
    let e = run1(
        Prim::Pad {
            lo: vec![1],
            hi: vec![1],
        },
        &[f32s(&[0], &[]), f32s(&[], &[5.0])],
    );
    assert_eq!(get_f32(&e), [5.0, 5.0]);
}

#[test]
fn concat_along_an_inner_axis() {
    let a = i64s(&[2, 1], &[1, 2]);
    let b = i64s(&[2, 2], &[3, 4, 5, 6]);
    let e = i64s(&[2, 0], &[]);
    let c = run1(Prim::Concat { axis: 1 }, &[a, e, b]);
    assert_eq!(c.shape(), [2, 3]);
    assert_eq!(get_i64(&c), [1, 3, 4, 2, 5, 6]);
}

#[test]
fn rev_reverses_listed_axes() {
    let x = iota_f64(&[2, 3]);
    let r = run1(Prim::Rev { axes: vec![1] }, std::slice::from_ref(&x));
    assert_eq!(get_f64(&r), [2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    let both = run1(Prim::Rev { axes: vec![0, 1] }, &[x]);
    assert_eq!(get_f64(&both), [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
    let e = run1(Prim::Rev { axes: vec![0] }, &[f64s(&[0], &[])]);
    assert!(e.is_empty());
}

#[test]
fn take_clamps_indices() {
    let x = f64s(&[3], &[10.0, 20.0, 30.0]);
    let idx = i64s(&[4], &[-1, 5, 1, 2]);
    let t = run1(Prim::Take { axis: 0 }, &[x, idx]);
    assert_eq!(get_f64(&t), [10.0, 30.0, 20.0, 30.0]);
    // Along axis 1 with 2-D indices: result shape [2] ++ [2, 2] ++ [].
    let m = iota_f64(&[2, 3]);
    let ix = u32s(&[2, 2], &[2, 0, 1, 1]);
    let t = run1(Prim::Take { axis: 1 }, &[m, ix]);
    assert_eq!(t.shape(), [2, 2, 2]);
    assert_eq!(get_f64(&t), [2.0, 0.0, 1.0, 1.0, 5.0, 3.0, 4.0, 4.0]);
    // Gathering from an empty axis yields zeros.
    let empty = i32s(&[2, 0], &[]);
    let z = run1(Prim::Take { axis: 1 }, &[empty, i32s(&[3], &[0, 1, 2])]);
    assert_eq!(z.shape(), [2, 3]);
    assert_eq!(get_i32(&z), [0; 6]);
}

#[test]
fn scatter_set_keeps_last_write_and_drops_out_of_range() {
    let x = i32s(&[4], &[0, 0, 0, 0]);
    let idx = i64s(&[5], &[1, 3, 1, -1, 4]);
    let upd = i32s(&[5], &[10, 30, 11, 99, 98]);
    let s = run1(
        Prim::Scatter {
            axis: 0,
            mode: ScatterMode::Set,
        },
        &[x.clone(), idx.clone(), upd.clone()],
    );
    assert_eq!(get_i32(&s), [0, 11, 0, 30]);
    let a = run1(
        Prim::Scatter {
            axis: 0,
            mode: ScatterMode::Add,
        },
        &[x, idx, upd],
    );
    assert_eq!(get_i32(&a), [0, 21, 0, 30]);
}

#[test]
fn scatter_add_accumulates_in_index_order() {
    // 1e16 + 1 + 1 in order gives 1e16 (each 1 is lost); a different order would not.
    let x = f64s(&[1], &[0.0]);
    let idx = i32s(&[3], &[0, 0, 0]);
    let upd = f64s(&[3], &[1e16, 1.0, 1.0]);
    let a = run1(
        Prim::Scatter {
            axis: 0,
            mode: ScatterMode::Add,
        },
        &[x, idx, upd],
    );
    assert_eq!(get_f64(&a), [1e16]);
    // Along axis 1 of a matrix, and bool add is `or`.
    let m = bools(&[2, 2], &[false, true, false, false]);
    let u = bools(&[2, 1], &[true, false]);
    let b = run1(
        Prim::Scatter {
            axis: 1,
            mode: ScatterMode::Add,
        },
        &[m, u32s(&[1], &[0]), u],
    );
    assert_eq!(get_bool(&b), [true, true, false, false]);
}

#[test]
fn dynamic_slice_clamps_starts() {
    let x = iota_f64(&[4, 4]);
    let s = |r: i64, c: i64| {
        run1(
            Prim::DynamicSlice { sizes: vec![2, 3] },
            &[x.clone(), i64s(&[], &[r]), i64s(&[], &[c])],
        )
    };
    assert_eq!(get_f64(&s(1, 0)), [4.0, 5.0, 6.0, 8.0, 9.0, 10.0]);
    assert_eq!(get_f64(&s(5, 9)), [9.0, 10.0, 11.0, 13.0, 14.0, 15.0]);
    assert_eq!(get_f64(&s(-3, -1)), [0.0, 1.0, 2.0, 4.0, 5.0, 6.0]);
    let u = run1(
        Prim::DynamicSlice { sizes: vec![2] },
        &[iota_f64(&[5]), u32s(&[], &[u32::MAX])],
    );
    assert_eq!(get_f64(&u), [3.0, 4.0]);
}

#[test]
fn dynamic_update_slice_clamps_starts() {
    let x = i32s(&[2, 3], &[0; 6]);
    let upd = i32s(&[1, 2], &[7, 8]);
    let d = |r: i32, c: i32| {
        run1(
            Prim::DynamicUpdateSlice,
            &[x.clone(), upd.clone(), i32s(&[], &[r]), i32s(&[], &[c])],
        )
    };
    assert_eq!(get_i32(&d(0, 1)), [0, 7, 8, 0, 0, 0]);
    assert_eq!(get_i32(&d(7, 7)), [0, 0, 0, 0, 7, 8]);
    assert_eq!(get_i32(&d(-1, -1)), [7, 8, 0, 0, 0, 0]);
    // The operand is not modified in place.
    assert_eq!(get_i32(&x), [0; 6]);
}

#[test]
fn literal_pad_value_scalar_array() {
    let x = f32s(&[1], &[1.0]);
    let v = Array::scalar(Scalar::F32(2.5));
    let p = run1(
        Prim::Pad {
            lo: vec![1],
            hi: vec![0],
        },
        &[x, v],
    );
    assert_eq!(get_f32(&p), [2.5, 1.0]);
}
