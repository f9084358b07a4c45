//! The pass pipeline: the registry, running passes by name, stopping after one, the
//! errors for unknown names, and the self-check after each pass.

mod simplify_support;

use nabla_diag::Code;
use nabla_ir::{print_func, Func};
use nabla_transform::pipeline::{find, passes, run_checked, run_passes, run_until, Pass};
use nabla_transform::Result;
use simplify_support::{normalize, parse};

const INPUT: &str = "fn f(%0: f64[3]) -> (f64[3]) {
       %1: f64[3] = broadcast_in_dim[shape=[3], dims=[]](1.0:f64)
       %2: f64[3] = mul(%0, %1)
       %3: f64[3] = sin(%2)
       %4: f64[3] = sin(%2)
       %5: f64[3] = add(%3, %4)
       return (%5)
     }";

#[test]
fn the_registry_has_the_simplification_passes() {
    let names: Vec<&str> = passes().iter().map(|p| p.name).collect();
    for n in ["fold", "cse", "dce", "simplify", "renumber"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        names.len(),
        "duplicate pass names in {names:?}"
    );
}

#[test]
fn passes_run_in_order() {
    let f = parse(INPUT);
    let g = run_passes(&f, &["fold", "cse", "dce"]).expect("runs");
    assert_eq!(
        normalize(&print_func(&g)),
        normalize(
            "fn f(%0: f64[3]) -> (f64[3]) {
               %3: f64[3] = sin(%0)
               %5: f64[3] = add(%3, %3)
               return (%5)
             }"
        )
    );
    let h = run_passes(&f, &["simplify"]).expect("runs");
    assert_eq!(
        print_func(&h),
        print_func(&run_passes(&g, &["renumber"]).expect("runs"))
    );
    // No passes: the function itself.
    assert_eq!(run_passes(&f, &[]).expect("runs"), f);
}

#[test]
fn run_until_stops_after_the_named_pass() {
    let f = parse(INPUT);
    let after_fold = run_until(&f, &["fold", "cse", "dce"], "fold").expect("runs");
    assert_eq!(
        print_func(&after_fold),
        print_func(&run_passes(&f, &["fold"]).expect("runs"))
    );
    let after_cse = run_until(&f, &["fold", "cse", "dce"], "cse").expect("runs");
    // cse has merged the two sines; the dead broadcast waits for dce.
    let text = print_func(&after_cse);
    assert_eq!(text.matches("sin(").count(), 1, "{text}");
    assert!(text.contains("%1: f64[3] = broadcast_in_dim"), "{text}");
    let all = run_until(&f, &["fold", "cse", "dce"], "dce").expect("runs");
    assert_eq!(all, run_passes(&f, &["fold", "cse", "dce"]).expect("runs"));
}

#[test]
fn unknown_names_are_bad_arguments_listing_the_passes() {
    let f = parse(INPUT);
    for err in [
        run_passes(&f, &["fold", "constfold"]).expect_err("unknown"),
        run_until(&f, &["fold"], "constfold").expect_err("unknown"),
        find("constfold").expect_err("unknown"),
    ] {
        assert_eq!(err.code, Code::BAD_ARGUMENT);
        assert!(err.message.contains("`constfold`"), "{}", err.message);
        let hint = err.hint.expect("a hint");
        for p in passes() {
            assert!(hint.contains(p.name), "{hint}");
        }
    }
    let err = run_until(&f, &["fold", "dce"], "cse").expect_err("not in the pipeline");
    assert_eq!(err.code, Code::BAD_ARGUMENT);
    assert!(err.hint.expect("a hint").contains("fold, dce"));
}

/// Drops every equation but keeps the results, which then use undefined variables.
fn breaks_the_ir(f: &Func) -> Result<Func> {
    let mut g = f.clone();
    g.body.eqns.clear();
    Ok(g)
}

#[cfg(debug_assertions)]
#[test]
fn a_pass_that_breaks_the_ir_is_named() {
    let f = parse(INPUT);
    let err = run_checked("breaker", &f, breaks_the_ir).expect_err("caught");
    assert_eq!(err.code, Code::INTERNAL);
    assert!(err.message.contains("pass `breaker`"), "{}", err.message);
    let ok = run_checked("dce", &f, nabla_transform::simplify::dce).expect("a valid pass");
    assert_eq!(ok.body.eqn_count(), f.body.eqn_count());
}

/// A parameterised transform joins the pipeline as a closure.
#[test]
fn closures_get_the_same_check() {
    let f = parse(INPUT);
    let name = String::from("rename");
    let g = run_checked(&name, &f, |f| {
        let mut g = f.clone();
        g.name = format!("{name}({})", f.name);
        Ok(g)
    })
    .expect("runs");
    assert_eq!(g.name, "rename(f)");
    // A fixed instance is a plain registry entry.
    let pass = Pass {
        name: "renumber",
        run: nabla_transform::simplify::renumber,
    };
    assert_eq!((pass.run)(&f).expect("runs").body.eqn_count(), 5);
}

#[cfg(debug_assertions)]
#[test]
fn a_broken_input_is_not_blamed_on_the_first_pass() {
    let f = breaks_the_ir(&parse(INPUT)).expect("builds");
    let err = run_passes(&f, &["dce"]).expect_err("caught");
    assert_eq!(err.code, Code::INTERNAL);
    assert!(err.message.contains("input"), "{}", err.message);
}
