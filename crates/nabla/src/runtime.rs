//! The host the evaluator runs on: primitives go to the reference interpreter, traced
//! functions to the session's backend (the interpreter, or the CPU backend's compiled
//! programs, cached per function); `print`, `load`, `save` and `use` go to the terminal
//! and file system.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use nabla_diag::{Diagnostic, Span};
use nabla_ir::{Array, Func, Prim};
use nabla_lower::{CallTiming, Host, ModuleRequest, ModuleSource};

use crate::{io, stdlib};

pub struct RuntimeHost {
    pub capture: bool,
    pub captured: String,
    pub base_dir: Option<PathBuf>,
    /// Compiled programs when the CPU backend runs traced functions.
    cpu: Option<CpuBackend>,
    /// Where time goes, when the session profiles (`nabla run --profile`).
    pub profile: Option<HostProfile>,
}

/// Time the host spends on traced functions while profiling.
#[derive(Default)]
pub struct HostProfile {
    /// Seconds compiling traced functions for the backend, and how many were compiled.
    pub compile_s: f64,
    pub compiles: u64,
    /// Seconds running traced functions (compiled programs or the interpreter), and
    /// how many calls.
    pub run_s: f64,
    pub runs: u64,
    /// Per-step times of the CPU backend's programs.
    pub steps: nabla_cpu::program::Profile,
}

/// The CPU backend's state: compiled programs keyed by the traced function they came
/// from. The `Weak` keeps the function's allocation, so its address is not reused while
/// the entry exists, without keeping the function itself alive; entries of dropped
/// functions are purged when new code is compiled.
struct CpuBackend {
    compiled: HashMap<usize, (Weak<Func>, Rc<nabla_cpu::program::Compiled>)>,
    threads: usize,
}

/// The interpreter runs what the CPU backend does not compile yet.
struct InterpFallback;

impl nabla_cpu::program::Fallback for InterpFallback {
    fn apply(&self, prim: &Prim, args: &[Array]) -> Result<Vec<Array>, Diagnostic> {
        nabla_interp::apply(prim, args).map_err(Diagnostic::from)
    }
}

/// Worker threads: `NABLA_THREADS`, else every available core.
fn thread_count() -> usize {
    std::env::var("NABLA_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl RuntimeHost {
    pub fn new() -> RuntimeHost {
        RuntimeHost {
            capture: false,
            captured: String::new(),
            base_dir: None,
            cpu: None,
            profile: None,
        }
    }

    /// Runs traced functions with the CPU backend from now on.
    pub fn use_cpu(&mut self) {
        self.cpu = Some(CpuBackend {
            compiled: HashMap::new(),
            threads: thread_count(),
        });
    }

    /// Whether traced functions run on the CPU backend.
    pub fn uses_cpu(&self) -> bool {
        self.cpu.is_some()
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        match &self.base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

impl Host for RuntimeHost {
    fn apply(&mut self, prim: &Prim, args: &[Array], span: Span) -> Result<Vec<Array>, Diagnostic> {
        nabla_interp::apply(prim, args).map_err(|e| Diagnostic::from(e).or_at(span))
    }

    fn call(
        &mut self,
        func: &Rc<Func>,
        args: &[Array],
    ) -> Result<(Vec<Array>, CallTiming), Diagnostic> {
        let Some(cpu) = self.cpu.as_mut() else {
            let started = self.profile.as_ref().map(|_| std::time::Instant::now());
            let outs = nabla_interp::eval_func(func, args).map_err(Diagnostic::from)?;
            if let (Some(p), Some(t)) = (self.profile.as_mut(), started) {
                p.run_s += t.elapsed().as_secs_f64();
                p.runs += 1;
            }
            return Ok((outs, CallTiming::default()));
        };
        let key = Rc::as_ptr(func) as usize;
        let mut timing = CallTiming::default();
        let compiled = match cpu.compiled.get(&key) {
            Some((f, c)) if f.strong_count() > 0 => c.clone(),
            _ => {
                let started = std::time::Instant::now();
                let c = Rc::new(
                    nabla_cpu::program::Compiled::new(func).map_err(|e| e.to_diagnostic())?,
                );
                timing.compile_s = started.elapsed().as_secs_f64();
                if let Some(p) = self.profile.as_mut() {
                    p.compile_s += timing.compile_s;
                    p.compiles += 1;
                }
                cpu.compiled.retain(|_, (f, _)| f.strong_count() > 0);
                cpu.compiled.insert(key, (Rc::downgrade(func), c.clone()));
                c
            }
        };
        let outs = match self.profile.as_mut() {
            None => compiled.run(args, cpu.threads, &InterpFallback)?,
            Some(p) => {
                let started = std::time::Instant::now();
                let outs = compiled.run_profiled(
                    args,
                    cpu.threads,
                    &InterpFallback,
                    Some(&mut p.steps),
                )?;
                p.run_s += started.elapsed().as_secs_f64();
                p.runs += 1;
                outs
            }
        };
        Ok((outs, timing))
    }

    fn print(&mut self, text: &str) {
        if self.capture {
            self.captured.push_str(text);
            self.captured.push('\n');
        } else {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`nabla run x | head`) is not an error worth reporting.
            let _ = writeln!(out, "{text}");
        }
    }

    fn load(&mut self, path: &str, span: Span) -> Result<Array, Diagnostic> {
        let p = self.resolve(path);
        if path.ends_with(".csv") {
            return io::read_csv(&p).map_err(|e| e.to_diagnostic(span));
        }
        io::read_npy(&p).map_err(|e| e.to_diagnostic(span))
    }

    fn load_csv(&mut self, path: &str, span: Span) -> Result<Array, Diagnostic> {
        io::read_csv(&self.resolve(path)).map_err(|e| e.to_diagnostic(span))
    }

    fn save(&mut self, path: &str, value: &Array, span: Span) -> Result<(), Diagnostic> {
        io::write_npy(&self.resolve(path), value).map_err(|e| e.to_diagnostic(span))
    }

    fn format_array(&self, a: &Array) -> String {
        io::format_array(a)
    }

    fn module_source(&mut self, request: &ModuleRequest) -> Option<ModuleSource> {
        let (file, relative_to) = match request {
            ModuleRequest::Named { name, relative_to } => {
                if let Some(text) = stdlib::find(name) {
                    return Some(ModuleSource {
                        name: format!("stdlib/{name}.nbl"),
                        text: text.to_string(),
                    });
                }
                (format!("{name}.nbl"), relative_to)
            }
            ModuleRequest::Path { path, relative_to } => (path.clone(), relative_to),
        };
        let base = relative_to
            .as_ref()
            .and_then(|r| Path::new(r).parent().map(Path::to_path_buf))
            .or_else(|| self.base_dir.clone())
            .unwrap_or_else(|| PathBuf::from("."));
        let full = base.join(&file);
        let text = std::fs::read_to_string(&full).ok()?;
        Some(ModuleSource {
            name: full.display().to_string(),
            text,
        })
    }

    fn timeit_record(&mut self, json_line: &str) {
        if let Ok(path) = std::env::var("NABLA_TIMEIT_JSON") {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{json_line}");
            }
        }
    }
}
