//! `check_grads(f, args…)`: the gradient checker users call from a script.
//!
//! For each argument it compares forward mode with reverse mode by the dot-product test
//! ⟨ct, J·t⟩ = ⟨Jᵀ·ct, t⟩ on random directions, and forward mode with central finite
//! differences, everything in f64, and reports the worst relative error. Silent wrong
//! gradients are the worst bug an AD system can ship, so users get the same check the
//! test suite runs.

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Array, DType, Data, Type};

use crate::cx::{Cx, Res};
use crate::eval::ArgVal;
use crate::transforms::transform_error;
use crate::value::{Tensor, Value};

/// Directions tried per argument.
const DIRECTIONS: usize = 2;

/// A small deterministic generator: the check must give the same report every run.
struct SplitMix(u64);

impl SplitMix {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Uniform in [-1, 1).
        (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn array(&mut self, ty: &Type) -> Array {
        let data: Vec<f64> = (0..ty.numel()).map(|_| self.next_unit()).collect();
        // The data has exactly `numel` elements of the type's shape.
        Array::from_vec(ty.shape.clone(), data).expect("numel elements fill the shape")
    }
}

fn concrete(t: &Tensor, span: Span) -> Res<Array> {
    t.as_concrete().cloned().ok_or_else(|| {
        Diagnostic::error(Code::INTERNAL, "check_grads saw a traced value").at(span, "")
    })
}

fn inner(a: &[Array], b: &[Array]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            x.to_f64_vec()
                .iter()
                .zip(y.to_f64_vec())
                .map(|(p, q)| p * q)
                .sum::<f64>()
        })
        .sum()
}

fn rel_err(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

impl Cx<'_> {
    pub(crate) fn check_grads(&mut self, f: &Value, args: Vec<ArgVal>, span: Span) -> Res<Value> {
        let (trees, leaves) = self.flatten_args(&args)?;
        // Everything in f64: finite differences in f32 would drown the check in noise.
        let mut x = Vec::with_capacity(leaves.len());
        for l in &leaves {
            let a = concrete(l, span)?;
            x.push(if a.dtype().is_float() {
                a.cast(DType::F64)
            } else {
                a
            });
        }
        let types: Vec<Type> = x.iter().map(Array::ty).collect();
        let closed = self.close_fn(f, &trees, &types, span)?;
        // Each function is shared so the backend compiles it once for all the calls below.
        let func = std::rc::Rc::new(closed.func);
        let out_types = func.body.result_types();
        if let Some(t) = out_types.iter().find(|t| !t.dtype.is_float()) {
            return Err(Diagnostic::error(
                Code::NOT_DIFFERENTIABLE,
                format!("check_grads needs float results, but the function returns {t}"),
            )
            .at(span, "this check"));
        }
        let active: Vec<bool> = types.iter().map(|t| t.dtype.is_float()).collect();
        let jf = nabla_transform::jvp(&func, &active).map_err(|e| transform_error(e, span))?;
        let jf = std::rc::Rc::new(jf);
        let v = nabla_transform::vjp(&func, &active).map_err(|e| transform_error(e, span))?;
        let (primal, pullback) = (std::rc::Rc::new(v.primal), std::rc::Rc::new(v.pullback));
        let tensors = |arrays: &[Array]| -> Vec<Tensor> {
            arrays.iter().cloned().map(Tensor::concrete).collect()
        };
        let primal_outs = self.apply_func(&primal, &tensors(&x), span)?;
        let residuals: Vec<Tensor> = primal_outs[out_types.len()..].to_vec();

        let mut rng = SplitMix(0x6e61_626c_6121);
        let mut report = Vec::with_capacity(args.len());
        for (k, tree) in trees.iter().enumerate() {
            let mut mine = Vec::new();
            crate::transforms::tree_leaf_indices(tree, &mut mine);
            let mine: Vec<usize> = mine.into_iter().filter(|&l| active[l]).collect();
            if mine.is_empty() {
                self.host.print(&format!(
                    "check_grads: argument {k} is not a float array; skipped"
                ));
                report.push(0.0);
                continue;
            }
            let (mut worst_dot, mut worst_fd) = (0.0f64, 0.0f64);
            for _ in 0..DIRECTIONS {
                // A random direction on this argument's leaves only, zero elsewhere.
                let t: Vec<Array> = types
                    .iter()
                    .enumerate()
                    .filter(|(l, _)| active[*l])
                    .map(|(l, ty)| {
                        if mine.contains(&l) {
                            rng.array(ty)
                        } else {
                            Array::from_vec(ty.shape.clone(), vec![0.0; ty.numel()])
                                .expect("numel elements fill the shape")
                        }
                    })
                    .collect();
                let ct: Vec<Array> = out_types
                    .iter()
                    .map(|ty| rng.array(&ty.with_dtype(DType::F64)).cast(ty.dtype))
                    .collect();
                let mut jargs = tensors(&x);
                jargs.extend(tensors(&t));
                let jouts = self.apply_func(&jf, &jargs, span)?;
                let jt: Vec<Array> = jouts[out_types.len()..]
                    .iter()
                    .map(|t| concrete(t, span))
                    .collect::<Res<_>>()?;
                let forward = inner(&ct, &jt);

                let mut pargs = residuals.clone();
                pargs.extend(tensors(&ct));
                let cts: Vec<Array> = self
                    .apply_func(&pullback, &pargs, span)?
                    .iter()
                    .map(|t| concrete(t, span))
                    .collect::<Res<_>>()?;
                let reverse = inner(&cts, &t);
                worst_dot = worst_dot.max(rel_err(forward, reverse));

                // Central differences along the same direction.
                let scale = mine
                    .iter()
                    .flat_map(|&l| x[l].to_f64_vec())
                    .fold(1.0f64, |m, v| m.max(v.abs()));
                let h = 1e-5 * scale;
                let shifted = |sign: f64| -> Vec<Array> {
                    let mut ti = t.iter();
                    x.iter()
                        .enumerate()
                        .map(|(l, a)| {
                            if !active[l] {
                                return a.clone();
                            }
                            let d = ti.next().map(Array::to_f64_vec).unwrap_or_default();
                            let v: Vec<f64> = a
                                .to_f64_vec()
                                .iter()
                                .zip(d)
                                .map(|(p, q)| p + sign * h * q)
                                .collect();
                            Array::new(a.shape().to_vec(), Data::F64(v))
                                .expect("the shifted array keeps its shape")
                        })
                        .collect()
                };
                let (xp, xm) = (shifted(1.0), shifted(-1.0));
                let fp: Vec<Array> = self
                    .apply_func(&func, &tensors(&xp), span)?
                    .iter()
                    .map(|t| concrete(t, span))
                    .collect::<Res<_>>()?;
                let fm: Vec<Array> = self
                    .apply_func(&func, &tensors(&xm), span)?
                    .iter()
                    .map(|t| concrete(t, span))
                    .collect::<Res<_>>()?;
                let fd = (inner(&ct, &fp) - inner(&ct, &fm)) / (2.0 * h);
                worst_fd = worst_fd.max(rel_err(forward, fd));
            }
            self.host.print(&format!(
                "check_grads: argument {k}: jvp vs vjp {worst_dot:.1e}, jvp vs finite differences {worst_fd:.1e}"
            ));
            report.push(worst_dot.max(worst_fd));
        }
        let n = report.len();
        Ok(Value::arr(
            Array::from_vec(vec![n], report).expect("one error per argument"),
        ))
    }
}
