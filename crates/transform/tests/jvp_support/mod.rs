//! Shared helpers of the jvp tests: parsing IR text, deterministic inputs, the check of
//! a jvp against central finite differences run on the interpreter, and the reverse-mode
//! checks (vjp dot-product tests, grad) that reuse the same finite differences.

#![allow(dead_code)]

use nabla_interp::eval_func;
use nabla_ir::{parse_func, self_check, Array, Atom, DType, Func};
use nabla_transform::emit::Emitter;
use nabla_transform::{grad, jvp, vjp};

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
    let plus = eval_shifted(f, x, active, dirs, h)?;
    let minus = eval_shifted(f, x, active, dirs, -h)?;
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

/// `f` at `x` moved by `s` along `dirs` (one per active parameter).
fn eval_shifted(
    f: &Func,
    x: &[Array],
    active: &[bool],
    dirs: &[Array],
    s: f64,
) -> Result<Vec<Array>, String> {
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
}

/// Central differences of `f` at `x` along `dirs` (one per active parameter): per
/// result, the directional derivative element by element (`None` for integer and bool
/// results).
pub fn fd_directional(
    f: &Func,
    x: &[Array],
    active: &[bool],
    dirs: &[Array],
    h: f64,
) -> Result<Vec<Option<Vec<f64>>>, String> {
    let plus = eval_shifted(f, x, active, dirs, h)?;
    let minus = eval_shifted(f, x, active, dirs, -h)?;
    Ok(plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| {
            p.dtype().is_float().then(|| {
                p.to_f64_vec()
                    .iter()
                    .zip(m.to_f64_vec())
                    .map(|(a, b)| (a - b) / (2.0 * h))
                    .collect()
            })
        })
        .collect())
}

/// `Σ a_i b_i` in f64.
pub fn inner(a: &Array, b: &Array) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| x * y)
        .sum()
}

/// `Σ |a_i b_i|` in f64: the scale of [`inner`]'s rounding error.
pub fn inner_abs(a: &Array, b: &Array) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x * y).abs())
        .sum()
}

/// Cotangents for the results `ys`: uniform in `[-1, 1]` for floats, ones for integer
/// and bool results, which carry no cotangent, so the pullback must ignore them.
pub fn cotangents(ys: &[Array], rng: &mut Rng) -> Vec<Array> {
    ys.iter()
        .map(|y| {
            if y.dtype().is_float() {
                direction(y, rng)
            } else {
                f64s(y.shape(), &vec![1.0; y.len()]).cast(y.dtype())
            }
        })
        .collect()
}

/// The step and tolerances of the reverse-mode checks of one row.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Finite-difference step.
    pub h: f64,
    /// Relative tolerance against finite differences (the row's jvp tolerance).
    pub tol: f64,
    /// Relative tolerance of the pullback against the jvp: both are exact up to
    /// rounding, so only the rounding of the row's dtype.
    pub tight: f64,
}

/// The absolute tolerance of `⟨ct, v⟩` against `⟨ct, fd⟩` implied by the per-element
/// policy of [`fd_check`] (`|v_i - fd_i| ≤ tol · max(1, |fd_i|)`), summed over the
/// float results.
fn fd_scale(cts: &[Array], fd: &[Option<Vec<f64>>]) -> f64 {
    cts.iter()
        .zip(fd)
        .filter_map(|(c, d)| d.as_ref().map(|d| (c, d)))
        .map(|(c, d)| {
            c.to_f64_vec()
                .iter()
                .zip(d)
                .map(|(ci, di)| ci.abs() * di.abs().max(1.0))
                .sum::<f64>()
        })
        .sum()
}

/// Runs `vjp(f, active)` at `x` and checks: both halves pass the self-check; the primal
/// half returns `f(x)` bit for bit, then `nres` residuals; the pullback returns one
/// cotangent per active parameter, of its type; and for `draws` random directions `t`
/// (one per active parameter) and cotangents `ct` (one per result), `⟨pullback(ct), t⟩`
/// equals `⟨ct, fd⟩` (central differences along `t`, tolerance `policy.tol`) and
/// `⟨ct, jvp(t)⟩` (tolerance `policy.tight`).
///
/// `perturb` scales the first pullback result before the comparisons: 1.0 in the real
/// checks, anything else must make them fail (the test of the test).
pub fn vjp_check(
    f: &Func,
    x: &[Array],
    active: &[bool],
    policy: Policy,
    draws: usize,
    rng: &mut Rng,
    perturb: f64,
) -> Result<(), String> {
    let v = vjp(f, active).map_err(|e| format!("vjp failed: {e}"))?;
    self_check(&v.primal)
        .map_err(|e| format!("vjp primal fails the self-check: {e}\n{}", v.primal))?;
    self_check(&v.pullback)
        .map_err(|e| format!("pullback fails the self-check: {e}\n{}", v.pullback))?;
    let g = jvp(f, active).map_err(|e| format!("jvp failed: {e}"))?;
    let want = eval_func(f, x).map_err(|e| format!("evaluation failed: {e:?}"))?;
    let n = want.len();
    let out = eval_func(&v.primal, x)
        .map_err(|e| format!("vjp primal evaluation failed: {e:?}\n{}", v.primal))?;
    if out.len() != n + v.nres {
        return Err(format!(
            "the vjp primal returns {} results for {n} results and {} residuals",
            out.len(),
            v.nres
        ));
    }
    for (k, (a, b)) in out[..n].iter().zip(&want).enumerate() {
        if !a.bit_eq(b) {
            return Err(format!(
                "vjp primal result {k} differs: {a:?} vs {b:?}\n{}",
                v.primal
            ));
        }
    }
    let residuals = &out[n..];
    let xa: Vec<&Array> = x
        .iter()
        .zip(active)
        .filter(|(_, &a)| a)
        .map(|(xi, _)| xi)
        .collect();
    for draw in 0..draws {
        let dirs: Vec<Array> = xa.iter().map(|xi| direction(xi, rng)).collect();
        let cts = cotangents(&want, rng);
        let mut args = residuals.to_vec();
        args.extend(cts.iter().cloned());
        let mut pb = eval_func(&v.pullback, &args)
            .map_err(|e| format!("pullback evaluation failed: {e:?}\n{}", v.pullback))?;
        if pb.len() != xa.len() {
            return Err(format!(
                "the pullback returns {} cotangents for {} active parameters",
                pb.len(),
                xa.len()
            ));
        }
        for (i, (c, xi)) in pb.iter().zip(&xa).enumerate() {
            if c.ty() != xi.ty() {
                return Err(format!(
                    "cotangent {i} is {}, its parameter is {}",
                    c.ty(),
                    xi.ty()
                ));
            }
        }
        if let Some(c) = pb.first_mut() {
            if perturb != 1.0 {
                let data: Vec<f64> = c.to_f64_vec().iter().map(|v| v * perturb).collect();
                *c = f64s(c.shape(), &data).cast(c.dtype());
            }
        }
        let lhs: f64 = pb.iter().zip(&dirs).map(|(c, t)| inner(c, t)).sum();
        let lhs_abs: f64 = pb.iter().zip(&dirs).map(|(c, t)| inner_abs(c, t)).sum();

        // Against the jvp, tightly.
        let mut jargs = x.to_vec();
        jargs.extend(dirs.iter().cloned());
        let jout =
            eval_func(&g, &jargs).map_err(|e| format!("jvp evaluation failed: {e:?}\n{g}"))?;
        let float = |k: &usize| want[*k].dtype().is_float();
        let jrhs: f64 = (0..n)
            .filter(float)
            .map(|k| inner(&cts[k], &jout[n + k]))
            .sum();
        let jabs: f64 = (0..n)
            .filter(float)
            .map(|k| inner_abs(&cts[k], &jout[n + k]))
            .sum();
        let err = (lhs - jrhs).abs();
        if err.is_nan() || err > policy.tight * (lhs_abs + jabs) {
            return Err(format!(
                "draw {draw}: <pullback(ct), t> = {lhs:e} but <ct, jvp(t)> = {jrhs:e}\n{}",
                v.pullback
            ));
        }

        // Against central differences, with the row's tolerance.
        let fd = fd_directional(f, x, active, &dirs, policy.h)?;
        let frhs: f64 = cts
            .iter()
            .zip(&fd)
            .filter_map(|(c, d)| d.as_ref().map(|d| (c, d)))
            .map(|(c, d)| {
                c.to_f64_vec()
                    .iter()
                    .zip(d)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum();
        let err = (lhs - frhs).abs();
        if err.is_nan() || err > policy.tol * fd_scale(&cts, &fd).max(1.0) {
            return Err(format!(
                "draw {draw}: <pullback(ct), t> = {lhs:e} but finite differences give \
                 <ct, df(t)> = {frhs:e}\n{}",
                v.pullback
            ));
        }
    }
    Ok(())
}

/// The scalar function `grad` can differentiate for `f`: `f` itself when its one result
/// is a float scalar, else the sum of all its float results (in f64) in a wrapper that
/// inlines `f`; `None` when `f` has no float result.
pub fn scalar_objective(f: &Func) -> Option<Func> {
    let types = f.body.result_types();
    if let [t] = types.as_slice() {
        if t.dtype.is_float() && t.shape.is_empty() {
            return Some(f.clone());
        }
    }
    let mut em = Emitter::new();
    let params: Vec<Atom> = f
        .body
        .params
        .iter()
        .map(|p| Atom::Var(em.param(p.ty.clone())))
        .collect();
    let outs = em.inline(&f.body, &params).expect("inlining succeeds");
    let mut total: Option<Atom> = None;
    for o in outs.into_iter().filter(|o| o.dtype().is_float()) {
        let o = em.convert(o, DType::F64).expect("convert");
        let axes: Vec<usize> = (0..o.ty().rank()).collect();
        let s = em.reduce_sum(o, &axes).expect("reduce_sum");
        total = Some(match total {
            None => s,
            Some(t) => em.binary(nabla_ir::BinaryOp::Add, t, s).expect("add"),
        });
    }
    let total = total?;
    let s = em.finish(format!("sum_{}", f.name), vec![total]);
    self_check(&s).unwrap_or_else(|e| panic!("the sum wrapper fails the self-check: {e}\n{s}"));
    Some(s)
}

/// `grad` of [`scalar_objective`] of `f` with respect to every float parameter, at `x`:
/// the result passes the self-check, its value is the objective's bit for bit, and
/// `⟨grad, t⟩` matches central differences of the objective along a random `t` (the
/// tolerance of [`vjp_check`], summed over `f`'s float result elements). Asking for the
/// same gradients in reverse order, one twice, gives the same arrays. `Ok(false)` when
/// `f` has no float parameter or result.
pub fn grad_check(f: &Func, x: &[Array], policy: Policy, rng: &mut Rng) -> Result<bool, String> {
    let floats = float_params(f);
    let argnums: Vec<usize> = (0..floats.len()).filter(|&i| floats[i]).collect();
    let Some(s) = scalar_objective(f) else {
        return Ok(false);
    };
    if argnums.is_empty() {
        return Ok(false);
    }
    let g = grad(&s, &argnums, true).map_err(|e| format!("grad failed: {e}"))?;
    self_check(&g).map_err(|e| format!("grad output fails the self-check: {e}\n{g}"))?;
    let out = eval_func(&g, x).map_err(|e| format!("grad evaluation failed: {e:?}\n{g}"))?;
    let value = eval_func(&s, x).map_err(|e| format!("evaluation failed: {e:?}"))?;
    if out.len() != 1 + argnums.len() {
        return Err(format!(
            "grad returns {} results for a value and {} gradients",
            out.len(),
            argnums.len()
        ));
    }
    if !out[0].bit_eq(&value[0]) {
        return Err(format!(
            "grad's value {:?} differs from {:?}",
            out[0], value[0]
        ));
    }
    for (&i, gi) in argnums.iter().zip(&out[1..]) {
        if gi.ty() != x[i].ty() {
            return Err(format!(
                "the gradient of parameter {i} is {}, the parameter {}",
                gi.ty(),
                x[i].ty()
            ));
        }
    }
    let dirs: Vec<Array> = argnums.iter().map(|&i| direction(&x[i], rng)).collect();
    let lhs: f64 = out[1..].iter().zip(&dirs).map(|(a, t)| inner(a, t)).sum();
    let fd = match fd_directional(&s, x, &floats, &dirs, policy.h)?.as_slice() {
        [Some(d)] => d[0],
        _ => unreachable!("the objective has one float result"),
    };
    // The row's per-element tolerance, summed over the elements the objective adds.
    let scale: f64 = fd_directional(f, x, &floats, &dirs, policy.h)?
        .iter()
        .flatten()
        .flat_map(|d| d.iter().map(|v| v.abs().max(1.0)))
        .sum();
    let err = (lhs - fd).abs();
    if err.is_nan() || err > policy.tol * scale.max(1.0) {
        return Err(format!(
            "<grad, t> = {lhs:e}, finite differences give {fd:e}\n{g}"
        ));
    }
    let mut again: Vec<usize> = argnums.iter().rev().copied().collect();
    again.push(argnums[argnums.len() - 1]);
    let g2 = grad(&s, &again, false).map_err(|e| format!("grad failed: {e}"))?;
    let out2 = eval_func(&g2, x).map_err(|e| format!("grad evaluation failed: {e:?}\n{g2}"))?;
    for (k, &i) in again.iter().enumerate() {
        let j = argnums.iter().position(|&a| a == i).expect("an argnum");
        if !out2[k].bit_eq(&out[1 + j]) {
            return Err(format!(
                "with argnums {again:?}, gradient {k} differs from the one with {argnums:?}"
            ));
        }
    }
    Ok(true)
}
