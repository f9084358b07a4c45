//! Tests of `nabla::io::format`: every expected string below was printed by NumPy 2.4
//! (`str(a)` / `print(a)` with default print options); the array each one was printed
//! from is the one the Rust expression builds.

use nabla::io::{format_array, format_scalar};
use nabla::{Array, Data, Scalar};
use proptest::prelude::*;

fn f64s(shape: &[usize], values: &[f64]) -> Array {
    Array::new(shape.to_vec(), Data::F64(values.to_vec())).unwrap()
}

fn f32s(shape: &[usize], values: &[f32]) -> Array {
    Array::new(shape.to_vec(), Data::F32(values.to_vec())).unwrap()
}

#[test]
fn arrays_print_as_numpy_prints_them() {
    let cases: Vec<(&str, Array, &str)> = vec![
    ("float_vector", f64s(&[3], &[1.0, 2.0, 3.0]), "[1. 2. 3.]"),
    ("float_matrix_pads_fractions", f64s(&[2, 2], &[1.0, 2.5, 3.0, 4.0]), "[[1.  2.5]\n [3.  4. ]]"),
    ("eight_fraction_digits", f64s(&[2], &[1.0 / 3.0, 0.5]), "[0.33333333 0.5       ]"),
    ("int_vector", Array::new(vec![3], Data::I64(vec![1, 2, 3])).unwrap(), "[1 2 3]"),
    ("int_right_aligned", Array::new(vec![2, 2], Data::I32(vec![-5, 10, 200, 7])).unwrap(), "[[ -5  10]\n [200   7]]"),
    ("u32_vector", Array::new(vec![2], Data::U32(vec![0, 4_000_000_000])).unwrap(), "[         0 4000000000]"),
    ("bool_vector", Array::new(vec![2], Data::Bool(vec![true, false])).unwrap(), "[ True False]"),
    ("non_finite", f64s(&[4], &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5]), "[ nan  inf -inf  1.5]"),
    ("all_non_finite", f64s(&[2], &[f64::NAN, f64::NEG_INFINITY]), "[ nan -inf]"),
    ("small_values_go_scientific", f64s(&[2], &[1e-5, 1.5e-5]), "[1.0e-05 1.5e-05]"),
    ("large_values_go_scientific", f64s(&[2], &[1.23456e10, 1.0]), "[1.23456e+10 1.00000e+00]"),
    ("wide_range_goes_scientific", f64s(&[2], &[1.0, 1000.5]), "[1.0000e+00 1.0005e+03]"),
    ("three_digit_exponent", f64s(&[2], &[1e100, 1e-100]), "[1.e+100 1.e-100]"),
    ("negative_zero", f64s(&[2], &[-0.0, 1.0]), "[-0.  1.]"),
    ("scientific_with_nan", f64s(&[2], &[1e-5, f64::NAN]), "[1.e-05    nan]"),
    ("f32_shortest_digits", f32s(&[3], &[0.1, 1.0 / 3.0, 2.0]), "[0.1        0.33333334 2.        ]"),
    ("f32_scientific_true_digits", f32s(&[2], &[1e-5, 1.2345678e-5]), "[9.9999997e-06 1.2345678e-05]"),
    ("f32_switches_at_1e6", f32s(&[2], &[1e6, 2.5]), "[1.0e+06 2.5e+00]"),
    ("wraps_at_75_columns", f64s(&[30], &(0..30).map(|i| f64::from(i) / 29.0).collect::<Vec<_>>()), "[0.         0.03448276 0.06896552 0.10344828 0.13793103 0.17241379\n 0.20689655 0.24137931 0.27586207 0.31034483 0.34482759 0.37931034\n 0.4137931  0.44827586 0.48275862 0.51724138 0.55172414 0.5862069\n 0.62068966 0.65517241 0.68965517 0.72413793 0.75862069 0.79310345\n 0.82758621 0.86206897 0.89655172 0.93103448 0.96551724 1.        ]"),
    ("three_dims", Array::new(vec![2, 2, 3], Data::I64((0..12).collect())).unwrap(), "[[[ 0  1  2]\n  [ 3  4  5]]\n\n [[ 6  7  8]\n  [ 9 10 11]]]"),
    ("summarised_vector", f64s(&[1100], &(0..1100).map(f64::from).collect::<Vec<_>>()), "[0.000e+00 1.000e+00 2.000e+00 ... 1.097e+03 1.098e+03 1.099e+03]"),
    ("summarised_3d", Array::new(vec![2, 10, 100], Data::I64((0..2000).collect())).unwrap(), "[[[   0    1    2 ...   97   98   99]\n  [ 100  101  102 ...  197  198  199]\n  [ 200  201  202 ...  297  298  299]\n  ...\n  [ 700  701  702 ...  797  798  799]\n  [ 800  801  802 ...  897  898  899]\n  [ 900  901  902 ...  997  998  999]]\n\n [[1000 1001 1002 ... 1097 1098 1099]\n  [1100 1101 1102 ... 1197 1198 1199]\n  [1200 1201 1202 ... 1297 1298 1299]\n  ...\n  [1700 1701 1702 ... 1797 1798 1799]\n  [1800 1801 1802 ... 1897 1898 1899]\n  [1900 1901 1902 ... 1997 1998 1999]]]"),
    ("summarised_long_rows_wrap", Array::new(vec![2, 600], Data::I64((0..1200).map(|i| i * 1_000_000_007).collect())).unwrap(), "[[            0    1000000007    2000000014 ...  597000004179\n   598000004186  599000004193]\n [ 600000004200  601000004207  602000004214 ... 1197000008379\n  1198000008386 1199000008393]]"),
    ("empty", f64s(&[0, 3], &[]), "[]"),
    ("column", f64s(&[3, 1], &[0.5, 1.0, 2.0]), "[[0.5]\n [1. ]\n [2. ]]"),
    ("rank0_float_is_scalar_str", Array::scalar(Scalar::F64(3.5)), "3.5"),
    ("rank0_bool", Array::scalar(Scalar::Bool(true)), "True"),
    ("wrapped_rows_in_matrix", f64s(&[2, 12], &(0..24).map(|i| f64::from(i) * 1.25 - 7.0).collect::<Vec<_>>()), "[[-7.   -5.75 -4.5  -3.25 -2.   -0.75  0.5   1.75  3.    4.25  5.5   6.75]\n [ 8.    9.25 10.5  11.75 13.   14.25 15.5  16.75 18.   19.25 20.5  21.75]]"),
    ];
    let mut failures = Vec::new();
    for (name, array, expected) in &cases {
        let got = format_array(array);
        if got != *expected {
            failures.push(format!("{name}:\n--- NumPy\n{expected}\n--- Nabla\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn scalars_print_as_numpy_scalars_str() {
    let cases = [
        (Scalar::F64(3.5), "3.5"),
        (Scalar::F64(1e16), "1e+16"),
        (Scalar::F64(1e-5), "1e-05"),
        (Scalar::F64(0.0001), "0.0001"),
        (Scalar::F64(9999999999999998.0), "9999999999999998.0"),
        (Scalar::F64(-0.0), "-0.0"),
        (Scalar::F64(0.1 + 0.2), "0.30000000000000004"),
        (Scalar::F64(1.5e300), "1.5e+300"),
        (Scalar::F64(f64::NAN), "nan"),
        (Scalar::F64(f64::NEG_INFINITY), "-inf"),
        // float32 scalars switch to scientific notation at 1e6, not 1e16.
        (Scalar::F32(0.1), "0.1"),
        (Scalar::F32(1e6), "1e+06"),
        (Scalar::F32(999999.0), "999999.0"),
        // float32 1e-4 is just below 1e-4.
        (Scalar::F32(1e-4), "1e-04"),
        (Scalar::F32(16777216.0), "1.6777216e+07"),
        (Scalar::I64(-42), "-42"),
        (Scalar::U32(4_000_000_000), "4000000000"),
        (Scalar::Bool(false), "False"),
    ];
    for (s, expected) in cases {
        assert_eq!(format_scalar(s), expected, "{s:?}");
    }
}

#[test]
fn rank0_arrays_print_like_their_scalar() {
    for s in [Scalar::F32(0.1), Scalar::I32(7), Scalar::F64(1e-7)] {
        assert_eq!(format_array(&Array::scalar(s)), format_scalar(s));
    }
}

fn any_array() -> impl Strategy<Value = Array> {
    let shape = prop::collection::vec(0usize..12, 0..4);
    (shape, 0u8..6, any::<u64>()).prop_map(|(shape, kind, seed)| {
        let n: usize = shape.iter().product();
        // A cheap deterministic bit source: arbitrary bit patterns reach subnormals,
        // NaN payloads and extreme exponents.
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let data = match kind {
            0 => Data::F64((0..n).map(|_| f64::from_bits(next())).collect()),
            1 => Data::F32((0..n).map(|_| f32::from_bits(next() as u32)).collect()),
            2 => Data::I64((0..n).map(|_| next() as i64).collect()),
            3 => Data::I32((0..n).map(|_| next() as i32).collect()),
            4 => Data::U32((0..n).map(|_| next() as u32).collect()),
            _ => Data::Bool((0..n).map(|_| next() % 2 == 0).collect()),
        };
        Array::new(shape, data).unwrap()
    })
}

proptest! {
    #[test]
    fn printing_never_panics_and_brackets_balance(a in any_array()) {
        let s = format_array(&a);
        let opens = s.matches('[').count();
        prop_assert_eq!(opens, s.matches(']').count());
        // Summarised arrays (over 1000 elements) show only some sub-arrays.
        if a.rank() > 0 && !a.is_empty() && a.len() <= 1000 {
            // One bracket pair per sub-array along every axis but the last.
            let mut expected = 1usize;
            let mut blocks = 1usize;
            for &d in &a.shape()[..a.rank() - 1] {
                blocks *= d;
                expected += blocks;
            }
            prop_assert_eq!(opens, expected);
            for line in s.lines() {
                prop_assert!(line.len() <= 75, "line over 75 columns: {line:?}");
            }
        }
    }

    #[test]
    fn float64_elements_round_trip_when_shortest_fits(v in prop::collection::vec(-1e6f64..1e6, 1..20)) {
        // Values printed positionally with at most 8 fractional digits parse back to
        // within half a unit of the 8th digit.
        let a = Array::new(vec![v.len()], Data::F64(v.clone())).unwrap();
        let s = format_array(&a);
        let fields: Vec<f64> = s
            .trim_matches(|c| c == '[' || c == ']')
            .split_whitespace()
            .map(|t| t.parse().unwrap())
            .collect();
        prop_assert_eq!(fields.len(), v.len());
        for (x, y) in v.iter().zip(&fields) {
            prop_assert!((x - y).abs() <= 5e-9 * x.abs().max(1.0), "{} printed as {}", x, y);
        }
    }
}
