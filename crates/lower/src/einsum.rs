//! `einsum`: diagonals of repeated labels, sums over labels that appear once, then
//! pairwise `dot_general` contractions left to right, then a transpose to the output.

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Prim, ReduceOp};

use crate::cx::{Cx, Res};
use crate::value::Tensor;

fn spec_err(msg: String, span: Span) -> Diagnostic {
    Diagnostic::error(Code::BAD_ARGUMENT, msg)
        .at(span, "this einsum spec")
        .hint("e.g. \"ij,jk->ik\"; labels are letters, one per axis")
}

impl Cx<'_> {
    pub fn einsum(
        &mut self,
        spec: &str,
        ops: &[(Tensor, Span)],
        spec_span: Span,
        span: Span,
    ) -> Res<Tensor> {
        let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, out) = match spec.split_once("->") {
            Some((l, o)) => (l.to_string(), Some(o.to_string())),
            None => (spec.clone(), None),
        };
        let inputs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
        if inputs.len() != ops.len() {
            return Err(spec_err(
                format!(
                    "the spec names {} operands but {} were given",
                    inputs.len(),
                    ops.len()
                ),
                spec_span,
            ));
        }
        if inputs.iter().flatten().any(|c| !c.is_ascii_alphabetic()) {
            return Err(spec_err("einsum labels must be letters".into(), spec_span));
        }
        let out: Vec<char> = match out {
            Some(o) => o.chars().collect(),
            None => {
                let mut counts = std::collections::BTreeMap::new();
                for c in inputs.iter().flatten() {
                    *counts.entry(*c).or_insert(0) += 1;
                }
                counts
                    .into_iter()
                    .filter(|(_, n)| *n == 1)
                    .map(|(c, _)| c)
                    .collect()
            }
        };
        let mut terms: Vec<(Tensor, Vec<char>)> = Vec::new();
        for ((t, s), labels) in ops.iter().zip(&inputs) {
            if labels.len() != t.rank() {
                return Err(spec_err(
                    format!(
                        "operand labelled \"{}\" has rank {}",
                        labels.iter().collect::<String>(),
                        t.rank()
                    ),
                    *s,
                ));
            }
            let (t, labels) = self.einsum_diagonals(t, labels.clone(), span)?;
            terms.push((t, labels));
        }
        let mut sizes = std::collections::HashMap::new();
        for (t, labels) in &terms {
            for (c, d) in labels.iter().zip(t.shape()) {
                if let Some(&prev) = sizes.get(c) {
                    if prev != d {
                        return Err(spec_err(
                            format!("label `{c}` has sizes {prev} and {d}"),
                            spec_span,
                        ));
                    }
                }
                sizes.insert(*c, d);
            }
        }
        for c in &out {
            if !sizes.contains_key(c) {
                return Err(spec_err(
                    format!("output label `{c}` does not appear in any input"),
                    spec_span,
                ));
            }
        }
        // Sum out labels that appear in no other operand and not in the output.
        let n = terms.len();
        for i in 0..n {
            let labels = terms[i].1.clone();
            let lonely: Vec<usize> = (0..labels.len())
                .filter(|&k| {
                    let c = labels[k];
                    !out.contains(&c) && (0..n).all(|j| j == i || !terms[j].1.contains(&c))
                })
                .collect();
            if !lonely.is_empty() {
                let t = self.reduce(
                    ReduceOp::Sum,
                    &terms[i].0,
                    Some(lonely.clone()),
                    false,
                    false,
                    span,
                )?;
                let kept: Vec<char> = (0..labels.len())
                    .filter(|k| !lonely.contains(k))
                    .map(|k| labels[k])
                    .collect();
                terms[i] = (t, kept);
            }
        }
        let mut iter = terms.into_iter();
        let (mut acc, mut acc_l) = iter
            .next()
            .ok_or_else(|| spec_err("einsum needs an operand".into(), spec_span))?;
        let rest: Vec<(Tensor, Vec<char>)> = iter.collect();
        for (k, (t, l)) in rest.iter().enumerate() {
            let later: Vec<char> = rest[k + 1..].iter().flat_map(|(_, l)| l.clone()).collect();
            let keep = |c: &char| out.contains(c) || later.contains(c);
            let shared: Vec<char> = acc_l.iter().filter(|c| l.contains(c)).copied().collect();
            let batch: Vec<char> = shared.iter().filter(|c| keep(c)).copied().collect();
            let contract: Vec<char> = shared.iter().filter(|c| !keep(c)).copied().collect();
            let pos = |ls: &[char], c: &char| ls.iter().position(|x| x == c).unwrap_or(0);
            let (d, w) = crate::promote::join(acc.dtype(), acc.weak, t.dtype(), t.weak);
            let a = self.cast(&acc, d, span)?;
            let b = self.cast(t, d, span)?;
            acc = self
                .dot_general(
                    &a,
                    &b,
                    contract.iter().map(|c| pos(&acc_l, c)).collect(),
                    contract.iter().map(|c| pos(l, c)).collect(),
                    batch.iter().map(|c| pos(&acc_l, c)).collect(),
                    batch.iter().map(|c| pos(l, c)).collect(),
                    false,
                    span,
                )?
                .with_weak(w);
            let mut new_l = batch.clone();
            new_l.extend(acc_l.iter().filter(|c| !shared.contains(c)));
            new_l.extend(l.iter().filter(|c| !shared.contains(c)));
            acc_l = new_l;
        }
        // Sum what the output does not keep, then order the axes as the output says.
        let extra: Vec<usize> = (0..acc_l.len())
            .filter(|&k| !out.contains(&acc_l[k]))
            .collect();
        if !extra.is_empty() {
            acc = self.reduce(ReduceOp::Sum, &acc, Some(extra.clone()), false, false, span)?;
            acc_l = (0..acc_l.len())
                .filter(|k| !extra.contains(k))
                .map(|k| acc_l[k])
                .collect();
        }
        let perm: Vec<usize> = out
            .iter()
            .map(|c| acc_l.iter().position(|x| x == c).unwrap_or(0))
            .collect();
        if perm.len() != acc_l.len() {
            return Err(spec_err(
                "the output repeats or misses a label".into(),
                spec_span,
            ));
        }
        self.transpose(&acc, &perm, span)
    }

    /// Takes the diagonal for each label repeated within one operand (`ii`).
    fn einsum_diagonals(
        &mut self,
        t: &Tensor,
        mut labels: Vec<char>,
        span: Span,
    ) -> Res<(Tensor, Vec<char>)> {
        let mut t = t.clone();
        loop {
            let dup = (0..labels.len()).find_map(|i| {
                (i + 1..labels.len())
                    .find(|&j| labels[j] == labels[i])
                    .map(|j| (i, j))
            });
            let Some((i, j)) = dup else {
                return Ok((t, labels));
            };
            let shape = t.shape();
            if shape[i] != shape[j] {
                return Err(spec_err(
                    format!(
                        "repeated label `{}` spans sizes {} and {}",
                        labels[i], shape[i], shape[j]
                    ),
                    span,
                ));
            }
            let n = shape[i];
            // Move axes i, j last, flatten them, and gather positions k*(n+1).
            let mut perm: Vec<usize> = (0..shape.len()).filter(|&k| k != i && k != j).collect();
            perm.push(i);
            perm.push(j);
            let moved = self.transpose(&t, &perm, span)?;
            let mut s: Vec<usize> = perm[..perm.len() - 2].iter().map(|&k| shape[k]).collect();
            s.push(n * n);
            let flat = self.reshape(&moved, &s, span)?;
            let idx = self.emit1(
                Prim::Iota {
                    dtype: nabla_ir::DType::I64,
                    shape: vec![n],
                    axis: 0,
                },
                &[],
                span,
            )?;
            let step = self.full(&[n], nabla_ir::Scalar::I64(n as i64 + 1), span)?;
            let idx = self.binary_prim(nabla_ir::BinaryOp::Mul, &idx, &step, span)?;
            let axis = s.len() - 1;
            t = self.emit1(Prim::Take { axis }, &[flat, idx], span)?;
            let c = labels[i];
            let mut nl: Vec<char> = (0..labels.len())
                .filter(|&k| k != i && k != j)
                .map(|k| labels[k])
                .collect();
            nl.push(c);
            labels = nl;
        }
    }
}
