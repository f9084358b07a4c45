//! Embed the Nabla array language in a Rust program.
//!
//! A [`Session`] loads and runs Nabla source, looks up its functions and calls them on
//! [`Array`]s; every failure is a [`Diagnostic`] with a code, message, spans and hint,
//! rendered with [`Session::render`]. The `nabla` command-line tool is a thin layer over
//! this API.
//!
//! ```
//! use nabla::{Array, Session};
//! let mut s = Session::new();
//! s.run_source("demo.nbl", "fn f(x) = sum(x * x)").unwrap();
//! let x = Array::from_f64(vec![3], vec![1.0, 2.0, 3.0]).unwrap();
//! let y = s.call("f", vec![x.into()]).unwrap();
//! assert_eq!(y.as_array().unwrap().to_f64_vec(), vec![14.0]);
//! ```

pub mod io;
#[cfg(feature = "ndarray")]
mod ndarray_interop;
mod runtime;
mod stdlib;

use std::path::Path;

/// The buffer pool allocator: install it as a program's global allocator so arrays
/// freed by one call are reused by the next (see the `nabla-alloc` crate).
pub use nabla_alloc::{PoolAlloc, Stats as PoolStats};
pub use nabla_diag::{Code, Diagnostic, Diagnostics, SourceMap, Span};
pub use nabla_ir::array::Element;
pub use nabla_ir::{Array, ArrayError, DType, Data, Func, Scalar, Type};
pub use nabla_lower::Value;
#[cfg(feature = "ndarray")]
pub use ndarray;
#[cfg(feature = "ndarray")]
pub use ndarray_interop::{from_ndarray, to_ndarray, ToNdarrayError};

use nabla_lower::{ArgSpec, Engine, ModuleId};
use runtime::RuntimeHost;

/// The simplification passes `nabla ir` runs after tracing (and transforming).
pub const IR_PASSES: &[&str] = &["fold", "cse", "dce", "simplify"];

/// A transform `nabla ir` applies to the traced function before simplifying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrTransform {
    /// The gradient with respect to the first argument (the result must be a scalar).
    Grad,
    /// Forward mode with a tangent for every float argument.
    Jvp,
    /// Mapped over axis 0 of every argument.
    Vmap,
}

impl IrTransform {
    pub fn name(self) -> &'static str {
        match self {
            IrTransform::Grad => "grad",
            IrTransform::Jvp => "jvp",
            IrTransform::Vmap => "vmap",
        }
    }
}

/// Which backend runs traced functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The reference interpreter (the oracle every backend is tested against).
    Interp,
    /// Fused kernels compiled to native code with Cranelift, run in parallel.
    Cpu,
    /// WGSL compute shaders via wgpu (not built yet).
    Gpu,
}

impl Backend {
    pub fn from_name(name: &str) -> Option<Backend> {
        match name {
            "interp" => Some(Backend::Interp),
            "cpu" => Some(Backend::Cpu),
            "gpu" => Some(Backend::Gpu),
            _ => None,
        }
    }
}

/// A value passed to or returned from Nabla functions: an array or a tuple.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Array(Array),
    Tuple(Vec<Output>),
}

impl Output {
    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Output::Array(a) => Some(a),
            Output::Tuple(_) => None,
        }
    }

    /// The leaves in order (a single array gives one).
    pub fn leaves(&self) -> Vec<&Array> {
        match self {
            Output::Array(a) => vec![a],
            Output::Tuple(items) => items.iter().flat_map(Output::leaves).collect(),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Output::Array(a) => nabla_lower::array_value(a.clone()),
            Output::Tuple(items) => Value::Tuple(
                items
                    .iter()
                    .map(Output::to_value)
                    .collect::<Vec<_>>()
                    .into(),
            ),
        }
    }

    fn from_value(v: &Value, span: Span) -> Result<Output, Diagnostic> {
        match v {
            Value::Arr(t) => t.as_concrete().cloned().map(Output::Array).ok_or_else(|| {
                Diagnostic::error(Code::INTERNAL, "a traced value escaped").at(span, "")
            }),
            Value::Tuple(items) => Ok(Output::Tuple(
                items
                    .iter()
                    .map(|i| Output::from_value(i, span))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Int(i) => Ok(Output::Array(Array::scalar(Scalar::I64(*i)))),
            Value::Float(f) => Ok(Output::Array(Array::scalar(Scalar::F64(*f)))),
            Value::Bool(b) => Ok(Output::Array(Array::scalar(Scalar::Bool(*b)))),
            other => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!("the result is {}, not an array or tuple", other.kind_name()),
            )),
        }
    }
}

impl From<Array> for Output {
    fn from(a: Array) -> Output {
        Output::Array(a)
    }
}

/// Where `print` output goes.
pub enum Stdout {
    /// The process's standard output.
    Inherit,
    /// Collected in memory (tests, embedding); read with [`Session::take_output`].
    Capture,
}

/// A Nabla session: loaded modules, traced-function caches and the script's state.
pub struct Session {
    engine: Engine,
    host: RuntimeHost,
    main: ModuleId,
    /// Set while profiling: wall time in the session's entry points, and the trace
    /// time already spent when profiling began.
    profiling: Option<SessionProfile>,
}

struct SessionProfile {
    wall_s: f64,
    trace_base_s: f64,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A session on the default backend (`cpu`), printing to standard output.
    pub fn new() -> Session {
        let mut s = Session::on_interpreter();
        s.host.use_cpu();
        s
    }

    /// A session on the reference interpreter.
    fn on_interpreter() -> Session {
        let mut engine = Engine::new();
        let mut host = RuntimeHost::new();
        let main = engine.create_module(&mut host, "main", None);
        Session {
            engine,
            host,
            main,
            profiling: None,
        }
    }

    /// A session on the given backend; backends not built yet are a diagnostic.
    pub fn with_backend(backend: Backend) -> Result<Session, Diagnostic> {
        match backend {
            Backend::Interp => Ok(Session::on_interpreter()),
            Backend::Cpu => Ok(Session::new()),
            Backend::Gpu => Err(Diagnostic::error(
                Code::BACKEND_UNAVAILABLE,
                "the gpu backend is not available in this build yet",
            )
            .hint("use `--backend cpu` or `--backend interp`")),
        }
    }

    pub fn set_stdout(&mut self, out: Stdout) {
        self.host.capture = matches!(out, Stdout::Capture);
    }

    /// The output captured since the last call (with [`Stdout::Capture`]).
    pub fn take_output(&mut self) -> String {
        std::mem::take(&mut self.host.captured)
    }

    /// Sets the folder relative paths in `load`, `save` and `use` resolve against.
    pub fn set_base_dir(&mut self, dir: impl AsRef<Path>) {
        self.host.base_dir = Some(dir.as_ref().to_path_buf());
    }

    /// Turns profiling on (clearing what was measured so far) or off. While it is on,
    /// the session measures where the time of [`Session::run_source`],
    /// [`Session::run_file`] and [`Session::call_value`] goes: tracing, compiling,
    /// running traced functions and, on the CPU backend, every step of their programs.
    /// Read it with [`Session::profile_report`].
    pub fn set_profiling(&mut self, on: bool) {
        if on {
            self.profiling = Some(SessionProfile {
                wall_s: 0.0,
                trace_base_s: self.engine.trace_seconds,
            });
            self.host.profile = Some(runtime::HostProfile::default());
        } else {
            self.profiling = None;
            self.host.profile = None;
        }
    }

    /// A readable profile of what ran since profiling was turned on: time per phase
    /// (parse, check and the script's own work; tracing; compiling; running traced
    /// functions), then, on the CPU backend, each program step's total time and call
    /// count, slowest first. Empty when profiling is off.
    pub fn profile_report(&self) -> String {
        use std::fmt::Write;
        let (Some(sp), Some(hp)) = (&self.profiling, &self.host.profile) else {
            return String::new();
        };
        let trace = self.engine.trace_seconds - sp.trace_base_s;
        let rest = (sp.wall_s - trace - hp.compile_s - hp.run_s).max(0.0);
        let ms = |s: f64| s * 1e3;
        let mut out = String::new();
        let _ = writeln!(out, "profile: {:.3} ms in all", ms(sp.wall_s));
        let _ = writeln!(out, "  {:>10.3} ms  parse, check and script", ms(rest));
        let _ = writeln!(out, "  {:>10.3} ms  trace", ms(trace));
        let _ = writeln!(
            out,
            "  {:>10.3} ms  compile ({} traced functions)",
            ms(hp.compile_s),
            hp.compiles
        );
        let _ = writeln!(
            out,
            "  {:>10.3} ms  run ({} calls of traced functions)",
            ms(hp.run_s),
            hp.runs
        );
        if self.host.uses_cpu() {
            let steps = hp.steps.sorted();
            let _ = writeln!(
                out,
                "cpu program steps: {:.3} ms in {} steps",
                ms(hp.steps.total_seconds()),
                steps.len()
            );
            for (label, st) in steps {
                let _ = writeln!(
                    out,
                    "  {:>10.3} ms  {:>6}x  {label}",
                    ms(st.seconds),
                    st.calls
                );
            }
        }
        out
    }

    /// Adds the wall time since `started` to the profile, when profiling.
    fn profile_wall(&mut self, started: Option<std::time::Instant>) {
        if let (Some(p), Some(t)) = (self.profiling.as_mut(), started) {
            p.wall_s += t.elapsed().as_secs_f64();
        }
    }

    /// Runs source text in the session's main module; returns the value of the last
    /// expression statement.
    pub fn run_source(&mut self, name: &str, text: &str) -> Result<Option<Value>, Diagnostics> {
        let started = self.profiling.as_ref().map(|_| std::time::Instant::now());
        let r = self.engine.run(&mut self.host, self.main, name, text);
        self.profile_wall(started);
        r
    }

    /// Reads and runs a script file (relative paths in it resolve against its folder).
    pub fn run_file(&mut self, path: impl AsRef<Path>) -> Result<Option<Value>, Diagnostics> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics::from(
                Diagnostic::error(
                    Code::IO_ERROR,
                    format!("cannot read {}: {e}", path.display()),
                )
                .hint("check the path"),
            )
        })?;
        if let Some(dir) = path.parent() {
            if self.host.base_dir.is_none() {
                self.host.base_dir = Some(if dir.as_os_str().is_empty() {
                    ".".into()
                } else {
                    dir.to_path_buf()
                });
            }
        }
        self.run_source(&path.display().to_string(), &text)
    }

    /// Loads a file's `fn` items and `use`s into the session without running its
    /// statements (what `nabla ir` needs).
    pub fn define_file(&mut self, path: impl AsRef<Path>) -> Result<(), Diagnostics> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics::from(
                Diagnostic::error(
                    Code::IO_ERROR,
                    format!("cannot read {}: {e}", path.display()),
                )
                .hint("check the path"),
            )
        })?;
        let d = self.engine.check(
            &mut self.host,
            self.main,
            &path.display().to_string(),
            &text,
        );
        if d.has_errors() {
            return Err(d);
        }
        Ok(())
    }

    /// Parses and checks source without running it.
    pub fn check_source(&mut self, name: &str, text: &str) -> Diagnostics {
        let m = self.engine.create_module(&mut self.host, name, None);
        self.engine.check(&mut self.host, m, name, text)
    }

    /// Evaluates an expression in the main module.
    pub fn eval(&mut self, expr: &str) -> Result<Value, Diagnostics> {
        self.engine.eval_expr(&mut self.host, self.main, expr)
    }

    /// Looks up a name defined at the top level (a `fn`, a `let`, an import).
    pub fn lookup(&mut self, name: &str) -> Option<Value> {
        self.engine.lookup(&mut self.host, self.main, name)
    }

    /// Calls the function named `name` (or any callable expression, such as
    /// `grad(f)`) on arrays and tuples.
    pub fn call(&mut self, name: &str, args: Vec<Output>) -> Result<Output, Diagnostics> {
        let f = self.eval(name)?;
        self.call_value(&f, args)
    }

    /// Calls a function value.
    pub fn call_value(&mut self, f: &Value, args: Vec<Output>) -> Result<Output, Diagnostics> {
        let started = self.profiling.as_ref().map(|_| std::time::Instant::now());
        let args = args.iter().map(Output::to_value).collect();
        let v = self.engine.call(&mut self.host, f, args);
        self.profile_wall(started);
        let v = v.map_err(Diagnostics::from)?;
        Output::from_value(&v, Span::DUMMY).map_err(Diagnostics::from)
    }

    /// The IR of a function traced for the given argument types (`jax.make_jaxpr`).
    pub fn trace(&mut self, name: &str, arg_types: &[Type]) -> Result<Func, Diagnostics> {
        let f = self.eval(name)?;
        let specs: Vec<ArgSpec> = arg_types
            .iter()
            .cloned()
            .map(nabla_lower::array_spec)
            .collect();
        let t = self
            .engine
            .trace(&mut self.host, &f, &specs)
            .map_err(Diagnostics::from)?;
        Ok((*t.func).clone())
    }

    /// The IR of `name` traced for `arg_types`, then transformed and run through the
    /// simplification pipeline, stopping after the stage `after` when given (what
    /// `nabla ir --grad --after PASS` prints). The stages are `trace`, the transform's
    /// name (`grad`, `vmap`, `jvp`) when one is asked for, then [`IR_PASSES`].
    ///
    /// With [`IrTransform::Vmap`] the argument types are the batched ones: every
    /// argument is mapped along its axis 0.
    pub fn ir(
        &mut self,
        name: &str,
        arg_types: &[Type],
        transform: Option<IrTransform>,
        after: Option<&str>,
    ) -> Result<Func, Diagnostics> {
        let terr = |e: nabla_transform::TransformError| Diagnostics::from(e.to_diagnostic());
        let stages: Vec<&str> = std::iter::once("trace")
            .chain(transform.map(IrTransform::name))
            .chain(IR_PASSES.iter().copied())
            .collect();
        if let Some(a) = after {
            if !stages.contains(&a) {
                return Err(Diagnostics::from(
                    Diagnostic::error(Code::BAD_ARGUMENT, format!("unknown stage `{a}`"))
                        .hint(format!("the stages are: {}", stages.join(", "))),
                ));
            }
        }
        let mut types = arg_types.to_vec();
        let mut size = None;
        if transform == Some(IrTransform::Vmap) {
            for (i, t) in types.iter_mut().enumerate() {
                let Some(&n) = t.shape.first() else {
                    return Err(Diagnostics::from(
                        Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            format!("--vmap maps axis 0, but argument {i} is the scalar {t}"),
                        )
                        .hint("give every argument a leading batch axis"),
                    ));
                };
                if let Some(m) = size.filter(|&m| m != n) {
                    return Err(Diagnostics::from(
                        Diagnostic::error(
                            Code::VMAP_SIZE_MISMATCH,
                            format!(
                                "vmap got inconsistent sizes: argument 0 has size {m} along axis 0, argument {i} has size {n}"
                            ),
                        )
                        .hint("every argument needs the same leading size"),
                    ));
                }
                size = Some(n);
                t.shape.remove(0);
            }
        }
        let mut f = self.trace(name, &types)?;
        if after == Some("trace") {
            return Ok(f);
        }
        if let Some(t) = transform {
            let nparams = f.body.params.len();
            f = nabla_transform::pipeline::run_checked(t.name(), &f, |f| match t {
                IrTransform::Grad => nabla_transform::grad(f, &[0], false),
                IrTransform::Jvp => {
                    let active: Vec<bool> = f
                        .body
                        .params
                        .iter()
                        .map(|p| p.ty.dtype.is_float())
                        .collect();
                    nabla_transform::jvp(f, &active)
                }
                IrTransform::Vmap => {
                    let outs = vec![Some(0); f.body.results.len()];
                    nabla_transform::vmap(f, &vec![Some(0); nparams], size.unwrap_or(1), &outs)
                }
            })
            .map_err(terr)?;
            if after == Some(t.name()) {
                return Ok(f);
            }
        }
        let result = match after {
            Some(a) => nabla_transform::pipeline::run_until(&f, IR_PASSES, a),
            None => nabla_transform::pipeline::run_passes(&f, IR_PASSES),
        };
        result.map_err(terr)
    }

    /// The CPU backend's plan for [`Session::ir`]'s function (what `nabla ir --kernels`
    /// prints): every step of the program, the fused kernels with the slots each reads
    /// and writes, and why each kernel ends where it does.
    pub fn kernels(
        &mut self,
        name: &str,
        arg_types: &[Type],
        transform: Option<IrTransform>,
        after: Option<&str>,
    ) -> Result<String, Diagnostics> {
        let f = self.ir(name, arg_types, transform, after)?;
        let program =
            nabla_cpu::plan::plan(&f).map_err(|e| Diagnostics::from(e.to_diagnostic()))?;
        let mut text = nabla_cpu::plan::describe(&program);
        text.push_str(&nabla_cpu::rowpass::describe(&nabla_cpu::rowpass::find(
            &program,
        )));
        Ok(text)
    }

    /// Formats a value as `print` does.
    pub fn format_value(&mut self, v: &Value) -> String {
        self.engine.format_value(&mut self.host, v)
    }

    /// Renders diagnostics against the session's sources, as the CLI prints them.
    pub fn render(&self, diags: &Diagnostics) -> String {
        nabla_diag::render(&self.engine.sources, &diags.0)
    }

    pub fn sources(&self) -> &SourceMap {
        &self.engine.sources
    }
}

/// Parses an argument-type list such as `"f64[3, 4], f64[4], i64"`.
pub fn parse_types(text: &str) -> Result<Vec<Type>, String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    let mut parts = Vec::new();
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        parts.push(cur);
    }
    for p in parts {
        let p = p.trim();
        let (name, dims) = match p.split_once('[') {
            Some((n, rest)) => (n.trim(), rest.trim_end_matches(']').trim()),
            None => (p, ""),
        };
        let dtype =
            DType::from_name(name).ok_or_else(|| format!("unknown dtype `{name}` in `{p}`"))?;
        let shape = if dims.is_empty() {
            Vec::new()
        } else {
            dims.split(',')
                .map(|d| {
                    d.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("bad dimension `{}` in `{p}`", d.trim()))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        out.push(Type::new(dtype, shape));
    }
    Ok(out)
}
