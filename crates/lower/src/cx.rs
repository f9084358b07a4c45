//! The evaluation context: the engine's long-lived state (sources, modules, caches),
//! the host, and the tracer while a function body is being traced.
//!
//! Every array operation goes through [`Cx::emit`]: with a tracer it appends an
//! equation to the IR being built; without one (the script layer) it runs the
//! primitive at once on concrete arrays through the host.

use std::collections::HashMap;
use std::rc::Rc;

use nabla_diag::{Code, Diagnostic, SourceMap, Span};
use nabla_ir::{Array, Atom, DType, Prim, Scalar, Type};

use crate::host::Host;
use crate::modules::Module;
use crate::tracer::Tracer;
use crate::value::{Repr, Tensor, Value};

pub type Res<T> = Result<T, Diagnostic>;

/// A traced function ready to run: the IR and how to map values in and out.
#[derive(Debug)]
pub struct Traced {
    pub func: Rc<nabla_ir::Func>,
    /// The result's tuple structure; leaves are the function's results in order.
    pub out_tree: OutTree,
}

/// The tuple structure of a traced function's result.
#[derive(Clone, Debug, PartialEq)]
pub enum OutTree {
    /// An array leaf and whether it is weakly typed.
    Leaf {
        weak: bool,
    },
    Tuple(Vec<OutTree>),
}

impl OutTree {
    pub fn leaves(&self) -> usize {
        match self {
            OutTree::Leaf { .. } => 1,
            OutTree::Tuple(ts) => ts.iter().map(OutTree::leaves).sum(),
        }
    }

    /// Rebuilds a value from leaf arrays in order.
    pub fn rebuild(&self, leaves: &mut impl Iterator<Item = Array>) -> Value {
        match self {
            OutTree::Leaf { weak } => match leaves.next() {
                Some(a) => Value::Arr(Tensor::concrete(a).with_weak(*weak)),
                None => Value::None,
            },
            OutTree::Tuple(ts) => Value::tuple(ts.iter().map(|t| t.rebuild(leaves)).collect()),
        }
    }
}

/// A key identifying one trace of a function for one argument signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SigLeaf {
    Array(Type, bool),
    Int(i64),
    Bool(bool),
    Str(String),
    DType(DType),
    None,
    /// A function argument, by identity.
    Func(usize),
    Module(usize),
    Open(usize),
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub callee: usize,
    pub sig: Vec<SigLeaf>,
}

/// State that outlives one evaluation: sources, loaded modules, trace caches.
#[derive(Default)]
pub struct Engine {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
    pub(crate) cache: HashMap<CacheKey, Rc<Traced>>,
    /// Functions currently being traced, to report recursion instead of looping.
    pub(crate) tracing_stack: Vec<String>,
    /// Nesting depth of calls while evaluating, guarding against runaway recursion
    /// through lambdas.
    pub(crate) call_depth: usize,
    /// The last traced function, kept for `nabla ir` and the REPL.
    pub last_trace: Option<Rc<nabla_ir::Func>>,
    /// Seconds spent tracing and compiling so far (for `timeit`).
    pub trace_seconds: f64,
    pub compile_seconds: f64,
}

pub struct Cx<'a> {
    pub eng: &'a mut Engine,
    pub host: &'a mut dyn Host,
    pub tracer: Option<Tracer>,
}

/// Calls deeper than this are reported rather than overflowing the stack.
pub const MAX_CALL_DEPTH: usize = 200;

impl<'a> Cx<'a> {
    pub fn new(eng: &'a mut Engine, host: &'a mut dyn Host) -> Cx<'a> {
        Cx {
            eng,
            host,
            tracer: None,
        }
    }

    pub fn tracing(&self) -> bool {
        self.tracer.is_some()
    }

    /// The source text of a span (operand names in shape errors).
    pub fn snippet(&self, span: Span) -> String {
        let s = self.eng.sources.snippet(span);
        if s.is_empty() || s.len() > 40 || s.contains('\n') {
            "the operand".to_string()
        } else {
            s.to_string()
        }
    }

    /// The atom standing for `t` in the innermost body being traced.
    pub fn atom(&mut self, t: &Tensor, span: Span) -> Res<Atom> {
        match &t.repr {
            Repr::Traced(v) => {
                let tracer = self.tracer.as_mut().ok_or_else(|| {
                    Diagnostic::error(Code::INTERNAL, "a traced value outside of tracing")
                        .at(span, "")
                })?;
                Ok(Atom::Var(tracer.use_var(v, span)?))
            }
            Repr::Concrete(a) => {
                if a.rank() == 0 {
                    if let Some(s) = a.to_scalar() {
                        return Ok(Atom::Lit(s));
                    }
                }
                let tracer = self.tracer.as_mut().ok_or_else(|| {
                    Diagnostic::error(Code::INTERNAL, "no tracer for a constant").at(span, "")
                })?;
                let outs = tracer.emit(Prim::Constant { value: a.clone() }, vec![], span)?;
                Ok(Atom::Var(outs[0].clone()))
            }
        }
    }

    /// Applies a primitive: traced when tracing, else run at once.
    pub fn emit(&mut self, prim: Prim, args: &[Tensor], span: Span) -> Res<Vec<Tensor>> {
        if self.tracer.is_some() {
            let mut atoms = Vec::with_capacity(args.len());
            for a in args {
                atoms.push(self.atom(a, span)?);
            }
            let tracer = self
                .tracer
                .as_mut()
                .ok_or_else(|| Diagnostic::error(Code::INTERNAL, "tracer vanished").at(span, ""))?;
            let outs = tracer.emit(prim, atoms, span)?;
            Ok(outs.into_iter().map(Tensor::traced).collect())
        } else {
            let mut arrays = Vec::with_capacity(args.len());
            for a in args {
                match &a.repr {
                    Repr::Concrete(x) => arrays.push(x.clone()),
                    Repr::Traced(_) => {
                        return Err(Diagnostic::error(
                            Code::INTERNAL,
                            "a traced value reached the script layer",
                        )
                        .at(span, ""))
                    }
                }
            }
            // Check the operation is well-typed before running it, so the host only
            // ever sees valid primitives.
            let types: Vec<Type> = arrays.iter().map(Array::ty).collect();
            nabla_ir::infer(&prim, &types).map_err(|e| {
                Diagnostic::error(Code::INTERNAL, format!("ill-typed operation: {e}"))
                    .at(span, "here")
            })?;
            let outs = self.host.apply(&prim, &arrays, span)?;
            Ok(outs.into_iter().map(Tensor::concrete).collect())
        }
    }

    pub fn emit1(&mut self, prim: Prim, args: &[Tensor], span: Span) -> Res<Tensor> {
        let mut outs = self.emit(prim, args, span)?;
        if outs.len() != 1 {
            return Err(Diagnostic::error(Code::INTERNAL, "expected one result").at(span, ""));
        }
        Ok(outs.remove(0))
    }

    /// A scalar constant tensor.
    pub fn scalar(&self, s: Scalar) -> Tensor {
        Tensor::concrete(Array::scalar(s))
    }
}
