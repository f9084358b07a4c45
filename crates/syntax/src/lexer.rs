//! The lexer: turns source text into [`Token`]s (newlines included) plus E01xx diagnostics.
//!
//! The raw token shapes are recognised by a `logos` state machine; this module then
//! decodes literal values (integers, floats, string escapes) and reports malformed ones.
//! Lexing never stops at an error: a bad token becomes [`TokenKind::Error`] (or a
//! best-effort literal) so the parser can keep going without cascading complaints.

use logos::Logos;
use nabla_diag::{Code, Diagnostic, FileId, Span};

/// One token of the source, with its byte span.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    // keywords
    Fn,
    Let,
    Var,
    Use,
    If,
    Else,
    For,
    In,
    And,
    Or,
    Not,
    True,
    False,
    None,
    // punctuation
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Colon,
    Semi,
    Dot,
    DotDot,
    Ellipsis,
    Assign,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    SlashSlash,
    Percent,
    At,
    StarStar,
    Pipe,
    Arrow,
    Newline,
    /// Text that could not be lexed; a diagnostic has already been reported for it.
    Error,
    /// End of input (added by the parser, never produced by [`lex`]).
    Eof,
}

impl TokenKind {
    /// How the token is named in "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Int(v) => format!("integer `{v}`"),
            TokenKind::Float(v) => format!("number `{v:?}`"),
            TokenKind::Str(_) => "a string".to_string(),
            TokenKind::Ident(name) => format!("`{name}`"),
            TokenKind::Newline => "end of line".to_string(),
            TokenKind::Eof => "end of file".to_string(),
            TokenKind::Error => "an invalid token".to_string(),
            other => match other.text() {
                Some(text) if other.is_keyword() => format!("keyword `{text}`"),
                Some(text) => format!("`{text}`"),
                None => format!("{other:?}"),
            },
        }
    }

    /// The fixed source text of a keyword or punctuation token.
    pub fn text(&self) -> Option<&'static str> {
        use TokenKind::*;
        Some(match self {
            Fn => "fn",
            Let => "let",
            Var => "var",
            Use => "use",
            If => "if",
            Else => "else",
            For => "for",
            In => "in",
            And => "and",
            Or => "or",
            Not => "not",
            True => "true",
            False => "false",
            None => "none",
            LParen => "(",
            RParen => ")",
            LBracket => "[",
            RBracket => "]",
            LBrace => "{",
            RBrace => "}",
            Comma => ",",
            Colon => ":",
            Semi => ";",
            Dot => ".",
            DotDot => "..",
            Ellipsis => "...",
            Assign => "=",
            EqEq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            SlashSlash => "//",
            Percent => "%",
            At => "@",
            StarStar => "**",
            Pipe => "|",
            Arrow => "->",
            Int(_) | Float(_) | Str(_) | Ident(_) | Newline | Error | Eof => return Option::None,
        })
    }

    pub fn is_keyword(&self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Fn | Let | Var | Use | If | Else | For | In | And | Or | Not | True | False | None
        )
    }
}

/// The token shapes as the state machine sees them; values are decoded afterwards.
#[derive(Logos, Clone, Copy, Debug, PartialEq)]
#[logos(skip r"[ \t\r\f]+")]
// A comment runs to the end of its line, which is exactly what the greedy class reads.
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
enum Raw {
    #[regex(r"[0-9][0-9_]*", priority = 10)]
    Int,
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9][0-9_]*)?", priority = 10)]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9][0-9_]*", priority = 10)]
    Float,
    /// Digits running into letters (`12abc`, `0x1f`, `1e5q`): one bad literal rather
    /// than a number followed by a name, which would confuse the parser.
    #[regex(r"[0-9][0-9_]*(\.[0-9][0-9_]*)?[A-Za-z_][A-Za-z0-9_]*", priority = 1)]
    BadNumber,
    #[token("\"", lex_string)]
    Str(bool),
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[token("fn")]
    Fn,
    #[token("let")]
    Let,
    #[token("var")]
    Var,
    #[token("use")]
    Use,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("none")]
    None,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    #[token("...")]
    Ellipsis,
    #[token("=")]
    Assign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("//")]
    SlashSlash,
    #[token("%")]
    Percent,
    #[token("@")]
    At,
    #[token("**")]
    StarStar,
    #[token("|")]
    Pipe,
    #[token("->")]
    Arrow,
    #[token("\n")]
    Newline,
}

/// Scans a string body after its opening quote; `true` when the closing quote was found.
///
/// A string may not span lines: stopping at the newline keeps an unterminated string
/// from swallowing the rest of the file.
fn lex_string(lex: &mut logos::Lexer<Raw>) -> bool {
    let rest = lex.remainder().as_bytes();
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'"' => {
                lex.bump(i + 1);
                return true;
            }
            b'\n' => break,
            // An escaped newline still ends the string (unterminated), so only skip
            // the escaped byte when it is not one.
            b'\\' if rest.get(i + 1).is_some_and(|b| *b != b'\n') => i += 2,
            _ => i += 1,
        }
    }
    // `i` may overshoot by one after an escape at the very end of the input.
    let len = i.min(rest.len());
    // Stop before a trailing `\r` of a CRLF line ending: it is not string content.
    let len = if rest[..len].ends_with(b"\r") {
        len - 1
    } else {
        len
    };
    lex.bump(len);
    false
}

/// Lexes a whole source text. Never fails: problems are reported as diagnostics and
/// lexing resumes right after them.
pub fn lex(file: FileId, src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diags = Vec::new();
    let mut lexer = Raw::lexer(src);
    // Adjacent unknown characters become one diagnostic (and one Error token).
    let mut bad_run: Option<(usize, usize)> = Option::None;
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let raw = match result {
            Ok(raw) => raw,
            Err(()) => {
                bad_run = match bad_run {
                    Some((start, end)) if end == range.start => Some((start, range.end)),
                    Some(run) => {
                        flush_unknown(file, src, run, &mut tokens, &mut diags);
                        Some((range.start, range.end))
                    }
                    Option::None => Some((range.start, range.end)),
                };
                continue;
            }
        };
        if let Some(run) = bad_run.take() {
            flush_unknown(file, src, run, &mut tokens, &mut diags);
        }
        let span = Span::new(file, range.start, range.end);
        let text = &src[range.clone()];
        let kind = decode(raw, text, span, &mut diags);
        tokens.push(Token { kind, span });
    }
    if let Some(run) = bad_run {
        flush_unknown(file, src, run, &mut tokens, &mut diags);
    }
    (tokens, diags)
}

fn flush_unknown(
    file: FileId,
    src: &str,
    (start, end): (usize, usize),
    tokens: &mut Vec<Token>,
    diags: &mut Vec<Diagnostic>,
) {
    let span = Span::new(file, start, end);
    let text = src.get(start..end).unwrap_or("");
    let shown: String = text.chars().take(16).collect();
    let what = if text.chars().count() == 1 {
        format!("unknown character `{}`", shown.escape_debug())
    } else {
        format!("unknown characters `{}`", shown.escape_debug())
    };
    let mut d = Diagnostic::error(Code::UNKNOWN_CHAR, what).at(span, "not part of any token");
    let hint = match text.chars().next() {
        Some('!') => Some("logical negation is written `not x`; inequality is `!=`"),
        Some('&') => Some("logical and is written `and`"),
        Some('\'') => Some("strings use double quotes: \"…\""),
        Some('^') => Some("powers are written `x ** y`"),
        Some('~') => Some("negation is written `-x` or `not x`"),
        Some('\\') => {
            Some("a line continues on its own when it ends with an operator or inside brackets")
        }
        _ => Option::None,
    };
    if let Some(h) = hint {
        d = d.hint(h);
    }
    diags.push(d);
    tokens.push(Token {
        kind: TokenKind::Error,
        span,
    });
}

fn decode(raw: Raw, text: &str, span: Span, diags: &mut Vec<Diagnostic>) -> TokenKind {
    match raw {
        Raw::Int => {
            let digits: String = text.chars().filter(|c| *c != '_').collect();
            match digits.parse::<i64>() {
                Ok(v) => TokenKind::Int(v),
                Err(_) => {
                    diags.push(
                        Diagnostic::error(
                            Code::INT_OUT_OF_RANGE,
                            format!("integer literal `{text}` does not fit in 64 bits"),
                        )
                        .at(span, "larger than 9223372036854775807")
                        .hint("write it as a float (`1e20`) if an approximate value is enough"),
                    );
                    TokenKind::Int(0)
                }
            }
        }
        Raw::Float => {
            let digits: String = text.chars().filter(|c| *c != '_').collect();
            match digits.parse::<f64>() {
                Ok(v) if v.is_finite() => TokenKind::Float(v),
                _ => {
                    diags.push(
                        Diagnostic::error(
                            Code::BAD_NUMBER,
                            format!("float literal `{text}` is out of range"),
                        )
                        .at(span, "too large for a 64-bit float"),
                    );
                    TokenKind::Float(0.0)
                }
            }
        }
        Raw::BadNumber => {
            let mut d = Diagnostic::error(
                Code::BAD_NUMBER,
                format!("malformed number literal `{text}`"),
            )
            .at(span, "not a valid number");
            d = if text.starts_with("0x") || text.starts_with("0X") {
                d.hint("hexadecimal literals are not supported; write the value in decimal")
            } else {
                d.hint("numbers look like `42`, `1_000`, `0.5` or `1e-3`; put a space or operator between a number and a name")
            };
            diags.push(d);
            if text.contains('.') {
                TokenKind::Float(0.0)
            } else {
                TokenKind::Int(0)
            }
        }
        Raw::Str(terminated) => TokenKind::Str(decode_string(text, terminated, span, diags)),
        Raw::Ident => TokenKind::Ident(text.to_string()),
        Raw::Fn => TokenKind::Fn,
        Raw::Let => TokenKind::Let,
        Raw::Var => TokenKind::Var,
        Raw::Use => TokenKind::Use,
        Raw::If => TokenKind::If,
        Raw::Else => TokenKind::Else,
        Raw::For => TokenKind::For,
        Raw::In => TokenKind::In,
        Raw::And => TokenKind::And,
        Raw::Or => TokenKind::Or,
        Raw::Not => TokenKind::Not,
        Raw::True => TokenKind::True,
        Raw::False => TokenKind::False,
        Raw::None => TokenKind::None,
        Raw::LParen => TokenKind::LParen,
        Raw::RParen => TokenKind::RParen,
        Raw::LBracket => TokenKind::LBracket,
        Raw::RBracket => TokenKind::RBracket,
        Raw::LBrace => TokenKind::LBrace,
        Raw::RBrace => TokenKind::RBrace,
        Raw::Comma => TokenKind::Comma,
        Raw::Colon => TokenKind::Colon,
        Raw::Semi => TokenKind::Semi,
        Raw::Dot => TokenKind::Dot,
        Raw::DotDot => TokenKind::DotDot,
        Raw::Ellipsis => TokenKind::Ellipsis,
        Raw::Assign => TokenKind::Assign,
        Raw::EqEq => TokenKind::EqEq,
        Raw::Ne => TokenKind::Ne,
        Raw::Lt => TokenKind::Lt,
        Raw::Le => TokenKind::Le,
        Raw::Gt => TokenKind::Gt,
        Raw::Ge => TokenKind::Ge,
        Raw::Plus => TokenKind::Plus,
        Raw::Minus => TokenKind::Minus,
        Raw::Star => TokenKind::Star,
        Raw::Slash => TokenKind::Slash,
        Raw::SlashSlash => TokenKind::SlashSlash,
        Raw::Percent => TokenKind::Percent,
        Raw::At => TokenKind::At,
        Raw::StarStar => TokenKind::StarStar,
        Raw::Pipe => TokenKind::Pipe,
        Raw::Arrow => TokenKind::Arrow,
        Raw::Newline => TokenKind::Newline,
    }
}

/// Decodes the escapes of a string token's text (quotes included when present).
fn decode_string(text: &str, terminated: bool, span: Span, diags: &mut Vec<Diagnostic>) -> String {
    let body_start = 1; // the opening quote
    let body_end = if terminated {
        text.len() - 1
    } else {
        text.len()
    };
    let body = text.get(body_start..body_end).unwrap_or("");
    if !terminated {
        diags.push(
            Diagnostic::error(Code::UNTERMINATED_STRING, "unterminated string literal")
                .at(span, "this string has no closing `\"`")
                .hint("close the string with `\"` on the same line; write a newline inside it as `\\n`"),
        );
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, other)) => {
                let start = span.start as usize + body_start + i;
                let esc_span = Span::new(span.file, start, start + 1 + other.len_utf8());
                diags.push(
                    Diagnostic::error(
                        Code::BAD_ESCAPE,
                        format!("unknown escape sequence `\\{}`", other.escape_debug()),
                    )
                    .at(esc_span, "not a valid escape")
                    .hint("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`; write a backslash as `\\\\`"),
                );
                out.push(other);
            }
            // A lone backslash at the end of an unterminated string: the missing
            // quote is already reported.
            Option::None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind as T;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let (toks, diags) = lex(FileId(0), src);
        assert!(
            diags.is_empty(),
            "unexpected diagnostics for {src:?}: {diags:?}"
        );
        toks.into_iter().map(|t| t.kind).collect()
    }

    fn codes(src: &str) -> Vec<&'static str> {
        lex(FileId(0), src)
            .1
            .iter()
            .map(|d| d.code.as_str())
            .collect()
    }

    #[test]
    fn integers_and_floats() {
        assert_eq!(
            kinds("42 1_000_000 1.0 0.5 1e-3 2.5E10 1_000.5 3e+2"),
            vec![
                T::Int(42),
                T::Int(1_000_000),
                T::Float(1.0),
                T::Float(0.5),
                T::Float(1e-3),
                T::Float(2.5e10),
                T::Float(1000.5),
                T::Float(300.0)
            ]
        );
    }

    #[test]
    fn range_is_int_dotdot_int() {
        assert_eq!(kinds("0..100"), vec![T::Int(0), T::DotDot, T::Int(100)]);
        assert_eq!(
            kinds("a...b"),
            vec![T::Ident("a".into()), T::Ellipsis, T::Ident("b".into())]
        );
    }

    #[test]
    fn tuple_fields() {
        assert_eq!(kinds("t.0"), vec![T::Ident("t".into()), T::Dot, T::Int(0)]);
        // `0.1` is one float token; the parser splits it into two tuple indices.
        assert_eq!(
            kinds("t.0.1"),
            vec![T::Ident("t".into()), T::Dot, T::Float(0.1)]
        );
        assert_eq!(
            kinds("t.0.x"),
            vec![
                T::Ident("t".into()),
                T::Dot,
                T::Int(0),
                T::Dot,
                T::Ident("x".into())
            ]
        );
    }

    #[test]
    fn keywords_and_identifiers() {
        assert_eq!(
            kinds("fn let var use if else for in and or not true false none fnx _a _"),
            vec![
                T::Fn,
                T::Let,
                T::Var,
                T::Use,
                T::If,
                T::Else,
                T::For,
                T::In,
                T::And,
                T::Or,
                T::Not,
                T::True,
                T::False,
                T::None,
                T::Ident("fnx".into()),
                T::Ident("_a".into()),
                T::Ident("_".into()),
            ]
        );
    }

    #[test]
    fn punctuation() {
        assert_eq!(
            kinds("( ) [ ] { } , : ; . .. ... = == != < <= > >= + - * / // % @ ** | ->"),
            vec![
                T::LParen,
                T::RParen,
                T::LBracket,
                T::RBracket,
                T::LBrace,
                T::RBrace,
                T::Comma,
                T::Colon,
                T::Semi,
                T::Dot,
                T::DotDot,
                T::Ellipsis,
                T::Assign,
                T::EqEq,
                T::Ne,
                T::Lt,
                T::Le,
                T::Gt,
                T::Ge,
                T::Plus,
                T::Minus,
                T::Star,
                T::Slash,
                T::SlashSlash,
                T::Percent,
                T::At,
                T::StarStar,
                T::Pipe,
                T::Arrow
            ]
        );
        // `::` is two colons, so `x[::2]` needs no special token.
        assert_eq!(
            kinds("x[::2]"),
            vec![
                T::Ident("x".into()),
                T::LBracket,
                T::Colon,
                T::Colon,
                T::Int(2),
                T::RBracket
            ]
        );
        assert_eq!(kinds("||"), vec![T::Pipe, T::Pipe]);
    }

    #[test]
    fn comments_and_newlines() {
        assert_eq!(
            kinds("a # comment ( [\r\nb"),
            vec![T::Ident("a".into()), T::Newline, T::Ident("b".into())]
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            kinds(r#""a\"b\\c\nd\te" """#),
            vec![T::Str("a\"b\\c\nd\te".into()), T::Str(String::new())]
        );
        assert_eq!(
            kinds("\"é # not a comment\""),
            vec![T::Str("é # not a comment".into())]
        );
    }

    #[test]
    fn string_errors() {
        assert_eq!(codes(r#""a\qb""#), vec!["E0103"]);
        let (toks, diags) = lex(FileId(0), "\"abc\nx");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::UNTERMINATED_STRING);
        // The string stops at the end of its line, so the next line lexes normally.
        assert_eq!(
            toks.into_iter().map(|t| t.kind).collect::<Vec<_>>(),
            vec![T::Str("abc".into()), T::Newline, T::Ident("x".into())]
        );
        assert_eq!(codes("\"abc\\"), vec!["E0102"]);
        assert_eq!(codes("\"abc\\\n\""), vec!["E0102", "E0102"]);
        // The bad escape's span covers exactly `\q`.
        let (_, diags) = lex(FileId(0), r#"x = "ab\qc""#);
        assert_eq!(
            diags[0].primary_span().map(|s| (s.start, s.end)),
            Some((7, 9))
        );
    }

    #[test]
    fn number_errors() {
        assert_eq!(codes("99999999999999999999"), vec!["E0104"]);
        assert_eq!(codes("9223372036854775807"), Vec::<&str>::new());
        assert_eq!(codes("12abc"), vec!["E0105"]);
        assert_eq!(codes("0x1f"), vec!["E0105"]);
        assert_eq!(codes("1e999"), vec!["E0105"]);
        let (toks, _) = lex(FileId(0), "99999999999999999999 + 1");
        assert_eq!(toks[0].kind, T::Int(0));
        assert_eq!(toks.len(), 3);
    }

    #[test]
    fn unknown_characters_are_reported_once_per_run() {
        let (toks, diags) = lex(FileId(0), "a $$ b ! c €");
        assert_eq!(diags.len(), 3, "{diags:?}");
        assert!(diags.iter().all(|d| d.code == Code::UNKNOWN_CHAR));
        assert!(diags[1].hint.as_deref().unwrap_or("").contains("not"));
        let spans: Vec<_> = diags
            .iter()
            .filter_map(|d| d.primary_span())
            .map(|s| (s.start, s.end))
            .collect();
        assert_eq!(spans, vec![(2, 4), (7, 8), (11, 14)]);
        assert_eq!(
            toks.into_iter().map(|t| t.kind).collect::<Vec<_>>(),
            vec![
                T::Ident("a".into()),
                T::Error,
                T::Ident("b".into()),
                T::Error,
                T::Ident("c".into()),
                T::Error
            ]
        );
    }

    #[test]
    fn spans_are_byte_ranges() {
        let (toks, _) = lex(FileId(3), "ab  1.5\n");
        let spans: Vec<_> = toks.iter().map(|t| (t.span.start, t.span.end)).collect();
        assert_eq!(spans, vec![(0, 2), (4, 7), (7, 8)]);
        assert!(toks.iter().all(|t| t.span.file == FileId(3)));
    }
}
