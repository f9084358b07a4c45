//! Special values, scalar/vector agreement, the no-FMA path, huge trigonometric
//! arguments, and the double-double references themselves.

mod math_support;

use cranelift_codegen::ir::types;
use cranelift_codegen::ir::{AbiParam, Function, InstBuilder, Signature};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use math_support::dd::ldexp;
use math_support::inputs::{self, Rng};
use math_support::jit::compile;
use math_support::oracle::{libm32, libm64, reference64};
use math_support::reference::{self as refs, Ref};
use math_support::{ulp_error, F32, F64};
use nabla_cpu::math::{emit, max_ulp, Features, MathOp, Precision};

/// Inputs whose results are special (NaN, infinities, signed zeros, exact values)
/// or sit on an edge, for every function.
fn special_inputs(op: MathOp, f32: bool) -> (Vec<f64>, Vec<f64>) {
    let mut base = inputs::specials(f32);
    base.extend([
        1000.0, -1000.0, 3.0, -3.0, 0.25, -0.25, 1.5, -1.5, 100.0, -100.0,
    ]);
    if !f32 {
        base.extend([1e300, -1e300, 710.0, -750.0, 1e22, -1e22]);
    }
    if op.arity() == 1 {
        let y = vec![0.0; base.len()];
        return (base, y);
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &x in &base {
        for &y in &base {
            xs.push(x);
            ys.push(y);
        }
    }
    (xs, ys)
}

/// Where libm gives NaN, an infinity or a zero, the result must be the same (with
/// the same sign); elsewhere it must be within the bound plus libm's own ulp.
fn check_special(op: MathOp, f32: bool, ty: types::Type, features: Features) {
    let (x, y) = special_inputs(op, f32);
    let k = compile(op, ty, features);
    let (ours, want): (Vec<f64>, Vec<f64>) = if f32 {
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        let out = k.run_f32(&xf, (op.arity() == 2).then_some(&yf[..]));
        let want = xf.iter().zip(&yf).map(|(&a, &b)| libm32(op, a, b) as f64);
        (out.iter().map(|&v| v as f64).collect(), want.collect())
    } else {
        let out = k.run_f64(&x, (op.arity() == 2).then_some(&y[..]));
        let want = x.iter().zip(&y).map(|(&a, &b)| libm64(op, a, b));
        (out, want.collect())
    };
    let (fmt, prec) = if f32 {
        (F32, Precision::F32)
    } else {
        (F64, Precision::F64)
    };
    for i in 0..x.len() {
        let (o, w) = (ours[i], want[i]);
        let ok = if w.is_nan() {
            o.is_nan()
        } else if w.is_infinite() || w == 0.0 {
            o.to_bits() == w.to_bits()
        } else {
            ulp_error(o, Ref::f(w), fmt) <= max_ulp(op, prec) + 1.0
        };
        assert!(
            ok,
            "{}({:e}, {:e}) as {ty}: got {o:e}, libm {w:e}",
            op.name(),
            x[i],
            y[i]
        );
    }
}

#[test]
fn special_values_match_libm() {
    for op in MathOp::ALL {
        for (f32, ty) in [
            (false, types::F64),
            (false, types::F64X2),
            (true, types::F32),
            (true, types::F32X4),
        ] {
            check_special(op, f32, ty, Features::host());
        }
        check_special(op, false, types::F64X2, Features { fma: false });
    }
}

#[test]
fn scalar_and_vector_kernels_agree_bitwise() {
    const N: usize = 20_000;
    for op in MathOp::ALL {
        for f32 in [false, true] {
            let (x, y) = if op.arity() == 2 {
                inputs::binary(op, N, f32, 7)
            } else {
                (inputs::unary(op, N, f32, 7), vec![0.0; N])
            };
            let yarg = |v: &[f64]| (op.arity() == 2).then(|| v.to_vec());
            let (a, b): (Vec<u64>, Vec<u64>) = if f32 {
                let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
                let ya = (op.arity() == 2).then_some(&yf[..]);
                let s = compile(op, types::F32, Features::host()).run_f32(&xf, ya);
                let v = compile(op, types::F32X4, Features::host()).run_f32(&xf, ya);
                let canon = |r: Vec<f32>| r.iter().map(|f| canonical(*f as f64)).collect();
                (canon(s), canon(v))
            } else {
                let ya = yarg(&y);
                let s = compile(op, types::F64, Features::host()).run_f64(&x, ya.as_deref());
                let v = compile(op, types::F64X2, Features::host()).run_f64(&x, ya.as_deref());
                let canon = |r: Vec<f64>| r.iter().map(|f| canonical(*f)).collect();
                (canon(s), canon(v))
            };
            if let Some(i) = (0..N).find(|&i| a[i] != b[i]) {
                panic!(
                    "{} (f32: {f32}) at ({:e}, {:e}): scalar {:#x}, vector {:#x}",
                    op.name(),
                    x[i],
                    y[i],
                    a[i],
                    b[i]
                );
            }
        }
    }
}

/// Bits with every NaN made one NaN.
fn canonical(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

#[test]
fn without_fma_the_bounds_hold() {
    // Dekker's products replace FMA; 10^5 inputs per function is enough to see a
    // broken exact product.
    const N: usize = 100_000;
    let features = Features { fma: false };
    for op in MathOp::ALL {
        let (x, y) = if op.arity() == 2 {
            inputs::binary(op, N, false, 11)
        } else {
            (inputs::unary(op, N, false, 11), vec![0.0; N])
        };
        let out =
            compile(op, types::F64X2, features).run_f64(&x, (op.arity() == 2).then_some(&y[..]));
        let worst = math_support::par_chunks(N, |range| {
            let mut w = math_support::Worst::default();
            for i in range {
                let r = reference64(op, x[i], y[i]);
                w.update(ulp_error(out[i], r, F64), x[i], y[i], out[i], &r);
            }
            w
        });
        assert!(
            worst.ulp <= max_ulp(op, Precision::F64),
            "{} without FMA: {:.3} ulp at ({:e}, {:e})",
            op.name(),
            worst.ulp,
            worst.x,
            worst.y
        );
    }
}

#[test]
fn huge_trig_arguments_agree_with_libm() {
    // The exact reduction and the reference share the table of 2/pi; libm's own
    // reduction is independent, so agreement within an ulp guards the table.
    let mut rng = Rng::new(3);
    let x: Vec<f64> = (0..100_000)
        .map(|_| rng.sign() * rng.log_uniform(19, 1024))
        .collect();
    for op in [MathOp::Sin, MathOp::Cos, MathOp::Tan] {
        let out = compile(op, types::F64X2, Features::host()).run_f64(&x, None);
        for (&xi, &o) in x.iter().zip(&out) {
            let e = ulp_error(o, Ref::f(libm64(op, xi, 0.0)), F64);
            assert!(
                e <= max_ulp(op, Precision::F64) + 1.0,
                "{}({xi:e}) = {o:e}, libm {:e}",
                op.name(),
                libm64(op, xi, 0.0)
            );
        }
    }
}

#[test]
fn hardest_reduction_case() {
    // The double closest to a multiple of pi/2 (Kahan–McDonald): x mod pi/2 is
    // about 2^-61, so cos(x) needs every bit of the reduction.
    let x = 6381956970095103.0 * ldexp(1.0, 797);
    let want = -4.687165924254628e-19;
    let out = compile(MathOp::Cos, types::F64X2, Features::host()).run_f64(&[x, -x], None);
    for o in out {
        assert!(ulp_error(o, Ref::f(want), F64) <= 1.0, "cos = {o:e}");
    }
}

#[test]
fn references_match_high_precision_values() {
    // mpmath at 300 bits, rounded to a double-double.
    let worst = 6381956970095103.0 * ldexp(1.0, 797);
    let cases: Vec<(Ref, f64, f64)> = vec![
        (refs::exp(1.0), std::f64::consts::E, 1.4456468917292502e-16),
        (refs::exp(-700.5), 5.980196118639791e-305, -2.87e-321),
        (
            refs::expm1(1e-10),
            1.00000000005e-10,
            3.3900133221217734e-27,
        ),
        (
            Ref::dd(refs::log(10.0)),
            std::f64::consts::LN_10,
            -2.1707562233822494e-16,
        ),
        (
            Ref::dd(refs::log1p(1e-10)),
            9.999999999500001e-11,
            -3.389513322121794e-27,
        ),
        (
            refs::sin(1e22),
            -0.8522008497671888,
            -6.7806825896773284e-18,
        ),
        (refs::cos(1e22), 0.523214785395139, -4.7143201076575164e-17),
        (refs::tan(1.5), 14.101419947171719, 6.270315165067482e-16),
        (
            refs::cos(worst),
            -4.687165924254628e-19,
            4.3720557429382733e-36,
        ),
        (refs::tanh(0.3), 0.2913126124515909, -6.4602656586469586e-18),
        (refs::sinh(2.5), 6.0502044810397875, -1.5266669624477375e-16),
        (refs::cosh(3.0), 10.067661995777765, 5.150335194797485e-16),
        (refs::atan(0.3), 0.2914567944778671, -1.6448555435075034e-17),
        (refs::asin(0.7), 0.775397496610753, 3.395027444633425e-17),
        (
            refs::acos(-0.3),
            1.8754889808102941,
            -2.1748551325047183e-17,
        ),
        (refs::erf(0.5), 0.5204998778130465, 1.900077467916287e-17),
        (refs::erf(3.5), 0.9999992569016276, 4.9647279187212204e-17),
        (
            refs::erfinv(0.5),
            0.4769362762044699,
            -4.4226968317836506e-18,
        ),
        (
            refs::erfinv(0.999999),
            3.458910737275499,
            -2.5923326683634916e-17,
        ),
        (
            refs::atan2(-1.0, -3.0),
            -2.819842099193151,
            -5.903613615775535e-17,
        ),
        (
            refs::pow(2.5, 101.3),
            2.0479666422691164e40,
            -6.572648785375322e23,
        ),
    ];
    for (i, (r, hi, lo)) in cases.into_iter().enumerate() {
        let scale = ldexp(1.0, r.e);
        let got_hi = r.m.hi * scale;
        let got_lo = r.m.lo * scale;
        let diff = ((got_hi - hi) + (got_lo - lo)).abs();
        assert!(
            diff <= hi.abs() * 1e-29,
            "case {i}: got {got_hi:e} + {got_lo:e}, want {hi:e} + {lo:e}"
        );
    }
}

#[test]
fn erfc_continued_fraction_meets_the_series() {
    // At 3 both erfc methods of the erfinv reference apply; they must agree.
    let a = refs::erf(3.0).m;
    let series = 1.0 - a.hi - a.lo;
    let cf = refs::erfc_cf(3.0);
    assert!(((series - cf.to_f64()) / cf.to_f64()).abs() < 1e-15);
}

#[test]
fn unsupported_types_and_arities_give_none() {
    let mut func = Function::with_name_signature(Default::default(), {
        let mut s = Signature::new(CallConv::SystemV);
        s.params.push(AbiParam::new(types::I32));
        s.params.push(AbiParam::new(types::F64));
        s
    });
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    let (i, f) = (b.block_params(block)[0], b.block_params(block)[1]);
    assert!(emit(&mut b, MathOp::Exp, &[i], types::I32).is_none());
    assert!(emit(&mut b, MathOp::Exp, &[f], types::F32).is_none());
    assert!(emit(&mut b, MathOp::Pow, &[f], types::F64).is_none());
    assert!(emit(&mut b, MathOp::Exp, &[f], types::F64).is_some());
    b.ins().return_(&[]);
    b.seal_all_blocks();
}
