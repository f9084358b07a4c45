//! `cse`: repeated equations reuse the first, within one body only, comparing
//! constants by bits and nested bodies up to renaming.

mod simplify_support;

use nabla_transform::simplify::cse;
use simplify_support::{assert_pass, parse, run};

#[test]
fn repeated_equations_reuse_the_first() {
    assert_pass(
        cse,
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3], f64[3]) {
           %2: f64[3] = mul(%0, %1)
           %3: f64[3] = mul(%0, %1)
           %4: f64[3] = sin(%2)
           %5: f64[3] = sin(%3)
           %6: f64[3] = mul(%1, %0)
           %7: f64[3] = add(%4, %5)
           return (%7, %5, %6)
         }",
        // Operands are compared as written: mul(%1, %0) is a different equation.
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3], f64[3]) {
           %2: f64[3] = mul(%0, %1)
           %4: f64[3] = sin(%2)
           %6: f64[3] = mul(%1, %0)
           %7: f64[3] = add(%4, %4)
           return (%7, %4, %6)
         }",
    );
}

#[test]
fn static_parameters_and_literals_must_match() {
    let input = "fn f(%0: f64[2, 3]) -> (f64[2], f64[3], f64[2], f64[2, 3], f64[2, 3], f64[2, 3]) {
           %1: f64[2] = reduce_sum[axes=[1], compensated=false](%0)
           %2: f64[3] = reduce_sum[axes=[0], compensated=false](%0)
           %3: f64[2] = reduce_sum[axes=[1], compensated=true](%0)
           %4: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](0.0:f64)
           %5: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](-0.0:f64)
           %6: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](0.0:f32)
           return (%1, %2, %3, %4, %5, %4)
         }";
    // A dtype mismatch in a literal does not parse; the rest stays distinct.
    assert!(nabla_ir::parse_func(input).is_err());
    let input = input.replace(
        "           %6: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](0.0:f32)\n",
        "",
    );
    assert_pass(cse, &input, &input);
}

/// NaNs print alike whatever their payload; the key compares them by bits.
#[test]
fn constants_compare_by_bits() {
    let quiet = f64::NAN;
    let other = f64::from_bits(f64::NAN.to_bits() | 1);
    let text = "fn f() -> (f64[2], f64[2], f64[2], f64[2], f64[2]) {
           %0: f64[2] = constant[value=f64[2]{nan, 1.0}]()
           %1: f64[2] = constant[value=f64[2]{nan, 1.0}]()
           %2: f64[2] = constant[value=f64[2]{nan, 1.0}]()
           %3: f64[2] = constant[value=f64[2]{-0.0, 1.0}]()
           %4: f64[2] = constant[value=f64[2]{0.0, 1.0}]()
           return (%0, %1, %2, %3, %4)
         }";
    let mut f = parse(text);
    // Give %1 a NaN of another payload (the text form cannot spell one).
    if let nabla_ir::Prim::Constant { value } = &mut f.body.eqns[1].prim {
        *value = nabla_ir::Array::from_slice(&[other, 1.0]);
    }
    let g = nabla_transform::simplify::cse(&f).expect("cse");
    let results: Vec<u32> = g
        .body
        .results
        .iter()
        .map(|a| a.as_var().map_or(u32::MAX, |v| v.id))
        .collect();
    assert_eq!(results, vec![0, 1, 0, 3, 4]);
    assert!(quiet.is_nan() && other.is_nan() && quiet.to_bits() != other.to_bits());
}

/// Each body has its own table: equal equations in the two branches of a `cond`, or
/// in a branch and around it, stay; repeats within one branch go.
#[test]
fn nested_bodies_are_separate_scopes() {
    assert_pass(
        cse,
        "fn f(%0: bool[], %1: f64[]) -> (f64[], f64[]) {
           %2: f64[] = exp(%1)
           %10: f64[] = cond(%0, %1)
             then_body = |%3: f64[]| {
               %4: f64[] = exp(%3)
               %5: f64[] = exp(%3)
               %6: f64[] = add(%4, %5)
               return (%6)
             }
             else_body = |%7: f64[]| {
               %8: f64[] = exp(%7)
               %9: f64[] = exp(%7)
               return (%9)
             }
           return (%2, %10)
         }",
        "fn f(%0: bool[], %1: f64[]) -> (f64[], f64[]) {
           %2: f64[] = exp(%1)
           %10: f64[] = cond(%0, %1)
             then_body = |%3: f64[]| {
               %4: f64[] = exp(%3)
               %6: f64[] = add(%4, %4)
               return (%6)
             }
             else_body = |%7: f64[]| {
               %8: f64[] = exp(%7)
               return (%8)
             }
           return (%2, %10)
         }",
    );
}

/// Two control-flow equations with the same operands and bodies equal up to the
/// names of their variables are one computation.
#[test]
fn alpha_equivalent_control_flow_is_shared() {
    assert_pass(
        cse,
        "fn f(%0: bool[], %1: f64[]) -> (f64[], f64[], f64[]) {
           %5: f64[] = cond(%0, %1)
             then_body = |%2: f64[]| {
               %3: f64[] = sin(%2)
               return (%3)
             }
             else_body = |%4: f64[]| {
               return (%4)
             }
           %9: f64[] = cond(%0, %1)
             then_body = |%6: f64[]| {
               %7: f64[] = sin(%6)
               return (%7)
             }
             else_body = |%8: f64[]| {
               return (%8)
             }
           %13: f64[] = cond(%0, %1)
             then_body = |%10: f64[]| {
               %11: f64[] = cos(%10)
               return (%11)
             }
             else_body = |%12: f64[]| {
               return (%12)
             }
           return (%5, %9, %13)
         }",
        "fn f(%0: bool[], %1: f64[]) -> (f64[], f64[], f64[]) {
           %5: f64[] = cond(%0, %1)
             then_body = |%2: f64[]| {
               %3: f64[] = sin(%2)
               return (%3)
             }
             else_body = |%4: f64[]| {
               return (%4)
             }
           %13: f64[] = cond(%0, %1)
             then_body = |%10: f64[]| {
               %11: f64[] = cos(%10)
               return (%11)
             }
             else_body = |%12: f64[]| {
               return (%12)
             }
           return (%5, %5, %13)
         }",
    );
}

#[test]
fn multi_result_equations_substitute_every_result() {
    let input = "fn f(%0: u32[2]) -> (u32[2], u32[2], u32[2], u32[2]) {
           %1: u32[2], %2: u32[2] = threefry2x32(%0, %0, %0, %0)
           %3: u32[2], %4: u32[2] = threefry2x32(%0, %0, %0, %0)
           return (%1, %2, %3, %4)
         }";
    let out = run(cse, input);
    assert!(out.ends_with("return (%1, %2, %1, %2)\n}"), "{out}");
}
