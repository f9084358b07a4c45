//! The parser's machinery: token cursor, newline significance, error reporting and recovery.
//!
//! The grammar itself lives in `stmt.rs` (statements, blocks, patterns, annotations) and
//! `expr.rs` (expressions by precedence). Errors are reported into `Parser::diags` at
//! the point they are found and then propagate as [`Fail`] up to the nearest statement
//! loop, which skips to the next statement boundary and carries on.

mod expr;
mod stmt;
#[cfg(test)]
mod tests;

use crate::ast;
use crate::lexer::{Token, TokenKind};
use nabla_diag::{Code, Diagnostic, FileId, Span};

/// How deeply expressions, blocks, patterns and annotations may nest. Deeper input is
/// reported instead of recursing further, so no input can overflow the stack.
const MAX_DEPTH: u32 = 256;

/// Marker that an error has been reported and the current construct was abandoned.
#[derive(Debug)]
pub(crate) struct Fail;

pub(crate) type PResult<T> = Result<T, Fail>;

/// Whether newlines are statement separators (inside `{}` and at top level) or plain
/// whitespace (inside `()` and `[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Lines,
    Ignore,
}

/// An open bracket the parser is inside of: its newline mode, and what closes it.
#[derive(Clone, Debug)]
struct Frame {
    mode: Mode,
    open: Span,
    close: TokenKind,
}

pub(crate) struct Parser<'s> {
    src: &'s str,
    file: FileId,
    /// Ends with exactly one `Eof` token.
    toks: Vec<Token>,
    pos: usize,
    frames: Vec<Frame>,
    /// The last consumed token other than a newline: decides line continuation and
    /// where the node being built ends.
    prev: Option<usize>,
    diags: Vec<Diagnostic>,
    depth: u32,
    /// > 0 inside a `fn` body or a lambda, where script-only statements are errors.
    fn_depth: u32,
    /// Once one error has been reported at end of file, further "unclosed …" errors
    /// there are consequences of it and only add noise.
    eof_reported: bool,
}

impl<'s> Parser<'s> {
    pub(crate) fn new(file: FileId, src: &'s str, mut toks: Vec<Token>) -> Parser<'s> {
        let end = src.len();
        toks.push(Token {
            kind: TokenKind::Eof,
            span: Span::new(file, end, end),
        });
        Parser {
            src,
            file,
            toks,
            pos: 0,
            frames: Vec::new(),
            prev: None,
            diags: Vec::new(),
            depth: 0,
            fn_depth: 0,
            eof_reported: false,
        }
    }

    pub(crate) fn into_diags(self) -> Vec<Diagnostic> {
        self.diags
    }

    // ----- cursor -------------------------------------------------------------------

    fn newlines_ignored(&self) -> bool {
        let in_brackets = self.frames.last().is_some_and(|f| f.mode == Mode::Ignore);
        let continued = self
            .prev
            .is_some_and(|i| continues_line(&self.toks[i].kind));
        in_brackets || continued
    }

    /// Moves past newlines that are not significant here. Lazy, so it always sees the
    /// current bracket mode and the token consumed last.
    fn skip_newlines(&mut self) {
        if self.newlines_ignored() {
            while self.toks[self.pos].kind == TokenKind::Newline {
                self.pos += 1;
            }
        }
    }

    fn peek(&mut self) -> &TokenKind {
        self.skip_newlines();
        &self.toks[self.pos].kind
    }

    fn peek_span(&mut self) -> Span {
        self.skip_newlines();
        self.toks[self.pos].span
    }

    fn at(&mut self, kind: &TokenKind) -> bool {
        self.peek() == kind
    }

    /// The kind of the token after the current one, with the same newline rules.
    fn peek_second(&mut self) -> &TokenKind {
        self.skip_newlines();
        let cur = self.pos;
        if self.toks[cur].kind == TokenKind::Eof {
            return &self.toks[cur].kind;
        }
        let mut i = cur + 1;
        let in_brackets = self.frames.last().is_some_and(|f| f.mode == Mode::Ignore);
        if in_brackets || continues_line(&self.toks[cur].kind) {
            // Terminates: the token list ends with `Eof`.
            while self.toks[i].kind == TokenKind::Newline {
                i += 1;
            }
        }
        &self.toks[i].kind
    }

    fn bump(&mut self) -> Token {
        self.skip_newlines();
        let tok = self.toks[self.pos].clone();
        if tok.kind != TokenKind::Eof {
            if tok.kind != TokenKind::Newline {
                self.prev = Some(self.pos);
            }
            self.pos += 1;
        }
        tok
    }

    fn eat(&mut self, kind: &TokenKind) -> Option<Span> {
        if self.at(kind) {
            Some(self.bump().span)
        } else {
            None
        }
    }

    fn expect(&mut self, kind: &TokenKind, expected: &str) -> PResult<Span> {
        match self.eat(kind) {
            Some(span) => Ok(span),
            None => Err(self.unexpected(expected)),
        }
    }

    /// The span of the last consumed token (where the node being built ends).
    fn prev_span(&self) -> Span {
        match self.prev {
            Some(i) => self.toks[i].span,
            None => Span::new(self.file, 0, 0),
        }
    }

    /// The span from `start` to the end of the last consumed token.
    fn span_from(&self, start: Span) -> Span {
        start.to(self.prev_span())
    }

    fn text(&self, span: Span) -> &'s str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    // ----- brackets -----------------------------------------------------------------

    /// Consumes an opening bracket and enters its newline mode.
    fn open(&mut self, close: TokenKind, mode: Mode) -> Span {
        let open = self.bump().span;
        self.frames.push(Frame { mode, open, close });
        open
    }

    /// Consumes the closing bracket of the innermost frame; `expected` describes what
    /// else could have come here, for the error message.
    fn close(&mut self, expected: &str) -> PResult<Span> {
        let Some(frame) = self.frames.last().cloned() else {
            // Invariant: `close` is only called after a matching `open`.
            return Err(self.unexpected(expected));
        };
        if self.at(&frame.close) {
            // Pop before consuming, so newlines after the bracket follow the outer mode.
            self.frames.pop();
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(expected))
        }
    }

    // ----- errors -------------------------------------------------------------------

    fn report(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// Reports that the current token is not what the grammar wants (E0201), or that a
    /// bracket was left open (E0202) when the token shows the bracket cannot continue.
    fn unexpected(&mut self, expected: &str) -> Fail {
        self.unexpected_hinted(expected, None)
    }

    fn unexpected_hinted(&mut self, expected: &str, hint: Option<&str>) -> Fail {
        self.skip_newlines();
        let tok = self.toks[self.pos].clone();
        if tok.kind == TokenKind::Error {
            // The lexer has already reported this text.
            return Fail;
        }
        if tok.kind == TokenKind::Eof {
            if self.eof_reported {
                return Fail;
            }
            self.eof_reported = true;
        }
        if let Some(frame) = self.frames.last().cloned() {
            if self.cannot_continue_bracket(&tok, &frame) {
                let close = frame.close.text().unwrap_or("?");
                let open = self.text(frame.open).to_string();
                let diag =
                    Diagnostic::error(Code::UNCLOSED_DELIMITER, format!("unclosed `{open}`"))
                        .at(
                            tok.span,
                            format!("expected `{close}` before {}", tok.kind.describe()),
                        )
                        .also(frame.open, format!("`{open}` opened here"))
                        .hint(format!("add the missing `{close}`"));
                self.report(diag);
                return Fail;
            }
        }
        let found = match tok.kind {
            // As written: `1e-3` rather than its value `0.001`.
            TokenKind::Int(_) | TokenKind::Float(_) => format!("number `{}`", self.text(tok.span)),
            _ => tok.kind.describe(),
        };
        let mut diag = Diagnostic::error(
            Code::UNEXPECTED_TOKEN,
            format!("expected {expected}, found {found}"),
        )
        .at(tok.span, format!("expected {expected}"));
        let continued = self.after_continuation().then(|| {
            let prev = self.prev.map(|i| self.toks[i].kind.describe());
            format!(
                "the line before ends with {}, so the expression continues on this line",
                prev.unwrap_or_default()
            )
        });
        // A new line inside `(`/`[` that does not continue the list: most likely the
        // closing bracket was forgotten, so show where the bracket opened.
        let mut unclosed = None;
        if let Some(frame) = self.frames.last() {
            if frame.mode == Mode::Ignore && continued.is_none() && self.starts_line(self.pos) {
                let open = self.text(frame.open).to_string();
                let close = frame.close.text().unwrap_or("?");
                diag = diag.also(frame.open, format!("`{open}` opened here"));
                unclosed = Some(format!(
                    "is a `{close}` missing at the end of the line before?"
                ));
            }
        }
        let hint = hint
            .map(str::to_string)
            .or(continued)
            .or(unclosed)
            .or_else(|| token_hint(&tok.kind).map(str::to_string));
        if let Some(hint) = hint {
            diag = diag.hint(hint);
        }
        self.report(diag);
        Fail
    }

    /// True when `tok` shows that the bracket of `frame` was never closed: the file
    /// ended, a different closing bracket came, or a new statement started on a new
    /// line inside `()`/`[]`.
    fn cannot_continue_bracket(&self, tok: &Token, frame: &Frame) -> bool {
        match &tok.kind {
            TokenKind::Eof => true,
            TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => tok.kind != frame.close,
            TokenKind::Fn | TokenKind::Let | TokenKind::Var | TokenKind::Use | TokenKind::For => {
                frame.mode == Mode::Ignore && self.starts_line(self.pos)
            }
            _ => false,
        }
    }

    /// Whether the current token begins a line that continues the previous one
    /// because that line ended with an operator (a common cause of confusing errors).
    fn after_continuation(&mut self) -> bool {
        self.skip_newlines();
        self.starts_line(self.pos)
            && self
                .prev
                .is_some_and(|i| i + 1 < self.pos && continues_line(&self.toks[i].kind))
    }

    fn starts_line(&self, i: usize) -> bool {
        i > 0 && self.toks[i - 1].kind == TokenKind::Newline
    }

    /// Enters one nesting level, refusing to go past [`MAX_DEPTH`]. Every successful
    /// `enter` is paired with a `leave` by the caller, on error paths too.
    fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            self.too_deep();
            return Err(Fail);
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&mut self) {
        let span = self.peek_span();
        self.report(
            Diagnostic::error(Code::UNEXPECTED_TOKEN, "expression nested too deeply")
                .at(span, format!("more than {MAX_DEPTH} levels of nesting"))
                .hint("split the expression into smaller parts bound with `let`"),
        );
    }

    /// Runs `f` as a function body, where script-only statements are not allowed.
    fn in_function<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.fn_depth += 1;
        let result = f(self);
        self.fn_depth -= 1;
        result
    }

    // ----- recovery -----------------------------------------------------------------

    /// After a failed statement: drops the brackets it left open, then skips to the
    /// next statement boundary (a newline or `;` outside brackets, a `}` closing the
    /// enclosing block, or a statement keyword starting a line). Guarantees progress
    /// past `stmt_start` so statement loops cannot spin.
    fn recover(&mut self, frames: usize, stmt_start: usize, in_block: bool) {
        self.frames.truncate(frames);
        let mut depth = 0usize;
        loop {
            let kind = &self.toks[self.pos].kind;
            match kind {
                TokenKind::Eof => break,
                TokenKind::Newline | TokenKind::Semi if depth == 0 => break,
                TokenKind::RBrace if depth == 0 && in_block => break,
                TokenKind::Fn
                | TokenKind::Let
                | TokenKind::Var
                | TokenKind::Use
                | TokenKind::For
                    if depth == 0 && self.pos > stmt_start && self.starts_line(self.pos) =>
                {
                    break
                }
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => depth += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                    depth = depth.saturating_sub(1)
                }
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == stmt_start && self.toks[self.pos].kind != TokenKind::Eof {
            let stop_here = in_block && self.toks[self.pos].kind == TokenKind::RBrace;
            if !stop_here {
                self.pos += 1;
            }
        }
        // Whatever was consumed last belongs to the abandoned statement; it must not
        // make the next newline look like a line continuation.
        self.prev = None;
    }

    // ----- entry points -------------------------------------------------------------

    pub(crate) fn parse_file(&mut self) -> ast::File {
        let mut stmts = Vec::new();
        loop {
            match self.peek() {
                TokenKind::Newline | TokenKind::Semi => {
                    self.bump();
                    continue;
                }
                TokenKind::Eof => break,
                TokenKind::RBrace => {
                    let span = self.bump().span;
                    self.report(
                        Diagnostic::error(Code::UNEXPECTED_TOKEN, "unmatched `}`")
                            .at(span, "no `{` is open here")
                            .hint("remove it, or add the `{` it was meant to close"),
                    );
                    continue;
                }
                _ => {}
            }
            let start = self.pos;
            match self.stmt() {
                Ok(stmt) => {
                    stmts.push(stmt);
                    if !self.at_stmt_end() {
                        self.end_of_statement_error(stmts.last());
                        self.recover(0, start, false);
                    }
                }
                Err(Fail) => self.recover(0, start, false),
            }
        }
        ast::File { stmts }
    }

    /// Parses a single expression filling the whole input.
    pub(crate) fn parse_whole_expr(&mut self) -> PResult<ast::Expr> {
        while self.at(&TokenKind::Newline) {
            self.bump();
        }
        let expr = self.expr()?;
        while matches!(self.peek(), TokenKind::Newline | TokenKind::Semi) {
            self.bump();
        }
        if !self.at(&TokenKind::Eof) {
            return Err(self.unexpected("end of input after the expression"));
        }
        Ok(expr)
    }

    /// Whether the statement just parsed is properly terminated. A `}` counts: inside a
    /// block it closes the block, at top level the loop reports it as unmatched.
    fn at_stmt_end(&mut self) -> bool {
        matches!(
            self.peek(),
            TokenKind::Newline | TokenKind::Semi | TokenKind::Eof | TokenKind::RBrace
        )
    }

    fn end_of_statement_error(&mut self, last: Option<&ast::Stmt>) {
        let value = last.and_then(|s| match &s.kind {
            ast::StmtKind::Expr(value)
            | ast::StmtKind::Let { value, .. }
            | ast::StmtKind::Var { value, .. }
            | ast::StmtKind::Assign { value, .. } => Some(value),
            _ => None,
        });
        let ends_in_if = matches!(
            value,
            Some(ast::Expr {
                kind: ast::ExprKind::If { .. },
                ..
            })
        );
        let is_operator = binop_of(self.peek()).is_some();
        if ends_in_if && is_operator {
            let span = self.peek_span();
            self.report(
                Diagnostic::error(
                    Code::UNEXPECTED_TOKEN,
                    format!(
                        "expected end of statement, found {}",
                        self.toks[self.pos].kind.describe()
                    ),
                )
                .at(
                    span,
                    "an `if` expression cannot be the left operand of an operator",
                )
                .hint("wrap the `if` expression in parentheses: `(if c { a } else { b }) + 1`"),
            );
            return;
        }
        self.unexpected_hinted(
            "end of statement",
            Some("separate statements with a newline or `;`"),
        );
    }
}

/// Tokens after which a line break does not end the statement: binary operators and
/// anything else that cannot end an expression.
fn continues_line(kind: &TokenKind) -> bool {
    use TokenKind::*;
    matches!(
        kind,
        Plus | Minus
            | Star
            | Slash
            | SlashSlash
            | Percent
            | At
            | StarStar
            | EqEq
            | Ne
            | Lt
            | Le
            | Gt
            | Ge
            | And
            | Or
            | Not
            | Assign
            | Comma
            | Arrow
            | Pipe
            | Colon
            | Dot
            | DotDot
            | In
            | Else
            | LParen
            | LBracket
    )
}

/// The binary operator a token stands for, with its precedence level (LANGUAGE.md §4).
pub(crate) fn binop_of(kind: &TokenKind) -> Option<(ast::BinOp, u8)> {
    use ast::BinOp as B;
    use TokenKind as T;
    Some(match kind {
        T::Or => (B::Or, PREC_OR),
        T::And => (B::And, PREC_AND),
        T::EqEq => (B::Eq, PREC_CMP),
        T::Ne => (B::Ne, PREC_CMP),
        T::Lt => (B::Lt, PREC_CMP),
        T::Le => (B::Le, PREC_CMP),
        T::Gt => (B::Gt, PREC_CMP),
        T::Ge => (B::Ge, PREC_CMP),
        T::Plus => (B::Add, PREC_ADD),
        T::Minus => (B::Sub, PREC_ADD),
        T::Star => (B::Mul, PREC_MUL),
        T::Slash => (B::Div, PREC_MUL),
        T::SlashSlash => (B::FloorDiv, PREC_MUL),
        T::Percent => (B::Mod, PREC_MUL),
        T::At => (B::MatMul, PREC_MATMUL),
        T::StarStar => (B::Pow, PREC_POW),
        _ => return None,
    })
}

pub(crate) const PREC_OR: u8 = 2;
pub(crate) const PREC_AND: u8 = 3;
pub(crate) const PREC_NOT: u8 = 4;
pub(crate) const PREC_CMP: u8 = 5;
pub(crate) const PREC_ADD: u8 = 6;
pub(crate) const PREC_MUL: u8 = 7;
pub(crate) const PREC_MATMUL: u8 = 8;
pub(crate) const PREC_NEG: u8 = 9;
pub(crate) const PREC_POW: u8 = 10;

/// Hints for tokens that users coming from other languages tend to write.
fn token_hint(kind: &TokenKind) -> Option<&'static str> {
    match kind {
        TokenKind::Semi => None,
        TokenKind::Ellipsis => Some("`...` is only valid inside an index: `x[..., 0]`"),
        TokenKind::DotDot => {
            Some("ranges `a..b` only appear in `for i in a..b`; slices are written `x[a:b]`")
        }
        _ => None,
    }
}
