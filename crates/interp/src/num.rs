//! Per-dtype element arithmetic shared by every rule: the `Elem`/`Num`/`Int`/`Float`
//! traits fix once what "add", "max", "divide" or "exp" mean for each dtype, so each
//! primitive is written once, generically.
//!
//! Semantics follow XLA (what JAX users observe): integer arithmetic wraps, integer
//! division by zero gives -1 (all bits set) and remainder by zero gives the dividend,
//! `MIN / -1` wraps to `MIN`, max/min propagate NaN. Transcendental functions come from
//! the pure-Rust `libm` crate rather than the host's C library so the oracle's bits do
//! not depend on the platform it runs on.

use nabla_ir::canonical;
use nabla_ir::{DType, Data};

use nabla_ir::special;

/// Any element type: what shape manipulation, selection and comparison need.
pub(crate) trait Elem: Copy + PartialOrd + 'static {
    const DTYPE: DType;
    /// Wraps a vector into the matching storage variant.
    fn wrap(v: Vec<Self>) -> Data;
    /// The typed elements of `d` when it holds this dtype.
    fn slice(d: &Data) -> Option<&[Self]>;
    fn is_nan(self) -> bool;
    /// What `scatter_add` does to two elements (XLA's `add`; `or` for bool).
    fn accumulate(self, other: Self) -> Self;
}

/// Numeric element types (every dtype but bool).
pub(crate) trait Num: Elem {
    const ZERO: Self;
    const ONE: Self;
    /// Identity of `max`: -inf for floats, `MIN` for integers.
    const LOWEST: Self;
    /// Identity of `min`: +inf for floats, `MAX` for integers.
    const HIGHEST: Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// True division for floats, XLA's truncating division for integers.
    fn div(self, o: Self) -> Self;
    /// `fmod` for floats, XLA's truncated remainder for integers.
    fn rem(self, o: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn sign(self) -> Self;
    /// Maximum that propagates NaN and orders `-0 < +0` (IEEE 754-2019 `maximum`),
    /// so a reduction's result does not depend on which of two equal zeros comes first.
    fn max_nan(self, o: Self) -> Self;
    fn min_nan(self, o: Self) -> Self;
}

/// Integer element types.
pub(crate) trait Int: Num {
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn not(self) -> Self;
    /// Shift amounts are read as unsigned: negative or `>= BITS` shifts give 0.
    fn shl(self, o: Self) -> Self;
    fn shr_logical(self, o: Self) -> Self;
}

/// Float element types.
pub(crate) trait Float: Num + canonical::Float {
    fn exp(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn tanh(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn erf(self) -> Self;
    fn erfinv(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round_even(self) -> Self;
    fn pow(self, o: Self) -> Self;
    fn atan2(self, o: Self) -> Self;
}

impl Elem for bool {
    const DTYPE: DType = DType::Bool;
    fn wrap(v: Vec<bool>) -> Data {
        Data::Bool(v)
    }
    fn slice(d: &Data) -> Option<&[bool]> {
        match d {
            Data::Bool(v) => Some(v),
            Data::I32(_) | Data::I64(_) | Data::U32(_) | Data::F32(_) | Data::F64(_) => None,
        }
    }
    fn is_nan(self) -> bool {
        false
    }
    fn accumulate(self, other: bool) -> bool {
        self | other
    }
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident, $is_nan:expr) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$variant;
            fn wrap(v: Vec<$t>) -> Data {
                Data::$variant(v)
            }
            fn slice(d: &Data) -> Option<&[$t]> {
                match d {
                    Data::$variant(v) => Some(v),
                    // Lists every variant (this one included, hence the allow) so that a
                    // new dtype breaks the build here.
                    #[allow(unreachable_patterns)]
                    Data::Bool(_)
                    | Data::I32(_)
                    | Data::I64(_)
                    | Data::U32(_)
                    | Data::F32(_)
                    | Data::F64(_) => None,
                }
            }
            fn is_nan(self) -> bool {
                let f: fn($t) -> bool = $is_nan;
                f(self)
            }
            fn accumulate(self, other: $t) -> $t {
                Num::add(self, other)
            }
        }
    };
}

macro_rules! impl_int {
    ($t:ty, $variant:ident, $ut:ty) => {
        impl_elem!($t, $variant, |_| false);

        impl Num for $t {
            const ZERO: $t = 0;
            const ONE: $t = 1;
            const LOWEST: $t = <$t>::MIN;
            const HIGHEST: $t = <$t>::MAX;
            fn add(self, o: $t) -> $t {
                self.wrapping_add(o)
            }
            fn sub(self, o: $t) -> $t {
                self.wrapping_sub(o)
            }
            fn mul(self, o: $t) -> $t {
                self.wrapping_mul(o)
            }
            fn div(self, o: $t) -> $t {
                // XLA defines x / 0 as -1 (all bits set) instead of trapping.
                if o == 0 {
                    !0
                } else {
                    self.wrapping_div(o)
                }
            }
            fn rem(self, o: $t) -> $t {
                if o == 0 {
                    self
                } else {
                    self.wrapping_rem(o)
                }
            }
            fn neg(self) -> $t {
                self.wrapping_neg()
            }
            #[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
            fn abs(self) -> $t {
                if self < 0 {
                    self.wrapping_neg()
                } else {
                    self
                }
            }
            #[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
            fn sign(self) -> $t {
                if self > 0 {
                    1
                } else if self < 0 {
                    Self::ZERO.wrapping_sub(1)
                } else {
                    0
                }
            }
            fn max_nan(self, o: $t) -> $t {
                Ord::max(self, o)
            }
            fn min_nan(self, o: $t) -> $t {
                Ord::min(self, o)
            }
        }

        impl Int for $t {
            fn and(self, o: $t) -> $t {
                self & o
            }
            fn or(self, o: $t) -> $t {
                self | o
            }
            fn xor(self, o: $t) -> $t {
                self ^ o
            }
            fn not(self) -> $t {
                !self
            }
            fn shl(self, o: $t) -> $t {
                // `try_from` fails for negative amounts, `checked_shl` for `>= BITS`.
                u32::try_from(o)
                    .ok()
                    .and_then(|s| self.checked_shl(s))
                    .unwrap_or(0)
            }
            #[allow(clippy::unnecessary_cast)]
            fn shr_logical(self, o: $t) -> $t {
                u32::try_from(o)
                    .ok()
                    .and_then(|s| (self as $ut).checked_shr(s))
                    .map_or(0, |v| v as $t)
            }
        }
    };
}

impl_int!(i32, I32, u32);
impl_int!(i64, I64, u64);
impl_int!(u32, U32, u32);

macro_rules! impl_float {
    ($t:ty, $variant:ident, $m:ident {
        exp: $exp:ident, expm1: $expm1:ident, log: $log:ident, log1p: $log1p:ident,
        sqrt: $sqrt:ident, sin: $sin:ident, cos: $cos:ident, tan: $tan:ident,
        tanh: $tanh:ident, asin: $asin:ident, acos: $acos:ident, atan: $atan:ident,
        sinh: $sinh:ident, cosh: $cosh:ident, erf: $erf:ident, floor: $floor:ident,
        ceil: $ceil:ident, pow: $pow:ident, atan2: $atan2:ident,
        erfinv: $erfinv:path
    }) => {
        impl_elem!($t, $variant, <$t>::is_nan);

        impl Num for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const LOWEST: $t = <$t>::NEG_INFINITY;
            const HIGHEST: $t = <$t>::INFINITY;
            fn add(self, o: $t) -> $t {
                self + o
            }
            fn sub(self, o: $t) -> $t {
                self - o
            }
            fn mul(self, o: $t) -> $t {
                self * o
            }
            fn div(self, o: $t) -> $t {
                self / o
            }
            fn rem(self, o: $t) -> $t {
                // Rust's float `%` is exactly C's fmod.
                self % o
            }
            fn neg(self) -> $t {
                -self
            }
            fn abs(self) -> $t {
                <$t>::abs(self)
            }
            fn sign(self) -> $t {
                // NaN and signed zeros map to themselves (jnp.sign(-0.0) is -0.0).
                if self.is_nan() || self == 0.0 {
                    self
                } else {
                    <$t>::copysign(1.0, self)
                }
            }
            fn max_nan(self, o: $t) -> $t {
                if self.is_nan() {
                    self
                } else if o.is_nan() {
                    o
                } else if self > o {
                    self
                } else if o > self {
                    o
                } else if self.is_sign_negative() {
                    o
                } else {
                    self
                }
            }
            fn min_nan(self, o: $t) -> $t {
                if self.is_nan() {
                    self
                } else if o.is_nan() {
                    o
                } else if self < o {
                    self
                } else if o < self {
                    o
                } else if self.is_sign_negative() {
                    self
                } else {
                    o
                }
            }
        }

        impl Float for $t {
            fn exp(self) -> $t {
                $m::$exp(self)
            }
            fn exp_m1(self) -> $t {
                $m::$expm1(self)
            }
            fn ln(self) -> $t {
                $m::$log(self)
            }
            fn ln_1p(self) -> $t {
                $m::$log1p(self)
            }
            fn sqrt(self) -> $t {
                $m::$sqrt(self)
            }
            fn sin(self) -> $t {
                $m::$sin(self)
            }
            fn cos(self) -> $t {
                $m::$cos(self)
            }
            fn tan(self) -> $t {
                $m::$tan(self)
            }
            fn tanh(self) -> $t {
                $m::$tanh(self)
            }
            fn asin(self) -> $t {
                $m::$asin(self)
            }
            fn acos(self) -> $t {
                $m::$acos(self)
            }
            fn atan(self) -> $t {
                $m::$atan(self)
            }
            fn sinh(self) -> $t {
                $m::$sinh(self)
            }
            fn cosh(self) -> $t {
                $m::$cosh(self)
            }
            fn erf(self) -> $t {
                $m::$erf(self)
            }
            fn erfinv(self) -> $t {
                $erfinv(self)
            }
            fn floor(self) -> $t {
                $m::$floor(self)
            }
            fn ceil(self) -> $t {
                $m::$ceil(self)
            }
            fn round_even(self) -> $t {
                <$t>::round_ties_even(self)
            }
            fn pow(self, o: $t) -> $t {
                $m::$pow(self, o)
            }
            fn atan2(self, o: $t) -> $t {
                $m::$atan2(self, o)
            }
        }
    };
}

impl_float!(
    f32,
    F32,
    libm {
        exp: expf,
        expm1: expm1f,
        log: logf,
        log1p: log1pf,
        sqrt: sqrtf,
        sin: sinf,
        cos: cosf,
        tan: tanf,
        tanh: tanhf,
        asin: asinf,
        acos: acosf,
        atan: atanf,
        sinh: sinhf,
        cosh: coshf,
        erf: erff,
        floor: floorf,
        ceil: ceilf,
        pow: powf,
        atan2: atan2f,
        erfinv: special::erfinv_f32
    }
);

impl_float!(
    f64,
    F64,
    libm {
        exp: exp,
        expm1: expm1,
        log: log,
        log1p: log1p,
        sqrt: sqrt,
        sin: sin,
        cos: cos,
        tan: tan,
        tanh: tanh,
        asin: asin,
        acos: acos,
        atan: atan,
        sinh: sinh,
        cosh: cosh,
        erf: erf,
        floor: floor,
        ceil: ceil,
        pow: pow,
        atan2: atan2,
        erfinv: special::erfinv
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_division_follows_xla() {
        assert_eq!(Num::div(7i32, 0), -1);
        assert_eq!(Num::div(7u32, 0), u32::MAX);
        assert_eq!(Num::div(i32::MIN, -1), i32::MIN);
        assert_eq!(Num::div(-7i64, 2), -3);
        assert_eq!(Num::rem(-7i64, 2), -1);
        assert_eq!(Num::rem(7i32, 0), 7);
        assert_eq!(Num::rem(i32::MIN, -1), 0);
    }

    #[test]
    fn shifts_past_the_width_give_zero() {
        assert_eq!(Int::shl(1i32, 31), i32::MIN);
        assert_eq!(Int::shl(1i32, 32), 0);
        assert_eq!(Int::shl(1i32, -1), 0);
        assert_eq!(Int::shr_logical(-1i32, 28), 0xf);
        assert_eq!(Int::shr_logical(-1i64, 64), 0);
        assert_eq!(Int::shr_logical(u32::MAX, 31), 1);
    }

    #[test]
    fn max_min_order_signed_zeros_and_propagate_nan() {
        assert!(Num::max_nan(f64::NAN, 1.0).is_nan());
        assert!(Num::max_nan(1.0, f64::NAN).is_nan());
        assert!(Num::min_nan(1.0f32, f32::NAN).is_nan());
        assert!(Num::max_nan(-0.0f64, 0.0).is_sign_positive());
        assert!(Num::max_nan(0.0f64, -0.0).is_sign_positive());
        assert!(Num::min_nan(0.0f64, -0.0).is_sign_negative());
        assert!(Num::min_nan(-0.0f64, 0.0).is_sign_negative());
    }

    #[test]
    fn integer_abs_and_sign_wrap() {
        assert_eq!(Num::abs(i32::MIN), i32::MIN);
        assert_eq!(Num::sign(-5i64), -1);
        assert_eq!(Num::sign(5u32), 1);
        assert_eq!(Num::sign(0u32), 0);
    }
}
