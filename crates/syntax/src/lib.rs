//! The Nabla front end: lexer, parser and syntax tree (this crate owns source text → AST).
//!
//! [`parse`] always returns a tree (partial where the source is malformed) together with
//! every diagnostic it found, so one run reports all the syntax errors of a file.

pub mod ast;
pub mod lexer;
mod parser;

pub use lexer::{lex, Token, TokenKind};

use nabla_diag::{Code, Diagnostic, FileId, Span};

/// Parses a whole file. The tree holds every statement that parsed; the diagnostics
/// (lexical and syntactic, in source order) say what was wrong elsewhere.
pub fn parse(file: FileId, src: &str) -> (ast::File, Vec<Diagnostic>) {
    let (tokens, mut diags) = lex(file, src);
    let mut parser = parser::Parser::new(file, src, tokens);
    let tree = parser.parse_file();
    diags.extend(parser.into_diags());
    sort_by_position(&mut diags);
    (tree, diags)
}

/// Parses a source text that must be exactly one expression (command-line arguments,
/// tests). Any diagnostic, even one the parser recovered from, makes it an error.
pub fn parse_expr(file: FileId, src: &str) -> Result<ast::Expr, Vec<Diagnostic>> {
    let (tokens, mut diags) = lex(file, src);
    let mut parser = parser::Parser::new(file, src, tokens);
    let result = parser.parse_whole_expr();
    diags.extend(parser.into_diags());
    sort_by_position(&mut diags);
    match result {
        Ok(expr) if diags.is_empty() => Ok(expr),
        _ => {
            if diags.is_empty() {
                // A failure is always reported; keep the error list non-empty regardless.
                let end = src.len();
                diags.push(
                    Diagnostic::error(Code::UNEXPECTED_TOKEN, "expected an expression")
                        .at(Span::new(file, end, end), "here"),
                );
            }
            Err(diags)
        }
    }
}

/// Lexer and parser diagnostics interleaved by where they point, so they read top to
/// bottom like the file (a stable sort keeps each position's order of discovery).
fn sort_by_position(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| d.primary_span().map_or(u32::MAX, |s| s.start));
}
