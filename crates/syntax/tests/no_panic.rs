//! Property tests: no input makes the parser panic or hang, and every diagnostic it
//! reports points inside the source.

use nabla_diag::FileId;
use nabla_syntax::parse;
use proptest::prelude::*;
use std::sync::mpsc;
use std::time::Duration;

/// Parses on a separate thread so a hang fails the test instead of stalling it, then
/// checks the diagnostics' spans.
fn check(src: String) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let len = src.len();
    let worker = std::thread::spawn(move || {
        let result = parse(FileId(7), &src);
        let _ = tx.send(result);
    });
    let (tree, diags) = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(TestCaseError::fail("parse did not terminate within 20 s"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = worker.join();
            return Err(TestCaseError::fail("parse panicked"));
        }
    };
    for stmt in &tree.stmts {
        let span = stmt.span;
        prop_assert!(
            span.start <= span.end && span.end as usize <= len,
            "{span:?}"
        );
    }
    for d in &diags {
        let Some(span) = d.primary_span() else {
            return Err(TestCaseError::fail(format!("no primary span: {d:?}")));
        };
        prop_assert!(span.file == FileId(7), "{d:?}");
        prop_assert!(span.start <= span.end, "{d:?}");
        prop_assert!(span.end as usize <= len, "span past the end ({len}): {d:?}");
        prop_assert!(!d.message.is_empty());
    }
    Ok(())
}

/// Texts of valid tokens, so random sequences get deep into the grammar.
const TOKENS: &[&str] = &[
    "x",
    "f",
    "t",
    "_",
    "f64",
    "f32",
    "fn",
    "let",
    "var",
    "use",
    "if",
    "else",
    "for",
    "in",
    "and",
    "or",
    "not",
    "true",
    "false",
    "none",
    "0",
    "1",
    "42",
    "1_000",
    "0.5",
    "1e-3",
    "2.5E10",
    "\"s\"",
    "\"a\\nb\"",
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
    "t.0.1",
    "x.at[0].set(1)",
    "|i, c| {",
    "0..3",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "\n", ""];

const SCRIPT: &str = "use nn\nfn loss(w, x: f64[n, 3], y = 1.0) -> f64 {\n    let s = 2.0 * y - 1.0\n    mean(log1p(exp(-s * (x @ w))))\n}\nvar w = zeros([x.shape[1]])\nfor i in 0..100 {\n    w = w - 0.5 * grad(loss)(w, x, y)\n    if i % 10 == 0 { print(i, loss(w, x, y)) }\n    else { let (a, _) = fori(0, 3, w, |i, c| {\n        c.at[i].set(t.0.1)\n    }) }\n}\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(String::from_utf8_lossy(&bytes).into_owned())?;
    }

    #[test]
    fn random_token_sequences(
        parts in proptest::collection::vec(
            (proptest::sample::select(TOKENS), proptest::sample::select(SEPARATORS)),
            0..120,
        )
    ) {
        let src: String = parts.iter().flat_map(|(t, s)| [*t, *s]).collect();
        check(src)?;
    }

    /// Near-valid programs: a real script with a few byte ranges cut out, which
    /// exercises error recovery more than random text does.
    #[test]
    fn damaged_scripts(cuts in proptest::collection::vec((0..SCRIPT.len(), 1usize..12), 1..4)) {
        let mut src = SCRIPT.as_bytes().to_vec();
        for (at, len) in cuts {
            let at = at.min(src.len());
            let end = (at + len).min(src.len());
            src.drain(at..end);
        }
        check(String::from_utf8_lossy(&src).into_owned())?;
    }
}
