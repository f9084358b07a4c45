//! Shared helpers of the jvp tests: parsing IR text, deterministic inputs, and the
//! check of a jvp against central finite differences run on the interpreter.

#![allow(dead_code)]

use nabla_interp::eval_func;
use nabla_ir::{parse_func, self_check, Array, DType, Func};
use nabla_transform::jvp;

pub fn parse(text: &str) -> Func {
    let f = parse_func(text).unwrap_or_else(|e| panic!("test IR does not parse: {e}\n{text}"));
    self_check(&f).unwrap_or_else(|e| panic!("test IR fails the self-check: {e}"));
    f
}

/// `jvp(f, active)`, which must succeed and pass the IR self-check.
pub fn jvp_ok(f: &Func, active: &[bool]) -> Func {
    let g = jvp(f, active).unwrap_or_else(|e| panic!("jvp failed: {e}\n{f}"));
    self_check(&g).unwrap_or_else(|e| panic!("jvp output fails the self-check: {e}\n{g}"));
    g
}

pub fn eval(f: &Func, args: &[Array]) -> Vec<Array> {
    eval_func(f, args).unwrap_or_else(|e| panic!("evaluation failed: {e:?}\n{f}"))
}

pub fn f64s(shape: &[usize], data: &[f64]) -> Array {
    Array::from_f64(shape.to_vec(), data.to_vec()).expect("test data matches its shape")
}

pub fn scalar(v: f64) -> Array {
    f64s(&[], &[v])
}

/// Deterministic uniform numbers (SplitMix64), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Uniform in `[0, 1)`.
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// Where a parameter's input comes from.
#[derive(Clone, Debug)]
pub enum Dom {
    /// Uniform in `[lo, hi]`.
    U(f64, f64),
    /// Uniform in `[lo, hi]` with a random sign: away from 0.
    Sym(f64, f64),
    /// Exactly this array (indices, predicates, chosen points).
    Fixed(Array),
}

/// One input per parameter of `f`; parameters past `doms` are uniform in `[-1, 1]`.
pub fn inputs(f: &Func, doms: &[Dom], rng: &mut Rng) -> Vec<Array> {
    f.body
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let dom = doms.get(i).cloned().unwrap_or(Dom::U(-1.0, 1.0));
            let n = p.ty.numel();
            let data: Vec<f64> = match dom {
                Dom::Fixed(a) => {
                    assert_eq!(a.ty(), p.ty, "fixed input {i} has the wrong type");
                    return a;
                }
                Dom::U(lo, hi) => (0..n).map(|_| rng.uniform(lo, hi)).collect(),
                Dom::Sym(lo, hi) => (0..n)
                    .map(|_| {
                        let v = rng.uniform(lo, hi);
                        if rng.next() < 0.5 {
                            -v
                        } else {
                            v
                        }
                    })
                    .collect(),
            };
            assert!(
                p.ty.dtype.is_float(),
                "parameter {i} of type {} needs a fixed input",
                p.ty
            );
            f64s(&p.ty.shape, &data).cast(p.ty.dtype)
        })
        .collect()
}

/// A random direction shaped like `a`.
pub fn direction(a: &Array, rng: &mut Rng) -> Array {
    let data: Vec<f64> = (0..a.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
    f64s(a.shape(), &data).cast(a.dtype())
}

/// `x + s * v` in f64, rounded back to `x`'s dtype.
pub fn axpy(x: &Array, s: f64, v: &Array) -> Array {
    let data: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .zip(v.to_f64_vec())
        .map(|(a, b)| a + s * b)
        .collect();
    f64s(x.shape(), &data).cast(x.dtype())
}

/// Runs `jvp(f, active)` at `x` along `dirs` (one per active parameter) and compares:
/// the primal results bit for bit with `f(x)`, float tangents with central differences
/// of step `h` (relative tolerance `tol`), and integer/bool tangents with zeros.
pub fn fd_check(
    f: &Func,
    x: &[Array],
    active: &[bool],
    dirs: &[Array],
    h: f64,
    tol: f64,
) -> Result<(), String> {
    let g = jvp(f, active).map_err(|e| format!("jvp failed: {e}"))?;
    self_check(&g).map_err(|e| format!("jvp output fails the self-check: {e}"))?;
    let mut args = x.to_vec();
    args.extend(dirs.iter().cloned());
    let out = eval_func(&g, &args).map_err(|e| format!("jvp evaluation failed: {e:?}\n{g}"))?;
    let want = eval_func(f, x).map_err(|e| format!("evaluation failed: {e:?}"))?;
    let n = want.len();
    if out.len() != 2 * n {
        return Err(format!("{} results for {n} primal results", out.len()));
    }
    for (k, (a, b)) in out[..n].iter().zip(&want).enumerate() {
        if !a.bit_eq(b) {
            return Err(format!("primal result {k} differs: {a:?} vs {b:?}"));
        }
    }
    let step = |s: f64| -> Result<Vec<Array>, String> {
        let mut d = dirs.iter();
        let xs: Vec<Array> = x
            .iter()
            .zip(active)
            .map(|(xi, &a)| match a.then(|| d.next()).flatten() {
                Some(v) => axpy(xi, s, v),
                None => xi.clone(),
            })
            .collect();
        eval_func(f, &xs).map_err(|e| format!("evaluation failed: {e:?}"))
    };
    let plus = step(h)?;
    let minus = step(-h)?;
    for k in 0..n {
        let t = &out[n + k];
        if t.ty() != want[k].ty() {
            return Err(format!(
                "tangent {k} is {}, result is {}",
                t.ty(),
                want[k].ty()
            ));
        }
        if !t.dtype().is_float() {
            if t.to_f64_vec().iter().any(|&v| v != 0.0) {
                return Err(format!(
                    "tangent {k} of a non-float result is not zero: {t:?}"
                ));
            }
            continue;
        }
        let (p, m) = (plus[k].to_f64_vec(), minus[k].to_f64_vec());
        for (i, tv) in t.to_f64_vec().into_iter().enumerate() {
            let fd = (p[i] - m[i]) / (2.0 * h);
            let scale = 1f64.max(fd.abs()).max(tv.abs());
            let err = (tv - fd).abs();
            if err.is_nan() || err > tol * scale {
                return Err(format!(
                    "tangent {k}[{i}] = {tv:e}, finite differences give {fd:e}\n{g}"
                ));
            }
        }
    }
    Ok(())
}

/// Indices of the float parameters of `f`.
pub fn float_params(f: &Func) -> Vec<bool> {
    f.body
        .params
        .iter()
        .map(|p| p.ty.dtype.is_float())
        .collect()
}

pub fn is_float(a: &Array) -> bool {
    matches!(a.dtype(), DType::F32 | DType::F64)
}
