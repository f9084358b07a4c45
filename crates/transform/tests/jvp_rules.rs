//! The jvp's conventions at points finite differences cannot check (JAX's choices at
//! kinks and ties, exact zeros), symbolic zeros, higher orders, spans and errors.

mod jvp_support;

use jvp_support::{eval, f64s, jvp_ok, parse, scalar};
use nabla_diag::{Code, FileId, Span};
use nabla_ir::{print_func, Array, Atom, Body, Builder, DType, Prim, Type, UnaryOp};
use nabla_transform::jvp::{jvp, tangent_mask};

/// The tangent results of `jvp(f)` at `x` along `t` (every parameter active).
fn tangents(f: &nabla_ir::Func, x: &[Array], t: &[Array]) -> Vec<Vec<f64>> {
    let g = jvp_ok(f, &vec![true; x.len()]);
    let mut args = x.to_vec();
    args.extend(t.iter().cloned());
    let out = eval(&g, &args);
    let n = out.len() / 2;
    out[n..].iter().map(Array::to_f64_vec).collect()
}

#[test]
fn inactive_inputs_emit_no_tangent_equations() {
    let f = parse(
        "fn f(%0: f64[], %1: f64[]) -> (f64[], f64[]) {
           %2: f64[] = sin(%0)
           %3: f64[] = exp(%1)
           %4: f64[] = mul(%2, %3)
           return (%4, %3)
         }",
    );
    let g = jvp_ok(&f, &[true, false]);
    assert_eq!(
        print_func(&g),
        "fn \"jvp(f)\"(%0: f64[], %1: f64[], %2: f64[]) -> (f64[], f64[], f64[], f64[]) {
  %3: f64[] = sin(%0)
  %4: f64[] = cos(%0)
  %5: f64[] = mul(%2, %4)
  %6: f64[] = exp(%1)
  %7: f64[] = mul(%3, %6)
  %8: f64[] = mul(%5, %6)
  return (%7, %6, %8, 0.0:f64)
}"
    );
    // Nothing active: a copy of `f` plus literal zero tangents.
    let g = jvp_ok(&f, &[false, false]);
    assert_eq!(g.body.eqn_count(), f.body.eqn_count());
}

#[test]
fn control_flow_without_tangents_is_copied() {
    let f = parse(
        "fn f(%0: f64[], %1: f64[]) -> (f64[], f64[]) {
           %2: i32[], %3: f64[] = while[cond_nconsts=0, body_nconsts=0](0:i32, %1)
             cond_body = |%4: i32[], %5: f64[]| {
               %6: bool[] = lt(%4, 3:i32)
               return (%6)
             }
             body = |%7: i32[], %8: f64[]| {
               %9: i32[] = add(%7, 1:i32)
               %10: f64[] = sin(%8)
               return (%9, %10)
             }
           %11: f64[] = mul(%0, %0)
           return (%11, %3)
         }",
    );
    let g = jvp_ok(&f, &[true, false]);
    // The loop is copied unchanged; only `mul` gains a tangent (two products, a sum).
    assert_eq!(g.body.eqn_count(), f.body.eqn_count() + 3);
    let loops: Vec<&Prim> = g
        .body
        .eqns
        .iter()
        .map(|e| &e.prim)
        .filter(|p| matches!(p, Prim::While { .. }))
        .collect();
    assert!(matches!(
        loops[..],
        [Prim::While {
            body_nconsts: 0,
            ..
        }]
    ));
    assert_eq!(loops[0].bodies()[1].results.len(), 2);
}

#[test]
fn max_and_min_split_ties_half_and_half() {
    for op in ["max", "min"] {
        let f = parse(&format!(
            "fn f(%0: f64[], %1: f64[]) -> (f64[]) {{ %2: f64[] = {op}(%0, %1) return (%2) }}"
        ));
        let x = [scalar(1.5), scalar(1.5)];
        assert_eq!(tangents(&f, &x, &[scalar(1.0), scalar(0.0)]), [[0.5]]);
        assert_eq!(tangents(&f, &x, &[scalar(0.0), scalar(1.0)]), [[0.5]]);
        assert_eq!(tangents(&f, &x, &[scalar(1.0), scalar(1.0)]), [[1.0]]);
        let x = [scalar(1.0), scalar(2.0)];
        let want = if op == "max" { 0.0 } else { 1.0 };
        assert_eq!(tangents(&f, &x, &[scalar(1.0), scalar(0.0)]), [[want]]);
    }
}

#[test]
fn reduce_max_and_min_average_over_ties() {
    for op in ["reduce_max", "reduce_min"] {
        let f = parse(&format!(
            "fn f(%0: f64[4]) -> (f64[]) {{
               %1: f64[] = {op}[axes=[0], compensated=false](%0)
               return (%1)
             }}"
        ));
        let x = if op == "reduce_max" {
            [3.0, 1.0, 3.0, 2.0]
        } else {
            [-3.0, 1.0, -3.0, 2.0]
        };
        let x = [f64s(&[4], &x)];
        assert_eq!(
            tangents(&f, &x, &[f64s(&[4], &[1.0, 0.0, 0.0, 0.0])]),
            [[0.5]]
        );
        assert_eq!(
            tangents(&f, &x, &[f64s(&[4], &[2.0, 7.0, 4.0, 7.0])]),
            [[3.0]]
        );
    }
}

#[test]
fn abs_has_derivative_one_at_zero_as_in_jax() {
    let f = parse("fn f(%0: f64[4]) -> (f64[4]) { %1: f64[4] = abs(%0) return (%1) }");
    let x = [f64s(&[4], &[0.0, -0.0, -2.0, 3.0])];
    let t = [f64s(&[4], &[1.0, 1.0, 1.0, 1.0])];
    assert_eq!(tangents(&f, &x, &t), [[1.0, 1.0, -1.0, 1.0]]);
}

#[test]
fn where_guarded_sqrt_has_a_finite_tangent_at_zero() {
    let f = parse(
        "fn f(%0: f64[3]) -> (f64[3]) {
           %1: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           %2: bool[3] = gt(%0, %1)
           %3: f64[3] = broadcast_in_dim[shape=[3], dims=[]](1.0:f64)
           %4: f64[3] = select(%2, %0, %3)
           %5: f64[3] = sqrt(%4)
           %6: f64[3] = select(%2, %5, %1)
           return (%6)
         }",
    );
    let x = [f64s(&[3], &[0.0, 4.0, -1.0])];
    let t = [f64s(&[3], &[1.0, 1.0, 1.0])];
    assert_eq!(tangents(&f, &x, &t), [[0.0, 0.25, 0.0]]);
}

#[test]
fn stop_gradient_blocks_the_tangent() {
    let f = parse(
        "fn f(%0: f64[3]) -> (f64[3]) {
           %1: f64[3] = stop_gradient(%0)
           %2: f64[3] = mul(%0, %1)
           return (%2)
         }",
    );
    let x = [f64s(&[3], &[1.5, -2.0, 0.5])];
    let t = [f64s(&[3], &[1.0, 1.0, 2.0])];
    assert_eq!(tangents(&f, &x, &t), [[1.5, -2.0, 1.0]]);
}

#[test]
fn products_are_exact_at_zero() {
    let prod = parse(
        "fn f(%0: f64[3]) -> (f64[]) {
           %1: f64[] = reduce_prod[axes=[0], compensated=false](%0)
           return (%1)
         }",
    );
    let at = |v: [f64; 3]| [f64s(&[3], &v)];
    assert_eq!(
        tangents(&prod, &at([0.0, 2.0, 3.0]), &at([1.0, 0.0, 0.0])),
        [[6.0]]
    );
    assert_eq!(
        tangents(&prod, &at([0.0, 2.0, 3.0]), &at([0.0, 1.0, 1.0])),
        [[0.0]]
    );
    assert_eq!(
        tangents(&prod, &at([0.0, 0.0, 3.0]), &at([1.0, 1.0, 1.0])),
        [[0.0]]
    );
    let cumprod = parse(
        "fn f(%0: f64[3]) -> (f64[3]) {
           %1: f64[3] = cumprod[axis=0, reverse=false](%0)
           return (%1)
         }",
    );
    assert_eq!(
        tangents(&cumprod, &at([2.0, 0.0, 3.0]), &at([0.0, 1.0, 0.0])),
        [[0.0, 2.0, 6.0]]
    );
    assert_eq!(
        tangents(&cumprod, &at([2.0, 0.0, 3.0]), &at([1.0, 0.0, 1.0])),
        [[1.0, 0.0, 0.0]]
    );
}

#[test]
fn pow_is_finite_at_zero_as_in_jax() {
    let f = parse("fn f(%0: f64[], %1: f64[]) -> (f64[]) { %2: f64[] = pow(%0, %1) return (%2) }");
    // d/dy 0^2 = log(1) * 0; d/dx x^0 = 0 even at x = 0.
    assert_eq!(
        tangents(&f, &[scalar(0.0), scalar(2.0)], &[scalar(0.0), scalar(1.0)]),
        [[0.0]]
    );
    assert_eq!(
        tangents(&f, &[scalar(0.0), scalar(0.0)], &[scalar(1.0), scalar(0.0)]),
        [[0.0]]
    );
    assert_eq!(
        tangents(&f, &[scalar(2.0), scalar(3.0)], &[scalar(1.0), scalar(0.0)]),
        [[12.0]]
    );
}

/// The last result of the `k`-times nested jvp of a scalar function of one variable,
/// every input active, at `x` with the first direction 1 and the others 0 except the
/// ones that select the `k`-th derivative.
fn nth_derivative(text: &str, k: usize, x: f64) -> f64 {
    let mut f = parse(text);
    for _ in 0..k {
        let n = f.body.params.len();
        f = jvp_ok(&f, &vec![true; n]);
    }
    // After k jvps there are 2^k inputs, indexed by subsets of the k directions; the
    // k-th derivative is the tangent along all of them with every "direction" input 1
    // and every cross term 0: inputs whose index is a power of two.
    let n = 1usize << k;
    let args: Vec<Array> = (0..n)
        .map(|i| {
            scalar(if i == 0 {
                x
            } else if i.is_power_of_two() {
                1.0
            } else {
                0.0
            })
        })
        .collect();
    let out = eval(&f, &args);
    out[n - 1].to_f64_vec()[0]
}

#[test]
fn jvp_of_jvp_gives_higher_derivatives() {
    // JAX: grad(grad(lambda x: sin(x) * x**2))(0.9)
    let d2 = nth_derivative(
        "fn f(%0: f64[]) -> (f64[]) {
           %1: f64[] = sin(%0)
           %2: f64[] = integer_pow[exponent=2](%0)
           %3: f64[] = mul(%1, %2)
           return (%3)
         }",
        2,
        0.9,
    );
    assert!((d2 - 3.169954908231097).abs() < 1e-12, "{d2}");
    // JAX: grad(grad(grad(lambda x: exp(-x * x))))(0.3)
    let d3 = nth_derivative(
        "fn f(%0: f64[]) -> (f64[]) {
           %1: f64[] = neg(%0)
           %2: f64[] = mul(%1, %0)
           %3: f64[] = exp(%2)
           return (%3)
         }",
        3,
        0.3,
    );
    assert!((d3 - 3.092743130957836).abs() < 1e-12, "{d3}");
}

#[test]
fn tangent_mask_reaches_a_fixpoint_through_loops() {
    let f = parse(
        "fn f(%0: f64[], %1: f64[], %2: f64[]) -> (f64[], f64[], i32[]) {
           %3: i32[], %4: f64[], %5: f64[] = while[cond_nconsts=0, body_nconsts=1](%2, 0:i32, %0, %1)
             cond_body = |%6: i32[], %7: f64[], %8: f64[]| {
               %9: bool[] = lt(%6, 5:i32)
               return (%9)
             }
             body = |%10: f64[], %11: i32[], %12: f64[], %13: f64[]| {
               %14: i32[] = add(%11, 1:i32)
               %15: f64[] = mul(%12, %10)
               %16: f64[] = sin(%15)
               return (%14, %13, %16)
             }
           return (%4, %5, %3)
         }",
    );
    assert_eq!(
        tangent_mask(&f.body, &[false, false, true]),
        [true, true, false]
    );
    assert_eq!(
        tangent_mask(&f.body, &[false, true, false]),
        [true, true, false]
    );
    assert_eq!(
        tangent_mask(&f.body, &[false, false, false]),
        [false, false, false]
    );
    let g = jvp_ok(&f, &[false, false, true]);
    // Both float carries ride with a tangent; the counter does not.
    let w = g
        .body
        .eqns
        .iter()
        .find(|e| matches!(e.prim, Prim::While { .. }))
        .expect("the loop is still there");
    assert_eq!(w.outs.len(), 5);
}

#[test]
fn new_equations_inherit_the_source_span() {
    let span = |a: usize| Span::new(FileId(0), a, a + 1);
    let t = Type::scalar(DType::F64);
    let mut b = Builder::new();
    let x = Atom::Var(b.param(t.clone()));
    let s = b
        .emit1(Prim::Unary(UnaryOp::Sin), vec![x.clone()], span(1))
        .expect("well typed");
    let p = b.begin_body(std::slice::from_ref(&t));
    let e = b
        .emit1(
            Prim::Unary(UnaryOp::Exp),
            vec![Atom::Var(p[0].clone())],
            span(2),
        )
        .expect("well typed");
    let then_body: Body = b.end_body(vec![Atom::Var(e)]);
    let p = b.begin_body(std::slice::from_ref(&t));
    let else_body = b.end_body(vec![Atom::Var(p[0].clone())]);
    let c = b
        .emit1(
            Prim::Cond {
                then_body,
                else_body,
            },
            vec![Atom::Lit(nabla_ir::Scalar::Bool(true)), Atom::Var(s)],
            span(3),
        )
        .expect("well typed");
    let f = b.finish("f", vec![Atom::Var(c)]);
    let g = jvp_ok(&f, &[true]);
    fn check(body: &Body, allowed: &[Span]) {
        for e in &body.eqns {
            assert!(
                allowed.contains(&e.span),
                "{} has span {:?}",
                e.prim.name(),
                e.span
            );
            for b in e.prim.bodies() {
                check(b, allowed);
            }
        }
    }
    check(&g.body, &[span(1), span(2), span(3)]);
    let cos = g
        .body
        .eqns
        .iter()
        .find(|e| e.prim == Prim::Unary(UnaryOp::Cos))
        .expect("sin's tangent uses cos");
    assert_eq!(cos.span, span(1));
    let cond = g.body.eqns.last().expect("the cond is last");
    let then_eqns = &cond.prim.bodies()[0].eqns;
    assert!(then_eqns.iter().all(|e| e.span == span(2)));
}

#[test]
fn integer_parameters_are_not_differentiable() {
    let f = parse("fn f(%0: f64[], %1: i32[3]) -> (f64[]) { %2: f64[] = mul(%0, %0) return (%2) }");
    let err = jvp(&f, &[true, true]).expect_err("an i32 parameter cannot be active");
    assert_eq!(err.code, Code::NOT_DIFFERENTIABLE);
    assert!(err.message.contains("i32[3]"), "{}", err.message);
    assert!(jvp(&f, &[true]).is_err(), "one flag per parameter");
    // The integer parameter inactive is fine.
    jvp_ok(&f, &[true, false]);
}

#[test]
fn integer_and_bool_results_get_zero_tangents_of_their_type() {
    let f = parse(
        "fn f(%0: f64[2]) -> (i32[], bool[2], f64[2]) {
           %1: i32[] = argmax[axis=0, index_dtype=i32](%0)
           %2: bool[2] = isnan(%0)
           %3: f64[2] = floor(%0)
           return (%1, %2, %3)
         }",
    );
    let g = jvp_ok(&f, &[true]);
    let out = eval(&g, &[f64s(&[2], &[0.5, 2.5]), f64s(&[2], &[1.0, 1.0])]);
    assert_eq!(
        out[3],
        Array::from_vec(Vec::<usize>::new(), vec![0i32]).expect("scalar")
    );
    assert_eq!(out[4], Array::from_slice(&[false, false]));
    assert_eq!(out[5], f64s(&[2], &[0.0, 0.0]));
    // Piecewise-constant results never make tangent equations: only zeros.
    assert!(g
        .body
        .eqns
        .iter()
        .all(|e| !matches!(e.prim, Prim::Binary(_) | Prim::Select)));
}

#[test]
fn zero_size_operands() {
    let f = parse(
        "fn f(%0: f64[0, 3], %1: f64[0]) -> (f64[3], f64[0], f64[3, 0]) {
           %2: f64[3] = reduce_prod[axes=[0], compensated=false](%0)
           %3: f64[0] = cumprod[axis=0, reverse=true](%1)
           %4: f64[3, 0] = transpose[perm=[1, 0]](%0)
           return (%2, %3, %4)
         }",
    );
    let x = [f64s(&[0, 3], &[]), f64s(&[0], &[])];
    let t = tangents(&f, &x, &x);
    assert_eq!(t, [vec![0.0; 3], vec![], vec![]]);
}
