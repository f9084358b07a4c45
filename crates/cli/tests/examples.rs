//! Runs every script in `examples/` with the `nabla` binary and checks its output, and
//! checks the CLI's exit codes (0 ok, 1 script error, 2 usage error).

use std::process::Command;

fn nabla(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("the nabla binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn examples_print_what_they_compute() {
    let expected = [
        ("examples/monte_carlo_pi.nbl", "pi ~ 3.1412400000000003\n"),
        ("examples/sum_of_squares.nbl", "332833500.0\n"),
        ("examples/poly.nbl", "[1.   2.25 4.   6.25 9.  ]\n"),
        ("examples/cdist.nbl", "[[ 0. 10.  3.]\n [ 5.  5.  4.]]\n"),
        ("examples/signal.nbl", "energy: 31.10531956183593\n"),
    ];
    for (file, want) in expected {
        for backend in ["interp", "cpu"] {
            let (code, out, err) = nabla(&["run", "--backend", backend, file]);
            assert_eq!(code, 0, "{file} on {backend}: {err}");
            assert_eq!(out, want, "{file} on {backend}");
        }
    }
    // Every example is listed above.
    let listed: Vec<&str> = expected.iter().map(|(f, _)| *f).collect();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".nbl") {
            assert!(
                listed.contains(&format!("examples/{name}").as_str()),
                "{name} is not tested"
            );
        }
    }
}

#[test]
fn script_errors_exit_1_with_a_diagnostic() {
    let dir = std::env::temp_dir().join(format!("nabla-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.nbl");
    std::fs::write(
        &bad,
        "fn f(x, w) = x @ w\nprint(f(zeros([100, 3]), zeros([4])))\n",
    )
    .unwrap();
    let (code, _, err) = nabla(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("error[E0401]"), "{err}");
    assert!(
        err.contains("x is f64[100, 3] but w is f64[4]: inner dimensions 3 and 4 differ"),
        "{err}"
    );

    let typo = dir.join("typo.nbl");
    std::fs::write(&typo, "let x = zeros([3])\nprint(sumn(x))\n").unwrap();
    let (code, _, err) = nabla(&["check", typo.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error[E0301]") && err.contains("did you mean `sum`?"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(nabla(&["frobnicate"]).0, 2);
    assert_eq!(
        nabla(&["run", "examples/poly.nbl", "--backend", "tpu"]).0,
        2
    );
    let (code, out, _) = nabla(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("run") && out.contains("repl"));
}

#[test]
fn unavailable_backends_are_a_diagnostic() {
    let (code, _, err) = nabla(&["run", "--backend", "gpu", "examples/poly.nbl"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0601"), "{err}");
}

#[test]
fn ir_prints_the_traced_function() {
    let (code, out, err) = nabla(&[
        "ir",
        "examples/poly.nbl",
        "--fn",
        "poly",
        "--args",
        "f64[3], f64[3]",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("fn poly(%0: f64[3], %1: f64[3]) -> (f64[3])"),
        "{out}"
    );
    assert!(out.contains("integer_pow[exponent=2]"), "{out}");
}

#[test]
fn ir_shows_transforms_and_every_stage() {
    let ir_with = |types: &str, extra: &[&str]| {
        let mut args = vec![
            "ir",
            "examples/poly.nbl",
            "--fn",
            "|a, b| sum(poly(a, b))",
            "--args",
            types,
        ];
        args.extend_from_slice(extra);
        nabla(&args)
    };
    let ir = |extra: &[&str]| ir_with("f64[3], f64[3]", extra);
    let (code, grad, err) = ir(&["--grad"]);
    assert_eq!(code, 0, "{err}");
    // d/da (a² + b² + 2ab) = 2a + 2b: no sum and no squares of b are left.
    assert!(
        grad.starts_with("fn lambda_grad(%0: f64[3], %1: f64[3]) -> (f64[3])"),
        "{grad}"
    );
    assert!(!grad.contains("reduce_sum"), "{grad}");
    // Each stage shows the function as it stands after that stage.
    let (_, raw, _) = ir(&["--grad", "--after", "grad"]);
    let (_, traced, _) = ir(&["--grad", "--after", "trace"]);
    assert!(
        traced.contains("reduce_sum") && !traced.contains("_grad"),
        "{traced}"
    );
    assert!(raw.lines().count() >= grad.lines().count(), "{raw}\n{grad}");
    let (code, vm, err) = ir_with("f64[5, 3], f64[5, 3]", &["--vmap"]);
    assert_eq!(code, 0, "{err}");
    assert!(vm.contains("-> (f64[5])"), "{vm}");
    let (code, _, err) = ir(&["--after", "nonsense"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the stages are: trace, fold, cse, dce, simplify"),
        "{err}"
    );
    let (code, _, _) = ir(&["--grad", "--vmap"]);
    assert_eq!(code, 2);
}

#[test]
fn ir_kernels_prints_the_cpu_plan() {
    let kernels = |func: &str, types: &str| {
        nabla(&[
            "ir",
            "examples/poly.nbl",
            "--fn",
            func,
            "--args",
            types,
            "--kernels",
        ])
    };
    // The whole polynomial fuses into one elementwise kernel.
    let (code, out, err) = kernels("poly", "f64[5], f64[5]");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains(": kernel over")).count(),
        1,
        "{out}"
    );
    assert!(out.starts_with("program poly (1 steps)"), "{out}");
    assert!(
        out.contains("reads [0, 1]") && out.contains("ends because"),
        "{out}"
    );
    // A sum of squares is one reducing kernel.
    let (code, out, err) = kernels("|x| sum(x * x)", "f64[100]");
    assert_eq!(code, 0, "{err}");
    let ks: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(": kernel over"))
        .collect();
    assert_eq!(ks.len(), 1, "{out}");
    assert!(ks[0].contains("reduce_sum over 1 axes"), "{out}");
}

#[test]
fn run_profile_reports_phases_and_kernels_on_stderr() {
    let (code, plain, _) = nabla(&["run", "--backend", "cpu", "examples/poly.nbl"]);
    assert_eq!(code, 0);
    let (code, out, err) = nabla(&["run", "--backend", "cpu", "--profile", "examples/poly.nbl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, plain);
    for word in ["compile", "trace", "run", "kernel"] {
        assert!(err.contains(word), "{word}: {err}");
    }
    // The interpreter has phases but no program steps.
    let (code, out, err) = nabla(&[
        "run",
        "--backend",
        "interp",
        "--profile",
        "examples/poly.nbl",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, plain);
    assert!(err.contains("compile") && !err.contains("kernel"), "{err}");
}
