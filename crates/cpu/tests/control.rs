//! Compiled control flow (`cond`, `while`, `scan`) against the reference interpreter,
//! bit for bit, with 1 and 3 threads: both branches of a cond, while loops with
//! condition and body constants (and ones that never run), fori-style scans over a
//! counter, scans forward and reverse over rows of several dtypes with several carries,
//! lengths 0 and 1, and control flow nested in every body kind.
//!
//! The fallback given to the programs refuses control flow, so every case proves the
//! loop ran natively; bodies use exact operations only (no transcendentals, no GEMM),
//! whose results the backend defines bit for bit.

mod fallbacks;
use fallbacks::NoControlFallback;

use nabla_cpu::program::{Compiled, Profile};
use nabla_diag::Span;
use nabla_ir::{parse_func, Array, Atom, Body, DType, Data, Eqn, Func, Prim, Scalar, Type, Var};

/// Deterministic inputs: floats are multiples of 1/8 in [-2, 2) (some exact zeros),
/// integers small, bools alternating irregularly.
fn input(ty: &Type, seed: u64) -> Array {
    let n = ty.numel();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 32) as i64 - 16
    };
    let ints: Vec<i64> = (0..n).map(|_| next()).collect();
    let data = match ty.dtype {
        DType::Bool => Data::Bool(ints.iter().map(|&v| v > 0).collect()),
        DType::I32 => Data::I32(ints.iter().map(|&v| v as i32).collect()),
        DType::I64 => Data::I64(ints),
        DType::U32 => Data::U32(ints.iter().map(|&v| v.unsigned_abs() as u32).collect()),
        DType::F32 => Data::F32(ints.iter().map(|&v| v as f32 / 8.0).collect()),
        DType::F64 => Data::F64(ints.iter().map(|&v| v as f64 / 8.0).collect()),
    };
    Array::new(ty.shape.clone(), data).unwrap()
}

fn inputs(f: &Func, seed: u64) -> Vec<Array> {
    f.body
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| input(&p.ty, seed + i as u64))
        .collect()
}

fn same(a: &[Array], b: &[Array]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.dtype() == y.dtype() && x.bit_eq(y))
}

/// Runs `f` on `args` in the interpreter and compiled with 1 and 3 threads (and once
/// profiled), asserting bitwise equality; returns the results and the profile.
fn check_args(f: &Func, args: &[Array]) -> (Vec<Array>, Profile) {
    let want = nabla_interp::eval_func(f, args).unwrap();
    let c = Compiled::new(f).unwrap();
    for threads in [1, 3] {
        let got = c.run(args, threads, &NoControlFallback).unwrap();
        assert!(
            same(&got, &want),
            "{threads} threads:\n{got:?}\nthe interpreter:\n{want:?}"
        );
    }
    let mut profile = Profile::new();
    let got = c
        .run_profiled(args, 1, &NoControlFallback, Some(&mut profile))
        .unwrap();
    assert!(same(&got, &want), "profiled:\n{got:?}\n{want:?}");
    (want, profile)
}

fn check(text: &str, seed: u64) -> (Vec<Array>, Profile) {
    let f = parse_func(text).unwrap();
    let args = inputs(&f, seed);
    check_args(&f, &args)
}

const COND: &str =
    "fn c(%0: bool[], %1: f64[3, 4], %2: f64[4], %3: i32[]) -> (f64[3, 4], f64[], i32[], f64[4]) {
  %4: f64[3, 4], %5: f64[], %6: i32[], %7: f64[4] = cond(%0, %1, %2, %3)
    then_body = |%8: f64[3, 4], %9: f64[4], %10: i32[]| {
      %11: f64[3, 4] = broadcast_in_dim[shape=[3, 4], dims=[1]](%9)
      %12: f64[3, 4] = mul(%8, %11)
      %13: f64[] = reduce_sum[axes=[0, 1], compensated=false](%12)
      %14: i32[] = add(%10, 1:i32)
      return (%12, %13, %14, %9)
    }
    else_body = |%15: f64[3, 4], %16: f64[4], %17: i32[]| {
      %18: f64[3, 4] = abs(%15)
      %19: f64[4] = neg(%16)
      return (%18, 2.5:f64, %17, %19)
    }
  return (%4, %5, %6, %7)
}";

#[test]
fn cond_takes_either_branch() {
    let f = parse_func(COND).unwrap();
    let mut args = inputs(&f, 1);
    for pred in [true, false] {
        args[0] = Array::scalar(Scalar::Bool(pred));
        let (outs, _) = check_args(&f, &args);
        // The branches differ, so this really tests the predicate.
        assert_eq!(outs[1].to_scalar() == Some(Scalar::F64(2.5)), !pred);
    }
}

/// `while i < n: (i + 1, s + sum(v), v * c + 0.25)` with a condition constant `n` and a
/// body constant `c`.
const WHILE: &str = "fn w(%0: i32[], %1: f64[], %2: f64[3], %3: f64[3]) -> (i32[], f64[], f64[3]) {
  %4: i32[], %5: f64[], %6: f64[3] = while[cond_nconsts=1, body_nconsts=1](%0, %3, 0:i32, %1, %2)
    cond_body = |%7: i32[], %8: i32[], %9: f64[], %10: f64[3]| {
      %11: bool[] = lt(%8, %7)
      return (%11)
    }
    body = |%12: f64[3], %13: i32[], %14: f64[], %15: f64[3]| {
      %16: i32[] = add(%13, 1:i32)
      %17: f64[] = reduce_sum[axes=[0], compensated=false](%15)
      %18: f64[] = add(%14, %17)
      %19: f64[3] = mul(%15, %12)
      %20: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.25:f64)
      %21: f64[3] = add(%19, %20)
      return (%16, %18, %21)
    }
  return (%4, %5, %6)
}";

#[test]
fn while_with_condition_and_body_constants() {
    let f = parse_func(WHILE).unwrap();
    let mut args = inputs(&f, 2);
    for n in [-3, 0, 1, 2, 17] {
        args[0] = Array::scalar(Scalar::I32(n));
        let (outs, _) = check_args(&f, &args);
        assert_eq!(outs[0].to_scalar(), Some(Scalar::I32(n.max(0))));
    }
}

/// A loop whose condition reads a float carry, carrying a bool and a literal result.
#[test]
fn while_on_a_float_condition() {
    check(
        "fn h(%0: f64[]) -> (f64[], i64[], bool[]) {
          %1: f64[], %2: i64[], %3: bool[] = while[cond_nconsts=0, body_nconsts=0](%0, 0:i64, false:bool)
            cond_body = |%4: f64[], %5: i64[], %6: bool[]| {
              %7: f64[] = abs(%4)
              %8: bool[] = gt(%7, 0.01:f64)
              return (%8)
            }
            body = |%9: f64[], %10: i64[], %11: bool[]| {
              %12: f64[] = div(%9, 2.0:f64)
              %13: i64[] = add(%10, 1:i64)
              return (%12, %13, true:bool)
            }
          return (%1, %2, %3)
        }",
        3,
    );
}

/// `fori(0, length, x, |i, c| c * k + f64(i))` as the tracer emits it with static
/// bounds: a scan over the counter and the carry, with a constant and no `xs`/`ys`.
fn fori(length: usize) -> String {
    format!(
        "fn f(%0: f64[5], %1: f64[5]) -> (f64[5]) {{
          %2: i64[], %3: f64[5] = scan[nconsts=1, ncarry=2, length={length}, reverse=false](%1, 0:i64, %0)
            body = |%4: f64[5], %5: i64[], %6: f64[5]| {{
              %7: f64[5] = mul(%6, %4)
              %8: f64[] = convert[dtype=f64](%5)
              %9: f64[5] = broadcast_in_dim[shape=[5], dims=[]](%8)
              %10: f64[5] = add(%7, %9)
              %11: i64[] = add(%5, 1:i64)
              return (%11, %10)
            }}
          return (%3)
        }}"
    )
}

#[test]
fn fori_style_scans_of_every_small_length() {
    for length in [0, 1, 2, 5, 100] {
        check(&fori(length), 4);
    }
}

/// Two carries, a constant, two `xs` (f64 rows and i32 scalars) and three `ys` (f64
/// rows, an i32 scalar, a bool row), walking either way.
fn scan(length: usize, reverse: bool) -> String {
    format!(
        "fn s(%0: f64[3], %1: f64[3], %2: i32[], %3: f64[{length}, 3], %4: i32[{length}])
            -> (f64[3], i32[], f64[{length}, 3], i32[{length}], bool[{length}, 3]) {{
          %5: f64[3], %6: i32[], %7: f64[{length}, 3], %8: i32[{length}], %9: bool[{length}, 3] = scan[nconsts=1, ncarry=2, length={length}, reverse={reverse}](%0, %1, %2, %3, %4)
            body = |%10: f64[3], %11: f64[3], %12: i32[], %13: f64[3], %14: i32[]| {{
              %15: f64[3] = mul(%11, %10)
              %16: f64[3] = add(%15, %13)
              %17: i32[] = mul(%12, %14)
              %18: i32[] = add(%17, 1:i32)
              %19: bool[3] = lt(%13, %11)
              %20: f64[] = reduce_max[axes=[0], compensated=false](%16)
              %21: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%20)
              %22: f64[3] = sub(%16, %21)
              return (%22, %18, %16, %17, %19)
            }}
          return (%5, %6, %7, %8, %9)
        }}"
    )
}

#[test]
fn scans_forward_and_reverse_of_lengths_0_1_and_more() {
    for length in [0, 1, 2, 7] {
        for reverse in [false, true] {
            let (outs, _) = check(&scan(length, reverse), 5 + length as u64);
            assert_eq!(outs[2].shape(), &[length, 3]);
        }
    }
}

/// A scan whose body returns its parameters and literals unchanged as carries and `ys`
/// (results that are no kernel's output).
#[test]
fn scan_passing_values_through() {
    check(
        "fn p(%0: f64[2], %1: i32[4, 2]) -> (f64[2], i32[4, 2], f64[4], f64[4, 2]) {
          %2: f64[2], %3: i32[4, 2], %4: f64[4], %5: f64[4, 2] = scan[nconsts=0, ncarry=1, length=4, reverse=true](%0, %1)
            body = |%6: f64[2], %7: i32[2]| {
              return (%6, %7, 1.5:f64, %6)
            }
          return (%2, %3, %4, %5)
        }",
        6,
    );
}

/// Carries that trade places, one through views of another (so moving them must read
/// every result before writing any parameter), and gathers in a body: at a clamped
/// index from `xs` and at a literal one.
#[test]
fn carries_swapped_and_gathers() {
    check(
        "fn x(%0: f64[], %1: f64[], %2: f64[2]) -> (i64[], f64[], f64[], f64[2]) {
          %3: i64[], %4: f64[], %5: f64[], %6: f64[2] = while[cond_nconsts=0, body_nconsts=0](0:i64, %0, %1, %2)
            cond_body = |%7: i64[], %8: f64[], %9: f64[], %10: f64[2]| {
              %11: bool[] = lt(%7, 5:i64)
              return (%11)
            }
            body = |%12: i64[], %13: f64[], %14: f64[], %15: f64[2]| {
              %16: i64[] = add(%12, 1:i64)
              %17: f64[1] = reshape[shape=[1]](%13)
              %18: f64[] = reshape[shape=[]](%17)
              %19: f64[2] = rev[axes=[0]](%15)
              return (%16, %14, %18, %19)
            }
          return (%3, %4, %5, %6)
        }",
        10,
    );
    check(
        "fn g(%0: f64[2, 3], %1: i32[4], %2: f64[2]) -> (f64[2], f64[4, 2]) {
          %3: f64[2], %4: f64[4, 2] = scan[nconsts=1, ncarry=1, length=4, reverse=false](%0, %2, %1)
            body = |%5: f64[2, 3], %6: f64[2], %7: i32[]| {
              %8: f64[2] = take[axis=1](%5, %7)
              %9: f64[2] = add(%6, %8)
              %10: f64[2] = take[axis=1](%5, 2:i64)
              %11: f64[2] = mul(%9, %10)
              return (%11, %8)
            }
          return (%3, %4)
        }",
        11,
    );
}

/// Control flow nested in every body kind: a scan whose body runs a while (whose body
/// runs a cond), and a while whose body runs a scan.
#[test]
fn nested_control_flow() {
    let f = parse_func(
        "fn n(%0: f64[4], %1: f64[6, 4], %2: i32[]) -> (f64[4], f64[6]) {
          %3: f64[4], %4: f64[6] = scan[nconsts=1, ncarry=1, length=6, reverse=false](%2, %0, %1)
            body = |%5: i32[], %6: f64[4], %7: f64[4]| {
              %8: f64[4] = add(%6, %7)
              %9: i32[], %10: f64[4] = while[cond_nconsts=1, body_nconsts=0](%5, 0:i32, %8)
                cond_body = |%11: i32[], %12: i32[], %13: f64[4]| {
                  %14: bool[] = lt(%12, %11)
                  return (%14)
                }
                body = |%15: i32[], %16: f64[4]| {
                  %17: i32[] = add(%15, 1:i32)
                  %18: f64[] = reduce_sum[axes=[0], compensated=false](%16)
                  %19: bool[] = gt(%18, 0.0:f64)
                  %20: f64[4] = cond(%19, %16)
                    then_body = |%21: f64[4]| {
                      %22: f64[4] = broadcast_in_dim[shape=[4], dims=[]](0.5:f64)
                      %23: f64[4] = mul(%21, %22)
                      return (%23)
                    }
                    else_body = |%24: f64[4]| {
                      %25: f64[4] = neg(%24)
                      return (%25)
                    }
                  return (%17, %20)
                }
              %26: f64[] = reduce_sum[axes=[0], compensated=false](%10)
              return (%10, %26)
            }
          return (%3, %4)
        }",
    )
    .unwrap();
    let mut args = inputs(&f, 7);
    // The inner loop runs three times per step.
    args[2] = Array::scalar(Scalar::I32(3));
    let (_, profile) = check_args(&f, &args);
    // The innermost steps are profiled under their nested programs' names.
    let labels: Vec<&str> = profile.sorted().into_iter().map(|(l, _)| l).collect();
    assert!(
        labels
            .iter()
            .any(|l| l.contains("scan.body") && l.contains("while.body") && l.contains("cond.")),
        "{labels:?}"
    );
    assert!(labels.iter().any(|l| l.ends_with("(outside its bodies)")));

    check(
        "fn m(%0: f64[3, 2], %1: f64[2]) -> (i64[], f64[2]) {
          %2: i64[], %3: f64[2] = while[cond_nconsts=0, body_nconsts=1](%0, 0:i64, %1)
            cond_body = |%4: i64[], %5: f64[2]| {
              %6: bool[] = lt(%4, 4:i64)
              return (%6)
            }
            body = |%7: f64[3, 2], %8: i64[], %9: f64[2]| {
              %10: i64[] = add(%8, 1:i64)
              %11: f64[2], %12: f64[3, 2] = scan[nconsts=0, ncarry=1, length=3, reverse=true](%9, %7)
                body = |%13: f64[2], %14: f64[2]| {
                  %15: f64[2] = mul(%13, %14)
                  %16: f64[2] = add(%15, %14)
                  return (%16, %15)
                }
              return (%10, %11)
            }
          return (%2, %3)
        }",
        8,
    );
}

/// Carries large enough that kernels split across threads (and reductions into several
/// blocks): the loop must still be bitwise independent of the thread count.
#[test]
fn large_carries_split_across_threads() {
    check(
        "fn big(%0: f64[100000], %1: f64[100000]) -> (f64[100000], f64[]) {
          %2: i32[], %3: f64[100000], %4: f64[] = while[cond_nconsts=0, body_nconsts=1](%1, 0:i32, %0, 0.0:f64)
            cond_body = |%5: i32[], %6: f64[100000], %7: f64[]| {
              %8: bool[] = lt(%5, 3:i32)
              return (%8)
            }
            body = |%9: f64[100000], %10: i32[], %11: f64[100000], %12: f64[]| {
              %13: i32[] = add(%10, 1:i32)
              %14: f64[100000] = mul(%11, %9)
              %15: f64[100000] = add(%14, %9)
              %16: f64[] = reduce_sum[axes=[0], compensated=false](%15)
              %17: f64[] = add(%12, %16)
              return (%13, %15, %17)
            }
          return (%3, %4)
        }",
        9,
    );
}

/// Structurally broken control flow (the verifier would reject it) fails to compile
/// with an error, not a panic.
#[test]
fn malformed_bodies_fail_to_compile() {
    let f64s = Type::scalar(DType::F64);
    let var = |id, ty: &Type| Var { id, ty: ty.clone() };
    // Two carries declared, a body of one parameter.
    let body = Body {
        params: vec![var(2, &f64s)],
        eqns: vec![],
        results: vec![Atom::Var(var(2, &f64s))],
    };
    let scan = Prim::Scan {
        body,
        nconsts: 0,
        ncarry: 2,
        length: 3,
        reverse: false,
    };
    // A while whose condition returns a float.
    let cond_body = Body {
        params: vec![var(3, &f64s)],
        eqns: vec![],
        results: vec![Atom::Var(var(3, &f64s))],
    };
    let while_body = Body {
        params: vec![var(4, &f64s)],
        eqns: vec![],
        results: vec![Atom::Var(var(4, &f64s))],
    };
    let while_loop = Prim::While {
        cond_body,
        body: while_body,
        cond_nconsts: 0,
        body_nconsts: 0,
    };
    for (prim, nouts) in [(scan, 2), (while_loop, 1)] {
        let outs: Vec<Var> = (0..nouts).map(|k| var(10 + k, &f64s)).collect();
        let f = Func {
            name: "bad".into(),
            body: Body {
                params: vec![var(0, &f64s), var(1, &f64s)],
                eqns: vec![Eqn {
                    prim,
                    args: vec![Atom::Var(var(0, &f64s)), Atom::Var(var(1, &f64s))],
                    outs: outs.clone(),
                    span: Span::DUMMY,
                }],
                results: outs.into_iter().map(Atom::Var).collect(),
            },
        };
        match Compiled::new(&f) {
            Ok(_) => panic!("compiled a malformed loop"),
            Err(e) => assert_eq!(e.code, nabla_diag::Code::INTERNAL),
        }
    }
}
