//! Control flow (`cond`, `while`, `scan`) compiled: each body planned and compiled once
//! as its own [`Compiled`] program, the branch or loop driven here in Rust.
//!
//! Semantics are the reference interpreter's (`nabla_interp`'s `control` module), bit
//! for bit: the predicate is a bool scalar; `while` runs `cond_body(cond_consts, carry)`
//! and `body(body_consts, carry)`; `scan` feeds row `i` of every `xs` along axis 0 and
//! stores each step's `ys` at row `i` of outputs with a new leading axis of `length`,
//! walking from the end when `reverse` (a zero-length scan returns its initial carry and
//! empty `ys`).
//!
//! Loops whose bodies have frame programs (small values, kernels that run as one task,
//! gathers, and control flow that qualifies in turn; see [`crate::frame`]) run in
//! frames: the loop makes each body's frame once when it starts, and an iteration
//! copies the carries' bytes from result to parameter regions, a scan's `xs` row into
//! its parameter region and its `ys` row out to the output, all without allocating.
//! Control flow inside such a body runs in frames of its own, made with the body's.
//!
//! Other loops run each body on its program's slot table. Costs per iteration then:
//! the carries are moved from one body run into the next (never cloned, so a body that
//! can reuse a buffer it alone owns may do so), constants are shared (`Array` is
//! reference counted), a scan copies one row per `xs` and writes each `ys` row straight
//! into an output buffer allocated once. Nothing is planned or compiled while running.
//! Nested control flow works by recursion: a body's own control-flow steps are
//! `Control`s of its program.

use std::time::Instant;

use nabla_diag::{Diagnostic, Span};
use nabla_ir::array::check_alloc;
use nabla_ir::{Array, Body, DType, Data, Func, Prim, Scalar, Type};

use crate::error::{CpuError, Result};
use crate::frame::{self, Carries, Src, State};
use crate::jit::{Cell, Region};
use crate::program::{Compiled, Fallback, Profile};

type RunResult<T> = std::result::Result<T, Diagnostic>;

/// A control-flow primitive with its bodies compiled.
pub struct Control {
    /// Boxed: compiled bodies are large, and a program's every step (mostly kernels)
    /// is as large as its largest kind.
    kind: Box<Kind>,
    /// The profile label of the time spent outside the bodies (predicate reads, slicing
    /// `xs`, stacking `ys`); the bodies' own steps are profiled under their programs.
    overhead_label: String,
    /// The equation's span, for errors of the branch or loop itself.
    span: Span,
    /// Whether every body has a frame program fitting the others (see
    /// [`crate::frame`]): then loops run in frames, allocating nothing per iteration.
    framed: bool,
}

enum Kind {
    Cond {
        then_body: Compiled,
        else_body: Compiled,
    },
    While(While),
    Scan(Scan),
}

struct While {
    cond_body: Compiled,
    body: Compiled,
    cond_nconsts: usize,
    body_nconsts: usize,
    /// The type of every carry (the body's results must keep them).
    carry: Vec<Type>,
}

struct Scan {
    body: Compiled,
    nconsts: usize,
    length: usize,
    reverse: bool,
    /// The type of every carry.
    carry: Vec<Type>,
    /// The type of one row of every `xs` (a body parameter after the carries).
    x_rows: Vec<Type>,
    /// The type of one step's every `ys` (a body result after the carries).
    y_rows: Vec<Type>,
}

/// Plans and compiles one body as a program named `name`.
fn compile_body(name: String, body: &Body) -> Result<Compiled> {
    Compiled::new(&Func {
        name,
        body: body.clone(),
    })
}

/// Checks that `types` (a body's parameters or results) are `want`, in order.
fn check_types(got: &[Type], want: &[Type], what: &str) -> Result<()> {
    if got == want {
        return Ok(());
    }
    let list = |ts: &[Type]| {
        ts.iter()
            .map(Type::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(CpuError::internal(format!(
        "{what} are [{}] where [{}] were expected",
        list(got),
        list(want)
    )))
}

impl Control {
    /// Compiles `prim`'s bodies, naming their programs after `name` (the step's profile
    /// label, `program#index`); `None` when `prim` is not control flow, so the step runs
    /// as a plain equation. Bodies whose parameters and results do not fit together are
    /// an internal error here, so running never indexes past what it was given.
    pub fn new(prim: &Prim, name: &str, span: Span) -> Result<Option<Control>> {
        let prim_name = prim.name();
        let body_name = |field: &str| format!("{name} {prim_name}.{field}");
        let kind = match prim {
            Prim::Cond {
                then_body,
                else_body,
            } => {
                check_types(
                    &else_body.param_types(),
                    &then_body.param_types(),
                    "the cond else branch's parameters",
                )
                .map_err(|e| e.at(span))?;
                check_types(
                    &else_body.result_types(),
                    &then_body.result_types(),
                    "the cond else branch's results",
                )
                .map_err(|e| e.at(span))?;
                Kind::Cond {
                    then_body: compile_body(body_name("then"), then_body)?,
                    else_body: compile_body(body_name("else"), else_body)?,
                }
            }
            Prim::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
            } => {
                let (nc, nb) = (*cond_nconsts, *body_nconsts);
                let carry = body.result_types();
                let body_params = body.param_types();
                let cond_params = cond_body.param_types();
                if body_params.len() < nb || cond_params.len() < nc {
                    return Err(CpuError::internal(
                        "a while body has fewer parameters than constants",
                    )
                    .at(span));
                }
                check_types(
                    &body_params[nb..],
                    &carry,
                    "the while body's carry parameters",
                )
                .map_err(|e| e.at(span))?;
                check_types(
                    &cond_params[nc..],
                    &carry,
                    "the while condition's parameters",
                )
                .map_err(|e| e.at(span))?;
                check_types(
                    &cond_body.result_types(),
                    &[Type::scalar(DType::Bool)],
                    "the while condition's results",
                )
                .map_err(|e| e.at(span))?;
                Kind::While(While {
                    cond_body: compile_body(body_name("cond"), cond_body)?,
                    body: compile_body(body_name("body"), body)?,
                    cond_nconsts: nc,
                    body_nconsts: nb,
                    carry,
                })
            }
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                length,
                reverse,
            } => {
                let params = body.param_types();
                let mut results = body.result_types();
                // Saturating: absurd counts must fail this check, not overflow; past it, every
                // sum of counts is bounded by the parameter count.
                if params.len() < nconsts.saturating_add(*ncarry) || results.len() < *ncarry {
                    return Err(CpuError::internal(
                        "a scan body has fewer parameters or results than constants and carries",
                    )
                    .at(span));
                }
                let y_rows = results.split_off(*ncarry);
                let carry = results;
                check_types(
                    &params[*nconsts..nconsts + ncarry],
                    &carry,
                    "the scan body's carry parameters",
                )
                .map_err(|e| e.at(span))?;
                Kind::Scan(Scan {
                    body: compile_body(body_name("body"), body)?,
                    nconsts: *nconsts,
                    length: *length,
                    reverse: *reverse,
                    carry,
                    x_rows: params[nconsts + ncarry..].to_vec(),
                    y_rows,
                })
            }
            _ => return Ok(None),
        };
        let framed = frames_fit(&kind);
        Ok(Some(Control {
            kind: Box::new(kind),
            framed,
            overhead_label: format!("{name} {prim_name} (outside its bodies)"),
            span,
        }))
    }

    /// Runs the primitive on `ins` (taken by value, so the initial carries can move into
    /// the first body run).
    pub fn run(
        &self,
        ins: Vec<Array>,
        threads: usize,
        fallback: &dyn Fallback,
        profile: Option<&mut Profile>,
    ) -> RunResult<Vec<Array>> {
        let mut r = Runner {
            threads,
            fallback,
            timer: Timer::new(profile),
            span: self.span,
            framed: self.framed,
        };
        let outs = match &*self.kind {
            Kind::Cond {
                then_body,
                else_body,
            } => r.cond(then_body, else_body, ins)?,
            Kind::While(w) => r.while_loop(w, ins)?,
            Kind::Scan(scan) => r.scan(scan, ins)?,
        };
        r.timer.finish(&self.overhead_label);
        Ok(outs)
    }
}

/// Profiling of one control-flow run: the time in its bodies, to record the rest
/// under the control's own label.
struct Timer<'a> {
    profile: Option<&'a mut Profile>,
    started: Option<Instant>,
    in_bodies: f64,
}

impl<'a> Timer<'a> {
    fn new(profile: Option<&'a mut Profile>) -> Timer<'a> {
        Timer {
            started: profile.as_ref().map(|_| Instant::now()),
            profile,
            in_bodies: 0.0,
        }
    }

    /// Runs `f` (a body run, handed the profile) counting its time as the bodies'.
    fn body<T>(&mut self, f: impl FnOnce(Option<&mut Profile>) -> T) -> T {
        let started = self.started.map(|_| Instant::now());
        let out = f(self.profile.as_deref_mut());
        if let Some(t) = started {
            self.in_bodies += t.elapsed().as_secs_f64();
        }
        out
    }

    /// Records the time outside the bodies under `label`.
    fn finish(self, label: &str) {
        if let (Some(p), Some(t)) = (self.profile, self.started) {
            p.record(label, (t.elapsed().as_secs_f64() - self.in_bodies).max(0.0));
        }
    }
}

/// One run of a control-flow step: what every body run needs, and the time spent in
/// them (when profiling) to profile the rest separately.
struct Runner<'a> {
    threads: usize,
    fallback: &'a dyn Fallback,
    timer: Timer<'a>,
    span: Span,
    /// Whether loops run in frames ([`Control::framed`]).
    framed: bool,
}

impl Runner<'_> {
    fn err(&self, message: impl Into<String>) -> Diagnostic {
        CpuError::internal(message).at(self.span).to_diagnostic()
    }

    /// Runs a body program, its steps profiled under its own name.
    fn body(&mut self, program: &Compiled, args: Vec<Array>) -> RunResult<Vec<Array>> {
        let (threads, fallback) = (self.threads, self.fallback);
        self.timer
            .body(|profile| program.run_owned(args, threads, fallback, profile))
    }

    /// Runs a loop in frames: `ins` are its operands, `out_types` its results' types.
    fn in_frames(
        &mut self,
        ins: &[Array],
        out_types: &[Type],
        drive: impl FnOnce(&mut Timer, &mut ArrayHost) -> Result<()>,
    ) -> RunResult<Vec<Array>> {
        let mut host = ArrayHost {
            ins,
            outs: out_types
                .iter()
                .map(|t| Data::filled(Scalar::zero(t.dtype), t.numel()))
                .collect(),
        };
        drive(&mut self.timer, &mut host).map_err(|e| e.at(self.span).to_diagnostic())?;
        host.outs
            .into_iter()
            .zip(out_types)
            .map(|(data, t)| Array::new(t.shape.clone(), data).map_err(|e| self.err(e.to_string())))
            .collect()
    }

    /// The value of a bool scalar (a predicate or a loop condition).
    fn truth(&self, a: Option<&Array>, what: &str) -> RunResult<bool> {
        match a {
            Some(a) => match (a.rank(), a.to_scalar()) {
                (0, Some(Scalar::Bool(b))) => Ok(b),
                _ => Err(self.err(format!("{what} must be a bool scalar, got {}", a.ty()))),
            },
            None => Err(self.err(format!("{what} is missing"))),
        }
    }

    /// Checks that carries (initial or a body's results) have the declared types.
    fn check_carry(&self, got: &[Array], want: &[Type], what: &str) -> RunResult<()> {
        let same = got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(a, t)| a.dtype() == t.dtype && a.shape() == t.shape.as_slice());
        if same {
            Ok(())
        } else {
            let got: Vec<String> = got.iter().map(|a| a.ty().to_string()).collect();
            let want: Vec<String> = want.iter().map(Type::to_string).collect();
            Err(self.err(format!(
                "{what} are [{}] where the carry is [{}]",
                got.join(", "),
                want.join(", ")
            )))
        }
    }

    fn cond(
        &mut self,
        then_body: &Compiled,
        else_body: &Compiled,
        mut ins: Vec<Array>,
    ) -> RunResult<Vec<Array>> {
        let pred = self.truth(ins.first(), "the cond predicate")?;
        // `ins` is not empty: `truth` found the predicate in it.
        ins.remove(0);
        self.body(if pred { then_body } else { else_body }, ins)
    }

    fn while_loop(&mut self, w: &While, mut ins: Vec<Array>) -> RunResult<Vec<Array>> {
        let (cond_body, body) = (&w.cond_body, &w.body);
        let (cond_nconsts, body_nconsts) = (w.cond_nconsts, w.body_nconsts);
        let carry_types = &w.carry;
        let nconsts = cond_nconsts + body_nconsts;
        if ins.len() != nconsts + carry_types.len() {
            return Err(self.err(format!(
                "while: {} operands for {nconsts} constants and {} carries",
                ins.len(),
                carry_types.len()
            )));
        }
        self.check_carry(&ins[nconsts..], carry_types, "the while's initial carries")?;
        if self.framed {
            return self.in_frames(&ins, carry_types, |timer, host| {
                let mut state = ControlState::new_while(w)?;
                drive_while(w, &mut state, timer, host)
            });
        }
        let mut carry = ins.split_off(nconsts);
        let body_consts = ins.split_off(cond_nconsts);
        let cond_consts = ins;
        loop {
            // The condition only reads the carries: it gets shared handles, dropped when
            // it returns, so the body below owns them alone again.
            let go = {
                let mut args = Vec::with_capacity(cond_nconsts + carry.len());
                args.extend(cond_consts.iter().cloned());
                args.extend(carry.iter().cloned());
                let go = self.body(cond_body, args)?;
                self.truth(go.first(), "the while condition")?
            };
            if !go {
                return Ok(carry);
            }
            let mut args = Vec::with_capacity(body_nconsts + carry.len());
            args.extend(body_consts.iter().cloned());
            args.append(&mut carry);
            // The body's result types are the carry's (checked when compiled).
            carry = self.body(body, args)?;
        }
    }

    fn scan(&mut self, s: &Scan, mut ins: Vec<Array>) -> RunResult<Vec<Array>> {
        let ncarry = s.carry.len();
        if ins.len() != s.nconsts + ncarry + s.x_rows.len() {
            return Err(self.err(format!(
                "scan: {} operands for {} constants, {ncarry} carries and {} inputs",
                ins.len(),
                s.nconsts,
                s.x_rows.len()
            )));
        }
        self.check_carry(
            &ins[s.nconsts..s.nconsts + ncarry],
            &s.carry,
            "the scan's initial carries",
        )?;
        for (x, row) in ins[s.nconsts + ncarry..].iter().zip(&s.x_rows) {
            if x.ty() != stacked(s.length, row) {
                return Err(self.err(format!(
                    "a scan input is {} where {} was expected",
                    x.ty(),
                    stacked(s.length, row)
                )));
            }
        }
        // Every `ys` output is allocated once; step `i` writes its row `i`. The size is
        // checked first (as the interpreter does, when the scan runs), so an absurd
        // length is an error rather than an abort in the allocator.
        for t in &s.y_rows {
            check_alloc(&stacked(s.length, t).shape, t.dtype).map_err(|e| {
                CpuError::unsupported(e.to_string())
                    .at(self.span)
                    .to_diagnostic()
            })?;
        }
        if self.framed {
            let mut out_types = s.carry.clone();
            out_types.extend(s.y_rows.iter().map(|t| stacked(s.length, t)));
            return self.in_frames(&ins, &out_types, |timer, host| {
                let mut state = ControlState::new_scan(s)?;
                drive_scan(s, &mut state, timer, host)
            });
        }
        let mut ys: Vec<Data> = s
            .y_rows
            .iter()
            .map(|t| Data::filled(Scalar::zero(t.dtype), s.length * t.numel()))
            .collect();
        let xs = ins.split_off(s.nconsts + ncarry);
        let mut carry = ins.split_off(s.nconsts);
        let consts = ins;
        for step in 0..s.length {
            // A reverse scan walks from the end but still stores y[i] at index i.
            let i = if s.reverse { s.length - 1 - step } else { step };
            let mut args = Vec::with_capacity(consts.len() + ncarry + xs.len());
            args.extend(consts.iter().cloned());
            args.append(&mut carry);
            for (x, t) in xs.iter().zip(&s.x_rows) {
                args.push(self.row(x, t, i, s.length)?);
            }
            let mut out = self.body(&s.body, args)?;
            if out.len() != ncarry + ys.len() {
                return Err(self.err(format!(
                    "the scan body returned {} results for {ncarry} carries and {} outputs",
                    out.len(),
                    ys.len()
                )));
            }
            for ((acc, y), t) in ys.iter_mut().zip(&out[ncarry..]).zip(&s.y_rows) {
                if y.dtype() != t.dtype || y.shape() != t.shape.as_slice() {
                    return Err(self.err(format!(
                        "the scan body returned {} for an output of {t}",
                        y.ty()
                    )));
                }
                write_row(acc, y.data(), i).map_err(|e| e.at(self.span).to_diagnostic())?;
            }
            out.truncate(ncarry);
            // The body's carry results have the carry's types (checked when compiled).
            carry = out;
        }
        for (data, t) in ys.into_iter().zip(&s.y_rows) {
            let a = Array::new(stacked(s.length, t).shape, data)
                .map_err(|e| self.err(e.to_string()))?;
            carry.push(a);
        }
        Ok(carry)
    }

    /// Row `i` along axis 0 of `x` (of `length` rows), as an array of type `row`.
    fn row(&self, x: &Array, row: &Type, i: usize, length: usize) -> RunResult<Array> {
        if length == 1 {
            // The only row is the whole array: share it instead of copying.
            return x
                .reshaped(row.shape.clone())
                .map_err(|e| self.err(e.to_string()));
        }
        let n = row.numel();
        let range = i * n..(i + 1) * n;
        macro_rules! rows {
            ($($variant:ident),*) => {
                match x.data() {
                    $(Data::$variant(v) => v.get(range).map(|r| Data::$variant(r.to_vec())),)*
                }
            };
        }
        let data = rows!(Bool, I32, I64, U32, F32, F64)
            .ok_or_else(|| self.err("a scan row is out of bounds"))?;
        Array::new(row.shape.clone(), data).map_err(|e| self.err(e.to_string()))
    }
}

/// The type of `length` rows of `row` stacked along a new leading axis.
fn stacked(length: usize, row: &Type) -> Type {
    let mut shape = Vec::with_capacity(row.rank() + 1);
    shape.push(length);
    shape.extend(&row.shape);
    Type::new(row.dtype, shape)
}

/// Copies `y` into row `i` of `acc` (rows of `y.len()` elements, same dtype).
fn write_row(acc: &mut Data, y: &Data, i: usize) -> Result<()> {
    let n = y.len();
    let range = i * n..(i + 1) * n;
    macro_rules! write {
        ($($variant:ident),*) => {
            match (acc, y) {
                $((Data::$variant(a), Data::$variant(b)) => match a.get_mut(range) {
                    // `dst` has exactly `n == b.len()` elements, as `copy_from_slice` needs.
                    Some(dst) => dst.copy_from_slice(b),
                    None => return Err(CpuError::internal("a scan output row is out of bounds")),
                },)*
                (a, b) => {
                    return Err(CpuError::internal(format!(
                        "a scan output of {} written with {}",
                        a.dtype(),
                        b.dtype()
                    )))
                }
            }
        };
    }
    write!(Bool, I32, I64, U32, F32, F64);
    Ok(())
}

/// Where a loop run in frames reads its operands and leaves its results: arrays (a
/// loop run by a program's slot table) or the regions of an enclosing frame.
trait Host {
    /// Writes operand `k` into region `r` of `dst`: all of it, or its row `row` (rows
    /// of `r.len` elements) when given.
    fn get(&self, k: usize, row: Option<usize>, dst: &mut [Cell], r: Region) -> Result<()>;
    /// Stores `v` (read from `src` when a region) as result `k`, or as its row `row`.
    fn put(&mut self, k: usize, row: Option<usize>, src: &[Cell], v: &Src) -> Result<()>;
}

fn no_operand(k: usize) -> CpuError {
    CpuError::internal(format!("a loop in a frame has no operand or result {k}"))
}

/// The operands of a loop as arrays; its results built in `outs`, allocated (at their
/// full size) before the loop starts.
struct ArrayHost<'a> {
    ins: &'a [Array],
    outs: Vec<Data>,
}

impl Host for ArrayHost<'_> {
    fn get(&self, k: usize, row: Option<usize>, dst: &mut [Cell], r: Region) -> Result<()> {
        let a = self.ins.get(k).ok_or_else(|| no_operand(k))?;
        let from = match row {
            None if a.len() == r.len => 0,
            None => {
                return Err(CpuError::internal(format!(
                    "a loop operand of {} elements for a parameter of {}",
                    a.len(),
                    r.len
                )))
            }
            Some(i) => i.checked_mul(r.len).ok_or_else(|| no_operand(k))?,
        };
        frame::write_data(dst, r, a.data(), from)
    }

    fn put(&mut self, k: usize, row: Option<usize>, src: &[Cell], v: &Src) -> Result<()> {
        let out = self.outs.get_mut(k).ok_or_else(|| no_operand(k))?;
        match v {
            Src::Region(r) => {
                let at = row.map_or(Some(0), |i| i.checked_mul(r.len));
                frame::read_data(src, *r, out, at.ok_or_else(|| no_operand(k))?)
            }
            Src::Lit(x) => set(out, row.unwrap_or(0), *x),
        }
    }
}

/// Sets element `at` of `data` to `x` (of the same dtype).
fn set(data: &mut Data, at: usize, x: Scalar) -> Result<()> {
    let dtype = data.dtype();
    let slot = match (data, x) {
        (Data::Bool(v), Scalar::Bool(x)) => v.get_mut(at).map(|e| *e = x),
        (Data::I32(v), Scalar::I32(x)) => v.get_mut(at).map(|e| *e = x),
        (Data::I64(v), Scalar::I64(x)) => v.get_mut(at).map(|e| *e = x),
        (Data::U32(v), Scalar::U32(x)) => v.get_mut(at).map(|e| *e = x),
        (Data::F32(v), Scalar::F32(x)) => v.get_mut(at).map(|e| *e = x),
        (Data::F64(v), Scalar::F64(x)) => v.get_mut(at).map(|e| *e = x),
        (_, x) => {
            return Err(CpuError::internal(format!(
                "a {} literal stored into {dtype} results",
                x.dtype()
            )))
        }
    };
    slot.ok_or_else(|| CpuError::internal("a loop result row is out of bounds"))
}

/// The operands (regions or literals) and result regions of a control-flow step of an
/// enclosing frame program, in that frame's `cells`.
struct FrameHost<'a> {
    cells: &'a mut [Cell],
    args: &'a [Src],
    outs: &'a [Region],
}

impl Host for FrameHost<'_> {
    fn get(&self, k: usize, row: Option<usize>, dst: &mut [Cell], r: Region) -> Result<()> {
        match (self.args.get(k), row) {
            (Some(Src::Region(a)), _) => {
                let from = row.map_or(Some(0), |i| i.checked_mul(r.len));
                let from = from.ok_or_else(|| no_operand(k))?;
                frame::copy(self.cells, *a, from, dst, r, 0, r.len)
            }
            (Some(Src::Lit(x)), None) => frame::write_lit(dst, r, 0, *x),
            (Some(Src::Lit(_)), Some(_)) | (None, _) => Err(no_operand(k)),
        }
    }

    fn put(&mut self, k: usize, row: Option<usize>, src: &[Cell], v: &Src) -> Result<()> {
        let out = *self.outs.get(k).ok_or_else(|| no_operand(k))?;
        let n = match v {
            Src::Region(r) => r.len,
            Src::Lit(_) => 1,
        };
        let at = row.map_or(Some(0), |i| i.checked_mul(n));
        frame::put(src, v, self.cells, out, at.ok_or_else(|| no_operand(k))?)
    }
}

/// What a control-flow step needs to run in frames: a [`State`] per body and scratch
/// space for the carries, made once when the enclosing loop (or this one) starts.
pub(crate) enum ControlState {
    Cond {
        then_state: State,
        else_state: State,
    },
    While {
        cond_state: State,
        body_state: State,
        carries: Carries,
    },
    Scan {
        body_state: State,
        carries: Carries,
    },
}

impl ControlState {
    fn new_while(w: &While) -> Result<ControlState> {
        let body = frame::frame_of(&w.body)?;
        let carry_params = body.params.get(w.body_nconsts..).unwrap_or_default();
        Ok(ControlState::While {
            cond_state: State::new(&w.cond_body)?,
            body_state: State::new(&w.body)?,
            carries: Carries::new(&body.results, carry_params),
        })
    }

    fn new_scan(s: &Scan) -> Result<ControlState> {
        let body = frame::frame_of(&s.body)?;
        let carry_params = body
            .params
            .get(s.nconsts..s.nconsts + s.carry.len())
            .unwrap_or_default();
        let carry_results = body.results.get(..s.carry.len()).unwrap_or_default();
        Ok(ControlState::Scan {
            body_state: State::new(&s.body)?,
            carries: Carries::new(carry_results, carry_params),
        })
    }
}

fn state_mismatch() -> CpuError {
    CpuError::internal("a control-flow state of another kind")
}

fn frame_mismatch() -> CpuError {
    CpuError::internal("a loop's frames do not fit its bodies")
}

/// `part[range]`, or an error: frame programs were checked to fit when compiled.
fn part<T>(v: &[T], range: std::ops::Range<usize>) -> Result<&[T]> {
    v.get(range).ok_or_else(frame_mismatch)
}

/// Runs a while loop in frames.
fn drive_while(
    w: &While,
    state: &mut ControlState,
    timer: &mut Timer,
    host: &mut impl Host,
) -> Result<()> {
    let ControlState::While {
        cond_state,
        body_state,
        carries,
    } = state
    else {
        return Err(state_mismatch());
    };
    let (cf, bf) = (frame::frame_of(&w.cond_body)?, frame::frame_of(&w.body)?);
    let (nc, nb, n) = (w.cond_nconsts, w.body_nconsts, w.carry.len());
    let cond_carry = part(&cf.params, nc..nc + n)?;
    let body_carry = part(&bf.params, nb..nb + n)?;
    for (k, r) in part(&cf.params, 0..nc)?.iter().enumerate() {
        host.get(k, None, &mut cond_state.cells, *r)?;
    }
    for (k, r) in part(&bf.params, 0..nb)?.iter().enumerate() {
        host.get(nc + k, None, &mut body_state.cells, *r)?;
    }
    for (j, r) in body_carry.iter().enumerate() {
        host.get(nc + nb + j, None, &mut body_state.cells, *r)?;
    }
    let go = cf.results.first().ok_or_else(frame_mismatch)?;
    loop {
        for (b, c) in body_carry.iter().zip(cond_carry) {
            frame::copy(
                &body_state.cells,
                *b,
                0,
                &mut cond_state.cells,
                *c,
                0,
                b.len,
            )?;
        }
        timer.body(|p| frame::run(&w.cond_body, cond_state, p))?;
        if !frame::truth(&cond_state.cells, go)? {
            break;
        }
        timer.body(|p| frame::run(&w.body, body_state, p))?;
        carries.update(&mut body_state.cells)?;
    }
    for (j, r) in body_carry.iter().enumerate() {
        host.put(j, None, &body_state.cells, &Src::Region(*r))?;
    }
    Ok(())
}

/// Runs a scan in frames.
fn drive_scan(
    s: &Scan,
    state: &mut ControlState,
    timer: &mut Timer,
    host: &mut impl Host,
) -> Result<()> {
    let ControlState::Scan {
        body_state,
        carries,
    } = state
    else {
        return Err(state_mismatch());
    };
    let bf = frame::frame_of(&s.body)?;
    let (nk, nc) = (s.nconsts, s.carry.len());
    let carry = part(&bf.params, nk..nk + nc)?;
    let x_params = part(&bf.params, nk + nc..bf.params.len())?;
    let y_results = part(&bf.results, nc..bf.results.len())?;
    for (k, r) in part(&bf.params, 0..nk + nc)?.iter().enumerate() {
        host.get(k, None, &mut body_state.cells, *r)?;
    }
    for step in 0..s.length {
        // A reverse scan walks from the end but still stores y[i] at index i.
        let i = if s.reverse { s.length - 1 - step } else { step };
        for (x, r) in x_params.iter().enumerate() {
            host.get(nk + nc + x, Some(i), &mut body_state.cells, *r)?;
        }
        timer.body(|p| frame::run(&s.body, body_state, p))?;
        for (y, v) in y_results.iter().enumerate() {
            host.put(nc + y, Some(i), &body_state.cells, v)?;
        }
        carries.update(&mut body_state.cells)?;
    }
    for (j, r) in carry.iter().enumerate() {
        host.put(j, None, &body_state.cells, &Src::Region(*r))?;
    }
    Ok(())
}

/// Runs a cond in frames: the predicate is operand 0, the branches' operands follow.
fn drive_cond(
    then_body: &Compiled,
    else_body: &Compiled,
    state: &mut ControlState,
    timer: &mut Timer,
    host: &mut FrameHost,
) -> Result<()> {
    let ControlState::Cond {
        then_state,
        else_state,
    } = state
    else {
        return Err(state_mismatch());
    };
    let pred = host.args.first().ok_or_else(|| no_operand(0))?;
    let (body, st) = if frame::truth(host.cells, pred)? {
        (then_body, then_state)
    } else {
        (else_body, else_state)
    };
    let f = frame::frame_of(body)?;
    for (k, r) in f.params.iter().enumerate() {
        host.get(1 + k, None, &mut st.cells, *r)?;
    }
    timer.body(|p| frame::run(body, st, p))?;
    for (o, v) in f.results.iter().enumerate() {
        host.put(o, None, &st.cells, v)?;
    }
    Ok(())
}

/// The dtype and element count of a value.
fn src_type(v: &Src) -> (DType, usize) {
    match v {
        Src::Region(r) => (r.dtype, r.len),
        Src::Lit(x) => (x.dtype(), 1),
    }
}

fn same_regions(a: &[Region], b: &[Region]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.dtype == y.dtype && x.len == y.len)
}

fn all_fit(vs: &[Src], rs: &[Region]) -> bool {
    vs.len() == rs.len() && vs.iter().zip(rs).all(|(v, r)| v.fits(r))
}

/// Whether regions `rs` hold the values of types `ts` (in order).
fn hold(rs: &[Region], ts: &[Type]) -> bool {
    rs.len() == ts.len()
        && rs
            .iter()
            .zip(ts)
            .all(|(r, t)| r.dtype == t.dtype && r.len == t.numel())
}

const BOOL_SCALAR: Region = Region {
    cell: 0,
    len: 1,
    dtype: DType::Bool,
};

/// Whether every body of `kind` has a frame program and they fit each other and the
/// declared carries: then the loop runs in frames.
fn frames_fit(kind: &Kind) -> bool {
    match kind {
        Kind::Cond {
            then_body,
            else_body,
        } => {
            let (Some(t), Some(e)) = (&then_body.frame, &else_body.frame) else {
                return false;
            };
            same_regions(&t.params, &e.params)
                && t.results.len() == e.results.len()
                && t.results
                    .iter()
                    .zip(&e.results)
                    .all(|(a, b)| src_type(a) == src_type(b))
        }
        Kind::While(w) => {
            let (Some(c), Some(b)) = (&w.cond_body.frame, &w.body.frame) else {
                return false;
            };
            let (nc, nb, n) = (w.cond_nconsts, w.body_nconsts, w.carry.len());
            let (Some(cc), Some(bc)) = (c.params.get(nc..), b.params.get(nb..)) else {
                return false;
            };
            hold(cc, &w.carry)
                && hold(bc, &w.carry)
                && all_fit(&b.results, bc)
                && c.results.len() == 1
                && c.results.iter().all(|v| v.fits(&BOOL_SCALAR))
                && bc.len() == n
        }
        Kind::Scan(s) => {
            let Some(b) = &s.body.frame else {
                return false;
            };
            let (nk, nc) = (s.nconsts, s.carry.len());
            let (Some(carry), Some(xs), Some(carry_out), Some(ys)) = (
                b.params.get(nk..nk + nc),
                b.params.get(nk + nc..),
                b.results.get(..nc),
                b.results.get(nc..),
            ) else {
                return false;
            };
            hold(carry, &s.carry)
                && hold(xs, &s.x_rows)
                && all_fit(carry_out, carry)
                && ys.len() == s.y_rows.len()
                && ys
                    .iter()
                    .zip(&s.y_rows)
                    .all(|(v, t)| src_type(v) == (t.dtype, t.numel()))
        }
    }
}

impl Control {
    /// Whether the control flow runs in frames as a step of an enclosing frame program
    /// with operands `args` and results `outs`.
    pub(crate) fn fits_frame(&self, args: &[Src], outs: &[Region]) -> bool {
        if !self.framed {
            return false;
        }
        let outs_hold = |vs: &[Src]| {
            vs.len() == outs.len()
                && vs
                    .iter()
                    .zip(outs)
                    .all(|(v, o)| src_type(v) == (o.dtype, o.len))
        };
        match &*self.kind {
            Kind::Cond { then_body, .. } => {
                let Some(t) = &then_body.frame else {
                    return false;
                };
                match args.split_first() {
                    Some((pred, rest)) => {
                        pred.fits(&BOOL_SCALAR) && all_fit(rest, &t.params) && outs_hold(&t.results)
                    }
                    None => false,
                }
            }
            Kind::While(w) => {
                let (Some(c), Some(b)) = (&w.cond_body.frame, &w.body.frame) else {
                    return false;
                };
                let (nc, nb) = (w.cond_nconsts, w.body_nconsts);
                let (Some(cond_consts), Some(body_params), Some(body_carry)) = (
                    c.params.get(..nc),
                    b.params.get(..nb + w.carry.len()),
                    b.params.get(nb..),
                ) else {
                    return false;
                };
                args.len() == nc + body_params.len()
                    && all_fit(&args[..nc], cond_consts)
                    && all_fit(&args[nc..], body_params)
                    && same_regions(outs, body_carry)
            }
            Kind::Scan(s) => {
                let Some(b) = &s.body.frame else {
                    return false;
                };
                let (nk, nc) = (s.nconsts, s.carry.len());
                let stacked_fit = |v: &Src, row: usize, dtype: DType| {
                    matches!(v, Src::Region(r)
                        if r.dtype == dtype && Some(r.len) == s.length.checked_mul(row))
                };
                let (Some(head), Some(xs), Some(carry), Some(ys)) = (
                    b.params.get(..nk + nc),
                    b.params.get(nk + nc..),
                    b.params.get(nk..nk + nc),
                    b.results.get(nc..),
                ) else {
                    return false;
                };
                args.len() == b.params.len()
                    && all_fit(&args[..nk + nc], head)
                    && args[nk + nc..]
                        .iter()
                        .zip(xs)
                        .all(|(v, r)| stacked_fit(v, r.len, r.dtype))
                    && outs.len() == nc + ys.len()
                    && same_regions(&outs[..nc], carry)
                    && outs[nc..].iter().zip(ys).all(|(o, v)| {
                        let (dtype, row) = src_type(v);
                        stacked_fit(&Src::Region(*o), row, dtype)
                    })
            }
        }
    }

    /// The state the control flow needs to run in frames.
    pub(crate) fn frame_state(&self) -> Result<ControlState> {
        match &*self.kind {
            Kind::Cond {
                then_body,
                else_body,
            } => Ok(ControlState::Cond {
                then_state: State::new(then_body)?,
                else_state: State::new(else_body)?,
            }),
            Kind::While(w) => ControlState::new_while(w),
            Kind::Scan(s) => ControlState::new_scan(s),
        }
    }

    /// Runs the control flow as a step of an enclosing frame program: `args` and
    /// `outs` lie in `cells`, its frame; `state` was made by [`Control::frame_state`].
    pub(crate) fn run_in_frame(
        &self,
        state: &mut ControlState,
        cells: &mut [Cell],
        args: &[Src],
        outs: &[Region],
        profile: Option<&mut Profile>,
    ) -> Result<()> {
        let mut timer = Timer::new(profile);
        let mut host = FrameHost { cells, args, outs };
        match &*self.kind {
            Kind::Cond {
                then_body,
                else_body,
            } => drive_cond(then_body, else_body, state, &mut timer, &mut host),
            Kind::While(w) => drive_while(w, state, &mut timer, &mut host),
            Kind::Scan(s) => drive_scan(s, state, &mut timer, &mut host),
        }
        .map_err(|e| e.at(self.span))?;
        timer.finish(&self.overhead_label);
        Ok(())
    }
}
