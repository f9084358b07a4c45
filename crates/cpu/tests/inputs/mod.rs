//! Small deterministic inputs for the CPU backend's tests: ordinary values on a grid,
//! or with the special values (signed zeros, infinities, NaN) mixed in; and the
//! magnitudes of arrays, for error bounds.

#![allow(dead_code)]

use nabla_ir::{Array, DType, Data};

/// `len` values in `[-scale, scale)`, multiples of `scale / 512`, from a xorshift
/// sequence seeded by `seed`: sums and products of a few of them stay exact.
pub fn grid(len: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state % 1024) as f64 - 512.0) * scale / 512.0
        })
        .collect()
}

/// An f64 array of `shape` from [`grid`].
pub fn grid_array(shape: &[usize], seed: u64, scale: f64) -> Array {
    let n = shape.iter().product();
    Array::from_f64(shape.to_vec(), grid(n, seed, scale)).expect("the length is the shape's")
}

/// An array of `shape` and dtype `d` with about one element in seven special (±0,
/// ±inf, NaN) and the rest ordinary values of a few magnitudes, from `seed`.
pub fn with_specials(shape: &[usize], d: DType, seed: usize) -> Array {
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
    Array::from_f64(shape.to_vec(), v)
        .expect("the length is the shape's")
        .cast(d)
}

/// `|a|` elementwise for float arrays (other dtypes as they are): the operands of an
/// error bound `Σ|l·r|`.
pub fn magnitudes(a: &Array) -> Array {
    let data = match a.data() {
        Data::F64(v) => Data::F64(v.iter().map(|x| x.abs()).collect()),
        Data::F32(v) => Data::F32(v.iter().map(|x| x.abs()).collect()),
        other => other.clone(),
    };
    Array::new(a.shape().to_vec(), data).expect("the data is the array's own")
}
