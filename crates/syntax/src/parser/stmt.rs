//! Statements, blocks, `fn` items, `let` patterns and type annotations (LANGUAGE.md §3).

use super::expr::block_expr;
use super::{Fail, Mode, PResult, Parser, PREC_OR};
use crate::ast::{
    Block, Dim, Expr, ExprKind, FnDef, Ident, IndexItem, Pattern, Stmt, StmtKind, TypeAnn,
    UseTarget,
};
use crate::lexer::TokenKind as T;
use nabla_diag::{Code, Diagnostic, Span};

impl Parser<'_> {
    pub(super) fn stmt(&mut self) -> PResult<Stmt> {
        let second = self.peek_second().clone();
        match self.peek() {
            T::Fn => self.fn_def(),
            T::Use => self.use_stmt(),
            T::Let => self.let_stmt(),
            T::For => self.for_stmt(),
            // `var(x)` is a call of stdlib `var`, not a declaration.
            T::Var if matches!(second, T::Ident(_)) => self.var_stmt(),
            T::Ident(_) if second == T::Assign => self.assign_stmt(),
            _ => self.expr_stmt(),
        }
    }

    /// `{ stmt* expr? }`: a final expression statement without `;` is the block's value.
    pub(super) fn block(&mut self) -> PResult<Block> {
        self.enter()?;
        let result = self.block_inner();
        self.leave();
        result
    }

    fn block_inner(&mut self) -> PResult<Block> {
        let open = self.open(T::RBrace, Mode::Lines);
        let frames = self.frames.len();
        let mut stmts: Vec<Stmt> = Vec::new();
        // Whether the last statement was closed by `;` (then it is not the tail).
        let mut last_closed = false;
        let end = loop {
            match self.peek() {
                T::Newline => {
                    self.bump();
                    continue;
                }
                T::Semi => {
                    self.bump();
                    last_closed = true;
                    continue;
                }
                T::RBrace => {
                    self.frames.pop();
                    break self.bump().span;
                }
                T::Eof => {
                    self.frames.pop();
                    self.unclosed_block(open);
                    // The block runs to the end of the file.
                    break self.peek_span();
                }
                _ => {}
            }
            let start = self.pos;
            last_closed = false;
            match self.stmt() {
                Ok(stmt) => {
                    stmts.push(stmt);
                    if !self.at_stmt_end() {
                        self.end_of_statement_error(stmts.last());
                        self.recover(frames, start, true);
                    }
                }
                Err(Fail) => self.recover(frames, start, true),
            }
        };
        let tail = match stmts.last() {
            Some(Stmt {
                kind: StmtKind::Expr(_),
                ..
            }) if !last_closed => match stmts.pop() {
                Some(Stmt {
                    kind: StmtKind::Expr(e),
                    ..
                }) => Some(Box::new(e)),
                _ => None,
            },
            _ => None,
        };
        Ok(Block {
            stmts,
            tail,
            span: open.to(end),
        })
    }

    #[cold]
    #[inline(never)]
    fn unclosed_block(&mut self, open: Span) {
        if self.eof_reported {
            return;
        }
        self.eof_reported = true;
        let eof = self.peek_span();
        self.report(
            Diagnostic::error(Code::UNCLOSED_DELIMITER, "unclosed `{`")
                .at(eof, "expected `}` before the end of the file")
                .also(open, "`{` opened here")
                .hint("add the missing `}`"),
        );
    }

    /// `fn name(params) -> ann = expr` or `fn name(params) -> ann { … }`.
    fn fn_def(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `fn`
        let name_span = self.peek_span();
        let name = match self.peek().clone() {
            T::Ident(name) => name,
            // stdlib `stats` defines `var`, which is also a keyword.
            T::Var => "var".to_string(),
            _ => return Err(self.unexpected("a function name after `fn`")),
        };
        self.bump();
        let name = Ident {
            name,
            span: name_span,
        };
        if !self.at(&T::LParen) {
            return Err(self.unexpected_hinted(
                "`(` to start the parameter list",
                Some("functions are defined as `fn name(x, y) = expr` or `fn name(x) { … }`"),
            ));
        }
        self.open(T::RParen, Mode::Ignore);
        let mut params = Vec::new();
        while !self.at(&T::RParen) {
            params.push(self.param(false)?);
            if self.eat(&T::Comma).is_none() {
                break;
            }
        }
        self.close("`,` or `)` in the parameter list")?;
        let ret = if self.eat(&T::Arrow).is_some() {
            Some(self.type_ann()?)
        } else {
            None
        };
        let body = if self.eat(&T::Assign).is_some() {
            self.in_function(|p| p.expr())?
        } else if self.at(&T::LBrace) {
            block_expr(self.in_function(|p| p.block())?)
        } else {
            return Err(self.unexpected_hinted(
                "`=` or `{` to start the function body",
                Some("write `fn f(x) = expr` for one expression or `fn f(x) { … }` for a block"),
            ));
        };
        let span = self.span_from(start);
        Ok(Stmt {
            kind: StmtKind::Fn(FnDef {
                name,
                params,
                ret,
                body,
                span,
            }),
            span,
        })
    }

    /// `use name` or `use "rel/path.nbl"`.
    fn use_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `use`
        let span = self.peek_span();
        let target =
            match self.peek().clone() {
                T::Ident(name) => UseTarget::Module(Ident { name, span }),
                T::Str(path) => UseTarget::Path { path, span },
                _ => return Err(self.unexpected_hinted(
                    "a module name or a quoted file path after `use`",
                    Some("write `use nn` for a stdlib module or `use \"lib/util.nbl\"` for a file"),
                )),
            };
        self.bump();
        Ok(Stmt {
            kind: StmtKind::Use(target),
            span: self.span_from(start),
        })
    }

    /// `let pat = expr`.
    fn let_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `let`
        let pat = self.pattern()?;
        if !self.at(&T::Assign) {
            return Err(self.after_pattern_error(&pat));
        }
        self.bump();
        let value = self.expr()?;
        Ok(Stmt {
            kind: StmtKind::Let { pat, value },
            span: self.span_from(start),
        })
    }

    fn after_pattern_error(&mut self, pat: &Pattern) -> Fail {
        let span = self.peek_span();
        match (self.peek(), pat) {
            (T::LParen, Pattern::Name(name)) => {
                let hint = format!("define a function with `fn {}(…) = …`", name.name);
                self.report(
                    Diagnostic::error(Code::BAD_PATTERN, "`let` cannot define a function")
                        .at(span, "a `let` pattern is a name, `_` or a tuple")
                        .also(name.span, "binding this name")
                        .hint(hint),
                );
                Fail
            }
            (T::Dot | T::LBracket, _) => {
                self.report(
                    Diagnostic::error(
                        Code::BAD_PATTERN,
                        "`let` binds names, not fields or elements",
                    )
                    .at(span, "a `let` pattern is a name, `_` or a tuple")
                    .hint("arrays are immutable: bind a new array, e.g. `let y = x.at[0].set(1)`"),
                );
                Fail
            }
            (T::Colon, _) => self.unexpected_hinted(
                "`=` after the `let` pattern",
                Some(
                    "`let` bindings take no type annotation; annotate function parameters instead",
                ),
            ),
            _ => self.unexpected("`=` after the `let` pattern"),
        }
    }

    /// `name`, `_` or `(pat, pat, …)`; `(pat)` is just `pat`.
    fn pattern(&mut self) -> PResult<Pattern> {
        self.enter()?;
        let result = self.pattern_inner();
        self.leave();
        result
    }

    fn pattern_inner(&mut self) -> PResult<Pattern> {
        let span = self.peek_span();
        match self.peek().clone() {
            T::Ident(name) => {
                self.bump();
                if name == "_" {
                    Ok(Pattern::Wildcard(span))
                } else {
                    Ok(Pattern::Name(Ident { name, span }))
                }
            }
            T::LParen => {
                let open = self.open(T::RParen, Mode::Ignore);
                let mut elems = Vec::new();
                let mut trailing_comma = false;
                while !self.at(&T::RParen) {
                    elems.push(self.pattern()?);
                    trailing_comma = self.eat(&T::Comma).is_some();
                    if !trailing_comma {
                        break;
                    }
                }
                let close = self.close("`,` or `)` in the tuple pattern")?;
                if elems.len() == 1 && !trailing_comma {
                    if let Some(only) = elems.pop() {
                        return Ok(only);
                    }
                }
                Ok(Pattern::Tuple(elems, open.to(close)))
            }
            other => {
                let found = other.describe();
                if other == T::Error {
                    return Err(Fail);
                }
                self.report(
                    Diagnostic::error(
                        Code::BAD_PATTERN,
                        format!("expected a name, `_` or a tuple pattern, found {found}"),
                    )
                    .at(span, "not a valid `let` pattern")
                    .hint("`let` patterns are `x`, `_` or `(a, b, …)`"),
                );
                Err(Fail)
            }
        }
    }

    /// `var name = expr` (script layer only).
    fn var_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `var`
        let span = self.peek_span();
        let name = match self.peek().clone() {
            T::Ident(name) => Ident { name, span },
            _ => return Err(self.unexpected("a variable name after `var`")),
        };
        self.bump();
        if self.fn_depth > 0 {
            let hint = format!(
                "functions are pure: bind an immutable value with `let {} = …`",
                name.name
            );
            self.script_only(start.to(span), "`var` declarations", &hint);
        }
        self.expect(&T::Assign, "`=` after the variable name")?;
        let value = self.expr()?;
        Ok(Stmt {
            kind: StmtKind::Var { name, value },
            span: self.span_from(start),
        })
    }

    /// `name = expr` (script layer only).
    fn assign_stmt(&mut self) -> PResult<Stmt> {
        let span = self.peek_span();
        let name = match self.bump().kind {
            T::Ident(name) => Ident { name, span },
            // Invariant: `stmt` only dispatches here on an identifier.
            _ => return Err(self.unexpected("a variable name")),
        };
        let eq = self.bump().span; // `=`
        if self.fn_depth > 0 {
            let hint = format!(
                "functions are pure: bind a new value with `let {} = …` instead",
                name.name
            );
            self.script_only(span.to(eq), "assignments", &hint);
        }
        let value = self.expr()?;
        Ok(Stmt {
            kind: StmtKind::Assign { name, value },
            span: self.span_from(span),
        })
    }

    /// `for i in lo..hi { … }` (script layer only).
    fn for_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump().span; // `for`
        if self.fn_depth > 0 {
            self.script_only(
                start,
                "`for` loops",
                "inside functions loop with `fori(lo, hi, init, |i, carry| …)`, `scan` or `while`",
            );
        }
        let span = self.peek_span();
        let var = match self.peek().clone() {
            T::Ident(name) => Ident { name, span },
            _ => return Err(self.unexpected("a loop variable after `for`")),
        };
        self.bump();
        self.expect(&T::In, "`in` after the loop variable")?;
        let lo = self.binary(PREC_OR)?;
        if !self.at(&T::DotDot) {
            return Err(self.unexpected_hinted(
                "`..` in the loop range",
                Some("loops run over a half-open range: `for i in 0..n { … }`"),
            ));
        }
        self.bump();
        let hi = self.binary(PREC_OR)?;
        if !self.at(&T::LBrace) {
            return Err(self.unexpected("`{` to start the loop body"));
        }
        let body = self.block()?;
        Ok(Stmt {
            kind: StmtKind::For { var, lo, hi, body },
            span: self.span_from(start),
        })
    }

    fn script_only(&mut self, span: Span, what: &str, hint: &str) {
        self.report(
            Diagnostic::error(
                Code::STATEMENT_IN_FUNCTION,
                format!("{what} are only allowed in the script layer, not inside a function"),
            )
            .at(span, "not allowed inside a function or lambda")
            .hint(hint),
        );
    }

    /// An expression statement, or the diagnosis of `target = value` with a target that
    /// is not a plain name.
    fn expr_stmt(&mut self) -> PResult<Stmt> {
        let expr = self.expr()?;
        if self.at(&T::Assign) {
            let eq = self.bump().span;
            self.invalid_assign(&expr, eq);
            // Parse the value anyway so its own errors are found and nothing cascades.
            self.expr()?;
            return Err(Fail);
        }
        let span = expr.span;
        Ok(Stmt {
            kind: StmtKind::Expr(expr),
            span,
        })
    }

    fn invalid_assign(&mut self, target: &Expr, eq: Span) {
        let hint = match &target.kind {
            ExprKind::Index { base, items } => {
                let base_text = self.text(base.span);
                let items_text = items
                    .iter()
                    .map(|i| self.text(index_item_span(i)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "arrays are immutable: use `{base_text} = {base_text}.at[{items_text}].set(…)`"
                )
            }
            ExprKind::TupleField { .. } | ExprKind::Field { .. } => {
                "arrays are immutable: use `x = x.at[0].set(1)`; tuples are immutable too: rebind the whole value".to_string()
            }
            _ => "only a variable can be assigned: `name = value`".to_string(),
        };
        self.report(
            Diagnostic::error(Code::INVALID_ASSIGN_TARGET, "invalid assignment target")
                .at(target.span, "cannot assign to this")
                .also(eq, "assignment here")
                .hint(hint),
        );
    }

    /// `f64`, `f32[n, 3]`, `f64[]` or `(ann, ann, …)`.
    pub(super) fn type_ann(&mut self) -> PResult<TypeAnn> {
        self.enter()?;
        let result = self.type_ann_inner();
        self.leave();
        result
    }

    fn type_ann_inner(&mut self) -> PResult<TypeAnn> {
        let span = self.peek_span();
        match self.peek().clone() {
            T::Ident(name) => {
                self.bump();
                let dtype = Ident { name, span };
                if !self.at(&T::LBracket) {
                    return Ok(TypeAnn::Array {
                        dtype,
                        dims: None,
                        span,
                    });
                }
                self.open(T::RBracket, Mode::Ignore);
                let mut dims = Vec::new();
                while !self.at(&T::RBracket) {
                    dims.push(self.dim()?);
                    if self.eat(&T::Comma).is_none() {
                        break;
                    }
                }
                let close = self.close("`,` or `]` in the shape")?;
                Ok(TypeAnn::Array {
                    dtype,
                    dims: Some(dims),
                    span: span.to(close),
                })
            }
            T::LParen => {
                let open = self.open(T::RParen, Mode::Ignore);
                let mut elems = Vec::new();
                let mut trailing_comma = false;
                while !self.at(&T::RParen) {
                    elems.push(self.type_ann()?);
                    trailing_comma = self.eat(&T::Comma).is_some();
                    if !trailing_comma {
                        break;
                    }
                }
                let close = self.close("`,` or `)` in the tuple type")?;
                if elems.len() == 1 && !trailing_comma {
                    if let Some(only) = elems.pop() {
                        return Ok(only);
                    }
                }
                Ok(TypeAnn::Tuple {
                    elems,
                    span: open.to(close),
                })
            }
            _ => Err(self.unexpected_hinted(
                "a type",
                Some("types are written `f64`, `f32[n, 3]` or `(f64[n], f64)`"),
            )),
        }
    }

    fn dim(&mut self) -> PResult<Dim> {
        let span = self.peek_span();
        match self.peek().clone() {
            T::Int(v) => {
                self.bump();
                // Literals are never negative: a minus sign is a separate token.
                Ok(Dim::Const {
                    value: v.unsigned_abs(),
                    span,
                })
            }
            T::Ident(name) => {
                self.bump();
                Ok(Dim::Var(Ident { name, span }))
            }
            _ => Err(self.unexpected_hinted(
                "a dimension",
                Some("a dimension is a size like `3` or a size variable like `n`"),
            )),
        }
    }
}

fn index_item_span(item: &IndexItem) -> Span {
    match item {
        IndexItem::Expr(e) => e.span,
        IndexItem::Slice { span, .. } | IndexItem::Ellipsis(span) => *span,
    }
}
