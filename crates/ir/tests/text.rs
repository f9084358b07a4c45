//! Printer, parser and verifier: exact text, round-trips over every primitive, and the
//! errors each reports.

mod common;

use common::{emit1, lit, prims, variant, zoo, VARIANTS};
use nabla_diag::Span;
use nabla_ir::{
    parse_body, parse_func, print_body, print_func, verify_func, Atom, BinaryOp, Body, Builder,
    DType, Eqn, Func, Prim, ReduceOp, Scalar, Type, UnaryOp, Var,
};

fn roundtrip(f: &Func) -> String {
    let text = print_func(f);
    let parsed = parse_func(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(print_func(&parsed), text);
    // Debug output compares structure (ids, types, parameters) and, unlike `==`, treats
    // NaN literals as equal.
    assert_eq!(format!("{parsed:?}"), format!("{f:?}"));
    verify_func(&parsed).unwrap_or_else(|e| panic!("{e}"));
    text
}

#[test]
fn zoo_covers_every_primitive() {
    let f = zoo();
    let mut seen = [false; VARIANTS];
    for p in prims(&f.body) {
        seen[variant(p)] = true;
    }
    let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !seen[i]).collect();
    assert!(
        missing.is_empty(),
        "variants {missing:?} are not in the zoo"
    );
}

#[test]
fn zoo_verifies_and_round_trips() {
    let f = zoo();
    verify_func(&f).unwrap_or_else(|e| panic!("{e}"));
    let text = roundtrip(&f);
    for needle in [
        "constant[value=f64[2, 3]{0.1, -0.0, nan, inf, -inf, 1e300}]()",
        "constant[value=f64[0, 3]{}]()",
        "constant[value=f64[]{2.5}]()",
        "constant[value=i64[3]{-9223372036854775808, 0, 9223372036854775807}]()",
        "constant[value=bool[2, 1]{true, false}]()",
        "= cond(true:bool)\n    then_body = || {\n      return ()\n    }",
        "  () = cond(",
        "while[cond_nconsts=1, body_nconsts=1](10:i32, 1:i32, 0:i32, %0)",
        "scan[nconsts=1, ncarry=1, length=2, reverse=true](2.0:f64, ",
        "pad[lo=[1, -1], hi=[0, 2]](%0, 0.0:f64)",
        "scatter_add[axis=0](%0, %4, %1)",
        "return (",
        "nan:f64, -inf:f32, -0.0:f64, 3:i64, true:bool)\n}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn display_is_print_func() {
    let f = zoo();
    assert_eq!(f.to_string(), print_func(&f));
}

/// The exact layout, on the example of the format's documentation.
#[test]
fn small_function_text() {
    let mut b = Builder::new();
    let x = b.param(Type::new(DType::F64, [3, 4]));
    let v = b.param(Type::new(DType::F64, [4]));
    let p = b.param(Type::scalar(DType::Bool));
    let vb = emit1(
        &mut b,
        Prim::BroadcastInDim {
            shape: vec![3, 4],
            dims: vec![1],
        },
        vec![Atom::from(&v)],
    );
    let s = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Add),
        vec![Atom::from(&x), Atom::from(&vb)],
    );
    let r = emit1(
        &mut b,
        Prim::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0, 1],
            compensated: false,
        },
        vec![Atom::from(&s)],
    );
    let t = [Type::scalar(DType::F64)];
    let q = b.begin_body(&t);
    let d = emit1(
        &mut b,
        Prim::Binary(BinaryOp::Mul),
        vec![Atom::from(&q[0]), lit(Scalar::F64(2.0))],
    );
    let then_body = b.end_body(vec![Atom::from(&d)]);
    let q = b.begin_body(&t);
    let else_body = b.end_body(vec![Atom::from(&q[0])]);
    let c = emit1(
        &mut b,
        Prim::Cond {
            then_body,
            else_body,
        },
        vec![Atom::from(&p), Atom::from(&r)],
    );
    let f = b.finish("f", vec![Atom::from(&s), Atom::from(&c)]);
    let expected = "\
fn f(%0: f64[3, 4], %1: f64[4], %2: bool[]) -> (f64[3, 4], f64[]) {
  %3: f64[3, 4] = broadcast_in_dim[shape=[3, 4], dims=[1]](%1)
  %4: f64[3, 4] = add(%0, %3)
  %5: f64[] = reduce_sum[axes=[0, 1], compensated=false](%4)
  %9: f64[] = cond(%2, %5)
    then_body = |%6: f64[]| {
      %7: f64[] = mul(%6, 2.0:f64)
      return (%7)
    }
    else_body = |%8: f64[]| {
      return (%8)
    }
  return (%4, %9)
}";
    assert_eq!(print_func(&f), expected);
    assert_eq!(roundtrip(&f), expected);
    assert_eq!(
        print_body(&f.body.eqns[3].prim.bodies()[1].clone()),
        "|%8: f64[]| {\n  return (%8)\n}"
    );
    let body = parse_body("|%8: f64[]| {\n  return (%8)\n}").expect("a body parses");
    assert_eq!(body.params[0].id, 8);
}

#[test]
fn multi_output_and_literal_text() {
    let mut b = Builder::new();
    let k = b.param(Type::new(DType::U32, [4]));
    let outs = common::emit(
        &mut b,
        Prim::Threefry2x32,
        vec![
            k.clone().into(),
            k.clone().into(),
            k.clone().into(),
            k.into(),
        ],
    );
    let f = b.finish(
        "rng",
        vec![
            Atom::from(&outs[1]),
            lit(Scalar::F32(f32::NAN)),
            lit(Scalar::F32(0.1)),
            lit(Scalar::U32(7)),
        ],
    );
    assert_eq!(
        roundtrip(&f),
        "fn rng(%0: u32[4]) -> (u32[4], f32[], f32[], u32[]) {\n  \
         %1: u32[4], %2: u32[4] = threefry2x32(%0, %0, %0, %0)\n  \
         return (%2, nan:f32, 0.10000000149011612:f32, 7:u32)\n}"
    );
}

#[test]
fn odd_names_are_quoted() {
    for name in ["jvp(f)", "", "a\"b\\c\nd\t\u{1}é", "_x9", "9x", "fn"] {
        let f = Builder::new().finish(name, vec![]);
        let text = roundtrip(&f);
        assert_eq!(parse_func(&text).map(|g| g.name), Ok(name.to_string()));
    }
    assert_eq!(
        print_func(&Builder::new().finish("jvp(f)", vec![])),
        "fn \"jvp(f)\"() -> () {\n  return ()\n}"
    );
}

/// A chain of conds nested `depth` deep around one `neg`.
fn nested(depth: usize) -> Func {
    fn level(b: &mut Builder, depth: usize, t: &Type) -> Body {
        let p = b.begin_body(std::slice::from_ref(t));
        let r = if depth == 0 {
            emit1(b, Prim::Unary(UnaryOp::Neg), vec![Atom::from(&p[0])])
        } else {
            let then_body = level(b, depth - 1, t);
            let else_body = level(b, 0, t);
            emit1(
                b,
                Prim::Cond {
                    then_body,
                    else_body,
                },
                vec![lit(Scalar::Bool(true)), Atom::from(&p[0])],
            )
        };
        b.end_body(vec![Atom::from(&r)])
    }
    let t = Type::scalar(DType::F64);
    let mut b = Builder::new();
    let x = b.param(t.clone());
    let then_body = level(&mut b, depth - 1, &t);
    let else_body = level(&mut b, 0, &t);
    let r = emit1(
        &mut b,
        Prim::Cond {
            then_body,
            else_body,
        },
        vec![lit(Scalar::Bool(false)), Atom::from(&x)],
    );
    b.finish("deep", vec![Atom::from(&r)])
}

#[test]
fn nesting_depth_is_bounded() {
    let max = nabla_ir::parse::MAX_BODY_DEPTH;
    roundtrip(&nested(max));
    let err = parse_func(&print_func(&nested(max + 1))).expect_err("too deep");
    assert!(err.message.contains("nested"), "{err}");
    // Far deeper than the stack could take if the parser recursed without a bound.
    let deep = format!(
        "fn f() -> () {{ {} }}",
        "() = cond(true:bool) then_body = || { ".repeat(100_000)
    );
    assert!(parse_func(&deep).is_err());
}

// ---------------------------------------------------------------------------------
// Verifier errors

fn var(id: u32, ty: &Type) -> Var {
    Var { id, ty: ty.clone() }
}

fn eqn(prim: Prim, args: Vec<Atom>, outs: Vec<Var>) -> Eqn {
    Eqn {
        prim,
        args,
        outs,
        span: Span::DUMMY,
    }
}

fn func(params: Vec<Var>, eqns: Vec<Eqn>, results: Vec<Atom>) -> Func {
    Func {
        name: "bad".into(),
        body: Body {
            params,
            eqns,
            results,
        },
    }
}

fn verify_err(f: &Func) -> String {
    verify_func(f).expect_err("the function is invalid").message
}

fn add() -> Prim {
    Prim::Binary(BinaryOp::Add)
}

#[test]
fn verify_undefined_variable() {
    let t = Type::new(DType::F64, [3]);
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            add(),
            vec![var(0, &t).into(), var(9, &t).into()],
            vec![var(1, &t)],
        )],
        vec![var(1, &t).into()],
    );
    let msg = verify_err(&f);
    assert!(msg.contains("undefined variable %9"), "{msg}");
    assert!(msg.contains("`%1: f64[3] = add(%0, %9)`"), "{msg}");
    assert!(msg.contains("fn bad, eqn 0"), "{msg}");

    let f = func(vec![var(0, &t)], vec![], vec![var(5, &t).into()]);
    assert!(verify_err(&f).contains("the results of fn bad"));
}

#[test]
fn verify_use_before_definition() {
    let t = Type::new(DType::F64, [3]);
    let f = func(
        vec![var(0, &t)],
        vec![
            eqn(
                add(),
                vec![var(0, &t).into(), var(2, &t).into()],
                vec![var(1, &t)],
            ),
            eqn(
                add(),
                vec![var(0, &t).into(), var(0, &t).into()],
                vec![var(2, &t)],
            ),
        ],
        vec![var(1, &t).into()],
    );
    assert!(verify_err(&f).contains("undefined variable %2"));
}

#[test]
fn verify_duplicate_definition() {
    let t = Type::new(DType::F64, [3]);
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            add(),
            vec![var(0, &t).into(), var(0, &t).into()],
            vec![var(0, &t)],
        )],
        vec![var(0, &t).into()],
    );
    assert!(verify_err(&f).contains("%0 is defined more than once"));

    let f = func(vec![var(0, &t), var(0, &t)], vec![], vec![]);
    assert!(verify_err(&f).contains("defined more than once"));

    // A nested body may not reuse an outer id either: ids are unique function-wide.
    let body = Body {
        params: vec![var(0, &t)],
        eqns: vec![],
        results: vec![var(0, &t).into()],
    };
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            Prim::Cond {
                then_body: body.clone(),
                else_body: body,
            },
            vec![lit(Scalar::Bool(true)), var(0, &t).into()],
            vec![var(1, &t)],
        )],
        vec![var(1, &t).into()],
    );
    let msg = verify_err(&f);
    assert!(msg.contains("%0 is defined more than once"), "{msg}");
    assert!(msg.contains("eqn 0 (cond), then_body"), "{msg}");
}

#[test]
fn verify_outer_reference() {
    let t = Type::new(DType::F64, [3]);
    // then_body uses the function's %0 instead of its own parameter %1.
    let then_body = Body {
        params: vec![var(1, &t)],
        eqns: vec![eqn(
            add(),
            vec![var(1, &t).into(), var(0, &t).into()],
            vec![var(2, &t)],
        )],
        results: vec![var(2, &t).into()],
    };
    let else_body = Body {
        params: vec![var(3, &t)],
        eqns: vec![],
        results: vec![var(3, &t).into()],
    };
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            Prim::Cond {
                then_body,
                else_body,
            },
            vec![lit(Scalar::Bool(true)), var(0, &t).into()],
            vec![var(4, &t)],
        )],
        vec![var(4, &t).into()],
    );
    let msg = verify_err(&f);
    assert!(msg.contains("%0 is not defined in this body"), "{msg}");
    assert!(
        msg.contains("then_body, eqn 0: `%2: f64[3] = add(%1, %0)`"),
        "{msg}"
    );
    // The same mistake in text is a parse error at the use.
    let err = parse_func(&print_func(&f)).expect_err("outer reference");
    assert!(
        err.message.contains("%0 is not defined in this body"),
        "{err}"
    );
    assert_eq!((err.line, err.col), (4, 28), "{err}");
}

#[test]
fn verify_wrong_types() {
    let t = Type::new(DType::F64, [3]);
    let u = Type::new(DType::F32, [3]);
    // Result annotated with a type `infer` does not give.
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            add(),
            vec![var(0, &t).into(), var(0, &t).into()],
            vec![var(1, &u)],
        )],
        vec![var(1, &u).into()],
    );
    let msg = verify_err(&f);
    assert!(
        msg.contains("typed (f32[3]) but add yields (f64[3])"),
        "{msg}"
    );
    // A use carrying a type other than its definition's.
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            Prim::Unary(UnaryOp::Neg),
            vec![var(0, &u).into()],
            vec![var(1, &u)],
        )],
        vec![var(1, &u).into()],
    );
    assert!(verify_err(&f).contains("%0 is used as f32[3] but defined as f64[3]"));
    // An ill-typed equation.
    let f = func(
        vec![var(0, &t), var(1, &u)],
        vec![eqn(
            add(),
            vec![var(0, &t).into(), var(1, &u).into()],
            vec![var(2, &t)],
        )],
        vec![],
    );
    assert!(verify_err(&f).contains("ill-typed equation: add operands differ"));
}

#[test]
fn verify_guards_overflowing_parameters() {
    let t = Type::new(DType::F64, [usize::MAX]);
    let f = func(
        vec![var(0, &t)],
        vec![eqn(
            Prim::Concat { axis: 0 },
            vec![var(0, &t).into(), var(0, &t).into()],
            vec![var(1, &t)],
        )],
        vec![],
    );
    assert!(verify_err(&f).contains("overflow"));
    let s = Type::new(DType::F64, [3]);
    let f = func(
        vec![var(0, &s)],
        vec![eqn(
            Prim::Pad {
                lo: vec![i64::MAX],
                hi: vec![1],
            },
            vec![var(0, &s).into(), lit(Scalar::F64(0.0))],
            vec![var(1, &s)],
        )],
        vec![],
    );
    assert!(verify_err(&f).contains("overflow"));
}

// ---------------------------------------------------------------------------------
// Parser errors

fn parse_err(text: &str) -> (usize, usize, String) {
    let e = parse_func(text).expect_err("invalid IR");
    assert!(e
        .to_string()
        .starts_with(&format!("{}:{}: ", e.line, e.col)));
    (e.line, e.col, e.message)
}

#[test]
fn parse_errors() {
    let head = "fn f(%0: f64[3]) -> (f64[3]) {\n";
    let cases: &[(&str, usize, usize, &str)] = &[
        (
            "  %1: f64[3] = add(%0, %7)\n  return (%1)\n}",
            2,
            24,
            "undefined variable %7",
        ),
        (
            "  %1: f32[3] = add(%0, %0)\n  return (%1)\n}",
            2,
            3,
            "%1 is declared f32[3] but `add` yields f64[3]",
        ),
        (
            "  %0: f64[3] = add(%0, %0)\n  return (%0)\n}",
            2,
            3,
            "%0 is defined more than once",
        ),
        (
            "  %1: f64[3] = frobnicate(%0)\n  return (%1)\n}",
            2,
            16,
            "unknown primitive `frobnicate`",
        ),
        (
            "  %1: f64[3] = rev(%0)\n  return (%1)\n}",
            2,
            16,
            "`rev` needs the parameter `axes`",
        ),
        (
            "  %1: f64[3] = rev[axes=[0], x=1](%0)\n  return (%1)\n}",
            2,
            30,
            "`rev` has no parameter `x`",
        ),
        (
            "  %1: f64[3] = rev[axes=[0], axes=[0]](%0)\n  return (%1)\n}",
            2,
            30,
            "given twice",
        ),
        (
            "  %1: f64[3] = rev[axes=true](%0)\n  return (%1)\n}",
            2,
            25,
            "must be a list",
        ),
        (
            "  %1: f64[3] = mul(%0, 2:f64x)\n  return (%1)\n}",
            2,
            26,
            "unknown dtype `f64x`",
        ),
        (
            "  %1: f64[3] = mul(%0, 2.5:i64)\n  return (%1)\n}",
            2,
            24,
            "not a valid i64 literal",
        ),
        (
            "  %1: f64[3] = mul(%0, 1e999:f64)\n  return (%1)\n}",
            2,
            24,
            "not a valid f64 literal",
        ),
        (
            "  %1: f64[3] = neg(%0)\n  return (%1)\n",
            4,
            1,
            "expected `}`, found the end of the input",
        ),
        (
            "  return (%0)\n  %1: f64[3] = neg(%0)\n}",
            3,
            3,
            "expected `}`",
        ),
        (
            "  %1: f64[3] = neg(%0)\n  }",
            3,
            3,
            "expected an equation or `return`",
        ),
        (
            "  %1: f64[3] = mul(%0, 2.0:f64)\n  return (%1)\n}",
            2,
            16,
            "mul operands differ",
        ),
        (
            "  %1: f64[3] = neg(%0)\n  return (%1)\n} extra",
            4,
            3,
            "expected the end of the input",
        ),
        (
            "  %1: f64[3], %2: f64[3] = neg(%0)\n  return (%1)\n}",
            2,
            28,
            "`neg` yields 1 result(s)",
        ),
        (
            "  %1: f64[3] = neg(%0)\n  return (%0, %1)\n}",
            1,
            18,
            "declared result types",
        ),
        (
            "  %1: f64[] = reduce_sum[axes=[0], compensated=false](%1)\n  return (%0)\n}",
            2,
            55,
            "undefined variable %1",
        ),
        (
            "  %1: f64[2] = constant[value=f64[2]{1.0}]()\n  return (%0)\n}",
            2,
            37,
            "shape [2] has 2 elements",
        ),
        (
            "  %1: f64[3] = neg(%0) $\n",
            2,
            24,
            "unexpected character '$'",
        ),
        ("  %1: f64[3] = neg(%99999999999)\n", 2, 20, "too large"),
        (
            "  %1: f64[3] = add(%0, %0, %0)\n  return (%1)\n}",
            2,
            16,
            "add takes 2 operand(s), got 3",
        ),
    ];
    let mut bad = Vec::new();
    for (body, line, col, msg) in cases {
        let (l, c, m) = parse_err(&format!("{head}{body}"));
        if !m.contains(msg) || (l, c) != (*line, *col) {
            bad.push(format!(
                "{body:?}: expected {line}:{col} {msg:?}, got {l}:{c} {m:?}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(parse_err("").2.contains("expected `fn`"));
    assert!(parse_err("fn \"unterminated").2.contains("unterminated"));
    assert!(parse_err("fn \"a\\q\"() -> () { return () }")
        .2
        .contains("escape"));
}

#[test]
fn parse_ignores_layout() {
    let text = "fn  f (%0:f64[3])->(f64[3]){%1:f64[3]=rev[axes=[0]](%0) return(%1)}";
    let f = parse_func(text).expect("layout is free");
    assert_eq!(
        print_func(&f),
        "fn f(%0: f64[3]) -> (f64[3]) {\n  %1: f64[3] = rev[axes=[0]](%0)\n  return (%1)\n}"
    );
}
