//! Properties of the transforms over random programs (the generator is in
//! `prop_support`):
//!
//! a. `jvp` and `vjp` agree: `<ct, J t> == <J^T ct, t>` to 1e-9 relative, for a random
//!    subset of active parameters; the primal results of `jvp`, `vjp` and
//!    `linearize` are bitwise those of `f`, and `linearize`'s linear half gives the
//!    tangents of `jvp`;
//! b. `jvp` agrees with central differences (h = 1e-6, 1e-5 relative), skipping
//!    points where differences with h and 4h disagree (a kink or jump nearby);
//! c. the vmap law `vmap(f)(xs)[i] == f(xs[i])`, bit for bit, for random `in_axes`
//!    (some axis or unmapped per parameter, integer index parameters included),
//!    `out_axes` and batch sizes 1–3;
//! d. the chain rule: `grad(g ∘ f)(x) == J_f(x)^T grad(g)(f(x))` to 1e-9 relative,
//!    the right side through `vjp(f)` and `grad(g)`;
//! e. every transformed function passes the self-check, and `simplify` preserves its
//!    results (bitwise, but for the sign of zeros, which `x + 0 → x` may change).
//!
//! a–c are also checked on `jvp(f)`, `grad(f)` and `vmap(f)` instead of `f`, so they
//! cover second-order rules and every pair of transforms. Failure messages print the
//! IR of the functions involved; a failing spec shrinks to a small program.
//!
//! Case counts are modest so that the file runs in well under a minute in the test
//! profile; `PROPTEST_CASES=…` overrides them for a longer hunt.

mod prop_support;

use std::collections::BTreeSet;

use nabla_interp::eval_func;
use nabla_ir::{print_func, self_check, Array, Atom, Func, Type};
use nabla_transform::emit::Emitter;
use nabla_transform::{grad, jvp, linearize, simplify, vjp, vmap, TransformError};
use prop_support::{
    all_finite, build, build_on, close, index, inner, max_abs, prims_used, random_arrays,
    same_values, spec_strategy, stack, steps_strategy, values, Menu, Spec, INPUT_BOUND, KINDS,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// `cases` cases, or `PROPTEST_CASES` when set (for a longer hunt).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig::with_cases(cases)
}

fn param_types(f: &Func) -> Vec<Type> {
    f.body.param_types()
}

fn result_types(f: &Func) -> Vec<Type> {
    f.body.result_types()
}

fn eval(f: &Func, args: &[Array]) -> Result<Vec<Array>, TestCaseError> {
    eval_func(f, args).map_err(|e| {
        TestCaseError::fail(format!(
            "evaluation of `{}` failed: {e:?}\n{}",
            f.name,
            print_func(f)
        ))
    })
}

/// A transform's output, which must exist and pass the self-check.
fn checked(what: &str, f: &Func, r: Result<Func, TransformError>) -> Result<Func, TestCaseError> {
    let g =
        r.map_err(|e| TestCaseError::fail(format!("{what} failed: {e}\nof\n{}", print_func(f))))?;
    self_check(&g).map_err(|e| {
        TestCaseError::fail(format!(
            "{what} fails the self-check: {e}\nof\n{}",
            print_func(f)
        ))
    })?;
    Ok(g)
}

fn ok<T>(what: &str, f: &Func, r: Result<T, TransformError>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{what} failed: {e}\nof\n{}", print_func(f))))
}

/// Which parameters are differentiated: the f64 ones among the bits of `mask`, never
/// none.
fn active_mask(mask: u8, f: &Func) -> Vec<bool> {
    let floats = float_params(f);
    let mut a: Vec<bool> = floats
        .iter()
        .enumerate()
        .map(|(i, &fl)| fl && (mask >> (i % 8)) & 1 == 1)
        .collect();
    if !a.contains(&true) {
        let first = floats.iter().position(|&fl| fl).expect("an f64 parameter");
        a[first] = true;
    }
    a
}

/// Whether each parameter is a float (the others are integer indices).
fn float_params(f: &Func) -> Vec<bool> {
    param_types(f).iter().map(|t| t.dtype.is_float()).collect()
}

fn float_argnums(f: &Func) -> Vec<usize> {
    (0..f.body.params.len())
        .filter(|&i| f.body.params[i].ty.dtype.is_float())
        .collect()
}

fn inputs(f: &Func, seed: u64) -> Vec<Array> {
    random_arrays(&param_types(f), seed, INPUT_BOUND)
}

fn active_types(f: &Func, active: &[bool]) -> Vec<Type> {
    param_types(f)
        .into_iter()
        .zip(active)
        .filter(|(_, a)| **a)
        .map(|(t, _)| t)
        .collect()
}

/// `xs + s * ts` elementwise (`ts` only for the active parameters).
fn shifted(xs: &[Array], ts: &[Array], active: &[bool], s: f64) -> Vec<Array> {
    let mut t = ts.iter();
    xs.iter()
        .zip(active)
        .map(|(x, &a)| {
            if !a {
                return x.clone();
            }
            let t = t.next().expect("one tangent per active parameter");
            let v: Vec<f64> = values(x)
                .iter()
                .zip(values(t))
                .map(|(p, q)| p + s * q)
                .collect();
            Array::from_vec(x.shape().to_vec(), v).expect("same shape")
        })
        .collect()
}

/// `g ∘ f` as one function: `f`'s parameters, `g`'s results.
fn compose(f: &Func, g: &Func) -> Result<Func, TestCaseError> {
    let mut em = Emitter::new();
    let params: Vec<Atom> = param_types(f)
        .into_iter()
        .map(|t| Atom::Var(em.param(t)))
        .collect();
    let ys = ok("inlining f", f, em.inline(&f.body, &params))?;
    let zs = ok("inlining g", g, em.inline(&g.body, &ys))?;
    Ok(em.finish("g_of_f", zs))
}

fn show(fs: &[&Func]) -> String {
    fs.iter()
        .map(|f| print_func(f))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Axes to map every parameter and result of `f` over, from raw bits: each parameter
/// is mapped along some axis or not at all, results get an axis when anything is mapped.
fn axes_from(f: &Func, axes: &[u16], outs: &[u16]) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
    let in_axes: Vec<Option<usize>> = param_types(f)
        .iter()
        .zip(axes.iter().cycle())
        .map(|(t, &r)| {
            let c = r as usize % (t.rank() + 2);
            (c <= t.rank()).then_some(c)
        })
        .collect();
    let mapped = in_axes.iter().any(Option::is_some);
    let out_axes: Vec<Option<usize>> = result_types(f)
        .iter()
        .zip(outs.iter().cycle())
        .map(|(t, &r)| mapped.then_some(r as usize % (t.rank() + 1)))
        .collect();
    (in_axes, out_axes)
}

/// The function a property is checked on, so that the properties also cover
/// compositions of transforms: the generated `f` itself (`which` 0 or 1), `jvp(f)` (2:
/// second-order rules, since the property transforms it again), `grad` of the scalar
/// version of `f` with its value (3), or `vmap(f)` over axes drawn from the seed (4).
fn subject(spec: &Spec, menu: Menu, which: u8) -> Result<Func, TestCaseError> {
    // Reverse mode through `while` is an error by design.
    let scalar = Menu {
        scalar_out: true,
        while_loops: false,
        ..menu
    };
    let f = build(spec, if which == 3 { scalar } else { menu }).func;
    match which {
        2 => checked("jvp", &f, jvp(&f, &float_params(&f))),
        3 => checked("grad", &f, grad(&f, &float_argnums(&f), true)),
        4 => {
            let bits: Vec<u16> = (0..4).map(|k| (spec.seed >> (16 * k)) as u16).collect();
            let (mut ins, _) = axes_from(&f, &bits, &[]);
            ins[0].get_or_insert(0);
            let outs: Vec<Option<usize>> = result_types(&f)
                .iter()
                .zip(bits.iter().rev())
                .map(|(t, &r)| Some((r >> 3) as usize % (t.rank() + 1)))
                .collect();
            let size = 1 + (bits[3] % 2) as usize;
            checked(
                &format!("vmap with in_axes {ins:?}, out_axes {outs:?}"),
                &f,
                vmap(&f, &ins, size, &outs),
            )
        }
        _ => Ok(f),
    }
}

// ---- a. the dot-product identity ----------------------------------------------------

fn dot_product_identity(spec: &Spec, mask: u8, which: u8) -> Result<(), TestCaseError> {
    let f = subject(spec, Menu::ALL, which)?;
    let active = active_mask(mask, &f);
    let m = f.body.results.len();
    let xs = inputs(&f, spec.seed);
    let want = eval(&f, &xs)?;
    prop_assert!(all_finite(&want), "the generator left safe domains\n{}", f);

    let j = checked("jvp", &f, jvp(&f, &active))?;
    let ts = random_arrays(&active_types(&f, &active), spec.seed ^ 0x7a, 1.0);
    let mut args = xs.clone();
    args.extend(ts.iter().cloned());
    let jout = eval(&j, &args)?;
    prop_assert_eq!(jout.len(), 2 * m);
    for k in 0..m {
        prop_assert!(
            jout[k].bit_eq(&want[k]),
            "jvp changed primal result {}\n{}",
            k,
            show(&[&f, &j])
        );
    }
    let jt = &jout[m..];

    let v = ok("vjp", &f, vjp(&f, &active))?;
    for (what, g) in [("vjp primal", &v.primal), ("vjp pullback", &v.pullback)] {
        self_check(g)
            .map_err(|e| TestCaseError::fail(format!("{what} fails the self-check: {e}\n{f}")))?;
    }
    let vout = eval(&v.primal, &xs)?;
    prop_assert_eq!(vout.len(), m + v.nres);
    for k in 0..m {
        prop_assert!(
            vout[k].bit_eq(&want[k]),
            "vjp's primal changed result {}\n{}",
            k,
            show(&[&f, &v.primal])
        );
    }
    let cts = random_arrays(&result_types(&f), spec.seed ^ 0xc7, 1.0);
    let mut pb_args = vout[m..].to_vec();
    pb_args.extend(cts.iter().cloned());
    let g = eval(&v.pullback, &pb_args)?;
    prop_assert_eq!(g.len(), ts.len());
    for (gi, ti) in g.iter().zip(&ts) {
        prop_assert_eq!(gi.ty(), ti.ty());
    }
    prop_assert!(
        all_finite(&g) && all_finite(jt),
        "non-finite derivatives\n{}",
        show(&[&f, &j, &v.primal, &v.pullback])
    );
    let (lhs, s1) = inner(&cts, jt);
    let (rhs, s2) = inner(&g, &ts);
    // Relative to the terms of both sums; the floor covers derivatives that are zero
    // up to rounding (`atan2(x, x)`), whose rounding depends on the evaluation order.
    let l1 = |xs: &[Array]| {
        xs.iter()
            .map(|x| values(x).iter().map(|v| v.abs()).sum::<f64>())
            .sum::<f64>()
    };
    let floor = 1e-11 * l1(&cts) * l1(&ts);
    prop_assert!(
        (lhs - rhs).abs() <= 1e-9 * (s1 + s2) + floor,
        "<ct, J t> = {lhs:e} but <J^T ct, t> = {rhs:e}\n{}",
        show(&[&f, &j, &v.primal, &v.pullback])
    );

    // linearize = jvp split in two: the same tangents, evaluated in the same order.
    let lin = ok("linearize", &f, linearize(&f, &active))?;
    let lout = eval(&lin.primal, &xs)?;
    let mut largs = lout[m..].to_vec();
    largs.extend(ts.iter().cloned());
    let lt = eval(&lin.linear, &largs)?;
    for k in 0..m {
        prop_assert!(
            lout[k].bit_eq(&want[k]) && same_values(&lt[k], &jt[k]),
            "linearize disagrees with jvp on result {}: {:?} vs {:?}\n{}",
            k,
            lt[k],
            jt[k],
            show(&[&f, &lin.primal, &lin.linear])
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn jvp_and_vjp_satisfy_the_dot_product_identity(
        spec in spec_strategy(),
        mask in any::<u8>(),
        which in 0u8..5,
    ) {
        dot_product_identity(&spec, mask, which)?;
    }
}

// ---- b. jvp against finite differences ----------------------------------------------

/// How a finite-difference check ended (cases near a kink are skipped).
#[derive(Debug)]
enum FdOutcome {
    Checked,
    NonSmooth,
}

fn finite_differences(spec: &Spec, which: u8) -> Result<FdOutcome, TestCaseError> {
    let f = subject(spec, Menu::TRUE_DERIVATIVES, which)?;
    let active = float_params(&f);
    let m = f.body.results.len();
    let xs = inputs(&f, spec.seed);
    let ts = random_arrays(&active_types(&f, &active), spec.seed ^ 0x7a, 1.0);
    let j = checked("jvp", &f, jvp(&f, &active))?;
    let mut args = xs.clone();
    args.extend(ts.iter().cloned());
    let jout = eval(&j, &args)?;
    let (ys, jt) = jout.split_at(m);
    let floats: Vec<f64> = xs
        .iter()
        .zip(&active)
        .filter(|(_, &a)| a)
        .flat_map(|(x, _)| values(x))
        .collect();
    let h = 1e-6 * max_abs(&floats).max(1.0);
    let fd = |h: f64| -> Result<Vec<Vec<f64>>, TestCaseError> {
        let plus = eval(&f, &shifted(&xs, &ts, &active, h))?;
        let minus = eval(&f, &shifted(&xs, &ts, &active, -h))?;
        Ok(plus
            .iter()
            .zip(&minus)
            .map(|(p, q)| {
                values(p)
                    .iter()
                    .zip(values(q))
                    .map(|(a, b)| (a - b) / (2.0 * h))
                    .collect()
            })
            .collect())
    };
    let (d1, d4) = (fd(h)?, fd(4.0 * h)?);
    for k in 0..m {
        let exact = values(&jt[k]);
        // Rounding noise of a difference quotient of values of this size.
        let noise = 64.0 * f64::EPSILON * max_abs(&values(&ys[k])).max(1.0) / h;
        let tol = 1e-5 * max_abs(&exact).max(max_abs(&d1[k])) + noise;
        let spread = d1[k]
            .iter()
            .zip(&d4[k])
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        if !spread.is_finite() || spread > tol {
            return Ok(FdOutcome::NonSmooth);
        }
        let err = exact
            .iter()
            .zip(&d1[k])
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        prop_assert!(
            err <= tol,
            "jvp differs from central differences on result {}: max error {:e} > {:e}\n\
             jvp {:?}\nfd  {:?}\n{}",
            k,
            err,
            tol,
            exact,
            d1[k],
            show(&[&f, &j])
        );
    }
    Ok(FdOutcome::Checked)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn jvp_matches_central_differences(spec in spec_strategy(), which in 0u8..5) {
        finite_differences(&spec, which)?;
    }
}

// ---- c. the vmap law ----------------------------------------------------------------

fn vmap_law(
    spec: &Spec,
    which: u8,
    axes: &[u16],
    outs: &[u16],
    size: usize,
) -> Result<(), TestCaseError> {
    let f = subject(spec, Menu::FORWARD, which)?;
    let (in_axes, out_axes) = axes_from(&f, axes, outs);
    let g = checked(
        &format!("vmap with in_axes {in_axes:?}, out_axes {out_axes:?}"),
        &f,
        vmap(&f, &in_axes, size, &out_axes),
    )?;
    // elems[p][i]: argument p of batch element i (one shared one when unmapped).
    let elems: Vec<Vec<Array>> = param_types(&f)
        .iter()
        .zip(&in_axes)
        .enumerate()
        .map(|(p, (t, ax))| {
            let k = if ax.is_some() { size } else { 1 };
            let seed = spec.seed ^ ((p as u64) << 32);
            random_arrays(&vec![t.clone(); k], seed, INPUT_BOUND)
        })
        .collect();
    let batched: Vec<Array> = elems
        .iter()
        .zip(&in_axes)
        .map(|(xs, ax)| match ax {
            Some(a) => stack(xs, *a),
            None => xs[0].clone(),
        })
        .collect();
    let got = eval(&g, &batched)?;
    for i in 0..size {
        let args: Vec<Array> = elems
            .iter()
            .map(|xs| xs[if xs.len() > 1 { i } else { 0 }].clone())
            .collect();
        let want = eval(&f, &args)?;
        for (j, (w, o)) in want.iter().zip(&out_axes).enumerate() {
            let r = match o {
                Some(o) => index(&got[j], *o, i),
                None => got[j].clone(),
            };
            // Bit for bit, as `vmap` promises for every rule (the canonical reduction
            // order makes batched reductions and contractions exact too), not only for
            // elementwise programs.
            prop_assert!(
                r.bit_eq(w),
                "vmap law broken: result {}, element {}, in_axes {:?}, out_axes {:?}\n\
                 want {:?}\ngot  {:?}\n{}",
                j,
                i,
                in_axes,
                out_axes,
                w,
                r,
                show(&[&f, &g])
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn vmap_of_f_sliced_is_f_of_slices(
        spec in spec_strategy(),
        which in 0u8..5,
        axes in prop::collection::vec(any::<u16>(), 6),
        outs in prop::collection::vec(any::<u16>(), 4),
        size in 1usize..=3,
    ) {
        vmap_law(&spec, which, &axes, &outs, size)?;
    }
}

// ---- d. the chain rule --------------------------------------------------------------

fn chain_rule(
    spec: &Spec,
    g_steps: &[prop_support::Step],
    g_outs: &[u16],
) -> Result<(), TestCaseError> {
    let bf = build(spec, Menu::ALL);
    let f = bf.func;
    let m = f.body.results.len();
    let g_params: Vec<(Type, f64)> = result_types(&f).into_iter().zip(bf.out_bounds).collect();
    let g = build_on(&g_params, g_steps, g_outs, Menu::SCALAR).func;
    let comp = compose(&f, &g)?;
    self_check(&comp).map_err(|e| TestCaseError::fail(format!("g∘f: {e}")))?;
    let argnums = float_argnums(&f);
    let gc = checked("grad(g∘f)", &comp, grad(&comp, &argnums, true))?;
    let xs = inputs(&f, spec.seed);
    let direct = eval(&gc, &xs)?;
    let value = eval(&comp, &xs)?;
    prop_assert!(
        all_finite(&value) && all_finite(&direct),
        "the generator left safe domains\n{}",
        show(&[&comp, &gc])
    );
    prop_assert!(
        same_values(&direct[0], &value[0]),
        "grad's value {:?} differs from the function's {:?}\n{}",
        direct[0],
        value[0],
        show(&[&comp, &gc])
    );

    let ys = eval(&f, &xs)?;
    let gg = checked("grad(g)", &g, grad(&g, &(0..m).collect::<Vec<_>>(), false))?;
    let dy = eval(&gg, &ys)?;
    let v = ok("vjp(f)", &f, vjp(&f, &float_params(&f)))?;
    let pv = eval(&v.primal, &xs)?;
    let mut pb_args = pv[m..].to_vec();
    pb_args.extend(dy);
    let chained = eval(&v.pullback, &pb_args)?;
    prop_assert_eq!(chained.len(), argnums.len());
    for i in 0..argnums.len() {
        prop_assert!(
            close(&direct[1 + i], &chained[i], 1e-9),
            "grad(g∘f) differs from J_f^T grad(g)(f(x)) for parameter {}\n\
             direct  {:?}\nchained {:?}\n{}",
            i,
            direct[1 + i],
            chained[i],
            show(&[&f, &g, &gc, &v.primal, &v.pullback])
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn grad_of_a_composition_is_the_chain_rule(
        spec in spec_strategy(),
        g_steps in steps_strategy(),
        g_outs in prop::collection::vec(any::<u16>(), 1..=2),
    ) {
        chain_rule(&spec, &g_steps, &g_outs)?;
    }
}

// ---- e. self-check and simplify -----------------------------------------------------

/// Every transform of `f`, each with arguments to evaluate it on (reverse mode only
/// when `f` has no `while`).
fn transformed(spec: &Spec, menu: Menu) -> Result<Vec<(String, Func, Vec<Array>)>, TestCaseError> {
    let f = build(spec, menu).func;
    let n = f.body.params.len();
    let m = f.body.results.len();
    let active = float_params(&f);
    let xs = inputs(&f, spec.seed);
    let ts = random_arrays(&active_types(&f, &active), spec.seed ^ 0x7a, 1.0);
    let cts = random_arrays(&result_types(&f), spec.seed ^ 0xc7, 1.0);
    let cat = |a: &[Array], b: &[Array]| -> Vec<Array> { a.iter().chain(b).cloned().collect() };
    let mut out = vec![("f".to_string(), f.clone(), xs.clone())];

    let j = checked("jvp", &f, jvp(&f, &active))?;
    out.push(("jvp".into(), j, cat(&xs, &ts)));

    let lin = ok("linearize", &f, linearize(&f, &active))?;
    let res = eval(&lin.primal, &xs)?[m..].to_vec();
    out.push(("linearize primal".into(), lin.primal, xs.clone()));
    out.push(("linearize linear".into(), lin.linear, cat(&res, &ts)));

    if !menu.while_loops {
        let v = ok("vjp", &f, vjp(&f, &active))?;
        let res = eval(&v.primal, &xs)?[m..].to_vec();
        out.push(("vjp primal".into(), v.primal, xs.clone()));
        out.push(("vjp pullback".into(), v.pullback, cat(&res, &cts)));

        let s = build(spec, Menu::SCALAR).func;
        let gs = checked("grad", &s, grad(&s, &float_argnums(&s), true))?;
        out.push(("grad".into(), gs, xs.clone()));
    }

    let ins = vec![Some(0); n];
    let outs = vec![Some(0); m];
    let b = checked("vmap", &f, vmap(&f, &ins, 2, &outs))?;
    let bxs: Vec<Array> = xs
        .iter()
        .zip(inputs(&f, spec.seed ^ 0x55))
        .map(|(x, y)| stack(&[x.clone(), y], 0))
        .collect();
    out.push(("vmap".into(), b, bxs));
    Ok(out)
}

fn simplify_round_trip(spec: &Spec, menu: Menu) -> Result<(), TestCaseError> {
    for (what, g, args) in transformed(spec, menu)? {
        self_check(&g).map_err(|e| TestCaseError::fail(format!("{what}: {e}\n{g}")))?;
        let s = ok(&format!("simplify of {what}"), &g, simplify(&g))?;
        self_check(&s).map_err(|e| {
            TestCaseError::fail(format!("simplify of {what} fails the self-check: {e}\n{g}"))
        })?;
        prop_assert_eq!(s.body.result_types(), g.body.result_types());
        let before = eval(&g, &args)?;
        let after = eval(&s, &args)?;
        for (k, (x, y)) in before.iter().zip(&after).enumerate() {
            prop_assert!(
                same_values(x, y),
                "simplify changed result {} of {}\nbefore {:?}\nafter  {:?}\n{}",
                k,
                what,
                x,
                y,
                show(&[&g, &s])
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn transforms_self_check_and_simplify_preserves_results(
        spec in spec_strategy(),
        loops in any::<bool>(),
    ) {
        simplify_round_trip(&spec, if loops { Menu::FORWARD } else { Menu::ALL })?;
    }
}

// ---- the generator itself -----------------------------------------------------------

/// The generator covers the primitives it is meant to, and finite differences are
/// not skipped so often that property b says little.
#[test]
fn generator_covers_the_menu() {
    let mut runner = TestRunner::deterministic();
    let strategy = spec_strategy();
    let mut used = BTreeSet::new();
    let mut checked_fd = 0;
    let total = 300;
    for _ in 0..total {
        let spec = strategy.new_tree(&mut runner).expect("a spec").current();
        let f = build(&spec, Menu::FORWARD).func;
        self_check(&f).unwrap_or_else(|e| panic!("generated function: {e}\n{f}"));
        prims_used(&f.body, &mut used);
        if matches!(finite_differences(&spec, 0), Ok(FdOutcome::Checked)) {
            checked_fd += 1;
        }
    }
    let want = [
        "neg",
        "abs",
        "exp",
        "expm1",
        "log",
        "log1p",
        "sqrt",
        "rsqrt",
        "sin",
        "cos",
        "tan",
        "tanh",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "erf",
        "erfinv",
        "floor",
        "ceil",
        "round",
        "sign",
        "add",
        "sub",
        "mul",
        "div",
        "rem",
        "pow",
        "atan2",
        "max",
        "min",
        "lt",
        "gt",
        "le",
        "ge",
        "eq",
        "ne",
        "select",
        "integer_pow",
        "stop_gradient",
        "constant",
        "iota",
        "broadcast_in_dim",
        "reshape",
        "transpose",
        "slice",
        "pad",
        "concat",
        "rev",
        "reduce_sum",
        "reduce_max",
        "reduce_min",
        "reduce_prod",
        "cumsum",
        "cumprod",
        "dot_general",
        "take",
        "scatter",
        "scatter_add",
        "dynamic_slice",
        "dynamic_update_slice",
        "cond",
        "scan",
        "while",
    ];
    let missing: Vec<&str> = want.iter().copied().filter(|p| !used.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "never generated: {missing:?} (kinds {KINDS:?})"
    );
    assert!(
        checked_fd * 2 >= total,
        "finite differences were skipped as non-smooth in {} of {total} programs",
        total - checked_fd
    );
}
