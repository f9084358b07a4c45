//! The IR itself: variables, atoms, equations, bodies and functions in A-normal form,
//! and the builder the tracer uses to emit them.
//!
//! A [`Body`] is closed: it sees only its parameters, so every nested body of a control
//! flow primitive receives what it captures as explicit operands. That keeps every
//! transform local to one body.

use nabla_diag::Span;

use crate::dtype::{DType, Scalar, Type};
use crate::prim::Prim;
use crate::shape::{infer, TypeError};

/// A variable, unique within one top-level function (nested bodies included), carrying
/// its type so rules never need an environment to know an operand's type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    pub id: u32,
    pub ty: Type,
}

/// An operand: a variable or a scalar literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Atom {
    Var(Var),
    Lit(Scalar),
}

impl Atom {
    pub fn ty(&self) -> Type {
        match self {
            Atom::Var(v) => v.ty.clone(),
            Atom::Lit(s) => Type::scalar(s.dtype()),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Atom::Var(v) => v.ty.dtype,
            Atom::Lit(s) => s.dtype(),
        }
    }

    pub fn as_var(&self) -> Option<&Var> {
        match self {
            Atom::Var(v) => Some(v),
            Atom::Lit(_) => None,
        }
    }
}

impl From<Var> for Atom {
    fn from(v: Var) -> Atom {
        Atom::Var(v)
    }
}

impl From<&Var> for Atom {
    fn from(v: &Var) -> Atom {
        Atom::Var(v.clone())
    }
}

/// `outs = prim(args)`, with the source span it was traced from (for runtime errors).
#[derive(Clone, Debug, PartialEq)]
pub struct Eqn {
    pub prim: Prim,
    pub args: Vec<Atom>,
    pub outs: Vec<Var>,
    pub span: Span,
}

/// A closed sequence of equations with parameters and results.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Body {
    pub params: Vec<Var>,
    pub eqns: Vec<Eqn>,
    pub results: Vec<Atom>,
}

impl Body {
    pub fn param_types(&self) -> Vec<Type> {
        self.params.iter().map(|v| v.ty.clone()).collect()
    }

    pub fn result_types(&self) -> Vec<Type> {
        self.results.iter().map(Atom::ty).collect()
    }

    /// Number of equations, nested bodies included (for pass reports).
    pub fn eqn_count(&self) -> usize {
        self.eqns
            .iter()
            .map(|e| 1 + e.prim.bodies().iter().map(|b| b.eqn_count()).sum::<usize>())
            .sum()
    }

    /// The largest variable id used anywhere in the body, nested bodies included.
    pub fn max_var_id(&self) -> Option<u32> {
        let mut max = self.params.iter().map(|v| v.id).max();
        for e in &self.eqns {
            for o in &e.outs {
                max = max.max(Some(o.id));
            }
            for b in e.prim.bodies() {
                max = max.max(b.max_var_id());
            }
        }
        max
    }
}

/// A traced function: a named closed body.
#[derive(Clone, Debug, PartialEq)]
pub struct Func {
    pub name: String,
    pub body: Body,
}

/// Emits equations while tracing. Bodies nest: `begin_body` opens a new closed body
/// whose parameters are fresh variables, `end_body` closes it.
#[derive(Debug, Default)]
pub struct Builder {
    next_id: u32,
    /// Open bodies, innermost last; the first is the function being built.
    frames: Vec<Body>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            next_id: 0,
            frames: vec![Body::default()],
        }
    }

    /// A builder whose fresh ids start after `body`'s (to extend or rewrite it).
    pub fn after(body: &Body) -> Builder {
        Builder {
            next_id: body.max_var_id().map_or(0, |m| m + 1),
            frames: vec![Body::default()],
        }
    }

    pub fn fresh(&mut self, ty: Type) -> Var {
        let v = Var {
            id: self.next_id,
            ty,
        };
        self.next_id += 1;
        v
    }

    /// Adds a parameter to the innermost open body.
    pub fn param(&mut self, ty: Type) -> Var {
        let v = self.fresh(ty);
        self.top().params.push(v.clone());
        v
    }

    fn top(&mut self) -> &mut Body {
        if self.frames.is_empty() {
            self.frames.push(Body::default());
        }
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// Infers the result types of `prim` on `args`, appends the equation to the
    /// innermost open body and returns its result variables.
    pub fn emit(&mut self, prim: Prim, args: Vec<Atom>, span: Span) -> Result<Vec<Var>, TypeError> {
        let arg_types: Vec<Type> = args.iter().map(Atom::ty).collect();
        let out_types = infer(&prim, &arg_types)?;
        let outs: Vec<Var> = out_types.into_iter().map(|t| self.fresh(t)).collect();
        self.top().eqns.push(Eqn {
            prim,
            args,
            outs: outs.clone(),
            span,
        });
        Ok(outs)
    }

    /// Like [`Builder::emit`] for primitives with exactly one result.
    pub fn emit1(&mut self, prim: Prim, args: Vec<Atom>, span: Span) -> Result<Var, TypeError> {
        let mut outs = self.emit(prim, args, span)?;
        match outs.len() {
            1 => Ok(outs.remove(0)),
            n => Err(TypeError(format!(
                "expected one result, the primitive has {n}"
            ))),
        }
    }

    /// Opens a nested body with parameters of the given types.
    pub fn begin_body(&mut self, param_types: &[Type]) -> Vec<Var> {
        self.frames.push(Body::default());
        param_types.iter().map(|t| self.param(t.clone())).collect()
    }

    /// Closes the innermost body with its results.
    pub fn end_body(&mut self, results: Vec<Atom>) -> Body {
        let mut body = self.frames.pop().unwrap_or_default();
        body.results = results;
        body
    }

    /// Depth of open bodies (1 while building the top-level function).
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Finishes the top-level function.
    pub fn finish(mut self, name: impl Into<String>, results: Vec<Atom>) -> Func {
        let mut body = if self.frames.is_empty() {
            Body::default()
        } else {
            self.frames.swap_remove(0)
        };
        body.results = results;
        Func {
            name: name.into(),
            body,
        }
    }
}
