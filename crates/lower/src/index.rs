//! NumPy basic indexing (`x[i]`, `x[a:b:s]`, `x[..., None]`), integer-array gathers,
//! and functional updates through `x.at[…]`.

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{BinaryOp, CmpOp, DType, Prim, Scalar, ScatterMode};

use crate::cx::{Cx, Res};
use crate::value::{AtOp, IndexArg, Tensor, Value};

impl Cx<'_> {
    /// `x[items]` for an array `x`.
    pub fn index(&mut self, x: &Tensor, items: &[IndexArg], span: Span) -> Res<Tensor> {
        let shape = x.shape();
        let consumed = items
            .iter()
            .filter(|i| !matches!(i, IndexArg::Ellipsis(_) | IndexArg::NewAxis(_)))
            .count();
        let ellipses = items
            .iter()
            .filter(|i| matches!(i, IndexArg::Ellipsis(_)))
            .count();
        if ellipses > 1 {
            return Err(
                Diagnostic::error(Code::BAD_ARGUMENT, "an index can have only one `...`")
                    .at(span, "here"),
            );
        }
        if consumed > shape.len() {
            return Err(Diagnostic::error(
                Code::INDEX_OUT_OF_RANGE,
                format!(
                    "too many indices: {} for an array of rank {}",
                    consumed,
                    shape.len()
                ),
            )
            .at(span, format!("the array is {}", x.ty())));
        }
        // Expand `...` (or pad at the end) with full slices.
        let mut expanded: Vec<IndexArg> = Vec::new();
        for it in items {
            if let IndexArg::Ellipsis(s) = it {
                for _ in 0..shape.len() - consumed {
                    expanded.push(full_slice(*s));
                }
            } else {
                expanded.push(it.clone());
            }
        }
        if ellipses == 0 {
            for _ in 0..shape.len() - consumed {
                expanded.push(full_slice(span));
            }
        }
        let arrays = expanded
            .iter()
            .filter(|i| matches!(i, IndexArg::Tensor(t, _) if t.rank() > 0))
            .count();
        if arrays > 1 {
            return Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                "indexing with more than one integer array is not supported",
            )
            .at(span, "here")
            .hint("index one axis at a time, e.g. `x[i][:, j]`, or use `take`"));
        }

        // Pass 1: static slices and static integers via one strided slice (+ rev for
        // negative steps), then drop integer-indexed axes.
        let mut start = Vec::new();
        let mut limit = Vec::new();
        let mut stride = Vec::new();
        let mut rev_axes = Vec::new();
        let mut keep = Vec::new(); // per source axis: kept in the result
        let mut dynamic: Vec<(usize, Tensor, Span)> = Vec::new(); // source axis, index
        let mut newaxes_after: Vec<usize> = Vec::new(); // result positions of new axes
        let mut axis = 0;
        let mut result_pos = 0;
        for it in &expanded {
            match it {
                IndexArg::NewAxis(_) => {
                    newaxes_after.push(result_pos);
                    result_pos += 1;
                }
                IndexArg::Ellipsis(_) => {}
                IndexArg::Int(i, s) => {
                    let n = shape[axis] as i64;
                    let j = if *i < 0 { i + n } else { *i };
                    if j < 0 || j >= n {
                        return Err(Diagnostic::error(
                            Code::INDEX_OUT_OF_RANGE,
                            format!("index {i} is out of range for axis {axis} of size {n}"),
                        )
                        .at(*s, format!("the array is {}", x.ty())));
                    }
                    start.push(j as usize);
                    limit.push(j as usize + 1);
                    stride.push(1);
                    keep.push(false);
                    axis += 1;
                }
                IndexArg::Tensor(t, s) => {
                    start.push(0);
                    limit.push(shape[axis]);
                    stride.push(1);
                    keep.push(true);
                    dynamic.push((axis, t.clone(), *s));
                    result_pos += t.rank();
                    axis += 1;
                }
                IndexArg::Slice {
                    start: a,
                    stop: b,
                    step: c,
                    span: s,
                } => {
                    let n = shape[axis] as i64;
                    let step = c.unwrap_or(1);
                    if step == 0 {
                        return Err(Diagnostic::error(
                            Code::BAD_ARGUMENT,
                            "slice step cannot be zero",
                        )
                        .at(*s, "here"));
                    }
                    let (lo, hi, len) = slice_bounds(*a, *b, step, n);
                    if step > 0 {
                        start.push(lo as usize);
                        limit.push(hi.max(lo) as usize);
                        stride.push(step as usize);
                    } else {
                        // Reverse, then slice forward: element k of the result is
                        // x[lo + k*step] = rev(x)[n-1-lo - k*step].
                        let first = (n - 1 - lo) as usize;
                        rev_axes.push(axis);
                        let first = first.min(shape[axis]);
                        let last = if len > 0 {
                            first + (len as usize - 1) * (-step) as usize + 1
                        } else {
                            first
                        };
                        start.push(first);
                        limit.push(last);
                        stride.push((-step) as usize);
                    }
                    keep.push(true);
                    result_pos += 1;
                    axis += 1;
                }
            }
        }
        let mut cur = x.clone();
        if !rev_axes.is_empty() {
            cur = self
                .emit1(Prim::Rev { axes: rev_axes }, &[cur], span)?
                .with_weak(x.weak);
        }
        let identity = start.iter().all(|&s| s == 0)
            && stride.iter().all(|&s| s == 1)
            && limit.iter().zip(&shape).all(|(l, d)| l == d);
        if !identity {
            cur = self
                .emit1(
                    Prim::Slice {
                        start,
                        limit,
                        stride,
                    },
                    &[cur],
                    span,
                )?
                .with_weak(x.weak);
        }
        // Gather the (single) array or traced-scalar index along its axis.
        if let Some((ax, idx, s)) = dynamic.pop() {
            let ax_now = ax;
            let idx = self.normalize_index(&idx, shape[ax], s)?;
            cur = self
                .emit1(Prim::Take { axis: ax_now }, &[cur, idx.clone()], span)?
                .with_weak(x.weak);
            // Axes after `ax` moved by (idx.rank() - 1).
            let mut new_keep = keep[..ax].to_vec();
            new_keep.extend(std::iter::repeat_n(true, idx.rank()));
            new_keep.extend(&keep[ax + 1..]);
            keep = new_keep;
        }
        // Drop integer-indexed axes and insert new axes.
        let cur_shape = cur.shape();
        let mut final_shape: Vec<usize> = cur_shape
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(d, _)| *d)
            .collect();
        for p in newaxes_after {
            let p = p.min(final_shape.len());
            final_shape.insert(p, 1);
        }
        self.reshape(&cur, &final_shape, span)
    }

    /// Wraps negative indices (`i < 0` → `i + n`) and converts to i64.
    fn normalize_index(&mut self, idx: &Tensor, n: usize, span: Span) -> Res<Tensor> {
        if idx.dtype().is_float() || idx.dtype() == DType::Bool {
            return Err(Diagnostic::error(
                Code::DTYPE_MISMATCH,
                format!("array indices must be integers, found {}", idx.ty()),
            )
            .at(span, "this index")
            .hint("convert with `i64(…)`; boolean masks are not supported, use `where`"));
        }
        let idx = self.cast(idx, DType::I64, span)?;
        if let Some(a) = idx.as_concrete() {
            if a.rank() == 0 {
                if let Some(s) = a.to_scalar() {
                    let i = s.as_i64();
                    return Ok(self.scalar(Scalar::I64(if i < 0 { i + n as i64 } else { i })));
                }
            }
        }
        let zero = self.full_like(&idx, Scalar::I64(0), span)?;
        let nn = self.full_like(&idx, Scalar::I64(n as i64), span)?;
        let neg = self.emit1(Prim::Compare(CmpOp::Lt), &[idx.clone(), zero], span)?;
        let wrapped = self.binary_prim(BinaryOp::Add, &idx, &nn, span)?;
        self.emit1(Prim::Select, &[neg, wrapped, idx], span)
    }

    /// `x.at[items].op(v)`: computes the flat positions the index selects by indexing
    /// an iota of `x`'s shape, then scatters into the flattened array.
    pub fn at_update(
        &mut self,
        x: &Tensor,
        items: &[IndexArg],
        op: AtOp,
        v: Option<&Value>,
        span: Span,
    ) -> Res<Tensor> {
        if op == AtOp::Get {
            return self.index(x, items, span);
        }
        let v = v.ok_or_else(|| {
            Diagnostic::error(Code::ARITY, "this update needs a value").at(span, "e.g. `.set(0.0)`")
        })?;
        let shape = x.shape();
        let n = nabla_ir::dtype::numel(&shape);
        let iota = self.emit1(
            Prim::Iota {
                dtype: DType::I64,
                shape: vec![n],
                axis: 0,
            },
            &[],
            span,
        )?;
        let iota = self.reshape(&iota, &shape, span)?;
        // Index errors describe the iota; name the updated array instead.
        let positions = self.index(&iota, items, span).map_err(|mut d| {
            let (iota_ty, x_ty) = (iota.ty().to_string(), x.ty().to_string());
            d.message = d.message.replace(&iota_ty, &x_ty);
            for l in &mut d.labels {
                l.message = l.message.replace(&iota_ty, &x_ty);
            }
            d
        })?;
        let upd = self.tensor_of(v, span)?;
        let upd = self.cast(&upd, x.dtype(), span)?;
        let pshape = positions.shape();
        let upd = self.broadcast_to(&upd, &pshape, span).map_err(|_| {
            Diagnostic::error(
                Code::SHAPE_MISMATCH,
                format!(
                    "the update value is {} but the indexed region has shape {:?}",
                    upd.ty(),
                    pshape
                ),
            )
            .at(span, "in this update")
        })?;
        let flat = self.reshape(x, &[n], span)?;
        let m = nabla_ir::dtype::numel(&pshape);
        let pos = self.reshape(&positions, &[m], span)?;
        let upd = self.reshape(&upd, &[m], span)?;
        let upd = match op {
            AtOp::Set | AtOp::Add | AtOp::Get => upd,
            AtOp::Mul | AtOp::Min | AtOp::Max => {
                let cur = self.emit1(Prim::Take { axis: 0 }, &[flat.clone(), pos.clone()], span)?;
                let prim = match op {
                    AtOp::Mul => BinaryOp::Mul,
                    AtOp::Min => BinaryOp::Min,
                    _ => BinaryOp::Max,
                };
                self.binary_prim(prim, &cur, &upd, span)?
            }
        };
        let mode = if op == AtOp::Add {
            ScatterMode::Add
        } else {
            ScatterMode::Set
        };
        let out = self.emit1(Prim::Scatter { axis: 0, mode }, &[flat, pos, upd], span)?;
        Ok(self.reshape(&out, &shape, span)?.with_weak(x.weak))
    }
}

fn full_slice(span: Span) -> IndexArg {
    IndexArg::Slice {
        start: None,
        stop: None,
        step: None,
        span,
    }
}

/// Python's `slice.indices`: the first index, the clamped stop and the length.
fn slice_bounds(start: Option<i64>, stop: Option<i64>, step: i64, n: i64) -> (i64, i64, i64) {
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    if step > 0 {
        let lo = start.map_or(0, |s| {
            if s < 0 {
                clamp(s + n, 0, n)
            } else {
                clamp(s, 0, n)
            }
        });
        let hi = stop.map_or(n, |s| {
            if s < 0 {
                clamp(s + n, 0, n)
            } else {
                clamp(s, 0, n)
            }
        });
        let len = if hi > lo {
            (hi - lo + step - 1) / step
        } else {
            0
        };
        (lo, hi, len)
    } else {
        let lo = start.map_or(n - 1, |s| {
            if s < 0 {
                clamp(s + n, -1, n - 1)
            } else {
                clamp(s, -1, n - 1)
            }
        });
        let hi = stop.map_or(-1, |s| {
            if s < 0 {
                clamp(s + n, -1, n - 1)
            } else {
                clamp(s, -1, n - 1)
            }
        });
        let len = if lo > hi {
            (lo - hi + (-step) - 1) / (-step)
        } else {
            0
        };
        (lo, hi, len)
    }
}
