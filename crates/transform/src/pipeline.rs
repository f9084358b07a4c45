//! The pass pipeline: a list of named passes, with the verifier after each one in
//! debug and test builds.
//!
//! The registry holds the passes that take nothing but the function. A transform with
//! parameters (jvp's active mask, vmap's axes) is run through [`run_checked`] with a
//! closure, which gives it the same per-pass check; a fixed instance of one (say, jvp
//! with every float parameter active) can also be registered as a plain [`Pass`].

use nabla_diag::Code;
use nabla_ir::Func;

use crate::error::{Result, TransformError};
use crate::simplify;

/// A named IR-to-IR pass.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    pub name: &'static str,
    pub run: fn(&Func) -> Result<Func>,
}

static PASSES: &[Pass] = &[
    Pass {
        name: "fold",
        run: simplify::fold,
    },
    Pass {
        name: "cse",
        run: simplify::cse,
    },
    Pass {
        name: "dce",
        run: simplify::dce,
    },
    Pass {
        name: "renumber",
        run: simplify::renumber,
    },
    Pass {
        name: "simplify",
        run: simplify::simplify,
    },
];

/// Every registered pass, in a fixed order.
pub fn passes() -> &'static [Pass] {
    PASSES
}

fn names(passes: &[Pass]) -> String {
    let names: Vec<&str> = passes.iter().map(|p| p.name).collect();
    names.join(", ")
}

/// The registered pass called `name`.
pub fn find(name: &str) -> Result<&'static Pass> {
    passes().iter().find(|p| p.name == name).ok_or_else(|| {
        TransformError::new(Code::BAD_ARGUMENT, format!("unknown pass `{name}`"))
            .with_hint(format!("the passes are: {}", names(passes())))
    })
}

/// Runs `run` on `f` as the pass `name`: in debug and test builds its output must pass
/// [`nabla_ir::self_check`], else the error is an internal one naming the pass.
pub fn run_checked(name: &str, f: &Func, run: impl FnOnce(&Func) -> Result<Func>) -> Result<Func> {
    let g = run(f)?;
    #[cfg(debug_assertions)]
    nabla_ir::self_check(&g)
        .map_err(|e| TransformError::internal(format!("pass `{name}` produced invalid IR: {e}")))?;
    #[cfg(not(debug_assertions))]
    let _ = name;
    Ok(g)
}

/// Runs the named passes on `f` in order. Every name is looked up before any pass
/// runs, so a misspelt one costs nothing.
pub fn run_passes(f: &Func, names: &[&str]) -> Result<Func> {
    let passes: Vec<&Pass> = names.iter().map(|n| find(n)).collect::<Result<_>>()?;
    run_all(f, &passes)
}

/// Runs the named passes on `f` in order up to and including the first one called
/// `stop_after` (what `nabla ir --after PASS` prints).
pub fn run_until(f: &Func, names: &[&str], stop_after: &str) -> Result<Func> {
    find(stop_after)?;
    let passes: Vec<&Pass> = names.iter().map(|n| find(n)).collect::<Result<_>>()?;
    let Some(last) = passes.iter().position(|p| p.name == stop_after) else {
        return Err(TransformError::new(
            Code::BAD_ARGUMENT,
            format!("the pass `{stop_after}` is not part of this pipeline"),
        )
        .with_hint(format!("the pipeline runs: {}", names.join(", "))));
    };
    run_all(f, &passes[..=last])
}

fn run_all(f: &Func, passes: &[&Pass]) -> Result<Func> {
    // The input is checked too (once), so that a broken input is not blamed on the
    // first pass.
    #[cfg(debug_assertions)]
    nabla_ir::self_check(f).map_err(|e| {
        TransformError::internal(format!("the input of the pass pipeline is invalid IR: {e}"))
    })?;
    let mut g = f.clone();
    for p in passes {
        g = run_checked(p.name, &g, p.run)?;
    }
    Ok(g)
}
