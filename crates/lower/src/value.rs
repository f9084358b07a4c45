//! Values of the evaluator: arrays (concrete or traced), static scalars, tuples, lists,
//! functions, modules and `.at[]` proxies.
//!
//! Static scalars (`Int`, `Float`) are Python-like weakly typed numbers that fold at
//! trace time; they become IR values only when they meet an array.

use std::fmt;
use std::rc::Rc;

use nabla_diag::Span;
use nabla_ir::{Array, DType, Type, Var};
use nabla_syntax::ast;

use crate::builtins::Builtin;
use crate::env::Env;

/// An array value: concrete data (script layer, constants) or a variable of the IR
/// being traced. `weak` marks values whose dtype came from a literal (JAX's weak types).
#[derive(Clone, Debug)]
pub struct Tensor {
    pub repr: Repr,
    pub weak: bool,
}

#[derive(Clone, Debug)]
pub enum Repr {
    Concrete(Array),
    Traced(Var),
}

impl Tensor {
    pub fn concrete(a: Array) -> Tensor {
        Tensor {
            repr: Repr::Concrete(a),
            weak: false,
        }
    }

    pub fn traced(v: Var) -> Tensor {
        Tensor {
            repr: Repr::Traced(v),
            weak: false,
        }
    }

    pub fn with_weak(mut self, weak: bool) -> Tensor {
        self.weak = weak;
        self
    }

    pub fn ty(&self) -> Type {
        match &self.repr {
            Repr::Concrete(a) => a.ty(),
            Repr::Traced(v) => v.ty.clone(),
        }
    }

    pub fn dtype(&self) -> DType {
        match &self.repr {
            Repr::Concrete(a) => a.dtype(),
            Repr::Traced(v) => v.ty.dtype,
        }
    }

    pub fn shape(&self) -> Vec<usize> {
        match &self.repr {
            Repr::Concrete(a) => a.shape().to_vec(),
            Repr::Traced(v) => v.ty.shape.clone(),
        }
    }

    pub fn rank(&self) -> usize {
        match &self.repr {
            Repr::Concrete(a) => a.rank(),
            Repr::Traced(v) => v.ty.rank(),
        }
    }

    pub fn as_concrete(&self) -> Option<&Array> {
        match &self.repr {
            Repr::Concrete(a) => Some(a),
            Repr::Traced(_) => None,
        }
    }
}

/// An index item after evaluation: static parts are plain numbers.
#[derive(Clone, Debug)]
pub enum IndexArg {
    /// A static integer index (may be negative).
    Int(i64, Span),
    /// A traced integer scalar or an integer array (gather).
    Tensor(Tensor, Span),
    Slice {
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
        span: Span,
    },
    Ellipsis(Span),
    NewAxis(Span),
}

/// A function a script or function body can call.
#[derive(Clone, Debug)]
pub enum Callable {
    /// A `fn` item of a module.
    User {
        module: usize,
        def: Rc<ast::FnDef>,
    },
    Lambda {
        params: Rc<[ast::Param]>,
        body: Rc<ast::Expr>,
        env: Env,
        module: usize,
        span: Span,
    },
    Builtin(Builtin),
    /// `x.f` waiting for its call: `x.f(a)` is `f(x, a)`.
    Method {
        func: Rc<Callable>,
        receiver: Value,
    },
    /// `x.at[i].set` etc.
    AtMethod {
        base: Tensor,
        index: Rc<[IndexArg]>,
        op: AtOp,
    },
    /// A transform applied to a function (`grad(f)`, `vmap(f, in_axes=…)`, `jit(f)`).
    Transform {
        kind: TransformKind,
        inner: Value,
        options: Rc<[(String, Value)]>,
    },
    /// The pullback returned by `vjp`: the transposed linear function and the
    /// residuals it consumes (concrete at the script layer, traced inside functions).
    Pullback(Rc<crate::transforms::PullbackFn>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtOp {
    Set,
    Add,
    Mul,
    Min,
    Max,
    Get,
}

impl AtOp {
    pub fn from_name(name: &str) -> Option<AtOp> {
        Some(match name {
            "set" => AtOp::Set,
            "add" => AtOp::Add,
            "mul" => AtOp::Mul,
            "min" => AtOp::Min,
            "max" => AtOp::Max,
            "get" => AtOp::Get,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransformKind {
    Grad,
    ValueAndGrad,
    Vmap,
    Jit,
}

impl TransformKind {
    pub fn name(self) -> &'static str {
        match self {
            TransformKind::Grad => "grad",
            TransformKind::ValueAndGrad => "value_and_grad",
            TransformKind::Vmap => "vmap",
            TransformKind::Jit => "jit",
        }
    }
}

/// Any value the evaluator manipulates.
#[derive(Clone, Debug)]
pub enum Value {
    Arr(Tensor),
    /// A static integer (weak i64 when it meets an array).
    Int(i64),
    /// A static float (weak f64 when it meets an array).
    Float(f64),
    Bool(bool),
    Str(Rc<str>),
    None,
    Tuple(Rc<[Value]>),
    /// A `[a, b, …]` literal, turned into an array (or a shape, or an operand list)
    /// by whatever consumes it.
    List(Rc<[Value]>),
    DType(DType),
    Func(Rc<Callable>),
    Module(usize),
    /// `x.at`
    At(Tensor),
    /// `x.at[…]`
    AtIndex(Tensor, Rc<[IndexArg]>),
}

impl Value {
    pub fn tuple(items: Vec<Value>) -> Value {
        Value::Tuple(items.into())
    }

    pub fn arr(a: Array) -> Value {
        Value::Arr(Tensor::concrete(a))
    }

    /// A short description of the value's kind for error messages.
    pub fn kind_name(&self) -> String {
        match self {
            Value::Arr(t) => t.ty().to_string(),
            Value::Int(_) => "an integer".into(),
            Value::Float(_) => "a float".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Str(_) => "a string".into(),
            Value::None => "none".into(),
            Value::Tuple(t) => format!("a tuple of {}", t.len()),
            Value::List(l) => format!("a list of {}", l.len()),
            Value::DType(_) => "a dtype".into(),
            Value::Func(_) => "a function".into(),
            Value::Module(_) => "a module".into(),
            Value::At(_) | Value::AtIndex(..) => "an `.at[]` update".into(),
        }
    }
}

impl fmt::Display for TransformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
