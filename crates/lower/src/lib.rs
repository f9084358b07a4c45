//! From source to IR: module loading, name resolution, dtype promotion and
//! broadcasting, the script-layer evaluator, and tracing of functions for concrete
//! argument types into typed IR (cached per signature, like `jax.jit`).
//!
//! Execution is delegated to a [`Host`]: this crate knows no backend.

mod builtins;
mod call;
mod check;
mod control;
mod cx;
mod einsum;
mod env;
mod eval;
mod gradcheck;
mod host;
mod index;
mod modules;
mod ops;
mod promote;
mod random;
mod script;
mod tracer;
mod transforms;
mod value;

pub use call::ArgSpec;
pub use cx::{Engine, OutTree, Traced};
pub use host::{CallTiming, Host, ModuleRequest, ModuleSource};
pub use promote::join as promote_join;
pub use script::text_plot;
pub use value::{Callable, Tensor, Value};

use std::rc::Rc;

use nabla_diag::{Code, Diagnostic, Diagnostics, Severity, Span};
use nabla_ir::{Array, Type};

use cx::Cx;
use eval::ArgVal;

/// A handle to a module loaded into an [`Engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleId(pub usize);

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Creates an empty module (a script, or the REPL's session).
    pub fn create_module(
        &mut self,
        host: &mut dyn Host,
        name: &str,
        origin: Option<String>,
    ) -> ModuleId {
        let mut cx = Cx::new(self, host);
        ModuleId(cx.new_module(name, origin))
    }

    /// Parses and checks `text` as more source of module `m`, without running it.
    pub fn check(
        &mut self,
        host: &mut dyn Host,
        m: ModuleId,
        name: &str,
        text: &str,
    ) -> Diagnostics {
        let file = self.sources.add(name, text);
        let (ast, mut diags) = nabla_syntax::parse(file, text);
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Diagnostics(diags);
        }
        let mut cx = Cx::new(self, host);
        diags.extend(cx.add_source(m.0, file, &ast).0);
        Diagnostics(diags)
    }

    /// Adds `text` to module `m` and runs its statements; returns the value of the last
    /// expression statement (what the REPL prints).
    pub fn run(
        &mut self,
        host: &mut dyn Host,
        m: ModuleId,
        name: &str,
        text: &str,
    ) -> Result<Option<Value>, Diagnostics> {
        let file = self.sources.add(name, text);
        let (ast, diags) = nabla_syntax::parse(file, text);
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(Diagnostics(diags));
        }
        let mut cx = Cx::new(self, host);
        let check = cx.add_source(m.0, file, &ast);
        if check.has_errors() {
            return Err(check);
        }
        let env = cx.module_env(m.0);
        let mut last = None;
        for s in &ast.stmts {
            last = cx.exec_stmt(s, &env, m.0).map_err(Diagnostics::from)?;
        }
        Ok(last)
    }

    /// Looks up a function (or any value) visible at the top level of module `m`.
    pub fn lookup(&mut self, host: &mut dyn Host, m: ModuleId, name: &str) -> Option<Value> {
        let cx = Cx::new(self, host);
        let env = cx.module_env(m.0);
        env.lookup(name).or_else(|| cx.module_lookup(m.0, name))
    }

    /// Calls a function value on arrays (and tuples of arrays) from the embedding API.
    pub fn call(
        &mut self,
        host: &mut dyn Host,
        f: &Value,
        args: Vec<Value>,
    ) -> Result<Value, Diagnostic> {
        let mut cx = Cx::new(self, host);
        let args = args
            .into_iter()
            .map(|v| ArgVal::pos(v, Span::DUMMY))
            .collect();
        cx.call_value(f, args, Span::DUMMY, Span::DUMMY)
    }

    /// Evaluates an expression in module `m` (for the REPL and oracle-style calls such
    /// as `grad(f)`) without adding statements.
    pub fn eval_expr(
        &mut self,
        host: &mut dyn Host,
        m: ModuleId,
        text: &str,
    ) -> Result<Value, Diagnostics> {
        let file = self.sources.add("<expr>", text);
        let expr = nabla_syntax::parse_expr(file, text).map_err(Diagnostics)?;
        let mut cx = Cx::new(self, host);
        let env = cx.module_env(m.0);
        cx.eval(&expr, &env, m.0).map_err(Diagnostics::from)
    }

    /// Traces a function value for argument types (as `nabla ir` and
    /// `jax.make_jaxpr` do) without running it.
    pub fn trace(
        &mut self,
        host: &mut dyn Host,
        f: &Value,
        args: &[ArgSpec],
    ) -> Result<Rc<Traced>, Diagnostic> {
        let Value::Func(c) = f else {
            return Err(Diagnostic::error(
                Code::NOT_CALLABLE,
                format!("{} is not a function", f.kind_name()),
            ));
        };
        let mut cx = Cx::new(self, host);
        cx.trace(c, args, Span::DUMMY)
    }

    /// Formats a value as `print` does.
    pub fn format_value(&mut self, host: &mut dyn Host, v: &Value) -> String {
        let cx = Cx::new(self, host);
        cx.format_value(v)
    }
}

/// An argument spec for an array type.
pub fn array_spec(ty: Type) -> ArgSpec {
    ArgSpec::Array(ty, false)
}

/// Wraps a concrete array as a value.
pub fn array_value(a: Array) -> Value {
    Value::arr(a)
}
