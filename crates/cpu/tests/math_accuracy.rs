//! Accuracy and special values of the inline math kernels (`nabla_cpu::math`).
//!
//! Each function is compiled with the JIT over a million inputs per precision (the
//! vector types, `F64X2` and `F32X4`, which the codegen uses for inner loops) and
//! measured against a high-precision reference: double-double for f64 (see
//! `math_support/reference.rs`), libm's f64 result for f32 (2^29 times finer than an
//! f32 ulp). Each maximum must stay within `max_ulp`. Set `NABLA_MATH_REPORT=1` to
//! print the maxima (that is how `docs/math.md` was filled in).

mod math_support;

use cranelift_codegen::ir::types;
use math_support::inputs;
use math_support::jit::compile;
use math_support::oracle::{libm64, reference64};
use math_support::reference::Ref;
use math_support::{par_chunks, ulp_error, Worst, F32, F64};
use nabla_cpu::math::{max_ulp, Features, MathOp, Precision};

const N: usize = 1_000_000;
const SEED: u64 = 0x006e_6162_6c61;

fn inputs_for(op: MathOp, n: usize, f32: bool, seed: u64) -> (Vec<f64>, Vec<f64>) {
    if op.arity() == 2 {
        inputs::binary(op, n, f32, seed)
    } else {
        let x = inputs::unary(op, n, f32, seed);
        let y = vec![0.0; x.len()];
        (x, y)
    }
}

/// Maximum ulp error of the `F64X2` kernel over `n` inputs.
fn measure_f64(op: MathOp, n: usize, features: Features, seed: u64) -> Worst {
    let (x, y) = inputs_for(op, n, false, seed);
    let k = compile(op, types::F64X2, features);
    let out = k.run_f64(&x, (op.arity() == 2).then_some(&y[..]));
    par_chunks(x.len(), |range| {
        let mut w = Worst::default();
        for i in range {
            let r = reference64(op, x[i], y[i]);
            w.update(ulp_error(out[i], r, F64), x[i], y[i], out[i], &r);
        }
        w
    })
}

/// Maximum ulp error of the `F32X4` kernel over `n` inputs.
fn measure_f32(op: MathOp, n: usize, seed: u64) -> Worst {
    let (x, y) = inputs_for(op, n, true, seed);
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    let k = compile(op, types::F32X4, Features::host());
    let out = k.run_f32(&xf, (op.arity() == 2).then_some(&yf[..]));
    par_chunks(x.len(), |range| {
        let mut w = Worst::default();
        for i in range {
            // libm's f64 functions at the f32 inputs; erfinv from the reference.
            let r = if op == MathOp::Erfinv {
                reference64(op, x[i], 0.0)
            } else {
                Ref::f(libm64(op, x[i], y[i]))
            };
            let o = out[i] as f64;
            w.update(ulp_error(o, r, F32), x[i], y[i], o, &r);
        }
        w
    })
}

fn report(op: MathOp, prec: &str, w: &Worst) {
    if std::env::var_os("NABLA_MATH_REPORT").is_some() {
        println!(
            "{:7} {prec}: max {:.3} ulp at x = {:e}, y = {:e}: got {:e}, want {:e}",
            op.name(),
            w.ulp,
            w.x,
            w.y,
            w.ours,
            w.want
        );
    }
}

fn check(op: MathOp, precision: Precision) {
    let (w, name) = match precision {
        Precision::F64 => (measure_f64(op, N, Features::host(), SEED), "f64"),
        Precision::F32 => (measure_f32(op, N, SEED), "f32"),
    };
    report(op, name, &w);
    let bound = max_ulp(op, precision);
    assert!(
        w.ulp <= bound,
        "{} {name}: {:.3} ulp > {bound} at x = {:e} (bits {:#x}), y = {:e}: got {:e}, want {:e}",
        op.name(),
        w.ulp,
        w.x,
        w.x.to_bits(),
        w.y,
        w.ours,
        w.want
    );
}

macro_rules! accuracy {
    ($($f64:ident, $f32:ident => $op:expr;)*) => {$(
        #[test]
        fn $f64() {
            check($op, Precision::F64);
        }
        #[test]
        fn $f32() {
            check($op, Precision::F32);
        }
    )*};
}

accuracy! {
    exp_f64, exp_f32 => MathOp::Exp;
    expm1_f64, expm1_f32 => MathOp::Expm1;
    log_f64, log_f32 => MathOp::Log;
    log1p_f64, log1p_f32 => MathOp::Log1p;
    sin_f64, sin_f32 => MathOp::Sin;
    cos_f64, cos_f32 => MathOp::Cos;
    tan_f64, tan_f32 => MathOp::Tan;
    tanh_f64, tanh_f32 => MathOp::Tanh;
    asin_f64, asin_f32 => MathOp::Asin;
    acos_f64, acos_f32 => MathOp::Acos;
    atan_f64, atan_f32 => MathOp::Atan;
    sinh_f64, sinh_f32 => MathOp::Sinh;
    cosh_f64, cosh_f32 => MathOp::Cosh;
    erf_f64, erf_f32 => MathOp::Erf;
    erfinv_f64, erfinv_f32 => MathOp::Erfinv;
    atan2_f64, atan2_f32 => MathOp::Atan2;
    pow_f64, pow_f32 => MathOp::Pow;
}
