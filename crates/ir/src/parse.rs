//! Reads the IR's textual form (see [`crate::print`]) back into a [`Func`] or [`Body`],
//! checking scoping and re-inferring every equation's result types as it goes, so a
//! successful parse is also a verified function.
//!
//! Whitespace and line breaks are insignificant; the printer's layout is just one way
//! to lay the tokens out. Parsed equations get [`Span::DUMMY`]: spans are not printed.
//! The parser never panics: every malformed input is a [`ParseError`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use nabla_diag::Span;

use crate::array::{Array, Data};
use crate::dtype::{DType, Scalar, Type};
use crate::ir::{Atom, Body, Eqn, Func, Var};
use crate::prim::{ArgOp, BinaryOp, CmpOp, CumOp, Prim, ReduceOp, ScatterMode, UnaryOp};
use crate::print::{body_fields, type_list};

/// Where (1-based line and column, in characters) and why the text is not valid IR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// How deeply control-flow bodies may nest. The parser recurses once per level, so the
/// bound keeps hostile input from overflowing the stack; real programs stay far below.
pub const MAX_BODY_DEPTH: usize = 64;

/// Parses a function printed by [`crate::print::print_func`].
pub fn parse_func(text: &str) -> Result<Func, ParseError> {
    let mut p = Parser::new(text)?;
    let f = p.func()?;
    p.expect(&Tok::Eof, "the end of the input")?;
    Ok(f)
}

/// Parses a closed body printed by [`crate::print::print_body`] (`|params| { … }`).
pub fn parse_body(text: &str) -> Result<Body, ParseError> {
    let mut p = Parser::new(text)?;
    let b = p.body_block()?;
    p.expect(&Tok::Eof, "the end of the input")?;
    Ok(b)
}

// ---------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Var(u32),
    /// A number as written (`3`, `-2`, `1.5e-7`, `-inf`), converted once its dtype is
    /// known so that one token serves every dtype.
    Num(String),
    Str(String),
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    Comma,
    Colon,
    Eq,
    Pipe,
    Arrow,
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Var(id) => write!(f, "`%{id}`"),
            Tok::Num(s) => write!(f, "`{s}`"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBrack => f.write_str("`[`"),
            Tok::RBrack => f.write_str("`]`"),
            Tok::LBrace => f.write_str("`{`"),
            Tok::RBrace => f.write_str("`}`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Colon => f.write_str("`:`"),
            Tok::Eq => f.write_str("`=`"),
            Tok::Pipe => f.write_str("`|`"),
            Tok::Arrow => f.write_str("`->`"),
            Tok::Eof => f.write_str("the end of the input"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    col: usize,
}

impl Pos {
    fn error(self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    pos: Pos,
}

struct Lexer<'a> {
    chars: std::str::Chars<'a>,
    /// A second character of lookahead, for `1.5` vs `1.` and `-inf` vs `->`.
    ahead: Vec<char>,
    pos: Pos,
}

impl Lexer<'_> {
    fn peek_at(&mut self, n: usize) -> Option<char> {
        while self.ahead.len() <= n {
            let c = self.chars.next()?;
            self.ahead.push(c);
        }
        self.ahead.get(n).copied()
    }

    fn peek(&mut self) -> Option<char> {
        self.peek_at(0)
    }

    fn bump(&mut self) -> Option<char> {
        let c = if self.ahead.is_empty() {
            self.chars.next()
        } else {
            Some(self.ahead.remove(0))
        }?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn take_while(&mut self, s: &mut String, f: impl Fn(char) -> bool) {
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
    }

    fn ident(&mut self) -> String {
        let mut s = String::new();
        self.take_while(&mut s, |c| c.is_ascii_alphanumeric() || c == '_');
        s
    }

    fn token(&mut self) -> Result<Token, ParseError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let punct = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '=' => Some(Tok::Eq),
            '|' => Some(Tok::Pipe),
            _ => None,
        };
        if let Some(tok) = punct {
            self.bump();
            return Ok(Token { tok, pos });
        }
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            Tok::Ident(self.ident())
        } else if c == '%' {
            self.bump();
            let mut digits = String::new();
            self.take_while(&mut digits, |c| c.is_ascii_digit());
            match digits.parse::<u32>() {
                Ok(id) => Tok::Var(id),
                Err(_) if digits.is_empty() => return Err(pos.error("expected digits after `%`")),
                Err(_) => return Err(pos.error(format!("variable id %{digits} is too large"))),
            }
        } else if c == '-' && self.peek_at(1) == Some('>') {
            self.bump();
            self.bump();
            Tok::Arrow
        } else if c == '-' && self.peek_at(1).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
            match self.ident().as_str() {
                "inf" => Tok::Num("-inf".into()),
                other => return Err(pos.error(format!("unexpected `-{other}`"))),
            }
        } else if c == '-' || c.is_ascii_digit() {
            self.number()
        } else if c == '"' {
            self.bump();
            Tok::Str(self.string(pos)?)
        } else {
            return Err(pos.error(format!("unexpected character {c:?}")));
        };
        Ok(Token { tok, pos })
    }

    /// `-?digits(.digits)?([eE][+-]?digits)?`, the forms `{:?}` prints floats in.
    fn number(&mut self) -> Tok {
        let mut s = String::new();
        if self.peek() == Some('-') {
            s.push('-');
            self.bump();
        }
        let digit = |c: char| c.is_ascii_digit();
        self.take_while(&mut s, digit);
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(digit) {
            s.push('.');
            self.bump();
            self.take_while(&mut s, digit);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let signed = matches!(self.peek_at(1), Some('+' | '-'));
            let first = if signed { 2 } else { 1 };
            if self.peek_at(first).is_some_and(digit) {
                for _ in 0..first {
                    if let Some(c) = self.bump() {
                        s.push(c);
                    }
                }
                self.take_while(&mut s, digit);
            }
        }
        Tok::Num(s)
    }

    /// The rest of a quoted name after its opening `"`, undoing the printer's escapes.
    fn string(&mut self, start: Pos) -> Result<String, ParseError> {
        let mut s = String::new();
        loop {
            let pos = self.pos;
            match self.bump() {
                None => return Err(start.error("unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('u') if self.peek() == Some('{') => {
                        self.bump();
                        let mut hex = String::new();
                        self.take_while(&mut hex, |c| c.is_ascii_hexdigit());
                        let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        match (c, self.bump()) {
                            (Some(c), Some('}')) => s.push(c),
                            _ => return Err(pos.error("invalid `\\u{…}` escape")),
                        }
                    }
                    _ => return Err(pos.error("invalid escape in string")),
                },
                Some(c) => s.push(c),
            }
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lexer = Lexer {
        chars: text.chars(),
        ahead: Vec::new(),
        pos: Pos { line: 1, col: 1 },
    };
    let mut toks = Vec::new();
    loop {
        let t = lexer.token()?;
        let end = t.tok == Tok::Eof;
        toks.push(t);
        if end {
            return Ok(toks);
        }
    }
}

// ---------------------------------------------------------------------------------
// Primitive names

/// Operator lists the prim module does not provide as `ALL`; each is checked against
/// an exhaustive match in this module's tests so a new variant cannot be forgotten.
const ARG_OPS: [ArgOp; 2] = [ArgOp::ArgMax, ArgOp::ArgMin];
const CUM_OPS: [CumOp; 2] = [CumOp::Sum, CumOp::Prod];
const SCATTER_MODES: [ScatterMode; 2] = [ScatterMode::Set, ScatterMode::Add];

/// One primitive per name, with placeholder parameters that [`fill`] replaces.
fn templates() -> HashMap<&'static str, Prim> {
    let empty = Body::default;
    let mut all: Vec<Prim> = Vec::new();
    all.extend(UnaryOp::ALL.map(Prim::Unary));
    all.extend(BinaryOp::ALL.map(Prim::Binary));
    all.extend(CmpOp::ALL.map(Prim::Compare));
    all.extend(ReduceOp::ALL.map(|op| Prim::Reduce {
        op,
        axes: Vec::new(),
        compensated: false,
    }));
    all.extend(ARG_OPS.map(|op| Prim::ArgReduce {
        op,
        axis: 0,
        index_dtype: DType::I64,
    }));
    all.extend(CUM_OPS.map(|op| Prim::Cumulative {
        op,
        axis: 0,
        reverse: false,
    }));
    all.extend(SCATTER_MODES.map(|mode| Prim::Scatter { axis: 0, mode }));
    all.extend([
        Prim::Select,
        Prim::IntPow { exponent: 0 },
        Prim::Convert { dtype: DType::F64 },
        Prim::StopGradient,
        Prim::Constant {
            value: Array::scalar(Scalar::F64(0.0)),
        },
        Prim::Iota {
            dtype: DType::I64,
            shape: Vec::new(),
            axis: 0,
        },
        Prim::BroadcastInDim {
            shape: Vec::new(),
            dims: Vec::new(),
        },
        Prim::Reshape { shape: Vec::new() },
        Prim::Transpose { perm: Vec::new() },
        Prim::Slice {
            start: Vec::new(),
            limit: Vec::new(),
            stride: Vec::new(),
        },
        Prim::Pad {
            lo: Vec::new(),
            hi: Vec::new(),
        },
        Prim::Concat { axis: 0 },
        Prim::Rev { axes: Vec::new() },
        Prim::DotGeneral {
            lhs_contract: Vec::new(),
            rhs_contract: Vec::new(),
            lhs_batch: Vec::new(),
            rhs_batch: Vec::new(),
            compensated: false,
        },
        Prim::Take { axis: 0 },
        Prim::DynamicSlice { sizes: Vec::new() },
        Prim::DynamicUpdateSlice,
        Prim::Threefry2x32,
        Prim::BitsToUnit { dtype: DType::F64 },
        Prim::Cond {
            then_body: empty(),
            else_body: empty(),
        },
        Prim::While {
            cond_body: empty(),
            body: empty(),
            cond_nconsts: 0,
            body_nconsts: 0,
        },
        Prim::Scan {
            body: empty(),
            nconsts: 0,
            ncarry: 0,
            length: 0,
            reverse: false,
        },
    ]);
    all.into_iter().map(|p| (p.name(), p)).collect()
}

/// A parsed static parameter, converted to its field's type by [`Params`].
enum PVal {
    Num(String),
    Bool(bool),
    DType(DType),
    List(Vec<(String, Pos)>),
    Array(Array),
}

/// The `[key=value, …]` of one equation, consumed field by field.
struct Params {
    prim: &'static str,
    at: Pos,
    /// Key, key position, value, value position.
    vals: Vec<(String, Pos, PVal, Pos)>,
}

impl Params {
    fn take(&mut self, key: &str) -> Result<(PVal, Pos), ParseError> {
        match self.vals.iter().position(|(k, _, _, _)| k == key) {
            Some(i) => {
                let (_, _, v, pos) = self.vals.remove(i);
                Ok((v, pos))
            }
            None => Err(self
                .at
                .error(format!("`{}` needs the parameter `{key}`", self.prim))),
        }
    }

    fn int<T: std::str::FromStr>(key: &str, text: &str, pos: Pos) -> Result<T, ParseError> {
        text.parse::<T>()
            .map_err(|_| pos.error(format!("`{text}` is not a valid `{key}`")))
    }

    fn scalar<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, ParseError> {
        match self.take(key)? {
            (PVal::Num(s), pos) => Self::int(key, &s, pos),
            (_, pos) => Err(pos.error(format!("`{key}` must be an integer"))),
        }
    }

    fn usize(&mut self, key: &str) -> Result<usize, ParseError> {
        self.scalar(key)
    }

    fn i64(&mut self, key: &str) -> Result<i64, ParseError> {
        self.scalar(key)
    }

    fn list<T: std::str::FromStr>(&mut self, key: &str) -> Result<Vec<T>, ParseError> {
        match self.take(key)? {
            (PVal::List(items), _) => items
                .iter()
                .map(|(s, pos)| Self::int(key, s, *pos))
                .collect(),
            (_, pos) => Err(pos.error(format!("`{key}` must be a list of integers"))),
        }
    }

    fn usizes(&mut self, key: &str) -> Result<Vec<usize>, ParseError> {
        self.list(key)
    }

    fn i64s(&mut self, key: &str) -> Result<Vec<i64>, ParseError> {
        self.list(key)
    }

    fn bool(&mut self, key: &str) -> Result<bool, ParseError> {
        match self.take(key)? {
            (PVal::Bool(b), _) => Ok(b),
            (_, pos) => Err(pos.error(format!("`{key}` must be `true` or `false`"))),
        }
    }

    fn dtype(&mut self, key: &str) -> Result<DType, ParseError> {
        match self.take(key)? {
            (PVal::DType(d), _) => Ok(d),
            (_, pos) => Err(pos.error(format!("`{key}` must be a dtype"))),
        }
    }

    fn array(&mut self, key: &str) -> Result<Array, ParseError> {
        match self.take(key)? {
            (PVal::Array(a), _) => Ok(a),
            (_, pos) => Err(pos.error(format!(
                "`{key}` must be an array like `f64[2]{{1.0, 2.0}}`"
            ))),
        }
    }

    fn finish(self) -> Result<(), ParseError> {
        match self.vals.first() {
            Some((k, pos, _, _)) => {
                Err(pos.error(format!("`{}` has no parameter `{k}`", self.prim)))
            }
            None => Ok(()),
        }
    }
}

/// The primitive `template` names, with its parameters and bodies from the text. The
/// match is exhaustive so that a new primitive cannot be printed but not parsed.
fn fill(template: Prim, mut p: Params, bodies: Vec<Body>) -> Result<Prim, ParseError> {
    let mut bodies = bodies.into_iter();
    // The caller parsed exactly as many bodies as the template has, so this never
    // falls back to the default.
    let mut body = || bodies.next().unwrap_or_default();
    let prim = match template {
        Prim::Unary(op) => Prim::Unary(op),
        Prim::Binary(op) => Prim::Binary(op),
        Prim::Compare(op) => Prim::Compare(op),
        Prim::Select => Prim::Select,
        Prim::IntPow { .. } => Prim::IntPow {
            exponent: p.i64("exponent")?,
        },
        Prim::Convert { .. } => Prim::Convert {
            dtype: p.dtype("dtype")?,
        },
        Prim::StopGradient => Prim::StopGradient,
        Prim::Constant { .. } => Prim::Constant {
            value: p.array("value")?,
        },
        Prim::Iota { .. } => Prim::Iota {
            dtype: p.dtype("dtype")?,
            shape: p.usizes("shape")?,
            axis: p.usize("axis")?,
        },
        Prim::BroadcastInDim { .. } => Prim::BroadcastInDim {
            shape: p.usizes("shape")?,
            dims: p.usizes("dims")?,
        },
        Prim::Reshape { .. } => Prim::Reshape {
            shape: p.usizes("shape")?,
        },
        Prim::Transpose { .. } => Prim::Transpose {
            perm: p.usizes("perm")?,
        },
        Prim::Slice { .. } => Prim::Slice {
            start: p.usizes("start")?,
            limit: p.usizes("limit")?,
            stride: p.usizes("stride")?,
        },
        Prim::Pad { .. } => Prim::Pad {
            lo: p.i64s("lo")?,
            hi: p.i64s("hi")?,
        },
        Prim::Concat { .. } => Prim::Concat {
            axis: p.usize("axis")?,
        },
        Prim::Rev { .. } => Prim::Rev {
            axes: p.usizes("axes")?,
        },
        Prim::Reduce { op, .. } => Prim::Reduce {
            op,
            axes: p.usizes("axes")?,
            compensated: p.bool("compensated")?,
        },
        Prim::ArgReduce { op, .. } => Prim::ArgReduce {
            op,
            axis: p.usize("axis")?,
            index_dtype: p.dtype("index_dtype")?,
        },
        Prim::Cumulative { op, .. } => Prim::Cumulative {
            op,
            axis: p.usize("axis")?,
            reverse: p.bool("reverse")?,
        },
        Prim::DotGeneral { .. } => Prim::DotGeneral {
            lhs_contract: p.usizes("lhs_contract")?,
            rhs_contract: p.usizes("rhs_contract")?,
            lhs_batch: p.usizes("lhs_batch")?,
            rhs_batch: p.usizes("rhs_batch")?,
            compensated: p.bool("compensated")?,
        },
        Prim::Take { .. } => Prim::Take {
            axis: p.usize("axis")?,
        },
        Prim::Scatter { mode, .. } => Prim::Scatter {
            axis: p.usize("axis")?,
            mode,
        },
        Prim::DynamicSlice { .. } => Prim::DynamicSlice {
            sizes: p.usizes("sizes")?,
        },
        Prim::DynamicUpdateSlice => Prim::DynamicUpdateSlice,
        Prim::Threefry2x32 => Prim::Threefry2x32,
        Prim::BitsToUnit { .. } => Prim::BitsToUnit {
            dtype: p.dtype("dtype")?,
        },
        Prim::Cond { .. } => Prim::Cond {
            then_body: body(),
            else_body: body(),
        },
        Prim::While { .. } => Prim::While {
            cond_body: body(),
            body: body(),
            cond_nconsts: p.usize("cond_nconsts")?,
            body_nconsts: p.usize("body_nconsts")?,
        },
        Prim::Scan { .. } => Prim::Scan {
            body: body(),
            nconsts: p.usize("nconsts")?,
            ncarry: p.usize("ncarry")?,
            length: p.usize("length")?,
            reverse: p.bool("reverse")?,
        },
    };
    p.finish()?;
    Ok(prim)
}

/// A scalar of `dtype` from its printed value (`Scalar`'s `Display` without the
/// `:dtype` suffix). Finite float text that overflows is rejected rather than silently
/// becoming infinite.
fn scalar_of(text: &str, dtype: DType) -> Option<Scalar> {
    fn float<T: std::str::FromStr>(text: &str, finite: impl Fn(&T) -> bool) -> Option<T> {
        // `str::parse` also takes `NaN`, `infinity`, `+1`…; only the printer's
        // spellings are IR.
        let numeric = text
            .strip_prefix('-')
            .unwrap_or(text)
            .starts_with(|c: char| c.is_ascii_digit());
        if !numeric && !matches!(text, "nan" | "inf" | "-inf") {
            return None;
        }
        let v = text.parse::<T>().ok()?;
        (!numeric || finite(&v)).then_some(v)
    }
    match dtype {
        DType::Bool => match text {
            "true" => Some(Scalar::Bool(true)),
            "false" => Some(Scalar::Bool(false)),
            _ => None,
        },
        DType::I32 => text.parse().ok().map(Scalar::I32),
        DType::I64 => text.parse().ok().map(Scalar::I64),
        DType::U32 => text.parse().ok().map(Scalar::U32),
        DType::F32 => float(text, |v: &f32| v.is_finite()).map(Scalar::F32),
        DType::F64 => float(text, |v: &f64| v.is_finite()).map(Scalar::F64),
    }
}

fn data_of(dtype: DType, values: &[Scalar]) -> Data {
    // Every value was parsed as `dtype`, so the casts below are identities.
    Data::from_scalars(dtype, values.iter().copied())
}

// ---------------------------------------------------------------------------------
// Parser

type Scope = HashMap<u32, Type>;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Every id defined so far anywhere in the function: ids are unique function-wide.
    defined: HashSet<u32>,
    depth: usize,
    prims: HashMap<&'static str, Prim>,
}

impl Parser {
    fn new(text: &str) -> Result<Parser, ParseError> {
        Ok(Parser {
            toks: lex(text)?,
            pos: 0,
            defined: HashSet::new(),
            depth: 0,
            prims: templates(),
        })
    }

    fn peek(&self) -> &Token {
        // `lex` always ends the list with `Eof`, and `bump` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn at(&self, tok: &Tok) -> bool {
        self.peek().tok == *tok
    }

    fn unexpected(t: &Token, what: &str) -> ParseError {
        t.pos.error(format!("expected {what}, found {}", t.tok))
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<Pos, ParseError> {
        let t = self.bump();
        if t.tok == *tok {
            Ok(t.pos)
        } else {
            Err(Self::unexpected(&t, what))
        }
    }

    fn keyword(&mut self, word: &str) -> Result<Pos, ParseError> {
        let t = self.bump();
        match &t.tok {
            Tok::Ident(s) if s == word => Ok(t.pos),
            _ => Err(Self::unexpected(&t, &format!("`{word}`"))),
        }
    }

    /// Items separated by commas up to the closing token (consumed); the opening
    /// token has been consumed by the caller.
    fn comma_list<T>(
        &mut self,
        close: &Tok,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut items = Vec::new();
        if self.at(close) {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            let t = self.bump();
            if t.tok == *close {
                return Ok(items);
            }
            if t.tok != Tok::Comma {
                return Err(Self::unexpected(&t, &format!("`,` or {close}")));
            }
        }
    }

    fn dtype(&mut self) -> Result<DType, ParseError> {
        let t = self.bump();
        match &t.tok {
            Tok::Ident(s) => {
                DType::from_name(s).ok_or_else(|| t.pos.error(format!("unknown dtype `{s}`")))
            }
            _ => Err(Self::unexpected(&t, "a dtype")),
        }
    }

    fn dim(&mut self) -> Result<(String, Pos), ParseError> {
        let t = self.bump();
        match &t.tok {
            Tok::Num(s) => Ok((s.clone(), t.pos)),
            _ => Err(Self::unexpected(&t, "an integer")),
        }
    }

    /// `[d0, d1, …]` after a dtype.
    fn dims(&mut self) -> Result<Vec<usize>, ParseError> {
        self.expect(&Tok::LBrack, "`[`")?;
        let dims = self.comma_list(&Tok::RBrack, Self::dim)?;
        dims.into_iter()
            .map(|(s, pos)| {
                s.parse::<usize>()
                    .map_err(|_| pos.error(format!("`{s}` is not a valid dimension")))
            })
            .collect()
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        let dtype = self.dtype()?;
        Ok(Type::new(dtype, self.dims()?))
    }

    /// `%id: type`, defining the variable in `scope` and function-wide.
    fn var_decl(&mut self, scope: &mut Scope) -> Result<Var, ParseError> {
        let (id, pos) = self.var_name()?;
        self.expect(&Tok::Colon, "`:`")?;
        let ty = self.ty()?;
        self.define(id, &ty, pos, scope)?;
        Ok(Var { id, ty })
    }

    fn var_name(&mut self) -> Result<(u32, Pos), ParseError> {
        let t = self.bump();
        match t.tok {
            Tok::Var(id) => Ok((id, t.pos)),
            _ => Err(Self::unexpected(&t, "a variable")),
        }
    }

    fn define(
        &mut self,
        id: u32,
        ty: &Type,
        pos: Pos,
        scope: &mut Scope,
    ) -> Result<(), ParseError> {
        if !self.defined.insert(id) {
            return Err(pos.error(format!("variable %{id} is defined more than once")));
        }
        scope.insert(id, ty.clone());
        Ok(())
    }

    fn func(&mut self) -> Result<Func, ParseError> {
        self.keyword("fn")?;
        let t = self.bump();
        let name = match &t.tok {
            Tok::Ident(s) | Tok::Str(s) => s.clone(),
            _ => return Err(Self::unexpected(&t, "a name")),
        };
        let mut scope = Scope::new();
        self.expect(&Tok::LParen, "`(`")?;
        let params = self.comma_list(&Tok::RParen, |p| p.var_decl(&mut scope))?;
        let arrow = self.expect(&Tok::Arrow, "`->`")?;
        self.expect(&Tok::LParen, "`(`")?;
        let declared = self.comma_list(&Tok::RParen, Self::ty)?;
        self.expect(&Tok::LBrace, "`{`")?;
        let (eqns, results) = self.body_contents(&mut scope)?;
        self.expect(&Tok::RBrace, "`}`")?;
        let body = Body {
            params,
            eqns,
            results,
        };
        let returned = body.result_types();
        if returned != declared {
            return Err(arrow.error(format!(
                "declared result types {} differ from the returned {}",
                type_list(&declared),
                type_list(&returned)
            )));
        }
        Ok(Func { name, body })
    }

    /// `|params| { eqns… return (…) }`, a closed body: it starts with an empty scope.
    fn body_block(&mut self) -> Result<Body, ParseError> {
        let open = self.expect(&Tok::Pipe, "`|`")?;
        if self.depth >= MAX_BODY_DEPTH {
            return Err(open.error(format!("bodies are nested more than {MAX_BODY_DEPTH} deep")));
        }
        self.depth += 1;
        let mut scope = Scope::new();
        let params = self.comma_list(&Tok::Pipe, |p| p.var_decl(&mut scope))?;
        self.expect(&Tok::LBrace, "`{`")?;
        let (eqns, results) = self.body_contents(&mut scope)?;
        self.expect(&Tok::RBrace, "`}`")?;
        self.depth -= 1;
        Ok(Body {
            params,
            eqns,
            results,
        })
    }

    fn body_contents(&mut self, scope: &mut Scope) -> Result<(Vec<Eqn>, Vec<Atom>), ParseError> {
        let mut eqns = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Ident(s) if s == "return" => {
                    self.bump();
                    self.expect(&Tok::LParen, "`(`")?;
                    let results = self.comma_list(&Tok::RParen, |p| p.atom(scope))?;
                    return Ok((eqns, results));
                }
                Tok::Var(_) | Tok::LParen => eqns.push(self.eqn(scope)?),
                _ => return Err(Self::unexpected(&t, "an equation or `return`")),
            }
        }
    }

    fn eqn(&mut self, scope: &mut Scope) -> Result<Eqn, ParseError> {
        // Results are declared first in the text but defined only after the right-hand
        // side, so the equation's own operands and bodies cannot see them.
        let mut outs: Vec<(u32, Type, Pos)> = Vec::new();
        if self.at(&Tok::LParen) {
            self.bump();
            self.expect(
                &Tok::RParen,
                "`)` (an equation without results is `() = …`)",
            )?;
        } else {
            loop {
                let (id, pos) = self.var_name()?;
                self.expect(&Tok::Colon, "`:`")?;
                outs.push((id, self.ty()?, pos));
                if !self.at(&Tok::Comma) {
                    break;
                }
                self.bump();
            }
        }
        self.expect(&Tok::Eq, "`=`")?;
        let t = self.bump();
        let (name, template) = match &t.tok {
            Tok::Ident(s) => match self.prims.get_key_value(s.as_str()) {
                Some((name, prim)) => (*name, prim.clone()),
                None => return Err(t.pos.error(format!("unknown primitive `{s}`"))),
            },
            _ => return Err(Self::unexpected(&t, "a primitive name")),
        };
        let mut params = Params {
            prim: name,
            at: t.pos,
            vals: Vec::new(),
        };
        if self.at(&Tok::LBrack) {
            self.bump();
            params.vals = self.comma_list(&Tok::RBrack, Self::param)?;
            let mut seen = HashSet::new();
            for (k, pos, _, _) in &params.vals {
                if !seen.insert(k.as_str()) {
                    return Err(pos.error(format!("parameter `{k}` is given twice")));
                }
            }
        }
        self.expect(&Tok::LParen, "`(`")?;
        let args = self.comma_list(&Tok::RParen, |p| p.atom(scope))?;
        let mut bodies = Vec::new();
        for (field, _) in body_fields(&template) {
            self.keyword(field)?;
            self.expect(&Tok::Eq, "`=`")?;
            bodies.push(self.body_block()?);
        }
        let prim = fill(template, params, bodies)?;
        let arg_types: Vec<Type> = args.iter().map(Atom::ty).collect();
        let inferred = crate::shape::infer(&prim, &arg_types).map_err(|e| t.pos.error(e.0))?;
        if inferred.len() != outs.len() {
            return Err(t.pos.error(format!(
                "`{name}` yields {} result(s) {}, {} declared",
                inferred.len(),
                type_list(&inferred),
                outs.len()
            )));
        }
        let mut vars = Vec::with_capacity(outs.len());
        for ((id, ty, pos), want) in outs.into_iter().zip(inferred) {
            if ty != want {
                return Err(pos.error(format!("%{id} is declared {ty} but `{name}` yields {want}")));
            }
            self.define(id, &ty, pos, scope)?;
            vars.push(Var { id, ty });
        }
        Ok(Eqn {
            prim,
            args,
            outs: vars,
            span: Span::DUMMY,
        })
    }

    /// `key=value`; the value's meaning is settled by [`Params`] once the key's field
    /// type is known.
    fn param(&mut self) -> Result<(String, Pos, PVal, Pos), ParseError> {
        let t = self.bump();
        let Tok::Ident(key) = t.tok else {
            return Err(Self::unexpected(&t, "a parameter name"));
        };
        self.expect(&Tok::Eq, "`=`")?;
        let v = self.bump();
        let val = match &v.tok {
            Tok::Num(s) => PVal::Num(s.clone()),
            Tok::LBrack => PVal::List(self.comma_list(&Tok::RBrack, Self::dim)?),
            Tok::Ident(s) if s == "true" => PVal::Bool(true),
            Tok::Ident(s) if s == "false" => PVal::Bool(false),
            Tok::Ident(s) => {
                let dtype = DType::from_name(s).ok_or_else(|| {
                    v.pos
                        .error(format!("unexpected `{s}` as a parameter value"))
                })?;
                // A dtype followed by dimensions is an array constant's type.
                if self.at(&Tok::LBrack) {
                    PVal::Array(self.array(dtype)?)
                } else {
                    PVal::DType(dtype)
                }
            }
            _ => return Err(Self::unexpected(&v, "a parameter value")),
        };
        Ok((key, t.pos, val, v.pos))
    }

    /// `[dims]{v0, v1, …}` after the dtype: a constant with every element spelled out.
    fn array(&mut self, dtype: DType) -> Result<Array, ParseError> {
        let shape = self.dims()?;
        let open = self.expect(&Tok::LBrace, "`{`")?;
        let values = self.comma_list(&Tok::RBrace, |p| {
            let t = p.bump();
            match &t.tok {
                Tok::Num(s) | Tok::Ident(s) => scalar_of(s, dtype)
                    .ok_or_else(|| t.pos.error(format!("`{s}` is not a valid {dtype} value"))),
                _ => Err(Self::unexpected(&t, &format!("a {dtype} value"))),
            }
        })?;
        Array::new(shape, data_of(dtype, &values)).map_err(|e| open.error(e.to_string()))
    }

    fn atom(&mut self, scope: &Scope) -> Result<Atom, ParseError> {
        let t = self.bump();
        match &t.tok {
            Tok::Var(id) => match scope.get(id) {
                Some(ty) => Ok(Atom::Var(Var {
                    id: *id,
                    ty: ty.clone(),
                })),
                None if self.defined.contains(id) => Err(t.pos.error(format!(
                    "%{id} is not defined in this body (bodies are closed: outer values \
                     must be passed as operands)"
                ))),
                None => Err(t.pos.error(format!("use of undefined variable %{id}"))),
            },
            Tok::Num(s) | Tok::Ident(s) => {
                self.expect(&Tok::Colon, "`:` and a dtype after a literal")?;
                let dtype = self.dtype()?;
                scalar_of(s, dtype)
                    .map(Atom::Lit)
                    .ok_or_else(|| t.pos.error(format!("`{s}` is not a valid {dtype} literal")))
            }
            _ => Err(Self::unexpected(&t, "a variable or a literal")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg_index(op: ArgOp) -> usize {
        match op {
            ArgOp::ArgMax => 0,
            ArgOp::ArgMin => 1,
        }
    }

    fn cum_index(op: CumOp) -> usize {
        match op {
            CumOp::Sum => 0,
            CumOp::Prod => 1,
        }
    }

    fn scatter_index(mode: ScatterMode) -> usize {
        match mode {
            ScatterMode::Set => 0,
            ScatterMode::Add => 1,
        }
    }

    /// The hand-written operator lists hold every variant, in the order of the
    /// exhaustive matches above (which stop compiling when a variant is added).
    #[test]
    fn operator_lists_are_complete() {
        for (i, op) in ARG_OPS.into_iter().enumerate() {
            assert_eq!(arg_index(op), i);
        }
        for (i, op) in CUM_OPS.into_iter().enumerate() {
            assert_eq!(cum_index(op), i);
        }
        for (i, m) in SCATTER_MODES.into_iter().enumerate() {
            assert_eq!(scatter_index(m), i);
        }
    }

    #[test]
    fn names_are_unique() {
        let n = UnaryOp::ALL.len()
            + BinaryOp::ALL.len()
            + CmpOp::ALL.len()
            + ReduceOp::ALL.len()
            + ARG_OPS.len()
            + CUM_OPS.len()
            + SCATTER_MODES.len()
            + 22;
        assert_eq!(templates().len(), n);
    }

    #[test]
    fn float_spellings() {
        assert_eq!(scalar_of("1e-7", DType::F64), Some(Scalar::F64(1e-7)));
        assert_eq!(
            scalar_of("-inf", DType::F32),
            Some(Scalar::F32(f32::NEG_INFINITY))
        );
        assert!(scalar_of("nan", DType::F64).is_some_and(|s| s.as_f64().is_nan()));
        assert_eq!(scalar_of("1e39", DType::F32), None);
        assert_eq!(scalar_of("infinity", DType::F64), None);
        assert_eq!(scalar_of("NaN", DType::F64), None);
        assert_eq!(scalar_of("1.5", DType::I64), None);
        assert_eq!(scalar_of("-1", DType::U32), None);
    }
}
