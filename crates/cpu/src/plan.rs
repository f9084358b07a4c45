//! The fusion planner: an IR function becomes a [`Program`] of steps — fused kernels,
//! free reshapes of materialised buffers, matrix products, control flow with planned
//! bodies, and the primitives not compiled yet.
//!
//! Elementwise operations (random bits included) and layout changes (broadcast,
//! transpose, slice, reverse, iota, and reshapes that split axes of a virtual value)
//! are *virtual*: they produce no buffer, only an expression over buffers that the
//! kernel of each consumer evaluates through an affine index map. A value is
//! materialised — a kernel stores it — when a step that is not a kernel needs it, when
//! it is a result, or when several consumers would each recompute real work. A
//! reduction becomes a kernel whose loop nest evaluates its operand's whole expression,
//! so `sum(x * x)` reads `x` once and writes one number; a reduction of at most 8
//! elements per result is virtual too, an expression of its elements in the canonical
//! order. So `uniform(k, [2, n])` summed over its first axis and then reduced is one
//! kernel that never stores a draw. Why fusion stopped is recorded per kernel for
//! `nabla ir --kernels`.

use std::collections::HashMap;
use std::fmt::Write as _;

use nabla_ir::canonical::LANES;
use nabla_ir::{Atom, Body, DType, Eqn, Func, Prim, ReduceOp, Scalar, Type, Var};

use crate::codegen::{identity, reduce_binop};
use crate::error::{CpuError, Result};
use crate::kernel::{Input, Kernel, Node, NodeId, Output};

/// Where a value lives at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A slot of the program's value table.
    Slot(usize),
    Lit(Scalar),
}

/// One step of a program. Slots are written once.
#[derive(Debug)]
pub enum Step {
    /// A fused loop nest reading `inputs` (one slot per `kernel.inputs`) and writing one
    /// slot per output.
    Kernel {
        kernel: Kernel,
        inputs: Vec<usize>,
        outputs: Vec<usize>,
        /// Why the kernel ends where it does (for `--kernels`).
        why: String,
    },
    /// A reshape of a materialised (row-major) buffer: the same data, a new shape.
    View {
        input: usize,
        shape: Vec<usize>,
        output: usize,
    },
    /// A constant array.
    Const {
        value: nabla_ir::Array,
        output: usize,
    },
    /// A primitive run as one step: control flow with compiled bodies, matrix products,
    /// or a Rust loop (see [`crate::eqn`]).
    Eqn {
        prim: Prim,
        args: Vec<Operand>,
        outputs: Vec<usize>,
        span: nabla_diag::Span,
    },
}

/// A planned function.
#[derive(Debug)]
pub struct Program {
    pub name: String,
    /// Slots holding the parameters, in order.
    pub params: Vec<usize>,
    pub steps: Vec<Step>,
    pub results: Vec<Operand>,
    pub nslots: usize,
    /// The type of every slot.
    pub types: Vec<Type>,
}

/// How a variable is available while planning.
#[derive(Clone, Debug)]
enum Def {
    Slot(usize),
    Lit(Scalar),
    /// Result `out` of the fusible equation `eqn`, not materialised.
    Virtual {
        eqn: usize,
        out: usize,
    },
}

/// An affine map from the iteration index of a kernel to the index of a value: for
/// each axis of the value, `offset + Σ_k coef[k] * i[k]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Map {
    rows: Vec<(i64, Vec<i64>)>,
}

impl Map {
    fn identity(rank: usize) -> Map {
        Map {
            rows: (0..rank)
                .map(|d| {
                    let mut c = vec![0; rank];
                    c[d] = 1;
                    (0, c)
                })
                .collect(),
        }
    }
}

fn is_fusible(prim: &Prim) -> bool {
    match prim {
        Prim::Unary(_)
        | Prim::Binary(_)
        | Prim::Compare(_)
        | Prim::Select
        | Prim::IntPow { .. }
        | Prim::Convert { .. }
        | Prim::StopGradient
        | Prim::Iota { .. }
        | Prim::BroadcastInDim { .. }
        | Prim::Transpose { .. }
        | Prim::Slice { .. }
        | Prim::Rev { .. }
        | Prim::Threefry2x32
        | Prim::BitsToUnit { .. } => true,
        Prim::Constant { .. }
        | Prim::Reshape { .. }
        | Prim::Pad { .. }
        | Prim::Concat { .. }
        | Prim::Reduce { .. }
        | Prim::ArgReduce { .. }
        | Prim::Cumulative { .. }
        | Prim::DotGeneral { .. }
        | Prim::Take { .. }
        | Prim::Scatter { .. }
        | Prim::DynamicSlice { .. }
        | Prim::DynamicUpdateSlice
        | Prim::Cond { .. }
        | Prim::While { .. }
        | Prim::Scan { .. } => false,
    }
}

/// Whether recomputing the equation in every consumer costs no arithmetic: pure index
/// changes, so duplicating them beats a round trip through memory.
fn is_free(prim: &Prim) -> bool {
    matches!(
        prim,
        Prim::BroadcastInDim { .. }
            | Prim::Transpose { .. }
            | Prim::Slice { .. }
            | Prim::Rev { .. }
            | Prim::Iota { .. }
            | Prim::StopGradient
    )
}

/// For a reshape that only splits axes (adding or dropping size-1 axes too), the
/// target axes each source axis becomes, in order (none for a size-1 source axis);
/// `None` for reshapes that merge axes (no affine index map) and for empty arrays.
fn split_groups(src: &[usize], dst: &[usize]) -> Option<Vec<Vec<usize>>> {
    let n: usize = src.iter().product();
    if n == 0 || n != dst.iter().product::<usize>() {
        return None;
    }
    let mut t = 0;
    let mut groups = Vec::with_capacity(src.len());
    for &len in src {
        let mut members = Vec::new();
        let mut prod = 1usize;
        while prod < len {
            let &m = dst.get(t)?;
            prod = prod.checked_mul(m)?;
            members.push(t);
            t += 1;
        }
        if prod != len {
            return None;
        }
        groups.push(members);
    }
    // Whatever is left has size 1.
    dst.get(t..)?.iter().all(|&m| m == 1).then_some(groups)
}

struct Planner<'a> {
    body: &'a Body,
    defs: HashMap<u32, Def>,
    uses: HashMap<u32, usize>,
    steps: Vec<Step>,
    types: Vec<Type>,
}

/// Plans a function.
pub fn plan(f: &Func) -> Result<Program> {
    let f = &crate::rewrite::prepare(f)?;
    let mut p = Planner::new(&f.body);
    let params = p.params();
    p.run()?;
    let results = p.results()?;
    Ok(Program {
        name: f.name.clone(),
        params,
        nslots: p.types.len(),
        steps: p.steps,
        results,
        types: p.types,
    })
}

impl<'a> Planner<'a> {
    fn new(body: &'a Body) -> Planner<'a> {
        let mut uses: HashMap<u32, usize> = HashMap::new();
        let mut count = |a: &Atom| {
            if let Atom::Var(v) = a {
                *uses.entry(v.id).or_default() += 1;
            }
        };
        for e in &body.eqns {
            e.args.iter().for_each(&mut count);
        }
        body.results.iter().for_each(&mut count);
        Planner {
            body,
            defs: HashMap::new(),
            uses,
            steps: Vec::new(),
            types: Vec::new(),
        }
    }

    fn slot(&mut self, ty: Type) -> usize {
        self.types.push(ty);
        self.types.len() - 1
    }

    fn params(&mut self) -> Vec<usize> {
        let mut slots = Vec::new();
        for p in &self.body.params {
            let s = self.slot(p.ty.clone());
            self.defs.insert(p.id, Def::Slot(s));
            slots.push(s);
        }
        slots
    }

    fn def(&self, v: &Var) -> Result<Def> {
        self.defs
            .get(&v.id)
            .cloned()
            .ok_or_else(|| CpuError::internal(format!("%{} is used before it is defined", v.id)))
    }

    fn run(&mut self) -> Result<()> {
        let body = self.body;
        for (i, e) in body.eqns.iter().enumerate() {
            self.eqn(i, e).map_err(|err| err.at(e.span))?;
        }
        Ok(())
    }

    fn results(&mut self) -> Result<Vec<Operand>> {
        let body = self.body;
        body.results
            .iter()
            .map(|a| self.operand(a, "a result of the function"))
            .collect()
    }

    /// The atom as a materialised operand, storing a virtual value with a kernel.
    fn operand(&mut self, a: &Atom, why: &str) -> Result<Operand> {
        match a {
            Atom::Lit(s) => Ok(Operand::Lit(*s)),
            Atom::Var(v) => Ok(Operand::Slot(self.materialize(v, why)?)),
        }
    }

    fn materialize(&mut self, v: &Var, why: &str) -> Result<usize> {
        match self.def(v)? {
            Def::Slot(s) => Ok(s),
            Def::Lit(s) => {
                let slot = self.slot(v.ty.clone());
                let kernel = KernelBuilder::new(v.ty.shape.clone());
                let mut kb = kernel;
                let node = kb.push(Node::Lit(s), s.dtype());
                let node = kb.broadcast_scalar(node, v.ty.dtype);
                self.finish_store(kb, vec![node], vec![slot], why);
                self.defs.insert(v.id, Def::Slot(slot));
                Ok(slot)
            }
            Def::Virtual { .. } => {
                let slot = self.slot(v.ty.clone());
                let mut kb = KernelBuilder::new(v.ty.shape.clone());
                let map = Map::identity(v.ty.rank());
                let node = self.translate(&mut kb, v, &map)?;
                self.finish_store(kb, vec![node], vec![slot], why);
                self.defs.insert(v.id, Def::Slot(slot));
                Ok(slot)
            }
        }
    }

    fn finish_store(
        &mut self,
        kb: KernelBuilder,
        nodes: Vec<NodeId>,
        slots: Vec<usize>,
        why: &str,
    ) {
        let (kernel, inputs) = kb.finish(
            nodes
                .into_iter()
                .map(|node| Output::Store { node })
                .collect(),
        );
        self.steps.push(Step::Kernel {
            kernel,
            inputs,
            outputs: slots,
            why: why.to_string(),
        });
    }

    /// Whether the equation's results stay virtual: fusible primitives always, and
    /// two that are only sometimes index maps or cheap elementwise expressions.
    fn is_virtual(&self, e: &Eqn) -> Result<bool> {
        Ok(match (&e.prim, e.args.first()) {
            // A reshape that splits the axes of a virtual value is an affine index
            // change (a reshape of a stored buffer is a free view already).
            (Prim::Reshape { shape }, Some(Atom::Var(v))) => {
                matches!(self.def(v)?, Def::Virtual { .. })
                    && split_groups(&v.ty.shape, shape).is_some()
            }
            (
                Prim::Reduce {
                    op,
                    axes,
                    compensated: false,
                },
                Some(Atom::Var(v)),
            ) => {
                let k: usize = axes.iter().filter_map(|&a| v.ty.shape.get(a)).product();
                let d = v.ty.dtype;
                let valid = match op {
                    ReduceOp::And | ReduceOp::Or => d == DType::Bool,
                    ReduceOp::Sum | ReduceOp::Prod => d != DType::Bool,
                    ReduceOp::Max | ReduceOp::Min => true,
                };
                (1..=LANES).contains(&k) && valid
            }
            _ => is_fusible(&e.prim),
        })
    }

    /// Whether recomputing a virtual equation in every consumer costs nothing (see
    /// [`is_free`]). A virtual reshape is an index change too, but it is free only
    /// over an index-only value (an iota, say): a reshape of real work with several
    /// consumers is stored once, as it was when every reshape needed a buffer.
    fn is_free_here(&self, e: &Eqn) -> Result<bool> {
        Ok(match (&e.prim, e.args.first()) {
            (Prim::Reshape { .. }, Some(Atom::Var(v))) => match self.def(v)? {
                Def::Virtual { eqn, .. } => is_free(&self.body.eqns[eqn].prim),
                Def::Slot(_) | Def::Lit(_) => true,
            },
            (prim, _) => is_free(prim),
        })
    }

    fn eqn(&mut self, i: usize, e: &Eqn) -> Result<()> {
        if self.is_virtual(e)? {
            for (k, o) in e.outs.iter().enumerate() {
                self.defs.insert(o.id, Def::Virtual { eqn: i, out: k });
            }
            // A value several consumers read is stored once unless recomputing it is free.
            let shared = e
                .outs
                .iter()
                .any(|o| self.uses.get(&o.id).copied().unwrap_or(0) > 1);
            if shared && !self.is_free_here(e)? {
                for o in &e.outs {
                    self.materialize(o, "its value has several consumers")?;
                }
            }
            return Ok(());
        }
        match &e.prim {
            Prim::Constant { value } => {
                let out = &e.outs[0];
                if let (0, Some(s)) = (value.rank(), value.to_scalar()) {
                    self.defs.insert(out.id, Def::Lit(s));
                    return Ok(());
                }
                let slot = self.slot(out.ty.clone());
                self.steps.push(Step::Const {
                    value: value.clone(),
                    output: slot,
                });
                self.defs.insert(out.id, Def::Slot(slot));
                Ok(())
            }
            Prim::Reshape { shape } => {
                let out = &e.outs[0];
                let input = match &e.args[0] {
                    Atom::Var(v) => self.materialize(v, "reshape needs a row-major buffer")?,
                    Atom::Lit(s) => {
                        self.defs.insert(out.id, Def::Lit(*s));
                        return Ok(());
                    }
                };
                let slot = self.slot(out.ty.clone());
                self.steps.push(Step::View {
                    input,
                    shape: shape.clone(),
                    output: slot,
                });
                self.defs.insert(out.id, Def::Slot(slot));
                Ok(())
            }
            Prim::Reduce {
                op,
                axes,
                compensated: false,
            } => {
                let Atom::Var(x) = &e.args[0] else {
                    return self.fallback(e);
                };
                let out = &e.outs[0];
                let rank = x.ty.rank();
                let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
                let mut reduced = axes.clone();
                reduced.sort_unstable();
                // Iteration space: kept axes, then reduced axes in increasing order, so the
                // reduced index space flattens row-major as the canonical order requires.
                let order: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
                let shape: Vec<usize> = order.iter().map(|&d| x.ty.shape[d]).collect();
                let mut rows = vec![(0i64, vec![0i64; rank]); rank];
                for (k, &d) in order.iter().enumerate() {
                    rows[d].1[k] = 1;
                }
                let mut kb = KernelBuilder::new(shape);
                let node = self.translate(&mut kb, x, &Map { rows })?;
                let slot = self.slot(out.ty.clone());
                let (kernel, inputs) = kb.finish(vec![Output::Reduce {
                    node,
                    op: *op,
                    nreduce: reduced.len(),
                }]);
                self.steps.push(Step::Kernel {
                    kernel,
                    inputs,
                    outputs: vec![slot],
                    why: "a reduction ends its kernel".to_string(),
                });
                self.defs.insert(out.id, Def::Slot(slot));
                Ok(())
            }
            Prim::Reduce { .. }
            | Prim::Pad { .. }
            | Prim::Concat { .. }
            | Prim::ArgReduce { .. }
            | Prim::Cumulative { .. }
            | Prim::DotGeneral { .. }
            | Prim::Take { .. }
            | Prim::Scatter { .. }
            | Prim::DynamicSlice { .. }
            | Prim::DynamicUpdateSlice
            | Prim::Cond { .. }
            | Prim::While { .. }
            | Prim::Scan { .. } => self.fallback(e),
            Prim::Unary(_)
            | Prim::Binary(_)
            | Prim::Compare(_)
            | Prim::Select
            | Prim::IntPow { .. }
            | Prim::Convert { .. }
            | Prim::StopGradient
            | Prim::Iota { .. }
            | Prim::BroadcastInDim { .. }
            | Prim::Transpose { .. }
            | Prim::Slice { .. }
            | Prim::Rev { .. }
            | Prim::Threefry2x32
            | Prim::BitsToUnit { .. } => Err(CpuError::internal(
                "a fusible primitive reached the step planner",
            )),
        }
    }

    fn fallback(&mut self, e: &Eqn) -> Result<()> {
        let why = format!("`{}` runs as its own step", e.prim.name());
        let args = e
            .args
            .iter()
            .map(|a| self.operand(a, &why))
            .collect::<Result<Vec<_>>>()?;
        let outputs: Vec<usize> = e.outs.iter().map(|o| self.slot(o.ty.clone())).collect();
        for (o, s) in e.outs.iter().zip(&outputs) {
            self.defs.insert(o.id, Def::Slot(*s));
        }
        self.steps.push(Step::Eqn {
            prim: e.prim.clone(),
            args,
            outputs,
            span: e.span,
        });
        Ok(())
    }

    fn atom_node(&mut self, kb: &mut KernelBuilder, a: &Atom, map: &Map) -> Result<NodeId> {
        match a {
            Atom::Lit(s) => Ok(kb.push(Node::Lit(*s), s.dtype())),
            Atom::Var(v) => self.translate(kb, v, map),
        }
    }

    /// The node computing `v` at index `map(i)` of the kernel's iteration.
    fn translate(&mut self, kb: &mut KernelBuilder, v: &Var, map: &Map) -> Result<NodeId> {
        if let Some(&n) = kb.memo.get(&(v.id, map.clone())) {
            return Ok(n);
        }
        let node = match self.def(v)? {
            Def::Lit(s) => kb.push(Node::Lit(s), s.dtype()),
            Def::Slot(slot) => {
                let strides = nabla_ir::array::strides(&v.ty.shape);
                let n = kb.shape.len();
                let mut offset = 0i64;
                let mut st = vec![0i64; n];
                for (d, (off, coefs)) in map.rows.iter().enumerate() {
                    let s = strides[d] as i64;
                    offset += s * off;
                    for k in 0..n {
                        st[k] += s * coefs[k];
                    }
                }
                let input = Input {
                    dtype: v.ty.dtype,
                    strides: st.iter().map(|&x| x as isize).collect(),
                    offset: offset as isize,
                    len: v.ty.numel(),
                };
                let idx = kb.input(input, slot);
                kb.push(Node::Load(idx), v.ty.dtype)
            }
            Def::Virtual { eqn, out } => {
                let e = &self.body.eqns[eqn];
                self.translate_eqn(kb, e, out, map)?
            }
        };
        kb.memo.insert((v.id, map.clone()), node);
        Ok(node)
    }

    fn translate_eqn(
        &mut self,
        kb: &mut KernelBuilder,
        e: &Eqn,
        out: usize,
        map: &Map,
    ) -> Result<NodeId> {
        let dtype = e.outs[out].ty.dtype;
        let arg_ty = |k: usize| e.args[k].ty();
        Ok(match &e.prim {
            Prim::Unary(op) => {
                let x = self.atom_node(kb, &e.args[0], map)?;
                kb.push(Node::Unary(*op, x), dtype)
            }
            Prim::Binary(op) => {
                let x = self.atom_node(kb, &e.args[0], map)?;
                let y = self.atom_node(kb, &e.args[1], map)?;
                kb.push(Node::Binary(*op, x, y), dtype)
            }
            Prim::Compare(op) => {
                let x = self.atom_node(kb, &e.args[0], map)?;
                let y = self.atom_node(kb, &e.args[1], map)?;
                kb.push(Node::Compare(*op, x, y), dtype)
            }
            Prim::Select => {
                let p = self.atom_node(kb, &e.args[0], map)?;
                let a = self.atom_node(kb, &e.args[1], map)?;
                let b = self.atom_node(kb, &e.args[2], map)?;
                kb.push(Node::Select(p, a, b), dtype)
            }
            Prim::IntPow { exponent } => {
                let mut x = self.atom_node(kb, &e.args[0], map)?;
                // An even power of `a + 0.0` is the same power of `a`, bit for bit: the
                // add only turns -0 into +0 (and quiets a NaN, as the power's multiply
                // does). Uncontracted products leave that add (see `crate::rewrite`).
                if exponent % 2 == 0 {
                    if let Some(a) = plus_zero_operand(kb, x) {
                        x = a;
                    }
                }
                kb.push(Node::IntPow(*exponent, x), dtype)
            }
            Prim::Convert { dtype: to } => {
                let x = self.atom_node(kb, &e.args[0], map)?;
                kb.push(Node::Convert(*to, x), dtype)
            }
            Prim::StopGradient => self.atom_node(kb, &e.args[0], map)?,
            Prim::Iota { axis, .. } => {
                let (off, coefs) = &map.rows[*axis];
                // 32-bit iotas (random counters) in 32-bit arithmetic: the value is
                // `off + Σ c·i` wrapped to 32 bits, and wrapping every operation gives
                // the same bits (reduction mod 2^32 respects sums and products), while
                // the kernel keeps 4 vector lanes.
                let (wide, index): (DType, fn(usize) -> Node) = match dtype {
                    DType::U32 | DType::I32 => (DType::U32, Node::IndexU32),
                    DType::Bool | DType::I64 | DType::F32 | DType::F64 => (DType::I64, Node::Index),
                };
                let lit = |v: i64| Scalar::I64(v).cast(wide);
                let mut acc = kb.push(Node::Lit(lit(*off)), wide);
                for (k, &c) in coefs.iter().enumerate() {
                    if c == 0 {
                        continue;
                    }
                    let idx = kb.push(index(k), wide);
                    let term = if c == 1 {
                        idx
                    } else {
                        let cn = kb.push(Node::Lit(lit(c)), wide);
                        kb.push(Node::Binary(nabla_ir::BinaryOp::Mul, idx, cn), wide)
                    };
                    acc = if *off == 0 && kb.is_zero_lit(acc) {
                        term
                    } else {
                        kb.push(Node::Binary(nabla_ir::BinaryOp::Add, acc, term), wide)
                    };
                }
                if dtype == wide {
                    acc
                } else {
                    kb.push(Node::Convert(dtype, acc), dtype)
                }
            }
            Prim::BroadcastInDim { shape, dims } => {
                let xt = arg_ty(0);
                let n = kb.shape.len();
                let rows = dims
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if xt.shape[i] == 1 && shape[d] != 1 {
                            (0, vec![0; n])
                        } else {
                            map.rows[d].clone()
                        }
                    })
                    .collect();
                self.atom_node(kb, &e.args[0], &Map { rows })?
            }
            Prim::Transpose { perm } => {
                let mut rows = vec![(0, vec![]); perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    rows[p] = map.rows[i].clone();
                }
                self.atom_node(kb, &e.args[0], &Map { rows })?
            }
            Prim::Slice { start, stride, .. } => {
                let rows = map
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(d, (off, coefs))| {
                        let s = stride[d] as i64;
                        (
                            start[d] as i64 + s * off,
                            coefs.iter().map(|c| c * s).collect(),
                        )
                    })
                    .collect();
                self.atom_node(kb, &e.args[0], &Map { rows })?
            }
            Prim::Rev { axes } => {
                let xt = arg_ty(0);
                let rows = map
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(d, (off, coefs))| {
                        if axes.contains(&d) {
                            let last = xt.shape[d] as i64 - 1;
                            (last - off, coefs.iter().map(|c| -c).collect())
                        } else {
                            (*off, coefs.clone())
                        }
                    })
                    .collect();
                self.atom_node(kb, &e.args[0], &Map { rows })?
            }
            Prim::Reshape { shape } => {
                let xt = arg_ty(0);
                let groups = split_groups(&xt.shape, shape).ok_or_else(|| {
                    CpuError::internal("a reshape that merges axes was planned as virtual")
                })?;
                let n = kb.shape.len();
                // Source index along an axis split into target axes `g`: the row-major
                // combination of their indices.
                let rows = groups
                    .iter()
                    .map(|g| {
                        let mut row = (0i64, vec![0i64; n]);
                        let mut scale = 1i64;
                        for &t in g.iter().rev() {
                            let (off, coefs) = &map.rows[t];
                            row.0 += scale * off;
                            for (acc, c) in row.1.iter_mut().zip(coefs) {
                                *acc += scale * c;
                            }
                            scale *= shape[t] as i64;
                        }
                        row
                    })
                    .collect();
                self.atom_node(kb, &e.args[0], &Map { rows })?
            }
            Prim::Reduce { op, axes, .. } => self.small_reduce(kb, e, *op, axes, map)?,
            Prim::Threefry2x32 => {
                let mut args = [0; 4];
                for (k, a) in e.args.iter().enumerate().take(4) {
                    args[k] = self.atom_node(kb, a, map)?;
                }
                kb.push(Node::Threefry { which: out, args }, DType::U32)
            }
            Prim::BitsToUnit { dtype: to } => {
                let args = e
                    .args
                    .iter()
                    .map(|a| self.atom_node(kb, a, map))
                    .collect::<Result<Vec<_>>>()?;
                kb.push(Node::BitsToUnit(*to, args), dtype)
            }
            other => {
                return Err(CpuError::internal(format!(
                    "`{}` is not fusible but was planned as virtual",
                    other.name()
                )))
            }
        })
    }
}

impl Planner<'_> {
    /// A reduction of at most `LANES` elements per result as an expression of its
    /// elements, in the canonical order: one block where element `e` is alone in lane
    /// `e` (folded from the identity), lanes combined `((0+1)+(2+3))+((4+5)+(6+7))`.
    /// Empty lanes stay the identity, and the identity combined with itself is the
    /// identity for every op, so those pairs cost nothing; all else is computed as the
    /// interpreter does (`0.0 + x` turns `-0.0` into `0.0`), but for combinations with
    /// an empty lane that provably change nothing, so the bits agree.
    fn small_reduce(
        &mut self,
        kb: &mut KernelBuilder,
        e: &Eqn,
        op: ReduceOp,
        axes: &[usize],
        map: &Map,
    ) -> Result<NodeId> {
        let xt = e.args[0].ty();
        let d = xt.dtype;
        let rank = xt.rank();
        let kept: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
        let mut reduced = axes.to_vec();
        reduced.sort_unstable();
        let k: usize = reduced.iter().map(|&a| xt.shape[a]).product();
        if k > LANES {
            return Err(CpuError::internal(
                "a large reduction was planned as virtual",
            ));
        }
        let n = kb.shape.len();
        let f = reduce_binop(op);
        let id = kb.push(Node::Lit(identity(op, d)), d);
        let mut lanes: [Option<NodeId>; LANES] = [None; LANES];
        for (at, lane) in lanes.iter_mut().enumerate().take(k) {
            // Element `at` of the reduced axes flattened row-major.
            let mut rows = vec![(0i64, vec![0i64; n]); rank];
            for (t, &a) in kept.iter().enumerate() {
                rows[a] = map.rows[t].clone();
            }
            let mut rest = at;
            for &a in reduced.iter().rev() {
                rows[a].0 = (rest % xt.shape[a]) as i64;
                rest /= xt.shape[a];
            }
            let x = self.atom_node(kb, &e.args[0], &Map { rows })?;
            // `id ⊕ x` is `x` for integers and bools, and for a float sum of a square
            // (never -0.0, and a NaN it is comes quiet from the multiplication).
            let square = matches!(kb.nodes[x], Node::IntPow(p, _) if p % 2 == 0)
                || matches!(kb.nodes[x], Node::Binary(nabla_ir::BinaryOp::Mul, a, b) if a == b);
            *lane = Some(if exact_leaf(d, op, square) {
                x
            } else {
                kb.push(Node::Binary(f, id, x), d)
            });
        }
        // Combining a value with an empty lane is the identity whenever that value is
        // an integer or bool, or a float sum or product: every value combined here is
        // the result of an operation (a lane is `id ⊕ x` or a square), so it is a quiet
        // NaN if a NaN, and in a sum never -0.0, the one float `+ 0.0` changes.
        // (`max`/`min` of floats keep the operation.)
        let exact = match (d, op) {
            (DType::F32 | DType::F64, ReduceOp::Sum | ReduceOp::Prod) => true,
            (DType::F32 | DType::F64, _) => false,
            (DType::Bool | DType::I32 | DType::I64 | DType::U32, _) => true,
        };
        let pair = |a: Option<NodeId>, b: Option<NodeId>| match (a, b) {
            (None, None) => None,
            (Some(x), None) | (None, Some(x)) if exact => Some(x),
            (a, b) => {
                let node = Node::Binary(f, a.unwrap_or(id), b.unwrap_or(id));
                Some(kb.push(node, d))
            }
        };
        Ok(nabla_ir::canonical::combine_lanes(&lanes, pair).unwrap_or(id))
    }
}

/// Whether folding `x` into an empty lane of a small reduction (`identity ⊕ x`)
/// gives `x` bit for bit: always for integers and bools; for floats only in a sum of
/// a square (`square`), since `0.0 + x` turns `-0.0` into `0.0` and quiets a
/// signalling NaN.
fn exact_leaf(d: DType, op: ReduceOp, square: bool) -> bool {
    match (d, op) {
        (DType::Bool | DType::I32 | DType::I64 | DType::U32, _) => true,
        (DType::F32 | DType::F64, ReduceOp::Sum) => square,
        (DType::F32 | DType::F64, _) => false,
    }
}

/// A kernel under construction.
struct KernelBuilder {
    shape: Vec<usize>,
    inputs: Vec<Input>,
    /// The slot read by each input.
    input_slots: Vec<usize>,
    nodes: Vec<Node>,
    dtypes: Vec<DType>,
    memo: HashMap<(u32, Map), NodeId>,
}

impl KernelBuilder {
    fn new(shape: Vec<usize>) -> KernelBuilder {
        KernelBuilder {
            shape,
            inputs: Vec::new(),
            input_slots: Vec::new(),
            nodes: Vec::new(),
            dtypes: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn push(&mut self, node: Node, dtype: DType) -> NodeId {
        if let Some(i) = self.nodes.iter().position(|n| *n == node) {
            if self.dtypes[i] == dtype {
                return i;
            }
        }
        self.nodes.push(node);
        self.dtypes.push(dtype);
        self.nodes.len() - 1
    }

    fn is_zero_lit(&self, n: NodeId) -> bool {
        matches!(self.nodes[n], Node::Lit(s) if s.as_f64() == 0.0)
    }

    fn input(&mut self, input: Input, slot: usize) -> usize {
        if let Some(i) =
            (0..self.inputs.len()).find(|&i| self.inputs[i] == input && self.input_slots[i] == slot)
        {
            return i;
        }
        self.inputs.push(input);
        self.input_slots.push(slot);
        self.inputs.len() - 1
    }

    /// A scalar node is already the value at every point; kept for clarity of intent.
    fn broadcast_scalar(&mut self, node: NodeId, dtype: DType) -> NodeId {
        if self.dtypes[node] == dtype {
            node
        } else {
            self.push(Node::Convert(dtype, node), dtype)
        }
    }

    fn finish(self, outputs: Vec<Output>) -> (Kernel, Vec<usize>) {
        (
            Kernel {
                shape: self.shape,
                inputs: self.inputs,
                nodes: self.nodes,
                dtypes: self.dtypes,
                outputs,
            },
            self.input_slots,
        )
    }
}

/// A readable listing of a program's steps and why each kernel ends
/// (`nabla ir --kernels`).
pub fn describe(p: &Program) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "program {} ({} steps)", p.name, p.steps.len());
    for (i, step) in p.steps.iter().enumerate() {
        match step {
            Step::Kernel {
                kernel,
                inputs,
                outputs,
                why,
            } => {
                let outs: Vec<String> = kernel
                    .outputs
                    .iter()
                    .map(|o| match o {
                        Output::Store { .. } => "store".to_string(),
                        Output::Reduce { op, nreduce, .. } => {
                            format!("{} over {nreduce} axes", op.name())
                        }
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "  {i}: kernel over {:?}: {} nodes, reads {:?}, writes {:?} ({}); ends because {why}",
                    kernel.shape,
                    kernel.nodes.len(),
                    inputs,
                    outputs,
                    outs.join(", ")
                );
            }
            Step::View {
                input,
                shape,
                output,
            } => {
                let _ = writeln!(s, "  {i}: view {input} as {shape:?} -> {output}");
            }
            Step::Const { value, output } => {
                let _ = writeln!(s, "  {i}: constant {} -> {output}", value.ty());
            }
            Step::Eqn {
                prim,
                args,
                outputs,
                ..
            } => {
                let _ = writeln!(s, "  {i}: {} {:?} -> {:?}", prim.name(), args, outputs);
            }
        }
    }
    s
}

/// `a` when node `x` is `a + 0.0` or `0.0 + a` (a float add of positive zero).
fn plus_zero_operand(kb: &KernelBuilder, x: NodeId) -> Option<NodeId> {
    let is_plus_zero = |n: NodeId| match kb.nodes[n] {
        Node::Lit(Scalar::F64(z)) => z.to_bits() == 0,
        Node::Lit(Scalar::F32(z)) => z.to_bits() == 0,
        _ => false,
    };
    match kb.nodes[x] {
        Node::Binary(nabla_ir::BinaryOp::Add, a, z) if is_plus_zero(z) => Some(a),
        Node::Binary(nabla_ir::BinaryOp::Add, z, a) if is_plus_zero(z) => Some(a),
        _ => None,
    }
}
