//! Conversions between Nabla arrays and `ndarray::ArrayD` (default feature `ndarray`).

use ndarray::{ArrayD, IxDyn};

use nabla_ir::array::Element;
use nabla_ir::Array;

use crate::Output;

/// A Nabla array holding a copy of `a`'s elements in row-major order (any memory layout,
/// including transposed and sliced views' owners, is read in logical order).
pub fn from_ndarray<T: Element>(a: &ArrayD<T>) -> Array {
    let data: Vec<T> = a.iter().copied().collect();
    // The data was collected from an array of exactly this shape.
    Array::from_vec(a.shape().to_vec(), data).expect("an ndarray's element count matches its shape")
}

/// An `ndarray` copy of `a`, when its dtype is `T` (`None` otherwise: no silent casts).
pub fn to_ndarray<T: Element>(a: &Array) -> Option<ArrayD<T>> {
    let data = a.to_vec::<T>()?;
    // Nabla arrays are row-major with exactly `shape.product()` elements.
    Some(
        ArrayD::from_shape_vec(IxDyn(a.shape()), data)
            .expect("a Nabla array's element count matches its shape"),
    )
}

impl<T: Element> From<ArrayD<T>> for Output {
    fn from(a: ArrayD<T>) -> Output {
        Output::Array(from_ndarray(&a))
    }
}

impl<T: Element> From<&ArrayD<T>> for Output {
    fn from(a: &ArrayD<T>) -> Output {
        Output::Array(from_ndarray(a))
    }
}

/// Why an [`Output`] did not convert to an `ndarray`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToNdarrayError {
    /// The output is a tuple, not a single array.
    Tuple,
    /// The array's dtype is not the requested element type.
    DType {
        found: nabla_ir::DType,
        wanted: nabla_ir::DType,
    },
}

impl std::fmt::Display for ToNdarrayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToNdarrayError::Tuple => write!(f, "the value is a tuple, not an array"),
            ToNdarrayError::DType { found, wanted } => {
                write!(f, "the array is {found}, not {wanted}")
            }
        }
    }
}

impl std::error::Error for ToNdarrayError {}

impl<T: Element> TryFrom<Output> for ArrayD<T> {
    type Error = ToNdarrayError;
    fn try_from(o: Output) -> Result<ArrayD<T>, ToNdarrayError> {
        match o {
            Output::Tuple(_) => Err(ToNdarrayError::Tuple),
            Output::Array(a) => to_ndarray(&a).ok_or(ToNdarrayError::DType {
                found: a.dtype(),
                wanted: T::DTYPE,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Axis};

    #[test]
    fn round_trips_in_logical_order_for_any_layout() {
        let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
        let t = a.t().to_owned().into_dyn();
        let n = from_ndarray(&t);
        assert_eq!(n.shape(), &[3, 2]);
        assert_eq!(
            n.to_vec::<f64>().unwrap(),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(to_ndarray::<f64>(&n).unwrap(), t);
        let col = a.index_axis(Axis(1), 1).to_owned();
        assert_eq!(from_ndarray(&col).to_vec::<f64>().unwrap(), vec![2.0, 5.0]);
    }

    #[test]
    fn refuses_the_wrong_dtype_and_tuples() {
        let n = Array::from_vec(vec![2], vec![1i32, 2]).unwrap();
        assert!(to_ndarray::<f64>(&n).is_none());
        let err = ArrayD::<f64>::try_from(Output::Array(n)).unwrap_err();
        assert_eq!(err.to_string(), "the array is i32, not f64");
        assert_eq!(
            ArrayD::<f64>::try_from(Output::Tuple(vec![])).unwrap_err(),
            ToNdarrayError::Tuple
        );
    }
}
