//! Elementwise primitives against hand-computed values: wrapping integers, XLA's
//! division by zero, NaN propagation, signed zeros, rounding, conversions.

mod common;

use common::*;
use nabla_ir::{BinaryOp, CmpOp, DType, Prim, UnaryOp};

fn un(op: UnaryOp, x: &nabla_ir::Array) -> nabla_ir::Array {
    run1(Prim::Unary(op), std::slice::from_ref(x))
}

fn bin(op: BinaryOp, x: &nabla_ir::Array, y: &nabla_ir::Array) -> nabla_ir::Array {
    run1(Prim::Binary(op), &[x.clone(), y.clone()])
}

#[test]
fn integer_add_sub_mul_wrap() {
    let a = i32s(&[3], &[i32::MAX, -1, 1 << 30]);
    let b = i32s(&[3], &[1, i32::MIN, 4]);
    assert_eq!(
        get_i32(&bin(BinaryOp::Add, &a, &b)),
        [i32::MIN, i32::MAX, 1 << 30 | 4]
    );
    assert_eq!(
        get_i32(&bin(BinaryOp::Mul, &a, &b)),
        [i32::MAX, i32::MIN, 0]
    );
    let z = u32s(&[2], &[0, 5]);
    let o = u32s(&[2], &[1, 7]);
    assert_eq!(
        get_u32(&bin(BinaryOp::Sub, &z, &o)),
        [u32::MAX, u32::MAX - 1]
    );
    let big = i64s(&[1], &[i64::MAX]);
    assert_eq!(get_i64(&bin(BinaryOp::Add, &big, &big)), [-2]);
}

#[test]
fn integer_division_truncates_and_never_traps() {
    let a = i32s(&[6], &[7, -7, 7, -7, i32::MIN, 5]);
    let b = i32s(&[6], &[2, 2, -2, 0, -1, 0]);
    assert_eq!(
        get_i32(&bin(BinaryOp::Div, &a, &b)),
        [3, -3, -3, -1, i32::MIN, -1]
    );
    assert_eq!(get_i32(&bin(BinaryOp::Rem, &a, &b)), [1, -1, 1, -7, 0, 5]);
    let u = u32s(&[2], &[7, 7]);
    let d = u32s(&[2], &[0, 2]);
    assert_eq!(get_u32(&bin(BinaryOp::Div, &u, &d)), [u32::MAX, 3]);
    assert_eq!(get_u32(&bin(BinaryOp::Rem, &u, &d)), [7, 1]);
}

#[test]
fn float_remainder_is_fmod_and_division_is_ieee() {
    let a = f64s(&[4], &[5.5, -5.5, 1.0, 0.0]);
    let b = f64s(&[4], &[-2.0, 2.0, 0.0, 0.0]);
    let r = get_f64(&bin(BinaryOp::Rem, &a, &b));
    assert_eq!(r[..2], [1.5, -1.5]);
    assert!(r[2].is_nan() && r[3].is_nan());
    let q = get_f64(&bin(BinaryOp::Div, &a, &b));
    assert_eq!(q[2], f64::INFINITY);
    assert!(q[3].is_nan());
}

#[test]
fn f32_operations_are_the_f32_operations() {
    let mut rng = Rng::new(11);
    let a: Vec<f32> = (0..1000).map(|_| rng.wide_f64() as f32).collect();
    let b: Vec<f32> = (0..1000).map(|_| rng.wide_f64() as f32).collect();
    let (x, y) = (f32s(&[1000], &a), f32s(&[1000], &b));
    let check = |got: Vec<f32>, f: &dyn Fn(usize) -> f32, what: &str| {
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.to_bits(), f(i).to_bits(), "{what} at {i}");
        }
    };
    check(
        get_f32(&bin(BinaryOp::Add, &x, &y)),
        &|i| a[i] + b[i],
        "add",
    );
    check(
        get_f32(&bin(BinaryOp::Mul, &x, &y)),
        &|i| a[i] * b[i],
        "mul",
    );
    check(
        get_f32(&bin(BinaryOp::Div, &x, &y)),
        &|i| a[i] / b[i],
        "div",
    );
    // Single-precision libm, not the f64 function rounded.
    check(get_f32(&un(UnaryOp::Exp, &x)), &|i| libm::expf(a[i]), "exp");
    check(get_f32(&un(UnaryOp::Sin, &x)), &|i| libm::sinf(a[i]), "sin");
    check(
        get_f32(&bin(BinaryOp::Pow, &x, &y)),
        &|i| libm::powf(a[i], b[i]),
        "pow",
    );
}

#[test]
fn max_min_propagate_nan_and_order_signed_zeros() {
    let a = f64s(&[4], &[f64::NAN, 1.0, -0.0, 3.0]);
    let b = f64s(&[4], &[1.0, f64::NAN, 0.0, -2.0]);
    let mx = get_f64(&bin(BinaryOp::Max, &a, &b));
    let mn = get_f64(&bin(BinaryOp::Min, &a, &b));
    assert!(mx[0].is_nan() && mx[1].is_nan() && mn[0].is_nan() && mn[1].is_nan());
    assert_eq!(mx[2].to_bits(), 0.0f64.to_bits());
    assert_eq!(mn[2].to_bits(), (-0.0f64).to_bits());
    assert_eq!((mx[3], mn[3]), (3.0, -2.0));
    let x = f32s(&[2], &[f32::NAN, 2.0]);
    let y = f32s(&[2], &[0.0, f32::NAN]);
    assert!(get_f32(&bin(BinaryOp::Max, &x, &y))
        .iter()
        .all(|v| v.is_nan()));
    let i = i64s(&[2], &[-3, 9]);
    let j = i64s(&[2], &[4, i64::MIN]);
    assert_eq!(get_i64(&bin(BinaryOp::Max, &i, &j)), [4, 9]);
    assert_eq!(get_i64(&bin(BinaryOp::Min, &i, &j)), [-3, i64::MIN]);
}

#[test]
fn bool_logic_and_bool_max_min() {
    let a = bools(&[4], &[false, false, true, true]);
    let b = bools(&[4], &[false, true, false, true]);
    assert_eq!(
        get_bool(&bin(BinaryOp::And, &a, &b)),
        [false, false, false, true]
    );
    assert_eq!(
        get_bool(&bin(BinaryOp::Or, &a, &b)),
        [false, true, true, true]
    );
    assert_eq!(
        get_bool(&bin(BinaryOp::Xor, &a, &b)),
        [false, true, true, false]
    );
    assert_eq!(
        get_bool(&bin(BinaryOp::Max, &a, &b)),
        [false, true, true, true]
    );
    assert_eq!(
        get_bool(&bin(BinaryOp::Min, &a, &b)),
        [false, false, false, true]
    );
    assert_eq!(get_bool(&un(UnaryOp::Not, &a)), [true, true, false, false]);
}

#[test]
fn bitwise_integer_ops_and_shifts() {
    let a = i32s(&[5], &[1, 1, 1, -1, 0b1100]);
    let s = i32s(&[5], &[0, 31, 32, 28, -1]);
    assert_eq!(
        get_i32(&bin(BinaryOp::ShiftLeft, &a, &s)),
        [1, i32::MIN, 0, -(1 << 28), 0]
    );
    assert_eq!(
        get_i32(&bin(BinaryOp::ShiftRightLogical, &a, &s)),
        [1, 0, 0, 0xf, 0]
    );
    let x = u32s(&[3], &[0b1100, 0xffff_0000, 0]);
    let y = u32s(&[3], &[0b1010, 0x00ff_ff00, 0]);
    assert_eq!(
        get_u32(&bin(BinaryOp::And, &x, &y)),
        [0b1000, 0x00ff_0000, 0]
    );
    assert_eq!(
        get_u32(&bin(BinaryOp::Or, &x, &y)),
        [0b1110, 0xffff_ff00, 0]
    );
    assert_eq!(
        get_u32(&bin(BinaryOp::Xor, &x, &y)),
        [0b0110, 0xff00_ff00, 0]
    );
    assert_eq!(
        get_u32(&un(UnaryOp::Not, &x)),
        [!0b1100u32, 0x0000_ffff, u32::MAX]
    );
    assert_eq!(get_i64(&un(UnaryOp::Not, &i64s(&[2], &[5, -1]))), [-6, 0]);
    let big = i64s(&[2], &[1, -1]);
    let amt = i64s(&[2], &[63, 64]);
    assert_eq!(
        get_i64(&bin(BinaryOp::ShiftLeft, &big, &amt)),
        [i64::MIN, 0]
    );
}

#[test]
fn integer_neg_abs_sign_wrap() {
    let a = i32s(&[4], &[i32::MIN, -5, 0, 7]);
    assert_eq!(get_i32(&un(UnaryOp::Neg, &a)), [i32::MIN, 5, 0, -7]);
    assert_eq!(get_i32(&un(UnaryOp::Abs, &a)), [i32::MIN, 5, 0, 7]);
    assert_eq!(get_i32(&un(UnaryOp::Sign, &a)), [-1, -1, 0, 1]);
    let u = u32s(&[3], &[0, 1, 9]);
    assert_eq!(
        get_u32(&un(UnaryOp::Neg, &u)),
        [0, u32::MAX, 0u32.wrapping_sub(9)]
    );
    assert_eq!(get_u32(&un(UnaryOp::Abs, &u)), [0, 1, 9]);
    assert_eq!(get_u32(&un(UnaryOp::Sign, &u)), [0, 1, 1]);
}

#[test]
fn sign_keeps_nan_and_signed_zeros() {
    let x = f64s(&[6], &[f64::NAN, -0.0, 0.0, -3.5, 2.0, f64::NEG_INFINITY]);
    let s = get_f64(&un(UnaryOp::Sign, &x));
    assert!(s[0].is_nan());
    assert_eq!(bits64(&s[1..]), bits64(&[-0.0, 0.0, -1.0, 1.0, -1.0]));
    let y = f32s(&[2], &[-0.0, 1e-45]);
    assert_eq!(
        bits32(&get_f32(&un(UnaryOp::Sign, &y))),
        bits32(&[-0.0, 1.0])
    );
}

#[test]
fn round_is_half_to_even() {
    let v = [0.5, 1.5, 2.5, -0.5, -2.5, 2.4999999, 3.5000001, -0.2];
    let want = [0.0, 2.0, 2.0, -0.0, -2.0, 2.0, 4.0, -0.0];
    let r = get_f64(&un(UnaryOp::Round, &f64s(&[8], &v)));
    assert_eq!(bits64(&r), bits64(&want));
    let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let w32: Vec<f32> = want.iter().map(|&x| x as f32).collect();
    let r32 = get_f32(&un(UnaryOp::Round, &f32s(&[8], &v32)));
    assert_eq!(bits32(&r32), bits32(&w32));
    let fl = get_f64(&un(UnaryOp::Floor, &f64s(&[2], &[-0.5, 1.5])));
    let ce = get_f64(&un(UnaryOp::Ceil, &f64s(&[2], &[-0.5, 1.5])));
    assert_eq!(bits64(&fl), bits64(&[-1.0, 1.0]));
    assert_eq!(bits64(&ce), bits64(&[-0.0, 2.0]));
}

/// Every float unary op against an independent f64 reference (std's methods; libm's
/// `erf`), within a few ulps, in both float dtypes.
#[test]
fn every_float_unary_op_matches_a_reference() {
    let xs = [-0.9, -0.3, 0.0, 0.25, 0.7, 0.95];
    for op in UnaryOp::ALL {
        let reference: fn(f64) -> f64 = match op {
            UnaryOp::Neg => |x| -x,
            UnaryOp::Abs => f64::abs,
            UnaryOp::Sign => f64::signum,
            UnaryOp::Exp => f64::exp,
            UnaryOp::Expm1 => f64::exp_m1,
            UnaryOp::Log => f64::ln,
            UnaryOp::Log1p => f64::ln_1p,
            UnaryOp::Sqrt => f64::sqrt,
            UnaryOp::Rsqrt => |x| 1.0 / x.sqrt(),
            UnaryOp::Sin => f64::sin,
            UnaryOp::Cos => f64::cos,
            UnaryOp::Tan => f64::tan,
            UnaryOp::Tanh => f64::tanh,
            UnaryOp::Asin => f64::asin,
            UnaryOp::Acos => f64::acos,
            UnaryOp::Atan => f64::atan,
            UnaryOp::Sinh => f64::sinh,
            UnaryOp::Cosh => f64::cosh,
            UnaryOp::Erf => libm::erf,
            // erf(erfinv(y)) = y is checked in tests/erfinv.rs.
            UnaryOp::Erfinv => |y| -> f64 {
                if y == 0.0 {
                    return y;
                }
                let mut lo = -10.0f64;
                let mut hi = 10.0f64;
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if libm::erf(mid) < y {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                0.5 * (lo + hi)
            },
            UnaryOp::Floor => f64::floor,
            UnaryOp::Ceil => f64::ceil,
            UnaryOp::Round => f64::round_ties_even,
            // Bool results and integer-only ops are tested on their own.
            UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::Not => continue,
        };
        let got64 = get_f64(&un(op, &f64s(&[xs.len()], &xs)));
        let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let got32 = get_f32(&un(op, &f32s(&[xs.len()], &xs32)));
        for (i, &x) in xs.iter().enumerate() {
            let want = reference(x);
            let want32 = reference(f64::from(xs32[i]));
            if want.is_nan() || want.is_infinite() {
                assert_eq!(got64[i].to_bits(), want.to_bits(), "{}({x})", op.name());
                assert_eq!(
                    f64::from(got32[i]).to_bits(),
                    want32.to_bits(),
                    "f32 {}({x})",
                    op.name()
                );
                continue;
            }
            // sign(0) is 0, not 1 as f64::signum says.
            if matches!(op, UnaryOp::Sign) && x == 0.0 {
                assert_eq!(got64[i], 0.0);
                continue;
            }
            let tol64 = 4.0 * f64::EPSILON * want.abs().max(f64::MIN_POSITIVE);
            let tol32 = 4.0 * f64::from(f32::EPSILON) * want32.abs().max(1e-30);
            assert!(
                (got64[i] - want).abs() <= tol64,
                "{}({x}) = {:e}, want {want:e}",
                op.name(),
                got64[i]
            );
            let g32 = f64::from(got32[i]);
            assert!(
                (g32 - want32).abs() <= tol32,
                "f32 {}({x}) = {g32:e}, want {want32:e}",
                op.name()
            );
        }
    }
}

#[test]
fn nan_and_finiteness_predicates() {
    let x = f64s(&[4], &[f64::NAN, f64::INFINITY, -1.0, f64::NEG_INFINITY]);
    assert_eq!(
        get_bool(&un(UnaryOp::IsNan, &x)),
        [true, false, false, false]
    );
    assert_eq!(
        get_bool(&un(UnaryOp::IsFinite, &x)),
        [false, false, true, false]
    );
}

#[test]
fn pow_and_atan2() {
    let p = get_f64(&bin(
        BinaryOp::Pow,
        &f64s(&[3], &[2.0, -8.0, 0.0]),
        &f64s(&[3], &[0.5, 1.0 / 3.0, 0.0]),
    ));
    assert_eq!(p[0], std::f64::consts::SQRT_2);
    assert!(p[1].is_nan());
    assert_eq!(p[2], 1.0);
    let a = get_f32(&bin(
        BinaryOp::Atan2,
        &f32s(&[2], &[1.0, -0.0]),
        &f32s(&[2], &[1.0, -1.0]),
    ));
    assert_eq!(a[0], std::f32::consts::FRAC_PI_4);
    assert_eq!(a[1], -std::f32::consts::PI);
}

#[test]
fn comparisons_follow_ieee() {
    let a = f64s(&[4], &[f64::NAN, 1.0, -0.0, 2.0]);
    let b = f64s(&[4], &[f64::NAN, 2.0, 0.0, 1.0]);
    let cmp = |op| get_bool(&run1(Prim::Compare(op), &[a.clone(), b.clone()]));
    assert_eq!(cmp(CmpOp::Eq), [false, false, true, false]);
    assert_eq!(cmp(CmpOp::Ne), [true, true, false, true]);
    assert_eq!(cmp(CmpOp::Lt), [false, true, false, false]);
    assert_eq!(cmp(CmpOp::Le), [false, true, true, false]);
    assert_eq!(cmp(CmpOp::Gt), [false, false, false, true]);
    assert_eq!(cmp(CmpOp::Ge), [false, false, true, true]);
    let u = get_bool(&run1(
        Prim::Compare(CmpOp::Lt),
        &[u32s(&[2], &[0, u32::MAX]), u32s(&[2], &[u32::MAX, 0])],
    ));
    assert_eq!(u, [true, false]);
    let t = get_bool(&run1(
        Prim::Compare(CmpOp::Gt),
        &[bools(&[2], &[true, false]), bools(&[2], &[false, false])],
    ));
    assert_eq!(t, [true, false]);
}

#[test]
fn select_picks_per_element() {
    let p = bools(&[2, 2], &[true, false, false, true]);
    let t = i64s(&[2, 2], &[1, 2, 3, 4]);
    let f = i64s(&[2, 2], &[-1, -2, -3, -4]);
    let out = run1(Prim::Select, &[p, t, f]);
    assert_eq!(out.shape(), [2, 2]);
    assert_eq!(get_i64(&out), [1, -2, -3, 4]);
}

#[test]
fn integer_pow_floats_and_ints() {
    let ip = |e, x: &nabla_ir::Array| run1(Prim::IntPow { exponent: e }, std::slice::from_ref(x));
    let x = f64s(&[3], &[2.0, -3.0, f64::NAN]);
    assert_eq!(get_f64(&ip(3, &x))[..2], [8.0, -27.0]);
    assert_eq!(get_f64(&ip(-2, &x))[..2], [0.25, 1.0 / 9.0]);
    assert_eq!(get_f64(&ip(0, &x)), [1.0, 1.0, 1.0]);
    let i = i32s(&[5], &[1, -1, 2, 0, 3]);
    assert_eq!(get_i32(&ip(-1, &i)), [1, -1, 0, -1, 0]);
    // 3^21 = 10460353203 wraps to 10460353203 - 2^33 = 1870418611 in i32.
    assert_eq!(get_i32(&ip(21, &i))[4], 1_870_418_611);
    let f = f32s(&[1], &[1.1]);
    let want = 1.1f32 * (1.1f32 * 1.1f32) * ((1.1f32 * 1.1f32) * (1.1f32 * 1.1f32));
    assert_eq!(get_f32(&ip(7, &f))[0].to_bits(), want.to_bits());
}

#[test]
fn convert_follows_astype() {
    let x = f64s(&[5], &[1.9, -1.9, f64::NAN, 1e20, 0.0]);
    let c = |d| run1(Prim::Convert { dtype: d }, std::slice::from_ref(&x));
    assert_eq!(get_i32(&c(DType::I32)), [1, -1, 0, i32::MAX, 0]);
    assert_eq!(get_bool(&c(DType::Bool)), [true, true, true, true, false]);
    assert_eq!(get_f32(&c(DType::F32))[0], 1.9f32);
    let b = bools(&[2], &[true, false]);
    assert_eq!(
        get_f64(&run1(Prim::Convert { dtype: DType::F64 }, &[b])),
        [1.0, 0.0]
    );
    let n = i32s(&[1], &[-1]);
    assert_eq!(
        get_u32(&run1(Prim::Convert { dtype: DType::U32 }, &[n])),
        [u32::MAX]
    );
}

#[test]
fn empty_and_scalar_operands() {
    let e = f32s(&[0, 3], &[]);
    let out = bin(BinaryOp::Add, &e, &e);
    assert_eq!(out.shape(), [0, 3]);
    assert!(out.is_empty());
    assert_eq!(un(UnaryOp::Exp, &e).shape(), [0, 3]);
    let s = i64s(&[], &[-4]);
    let out = bin(BinaryOp::Mul, &s, &s);
    assert_eq!(out.shape(), [] as [usize; 0]);
    assert_eq!(get_i64(&out), [16]);
    assert_eq!(run1(Prim::StopGradient, std::slice::from_ref(&s)), s);
}
