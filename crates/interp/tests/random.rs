//! Threefry-2x32 against the Random123 known-answer vectors (the ones JAX tests
//! with), and the bits-to-float conversions.

mod common;

use common::*;
use nabla_interp::apply;
use nabla_ir::{DType, Prim};

#[test]
fn threefry_known_answers() {
    // (key0, key1, counter0, counter1) -> (out0, out1), from Random123's kat_vectors.
    let kat: [([u32; 4], [u32; 2]); 3] = [
        (
            [0x1319_8a2e, 0x0370_7344, 0x243f_6a88, 0x85a3_08d3],
            [0xc492_3a9c, 0x483d_f7a0],
        ),
        ([0, 0, 0, 0], [0x6b20_0159, 0x99ba_4efe]),
        ([u32::MAX; 4], [0x1cb9_96fc, 0xbb00_2be7]),
    ];
    let col = |j: usize| u32s(&[3], &kat.iter().map(|(i, _)| i[j]).collect::<Vec<_>>());
    let outs = apply(&Prim::Threefry2x32, &[col(0), col(1), col(2), col(3)]).expect("threefry");
    assert_eq!(outs.len(), 2);
    assert_eq!(
        get_u32(&outs[0]),
        kat.iter().map(|(_, o)| o[0]).collect::<Vec<_>>()
    );
    assert_eq!(
        get_u32(&outs[1]),
        kat.iter().map(|(_, o)| o[1]).collect::<Vec<_>>()
    );
}

#[test]
fn threefry_keeps_shape_and_is_elementwise() {
    let k = u32s(&[2, 2], &[0; 4]);
    let x = u32s(&[2, 2], &[0, 1, 2, 0]);
    let outs = apply(&Prim::Threefry2x32, &[k.clone(), k, x.clone(), x]).expect("threefry");
    assert_eq!(outs[0].shape(), [2, 2]);
    let y0 = get_u32(&outs[0]);
    assert_eq!(y0[0], 0x6b20_0159);
    assert_eq!(y0[3], 0x6b20_0159);
    assert_ne!(y0[1], y0[0]);
    let e = u32s(&[0], &[]);
    let outs = apply(&Prim::Threefry2x32, &[e.clone(), e.clone(), e.clone(), e]).expect("empty");
    assert!(outs[0].is_empty() && outs[1].is_empty());
}

#[test]
fn bits_to_unit_floats() {
    let bits = u32s(&[4], &[0, u32::MAX, 0x8000_0000, 0x0000_0200]);
    let f = get_f32(&run1(Prim::BitsToUnit { dtype: DType::F32 }, &[bits]));
    assert_eq!(f, [0.0, 1.0 - f32::EPSILON, 0.5, f32::EPSILON]);
    let hi = u32s(&[3], &[0, u32::MAX, 0x4000_0000]);
    let lo = u32s(&[3], &[0x1000, u32::MAX, 0]);
    let d = get_f64(&run1(Prim::BitsToUnit { dtype: DType::F64 }, &[hi, lo]));
    assert_eq!(d, [f64::EPSILON, 1.0 - f64::EPSILON, 0.25]);
}
