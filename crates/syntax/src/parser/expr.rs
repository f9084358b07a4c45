//! Expressions, by precedence climbing over the levels of LANGUAGE.md §4.
//!
//! `if` and lambdas sit at the lowest level: at the start of an expression they end
//! the expression, so `if c { a } else { b } + 1` is rejected rather than silently
//! grouped. Elsewhere (as an operand) they are accepted as atoms and extend as far
//! as they can, like closures in Rust.

use super::{binop_of, Fail, Mode, PResult, Parser, PREC_CMP, PREC_NEG, PREC_NOT, PREC_OR};
use crate::ast::{Arg, BinOp, Block, Expr, ExprKind, Ident, IndexItem, Param, UnOp};
use crate::lexer::TokenKind as T;
use nabla_diag::{Code, Diagnostic, Span};

impl Parser<'_> {
    /// A full expression (level 1 and up).
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        match self.peek() {
            T::If => self.if_expr(),
            T::Pipe => self.lambda(),
            _ => self.binary(PREC_OR),
        }
    }

    /// Binary operators of precedence `min` and tighter, with their prefix operators.
    pub(super) fn binary(&mut self, min: u8) -> PResult<Expr> {
        self.enter()?;
        let result = self.binary_inner(min);
        self.leave();
        result
    }

    fn binary_inner(&mut self, min: u8) -> PResult<Expr> {
        let mut lhs = self.prefix()?;
        // Comparisons are non-associative: remember whether `lhs` is an unparenthesised
        // comparison built in this loop, to reject `a < b < c`.
        let mut lhs_is_cmp = false;
        while let Some((op, prec)) = binop_of(self.peek()) {
            if prec < min {
                break;
            }
            let op_span = self.bump().span;
            // `**` is right-associative: its right operand may contain another `**`.
            let rhs_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.binary(rhs_min)?;
            let is_cmp = prec == PREC_CMP;
            if is_cmp && lhs_is_cmp {
                self.report_chained(&lhs, op, op_span, &rhs);
            }
            lhs_is_cmp = is_cmp;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
        }
        Ok(lhs)
    }

    fn report_chained(&mut self, lhs: &Expr, op: BinOp, op_span: Span, rhs: &Expr) {
        // `lhs` is `a < b`; suggest `(a < b) and (b <op> c)` with the user's own text.
        let middle = match &lhs.kind {
            ExprKind::Binary { rhs: b, .. } => self.text(b.span),
            _ => "b",
        };
        let hint = format!(
            "write `({}) and ({} {} {})`",
            self.text(lhs.span),
            middle,
            op.symbol(),
            self.text(rhs.span)
        );
        self.report(
            Diagnostic::error(
                Code::CHAINED_COMPARISON,
                "comparison operators cannot be chained",
            )
            .at(lhs.span.to(rhs.span), "chained comparison")
            .also(op_span, "second comparison")
            .hint(hint),
        );
    }

    /// Prefix `-` and `not`, each binding its operand at its own level.
    fn prefix(&mut self) -> PResult<Expr> {
        let (op, level) = match self.peek() {
            T::Minus => (UnOp::Neg, PREC_NEG),
            T::Not => (UnOp::Not, PREC_NOT),
            _ => {
                let atom = self.atom()?;
                return self.postfix(atom);
            }
        };
        let start = self.bump().span;
        // Through `binary`, so runs of prefix operators count towards the depth limit.
        let operand = self.binary(level)?;
        let span = start.to(operand.span);
        Ok(Expr {
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
            span,
        })
    }

    /// Calls, indexing, fields and tuple fields. A bracket must start on the same line
    /// as the expression it applies to (a newline there ends the statement).
    fn postfix(&mut self, mut expr: Expr) -> PResult<Expr> {
        loop {
            expr = match self.peek() {
                T::LParen => self.call(expr)?,
                T::LBracket => self.index(expr)?,
                T::Dot => self.field(expr)?,
                _ => return Ok(expr),
            };
        }
    }

    fn call(&mut self, callee: Expr) -> PResult<Expr> {
        self.enter()?;
        let result = self.call_inner(callee);
        self.leave();
        result
    }

    fn call_inner(&mut self, callee: Expr) -> PResult<Expr> {
        self.open(T::RParen, Mode::Ignore);
        let mut args = Vec::new();
        while !self.at(&T::RParen) {
            let name = match (self.peek().clone(), self.peek_second()) {
                (T::Ident(name), T::Assign) => {
                    let span = self.bump().span;
                    self.bump(); // `=`
                    Some(Ident { name, span })
                }
                _ => None,
            };
            let value = self.expr()?;
            args.push(Arg { name, value });
            if self.eat(&T::Comma).is_none() {
                break;
            }
        }
        let close = self.close("`,` or `)` in the argument list")?;
        let span = callee.span.to(close);
        Ok(Expr {
            kind: ExprKind::Call {
                callee: Box::new(callee),
                args,
            },
            span,
        })
    }

    fn index(&mut self, base: Expr) -> PResult<Expr> {
        self.enter()?;
        let result = self.index_inner(base);
        self.leave();
        result
    }

    fn index_inner(&mut self, base: Expr) -> PResult<Expr> {
        self.open(T::RBracket, Mode::Ignore);
        let mut items = Vec::new();
        while !self.at(&T::RBracket) {
            items.push(self.index_item()?);
            if self.eat(&T::Comma).is_none() {
                break;
            }
        }
        if items.is_empty() {
            self.empty_index();
        }
        let close = self.close("`,` or `]` in the index")?;
        let span = base.span.to(close);
        Ok(Expr {
            kind: ExprKind::Index {
                base: Box::new(base),
                items,
            },
            span,
        })
    }

    #[cold]
    #[inline(never)]
    fn empty_index(&mut self) {
        let span = self.peek_span();
        self.report(
            Diagnostic::error(Code::UNEXPECTED_TOKEN, "expected an index, found `]`")
                .at(span, "expected an index")
                .hint("index with an integer, a slice `a:b`, `...` or `none`: `x[0]`, `x[:, 1]`"),
        );
    }

    /// One item of an index: `e`, `...`, or a slice `start:stop:step` with parts omitted.
    fn index_item(&mut self) -> PResult<IndexItem> {
        if let Some(span) = self.eat(&T::Ellipsis) {
            return Ok(IndexItem::Ellipsis(span));
        }
        let first = self.peek_span();
        let start = if self.at(&T::Colon) {
            None
        } else {
            let e = self.expr()?;
            if !self.at(&T::Colon) {
                return Ok(IndexItem::Expr(e));
            }
            Some(e)
        };
        self.bump(); // the first `:`
        let ends_part = |k: &T| matches!(k, T::Colon | T::Comma | T::RBracket);
        let stop = if ends_part(self.peek()) {
            None
        } else {
            Some(self.expr()?)
        };
        let step = if self.eat(&T::Colon).is_some() && !ends_part(self.peek()) {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(IndexItem::Slice {
            start,
            stop,
            step,
            span: self.span_from(first),
        })
    }

    /// `.name` (including `.var`, a keyword naming stdlib `var`),
    /// `.0`, and `.0.1`, which the lexer reads as the float `0.1`.
    fn field(&mut self, base: Expr) -> PResult<Expr> {
        self.bump(); // `.`
        let span = self.peek_span();
        let kind = self.peek().clone();
        match kind {
            T::Ident(name) => {
                self.bump();
                Ok(field_expr(base, Ident { name, span }))
            }
            // `var` is a keyword but also a stdlib function, usable as a method.
            T::Var => {
                self.bump();
                let name = "var".to_string();
                Ok(field_expr(base, Ident { name, span }))
            }
            T::Int(_) => {
                self.bump();
                let index = self.tuple_index(span)?;
                Ok(tuple_field(base, index, span))
            }
            T::Float(_) => {
                let text = self.text(span);
                let split = text.split_once('.').filter(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                });
                let Some((a, _)) = split else {
                    return Err(self.unexpected("a field name or tuple index after `.`"));
                };
                self.bump();
                let dot = span.start as usize + a.len();
                let first = Span::new(span.file, span.start as usize, dot);
                let second = Span::new(span.file, dot + 1, span.end as usize);
                let i = self.tuple_index(first)?;
                let j = self.tuple_index(second)?;
                Ok(tuple_field(tuple_field(base, i, first), j, second))
            }
            _ => Err(self.unexpected("a field name or tuple index after `.`")),
        }
    }

    fn tuple_index(&mut self, span: Span) -> PResult<u32> {
        let digits: String = self.text(span).chars().filter(|c| *c != '_').collect();
        match digits.parse::<u32>() {
            Ok(i) => Ok(i),
            Err(_) => {
                self.report(
                    Diagnostic::error(
                        Code::UNEXPECTED_TOKEN,
                        format!("tuple index `{}` is too large", self.text(span)),
                    )
                    .at(span, "not a valid tuple index"),
                );
                Err(Fail)
            }
        }
    }

    fn atom(&mut self) -> PResult<Expr> {
        let span = self.peek_span();
        let kind = match self.peek().clone() {
            T::Int(v) => ExprKind::Int(v),
            T::Float(v) => ExprKind::Float(v),
            T::Str(s) => ExprKind::Str(s),
            T::True => ExprKind::Bool(true),
            T::False => ExprKind::Bool(false),
            T::None => ExprKind::None,
            T::Ident(name) => ExprKind::Name(name),
            // `var` is a keyword but also the name of stdlib `stats.var`.
            T::Var => ExprKind::Name("var".to_string()),
            T::LParen => return self.paren(),
            T::LBracket => return self.list(),
            T::LBrace => return Ok(block_expr(self.block()?)),
            T::If => return self.if_expr(),
            T::Pipe => return self.lambda(),
            T::Fn => {
                return Err(self.unexpected_hinted(
                    "an expression",
                    Some("`fn` defines a named function as a statement; in an expression write a lambda `|x| …`"),
                ))
            }
            T::Let | T::For | T::Use if !self.after_continuation() => {
                return Err(self.unexpected_hinted(
                    "an expression",
                    Some("this keyword starts a statement; put it on its own line"),
                ))
            }
            T::Else => {
                return Err(self.unexpected_hinted(
                    "an expression",
                    Some("`else` must follow the closing `}` of an `if` block"),
                ))
            }
            _ => return Err(self.unexpected("an expression")),
        };
        self.bump();
        Ok(Expr { kind, span })
    }

    /// `(e)` (just `e`, its span widened to the parentheses), `()`, `(a,)`, `(a, b)`.
    fn paren(&mut self) -> PResult<Expr> {
        self.enter()?;
        let result = self.paren_inner();
        self.leave();
        result
    }

    fn paren_inner(&mut self) -> PResult<Expr> {
        let open = self.open(T::RParen, Mode::Ignore);
        if self.at(&T::RParen) {
            let close = self.close("`)`")?;
            return Ok(Expr {
                kind: ExprKind::Tuple(Vec::new()),
                span: open.to(close),
            });
        }
        let first = self.expr()?;
        if self.eat(&T::Comma).is_none() {
            let close = self.close("`)`")?;
            return Ok(Expr {
                span: open.to(close),
                ..first
            });
        }
        let mut elems = vec![first];
        while !self.at(&T::RParen) {
            elems.push(self.expr()?);
            if self.eat(&T::Comma).is_none() {
                break;
            }
        }
        let close = self.close("`,` or `)` in the tuple")?;
        Ok(Expr {
            kind: ExprKind::Tuple(elems),
            span: open.to(close),
        })
    }

    fn list(&mut self) -> PResult<Expr> {
        self.enter()?;
        let result = self.list_inner();
        self.leave();
        result
    }

    fn list_inner(&mut self) -> PResult<Expr> {
        let open = self.open(T::RBracket, Mode::Ignore);
        let mut elems = Vec::new();
        while !self.at(&T::RBracket) {
            elems.push(self.expr()?);
            if self.eat(&T::Comma).is_none() {
                break;
            }
        }
        let close = self.close("`,` or `]` in the list")?;
        Ok(Expr {
            kind: ExprKind::List(elems),
            span: open.to(close),
        })
    }

    /// `if c { … } else { … }`; `else if` chains nest in the else branch, and the
    /// `else` may start the next line.
    pub(super) fn if_expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let result = self.if_inner();
        self.leave();
        result
    }

    fn if_inner(&mut self) -> PResult<Expr> {
        let start = self.bump().span; // `if`
        let cond = self.binary(PREC_OR)?;
        if !self.at(&T::LBrace) {
            return Err(self.unexpected_hinted(
                "`{` after the `if` condition",
                Some("the branches of an `if` are blocks: `if c { a } else { b }`"),
            ));
        }
        let then_branch = self.block()?;
        self.skip_newlines_before_else();
        let else_branch = if self.eat(&T::Else).is_some() {
            match self.peek() {
                T::If => Some(Box::new(self.if_expr()?)),
                T::LBrace => Some(Box::new(block_expr(self.block()?))),
                _ => return Err(self.unexpected("`{` or `if` after `else`")),
            }
        } else {
            None
        };
        Ok(Expr {
            kind: ExprKind::If {
                cond: Box::new(cond),
                then_branch,
                else_branch,
            },
            span: self.span_from(start),
        })
    }

    fn skip_newlines_before_else(&mut self) {
        let mut i = self.pos;
        while self.toks[i].kind == T::Newline {
            i += 1;
        }
        if self.toks[i].kind == T::Else {
            self.pos = i;
        }
    }

    /// `|x, y: f64 = 1.0| body` or `|| body`; the body is a function body.
    fn lambda(&mut self) -> PResult<Expr> {
        self.enter()?;
        let result = self.lambda_inner();
        self.leave();
        result
    }

    fn lambda_inner(&mut self) -> PResult<Expr> {
        let start = self.bump().span; // `|`
        let mut params = Vec::new();
        if self.eat(&T::Pipe).is_none() {
            loop {
                // A default stops before `|`, which is not an operator.
                params.push(self.param(true)?);
                if self.eat(&T::Comma).is_some() {
                    if self.eat(&T::Pipe).is_some() {
                        break;
                    }
                    continue;
                }
                self.expect(&T::Pipe, "`,` or `|` after a lambda parameter")?;
                break;
            }
        }
        let body = self.in_function(|p| p.expr())?;
        let span = start.to(body.span);
        Ok(Expr {
            kind: ExprKind::Lambda {
                params,
                body: Box::new(body),
            },
            span,
        })
    }

    /// A parameter `name`, `name: ann`, `name = default` or `name: ann = default`.
    pub(super) fn param(&mut self, in_lambda: bool) -> PResult<Param> {
        let span = self.peek_span();
        let name = match self.peek().clone() {
            T::Ident(name) => {
                self.bump();
                Ident { name, span }
            }
            _ => return Err(self.unexpected("a parameter name")),
        };
        let ann = if self.eat(&T::Colon).is_some() {
            Some(self.type_ann()?)
        } else {
            None
        };
        let default = if self.eat(&T::Assign).is_some() {
            Some(if in_lambda {
                self.binary(PREC_OR)?
            } else {
                self.expr()?
            })
        } else {
            None
        };
        Ok(Param {
            name,
            ann,
            default,
            span: self.span_from(span),
        })
    }
}

fn field_expr(base: Expr, name: Ident) -> Expr {
    let span = base.span.to(name.span);
    Expr {
        kind: ExprKind::Field {
            base: Box::new(base),
            name,
        },
        span,
    }
}

fn tuple_field(base: Expr, index: u32, index_span: Span) -> Expr {
    let span = base.span.to(index_span);
    Expr {
        kind: ExprKind::TupleField {
            base: Box::new(base),
            index,
            index_span,
        },
        span,
    }
}

/// A block used as an expression keeps the block's span.
pub(super) fn block_expr(block: Block) -> Expr {
    let span = block.span;
    Expr {
        kind: ExprKind::Block(block),
        span,
    }
}
