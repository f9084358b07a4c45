//! Shared helpers of the partial evaluation, transpose and linearize tests: parsing
//! hand-written IR, seeded random arguments, evaluation and inner products.

#![allow(dead_code)]

use nabla_ir::{parse_func, self_check, Array, Body, DType, Data, Func, Scalar, Type};

/// Parses hand-written IR, panicking with the parser's message.
pub fn parse(text: &str) -> Func {
    parse_func(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Panics unless `f` verifies and round-trips through its text form.
pub fn check(f: &Func) {
    self_check(f).unwrap_or_else(|e| panic!("{e}\n{f}"));
}

/// A body as a function, to self-check it.
pub fn check_body(name: &str, b: &Body) {
    check(&Func {
        name: name.to_string(),
        body: b.clone(),
    });
}

/// SplitMix64: small, seedable and good enough for test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// Uniform integer in `[lo, hi)`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// A random array: floats in `[-1, 1)`, integers in `[-1, 5)` (so small axes see
    /// out-of-range indices), bools fair.
    pub fn array(&mut self, ty: &Type) -> Array {
        let n = ty.numel();
        let scalars: Vec<Scalar> = (0..n)
            .map(|_| match ty.dtype {
                DType::F64 => Scalar::F64(self.uniform(-1.0, 1.0)),
                DType::F32 => Scalar::F32(self.uniform(-1.0, 1.0) as f32),
                DType::I32 => Scalar::I32(self.int(-1, 5) as i32),
                DType::I64 => Scalar::I64(self.int(-1, 5)),
                DType::U32 => Scalar::U32(self.int(0, 5) as u32),
                DType::Bool => Scalar::Bool(self.next_u64() & 1 == 1),
            })
            .collect();
        Array::new(ty.shape.clone(), Data::from_scalars(ty.dtype, scalars))
            .expect("the data has the shape's element count")
    }

    pub fn arrays(&mut self, types: &[Type]) -> Vec<Array> {
        types.iter().map(|t| self.array(t)).collect()
    }
}

pub fn eval(f: &Func, args: &[Array]) -> Vec<Array> {
    nabla_interp::eval_func(f, args).unwrap_or_else(|e| panic!("{e:?}\n{f}"))
}

pub fn eval_body(b: &Body, args: &[Array]) -> Vec<Array> {
    nabla_interp::eval_body(b, args).unwrap_or_else(|e| panic!("{e:?}\n{b}"))
}

/// `Σ a·b` over float arrays of one shape (in f64).
pub fn inner(a: &Array, b: &Array) -> f64 {
    assert_eq!(a.shape(), b.shape(), "inner product of different shapes");
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| x * y)
        .sum()
}

/// `Σ |a·b|`: the scale against which an inner product's rounding error is measured.
pub fn inner_abs(a: &Array, b: &Array) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x * y).abs())
        .sum()
}

/// Whether two lists of arrays are equal element for element (NaN equal to NaN).
pub fn same(a: &[Array], b: &[Array]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.bit_eq(y))
}

pub fn float(t: &Type) -> bool {
    t.dtype.is_float()
}

/// `x + h·v` for float arrays (other dtypes unchanged).
pub fn axpy(x: &Array, h: f64, v: &Array) -> Array {
    if !x.dtype().is_float() {
        return x.clone();
    }
    let data: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .zip(v.to_f64_vec())
        .map(|(a, b)| a + h * b)
        .collect();
    Array::from_f64(x.shape().to_vec(), data)
        .expect("same shape")
        .cast(x.dtype())
}
