//! Row passes (`X @ w`, the per-row kernels using it, `c @ X`, in one pass over `X`):
//! which programs get one, and that a program with row passes gives the bits of the
//! same program without them for 1, 2 and 3 threads (row counts off every block and
//! chunk size, one and several canonical blocks, f32 and f64), close to the
//! interpreter.

mod fallbacks;
use fallbacks::Interp;

mod inputs;

use nabla_cpu::program::{Compiled, Profile};
use nabla_cpu::rowpass;
use nabla_ir::{parse_func, Array, DType, Data, Func, Type};

/// A logistic regression's loss and gradient (what `value_and_grad` of
/// `mean(log1p(exp(-s * (x @ w))))` traces to).
fn loss_and_grad(n: usize, d: usize, t: &str) -> Func {
    let inv = 1.0 / n as f64;
    parse_func(&format!(
        "fn f(%0: {t}[{d}], %1: {t}[{n}, {d}], %2: {t}[{n}]) -> ({t}[], {t}[{d}]) {{
  %3: {t}[{n}] = broadcast_in_dim[shape=[{n}], dims=[]](2.0:{t})
  %4: {t}[{n}] = mul(%3, %2)
  %5: {t}[{n}] = broadcast_in_dim[shape=[{n}], dims=[]](1.0:{t})
  %6: {t}[{n}] = sub(%4, %5)
  %7: {t}[{n}] = neg(%6)
  %8: {t}[{n}] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%1, %0)
  %9: {t}[{n}] = mul(%7, %8)
  %10: {t}[{n}] = exp(%9)
  %11: {t}[{n}] = log1p(%10)
  %12: {t}[{n}] = add(%10, %5)
  %13: {t}[] = reduce_sum[axes=[0], compensated=false](%11)
  %14: {t}[] = mul(%13, {inv:?}:{t})
  %15: {t}[{n}] = broadcast_in_dim[shape=[{n}], dims=[]]({inv:?}:{t})
  %16: {t}[{n}] = div(%15, %12)
  %17: {t}[{n}] = mul(%16, %10)
  %18: {t}[{n}] = mul(%17, %7)
  %19: {t}[{d}] = dot_general[lhs_contract=[0], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%18, %1)
  return (%14, %19)
}}"
    ))
    .unwrap()
}

/// Per-example gradient norms of the same loss (`vmap(grad(...))`, squared, summed
/// over features, square-rooted); `Xᵀ c` here is written `dot_general(X, c)`.
fn grad_norms(n: usize, d: usize, t: &str) -> Func {
    parse_func(&format!(
        "fn f(%0: {t}[{d}], %1: {t}[{n}, {d}], %2: {t}[{n}]) -> ({t}[{n}]) {{
  %3: {t}[{n}] = broadcast_in_dim[shape=[{n}], dims=[]](2.0:{t})
  %4: {t}[{n}] = mul(%3, %2)
  %5: {t}[{n}] = broadcast_in_dim[shape=[{n}], dims=[]](1.0:{t})
  %6: {t}[{n}] = sub(%4, %5)
  %7: {t}[{n}] = neg(%6)
  %8: {t}[{n}] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%1, %0)
  %9: {t}[{n}] = mul(%7, %8)
  %10: {t}[{n}] = exp(%9)
  %11: {t}[{n}] = add(%10, %5)
  %12: {t}[{n}] = div(%5, %11)
  %13: {t}[{n}] = mul(%12, %10)
  %14: {t}[{n}] = mul(%13, %7)
  %15: {t}[{n}, {d}] = dot_general[lhs_contract=[], rhs_contract=[], lhs_batch=[0], rhs_batch=[0], compensated=false](%14, %1)
  %16: {t}[{n}, {d}] = integer_pow[exponent=2](%15)
  %17: {t}[{n}] = reduce_sum[axes=[1], compensated=false](%16)
  %18: {t}[{n}] = sqrt(%17)
  return (%18)
}}"
    ))
    .unwrap()
}

/// `Xᵀ (z ⊙ z)` with the product written with `X` first.
fn gram_like(n: usize, d: usize) -> Func {
    parse_func(&format!(
        "fn f(%0: f64[{d}], %1: f64[{n}, {d}]) -> (f64[{d}]) {{
  %2: f64[{n}] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%1, %0)
  %3: f64[{n}] = mul(%2, %2)
  %4: f64[{d}] = dot_general[lhs_contract=[0], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%1, %3)
  return (%4)
}}"
    ))
    .unwrap()
}

fn array(ty: &Type, seed: u64, scale: f64) -> Array {
    let v = inputs::grid(ty.numel(), seed, scale);
    let data = match ty.dtype {
        DType::F32 => Data::F32(v.iter().map(|&x| x as f32).collect()),
        DType::F64 => Data::F64(v),
        other => panic!("no test inputs of {other}"),
    };
    Array::new(ty.shape.clone(), data).unwrap()
}

/// `w` small, `X` of order one, `y` in {0, 1}: the losses stay finite.
fn inputs(f: &Func) -> Vec<Array> {
    let p = &f.body.params;
    let mut args = vec![array(&p[0].ty, 1, 0.1), array(&p[1].ty, 2, 1.0)];
    if let Some(y) = p.get(2) {
        let a = array(&y.ty, 3, 1.0);
        let bits = match a.data() {
            Data::F32(v) => Data::F32(v.iter().map(|&x| f32::from(x > 0.0)).collect()),
            Data::F64(v) => Data::F64(v.iter().map(|&x| f64::from(u8::from(x > 0.0))).collect()),
            _ => unreachable!("inputs are floats"),
        };
        args.push(Array::new(y.ty.shape.clone(), bits).unwrap());
    }
    args
}

fn same(a: &[Array], b: &[Array]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.bit_eq(y))
}

fn close(a: &Array, b: &Array, tol: f64) -> bool {
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= tol * scale)
}

/// The program gets exactly `steps` fused (none when empty), and with the pass it
/// gives the bits of the unfused program for 1, 2 and 3 threads, near the interpreter.
fn check(f: &Func, steps: &[usize], tol: f64) {
    let fused = Compiled::with_row_passes(f, true).unwrap();
    let plans = rowpass::find(&fused.program);
    let found: Vec<usize> = plans.iter().flat_map(|p| p.steps()).collect();
    assert_eq!(
        found,
        steps,
        "row pass steps of\n{}",
        nabla_cpu::plan::describe(&fused.program)
    );
    let plain = Compiled::with_row_passes(f, false).unwrap();
    let args = inputs(f);
    let want = plain.run(&args, 1, &Interp).unwrap();
    for threads in [1, 2, 3] {
        let got = fused.run(&args, threads, &Interp).unwrap();
        assert!(
            same(&got, &want),
            "{threads} threads: row pass changed the bits"
        );
    }
    let reference = nabla_interp::eval_func(f, &args).unwrap();
    for (g, r) in want.iter().zip(&reference) {
        assert!(close(g, r, tol), "far from the interpreter: {g:?} vs {r:?}");
    }
}

#[test]
fn loss_and_gradient_in_one_pass() {
    // Several canonical blocks and a partial last chunk; one block; the smallest
    // matrix that qualifies; one row block per 16-row matrix of the widest rows.
    for (n, d) in [(10_007, 37), (3_000, 50), (8_192, 8), (16, 4096)] {
        check(&loss_and_grad(n, d, "f64"), &[1, 2, 4, 5], 1e-12);
    }
    check(&loss_and_grad(9_001, 64, "f32"), &[1, 2, 4, 5], 1e-4);
}

#[test]
fn per_row_norms_in_one_pass() {
    for (n, d) in [(10_000, 100), (700, 100), (4_099, 17)] {
        check(&grad_norms(n, d, "f64"), &[1, 2, 3, 4], 1e-12);
    }
    check(&grad_norms(5_000, 30, "f32"), &[1, 2, 3, 4], 1e-4);
}

#[test]
fn transposed_product_in_one_pass() {
    check(&gram_like(6_000, 20), &[0, 1, 2], 1e-12);
}

#[test]
fn no_pass_where_it_does_not_apply() {
    // Too small to matter, rows wider than a block, and a `z` read out of row order.
    check(&loss_and_grad(500, 100, "f64"), &[], 1e-12);
    check(&gram_like(16, 4097), &[], 1e-12);
    let reversed = parse_func(
        "fn f(%0: f64[64], %1: f64[2000, 64]) -> (f64[64]) {
  %2: f64[2000] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%1, %0)
  %3: f64[2000] = rev[axes=[0]](%2)
  %4: f64[2000] = mul(%3, %2)
  %5: f64[64] = dot_general[lhs_contract=[0], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%4, %1)
  return (%5)
}",
    )
    .unwrap();
    check(&reversed, &[], 1e-12);
    // Only a reduction over all rows uses `z`: nothing reads `X` again.
    let total = parse_func(
        "fn f(%0: f64[64], %1: f64[2000, 64]) -> (f64[]) {
  %2: f64[2000] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%1, %0)
  %3: f64[2000] = exp(%2)
  %4: f64[] = reduce_sum[axes=[0], compensated=false](%3)
  return (%4)
}",
    )
    .unwrap();
    check(&total, &[], 1e-12);
}

#[test]
fn profile_names_the_pass() {
    let f = loss_and_grad(3_000, 50, "f64");
    let c = Compiled::new(&f).unwrap();
    let mut prof = Profile::new();
    c.run_profiled(&inputs(&f), 2, &Interp, Some(&mut prof))
        .unwrap();
    let labels: Vec<&str> = prof.sorted().into_iter().map(|(l, _)| l).collect();
    assert!(
        labels
            .iter()
            .any(|l| l.contains("row pass over 3000 × 50 (steps [1, 2, 4, 5])")),
        "{labels:?}"
    );
    assert!(
        !labels.iter().any(|l| l.contains("dot_general")),
        "{labels:?}"
    );
}
