//! The syntax tree of a Nabla file: every node carries the span of the source it came from.
//!
//! This is the contract between the parser and the lowering. It stays close to the
//! surface syntax (method calls, `.at[]` chains and tuple fields are plain postfix nodes);
//! giving them meaning is the lowering's job.

use nabla_diag::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole source file: items and statements in source order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    pub stmts: Vec<Stmt>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `fn name(params) -> ann = expr` or `fn name(params) { … }` (hoisted in its file).
    Fn(FnDef),
    /// `use name` (stdlib module or sibling file) or `use "rel/path.nbl"`.
    Use(UseTarget),
    /// `let pat = expr`
    Let { pat: Pattern, value: Expr },
    /// `var name = expr` (script layer only)
    Var { name: Ident, value: Expr },
    /// `name = expr` (script layer only)
    Assign { name: Ident, value: Expr },
    /// `for i in lo..hi { … }` (script layer only)
    For {
        var: Ident,
        lo: Expr,
        hi: Expr,
        body: Block,
    },
    /// An expression statement; `if` statements are `Expr` with `ExprKind::If`.
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum UseTarget {
    Module(Ident),
    Path { path: String, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeAnn>,
    /// For `= expr` the expression; for `{ … }` an `ExprKind::Block`.
    pub body: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ann: Option<TypeAnn>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `f64` (a scalar), `f32[n, 3]`, or `(ann, ann)` for a tuple parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeAnn {
    Array {
        dtype: Ident,
        /// `None` for a bare dtype (`f64` means a scalar).
        dims: Option<Vec<Dim>>,
        span: Span,
    },
    Tuple {
        elems: Vec<TypeAnn>,
        span: Span,
    },
}

impl TypeAnn {
    pub fn span(&self) -> Span {
        match self {
            TypeAnn::Array { span, .. } | TypeAnn::Tuple { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    Const {
        value: u64,
        span: Span,
    },
    /// A size variable, unified across one signature.
    Var(Ident),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    /// The value of the block; `None` when it ends in a statement.
    pub tail: Option<Box<Expr>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    Name(Ident),
    Wildcard(Span),
    Tuple(Vec<Pattern>, Span),
}

impl Pattern {
    pub fn span(&self) -> Span {
        match self {
            Pattern::Name(i) => i.span,
            Pattern::Wildcard(s) | Pattern::Tuple(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    Name(String),
    /// `()`, `(a,)`, `(a, b)`. A parenthesised expression `(a)` is just `a`.
    Tuple(Vec<Expr>),
    /// `[a, b, …]`: an array literal (elements stacked along a new first axis), also
    /// used where a list is expected (`concat([x, y])`, `reshape(x, [2, 3])`).
    List(Vec<Expr>),
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `callee(args)`; `x.f(a)` is `Call { callee: Field { x, f }, .. }`.
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    /// `base[i, a:b, ..., None]`
    Index {
        base: Box<Expr>,
        items: Vec<IndexItem>,
    },
    /// `base.name`: attribute (`x.shape`, `x.T`), method (when called) or `x.at`.
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    /// `base.0`: a static tuple field.
    TupleField {
        base: Box<Expr>,
        index: u32,
        index_span: Span,
    },
    If {
        cond: Box<Expr>,
        then_branch: Block,
        /// A `Block` expression, or another `If` for `else if`.
        else_branch: Option<Box<Expr>>,
    },
    Lambda {
        params: Vec<Param>,
        body: Box<Expr>,
    },
    Block(Block),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    MatMul,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    /// The operator as written in source.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::MatMul => "@",
            BinOp::Pow => "**",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for a keyword argument `k=v`.
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// An integer, an integer array, or `none` (a new axis).
    Expr(Expr),
    /// `start:stop:step`, each part optional.
    Slice {
        start: Option<Expr>,
        stop: Option<Expr>,
        step: Option<Expr>,
        span: Span,
    },
    Ellipsis(Span),
}
