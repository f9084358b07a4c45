//! Runs the JAX oracle cases (`tests/oracle/jax_cases.json`) through the embedding API
//! on the reference interpreter and compares with JAX's results.

use nabla::{Backend, Output, Session};
use serde_json::Value as Json;

mod oracle_support;
use oracle_support::{cases, judge, to_output};

const TRANSFORMS: &[&str] = &[
    "grad",
    "value_and_grad",
    "jvp",
    "vjp",
    "vmap",
    "hessian",
    "jacfwd",
    "jacrev",
];

fn uses_transform(case: &Json) -> bool {
    let text = format!(
        "{} {}",
        case["call"].as_str().unwrap_or(""),
        case["source"].as_str().unwrap_or("")
    );
    TRANSFORMS.iter().any(|t| {
        text.match_indices(t).any(|(i, _)| {
            let before = text[..i].chars().last();
            let after = text[i + t.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && after == Some('(')
        })
    })
}

fn run_case(case: &Json, backend: Backend) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let mut s = Session::with_backend(backend).map_err(|d| d.message)?;
    let diags = s.check_source(name, case["source"].as_str().unwrap());
    if diags.has_errors() {
        return Err(format!("{name}: {}", s.render(&diags)));
    }
    s.run_source(name, case["source"].as_str().unwrap())
        .map_err(|d| format!("{name}: {}", s.render(&d)))?;
    let args: Vec<Output> = case["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(to_output)
        .collect();
    let got = s
        .call(case["call"].as_str().unwrap(), args)
        .map_err(|d| format!("{name}: {}", s.render(&d)))?;
    let want = to_output(&case["expect"]);
    let tol = case["tol"].as_f64().unwrap();
    judge(name, &got, &want, tol)
}

#[test]
fn every_case_matches_jax_on_the_interpreter() {
    let all = cases();
    let failures: Vec<String> = all
        .iter()
        .filter_map(|c| run_case(c, Backend::Interp).err())
        .collect();
    assert!(all.len() >= 148, "only {} cases", all.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn transform_cases_are_recognised() {
    let n = cases().iter().filter(|c| uses_transform(c)).count();
    assert_eq!(n, 58);
}

#[test]
fn every_case_matches_jax_on_the_cpu_backend() {
    let all = cases();
    let failures: Vec<String> = all
        .iter()
        .filter_map(|c| run_case(c, Backend::Cpu).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed on cpu:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
