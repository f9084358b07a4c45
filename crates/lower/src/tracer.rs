//! The tracer: an IR builder plus the bookkeeping that keeps nested bodies closed.
//!
//! When code traced inside a nested body (a branch, a loop body) uses a variable of an
//! enclosing body, the tracer adds a parameter to every body in between and records the
//! outer value as a capture, so the control-flow primitive can pass it as an operand.

use std::collections::HashMap;

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Atom, Body, Builder, Prim, Type, Var};

/// One open nested body's captures: outer variable id → the parameter standing for it.
#[derive(Debug, Default)]
struct CaptureFrame {
    captured: Vec<(Var, Var)>,
    by_outer: HashMap<u32, Var>,
}

#[derive(Debug)]
pub struct Tracer {
    pub builder: Builder,
    /// Body depth (1 = the function) at which each variable was defined.
    depth_of: HashMap<u32, usize>,
    /// Captures of open nested bodies: `frames[i]` belongs to depth `i + 2`.
    frames: Vec<CaptureFrame>,
}

/// A closed nested body and the outer variables it captured, in parameter order after
/// its explicit parameters.
pub struct Closed {
    pub body: Body,
    pub captures: Vec<Var>,
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer::new()
    }
}

impl Tracer {
    pub fn new() -> Tracer {
        Tracer {
            builder: Builder::new(),
            depth_of: HashMap::new(),
            frames: Vec::new(),
        }
    }

    pub fn depth(&self) -> usize {
        self.builder.depth()
    }

    pub fn param(&mut self, ty: Type) -> Var {
        let v = self.builder.param(ty);
        self.depth_of.insert(v.id, self.depth());
        v
    }

    /// Makes `v` usable in the innermost body, capturing it through every body between
    /// its definition and here.
    pub fn use_var(&mut self, v: &Var, span: Span) -> Result<Var, Diagnostic> {
        let target = self.depth();
        self.lift(v, target, span)
    }

    fn lift(&mut self, v: &Var, target: usize, span: Span) -> Result<Var, Diagnostic> {
        let def = *self.depth_of.get(&v.id).ok_or_else(|| {
            Diagnostic::error(
                Code::INTERNAL,
                "a traced value escaped the function it belongs to",
            )
            .at(span, "used here")
        })?;
        if def == target {
            return Ok(v.clone());
        }
        if def > target {
            return Err(Diagnostic::error(
                Code::INTERNAL,
                "a value traced inside a loop or branch body is used outside it",
            )
            .at(span, "used here"));
        }
        let outer = self.lift(v, target - 1, span)?;
        let frame_index = target - 2;
        if let Some(p) = self.frames[frame_index].by_outer.get(&outer.id) {
            return Ok(p.clone());
        }
        let p = self.builder.fresh(outer.ty.clone());
        self.depth_of.insert(p.id, target);
        let frame = &mut self.frames[frame_index];
        frame.by_outer.insert(outer.id, p.clone());
        frame.captured.push((outer, p.clone()));
        Ok(p)
    }

    /// Emits an equation whose operands are already atoms of the innermost body.
    pub fn emit(
        &mut self,
        prim: Prim,
        args: Vec<Atom>,
        span: Span,
    ) -> Result<Vec<Var>, Diagnostic> {
        let outs = self.builder.emit(prim, args, span).map_err(|e| {
            Diagnostic::error(Code::INTERNAL, format!("ill-typed operation: {e}")).at(span, "here")
        })?;
        let d = self.depth();
        for o in &outs {
            self.depth_of.insert(o.id, d);
        }
        Ok(outs)
    }

    /// Opens a nested body with explicit parameters of the given types.
    pub fn begin_body(&mut self, param_types: &[Type]) -> Vec<Var> {
        let params = self.builder.begin_body(param_types);
        self.frames.push(CaptureFrame::default());
        let d = self.depth();
        for p in &params {
            self.depth_of.insert(p.id, d);
        }
        params
    }

    /// Closes the innermost body; captured parameters follow the explicit ones.
    pub fn end_body(&mut self, results: Vec<Atom>) -> Closed {
        let frame = self.frames.pop().unwrap_or_default();
        let mut body = self.builder.end_body(results);
        let mut captures = Vec::with_capacity(frame.captured.len());
        for (outer, param) in frame.captured {
            body.params.push(param);
            captures.push(outer);
        }
        Closed { body, captures }
    }

    /// A fresh variable not yet bound anywhere (for patching closed bodies).
    pub fn fresh(&mut self, ty: Type) -> Var {
        self.builder.fresh(ty)
    }

    /// Emits a copy of `body` applied to `args` (atoms of the innermost body) and
    /// returns its results; nested bodies are copied with fresh variables because ids
    /// are unique per function.
    pub fn inline(&mut self, body: &Body, args: Vec<Atom>) -> Result<Vec<Atom>, Diagnostic> {
        let mut env: HashMap<u32, Atom> = HashMap::new();
        for (p, a) in body.params.iter().zip(args) {
            env.insert(p.id, a);
        }
        let subst = |env: &HashMap<u32, Atom>, a: &Atom| match a {
            Atom::Var(v) => env.get(&v.id).cloned().unwrap_or_else(|| a.clone()),
            Atom::Lit(_) => a.clone(),
        };
        for e in &body.eqns {
            let args = e.args.iter().map(|a| subst(&env, a)).collect();
            let prim = self.fresh_prim(&e.prim)?;
            let outs = self.emit(prim, args, e.span)?;
            for (o, n) in e.outs.iter().zip(outs) {
                env.insert(o.id, Atom::Var(n));
            }
        }
        Ok(body.results.iter().map(|a| subst(&env, a)).collect())
    }

    fn fresh_body(&mut self, body: &Body) -> Result<Body, Diagnostic> {
        let params = self.builder.begin_body(&body.param_types());
        let d = self.depth();
        for p in &params {
            self.depth_of.insert(p.id, d);
        }
        let results = self.inline(body, params.into_iter().map(Atom::Var).collect())?;
        Ok(self.builder.end_body(results))
    }

    fn fresh_prim(&mut self, prim: &Prim) -> Result<Prim, Diagnostic> {
        prim.try_map_bodies(|b| self.fresh_body(b))
    }

    pub fn finish(self, name: &str, results: Vec<Atom>) -> nabla_ir::Func {
        self.builder.finish(name, results)
    }
}
