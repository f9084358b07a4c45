//! Property tests: no input makes the embedding API panic, whether it is only checked
//! (`Session::check_source`) or run (`Session::run_source`).
//!
//! Programs are run only when they cannot loop, allocate hugely or write files: the
//! texts given to `run_source` contain no loop keyword or loop builtin and no `save`,
//! and their numbers are small (huge literals appear only in the check-only cases). Each case runs on its own
//! thread with a deadline, so a hang fails the test instead of stalling it.

use std::sync::mpsc;
use std::time::Duration;

use nabla::{Session, Stdout};
use proptest::prelude::*;

fn session() -> Session {
    let mut s = Session::new();
    s.set_stdout(Stdout::Capture);
    s
}

/// Words that make a program loop (or write files); texts containing any of them are
/// only checked.
const NOT_RUN: &[&str] = &["while", "fori", "for", "scan", "timeit", "save"];

/// True when the text may be run: no loops, and no number long enough to size a huge
/// array.
fn safe_to_run(src: &str) -> bool {
    if NOT_RUN.iter().any(|w| src.contains(w)) {
        return false;
    }
    let mut digits = 0;
    for c in src.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits > 2 {
                return false;
            }
        } else if c != '_' {
            digits = 0;
        }
    }
    true
}

/// Checks the pieces of a program, joined, in a fresh session and, when `run` is set,
/// runs them one after another in another session (as a REPL would: a piece that fails
/// does not stop the next). Every failure is rendered too. Runs on a separate thread so
/// a hang fails the case.
fn exercise(pieces: Vec<String>, run: bool) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut s = session();
        let diags = s.check_source("fuzz.nbl", &pieces.concat());
        let _ = s.render(&diags);
        if run {
            let mut s = session();
            for (i, piece) in pieces.iter().enumerate() {
                let r = s.run_source(&format!("fuzz{i}.nbl"), piece);
                if let Err(d) = r {
                    let _ = s.render(&d);
                }
            }
            let _ = s.take_output();
        }
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => Ok(()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(
            "checking or running did not finish within 20 s",
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = worker.join();
            Err(TestCaseError::fail("checking or running panicked"))
        }
    }
}

/// Valid tokens whose programs may be run: no loops, small numbers.
const RUN_TOKENS: &[&str] = &[
    // names, including builtins and stdlib functions
    "x",
    "y",
    "f",
    "t",
    "k",
    "_",
    "sum",
    "mean",
    "max",
    "argmax",
    "zeros",
    "ones",
    "full",
    "reshape",
    "transpose",
    "concat",
    "stack",
    "take",
    "where",
    "arange",
    "linspace",
    "eye",
    "exp",
    "log",
    "sqrt",
    "matmul",
    "dot",
    "einsum",
    "key",
    "split",
    "uniform",
    "normal",
    "randint",
    "grad",
    "vmap",
    "jvp",
    "jit",
    "print",
    "load",
    "load_csv",
    "f64",
    "f32",
    "i64",
    "bool",
    "shape",
    "at",
    "set",
    "add",
    "T",
    "softmax",
    "norm",
    "nn",
    "stats",
    // keywords
    "fn",
    "let",
    "var",
    "use",
    "if",
    "else",
    "in",
    "and",
    "or",
    "not",
    "true",
    "false",
    "none",
    // small numbers
    "0",
    "1",
    "2",
    "3",
    "-1",
    "0.5",
    "1e-3",
    "2.5",
    "1_0",
    // strings
    "\"s\"",
    "\"ij,jk->ik\"",
    "\"a\\nb\"",
    "\"x.npy\"",
    // operators and punctuation
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    ".",
    "..",
    "...",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "@",
    "**",
    "|",
    "->",
    "#c",
    // fragments
    "t.0",
    "x.at[0].set(1)",
    "|a| ",
    "|a, b| {",
    "x.shape[0]",
    "[1.0, 2.0]",
    "[[1, 2], [3, 4]]",
    "(1, 2)",
];

/// Extra tokens for check-only cases: loops and huge numbers.
const CHECK_ONLY_TOKENS: &[&str] = &[
    "for",
    "while",
    "fori",
    "scan",
    "0..3",
    "99999999999999999999",
    "9223372036854775807",
    "1000000000000",
    "1e308",
    "1e999",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "\n", ""];

fn token_text(parts: &[(&str, &str)]) -> String {
    parts.iter().flat_map(|(t, s)| [*t, *s]).collect()
}

fn check_tokens() -> Vec<&'static str> {
    RUN_TOKENS
        .iter()
        .chain(CHECK_ONLY_TOKENS)
        .copied()
        .collect()
}

/// Definitions the generated expressions refer to, so that most names resolve and the
/// programs get past name checking into evaluation and tracing.
const PRELUDE: &str = "use nn
let x = linspace(0.0, 1.0, 3)
let m = reshape(arange(6), [2, 3])
let w = ones([3, 2], dtype=f32)
let n = arange(4)
let b = x > 0.5
let k = key(0)
let t = (x, m)
let s = \"ij,jk->ik\"
let i = 2
fn sq(a) = a * a
";

/// Expression leaves.
const LEAVES: &[&str] = &[
    "x",
    "m",
    "w",
    "n",
    "b",
    "k",
    "t",
    "s",
    "i",
    "sq",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "0.5",
    "2.0",
    "true",
    "none",
    "[1.0, 2.0, 3.0]",
    "[[1, 2], [3, 4]]",
    "[2, 3]",
    "(0, 1)",
    "f32",
    "i64",
    "\"ij,jk->ik\"",
];

/// Functions of the generated calls (no loops, no `timeit`).
const FUNCS: &[&str] = &[
    "sum",
    "mean",
    "prod",
    "max",
    "argmin",
    "all",
    "cumsum",
    "exp",
    "log",
    "sqrt",
    "tanh",
    "abs",
    "erfinv",
    "round",
    "isnan",
    "atan2",
    "maximum",
    "where",
    "reshape",
    "transpose",
    "broadcast_to",
    "expand_dims",
    "squeeze",
    "concat",
    "stack",
    "flip",
    "pad",
    "take",
    "moveaxis",
    "zeros",
    "ones",
    "full",
    "arange",
    "linspace",
    "eye",
    "matmul",
    "dot",
    "einsum",
    "key",
    "split",
    "fold_in",
    "uniform",
    "normal",
    "bernoulli",
    "randint",
    "grad",
    "value_and_grad",
    "jvp",
    "vjp",
    "vmap",
    "jit",
    "stop_gradient",
    "f32",
    "i32",
    "u32",
    "bool",
    "print",
    "sq",
    "softmax",
    "logsumexp",
    "relu",
    "select",
    "sign",
];

/// Transforms, applied to a lambda and then called.
const TRANSFORMS: &[&str] = &["grad", "value_and_grad", "vmap", "jit", "sq"];

const BINOPS: &[&str] = &[
    "+", "-", "*", "/", "//", "%", "@", "==", "!=", "<", ">=", "and", "or",
];

const KWARGS: &[&str] = &[
    "axis=0",
    "axis=-1",
    "axis=(0, 1)",
    "keepdims=true",
    "dtype=f32",
    "dtype=i64",
    "n=2",
    "argnums=1",
    "in_axes=0",
    "accurate=true",
    "lo=0.0",
];

const ATTRS: &[&str] = &[
    ".shape",
    ".T",
    ".0",
    ".1",
    ".ndim",
    ".size",
    ".dtype",
    ".shape[0]",
];

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(xs).prop_map(str::to_string)
}

/// Random expressions over the prelude's names.
fn expr() -> impl Strategy<Value = String> {
    pick(LEAVES).prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| format!("(-{e})")),
            inner.clone().prop_map(|e| format!("(not {e})")),
            (inner.clone(), pick(BINOPS), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|e| format!("({e} ** 2.0)")),
            (
                pick(FUNCS),
                proptest::collection::vec(inner.clone(), 0..4),
                proptest::option::of(pick(KWARGS)),
            )
                .prop_map(|(f, mut args, kw)| {
                    args.extend(kw);
                    format!("{f}({})", args.join(", "))
                }),
            (
                inner.clone(),
                pick(FUNCS),
                proptest::option::of(inner.clone())
            )
                .prop_map(|(e, f, a)| format!("{e}.{f}({})", a.unwrap_or_default())),
            (inner.clone(), inner.clone()).prop_map(|(e, i)| format!("{e}[{i}]")),
            (inner.clone(), inner.clone()).prop_map(|(e, i)| format!("{e}[:, {i}]")),
            (inner.clone(), pick(LEAVES), pick(LEAVES))
                .prop_map(|(e, a, b)| format!("{e}[{a}:{b}]")),
            (inner.clone(), inner.clone()).prop_map(|(e, i)| format!("{e}[..., {i}]")),
            (inner.clone(), pick(ATTRS)).prop_map(|(e, a)| format!("{e}{a}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(e, i, v)| format!("{e}.at[{i}].set({v})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("(if {c} {{ {a} }} else {{ {b} }})")),
            inner.clone().prop_map(|e| format!("(|x| {e})")),
            (pick(TRANSFORMS), inner.clone(), inner.clone())
                .prop_map(|(t, body, arg)| format!("{t}(|x| {body})({arg})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
        ]
    })
}

/// A program over the prelude, in pieces: script-level statements, a traced function
/// and calls of it.
fn program() -> impl Strategy<Value = Vec<String>> {
    (expr(), expr(), expr(), expr(), expr()).prop_map(|(e1, e2, e3, e4, e5)| {
        vec![
            PRELUDE.to_string(),
            format!("let r = {e1}\n"),
            format!("print({e2})\n"),
            format!("fn g(x, m) {{\n    let c = {e3}\n    {e4}\n}}\n"),
            "print(g(x, m))\n".to_string(),
            format!("print(g({e5}, r))\n"),
        ]
    })
}

proptest! {
    // 256 cases each by default; `PROPTEST_CASES` asks for more (or fewer).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        // The failing input is printed; no regression files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        let run = safe_to_run(&src);
        exercise(vec![src], run)?;
    }

    #[test]
    fn random_tokens_checked(
        parts in proptest::collection::vec(
            (proptest::sample::select(check_tokens()), proptest::sample::select(SEPARATORS)),
            0..100,
        )
    ) {
        exercise(vec![token_text(&parts)], false)?;
    }

    #[test]
    fn random_tokens_run(
        parts in proptest::collection::vec(
            (proptest::sample::select(RUN_TOKENS), proptest::sample::select(SEPARATORS)),
            0..100,
        )
    ) {
        let src = token_text(&parts);
        let run = safe_to_run(&src);
        exercise(vec![src], run)?;
    }

    /// Well-formed programs whose expressions are random: these get past the parser
    /// and the name checks into evaluation, tracing and the interpreter.
    #[test]
    fn random_expressions_run(pieces in program()) {
        let run = safe_to_run(&pieces.concat());
        exercise(pieces, run)?;
    }
}
