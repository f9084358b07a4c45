//! Concrete arrays: typed, row-major, contiguous data with a shape.
//!
//! `Array` is the value every backend consumes and produces, the payload of IR
//! constants, and what the embedding API hands to users. Data is shared behind an
//! `Arc`, so cloning an array is cheap and copy-on-write.

use std::sync::Arc;

use crate::dtype::{numel, DType, Scalar, Type};

/// Typed element storage.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Data {
    pub fn dtype(&self) -> DType {
        match self {
            Data::Bool(_) => DType::Bool,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::U32(_) => DType::U32,
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Data::Bool(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a scalar, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Scalar> {
        Some(match self {
            Data::Bool(v) => Scalar::Bool(*v.get(i)?),
            Data::I32(v) => Scalar::I32(*v.get(i)?),
            Data::I64(v) => Scalar::I64(*v.get(i)?),
            Data::U32(v) => Scalar::U32(*v.get(i)?),
            Data::F32(v) => Scalar::F32(*v.get(i)?),
            Data::F64(v) => Scalar::F64(*v.get(i)?),
        })
    }

    /// `n` copies of one scalar.
    pub fn filled(value: Scalar, n: usize) -> Data {
        match value {
            Scalar::Bool(x) => Data::Bool(vec![x; n]),
            Scalar::I32(x) => Data::I32(vec![x; n]),
            Scalar::I64(x) => Data::I64(vec![x; n]),
            Scalar::U32(x) => Data::U32(vec![x; n]),
            Scalar::F32(x) => Data::F32(vec![x; n]),
            Scalar::F64(x) => Data::F64(vec![x; n]),
        }
    }

    /// Builds storage of `dtype` from scalars (each cast to `dtype`).
    pub fn from_scalars(dtype: DType, values: impl IntoIterator<Item = Scalar>) -> Data {
        let it = values.into_iter().map(|s| s.cast(dtype));
        match dtype {
            DType::Bool => Data::Bool(it.map(|s| s.is_nonzero()).collect()),
            DType::I32 => Data::I32(
                it.map(|s| match s {
                    Scalar::I32(v) => v,
                    _ => unreachable!("cast to i32 yields i32"),
                })
                .collect(),
            ),
            DType::I64 => Data::I64(it.map(|s| s.as_i64()).collect()),
            DType::U32 => Data::U32(
                it.map(|s| match s {
                    Scalar::U32(v) => v,
                    _ => unreachable!("cast to u32 yields u32"),
                })
                .collect(),
            ),
            DType::F32 => Data::F32(
                it.map(|s| match s {
                    Scalar::F32(v) => v,
                    _ => unreachable!("cast to f32 yields f32"),
                })
                .collect(),
            ),
            DType::F64 => Data::F64(it.map(|s| s.as_f64()).collect()),
        }
    }

    /// The elements converted to `dtype` (NumPy `astype`).
    pub fn cast(&self, dtype: DType) -> Data {
        if self.dtype() == dtype {
            return self.clone();
        }
        Data::from_scalars(dtype, (0..self.len()).filter_map(|i| self.get(i)))
    }
}

/// An error building an array from user-provided parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArrayError {
    /// The data length does not match the shape's element count.
    LengthMismatch { shape: Vec<usize>, len: usize },
    /// The requested array is larger than this process will allocate.
    TooLarge { shape: Vec<usize>, dtype: DType },
}

impl std::fmt::Display for ArrayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArrayError::LengthMismatch { shape, len } => write!(
                f,
                "shape {shape:?} has {} elements but the data has {len}",
                numel(shape)
            ),
            ArrayError::TooLarge { shape, dtype } => write!(
                f,
                "an array of shape {shape:?} and dtype {dtype} would need {} bytes",
                byte_size(shape, *dtype).map_or("more than 2^64".to_string(), |b| b.to_string())
            ),
        }
    }
}

impl std::error::Error for ArrayError {}

/// The largest allocation (bytes) an array may ask for: half of the address space is
/// far beyond any machine, but keeping a bound turns absurd shapes into a diagnostic
/// instead of an abort inside the allocator.
pub const MAX_ARRAY_BYTES: u128 = 1 << 40;

fn byte_size(shape: &[usize], dtype: DType) -> Option<u128> {
    shape
        .iter()
        .try_fold(dtype.size_bytes() as u128, |a, &d| a.checked_mul(d as u128))
}

/// Checks that an array of this type may be allocated.
pub fn check_alloc(shape: &[usize], dtype: DType) -> Result<(), ArrayError> {
    match byte_size(shape, dtype) {
        Some(b) if b <= MAX_ARRAY_BYTES => Ok(()),
        _ => Err(ArrayError::TooLarge {
            shape: shape.to_vec(),
            dtype,
        }),
    }
}

/// A concrete n-dimensional array.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    shape: Vec<usize>,
    data: Arc<Data>,
}

impl Array {
    pub fn new(shape: impl Into<Vec<usize>>, data: Data) -> Result<Array, ArrayError> {
        let shape = shape.into();
        if numel(&shape) != data.len() {
            return Err(ArrayError::LengthMismatch {
                shape,
                len: data.len(),
            });
        }
        Ok(Array {
            shape,
            data: Arc::new(data),
        })
    }

    pub fn scalar(value: Scalar) -> Array {
        Array {
            shape: Vec::new(),
            data: Arc::new(Data::filled(value, 1)),
        }
    }

    /// An array of `shape` filled with `value`; fails only for absurd sizes.
    pub fn full(shape: impl Into<Vec<usize>>, value: Scalar) -> Result<Array, ArrayError> {
        let shape = shape.into();
        check_alloc(&shape, value.dtype())?;
        let n = numel(&shape);
        Ok(Array {
            shape,
            data: Arc::new(Data::filled(value, n)),
        })
    }

    pub fn zeros(ty: &Type) -> Result<Array, ArrayError> {
        Array::full(ty.shape.clone(), Scalar::zero(ty.dtype))
    }

    pub fn from_f64(shape: impl Into<Vec<usize>>, data: Vec<f64>) -> Result<Array, ArrayError> {
        Array::new(shape, Data::F64(data))
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn ty(&self) -> Type {
        Type::new(self.dtype(), self.shape.clone())
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Mutable access to the elements, copying them first if they are shared.
    pub fn data_mut(&mut self) -> &mut Data {
        Arc::make_mut(&mut self.data)
    }

    /// The elements, when no other array shares them (so a consumer may overwrite
    /// them); the array back otherwise.
    pub fn try_into_data(self) -> Result<Data, Array> {
        Arc::try_unwrap(self.data).map_err(|data| Array {
            shape: self.shape,
            data,
        })
    }

    pub fn into_data(self) -> Data {
        Arc::try_unwrap(self.data).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Element at flat (row-major) position `i`.
    pub fn get_flat(&self, i: usize) -> Option<Scalar> {
        self.data.get(i)
    }

    /// The single element of a one-element array.
    pub fn to_scalar(&self) -> Option<Scalar> {
        if self.len() == 1 {
            self.data.get(0)
        } else {
            None
        }
    }

    /// Same data viewed with another shape of equal element count.
    pub fn reshaped(&self, shape: impl Into<Vec<usize>>) -> Result<Array, ArrayError> {
        let shape = shape.into();
        if numel(&shape) != self.len() {
            return Err(ArrayError::LengthMismatch {
                shape,
                len: self.len(),
            });
        }
        Ok(Array {
            shape,
            data: Arc::clone(&self.data),
        })
    }

    pub fn cast(&self, dtype: DType) -> Array {
        Array {
            shape: self.shape.clone(),
            data: Arc::new(self.data.cast(dtype)),
        }
    }

    /// All elements as f64 (for tests and printing).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.len())
            .filter_map(|i| self.data.get(i))
            .map(Scalar::as_f64)
            .collect()
    }

    /// Bitwise equality: same shape, dtype and bits (NaN equals NaN of the same bits).
    pub fn bit_eq(&self, other: &Array) -> bool {
        if self.shape != other.shape {
            return false;
        }
        match (&*self.data, &*other.data) {
            (Data::F32(a), Data::F32(b)) => {
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Data::F64(a), Data::F64(b)) => {
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (a, b) => a == b,
        }
    }

    /// [`Array::bit_eq`], except that any NaN equals any NaN: for results whose NaN
    /// payload depends on operand order, which no backend promises to keep.
    pub fn bit_eq_any_nan(&self, other: &Array) -> bool {
        if self.shape != other.shape {
            return false;
        }
        match (&*self.data, &*other.data) {
            (Data::F32(a), Data::F32(b)) => a
                .iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())),
            (Data::F64(a), Data::F64(b)) => a
                .iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())),
            (a, b) => a == b,
        }
    }
}

/// Row-major strides (in elements) of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// A Rust element type that an [`Array`] can hold: the bridge between typed Rust data
/// (`Vec<f64>`, slices, `ndarray`) and the dtype-tagged [`Data`].
pub trait Element: Copy + 'static {
    const DTYPE: DType;
    fn slice(data: &Data) -> Option<&[Self]>;
    fn into_data(v: Vec<Self>) -> Data;
}

macro_rules! typed_from {
    ($t:ty, $variant:ident) => {
        impl From<Vec<$t>> for Data {
            fn from(v: Vec<$t>) -> Data {
                Data::$variant(v)
            }
        }

        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(data: &Data) -> Option<&[$t]> {
                match data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn into_data(v: Vec<$t>) -> Data {
                Data::$variant(v)
            }
        }
    };
}
typed_from!(bool, Bool);
typed_from!(i32, I32);
typed_from!(i64, I64);
typed_from!(u32, U32);
typed_from!(f32, F32);
typed_from!(f64, F64);

impl Array {
    /// An array of `shape` holding `data` in row-major order.
    pub fn from_vec<T: Element>(
        shape: impl Into<Vec<usize>>,
        data: Vec<T>,
    ) -> Result<Array, ArrayError> {
        Array::new(shape, T::into_data(data))
    }

    /// A rank-1 array copied from a slice.
    pub fn from_slice<T: Element>(data: &[T]) -> Array {
        // The shape is the slice's own length, so it always matches.
        Array::new(vec![data.len()], T::into_data(data.to_vec()))
            .expect("a rank-1 shape equal to the slice length matches its data")
    }

    /// The row-major elements, when the array's dtype is `T` (no conversion).
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(self.data())
    }

    /// The row-major elements copied out, when the array's dtype is `T`.
    pub fn to_vec<T: Element>(&self) -> Option<Vec<T>> {
        self.as_slice().map(<[T]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(v: &[f64]) -> Array {
        Array::new(vec![v.len()], Data::F64(v.to_vec())).expect("shape matches the data")
    }

    #[test]
    fn any_nan_equality_ignores_payloads_and_nothing_else() {
        let quiet = f64::NAN;
        let other = f64::from_bits(quiet.to_bits() | 1);
        assert!(!f64s(&[quiet]).bit_eq(&f64s(&[other])));
        assert!(f64s(&[quiet, 1.0]).bit_eq_any_nan(&f64s(&[other, 1.0])));
        assert!(f64s(&[-quiet]).bit_eq_any_nan(&f64s(&[quiet])));
        assert!(!f64s(&[0.0]).bit_eq_any_nan(&f64s(&[-0.0])));
        assert!(!f64s(&[quiet]).bit_eq_any_nan(&f64s(&[1.0])));
        assert!(!f64s(&[1.0, 2.0]).bit_eq_any_nan(&f64s(&[1.0])));
        let f32s = Array::new(vec![1], Data::F32(vec![f32::NAN])).expect("one element");
        assert!(!f32s.bit_eq_any_nan(&f64s(&[f64::NAN])));
        let other32 = Array::new(vec![1], Data::F32(vec![-f32::NAN])).expect("one element");
        assert!(f32s.bit_eq_any_nan(&other32));
    }
}
