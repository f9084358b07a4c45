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
//! Costs per iteration: the carries are moved from one body run into the next (never
//! cloned, so a body that can reuse a buffer it alone owns may do so), constants are
//! shared (`Array` is reference counted), a scan copies one row per `xs` and writes each
//! `ys` row straight into an output buffer allocated once. Nothing is planned or
//! compiled while running. Nested control flow works by recursion: a body's own
//! control-flow steps are `Control`s of its program.

use std::time::Instant;

use nabla_diag::{Diagnostic, Span};
use nabla_ir::array::check_alloc;
use nabla_ir::{Array, Body, DType, Data, Func, Prim, Scalar, Type};

use crate::error::{CpuError, Result};
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
}

enum Kind {
    Cond {
        then_body: Compiled,
        else_body: Compiled,
    },
    While {
        cond_body: Compiled,
        body: Compiled,
        cond_nconsts: usize,
        body_nconsts: usize,
        /// The type of every carry (the body's results must keep them).
        carry: Vec<Type>,
    },
    Scan(Scan),
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
                Kind::While {
                    cond_body: compile_body(body_name("cond"), cond_body)?,
                    body: compile_body(body_name("body"), body)?,
                    cond_nconsts: nc,
                    body_nconsts: nb,
                    carry,
                }
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
        Ok(Some(Control {
            kind: Box::new(kind),
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
            started: profile.as_ref().map(|_| Instant::now()),
            profile,
            in_bodies: 0.0,
            span: self.span,
        };
        let outs = match &*self.kind {
            Kind::Cond {
                then_body,
                else_body,
            } => r.cond(then_body, else_body, ins)?,
            Kind::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
                carry,
            } => r.while_loop(cond_body, body, *cond_nconsts, *body_nconsts, carry, ins)?,
            Kind::Scan(scan) => r.scan(scan, ins)?,
        };
        if let (Some(p), Some(t)) = (r.profile, r.started) {
            p.record(
                &self.overhead_label,
                (t.elapsed().as_secs_f64() - r.in_bodies).max(0.0),
            );
        }
        Ok(outs)
    }
}

/// One run of a control-flow step: what every body run needs, and the time spent in
/// them (when profiling) to profile the rest separately.
struct Runner<'a> {
    threads: usize,
    fallback: &'a dyn Fallback,
    profile: Option<&'a mut Profile>,
    started: Option<Instant>,
    in_bodies: f64,
    span: Span,
}

impl Runner<'_> {
    fn err(&self, message: impl Into<String>) -> Diagnostic {
        CpuError::internal(message).at(self.span).to_diagnostic()
    }

    /// Runs a body program, its steps profiled under its own name.
    fn body(&mut self, program: &Compiled, args: Vec<Array>) -> RunResult<Vec<Array>> {
        let started = self.started.map(|_| Instant::now());
        let outs = program.run_owned(
            args,
            self.threads,
            self.fallback,
            self.profile.as_deref_mut(),
        )?;
        if let Some(t) = started {
            self.in_bodies += t.elapsed().as_secs_f64();
        }
        Ok(outs)
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

    fn while_loop(
        &mut self,
        cond_body: &Compiled,
        body: &Compiled,
        cond_nconsts: usize,
        body_nconsts: usize,
        carry_types: &[Type],
        mut ins: Vec<Array>,
    ) -> RunResult<Vec<Array>> {
        let nconsts = cond_nconsts + body_nconsts;
        if ins.len() != nconsts + carry_types.len() {
            return Err(self.err(format!(
                "while: {} operands for {nconsts} constants and {} carries",
                ins.len(),
                carry_types.len()
            )));
        }
        let mut carry = ins.split_off(nconsts);
        let body_consts = ins.split_off(cond_nconsts);
        let cond_consts = ins;
        self.check_carry(&carry, carry_types, "the while's initial carries")?;
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
        let xs = ins.split_off(s.nconsts + ncarry);
        let mut carry = ins.split_off(s.nconsts);
        let consts = ins;
        self.check_carry(&carry, &s.carry, "the scan's initial carries")?;
        for (x, row) in xs.iter().zip(&s.x_rows) {
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
        let mut ys = Vec::with_capacity(s.y_rows.len());
        for t in &s.y_rows {
            check_alloc(&stacked(s.length, t).shape, t.dtype).map_err(|e| {
                CpuError::unsupported(e.to_string())
                    .at(self.span)
                    .to_diagnostic()
            })?;
            ys.push(Data::filled(Scalar::zero(t.dtype), s.length * t.numel()));
        }
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
