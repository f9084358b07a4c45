//! A kernel's meaning in terms of the IR: [`to_func`] rewrites a kernel as an IR
//! function of its inputs' strided views ([`views`]), so the reference interpreter can
//! evaluate any kernel and every compiled kernel can be checked against it bit for bit.
//! (This crate does not depend on the interpreter; its tests and the planner's do.)
//!
//! Each node becomes the elementwise primitive of the same name over the whole
//! iteration space: a literal is broadcast, `Index(axis)` is an `i64` iota (and
//! `IndexU32(axis)` that iota converted to `u32`), a store output is the node's value
//! and a reduce output is `reduce_*` over the trailing axes, which the interpreter
//! computes in the canonical order.

use nabla_diag::Span;
use nabla_ir::{Array, Atom, Builder, DType, Data, Func, Prim, Type, Var};

use crate::error::{CpuError, Result};
use crate::kernel::{Input, Kernel, Node, Output};

/// The kernel as an IR function: one parameter per input (its view over the iteration
/// space, see [`views`]), one result per output.
pub fn to_func(kernel: &Kernel) -> Result<Func> {
    let shape = kernel.shape.clone();
    let mut b = Builder::new();
    let params: Vec<Var> = kernel
        .inputs
        .iter()
        .map(|i| b.param(Type::new(i.dtype, shape.clone())))
        .collect();
    let err = |e: nabla_ir::TypeError| CpuError::internal(format!("kernel as IR: {e}"));
    let mut vars: Vec<Var> = Vec::with_capacity(kernel.nodes.len());
    for (at, node) in kernel.nodes.iter().enumerate() {
        let var = |n: usize| -> Result<Atom> {
            vars.get(n)
                .filter(|_| n < at)
                .map(Atom::from)
                .ok_or_else(|| CpuError::internal(format!("node {at} reads node {n}")))
        };
        let (prim, args) = match node {
            Node::Load(i) => {
                let p = params
                    .get(*i)
                    .ok_or_else(|| CpuError::internal(format!("node {at} loads input {i}")))?;
                vars.push(p.clone());
                continue;
            }
            Node::Lit(s) => (
                Prim::BroadcastInDim {
                    shape: shape.clone(),
                    dims: Vec::new(),
                },
                vec![Atom::Lit(*s)],
            ),
            Node::Index(axis) => (
                Prim::Iota {
                    dtype: DType::I64,
                    shape: shape.clone(),
                    axis: *axis,
                },
                Vec::new(),
            ),
            Node::IndexU32(axis) => {
                // The i64 index wrapped to 32 bits, as the node defines it.
                let index = Prim::Iota {
                    dtype: DType::I64,
                    shape: shape.clone(),
                    axis: *axis,
                };
                let i = b.emit1(index, Vec::new(), Span::DUMMY).map_err(err)?;
                (Prim::Convert { dtype: DType::U32 }, vec![Atom::from(i)])
            }
            Node::Unary(op, x) => (Prim::Unary(*op), vec![var(*x)?]),
            Node::Binary(op, x, y) => (Prim::Binary(*op), vec![var(*x)?, var(*y)?]),
            Node::Compare(op, x, y) => (Prim::Compare(*op), vec![var(*x)?, var(*y)?]),
            Node::Select(p, t, f) => (Prim::Select, vec![var(*p)?, var(*t)?, var(*f)?]),
            Node::IntPow(exponent, x) => (
                Prim::IntPow {
                    exponent: *exponent,
                },
                vec![var(*x)?],
            ),
            Node::Convert(dtype, x) => (Prim::Convert { dtype: *dtype }, vec![var(*x)?]),
            Node::Threefry { which, args } => {
                let args = args.iter().map(|&n| var(n)).collect::<Result<Vec<_>>>()?;
                let outs = b.emit(Prim::Threefry2x32, args, Span::DUMMY).map_err(err)?;
                let v = outs.get(*which).cloned().ok_or_else(|| {
                    CpuError::internal(format!("node {at} takes threefry result {which}"))
                })?;
                vars.push(v);
                continue;
            }
            Node::BitsToUnit(dtype, args) => (
                Prim::BitsToUnit { dtype: *dtype },
                args.iter().map(|&n| var(n)).collect::<Result<Vec<_>>>()?,
            ),
        };
        let v = b.emit1(prim, args, Span::DUMMY).map_err(err)?;
        vars.push(v);
    }
    let rank = shape.len();
    let mut results = Vec::with_capacity(kernel.outputs.len());
    for out in &kernel.outputs {
        let (node, reduce) = match *out {
            Output::Store { node } => (node, None),
            Output::Reduce { node, op, nreduce } => (node, Some((op, nreduce))),
        };
        let v = vars
            .get(node)
            .cloned()
            .ok_or_else(|| CpuError::internal(format!("an output of missing node {node}")))?;
        let r = match reduce {
            None => v,
            Some((op, nreduce)) => {
                let axes = (rank.saturating_sub(nreduce)..rank).collect();
                let prim = Prim::Reduce {
                    op,
                    axes,
                    compensated: false,
                };
                b.emit1(prim, vec![Atom::from(v)], Span::DUMMY)
                    .map_err(err)?
            }
        };
        results.push(Atom::from(r));
    }
    Ok(b.finish("kernel", results))
}

/// Each input as the array of the iteration space's shape it is read as: element `i`
/// of the view is `buffer[offset + Σ i[d] * strides[d]]`.
pub fn views(kernel: &Kernel, inputs: &[&Array]) -> Result<Vec<Array>> {
    if inputs.len() != kernel.inputs.len() {
        return Err(CpuError::internal(format!(
            "{} arrays for {} inputs",
            inputs.len(),
            kernel.inputs.len()
        )));
    }
    inputs
        .iter()
        .zip(&kernel.inputs)
        .map(|(a, input)| view(&kernel.shape, input, a))
        .collect()
}

fn view(shape: &[usize], input: &Input, a: &Array) -> Result<Array> {
    if a.dtype() != input.dtype || input.strides.len() != shape.len() {
        return Err(CpuError::internal(format!(
            "a {} array read as {} with {} strides over rank {}",
            a.dtype(),
            input.dtype,
            input.strides.len(),
            shape.len()
        )));
    }
    let data = match a.data() {
        Data::Bool(v) => Data::Bool(gather(v, shape, input)?),
        Data::I32(v) => Data::I32(gather(v, shape, input)?),
        Data::I64(v) => Data::I64(gather(v, shape, input)?),
        Data::U32(v) => Data::U32(gather(v, shape, input)?),
        Data::F32(v) => Data::F32(gather(v, shape, input)?),
        Data::F64(v) => Data::F64(gather(v, shape, input)?),
    };
    Array::new(shape.to_vec(), data).map_err(|e| CpuError::internal(e.to_string()))
}

fn gather<T: Copy>(v: &[T], shape: &[usize], input: &Input) -> Result<Vec<T>> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    let mut pos = input.offset;
    for _ in 0..n {
        let x = usize::try_from(pos)
            .ok()
            .and_then(|p| v.get(p))
            .ok_or_else(|| CpuError::internal(format!("a view reads element {pos}")))?;
        out.push(*x);
        // Row-major increment with carry, moving `pos` along.
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            pos += input.strides[d];
            if idx[d] < shape[d] {
                break;
            }
            pos -= input.strides[d] * shape[d] as isize;
            idx[d] = 0;
        }
    }
    Ok(out)
}
