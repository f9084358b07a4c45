//! The `nabla` command: `run`, `check`, `ir` and `repl`, a thin layer over the `nabla`
//! embedding API. Exit codes: 0 ok, 1 script error (diagnostics on stderr), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nabla::{Backend, Diagnostics, IrTransform, Session};

mod repl;

// Arrays freed by one call are reused by the next instead of fresh, page-faulting ones.
#[global_allocator]
static ALLOC: nabla::PoolAlloc = nabla::PoolAlloc;

#[derive(Parser)]
#[command(
    name = "nabla",
    version,
    about = "The Nabla array language: run, check and inspect scripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a script.
    Run {
        /// The script (`*.nbl`).
        file: PathBuf,
        /// Where traced functions run: interp (the reference interpreter), cpu or gpu.
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// After the run, print to stderr where the time went: per phase, and on the cpu
        /// backend per program step (kernel or primitive), slowest first.
        #[arg(long)]
        profile: bool,
    },
    /// Report every diagnostic of a script without running it.
    Check { file: PathBuf },
    /// Print the IR of a function traced for argument types (like jax.make_jaxpr).
    Ir {
        file: PathBuf,
        /// The function to trace.
        #[arg(long = "fn")]
        func: String,
        /// Argument types, e.g. "f64[3, 4], f64[4]".
        #[arg(long, default_value = "")]
        args: String,
        /// Show the gradient with respect to the first argument.
        #[arg(long, conflicts_with_all = ["jvp", "vmap"])]
        grad: bool,
        /// Show forward mode, with a tangent for every float argument.
        #[arg(long, conflicts_with = "vmap")]
        jvp: bool,
        /// Show the function mapped over axis 0 of every argument (--args are batched).
        #[arg(long)]
        vmap: bool,
        /// Stop after this stage: trace, the transform (grad, jvp, vmap), or a pass
        /// (fold, cse, dce, simplify). By default every stage runs.
        #[arg(long, value_name = "STAGE")]
        after: Option<String>,
        /// Print the CPU backend's plan of the resulting function instead of its IR: the
        /// fused kernels, the slots each reads and writes, and why each kernel ends.
        #[arg(long)]
        kernels: bool,
    },
    /// An interactive session: statements run as you type them; state survives errors.
    Repl,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run {
            file,
            backend,
            profile,
        } => {
            let Some(b) = Backend::from_name(&backend) else {
                eprintln!("error: unknown backend `{backend}` (use interp, cpu or gpu)");
                return ExitCode::from(2);
            };
            let mut s = match Session::with_backend(b) {
                Ok(s) => s,
                Err(d) => {
                    let s = Session::new();
                    eprint!("{}", s.render(&Diagnostics::from(d)));
                    return ExitCode::from(1);
                }
            };
            s.set_profiling(profile);
            let result = s.run_file(&file);
            if profile {
                eprint!("{}", s.profile_report());
            }
            match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(d) => fail(&s, &d),
            }
        }
        Command::Check { file } => {
            let mut s = Session::new();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error[E0501]: cannot read {}: {e}", file.display());
                    return ExitCode::from(1);
                }
            };
            if let Some(dir) = file.parent() {
                s.set_base_dir(if dir.as_os_str().is_empty() {
                    std::path::Path::new(".")
                } else {
                    dir
                });
            }
            let d = s.check_source(&file.display().to_string(), &text);
            if d.0.is_empty() {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            } else {
                eprint!("{}", s.render(&d));
                if d.has_errors() {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Ir {
            file,
            func,
            args,
            grad,
            jvp,
            vmap,
            after,
            kernels,
        } => {
            let types = match nabla::parse_types(&args) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --args: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut s = Session::new();
            if let Err(d) = s.define_file(&file) {
                return fail(&s, &d);
            }
            let transform = if grad {
                Some(IrTransform::Grad)
            } else if jvp {
                Some(IrTransform::Jvp)
            } else if vmap {
                Some(IrTransform::Vmap)
            } else {
                None
            };
            let text = if kernels {
                s.kernels(&func, &types, transform, after.as_deref())
            } else {
                s.ir(&func, &types, transform, after.as_deref())
                    .map(|f| format!("{f}\n"))
            };
            match text {
                Ok(t) => {
                    print!("{t}");
                    ExitCode::SUCCESS
                }
                Err(d) => fail(&s, &d),
            }
        }
        Command::Repl => repl::run(),
    }
}

fn fail(s: &Session, d: &Diagnostics) -> ExitCode {
    eprint!("{}", s.render(d));
    ExitCode::from(1)
}
