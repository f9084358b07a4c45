//! Scalar functions compiled code calls by address: the transcendental functions when
//! they are not emitted inline, and float remainder. Each is the exact function the
//! interpreter applies (the pure-Rust `libm` crate, Rust's `%`), so a call gives the
//! interpreter's bits.

/// A callable the JIT resolves by name: its symbol and address (all operands and the
/// result have one float type).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Libcall {
    pub name: &'static str,
    pub addr: *const u8,
}

macro_rules! unary {
    ($($name:ident: $t:ty => $body:expr;)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                let f: fn($t) -> $t = $body;
                f(x)
            }
        )*
    };
}

macro_rules! binary {
    ($($name:ident: $t:ty => $body:expr;)*) => {
        $(
            extern "C" fn $name(x: $t, y: $t) -> $t {
                let f: fn($t, $t) -> $t = $body;
                f(x, y)
            }
        )*
    };
}

unary! {
    nabla_exp: f64 => libm::exp;
    nabla_expm1: f64 => libm::expm1;
    nabla_log: f64 => libm::log;
    nabla_log1p: f64 => libm::log1p;
    nabla_sin: f64 => libm::sin;
    nabla_cos: f64 => libm::cos;
    nabla_tan: f64 => libm::tan;
    nabla_tanh: f64 => libm::tanh;
    nabla_asin: f64 => libm::asin;
    nabla_acos: f64 => libm::acos;
    nabla_atan: f64 => libm::atan;
    nabla_sinh: f64 => libm::sinh;
    nabla_cosh: f64 => libm::cosh;
    nabla_erf: f64 => libm::erf;
    nabla_erfinv: f64 => nabla_ir::special::erfinv;
    nabla_expf: f32 => libm::expf;
    nabla_expm1f: f32 => libm::expm1f;
    nabla_logf: f32 => libm::logf;
    nabla_log1pf: f32 => libm::log1pf;
    nabla_sinf: f32 => libm::sinf;
    nabla_cosf: f32 => libm::cosf;
    nabla_tanf: f32 => libm::tanf;
    nabla_tanhf: f32 => libm::tanhf;
    nabla_asinf: f32 => libm::asinf;
    nabla_acosf: f32 => libm::acosf;
    nabla_atanf: f32 => libm::atanf;
    nabla_sinhf: f32 => libm::sinhf;
    nabla_coshf: f32 => libm::coshf;
    nabla_erff: f32 => libm::erff;
    nabla_erfinvf: f32 => nabla_ir::special::erfinv_f32;
}

binary! {
    nabla_pow: f64 => libm::pow;
    nabla_atan2: f64 => libm::atan2;
    nabla_fmod: f64 => |x, y| x % y;
    nabla_powf: f32 => libm::powf;
    nabla_atan2f: f32 => libm::atan2f;
    nabla_fmodf: f32 => |x, y| x % y;
}

macro_rules! table {
    ($($name:ident),* $(,)?) => {
        [$(Libcall {
            name: stringify!($name),
            addr: $name as *const u8,
        }),*]
    };
}

/// Every libcall, for registering with the JIT.
pub(crate) fn all() -> [Libcall; 36] {
    table![
        nabla_exp,
        nabla_expm1,
        nabla_log,
        nabla_log1p,
        nabla_sin,
        nabla_cos,
        nabla_tan,
        nabla_tanh,
        nabla_asin,
        nabla_acos,
        nabla_atan,
        nabla_sinh,
        nabla_cosh,
        nabla_erf,
        nabla_erfinv,
        nabla_expf,
        nabla_expm1f,
        nabla_logf,
        nabla_log1pf,
        nabla_sinf,
        nabla_cosf,
        nabla_tanf,
        nabla_tanhf,
        nabla_asinf,
        nabla_acosf,
        nabla_atanf,
        nabla_sinhf,
        nabla_coshf,
        nabla_erff,
        nabla_erfinvf,
        nabla_pow,
        nabla_atan2,
        nabla_fmod,
        nabla_powf,
        nabla_atan2f,
        nabla_fmodf,
    ]
}

/// The symbol of the libcall computing `name` (the IR's function name, or `fmod`) in
/// double (`f32 == false`) or single precision.
pub(crate) fn symbol(name: &str, f32: bool) -> Option<&'static str> {
    let wanted = if f32 {
        format!("nabla_{name}f")
    } else {
        format!("nabla_{name}")
    };
    all().iter().map(|l| l.name).find(|n| *n == wanted)
}
