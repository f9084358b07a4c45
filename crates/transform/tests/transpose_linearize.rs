//! linearize + transpose end to end: the primal half reproduces `f`, the linear half
//! matches central finite differences, and its transpose satisfies the dot-product
//! test against them, on small functions with control flow.

mod pe_support;

use nabla_diag::Code;
use nabla_ir::{Array, Func};
use nabla_transform::{linearize, transpose};
use pe_support::{axpy, check, eval, float, inner, inner_abs, parse, same, Rng};

/// Runs the whole check for `f` with the `active` parameters.
fn check_linearize(f: &Func, active: &[bool]) {
    check(f);
    let lin = linearize(f, active).unwrap_or_else(|e| panic!("{e}\n{f}"));
    check(&lin.primal);
    check(&lin.linear);
    let lt = transpose(&lin.linear, lin.nres).unwrap_or_else(|e| panic!("{e}\n{}", lin.linear));
    check(&lt);
    let params = f.body.param_types();
    let results = f.body.result_types();
    let m = results.len();
    let ctx = format!(
        "{f}\n--- primal\n{}\n--- linear\n{}\n--- transposed\n{lt}",
        lin.primal, lin.linear
    );
    for seed in 0..4 {
        let mut rng = Rng::new(seed * 31 + 5);
        let x = rng.arrays(&params);
        let t: Vec<Array> = params
            .iter()
            .zip(active)
            .filter(|(_, a)| **a)
            .map(|(p, _)| rng.array(p))
            .collect();
        let c = rng.arrays(&results);

        let want = eval(f, &x);
        let primal = eval(&lin.primal, &x);
        assert!(same(&primal[..m], &want), "primal differs\n{ctx}");
        let res = &primal[m..];
        assert_eq!(res.len(), lin.nres);

        // Central differences along t.
        let h = 1e-6;
        let mut ti = t.iter();
        let dir: Vec<Array> = x
            .iter()
            .zip(active)
            .map(|(xi, &a)| {
                if a {
                    ti.next().expect("one tangent per active parameter").clone()
                } else {
                    Array::zeros(&xi.ty()).expect("small")
                }
            })
            .collect();
        let plus: Vec<Array> = x.iter().zip(&dir).map(|(a, d)| axpy(a, h, d)).collect();
        let minus: Vec<Array> = x.iter().zip(&dir).map(|(a, d)| axpy(a, -h, d)).collect();
        let fp = eval(f, &plus);
        let fm = eval(f, &minus);

        let mut largs: Vec<Array> = res.to_vec();
        largs.extend(t.iter().cloned());
        let lout = eval(&lin.linear, &largs);
        for (j, ty) in results.iter().enumerate() {
            if !float(ty) {
                continue;
            }
            let fd: Vec<f64> = fp[j]
                .to_f64_vec()
                .iter()
                .zip(fm[j].to_f64_vec())
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
            for (k, (a, b)) in lout[j].to_f64_vec().iter().zip(&fd).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "seed {seed} result {j}[{k}]: linear {a} vs finite difference {b}\n{ctx}"
                );
            }
        }

        let mut targs: Vec<Array> = res.to_vec();
        targs.extend(c.iter().cloned());
        let g = eval(&lt, &targs);
        assert_eq!(g.len(), t.len());
        let lhs: f64 = results
            .iter()
            .enumerate()
            .filter(|(_, ty)| float(ty))
            .map(|(j, _)| inner(&c[j], &lout[j]))
            .sum();
        let rhs: f64 = g.iter().zip(&t).map(|(a, b)| inner(a, b)).sum();
        let scale: f64 = g.iter().zip(&t).map(|(a, b)| inner_abs(a, b)).sum::<f64>() + 1e-12;
        assert!(
            (lhs - rhs).abs() <= 1e-10 * scale + 1e-12,
            "seed {seed}: <c, L t> = {lhs} but <L^T c, t> = {rhs}\n{ctx}"
        );
    }
}

#[test]
fn straight_line() {
    let f = parse(
        "fn f(%0: f64[3], %1: f64[3], %2: f64[]) -> (f64[], f64[3]) {
          %3: f64[3] = mul(%0, %0)
          %4: f64[3] = mul(%3, %1)
          %5: f64[] = reduce_sum[axes=[0], compensated=false](%4)
          %6: f64[3] = sin(%0)
          %7: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%2)
          %8: f64[3] = div(%6, %7)
          %9: f64[3] = exp(%8)
          return (%5, %9)
        }",
    );
    check_linearize(&f, &[true, true, true]);
    check_linearize(&f, &[true, false, true]);
    check_linearize(&f, &[false, true, false]);
}

#[test]
fn indexing_and_matmul() {
    let f = parse(
        "fn g(%0: f64[4, 3], %1: f64[3, 2], %2: i32[5]) -> (f64[5, 2], f64[4, 3], f64[2, 2]) {
          %3: f64[4, 2] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%0, %1)
          %4: f64[4, 2] = tanh(%3)
          %5: f64[5, 2] = take[axis=0](%4, %2)
          %6: f64[5, 3] = take[axis=0](%0, %2)
          %7: f64[5, 3] = mul(%6, %6)
          %8: f64[4, 3] = scatter_add[axis=0](%0, %2, %7)
          %9: f64[4, 3] = scatter[axis=0](%8, %2, %6)
          %10: f64[2, 2] = dynamic_slice[sizes=[2, 2]](%4, 1:i32, 0:i32)
          %11: f64[2, 2] = mul(%10, %10)
          return (%5, %9, %11)
        }",
    );
    check_linearize(&f, &[true, true, false]);
}

#[test]
fn cond() {
    let f = parse(
        "fn c(%0: f64[3], %1: f64[]) -> (f64[3], f64[]) {
          %2: f64[] = reduce_sum[axes=[0], compensated=false](%0)
          %3: bool[] = gt(%2, 0.0:f64)
          %4: f64[3], %5: f64[] = cond(%3, %0, %1)
            then_body = |%6: f64[3], %7: f64[]| {
              %8: f64[3] = sin(%6)
              %9: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%7)
              %10: f64[3] = mul(%8, %9)
              %11: f64[] = mul(%7, %7)
              return (%10, %11)
            }
            else_body = |%12: f64[3], %13: f64[]| {
              %14: f64[3] = exp(%12)
              return (%14, 2.0:f64)
            }
          return (%4, %5)
        }",
    );
    check_linearize(&f, &[true, true]);
    check_linearize(&f, &[false, true]);
}

#[test]
fn scan() {
    for reverse in [false, true] {
        let f = parse(&format!(
            "fn s(%0: f64[], %1: f64[2], %2: f64[5, 2], %3: f64[2]) -> (f64[2], f64[5, 2]) {{
              %4: f64[2], %5: f64[5, 2] = scan[nconsts=2, ncarry=1, length=5, reverse={reverse}](%0, %3, %1, %2)
                body = |%6: f64[], %7: f64[2], %8: f64[2], %9: f64[2]| {{
                  %10: f64[2] = sin(%8)
                  %11: f64[2] = mul(%10, %9)
                  %12: f64[2] = broadcast_in_dim[shape=[2], dims=[]](%6)
                  %13: f64[2] = add(%11, %12)
                  %14: f64[2] = mul(%13, %7)
                  %15: f64[2] = mul(%8, %8)
                  return (%14, %15)
                }}
              return (%4, %5)
            }}"
        ));
        check_linearize(&f, &[true, true, true, true]);
        check_linearize(&f, &[false, true, false, true]);
        check_linearize(&f, &[true, false, false, false]);
    }
}

#[test]
fn scan_with_counter_and_nested_cond() {
    let f = parse(
        "fn n(%0: f64[3], %1: f64[4, 3]) -> (f64[3], i32[]) {
          %2: i32[], %3: f64[3] = scan[nconsts=0, ncarry=2, length=4, reverse=false](0:i32, %0, %1)
            body = |%4: i32[], %5: f64[3], %6: f64[3]| {
              %7: i32[] = add(%4, 1:i32)
              %8: i32[] = rem(%4, 2:i32)
              %9: bool[] = eq(%8, 0:i32)
              %10: f64[3] = cond(%9, %5, %6)
                then_body = |%11: f64[3], %12: f64[3]| {
                  %13: f64[3] = mul(%11, %12)
                  return (%13)
                }
                else_body = |%14: f64[3], %15: f64[3]| {
                  %16: f64[3] = cos(%14)
                  %17: f64[3] = add(%16, %15)
                  return (%17)
                }
              return (%7, %10)
            }
          return (%3, %2)
        }",
    );
    check_linearize(&f, &[true, true]);
    check_linearize(&f, &[false, true]);
}

const WHILE: &str = "fn w(%0: f64[], %1: i32[]) -> (f64[]) {
  %2: i32[], %3: f64[] = while[cond_nconsts=1, body_nconsts=0](%1, 0:i32, %0)
    cond_body = |%4: i32[], %5: i32[], %6: f64[]| {
      %7: bool[] = lt(%5, %4)
      return (%7)
    }
    body = |%8: i32[], %9: f64[]| {
      %10: i32[] = add(%8, 1:i32)
      %11: f64[] = sin(%9)
      %12: f64[] = mul(%11, 1.5:f64)
      return (%10, %12)
    }
  return (%3)
}";

#[test]
fn while_linearizes_forward() {
    let f = parse(WHILE);
    let lin = linearize(&f, &[true, false]).unwrap_or_else(|e| panic!("{e}"));
    check(&lin.primal);
    check(&lin.linear);
    let x = Array::from_f64(vec![], vec![0.3]).expect("scalar");
    let n = Array::scalar(nabla_ir::Scalar::I32(3));
    let p = eval(&lin.primal, &[x.clone(), n.clone()]);
    let want = eval(&f, &[x.clone(), n.clone()]);
    assert!(same(&p[..1], &want));
    let mut args = p[1..].to_vec();
    args.push(Array::from_f64(vec![], vec![1.0]).expect("scalar"));
    let d = eval(&lin.linear, &args)[0].to_f64_vec()[0];
    let h = 1e-6;
    let fp = eval(
        &f,
        &[
            Array::from_f64(vec![], vec![0.3 + h]).expect("s"),
            n.clone(),
        ],
    );
    let fm = eval(&f, &[Array::from_f64(vec![], vec![0.3 - h]).expect("s"), n]);
    let fd = (fp[0].to_f64_vec()[0] - fm[0].to_f64_vec()[0]) / (2.0 * h);
    assert!((d - fd).abs() < 1e-6, "{d} vs {fd}");
}

#[test]
fn reverse_mode_through_while_is_not_differentiable() {
    let f = parse(WHILE);
    let lin = linearize(&f, &[true, false]).unwrap_or_else(|e| panic!("{e}"));
    let err = transpose(&lin.linear, lin.nres).expect_err("no reverse mode through while");
    assert_eq!(err.code, Code::NOT_DIFFERENTIABLE);
    assert_eq!(err.code.as_str(), "E0701");
    assert!(err.message.contains("while"), "{}", err.message);
    assert_eq!(
        err.hint.as_deref(),
        Some("use fori with static bounds or scan, which are reverse-differentiable")
    );
}

#[test]
fn inactive_and_integer_results() {
    let f = parse(
        "fn f(%0: f64[3], %1: f64[3]) -> (i32[], f64[3], f64[3], f64[]) {
          %2: i32[] = argmax[axis=0, index_dtype=i32](%0)
          %3: f64[3] = mul(%0, %1)
          %4: f64[3] = floor(%1)
          return (%2, %4, %3, 2.0:f64)
        }",
    );
    check_linearize(&f, &[true, false]);
    check_linearize(&f, &[false, true]);
    check_linearize(&f, &[false, false]);
}

#[test]
fn stop_gradient_blocks_the_cotangent() {
    // d/dx of stop_gradient(x) * x is stop_gradient(x), not 2x.
    let f = parse(
        "fn f(%0: f64[3]) -> (f64[3]) {
          %1: f64[3] = stop_gradient(%0)
          %2: f64[3] = mul(%1, %0)
          return (%2)
        }",
    );
    let lin = linearize(&f, &[true]).unwrap_or_else(|e| panic!("{e}"));
    let lt = transpose(&lin.linear, lin.nres).unwrap_or_else(|e| panic!("{e}"));
    check(&lt);
    let x = Array::from_f64(vec![3], vec![0.5, -2.0, 3.0]).expect("shape");
    let mut args = eval(&lin.primal, std::slice::from_ref(&x))[1..].to_vec();
    args.push(Array::from_f64(vec![3], vec![1.0; 3]).expect("shape"));
    assert_eq!(eval(&lt, &args)[0].to_f64_vec(), x.to_f64_vec());
}
