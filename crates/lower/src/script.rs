//! Script-layer builtins: `print`, `load`, `save`, `load_csv`, `timeit`,
//! `check_precision` and `plot`.

use std::time::Instant;

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Array, DType, Prim, ReduceOp, UnaryOp};

use crate::builtins::{Bound, Builtin};
use crate::call::ArgSpec;
use crate::cx::{Cx, Res};
use crate::eval::ArgVal;
use crate::value::{Callable, Value};

impl Cx<'_> {
    pub fn script_builtin(&mut self, b: Builtin, a: &Bound, span: Span) -> Res<Value> {
        match b {
            Builtin::Print => {
                let parts: Vec<String> =
                    a.rest.iter().map(|v| self.format_value(&v.value)).collect();
                self.host.print(&parts.join(" "));
                Ok(Value::None)
            }
            Builtin::Load | Builtin::LoadCsv => {
                let path = self.str_arg(a, "path")?;
                let arr = if b == Builtin::Load {
                    self.host.load(&path, a.span_of("path"))?
                } else {
                    self.host.load_csv(&path, a.span_of("path"))?
                };
                Ok(Value::arr(arr))
            }
            Builtin::Save => {
                let path = self.str_arg(a, "path")?;
                let x = self.tensor_of(&a.req("x")?, a.span_of("x"))?;
                let arr = x.as_concrete().cloned().ok_or_else(|| {
                    Diagnostic::error(Code::INTERNAL, "save of a traced value").at(span, "")
                })?;
                self.host.save(&path, &arr, a.span_of("path"))?;
                Ok(Value::None)
            }
            Builtin::Timeit => self.timeit(a, span),
            Builtin::CheckPrecision => self.check_precision(a, span),
            Builtin::CheckGrads => {
                let f = a.req("f")?;
                self.check_grads(&f, a.rest.clone(), span)
            }
            Builtin::Plot => self.plot(a, span),
            _ => Err(Diagnostic::error(Code::INTERNAL, "not a script builtin").at(span, "")),
        }
    }

    fn str_arg(&self, a: &Bound, name: &str) -> Res<String> {
        match a.req(name)? {
            Value::Str(s) => Ok(s.to_string()),
            other => Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!("`{name}` must be a string, not {}", other.kind_name()),
            )
            .at(a.span_of(name), "not a string")),
        }
    }

    /// How `print` shows a value: arrays as NumPy does, numbers as Python does.
    pub fn format_value(&self, v: &Value) -> String {
        match v {
            Value::Arr(t) => match t.as_concrete() {
                Some(a) => self.host.format_array(a),
                None => format!("<traced {}>", t.ty()),
            },
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
            Value::Str(s) => s.to_string(),
            Value::None => "none".to_string(),
            Value::Tuple(items) => {
                let parts: Vec<String> = items.iter().map(|i| self.format_value(i)).collect();
                if parts.len() == 1 {
                    format!("({},)", parts[0])
                } else {
                    format!("({})", parts.join(", "))
                }
            }
            Value::List(items) => {
                let parts: Vec<String> = items.iter().map(|i| self.format_value(i)).collect();
                format!("[{}]", parts.join(", "))
            }
            Value::DType(d) => d.name().to_string(),
            Value::Func(f) => match &**f {
                Callable::User { def, .. } => format!("<fn {}>", def.name.name),
                Callable::Builtin(b) => format!("<builtin {}>", b.name()),
                Callable::Transform { kind, .. } => format!("<{} of a function>", kind.name()),
                _ => "<function>".to_string(),
            },
            Value::Module(m) => format!(
                "<module {}>",
                self.eng.modules.get(*m).map_or("?", |mm| mm.name.as_str())
            ),
            Value::At(_) | Value::AtIndex(..) => "<.at[] update>".to_string(),
        }
    }

    /// `timeit(f, args…, label=, repeat=)`: the first call (trace + compile + run)
    /// apart from the steady-state median and minimum.
    fn timeit(&mut self, a: &Bound, span: Span) -> Res<Value> {
        let f = a.req("f")?;
        let label = match a.opt("label") {
            Some(Value::Str(s)) => s.to_string(),
            _ => self.snippet(a.span_of("f")),
        };
        let args: Vec<ArgVal> = a.rest.clone();
        let compile_before = self.eng.compile_seconds;
        let trace_before = self.eng.trace_seconds;
        let t0 = Instant::now();
        self.call_value(&f, args.clone(), a.span_of("f"), span)?;
        let first = t0.elapsed().as_secs_f64();
        let compile = self.eng.compile_seconds - compile_before;
        let trace = self.eng.trace_seconds - trace_before;
        let max_runs = match a.opt("repeat") {
            Some(v) => crate::ops::static_int(&v).unwrap_or(5).max(1) as usize,
            None => 1000,
        };
        let mut times = Vec::new();
        let budget = Instant::now();
        while times.len() < max_runs && (times.len() < 5 || budget.elapsed().as_secs_f64() < 0.5) {
            let t = Instant::now();
            self.call_value(&f, args.clone(), a.span_of("f"), span)?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let min = times[0];
        self.host.print(&format!(
            "timeit {label}: first call {} (trace {}, compile {}), median {}, min {} over {} runs",
            fmt_s(first),
            fmt_s(trace),
            fmt_s(compile),
            fmt_s(median),
            fmt_s(min),
            times.len()
        ));
        let json = format!(
            "{{\"label\": {:?}, \"first_call_s\": {first:e}, \"trace_s\": {trace:e}, \"compile_s\": {compile:e}, \"median_s\": {median:e}, \"min_s\": {min:e}, \"runs\": {}}}",
            label,
            times.len()
        );
        self.host.timeit_record(&json);
        Ok(Value::Float(median))
    }

    /// `check_precision(f, args…)`: each sum reduction of `f`, evaluated again with
    /// compensated f64 accumulation; reports relative error and condition number.
    fn check_precision(&mut self, a: &Bound, span: Span) -> Res<Value> {
        let f = a.req("f")?;
        let Value::Func(c) = &f else {
            return Err(
                Diagnostic::error(Code::NOT_CALLABLE, "check_precision needs a function")
                    .at(a.span_of("f"), "not a function"),
            );
        };
        let args: Vec<Value> = a.rest.iter().map(|x| x.value.clone()).collect();
        let specs: Vec<ArgSpec> = args.iter().map(ArgSpec::of).collect();
        let traced = self.trace(c, &specs, span)?;
        let mut leaves = Vec::new();
        for v in &args {
            crate::call::arg_leaves_pub(v, &mut leaves);
        }
        // Evaluate every top-level equation on the host to see reduction operands.
        let body = &traced.func.body;
        let mut env: std::collections::HashMap<u32, Array> = std::collections::HashMap::new();
        for (p, v) in body.params.iter().zip(&leaves) {
            env.insert(p.id, v.clone());
        }
        let mut report = Vec::new();
        for e in &body.eqns {
            let mut ins = Vec::new();
            for at in &e.args {
                ins.push(match at {
                    nabla_ir::Atom::Lit(s) => Array::scalar(*s),
                    nabla_ir::Atom::Var(v) => env.get(&v.id).cloned().ok_or_else(|| {
                        Diagnostic::error(Code::INTERNAL, "unbound variable in check_precision")
                            .at(span, "")
                    })?,
                });
            }
            let outs = self.host.apply(&e.prim, &ins, e.span)?;
            if let Prim::Reduce {
                op: ReduceOp::Sum,
                axes,
                ..
            } = &e.prim
            {
                if ins[0].dtype().is_float() {
                    let x64 = ins[0].cast(DType::F64);
                    let exact = self.host.apply(
                        &Prim::Reduce {
                            op: ReduceOp::Sum,
                            axes: axes.clone(),
                            compensated: true,
                        },
                        std::slice::from_ref(&x64),
                        e.span,
                    )?;
                    let absx = self
                        .host
                        .apply(&Prim::Unary(UnaryOp::Abs), &[x64], e.span)?;
                    let sabs = self.host.apply(
                        &Prim::Reduce {
                            op: ReduceOp::Sum,
                            axes: axes.clone(),
                            compensated: false,
                        },
                        &absx,
                        e.span,
                    )?;
                    let got = outs[0].cast(DType::F64).to_f64_vec();
                    let ex = exact[0].to_f64_vec();
                    let sa = sabs[0].to_f64_vec();
                    let mut worst_err: f64 = 0.0;
                    let mut worst_cond: f64 = 0.0;
                    for ((g, x), s) in got.iter().zip(&ex).zip(&sa) {
                        let err = if *x == 0.0 {
                            (g - x).abs()
                        } else {
                            ((g - x) / x).abs()
                        };
                        worst_err = worst_err.max(err);
                        worst_cond = worst_cond.max(if *x == 0.0 {
                            f64::INFINITY
                        } else {
                            s / x.abs()
                        });
                    }
                    let (line, col) = self.eng.sources.line_col(e.span).unwrap_or((0, 0));
                    report.push(format!(
                        "  sum at {line}:{col} ({} over {} elements): relative error {worst_err:.3e}, condition number {worst_cond:.3e}",
                        ins[0].ty(),
                        ins[0].len() / outs[0].len().max(1)
                    ));
                }
            }
            for (o, v) in e.outs.iter().zip(outs) {
                env.insert(o.id, v);
            }
        }
        let label = self.snippet(a.span_of("f"));
        if report.is_empty() {
            self.host
                .print(&format!("check_precision {label}: no float sums"));
        } else {
            self.host
                .print(&format!("check_precision {label}:\n{}", report.join("\n")));
        }
        Ok(Value::None)
    }

    /// `plot(y)` or `plot(x, y)`: a text chart of a 1-D series.
    fn plot(&mut self, a: &Bound, span: Span) -> Res<Value> {
        let (xs, ys) = match a.rest.as_slice() {
            [y] => {
                let y = self.concrete_f64(&y.value, y.span)?;
                ((0..y.len()).map(|i| i as f64).collect::<Vec<_>>(), y)
            }
            [x, y] => (
                self.concrete_f64(&x.value, x.span)?,
                self.concrete_f64(&y.value, y.span)?,
            ),
            _ => {
                return Err(
                    Diagnostic::error(Code::ARITY, "plot takes `plot(y)` or `plot(x, y)`")
                        .at(span, "this call"),
                )
            }
        };
        if xs.len() != ys.len() || ys.is_empty() {
            return Err(Diagnostic::error(
                Code::SHAPE_MISMATCH,
                "plot needs non-empty x and y of equal length",
            )
            .at(span, "this plot"));
        }
        self.host.print(&text_plot(&xs, &ys, 64, 16));
        Ok(Value::None)
    }

    fn concrete_f64(&mut self, v: &Value, span: Span) -> Res<Vec<f64>> {
        let t = self.tensor_of(v, span)?;
        let a = t
            .as_concrete()
            .ok_or_else(|| Diagnostic::error(Code::INTERNAL, "traced plot").at(span, ""))?;
        Ok(a.to_f64_vec())
    }
}

/// A character chart with the y range on the left.
pub fn text_plot(xs: &[f64], ys: &[f64], width: usize, height: usize) -> String {
    let finite = |v: &[f64]| {
        let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        let lo = f.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() {
            (lo, if hi > lo { hi } else { lo + 1.0 })
        } else {
            (0.0, 1.0)
        }
    };
    let (x0, x1) = finite(xs);
    let (y0, y1) = finite(ys);
    let mut grid = vec![vec![' '; width]; height];
    for (x, y) in xs.iter().zip(ys) {
        if !x.is_finite() || !y.is_finite() {
            continue;
        }
        let c = (((x - x0) / (x1 - x0)) * (width - 1) as f64).round() as usize;
        let r = (((y - y0) / (y1 - y0)) * (height - 1) as f64).round() as usize;
        grid[height - 1 - r.min(height - 1)][c.min(width - 1)] = '*';
    }
    let mut out = String::new();
    for (i, row) in grid.iter().enumerate() {
        let label = if i == 0 {
            format!("{y1:>10.4}")
        } else if i == height - 1 {
            format!("{y0:>10.4}")
        } else {
            " ".repeat(10)
        };
        out.push_str(&format!("{label} |{}\n", row.iter().collect::<String>()));
    }
    out.push_str(&format!("{} +{}\n", " ".repeat(10), "-".repeat(width)));
    out.push_str(&format!(
        "{} {x0:<12.4}{}{x1:>12.4}",
        " ".repeat(10),
        " ".repeat(width.saturating_sub(24))
    ));
    out
}

/// Python's float repr (`2.0`, `0.1`, `1e-05`).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{f:?}")
}

fn fmt_s(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}
