//! Element types (dtypes), array types (dtype + static shape) and scalar constants.

use std::fmt;

/// The element types of Nabla arrays (LANGUAGE.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I32,
    I64,
    U32,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 6] = [
        DType::Bool,
        DType::I32,
        DType::I64,
        DType::U32,
        DType::F32,
        DType::F64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U32 => "u32",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64 | DType::U32)
    }

    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// Bytes per element in memory and in `.npy` files.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The static type of an IR value: a dtype and a shape known at trace time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl Type {
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>) -> Type {
        Type {
            dtype,
            shape: shape.into(),
        }
    }

    pub fn scalar(dtype: DType) -> Type {
        Type {
            dtype,
            shape: Vec::new(),
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements; saturates instead of overflowing so absurd shapes are caught
    /// by the allocation check rather than wrapping.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    pub fn with_dtype(&self, dtype: DType) -> Type {
        Type {
            dtype,
            shape: self.shape.clone(),
        }
    }
}

/// Product of the dimensions, saturating at `usize::MAX`.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

impl fmt::Display for Type {
    /// `f64[3, 4]`; scalars print as `f64[]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// A single typed constant, the only kind of literal an IR atom can hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    I32(i32),
    I64(i64),
    U32(u32),
    F32(f32),
    F64(f64),
}

impl Scalar {
    pub fn dtype(&self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::I32(_) => DType::I32,
            Scalar::I64(_) => DType::I64,
            Scalar::U32(_) => DType::U32,
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
        }
    }

    /// The value converted to `dtype` with NumPy's `astype` semantics (floats to ints
    /// truncate toward zero and saturate; NaN becomes 0).
    pub fn cast(self, dtype: DType) -> Scalar {
        match dtype {
            DType::Bool => Scalar::Bool(self.is_nonzero()),
            DType::I32 => Scalar::I32(match self {
                Scalar::Bool(b) => b as i32,
                Scalar::I32(v) => v,
                Scalar::I64(v) => v as i32,
                Scalar::U32(v) => v as i32,
                Scalar::F32(v) => v as i32,
                Scalar::F64(v) => v as i32,
            }),
            DType::I64 => Scalar::I64(self.as_i64()),
            DType::U32 => Scalar::U32(match self {
                Scalar::Bool(b) => b as u32,
                Scalar::I32(v) => v as u32,
                Scalar::I64(v) => v as u32,
                Scalar::U32(v) => v,
                Scalar::F32(v) => v as i64 as u32,
                Scalar::F64(v) => v as i64 as u32,
            }),
            DType::F32 => Scalar::F32(match self {
                Scalar::F64(v) => v as f32,
                Scalar::I64(v) => v as f32,
                other => other.as_f64() as f32,
            }),
            DType::F64 => Scalar::F64(self.as_f64()),
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::I32(v) => f64::from(v),
            Scalar::I64(v) => v as f64,
            Scalar::U32(v) => f64::from(v),
            Scalar::F32(v) => f64::from(v),
            Scalar::F64(v) => v,
        }
    }

    pub fn as_i64(self) -> i64 {
        match self {
            Scalar::Bool(b) => i64::from(b),
            Scalar::I32(v) => i64::from(v),
            Scalar::I64(v) => v,
            Scalar::U32(v) => i64::from(v),
            Scalar::F32(v) => v as i64,
            Scalar::F64(v) => v as i64,
        }
    }

    pub fn is_nonzero(self) -> bool {
        match self {
            Scalar::Bool(b) => b,
            Scalar::I32(v) => v != 0,
            Scalar::I64(v) => v != 0,
            Scalar::U32(v) => v != 0,
            Scalar::F32(v) => v != 0.0,
            Scalar::F64(v) => v != 0.0,
        }
    }

    /// Zero of a dtype (`false` for bool).
    pub fn zero(dtype: DType) -> Scalar {
        Scalar::I64(0).cast(dtype)
    }

    pub fn one(dtype: DType) -> Scalar {
        Scalar::I64(1).cast(dtype)
    }
}

impl fmt::Display for Scalar {
    /// The IR's literal syntax: `1.5:f64`, `3:i64`, `true:bool`; floats use Rust's
    /// shortest round-tripping form so print → parse is exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}:bool"),
            Scalar::I32(v) => write!(f, "{v}:i32"),
            Scalar::I64(v) => write!(f, "{v}:i64"),
            Scalar::U32(v) => write!(f, "{v}:u32"),
            Scalar::F32(v) => write!(f, "{}:f32", fmt_float(f64::from(*v), v.is_sign_negative())),
            Scalar::F64(v) => write!(f, "{}:f64", fmt_float(*v, v.is_sign_negative())),
        }
    }
}

fn fmt_float(v: f64, negative: bool) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if negative { "-inf" } else { "inf" }.into()
    } else {
        format!("{v:?}")
    }
}
