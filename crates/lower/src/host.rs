//! What the evaluator needs from its embedder: running primitives and traced functions
//! on some backend, and the script layer's I/O. The lowering knows no backend.

use std::rc::Rc;

use nabla_diag::{Diagnostic, Span};
use nabla_ir::{Array, Func, Prim};

/// Where a `use` looks for a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleRequest {
    /// `use name`: the standard library first, then `name.nbl` beside the script.
    Named {
        name: String,
        relative_to: Option<String>,
    },
    /// `use "rel/path.nbl"`, relative to the using file.
    Path {
        path: String,
        relative_to: Option<String>,
    },
}

/// A module's source as found by the host.
pub struct ModuleSource {
    /// A name for diagnostics (the path, or `stdlib/nn.nbl`).
    pub name: String,
    pub text: String,
}

/// Timing of one traced function call, for `timeit` and profiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallTiming {
    /// Seconds spent compiling for the backend during this call (0 when cached).
    pub compile_s: f64,
}

pub trait Host {
    /// Runs one primitive on concrete arrays (script-layer eager operations).
    fn apply(&mut self, prim: &Prim, args: &[Array], span: Span) -> Result<Vec<Array>, Diagnostic>;

    /// Runs a traced function on concrete arrays, compiling it first if needed.
    fn call(
        &mut self,
        func: &Rc<Func>,
        args: &[Array],
    ) -> Result<(Vec<Array>, CallTiming), Diagnostic>;

    /// Writes a line of script output.
    fn print(&mut self, text: &str);

    /// `load(path)`: `.npy` (or `.csv`) into an array.
    fn load(&mut self, path: &str, span: Span) -> Result<Array, Diagnostic>;

    /// `load_csv(path)`.
    fn load_csv(&mut self, path: &str, span: Span) -> Result<Array, Diagnostic>;

    /// `save(path, x)`.
    fn save(&mut self, path: &str, value: &Array, span: Span) -> Result<(), Diagnostic>;

    /// NumPy-style text of an array for `print`.
    fn format_array(&self, a: &Array) -> String;

    /// Finds the source of a module named by `use`.
    fn module_source(&mut self, request: &ModuleRequest) -> Option<ModuleSource>;

    /// Appends a `timeit` record where the user asked for one (`NABLA_TIMEIT_JSON`).
    fn timeit_record(&mut self, _json_line: &str) {}
}
