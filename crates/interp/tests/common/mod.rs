//! Helpers shared by the integration tests: array constructors, typed extractors, a
//! one-result `apply`, and a small deterministic random number generator.
#![allow(dead_code)]

use nabla_interp::apply;
use nabla_ir::{Array, Data, Prim};

pub fn arr(shape: &[usize], data: impl Into<Data>) -> Array {
    Array::new(shape.to_vec(), data.into()).expect("test array shape matches its data")
}

pub fn f64s(shape: &[usize], v: &[f64]) -> Array {
    arr(shape, v.to_vec())
}
pub fn f32s(shape: &[usize], v: &[f32]) -> Array {
    arr(shape, v.to_vec())
}
pub fn i32s(shape: &[usize], v: &[i32]) -> Array {
    arr(shape, v.to_vec())
}
pub fn i64s(shape: &[usize], v: &[i64]) -> Array {
    arr(shape, v.to_vec())
}
pub fn u32s(shape: &[usize], v: &[u32]) -> Array {
    arr(shape, v.to_vec())
}
pub fn bools(shape: &[usize], v: &[bool]) -> Array {
    arr(shape, v.to_vec())
}

/// Applies a one-result primitive, panicking with the error on failure.
pub fn run1(prim: Prim, args: &[Array]) -> Array {
    let mut outs = apply(&prim, args).unwrap_or_else(|e| panic!("{}: {e}", prim.name()));
    assert_eq!(
        outs.len(),
        1,
        "{} returned {} results",
        prim.name(),
        outs.len()
    );
    outs.remove(0)
}

macro_rules! getter {
    ($name:ident, $t:ty, $variant:ident) => {
        pub fn $name(a: &Array) -> Vec<$t> {
            match a.data() {
                Data::$variant(v) => v.clone(),
                other => panic!("expected {} data, got {}", stringify!($t), other.dtype()),
            }
        }
    };
}
getter!(get_f64, f64, F64);
getter!(get_f32, f32, F32);
getter!(get_i32, i32, I32);
getter!(get_i64, i64, I64);
getter!(get_u32, u32, U32);
getter!(get_bool, bool, Bool);

/// Bit patterns, so NaNs and signed zeros compare exactly.
pub fn bits64(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}
pub fn bits32(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// SplitMix64: deterministic test data without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1) with a random binary exponent in [-20, 20], so sums round.
    pub fn wide_f64(&mut self) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let e = (self.next_u64() % 41) as i32 - 20;
        (2.0 * u - 1.0) * 2f64.powi(e)
    }
}
