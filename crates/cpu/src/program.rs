//! Running a planned function: kernels compiled once per program, then executed step
//! by step on a slot table of arrays, optionally timing every step into a [`Profile`].

use std::collections::HashMap;
use std::time::Instant;

use nabla_diag::Diagnostic;
use nabla_ir::{Array, Func, Prim};

use crate::codegen::{compile, CompiledKernel};
use crate::error::{CpuError, Result};
use crate::plan::{plan, Operand, Program, Step};
use crate::rowpass::{self, PassKernel, RowPass};

/// Runs the primitives the backend does not compile yet (the driver supplies the
/// reference interpreter's).
pub trait Fallback {
    fn apply(&self, prim: &Prim, args: &[Array]) -> std::result::Result<Vec<Array>, Diagnostic>;
}

/// Time spent in program steps, accumulated across runs (and programs) by a label
/// naming the step: the program, the step index and what it is (a kernel's shape, a
/// primitive's name).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    steps: HashMap<String, StepStat>,
}

/// The total time and call count of one profiled step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepStat {
    pub seconds: f64,
    pub calls: u64,
}

impl Profile {
    pub fn new() -> Profile {
        Profile::default()
    }

    /// Adds one call of `seconds` to the step labelled `label`.
    pub fn record(&mut self, label: &str, seconds: f64) {
        let st = match self.steps.get_mut(label) {
            Some(st) => st,
            None => self.steps.entry(label.to_string()).or_default(),
        };
        st.seconds += seconds;
        st.calls += 1;
    }

    /// The steps, slowest first (ties by label).
    pub fn sorted(&self) -> Vec<(&str, &StepStat)> {
        let mut v: Vec<(&str, &StepStat)> =
            self.steps.iter().map(|(k, s)| (k.as_str(), s)).collect();
        v.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds).then(a.0.cmp(b.0)));
        v
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The total time of every step.
    pub fn total_seconds(&self) -> f64 {
        self.steps.values().map(|s| s.seconds).sum()
    }
}

/// A step's profile label: `program#index kind`.
pub(crate) fn step_label(program: &str, i: usize, step: &Step) -> String {
    match step {
        Step::Kernel {
            kernel, outputs, ..
        } => format!(
            "{program}#{i} kernel over {:?} ({} nodes, {} outputs)",
            kernel.shape,
            kernel.nodes.len(),
            outputs.len()
        ),
        Step::View { shape, .. } => format!("{program}#{i} view as {shape:?}"),
        Step::Const { .. } => format!("{program}#{i} constant"),
        Step::Eqn { prim, .. } => format!("{program}#{i} {}", prim.name()),
    }
}

/// A function compiled for the CPU: its program and one compiled kernel per kernel step.
pub struct Compiled {
    pub program: Program,
    pub(crate) code: Vec<StepCode>,
    /// Per step, the slots it reads for the last time: released right after it, so
    /// their buffers go back to the pool for the next steps' outputs.
    last_reads: Vec<Vec<usize>>,
    /// Per kernel step, an input read for the last time whose elements an output may
    /// overwrite in place (when, at run time, nothing else shares them).
    reuse: Vec<Option<usize>>,
    /// The program laid out in a frame, when its values are small enough and its steps
    /// allow it: how a loop runs it as its body (see [`crate::frame`]).
    pub(crate) frame: Option<crate::frame::FrameProgram>,
}

/// The slots each step reads for the last time (results are read after every step).
fn last_reads(p: &Program) -> Vec<Vec<usize>> {
    let mut last: Vec<Option<usize>> = vec![None; p.nslots];
    for (i, step) in p.steps.iter().enumerate() {
        // A value nothing reads is released right after the step that writes it.
        let written: &[usize] = match step {
            Step::Kernel { outputs, .. } | Step::Eqn { outputs, .. } => outputs,
            Step::View { output, .. } | Step::Const { output, .. } => std::slice::from_ref(output),
        };
        for &s in written {
            if let Some(l) = last.get_mut(s) {
                *l = Some(i);
            }
        }
        let mut read = |s: usize| {
            if let Some(l) = last.get_mut(s) {
                *l = Some(i);
            }
        };
        match step {
            Step::Kernel { inputs, .. } => inputs.iter().copied().for_each(&mut read),
            Step::View { input, .. } => read(*input),
            Step::Const { .. } => {}
            Step::Eqn { args, .. } => args.iter().for_each(|a| {
                if let Operand::Slot(s) = a {
                    read(*s)
                }
            }),
        }
    }
    for r in &p.results {
        if let Operand::Slot(s) = r {
            if let Some(l) = last.get_mut(*s) {
                *l = None;
            }
        }
    }
    let mut per_step = vec![Vec::new(); p.steps.len()];
    for (slot, l) in last.into_iter().enumerate() {
        if let Some(i) = l {
            per_step[i].push(slot);
        }
    }
    per_step
}

/// What a step runs beyond its plan: a compiled kernel, compiled control flow, a row
/// pass in place of its matrix–vector product, or nothing because an earlier row pass
/// did its work.
pub(crate) enum StepCode {
    Plain,
    Kernel(Box<CompiledKernel>),
    Control(crate::control::Control),
    RowPass(Box<RowPass>),
    InRowPass,
}

impl Compiled {
    /// Plans `f` and compiles every kernel, with row passes where they apply.
    pub fn new(f: &Func) -> Result<Compiled> {
        Compiled::with_row_passes(f, true)
    }

    /// [`Compiled::new`], with or without row passes (`crate::rowpass`; they give the
    /// same bits, which tests check by running both).
    pub fn with_row_passes(f: &Func, row_passes: bool) -> Result<Compiled> {
        let program = plan(f)?;
        let mut code = program
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Step::Kernel { kernel, .. } => {
                    compile(kernel).map(|k| StepCode::Kernel(Box::new(k)))
                }
                Step::Eqn { prim, span, .. } => Ok(
                    match crate::control::Control::new(
                        prim,
                        &format!("{}#{i}", program.name),
                        *span,
                    )? {
                        Some(c) => StepCode::Control(c),
                        None => StepCode::Plain,
                    },
                ),
                Step::View { .. } | Step::Const { .. } => Ok(StepCode::Plain),
            })
            .collect::<Result<Vec<_>>>()?;
        if row_passes {
            for plan in rowpass::find(&program) {
                let mut kernels = Vec::with_capacity(plan.kernels.len());
                for &k in &plan.kernels {
                    let (
                        Step::Kernel {
                            inputs, outputs, ..
                        },
                        StepCode::Kernel(ck),
                    ) = (
                        &program.steps[k],
                        std::mem::replace(&mut code[k], StepCode::InRowPass),
                    )
                    else {
                        return Err(CpuError::internal(
                            "a row pass over a step that is not a kernel",
                        ));
                    };
                    kernels.push(PassKernel {
                        code: *ck,
                        inputs: inputs.clone(),
                        outputs: outputs.clone(),
                    });
                }
                if let Some((step, _, _)) = plan.vecmat {
                    code[step] = StepCode::InRowPass;
                }
                let anchor = plan.anchor;
                code[anchor] = StepCode::RowPass(Box::new(RowPass { plan, kernels }));
            }
        }
        let last_reads = last_reads(&program);
        let reuse = program
            .steps
            .iter()
            .zip(&code)
            .zip(&last_reads)
            .map(|((step, code), last)| match (step, code) {
                (Step::Kernel { inputs, .. }, StepCode::Kernel(ck)) => {
                    inputs.iter().enumerate().position(|(k, s)| {
                        last.contains(s)
                            && inputs.iter().filter(|&t| t == s).count() == 1
                            && crate::exec::can_reuse(ck, k)
                    })
                }
                _ => None,
            })
            .collect();
        let frame = crate::frame::plan(&program, &code);
        Ok(Compiled {
            program,
            code,
            last_reads,
            reuse,
            frame,
        })
    }

    /// The kernel steps that may write an output over a dead input, with that input's
    /// slot (`(step, slot)`; done at run time when nothing else shares its elements).
    pub fn in_place_steps(&self) -> Vec<(usize, usize)> {
        self.reuse
            .iter()
            .enumerate()
            .filter_map(|(i, k)| match (&self.program.steps[i], k) {
                (Step::Kernel { inputs, .. }, Some(k)) => Some((i, inputs[*k])),
                _ => None,
            })
            .collect()
    }

    /// Runs the program on `args` with `threads` worker threads.
    pub fn run(
        &self,
        args: &[Array],
        threads: usize,
        fallback: &dyn Fallback,
    ) -> std::result::Result<Vec<Array>, Diagnostic> {
        self.run_profiled(args, threads, fallback, None)
    }

    /// [`Compiled::run`], adding each step's time to `profile` when one is given (no
    /// clock is read otherwise).
    pub fn run_profiled(
        &self,
        args: &[Array],
        threads: usize,
        fallback: &dyn Fallback,
        profile: Option<&mut Profile>,
    ) -> std::result::Result<Vec<Array>, Diagnostic> {
        self.run_owned(args.to_vec(), threads, fallback, profile)
    }

    /// [`Compiled::run_profiled`] taking the arguments by value, so a caller done with
    /// them (a loop handing its carries to the next iteration) leaves the program the
    /// only owner of their buffers.
    pub fn run_owned(
        &self,
        args: Vec<Array>,
        threads: usize,
        fallback: &dyn Fallback,
        mut profile: Option<&mut Profile>,
    ) -> std::result::Result<Vec<Array>, Diagnostic> {
        let p = &self.program;
        if args.len() != p.params.len() {
            return Err(CpuError::internal(format!(
                "{} takes {} arguments, {} given",
                p.name,
                p.params.len(),
                args.len()
            ))
            .to_diagnostic());
        }
        let mut slots: Vec<Option<Array>> = vec![None; p.nslots];
        for (&s, a) in p.params.iter().zip(args) {
            slots[s] = Some(a);
        }
        let get = |slots: &[Option<Array>], s: usize| -> std::result::Result<Array, Diagnostic> {
            slots[s].clone().ok_or_else(|| {
                CpuError::internal(format!("slot {s} is read before it is written")).to_diagnostic()
            })
        };
        for (i, (step, code)) in p.steps.iter().zip(&self.code).enumerate() {
            // Control flow profiles its own time outside its bodies, and its bodies' steps.
            let started = profile
                .as_ref()
                .filter(|_| !matches!(code, StepCode::Control(_) | StepCode::InRowPass))
                .map(|_| Instant::now());
            match (step, code) {
                (_, StepCode::InRowPass) => {}
                (_, StepCode::RowPass(pass)) => pass
                    .run(&mut slots, &p.types, threads)
                    .map_err(|e| e.to_diagnostic())?,
                (
                    Step::Kernel {
                        inputs, outputs, ..
                    },
                    _,
                ) => {
                    let StepCode::Kernel(ck) = code else {
                        return Err(
                            CpuError::internal("a kernel step was not compiled").to_diagnostic()
                        );
                    };
                    // A dead input nothing else shares gives its buffer to an output.
                    let reuse = self.reuse[i].and_then(|k| {
                        let s = inputs[k];
                        match slots[s].take()?.try_into_data() {
                            Ok(data) => Some((k, data)),
                            Err(shared) => {
                                slots[s] = Some(shared);
                                None
                            }
                        }
                    });
                    let reused = reuse.as_ref().map(|(k, _)| *k);
                    let ins = inputs
                        .iter()
                        .enumerate()
                        .map(|(k, &s)| {
                            if reused == Some(k) {
                                Ok(None)
                            } else {
                                get(&slots, s).map(Some)
                            }
                        })
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let refs: Vec<Option<&Array>> = ins.iter().map(Option::as_ref).collect();
                    let outs = crate::exec::run_reusing(ck, &refs, reuse, threads)
                        .map_err(|e| e.to_diagnostic())?;
                    for (&s, o) in outputs.iter().zip(outs) {
                        slots[s] = Some(o);
                    }
                }
                (
                    Step::View {
                        input,
                        shape,
                        output,
                    },
                    _,
                ) => {
                    let a = get(&slots, *input)?;
                    let v = a
                        .reshaped(shape.clone())
                        .map_err(|e| CpuError::internal(e.to_string()).to_diagnostic())?;
                    slots[*output] = Some(v);
                }
                (Step::Const { value, output }, _) => slots[*output] = Some(value.clone()),
                (
                    Step::Eqn {
                        prim,
                        args,
                        outputs,
                        span,
                    },
                    _,
                ) => {
                    let ins = args
                        .iter()
                        .map(|a| match a {
                            Operand::Slot(s) => get(&slots, *s),
                            Operand::Lit(x) => Ok(Array::scalar(*x)),
                        })
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let outs = match code {
                        StepCode::Control(c) => {
                            c.run(ins, threads, fallback, profile.as_deref_mut())?
                        }
                        StepCode::Plain
                        | StepCode::Kernel(_)
                        | StepCode::RowPass(_)
                        | StepCode::InRowPass => {
                            crate::eqn::run(prim, &ins, threads, fallback, *span)?
                        }
                    };
                    for (&s, o) in outputs.iter().zip(outs) {
                        slots[s] = Some(o);
                    }
                }
            }
            for &s in &self.last_reads[i] {
                slots[s] = None;
            }
            if let (Some(prof), Some(t)) = (profile.as_deref_mut(), started) {
                let label = match code {
                    StepCode::RowPass(pass) => format!(
                        "{}#{i} row pass over {} × {} (steps {:?})",
                        p.name,
                        pass.plan.rows,
                        pass.plan.cols,
                        pass.plan.steps()
                    ),
                    _ => step_label(&p.name, i, step),
                };
                prof.record(&label, t.elapsed().as_secs_f64());
            }
        }
        p.results
            .iter()
            .map(|r| match r {
                Operand::Slot(s) => get(&slots, *s),
                Operand::Lit(x) => Ok(Array::scalar(*x)),
            })
            .collect()
    }
}
