//! Partial evaluation: for every known/unknown split of the inputs, evaluating the
//! known body and then the unknown body on its residuals gives exactly what the
//! original body gives; known work stays on the known side.

mod pe_support;

use nabla_ir::{Array, Body, Func, Prim};
use nabla_transform::linearize::known_outputs;
use nabla_transform::partial_eval;
use pe_support::{check_body, eval, eval_body, parse, same, Rng};

/// Splits `f` with `known` / `instantiate`, checks both halves and their composition
/// on random inputs, and returns the split.
fn split_and_compare(f: &Func, known: &[bool], inst: &[bool]) -> nabla_transform::PartialEval {
    let pe = partial_eval(&f.body, known, inst)
        .unwrap_or_else(|e| panic!("{e}\nknown {known:?} inst {inst:?}\n{f}"));
    let ctx = format!("known {known:?} instantiate {inst:?}\n{f}");
    check_body("known", &pe.known);
    check_body("unknown", &pe.unknown);
    let nk = known.iter().filter(|k| **k).count();
    let nko = pe.known_out.iter().filter(|k| **k).count();
    assert_eq!(pe.known.params.len(), nk, "{ctx}");
    assert_eq!(pe.known.results.len(), nko + pe.nres, "{ctx}");
    assert_eq!(pe.unknown.params.len(), pe.nres + known.len() - nk, "{ctx}");
    assert_eq!(pe.unknown.results.len(), pe.known_out.len() - nko, "{ctx}");
    for (i, (&k, &s)) in pe.known_out.iter().zip(inst).enumerate() {
        assert!(!(k && s), "output {i} is instantiated but known; {ctx}");
    }
    let types = f.body.param_types();
    for seed in 0..5 {
        let mut rng = Rng::new(seed + 17);
        let args = rng.arrays(&types);
        let want = eval(f, &args);
        let kargs: Vec<Array> = args
            .iter()
            .zip(known)
            .filter(|(_, k)| **k)
            .map(|(a, _)| a.clone())
            .collect();
        let kres = eval_body(&pe.known, &kargs);
        let mut uargs: Vec<Array> = kres[nko..].to_vec();
        uargs.extend(
            args.iter()
                .zip(known)
                .filter(|(_, k)| !**k)
                .map(|(a, _)| a.clone()),
        );
        let ures = eval_body(&pe.unknown, &uargs);
        let (mut ki, mut ui) = (0, 0);
        let mut got = Vec::new();
        for &k in &pe.known_out {
            if k {
                got.push(kres[ki].clone());
                ki += 1;
            } else {
                got.push(ures[ui].clone());
                ui += 1;
            }
        }
        assert!(
            same(&got, &want),
            "seed {seed}: {got:?} != {want:?}\n{ctx}\n--- known\n{}\n--- unknown\n{}",
            pe.known,
            pe.unknown
        );
    }
    pe
}

/// Every known mask, with no output and with every output instantiated.
fn all_splits(f: &Func) {
    let n = f.body.params.len();
    let m = f.body.results.len();
    for mask in 0..(1u32 << n) {
        let known: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
        let pe = split_and_compare(f, &known, &vec![false; m]);
        if known.iter().all(|k| *k) {
            assert!(pe.unknown.eqns.is_empty() && pe.nres == 0, "{}", pe.unknown);
        }
        if known.iter().all(|k| !*k) {
            assert!(pe.known.eqns.is_empty(), "{}", pe.known);
            for (r, k) in f.body.results.iter().zip(&pe.known_out) {
                assert_eq!(*k, r.as_var().is_none(), "only literals are known");
            }
        }
        let pe = split_and_compare(f, &known, &vec![true; m]);
        assert!(pe.known_out.iter().all(|k| !*k));
    }
}

/// Whether a primitive named `name` occurs anywhere in `b`, nested bodies included.
fn contains(b: &Body, name: &str) -> bool {
    b.eqns
        .iter()
        .any(|e| e.prim.name() == name || e.prim.bodies().iter().any(|c| contains(c, name)))
}

fn find_scan(b: &Body) -> Option<&Prim> {
    b.eqns
        .iter()
        .map(|e| &e.prim)
        .find(|p| matches!(p, Prim::Scan { .. }))
}

const STRAIGHT: &str =
    "fn f(%0: f64[3], %1: f64[3], %2: f64[]) -> (f64[3], f64[3], f64[], f64[3], f64[]) {
  %3: f64[3] = exp(%0)
  %4: f64[3] = mul(%3, %1)
  %5: f64[3] = sin(%4)
  %6: f64[] = reduce_sum[axes=[0], compensated=false](%3)
  %7: f64[] = mul(%6, %2)
  %8: f64[] = add(%7, %6)
  return (%5, %3, %8, %0, 1.5:f64)
}";

const COND: &str = "fn c(%0: bool[], %1: f64[3], %2: f64[3]) -> (f64[3], f64[3], f64[], f64[3]) {
  %20: f64[3], %21: f64[3], %22: f64[], %23: f64[3] = cond(%0, %1, %2)
    then_body = |%3: f64[3], %4: f64[3]| {
      %5: f64[3] = exp(%3)
      %6: f64[3] = mul(%5, %4)
      %7: f64[] = reduce_sum[axes=[0], compensated=false](%5)
      %24: f64[3] = sin(%3)
      return (%6, %5, %7, %24)
    }
    else_body = |%8: f64[3], %9: f64[3]| {
      %10: f64[3] = cos(%8)
      %11: f64[3] = add(%10, %9)
      %12: f64[] = reduce_sum[axes=[0], compensated=false](%9)
      %13: i32[] = argmax[axis=0, index_dtype=i32](%8)
      %14: f64[] = convert[dtype=f64](%13)
      %15: f64[] = mul(%12, %14)
      %16: f64[3] = neg(%8)
      return (%10, %11, %15, %16)
    }
  return (%20, %21, %22, %23)
}";

fn scan_text(reverse: bool) -> String {
    format!(
        "fn s(%0: f64[2], %1: f64[2], %2: f64[2], %3: f64[4, 2], %4: f64[4, 2])
            -> (f64[2], f64[2], f64[2], f64[4, 2], f64[4, 2]) {{
          %5: f64[2], %6: f64[2], %7: f64[2], %8: f64[4, 2], %9: f64[4, 2] = scan[nconsts=1, ncarry=3, length=4, reverse={reverse}](%0, %1, %2, %1, %3, %4)
            body = |%10: f64[2], %11: f64[2], %12: f64[2], %13: f64[2], %14: f64[2], %15: f64[2]| {{
              %16: f64[2] = exp(%14)
              %18: f64[2] = mul(%11, %10)
              %19: f64[2] = add(%18, %16)
              %20: f64[2] = mul(%11, %15)
              %21: f64[2] = add(%12, %20)
              %22: f64[2] = add(%13, %12)
              %23: f64[2] = sin(%11)
              %24: f64[2] = mul(%21, %10)
              %25: f64[2] = mul(%24, %16)
              return (%19, %21, %22, %23, %25)
            }}
          return (%5, %6, %7, %8, %9)
        }}"
    )
}

const WHILE: &str = "fn w(%0: i32[], %1: f64[], %2: f64[2]) -> (i32[], f64[], f64[2]) {
  %3: i32[], %4: f64[], %5: f64[2] = while[cond_nconsts=1, body_nconsts=0](%0, 0:i32, %1, %2)
    cond_body = |%6: i32[], %7: i32[], %8: f64[], %9: f64[2]| {
      %10: bool[] = lt(%7, %6)
      return (%10)
    }
    body = |%11: i32[], %12: f64[], %13: f64[2]| {
      %14: i32[] = add(%11, 1:i32)
      %15: f64[] = sin(%12)
      %16: f64[2] = broadcast_in_dim[shape=[2], dims=[]](%12)
      %17: f64[2] = mul(%13, %16)
      return (%14, %15, %17)
    }
  return (%3, %4, %5)
}";

/// A while whose condition reads a float carry: unknown with it, the loop is unknown.
const WHILE_FLOAT_COND: &str = "fn w(%0: f64[], %1: f64[]) -> (f64[], f64[]) {
  %2: f64[], %3: f64[] = while[cond_nconsts=0, body_nconsts=0](%0, %1)
    cond_body = |%4: f64[], %5: f64[]| {
      %6: bool[] = lt(%4, 3.0:f64)
      return (%6)
    }
    body = |%7: f64[], %8: f64[]| {
      %9: f64[] = add(%7, 1.0:f64)
      %10: f64[] = mul(%8, %7)
      return (%9, %10)
    }
  return (%2, %3)
}";

const NESTED: &str =
    "fn n(%0: bool[], %1: f64[3, 2], %2: f64[2], %3: f64[2]) -> (f64[2], f64[3, 2]) {
  %4: f64[2], %5: f64[3, 2] = scan[nconsts=2, ncarry=1, length=3, reverse=false](%0, %3, %2, %1)
    body = |%6: bool[], %7: f64[2], %8: f64[2], %9: f64[2]| {
      %10: f64[2], %11: f64[2] = cond(%6, %9, %8, %7)
        then_body = |%12: f64[2], %13: f64[2], %14: f64[2]| {
          %15: f64[2] = mul(%13, %12)
          %16: f64[2] = exp(%12)
          return (%15, %16)
        }
        else_body = |%17: f64[2], %18: f64[2], %19: f64[2]| {
          %20: f64[2] = add(%18, %19)
          %21: f64[2] = cos(%17)
          return (%20, %21)
        }
      return (%10, %11)
    }
  return (%4, %5)
}";

#[test]
fn straight_line_every_split() {
    all_splits(&parse(STRAIGHT));
}

#[test]
fn straight_line_known_work_stays_known() {
    let f = parse(STRAIGHT);
    let pe = split_and_compare(&f, &[true, false, true], &[false; 5]);
    assert_eq!(pe.known_out, vec![false, true, true, true, true]);
    assert!(contains(&pe.known, "exp") && contains(&pe.known, "reduce_sum"));
    assert!(!contains(&pe.unknown, "exp") && !contains(&pe.unknown, "reduce_sum"));
    assert!(!contains(&pe.known, "sin"));
    assert_eq!(pe.unknown.eqns.len(), 2, "{}", pe.unknown);
    // Only exp(x) is read by the unknown side.
    assert_eq!(pe.nres, 1);
    let pe = split_and_compare(&f, &[false, true, true], &[false; 5]);
    assert_eq!(pe.known_out, vec![false, false, false, false, true]);
    // The known parameters are read by unknown muls: residuals though inputs.
    assert_eq!(pe.nres, 2);
    assert!(pe.known.eqns.is_empty());
}

#[test]
fn cond_every_split() {
    all_splits(&parse(COND));
}

#[test]
fn cond_outputs_known_in_both_branches_only() {
    let f = parse(COND);
    let pe = split_and_compare(&f, &[true, true, false], &[false; 4]);
    assert_eq!(pe.known_out, vec![false, false, false, true]);
    assert!(contains(&pe.known, "exp") && contains(&pe.known, "cos"));
    assert!(contains(&pe.known, "argmax"));
    assert!(!contains(&pe.unknown, "exp") && !contains(&pe.unknown, "cos"));
    assert!(!contains(&pe.unknown, "argmax") && !contains(&pe.unknown, "sin"));
}

#[test]
fn cond_with_unknown_predicate_is_unknown() {
    let f = parse(COND);
    let pe = split_and_compare(&f, &[false, true, true], &[false; 4]);
    assert!(pe.known_out.iter().all(|k| !*k));
    assert!(pe.known.eqns.is_empty());
}

#[test]
fn scan_every_split() {
    all_splits(&parse(&scan_text(false)));
}

#[test]
fn reverse_scan_every_split() {
    all_splits(&parse(&scan_text(true)));
}

#[test]
fn scan_carries_reach_a_fixpoint() {
    let f = parse(&scan_text(false));
    // Only x2 unknown: carry c2 reads it, and carry c3 reads c2 one step later.
    let pe = split_and_compare(&f, &[true, true, true, true, false], &[false; 5]);
    assert_eq!(pe.known_out, vec![true, false, false, true, false]);
    assert!(contains(&pe.known, "exp") && contains(&pe.known, "sin"));
    assert!(!contains(&pe.unknown, "exp") && !contains(&pe.unknown, "sin"));
    // The known const k is passed to the unknown scan as a const, not stacked.
    match find_scan(&pe.unknown) {
        Some(Prim::Scan {
            nconsts, ncarry, ..
        }) => {
            assert_eq!((*nconsts, *ncarry), (1, 2), "{}", pe.unknown);
        }
        _ => panic!("no unknown scan\n{}", pe.unknown),
    }
}

#[test]
fn scan_with_known_xs_passes_them_unstacked() {
    let f = parse(&scan_text(false));
    // Everything known but c1's initial value: c1 is unknown, exp(x1) is known and
    // stacked; x2 is read by the unknown part as is.
    let pe = split_and_compare(&f, &[true, false, true, true, true], &[false; 5]);
    assert_eq!(pe.known_out, vec![false, false, false, false, false]);
    assert!(!contains(&pe.unknown, "exp"));
}

#[test]
fn while_every_split() {
    all_splits(&parse(WHILE));
}

#[test]
fn while_known_carries_stay_known() {
    let f = parse(WHILE);
    let pe = split_and_compare(&f, &[true, true, false], &[false; 3]);
    assert_eq!(pe.known_out, vec![true, true, false]);
    assert!(contains(&pe.known, "while") && contains(&pe.unknown, "while"));
    // The known loop computes only the known carries.
    assert!(!contains(&pe.known, "broadcast_in_dim"));
    // An unknown limit makes the condition, hence every carry, unknown.
    let pe = split_and_compare(&f, &[false, true, true], &[false; 3]);
    assert_eq!(pe.known_out, vec![false, false, false]);
    assert!(!contains(&pe.known, "while"));
}

#[test]
fn while_with_unknown_condition_every_split() {
    let f = parse(WHILE_FLOAT_COND);
    all_splits(&f);
    let pe = split_and_compare(&f, &[false, true], &[false; 2]);
    assert_eq!(pe.known_out, vec![false, false]);
    let pe = split_and_compare(&f, &[true, false], &[false; 2]);
    assert_eq!(pe.known_out, vec![true, false]);
}

#[test]
fn cond_nested_in_scan_every_split() {
    all_splits(&parse(NESTED));
}

#[test]
fn residuals_are_deduplicated() {
    let f = parse(
        "fn d(%0: f64[3], %1: f64[3]) -> (f64[3]) {
          %2: f64[3] = exp(%0)
          %3: f64[3] = mul(%2, %1)
          %4: f64[3] = mul(%3, %2)
          %5: f64[3] = add(%4, %0)
          %6: f64[3] = add(%5, %0)
          return (%6)
        }",
    );
    let pe = split_and_compare(&f, &[true, false], &[false]);
    assert_eq!(pe.nres, 2);
}

/// An `elif` chain `depth` conds deep whose branches disagree on which outputs are
/// known (so each level must instantiate some of them).
fn elif_chain(depth: usize) -> Func {
    use nabla_diag::Span;
    use nabla_ir::{Atom, BinaryOp, Builder, DType, Type, UnaryOp};

    fn emit1(b: &mut Builder, prim: Prim, args: Vec<Atom>) -> Atom {
        Atom::Var(b.emit1(prim, args, Span::DUMMY).expect("well typed"))
    }
    fn cond(b: &mut Builder, depth: usize, args: Vec<Atom>) -> Vec<Atom> {
        let types: Vec<Type> = args[1..].iter().map(Atom::ty).collect();
        let ps: Vec<Atom> = b.begin_body(&types).into_iter().map(Atom::Var).collect();
        let m = emit1(
            b,
            Prim::Binary(BinaryOp::Mul),
            vec![ps[1].clone(), ps[2].clone()],
        );
        let s = emit1(b, Prim::Unary(UnaryOp::Sin), vec![ps[1].clone()]);
        let then_body = b.end_body(vec![m, s]);
        let ps: Vec<Atom> = b.begin_body(&types).into_iter().map(Atom::Var).collect();
        let res = if depth == 0 {
            let m = emit1(
                b,
                Prim::Binary(BinaryOp::Mul),
                vec![ps[1].clone(), ps[2].clone()],
            );
            vec![ps[1].clone(), m]
        } else {
            let mut inner = vec![ps[0].clone()];
            inner.extend(ps.iter().cloned());
            cond(b, depth - 1, inner)
        };
        let else_body = b.end_body(res);
        b.emit(
            Prim::Cond {
                then_body,
                else_body,
            },
            args,
            Span::DUMMY,
        )
        .expect("well typed")
        .into_iter()
        .map(Atom::Var)
        .collect()
    }
    let mut b = Builder::new();
    let p = Atom::Var(b.param(Type::scalar(DType::Bool)));
    let x = Atom::Var(b.param(Type::scalar(DType::F64)));
    let y = Atom::Var(b.param(Type::scalar(DType::F64)));
    let outs = cond(&mut b, depth, vec![p.clone(), p, x, y]);
    b.finish("chain", outs)
}

#[test]
fn nested_conds_split_in_linear_time() {
    let f = elif_chain(3);
    all_splits(&f);
    // 2^24 partial evaluations would not finish; one per branch does at once.
    let f = elif_chain(24);
    let pe = split_and_compare(&f, &[true, true, false], &[false, false]);
    assert_eq!(pe.known_out, vec![false, false]);
}

#[test]
fn known_outputs_agrees_with_partial_eval() {
    for f in [
        parse(STRAIGHT),
        parse(COND),
        parse(&scan_text(false)),
        parse(WHILE),
        parse(WHILE_FLOAT_COND),
        parse(NESTED),
        elif_chain(2),
    ] {
        let n = f.body.params.len();
        for mask in 0..(1u32 << n) {
            let known: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
            let pe = partial_eval(&f.body, &known, &vec![false; f.body.results.len()])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                known_outputs(&f.body, &known),
                pe.known_out,
                "{known:?}\n{f}"
            );
        }
    }
}
