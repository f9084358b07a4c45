//! Transpose rules, one table row per linear primitive: for random residuals `r`,
//! tangents `t` and cotangents `c`, `⟨c, L(r, t)⟩ = ⟨Lᵀ(r, c), t⟩` (the dot-product
//! test), with `L` hand-written linear IR evaluated by the interpreter.

mod pe_support;

use nabla_diag::Code;
use nabla_ir::Array;
use nabla_transform::transpose;
use pe_support::{check, eval, inner, inner_abs, parse, Rng};

/// (name, residual count, tolerance, linear function).
const TABLE: &[(&str, usize, f64, &str)] = &[
    (
        "neg",
        0,
        1e-12,
        "fn neg(%0: f64[2, 3], %1: f64[]) -> (f64[2, 3], f64[]) {
          %2: f64[2, 3] = neg(%0)
          %3: f64[] = neg(%1)
          return (%2, %3)
        }",
    ),
    (
        "add_sub",
        0,
        1e-12,
        "fn add_sub(%0: f64[4], %1: f64[4]) -> (f64[4], f64[4]) {
          %2: f64[4] = add(%0, %1)
          %3: f64[4] = sub(%2, %1)
          %4: f64[4] = sub(%0, %2)
          %5: f64[4] = add(%4, %4)
          return (%3, %5)
        }",
    ),
    (
        "mul",
        1,
        1e-12,
        "fn mul(%0: f64[3], %1: f64[3], %2: f64[3]) -> (f64[3], f64[]) {
          %3: f64[3] = sin(%0)
          %4: f64[3] = mul(%1, %3)
          %5: f64[3] = mul(%0, %2)
          %6: f64[3] = add(%4, %5)
          %7: f64[] = reduce_sum[axes=[0], compensated=false](%2)
          %8: f64[] = mul(%7, 2.5:f64)
          return (%6, %8)
        }",
    ),
    (
        "div",
        1,
        1e-12,
        "fn div(%0: f64[2, 2], %1: f64[2, 2], %2: f64[]) -> (f64[2, 2], f64[]) {
          %3: f64[2, 2] = exp(%0)
          %4: f64[2, 2] = div(%1, %3)
          %5: f64[] = div(%2, 4.0:f64)
          return (%4, %5)
        }",
    ),
    (
        "convert",
        0,
        1e-5,
        "fn convert(%0: f64[3], %1: f32[2]) -> (f32[3], f64[2]) {
          %2: f32[3] = convert[dtype=f32](%0)
          %3: f64[2] = convert[dtype=f64](%1)
          return (%2, %3)
        }",
    ),
    (
        "select",
        1,
        1e-12,
        "fn select(%0: bool[2, 3], %1: f64[2, 3], %2: f64[2, 3]) -> (f64[2, 3], f64[2, 3]) {
          %3: f64[2, 3] = select(%0, %1, %2)
          %4: f64[2, 3] = select(%0, %2, %2)
          return (%3, %4)
        }",
    ),
    (
        "integer_pow_1",
        0,
        1e-12,
        "fn ip(%0: f64[3]) -> (f64[3]) {
          %1: f64[3] = integer_pow[exponent=1](%0)
          return (%1)
        }",
    ),
    (
        "reduce_sum",
        0,
        1e-12,
        "fn rs(%0: f64[2, 3, 4]) -> (f64[3], f64[2, 4], f64[], f64[2, 3, 4]) {
          %1: f64[3] = reduce_sum[axes=[0, 2], compensated=false](%0)
          %2: f64[2, 4] = reduce_sum[axes=[1], compensated=true](%0)
          %3: f64[] = reduce_sum[axes=[2, 0, 1], compensated=false](%0)
          %4: f64[2, 3, 4] = reduce_sum[axes=[], compensated=false](%0)
          return (%1, %2, %3, %4)
        }",
    ),
    (
        "broadcast_in_dim",
        0,
        1e-12,
        "fn bc(%0: f64[3], %1: f64[1, 3], %2: f64[], %3: f64[3])
            -> (f64[2, 3], f64[4, 2, 3], f64[2, 2], f64[3, 5], f64[1, 3]) {
          %4: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[1]](%0)
          %5: f64[4, 2, 3] = broadcast_in_dim[shape=[4, 2, 3], dims=[1, 2]](%1)
          %6: f64[2, 2] = broadcast_in_dim[shape=[2, 2], dims=[]](%2)
          %7: f64[3, 5] = broadcast_in_dim[shape=[3, 5], dims=[0]](%3)
          %8: f64[1, 3] = broadcast_in_dim[shape=[1, 3], dims=[0, 1]](%1)
          return (%4, %5, %6, %7, %8)
        }",
    ),
    (
        "reshape",
        0,
        1e-12,
        "fn rs(%0: f64[2, 3], %1: f64[6]) -> (f64[3, 2], f64[1, 2, 3], f64[]) {
          %2: f64[3, 2] = reshape[shape=[3, 2]](%0)
          %3: f64[1, 2, 3] = reshape[shape=[1, 2, 3]](%1)
          %4: f64[1] = slice[start=[0], limit=[1], stride=[1]](%1)
          %5: f64[] = reshape[shape=[]](%4)
          return (%2, %3, %5)
        }",
    ),
    (
        "transpose",
        0,
        1e-12,
        "fn tr(%0: f64[2, 3, 4], %1: f64[2, 3]) -> (f64[4, 2, 3], f64[3, 2]) {
          %2: f64[4, 2, 3] = transpose[perm=[2, 0, 1]](%0)
          %3: f64[3, 2] = transpose[perm=[1, 0]](%1)
          return (%2, %3)
        }",
    ),
    (
        "slice",
        0,
        1e-12,
        "fn sl(%0: f64[8], %1: f64[5, 6], %2: f64[4, 4], %3: f64[5])
            -> (f64[2], f64[3, 3], f64[2, 2], f64[3], f64[0]) {
          %4: f64[2] = slice[start=[1], limit=[7], stride=[3]](%0)
          %5: f64[3, 3] = slice[start=[1, 0], limit=[4, 6], stride=[1, 2]](%1)
          %6: f64[2, 2] = slice[start=[0, 1], limit=[4, 4], stride=[2, 2]](%2)
          %7: f64[3] = slice[start=[1], limit=[4], stride=[1]](%3)
          %8: f64[0] = slice[start=[2], limit=[2], stride=[3]](%0)
          return (%4, %5, %6, %7, %8)
        }",
    ),
    (
        "pad",
        0,
        1e-12,
        "fn pad(%0: f64[3], %1: f64[2, 3], %2: f64[]) -> (f64[4], f64[2, 2], f64[6]) {
          %3: f64[4] = pad[lo=[2], hi=[-1]](%0, 0.0:f64)
          %4: f64[2, 2] = pad[lo=[-1, 1], hi=[1, -2]](%1, %2)
          %5: f64[6] = pad[lo=[1], hi=[2]](%0, %2)
          return (%3, %4, %5)
        }",
    ),
    (
        "concat",
        0,
        1e-12,
        "fn cc(%0: f64[2, 1], %1: f64[2, 3], %2: f64[2, 2]) -> (f64[2, 6], f64[4, 1]) {
          %3: f64[2, 6] = concat[axis=1](%0, %1, %2)
          %4: f64[4, 1] = concat[axis=0](%0, %0)
          return (%3, %4)
        }",
    ),
    (
        "rev",
        0,
        1e-12,
        "fn rev(%0: f64[3, 4]) -> (f64[3, 4], f64[3, 4]) {
          %1: f64[3, 4] = rev[axes=[0, 1]](%0)
          %2: f64[3, 4] = rev[axes=[1]](%0)
          return (%1, %2)
        }",
    ),
    (
        "cumsum",
        0,
        1e-12,
        "fn cs(%0: f64[3, 4]) -> (f64[3, 4], f64[3, 4]) {
          %1: f64[3, 4] = cumsum[axis=1, reverse=false](%0)
          %2: f64[3, 4] = cumsum[axis=0, reverse=true](%0)
          return (%1, %2)
        }",
    ),
    (
        "dot_general_matmul",
        2,
        1e-12,
        "fn mm(%0: f64[3, 4], %1: f64[2, 3], %2: f64[2, 3], %3: f64[3, 4])
            -> (f64[2, 4], f64[2, 4]) {
          %4: f64[2, 4] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%2, %0)
          %5: f64[2, 4] = dot_general[lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=true](%1, %3)
          return (%4, %5)
        }",
    ),
    (
        "dot_general_batch",
        2,
        1e-12,
        "fn bmm(%0: f64[4, 2, 5], %1: f64[3, 2, 4], %2: f64[2, 3, 4], %3: f64[2, 4, 5])
            -> (f64[2, 3, 5], f64[2, 3, 5]) {
          %4: f64[2, 3, 5] = dot_general[lhs_contract=[2], rhs_contract=[0], lhs_batch=[0], rhs_batch=[1], compensated=false](%2, %0)
          %5: f64[2, 3, 5] = dot_general[lhs_contract=[2], rhs_contract=[1], lhs_batch=[1], rhs_batch=[0], compensated=false](%1, %3)
          return (%4, %5)
        }",
    ),
    (
        "dot_general_multi_contract",
        1,
        1e-12,
        "fn mc(%0: f64[2, 3, 4], %1: f64[4, 5, 2], %2: f64[2, 3, 4]) -> (f64[3, 5], f64[3, 3]) {
          %3: f64[3, 5] = dot_general[lhs_contract=[0, 2], rhs_contract=[2, 0], lhs_batch=[], rhs_batch=[], compensated=false](%0, %1)
          %4: f64[3, 3] = dot_general[lhs_contract=[2, 0], rhs_contract=[2, 0], lhs_batch=[], rhs_batch=[], compensated=false](%2, %0)
          return (%3, %4)
        }",
    ),
    (
        "dot_general_outer_and_inner",
        1,
        1e-12,
        "fn oi(%0: f64[3], %1: f64[4], %2: f64[3]) -> (f64[3, 4], f64[]) {
          %3: f64[3, 4] = dot_general[lhs_contract=[], rhs_contract=[], lhs_batch=[], rhs_batch=[], compensated=false](%0, %1)
          %4: f64[] = dot_general[lhs_contract=[0], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false](%2, %0)
          return (%3, %4)
        }",
    ),
    (
        "take",
        1,
        1e-12,
        "fn take(%0: i32[2, 2], %1: f64[3, 4], %2: f64[4]) -> (f64[3, 2, 2], f64[], f64[2, 2]) {
          %3: f64[3, 2, 2] = take[axis=1](%1, %0)
          %4: f64[] = take[axis=0](%2, 7:i32)
          %5: f64[2, 2] = take[axis=0](%2, %0)
          return (%3, %4, %5)
        }",
    ),
    (
        "scatter_add",
        1,
        1e-12,
        "fn sa(%0: i32[6], %1: f64[4, 3], %2: f64[6, 3]) -> (f64[4, 3]) {
          %3: f64[4, 3] = scatter_add[axis=0](%1, %0, %2)
          return (%3)
        }",
    ),
    (
        "scatter_add_updates_only",
        1,
        1e-12,
        "fn sa(%0: i64[2, 3], %2: f64[2, 2, 3]) -> (f64[2, 4]) {
          %1: f64[2, 4] = broadcast_in_dim[shape=[2, 4], dims=[]](0.0:f64)
          %3: f64[2, 4] = scatter_add[axis=1](%1, %0, %2)
          return (%3)
        }",
    ),
    (
        "scatter_set",
        1,
        1e-12,
        "fn ss(%0: i32[6], %1: f64[4, 3], %2: f64[6, 3]) -> (f64[4, 3]) {
          %3: f64[4, 3] = scatter[axis=0](%1, %0, %2)
          return (%3)
        }",
    ),
    (
        "scatter_set_axis1",
        1,
        1e-12,
        "fn ss(%0: u32[2, 3], %1: f64[2, 4], %2: f64[2, 2, 3]) -> (f64[2, 4]) {
          %3: f64[2, 4] = scatter[axis=1](%1, %0, %2)
          return (%3)
        }",
    ),
    (
        "dynamic_slice",
        2,
        1e-12,
        "fn ds(%0: i32[], %1: i64[], %2: f64[5, 4]) -> (f64[2, 3], f64[1, 4]) {
          %3: f64[2, 3] = dynamic_slice[sizes=[2, 3]](%2, %0, %1)
          %4: f64[1, 4] = dynamic_slice[sizes=[1, 4]](%2, 9:i32, %0)
          return (%3, %4)
        }",
    ),
    (
        "dynamic_update_slice",
        2,
        1e-12,
        "fn dus(%0: i32[], %1: i32[], %2: f64[5, 4], %3: f64[2, 3]) -> (f64[5, 4]) {
          %4: f64[5, 4] = dynamic_update_slice(%2, %3, %0, %1)
          return (%4)
        }",
    ),
    (
        "cond",
        2,
        1e-12,
        "fn cond(%0: bool[], %1: f64[3], %2: f64[3], %3: f64[]) -> (f64[3], f64[]) {
          %12: f64[3], %13: f64[] = cond(%0, %1, %2, %3)
            then_body = |%4: f64[3], %5: f64[3], %6: f64[]| {
              %7: f64[3] = cos(%4)
              %14: f64[3] = mul(%5, %7)
              return (%14, %6)
            }
            else_body = |%8: f64[3], %9: f64[3], %10: f64[]| {
              %11: f64[3] = neg(%9)
              return (%11, 0.0:f64)
            }
          return (%12, %13)
        }",
    ),
    (
        "scan",
        2,
        1e-12,
        "fn scan(%0: f64[3], %1: f64[4, 3], %2: f64[3], %3: f64[3], %4: f64[4, 3])
            -> (f64[3], f64[4, 3]) {
          %5: f64[3], %6: f64[4, 3] = scan[nconsts=2, ncarry=1, length=4, reverse=false](%0, %2, %3, %1, %4)
            body = |%7: f64[3], %8: f64[3], %9: f64[3], %10: f64[3], %11: f64[3]| {
              %12: f64[3] = mul(%9, %7)
              %13: f64[3] = mul(%11, %10)
              %14: f64[3] = add(%12, %13)
              %15: f64[3] = add(%14, %8)
              %16: f64[3] = sin(%10)
              %17: f64[3] = mul(%9, %16)
              return (%15, %17)
            }
          return (%5, %6)
        }",
    ),
    (
        "scan_reverse_zero_init",
        1,
        1e-12,
        "fn scanr(%0: f64[5, 2], %1: f64[5, 2], %2: f64[2]) -> (f64[2], f64[], f64[5, 2]) {
          %18: f64[2] = broadcast_in_dim[shape=[2], dims=[]](0.0:f64)
          %3: f64[2], %4: f64[], %5: f64[5, 2] = scan[nconsts=1, ncarry=2, length=5, reverse=true](%2, %18, 0.0:f64, %0, %1)
            body = |%6: f64[2], %7: f64[2], %8: f64[], %9: f64[2], %10: f64[2]| {
              %11: f64[2] = mul(%10, %9)
              %12: f64[2] = add(%7, %11)
              %13: f64[2] = mul(%6, %9)
              %14: f64[2] = add(%12, %13)
              %15: f64[] = reduce_sum[axes=[0], compensated=false](%14)
              %16: f64[] = add(%8, %15)
              %17: f64[2] = broadcast_in_dim[shape=[2], dims=[]](%8)
              return (%14, %16, %17)
            }
          return (%3, %4, %5)
        }",
    ),
    (
        "nested_cond_in_scan",
        2,
        1e-12,
        "fn nest(%0: bool[], %1: f64[3, 2], %2: f64[2]) -> (f64[2]) {
          %3: f64[2] = scan[nconsts=1, ncarry=1, length=3, reverse=false](%0, %2, %1)
            body = |%4: bool[], %5: f64[2], %6: f64[2]| {
              %7: f64[2] = cond(%4, %6, %5)
                then_body = |%8: f64[2], %9: f64[2]| {
                  %10: f64[2] = mul(%9, %8)
                  return (%10)
                }
                else_body = |%11: f64[2], %12: f64[2]| {
                  %13: f64[2] = rev[axes=[0]](%12)
                  return (%13)
                }
              return (%7)
            }
          return (%3)
        }",
    ),
];

fn dot_test(name: &str, nres: usize, tol: f64, text: &str) {
    let f = parse(text);
    check(&f);
    let ft = transpose(&f, nres).unwrap_or_else(|e| panic!("{name}: {e}"));
    check(&ft);
    let params = f.body.param_types();
    let results = f.body.result_types();
    assert_eq!(ft.body.param_types()[..nres], params[..nres], "{name}");
    assert_eq!(ft.body.param_types()[nres..], results[..], "{name}");
    assert_eq!(ft.body.result_types(), params[nres..].to_vec(), "{name}");
    for seed in 0..6 {
        let mut rng = Rng::new(seed * 7919 + name.len() as u64);
        let res = rng.arrays(&params[..nres]);
        let t = rng.arrays(&params[nres..]);
        let c = rng.arrays(&results);
        let args: Vec<Array> = res.iter().chain(&t).cloned().collect();
        let lt = eval(&f, &args);
        let args: Vec<Array> = res.iter().chain(&c).cloned().collect();
        let ltc = eval(&ft, &args);
        let lhs: f64 = c.iter().zip(&lt).map(|(a, b)| inner(a, b)).sum();
        let rhs: f64 = ltc.iter().zip(&t).map(|(a, b)| inner(a, b)).sum();
        let scale: f64 = c.iter().zip(&lt).map(|(a, b)| inner_abs(a, b)).sum::<f64>()
            + ltc
                .iter()
                .zip(&t)
                .map(|(a, b)| inner_abs(a, b))
                .sum::<f64>()
            + 1e-300;
        assert!(
            (lhs - rhs).abs() <= tol * scale,
            "{name} (seed {seed}): <c, L t> = {lhs} but <L^T c, t> = {rhs}\n{f}\n{ft}"
        );
    }
}

/// One test per table row, and a check that no row is left without one.
macro_rules! row_tests {
    ($($name:ident),* $(,)?) => {
        mod row {
            use super::{dot_test, TABLE};
            $(
                #[test]
                fn $name() {
                    let row = TABLE
                        .iter()
                        .find(|r| r.0 == stringify!($name))
                        .expect("the row exists");
                    dot_test(row.0, row.1, row.2, row.3);
                }
            )*
        }

        #[test]
        fn every_row_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for row in TABLE {
                assert!(tested.contains(&row.0), "row {} has no test", row.0);
            }
        }
    };
}

row_tests! {
    neg,
    add_sub,
    mul,
    div,
    convert,
    select,
    integer_pow_1,
    reduce_sum,
    broadcast_in_dim,
    reshape,
    transpose,
    slice,
    pad,
    concat,
    rev,
    cumsum,
    dot_general_matmul,
    dot_general_batch,
    dot_general_multi_contract,
    dot_general_outer_and_inner,
    take,
    scatter_add,
    scatter_add_updates_only,
    scatter_set,
    scatter_set_axis1,
    dynamic_slice,
    dynamic_update_slice,
    cond,
    scan,
    scan_reverse_zero_init,
    nested_cond_in_scan,
}

#[test]
fn scatter_set_sends_cotangents_only_to_the_last_duplicate_and_in_range() {
    let f = parse(
        "fn ss(%0: f64[3], %1: f64[4]) -> (f64[3]) {
          %2: i32[4] = constant[value=i32[4]{1, 1, 5, -1}]()
          %3: f64[3] = scatter[axis=0](%0, %2, %1)
          return (%3)
        }",
    );
    let ft = transpose(&f, 0).expect("transposes");
    check(&ft);
    let c = Array::from_f64(vec![3], vec![1.0, 2.0, 3.0]).expect("shape");
    let out = eval(&ft, &[c]);
    assert_eq!(out[0].to_f64_vec(), vec![1.0, 0.0, 3.0]);
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 2.0, 0.0, 0.0]);
}

#[test]
fn stop_gradient_and_unused_inputs_get_zero_cotangents() {
    let f = parse(
        "fn sg(%0: f64[3], %1: f64[2]) -> (f64[3]) {
          %2: f64[3] = stop_gradient(%0)
          return (%2)
        }",
    );
    let ft = transpose(&f, 0).expect("transposes");
    check(&ft);
    let c = Array::from_f64(vec![3], vec![1.0, 2.0, 3.0]).expect("shape");
    let out = eval(&ft, &[c]);
    assert_eq!(out[0].to_f64_vec(), vec![0.0; 3]);
    assert_eq!(out[1].to_f64_vec(), vec![0.0; 2]);
}

#[test]
fn non_linear_equations_are_recomputed_only_when_needed() {
    let f = parse(
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3]) {
          %2: f64[3] = sin(%0)
          %3: f64[3] = exp(%0)
          %4: f64[3] = mul(%1, %2)
          return (%4, %3)
        }",
    );
    let ft = transpose(&f, 1).expect("transposes");
    check(&ft);
    let text = ft.to_string();
    assert!(text.contains("sin("), "{text}");
    assert!(!text.contains("exp("), "{text}");
}

#[test]
fn transposing_a_while_loop_is_not_differentiable() {
    let f = parse(
        "fn w(%0: f64[]) -> (f64[]) {
          %1: i32[], %2: f64[] = while[cond_nconsts=0, body_nconsts=0](0:i32, %0)
            cond_body = |%3: i32[], %4: f64[]| {
              %5: bool[] = lt(%3, 3:i32)
              return (%5)
            }
            body = |%6: i32[], %7: f64[]| {
              %8: i32[] = add(%6, 1:i32)
              %9: f64[] = mul(%7, 2.0:f64)
              return (%8, %9)
            }
          return (%2)
        }",
    );
    let err = transpose(&f, 0).expect_err("a while loop does not transpose");
    assert_eq!(err.code, Code::NOT_DIFFERENTIABLE);
    assert_eq!(
        err.hint.as_deref(),
        Some("use fori with static bounds or scan, which are reverse-differentiable")
    );
}

#[test]
fn non_linear_uses_of_linear_values_are_internal_errors() {
    for text in [
        "fn f(%0: f64[3]) -> (f64[3]) {
          %1: f64[3] = sin(%0)
          return (%1)
        }",
        "fn f(%0: f64[3]) -> (f64[3]) {
          %1: f64[3] = mul(%0, %0)
          return (%1)
        }",
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3]) {
          %2: f64[3] = div(%0, %1)
          return (%2)
        }",
    ] {
        let f = parse(text);
        let err = transpose(&f, f.body.params.len() - 1).expect_err("not linear");
        assert_eq!(err.code, Code::INTERNAL, "{err}");
    }
}

/// A linear `elif` chain `depth` conds deep: `t * r` in every then-branch, `u - t` at
/// the end, so only the last branch gives `u` a cotangent.
fn linear_chain(depth: usize) -> nabla_ir::Func {
    use nabla_diag::Span;
    use nabla_ir::{Atom, BinaryOp, Builder, DType, Prim, Type, UnaryOp};

    fn emit1(b: &mut Builder, prim: Prim, args: Vec<Atom>) -> Atom {
        Atom::Var(b.emit1(prim, args, Span::DUMMY).expect("well typed"))
    }
    fn cond(b: &mut Builder, depth: usize, args: Vec<Atom>) -> Atom {
        let types: Vec<Type> = args[1..].iter().map(Atom::ty).collect();
        let ps: Vec<Atom> = b.begin_body(&types).into_iter().map(Atom::Var).collect();
        let m = emit1(
            b,
            Prim::Binary(BinaryOp::Mul),
            vec![ps[2].clone(), ps[1].clone()],
        );
        let then_body = b.end_body(vec![m]);
        let ps: Vec<Atom> = b.begin_body(&types).into_iter().map(Atom::Var).collect();
        let r = if depth == 0 {
            let n = emit1(b, Prim::Unary(UnaryOp::Neg), vec![ps[2].clone()]);
            emit1(b, Prim::Binary(BinaryOp::Add), vec![n, ps[3].clone()])
        } else {
            let mut inner = vec![ps[0].clone()];
            inner.extend(ps.iter().cloned());
            cond(b, depth - 1, inner)
        };
        let else_body = b.end_body(vec![r]);
        emit1(
            b,
            Prim::Cond {
                then_body,
                else_body,
            },
            args,
        )
    }
    let mut b = Builder::new();
    let p = Atom::Var(b.param(Type::scalar(DType::Bool)));
    let r = Atom::Var(b.param(Type::new(DType::F64, [2])));
    let t = Atom::Var(b.param(Type::new(DType::F64, [2])));
    let u = Atom::Var(b.param(Type::new(DType::F64, [2])));
    let out = cond(&mut b, depth, vec![p.clone(), p, r, t, u]);
    b.finish("chain", vec![out])
}

#[test]
fn nested_conds_transpose_in_linear_time() {
    let text = linear_chain(3).to_string();
    dot_test("chain", 2, 1e-12, &text);
    // Rebuilding a branch per level would take 2^24 transpositions.
    let ft = transpose(&linear_chain(24), 2).expect("transposes");
    check(&ft);
}
