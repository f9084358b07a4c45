//! The parser never panics: random text, token soup, and printed IR with random edits.
//! Whatever it accepts must verify and print back to a fixed point.

mod common;

use std::sync::OnceLock;

use nabla_ir::{parse_body, parse_func, print_func, verify_func};
use proptest::prelude::*;

fn zoo_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| print_func(&common::zoo()))
}

/// Parses `text`; on success the function must verify and re-print stably.
fn check(text: &str) {
    let _ = parse_body(text);
    if let Ok(f) = parse_func(text) {
        if let Err(e) = verify_func(&f) {
            panic!("parsed but does not verify: {e}\n{text}");
        }
        let printed = print_func(&f);
        match parse_func(&printed) {
            Ok(g) => assert_eq!(print_func(&g), printed),
            Err(e) => panic!("reprint does not parse: {e}\n{printed}"),
        }
    }
}

/// Pieces the grammar is made of, so random sequences get past the lexer.
const TOKENS: &[&str] = &[
    "fn",
    "f",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "|",
    "->",
    "%0",
    "%1",
    "%2",
    "%4294967295",
    "f64",
    "f32",
    "i32",
    "u32",
    "bool",
    "i64",
    "return",
    "add",
    "neg",
    "cond",
    "while",
    "scan",
    "constant",
    "value",
    "axes",
    "then_body",
    "else_body",
    "body",
    "true",
    "false",
    "nan",
    "-inf",
    "inf",
    "0",
    "1",
    "-1",
    "2.5",
    "1e300",
    "18446744073709551616",
    " ",
    "\n",
    "\"",
    "\\",
    "reduce_sum",
    "compensated",
    "pad",
    "lo",
    "hi",
    "concat",
    "axis",
];

/// One edit of a text: a deletion, an insertion, a replacement or a splice of a piece
/// of the text elsewhere.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
    Splice(usize, usize, usize),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match e {
            Edit::Delete(at, len) => {
                let at = at % n;
                let end = (at + len % 16).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Replace(at, c) => {
                if !chars.is_empty() {
                    let at = at % chars.len();
                    chars[at] = *c;
                }
            }
            Edit::Splice(from, len, to) => {
                let from = from % n;
                let end = (from + len % 64).min(chars.len());
                let piece: Vec<char> = chars[from.min(end)..end].to_vec();
                let to = to % (chars.len() + 1);
                chars.splice(to..to, piece);
            }
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Edit::Delete(a, l)),
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(a, t)| Edit::Insert(a, t.into())),
        (any::<usize>(), "[0-9%a-z_\\[\\](){}:,=|. -]").prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Edit::Replace(a, c)),
        (any::<usize>(), prop::char::range('0', '9')).prop_map(|(a, c)| Edit::Replace(a, c)),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(f, l, t)| Edit::Splice(f, l, t)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_strings(s in any::<String>()) {
        check(&s);
    }

    #[test]
    fn token_soup(toks in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        check(&toks.join(" "));
        check(&toks.concat());
    }

    #[test]
    fn edited_zoo(edits in prop::collection::vec(edit(), 1..4)) {
        check(&apply(zoo_text(), &edits));
    }
}

/// Every single-character deletion of a small function, exhaustively.
#[test]
fn every_deletion_of_a_small_function() {
    let text = "fn f(%0: f64[2], %1: bool[]) -> (f64[2]) {\n  \
                %2: f64[2] = cond(%1, %0)\n    \
                then_body = |%3: f64[2]| {\n      \
                %4: f64[2] = neg(%3)\n      return (%4)\n    }\n    \
                else_body = |%5: f64[2]| {\n      return (%5)\n    }\n  \
                return (%2)\n}";
    check(text);
    assert!(parse_func(text).is_ok());
    let chars: Vec<char> = text.chars().collect();
    for i in 0..chars.len() {
        let mut c = chars.clone();
        c.remove(i);
        check(&c.into_iter().collect::<String>());
    }
}
