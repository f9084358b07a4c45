//! Transforms through the language: composition in any order, closures, pytrees, the
//! script-level gradient checker, and the diagnostics for what cannot be transformed.

use nabla::{Session, Stdout};

fn run(src: &str) -> Result<String, String> {
    let mut s = Session::new();
    s.set_stdout(Stdout::Capture);
    match s.run_source("t.nbl", src) {
        Ok(_) => Ok(s.take_output()),
        Err(d) => Err(s.render(&d)),
    }
}

fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .filter_map(|w| w.parse::<f64>().ok())
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn transforms_compose_in_any_order() {
    // f(x) = sum(x^3): grad = 3x^2, hessian = diag(6x).
    let out = run("use autodiff\n\
         fn f(x) = sum(x ** 3)\n\
         let xs = [[1.0, 2.0], [3.0, 4.0]]\n\
         print(vmap(hessian(f))(xs))\n\
         print(jvp(grad(f), ([1.0, 2.0],), ([1.0, 1.0],)).1)\n\
         print(grad(|x| sum(vmap(|r| sum(r * r))(x)))(xs))\n\
         print(vmap(grad(f))(xs))\n\
         print(grad(grad(grad(|x| x ** 4)))(2.0))\n")
    .unwrap();
    let n = numbers(&out);
    close(&n[..8], &[6.0, 0.0, 0.0, 12.0, 18.0, 0.0, 0.0, 24.0], 1e-12);
    close(&n[8..10], &[6.0, 12.0], 1e-12); // Hessian-vector product 6x * v
    close(&n[10..14], &[2.0, 4.0, 6.0, 8.0], 1e-12);
    close(&n[14..18], &[3.0, 12.0, 27.0, 48.0], 1e-12);
    close(&n[18..], &[48.0], 1e-12); // d^3/dx^3 x^4 = 24x
}

#[test]
fn closures_over_traced_values_are_constants_of_the_inner_transform() {
    // Inside g, the lambda closes over the traced `a`; d/dx sum(a * x^2) = 2ax, and the
    // outer grad differentiates through the inner one: d/da sum(2 a x) = sum(2x).
    let out = run("fn g(a, x) = sum(grad(|y| sum(a * y * y))(x))\n\
         print(g(3.0, [1.0, 2.0]))\n\
         print(grad(g)(3.0, [1.0, 2.0]))\n")
    .unwrap();
    close(&numbers(&out), &[18.0, 6.0], 1e-12);
}

#[test]
fn vjp_pullbacks_work_at_the_script_layer_with_tuples() {
    let out = run("fn f(p, x) = (sum(p.0 * x), p.1 * x)\n\
         let (y, pb) = vjp(f, (2.0, [1.0, 3.0]), [1.0, 2.0])\n\
         let (ct_p, ct_x) = pb((1.0, [1.0, 1.0]))\n\
         print(y.0, ct_p.0, ct_p.1, ct_x)\n")
    .unwrap();
    // y.0 = 2*1 + 2*2 = 6; d/dp0 = sum(x) = 3; d/dp1 = x = [1, 2] (p.1 is an array);
    // d/dx = p0 + p1 = [3, 5].
    close(&numbers(&out), &[6.0, 3.0, 1.0, 2.0, 3.0, 5.0], 1e-12);
}

#[test]
fn value_and_grad_and_argnums_follow_jax() {
    let out = run("fn f(a, b) = sum(a * b * b)\n\
         let (v, g) = value_and_grad(f, argnums=(1, 0))([1.0, 2.0], [3.0, 4.0])\n\
         print(v, g.0, g.1)\n\
         print(grad(f, argnums=-1)([1.0, 2.0], [3.0, 4.0]))\n")
    .unwrap();
    close(
        &numbers(&out),
        &[41.0, 6.0, 16.0, 9.0, 16.0, 6.0, 16.0],
        1e-12,
    );
}

#[test]
fn check_grads_reports_small_errors_for_correct_gradients() {
    let out = run("use nn\n\
         fn loss(w, x, y) = mean(log1p(exp(-(2.0 * y - 1.0) * (x @ w))))\n\
         let x = reshape(linspace(-1.0, 1.0, 12), [4, 3])\n\
         let e = check_grads(loss, [0.1, -0.2, 0.3], x, [1.0, 0.0, 1.0, 0.0])\n\
         print(max(e))\n\
         fn h(x) = scan(|c, xi| (c * xi + 1.0, c), 1.0, x)\n\
         print(max(check_grads(h, [0.5, 2.0, -1.0])))\n\
         print(max(check_grads(|x| sum(softmax(x) * x), f32([0.1, 0.2, 0.7]))))\n")
    .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("check_grads: argument 0: jvp vs vjp"),
        "{out}"
    );
    let maxes: Vec<f64> = lines
        .iter()
        .filter(|l| !l.starts_with("check_grads"))
        .map(|l| l.trim().parse::<f64>().unwrap())
        .collect();
    assert_eq!(maxes.len(), 3, "{out}");
    for m in maxes {
        assert!(m < 1e-8, "{out}");
    }
}

#[test]
fn check_grads_catches_a_derivative_that_disagrees_with_finite_differences() {
    // round() has a zero derivative, but the function moves between steps of 1e-5.
    let out = run("print(max(check_grads(|x| sum(round(x * 1e6)), [0.25, 0.5])))\n").unwrap();
    let worst: f64 = out.lines().last().unwrap().trim().parse().unwrap();
    assert!(worst > 0.5, "{out}");
}

#[test]
fn what_cannot_be_transformed_is_a_diagnostic() {
    let cases = [
        (
            "fn f(x) = x * 2.0\nprint(grad(f)([1.0, 2.0]))\n",
            "E0701",
            "scalar",
        ),
        (
            "fn f(x, n) = sum(x) * n\nprint(grad(f, argnums=1)([1.0], 2))\n",
            "E0701",
            "argument 1",
        ),
        (
            "fn f(x, y) = x + y\nprint(vmap(f)(zeros([3]), zeros([4])))\n",
            "E0703",
            "argument 0 has size 3",
        ),
        (
            "fn f(x) = while(|c| c < 10.0, |c| c * 2.0, x)\nprint(grad(f)(1.0))\n",
            "E0701",
            "scan",
        ),
        (
            "fn f(x) = x\nprint(vmap(f, in_axes=2)(zeros([3])))\n",
            "E0405",
            "axis 2",
        ),
    ];
    for (src, code, text) in cases {
        let err = run(src).expect_err(src);
        assert!(err.contains(code), "{src}\n{err}");
        assert!(err.contains(text), "{src}\n{err}");
    }
}

#[test]
fn forward_mode_goes_through_while() {
    let out = run(
        "fn f(x) = while(|c| c.1 < 3, |c| (c.0 * x, c.1 + 1), (1.0, 0)).0\n\
         print(jvp(f, (2.0,), (1.0,)))\n",
    )
    .unwrap();
    // f(x) = x^3 at 2 → 8, derivative 3x^2 = 12.
    close(&numbers(&out), &[8.0, 12.0], 1e-12);
}

#[test]
fn explicit_none_out_axes_returns_an_unbatched_result() {
    let out = run("let w = [1.0, 2.0]\n\
         print(vmap(|x| sum(w) + 0.0, out_axes=none)([1.0, 2.0, 3.0]))\n\
         print(vmap(|x| (x * 2.0, sum(w)), out_axes=(0, none))([1.0, 2.0]))\n")
    .unwrap();
    close(&numbers(&out), &[3.0, 2.0, 4.0, 3.0], 0.0);
    let err = run("print(vmap(|x| x * 2.0, out_axes=none)([1.0, 2.0]))").unwrap_err();
    assert!(
        err.contains("E0411") && err.contains("out_axes is none"),
        "{err}"
    );
}
